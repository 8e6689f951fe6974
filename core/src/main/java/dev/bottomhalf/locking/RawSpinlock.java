package dev.bottomhalf.locking;

/**
 * The kernel's {@code raw_spinlock_t}: the spinning lock that stays spinning even under {@code PREEMPT_RT}, for
 * code that must never sleep (interrupt controllers, the scheduler, timer bases). Here it behaves exactly as a
 * {@link Spinlock}; the facade's {@code raw_spin_*} names take it. Thread-safe; any context of any kernel.
 *
 * <p>This is the user API's lock; the runtime's own internal lock is another class.
 */
public final class RawSpinlock extends SpinlockBase {
    /**
     * A lock initialised here ({@code raw_spin_lock_init}): its lockdep class is this call site.
     *
     * @param name the name reports print ({@code &desc->lock})
     */
    public RawSpinlock(String name) {
        super(name, false);
    }

    private RawSpinlock(String name, boolean defined) {
        super(name, defined);
    }

    /**
     * {@code DEFINE_RAW_SPINLOCK(name)}: a lock that is a lockdep class of its own.
     *
     * @param name the lock's name, shown in reports
     * @return a new unlocked lock
     */
    public static RawSpinlock define(String name) {
        return new RawSpinlock(name, true);
    }
}
