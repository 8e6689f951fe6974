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

    /** {@code DECLARE_DELAYED_WORK(name, fn)} / {@code INIT_DELAYED_WORK}. */
    public DelayedWork(String name, Work.Func func) {
        this.work = new Work(Objects.requireNonNull(name, "name"), func);
    }

    /** {@code &dwork->work}: the work item, as its function receives it. */
    public Work work() {
        return work;
    }

    public String name() {
        return work.name();
    }

    /** {@code delayed_work_pending(dw)}: queued, or its timer is armed. */
    public boolean isPending() {
        return work.isPending();
    }

    /** Whether the delay timer is armed. */
    public boolean timerPending() {
        return timer.isPending();
    }

    @Override
    public String toString() {
        return "delayed_" + work + (timer.isPending() ? " timer expires=" + timer.expires() : "");
    }
}
