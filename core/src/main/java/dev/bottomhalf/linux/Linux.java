package dev.bottomhalf.linux;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.IntFunction;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.PerCpu;
import dev.bottomhalf.PerCpuLong;
import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqHandler;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.irq.IrqWork;
import dev.bottomhalf.locking.RawSpinlock;
import dev.bottomhalf.net.Napi;
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.locking.Rwlock;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.sched.Completion;
import dev.bottomhalf.sched.KthreadDelayedWork;
import dev.bottomhalf.sched.KthreadWork;
import dev.bottomhalf.sched.KthreadWorker;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.sched.WaitQueueEntry;
import dev.bottomhalf.sched.WaitQueueHead;
import dev.bottomhalf.softirq.SoftirqAction;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timespec64;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * The kernel's own names for everything bottomhalf does, as static methods, so kernel code ports line by
 * line with {@code import static dev.bottomhalf.linux.Linux.*}. Every call resolves the kernel of the
 * calling thread ({@link Kernel#current()}: a runtime thread's kernel, or the kernel a task thread bound
 * itself to with {@link Kernel#bindCurrentThread(int)}) and delegates to the Java API; calls the kernel
 * answers with {@code -errno} return {@code -errno} here instead of throwing.
 *
 * <p>Thread-safety and context rules are those of the delegated call.
 */
public final class Linux {
    private Linux() {
    }

    private static Kernel k() {
        return Kernel.current();
    }

    private static ExecutionContext ctx() {
        return ExecutionContext.current();
    }

    // ------------------------------------------------------------------------------------------
    // Execution context (include/linux/preempt.h, irqflags.h, bottom_half.h)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code in_hardirq()}: whether the calling thread runs a hard-IRQ handler.
     *
     * @return true in hardirq context
     */
    public static boolean in_hardirq() {
        return ctx().inHardirq();
    }

    /**
     * Deprecated alias of {@link #in_hardirq()}, kept because older code uses it.
     *
     * @return true in hardirq context
     */
    public static boolean in_irq() {
        return ctx().inHardirq();
    }

    /**
     * {@code in_serving_softirq()}: whether the calling thread is running a softirq handler (not merely with
     * bottom halves disabled).
     *
     * @return true while a softirq handler runs
     */
    public static boolean in_serving_softirq() {
        return ctx().inServingSoftirq();
    }

    /**
     * {@code in_softirq()}: whether the calling thread serves a softirq or has bottom halves disabled.
     *
     * @return true when the softirq count is non-zero
     */
    public static boolean in_softirq() {
        return ctx().inSoftirq();
    }

    /**
     * {@code in_interrupt()}: whether the calling thread is in hardirq, softirq or NMI context, or has bottom
     * halves disabled.
     *
     * @return true when any interrupt count is non-zero
     */
    public static boolean in_interrupt() {
        return ctx().inInterrupt();
    }

    /**
     * {@code in_task()}: whether the calling thread is in task context (no hardirq, NMI or softirq being served).
     *
     * @return true in task context
     */
    public static boolean in_task() {
        return ctx().inTask();
    }

    /**
     * {@code in_atomic()}: whether the calling thread may not sleep because its preempt count is non-zero.
     *
     * @return true when the preempt count is non-zero
     */
    public static boolean in_atomic() {
        return ctx().inAtomic();
    }

    /**
     * {@code irqs_disabled()}: whether local interrupts are disabled on the calling thread's CPU context.
     *
     * @return true when local IRQs are off
     */
    public static boolean irqs_disabled() {
        return ctx().irqsDisabled();
    }

    /**
     * {@code preemptible()}: whether the calling thread could be preempted (preempt count zero and IRQs on).
     *
     * @return true when preemptible
     */
    public static boolean preemptible() {
        return ctx().preemptible();
    }

    /**
     * {@code preempt_count()}: the calling thread's preempt count, with the kernel's bit layout.
     *
     * @return the preempt count
     */
    public static int preempt_count() {
        return ctx().preemptCount();
    }

    /**
     * {@code interrupt_context_level()}: how deep the calling thread is nested in interrupt contexts.
     *
     * @return 0 in task context, 1 in softirq, 2 in hardirq, 3 in NMI
     */
    public static int interrupt_context_level() {
        return ctx().interruptContextLevel();
    }

    /**
     * {@code smp_processor_id()}: the CPU the calling thread runs on or is bound to.
     *
     * @return the CPU number
     */
    public static int smp_processor_id() {
        return ctx().cpuId();
    }

    /**
     * {@code jiffies}: the current jiffies count of the calling thread's kernel.
     *
     * @return the jiffies counter
     */
    public static long jiffies() {
        return k().jiffies();
    }

    /**
     * {@code HZ}: the calling thread's kernel's tick rate, from its configuration.
     *
     * @return ticks per second
     */
    public static int HZ() {
        return k().config().hz();
    }

    /**
     * {@code msecs_to_jiffies(ms)}: milliseconds converted to jiffies, rounded up.
     *
     * @param ms the duration in milliseconds
     * @return the duration in jiffies
     */
    public static long msecs_to_jiffies(long ms) {
        return k().msecsToJiffies(ms);
    }

    /** {@code local_irq_disable()}: disables interrupts on the calling thread's CPU. */
    public static void local_irq_disable() {
        ctx().localIrqDisable();
    }

    /** {@code local_irq_enable()}: enables interrupts on the calling thread's CPU; pending IRQs are delivered. */
    public static void local_irq_enable() {
        ctx().localIrqEnable();
    }

    /**
     * {@code local_irq_save(flags)}: returns the flags instead of assigning the macro argument.
     *
     * @return the flags to pass to {@link #local_irq_restore(long)}
     */
    public static long local_irq_save() {
        return ctx().localIrqSave();
    }

    /**
     * {@code local_irq_restore(flags)}: restores the interrupt state saved by {@link #local_irq_save()}.
     *
     * @param flags the flags {@code local_irq_save} returned
     */
    public static void local_irq_restore(long flags) {
        ctx().localIrqRestore(flags);
    }

    /**
     * {@code irqs_disabled_flags(flags)}: whether saved flags record interrupts as disabled.
     *
     * @param flags flags from a save call
     * @return true when the flags say IRQs were off
     */
    public static boolean irqs_disabled_flags(long flags) {
        return flags == ExecutionContext.FLAGS_IRQS_DISABLED;
    }

    /** {@code local_bh_disable()}: disables bottom halves (softirqs) on the calling thread's CPU; nests. */
    public static void local_bh_disable() {
        ctx().localBhDisable();
    }

    /**
     * {@code local_bh_enable()}: re-enables bottom halves and runs pending softirqs when the count reaches zero
     * outside interrupt context.
     */
    public static void local_bh_enable() {
        ctx().localBhEnable();
    }

    /** {@code _local_bh_enable()}: re-enables bottom halves without running pending softirqs. */
    public static void _local_bh_enable() {
        ctx().localBhEnableNoRun();
    }

    /**
     * {@code preempt_disable()}: increments the preempt count; the calling thread is atomic until the matching
     * enable.
     */
    public static void preempt_disable() {
        ctx().preemptDisable();
    }

    /** {@code preempt_enable()}: decrements the preempt count. */
    public static void preempt_enable() {
        ctx().preemptEnable();
    }

    /**
     * {@code might_sleep()}: reports a "BUG: sleeping function called from invalid context" when the caller is
     * atomic.
     */
    public static void might_sleep() {
        ctx().mightSleep("might_sleep");
    }

    // ------------------------------------------------------------------------------------------
    // Spinlocks (include/linux/spinlock.h, spinlock_api_smp.h; kernel/locking/spinlock_debug.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code DEFINE_SPINLOCK(name)}: a lock that is a lockdep class of its own.
     *
     * @param name the lock's name, shown in lockdep and debug reports
     * @return a new unlocked spinlock
     */
    public static Spinlock DEFINE_SPINLOCK(String name) {
        return Spinlock.define(name);
    }

    /**
     * {@code spin_lock_init(lock)}: free, its lockdep class this call site.
     *
     * @param lock the lock to reset
     */
    public static void spin_lock_init(Spinlock lock) {
        lock.init();
    }

    /**
     * {@code spin_lock(lock)}: takes {@code lock}, spinning while another context holds it.
     *
     * @param lock the lock to take
     */
    public static void spin_lock(Spinlock lock) {
        lock.lock();
    }

    /**
     * {@code spin_unlock(lock)}: releases {@code lock}.
     *
     * @param lock the lock the caller holds
     */
    public static void spin_unlock(Spinlock lock) {
        lock.unlock();
    }

    /**
     * {@code spin_lock_irq(lock)}: disables local interrupts, then takes {@code lock}.
     *
     * @param lock the lock to take
     */
    public static void spin_lock_irq(Spinlock lock) {
        lock.lockIrq();
    }

    /**
     * {@code spin_unlock_irq(lock)}: releases {@code lock} and enables local interrupts.
     *
     * @param lock the lock the caller holds
     */
    public static void spin_unlock_irq(Spinlock lock) {
        lock.unlockIrq();
    }

    /**
     * {@code spin_lock_irqsave(lock, flags)}: returns the flags instead of assigning the macro argument.
     *
     * @param lock the lock to take
     * @return the saved interrupt flags for {@link #spin_unlock_irqrestore}
     */
    public static long spin_lock_irqsave(Spinlock lock) {
        return lock.lockIrqsave();
    }

    /**
     * {@code spin_unlock_irqrestore(lock, flags)}: releases {@code lock} and restores the saved interrupt state.
     *
     * @param lock the lock the caller holds
     * @param flags the flags {@link #spin_lock_irqsave} returned
     */
    public static void spin_unlock_irqrestore(Spinlock lock, long flags) {
        lock.unlockIrqrestore(flags);
    }

    /**
     * {@code spin_lock_bh(lock)}: disables bottom halves, then takes {@code lock}.
     *
     * @param lock the lock to take
     */
    public static void spin_lock_bh(Spinlock lock) {
        lock.lockBh();
    }

    /**
     * {@code spin_unlock_bh(lock)}: releases {@code lock} and re-enables bottom halves.
     *
     * @param lock the lock the caller holds
     */
    public static void spin_unlock_bh(Spinlock lock) {
        lock.unlockBh();
    }

    /**
     * {@code spin_trylock}: 1 when taken, 0 when busy.
     *
     * @param lock the lock to try
     * @return 1 when taken, 0 when busy
     */
    public static int spin_trylock(Spinlock lock) {
        return lock.trylock() ? 1 : 0;
    }

    /**
     * {@code spin_trylock_irqsave(lock, flags)}: the saved flags when taken, {@link Spinlock#TRYLOCK_FAILED}
     * (IRQs restored) when busy.
     *
     * @param lock the lock to try
     * @return the saved flags, or {@link Spinlock#TRYLOCK_FAILED}
     */
    public static long spin_trylock_irqsave(Spinlock lock) {
        return lock.trylockIrqsave();
    }

    /**
     * {@code spin_trylock_bh(lock)}: disables bottom halves and tries to take {@code lock}; re-enables them when
     * busy.
     *
     * @param lock the lock to try
     * @return 1 when taken, 0 when busy
     */
    public static int spin_trylock_bh(Spinlock lock) {
        return lock.trylockBh() ? 1 : 0;
    }

    /**
     * {@code spin_is_locked(lock)}: whether some context holds {@code lock} (a racy snapshot).
     *
     * @param lock the lock to look at
     * @return true when held
     */
    public static boolean spin_is_locked(Spinlock lock) {
        return lock.isLocked();
    }

    /**
     * {@code assert_spin_locked(lock)}: reports a BUG when {@code lock} is not held.
     *
     * @param lock the lock that must be held
     */
    public static void assert_spin_locked(Spinlock lock) {
        lock.assertLocked();
    }

    /**
     * {@code lockdep_assert_held(lock)} for a {@code spinlock_t}.
     *
     * @param lock the lock the caller must hold
     */
    public static void lockdep_assert_held(Spinlock lock) {
        lock.lockdepAssertHeld();
    }

    /**
     * {@code lockdep_assert_held(lock)} for a {@code raw_spinlock_t}.
     *
     * @param lock the lock the caller must hold
     */
    public static void lockdep_assert_held(RawSpinlock lock) {
        lock.lockdepAssertHeld();
    }

    /**
     * {@code DEFINE_RAW_SPINLOCK(name)}.
     *
     * @param name the lock's name, shown in lockdep and debug reports
     * @return a new unlocked raw spinlock
     */
    public static RawSpinlock DEFINE_RAW_SPINLOCK(String name) {
        return RawSpinlock.define(name);
    }

    /**
     * {@code raw_spin_lock_init(lock)}: resets {@code lock} to free, its lockdep class this call site.
     *
     * @param lock the lock to reset
     */
    public static void raw_spin_lock_init(RawSpinlock lock) {
        lock.init();
    }

    /**
     * {@code raw_spin_lock(lock)}: takes {@code lock}, spinning while another context holds it.
     *
     * @param lock the lock to take
     */
    public static void raw_spin_lock(RawSpinlock lock) {
        lock.lock();
    }

    /**
     * {@code raw_spin_unlock(lock)}: releases {@code lock}.
     *
     * @param lock the lock the caller holds
     */
    public static void raw_spin_unlock(RawSpinlock lock) {
        lock.unlock();
    }

    /**
     * {@code raw_spin_lock_irq(lock)}: disables local interrupts, then takes {@code lock}.
     *
     * @param lock the lock to take
     */
    public static void raw_spin_lock_irq(RawSpinlock lock) {
        lock.lockIrq();
    }

    /**
     * {@code raw_spin_unlock_irq(lock)}: releases {@code lock} and enables local interrupts.
     *
     * @param lock the lock the caller holds
     */
    public static void raw_spin_unlock_irq(RawSpinlock lock) {
        lock.unlockIrq();
    }

    /**
     * {@code raw_spin_lock_irqsave(lock, flags)}: saves and disables local interrupts, then takes {@code lock}.
     *
     * @param lock the lock to take
     * @return the saved interrupt flags for {@link #raw_spin_unlock_irqrestore}
     */
    public static long raw_spin_lock_irqsave(RawSpinlock lock) {
        return lock.lockIrqsave();
    }

    /**
     * {@code raw_spin_unlock_irqrestore(lock, flags)}: releases {@code lock} and restores the saved interrupt
     * state.
     *
     * @param lock the lock the caller holds
     * @param flags the flags {@link #raw_spin_lock_irqsave} returned
     */
    public static void raw_spin_unlock_irqrestore(RawSpinlock lock, long flags) {
        lock.unlockIrqrestore(flags);
    }

    /**
     * {@code raw_spin_lock_bh(lock)}: disables bottom halves, then takes {@code lock}.
     *
     * @param lock the lock to take
     */
    public static void raw_spin_lock_bh(RawSpinlock lock) {
        lock.lockBh();
    }

    /**
     * {@code raw_spin_unlock_bh(lock)}: releases {@code lock} and re-enables bottom halves.
     *
     * @param lock the lock the caller holds
     */
    public static void raw_spin_unlock_bh(RawSpinlock lock) {
        lock.unlockBh();
    }

    /**
     * {@code raw_spin_trylock(lock)}: takes {@code lock} if it is free, without spinning.
     *
     * @param lock the lock to try
     * @return 1 when taken, 0 when busy
     */
    public static int raw_spin_trylock(RawSpinlock lock) {
        return lock.trylock() ? 1 : 0;
    }

    /**
     * {@code raw_spin_trylock_irqsave(lock, flags)}: saves and disables interrupts and tries to take {@code lock}.
     *
     * @param lock the lock to try
     * @return the saved flags when taken, {@link Spinlock#TRYLOCK_FAILED} (IRQs restored) when busy
     */
    public static long raw_spin_trylock_irqsave(RawSpinlock lock) {
        return lock.trylockIrqsave();
    }

    /**
     * {@code raw_spin_is_locked(lock)}: whether some context holds {@code lock} (a racy snapshot).
     *
     * @param lock the lock to look at
     * @return true when held
     */
    public static boolean raw_spin_is_locked(RawSpinlock lock) {
        return lock.isLocked();
    }

    // ------------------------------------------------------------------------------------------
    // Reader-writer spinlocks (include/linux/rwlock.h, rwlock_api_smp.h)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code DEFINE_RWLOCK(name)}.
     *
     * @param name the lock's name, shown in lockdep and debug reports
     * @return a new unlocked reader-writer lock
     */
    public static Rwlock DEFINE_RWLOCK(String name) {
        return Rwlock.define(name);
    }

    /**
     * {@code rwlock_init(lock)}: resets {@code lock} to free, its lockdep class this call site.
     *
     * @param lock the lock to reset
     */
    public static void rwlock_init(Rwlock lock) {
        lock.init();
    }

    /**
     * {@code read_lock(lock)}: takes {@code lock} for reading; readers share it, a writer excludes them.
     *
     * @param lock the lock to take
     */
    public static void read_lock(Rwlock lock) {
        lock.readLock();
    }

    /**
     * {@code read_unlock(lock)}: releases a read hold of {@code lock}.
     *
     * @param lock the lock the caller holds for reading
     */
    public static void read_unlock(Rwlock lock) {
        lock.readUnlock();
    }

    /**
     * {@code read_lock_irq(lock)}: disables local interrupts, then takes {@code lock} for reading.
     *
     * @param lock the lock to take
     */
    public static void read_lock_irq(Rwlock lock) {
        lock.readLockIrq();
    }

    /**
     * {@code read_unlock_irq(lock)}: releases a read hold and enables local interrupts.
     *
     * @param lock the lock the caller holds for reading
     */
    public static void read_unlock_irq(Rwlock lock) {
        lock.readUnlockIrq();
    }

    /**
     * {@code read_lock_irqsave(lock, flags)}: saves and disables local interrupts, then takes {@code lock} for
     * reading.
     *
     * @param lock the lock to take
     * @return the saved interrupt flags for {@link #read_unlock_irqrestore}
     */
    public static long read_lock_irqsave(Rwlock lock) {
        return lock.readLockIrqsave();
    }

    /**
     * {@code read_unlock_irqrestore(lock, flags)}: releases a read hold and restores the saved interrupt state.
     *
     * @param lock the lock the caller holds for reading
     * @param flags the flags {@link #read_lock_irqsave} returned
     */
    public static void read_unlock_irqrestore(Rwlock lock, long flags) {
        lock.readUnlockIrqrestore(flags);
    }

    /**
     * {@code read_lock_bh(lock)}: disables bottom halves, then takes {@code lock} for reading.
     *
     * @param lock the lock to take
     */
    public static void read_lock_bh(Rwlock lock) {
        lock.readLockBh();
    }

    /**
     * {@code read_unlock_bh(lock)}: releases a read hold and re-enables bottom halves.
     *
     * @param lock the lock the caller holds for reading
     */
    public static void read_unlock_bh(Rwlock lock) {
        lock.readUnlockBh();
    }

    /**
     * {@code read_trylock(lock)}: takes {@code lock} for reading if no writer holds it.
     *
     * @param lock the lock to try
     * @return 1 when taken, 0 when busy
     */
    public static int read_trylock(Rwlock lock) {
        return lock.readTrylock() ? 1 : 0;
    }

    /**
     * {@code write_lock(lock)}: takes {@code lock} for writing, excluding readers and other writers.
     *
     * @param lock the lock to take
     */
    public static void write_lock(Rwlock lock) {
        lock.writeLock();
    }

    /**
     * {@code write_unlock(lock)}: releases the write hold of {@code lock}.
     *
     * @param lock the lock the caller holds for writing
     */
    public static void write_unlock(Rwlock lock) {
        lock.writeUnlock();
    }

    /**
     * {@code write_lock_irq(lock)}: disables local interrupts, then takes {@code lock} for writing.
     *
     * @param lock the lock to take
     */
    public static void write_lock_irq(Rwlock lock) {
        lock.writeLockIrq();
    }

    /**
     * {@code write_unlock_irq(lock)}: releases the write hold and enables local interrupts.
     *
     * @param lock the lock the caller holds for writing
     */
    public static void write_unlock_irq(Rwlock lock) {
        lock.writeUnlockIrq();
    }

    /**
     * {@code write_lock_irqsave(lock, flags)}: saves and disables local interrupts, then takes {@code lock} for
     * writing.
     *
     * @param lock the lock to take
     * @return the saved interrupt flags for {@link #write_unlock_irqrestore}
     */
    public static long write_lock_irqsave(Rwlock lock) {
        return lock.writeLockIrqsave();
    }

    /**
     * {@code write_unlock_irqrestore(lock, flags)}: releases the write hold and restores the saved interrupt
     * state.
     *
     * @param lock the lock the caller holds for writing
     * @param flags the flags {@link #write_lock_irqsave} returned
     */
    public static void write_unlock_irqrestore(Rwlock lock, long flags) {
        lock.writeUnlockIrqrestore(flags);
    }

    /**
     * {@code write_lock_bh(lock)}: disables bottom halves, then takes {@code lock} for writing.
     *
     * @param lock the lock to take
     */
    public static void write_lock_bh(Rwlock lock) {
        lock.writeLockBh();
    }

    /**
     * {@code write_unlock_bh(lock)}: releases the write hold and re-enables bottom halves.
     *
     * @param lock the lock the caller holds for writing
     */
    public static void write_unlock_bh(Rwlock lock) {
        lock.writeUnlockBh();
    }

    /**
     * {@code write_trylock(lock)}: takes {@code lock} for writing if it is free.
     *
     * @param lock the lock to try
     * @return 1 when taken, 0 when busy
     */
    public static int write_trylock(Rwlock lock) {
        return lock.writeTrylock() ? 1 : 0;
    }

    /**
     * {@code lockdep_assert_held(lock)} for an {@code rwlock_t}: held for reading or writing.
     *
     * @param lock the lock the caller must hold
     */
    public static void lockdep_assert_held(Rwlock lock) {
        lock.lockdepAssertHeld();
    }

    // ------------------------------------------------------------------------------------------
    // Lockup detectors (kernel/watchdog.c)
    // ------------------------------------------------------------------------------------------

    /** {@code touch_softlockup_watchdog()}: this CPU is knowingly busy; its soft lockup report waits a period. */
    public static void touch_softlockup_watchdog() {
        ExecutionContext c = ctx();
        RuntimeAccess.get().machine(c).lockupDetector().touchSoftlockupWatchdog(RuntimeAccess.get().cpu(c));
    }

    /** {@code touch_nmi_watchdog()}: as {@link #touch_softlockup_watchdog()}, and the hard lockup timing restarts. */
    public static void touch_nmi_watchdog() {
        ExecutionContext c = ctx();
        RuntimeAccess.get().machine(c).lockupDetector().touchNmiWatchdog(RuntimeAccess.get().cpu(c));
    }

    // ------------------------------------------------------------------------------------------
    // Tasks and scheduling (include/linux/sched.h, kernel/sched/core.c, kernel/signal.c)
    // ------------------------------------------------------------------------------------------

    /** {@code TASK_RUNNING}: the task runs or is runnable. */
    public static final int TASK_RUNNING = Task.TASK_RUNNING;
    /** {@code TASK_INTERRUPTIBLE}: sleeping; a wake-up or a signal ends the sleep. */
    public static final int TASK_INTERRUPTIBLE = Task.TASK_INTERRUPTIBLE;
    /** {@code TASK_UNINTERRUPTIBLE}: sleeping; only a wake-up ends the sleep. */
    public static final int TASK_UNINTERRUPTIBLE = Task.TASK_UNINTERRUPTIBLE;
    /** {@code TASK_PARKED}: a kthread parked by {@link #kthread_park}. */
    public static final int TASK_PARKED = Task.TASK_PARKED;
    /** {@code TASK_WAKEKILL}: a fatal signal wakes the sleep. */
    public static final int TASK_WAKEKILL = Task.TASK_WAKEKILL;
    /** {@code TASK_NOLOAD}: the sleep does not count as load (no hung-task report). */
    public static final int TASK_NOLOAD = Task.TASK_NOLOAD;
    /** {@code TASK_KILLABLE}: {@code TASK_WAKEKILL | TASK_UNINTERRUPTIBLE}. */
    public static final int TASK_KILLABLE = Task.TASK_KILLABLE;
    /** {@code TASK_IDLE}: {@code TASK_UNINTERRUPTIBLE | TASK_NOLOAD}. */
    public static final int TASK_IDLE = Task.TASK_IDLE;
    /** {@code TASK_NORMAL}: {@code TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE}, the states plain wake-ups wake. */
    public static final int TASK_NORMAL = Task.TASK_NORMAL;
    /** {@code ERESTARTSYS}: the errno an interruptible wait returns (negated) when a signal ended it. */
    public static final int ERESTARTSYS = Sched.ERESTARTSYS;
    /** {@code EINTR}: the errno for an interrupted call. */
    public static final int EINTR = Sched.EINTR;
    /** {@code SIGINT}: the interrupt signal number. */
    public static final int SIGINT = Sched.SIGINT;
    /** {@code SIGKILL}: the kill signal number; the one fatal signal here. */
    public static final int SIGKILL = Sched.SIGKILL;
    /** {@code SIGUSR1}: the first user signal number. */
    public static final int SIGUSR1 = Sched.SIGUSR1;
    /** {@code SIGTERM}: the termination signal number. */
    public static final int SIGTERM = Sched.SIGTERM;

    private static Sched sched() {
        return k().sched();
    }

    /**
     * {@code current}: the calling context's task ({@code swapper/N} in hardirq context and in the softirqs run at
     * {@code irq_exit} on {@code cpu/N}; see {@link Sched#current()}).
     *
     * @return the current task
     */
    public static Task current() {
        return sched().current();
    }

    /**
     * {@code get_current()}.
     *
     * @return the current task, as {@link #current()}
     */
    public static Task get_current() {
        return sched().current();
    }

    /**
     * {@code task_pid_nr(p)}.
     *
     * @param p the task
     * @return its pid
     */
    public static int task_pid_nr(Task p) {
        return p.pid();
    }

    /**
     * {@code set_current_state(state)}: the state write is ordered before the condition test that follows.
     *
     * @param state a {@code TASK_*} state
     */
    public static void set_current_state(int state) {
        sched().setCurrentState(state);
    }

    /**
     * {@code __set_current_state(state)} (the same volatile write here).
     *
     * @param state a {@code TASK_*} state
     */
    public static void __set_current_state(int state) {
        sched().setCurrentState(state);
    }

    /**
     * {@code schedule()}: the calling task sleeps in the state it set before, until woken; when it is
     * {@code TASK_RUNNING} it only yields ({@code cond_resched}).
     */
    public static void schedule() {
        sched().schedule();
    }

    /**
     * {@code schedule_timeout(timeout)}: in the state set before; jiffies left, 0 when the time ran out.
     *
     * @param timeout jiffies to sleep at most, or {@code MAX_SCHEDULE_TIMEOUT}
     * @return the jiffies left, 0 when the time ran out
     */
    public static long schedule_timeout(long timeout) {
        return sched().scheduleTimeout(timeout);
    }

    /**
     * {@code schedule_timeout_killable(timeout)}: sleeps {@code TASK_KILLABLE} for at most {@code timeout}
     * jiffies.
     *
     * @param timeout jiffies to sleep at most
     * @return the jiffies left, 0 when the time ran out
     */
    public static long schedule_timeout_killable(long timeout) {
        return sched().scheduleTimeoutKillable(timeout);
    }

    /**
     * {@code schedule_timeout_idle(timeout)}: sleeps {@code TASK_IDLE} for at most {@code timeout} jiffies.
     *
     * @param timeout jiffies to sleep at most
     * @return the jiffies left, 0 when the time ran out
     */
    public static long schedule_timeout_idle(long timeout) {
        return sched().scheduleTimeoutIdle(timeout);
    }

    /**
     * {@code wake_up_process(p)}: 1 when it woke {@code p}, 0 when it was running.
     *
     * @param p the task to wake
     * @return 1 when woken, 0 when already running
     */
    public static int wake_up_process(Task p) {
        return sched().wakeUpProcess(p) ? 1 : 0;
    }

    /**
     * {@code wake_up_state(p, state)}: wakes {@code p} when it sleeps in one of the states in {@code state}.
     *
     * @param p the task to wake
     * @param state the {@code TASK_*} states to wake it from
     * @return 1 when woken, 0 otherwise
     */
    public static int wake_up_state(Task p, int state) {
        return sched().wakeUpState(p, state) ? 1 : 0;
    }

    /**
     * {@code cond_resched()}: 0 (whether another thread ran is not reported).
     *
     * @return 0
     */
    public static int cond_resched() {
        sched().condResched();
        return 0;
    }

    /**
     * {@code signal_pending(p)}: the thread interrupt status of task thread {@code p}.
     *
     * @param p the task, normally {@link #current()}
     * @return true when a signal is pending
     */
    public static boolean signal_pending(Task p) {
        return sched().signalPending(p);
    }

    /**
     * {@code fatal_signal_pending(p)}: whether {@code SIGKILL} is pending for task {@code p}.
     *
     * @param p the task, normally {@link #current()}
     * @return true when a fatal signal is pending
     */
    public static boolean fatal_signal_pending(Task p) {
        return sched().fatalSignalPending(p);
    }

    /**
     * {@code send_sig(sig, p, priv)}: interrupts task thread {@code p} and wakes its interruptible sleep; 0.
     *
     * @param sig the signal number ({@link #SIGKILL} is fatal)
     * @param p the task to signal
     * @param priv ignored (no permission checks here)
     * @return 0
     */
    public static int send_sig(int sig, Task p, int priv) {
        try {
            sched().sendSig(sig, p);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code flush_signals(p)}: clears the pending signals of the calling task.
     *
     * @param p the calling task
     * @throws IllegalArgumentException when {@code p} is not the calling task
     */
    public static void flush_signals(Task p) {
        if (p != sched().current()) {
            throw new IllegalArgumentException("flush_signals(" + p + "): only the calling task's signals can be flushed here");
        }
        sched().flushSignals();
    }

    // ------------------------------------------------------------------------------------------
    // Wait queues (include/linux/wait.h, kernel/sched/wait.c)
    // ------------------------------------------------------------------------------------------

    /** {@code WQ_FLAG_EXCLUSIVE}: the entry is woken only as one of a wake-up's {@code nr_exclusive}. */
    public static final int WQ_FLAG_EXCLUSIVE = WaitQueueEntry.WQ_FLAG_EXCLUSIVE;
    /** {@code WQ_FLAG_WOKEN}: set by {@code woken_wake_function} when the entry was woken. */
    public static final int WQ_FLAG_WOKEN = WaitQueueEntry.WQ_FLAG_WOKEN;

    /**
     * {@code DECLARE_WAIT_QUEUE_HEAD(name)}.
     *
     * @param name the head's name, for reports
     * @return a new empty wait-queue head
     */
    public static WaitQueueHead DECLARE_WAIT_QUEUE_HEAD(String name) {
        return new WaitQueueHead(name);
    }

    /**
     * {@code init_waitqueue_head(&wq)}: a fresh head (Java cannot re-initialise one in place).
     *
     * @param name the head's name, for reports
     * @return a new empty wait-queue head
     */
    public static WaitQueueHead init_waitqueue_head(String name) {
        return new WaitQueueHead(name);
    }

    /**
     * {@code DEFINE_WAIT(name)}: an entry for {@code current} with {@code autoremove_wake_function}.
     *
     * @return a new entry for the calling task
     */
    public static WaitQueueEntry DEFINE_WAIT() {
        return sched().defineWait();
    }

    /**
     * {@code init_waitqueue_entry(entry, p)}: an entry that wakes task {@code p} with {@code
     * default_wake_function}.
     *
     * @param p the task to wake
     * @return the new entry
     */
    public static WaitQueueEntry init_waitqueue_entry(Task p) {
        return sched().initWaitqueueEntry(p);
    }

    /**
     * {@code init_waitqueue_func_entry(entry, func)}: an entry whose wake-up calls {@code func}.
     *
     * @param func the wake function
     * @return the new entry
     */
    public static WaitQueueEntry init_waitqueue_func_entry(WaitQueueEntry.WakeFunction func) {
        return sched().initWaitqueueFuncEntry(func);
    }

    /**
     * {@code add_wait_queue(wq, entry)}: adds a non-exclusive {@code entry} at the head of {@code wq}.
     *
     * @param wq the wait queue
     * @param entry the entry to add
     */
    public static void add_wait_queue(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().addWaitQueue(wq, entry);
    }

    /**
     * {@code add_wait_queue_exclusive(wq, entry)}: adds an exclusive {@code entry} at the tail of {@code wq}.
     *
     * @param wq the wait queue
     * @param entry the entry to add
     */
    public static void add_wait_queue_exclusive(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().addWaitQueueExclusive(wq, entry);
    }

    /**
     * {@code remove_wait_queue(wq, entry)}: removes {@code entry} from {@code wq}.
     *
     * @param wq the wait queue
     * @param entry the entry to remove
     */
    public static void remove_wait_queue(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().removeWaitQueue(wq, entry);
    }

    /**
     * {@code prepare_to_wait(wq, entry, state)}: queues {@code entry} if it is not queued and sets the task state.
     *
     * @param wq the wait queue
     * @param entry the calling task's entry
     * @param state the {@code TASK_*} state to sleep in
     */
    public static void prepare_to_wait(WaitQueueHead wq, WaitQueueEntry entry, int state) {
        sched().prepareToWait(wq, entry, state);
    }

    /**
     * {@code prepare_to_wait_exclusive(wq, entry, state)}: as {@link #prepare_to_wait}, queued exclusive at the
     * tail.
     *
     * @param wq the wait queue
     * @param entry the calling task's entry
     * @param state the {@code TASK_*} state to sleep in
     * @return true when the queue was empty before
     */
    public static boolean prepare_to_wait_exclusive(WaitQueueHead wq, WaitQueueEntry entry, int state) {
        return sched().prepareToWaitExclusive(wq, entry, state);
    }

    /**
     * {@code prepare_to_wait_event(wq, entry, state)}: as {@link #prepare_to_wait}, unless a signal is pending for
     * the state.
     *
     * @param wq the wait queue
     * @param entry the calling task's entry
     * @param state the {@code TASK_*} state to sleep in
     * @return 0, or {@code -ERESTARTSYS} when a signal is pending (the entry is then dequeued)
     */
    public static long prepare_to_wait_event(WaitQueueHead wq, WaitQueueEntry entry, int state) {
        return sched().prepareToWaitEvent(wq, entry, state);
    }

    /**
     * {@code finish_wait(wq, entry)}: sets the task running and dequeues {@code entry} if still queued.
     *
     * @param wq the wait queue
     * @param entry the calling task's entry
     */
    public static void finish_wait(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().finishWait(wq, entry);
    }

    /**
     * {@code waitqueue_active(wq)}: one volatile read; pair it with a volatile condition.
     *
     * @param wq the wait queue
     * @return true when some entry is queued
     */
    public static boolean waitqueue_active(WaitQueueHead wq) {
        return wq.active();
    }

    /**
     * {@code wq_has_sleeper(wq)}: {@link #waitqueue_active} (the volatile read is the barrier).
     *
     * @param wq the wait queue
     * @return true when some entry is queued
     */
    public static boolean wq_has_sleeper(WaitQueueHead wq) {
        return wq.active();
    }

    /**
     * {@code wait_event(wq, condition)}: sleeps uninterruptibly on {@code wq} until {@code condition} is true;
     * task context only.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     */
    public static void wait_event(WaitQueueHead wq, BooleanSupplier condition) {
        sched().waitEvent(wq, condition);
    }

    /**
     * {@code wait_event_idle(wq, condition)}: as {@link #wait_event}, sleeping {@code TASK_IDLE}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     */
    public static void wait_event_idle(WaitQueueHead wq, BooleanSupplier condition) {
        sched().waitEventIdle(wq, condition);
    }

    /**
     * {@code wait_event_timeout}: 0 on timeout, else the jiffies left (at least 1).
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @param timeout jiffies to wait at most
     * @return 0 on timeout, else the jiffies left
     */
    public static long wait_event_timeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return sched().waitEventTimeout(wq, condition, timeout);
    }

    /**
     * {@code wait_event_interruptible}: 0, or {@code -ERESTARTSYS}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @return 0, or {@code -ERESTARTSYS} when a signal ended the wait
     */
    public static int wait_event_interruptible(WaitQueueHead wq, BooleanSupplier condition) {
        return sched().waitEventInterruptible(wq, condition);
    }

    /**
     * {@code wait_event_interruptible_exclusive(wq, condition)}: as {@link #wait_event_interruptible}, queued as
     * an exclusive waiter.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @return 0, or {@code -ERESTARTSYS} when a signal ended the wait
     */
    public static int wait_event_interruptible_exclusive(WaitQueueHead wq, BooleanSupplier condition) {
        return sched().waitEventInterruptibleExclusive(wq, condition);
    }

    /**
     * {@code wait_event_interruptible_timeout}: {@code -ERESTARTSYS}, 0 on timeout, else the jiffies left.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS}, 0 on timeout, else the jiffies left
     */
    public static long wait_event_interruptible_timeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return sched().waitEventInterruptibleTimeout(wq, condition, timeout);
    }

    /**
     * {@code wait_event_killable(wq, condition)}: sleeps {@code TASK_KILLABLE} until {@code condition} is true or
     * a fatal signal.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @return 0, or {@code -ERESTARTSYS} when a fatal signal ended the wait
     */
    public static int wait_event_killable(WaitQueueHead wq, BooleanSupplier condition) {
        return sched().waitEventKillable(wq, condition);
    }

    /**
     * {@code wait_event_killable_timeout(wq, condition, timeout)}: as {@link #wait_event_killable}, for at most
     * {@code timeout} jiffies.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS}, 0 on timeout, else the jiffies left
     */
    public static long wait_event_killable_timeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return sched().waitEventKillableTimeout(wq, condition, timeout);
    }

    /**
     * {@code wake_up(wq)}: non-exclusive waiters and one exclusive; a volatile read when nobody waits.
     *
     * @param wq the wait queue to wake
     */
    public static void wake_up(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUp(wq);
        }
    }

    /**
     * {@code wake_up_nr(wq, nr)}: wakes the non-exclusive waiters and up to {@code nr} exclusive ones.
     *
     * @param wq the wait queue to wake
     * @param nr how many exclusive waiters to wake
     */
    public static void wake_up_nr(WaitQueueHead wq, int nr) {
        if (wq.active()) {
            sched().wakeUpNr(wq, nr);
        }
    }

    /**
     * {@code wake_up_all(wq)}: wakes every waiter, exclusive or not.
     *
     * @param wq the wait queue to wake
     */
    public static void wake_up_all(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUpAll(wq);
        }
    }

    /**
     * {@code wake_up_interruptible(wq)}: as {@link #wake_up}, waking only {@code TASK_INTERRUPTIBLE} sleepers.
     *
     * @param wq the wait queue to wake
     */
    public static void wake_up_interruptible(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUpInterruptible(wq);
        }
    }

    /**
     * {@code wake_up_interruptible_nr(wq, nr)}: as {@link #wake_up_nr}, waking only {@code TASK_INTERRUPTIBLE}
     * sleepers.
     *
     * @param wq the wait queue to wake
     * @param nr how many exclusive waiters to wake
     */
    public static void wake_up_interruptible_nr(WaitQueueHead wq, int nr) {
        if (wq.active()) {
            sched().wakeUpInterruptibleNr(wq, nr);
        }
    }

    /**
     * {@code wake_up_interruptible_all(wq)}: wakes every {@code TASK_INTERRUPTIBLE} sleeper.
     *
     * @param wq the wait queue to wake
     */
    public static void wake_up_interruptible_all(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUpInterruptibleAll(wq);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Completions (include/linux/completion.h, kernel/sched/completion.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code DECLARE_COMPLETION(name)}.
     *
     * @param name the completion's name, for reports
     * @return a new, not done completion
     */
    public static Completion DECLARE_COMPLETION(String name) {
        return new Completion(name);
    }

    /**
     * {@code init_completion(&x)}: a fresh completion (Java cannot re-initialise one in place; see reinit).
     *
     * @param name the completion's name, for reports
     * @return a new, not done completion
     */
    public static Completion init_completion(String name) {
        return new Completion(name);
    }

    /**
     * {@code reinit_completion(x)}: resets {@code x} to not done, for reuse.
     *
     * @param x the completion
     */
    public static void reinit_completion(Completion x) {
        sched().reinitCompletion(x);
    }

    /**
     * {@code complete(x)}: signals {@code x} once, waking one waiter; callable from any context.
     *
     * @param x the completion
     */
    public static void complete(Completion x) {
        sched().complete(x);
    }

    /**
     * {@code complete_all(x)}: marks {@code x} done for good, waking every waiter; callable from any context.
     *
     * @param x the completion
     */
    public static void complete_all(Completion x) {
        sched().completeAll(x);
    }

    /**
     * {@code wait_for_completion(x)}: sleeps uninterruptibly until {@code x} is completed; task context only.
     *
     * @param x the completion
     */
    public static void wait_for_completion(Completion x) {
        sched().waitForCompletion(x);
    }

    /**
     * {@code wait_for_completion_timeout}: 0 on timeout, else the jiffies left (at least 1).
     *
     * @param x the completion
     * @param timeout jiffies to wait at most
     * @return 0 on timeout, else the jiffies left
     */
    public static long wait_for_completion_timeout(Completion x, long timeout) {
        return sched().waitForCompletionTimeout(x, timeout);
    }

    /**
     * {@code wait_for_completion_interruptible}: 0, or {@code -ERESTARTSYS}.
     *
     * @param x the completion
     * @return 0, or {@code -ERESTARTSYS} when a signal ended the wait
     */
    public static int wait_for_completion_interruptible(Completion x) {
        return sched().waitForCompletionInterruptible(x);
    }

    /**
     * {@code wait_for_completion_interruptible_timeout(x, timeout)}: an interruptible wait of at most {@code
     * timeout} jiffies.
     *
     * @param x the completion
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS}, 0 on timeout, else the jiffies left
     */
    public static long wait_for_completion_interruptible_timeout(Completion x, long timeout) {
        return sched().waitForCompletionInterruptibleTimeout(x, timeout);
    }

    /**
     * {@code wait_for_completion_killable(x)}: waits for {@code x} in {@code TASK_KILLABLE}.
     *
     * @param x the completion
     * @return 0, or {@code -ERESTARTSYS} when a fatal signal ended the wait
     */
    public static int wait_for_completion_killable(Completion x) {
        return sched().waitForCompletionKillable(x);
    }

    /**
     * {@code wait_for_completion_killable_timeout(x, timeout)}: a killable wait of at most {@code timeout}
     * jiffies.
     *
     * @param x the completion
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS}, 0 on timeout, else the jiffies left
     */
    public static long wait_for_completion_killable_timeout(Completion x, long timeout) {
        return sched().waitForCompletionKillableTimeout(x, timeout);
    }

    /**
     * {@code try_wait_for_completion(x)}: consumes one completion of {@code x} without sleeping.
     *
     * @param x the completion
     * @return true when one was consumed, false when it would have to wait
     */
    public static boolean try_wait_for_completion(Completion x) {
        return sched().tryWaitForCompletion(x);
    }

    /**
     * {@code completion_done(x)}: whether a wait on {@code x} would return at once.
     *
     * @param x the completion
     * @return true when {@code x} has completions to hand out
     */
    public static boolean completion_done(Completion x) {
        return sched().completionDone(x);
    }

    // ------------------------------------------------------------------------------------------
    // kthreads (include/linux/kthread.h, kernel/kthread.c)
    // ------------------------------------------------------------------------------------------

    /** {@code KTW_FREEZABLE}: the kthread worker's flag for a freezable thread. */
    public static final int KTW_FREEZABLE = Kthreads.KTW_FREEZABLE;

    private static Kthreads kthreads() {
        return k().kthreads();
    }

    /**
     * {@code kthread_create(threadfn, data, namefmt, ...)}: stopped until {@link #wake_up_process}.
     *
     * @param <T> the data's type
     * @param threadfn the thread function, given {@code data}
     * @param data passed to {@code threadfn}
     * @param namefmt the thread's name, a {@link String#format} pattern
     * @param args the pattern's arguments
     * @return the new, not yet running task
     */
    public static <T> Task kthread_create(Kthreads.ThreadFn<T> threadfn, T data, String namefmt, Object... args) {
        return kthreads().create(threadfn, data, namefmt, args);
    }

    /**
     * {@code kthread_run(threadfn, data, namefmt, ...)}: {@link #kthread_create} and a wake-up.
     *
     * @param <T> the data's type
     * @param threadfn the thread function, given {@code data}
     * @param data passed to {@code threadfn}
     * @param namefmt the thread's name, a {@link String#format} pattern
     * @param args the pattern's arguments
     * @return the new, running task
     */
    public static <T> Task kthread_run(Kthreads.ThreadFn<T> threadfn, T data, String namefmt, Object... args) {
        return kthreads().run(threadfn, data, namefmt, args);
    }

    /**
     * {@code kthread_stop(k)}: the thread function's result, {@code -EINTR} when it never ran.
     *
     * @param k the kthread to stop; the call waits for it to exit
     * @return the thread function's result
     */
    public static int kthread_stop(Task k) {
        try {
            return kthreads().stop(k);
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code kthread_should_stop()}: whether {@link #kthread_stop} was called for the calling kthread.
     *
     * @return true when the thread function should return
     */
    public static boolean kthread_should_stop() {
        return kthreads().shouldStop();
    }

    /**
     * {@code kthread_should_park()}: whether {@link #kthread_park} was called for the calling kthread.
     *
     * @return true when the thread should call {@link #kthread_parkme()}
     */
    public static boolean kthread_should_park() {
        return kthreads().shouldPark();
    }

    /** {@code kthread_parkme()}: parks the calling kthread until it is unparked or stopped. */
    public static void kthread_parkme() {
        kthreads().parkme();
    }

    /**
     * {@code kthread_park(k)}: asks {@code k} to park and waits until it has.
     *
     * @param k the kthread
     * @return 0, or a negative errno when it cannot be parked
     */
    public static int kthread_park(Task k) {
        try {
            kthreads().park(k);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code kthread_unpark(k)}: lets a parked kthread run on.
     *
     * @param k the kthread
     */
    public static void kthread_unpark(Task k) {
        kthreads().unpark(k);
    }

    /**
     * {@code kthread_bind(k, cpu)}: binds a not yet started kthread to {@code cpu}.
     *
     * @param k the kthread
     * @param cpu the CPU
     */
    public static void kthread_bind(Task k, int cpu) {
        kthreads().bind(k, cpu);
    }

    /**
     * {@code kthread_create_worker(flags, namefmt, ...)}: a kthread that runs queued {@link KthreadWork} items in
     * order.
     *
     * @param flags 0 or {@link #KTW_FREEZABLE}
     * @param namefmt the thread's name, a {@link String#format} pattern
     * @param args the pattern's arguments
     * @return the running worker
     */
    public static KthreadWorker kthread_create_worker(int flags, String namefmt, Object... args) {
        return kthreads().createWorker(flags, namefmt, args);
    }

    /**
     * {@code kthread_init_work(&work, fn)} / {@code DEFINE_KTHREAD_WORK}.
     *
     * @param name the work's name, for reports
     * @param fn the function the worker runs
     * @return the new idle work
     */
    public static KthreadWork kthread_init_work(String name, Consumer<KthreadWork> fn) {
        return new KthreadWork(name, fn);
    }

    /**
     * {@code kthread_init_delayed_work(&dwork, fn)} / {@code DEFINE_KTHREAD_DELAYED_WORK}.
     *
     * @param name the work's name, for reports
     * @param fn the function the worker runs
     * @return the new idle delayed work
     */
    public static KthreadDelayedWork kthread_init_delayed_work(String name, Consumer<KthreadWork> fn) {
        return new KthreadDelayedWork(name, fn);
    }

    /**
     * {@code kthread_queue_work(worker, work)}: queues {@code work} on {@code worker} unless it is pending.
     *
     * @param worker the worker
     * @param work the work
     * @return true when queued, false when already pending
     */
    public static boolean kthread_queue_work(KthreadWorker worker, KthreadWork work) {
        return kthreads().queueWork(worker, work);
    }

    /**
     * {@code kthread_flush_work(work)}: waits until the last queueing of {@code work} has run.
     *
     * @param work the work
     */
    public static void kthread_flush_work(KthreadWork work) {
        kthreads().flushWork(work);
    }

    /**
     * {@code kthread_flush_worker(worker)}: waits until everything queued on {@code worker} so far has run.
     *
     * @param worker the worker
     */
    public static void kthread_flush_worker(KthreadWorker worker) {
        kthreads().flushWorker(worker);
    }

    /**
     * {@code kthread_queue_delayed_work(worker, dwork, delay)}: queues {@code dwork} after {@code delay} jiffies
     * unless pending.
     *
     * @param worker the worker
     * @param dwork the delayed work
     * @param delay jiffies to wait before queueing
     * @return true when queued, false when already pending
     */
    public static boolean kthread_queue_delayed_work(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        return kthreads().queueDelayedWork(worker, dwork, delay);
    }

    /**
     * {@code kthread_mod_delayed_work(worker, dwork, delay)}: queues {@code dwork} after {@code delay}, pending or
     * not.
     *
     * @param worker the worker
     * @param dwork the delayed work
     * @param delay jiffies to wait before queueing
     * @return true when it was pending before
     */
    public static boolean kthread_mod_delayed_work(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        return kthreads().modDelayedWork(worker, dwork, delay);
    }

    /**
     * {@code kthread_cancel_work_sync(work)}: cancels {@code work} and waits for a running instance.
     *
     * @param work the work
     * @return true when it was pending
     */
    public static boolean kthread_cancel_work_sync(KthreadWork work) {
        return kthreads().cancelWorkSync(work);
    }

    /**
     * {@code kthread_cancel_delayed_work_sync(dwork)}: cancels {@code dwork}'s timer or queueing and waits for a
     * running instance.
     *
     * @param dwork the delayed work
     * @return true when it was pending
     */
    public static boolean kthread_cancel_delayed_work_sync(KthreadDelayedWork dwork) {
        return kthreads().cancelDelayedWorkSync(dwork);
    }

    /**
     * {@code kthread_destroy_worker(worker)}: flushes {@code worker} and stops its thread.
     *
     * @param worker the worker
     */
    public static void kthread_destroy_worker(KthreadWorker worker) {
        kthreads().destroyWorker(worker);
    }

    // ------------------------------------------------------------------------------------------
    // printk
    // ------------------------------------------------------------------------------------------

    /** {@code KERN_EMERG}: the printk prefix of an emergency message (reported at {@code EMERG}). */
    public static final String KERN_EMERG = "\u00010";
    /** {@code KERN_ALERT}: the printk prefix of an alert (reported at {@code EMERG}). */
    public static final String KERN_ALERT = "\u00011";
    /** {@code KERN_CRIT}: the printk prefix of a critical message (reported at {@code EMERG}). */
    public static final String KERN_CRIT = "\u00012";
    /** {@code KERN_ERR}: the printk prefix of an error. */
    public static final String KERN_ERR = "\u00013";
    /** {@code KERN_WARNING}: the printk prefix of a warning, the default level. */
    public static final String KERN_WARNING = "\u00014";
    /** {@code KERN_NOTICE}: the printk prefix of a notice. */
    public static final String KERN_NOTICE = "\u00015";
    /** {@code KERN_INFO}: the printk prefix of an informational message. */
    public static final String KERN_INFO = "\u00016";
    /** {@code KERN_DEBUG}: the printk prefix of a debug message (reported at {@code INFO}). */
    public static final String KERN_DEBUG = "\u00017";

    /**
     * {@code printk(fmt, ...)}: formats with {@link String#format} (so {@code %d}, {@code %s}, {@code %lu}
     * written as {@code %d}) and reports it at the level of its {@code KERN_*} prefix (default
     * {@code KERN_WARNING}, as the kernel's default message level). A trailing newline is dropped.
     *
     * @param fmt the format, optionally starting with a {@code KERN_*} prefix
     * @param args the format's arguments
     */
    public static void printk(String fmt, Object... args) {
        KernelEvent.Kind level = KernelEvent.Kind.WARN;
        String text = fmt;
        if (text.length() >= 2 && text.charAt(0) == '\u0001') {
            level = switch (text.charAt(1)) {
                case '0', '1', '2' -> KernelEvent.Kind.EMERG;
                case '3' -> KernelEvent.Kind.ERR;
                case '4' -> KernelEvent.Kind.WARN;
                case '5' -> KernelEvent.Kind.NOTICE;
                default -> KernelEvent.Kind.INFO;
            };
            text = text.substring(2);
        }
        String message = args.length == 0 ? text : String.format(text, args);
        if (message.endsWith("\n")) {
            message = message.substring(0, message.length() - 1);
        }
        k().reports().printk(level, message);
    }

    /**
     * {@code pr_info(fmt, ...)}: {@link #printk} at {@link #KERN_INFO}.
     *
     * @param fmt the format
     * @param args the format's arguments
     */
    public static void pr_info(String fmt, Object... args) {
        printk(KERN_INFO + fmt, args);
    }

    /**
     * {@code pr_notice(fmt, ...)}: {@link #printk} at {@link #KERN_NOTICE}.
     *
     * @param fmt the format
     * @param args the format's arguments
     */
    public static void pr_notice(String fmt, Object... args) {
        printk(KERN_NOTICE + fmt, args);
    }

    /**
     * {@code pr_warn(fmt, ...)}: {@link #printk} at {@link #KERN_WARNING}.
     *
     * @param fmt the format
     * @param args the format's arguments
     */
    public static void pr_warn(String fmt, Object... args) {
        printk(KERN_WARNING + fmt, args);
    }

    /**
     * {@code pr_err(fmt, ...)}: {@link #printk} at {@link #KERN_ERR}.
     *
     * @param fmt the format
     * @param args the format's arguments
     */
    public static void pr_err(String fmt, Object... args) {
        printk(KERN_ERR + fmt, args);
    }

    // ------------------------------------------------------------------------------------------
    // Softirqs (kernel/softirq.c)
    // ------------------------------------------------------------------------------------------

    /** {@code HI_SOFTIRQ}: vector 0, high-priority tasklets. */
    public static final int HI_SOFTIRQ = SoftirqVector.HI.nr();
    /** {@code TIMER_SOFTIRQ}: vector 1, the timer wheel. */
    public static final int TIMER_SOFTIRQ = SoftirqVector.TIMER.nr();
    /** {@code NET_TX_SOFTIRQ}: vector 2, network transmit. */
    public static final int NET_TX_SOFTIRQ = SoftirqVector.NET_TX.nr();
    /** {@code NET_RX_SOFTIRQ}: vector 3, network receive. */
    public static final int NET_RX_SOFTIRQ = SoftirqVector.NET_RX.nr();
    /** {@code BLOCK_SOFTIRQ}: vector 4, block I/O completion. */
    public static final int BLOCK_SOFTIRQ = SoftirqVector.BLOCK.nr();
    /** {@code IRQ_POLL_SOFTIRQ}: vector 5, IRQ polling. */
    public static final int IRQ_POLL_SOFTIRQ = SoftirqVector.IRQ_POLL.nr();
    /** {@code TASKLET_SOFTIRQ}: vector 6, normal tasklets. */
    public static final int TASKLET_SOFTIRQ = SoftirqVector.TASKLET.nr();
    /** {@code SCHED_SOFTIRQ}: vector 7, scheduler balancing. */
    public static final int SCHED_SOFTIRQ = SoftirqVector.SCHED.nr();
    /** {@code HRTIMER_SOFTIRQ}: vector 8, soft hrtimers. */
    public static final int HRTIMER_SOFTIRQ = SoftirqVector.HRTIMER.nr();
    /** {@code RCU_SOFTIRQ}: vector 9, RCU callbacks. */
    public static final int RCU_SOFTIRQ = SoftirqVector.RCU.nr();
    /** {@code NR_SOFTIRQS}: the number of the kernel's vectors; user vectors are numbered from here. */
    public static final int NR_SOFTIRQS = SoftirqVector.NR_SOFTIRQS;

    /**
     * {@code open_softirq(nr, action)} for vectors 0–9; {@link #open_softirq(int, String, SoftirqAction)} for user
     * ones.
     *
     * @param nr the vector, 0–9
     * @param action the handler run when the vector is pending
     * @throws IllegalArgumentException when {@code nr} is not one of the kernel's vectors
     */
    public static void open_softirq(int nr, SoftirqAction action) {
        SoftirqVector v = SoftirqVector.of(nr);
        if (v == null) {
            throw new IllegalArgumentException("vector " + nr + " is a user vector: name it with open_softirq(nr, name, action)");
        }
        k().softirqs().open(v, action);
    }

    /**
     * {@code open_softirq(nr, action)} for a user vector: registers {@code action} under {@code name}.
     *
     * @param nr the user vector's number
     * @param name the vector's name, shown in {@code /proc/softirqs}
     * @param action the handler run when the vector is pending
     */
    public static void open_softirq(int nr, String name, SoftirqAction action) {
        k().softirqs().open(nr, name, action);
    }

    /**
     * {@code raise_softirq(nr)}: marks vector {@code nr} pending on this CPU and wakes ksoftirqd when not in
     * interrupt context.
     *
     * @param nr the vector
     */
    public static void raise_softirq(int nr) {
        k().softirqs().raise(nr);
    }

    /**
     * {@code raise_softirq_irqoff(nr)}: as {@link #raise_softirq}, with interrupts already disabled by the caller.
     *
     * @param nr the vector
     */
    public static void raise_softirq_irqoff(int nr) {
        k().softirqs().raiseIrqoff(nr);
    }

    /**
     * {@code __raise_softirq_irqoff(nr)}: marks vector {@code nr} pending without waking ksoftirqd; interrupts
     * disabled.
     *
     * @param nr the vector
     */
    public static void __raise_softirq_irqoff(int nr) {
        k().softirqs().raiseIrqoffNoWake(nr);
    }

    /**
     * {@code do_softirq()}: from task context with BH enabled, runs this CPU's pending softirqs on the calling
     * thread; does nothing in interrupt context.
     */
    public static void do_softirq() {
        k().softirqs().doSoftirq();
    }

    // ------------------------------------------------------------------------------------------
    // Tasklets (include/linux/interrupt.h)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code DECLARE_TASKLET(name, callback)}: {@code static Tasklet t = DECLARE_TASKLET("t", cb);}
     *
     * @param name the tasklet's name, for reports
     * @param callback run with the tasklet
     * @return the new, enabled tasklet
     */
    public static Tasklet DECLARE_TASKLET(String name, Tasklet.Callback callback) {
        return Tasklet.setup(name, callback);
    }

    /**
     * {@code DECLARE_TASKLET_DISABLED(name, callback)}: needs one {@code tasklet_enable} before it runs.
     *
     * @param name the tasklet's name, for reports
     * @param callback run with the tasklet
     * @return the new, disabled tasklet
     */
    public static Tasklet DECLARE_TASKLET_DISABLED(String name, Tasklet.Callback callback) {
        return Tasklet.setupDisabled(name, callback);
    }

    /**
     * The three-argument {@code DECLARE_TASKLET(name, func, data)} of older kernels, where {@code data}
     * was a pointer cast to {@code unsigned long}: here the data is any object handed to {@code func}.
     *
     * @param <T> the data's type
     * @param name the tasklet's name, for reports
     * @param func run with {@code data}
     * @param data handed to {@code func}
     * @return the new, enabled tasklet
     */
    public static <T> Tasklet DECLARE_TASKLET(String name, java.util.function.Consumer<T> func, T data) {
        return Tasklet.setup(name, t -> func.accept(data));
    }

    /**
     * The three-argument {@code DECLARE_TASKLET_DISABLED(name, func, data)} of older kernels.
     *
     * @param <T> the data's type
     * @param name the tasklet's name, for reports
     * @param func run with {@code data}
     * @param data handed to {@code func}
     * @return the new, disabled tasklet
     */
    public static <T> Tasklet DECLARE_TASKLET_DISABLED(String name, java.util.function.Consumer<T> func, T data) {
        return Tasklet.setupDisabled(name, t -> func.accept(data));
    }

    /**
     * {@code DECLARE_TASKLET_OLD(name, func)}: the legacy form with {@code data} 0.
     *
     * @param name the tasklet's name, for reports
     * @param func run with data 0
     * @return the new, enabled tasklet
     */
    public static Tasklet DECLARE_TASKLET_OLD(String name, Tasklet.Func func) {
        return Tasklet.init(name, func, 0);
    }

    /**
     * {@code tasklet_init(t, func, data)}.
     *
     * @param t the tasklet to initialise
     * @param func its new function
     * @param data passed to {@code func}
     */
    public static void tasklet_init(Tasklet t, Tasklet.Func func, long data) {
        t.initFunc(t.name(), func, data);
    }

    /**
     * {@code tasklet_init(t, func, (unsigned long)obj)} for the common case of a pointer as the data: {@code func}
     * gets the object on every run; {@link Tasklet#data(Class)} reads it back.
     *
     * @param <T> the data's type
     * @param t the tasklet to initialise
     * @param func its new function
     * @param data handed to {@code func}
     */
    public static <T> void tasklet_init(Tasklet t, Consumer<? super T> func, T data) {
        t.initWithData(t.name(), func, data);
    }

    /**
     * {@code tasklet_setup(t, callback)}.
     *
     * @param t the tasklet to initialise
     * @param callback its new callback
     */
    public static void tasklet_setup(Tasklet t, Tasklet.Callback callback) {
        t.initCallback(t.name(), callback);
    }

    /**
     * {@code tasklet_schedule(t)}: queues {@code t} on this CPU's {@code TASKLET_SOFTIRQ} list unless it is
     * already scheduled.
     *
     * @param t the tasklet
     */
    public static void tasklet_schedule(Tasklet t) {
        k().tasklets().schedule(t);
    }

    /**
     * {@code tasklet_hi_schedule(t)}: as {@link #tasklet_schedule}, on the {@code HI_SOFTIRQ} list.
     *
     * @param t the tasklet
     */
    public static void tasklet_hi_schedule(Tasklet t) {
        k().tasklets().hiSchedule(t);
    }

    /**
     * {@code tasklet_disable(t)}: disables {@code t} and waits for a running instance; not from atomic context.
     *
     * @param t the tasklet
     */
    public static void tasklet_disable(Tasklet t) {
        k().tasklets().disable(t);
    }

    /**
     * {@code tasklet_disable_nosync(t)}: disables {@code t} without waiting.
     *
     * @param t the tasklet
     */
    public static void tasklet_disable_nosync(Tasklet t) {
        k().tasklets().disableNosync(t);
    }

    /**
     * {@code tasklet_enable(t)}: undoes one disable.
     *
     * @param t the tasklet
     */
    public static void tasklet_enable(Tasklet t) {
        k().tasklets().enable(t);
    }

    /**
     * {@code tasklet_kill(t)}: waits until {@code t} is neither scheduled nor running; task context only.
     *
     * @param t the tasklet
     */
    public static void tasklet_kill(Tasklet t) {
        k().tasklets().kill(t);
    }

    /**
     * {@code tasklet_unlock_wait(t)}: waits until {@code t} is not running.
     *
     * @param t the tasklet
     */
    public static void tasklet_unlock_wait(Tasklet t) {
        k().tasklets().unlockWait(t);
    }

    // ------------------------------------------------------------------------------------------
    // NAPI (net/core/dev.c; docs/subsystems/net.md)
    // ------------------------------------------------------------------------------------------

    /** {@code NAPI_POLL_WEIGHT}: 64, the default poll weight. */
    public static final int NAPI_POLL_WEIGHT = Napi.NAPI_POLL_WEIGHT;

    /**
     * {@code netif_napi_add(dev, napi, poll)}: {@link Napi#add(NetDevice, NapiStruct, NapiStruct.Poll)}.
     *
     * @param dev  the device
     * @param napi the instance
     * @param poll the driver's poll function
     */
    public static void netif_napi_add(NetDevice dev, NapiStruct napi, NapiStruct.Poll poll) {
        k().napi().add(dev, napi, poll);
    }

    /**
     * {@code netif_napi_add_weight(dev, napi, poll, weight)}: {@link Napi#add(NetDevice, NapiStruct,
     * NapiStruct.Poll, int)}.
     *
     * @param dev    the device
     * @param napi   the instance
     * @param poll   the driver's poll function
     * @param weight the budget of one poll
     */
    public static void netif_napi_add_weight(NetDevice dev, NapiStruct napi, NapiStruct.Poll poll, int weight) {
        k().napi().add(dev, napi, poll, weight);
    }

    /**
     * {@code netif_napi_del(napi)}: {@link Napi#del}.
     *
     * @param napi the instance
     */
    public static void netif_napi_del(NapiStruct napi) {
        k().napi().del(napi);
    }

    /**
     * {@code napi_enable(n)}: {@link Napi#enable}.
     *
     * @param n the instance
     */
    public static void napi_enable(NapiStruct n) {
        k().napi().enable(n);
    }

    /**
     * {@code napi_disable(n)}: {@link Napi#disable}.
     *
     * @param n the instance
     */
    public static void napi_disable(NapiStruct n) {
        k().napi().disable(n);
    }

    /**
     * {@code napi_schedule_prep(n)}: {@link Napi#schedulePrep}.
     *
     * @param n the instance
     * @return whether the caller took SCHED
     */
    public static boolean napi_schedule_prep(NapiStruct n) {
        return k().napi().schedulePrep(n);
    }

    /**
     * {@code napi_schedule(n)}: {@link Napi#schedule}.
     *
     * @param n the instance
     * @return whether this call queued it
     */
    public static boolean napi_schedule(NapiStruct n) {
        return k().napi().schedule(n);
    }

    /**
     * {@code napi_schedule_irqoff(n)}: {@link Napi#scheduleIrqoff}.
     *
     * @param n the instance
     */
    public static void napi_schedule_irqoff(NapiStruct n) {
        k().napi().scheduleIrqoff(n);
    }

    /**
     * {@code __napi_schedule(n)}: {@link Napi#scheduleAfterPrep}.
     *
     * @param n the instance, SCHED taken by the caller
     */
    public static void __napi_schedule(NapiStruct n) {
        k().napi().scheduleAfterPrep(n);
    }

    /**
     * {@code __napi_schedule_irqoff(n)}: {@link Napi#scheduleAfterPrepIrqoff}.
     *
     * @param n the instance, SCHED taken by the caller
     */
    public static void __napi_schedule_irqoff(NapiStruct n) {
        k().napi().scheduleAfterPrepIrqoff(n);
    }

    /**
     * {@code napi_complete_done(n, work_done)}: {@link Napi#completeDone}.
     *
     * @param n        the instance
     * @param workDone the work the poll did
     * @return true when the device's interrupt may be unmasked
     */
    public static boolean napi_complete_done(NapiStruct n, int workDone) {
        return k().napi().completeDone(n, workDone);
    }

    /**
     * {@code napi_complete(n)}: {@link Napi#complete}.
     *
     * @param n the instance
     * @return true when the device's interrupt may be unmasked
     */
    public static boolean napi_complete(NapiStruct n) {
        return k().napi().complete(n);
    }

    /**
     * {@code napi_is_scheduled(n)}: {@link NapiStruct#isScheduled}.
     *
     * @param n the instance
     * @return whether SCHED is set
     */
    public static boolean napi_is_scheduled(NapiStruct n) {
        return n.isScheduled();
    }

    /**
     * {@code dev_set_threaded(dev, threaded)}: {@link Napi#setThreaded}.
     *
     * @param dev      the device
     * @param threaded the mode
     * @return 0
     */
    public static int dev_set_threaded(NetDevice dev, boolean threaded) {
        return k().napi().setThreaded(dev, threaded);
    }

    /**
     * {@code napi_busy_loop(napi_id, loop_end, loop_end_arg, false, budget)}: {@link Napi#busyLoop}.
     *
     * @param napiId  the instance's id
     * @param loopEnd the end condition, or null for one round
     * @param budget  the budget of each poll
     */
    public static void napi_busy_loop(int napiId, Napi.BusyLoopEnd loopEnd, int budget) {
        k().napi().busyLoop(napiId, loopEnd, budget);
    }

    // ------------------------------------------------------------------------------------------
    // Hard IRQs (include/linux/interrupt.h, kernel/irq/manage.c)
    // ------------------------------------------------------------------------------------------

    /** {@code IRQ_NONE}: the handler did not recognise the interrupt. */
    public static final int IRQ_NONE = IrqReturn.NONE;
    /** {@code IRQ_HANDLED}: the handler served the interrupt. */
    public static final int IRQ_HANDLED = IrqReturn.HANDLED;
    /** {@code IRQ_WAKE_THREAD}: the handler asks for its threaded handler to run. */
    public static final int IRQ_WAKE_THREAD = IrqReturn.WAKE_THREAD;

    /** {@code IRQF_TRIGGER_NONE}: no trigger type (keep the line's). */
    public static final int IRQF_TRIGGER_NONE = 0;
    /** {@code IRQF_TRIGGER_RISING}: edge triggered, rising. */
    public static final int IRQF_TRIGGER_RISING = IrqFlag.TRIGGER_RISING.value();
    /** {@code IRQF_TRIGGER_FALLING}: edge triggered, falling. */
    public static final int IRQF_TRIGGER_FALLING = IrqFlag.TRIGGER_FALLING.value();
    /** {@code IRQF_TRIGGER_HIGH}: level triggered, high. */
    public static final int IRQF_TRIGGER_HIGH = IrqFlag.TRIGGER_HIGH.value();
    /** {@code IRQF_TRIGGER_LOW}: level triggered, low. */
    public static final int IRQF_TRIGGER_LOW = IrqFlag.TRIGGER_LOW.value();
    /** {@code IRQF_SHARED}: the line may be shared by several handlers. */
    public static final int IRQF_SHARED = IrqFlag.SHARED.value();
    /** {@code IRQF_PROBE_SHARED}: sharing mismatches are expected; no report. */
    public static final int IRQF_PROBE_SHARED = IrqFlag.PROBE_SHARED.value();
    /** {@code IRQF_PERCPU}: a per-CPU interrupt. */
    public static final int IRQF_PERCPU = IrqFlag.PERCPU.value();
    /** {@code IRQF_NOBALANCING}: excluded from IRQ balancing. */
    public static final int IRQF_NOBALANCING = IrqFlag.NOBALANCING.value();
    /** {@code IRQF_IRQPOLL}: the interrupt is used for polling. */
    public static final int IRQF_IRQPOLL = IrqFlag.IRQPOLL.value();
    /** {@code IRQF_ONESHOT}: the line stays masked until the threaded handler has run. */
    public static final int IRQF_ONESHOT = IrqFlag.ONESHOT.value();
    /** {@code IRQF_NO_SUSPEND}: not disabled during suspend. */
    public static final int IRQF_NO_SUSPEND = IrqFlag.NO_SUSPEND.value();
    /** {@code IRQF_FORCE_RESUME}: enabled on resume even with {@code IRQF_NO_SUSPEND}. */
    public static final int IRQF_FORCE_RESUME = IrqFlag.FORCE_RESUME.value();
    /** {@code IRQF_NO_THREAD}: never force-threaded. */
    public static final int IRQF_NO_THREAD = IrqFlag.NO_THREAD.value();
    /** {@code IRQF_EARLY_RESUME}: resumed early. */
    public static final int IRQF_EARLY_RESUME = IrqFlag.EARLY_RESUME.value();
    /** {@code IRQF_COND_SUSPEND}: may share with a {@code IRQF_NO_SUSPEND} user. */
    public static final int IRQF_COND_SUSPEND = IrqFlag.COND_SUSPEND.value();
    /** {@code IRQF_NO_AUTOEN}: left disabled by {@code request_irq} until {@link #enable_irq}. */
    public static final int IRQF_NO_AUTOEN = IrqFlag.NO_AUTOEN.value();
    /** {@code IRQF_NO_DEBUG}: excluded from the spurious-interrupt checks. */
    public static final int IRQF_NO_DEBUG = IrqFlag.NO_DEBUG.value();
    /** {@code IRQF_COND_ONESHOT}: agrees to {@code IRQF_ONESHOT} when a sharer sets it. */
    public static final int IRQF_COND_ONESHOT = IrqFlag.COND_ONESHOT.value();

    /**
     * {@code IRQ_RETVAL(x)}: {@link #IRQ_HANDLED} when {@code handled}, else {@link #IRQ_NONE}.
     *
     * @param handled whether the handler served the interrupt
     * @return the handler's return value
     */
    public static int IRQ_RETVAL(boolean handled) {
        return IrqReturn.retval(handled);
    }

    /**
     * {@code request_irq}: 0, or {@code -EINVAL}/{@code -EBUSY}/...
     *
     * @param irq the line
     * @param handler the hard-IRQ handler
     * @param flags {@code IRQF_*} bits
     * @param name the action's name, shown in {@code /proc/interrupts}
     * @param devId the cookie {@link #free_irq} names the action by; required for shared lines
     * @return 0, or a negative errno
     */
    public static int request_irq(int irq, IrqHandler handler, int flags, String name, Object devId) {
        return request_threaded_irq(irq, handler, null, flags | IRQF_COND_ONESHOT, name, devId);
    }

    /**
     * {@code request_threaded_irq}: 0, or {@code -EINVAL}/{@code -EBUSY}/...
     *
     * @param irq the line
     * @param handler the hard-IRQ handler, or null for the default that wakes the thread
     * @param threadFn the handler run in the {@code irq/N-name} thread, or null
     * @param flags {@code IRQF_*} bits
     * @param name the action's name, shown in {@code /proc/interrupts}
     * @param devId the cookie {@link #free_irq} names the action by; required for shared lines
     * @return 0, or a negative errno
     */
    public static int request_threaded_irq(int irq, IrqHandler handler, IrqHandler threadFn, int flags, String name,
                                           Object devId) {
        try {
            k().irqs().requestThreaded(irq, handler, threadFn, flags, name, devId);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code free_irq}: the name given at request time, or null (with a warning) if nothing was freed.
     *
     * @param irq the line
     * @param devId the cookie the action was requested with
     * @return the action's name, or null when nothing was freed
     */
    public static String free_irq(int irq, Object devId) {
        IrqController irqs = k().irqs();
        try {
            return irqs.free(irq, devId);
        } catch (KernelException e) {
            if (irq < 0 || irq >= irqs.lines()) {
                throw e; // a line that does not exist: refused as before
            }
            return null;
        }
    }

    /**
     * {@code disable_irq(irq)}: disables the line (nesting) and waits for running handlers; not from the line's
     * own handler.
     *
     * @param irq the line
     */
    public static void disable_irq(int irq) {
        k().irqs().disable(irq);
    }

    /**
     * {@code disable_irq_nosync(irq)}: disables the line (nesting) without waiting.
     *
     * @param irq the line
     */
    public static void disable_irq_nosync(int irq) {
        k().irqs().disableNosync(irq);
    }

    /**
     * {@code disable_hardirq(irq)}: disables the line and waits for running hard-IRQ handlers only.
     *
     * @param irq the line
     * @return false when a threaded handler is still running
     */
    public static boolean disable_hardirq(int irq) {
        return k().irqs().disableHardirq(irq);
    }

    /**
     * {@code enable_irq(irq)}: undoes one disable; the last one makes the line live again and replays an
     * interrupt that arrived while it was disabled.
     *
     * @param irq the line
     */
    public static void enable_irq(int irq) {
        k().irqs().enable(irq);
    }

    /**
     * {@code synchronize_irq(irq)}: waits until no handler of the line, hard or threaded, is running.
     *
     * @param irq the line
     */
    public static void synchronize_irq(int irq) {
        k().irqs().synchronize(irq);
    }

    /**
     * {@code synchronize_hardirq(irq)}: waits until no hard-IRQ handler of the line is running.
     *
     * @param irq the line
     * @return false when a threaded handler is still active
     */
    public static boolean synchronize_hardirq(int irq) {
        return k().irqs().synchronizeHardirq(irq);
    }

    /**
     * {@code irq_set_affinity(irq, cpumask_of(cpu))}: 0 or {@code -EINVAL}.
     *
     * @param irq the line
     * @param cpu the CPU that takes the line's interrupts from now on
     * @return 0, or {@code -EINVAL}
     */
    public static int irq_set_affinity(int irq, int cpu) {
        try {
            k().irqs().setAffinity(irq, cpu);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /** {@code IRQ_TYPE_NONE}: no trigger type set. */
    public static final int IRQ_TYPE_NONE = 0;
    /** {@code IRQ_TYPE_EDGE_RISING}: rising edge. */
    public static final int IRQ_TYPE_EDGE_RISING = 1;
    /** {@code IRQ_TYPE_EDGE_FALLING}: falling edge. */
    public static final int IRQ_TYPE_EDGE_FALLING = 2;
    /** {@code IRQ_TYPE_EDGE_BOTH}: both edges. */
    public static final int IRQ_TYPE_EDGE_BOTH = IRQ_TYPE_EDGE_RISING | IRQ_TYPE_EDGE_FALLING;
    /** {@code IRQ_TYPE_LEVEL_HIGH}: high level. */
    public static final int IRQ_TYPE_LEVEL_HIGH = 4;
    /** {@code IRQ_TYPE_LEVEL_LOW}: low level. */
    public static final int IRQ_TYPE_LEVEL_LOW = 8;
    /** {@code IRQF_TIMER}: the one flag {@code request_percpu_irq} takes. */
    public static final int IRQF_TIMER = IrqController.IRQF_TIMER;

    /**
     * {@code irq_set_irq_type(irq, type)}: 0 or {@code -EINVAL}.
     *
     * @param irq the line
     * @param type {@code IRQ_TYPE_*} bits
     * @return 0, or {@code -EINVAL}
     */
    public static int irq_set_irq_type(int irq, int type) {
        try {
            k().irqs().setIrqType(irq, type);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code irq_get_trigger_type(irq)}: the line's {@code IRQ_TYPE_*} bits.
     *
     * @param irq the line
     * @return its {@code IRQ_TYPE_*} bits
     */
    public static int irq_get_trigger_type(int irq) {
        return k().irqs().triggerType(irq);
    }

    /**
     * {@code irq_set_percpu_devid(irq)} (architecture code): 0 or {@code -EINVAL}.
     *
     * @param irq the line to make per-CPU
     * @return 0, or {@code -EINVAL}
     */
    public static int irq_set_percpu_devid(int irq) {
        try {
            k().irqs().setPercpuDevid(irq);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code request_percpu_irq(irq, handler, devname, percpu_dev_id)}: 0 or {@code -errno}. The handler gets
     * {@code percpuDevId.apply(cpu)} of the CPU that took the interrupt ({@code this_cpu_ptr}), e.g.
     * {@code cpu -> stats[cpu]}; keep the function to pass it to {@link #free_percpu_irq}.
     *
     * @param irq a line set up with {@link #irq_set_percpu_devid}
     * @param handler the handler, run on the CPU that took the interrupt
     * @param devname the action's name
     * @param percpuDevId maps a CPU number to that CPU's cookie
     * @return 0, or a negative errno
     */
    public static int request_percpu_irq(int irq, IrqHandler handler, String devname, IntFunction<?> percpuDevId) {
        return request_percpu_irq(irq, handler, 0, devname, percpuDevId);
    }

    /**
     * {@code __request_percpu_irq(irq, handler, flags, devname, percpu_dev_id)}: flags 0 or {@code IRQF_TIMER}.
     *
     * @param irq a line set up with {@link #irq_set_percpu_devid}
     * @param handler the handler, run on the CPU that took the interrupt
     * @param flags 0 or {@link #IRQF_TIMER}
     * @param devname the action's name
     * @param percpuDevId maps a CPU number to that CPU's cookie
     * @return 0, or a negative errno
     */
    public static int request_percpu_irq(int irq, IrqHandler handler, int flags, String devname,
                                         IntFunction<?> percpuDevId) {
        try {
            k().irqs().requestPercpu(irq, handler, flags, devname, percpuDevId);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code enable_percpu_irq(irq, type)}: on the calling CPU.
     *
     * @param irq the per-CPU line
     * @param type {@code IRQ_TYPE_*} bits, or {@link #IRQ_TYPE_NONE} to keep the line's
     */
    public static void enable_percpu_irq(int irq, int type) {
        k().irqs().enablePercpu(irq, type);
    }

    /**
     * {@code disable_percpu_irq(irq)}: on the calling CPU.
     *
     * @param irq the per-CPU line
     */
    public static void disable_percpu_irq(int irq) {
        k().irqs().disablePercpu(irq);
    }

    /**
     * {@code irq_percpu_is_enabled(irq)}: whether the per-CPU line is enabled on the calling CPU.
     *
     * @param irq the per-CPU line
     * @return true when enabled here
     */
    public static boolean irq_percpu_is_enabled(int irq) {
        return k().irqs().percpuIsEnabled(irq);
    }

    /**
     * {@code free_percpu_irq(irq, percpu_dev_id)}: after {@code disable_percpu_irq} on every CPU.
     *
     * @param irq the per-CPU line
     * @param percpuDevId the function it was requested with
     */
    public static void free_percpu_irq(int irq, Object percpuDevId) {
        k().irqs().freePercpu(irq, percpuDevId);
    }

    /**
     * {@code probe_irq_on()}: the mask of the lines 0–31 that did not fire by themselves; sleeps 120 ms.
     *
     * @return the mask to pass to {@link #probe_irq_off}
     */
    public static long probe_irq_on() {
        return k().irqs().probeIrqOn();
    }

    /**
     * {@code probe_irq_off(val)}: the line that fired, 0 for none, minus the lowest when several did.
     *
     * @param val the mask {@link #probe_irq_on} returned
     * @return the line, 0, or a negative line
     */
    public static int probe_irq_off(long val) {
        return k().irqs().probeIrqOff(val);
    }

    /** {@code IRQ_WORK_LAZY}: accepted; the item runs like any other here. */
    public static final int IRQ_WORK_LAZY = IrqWork.IRQ_WORK_LAZY;
    /** {@code IRQ_WORK_HARD_IRQ}: accepted; every item runs in hard-IRQ context here. */
    public static final int IRQ_WORK_HARD_IRQ = IrqWork.IRQ_WORK_HARD_IRQ;

    /**
     * {@code init_irq_work(work, func)}.
     *
     * @param work the item to initialise
     * @param func its function
     */
    public static void init_irq_work(IrqWork work, IrqWork.Func func) {
        work.init(callbackName(func), func);
    }

    /**
     * {@code DEFINE_IRQ_WORK(name, func)}: {@code static IrqWork w = DEFINE_IRQ_WORK("w", fn);}
     *
     * @param name the item's name, for reports
     * @param func its function
     * @return the new, idle item
     */
    public static IrqWork DEFINE_IRQ_WORK(String name, IrqWork.Func func) {
        return IrqWork.create(name, func);
    }

    /**
     * {@code irq_work_queue(work)}: false when it was already pending.
     *
     * @param work the item
     * @return true when queued, false when already pending
     */
    public static boolean irq_work_queue(IrqWork work) {
        return k().irqs().irqWorkQueue(work);
    }

    /**
     * {@code irq_work_queue_on(work, cpu)}: false when it was already pending.
     *
     * @param work the item
     * @param cpu the CPU that runs it
     * @return true when queued, false when already pending
     */
    public static boolean irq_work_queue_on(IrqWork work, int cpu) {
        return k().irqs().irqWorkQueueOn(work, cpu);
    }

    /**
     * {@code irq_work_sync(work)}: waits until {@code work} is not running.
     *
     * @param work the item
     */
    public static void irq_work_sync(IrqWork work) {
        k().irqs().irqWorkSync(work);
    }

    /**
     * {@code irq_work_is_pending(work)}: whether {@code work} is queued.
     *
     * @param work the item
     * @return true when pending
     */
    public static boolean irq_work_is_pending(IrqWork work) {
        return work.isPending();
    }

    /**
     * {@code irq_work_is_busy(work)}: whether {@code work} is queued or running.
     *
     * @param work the item
     * @return true when busy
     */
    public static boolean irq_work_is_busy(IrqWork work) {
        return work.isBusy();
    }

    /**
     * {@code container_of(work, type, field)}: the object the item was made with ({@code new IrqWork(owner)}).
     *
     * @param <T> the owner's type
     * @param work the item
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when the item was made without an owner
     */
    public static <T> T container_of(IrqWork work, Class<T> type) {
        return work.owner(type);
    }

    // ------------------------------------------------------------------------------------------
    // Timers and time (include/linux/timer.h, jiffies.h, delay.h)
    // ------------------------------------------------------------------------------------------

    /** {@code TIMER_DEFERRABLE}: the timer does not wake an idle CPU. */
    public static final int TIMER_DEFERRABLE = TimerList.TIMER_DEFERRABLE;
    /** {@code TIMER_PINNED}: the timer stays on the CPU it was armed on. */
    public static final int TIMER_PINNED = TimerList.TIMER_PINNED;
    /**
     * {@code TIMER_IRQSAFE}: the callback runs with interrupts disabled and may be waited for from IRQ context.
     */
    public static final int TIMER_IRQSAFE = TimerList.TIMER_IRQSAFE;
    /** {@code MAX_SCHEDULE_TIMEOUT}. */
    public static final long MAX_SCHEDULE_TIMEOUT = Timers.MAX_SCHEDULE_TIMEOUT;

    /**
     * {@code HZ} as a constant: the tick rate of the default configuration (1000). Right only for kernels
     * booted with the default {@code KernelConfig.hz}; {@link #HZ()} is the calling kernel's own value and
     * is what code must use when the rate is configured (100, 250, 300). Kernel code uses {@code HZ} as a
     * compile-time constant (array sizes, {@code case} labels, {@code static} initialisers), which only a
     * constant can serve.
     */
    public static final int HZ = 1000;

    /**
     * {@code get_jiffies_64()}: the 64-bit jiffies ({@code jiffies_64}); the same as {@link #jiffies()} here.
     *
     * @return the jiffies counter
     */
    public static long get_jiffies_64() {
        return k().jiffies();
    }

    /**
     * {@code from_timer(var, timer, field)}: the driver object the timer is embedded in, as {@code type} — the
     * object given to {@code new TimerList(owner)}.
     *
     * @param <T> the owner's type
     * @param timer the timer
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when the timer was made without an owner
     */
    public static <T> T from_timer(TimerList timer, Class<T> type) {
        return timer.owner(type);
    }

    /**
     * {@code container_of(timer, type, field)} for a {@code timer_list}: as {@link #from_timer}.
     *
     * @param <T> the owner's type
     * @param timer the timer
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when the timer was made without an owner
     */
    public static <T> T container_of(TimerList timer, Class<T> type) {
        return timer.owner(type);
    }

    /**
     * {@code time_after(a, b)}: whether jiffies value {@code a} is after {@code b}, safe across wrap-around.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is after {@code b}
     */
    public static boolean time_after(long a, long b) {
        return Jiffies.timeAfter(a, b);
    }

    /**
     * {@code time_before(a, b)}: whether jiffies value {@code a} is before {@code b}, safe across wrap-around.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is before {@code b}
     */
    public static boolean time_before(long a, long b) {
        return Jiffies.timeBefore(a, b);
    }

    /**
     * {@code time_after_eq(a, b)}: whether {@code a} is after or equal to {@code b}.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is not before {@code b}
     */
    public static boolean time_after_eq(long a, long b) {
        return Jiffies.timeAfterEq(a, b);
    }

    /**
     * {@code time_before_eq(a, b)}: whether {@code a} is before or equal to {@code b}.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is not after {@code b}
     */
    public static boolean time_before_eq(long a, long b) {
        return Jiffies.timeBeforeEq(a, b);
    }

    /**
     * {@code time_in_range(a, b, c)}: whether {@code a} lies in [{@code b}, {@code c}].
     *
     * @param a the jiffies value to test
     * @param b the range's start
     * @param c the range's end
     * @return true when in range
     */
    public static boolean time_in_range(long a, long b, long c) {
        return Jiffies.timeInRange(a, b, c);
    }

    /**
     * {@code usecs_to_jiffies(us)}: microseconds to jiffies at the calling kernel's {@code HZ}, rounded up.
     *
     * @param us microseconds
     * @return jiffies
     */
    public static long usecs_to_jiffies(long us) {
        return Jiffies.usecsToJiffies(us, HZ());
    }

    /**
     * {@code jiffies_to_msecs(j)}: jiffies to milliseconds at the calling kernel's {@code HZ}.
     *
     * @param j jiffies
     * @return milliseconds
     */
    public static long jiffies_to_msecs(long j) {
        return Jiffies.jiffiesToMsecs(j, HZ());
    }

    /**
     * {@code jiffies_to_usecs(j)}: jiffies to microseconds at the calling kernel's {@code HZ}.
     *
     * @param j jiffies
     * @return microseconds
     */
    public static long jiffies_to_usecs(long j) {
        return Jiffies.jiffiesToUsecs(j, HZ());
    }

    /**
     * {@code timer_setup(timer, callback, flags)}.
     *
     * @param timer the timer to set up
     * @param callback run in {@code TIMER_SOFTIRQ} when it expires
     * @param flags {@code TIMER_*} bits
     */
    public static void timer_setup(TimerList timer, TimerList.Callback callback, int flags) {
        k().timers().setup(timer, callbackName(callback), callback, flags);
    }

    /**
     * {@code DEFINE_TIMER(name, function)}: a set-up timer on the calling CPU.
     *
     * @param name the timer's name, for reports
     * @param function run when it expires
     * @return the new, inactive timer
     */
    public static TimerList DEFINE_TIMER(String name, TimerList.Callback function) {
        TimerList t = new TimerList();
        k().timers().setup(t, name, function, 0);
        return t;
    }

    private static String callbackName(Object callback) {
        String s = callback.toString();
        int at = s.indexOf("$$Lambda");
        return at > 0 ? s.substring(s.lastIndexOf('.', at) + 1, at) : s;
    }

    /**
     * {@code mod_timer(timer, expires)}: (re)arms {@code timer} to expire at jiffies {@code expires}.
     *
     * @param timer the timer
     * @param expires the absolute expiry in jiffies
     * @return 1 when it was pending before, else 0
     */
    public static int mod_timer(TimerList timer, long expires) {
        return k().timers().mod(timer, expires);
    }

    /**
     * {@code mod_timer_pending(timer, expires)}: as {@link #mod_timer}, only when {@code timer} is pending.
     *
     * @param timer the timer
     * @param expires the absolute expiry in jiffies
     * @return 1 when it was pending (and was modified), else 0
     */
    public static int mod_timer_pending(TimerList timer, long expires) {
        return k().timers().modPending(timer, expires);
    }

    /**
     * {@code timer_reduce(timer, expires)}: as {@link #mod_timer}, only moving a pending timer's expiry earlier.
     *
     * @param timer the timer
     * @param expires the absolute expiry in jiffies
     * @return 1 when it was pending before, else 0
     */
    public static int timer_reduce(TimerList timer, long expires) {
        return k().timers().reduce(timer, expires);
    }

    /**
     * {@code add_timer(timer)}: arms an inactive {@code timer} at its {@code expires}.
     *
     * @param timer the timer, not pending
     */
    public static void add_timer(TimerList timer) {
        k().timers().add(timer);
    }

    /**
     * {@code add_timer_local(timer)}: as {@link #add_timer}, pinned to the calling CPU.
     *
     * @param timer the timer, not pending
     */
    public static void add_timer_local(TimerList timer) {
        k().timers().addLocal(timer);
    }

    /**
     * {@code add_timer_global(timer)}: as {@link #add_timer}, not pinned.
     *
     * @param timer the timer, not pending
     */
    public static void add_timer_global(TimerList timer) {
        k().timers().addGlobal(timer);
    }

    /**
     * {@code add_timer_on(timer, cpu)}: arms {@code timer} on the wheel of {@code cpu}.
     *
     * @param timer the timer, not pending
     * @param cpu the CPU whose wheel takes it
     */
    public static void add_timer_on(TimerList timer, int cpu) {
        k().timers().addOn(timer, cpu);
    }

    /**
     * {@code timer_delete(timer)}: deactivates {@code timer} without waiting for a running callback.
     *
     * @param timer the timer
     * @return 1 when it was pending, else 0
     */
    public static int timer_delete(TimerList timer) {
        return k().timers().delete(timer);
    }

    /**
     * {@code timer_delete_sync(timer)}: deactivates {@code timer} and waits for a running callback; not from its
     * own callback.
     *
     * @param timer the timer
     * @return 1 when it was pending, else 0
     */
    public static int timer_delete_sync(TimerList timer) {
        return k().timers().deleteSync(timer);
    }

    /**
     * {@code timer_delete_sync_try(timer)}: deactivates {@code timer} unless its callback is running.
     *
     * @param timer the timer
     * @return 1 when it was pending, 0 when not, -1 when the callback is running
     */
    public static int timer_delete_sync_try(TimerList timer) {
        return k().timers().deleteSyncTry(timer);
    }

    /**
     * The pre-6.2 name of {@link #timer_delete}, still in much teaching material.
     *
     * @param timer the timer
     * @return 1 when it was pending, else 0
     */
    public static int del_timer(TimerList timer) {
        return timer_delete(timer);
    }

    /**
     * The pre-6.2 name of {@link #timer_delete_sync}.
     *
     * @param timer the timer
     * @return 1 when it was pending, else 0
     */
    public static int del_timer_sync(TimerList timer) {
        return timer_delete_sync(timer);
    }

    /**
     * {@code timer_shutdown(timer)}: deactivates {@code timer} for good; later arming is ignored.
     *
     * @param timer the timer
     * @return 1 when it was pending, else 0
     */
    public static int timer_shutdown(TimerList timer) {
        return k().timers().shutdown(timer);
    }

    /**
     * {@code timer_shutdown_sync(timer)}: as {@link #timer_shutdown}, waiting for a running callback.
     *
     * @param timer the timer
     * @return 1 when it was pending, else 0
     */
    public static int timer_shutdown_sync(TimerList timer) {
        return k().timers().shutdownSync(timer);
    }

    /**
     * {@code timer_pending(timer)}: whether {@code timer} is armed.
     *
     * @param timer the timer
     * @return true when pending
     */
    public static boolean timer_pending(TimerList timer) {
        return timer.isPending();
    }

    /**
     * {@code schedule_timeout_interruptible(timeout)}: jiffies left.
     *
     * @param timeout jiffies to sleep at most
     * @return the jiffies left, 0 when the time ran out
     */
    public static long schedule_timeout_interruptible(long timeout) {
        return k().timers().scheduleTimeoutInterruptible(timeout);
    }

    /**
     * {@code schedule_timeout_uninterruptible(timeout)}: jiffies left.
     *
     * @param timeout jiffies to sleep at most
     * @return the jiffies left, 0 when the time ran out
     */
    public static long schedule_timeout_uninterruptible(long timeout) {
        return k().timers().scheduleTimeoutUninterruptible(timeout);
    }

    /**
     * {@code msleep(ms)}: sleeps uninterruptibly for at least {@code ms} milliseconds; task context only.
     *
     * @param ms milliseconds
     */
    public static void msleep(long ms) {
        k().timers().msleep(ms);
    }

    /**
     * {@code msleep_interruptible(ms)}: as {@link #msleep}, ended early by a signal.
     *
     * @param ms milliseconds
     * @return the milliseconds left, 0 when the whole time passed
     */
    public static long msleep_interruptible(long ms) {
        return k().timers().msleepInterruptible(ms);
    }

    /**
     * {@code usleep_range(min, max)}: sleeps between {@code min} and {@code max} microseconds; task context only.
     *
     * @param min the shortest sleep in microseconds
     * @param max the longest sleep in microseconds
     */
    public static void usleep_range(long min, long max) {
        k().timers().usleepRange(min, max);
    }

    /**
     * {@code mdelay(ms)}: busy-waits; legal in atomic context (include/linux/delay.h).
     *
     * @param ms milliseconds to spin
     */
    public static void mdelay(long ms) {
        k().timers().mdelay(ms);
    }

    /**
     * {@code udelay(us)}: busy-waits; legal in atomic context.
     *
     * @param us microseconds to spin
     */
    public static void udelay(long us) {
        k().timers().udelay(us);
    }

    /**
     * {@code ndelay(ns)}: busy-waits; legal in atomic context.
     *
     * @param ns nanoseconds to spin
     */
    public static void ndelay(long ns) {
        k().timers().ndelay(ns);
    }

    // ------------------------------------------------------------------------------------------
    // High-resolution timers (include/linux/hrtimer.h)
    // ------------------------------------------------------------------------------------------

    /** {@code HRTIMER_MODE_ABS}: the expiry is absolute. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS = Set.of(HrTimer.Mode.ABS);
    /** {@code HRTIMER_MODE_REL}: the expiry is relative to now. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL = Set.of(HrTimer.Mode.REL);
    /** {@code HRTIMER_MODE_ABS_PINNED}: absolute, on the calling CPU. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS_PINNED = Set.of(HrTimer.Mode.ABS, HrTimer.Mode.PINNED);
    /** {@code HRTIMER_MODE_REL_PINNED}: relative, on the calling CPU. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL_PINNED = Set.of(HrTimer.Mode.REL, HrTimer.Mode.PINNED);
    /** {@code HRTIMER_MODE_ABS_SOFT}: absolute, the callback in {@code HRTIMER_SOFTIRQ}. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS_SOFT = Set.of(HrTimer.Mode.ABS, HrTimer.Mode.SOFT);
    /** {@code HRTIMER_MODE_REL_SOFT}: relative, the callback in {@code HRTIMER_SOFTIRQ}. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL_SOFT = Set.of(HrTimer.Mode.REL, HrTimer.Mode.SOFT);
    /** {@code HRTIMER_MODE_ABS_HARD}: absolute, the callback in hard-IRQ context. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS_HARD = Set.of(HrTimer.Mode.ABS, HrTimer.Mode.HARD);
    /** {@code HRTIMER_MODE_REL_HARD}: relative, the callback in hard-IRQ context. */
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL_HARD = Set.of(HrTimer.Mode.REL, HrTimer.Mode.HARD);
    /** {@code HRTIMER_NORESTART}: the callback's answer for a one-shot timer. */
    public static final HrTimer.Restart HRTIMER_NORESTART = HrTimer.Restart.NORESTART;
    /** {@code HRTIMER_RESTART}: the callback's answer when it forwarded the timer to run again. */
    public static final HrTimer.Restart HRTIMER_RESTART = HrTimer.Restart.RESTART;

    /**
     * {@code ktime_get()}: nanoseconds since boot on the kernel clock.
     *
     * @return nanoseconds since boot
     */
    public static long ktime_get() {
        return k().hrtimers().now();
    }

    /**
     * {@code ktime_get_ns()}: as {@link #ktime_get()} (a {@code ktime_t} is nanoseconds).
     *
     * @return nanoseconds since boot
     */
    public static long ktime_get_ns() {
        return k().hrtimers().now();
    }

    /**
     * {@code ktime_get_ts64(ts)}: {@code CLOCK_MONOTONIC} as seconds and nanoseconds.
     *
     * @return the monotonic time
     */
    public static Timespec64 ktime_get_ts64() {
        return Timespec64.ofNanos(k().hrtimers().now());
    }

    /**
     * {@code ktime_get_real()}: {@code CLOCK_REALTIME}, nanoseconds since the epoch (see {@code
     * HrTimers.realNow}).
     *
     * @return nanoseconds since the epoch
     */
    public static long ktime_get_real() {
        return k().hrtimers().realNow();
    }

    /**
     * {@code ktime_get_real_ns()}.
     *
     * @return nanoseconds since the epoch
     */
    public static long ktime_get_real_ns() {
        return k().hrtimers().realNow();
    }

    /**
     * {@code ktime_get_real_ts64(ts)}: {@code CLOCK_REALTIME} as seconds and nanoseconds.
     *
     * @return the real time
     */
    public static Timespec64 ktime_get_real_ts64() {
        return k().hrtimers().realNowTs64();
    }

    /**
     * {@code container_of(timer, type, field)} for an hrtimer: the object given to {@code new HrTimer(owner)}.
     *
     * @param <T> the owner's type
     * @param timer the hrtimer
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when the timer was made without an owner
     */
    public static <T> T container_of(HrTimer timer, Class<T> type) {
        return timer.owner(type);
    }

    /**
     * {@code hrtimer_setup(timer, function, CLOCK_MONOTONIC, mode)}.
     *
     * @param timer the timer to set up
     * @param function its callback
     * @param mode one of the {@code HRTIMER_MODE_*} sets
     */
    public static void hrtimer_setup(HrTimer timer, HrTimer.Callback function, Set<HrTimer.Mode> mode) {
        k().hrtimers().setup(timer, callbackName(function), function, mode);
    }

    /**
     * {@code hrtimer_start(timer, tim, mode)}: (re)arms {@code timer} to expire at {@code tim}.
     *
     * @param timer the timer
     * @param tim the expiry in nanoseconds, absolute or relative by {@code mode}
     * @param mode one of the {@code HRTIMER_MODE_*} sets
     */
    public static void hrtimer_start(HrTimer timer, long tim, Set<HrTimer.Mode> mode) {
        k().hrtimers().start(timer, tim, mode);
    }

    /**
     * {@code hrtimer_start_range_ns(timer, tim, delta, mode)}: as {@link #hrtimer_start}, with a slack of {@code
     * delta}.
     *
     * @param timer the timer
     * @param tim the soft expiry in nanoseconds, absolute or relative by {@code mode}
     * @param delta the slack in nanoseconds allowed after {@code tim}
     * @param mode one of the {@code HRTIMER_MODE_*} sets
     */
    public static void hrtimer_start_range_ns(HrTimer timer, long tim, long delta, Set<HrTimer.Mode> mode) {
        k().hrtimers().startRange(timer, tim, delta, mode);
    }

    /**
     * {@code hrtimer_cancel(timer)}: dequeues {@code timer} and waits for a running callback.
     *
     * @param timer the timer
     * @return 1 when it was active, else 0
     */
    public static int hrtimer_cancel(HrTimer timer) {
        return k().hrtimers().cancel(timer);
    }

    /**
     * {@code hrtimer_try_to_cancel(timer)}: dequeues {@code timer} unless its callback is running.
     *
     * @param timer the timer
     * @return 1 when dequeued, 0 when not active, -1 when the callback is running
     */
    public static int hrtimer_try_to_cancel(HrTimer timer) {
        return k().hrtimers().tryToCancel(timer);
    }

    /**
     * {@code hrtimer_forward(timer, now, interval)}: moves the expiry forward by whole intervals past {@code now}.
     *
     * @param timer the timer, not queued (normally from its callback)
     * @param now the time to pass, in nanoseconds
     * @param interval the period in nanoseconds
     * @return the number of intervals the expiry moved (overruns)
     */
    public static long hrtimer_forward(HrTimer timer, long now, long interval) {
        return k().hrtimers().forward(timer, now, interval);
    }

    /**
     * {@code hrtimer_forward_now(timer, interval)}: {@link #hrtimer_forward} past the current time.
     *
     * @param timer the timer, not queued (normally from its callback)
     * @param interval the period in nanoseconds
     * @return the number of intervals the expiry moved (overruns)
     */
    public static long hrtimer_forward_now(HrTimer timer, long interval) {
        return k().hrtimers().forwardNow(timer, interval);
    }

    /**
     * {@code hrtimer_active(timer)}: whether {@code timer} is queued or its callback is running.
     *
     * @param timer the timer
     * @return true when active
     */
    public static boolean hrtimer_active(HrTimer timer) {
        return k().hrtimers().active(timer);
    }

    /**
     * {@code hrtimer_is_queued(timer)}: whether {@code timer} is queued.
     *
     * @param timer the timer
     * @return true when queued
     */
    public static boolean hrtimer_is_queued(HrTimer timer) {
        return timer.isQueued();
    }

    /**
     * {@code hrtimer_callback_running(timer)}: whether the callback of {@code timer} runs now.
     *
     * @param timer the timer
     * @return true while the callback runs
     */
    public static boolean hrtimer_callback_running(HrTimer timer) {
        return k().hrtimers().callbackRunning(timer);
    }

    /**
     * {@code hrtimer_get_remaining(timer)}: the time until the expiry.
     *
     * @param timer the timer
     * @return nanoseconds left, negative when past
     */
    public static long hrtimer_get_remaining(HrTimer timer) {
        return k().hrtimers().remaining(timer);
    }

    // ------------------------------------------------------------------------------------------
    // Workqueues (include/linux/workqueue.h)
    // ------------------------------------------------------------------------------------------

    /** {@code WQ_BH}: a workqueue whose items run in softirq context. */
    public static final int WQ_BH = Workqueue.WQ_BH;
    /** {@code WQ_UNBOUND}: items run on unbound workers, not tied to the queueing CPU. */
    public static final int WQ_UNBOUND = Workqueue.WQ_UNBOUND;
    /** {@code WQ_FREEZABLE}: takes part in the workqueues' freeze ({@link Workqueues#freeze()}). */
    public static final int WQ_FREEZABLE = Workqueue.WQ_FREEZABLE;
    /** {@code WQ_MEM_RECLAIM}: the workqueue has a rescuer thread. */
    public static final int WQ_MEM_RECLAIM = Workqueue.WQ_MEM_RECLAIM;
    /** {@code WQ_HIGHPRI}: items run on the high-priority worker pools. */
    public static final int WQ_HIGHPRI = Workqueue.WQ_HIGHPRI;
    /** {@code WQ_CPU_INTENSIVE}: items do not count for concurrency management. */
    public static final int WQ_CPU_INTENSIVE = Workqueue.WQ_CPU_INTENSIVE;
    /** {@code WQ_SYSFS}: visible in sysfs (accepted, no effect here). */
    public static final int WQ_SYSFS = Workqueue.WQ_SYSFS;
    /** {@code WQ_POWER_EFFICIENT}: per-CPU here (as without {@code workqueue.power_efficient}). */
    public static final int WQ_POWER_EFFICIENT = Workqueue.WQ_POWER_EFFICIENT;
    /** {@code WQ_PERCPU}: per-CPU explicitly (the default for bound workqueues). */
    public static final int WQ_PERCPU = Workqueue.WQ_PERCPU;
    /** {@code WQ_MAX_ACTIVE}: the highest {@code max_active}. */
    public static final int WQ_MAX_ACTIVE = Workqueue.WQ_MAX_ACTIVE;
    /** {@code WQ_DFL_ACTIVE}: the {@code max_active} that 0 stands for. */
    public static final int WQ_DFL_ACTIVE = Workqueue.WQ_DFL_ACTIVE;
    /** {@code WORK_CPU_UNBOUND}: the CPU argument that means "no particular CPU". */
    public static final int WORK_CPU_UNBOUND = Workqueues.WORK_CPU_UNBOUND;

    private static Workqueues wq() {
        return k().workqueues();
    }

    /**
     * {@code DECLARE_WORK(name, func)}.
     *
     * @param name the item's name, for reports
     * @param func run by a worker
     * @return the new, idle item
     */
    public static Work DECLARE_WORK(String name, Work.Func func) {
        return new Work(name, func);
    }

    /**
     * {@code INIT_WORK(work, func)}: also on an item in use — a queued one is reported as the kernel's debug
     * objects do and cancelled first ({@link Workqueues#initWork}).
     *
     * @param work the item to (re)initialise
     * @param func its new function
     */
    public static void INIT_WORK(Work work, Work.Func func) {
        wq().initWork(work, callbackName(func), func);
    }

    /**
     * {@code DECLARE_DELAYED_WORK(name, func)} / {@code INIT_DELAYED_WORK}.
     *
     * @param name the item's name, for reports
     * @param func run by a worker after the delay
     * @return the new, idle delayed item
     */
    public static DelayedWork DECLARE_DELAYED_WORK(String name, Work.Func func) {
        return new DelayedWork(name, func);
    }

    /**
     * {@code container_of(work, type, member)}: the object recorded with {@link Work#container(Object)}.
     *
     * @param <T> the container's type
     * @param work the item
     * @param type the container's class
     * @return the recorded container
     * @throws IllegalStateException when none was recorded, or it is not a {@code type}
     */
    public static <T> T container_of(Work work, Class<T> type) {
        return work.container(type);
    }

    /**
     * {@code work_pending(work)}: whether {@code work} is queued and has not started.
     *
     * @param work the item
     * @return true when pending
     */
    public static boolean work_pending(Work work) {
        return work.isPending();
    }

    /**
     * {@code delayed_work_pending(dwork)}: whether {@code dwork}'s timer is armed or its work is queued.
     *
     * @param dwork the delayed item
     * @return true when pending
     */
    public static boolean delayed_work_pending(DelayedWork dwork) {
        return dwork.isPending();
    }

    /**
     * {@code alloc_workqueue(name, flags, max_active)}: the workqueue, or null (after the kernel's WARN) where the
     * kernel returns NULL (the Java API, {@code Workqueues.alloc}, throws there instead).
     *
     * @param name       the workqueue's name
     * @param flags      {@code WQ_*} flags
     * @param max_active the most items in flight per pool, 0 for the default
     * @return the workqueue, or null
     */
    public static Workqueue alloc_workqueue(String name, int flags, int max_active) {
        try {
            return wq().alloc(name, flags, max_active);
        } catch (KernelException e) {
            return null;
        }
    }

    /**
     * {@code alloc_ordered_workqueue(name, flags)}: the workqueue, or null (after the kernel's WARN) where the kernel
     * returns NULL.
     *
     * @param name  the workqueue's name
     * @param flags more {@code WQ_*} flags
     * @return the workqueue, or null
     */
    public static Workqueue alloc_ordered_workqueue(String name, int flags) {
        try {
            return wq().allocOrdered(name, flags);
        } catch (KernelException e) {
            return null;
        }
    }

    /**
     * {@code create_workqueue(name)}: the legacy per-CPU workqueue with a rescuer and {@code max_active} 1.
     *
     * @param name the workqueue's name
     * @return the workqueue
     */
    public static Workqueue create_workqueue(String name) {
        return wq().createWorkqueue(name);
    }

    /**
     * {@code create_singlethread_workqueue(name)}: the legacy ordered workqueue with a rescuer.
     *
     * @param name the workqueue's name
     * @return the workqueue
     */
    public static Workqueue create_singlethread_workqueue(String name) {
        return wq().createSinglethreadWorkqueue(name);
    }

    /**
     * {@code create_freezable_workqueue(name)}: the legacy freezable, unbound, one-at-a-time workqueue.
     *
     * @param name the workqueue's name
     * @return the workqueue
     */
    public static Workqueue create_freezable_workqueue(String name) {
        return wq().createFreezableWorkqueue(name);
    }

    /**
     * {@code destroy_workqueue(wq)}: drains {@code wq} and frees it; task context only.
     *
     * @param wq the workqueue
     */
    public static void destroy_workqueue(Workqueue wq) {
        wq().destroy(wq);
    }

    /**
     * {@code system_wq}: the per-CPU system workqueue {@link #schedule_work} uses.
     *
     * @return the workqueue
     */
    public static Workqueue system_wq() {
        return wq().systemWq();
    }

    /**
     * {@code system_highpri_wq}: the high-priority per-CPU system workqueue.
     *
     * @return the workqueue
     */
    public static Workqueue system_highpri_wq() {
        return wq().systemHighpriWq();
    }

    /**
     * {@code system_long_wq}: the system workqueue for long-running items.
     *
     * @return the workqueue
     */
    public static Workqueue system_long_wq() {
        return wq().systemLongWq();
    }

    /**
     * {@code system_unbound_wq}: the unbound system workqueue.
     *
     * @return the workqueue
     */
    public static Workqueue system_unbound_wq() {
        return wq().systemUnboundWq();
    }

    /**
     * {@code system_freezable_wq}: the freezable system workqueue.
     *
     * @return the workqueue
     */
    public static Workqueue system_freezable_wq() {
        return wq().systemFreezableWq();
    }

    /**
     * {@code system_power_efficient_wq}: the power-efficient system workqueue.
     *
     * @return the workqueue
     */
    public static Workqueue system_power_efficient_wq() {
        return wq().systemPowerEfficientWq();
    }

    /**
     * {@code system_bh_wq}: the system workqueue whose items run in softirq context.
     *
     * @return the workqueue
     */
    public static Workqueue system_bh_wq() {
        return wq().systemBhWq();
    }

    /**
     * {@code system_bh_highpri_wq}: the high-priority BH system workqueue.
     *
     * @return the workqueue
     */
    public static Workqueue system_bh_highpri_wq() {
        return wq().systemBhHighpriWq();
    }

    /**
     * {@code queue_work(wq, work)}: queues {@code work} on {@code wq}, on the calling CPU when bound; any context.
     *
     * @param wq the workqueue
     * @param work the item
     * @return true when queued, false when already pending
     */
    public static boolean queue_work(Workqueue wq, Work work) {
        return wq().queue(wq, work);
    }

    /**
     * {@code queue_work_on(cpu, wq, work)}: queues {@code work} on {@code wq} for {@code cpu}; any context.
     *
     * @param cpu the CPU, or {@link #WORK_CPU_UNBOUND}
     * @param wq the workqueue
     * @param work the item
     * @return true when queued, false when already pending
     */
    public static boolean queue_work_on(int cpu, Workqueue wq, Work work) {
        return wq().queueOn(cpu, wq, work);
    }

    /**
     * {@code queue_delayed_work(wq, dwork, delay)}: queues {@code dwork} after {@code delay} jiffies; any context.
     *
     * @param wq the workqueue
     * @param dwork the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true when queued, false when already pending
     */
    public static boolean queue_delayed_work(Workqueue wq, DelayedWork dwork, long delay) {
        return wq().queueDelayed(wq, dwork, delay);
    }

    /**
     * {@code queue_delayed_work_on(cpu, wq, dwork, delay)}: as {@link #queue_delayed_work}, for {@code cpu}.
     *
     * @param cpu the CPU, or {@link #WORK_CPU_UNBOUND}
     * @param wq the workqueue
     * @param dwork the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true when queued, false when already pending
     */
    public static boolean queue_delayed_work_on(int cpu, Workqueue wq, DelayedWork dwork, long delay) {
        return wq().queueDelayedOn(cpu, wq, dwork, delay);
    }

    /**
     * {@code mod_delayed_work(wq, dwork, delay)}: (re)queues {@code dwork} after {@code delay}, pending or not.
     *
     * @param wq the workqueue
     * @param dwork the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true when it was pending before
     */
    public static boolean mod_delayed_work(Workqueue wq, DelayedWork dwork, long delay) {
        return wq().modDelayed(wq, dwork, delay);
    }

    /**
     * {@code mod_delayed_work_on(cpu, wq, dwork, delay)}: as {@link #mod_delayed_work}, for {@code cpu}.
     *
     * @param cpu the CPU, or {@link #WORK_CPU_UNBOUND}
     * @param wq the workqueue
     * @param dwork the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true when it was pending before
     */
    public static boolean mod_delayed_work_on(int cpu, Workqueue wq, DelayedWork dwork, long delay) {
        return wq().modDelayedOn(cpu, wq, dwork, delay);
    }

    /**
     * {@code schedule_work(work)}: {@link #queue_work} on {@link #system_wq()}.
     *
     * @param work the item
     * @return true when queued, false when already pending
     */
    public static boolean schedule_work(Work work) {
        return wq().schedule(work);
    }

    /**
     * {@code schedule_work_on(cpu, work)}: {@link #queue_work_on} on {@link #system_wq()}.
     *
     * @param cpu the CPU
     * @param work the item
     * @return true when queued, false when already pending
     */
    public static boolean schedule_work_on(int cpu, Work work) {
        return wq().scheduleOn(cpu, work);
    }

    /**
     * {@code schedule_delayed_work(dwork, delay)}: {@link #queue_delayed_work} on {@link #system_wq()}.
     *
     * @param dwork the delayed item
     * @param delay jiffies to wait
     * @return true when queued, false when already pending
     */
    public static boolean schedule_delayed_work(DelayedWork dwork, long delay) {
        return wq().scheduleDelayed(dwork, delay);
    }

    /**
     * {@code schedule_delayed_work_on(cpu, dwork, delay)}: {@link #queue_delayed_work_on} on {@link #system_wq()}.
     *
     * @param cpu the CPU
     * @param dwork the delayed item
     * @param delay jiffies to wait
     * @return true when queued, false when already pending
     */
    public static boolean schedule_delayed_work_on(int cpu, DelayedWork dwork, long delay) {
        return wq().scheduleDelayedOn(cpu, dwork, delay);
    }

    /**
     * {@code flush_work(work)}: waits until the last queueing of {@code work} has run; task context only.
     *
     * @param work the item
     * @return true when it waited, false when the item was idle
     */
    public static boolean flush_work(Work work) {
        return wq().flush(work);
    }

    /**
     * {@code flush_delayed_work(dwork)}: queues a pending {@code dwork} at once and waits for it to run.
     *
     * @param dwork the delayed item
     * @return true when it waited, false when the item was idle
     */
    public static boolean flush_delayed_work(DelayedWork dwork) {
        return wq().flushDelayed(dwork);
    }

    /**
     * {@code flush_workqueue(wq)}: waits until every item queued on {@code wq} before the call has run.
     *
     * @param wq the workqueue
     */
    public static void flush_workqueue(Workqueue wq) {
        wq().flushWorkqueue(wq);
    }

    /**
     * {@code drain_workqueue(wq)}: waits until {@code wq} is empty; meanwhile only its own items may queue on
     * it.
     *
     * @param wq the workqueue
     */
    public static void drain_workqueue(Workqueue wq) {
        wq().drainWorkqueue(wq);
    }

    /** {@code flush_scheduled_work()}: deprecated in the kernel, which warns at run time; so do we. */
    public static void flush_scheduled_work() {
        wq().flushScheduledWork();
    }

    /**
     * {@code cancel_work(work)}: takes {@code work} off its queue if pending, without waiting for a running
     * instance.
     *
     * @param work the item
     * @return true when it was pending
     */
    public static boolean cancel_work(Work work) {
        return wq().cancel(work);
    }

    /**
     * {@code cancel_work_sync(work)}: cancels {@code work} and waits for a running instance; task context only.
     *
     * @param work the item
     * @return true when it was pending
     */
    public static boolean cancel_work_sync(Work work) {
        return wq().cancelSync(work);
    }

    /**
     * {@code cancel_delayed_work(dwork)}: stops {@code dwork}'s timer or dequeues it, without waiting.
     *
     * @param dwork the delayed item
     * @return true when it was pending
     */
    public static boolean cancel_delayed_work(DelayedWork dwork) {
        return wq().cancelDelayed(dwork);
    }

    /**
     * {@code cancel_delayed_work_sync(dwork)}: as {@link #cancel_delayed_work}, waiting for a running instance.
     *
     * @param dwork the delayed item
     * @return true when it was pending
     */
    public static boolean cancel_delayed_work_sync(DelayedWork dwork) {
        return wq().cancelDelayedSync(dwork);
    }

    /**
     * {@code disable_work(work)}: cancels {@code work} and makes queueing it fail until enabled; nests.
     *
     * @param work the item
     * @return true when it was pending
     */
    public static boolean disable_work(Work work) {
        return wq().disable(work);
    }

    /**
     * {@code disable_work_sync(work)}: as {@link #disable_work}, waiting for a running instance.
     *
     * @param work the item
     * @return true when it was pending
     */
    public static boolean disable_work_sync(Work work) {
        return wq().disableSync(work);
    }

    /**
     * {@code enable_work(work)}: undoes one disable.
     *
     * @param work the item
     * @return true when the disable count reached zero
     */
    public static boolean enable_work(Work work) {
        return wq().enable(work);
    }

    /**
     * {@code enable_and_queue_work(wq, work)}: {@link #enable_work} and, when that enabled it, {@link
     * #queue_work}.
     *
     * @param wq the workqueue
     * @param work the item
     * @return true when it was queued
     */
    public static boolean enable_and_queue_work(Workqueue wq, Work work) {
        return wq().enableAndQueue(wq, work);
    }

    /**
     * {@code disable_delayed_work(dwork)}: {@link #disable_work} for a delayed item, stopping its timer.
     *
     * @param dwork the delayed item
     * @return true when it was pending
     */
    public static boolean disable_delayed_work(DelayedWork dwork) {
        return wq().disableDelayed(dwork);
    }

    /**
     * {@code disable_delayed_work_sync(dwork)}: as {@link #disable_delayed_work}, waiting for a running instance.
     *
     * @param dwork the delayed item
     * @return true when it was pending
     */
    public static boolean disable_delayed_work_sync(DelayedWork dwork) {
        return wq().disableDelayedSync(dwork);
    }

    /**
     * {@code enable_delayed_work(dwork)}: undoes one disable of a delayed item.
     *
     * @param dwork the delayed item
     * @return true when the disable count reached zero
     */
    public static boolean enable_delayed_work(DelayedWork dwork) {
        return wq().enableDelayed(dwork);
    }

    /**
     * {@code current_work()}: the item running in the calling context, or null.
     *
     * @return the running item, or null outside a worker
     */
    public static Work current_work() {
        return wq().currentWork();
    }

    // Workqueue helpers drivers use around their items (INIT_DELAYED_WORK on an embedded item,
    // to_delayed_work, container_of, work_busy, workqueue_congested, schedule_on_each_cpu, queue_work_node,
    // current_is_workqueue_rescuer).

    /** {@code WORK_BUSY_PENDING}: {@link #work_busy} bit: the item is queued. */
    public static final int WORK_BUSY_PENDING = Work.WORK_BUSY_PENDING;
    /** {@code WORK_BUSY_RUNNING}: {@link #work_busy} bit: the item runs. */
    public static final int WORK_BUSY_RUNNING = Work.WORK_BUSY_RUNNING;
    /** {@code NUMA_NO_NODE}, for {@link #queue_work_node}. */
    public static final int NUMA_NO_NODE = -1;

    /**
     * {@code INIT_DELAYED_WORK(dwork, func)} on a delayed item a driver embedded ({@code new DelayedWork()}), also
     * in use: an armed timer or a queued item is reported and stopped first ({@link Workqueues#initDelayedWork}).
     *
     * @param dwork the delayed item to (re)initialise
     * @param func its new function
     */
    public static void INIT_DELAYED_WORK(DelayedWork dwork, Work.Func func) {
        wq().initDelayedWork(dwork, callbackName(func), func);
    }

    /**
     * {@code to_delayed_work(work)}: the delayed item whose work {@code work} is ({@link DelayedWork#of}).
     *
     * @param work the work of a delayed item
     * @return the delayed item
     * @throws IllegalArgumentException when {@code work} is not the work of a delayed item
     */
    public static DelayedWork to_delayed_work(Work work) {
        return DelayedWork.of(work);
    }

    /**
     * {@code container_of(dwork, type, member)}: the object recorded with {@link DelayedWork#container(Object)}.
     *
     * @param <T> the container's type
     * @param dwork the delayed item
     * @param type the container's class
     * @return the recorded container
     * @throws IllegalStateException when none was recorded, or it is not a {@code type}
     */
    public static <T> T container_of(DelayedWork dwork, Class<T> type) {
        return dwork.container(type);
    }

    /**
     * {@code work_busy(work)}: {@link #WORK_BUSY_PENDING} and/or {@link #WORK_BUSY_RUNNING}.
     *
     * @param work the item
     * @return the {@code WORK_BUSY_*} bits, 0 when idle
     */
    public static int work_busy(Work work) {
        return wq().workBusy(work);
    }

    /**
     * {@code workqueue_congested(cpu, wq)}: items of {@code wq} wait over {@code max_active} on {@code cpu}.
     *
     * @param cpu the CPU, or {@link #WORK_CPU_UNBOUND} for the calling one
     * @param wq the workqueue
     * @return true when congested
     */
    public static boolean workqueue_congested(int cpu, Workqueue wq) {
        return wq().workqueueCongested(cpu, wq);
    }

    /**
     * {@code schedule_on_each_cpu(func)}: runs {@code func} once on each CPU's {@code system_wq} worker and waits.
     *
     * @param func run once on each CPU
     * @return 0
     */
    public static int schedule_on_each_cpu(Work.Func func) {
        return wq().scheduleOnEachCpu(callbackName(func), func);
    }

    /**
     * {@code queue_work_node(node, wq, work)}: for unbound workqueues (one node, 0, here).
     *
     * @param node the NUMA node, or {@link #NUMA_NO_NODE}
     * @param wq an unbound workqueue
     * @param work the item
     * @return true when queued, false when already pending
     */
    public static boolean queue_work_node(int node, Workqueue wq, Work work) {
        return wq().queueWorkNode(node, wq, work);
    }

    /**
     * {@code current_is_workqueue_rescuer()}.
     *
     * @return true when the caller is a workqueue's rescuer thread
     */
    public static boolean current_is_workqueue_rescuer() {
        return wq().currentIsWorkqueueRescuer();
    }

    // ------------------------------------------------------------------------------------------
    // Cross-CPU calls (kernel/smp.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code smp_call_function_single(cpu, func, info, wait)}: 0, or {@code -ENXIO} for a CPU that does not exist.
     *
     * @param <T> the argument's type
     * @param cpu the target CPU
     * @param func run there in hardirq context
     * @param info handed to {@code func}
     * @param wait whether to return only after it ran
     * @return 0, or {@code -ENXIO}
     */
    public static <T> int smp_call_function_single(int cpu, Consumer<T> func, T info, boolean wait) {
        try {
            k().smpCallFunctionSingle(cpu, new NamedCall<>(func, info), wait);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /**
     * {@code smp_call_function(func, info, wait)}: runs {@code func(info)} on every other CPU, in hardirq
     * context there; with {@code wait} returns when all have run it.
     *
     * @param <T> the argument's type
     * @param func run on each other CPU
     * @param info handed to {@code func}
     * @param wait whether to return only after all ran it
     */
    public static <T> void smp_call_function(Consumer<T> func, T info, boolean wait) {
        Kernel k = k();
        java.util.BitSet all = new java.util.BitSet();
        all.set(0, k.cpus());
        Internals.machine(k).smpCallFunctionMany(all, new NamedCall<>(func, info), wait, false, "smp_call_function");
    }

    /**
     * {@code on_each_cpu(func, info, wait)}: runs {@code func(info)} on every CPU — the calling one inline
     * with IRQs disabled, the others in hardirq context.
     *
     * @param <T> the argument's type
     * @param func run on each CPU
     * @param info handed to {@code func}
     * @param wait whether to return only after all ran it
     */
    public static <T> void on_each_cpu(Consumer<T> func, T info, boolean wait) {
        Kernel k = k();
        java.util.BitSet all = new java.util.BitSet();
        all.set(0, k.cpus());
        Internals.machine(k).smpCallFunctionMany(all, new NamedCall<>(func, info), wait, true, "on_each_cpu");
    }

    /**
     * {@code on_each_cpu_mask(mask, func, info, wait)}: {@link #on_each_cpu} for the CPUs in {@code mask}.
     *
     * @param <T> the argument's type
     * @param mask the CPUs to run on
     * @param func run on each CPU in {@code mask}
     * @param info handed to {@code func}
     * @param wait whether to return only after all ran it
     */
    public static <T> void on_each_cpu_mask(java.util.BitSet mask, Consumer<T> func, T info, boolean wait) {
        Internals.machine(k()).smpCallFunctionMany(mask, new NamedCall<>(func, info), wait, true, "on_each_cpu_mask");
    }

    // ------------------------------------------------------------------------------------------
    // Per-CPU variables (include/linux/percpu-defs.h): PerCpu and PerCpuLong, with their context rules
    // ------------------------------------------------------------------------------------------

    /**
     * {@code alloc_percpu(type)}: a per-CPU variable of the calling thread's kernel, {@code init} making each CPU's
     * value ({@link Kernel#perCpu}).
     *
     * @param <T>  the type of each CPU's value
     * @param init the value of each CPU, from its number
     * @return the per-CPU variable
     */
    public static <T> PerCpu<T> alloc_percpu(IntFunction<? extends T> init) {
        return k().perCpu(init);
    }

    /**
     * {@code this_cpu_ptr(v)}: the calling thread's CPU's value ({@link PerCpu#get()}).
     *
     * @param <T> the type of each CPU's value
     * @param v   the per-CPU variable
     * @return this CPU's value
     */
    public static <T> T this_cpu_ptr(PerCpu<T> v) {
        return v.get();
    }

    /**
     * {@code per_cpu_ptr(v, cpu)}: {@code cpu}'s value ({@link PerCpu#get(int)}).
     *
     * @param <T> the type of each CPU's value
     * @param v   the per-CPU variable
     * @param cpu the CPU
     * @return that CPU's value
     */
    public static <T> T per_cpu_ptr(PerCpu<T> v, int cpu) {
        return v.get(cpu);
    }

    /**
     * {@code this_cpu_read(v)} ({@link PerCpuLong#get()}).
     *
     * @param v the per-CPU long
     * @return this CPU's value
     */
    public static long this_cpu_read(PerCpuLong v) {
        return v.get();
    }

    /**
     * {@code this_cpu_write(v, value)} ({@link PerCpuLong#set(long)}).
     *
     * @param v     the per-CPU long
     * @param value the new value of this CPU's slot
     */
    public static void this_cpu_write(PerCpuLong v, long value) {
        v.set(value);
    }

    /**
     * {@code this_cpu_add(v, delta)} ({@link PerCpuLong#add(long)}).
     *
     * @param v     the per-CPU long
     * @param delta what to add to this CPU's slot
     */
    public static void this_cpu_add(PerCpuLong v, long delta) {
        v.add(delta);
    }

    /**
     * {@code this_cpu_inc(v)} ({@link PerCpuLong#inc()}).
     *
     * @param v the per-CPU long
     */
    public static void this_cpu_inc(PerCpuLong v) {
        v.inc();
    }

    /**
     * {@code this_cpu_dec(v)} ({@link PerCpuLong#dec()}).
     *
     * @param v the per-CPU long
     */
    public static void this_cpu_dec(PerCpuLong v) {
        v.dec();
    }

    /**
     * {@code per_cpu(v, cpu)} ({@link PerCpuLong#get(int)}).
     *
     * @param v   the per-CPU long
     * @param cpu the CPU
     * @return that CPU's value
     */
    public static long per_cpu(PerCpuLong v, int cpu) {
        return v.get(cpu);
    }

    private record NamedCall<T>(Consumer<T> func, T info) implements Runnable {
        @Override
        public void run() {
            func.accept(info);
        }

        @Override
        public String toString() {
            return func.toString();
        }
    }
}
