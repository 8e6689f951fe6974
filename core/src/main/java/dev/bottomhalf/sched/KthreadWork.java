package dev.bottomhalf.sched;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * A kthread work item ({@code struct kthread_work}, {@code kthread_init_work}/{@code DEFINE_KTHREAD_WORK}): a
 * function a {@link KthreadWorker} runs in its kthread, in process context. Queued with
 * {@link Kthreads#queueWork}; made by any thread.
 *
 * <p>Implementation notes: {@link #worker}, {@link #list} and {@link #canceling} are guarded by the lock
 * (monitor) of the worker the item was last queued on ({@code worker->lock}); {@code worker} is written once
 * per item and worker, volatile for the lock-free read of {@code kthread_flush_work}.
 */
public class KthreadWork {
    private final String name;
    final Consumer<KthreadWork> func;
    volatile KthreadWorker worker;
    /** The list the item is on ({@code work->node}): the worker's work list, its delayed list, or null. */
    Object list;
    int canceling;
    /** A flush's own item ({@code kthread_flush_work_fn}): not the user's, so a close that drops it does not list it. */
    boolean flushItem;

    /**
     * {@code kthread_init_work(work, fn)}.
     *
     * @param name the item's name, for reports
     * @param func run by the worker's kthread, given this item
     */
    public KthreadWork(String name, Consumer<KthreadWork> func) {
        this.name = Objects.requireNonNull(name, "name");
        this.func = Objects.requireNonNull(func, "func");
    }

    /**
     * The item's name, as given; any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * The worker it was queued on last ({@code work->worker}), or null.
     *
     * @return the worker, or null
     */
    public KthreadWorker worker() {
        return worker;
    }

    @Override
    public String toString() {
        return "kthread_work " + name;
    }
}
