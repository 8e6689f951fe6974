package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * Told when a context is about to sleep and when it runs again — the scheduler's hooks
 * ({@code wq_worker_sleeping} / {@code wq_worker_running}) that workqueue workers use for concurrency management;
 * set on a worker's context through {@link RuntimeAccess.Bridge#sleepListener}. Only the context's own thread
 * calls them.
 */
public interface SleepListener {
    void sleeping(ExecutionContext ctx);

    void running(ExecutionContext ctx);
}
