package dev.bottomhalf.time;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import static dev.bottomhalf.time.Timers.MAX_SCHEDULE_TIMEOUT;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.ManualClock;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.internal.runtime.SteppedScheduler;

/**
 * The process-context sleeping helpers ({@code schedule_timeout*}, {@code msleep*}, {@code usleep_range}) and
 * the busy waits ({@code mdelay}/{@code udelay}/{@code ndelay}) behind {@link Timers}' public methods of the
 * same names. Package-private: callers use {@link Timers}.
 *
 * <p>Implementation notes. A sleep sets the task state of the caller's context
 * ({@code ExecutionContext.setTaskState}), arms an on-stack-style {@link TimerList} on the caller's CPU through
 * {@link Timers#mod} and waits until the state is running again: the timer's callback ({@code process_timeout})
 * wakes it with {@code ExecutionContext.wakeUpState}, as {@code wake_up_process} and the wait queues of
 * {@code dev.bottomhalf.sched} do, which unparks the sleeping thread alone (it registers itself with
 * {@code ExecutionContext.sleepingThread} first); the timer is removed with {@link Timers#deleteSync} on the way out, so no
 * callback outlives the sleep. Every sleep brackets itself with {@code ExecutionContext.sleepStarts/sleepEnds}, which is how a
 * workqueue pool learns that a worker sleeps. In stepped mode the waits and burns go through the
 * {@link SteppedScheduler} instead of parking or spinning.
 */
final class SleepingHelpers {
    private final Machine machine;
    private final Reports reports;
    private final Timers timers;

    SleepingHelpers(Machine machine, Timers timers) {
        this.machine = machine;
        this.reports = machine.reports();
        this.timers = timers;
    }

    /** {@code TASK_INTERRUPTIBLE}. */
    static final int TASK_INTERRUPTIBLE = 0x1;
    /** {@code TASK_UNINTERRUPTIBLE}. */
    static final int TASK_UNINTERRUPTIBLE = 0x2;
    /** {@code TASK_NORMAL}: the states {@code process_timeout}'s {@code wake_up_process} wakes. */
    static final int TASK_NORMAL = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE;

    /** {@link Timers#scheduleTimeoutInterruptible}. */
    long scheduleTimeoutInterruptible(long timeout) {
        return scheduleTimeoutIn(TASK_INTERRUPTIBLE, timeout, "schedule_timeout_interruptible");
    }

    /** {@link Timers#scheduleTimeoutUninterruptible}. */
    long scheduleTimeoutUninterruptible(long timeout) {
        return scheduleTimeoutIn(TASK_UNINTERRUPTIBLE, timeout, "schedule_timeout_uninterruptible");
    }

    private long scheduleTimeoutIn(int state, long timeout, String call) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        RuntimeAccess.get().setTaskState(ctx, state); // __set_current_state(state)
        return scheduleTimeout(ctx, timeout, call);
    }

    /** {@link Timers#scheduleTimeout(long, String)}: sleeps in the state the caller set. */
    long scheduleTimeout(long timeout, String call) {
        machine.checkOpen();
        return scheduleTimeout(machine.current(), timeout, call);
    }

    /**
     * {@code schedule_timeout(timeout)}: the caller set its task state ({@code set_current_state}); a running
     * task (a wake-up came between the state change and this call) returns at once, any other sleeps until a
     * wake-up of its state ({@code wake_up_process}, a wait queue, the timer's {@code process_timeout}) or, for
     * {@code TASK_INTERRUPTIBLE}, a pending signal (the thread interrupt). Always returns with the task running.
     */
    private long scheduleTimeout(ExecutionContext ctx, long timeout, String call) {
        if (!ctx.mightSleep(call)) {
            RuntimeAccess.get().setTaskState(ctx, 0);
            return 0; // reported: sleeping here would deadlock the CPU, so it does not sleep
        }
        if (timeout < 0) {
            reports.printk(KernelEvent.Kind.ERR, String.format("schedule_timeout: wrong timeout value %x", timeout));
            RuntimeAccess.get().setTaskState(ctx, 0);
            return 0;
        }
        int state = ctx.taskState();
        if (state == 0) {
            return timeout; // schedule() of a running task returns at once: no time passed
        }
        boolean interruptible = (state & TASK_INTERRUPTIBLE) != 0;
        if (interruptible && Thread.currentThread().isInterrupted()) {
            // signal_pending_state(): __schedule() does not put the task to sleep
            RuntimeAccess.get().setTaskState(ctx, 0);
            return timeout;
        }
        long expire = timeout == MAX_SCHEDULE_TIMEOUT ? Long.MAX_VALUE : machine.jiffies() + timeout;
        Sleeper sleeper = new Sleeper(ctx);
        TimerList timer = null;
        if (timeout != MAX_SCHEDULE_TIMEOUT) {
            timer = new TimerList();
            timer.init("process_timeout", sleeper, 0, ctx.cpuId());
            timer.internal = true; // the sleep's own timer: the sleep is the entry point, and close() reports the sleeper
            timers.mod(timer, expire);
        }
        RuntimeAccess.get().sleepStarts(ctx);
        RuntimeAccess.get().sleepingThread(ctx, Thread.currentThread()); // a waker unparks this thread alone
        try {
            // A wake-up of the task's state ends it (the timer's callback is one); an interrupt (a pending signal)
            // ends an interruptible sleep.
            machine.sleepUntil(() -> ctx.taskState() == 0, Long.MAX_VALUE, call, interruptible);
        } finally {
            RuntimeAccess.get().sleepingThread(ctx, null);
            RuntimeAccess.get().setTaskState(ctx, 0);
            RuntimeAccess.get().sleepEnds(ctx);
            if (timer != null && !sleeper.fired && !machine.closing()) {
                timers.deleteSync(timer); // woken early; a closing kernel cancels the timer itself
            }
        }
        if (timeout == MAX_SCHEDULE_TIMEOUT) {
            return MAX_SCHEDULE_TIMEOUT;
        }
        long left = expire - machine.jiffies();
        return left < 0 ? 0 : left;
    }

    /** {@code process_timeout}: the timer callback that wakes a sleeping task ({@code wake_up_process}). */
    private static final class Sleeper implements TimerList.Callback {
        private final ExecutionContext task;
        volatile boolean fired;

        Sleeper(ExecutionContext task) {
            this.task = task;
        }

        @Override
        public void run(TimerList timer) {
            fired = true;
            RuntimeAccess.get().wakeUpState(task, TASK_NORMAL);
        }
    }

    /** {@link Timers#msleep}. */
    void msleep(long ms) {
        msleepJiffies(Jiffies.msecsToJiffies(ms, machine.hz()));
    }

    /** {@code msleep} after the conversion: sleeps {@code timeout} jiffies uninterruptibly. */
    void msleepJiffies(long timeout) {
        while (timeout > 0) {
            timeout = scheduleTimeoutUninterruptible(timeout);
        }
    }

    /** {@link Timers#msleepInterruptible}. */
    long msleepInterruptible(long ms) {
        return Jiffies.jiffiesToMsecs(msleepInterruptibleJiffies(Jiffies.msecsToJiffies(ms, machine.hz())),
                machine.hz());
    }

    /** {@code msleep_interruptible} after the conversion: the jiffies left. */
    long msleepInterruptibleJiffies(long timeout) {
        while (timeout > 0 && !Thread.currentThread().isInterrupted()) {
            timeout = scheduleTimeoutInterruptible(timeout);
        }
        return timeout;
    }

    /** {@link Timers#usleepRange}. */
    void usleepRange(long minUs, long maxUs) {
        if (minUs < 0 || maxUs < minUs) {
            throw new IllegalArgumentException("usleep_range(" + minUs + ", " + maxUs + "): need 0 <= min <= max");
        }
        usleepRangeNs(Math.multiplyExact(minUs, 1_000L));
    }

    /** {@code usleep_range} after the checks: sleeps {@code minNs} nanoseconds, off the jiffy grid. */
    void usleepRangeNs(long minNs) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (!ctx.mightSleep("usleep_range")) {
            return;
        }
        long now = machine.clock().nanoTime();
        long deadline = now + minNs < now ? Long.MAX_VALUE : now + minNs;
        RuntimeAccess.get().sleepStarts(ctx);
        try {
            machine.sleepUntil(() -> false, deadline, "usleep_range", false);
        } finally {
            RuntimeAccess.get().sleepEnds(ctx);
        }
    }

    /** The stepped scheduler (stepped mode only); looked up once. */
    private volatile SteppedScheduler steppedScheduler;

    private SteppedScheduler steppedScheduler() {
        SteppedScheduler s = steppedScheduler;
        if (s == null) {
            s = SteppedScheduler.of(machine);
            steppedScheduler = s;
        }
        return s;
    }

    // ------------------------------------------------------------------------------------------
    // Busy-waiting (any context)
    // ------------------------------------------------------------------------------------------

    /** {@link Timers#mdelay}. */
    void mdelay(long ms) {
        requireDelay(ms, "mdelay");
        ndelay(Math.multiplyExact(ms, 1_000_000L));
    }

    /** {@link Timers#udelay}. */
    void udelay(long us) {
        requireDelay(us, "udelay");
        ndelay(Math.multiplyExact(us, 1_000L));
    }

    /** {@link Timers#ndelay}. */
    void ndelay(long ns) {
        machine.checkOpen();
        requireDelay(ns, "ndelay");
        if (ns == 0) {
            return;
        }
        if (machine.stepped() && machine.clock() instanceof ManualClock) {
            steppedScheduler().burn(ns);
            return;
        }
        long start = machine.clock().nanoTime();
        while (machine.clock().nanoTime() - start < ns) {
            Thread.onSpinWait();
        }
    }

    private static void requireDelay(long amount, String call) {
        if (amount < 0) {
            throw new IllegalArgumentException(call + "(" + amount + "): a delay cannot be negative");
        }
    }
}
