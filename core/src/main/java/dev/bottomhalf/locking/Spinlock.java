package dev.bottomhalf.locking;

/**
 * The kernel's {@code spinlock_t}: a busy-waiting lock for data shared between task code, softirqs, tasklets,
 * timers and hard-IRQ handlers, with the kernel's lock forms ({@code spin_lock}, {@code _irq},
 * {@code _irqsave}, {@code _bh}, trylocks) and their effects on the calling context. Thread-safe; every
 * operation acts on the calling thread's execution context, in any context of any kernel.
 *
 * <pre>{@code
 * static final Spinlock lock = Spinlock.define("rx_lock");     // DEFINE_SPINLOCK(rx_lock)
 * long flags = lock.lockIrqsave();                               // spin_lock_irqsave(&rx_lock, flags)
 * try { ring.add(pkt); } finally { lock.unlockIrqrestore(flags); }
 * }</pre>
 *
 * <p>Without {@code PREEMPT_RT} a {@code spinlock_t} is a {@link RawSpinlock} with another name; so it is here.
 * See {@link SpinlockBase} for the implementation notes and {@code docs/subsystems/locking.md}.
 */
public final class Spinlock extends SpinlockBase {
    /**
     * A lock initialised here ({@code spin_lock_init}): its lockdep class is this call site, shared by every lock
     * made here.
     *
     * @param name the name reports print, as the kernel's would ({@code &dev->lock})
     */
    public Spinlock(String name) {
        super(name, false);
    }

    private Spinlock(String name, boolean defined) {
        super(name, defined);
    }

    /**
     * {@code DEFINE_SPINLOCK(name)}: a lock that is a lockdep class of its own, named {@code name}.
     *
     * @param name the lock's name, shown in reports
     * @return a new unlocked lock
     */
    public static Spinlock define(String name) {
        return new Spinlock(name, true);
    }
}
