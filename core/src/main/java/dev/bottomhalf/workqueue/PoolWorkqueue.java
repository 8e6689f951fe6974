package dev.bottomhalf.workqueue;

/**
 * A {@code pool_workqueue}: the link between one workqueue and one worker pool. It carries the
 * {@code max_active} accounting ({@code nrActive} and the inactive list of items over the limit) and, per
 * flush color, the number of items in flight. Guarded by {@code pool.lock}.
 */
final class PoolWorkqueue {
    static final int NR_COLORS = 16;

    final Workqueue wq;
    final WorkerPool pool;
    int nrActive;
    final WorkList inactive = new WorkList();
    final int[] inFlight = new int[NR_COLORS];
    // Statistics (the kernel's pwq->stats, read by the workqueue monitor): guarded by pool.lock.
    long statTotal;
    long statRunNs;
    long statCpuIntensive;
    long statCmWakeups;
    long statMayday;
    long statRescued;

    PoolWorkqueue(Workqueue wq, WorkerPool pool) {
        this.wq = wq;
        this.pool = pool;
    }

    int totalInFlight() {
        int n = 0;
        for (int c : inFlight) {
            n += c;
        }
        return n;
    }

    @Override
    public String toString() {
        return "pwq[" + wq.name() + " on " + pool + " active=" + nrActive + " inactive=" + inactive.size() + "]";
    }
}
