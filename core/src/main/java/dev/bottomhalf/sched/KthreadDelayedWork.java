package dev.bottomhalf.sched;

import java.util.function.Consumer;

import dev.bottomhalf.time.TimerList;

/**
 * A delayed kthread work item ({@code struct kthread_delayed_work}, {@code kthread_init_delayed_work}): a
 * {@link KthreadWork} with the timer that queues it when its delay has passed
 * ({@code kthread_delayed_work_timer_fn}, an IRQ-safe timer). Made by any thread.
 */
public final class KthreadDelayedWork extends KthreadWork {
    final TimerList timer = new TimerList();
    /** Whether {@link #timer} was set up (on the first queueing, on the kernel that queues it); guarded by the worker. */
    volatile boolean timerReady;

    /**
     * {@code kthread_init_delayed_work(dwork, fn)}.
     *
     * @param name the item's name, for reports
     * @param func run by the worker's kthread once the delay has passed
     */
    public KthreadDelayedWork(String name, Consumer<KthreadWork> func) {
        super(name, func);
    }

    /**
     * Whether its timer is armed. Any thread; a snapshot.
     *
     * @return true while the timer is armed
     */
    public boolean timerPending() {
        return timer.isPending();
    }
}
