package dev.bottomhalf.tasklet;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One per-CPU tasklet list ({@code tasklet_vec} or {@code tasklet_hi_vec}): many producers (every
 * context on the CPU schedules onto it), one consumer (the CPU's BH owner). Allocation-free.
 *
 * <p>Implementation notes: an intrusive Treiber stack through {@link Tasklet#next}. A producer links the
 * tasklet to the current head and publishes it with a CAS (release). The consumer detaches the whole
 * list with one swap to null (acquire) — the kernel's "detach the list and reset it to empty" — and
 * reverses it, so tasklets run in the order they were scheduled. A tasklet re-queued during a pass goes
 * onto the fresh list and waits for the next pass, as in the kernel.
 */
final class TaskletList {
    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(TaskletList.class, "head", Tasklet.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through HEAD
    private volatile Tasklet head;

    void push(Tasklet t) {
        Tasklet h;
        do {
            h = (Tasklet) HEAD.getVolatile(this);
            t.next = h;
        } while (!HEAD.compareAndSet(this, h, t));
    }

    /** Detaches everything, oldest first; the returned chain is the caller's. */
    Tasklet takeAllFifo() {
        Tasklet t = (Tasklet) HEAD.getAndSet(this, (Tasklet) null);
        Tasklet reversed = null;
        while (t != null) {
            Tasklet n = t.next;
            t.next = reversed;
            reversed = t;
            t = n;
        }
        return reversed;
    }

    boolean isEmpty() {
        return HEAD.getVolatile(this) == null;
    }
}
