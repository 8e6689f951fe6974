package dev.bottomhalf.workqueue;

import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import dev.bottomhalf.Kernel;

/**
 * A {@link ScheduledExecutorService} over one workqueue: a scheduled task is a delayed work item
 * ({@code queue_delayed_work}); {@code submit} and {@code execute} queue at once, as {@link WorkqueueExecutor}
 * does. Same threads and contexts as {@link WorkqueueExecutor}.
 *
 * <pre>{@code
 * WorkqueueScheduledExecutor ex = WorkqueueScheduledExecutor.on(kernel, kernel.workqueues().systemWq());
 * ScheduledFuture<?> poll = ex.scheduleAtFixedRate(this::pollLink, 0, 100, TimeUnit.MILLISECONDS);
 * ...
 * poll.cancel(false);                                       // cancel_delayed_work: no further run
 * }</pre>
 *
 * <ul>
 * <li><b>Resolution: jiffies.</b> A delay (and a period) is rounded up to whole jiffies, as the kernel's
 * {@code msecs_to_jiffies} does ({@link #toJiffies}): at HZ 1000, 1 ns to 1 ms is one jiffy. The task is due at
 * {@code jiffies + delay} (its {@code expires}); the timer wheel fires it on the first tick after that jiffy, and
 * a delay of 63 jiffies or more on its wheel level's granularity (at most about an eighth later: 100 jiffies
 * fire at +104). A delay of 0 or less queues at once. In stepped mode a task runs exactly when the stepper's
 * clock passes its jiffy and the tick runs.</li>
 * <li><b>Periodic tasks</b> re-arm their delayed item at the end of each run, so two runs never overlap. Fixed
 * rate: the next target is the previous target plus the period, so lateness does not accumulate (a run that
 * ends after its next target re-arms with delay 0: late runs follow one another until it has caught up).
 * Fixed delay: the next target is the jiffy the run ended plus the delay — on the wheel's level 0 a period of
 * {@code p} jiffies then repeats every {@code p + 1}. A run that throws ends the task: its future fails with
 * the exception and no further run is armed. {@code cancel} is {@code cancel_delayed_work}.</li>
 * <li><b>Shutdown</b> cancels periodic tasks (the JDK's {@code ScheduledThreadPoolExecutor} default); delayed
 * one-shot tasks still run when their delay has passed, and termination waits for them. The kernel's close
 * cancels what is only armed ({@code cancel_delayed_work}): those futures are then cancelled.</li>
 * <li>{@link ScheduledFuture#getDelay} is the time until the start of the task's target jiffy on the kernel's
 * clock; {@code compareTo} orders by target jiffy, then by submission.</li>
 * </ul>
 */
public final class WorkqueueScheduledExecutor extends WorkqueueExecutor implements ScheduledExecutorService {

    WorkqueueScheduledExecutor(Kernel kernel, Workqueue wq, boolean ownsWorkqueue) {
        super(kernel, wq, ownsWorkqueue);
    }

    /**
     * A scheduled executor over {@code wq}, which it does not own (see {@link WorkqueueExecutor#on}).
     *
     * @param kernel the kernel {@code wq} belongs to
     * @param wq the workqueue the tasks run on
     * @return the executor
     * @throws IllegalArgumentException if {@code wq} belongs to another kernel or has been destroyed
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public static WorkqueueScheduledExecutor on(Kernel kernel, Workqueue wq) {
        kernel.workqueues().machine().checkOpen();
        return new WorkqueueScheduledExecutor(kernel, wq, false);
    }

    /**
     * A scheduled executor over a workqueue it allocates and destroys on termination (see {@link
     * WorkqueueExecutor#alloc}).
     *
     * @param kernel the kernel to allocate on
     * @param name the workqueue's name
     * @param flags {@code WQ_*} bits
     * @param maxActive tasks that may run at once per CPU (per pool when unbound); 0 for the default
     * @return the executor
     * @throws IllegalArgumentException where {@code alloc_workqueue} returns NULL (after the kernel's WARN)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public static WorkqueueScheduledExecutor alloc(Kernel kernel, String name, int flags, int maxActive) {
        return new WorkqueueScheduledExecutor(kernel, allocated(kernel, () -> kernel.workqueues().alloc(name, flags, maxActive),
                name), true);
    }

    /**
     * Like {@link #alloc}, over {@code alloc_ordered_workqueue(name, flags)}.
     *
     * @param kernel the kernel to allocate on
     * @param name the workqueue's name
     * @param flags further {@code WQ_*} bits
     * @return the executor
     * @throws IllegalArgumentException where {@code alloc_ordered_workqueue} returns NULL (after the kernel's
     *   WARN)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public static WorkqueueScheduledExecutor allocOrdered(Kernel kernel, String name, int flags) {
        return new WorkqueueScheduledExecutor(kernel, allocated(kernel, () -> kernel.workqueues().allocOrdered(name, flags),
                name), true);
    }

    /**
     * {@code delay} in jiffies, rounded up as {@code msecs_to_jiffies} rounds ({@code usecs_to_jiffies} for finer
     * units); 0 for a delay of 0 or less.
     *
     * @param delay the delay in {@code unit}
     * @param unit the delay's unit
     * @return the delay in jiffies
     */
    public long toJiffies(long delay, TimeUnit unit) {
        Objects.requireNonNull(unit, "unit");
        if (delay <= 0) {
            return 0;
        }
        long ns = unit.toNanos(delay);
        long hz = machine.hz();
        long perSecond = 1_000_000_000L;
        long whole = ns / perSecond;
        if (whole > Long.MAX_VALUE / hz / 2) {
            return Long.MAX_VALUE / 2; // centuries: never comes
        }
        return whole * hz + ((ns % perSecond) * hz + perSecond - 1) / perSecond;
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
        Objects.requireNonNull(command, "command");
        long target = targetAfter(delay, unit);
        return accept(new ScheduledTask<Void>(this, command, null, delayedItem(command), target, 0));
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
        Objects.requireNonNull(callable, "callable");
        long target = targetAfter(delay, unit);
        return accept(new ScheduledTask<V>(this, callable, delayedItem(callable), target));
    }

    /**
     * Runs {@code command} first at {@code initialDelay}, then every {@code period} from that first target
     * (in jiffies, see the class notes), until cancelled, failed or shut down.
     *
     * @throws IllegalArgumentException if {@code period} is not positive
     */
    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
        return schedulePeriodic(command, initialDelay, period, unit, true);
    }

    /**
     * Runs {@code command} first at {@code initialDelay}, then {@code delay} after the end of each run (in
     * jiffies, see the class notes), until cancelled, failed or shut down.
     *
     * @throws IllegalArgumentException if {@code delay} is not positive
     */
    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
        return schedulePeriodic(command, initialDelay, delay, unit, false);
    }

    private ScheduledFuture<?> schedulePeriodic(Runnable command, long initialDelay, long period, TimeUnit unit,
            boolean fixedRate) {
        Objects.requireNonNull(command, "command");
        Objects.requireNonNull(unit, "unit");
        if (period <= 0) {
            throw new IllegalArgumentException("period must be positive: " + period + " " + unit);
        }
        long periodJiffies = toJiffies(period, unit);
        long target = targetAfter(initialDelay, unit);
        return accept(new ScheduledTask<Void>(this, command, null, delayedItem(command), target,
                fixedRate ? periodJiffies : -periodJiffies));
    }

    private long targetAfter(long delay, TimeUnit unit) {
        return machine.jiffies() + toJiffies(delay, unit);
    }

    private static DelayedWork delayedItem(Object task) {
        return new DelayedWork(ExecutorTask.itemName(task), ExecutorTask.RUN);
    }

    /** Periodic tasks end with the shutdown; one-shot delayed tasks still run. */
    @Override
    void onShutdown() {
        for (ExecutorTask<?> t : liveTasks()) {
            if (t instanceof ScheduledTask<?> st && st.isPeriodic()) {
                st.cancel(false);
            }
        }
    }
}
