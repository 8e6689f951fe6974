package dev.bottomhalf.linux;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.IntFunction;

import dev.bottomhalf.Kernel;
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

    public static boolean in_hardirq() {
        return ctx().inHardirq();
    }

    /** Deprecated alias of {@link #in_hardirq()}, kept because older code uses it. */
    public static boolean in_irq() {
        return ctx().inHardirq();
    }

    public static boolean in_serving_softirq() {
        return ctx().inServingSoftirq();
    }

    public static boolean in_softirq() {
        return ctx().inSoftirq();
    }

    public static boolean in_interrupt() {
        return ctx().inInterrupt();
    }

    public static boolean in_task() {
        return ctx().inTask();
    }

    public static boolean in_atomic() {
        return ctx().inAtomic();
    }

    public static boolean irqs_disabled() {
        return ctx().irqsDisabled();
    }

    public static boolean preemptible() {
        return ctx().preemptible();
    }

    public static int preempt_count() {
        return ctx().preemptCount();
    }

    public static int interrupt_context_level() {
        return ctx().interruptContextLevel();
    }

    public static int smp_processor_id() {
        return ctx().cpuId();
    }

    public static long jiffies() {
        return k().jiffies();
    }

    public static int HZ() {
        return k().config().hz();
    }

    public static long msecs_to_jiffies(long ms) {
        return k().msecsToJiffies(ms);
    }

    public static void local_irq_disable() {
        ctx().localIrqDisable();
    }

    public static void local_irq_enable() {
        ctx().localIrqEnable();
    }

    /** {@code local_irq_save(flags)}: returns the flags instead of assigning the macro argument. */
    public static long local_irq_save() {
        return ctx().localIrqSave();
    }

    public static void local_irq_restore(long flags) {
        ctx().localIrqRestore(flags);
    }

    public static boolean irqs_disabled_flags(long flags) {
        return flags == ExecutionContext.FLAGS_IRQS_DISABLED;
    }

    public static void local_bh_disable() {
        ctx().localBhDisable();
    }

    public static void local_bh_enable() {
        ctx().localBhEnable();
    }

    public static void _local_bh_enable() {
        ctx().localBhEnableNoRun();
    }

    public static void preempt_disable() {
        ctx().preemptDisable();
    }

    public static void preempt_enable() {
        ctx().preemptEnable();
    }

    public static void might_sleep() {
        ctx().mightSleep("might_sleep");
    }

    // ------------------------------------------------------------------------------------------
    // Spinlocks (include/linux/spinlock.h, spinlock_api_smp.h; kernel/locking/spinlock_debug.c)
    // ------------------------------------------------------------------------------------------

    /** {@code DEFINE_SPINLOCK(name)}: a lock that is a lockdep class of its own. */
    public static Spinlock DEFINE_SPINLOCK(String name) {
        return Spinlock.define(name);
    }

    /** {@code spin_lock_init(lock)}: free, its lockdep class this call site. */
    public static void spin_lock_init(Spinlock lock) {
        lock.init();
    }

    public static void spin_lock(Spinlock lock) {
        lock.lock();
    }

    public static void spin_unlock(Spinlock lock) {
        lock.unlock();
    }

    public static void spin_lock_irq(Spinlock lock) {
        lock.lockIrq();
    }

    public static void spin_unlock_irq(Spinlock lock) {
        lock.unlockIrq();
    }

    /** {@code spin_lock_irqsave(lock, flags)}: returns the flags instead of assigning the macro argument. */
    public static long spin_lock_irqsave(Spinlock lock) {
        return lock.lockIrqsave();
    }

    public static void spin_unlock_irqrestore(Spinlock lock, long flags) {
        lock.unlockIrqrestore(flags);
    }

    public static void spin_lock_bh(Spinlock lock) {
        lock.lockBh();
    }

    public static void spin_unlock_bh(Spinlock lock) {
        lock.unlockBh();
    }

    /** {@code spin_trylock}: 1 when taken, 0 when busy. */
    public static int spin_trylock(Spinlock lock) {
        return lock.trylock() ? 1 : 0;
    }

    /**
     * {@code spin_trylock_irqsave(lock, flags)}: the saved flags when taken, {@link Spinlock#TRYLOCK_FAILED}
     * (IRQs restored) when busy.
     */
    public static long spin_trylock_irqsave(Spinlock lock) {
        return lock.trylockIrqsave();
    }

    public static int spin_trylock_bh(Spinlock lock) {
        return lock.trylockBh() ? 1 : 0;
    }

    public static boolean spin_is_locked(Spinlock lock) {
        return lock.isLocked();
    }

    public static void assert_spin_locked(Spinlock lock) {
        lock.assertLocked();
    }

    /** {@code lockdep_assert_held(lock)} for a {@code spinlock_t}. */
    public static void lockdep_assert_held(Spinlock lock) {
        lock.lockdepAssertHeld();
    }

    /** {@code lockdep_assert_held(lock)} for a {@code raw_spinlock_t}. */
    public static void lockdep_assert_held(RawSpinlock lock) {
        lock.lockdepAssertHeld();
    }

    /** {@code DEFINE_RAW_SPINLOCK(name)}. */
    public static RawSpinlock DEFINE_RAW_SPINLOCK(String name) {
        return RawSpinlock.define(name);
    }

    public static void raw_spin_lock_init(RawSpinlock lock) {
        lock.init();
    }

    public static void raw_spin_lock(RawSpinlock lock) {
        lock.lock();
    }

    public static void raw_spin_unlock(RawSpinlock lock) {
        lock.unlock();
    }

    public static void raw_spin_lock_irq(RawSpinlock lock) {
        lock.lockIrq();
    }

    public static void raw_spin_unlock_irq(RawSpinlock lock) {
        lock.unlockIrq();
    }

    public static long raw_spin_lock_irqsave(RawSpinlock lock) {
        return lock.lockIrqsave();
    }

    public static void raw_spin_unlock_irqrestore(RawSpinlock lock, long flags) {
        lock.unlockIrqrestore(flags);
    }

    public static void raw_spin_lock_bh(RawSpinlock lock) {
        lock.lockBh();
    }

    public static void raw_spin_unlock_bh(RawSpinlock lock) {
        lock.unlockBh();
    }

    public static int raw_spin_trylock(RawSpinlock lock) {
        return lock.trylock() ? 1 : 0;
    }

    public static long raw_spin_trylock_irqsave(RawSpinlock lock) {
        return lock.trylockIrqsave();
    }

    public static boolean raw_spin_is_locked(RawSpinlock lock) {
        return lock.isLocked();
    }

    // ------------------------------------------------------------------------------------------
    // Reader-writer spinlocks (include/linux/rwlock.h, rwlock_api_smp.h)
    // ------------------------------------------------------------------------------------------

    /** {@code DEFINE_RWLOCK(name)}. */
    public static Rwlock DEFINE_RWLOCK(String name) {
        return Rwlock.define(name);
    }

    public static void rwlock_init(Rwlock lock) {
        lock.init();
    }

    public static void read_lock(Rwlock lock) {
        lock.readLock();
    }

    public static void read_unlock(Rwlock lock) {
        lock.readUnlock();
    }

    public static void read_lock_irq(Rwlock lock) {
        lock.readLockIrq();
    }

    public static void read_unlock_irq(Rwlock lock) {
        lock.readUnlockIrq();
    }

    public static long read_lock_irqsave(Rwlock lock) {
        return lock.readLockIrqsave();
    }

    public static void read_unlock_irqrestore(Rwlock lock, long flags) {
        lock.readUnlockIrqrestore(flags);
    }

    public static void read_lock_bh(Rwlock lock) {
        lock.readLockBh();
    }

    public static void read_unlock_bh(Rwlock lock) {
        lock.readUnlockBh();
    }

    public static int read_trylock(Rwlock lock) {
        return lock.readTrylock() ? 1 : 0;
    }

    public static void write_lock(Rwlock lock) {
        lock.writeLock();
    }

    public static void write_unlock(Rwlock lock) {
        lock.writeUnlock();
    }

    public static void write_lock_irq(Rwlock lock) {
        lock.writeLockIrq();
    }

    public static void write_unlock_irq(Rwlock lock) {
        lock.writeUnlockIrq();
    }

    public static long write_lock_irqsave(Rwlock lock) {
        return lock.writeLockIrqsave();
    }

    public static void write_unlock_irqrestore(Rwlock lock, long flags) {
        lock.writeUnlockIrqrestore(flags);
    }

    public static void write_lock_bh(Rwlock lock) {
        lock.writeLockBh();
    }

    public static void write_unlock_bh(Rwlock lock) {
        lock.writeUnlockBh();
    }

    public static int write_trylock(Rwlock lock) {
        return lock.writeTrylock() ? 1 : 0;
    }

    /** {@code lockdep_assert_held(lock)} for an {@code rwlock_t}: held for reading or writing. */
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

    public static final int TASK_RUNNING = Task.TASK_RUNNING;
    public static final int TASK_INTERRUPTIBLE = Task.TASK_INTERRUPTIBLE;
    public static final int TASK_UNINTERRUPTIBLE = Task.TASK_UNINTERRUPTIBLE;
    public static final int TASK_PARKED = Task.TASK_PARKED;
    public static final int TASK_WAKEKILL = Task.TASK_WAKEKILL;
    public static final int TASK_NOLOAD = Task.TASK_NOLOAD;
    public static final int TASK_KILLABLE = Task.TASK_KILLABLE;
    public static final int TASK_IDLE = Task.TASK_IDLE;
    public static final int TASK_NORMAL = Task.TASK_NORMAL;
    public static final int ERESTARTSYS = Sched.ERESTARTSYS;
    public static final int EINTR = Sched.EINTR;
    public static final int SIGINT = Sched.SIGINT;
    public static final int SIGKILL = Sched.SIGKILL;
    public static final int SIGUSR1 = Sched.SIGUSR1;
    public static final int SIGTERM = Sched.SIGTERM;

    private static Sched sched() {
        return k().sched();
    }

    /**
     * {@code current}: the calling context's task ({@code swapper/N} in hardirq context and in the softirqs run at
     * {@code irq_exit} on {@code cpu/N}; see {@link Sched#current()}).
     */
    public static Task current() {
        return sched().current();
    }

    /** {@code get_current()}. */
    public static Task get_current() {
        return sched().current();
    }

    /** {@code task_pid_nr(p)}. */
    public static int task_pid_nr(Task p) {
        return p.pid();
    }

    /** {@code set_current_state(state)}: the state write is ordered before the condition test that follows. */
    public static void set_current_state(int state) {
        sched().setCurrentState(state);
    }

    /** {@code __set_current_state(state)} (the same volatile write here). */
    public static void __set_current_state(int state) {
        sched().setCurrentState(state);
    }

    public static void schedule() {
        sched().schedule();
    }

    /** {@code schedule_timeout(timeout)}: in the state set before; jiffies left, 0 when the time ran out. */
    public static long schedule_timeout(long timeout) {
        return sched().scheduleTimeout(timeout);
    }

    public static long schedule_timeout_killable(long timeout) {
        return sched().scheduleTimeoutKillable(timeout);
    }

    public static long schedule_timeout_idle(long timeout) {
        return sched().scheduleTimeoutIdle(timeout);
    }

    /** {@code wake_up_process(p)}: 1 when it woke {@code p}, 0 when it was running. */
    public static int wake_up_process(Task p) {
        return sched().wakeUpProcess(p) ? 1 : 0;
    }

    public static int wake_up_state(Task p, int state) {
        return sched().wakeUpState(p, state) ? 1 : 0;
    }

    /** {@code cond_resched()}: 0 (whether another thread ran is not reported). */
    public static int cond_resched() {
        sched().condResched();
        return 0;
    }

    /** {@code signal_pending(p)}: the thread interrupt status of task thread {@code p}. */
    public static boolean signal_pending(Task p) {
        return sched().signalPending(p);
    }

    public static boolean fatal_signal_pending(Task p) {
        return sched().fatalSignalPending(p);
    }

    /** {@code send_sig(sig, p, priv)}: interrupts task thread {@code p} and wakes its interruptible sleep; 0. */
    public static int send_sig(int sig, Task p, int priv) {
        return sched().sendSig(sig, p);
    }

    public static void flush_signals(Task p) {
        if (p != sched().current()) {
            throw new IllegalArgumentException("flush_signals(" + p + "): only the calling task's signals can be flushed here");
        }
        sched().flushSignals();
    }

    // ------------------------------------------------------------------------------------------
    // Wait queues (include/linux/wait.h, kernel/sched/wait.c)
    // ------------------------------------------------------------------------------------------

    public static final int WQ_FLAG_EXCLUSIVE = WaitQueueEntry.WQ_FLAG_EXCLUSIVE;
    public static final int WQ_FLAG_WOKEN = WaitQueueEntry.WQ_FLAG_WOKEN;

    /** {@code DECLARE_WAIT_QUEUE_HEAD(name)}. */
    public static WaitQueueHead DECLARE_WAIT_QUEUE_HEAD(String name) {
        return new WaitQueueHead(name);
    }

    /** {@code init_waitqueue_head(&wq)}: a fresh head (Java cannot re-initialise one in place). */
    public static WaitQueueHead init_waitqueue_head(String name) {
        return new WaitQueueHead(name);
    }

    /** {@code DEFINE_WAIT(name)}: an entry for {@code current} with {@code autoremove_wake_function}. */
    public static WaitQueueEntry DEFINE_WAIT() {
        return sched().defineWait();
    }

    public static WaitQueueEntry init_waitqueue_entry(Task p) {
        return sched().initWaitqueueEntry(p);
    }

    public static WaitQueueEntry init_waitqueue_func_entry(WaitQueueEntry.WakeFunction func) {
        return sched().initWaitqueueFuncEntry(func);
    }

    public static void add_wait_queue(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().addWaitQueue(wq, entry);
    }

    public static void add_wait_queue_exclusive(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().addWaitQueueExclusive(wq, entry);
    }

    public static void remove_wait_queue(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().removeWaitQueue(wq, entry);
    }

    public static void prepare_to_wait(WaitQueueHead wq, WaitQueueEntry entry, int state) {
        sched().prepareToWait(wq, entry, state);
    }

    public static boolean prepare_to_wait_exclusive(WaitQueueHead wq, WaitQueueEntry entry, int state) {
        return sched().prepareToWaitExclusive(wq, entry, state);
    }

    public static long prepare_to_wait_event(WaitQueueHead wq, WaitQueueEntry entry, int state) {
        return sched().prepareToWaitEvent(wq, entry, state);
    }

    public static void finish_wait(WaitQueueHead wq, WaitQueueEntry entry) {
        sched().finishWait(wq, entry);
    }

    /** {@code waitqueue_active(wq)}: one volatile read; pair it with a volatile condition. */
    public static boolean waitqueue_active(WaitQueueHead wq) {
        return wq.active();
    }

    /** {@code wq_has_sleeper(wq)}: {@link #waitqueue_active} (the volatile read is the barrier). */
    public static boolean wq_has_sleeper(WaitQueueHead wq) {
        return wq.active();
    }

    public static void wait_event(WaitQueueHead wq, BooleanSupplier condition) {
        sched().waitEvent(wq, condition);
    }

    public static void wait_event_idle(WaitQueueHead wq, BooleanSupplier condition) {
        sched().waitEventIdle(wq, condition);
    }

    /** {@code wait_event_timeout}: 0 on timeout, else the jiffies left (at least 1). */
    public static long wait_event_timeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return sched().waitEventTimeout(wq, condition, timeout);
    }

    /** {@code wait_event_interruptible}: 0, or {@code -ERESTARTSYS}. */
    public static int wait_event_interruptible(WaitQueueHead wq, BooleanSupplier condition) {
        return sched().waitEventInterruptible(wq, condition);
    }

    public static int wait_event_interruptible_exclusive(WaitQueueHead wq, BooleanSupplier condition) {
        return sched().waitEventInterruptibleExclusive(wq, condition);
    }

    /** {@code wait_event_interruptible_timeout}: {@code -ERESTARTSYS}, 0 on timeout, else the jiffies left. */
    public static long wait_event_interruptible_timeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return sched().waitEventInterruptibleTimeout(wq, condition, timeout);
    }

    public static int wait_event_killable(WaitQueueHead wq, BooleanSupplier condition) {
        return sched().waitEventKillable(wq, condition);
    }

    public static long wait_event_killable_timeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return sched().waitEventKillableTimeout(wq, condition, timeout);
    }

    /** {@code wake_up(wq)}: non-exclusive waiters and one exclusive; a volatile read when nobody waits. */
    public static void wake_up(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUp(wq);
        }
    }

    public static void wake_up_nr(WaitQueueHead wq, int nr) {
        if (wq.active()) {
            sched().wakeUpNr(wq, nr);
        }
    }

    public static void wake_up_all(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUpAll(wq);
        }
    }

    public static void wake_up_interruptible(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUpInterruptible(wq);
        }
    }

    public static void wake_up_interruptible_nr(WaitQueueHead wq, int nr) {
        if (wq.active()) {
            sched().wakeUpInterruptibleNr(wq, nr);
        }
    }

    public static void wake_up_interruptible_all(WaitQueueHead wq) {
        if (wq.active()) {
            sched().wakeUpInterruptibleAll(wq);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Completions (include/linux/completion.h, kernel/sched/completion.c)
    // ------------------------------------------------------------------------------------------

    /** {@code DECLARE_COMPLETION(name)}. */
    public static Completion DECLARE_COMPLETION(String name) {
        return new Completion(name);
    }

    /** {@code init_completion(&x)}: a fresh completion (Java cannot re-initialise one in place; see reinit). */
    public static Completion init_completion(String name) {
        return new Completion(name);
    }

    public static void reinit_completion(Completion x) {
        sched().reinitCompletion(x);
    }

    public static void complete(Completion x) {
        sched().complete(x);
    }

    public static void complete_all(Completion x) {
        sched().completeAll(x);
    }

    public static void wait_for_completion(Completion x) {
        sched().waitForCompletion(x);
    }

    /** {@code wait_for_completion_timeout}: 0 on timeout, else the jiffies left (at least 1). */
    public static long wait_for_completion_timeout(Completion x, long timeout) {
        return sched().waitForCompletionTimeout(x, timeout);
    }

    /** {@code wait_for_completion_interruptible}: 0, or {@code -ERESTARTSYS}. */
    public static int wait_for_completion_interruptible(Completion x) {
        return sched().waitForCompletionInterruptible(x);
    }

    public static long wait_for_completion_interruptible_timeout(Completion x, long timeout) {
        return sched().waitForCompletionInterruptibleTimeout(x, timeout);
    }

    public static int wait_for_completion_killable(Completion x) {
        return sched().waitForCompletionKillable(x);
    }

    public static long wait_for_completion_killable_timeout(Completion x, long timeout) {
        return sched().waitForCompletionKillableTimeout(x, timeout);
    }

    public static boolean try_wait_for_completion(Completion x) {
        return sched().tryWaitForCompletion(x);
    }

    public static boolean completion_done(Completion x) {
        return sched().completionDone(x);
    }

    // ------------------------------------------------------------------------------------------
    // kthreads (include/linux/kthread.h, kernel/kthread.c)
    // ------------------------------------------------------------------------------------------

    public static final int KTW_FREEZABLE = Kthreads.KTW_FREEZABLE;

    private static Kthreads kthreads() {
        return k().kthreads();
    }

    /** {@code kthread_create(threadfn, data, namefmt, ...)}: stopped until {@link #wake_up_process}. */
    public static <T> Task kthread_create(Kthreads.ThreadFn<T> threadfn, T data, String namefmt, Object... args) {
        return kthreads().create(threadfn, data, namefmt, args);
    }

    public static <T> Task kthread_run(Kthreads.ThreadFn<T> threadfn, T data, String namefmt, Object... args) {
        return kthreads().run(threadfn, data, namefmt, args);
    }

    /** {@code kthread_stop(k)}: the thread function's result, {@code -EINTR} when it never ran. */
    public static int kthread_stop(Task k) {
        return kthreads().stop(k);
    }

    public static boolean kthread_should_stop() {
        return kthreads().shouldStop();
    }

    public static boolean kthread_should_park() {
        return kthreads().shouldPark();
    }

    public static void kthread_parkme() {
        kthreads().parkme();
    }

    public static int kthread_park(Task k) {
        return kthreads().park(k);
    }

    public static void kthread_unpark(Task k) {
        kthreads().unpark(k);
    }

    public static void kthread_bind(Task k, int cpu) {
        kthreads().bind(k, cpu);
    }

    public static KthreadWorker kthread_create_worker(int flags, String namefmt, Object... args) {
        return kthreads().createWorker(flags, namefmt, args);
    }

    /** {@code kthread_init_work(&work, fn)} / {@code DEFINE_KTHREAD_WORK}. */
    public static KthreadWork kthread_init_work(String name, Consumer<KthreadWork> fn) {
        return new KthreadWork(name, fn);
    }

    /** {@code kthread_init_delayed_work(&dwork, fn)} / {@code DEFINE_KTHREAD_DELAYED_WORK}. */
    public static KthreadDelayedWork kthread_init_delayed_work(String name, Consumer<KthreadWork> fn) {
        return new KthreadDelayedWork(name, fn);
    }

    public static boolean kthread_queue_work(KthreadWorker worker, KthreadWork work) {
        return kthreads().queueWork(worker, work);
    }

    public static void kthread_flush_work(KthreadWork work) {
        kthreads().flushWork(work);
    }

    public static void kthread_flush_worker(KthreadWorker worker) {
        kthreads().flushWorker(worker);
    }

    public static boolean kthread_queue_delayed_work(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        return kthreads().queueDelayedWork(worker, dwork, delay);
    }

    public static boolean kthread_mod_delayed_work(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        return kthreads().modDelayedWork(worker, dwork, delay);
    }

    public static boolean kthread_cancel_work_sync(KthreadWork work) {
        return kthreads().cancelWorkSync(work);
    }

    public static boolean kthread_cancel_delayed_work_sync(KthreadDelayedWork dwork) {
        return kthreads().cancelDelayedWorkSync(dwork);
    }

    public static void kthread_destroy_worker(KthreadWorker worker) {
        kthreads().destroyWorker(worker);
    }

    // ------------------------------------------------------------------------------------------
    // printk
    // ------------------------------------------------------------------------------------------

    public static final String KERN_EMERG = "\u00010";
    public static final String KERN_ALERT = "\u00011";
    public static final String KERN_CRIT = "\u00012";
    public static final String KERN_ERR = "\u00013";
    public static final String KERN_WARNING = "\u00014";
    public static final String KERN_NOTICE = "\u00015";
    public static final String KERN_INFO = "\u00016";
    public static final String KERN_DEBUG = "\u00017";

    /**
     * {@code printk(fmt, ...)}: formats with {@link String#format} (so {@code %d}, {@code %s}, {@code %lu}
     * written as {@code %d}) and reports it at the level of its {@code KERN_*} prefix (default
     * {@code KERN_WARNING}, as the kernel's default message level). A trailing newline is dropped.
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

    public static void pr_info(String fmt, Object... args) {
        printk(KERN_INFO + fmt, args);
    }

    public static void pr_notice(String fmt, Object... args) {
        printk(KERN_NOTICE + fmt, args);
    }

    public static void pr_warn(String fmt, Object... args) {
        printk(KERN_WARNING + fmt, args);
    }

    public static void pr_err(String fmt, Object... args) {
        printk(KERN_ERR + fmt, args);
    }

    // ------------------------------------------------------------------------------------------
    // Softirqs (kernel/softirq.c)
    // ------------------------------------------------------------------------------------------

    public static final int HI_SOFTIRQ = SoftirqVector.HI.nr();
    public static final int TIMER_SOFTIRQ = SoftirqVector.TIMER.nr();
    public static final int NET_TX_SOFTIRQ = SoftirqVector.NET_TX.nr();
    public static final int NET_RX_SOFTIRQ = SoftirqVector.NET_RX.nr();
    public static final int BLOCK_SOFTIRQ = SoftirqVector.BLOCK.nr();
    public static final int IRQ_POLL_SOFTIRQ = SoftirqVector.IRQ_POLL.nr();
    public static final int TASKLET_SOFTIRQ = SoftirqVector.TASKLET.nr();
    public static final int SCHED_SOFTIRQ = SoftirqVector.SCHED.nr();
    public static final int HRTIMER_SOFTIRQ = SoftirqVector.HRTIMER.nr();
    public static final int RCU_SOFTIRQ = SoftirqVector.RCU.nr();
    public static final int NR_SOFTIRQS = SoftirqVector.NR_SOFTIRQS;

    /** {@code open_softirq(nr, action)} for vectors 0–9; {@link #open_softirq(int, String, SoftirqAction)} for user ones. */
    public static void open_softirq(int nr, SoftirqAction action) {
        SoftirqVector v = SoftirqVector.of(nr);
        if (v == null) {
            throw new IllegalArgumentException("vector " + nr + " is a user vector: name it with open_softirq(nr, name, action)");
        }
        k().softirqs().open(v, action);
    }

    public static void open_softirq(int nr, String name, SoftirqAction action) {
        k().softirqs().open(nr, name, action);
    }

    public static void raise_softirq(int nr) {
        k().softirqs().raise(nr);
    }

    public static void raise_softirq_irqoff(int nr) {
        k().softirqs().raiseIrqoff(nr);
    }

    public static void __raise_softirq_irqoff(int nr) {
        k().softirqs().raiseIrqoffNoWake(nr);
    }

    public static void do_softirq() {
        k().softirqs().doSoftirq();
    }

    // ------------------------------------------------------------------------------------------
    // Tasklets (include/linux/interrupt.h)
    // ------------------------------------------------------------------------------------------

    /** {@code DECLARE_TASKLET(name, callback)}: {@code static Tasklet t = DECLARE_TASKLET("t", cb);} */
    public static Tasklet DECLARE_TASKLET(String name, Tasklet.Callback callback) {
        return Tasklet.setup(name, callback);
    }

    /** {@code DECLARE_TASKLET_DISABLED(name, callback)}: needs one {@code tasklet_enable} before it runs. */
    public static Tasklet DECLARE_TASKLET_DISABLED(String name, Tasklet.Callback callback) {
        return Tasklet.setupDisabled(name, callback);
    }

    /**
     * The three-argument {@code DECLARE_TASKLET(name, func, data)} of older kernels, where {@code data}
     * was a pointer cast to {@code unsigned long}: here the data is any object handed to {@code func}.
     */
    public static <T> Tasklet DECLARE_TASKLET(String name, java.util.function.Consumer<T> func, T data) {
        return Tasklet.setup(name, t -> func.accept(data));
    }

    /** The three-argument {@code DECLARE_TASKLET_DISABLED(name, func, data)} of older kernels. */
    public static <T> Tasklet DECLARE_TASKLET_DISABLED(String name, java.util.function.Consumer<T> func, T data) {
        return Tasklet.setupDisabled(name, t -> func.accept(data));
    }

    /** {@code DECLARE_TASKLET_OLD(name, func)}: the legacy form with {@code data} 0. */
    public static Tasklet DECLARE_TASKLET_OLD(String name, Tasklet.Func func) {
        return Tasklet.init(name, func, 0);
    }

    /** {@code tasklet_init(t, func, data)}. */
    public static void tasklet_init(Tasklet t, Tasklet.Func func, long data) {
        t.initFunc(t.name(), func, data);
    }

    /**
     * {@code tasklet_init(t, func, (unsigned long)obj)} for the common case of a pointer as the data: {@code func}
     * gets the object on every run; {@link Tasklet#data(Class)} reads it back.
     */
    public static <T> void tasklet_init(Tasklet t, Consumer<? super T> func, T data) {
        t.initWithData(t.name(), func, data);
    }

    /** {@code tasklet_setup(t, callback)}. */
    public static void tasklet_setup(Tasklet t, Tasklet.Callback callback) {
        t.initCallback(t.name(), callback);
    }

    public static void tasklet_schedule(Tasklet t) {
        k().tasklets().schedule(t);
    }

    public static void tasklet_hi_schedule(Tasklet t) {
        k().tasklets().hiSchedule(t);
    }

    public static void tasklet_disable(Tasklet t) {
        k().tasklets().disable(t);
    }

    public static void tasklet_disable_nosync(Tasklet t) {
        k().tasklets().disableNosync(t);
    }

    public static void tasklet_enable(Tasklet t) {
        k().tasklets().enable(t);
    }

    public static void tasklet_kill(Tasklet t) {
        k().tasklets().kill(t);
    }

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

    public static final int IRQ_NONE = IrqReturn.NONE;
    public static final int IRQ_HANDLED = IrqReturn.HANDLED;
    public static final int IRQ_WAKE_THREAD = IrqReturn.WAKE_THREAD;

    public static final int IRQF_TRIGGER_NONE = 0;
    public static final int IRQF_TRIGGER_RISING = IrqFlag.TRIGGER_RISING.value();
    public static final int IRQF_TRIGGER_FALLING = IrqFlag.TRIGGER_FALLING.value();
    public static final int IRQF_TRIGGER_HIGH = IrqFlag.TRIGGER_HIGH.value();
    public static final int IRQF_TRIGGER_LOW = IrqFlag.TRIGGER_LOW.value();
    public static final int IRQF_SHARED = IrqFlag.SHARED.value();
    public static final int IRQF_PROBE_SHARED = IrqFlag.PROBE_SHARED.value();
    public static final int IRQF_PERCPU = IrqFlag.PERCPU.value();
    public static final int IRQF_NOBALANCING = IrqFlag.NOBALANCING.value();
    public static final int IRQF_IRQPOLL = IrqFlag.IRQPOLL.value();
    public static final int IRQF_ONESHOT = IrqFlag.ONESHOT.value();
    public static final int IRQF_NO_SUSPEND = IrqFlag.NO_SUSPEND.value();
    public static final int IRQF_FORCE_RESUME = IrqFlag.FORCE_RESUME.value();
    public static final int IRQF_NO_THREAD = IrqFlag.NO_THREAD.value();
    public static final int IRQF_EARLY_RESUME = IrqFlag.EARLY_RESUME.value();
    public static final int IRQF_COND_SUSPEND = IrqFlag.COND_SUSPEND.value();
    public static final int IRQF_NO_AUTOEN = IrqFlag.NO_AUTOEN.value();
    public static final int IRQF_NO_DEBUG = IrqFlag.NO_DEBUG.value();
    public static final int IRQF_COND_ONESHOT = IrqFlag.COND_ONESHOT.value();

    public static int IRQ_RETVAL(boolean handled) {
        return IrqReturn.retval(handled);
    }

    /** {@code request_irq}: 0, or {@code -EINVAL}/{@code -EBUSY}/... */
    public static int request_irq(int irq, IrqHandler handler, int flags, String name, Object devId) {
        return request_threaded_irq(irq, handler, null, flags | IRQF_COND_ONESHOT, name, devId);
    }

    /** {@code request_threaded_irq}: 0, or {@code -EINVAL}/{@code -EBUSY}/... */
    public static int request_threaded_irq(int irq, IrqHandler handler, IrqHandler threadFn, int flags, String name,
                                           Object devId) {
        try {
            k().irqs().requestThreaded(irq, handler, threadFn, flags, name, devId);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /** {@code free_irq}: the name given at request time, or null (with a warning) if nothing was freed. */
    public static String free_irq(int irq, Object devId) {
        return k().irqs().free(irq, devId);
    }

    public static void disable_irq(int irq) {
        k().irqs().disable(irq);
    }

    public static void disable_irq_nosync(int irq) {
        k().irqs().disableNosync(irq);
    }

    public static boolean disable_hardirq(int irq) {
        return k().irqs().disableHardirq(irq);
    }

    public static void enable_irq(int irq) {
        k().irqs().enable(irq);
    }

    public static void synchronize_irq(int irq) {
        k().irqs().synchronize(irq);
    }

    public static boolean synchronize_hardirq(int irq) {
        return k().irqs().synchronizeHardirq(irq);
    }

    /** {@code irq_set_affinity(irq, cpumask_of(cpu))}: 0 or {@code -EINVAL}. */
    public static int irq_set_affinity(int irq, int cpu) {
        try {
            k().irqs().setAffinity(irq, cpu);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    public static final int IRQ_TYPE_NONE = 0;
    public static final int IRQ_TYPE_EDGE_RISING = 1;
    public static final int IRQ_TYPE_EDGE_FALLING = 2;
    public static final int IRQ_TYPE_EDGE_BOTH = IRQ_TYPE_EDGE_RISING | IRQ_TYPE_EDGE_FALLING;
    public static final int IRQ_TYPE_LEVEL_HIGH = 4;
    public static final int IRQ_TYPE_LEVEL_LOW = 8;
    /** {@code IRQF_TIMER}: the one flag {@code request_percpu_irq} takes. */
    public static final int IRQF_TIMER = IrqController.IRQF_TIMER;

    /** {@code irq_set_irq_type(irq, type)}: 0 or {@code -EINVAL}. */
    public static int irq_set_irq_type(int irq, int type) {
        try {
            k().irqs().setIrqType(irq, type);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /** {@code irq_get_trigger_type(irq)}: the line's {@code IRQ_TYPE_*} bits. */
    public static int irq_get_trigger_type(int irq) {
        return k().irqs().triggerType(irq);
    }

    /** {@code irq_set_percpu_devid(irq)} (architecture code): 0 or {@code -EINVAL}. */
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
     */
    public static int request_percpu_irq(int irq, IrqHandler handler, String devname, IntFunction<?> percpuDevId) {
        return request_percpu_irq(irq, handler, 0, devname, percpuDevId);
    }

    /** {@code __request_percpu_irq(irq, handler, flags, devname, percpu_dev_id)}: flags 0 or {@code IRQF_TIMER}. */
    public static int request_percpu_irq(int irq, IrqHandler handler, int flags, String devname,
                                         IntFunction<?> percpuDevId) {
        try {
            k().irqs().requestPercpu(irq, handler, flags, devname, percpuDevId);
            return 0;
        } catch (KernelException e) {
            return -e.errno().code();
        }
    }

    /** {@code enable_percpu_irq(irq, type)}: on the calling CPU. */
    public static void enable_percpu_irq(int irq, int type) {
        k().irqs().enablePercpu(irq, type);
    }

    /** {@code disable_percpu_irq(irq)}: on the calling CPU. */
    public static void disable_percpu_irq(int irq) {
        k().irqs().disablePercpu(irq);
    }

    public static boolean irq_percpu_is_enabled(int irq) {
        return k().irqs().percpuIsEnabled(irq);
    }

    /** {@code free_percpu_irq(irq, percpu_dev_id)}: after {@code disable_percpu_irq} on every CPU. */
    public static void free_percpu_irq(int irq, Object percpuDevId) {
        k().irqs().freePercpu(irq, percpuDevId);
    }

    /** {@code probe_irq_on()}: the mask of the lines 0–31 that did not fire by themselves; sleeps 120 ms. */
    public static long probe_irq_on() {
        return k().irqs().probeIrqOn();
    }

    /** {@code probe_irq_off(val)}: the line that fired, 0 for none, minus the lowest when several did. */
    public static int probe_irq_off(long val) {
        return k().irqs().probeIrqOff(val);
    }

    public static final int IRQ_WORK_LAZY = IrqWork.IRQ_WORK_LAZY;
    public static final int IRQ_WORK_HARD_IRQ = IrqWork.IRQ_WORK_HARD_IRQ;

    /** {@code init_irq_work(work, func)}. */
    public static void init_irq_work(IrqWork work, IrqWork.Func func) {
        work.init(callbackName(func), func);
    }

    /** {@code DEFINE_IRQ_WORK(name, func)}: {@code static IrqWork w = DEFINE_IRQ_WORK("w", fn);} */
    public static IrqWork DEFINE_IRQ_WORK(String name, IrqWork.Func func) {
        return IrqWork.create(name, func);
    }

    /** {@code irq_work_queue(work)}: false when it was already pending. */
    public static boolean irq_work_queue(IrqWork work) {
        return k().irqs().irqWorkQueue(work);
    }

    /** {@code irq_work_queue_on(work, cpu)}: false when it was already pending. */
    public static boolean irq_work_queue_on(IrqWork work, int cpu) {
        return k().irqs().irqWorkQueueOn(work, cpu);
    }

    public static void irq_work_sync(IrqWork work) {
        k().irqs().irqWorkSync(work);
    }

    public static boolean irq_work_is_pending(IrqWork work) {
        return work.isPending();
    }

    public static boolean irq_work_is_busy(IrqWork work) {
        return work.isBusy();
    }

    /** {@code container_of(work, type, field)}: the object the item was made with ({@code new IrqWork(owner)}). */
    public static <T> T container_of(IrqWork work, Class<T> type) {
        return work.owner(type);
    }

    // ------------------------------------------------------------------------------------------
    // Timers and time (include/linux/timer.h, jiffies.h, delay.h)
    // ------------------------------------------------------------------------------------------

    public static final int TIMER_DEFERRABLE = TimerList.TIMER_DEFERRABLE;
    public static final int TIMER_PINNED = TimerList.TIMER_PINNED;
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

    /** {@code get_jiffies_64()}: the 64-bit jiffies ({@code jiffies_64}); the same as {@link #jiffies()} here. */
    public static long get_jiffies_64() {
        return k().jiffies();
    }

    /**
     * {@code from_timer(var, timer, field)}: the driver object the timer is embedded in, as {@code type} — the
     * object given to {@code new TimerList(owner)}.
     */
    public static <T> T from_timer(TimerList timer, Class<T> type) {
        return timer.owner(type);
    }

    /** {@code container_of(timer, type, field)} for a {@code timer_list}: as {@link #from_timer}. */
    public static <T> T container_of(TimerList timer, Class<T> type) {
        return timer.owner(type);
    }

    public static boolean time_after(long a, long b) {
        return Jiffies.timeAfter(a, b);
    }

    public static boolean time_before(long a, long b) {
        return Jiffies.timeBefore(a, b);
    }

    public static boolean time_after_eq(long a, long b) {
        return Jiffies.timeAfterEq(a, b);
    }

    public static boolean time_before_eq(long a, long b) {
        return Jiffies.timeBeforeEq(a, b);
    }

    public static boolean time_in_range(long a, long b, long c) {
        return Jiffies.timeInRange(a, b, c);
    }

    public static long usecs_to_jiffies(long us) {
        return Jiffies.usecsToJiffies(us, HZ());
    }

    public static long jiffies_to_msecs(long j) {
        return Jiffies.jiffiesToMsecs(j, HZ());
    }

    public static long jiffies_to_usecs(long j) {
        return Jiffies.jiffiesToUsecs(j, HZ());
    }

    /** {@code timer_setup(timer, callback, flags)}. */
    public static void timer_setup(TimerList timer, TimerList.Callback callback, int flags) {
        k().timers().setup(timer, callbackName(callback), callback, flags);
    }

    /** {@code DEFINE_TIMER(name, function)}: a set-up timer on the calling CPU. */
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

    public static int mod_timer(TimerList timer, long expires) {
        return k().timers().mod(timer, expires);
    }

    public static int mod_timer_pending(TimerList timer, long expires) {
        return k().timers().modPending(timer, expires);
    }

    public static int timer_reduce(TimerList timer, long expires) {
        return k().timers().reduce(timer, expires);
    }

    public static void add_timer(TimerList timer) {
        k().timers().add(timer);
    }

    public static void add_timer_local(TimerList timer) {
        k().timers().addLocal(timer);
    }

    public static void add_timer_global(TimerList timer) {
        k().timers().addGlobal(timer);
    }

    public static void add_timer_on(TimerList timer, int cpu) {
        k().timers().addOn(timer, cpu);
    }

    public static int timer_delete(TimerList timer) {
        return k().timers().delete(timer);
    }

    public static int timer_delete_sync(TimerList timer) {
        return k().timers().deleteSync(timer);
    }

    public static int timer_delete_sync_try(TimerList timer) {
        return k().timers().deleteSyncTry(timer);
    }

    /** The pre-6.2 name of {@link #timer_delete}, still in much teaching material. */
    public static int del_timer(TimerList timer) {
        return timer_delete(timer);
    }

    /** The pre-6.2 name of {@link #timer_delete_sync}. */
    public static int del_timer_sync(TimerList timer) {
        return timer_delete_sync(timer);
    }

    public static int timer_shutdown(TimerList timer) {
        return k().timers().shutdown(timer);
    }

    public static int timer_shutdown_sync(TimerList timer) {
        return k().timers().shutdownSync(timer);
    }

    public static boolean timer_pending(TimerList timer) {
        return timer.isPending();
    }

    /** {@code schedule_timeout_interruptible(timeout)}: jiffies left. */
    public static long schedule_timeout_interruptible(long timeout) {
        return k().timers().scheduleTimeoutInterruptible(timeout);
    }

    /** {@code schedule_timeout_uninterruptible(timeout)}: jiffies left. */
    public static long schedule_timeout_uninterruptible(long timeout) {
        return k().timers().scheduleTimeoutUninterruptible(timeout);
    }

    public static void msleep(long ms) {
        k().timers().msleep(ms);
    }

    public static long msleep_interruptible(long ms) {
        return k().timers().msleepInterruptible(ms);
    }

    public static void usleep_range(long min, long max) {
        k().timers().usleepRange(min, max);
    }

    /** {@code mdelay(ms)}: busy-waits; legal in atomic context (include/linux/delay.h). */
    public static void mdelay(long ms) {
        k().timers().mdelay(ms);
    }

    /** {@code udelay(us)}: busy-waits; legal in atomic context. */
    public static void udelay(long us) {
        k().timers().udelay(us);
    }

    /** {@code ndelay(ns)}: busy-waits; legal in atomic context. */
    public static void ndelay(long ns) {
        k().timers().ndelay(ns);
    }

    // ------------------------------------------------------------------------------------------
    // High-resolution timers (include/linux/hrtimer.h)
    // ------------------------------------------------------------------------------------------

    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS = Set.of(HrTimer.Mode.ABS);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL = Set.of(HrTimer.Mode.REL);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS_PINNED = Set.of(HrTimer.Mode.ABS, HrTimer.Mode.PINNED);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL_PINNED = Set.of(HrTimer.Mode.REL, HrTimer.Mode.PINNED);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS_SOFT = Set.of(HrTimer.Mode.ABS, HrTimer.Mode.SOFT);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL_SOFT = Set.of(HrTimer.Mode.REL, HrTimer.Mode.SOFT);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_ABS_HARD = Set.of(HrTimer.Mode.ABS, HrTimer.Mode.HARD);
    public static final Set<HrTimer.Mode> HRTIMER_MODE_REL_HARD = Set.of(HrTimer.Mode.REL, HrTimer.Mode.HARD);
    public static final HrTimer.Restart HRTIMER_NORESTART = HrTimer.Restart.NORESTART;
    public static final HrTimer.Restart HRTIMER_RESTART = HrTimer.Restart.RESTART;

    /** {@code ktime_get()}: nanoseconds since boot on the kernel clock. */
    public static long ktime_get() {
        return k().hrtimers().now();
    }

    /** {@code ktime_get_ns()}: as {@link #ktime_get()} (a {@code ktime_t} is nanoseconds). */
    public static long ktime_get_ns() {
        return k().hrtimers().now();
    }

    /** {@code ktime_get_ts64(ts)}: {@code CLOCK_MONOTONIC} as seconds and nanoseconds. */
    public static Timespec64 ktime_get_ts64() {
        return Timespec64.ofNanos(k().hrtimers().now());
    }

    /** {@code ktime_get_real()}: {@code CLOCK_REALTIME}, nanoseconds since the epoch (see {@code HrTimers.realNow}). */
    public static long ktime_get_real() {
        return k().hrtimers().realNow();
    }

    /** {@code ktime_get_real_ns()}. */
    public static long ktime_get_real_ns() {
        return k().hrtimers().realNow();
    }

    /** {@code ktime_get_real_ts64(ts)}: {@code CLOCK_REALTIME} as seconds and nanoseconds. */
    public static Timespec64 ktime_get_real_ts64() {
        return k().hrtimers().realNowTs64();
    }

    /** {@code container_of(timer, type, field)} for an hrtimer: the object given to {@code new HrTimer(owner)}. */
    public static <T> T container_of(HrTimer timer, Class<T> type) {
        return timer.owner(type);
    }

    /** {@code hrtimer_setup(timer, function, CLOCK_MONOTONIC, mode)}. */
    public static void hrtimer_setup(HrTimer timer, HrTimer.Callback function, Set<HrTimer.Mode> mode) {
        k().hrtimers().setup(timer, callbackName(function), function, mode);
    }

    public static void hrtimer_start(HrTimer timer, long tim, Set<HrTimer.Mode> mode) {
        k().hrtimers().start(timer, tim, mode);
    }

    public static void hrtimer_start_range_ns(HrTimer timer, long tim, long delta, Set<HrTimer.Mode> mode) {
        k().hrtimers().startRange(timer, tim, delta, mode);
    }

    public static int hrtimer_cancel(HrTimer timer) {
        return k().hrtimers().cancel(timer);
    }

    public static int hrtimer_try_to_cancel(HrTimer timer) {
        return k().hrtimers().tryToCancel(timer);
    }

    public static long hrtimer_forward(HrTimer timer, long now, long interval) {
        return k().hrtimers().forward(timer, now, interval);
    }

    public static long hrtimer_forward_now(HrTimer timer, long interval) {
        return k().hrtimers().forwardNow(timer, interval);
    }

    public static boolean hrtimer_active(HrTimer timer) {
        return k().hrtimers().active(timer);
    }

    public static boolean hrtimer_is_queued(HrTimer timer) {
        return timer.isQueued();
    }

    public static boolean hrtimer_callback_running(HrTimer timer) {
        return k().hrtimers().callbackRunning(timer);
    }

    public static long hrtimer_get_remaining(HrTimer timer) {
        return k().hrtimers().remaining(timer);
    }

    // ------------------------------------------------------------------------------------------
    // Workqueues (include/linux/workqueue.h)
    // ------------------------------------------------------------------------------------------

    public static final int WQ_BH = Workqueue.WQ_BH;
    public static final int WQ_UNBOUND = Workqueue.WQ_UNBOUND;
    public static final int WQ_FREEZABLE = Workqueue.WQ_FREEZABLE;
    public static final int WQ_MEM_RECLAIM = Workqueue.WQ_MEM_RECLAIM;
    public static final int WQ_HIGHPRI = Workqueue.WQ_HIGHPRI;
    public static final int WQ_CPU_INTENSIVE = Workqueue.WQ_CPU_INTENSIVE;
    public static final int WQ_SYSFS = Workqueue.WQ_SYSFS;
    public static final int WQ_POWER_EFFICIENT = Workqueue.WQ_POWER_EFFICIENT;
    public static final int WQ_PERCPU = Workqueue.WQ_PERCPU;
    public static final int WQ_MAX_ACTIVE = Workqueue.WQ_MAX_ACTIVE;
    public static final int WQ_DFL_ACTIVE = Workqueue.WQ_DFL_ACTIVE;
    public static final int WORK_CPU_UNBOUND = Workqueues.WORK_CPU_UNBOUND;

    private static Workqueues wq() {
        return k().workqueues();
    }

    /** {@code DECLARE_WORK(name, func)}. */
    public static Work DECLARE_WORK(String name, Work.Func func) {
        return new Work(name, func);
    }

    /**
     * {@code INIT_WORK(work, func)}: also on an item in use — a queued one is reported as the kernel's debug
     * objects do and cancelled first ({@link Workqueues#initWork}).
     */
    public static void INIT_WORK(Work work, Work.Func func) {
        wq().initWork(work, callbackName(func), func);
    }

    /** {@code DECLARE_DELAYED_WORK(name, func)} / {@code INIT_DELAYED_WORK}. */
    public static DelayedWork DECLARE_DELAYED_WORK(String name, Work.Func func) {
        return new DelayedWork(name, func);
    }

    /** {@code container_of(work, type, member)}: the object recorded with {@link Work#container(Object)}. */
    public static <T> T container_of(Work work, Class<T> type) {
        return work.container(type);
    }

    public static boolean work_pending(Work work) {
        return work.isPending();
    }

    public static boolean delayed_work_pending(DelayedWork dwork) {
        return dwork.isPending();
    }

    public static Workqueue alloc_workqueue(String name, int flags, int max_active) {
        return wq().alloc(name, flags, max_active);
    }

    public static Workqueue alloc_ordered_workqueue(String name, int flags) {
        return wq().allocOrdered(name, flags);
    }

    public static Workqueue create_workqueue(String name) {
        return wq().createWorkqueue(name);
    }

    public static Workqueue create_singlethread_workqueue(String name) {
        return wq().createSinglethreadWorkqueue(name);
    }

    public static Workqueue create_freezable_workqueue(String name) {
        return wq().createFreezableWorkqueue(name);
    }

    public static void destroy_workqueue(Workqueue wq) {
        wq().destroy(wq);
    }

    public static Workqueue system_wq() {
        return wq().systemWq();
    }

    public static Workqueue system_highpri_wq() {
        return wq().systemHighpriWq();
    }

    public static Workqueue system_long_wq() {
        return wq().systemLongWq();
    }

    public static Workqueue system_unbound_wq() {
        return wq().systemUnboundWq();
    }

    public static Workqueue system_freezable_wq() {
        return wq().systemFreezableWq();
    }

    public static Workqueue system_power_efficient_wq() {
        return wq().systemPowerEfficientWq();
    }

    public static Workqueue system_bh_wq() {
        return wq().systemBhWq();
    }

    public static Workqueue system_bh_highpri_wq() {
        return wq().systemBhHighpriWq();
    }

    public static boolean queue_work(Workqueue wq, Work work) {
        return wq().queue(wq, work);
    }

    public static boolean queue_work_on(int cpu, Workqueue wq, Work work) {
        return wq().queueOn(cpu, wq, work);
    }

    public static boolean queue_delayed_work(Workqueue wq, DelayedWork dwork, long delay) {
        return wq().queueDelayed(wq, dwork, delay);
    }

    public static boolean queue_delayed_work_on(int cpu, Workqueue wq, DelayedWork dwork, long delay) {
        return wq().queueDelayedOn(cpu, wq, dwork, delay);
    }

    public static boolean mod_delayed_work(Workqueue wq, DelayedWork dwork, long delay) {
        return wq().modDelayed(wq, dwork, delay);
    }

    public static boolean mod_delayed_work_on(int cpu, Workqueue wq, DelayedWork dwork, long delay) {
        return wq().modDelayedOn(cpu, wq, dwork, delay);
    }

    public static boolean schedule_work(Work work) {
        return wq().schedule(work);
    }

    public static boolean schedule_work_on(int cpu, Work work) {
        return wq().scheduleOn(cpu, work);
    }

    public static boolean schedule_delayed_work(DelayedWork dwork, long delay) {
        return wq().scheduleDelayed(dwork, delay);
    }

    public static boolean schedule_delayed_work_on(int cpu, DelayedWork dwork, long delay) {
        return wq().scheduleDelayedOn(cpu, dwork, delay);
    }

    public static boolean flush_work(Work work) {
        return wq().flush(work);
    }

    public static boolean flush_delayed_work(DelayedWork dwork) {
        return wq().flushDelayed(dwork);
    }

    public static void flush_workqueue(Workqueue wq) {
        wq().flushWorkqueue(wq);
    }

    public static void drain_workqueue(Workqueue wq) {
        wq().drainWorkqueue(wq);
    }

    /** {@code flush_scheduled_work()}: deprecated in the kernel, which warns at run time; so do we. */
    public static void flush_scheduled_work() {
        wq().flushScheduledWork();
    }

    public static boolean cancel_work(Work work) {
        return wq().cancel(work);
    }

    public static boolean cancel_work_sync(Work work) {
        return wq().cancelSync(work);
    }

    public static boolean cancel_delayed_work(DelayedWork dwork) {
        return wq().cancelDelayed(dwork);
    }

    public static boolean cancel_delayed_work_sync(DelayedWork dwork) {
        return wq().cancelDelayedSync(dwork);
    }

    public static boolean disable_work(Work work) {
        return wq().disable(work);
    }

    public static boolean disable_work_sync(Work work) {
        return wq().disableSync(work);
    }

    public static boolean enable_work(Work work) {
        return wq().enable(work);
    }

    public static boolean enable_and_queue_work(Workqueue wq, Work work) {
        return wq().enableAndQueue(wq, work);
    }

    public static boolean disable_delayed_work(DelayedWork dwork) {
        return wq().disableDelayed(dwork);
    }

    public static boolean disable_delayed_work_sync(DelayedWork dwork) {
        return wq().disableDelayedSync(dwork);
    }

    public static boolean enable_delayed_work(DelayedWork dwork) {
        return wq().enableDelayed(dwork);
    }

    /** {@code current_work()}: the item running in the calling context, or null. */
    public static Work current_work() {
        return wq().currentWork();
    }

    // Workqueue helpers drivers use around their items (INIT_DELAYED_WORK on an embedded item,
    // to_delayed_work, container_of, work_busy, workqueue_congested, schedule_on_each_cpu, queue_work_node,
    // current_is_workqueue_rescuer).

    public static final int WORK_BUSY_PENDING = Work.WORK_BUSY_PENDING;
    public static final int WORK_BUSY_RUNNING = Work.WORK_BUSY_RUNNING;
    /** {@code NUMA_NO_NODE}, for {@link #queue_work_node}. */
    public static final int NUMA_NO_NODE = -1;

    /**
     * {@code INIT_DELAYED_WORK(dwork, func)} on a delayed item a driver embedded ({@code new DelayedWork()}), also
     * in use: an armed timer or a queued item is reported and stopped first ({@link Workqueues#initDelayedWork}).
     */
    public static void INIT_DELAYED_WORK(DelayedWork dwork, Work.Func func) {
        wq().initDelayedWork(dwork, callbackName(func), func);
    }

    /** {@code to_delayed_work(work)}: the delayed item whose work {@code work} is ({@link DelayedWork#of}). */
    public static DelayedWork to_delayed_work(Work work) {
        return DelayedWork.of(work);
    }

    /** {@code container_of(dwork, type, member)}: the object recorded with {@link DelayedWork#container(Object)}. */
    public static <T> T container_of(DelayedWork dwork, Class<T> type) {
        return dwork.container(type);
    }

    /** {@code work_busy(work)}: {@link #WORK_BUSY_PENDING} and/or {@link #WORK_BUSY_RUNNING}. */
    public static int work_busy(Work work) {
        return wq().workBusy(work);
    }

    /** {@code workqueue_congested(cpu, wq)}: items of {@code wq} wait over {@code max_active} on {@code cpu}. */
    public static boolean workqueue_congested(int cpu, Workqueue wq) {
        return wq().workqueueCongested(cpu, wq);
    }

    /** {@code schedule_on_each_cpu(func)}: runs {@code func} once on each CPU's {@code system_wq} worker and waits. */
    public static int schedule_on_each_cpu(Work.Func func) {
        return wq().scheduleOnEachCpu(callbackName(func), func);
    }

    /** {@code queue_work_node(node, wq, work)}: for unbound workqueues (one node, 0, here). */
    public static boolean queue_work_node(int node, Workqueue wq, Work work) {
        return wq().queueWorkNode(node, wq, work);
    }

    /** {@code current_is_workqueue_rescuer()}. */
    public static boolean current_is_workqueue_rescuer() {
        return wq().currentIsWorkqueueRescuer();
    }

    // ------------------------------------------------------------------------------------------
    // Cross-CPU calls (kernel/smp.c)
    // ------------------------------------------------------------------------------------------

    /** {@code smp_call_function_single(cpu, func, info, wait)}: 0, or {@code -ENXIO} for a CPU that does not exist. */
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
     */
    public static <T> void on_each_cpu(Consumer<T> func, T info, boolean wait) {
        Kernel k = k();
        java.util.BitSet all = new java.util.BitSet();
        all.set(0, k.cpus());
        Internals.machine(k).smpCallFunctionMany(all, new NamedCall<>(func, info), wait, true, "on_each_cpu");
    }

    /** {@code on_each_cpu_mask(mask, func, info, wait)}: {@link #on_each_cpu} for the CPUs in {@code mask}. */
    public static <T> void on_each_cpu_mask(java.util.BitSet mask, Consumer<T> func, T info, boolean wait) {
        Internals.machine(k()).smpCallFunctionMany(mask, new NamedCall<>(func, info), wait, true, "on_each_cpu_mask");
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
