package dev.bottomhalf.internal.sync;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * The one waiting loop of a threaded kernel: a thread waits for a condition on the kernel's state (a
 * callback to finish, an item to be flushed, a sleep to end), parked, and is woken by whoever may have made
 * the condition true. Any thread may wait; any context may {@link #wakeAll() wake}. One per kernel: every
 * subsystem's waits and wake-ups go through it, which is where shutdown and thread interrupts are handled
 * once.
 *
 * <p>A wait first spins briefly (a running callback usually ends within microseconds), then yields, then
 * parks. A parked waiter is woken by {@link #wakeAll()} — which the subsystems call after a change a waiter
 * may care about, and which costs one volatile read when nobody waits — and, as a safety net, re-checks its
 * condition at least every {@link #MAX_PARK_NS}: a wake-up a subsystem does not send costs latency, never a
 * hang.
 *
 * <p>Thread interrupts are the model of the kernel's pending signals. An uninterruptible wait
 * ({@code TASK_UNINTERRUPTIBLE}) clears the interrupt status while it waits — so parking does not return at
 * once over and over — and sets it again before it returns. An interruptible one
 * ({@code TASK_INTERRUPTIBLE}) returns false, the interrupt status still set, as
 * {@code signal_pending(current)} ends the kernel's interruptible sleeps.
 *
 * <p>Implementation notes. Wake-up protocol: the waiter increments {@code count} (volatile) and then
 * re-checks its condition before each park; the waker makes the condition true and then reads
 * {@code count}. When the waker's write is volatile (or an atomic), the two sides' store-then-load are
 * ordered, so either the waker sees the waiter and unparks it, or the waiter sees the condition. A waker that
 * makes it true with a release store or a lock release (the timer base's running timer, for one) saves the
 * full fence and may, in a rare store-load race, miss a waiter that has just counted itself: that waiter's
 * periodic re-check ends its wait within its current park (at most {@link #MAX_PARK_NS}) — a latency, never
 * a hang. An unpark that comes before
 * the park makes that park return at once ({@link LockSupport}'s permit), so no wake-up is lost between the
 * check and the park. The queue of waiting threads is used only on the slow paths (a wait that parks, a wake
 * with waiters); its allocation is the waiter's.
 */
public final class WaitQueue {
    /** Busy re-checks before yielding: covers a callback that ends within a few microseconds. */
    private static final int SPINS = 100;
    /** Yielding re-checks before parking. */
    private static final int YIELDS = 100;
    /** The first park; doubles up to {@link #MAX_PARK_NS} while nothing wakes the waiter. */
    private static final long FIRST_PARK_NS = TimeUnit.MICROSECONDS.toNanos(20);
    /** The longest a parked waiter goes without re-checking its condition (and the kernel's state). */
    public static final long MAX_PARK_NS = TimeUnit.MILLISECONDS.toNanos(1);

    private static final VarHandle COUNT;

    static {
        try {
            COUNT = MethodHandles.lookup().findVarHandle(WaitQueue.class, "count", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Waiters past their spin phase. [A] */
    private volatile int count;
    /**
     * [A] A waiter's first park and its longest: {@link #FIRST_PARK_NS} doubling up to {@link #MAX_PARK_NS},
     * unless a test that proves a wake-up protocol makes every park long ({@link #parkUntilWoken(long)}). Read
     * at the start of each wait and once per park.
     */
    private volatile long firstParkNs = FIRST_PARK_NS;
    private volatile long maxParkNs = MAX_PARK_NS;
    private final ConcurrentLinkedQueue<Thread> parked = new ConcurrentLinkedQueue<>();

    /** Whether some thread waits (past its spin phase). Any thread; a snapshot. */
    public boolean hasWaiters() {
        return count != 0;
    }

    /**
     * Wakes every waiting thread so that it re-checks its condition. Any thread, any context; one volatile
     * read when nobody waits. Call it after the state change a waiter may be waiting for.
     */
    public void wakeAll() {
        if (count != 0) {
            wakeAllSlow();
        }
    }

    private void wakeAllSlow() {
        for (Thread t : parked) {
            LockSupport.unpark(t);
        }
    }

    /**
     * Makes every park last up to {@code ns}: a parked waiter then goes on only when it is woken (or after
     * {@code ns}). For tests of a wake-up protocol only: a waker that does not wake then shows as a wait that
     * does not end within the test's timeout, instead of as the few microseconds to a millisecond the periodic
     * re-check would cost. Waits that rely on the re-check by design (a waker that ends them with a release
     * store, above) may then hang too. Any thread; takes effect from each waiter's next park.
     *
     * @param ns how long each park lasts at most, at least {@link #MAX_PARK_NS}
     * @throws IllegalArgumentException when {@code ns} is shorter than {@link #MAX_PARK_NS}
     */
    public void parkUntilWoken(long ns) {
        if (ns < MAX_PARK_NS) {
            throw new IllegalArgumentException("park of " + ns + " ns is shorter than " + MAX_PARK_NS + " ns");
        }
        maxParkNs = ns;
        firstParkNs = ns;
    }

    /**
     * Waits until {@code done} holds.
     *
     * @param done          the condition; evaluated by the waiting thread, without locks held by it
     * @param alive         run before each park; throws to abandon the wait (the kernel closed)
     * @param interruptible whether an interrupt ends the wait ({@code TASK_INTERRUPTIBLE})
     * @param deadlineNs    give up at this time of {@code clock} ({@link Long#MAX_VALUE}: never)
     * @param clock         the clock of {@code deadlineNs}
     * @return true when {@code done} holds; false when interrupted (interruptible waits only, the interrupt
     *         status left set) or past the deadline
     */
    public boolean await(BooleanSupplier done, Runnable alive, boolean interruptible, long deadlineNs,
            LongSupplier clock) {
        for (int i = 0; i < SPINS + YIELDS; i++) {
            if (done.getAsBoolean()) {
                return true;
            }
            if (i < SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        Thread self = Thread.currentThread();
        boolean interrupted = false;
        COUNT.getAndAdd(this, 1);
        parked.add(self);
        try {
            long parkNs = firstParkNs;
            for (;;) {
                if (done.getAsBoolean()) {
                    return true;
                }
                alive.run();
                if (Thread.interrupted()) {
                    interrupted = true;
                    if (interruptible) {
                        return false;
                    }
                }
                long waitNs = parkNs;
                if (deadlineNs != Long.MAX_VALUE) {
                    long leftNs = deadlineNs - clock.getAsLong();
                    if (leftNs <= 0) {
                        return done.getAsBoolean();
                    }
                    waitNs = Math.min(waitNs, leftNs);
                }
                LockSupport.parkNanos(this, waitNs);
                parkNs = Math.min(parkNs * 2, maxParkNs);
            }
        } finally {
            parked.remove(self);
            COUNT.getAndAdd(this, -1);
            if (interrupted) {
                self.interrupt();
            }
        }
    }
}
