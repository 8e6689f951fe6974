package dev.bottomhalf.internal.sync;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A raw spinlock ({@code raw_spinlock_t}): one CAS to take, one release store to drop. Any thread; not
 * reentrant. Critical sections must be short and must never run user code or wait: a contended taker spins
 * briefly, then yields, and stays runnable all the time — so a worker waiting for a pool lock never looks
 * blocked to the workqueue's concurrency check.
 *
 * <p>Subclass it to keep the lock word on the same object as the data it guards (a timer base, a worker
 * pool: the kernel's {@code struct timer_base { raw_spinlock_t lock; ... }}), or use it as a field.
 *
 * <p>Implementation notes. {@code state} is 0 (free) or 1 (held). {@link #lock()} is a CAS 0 → 1 (full
 * fence, the acquire); {@link #unlock()} a release store of 0 that pairs with the next taker's CAS. A
 * contended taker re-reads with opaque loads and tries the CAS again only when it reads 0, so waiting
 * takers do not keep stealing the line from the holder. When assertions are enabled ({@code -ea}: every
 * test run) the holder is recorded, so {@link #assertHeldByCurrentThread()} and the lock-held assertions of
 * the {@code ...Locked} methods can run, and unlocking a lock that the caller does not hold fails at once.
 * Without {@code -ea} the owner is never written: the lock costs exactly its CAS and its store.
 */
public class RawSpinLock {
    private static final VarHandle STATE;
    /** Whether the owner is recorded (assertions enabled for this package). */
    private static final boolean TRACK_OWNER = RawSpinLock.class.desiredAssertionStatus();
    /** Busy re-reads of a held lock before the taker starts yielding. */
    private static final int SPINS_BEFORE_YIELD = 128;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(RawSpinLock.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through STATE
    private volatile int state;
    /** The holder, recorded only under -ea; written by the holder after taking, cleared before dropping. */
    private Thread owner;

    /** Takes the lock, spinning (then yielding) while another thread holds it. */
    public final void lock() {
        if (!STATE.compareAndSet(this, 0, 1)) {
            lockSlow();
        }
        if (TRACK_OWNER) {
            owner = Thread.currentThread();
        }
    }

    private void lockSlow() {
        if (TRACK_OWNER && owner == Thread.currentThread()) {
            throw new IllegalStateException("BUG: spinlock recursion: " + Thread.currentThread().getName()
                    + " takes a lock it already holds (" + this + ")");
        }
        int spins = 0;
        do {
            if (++spins < SPINS_BEFORE_YIELD) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        } while ((int) STATE.getOpaque(this) != 0 || !STATE.compareAndSet(this, 0, 1));
    }

    /** Takes the lock if it is free; never waits. */
    public final boolean tryLock() {
        if ((int) STATE.getOpaque(this) == 0 && STATE.compareAndSet(this, 0, 1)) {
            if (TRACK_OWNER) {
                owner = Thread.currentThread();
            }
            return true;
        }
        return false;
    }

    /** Drops the lock. Only its holder. */
    public final void unlock() {
        if (TRACK_OWNER) {
            if (owner != Thread.currentThread()) {
                throw new IllegalStateException("unlock of " + this + " by " + Thread.currentThread().getName()
                        + ", which does not hold it (holder: " + (owner == null ? "none" : owner.getName()) + ")");
            }
            owner = null;
        }
        STATE.setRelease(this, 0);
    }

    /** Whether some thread holds the lock; a snapshot. */
    public final boolean isLocked() {
        return (int) STATE.getOpaque(this) != 0;
    }

    /**
     * Whether the calling thread holds the lock, as far as it can be known: exact under {@code -ea}; without
     * it, whether anyone holds it. For assertions ({@code assert lock.heldByCurrentThread()}).
     */
    public final boolean heldByCurrentThread() {
        return TRACK_OWNER ? owner == Thread.currentThread() : isLocked();
    }

    /** Fails with an {@link AssertionError} when assertions are on and the caller does not hold the lock. */
    public final void assertHeldByCurrentThread() {
        assert heldByCurrentThread() : "lock " + this + " not held by " + Thread.currentThread().getName();
    }
}
