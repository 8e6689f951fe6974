package dev.bottomhalf.workqueue;

import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.RunnableScheduledFuture;
import java.util.concurrent.TimeUnit;

import dev.bottomhalf.time.Jiffies;

/**
 * One task of a {@link WorkqueueScheduledExecutor}: a delayed work item ({@code struct delayed_work}) and the
 * {@link java.util.concurrent.ScheduledFuture} the caller holds. One-shot, fixed-rate or fixed-delay; a periodic
 * task re-arms its own delayed item at the end of each run. Created on the scheduling thread; run by a worker;
 * its future methods may be called from any thread.
 *
 * <p>Implementation notes. {@code targetJiffy} (volatile) is the jiffy the task is due at: the delayed item's
 * {@code expires} — the timer wheel fires it on the first tick after that jiffy (later on the wheel's upper
 * levels, by their granularity). Only the running worker moves it on. A cancel that comes while a run re-arms is
 * caught by a re-check: the run arms first, then reads the future's state (cancelled: it cancels what it armed);
 * the canceller sets the state first, then cancels the delayed item — so one of the two always sees the other.
 */
final class ScheduledTask<V> extends ExecutorTask<V> implements RunnableScheduledFuture<V> {
    /**
     * The longest delay armed at once: below the timer wheel's {@code WHEEL_TIMEOUT_MAX} at every HZ, which the
     * wheel would clamp to (firing early). A longer delay is armed in steps: a step that ends before the target
     * re-arms for the rest without running the task.
     */
    static final long MAX_ARM_JIFFIES = 1L << 26;

    final DelayedWork dw;
    /** 0: one-shot; > 0: fixed rate, the period in jiffies; < 0: fixed delay, minus the delay in jiffies. */
    private final long periodJiffies;
    private volatile long targetJiffy;

    ScheduledTask(WorkqueueExecutor executor, Callable<V> callable, DelayedWork dw, long targetJiffy) {
        super(executor, callable, dw.work());
        this.dw = dw;
        this.periodJiffies = 0;
        this.targetJiffy = targetJiffy;
    }

    ScheduledTask(WorkqueueExecutor executor, Runnable runnable, V result, DelayedWork dw, long targetJiffy,
            long periodJiffies) {
        super(executor, runnable, result, dw.work());
        this.dw = dw;
        this.periodJiffies = periodJiffies;
        this.targetJiffy = targetJiffy;
    }

    /** The jiffy the task (its next run) is due at. */
    long targetJiffy() {
        return targetJiffy;
    }

    @Override
    void arm() {
        long delay = Math.min(MAX_ARM_JIFFIES, Math.max(0, targetJiffy - executor.machine.jiffies()));
        executor.workqueues.queueDelayed(executor.wq, dw, delay);
    }

    @Override
    boolean withdraw() {
        try {
            return executor.workqueues.cancelDelayed(dw);
        } catch (IllegalStateException closed) {
            return false;
        }
    }

    @Override
    void runTask() {
        if (Jiffies.timeBefore(executor.machine.jiffies(), targetJiffy) && !finished()) {
            rearm(); // a step of a delay longer than MAX_ARM_JIFFIES ended: arm the rest, run nothing
            return;
        }
        if (periodJiffies == 0) {
            super.runTask();
            return;
        }
        if (runAndReset()) {
            executor.ranOnce();
            // Fixed rate: from the previous target, so lateness does not accumulate. Fixed delay: from now.
            targetJiffy = periodJiffies > 0 ? targetJiffy + periodJiffies : executor.machine.jiffies() - periodJiffies;
            rearm();
        }
    }

    /** Arms the next run (or the rest of a long delay) from the running item; see the class notes. */
    private void rearm() {
        if (isPeriodic() && executor.isShutdownRaw() || executor.wq.destroyed) {
            cancel(false); // a periodic task ends with its executor's shutdown
            return;
        }
        try {
            arm();
        } catch (IllegalStateException closed) {
            cancel(false); // the kernel no longer takes it; its close cancels what is armed anyway
            return;
        }
        if (finished()) {
            withdraw(); // cancelled while this run re-armed
        }
    }

    @Override
    public boolean isPeriodic() {
        return periodJiffies != 0;
    }

    /**
     * The time until the start of the target jiffy, on the kernel's clock (the manual clock in stepped mode);
     * zero or negative once it has been reached.
     */
    @Override
    public long getDelay(TimeUnit unit) {
        long ns = executor.machine.nanoTimeOfJiffy(targetJiffy) - executor.machine.clock().nanoTime();
        return unit.convert(ns, TimeUnit.NANOSECONDS);
    }

    /** Orders by target jiffy, then by submission; other {@link Delayed}s by {@link #getDelay}. */
    @Override
    public int compareTo(Delayed other) {
        if (other == this) {
            return 0;
        }
        if (other instanceof ScheduledTask<?> o && o.executor.machine == executor.machine) {
            long diff = targetJiffy - o.targetJiffy;
            if (diff != 0) {
                return diff < 0 ? -1 : 1;
            }
            return Long.compare(seq, o.seq);
        }
        return Long.compare(getDelay(TimeUnit.NANOSECONDS), other.getDelay(TimeUnit.NANOSECONDS));
    }
}
