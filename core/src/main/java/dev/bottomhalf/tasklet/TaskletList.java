package dev.bottomhalf.tasklet;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.internal.sync.MpscLinkedList;

/**
 * One per-CPU tasklet list ({@code tasklet_vec} or {@code tasklet_hi_vec}): many producers (every
 * context on the CPU schedules onto it), one consumer (the CPU's BH owner). The runtime's intrusive
 * multi-producer list ({@link MpscLinkedList}) through {@link Tasklet#next}: allocation-free, FIFO.
 *
 * <p>The consumer detaches the whole list with {@link #takeAll()} — the kernel's "detach the list and
 * reset it to empty" — and walks it oldest first with {@link #successor}; a tasklet queued during the walk
 * goes onto the fresh list and waits for the next pass, as in the kernel. Ownership: the list's consumer
 * state belongs to the BH owner of the list's CPU, which is one context at a time (the walk runs with the BH
 * level held, so two walks of one list never overlap); {@code Tasklet.next} belongs to whoever queued the
 * tasklet until it is linked, then to the producer of its successor, then to the consumer.
 * {@link #isEmpty()} is exact at the moment of its read, from any thread.
 */
final class TaskletList extends MpscLinkedList<Tasklet> {
    private static final VarHandle NEXT;

    static {
        try {
            NEXT = MethodHandles.lookup().findVarHandle(Tasklet.class, "next", Tasklet.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    TaskletList() {
        super(new Tasklet(), new Tasklet());
    }

    @Override
    protected Tasklet nextAcquire(Tasklet t) {
        return (Tasklet) NEXT.getAcquire(t);
    }

    @Override
    protected void setNextRelease(Tasklet t, Tasklet next) {
        NEXT.setRelease(t, next);
    }

    @Override
    protected void setNextPlain(Tasklet t, Tasklet next) {
        NEXT.set(t, next);
    }
}
