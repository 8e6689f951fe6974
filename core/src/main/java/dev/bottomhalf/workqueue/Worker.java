package dev.bottomhalf.workqueue;

import dev.bottomhalf.runtime.Agent;
import dev.bottomhalf.runtime.AgentHandle;
import dev.bottomhalf.runtime.ExecutionContext;

/**
 * A worker ({@code struct worker}): a {@code kworker/...} runtime thread of one pool, or the BH pool's
 * pseudo-worker (no thread; it runs inside the CPU's TASKLET/HI softirq).
 *
 * <p>Implementation notes: every field is guarded by the pool's lock, except that the worker's own thread
 * reads {@code currentWork} while running the item. Whether the worker counts in the pool's
 * {@code nrRunning} is derived from its state ({@link #counted()}), and every state change goes through
 * a setter that adjusts the count, so it stays exact.
 */
final class Worker implements Agent {
    final WorkerPool pool;
    final int id;
    private final ExecutionContext ctx;
    private final String name;
    AgentHandle handle;

    /** Items moved here because this worker is already running them (non-reentrancy). */
    final WorkList scheduled = new WorkList();

    Work currentWork;
    Work.Func currentFunc;
    PoolWorkqueue currentPwq;
    long currentSeq;
    int currentColor;
    long startNs;
    /**
     * The clock reading that ended the item this worker ran just before, within one round; the next item
     * takes it as its start instead of reading the clock again. {@link #NO_CHAIN} at the start of a round.
     */
    long chainNs = NO_CHAIN;
    static final long NO_CHAIN = Long.MIN_VALUE;

    /** Executing items (between taking the first and going idle): {@code !WORKER_PREP}. */
    boolean working;
    /** Blocked in one of the kernel's sleeping primitives ({@code wq_worker_sleeping}). */
    boolean sleeping;
    /** Seen blocked in Java (a lock, I/O, park) by the pool's concurrency check. */
    boolean blocked;
    /** {@code WORKER_CPU_INTENSIVE}: its current item does not count for concurrency. */
    boolean cpuIntensive;
    boolean idle = true;
    /** Inside the work function (only then can a blocked thread state mean the item blocked). */
    volatile boolean inFunc;
    /** {@code last_active}: the jiffy it last went idle (idle-worker retirement). */
    long lastActive;
    /** Retired by the idle cull: it takes no more work while its thread stops. */
    boolean retired;

    Worker(WorkerPool pool, int id, ExecutionContext ctx, String name) {
        this.pool = pool;
        this.id = id;
        this.ctx = ctx;
        this.name = name;
    }

    boolean counted() {
        return working && !sleeping && !blocked && !cpuIntensive;
    }

    private void recount(boolean before) {
        boolean after = counted();
        if (before != after) {
            pool.nrRunning += after ? 1 : -1;
        }
    }

    // Each setter adjusts the pool's nrRunning by the difference it makes. Under the pool lock.

    void setWorking(boolean v) {
        boolean before = counted();
        working = v;
        recount(before);
    }

    void setSleeping(boolean v) {
        boolean before = counted();
        sleeping = v;
        recount(before);
    }

    void setBlocked(boolean v) {
        boolean before = counted();
        blocked = v;
        recount(before);
    }

    void setCpuIntensive(boolean v) {
        boolean before = counted();
        cpuIntensive = v;
        recount(before);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    @Override
    public int doWork() {
        return pool.owner.workerRound(this);
    }

    @Override
    public boolean hasWork() {
        pool.lock.lock();
        try {
            return !retired && (!scheduled.isEmpty() || pool.needMoreWorker());
        } finally {
            pool.lock.unlock();
        }
    }

    @Override
    public String toString() {
        return name + (currentWork != null ? " running " + currentWork.name() : idle ? " idle" : "");
    }
}
