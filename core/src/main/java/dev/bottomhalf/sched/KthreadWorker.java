package dev.bottomhalf.sched;

import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;

/**
 * A kthread worker ({@code struct kthread_worker}, {@code kthread_create_worker}): one kthread running
 * {@code kthread_worker_fn}, which runs the queued {@link KthreadWork} items one at a time in queue order.
 * Made by {@link Kthreads#createWorker}; any thread may queue.
 *
 * <p>Implementation notes: the monitor is {@code worker->lock}; it guards both lists and {@link #currentWork}.
 */
public final class KthreadWorker {
    private final String name;
    final int flags;
    final LinkedList<KthreadWork> workList = new LinkedList<>();          // guarded by this
    final List<KthreadWork> delayedWorkList = new ArrayList<>();          // guarded by this
    KthreadWork currentWork;                                                // guarded by this
    volatile Task task;

    KthreadWorker(String name, int flags) {
        this.name = name;
        this.flags = flags;
    }

    /**
     * The worker's name, its kthread's comm; any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * {@code worker->task}: the worker's kthread, or null once it stopped.
     *
     * @return the kthread's task, or null
     */
    public Task task() {
        return task;
    }

    /**
     * How many items are queued (not counting delayed ones whose timer has not fired). Any thread; a snapshot.
     *
     * @return the number of queued items
     */
    public synchronized int queued() {
        return workList.size();
    }

    @Override
    public String toString() {
        return "kthread_worker " + name;
    }
}
