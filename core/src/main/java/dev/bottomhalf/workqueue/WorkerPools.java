package dev.bottomhalf.workqueue;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.WorkEvent;
import dev.bottomhalf.internal.runtime.RuntimeAccess;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.internal.runtime.SteppedScheduler;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.internal.runtime.SleepListener;

/**
 * The worker pools of one {@link Workqueues} and the agents that take their locks ({@code kernel/workqueue.c}
 * from {@code create_worker} to {@code rescuer_thread}): creating workers, the workers' duty cycle and
 * {@code process_one_work} around the function, the sleep hooks and the per-tick concurrency check, the BH
 * pools' rounds, idle-worker retirement, and maydays to rescuers. Thread-safe; package-private: the public
 * API is {@link Workqueues}.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Pools: per CPU a normal and a high-priority pool of {@code kworker/N:M[H]} threads
 * (concurrency-managed) and a normal and a high-priority BH pool run at the start of TASKLET_SOFTIRQ /
 * HI_SOFTIRQ of that CPU; two unbound pools ({@code kworker/uP:M}). Workers are runtime threads created
 * on demand. In stepped mode they are threads of the {@link SteppedScheduler}, which runs one at a time:
 * a worker that sleeps or burns CPU time gives the CPU to another worker, on the manual clock, so the
 * concurrency-management timelines of the kernel's documentation replay exactly (docs/subsystems/workqueue.md). The pools
 * are made by the constructor and never change; each pool's state is guarded by its own lock.</li>
 * <li>Calls: {@link Workqueues} calls in ({@link #createWorker}, {@link #currentWorker}, the pool look-ups, the
 * tunables), a {@link Worker}'s thread calls {@link #workerRound}, a {@link Rescuer}'s thread {@link #rescue},
 * TASKLET/HI softirq {@link #bhWorker}, each pool's per-tick check timer {@link WorkerPool#cmCheck}. What is
 * done under a pool lock is the pool's ({@link WorkerPool}'s {@code ...Locked} methods) and its pool-workqueues'
 * ({@link PoolWorkqueue}); this class strings those together around the parts that must run without the lock
 * (the work function, creating a worker, stopping a thread). Nothing calls back into {@link Workqueues} but
 * the idle-cull item, queued from the idle timer (no lock held) through the public {@code queue_work}.</li>
 * <li>PENDING is cleared in {@link WorkerPool#processOneBeginLocked} under the pool lock just before the
 * function is called, so a queue attempt during execution queues exactly one more execution.</li>
 * <li>Concurrency management: workers tell their pool when they sleep in the kernel's sleeping
 * primitives (the scheduler hooks). Blocking elsewhere (a Java lock, I/O, {@code park}) and items that hog
 * the CPU are found by a per-pool check on every tick while items wait behind a running worker: a
 * blocked worker stops counting, an item running longer than
 * {@link Workqueues#cpuIntensiveThresholdUs()} becomes CPU-intensive; either way an idle worker takes the
 * waiting items.</li>
 * <li>Items queued without the pool lock ({@code Workqueues.queueWithoutLock}) wait on the pool's incoming
 * list until a lock holder drains it ({@link WorkerPool#lock()}); a worker between two items drains only when
 * its worklist is empty ({@link WorkerPool#lockForWorker()}). Idle workers of a concurrency-managed pool poll
 * before they park ({@link Worker#startSpinning()}); every path that stops a poll without running the
 * worklist — parking, retirement — drains and kicks, so an item a producer left to a polling worker is
 * never stranded ({@link WorkerPool#wakeForLeftItems}, {@link WorkerPool#kickForIncoming}).</li>
 * <li>Creating a worker takes the pool lock itself; whoever learns under the lock that one is needed
 * ({@link WorkerPool#kickLocked} returns true) creates it after dropping the lock.</li>
 * <li>Fields carry the ownership tags of the package legend (docs/subsystems/workqueue.md, "Ownership").</li>
 * </ul>
 */
final class WorkerPools {
    /** {@code BH_WORKER_RESTARTS}: items per BH-pool invocation. */
    static final int BH_WORKER_RESTARTS = 10;
    /** {@code BH_WORKER_JIFFIES}: time per BH-pool invocation. */
    static final long BH_WORKER_NS = TimeUnit.MILLISECONDS.toNanos(2);

    /**
     * [I] The workqueue subsystem: used only to queue the idle-cull item through its public {@code queue_work},
     * as the kernel's {@code idle_worker_timeout} does.
     */
    private final Workqueues owner;
    /** [I] The runtime. */
    private final Machine machine;
    /** [I] The softirqs a BH pool raises. */
    private final Softirqs softirqs;
    /** [I] The timer wheel (concurrency checks, idle and mayday timers). */
    private final Timers timers;
    /** [I] Where reports go. */
    private final Reports reports;
    /** [I] The tracepoints. */
    private final Tracing tracing;
    /** [I] The per-CPU worker pools, [cpu][highpri]. */
    private final WorkerPool[][] cpuPools;
    /** [I] The per-CPU BH pools, [cpu][highpri]. */
    private final WorkerPool[][] bhPools;
    /** [I] The unbound pools, [highpri]. */
    private final WorkerPool[] unboundPools;
    /** [I] Every pool; filled by the constructor, never changed after. */
    private final List<WorkerPool> allPools = new ArrayList<>();
    /** [A] The worker of each kworker or rescuer context ({@code current_wq_worker}); a concurrent map. */
    private final Map<ExecutionContext, Worker> workersByContext = new ConcurrentHashMap<>();
    /**
     * [A] Stepped mode: runs the workers' threads one at a time. Made (and registered as the machine's
     * {@code stepped-scheduler} agent) when the first worker is created; null before that and in threaded
     * mode.
     */
    private volatile SteppedScheduler scheduler;
    /** [A] {@code workqueue.cpu_intensive_thresh_us}. */
    private volatile long cpuIntensiveThresholdUs = 10_000;
    /** [A] Items found CPU-intensive. */
    private final AtomicLong cpuIntensiveViolations = new AtomicLong();
    /** [A] Workers woken because a running worker slept, blocked or hogged. */
    private final AtomicLong cmWakeups = new AtomicLong();
    /** [I] A work function's oopses, rate-limited per work item. */
    private final RateLimiter oopses;

    /** [I] The lockup watchdog, the dumps and the statistics (armed by {@link WorkerPool#insertWorkLocked}). */
    private final WorkqueueWatchdog watchdog;
    /** [A] {@code workqueue_freezing} (see {@link #freezing()}). */
    private volatile boolean freezing;

    WorkerPools(Workqueues owner, Machine machine, Softirqs softirqs, Timers timers, List<Workqueue> workqueues) {
        this.owner = owner;
        this.machine = machine;
        this.softirqs = softirqs;
        this.timers = timers;
        this.reports = machine.reports();
        this.oopses = reports.limiter("process_one_work");
        this.tracing = machine.tracing();
        int cpus = machine.cpuCount();
        this.cpuPools = new WorkerPool[cpus][2];
        this.bhPools = new WorkerPool[cpus][2];
        int id = 0;
        for (int cpu = 0; cpu < cpus; cpu++) {
            for (int hi = 0; hi < 2; hi++) {
                WorkerPool bh = new WorkerPool(this, id++, cpu, hi == 1, true);
                bhPools[cpu][hi] = bh;
                allPools.add(bh);
            }
            for (int hi = 0; hi < 2; hi++) {
                WorkerPool p = new WorkerPool(this, id++, cpu, hi == 1, false);
                cpuPools[cpu][hi] = p;
                allPools.add(p);
            }
        }
        this.unboundPools = new WorkerPool[] {new WorkerPool(this, id++, -1, false, false),
            new WorkerPool(this, id, -1, true, false)};
        allPools.add(unboundPools[0]);
        allPools.add(unboundPools[1]);
        this.watchdog = new WorkqueueWatchdog(machine, timers, allPools, workqueues);
    }

    /** The runtime. Any context. */
    Machine machine() {
        return machine;
    }

    /** The softirqs a BH pool raises. Any context. */
    Softirqs softirqs() {
        return softirqs;
    }

    /** The timer wheel of the pools' timers. Any context. */
    Timers timers() {
        return timers;
    }

    /** The lockup watchdog over these pools. Any context. */
    WorkqueueWatchdog watchdog() {
        return watchdog;
    }

    /** The tracepoints. Any context. */
    Tracing tracing() {
        return tracing;
    }

    /** {@code workqueue_freezing}: whether freezable workqueues are frozen ({@code max_active} 0). Any context. */
    boolean freezing() {
        return freezing;
    }

    /** Sets {@link #freezing()}; by {@code Workqueues.freeze} / {@code thaw}, which then act on the pools. */
    void freezing(boolean on) {
        freezing = on;
    }

    /** The per-CPU pool of {@code cpu}: the worker pool, or the BH pool if {@code bh}. */
    WorkerPool perCpuPool(int cpu, boolean highpri, boolean bh) {
        return bh ? bhPools[cpu][highpri ? 1 : 0] : cpuPools[cpu][highpri ? 1 : 0];
    }

    WorkerPool unboundPool(boolean highpri) {
        return unboundPools[highpri ? 1 : 0];
    }

    /** Every pool, BH pools included (immutable after construction). */
    List<WorkerPool> allPools() {
        return allPools;
    }

    /**
     * {@code current_wq_worker}: the worker whose item is running in {@code ctx} (a kworker, or a BH
     * pseudo-worker in softirq), or null. Any context; no lock (a BH worker's current item is a snapshot).
     */
    Worker currentWorker(ExecutionContext ctx) {
        Worker w = workersByContext.get(ctx);
        if (w != null) {
            return w;
        }
        if (ctx.inServingSoftirq()) {
            for (WorkerPool pool : bhPools[ctx.cpuId()]) {
                if (pool.bhWorker.currentWork != null) {
                    return pool.bhWorker;
                }
            }
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------
    // Kicking a pool, creating workers
    // ------------------------------------------------------------------------------------------

    /**
     * {@code create_worker}: a worker for {@code pool}; it starts idle and picks up the worklist. Context: any
     * that may start a thread. LOCKING: the pool lock not held; taken twice (to add the worker, to publish its
     * handle).
     */
    void createWorker(WorkerPool pool) {
        Worker worker;
        if (machine.closed()) {
            return; // the threads are stopping: no new worker (what is queued runs on the workers there are, or
                    // close() cancels and reports it)
        }
        if (failWorkerCreation) {
            armMayday(pool, maydayInitialTimeout());
            return;
        }
        pool.lock();
        try {
            if (!pool.idle.isEmpty() || !pool.needMoreWorkerLocked()) {
                return; // someone else made one meanwhile, or the work is gone
            }
            int wid = pool.allocWorkerIdLocked();
            String name = pool.workerName(wid);
            ExecutionContext ctx = machine.newContext(ExecutionContext.Role.WORKER, name, pool.cpuForWorker(wid));
            worker = new Worker(pool, wid, ctx, name);
            pool.attachWorkerLocked(worker, true);
            workersByContext.put(ctx, worker);
            RuntimeAccess.get().sleepListener(ctx, new SleepListener() {
                @Override
                public void sleeping(ExecutionContext c) {
                    workerSleeping(workersByContext.get(c));
                }

                @Override
                public void running(ExecutionContext c) {
                    workerRunning(workersByContext.get(c));
                }
            });
        } finally {
            pool.unlock();
        }
        if (machine.stepped()) {
            steppedScheduler().adopt(worker); // before registering: the stepper must never run it itself
        }
        AgentHandle handle;
        try {
            handle = machine.register(worker, true);
        } catch (IllegalStateException closed) {
            // The kernel reached CLOSED between the check above and here: take the worker back out, so no item
            // is handed to a worker that has no thread.
            pool.lock();
            try {
                pool.detachWorkerLocked(worker);
            } finally {
                pool.unlock();
            }
            return;
        }
        // On a threaded kernel the worker's thread starts inside register() and may have run, found nothing and
        // parked before register() returned. A kick meanwhile (a producer's kickForIncoming, kickLocked) found this
        // worker as the most recently idled one but no handle to wake it through, and left: its item would wait
        // with every worker parked. So the handle is published under the pool lock — every kick reads it under
        // that lock — and the worker is woken once: whatever a kick before this point left for it is seen when it
        // re-checks (a wake of a thread that is not parked costs nothing).
        pool.lock();
        try {
            pool.publishHandleLocked(worker, handle);
        } finally {
            pool.unlock();
        }
        handle.wake();
    }

    // ------------------------------------------------------------------------------------------
    // Workers
    // ------------------------------------------------------------------------------------------

    /**
     * One round of a worker's duty cycle ({@code worker_thread}): leave idle, run the worklist while
     * {@code keep_working}, enter idle, kick or create if items still wait. Context: the worker's own thread.
     * LOCKING: takes the pool lock, drops it around each function ({@link #processOne}).
     */
    int workerRound(Worker worker) {
        WorkerPool pool = worker.pool;
        boolean create = false;
        int n = 0;
        pool.lock();
        try {
            if (worker.retired) {
                // (The idle cull stopped its poll and took over what producers left to it.)
                return 0;
            }
            n += runScheduled(worker);
            if (!pool.needMoreWorkerLocked()) {
                return n;
            }
            pool.workerLeaveIdleLocked(worker);
            do {
                Work w = pool.assignWorkLocked(worker);
                if (w == null) {
                    continue; // assign_work gave it to the worker already running it
                }
                processOne(worker, w);
                n++;
                n += runScheduled(worker);
            } while (pool.keepWorkingLocked());
            pool.workerEnterIdleLocked(worker);
            if (pool.tooManyWorkersLocked()) {
                armIdleTimer(pool, idleWorkerTimeoutSeconds * machine.hz());
            }
            if (pool.needMoreWorkerLocked()) {
                create = pool.kickLocked(worker.context());
            }
        } finally {
            pool.endRunLocked(worker);
            pool.unlock();
        }
        if (create) {
            createWorker(pool);
        }
        return n;
    }

    /**
     * Runs the items moved to {@code worker}'s scheduled list (non-reentrancy). Context: the worker's thread.
     * LOCKING: the pool lock, held by the caller; dropped around each function.
     */
    private int runScheduled(Worker worker) {
        int n = 0;
        Work w;
        boolean wasWorking = worker.working;
        if (!worker.scheduled.isEmpty() && !wasWorking) {
            worker.setWorkingLocked(true);
        }
        while ((w = worker.scheduled.pollFirst()) != null) {
            processOne(worker, w);
            n++;
        }
        if (!wasWorking && worker.working) {
            worker.setWorkingLocked(false);
        }
        return n;
    }

    /**
     * {@code process_one_work}: runs {@code w} (already unlinked) on {@code worker}: the pool's bookkeeping
     * before ({@link WorkerPool#processOneBeginLocked}), the function without the lock ({@link #callWorkFn}),
     * the bookkeeping after ({@link WorkerPool#processOneEndLocked}). Context: the worker's thread, the BH
     * pool's softirq, or a rescuer. LOCKING: called and returns with the pool lock held; drops it around the
     * function.
     */
    private void processOne(Worker worker, Work w) {
        WorkerPool pool = worker.pool;
        PoolWorkqueue pwq = w.pwq;
        boolean create = pool.processOneBeginLocked(worker, w, pwq);
        Work.Func fn = worker.currentFunc;
        pool.unlock();
        try {
            if (create) {
                createWorker(pool);
            }
            callWorkFn(worker, pwq.wq, w, fn);
            if (!pool.bh) {
                condResched();
            }
        } finally {
            pool.lockForWorker();
        }
        ExecutionContext own = worker.context();
        if (own != null && own.role() == ExecutionContext.Role.WORKER) {
            // A thread interrupt of a kworker is the running item's pending signal; it ends with the item
            // (flush_signals), so it never reaches the next item. Cleared under the pool lock: whoever interrupts a
            // worker for its current item does so under this lock after seeing the item current
            // (WorkerPool.runningLocked), so no interrupt can arrive between this clear and the next item. A BH item
            // runs on a CPU's thread, which clears it before going idle.
            Thread.interrupted();
        }
        pool.processOneEndLocked(worker, w, pwq);
    }

    /**
     * {@code cond_resched()} between items, as per-CPU and unbound workers do: in stepped mode the worker lets
     * another runnable thread of its CPU go first (a worker woken while this item finished), which is what
     * orders same-instant events the way the kernel's documented timelines show them. Nothing in threaded
     * mode, where the host scheduler preempts. Pool lock not held.
     */
    private void condResched() {
        SteppedScheduler s = scheduler;
        if (s != null) {
            s.condResched();
        }
    }

    /** The stepped scheduler of the workers, made on first use. Stepped mode only; any context. */
    SteppedScheduler steppedScheduler() {
        SteppedScheduler s = scheduler;
        if (s == null) {
            s = SteppedScheduler.of(machine);
            scheduler = s;
        }
        return s;
    }

    /**
     * Calls the work function with the tracepoints and lockdep's annotations around it; an exception is the
     * kernel's oops, a leaked preempt count or IRQ disable is reported and repaired. Context: as
     * {@link #processOne}. LOCKING: no pool lock held.
     */
    private void callWorkFn(Worker worker, Workqueue wq, Work w, Work.Func fn) {
        ExecutionContext own = worker.context();     // a kworker's or rescuer's own context; null for BH
        ExecutionContext ctx = own != null ? own : machine.current();
        int count = ctx.preemptCount();
        boolean irqsOff = ctx.irqsDisabled();
        if (tracing.on(Tracepoint.WORKQUEUE_EXECUTE_START)) {
            tracing.emit(Tracepoint.WORKQUEUE_EXECUTE_START, "work struct " + w.name() + ": function " + w.name());
        }
        WorkEvent jfr = Jfr.workBegin();
        worker.enterFunc();
        Subsystems.locking().workStarts(ctx, wq, wq.name(), fn.getClass(), w, w.name());
        try {
            fn.run(w);
        } catch (Throwable e) {
            if (SteppedScheduler.isShutdown(e)) {
                throw (Error) e; // the stepped kernel was closed while the item slept: unwind its thread
            }
            oopses.oops(w, worker, running -> "work " + running.currentWork.name() + " ("
                    + running.currentPwq.wq.name() + ")", e);
        } finally {
            Subsystems.locking().workEnds(ctx, wq, w);
            worker.leaveFunc();
            if (tracing.on(Tracepoint.WORKQUEUE_EXECUTE_END)) {
                tracing.emit(Tracepoint.WORKQUEUE_EXECUTE_END, "work struct " + w.name() + ": function " + w.name());
            }
            if (jfr != null) {
                Jfr.workEnd(jfr, wq.name(), w.name(), ctx.cpuId(), ctx.name());
            }
            int after = ctx.preemptCount();
            if (after != count || ctx.irqsDisabled() != irqsOff) {
                reports.bug(String.format("BUG: workqueue leaked atomic, lock or RCU: %s[%d]%n     preempt=0x%08x"
                        + " lock=0->0 RCU=0->0 workfn=%s", ctx.name(), Thread.currentThread().threadId(), after, w.name()),
                        new Throwable("process_one_work"));
                if (ctx.irqsDisabled() && !irqsOff) {
                    ctx.localIrqEnable();
                }
                RuntimeAccess.get().restorePreemptCount(ctx, count);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Concurrency management
    // ------------------------------------------------------------------------------------------

    /**
     * {@code wq_worker_sleeping} ({@link WorkerPool#workerSleeping}), from a worker's sleep hook. Context: the
     * worker's own thread. LOCKING: none held.
     */
    private void workerSleeping(Worker worker) {
        if (worker == null) {
            return;
        }
        worker.pool.workerSleeping(worker);
    }

    /**
     * {@code wq_worker_running} ({@link WorkerPool#workerRunning}), from a worker's sleep hook. Context: its own
     * thread.
     */
    private void workerRunning(Worker worker) {
        if (worker == null) {
            return;
        }
        worker.pool.workerRunning(worker);
    }

    /** Counts a worker woken because a running one slept, blocked or hogged (concurrency management). Any context. */
    void countCmWakeup() {
        cmWakeups.incrementAndGet();
    }

    /**
     * An item found running past the CPU-intensive threshold by {@link WorkerPool#cmCheck}: counted, and its
     * function reported from its 4th time on. Context: the check timer. LOCKING: the pool lock, held by the caller.
     */
    void cpuIntensiveFound(Work w, Work.Func func) {
        cpuIntensiveViolations.incrementAndGet();
        cpuIntensiveReport(w, func);
    }

    /** {@code wq_cpu_intensive_warning_thresh}. */
    static final int CPU_INTENSIVE_WARNING_THRESH = 4;
    /** [A] How often each function was found hogging the CPU ({@code wq_cpu_intensive_report}). */
    private final Map<Work.Func, AtomicLong> hogs = new ConcurrentHashMap<>();

    /**
     * {@code wq_cpu_intensive_report}: a function found hogging the CPU is reported from its 4th time on,
     * backing off exponentially (4, 5, 7, 11, 19, ... times).
     */
    private void cpuIntensiveReport(Work w, Work.Func func) {
        if (func == null) {
            return;
        }
        long cnt = hogs.computeIfAbsent(func, f -> new AtomicLong()).incrementAndGet();
        long n = cnt + 1 - CPU_INTENSIVE_WARNING_THRESH;
        if (cnt >= CPU_INTENSIVE_WARNING_THRESH && (n & (n - 1)) == 0) {
            reports.printk(KernelEvent.Kind.WARN, "workqueue: " + (w == null ? "?" : w.name()) + " hogged CPU for >"
                    + cpuIntensiveThresholdUs + "us " + cnt + " times, consider switching to WQ_UNBOUND");
        }
    }

    // The tunable and the counters behind Workqueues' public accessors of the same names.

    long cpuIntensiveThresholdUs() {
        return cpuIntensiveThresholdUs;
    }

    void cpuIntensiveThresholdUs(long us) {
        if (us < 0) {
            throw new IllegalArgumentException("cpu_intensive_thresh_us must be >= 0: " + us);
        }
        cpuIntensiveThresholdUs = us;
    }

    long cpuIntensiveViolations() {
        return cpuIntensiveViolations.get();
    }

    long cmWakeups() {
        return cmWakeups.get();
    }

    // ------------------------------------------------------------------------------------------
    // BH workqueues
    // ------------------------------------------------------------------------------------------

    /**
     * {@code bh_worker}: at the start of TASKLET/HI softirq, at most 10 items or 2 ms, then re-raise. Context:
     * softirq on the pool's CPU. LOCKING: takes the pool lock, dropped around each function.
     */
    void bhWorker(ExecutionContext ctx, boolean hi) {
        WorkerPool pool = bhPools[ctx.cpuId()][hi ? 1 : 0];
        pool.lock();
        try {
            if (pool.worklist.isEmpty()) {
                return;
            }
            Worker worker = pool.bhWorker;
            long end = machine.clock().nanoTime() + BH_WORKER_NS;
            int restarts = BH_WORKER_RESTARTS;
            pool.bhRoundBeginLocked();
            do {
                Work w = pool.takeFirstLocked();
                processOne(worker, w);
            } while (!pool.worklist.isEmpty() && --restarts > 0 && machine.clock().nanoTime() < end);
            pool.bhRoundEndLocked();
            if (!pool.worklist.isEmpty()) {
                Subsystems.softirq().raiseOn(softirqs, ctx, (hi ? SoftirqVector.HI : SoftirqVector.TASKLET).nr(),
                        false);
            }
        } finally {
            pool.endRunLocked(pool.bhWorker);
            pool.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Idle-worker retirement
    // ------------------------------------------------------------------------------------------

    /** {@code MAX_IDLE_WORKERS_RATIO}. */
    static final int MAX_IDLE_WORKERS_RATIO = 4;
    /** [A] {@code IDLE_WORKER_TIMEOUT} in seconds. */
    private volatile long idleWorkerTimeoutSeconds = 300;
    /** [A] Each pool's {@code idle_timer}, made when first armed; [M] each is armed under its own monitor. */
    private final Map<WorkerPool, TimerList> idleTimers = new ConcurrentHashMap<>();
    /** [A] Each pool's idle-cull item ({@code idle_cull_work}), made when first needed. */
    private final Map<WorkerPool, Work> cullWorks = new ConcurrentHashMap<>();

    /** {@link Workqueues#idleWorkerTimeoutSeconds()}. */
    long idleWorkerTimeoutSeconds() {
        return idleWorkerTimeoutSeconds;
    }

    void idleWorkerTimeoutSeconds(long seconds) {
        if (seconds < 1) {
            throw new IllegalArgumentException("the idle worker timeout must be >= 1 s: " + seconds);
        }
        idleWorkerTimeoutSeconds = seconds;
    }

    /** {@link Workqueues#workerCount}. */
    int workerCount(int cpu, boolean highpri) {
        WorkerPool pool = cpu < 0 ? unboundPools[highpri ? 1 : 0] : cpuPools[machine.cpu(cpu).id()][highpri ? 1 : 0];
        pool.lock();
        try {
            return pool.workers.size();
        } finally {
            pool.unlock();
        }
    }

    /** Arms the pool's {@code idle_timer} unless armed. Any context (under the pool lock or not). */
    private void armIdleTimer(WorkerPool pool, long delay) {
        TimerList t = idleTimers.computeIfAbsent(pool, p -> {
            TimerList timer = new TimerList();
            Subsystems.time().setupInternal(timers, timer, "idle_worker_timeout/" + p.id, x -> idleWorkerTimeout(p),
                    TimerList.TIMER_IRQSAFE);
            return timer;
        });
        synchronized (t) {
            if (!t.isPending()) {
                t.expires(machine.jiffies() + delay);
                timers.addOn(t, pool.cpu >= 0 ? pool.cpu : 0);
            }
        }
    }

    /**
     * {@code idle_worker_timeout}: if the longest-idle worker has been idle long enough, a work item on
     * {@code system_unbound_wq} (on {@code system_wq} for the unbound pools) retires the extra workers
     * (stopping a thread may sleep); else re-arm. The timer is armed only while there are too many idle
     * workers, so an idle kernel stops ticking for it. Context: the idle timer (TIMER softirq). LOCKING: takes
     * and drops the pool lock; queues with none held.
     */
    private void idleWorkerTimeout(WorkerPool pool) {
        long retireAt;
        pool.lock();
        try {
            if (!pool.tooManyWorkersLocked()) {
                return;
            }
            retireAt = pool.idle.get(0).lastActive + idleWorkerTimeoutSeconds * machine.hz();
        } finally {
            pool.unlock();
        }
        long now = machine.jiffies();
        if (Jiffies.timeBefore(now, retireAt)) {
            armIdleTimer(pool, retireAt - now);
            return;
        }
        Work cull = cullWorks.computeIfAbsent(pool, p -> new Work("idle_cull_fn/" + p.id, w -> idleCull(p)));
        if (pool.cpu >= 0) {
            owner.queue(owner.systemUnboundWq(), cull);
        } else {
            // The kernel culls from system_unbound_wq; for an unbound pool that is the pool itself, whose
            // culling worker then counts as busy and one extra idle worker stays. A per-CPU pool culls it.
            owner.queueOn(0, owner.systemWq(), cull);
        }
    }

    /**
     * {@code idle_cull_fn}: stops idle workers, longest idle first, while there are too many. Context: a
     * worker of a system workqueue (may sleep). LOCKING: takes the pool lock per victim, stops it without.
     */
    private void idleCull(WorkerPool pool) {
        for (;;) {
            Worker victim;
            pool.lock();
            try {
                if (!pool.tooManyWorkersLocked()) {
                    return;
                }
                Worker oldest = pool.idle.get(0);
                long retireAt = oldest.lastActive + idleWorkerTimeoutSeconds * machine.hz();
                if (Jiffies.timeBefore(machine.jiffies(), retireAt)) {
                    armIdleTimer(pool, retireAt - machine.jiffies());
                    return;
                }
                victim = pool.retireOldestIdleLocked();
            } finally {
                pool.unlock();
            }
            if (victim.stopSpinning()) {
                pool.wakeForLeftItems(); // producers may have left items to its poll
            }
            workersByContext.remove(victim.context());
            SteppedScheduler s = scheduler;
            if (s != null) {
                s.release(victim);
            }
            if (victim.handle != null) {
                victim.handle.stop();
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Rescuers (mayday)
    // ------------------------------------------------------------------------------------------

    /** [A] Fault injection: pools cannot create workers. */
    private volatile boolean failWorkerCreation;
    /** [A] Each pool's {@code mayday_timer}, made when first armed; [M] each is armed under its own monitor. */
    private final Map<WorkerPool, TimerList> maydayTimers = new ConcurrentHashMap<>();

    /** {@link Workqueues#failWorkerCreation}. */
    void failWorkerCreation(boolean fail) {
        failWorkerCreation = fail;
    }

    /** {@code MAYDAY_INITIAL_TIMEOUT}: HZ/100 jiffies, at least 2. */
    private long maydayInitialTimeout() {
        return Math.max(2, machine.hz() / 100);
    }

    /** Arms the pool's mayday timer ({@code pool->mayday_timer}) unless armed. Any context. */
    private void armMayday(WorkerPool pool, long delay) {
        TimerList t = maydayTimers.computeIfAbsent(pool, p -> {
            TimerList timer = new TimerList();
            Subsystems.time().setupInternal(timers, timer, "pool_mayday_timeout/" + p.id, x -> maydayTimeout(p),
                    TimerList.TIMER_IRQSAFE);
            return timer;
        });
        synchronized (t) {
            if (!t.isPending()) {
                t.expires(machine.jiffies() + delay);
                timers.addOn(t, pool.cpu >= 0 ? pool.cpu : 0);
            }
        }
    }

    /**
     * {@code pool_mayday_timeout}: the pool still needs a worker it could not create — every rescuer whose
     * workqueue has items waiting in this pool gets a mayday; creation is retried, and the timer re-armed
     * every {@code MAYDAY_INTERVAL} while the pool starves. Context: the mayday timer. LOCKING: takes and drops
     * the pool lock.
     */
    private void maydayTimeout(WorkerPool pool) {
        boolean starving;
        pool.lock();
        try {
            starving = pool.needMoreWorkerLocked() && pool.idle.isEmpty();
            if (starving) {
                pool.sendMaydaysLocked();
            }
        } finally {
            pool.unlock();
        }
        if (starving) {
            if (failWorkerCreation) {
                armMayday(pool, Math.max(1, machine.hz() / 10));
            } else {
                createWorker(pool);
            }
        }
    }

    /**
     * {@code rescuer_thread}: runs, in the starving pool, the items of the rescuer's workqueue that wait there.
     * Context: the rescuer's thread. LOCKING: takes the pool lock, dropped around each function.
     */
    int rescue(Rescuer rescuer, PoolWorkqueue pwq) {
        WorkerPool pool = pwq.pool;
        Worker rw = new Worker(pool, -1, rescuer.context(), rescuer.name());
        workersByContext.put(rescuer.context(), rw);
        int n = 0;
        pool.lock();
        try {
            pool.attachWorkerLocked(rw, false);
            pool.moveToRescuerLocked(pwq, rw);
            Work w;
            while ((w = rw.scheduled.pollFirst()) != null) {
                processOne(rw, w);
                pwq.countRescuedLocked();
                n++;
            }
            pool.detachWorkerLocked(rw);
        } finally {
            pool.endRunLocked(rw);
            pool.unlock();
            workersByContext.remove(rescuer.context());
        }
        return n;
    }
}
