package dev.bottomhalf.time;

import static dev.bottomhalf.time.Timers.MAX_SCHEDULE_TIMEOUT;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Machine;
import dev.bottomhalf.runtime.ManualClock;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.SteppedScheduler;

/**
 * The process-context sleeping helpers ({@code schedule_timeout*}, {@code msleep*}, {@code usleep_range}) and
 * the busy waits ({@code mdelay}/{@code udelay}/{@code ndelay}) behind {@link Timers}' public methods of the
 * same names. Package-private: callers use {@link Timers}.
 *
 * <p>Implementation notes. A sleep arms an on-stack-style {@link TimerList} on the caller's CPU through
 * {@link Timers#mod} and waits for its callback ({@code process_timeout}) to set a volatile flag and unpark
 * the thread; the timer is removed with {@link Timers#deleteSync} on the way out, so no callback outlives the
 * sleep. Every sleep brackets itself with {@code ExecutionContext.sleepStarts/sleepEnds}, which is how a
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

    /** {@link Timers#scheduleTimeoutInterruptible}. */
    long scheduleTimeoutInterruptible(long timeout) {
        return scheduleTimeout(timeout, true, "schedule_timeout_interruptible");
    }

    /** {@link Timers#scheduleTimeoutUninterruptible}. */
    long scheduleTimeoutUninterruptible(long timeout) {
        return scheduleTimeout(timeout, false, "schedule_timeout_uninterruptible");
    }

    private long scheduleTimeout(long timeout, boolean interruptible, String call) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (!ctx.mightSleep(call)) {
            return 0; // reported: sleeping here would deadlock the CPU, so it does not sleep
        }
        if (timeout < 0) {
            reports.printk(KernelEvent.Kind.ERR, String.format("schedule_timeout: wrong timeout value %x", timeout));
            return 0;
        }
        if (timeout == MAX_SCHEDULE_TIMEOUT && (!interruptible || machine.stepped())) {
            throw new IllegalArgumentException(call + "(MAX_SCHEDULE_TIMEOUT) would sleep forever: nothing can wake"
                    + (machine.stepped() ? " a sleep in stepped mode" : " an uninterruptible sleep here"));
        }
        long expire = timeout == MAX_SCHEDULE_TIMEOUT ? Long.MAX_VALUE : machine.jiffies() + timeout;
        Sleeper sleeper = new Sleeper();
        TimerList timer = new TimerList();
        timer.init("process_timeout", sleeper, 0, ctx.cpu().id());
        timer.internal = true; // the sleep's own timer: the sleep is the entry point, and close() reports the sleeper
        if (timeout != MAX_SCHEDULE_TIMEOUT) {
            timers.mod(timer, expire);
        }
        ctx.sleepStarts();
        try {
            // The timer's callback wakes the sleeper; an interrupt (a pending signal) ends an interruptible sleep.
            machine.sleepUntil(() -> sleeper.woken, Long.MAX_VALUE, call, interruptible);
        } finally {
            ctx.sleepEnds();
            if (!sleeper.woken && !machine.closing()) {
                timers.deleteSync(timer); // an interrupted sleep; a closing kernel cancels the timer itself
            }
        }
        if (timeout == MAX_SCHEDULE_TIMEOUT) {
            return MAX_SCHEDULE_TIMEOUT;
        }
        long left = expire - machine.jiffies();
        return left < 0 ? 0 : left;
    }

    /** {@code process_timeout}: the timer callback that wakes a sleeping task. */
    private final class Sleeper implements TimerList.Callback {
        volatile boolean woken;

        @Override
        public void run(TimerList timer) {
            woken = true;
            machine.wakeWaiters();
        }
    }

    /** {@link Timers#msleep}. */
    void msleep(long ms) {
        long timeout = Jiffies.msecsToJiffies(ms, machine.hz());
        while (timeout > 0) {
            timeout = scheduleTimeoutUninterruptible(timeout);
        }
    }

    /** {@link Timers#msleepInterruptible}. */
    long msleepInterruptible(long ms) {
        long timeout = Jiffies.msecsToJiffies(ms, machine.hz());
        while (timeout > 0 && !Thread.currentThread().isInterrupted()) {
            timeout = scheduleTimeoutInterruptible(timeout);
        }
        return Jiffies.jiffiesToMsecs(timeout, machine.hz());
    }

    /** {@link Timers#usleepRange}. */
    void usleepRange(long minUs, long maxUs) {
        if (minUs < 0 || maxUs < minUs) {
            throw new IllegalArgumentException("usleep_range(" + minUs + ", " + maxUs + "): need 0 <= min <= max");
        }
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (!ctx.mightSleep("usleep_range")) {
            return;
        }
        long deadline = machine.clock().nanoTime() + minUs * 1_000L;
        ctx.sleepStarts();
        try {
            machine.sleepUntil(() -> false, deadline, "usleep_range", false);
        } finally {
            ctx.sleepEnds();
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
