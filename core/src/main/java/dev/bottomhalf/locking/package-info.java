/**
 * The kernel's spinning locks as driver code uses them — {@link dev.bottomhalf.locking.Spinlock}
 * ({@code spinlock_t}), {@link dev.bottomhalf.locking.RawSpinlock} ({@code raw_spinlock_t}) and
 * {@link dev.bottomhalf.locking.Rwlock} ({@code rwlock_t}) with their {@code _irq}, {@code _irqsave} and
 * {@code _bh} forms and the execution-context effects of the kernel's (preemption, IRQs, bottom halves), the
 * checks of the kernel's {@code CONFIG_DEBUG_SPINLOCK} ({@code BUG: spinlock recursion}, {@code wrong owner},
 * {@code lockup suspected}) — and {@link dev.bottomhalf.locking.Lockdep}, the part of the kernel's lock
 * validator that matters for interrupt code (IRQ-usage state per lock class, lock-order cycles, recursion, the
 * workqueue's flush dependencies), on when {@code KernelConfig.proveLocking} is.
 *
 * <p>See {@code docs/subsystems/locking.md}.
 */
package dev.bottomhalf.locking;
