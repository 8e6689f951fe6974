package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.internal.runtime.AdaptivePoll;
import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;

/**
 * A worker ({@code struct worker}): a {@code kworker/...} runtime thread of one pool, or the BH pool's
 * pseudo-worker (no thread; it runs inside the CPU's TASKLET/HI softirq).
 *
 * <p>Implementation notes: fields carry the ownership tags of the package legend
 * ({@code docs/subsystems/workqueue.md}, "Ownership"). Every field is guarded by the pool's lock, except that
 * the worker's own thread reads {@code currentWork} while running the item and {@code idle} (which only it
 * writes) in its lock-free idle poll, {@link #retired} is volatile (read by that poll), and {@link #spinning}
 * is changed by compare-and-set. Whether the worker counts in the pool's {@code nrRunning} is derived from its
 * state ({@link #counted()}), and every state change goes through a setter that adjusts the count, so it
 * stays exact.
 *
 * <p>An idle worker of a threaded, concurrency-managed pool polls before it parks. While it polls it is
 * {@link #spinning} and counted in the pool's {@code idleSpinners}: a producer that queues without the pool
 * lock and sees a spinner leaves the item to it instead of taking the lock to wake someone. A worker stops
 * spinning (with a CAS, so exactly one party decrements the count) before it parks, when it starts working
 * and when it is retired; whoever stops it then drains the pool's incoming items under the lock, so an item
 * pushed by a producer that counted on this worker is never left behind.
 */
final class Worker implements Agent {
    private static final VarHandle SPINNING;
    private static final VarHandle IN_FUNC;

    static {
        try {
            SPINNING = MethodHandles.lookup().findVarHandle(Worker.class, "spinning", boolean.class);
            IN_FUNC = MethodHandles.lookup().findVarHandle(Worker.class, "inFunc", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** [I] The pool this worker serves. */
    final WorkerPool pool;
    /** [I] Its id in the pool ({@code kworker/0:<id>}); −1 for a rescuer's stand-in. */
    final int id;
    /** [I] Its execution context; null for a BH pseudo-worker. */
    private final ExecutionContext ctx;
    /** [I] Its thread's name. */
    private final String name;
    /**
     * [LR] Set once, under the pool lock, after the thread was started ({@code WorkerPools.createWorker}); null
     * before.
     */
    volatile AgentHandle handle;

    /** [L] Items moved here because this worker is already running them (non-reentrancy). */
    final WorkList scheduled = new WorkList();

    /** [L] {@code current_work}: the item it runs (its own thread also reads it without the lock while running it). */
    Work currentWork;
    /** [L] {@code current_func}: the function of that instance (non-reentrancy compares both). */
    Work.Func currentFunc;
    /** [L] {@code current_pwq}: the pool-workqueue of the current item. */
    PoolWorkqueue currentPwq;
    /** [L] The current item's sequence number (what {@code flush_work} waits for). */
    long currentSeq;
    /** [L] {@code current_color}: the current item's flush color. */
    int currentColor;
    /**
     * [L] When the current item started — in stepped mode exactly; in threaded mode when its stretch began (see
     * {@link #runPwq}), a lower bound that the CPU-intensive check combines with its own previous run
     * ({@code WorkerPool.cmCheck}).
     */
    long startNs;
    /**
     * [L] Threaded mode: the pool-workqueue whose run time ({@code statRunNs}, {@code wq_monitor}'s CPUtime) this
     * worker is counting, for a stretch of consecutive items of that pool-workqueue; null between rounds. The clock
     * is read when a stretch begins and ends and on each tick of the pool's check, not per item
     * ({@code WorkerPool.processOneBeginLocked}).
     */
    PoolWorkqueue runPwq;
    /** [L] Since when this worker counts run time for {@link #runPwq}. */
    long runSinceNs;
    /** [L] The {@link #itemsStarted} count of the stretch's first item: the one item of it whose start is known. */
    long stretchFirstItem;

    /** [L] Executing items (between taking the first and going idle): {@code !WORKER_PREP}. */
    boolean working;
    /** [L] Blocked in one of the kernel's sleeping primitives ({@code wq_worker_sleeping}). */
    boolean sleeping;
    /** [L] Seen blocked in Java (a lock, I/O, park) by the pool's concurrency check. */
    boolean blocked;
    /** [L] {@code WORKER_CPU_INTENSIVE}: its current item does not count for concurrency. */
    boolean cpuIntensive;
    /**
     * [L/X] {@code WORKER_IDLE}: on the pool's idle list. Written under the lock by its own thread, which also reads
     * it in its lock-free poll.
     */
    boolean idle = true;
    /**
     * [A] Inside the work function (only then can a blocked thread state mean the item blocked); written by its own
     * thread, read by the check.
     */
    volatile boolean inFunc;
    /** [L] {@code last_active}: the jiffy it last went idle (idle-worker retirement). */
    long lastActive;
    /** [L] Items this worker has started; tells the per-tick check whether it sees the same item as last time. */
    long itemsStarted;
    // The per-tick concurrency check's view of the current item (threaded mode; read and written by the
    // check under the pool lock): which item it last saw, the thread's CPU time and the clock then, and the
    // CPU time the item is counted from.
    /** [L] The item the check last saw ({@link #itemsStarted} then). */
    long cmItem = -1;
    /** [L] The thread's CPU time at the check's last look. */
    long cmCpuNs;
    /** [L] The clock at the check's last look. */
    long cmWallNs;
    /** [L] The thread's CPU time the current item is counted from. */
    long cpuAtStartNs;
    /** [L] The clock time the current item is counted from, when the thread's CPU time cannot be read. */
    long cmSinceNs;
    /**
     * [LR] Retired by the idle cull (set under the lock): it takes no more work while its thread stops; its poll reads
     * it.
     */
    volatile boolean retired;
    /**
     * [A] Idle and polling, counted in the pool's {@code idleSpinners} (see the class notes). Changed by CAS through
     * SPINNING.
     */
    @SuppressWarnings("unused")
    private volatile boolean spinning;

    Worker(WorkerPool pool, int id, ExecutionContext ctx, String name) {
        this.pool = pool;
        this.id = id;
        this.ctx = ctx;
        this.name = name;
    }

    /** The work function is about to run. Context: the thread that runs it; no lock held. */
    void enterFunc() {
        IN_FUNC.setRelease(this, true); // (no fence: the check samples it, and only a later tick's look matters)
    }

    /** The work function returned (or threw). Context: the thread that ran it; no lock held. */
    void leaveFunc() {
        IN_FUNC.setRelease(this, false);
    }

    /**
     * Whether it counts in the pool's {@code nr_running}: working, and not sleeping, blocked or CPU-intensive.
     * LOCKING: the pool lock.
     */
    boolean counted() {
        return working && !sleeping && !blocked && !cpuIntensive;
    }

    // Each setter adjusts the pool's nrRunning by the difference it makes (WorkerPool.recountLocked). LOCKING:
    // the pool lock, held by the caller.

    void setWorkingLocked(boolean v) {
        assert pool.lockHeld();
        boolean before = counted();
        working = v;
        pool.recountLocked(before, counted());
    }

    void setSleepingLocked(boolean v) {
        assert pool.lockHeld();
        boolean before = counted();
        sleeping = v;
        pool.recountLocked(before, counted());
    }

    void setBlockedLocked(boolean v) {
        assert pool.lockHeld();
        boolean before = counted();
        blocked = v;
        pool.recountLocked(before, counted());
    }

    void setCpuIntensiveLocked(boolean v) {
        assert pool.lockHeld();
        boolean before = counted();
        cpuIntensive = v;
        pool.recountLocked(before, counted());
    }

    @Override
    public String name() {
        return name;
    }

    /**
     * The kworker's idle strategy: the configured daemon strategy, except that under the default one (spin
     * 50 µs, then park) the window adapts to the waits ({@link AdaptivePoll}): a worker whose items come further
     * apart than 50 µs soon parks as soon as it is idle, and a stream of items keeps it spinning. Why: a worker
     * that spun before it parked is not let preempt the thread that queues its next item and starts it only once
     * that thread blocks — about 10 µs on the measured host against 3 µs for one that parked at once
     * (docs/benchmarks.md §19). A strategy chosen explicitly is kept as it is. Context: the machine, when it
     * makes the worker's thread.
     */
    @Override
    public IdleStrategy idleStrategy(IdleStrategy configured) {
        return AdaptivePoll.adaptingTheDefault(configured);
    }

    /** The default idle strategy's spin window ({@link IdleStrategy#defaultStrategy()}): 50 µs. */
    static final long DEFAULT_SPIN_NS = AdaptivePoll.DEFAULT_MAX_NS;

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    /**
     * Starts polling: counts this idle worker in the pool's {@code idleSpinners}. Only for a threaded worker
     * of a concurrency-managed pool that is not retired. Under the pool lock or by the worker's own thread.
     */
    void startSpinning() {
        if (handle == null || retired || !pool.concurrencyManaged() || !SPINNING.compareAndSet(this, false, true)) {
            return;
        }
        pool.idleSpinners.incrementAndGet();
        if (retired && stopSpinning()) {
            pool.wakeForLeftItems(); // retired meanwhile: whatever was left to this worker
        }
    }

    /**
     * Stops polling. The caller must then drain the pool's incoming items (under the pool lock) if this
     * returns true: items pushed while this worker was counted may have been left to it. Any context (one CAS:
     * exactly one of racing callers stops it).
     *
     * @return true if this call stopped it (it was spinning)
     */
    boolean stopSpinning() {
        if (!SPINNING.compareAndSet(this, true, false)) {
            return false;
        }
        pool.idleSpinners.decrementAndGet();
        return true;
    }

    /** Whether it is polling; a snapshot. Any context. */
    boolean isSpinning() {
        return spinning;
    }

    /**
     * One turn of the worker's thread ({@code worker_thread}): an idle, polling worker with nothing to take
     * returns at once without the lock; otherwise a round of {@link WorkerPools#workerRound}. Context: its own
     * thread. LOCKING: none held; the round takes the pool lock.
     */
    @Override
    public int doWork() {
        if (idle && !retired) {
            if (!spinning) {
                startSpinning();
            }
            if (spinning && scheduled.isEmpty() && pool.incoming.isEmpty()
                    && (pool.worklist.isEmptySnapshot() || pool.nrRunningSnapshot > 0)) {
                return 0; // nothing for an idle worker: poll again without the lock
            }
        }
        return pool.owner.workerRound(this);
    }

    /**
     * Whether the worker has something to do before its thread parks; stops its poll first, so producers wake
     * it from now on. Context: its own thread (or the runtime on its behalf). LOCKING: takes the pool lock.
     */
    @Override
    public boolean hasWork() {
        AgentHandle h = handle;
        if (h != null && h.thread() == Thread.currentThread()) {
            stopSpinning(); // about to park: from now on producers must wake it (the lock below drains)
        }
        pool.lock();
        try {
            return !retired && (!scheduled.isEmpty() || pool.needMoreWorkerLocked());
        } finally {
            pool.unlock();
        }
    }

    @Override
    public String toString() {
        return name + (currentWork != null ? " running " + currentWork.name() : idle ? " idle" : "");
    }
}
