package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * One per-CPU exclusion level (the IRQ level or the BH level of a {@link Cpu}): at most one
 * {@link ExecutionContext} owns it at a time. Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Ownership is by context, not by thread: in stepped mode one caller thread plays every role of a
 * CPU ({@code cpu/0}, {@code ksoftirqd/0}, a task), and the task's BH-disabled section must still
 * exclude the {@code cpu/0} role's softirq processing. In threaded mode each context has its own
 * thread, so this is the same as ownership by thread.</li>
 * <li>Not reentrant: the owning context tracks its own depth (the softirq and hardirq bytes of its
 * preempt count) and takes or releases the level only on the outermost transition.</li>
 * <li>Uncontended acquire and release are one CAS and one volatile store. A contended acquirer spins
 * briefly, then enqueues its thread and parks; release unparks the first queued thread. The waiter
 * enqueues before its final {@code tryAcquire}, and the releaser clears {@code owner} before it reads
 * the queue (both volatile), so a release cannot miss a waiter (Dekker).</li>
 * <li>In stepped mode a contended acquire would block the only thread forever, so it throws instead.</li>
 * <li>A parked acquirer clears a thread interrupt (and sets it again once it owns the level), so an
 * interrupted thread parks instead of spinning; it gives up with {@link IllegalStateException} when the
 * kernel panics, or — a task — when it closes (the machine wakes it); a runtime context keeps waiting, as
 * its thread is stopped by close() anyway.</li>
 * <li>{@code releases} counts the releases, for the {@link LockupDetector}: two samples that see the same
 * owner and the same count saw one continuous hold (the kernel's {@code hrtimer_interrupts} counter plays
 * this part there). Only the owner writes it, with an opaque store before the volatile {@code owner = null},
 * so the next owner's CAS orders it after every earlier increment and no increment is lost; a reader that
 * sees an owner (volatile read) and then reads the count sees at least the count that owner's hold
 * started with. It costs one plain-speed store per outermost release, on a line the releaser owns.</li>
 * </ul>
 */
public final class CpuLevel {
    private static final VarHandle OWNER;
    private static final VarHandle RELEASES;

    static {
        try {
            OWNER = MethodHandles.lookup().findVarHandle(CpuLevel.class, "owner", ExecutionContext.class);
            RELEASES = MethodHandles.lookup().findVarHandle(CpuLevel.class, "releases", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** How often a contended acquirer re-tries before it parks. */
    private static final int SPINS_BEFORE_PARK = 256;

    private final String name;
    private final Machine machine;
    private final boolean stepped;
    private volatile ExecutionContext owner;
    @SuppressWarnings("unused") // accessed through RELEASES
    private int releases;
    private final ConcurrentLinkedQueue<Thread> waiters = new ConcurrentLinkedQueue<>();

    CpuLevel(String name, Machine machine) {
        this.name = name;
        this.machine = machine;
        this.stepped = machine.stepped();
    }

    ExecutionContext owner() {
        return owner;
    }

    /** How many times the level was released since the CPU was built (wraps); any thread. */
    int releases() {
        return (int) RELEASES.getAcquire(this);
    }

    public boolean isOwnedBy(ExecutionContext ctx) {
        return owner == ctx;
    }

    public boolean tryAcquire(ExecutionContext ctx) {
        assert owner != ctx : name + " is already owned by " + ctx.name();
        return OWNER.compareAndSet(this, (ExecutionContext) null, ctx);
    }

    public void acquire(ExecutionContext ctx) {
        if (tryAcquire(ctx)) {
            return;
        }
        acquireSlow(ctx);
    }

    private void acquireSlow(ExecutionContext ctx) {
        if (stepped) {
            ExecutionContext o = owner;
            throw new IllegalStateException("stepped mode: " + ctx.name() + " needs the " + name + ", which "
                    + (o == null ? "another context" : o.name()) + " holds; the step would block forever");
        }
        for (int i = 0; i < SPINS_BEFORE_PARK; i++) {
            Thread.onSpinWait();
            if (owner == null && tryAcquire(ctx)) {
                return;
            }
        }
        Thread me = Thread.currentThread();
        boolean interrupted = false;
        waiters.add(me);
        try {
            while (!tryAcquire(ctx)) {
                if (machine.panicked() || (machine.closed() && ctx.role() == ExecutionContext.Role.TASK
                        && !ctx.inServingSoftirq() && !ctx.inHardirq())) {
                    throw new IllegalStateException((machine.panicked() ? "kernel panicked" : "kernel is closed")
                            + ": " + ctx.name() + " gave up waiting for the " + name);
                }
                LockSupport.park(this);
                // An interrupt is not for this wait (the kernel's spinning on a level is not interruptible):
                // clear it so the park blocks again, and give it back when the level is ours.
                interrupted |= Thread.interrupted();
            }
        } finally {
            waiters.remove(me);
            if (interrupted) {
                me.interrupt();
            }
        }
    }

    /** Unparks every waiting thread so that it re-checks (the machine closed or panicked). */
    void wakeWaiters() {
        for (Thread t : waiters) {
            LockSupport.unpark(t);
        }
    }

    public void release(ExecutionContext ctx) {
        assert owner == ctx : name + " released by " + ctx.name() + " but owned by "
                + (owner == null ? "nobody" : owner.name());
        RELEASES.setOpaque(this, (int) RELEASES.getOpaque(this) + 1);
        owner = null;
        Thread next = waiters.peek();
        if (next != null) {
            LockSupport.unpark(next);
        }
    }

    @Override
    public String toString() {
        ExecutionContext o = owner;
        return name + (o == null ? " (free)" : " (owned by " + o.name() + ")");
    }
}
