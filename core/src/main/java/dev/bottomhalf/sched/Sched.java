package dev.bottomhalf.sched;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import static dev.bottomhalf.sched.Task.TASK_INTERRUPTIBLE;
import static dev.bottomhalf.sched.Task.TASK_KILLABLE;
import static dev.bottomhalf.sched.Task.TASK_NORMAL;
import static dev.bottomhalf.sched.Task.TASK_RUNNING;
import static dev.bottomhalf.sched.Task.TASK_UNINTERRUPTIBLE;
import static dev.bottomhalf.sched.Task.TASK_WAKEKILL;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.internal.runtime.SteppedScheduler;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.Timers;

/**
 * The scheduler as drivers use it, for one kernel: {@code current}, the task state
 * ({@code set_current_state}, {@code schedule}, {@code schedule_timeout}, {@code wake_up_process}), signals
 * ({@code signal_pending}, {@code send_sig}), wait queues ({@code wait_event*}, {@code prepare_to_wait},
 * {@code wake_up*}) and completions. The waits are process-context calls; the wake-ups work from any context
 * (hardirq, softirq, tasklet, timer, work item, another task). Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Every sleep is {@code schedule_timeout} of the timers' sleeping helpers
 * ({@code Timers.scheduleTimeout(timeout, call)}): the task sets its state, and sleeps through
 * {@code Machine.sleepUntil} until the state is {@link Task#TASK_RUNNING} again — so in stepped mode a task
 * thread drives the kernel and a kthread or kworker gives the baton away, in threaded mode the thread parks,
 * and a closing or panicking kernel ends the sleep with an exception. A waker changes the state with one
 * compare-and-set ({@code try_to_wake_up}, {@code ExecutionContext.wakeUpState}) and unparks the one thread
 * sleeping in that state, not the machine's other waiters; a {@code wake_up} with nobody queued is one
 * volatile read.</li>
 * <li>The lost-wake-up rule is the kernel's: the task writes its state (volatile) before it tests its
 * condition, the waker makes the condition true before it changes the state, so a wake-up between the test
 * and {@code schedule()} leaves the task running and {@code schedule()} returns at once.</li>
 * <li>Conditions are evaluated by the waiting task only, after each wake-up, as the kernel's macros do; they
 * must read volatile or atomic state (or state under a lock the waker also takes).</li>
 * <li>Signals: a pending signal is the Java thread's interrupt status, as everywhere in bottomhalf;
 * {@link #sendSig} interrupts a task thread and wakes it out of an interruptible (or, for {@code SIGKILL},
 * killable) sleep. Kernel threads (kthreads, kworkers, {@code ksoftirqd}, IRQ threads) ignore signals, as the
 * kernel's do.</li>
 * </ul>
 */
public final class Sched {
    /** {@code ERESTARTSYS}: an interruptible wait ended by a signal returns {@code -ERESTARTSYS}. */
    public static final int ERESTARTSYS = 512;
    /** {@code EINTR}. */
    public static final int EINTR = 4;
    /** {@code EINVAL}. */
    public static final int EINVAL = 22;
    /** {@code SIGINT}. */
    public static final int SIGINT = 2;
    /** {@code SIGKILL}: a fatal signal; it also ends {@code TASK_KILLABLE} sleeps. */
    public static final int SIGKILL = 9;
    /** {@code SIGUSR1}. */
    public static final int SIGUSR1 = 10;
    /** {@code SIGTERM}. */
    public static final int SIGTERM = 15;
    /** {@code _NSIG}: signals are 1..64. */
    private static final int NSIG = 64;

    private final Machine machine;
    private final Timers timers;
    private final AtomicInteger lastPid = new AtomicInteger();

    static {
        Subsystems.install(Subsystems.SchedAccess.class, new SchedWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Sched(Machine machine, Timers timers) {
        this.machine = Objects.requireNonNull(machine, "machine");
        this.timers = Objects.requireNonNull(timers, "timers");
    }

    Machine machine() {
        return machine;
    }

    Timers timers() {
        return timers;
    }

    // ------------------------------------------------------------------------------------------
    // Tasks
    // ------------------------------------------------------------------------------------------

    /**
     * {@code current}: the task of the calling context. In hardirq context, and in softirqs run at
     * {@code irq_exit}, on {@code cpu/N} it is CPU N's idle task {@code swapper/N} (pid 0) — the task the
     * interrupt interrupted; a task thread serving softirqs at its {@code local_bh_enable()} is itself; a
     * kthread, kworker, {@code ksoftirqd/N} or IRQ thread is its own task. Any thread attached to the kernel.
     *
     * @return the calling context's task
     */
    public Task current() {
        return taskOf(machine.current());
    }

    /** The task of {@code ctx}, made on first use (a pid is given then). */
    Task taskOf(ExecutionContext ctx) {
        Object t = RuntimeAccess.get().task(ctx);
        if (t != null) {
            return (Task) t;
        }
        return (Task) RuntimeAccess.get().taskIfAbsent(ctx, () -> newTask(ctx));
    }

    private Task newTask(ExecutionContext ctx) {
        return switch (ctx.role()) {
            case CPU -> new Task(ctx, "swapper/" + ctx.cpuId(), 0, null, null);
            case TASK -> new Task(ctx, ctx.name(), nextPid(), null, ctx.taskThread());
            default -> new Task(ctx, ctx.name(), nextPid(), null, null);
        };
    }

    int nextPid() {
        return lastPid.incrementAndGet();
    }

    /**
     * {@code set_current_state(state)}: a volatile write, ordered before the caller's next volatile read.
     *
     * @param state a {@code TASK_*} state
     */
    public void setCurrentState(int state) {
        RuntimeAccess.get().setTaskState(machine.current(), state);
    }

    /** {@code schedule()}: sleeps until woken when the task set a sleeping state, else yields ({@code cond_resched}). */
    public void schedule() {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (ctx.taskState() == TASK_RUNNING) {
            condReschedNoCheck(ctx);
            return;
        }
        sleep(ctx, Timers.MAX_SCHEDULE_TIMEOUT, "schedule");
    }

    /**
     * {@code schedule_timeout(timeout)}: sleeps in the state the caller set until woken or {@code timeout}
     * jiffies passed. Returns at once when the task is running (woken after setting its state) or, in an
     * interruptible or killable state, when a signal is pending for it.
     *
     * @param timeout jiffies to sleep at most, or {@link Timers#MAX_SCHEDULE_TIMEOUT}
     * @return the jiffies left, 0 when the time ran out ({@link Timers#MAX_SCHEDULE_TIMEOUT} for an untimed sleep)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long scheduleTimeout(long timeout) {
        machine.checkOpen();
        return sleep(machine.current(), timeout, "schedule_timeout");
    }

    /**
     * {@code schedule_timeout_killable(timeout)}: {@link Task#TASK_KILLABLE}, then {@link #scheduleTimeout}.
     *
     * @param timeout jiffies to sleep at most, or {@link Timers#MAX_SCHEDULE_TIMEOUT}
     * @return the jiffies left, 0 when the time ran out
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long scheduleTimeoutKillable(long timeout) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        RuntimeAccess.get().setTaskState(ctx, TASK_KILLABLE);
        return sleep(ctx, timeout, "schedule_timeout_killable");
    }

    /**
     * {@code schedule_timeout_idle(timeout)}: {@link Task#TASK_IDLE}, then {@link #scheduleTimeout}.
     *
     * @param timeout jiffies to sleep at most, or {@link Timers#MAX_SCHEDULE_TIMEOUT}
     * @return the jiffies left, 0 when the time ran out
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long scheduleTimeoutIdle(long timeout) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        RuntimeAccess.get().setTaskState(ctx, Task.TASK_IDLE);
        return sleep(ctx, timeout, "schedule_timeout_idle");
    }

    // Duration overloads: the timeout converted as msecs_to_jiffies converts (rounded up, clamped to
    // MAX_JIFFY_OFFSET, Jiffies.durationToJiffies); a negative timeout is an IllegalArgumentException.

    /**
     * {@link #scheduleTimeout(long)} with the timeout as a {@link Duration}. Process context.
     *
     * @param timeout how long to sleep at most, not negative
     * @return the time left, rounded to jiffies ({@link Duration#ZERO} when the time ran out)
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public Duration scheduleTimeout(Duration timeout) {
        return toDuration(scheduleTimeout(toJiffies(timeout)));
    }

    /**
     * {@link #scheduleTimeoutKillable(long)} with the timeout as a {@link Duration}. Process context.
     *
     * @param timeout how long to sleep at most, not negative
     * @return the time left, rounded to jiffies ({@link Duration#ZERO} when the time ran out)
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public Duration scheduleTimeoutKillable(Duration timeout) {
        return toDuration(scheduleTimeoutKillable(toJiffies(timeout)));
    }

    /**
     * {@link #scheduleTimeoutIdle(long)} with the timeout as a {@link Duration}. Process context.
     *
     * @param timeout how long to sleep at most, not negative
     * @return the time left, rounded to jiffies ({@link Duration#ZERO} when the time ran out)
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public Duration scheduleTimeoutIdle(Duration timeout) {
        return toDuration(scheduleTimeoutIdle(toJiffies(timeout)));
    }

    private long toJiffies(Duration timeout) {
        return Jiffies.durationToJiffies(timeout, machine.hz());
    }

    private Duration toDuration(long jiffies) {
        return Jiffies.jiffiesToDuration(jiffies, machine.hz());
    }

    /** A timed interruptible or killable wait's result as the Duration forms give it. */
    private static boolean interruptibleResult(long ret, String call) throws InterruptedException {
        if (ret == -ERESTARTSYS) {
            throw new InterruptedException(call + ": a signal is pending (-ERESTARTSYS)");
        }
        return ret > 0;
    }

    /** The sleep of every wait: {@code signal_pending_state}, then the timers' {@code schedule_timeout}. */
    long sleep(ExecutionContext ctx, long timeout, String call) {
        int state = ctx.taskState();
        if (state != TASK_RUNNING && signalPendingState(state, taskOf(ctx))) {
            // __schedule() does not put a task with a pending signal to sleep
            RuntimeAccess.get().setTaskState(ctx, TASK_RUNNING);
            return timeout;
        }
        return Subsystems.time().scheduleTimeout(timers, timeout, call);
    }

    /**
     * {@code wake_up_process(p)}: wakes {@code p} if it sleeps in {@link Task#TASK_NORMAL} (or is about to: it
     * set that state and has not called {@code schedule()} yet, which then returns at once); starts a kthread
     * made by {@code kthread_create}. Any context.
     *
     * @param p the task to wake
     * @return whether it woke the task (false when it was running)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean wakeUpProcess(Task p) {
        return wakeUpState(p, TASK_NORMAL);
    }

    /**
     * {@code wake_up_state(p, state)}: {@code try_to_wake_up} for the states in {@code state}. Any context.
     *
     * @param p the task to wake
     * @param state the {@code TASK_*} states it may be woken from
     * @return whether it woke the task
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean wakeUpState(Task p, int state) {
        machine.checkOpen();
        return tryToWakeUp(p, state);
    }

    boolean tryToWakeUp(Task p, int state) {
        if (!RuntimeAccess.get().wakeUpState(p.context(), state)) {
            return false;
        }
        Kthread k = p.kthread();
        if (k != null) {
            k.woken();
        }
        return true;
    }

    /**
     * {@code cond_resched()}: a voluntary reschedule point. Reports (as {@code might_sleep}) in atomic context; in
     * stepped mode a kworker or kthread lets another runnable thread of its CPU run first; in threaded mode the
     * thread yields. Process context.
     */
    public void condResched() {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (!ctx.mightSleep("cond_resched")) {
            return;
        }
        condReschedNoCheck(ctx);
    }

    private void condReschedNoCheck(ExecutionContext ctx) {
        if (ctx.inAtomic() || ctx.irqsDisabled()) {
            return;
        }
        if (machine.stepped()) {
            SteppedScheduler.of(machine).condResched();
        } else {
            Thread.yield();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Signals
    // ------------------------------------------------------------------------------------------

    /**
     * {@code signal_pending(p)}: for the calling task, its thread's interrupt status; for another task thread,
     * that thread's. Kernel threads have none. Any thread.
     *
     * @param p the task
     * @return true when a signal is pending
     */
    public boolean signalPending(Task p) {
        if (p.context() == ExecutionContext.currentOrNull()) {
            return Thread.currentThread().isInterrupted();
        }
        Thread t = p.thread();
        return t != null && t.isInterrupted();
    }

    /**
     * {@code fatal_signal_pending(p)}: a {@code SIGKILL} is pending. Any thread.
     *
     * @param p the task
     * @return true when a fatal signal is pending
     */
    public boolean fatalSignalPending(Task p) {
        return p.fatalSignal && signalPending(p);
    }

    /** {@code signal_pending_state(state, p)}. */
    boolean signalPendingState(int state, Task p) {
        if ((state & (TASK_INTERRUPTIBLE | TASK_WAKEKILL)) == 0 || !signalPending(p)) {
            return false;
        }
        return (state & TASK_INTERRUPTIBLE) != 0 || p.fatalSignal;
    }

    /**
     * {@code send_sig(sig, p, priv)}: makes a signal pending for task thread {@code p} — its Java thread is
     * interrupted (bottomhalf's model of a pending signal), {@code SIGKILL} is also remembered as fatal — and
     * wakes it from an interruptible sleep ({@code SIGKILL}: also from a killable one). Kernel threads (kthreads,
     * kworkers, {@code ksoftirqd}, IRQ threads, the idle tasks) ignore every signal, as the kernel's do without
     * {@code allow_signal}: nothing happens. Any context.
     *
     * <p>Where the kernel returns {@code -EINVAL} this Java API throws; the {@code dev.bottomhalf.linux} facade's
     * {@code send_sig} returns 0 or {@code -EINVAL}.
     *
     * @param sig the signal number, 1..64
     * @param p   the task
     * @throws KernelException {@code EINVAL} for a signal number outside 1..64
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void sendSig(int sig, Task p) {
        machine.checkOpen();
        if (sig < 1 || sig > NSIG) {
            throw new KernelException(Errno.EINVAL, "send_sig(" + sig + "): signals are numbered 1.." + NSIG);
        }
        Thread t = p.thread();
        if (p.isKthread() || t == null) {
            return;
        }
        if (sig == SIGKILL) {
            p.fatalSignal = true;
        }
        t.interrupt();
        tryToWakeUp(p, TASK_INTERRUPTIBLE | (sig == SIGKILL ? TASK_WAKEKILL : 0));
    }

    /** {@code flush_signals(current)}: forgets the calling task's pending signals (clears its interrupt status). */
    public void flushSignals() {
        Task p = current();
        p.fatalSignal = false;
        Thread.interrupted();
    }

    // ------------------------------------------------------------------------------------------
    // Wait queues (include/linux/wait.h, kernel/sched/wait.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code default_wake_function}: {@code try_to_wake_up(wq_entry->private, mode)}.
     *
     * @param e the entry being woken
     * @param mode the {@code TASK_*} states to wake from
     * @param wakeFlags the wake flags (unused)
     * @param key the wake-up's key (unused)
     * @return 1 when it woke the task, else 0
     */
    public static int defaultWakeFunction(WaitQueueEntry e, int mode, int wakeFlags, Object key) {
        return e.sched.tryToWakeUp(e.task, mode) ? 1 : 0;
    }

    /**
     * {@code autoremove_wake_function}: as {@link #defaultWakeFunction}, and a woken entry leaves the queue.
     *
     * @param e the entry being woken
     * @param mode the {@code TASK_*} states to wake from
     * @param wakeFlags the wake flags (unused)
     * @param key the wake-up's key (unused)
     * @return 1 when it woke the task, else 0
     */
    public static int autoremoveWakeFunction(WaitQueueEntry e, int mode, int wakeFlags, Object key) {
        int ret = defaultWakeFunction(e, mode, wakeFlags, key);
        if (ret != 0 && e.head != null) {
            e.head.remove(e);
        }
        return ret;
    }

    /**
     * {@code woken_wake_function}: marks the entry {@code WQ_FLAG_WOKEN}, then {@link #defaultWakeFunction}.
     *
     * @param e the entry being woken
     * @param mode the {@code TASK_*} states to wake from
     * @param wakeFlags the wake flags (unused)
     * @param key the wake-up's key (unused)
     * @return 1 when it woke the task, else 0
     */
    public static int wokenWakeFunction(WaitQueueEntry e, int mode, int wakeFlags, Object key) {
        e.flags |= WaitQueueEntry.WQ_FLAG_WOKEN;
        return defaultWakeFunction(e, mode, wakeFlags, key);
    }

    /**
     * {@code DEFINE_WAIT(name)}: an entry for the calling task with {@code autoremove_wake_function}.
     *
     * @return the new entry, not queued
     */
    public WaitQueueEntry defineWait() {
        return new WaitQueueEntry(this, current(), Sched::autoremoveWakeFunction, 0);
    }

    /**
     * {@code init_waitqueue_entry(entry, p)}: an entry for {@code p} with {@code default_wake_function}.
     *
     * @param p the task the entry wakes
     * @return the new entry, not queued
     */
    public WaitQueueEntry initWaitqueueEntry(Task p) {
        return new WaitQueueEntry(this, Objects.requireNonNull(p, "p"), Sched::defaultWakeFunction, 0);
    }

    /**
     * {@code init_waitqueue_func_entry(entry, func)}: a callback entry (no task), as {@code poll} uses.
     *
     * @param func called for each wake-up that reaches the entry
     * @return the new entry, not queued
     */
    public WaitQueueEntry initWaitqueueFuncEntry(WaitQueueEntry.WakeFunction func) {
        return new WaitQueueEntry(this, null, Objects.requireNonNull(func, "func"), 0);
    }

    /**
     * {@code add_wait_queue(wq, entry)}: non-exclusive, at the head. Any context.
     *
     * @param wq the wait queue
     * @param e the entry, not queued
     */
    public void addWaitQueue(WaitQueueHead wq, WaitQueueEntry e) {
        synchronized (wq) {
            e.flags &= ~WaitQueueEntry.WQ_FLAG_EXCLUSIVE;
            wq.addFirst(e);
        }
    }

    /**
     * {@code add_wait_queue_exclusive(wq, entry)}: exclusive, at the tail. Any context.
     *
     * @param wq the wait queue
     * @param e the entry, not queued
     */
    public void addWaitQueueExclusive(WaitQueueHead wq, WaitQueueEntry e) {
        synchronized (wq) {
            e.flags |= WaitQueueEntry.WQ_FLAG_EXCLUSIVE;
            wq.addLast(e);
        }
    }

    /**
     * {@code remove_wait_queue(wq, entry)}. Any context.
     *
     * @param wq the wait queue
     * @param e the queued entry
     */
    public void removeWaitQueue(WaitQueueHead wq, WaitQueueEntry e) {
        synchronized (wq) {
            wq.remove(e);
        }
    }

    /**
     * {@code prepare_to_wait(wq, entry, state)}: queues the entry (non-exclusive, at the head) unless it is
     * queued, then sets the task state. The caller then tests its condition and calls {@link #schedule()}.
     *
     * @param wq the wait queue
     * @param e the calling task's entry
     * @param state the {@code TASK_*} state to sleep in
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void prepareToWait(WaitQueueHead wq, WaitQueueEntry e, int state) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        synchronized (wq) {
            e.flags &= ~WaitQueueEntry.WQ_FLAG_EXCLUSIVE;
            if (!e.queued) {
                wq.addFirst(e);
            }
            RuntimeAccess.get().setTaskState(ctx, state);
        }
    }

    /**
     * {@code prepare_to_wait_exclusive(wq, entry, state)}: queues the entry exclusive, at the tail.
     *
     * @param wq the wait queue
     * @param e the calling task's entry
     * @param state the {@code TASK_*} state to sleep in
     * @return whether the queue was empty before (the caller is the first waiter)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean prepareToWaitExclusive(WaitQueueHead wq, WaitQueueEntry e, int state) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        boolean wasEmpty = false;
        synchronized (wq) {
            e.flags |= WaitQueueEntry.WQ_FLAG_EXCLUSIVE;
            if (!e.queued) {
                wasEmpty = wq.emptyLocked();
                wq.addLast(e);
            }
            RuntimeAccess.get().setTaskState(ctx, state);
        }
        return wasEmpty;
    }

    /**
     * {@code prepare_to_wait_event(wq, entry, state)}: as {@code prepare_to_wait} (exclusive entries at the
     * tail), except that with a signal pending for an interruptible or killable state it dequeues the entry and
     * returns {@code -ERESTARTSYS} instead of setting the state.
     *
     * @param wq the wait queue
     * @param e the calling task's entry
     * @param state the {@code TASK_*} state to sleep in
     * @return 0, or {@code -ERESTARTSYS} when a signal is pending for the state (the entry then left the queue)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long prepareToWaitEvent(WaitQueueHead wq, WaitQueueEntry e, int state) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        Task p = taskOf(ctx);
        synchronized (wq) {
            if (signalPendingState(state, p)) {
                wq.remove(e);
                return -ERESTARTSYS;
            }
            if (!e.queued) {
                if ((e.flags & WaitQueueEntry.WQ_FLAG_EXCLUSIVE) != 0) {
                    wq.addLast(e);
                } else {
                    wq.addFirst(e);
                }
            }
            RuntimeAccess.get().setTaskState(ctx, state);
        }
        return 0;
    }

    /**
     * {@code finish_wait(wq, entry)}: the task runs again and the entry leaves the queue if still on it.
     *
     * @param wq the wait queue
     * @param e the calling task's entry
     */
    public void finishWait(WaitQueueHead wq, WaitQueueEntry e) {
        RuntimeAccess.get().setTaskState(machine.current(), TASK_RUNNING);
        if (e.queued) { // list_empty_careful()
            synchronized (wq) {
                wq.remove(e);
            }
        }
    }

    /**
     * {@code __wake_up(wq, mode, nr_exclusive, key)}: wakes every non-exclusive waiter and up to
     * {@code nrExclusive} exclusive ones ({@code 0}: all), walking the queue from its head. Any context; with
     * nobody queued one volatile read.
     *
     * @param wq the wait queue
     * @param mode the {@code TASK_*} states to wake from
     * @param nrExclusive how many exclusive waiters to wake, 0 for all
     * @param key passed to the entries' wake functions
     * @return how many exclusive waiters it woke
     * @throws IllegalStateException when the kernel is closed or has panicked (only when someone waits)
     */
    public int wakeUpCommon(WaitQueueHead wq, int mode, int nrExclusive, Object key) {
        if (!wq.active()) {
            return 0;
        }
        machine.checkOpen();
        int remaining;
        synchronized (wq) {
            remaining = wq.wakeUpCommonLocked(mode, nrExclusive, 0, key);
        }
        return nrExclusive - remaining;
    }

    /**
     * {@code wake_up(wq)}: every non-exclusive waiter and one exclusive. Any context.
     *
     * @param wq the wait queue
     * @return how many exclusive waiters it woke
     */
    public int wakeUp(WaitQueueHead wq) {
        return wakeUpCommon(wq, TASK_NORMAL, 1, null);
    }

    /**
     * {@code wake_up_nr(wq, nr)}. Any context.
     *
     * @param wq the wait queue
     * @param nr how many exclusive waiters to wake, 0 for all
     * @return how many exclusive waiters it woke
     */
    public int wakeUpNr(WaitQueueHead wq, int nr) {
        return wakeUpCommon(wq, TASK_NORMAL, nr, null);
    }

    /**
     * {@code wake_up_all(wq)}. Any context.
     *
     * @param wq the wait queue
     * @return how many exclusive waiters it woke
     */
    public int wakeUpAll(WaitQueueHead wq) {
        return wakeUpCommon(wq, TASK_NORMAL, 0, null);
    }

    /**
     * {@code wake_up_interruptible(wq)}: only waiters sleeping in {@link Task#TASK_INTERRUPTIBLE}. Any context.
     *
     * @param wq the wait queue
     * @return how many exclusive waiters it woke
     */
    public int wakeUpInterruptible(WaitQueueHead wq) {
        return wakeUpCommon(wq, TASK_INTERRUPTIBLE, 1, null);
    }

    /**
     * {@code wake_up_interruptible_nr(wq, nr)}. Any context.
     *
     * @param wq the wait queue
     * @param nr how many exclusive waiters to wake, 0 for all
     * @return how many exclusive waiters it woke
     */
    public int wakeUpInterruptibleNr(WaitQueueHead wq, int nr) {
        return wakeUpCommon(wq, TASK_INTERRUPTIBLE, nr, null);
    }

    /**
     * {@code wake_up_interruptible_all(wq)}. Any context.
     *
     * @param wq the wait queue
     * @return how many exclusive waiters it woke
     */
    public int wakeUpInterruptibleAll(WaitQueueHead wq) {
        return wakeUpCommon(wq, TASK_INTERRUPTIBLE, 0, null);
    }

    /**
     * {@code wait_event(wq, condition)}: sleeps uninterruptibly until {@code condition} holds after a wake-up.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void waitEvent(WaitQueueHead wq, BooleanSupplier condition) {
        waitEventCommon(wq, condition, TASK_UNINTERRUPTIBLE, false, Timers.MAX_SCHEDULE_TIMEOUT, "wait_event");
    }

    /**
     * {@code wait_event_idle(wq, condition)}: as {@link #waitEvent}, in {@link Task#TASK_IDLE}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void waitEventIdle(WaitQueueHead wq, BooleanSupplier condition) {
        waitEventCommon(wq, condition, Task.TASK_IDLE, false, Timers.MAX_SCHEDULE_TIMEOUT, "wait_event_idle");
    }

    /**
     * {@code wait_event_timeout(wq, condition, timeout)}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @param timeout jiffies to wait at most
     * @return 0 when {@code condition} was still false when the time ran out; otherwise the jiffies left, at
     *         least 1 (also when it became true just as the time ran out)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long waitEventTimeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return waitEventCommon(wq, condition, TASK_UNINTERRUPTIBLE, false, timeout, "wait_event_timeout");
    }

    /**
     * {@code wait_event_interruptible(wq, condition)}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @return 0 when {@code condition} holds, {@code -ERESTARTSYS} when a signal (thread interrupt) ended the wait
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int waitEventInterruptible(WaitQueueHead wq, BooleanSupplier condition) {
        return (int) waitEventCommon(wq, condition, TASK_INTERRUPTIBLE, false, Timers.MAX_SCHEDULE_TIMEOUT,
                "wait_event_interruptible");
    }

    /**
     * {@code wait_event_interruptible_exclusive(wq, condition)}: an exclusive waiter (woken one at a time).
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @return 0 when {@code condition} holds, {@code -ERESTARTSYS} when a signal ended the wait
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int waitEventInterruptibleExclusive(WaitQueueHead wq, BooleanSupplier condition) {
        return (int) waitEventCommon(wq, condition, TASK_INTERRUPTIBLE, true, Timers.MAX_SCHEDULE_TIMEOUT,
                "wait_event_interruptible_exclusive");
    }

    /**
     * {@code wait_event_interruptible_timeout(wq, condition, timeout)}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS} on a signal, 0 when the time ran out with {@code condition} false, otherwise
     *         the jiffies left (at least 1)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long waitEventInterruptibleTimeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return waitEventCommon(wq, condition, TASK_INTERRUPTIBLE, false, timeout, "wait_event_interruptible_timeout");
    }

    /**
     * {@code wait_event_killable(wq, condition)}: 0, or {@code -ERESTARTSYS} when a {@code SIGKILL} ended it.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @return 0 when {@code condition} holds, {@code -ERESTARTSYS} when a {@code SIGKILL} ended the wait
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int waitEventKillable(WaitQueueHead wq, BooleanSupplier condition) {
        return (int) waitEventCommon(wq, condition, TASK_KILLABLE, false, Timers.MAX_SCHEDULE_TIMEOUT,
                "wait_event_killable");
    }

    /**
     * {@code wait_event_killable_timeout(wq, condition, timeout)}: as the interruptible form, for {@code SIGKILL}.
     *
     * @param wq the wait queue wakers use
     * @param condition tested before each sleep and after each wake-up
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS} on a {@code SIGKILL}, 0 when the time ran out, otherwise the jiffies left
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long waitEventKillableTimeout(WaitQueueHead wq, BooleanSupplier condition, long timeout) {
        return waitEventCommon(wq, condition, TASK_KILLABLE, false, timeout, "wait_event_killable_timeout");
    }

    /**
     * {@code wait_event_timeout(wq, condition, timeout)} with the timeout as a {@link Duration}, answering as
     * {@link java.util.concurrent.CountDownLatch#await(long, java.util.concurrent.TimeUnit)} does: whether
     * {@code condition} held (also when it became true just as the time ran out) rather than the jiffies left.
     * Process context; in atomic context it reports {@code might_sleep}'s BUG and returns whether
     * {@code condition} already holds.
     *
     * @param wq        the wait queue its wakers wake
     * @param condition the condition, evaluated after each wake-up
     * @param timeout   how long to wait at most, not negative
     * @return true when {@code condition} holds, false when the time ran out first
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public boolean waitEventTimeout(WaitQueueHead wq, BooleanSupplier condition, Duration timeout) {
        return waitEventTimeout(wq, condition, toJiffies(timeout)) > 0;
    }

    /**
     * {@code wait_event_interruptible_timeout} with the timeout as a {@link Duration}: as
     * {@link #waitEventTimeout(WaitQueueHead, BooleanSupplier, Duration)}, and a signal (the thread's interrupt)
     * ends the wait with an {@link InterruptedException} instead of {@code -ERESTARTSYS}. The signal stays pending
     * (the thread stays interrupted), as the kernel leaves it for the caller to handle; {@link #flushSignals()}
     * forgets it. Process context.
     *
     * @param wq        the wait queue its wakers wake
     * @param condition the condition, evaluated after each wake-up
     * @param timeout   how long to wait at most, not negative
     * @return true when {@code condition} holds, false when the time ran out first
     * @throws InterruptedException when a signal ended the wait
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public boolean waitEventInterruptibleTimeout(WaitQueueHead wq, BooleanSupplier condition, Duration timeout)
            throws InterruptedException {
        return interruptibleResult(waitEventInterruptibleTimeout(wq, condition, toJiffies(timeout)),
                "wait_event_interruptible_timeout");
    }

    /**
     * {@code wait_event_killable_timeout} with the timeout as a {@link Duration}: as the interruptible form
     * ({@link #waitEventInterruptibleTimeout(WaitQueueHead, BooleanSupplier, Duration)}), ended only by a
     * {@code SIGKILL}. Process context.
     *
     * @param wq        the wait queue its wakers wake
     * @param condition the condition, evaluated after each wake-up
     * @param timeout   how long to wait at most, not negative
     * @return true when {@code condition} holds, false when the time ran out first
     * @throws InterruptedException when a fatal signal ended the wait
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public boolean waitEventKillableTimeout(WaitQueueHead wq, BooleanSupplier condition, Duration timeout)
            throws InterruptedException {
        return interruptibleResult(waitEventKillableTimeout(wq, condition, toJiffies(timeout)),
                "wait_event_killable_timeout");
    }

    /**
     * {@code might_sleep()}, the fast test and {@code ___wait_event()}. In atomic context the wait is reported
     * as {@code might_sleep} reports it and does not sleep: it returns what it returns when the time runs out
     * (0), for an untimed interruptible wait {@code -ERESTARTSYS}, unless {@code condition} already holds.
     */
    private long waitEventCommon(WaitQueueHead wq, BooleanSupplier condition, int state, boolean exclusive,
            long timeout, String call) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        boolean timed = timeout != Timers.MAX_SCHEDULE_TIMEOUT;
        boolean interruptible = state == TASK_INTERRUPTIBLE || state == TASK_KILLABLE;
        boolean mayBlock = ctx.mightSleep(call);
        long ret = timed ? timeout : 0;
        if (timed) {
            boolean c = condition.getAsBoolean(); // ___wait_cond_timeout(condition)
            if (c && ret == 0) {
                ret = 1;
            }
            if (c || ret == 0) {
                return ret;
            }
        } else if (condition.getAsBoolean()) {
            return 0;
        }
        if (!mayBlock) {
            return timed || !interruptible ? 0 : -ERESTARTSYS;
        }
        WaitQueueEntry e = new WaitQueueEntry(this, taskOf(ctx), Sched::autoremoveWakeFunction,
                exclusive ? WaitQueueEntry.WQ_FLAG_EXCLUSIVE : 0);
        try {
            for (;;) {
                long intr = prepareToWaitEvent(wq, e, state);
                if (timed) {
                    boolean c = condition.getAsBoolean();
                    if (c && ret == 0) {
                        ret = 1;
                    }
                    if (c || ret == 0) {
                        break;
                    }
                } else if (condition.getAsBoolean()) {
                    break;
                }
                if (interruptible && intr != 0) {
                    return intr; // prepare_to_wait_event dequeued the entry and left the task running
                }
                ret = timed ? sleep(ctx, ret, call) : sleepUntimed(ctx, call);
            }
        } finally {
            finishWait(wq, e);
        }
        return ret;
    }

    private long sleepUntimed(ExecutionContext ctx, String call) {
        sleep(ctx, Timers.MAX_SCHEDULE_TIMEOUT, call);
        return 0;
    }

    // ------------------------------------------------------------------------------------------
    // Completions (kernel/sched/completion.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code reinit_completion(x)}: {@code done} back to 0.
     *
     * @param x the completion, with no waiters
     */
    public void reinitCompletion(Completion x) {
        x.done = 0;
    }

    /**
     * {@code complete(x)}: one more done (saturating at {@code UINT_MAX}), and the first waiter, in queue order,
     * is woken. Any context.
     *
     * @param x the completion
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void complete(Completion x) {
        machine.checkOpen();
        synchronized (x.wait) {
            if (x.done != Completion.UINT_MAX) {
                x.done++;
            }
            swakeUpLocked(x.wait);
        }
    }

    /**
     * {@code complete_all(x)}: {@code done} becomes {@code UINT_MAX} and every waiter is woken. Any context.
     *
     * @param x the completion
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void completeAll(Completion x) {
        machine.checkOpen();
        synchronized (x.wait) {
            x.done = Completion.UINT_MAX;
            while (!x.wait.emptyLocked()) {
                swakeUpLocked(x.wait);
            }
        }
    }

    /** {@code swake_up_locked}: wakes the first waiter and takes it off the queue, woken or not. */
    private void swakeUpLocked(WaitQueueHead q) {
        WaitQueueEntry curr = q.firstLocked();
        if (curr == null) {
            return;
        }
        tryToWakeUp(curr.task, TASK_NORMAL);
        q.remove(curr);
    }

    /**
     * {@code wait_for_completion(x)}: uninterruptibly, until a {@code complete} is there to consume.
     *
     * @param x the completion
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void waitForCompletion(Completion x) {
        waitForCommon(x, Timers.MAX_SCHEDULE_TIMEOUT, TASK_UNINTERRUPTIBLE, "wait_for_completion");
    }

    /**
     * {@code wait_for_completion_timeout(x, timeout)}.
     *
     * @param x the completion
     * @param timeout jiffies to wait at most
     * @return 0 when the time ran out, otherwise the jiffies left (at least 1)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long waitForCompletionTimeout(Completion x, long timeout) {
        return waitForCommon(x, timeout, TASK_UNINTERRUPTIBLE, "wait_for_completion_timeout");
    }

    /**
     * {@code wait_for_completion_interruptible(x)}: 0, or {@code -ERESTARTSYS} when a signal ended it.
     *
     * @param x the completion
     * @return 0, or {@code -ERESTARTSYS}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int waitForCompletionInterruptible(Completion x) {
        long t = waitForCommon(x, Timers.MAX_SCHEDULE_TIMEOUT, TASK_INTERRUPTIBLE,
                "wait_for_completion_interruptible");
        return t == -ERESTARTSYS ? -ERESTARTSYS : 0;
    }

    /**
     * {@code wait_for_completion_interruptible_timeout(x, timeout)}.
     *
     * @param x the completion
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS} on a signal, 0 when the time ran out, otherwise the jiffies left (at least 1)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long waitForCompletionInterruptibleTimeout(Completion x, long timeout) {
        return waitForCommon(x, timeout, TASK_INTERRUPTIBLE, "wait_for_completion_interruptible_timeout");
    }

    /**
     * {@code wait_for_completion_killable(x)}: 0, or {@code -ERESTARTSYS} when a {@code SIGKILL} ended it.
     *
     * @param x the completion
     * @return 0, or {@code -ERESTARTSYS}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int waitForCompletionKillable(Completion x) {
        long t = waitForCommon(x, Timers.MAX_SCHEDULE_TIMEOUT, TASK_KILLABLE, "wait_for_completion_killable");
        return t == -ERESTARTSYS ? -ERESTARTSYS : 0;
    }

    /**
     * {@code wait_for_completion_killable_timeout(x, timeout)}: as the interruptible form, for {@code SIGKILL}.
     *
     * @param x the completion
     * @param timeout jiffies to wait at most
     * @return {@code -ERESTARTSYS} on a {@code SIGKILL}, 0 when the time ran out, otherwise the jiffies left
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long waitForCompletionKillableTimeout(Completion x, long timeout) {
        return waitForCommon(x, timeout, TASK_KILLABLE, "wait_for_completion_killable_timeout");
    }

    /**
     * {@code wait_for_completion_timeout(x, timeout)} with the timeout as a {@link Duration}, answering as
     * {@link java.util.concurrent.CountDownLatch#await(long, java.util.concurrent.TimeUnit)} does: whether a
     * {@code complete} was consumed, rather than the jiffies left. Process context.
     *
     * @param x       the completion
     * @param timeout how long to wait at most, not negative
     * @return true when a done was consumed, false when the time ran out
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public boolean waitForCompletionTimeout(Completion x, Duration timeout) {
        return waitForCompletionTimeout(x, toJiffies(timeout)) > 0;
    }

    /**
     * {@code wait_for_completion_interruptible_timeout} with the timeout as a {@link Duration}: as
     * {@link #waitForCompletionTimeout(Completion, Duration)}, and a signal ends the wait with an
     * {@link InterruptedException} instead of {@code -ERESTARTSYS}; the signal stays pending (the thread stays
     * interrupted). Process context.
     *
     * @param x       the completion
     * @param timeout how long to wait at most, not negative
     * @return true when a done was consumed, false when the time ran out
     * @throws InterruptedException when a signal ended the wait
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public boolean waitForCompletionInterruptibleTimeout(Completion x, Duration timeout) throws InterruptedException {
        return interruptibleResult(waitForCompletionInterruptibleTimeout(x, toJiffies(timeout)),
                "wait_for_completion_interruptible_timeout");
    }

    /**
     * {@code wait_for_completion_killable_timeout} with the timeout as a {@link Duration}: as the interruptible
     * form, ended only by a {@code SIGKILL}. Process context.
     *
     * @param x       the completion
     * @param timeout how long to wait at most, not negative
     * @return true when a done was consumed, false when the time ran out
     * @throws InterruptedException when a fatal signal ended the wait
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public boolean waitForCompletionKillableTimeout(Completion x, Duration timeout) throws InterruptedException {
        return interruptibleResult(waitForCompletionKillableTimeout(x, toJiffies(timeout)),
                "wait_for_completion_killable_timeout");
    }

    /**
     * {@code try_wait_for_completion(x)}: consumes a done without sleeping. Any context.
     *
     * @param x the completion
     * @return false when none was there
     */
    public boolean tryWaitForCompletion(Completion x) {
        if (x.done == 0) {
            return false;
        }
        synchronized (x.wait) {
            if (x.done == 0) {
                return false;
            }
            if (x.done != Completion.UINT_MAX) {
                x.done--;
            }
            return true;
        }
    }

    /**
     * {@code completion_done(x)}: whether a done is there (a waiter would not sleep). Any context.
     *
     * @param x the completion
     * @return true when a done is there
     */
    public boolean completionDone(Completion x) {
        if (x.done == 0) {
            return false;
        }
        synchronized (x.wait) {
            return true; // waits for a complete() still holding the lock, as the kernel does
        }
    }

    /**
     * {@code __wait_for_common} / {@code do_wait_for_common}. In atomic context: reported as {@code might_sleep}
     * reports it, and it does not sleep: a done there is consumed, otherwise it returns 0 (for an untimed
     * interruptible or killable wait {@code -ERESTARTSYS}).
     */
    private long waitForCommon(Completion x, long timeout, int state, String call) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        boolean mayBlock = ctx.mightSleep(call);
        Task p = taskOf(ctx);
        WaitQueueEntry e = null;
        boolean slept = false;
        try {
            for (;;) {
                synchronized (x.wait) {
                    if (x.done != 0) {
                        if (e != null) {
                            x.wait.remove(e); // __finish_swait
                            RuntimeAccess.get().setTaskState(ctx, TASK_RUNNING);
                        }
                        if (x.done != Completion.UINT_MAX) {
                            x.done--;
                        }
                        return timeout == 0 ? 1 : timeout;
                    }
                    if (slept && timeout == 0) {
                        x.wait.remove(e);
                        RuntimeAccess.get().setTaskState(ctx, TASK_RUNNING);
                        return 0;
                    }
                    if (!mayBlock) {
                        return timeout == Timers.MAX_SCHEDULE_TIMEOUT && state != TASK_UNINTERRUPTIBLE ? -ERESTARTSYS
                                : 0;
                    }
                    if (e == null) {
                        e = new WaitQueueEntry(this, p, Sched::defaultWakeFunction, WaitQueueEntry.WQ_FLAG_EXCLUSIVE);
                    }
                    if (signalPendingState(state, p)) {
                        x.wait.remove(e);
                        RuntimeAccess.get().setTaskState(ctx, TASK_RUNNING);
                        return -ERESTARTSYS;
                    }
                    if (!e.queued) {
                        x.wait.addLast(e); // __prepare_to_swait
                    }
                    RuntimeAccess.get().setTaskState(ctx, state);
                }
                timeout = sleep(ctx, timeout, call);
                slept = true;
            }
        } finally {
            if (e != null && e.queued) { // the sleep failed: the kernel closed or panicked
                synchronized (x.wait) {
                    x.wait.remove(e);
                }
                RuntimeAccess.get().setTaskState(ctx, TASK_RUNNING);
            }
        }
    }
}
