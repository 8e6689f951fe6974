package dev.bottomhalf.workqueue;

import java.util.Objects;

import dev.bottomhalf.time.TimerList;

/**
 * A delayed work item ({@code struct delayed_work}): a {@link Work} plus the IRQ-safe kernel timer that
 * queues it when the delay has passed. PENDING covers the whole timer period. Owned by its user; arming
 * allocates nothing.
 */
public final class DelayedWork {
    final Work work;
    final TimerList timer = new TimerList();
    /** The workqueue and CPU the timer will queue on; written before the timer is armed. */
    volatile Workqueue wq;
    volatile int cpu;
    /** The timer has been set up (lazily, on the first delayed queueing, by whoever owns PENDING). */
    volatile boolean timerReady;

    /**
     * {@code DECLARE_DELAYED_WORK(name, fn)} / {@code INIT_DELAYED_WORK}.
     *
     * @param name the item's name, for reports
     * @param func the work function, run once the delay has passed
     */
    public DelayedWork(String name, Work.Func func) {
        this.work = new Work(Objects.requireNonNull(name, "name"), func);
        work.delayed = this;
    }

    /**
     * A delayed item's function that receives the delayed item itself: what {@code to_delayed_work(work)} gives a
     * kernel function, without the look-up. It runs where a {@link Work.Func} runs (a kworker in process context,
     * or softirq context for a BH workqueue) and may re-arm its own item.
     */
    @FunctionalInterface
    public interface Func {
        /**
         * Runs the item.
         *
         * @param dwork the delayed item being run
         */
        void run(DelayedWork dwork);
    }

    /**
     * A delayed item whose function receives the {@link DelayedWork} itself, so that it can re-arm itself
     * ({@code queue_delayed_work(wq, dwork, delay)} from its own function) without {@code to_delayed_work}. With a
     * {@link Work.Func} the same is one line: {@code DelayedWork self = DelayedWork.of(work);}. Any thread.
     *
     * <pre>{@code
     * DelayedWork poll = DelayedWork.create("poll", dw -> {
     *     readSensor();
     *     kernel.workqueues().queueDelayed(wq, dw, Duration.ofMillis(100));   // again in 100 ms
     * });
     * }</pre>
     *
     * @param name the item's name
     * @param func the function, given the delayed item
     * @return a new idle delayed item
     * @throws NullPointerException when {@code name} or {@code func} is null
     */
    public static DelayedWork create(String name, Func func) {
        Objects.requireNonNull(func, "func");
        return new DelayedWork(name, work -> func.run(work.delayed));
    }

    /** An uninitialised delayed item, for {@code INIT_DELAYED_WORK(&dw, fn)} style code ({@link Workqueues#initDelayedWork}). */
    public DelayedWork() {
        this.work = new Work();
        work.delayed = this;
    }

    /**
     * {@code &dwork->work}: the work item, as its function receives it.
     *
     * @return the work item
     */
    public Work work() {
        return work;
    }

    /**
     * {@code to_delayed_work(work)}: the delayed item whose {@code work} member {@code work} is — what a delayed
     * item's function does with the {@link Work} it receives. Any thread.
     *
     * @param work the work of a delayed item
     * @return the delayed item
     * @throws IllegalArgumentException when {@code work} is a plain item (the kernel's {@code container_of}
     *         would compute a wrong pointer)
     * @throws IllegalArgumentException when {@code work} is not the work of a delayed item
     */
    public static DelayedWork of(Work work) {
        DelayedWork dw = Objects.requireNonNull(work, "work").delayed;
        if (dw == null) {
            throw new IllegalArgumentException("to_delayed_work(" + work.name() + "): not the work of a delayed work"
                    + " item");
        }
        return dw;
    }

    /**
     * Records the object that embeds this delayed item ({@link Work#container(Object)}); returns this.
     *
     * @param owner the embedding object
     * @return this delayed item
     */
    public DelayedWork container(Object owner) {
        work.container(owner);
        return this;
    }

    /**
     * The embedding object recorded with {@link #container(Object)}, as a {@code type} ({@code container_of}).
     *
     * @param <T> the container's type
     * @param type the container's class
     * @return the recorded object
     * @throws IllegalStateException when none was recorded, or it is not a {@code type}
     */
    public <T> T container(Class<T> type) {
        return work.container(type);
    }

    /**
     * The item's name (its work's); any thread.
     *
     * @return the name
     */
    public String name() {
        return work.name();
    }

    /**
     * {@code delayed_work_pending(dw)}: queued, or its timer is armed.
     *
     * @return true when pending
     */
    public boolean isPending() {
        return work.isPending();
    }

    /**
     * Whether the delay timer is armed.
     *
     * @return true while the timer is armed
     */
    public boolean timerPending() {
        return timer.isPending();
    }

    @Override
    public String toString() {
        return "delayed_" + work + (timer.isPending() ? " timer expires=" + timer.expires() : "");
    }
}
