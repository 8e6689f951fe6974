package dev.bottomhalf.workqueue;

import static dev.bottomhalf.workqueue.Workqueue.WQ_BH;
import static dev.bottomhalf.workqueue.Workqueue.WQ_CPU_INTENSIVE;
import static dev.bottomhalf.workqueue.Workqueue.WQ_DFL_ACTIVE;
import static dev.bottomhalf.workqueue.Workqueue.WQ_FREEZABLE;
import static dev.bottomhalf.workqueue.Workqueue.WQ_HIGHPRI;
import static dev.bottomhalf.workqueue.Workqueue.WQ_MAX_ACTIVE;
import static dev.bottomhalf.workqueue.Workqueue.WQ_MEM_RECLAIM;
import static dev.bottomhalf.workqueue.Workqueue.WQ_ORDERED;
import static dev.bottomhalf.workqueue.Workqueue.WQ_PERCPU;
import static dev.bottomhalf.workqueue.Workqueue.WQ_POWER_EFFICIENT;
import static dev.bottomhalf.workqueue.Workqueue.WQ_SYSFS;
import static dev.bottomhalf.workqueue.Workqueue.WQ_UNBOUND;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

import dev.bottomhalf.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.SteppedScheduler;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.tasklet.Tasklets;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;

/**
 * The workqueue subsystem of one kernel ({@code kernel/workqueue.c}): worker pools, workqueues, the system
 * workqueues, and every operation on {@link Work} and {@link DelayedWork}. Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Pools: per CPU a normal and a high-priority pool of {@code kworker/N:M[H]} threads
 * (concurrency-managed) and a normal and a high-priority BH pool run at the start of TASKLET_SOFTIRQ /
 * HI_SOFTIRQ of that CPU; two unbound pools ({@code kworker/uP:M}). Workers are runtime threads created
 * on demand. In stepped mode they are threads of the {@link SteppedScheduler}, which runs one at a time:
 * a worker that sleeps or burns CPU time gives the CPU to another worker, on the manual clock, so the
 * concurrency-management timelines of the kernel's documentation replay exactly (items 40–41).</li>
 * <li>Queueing ({@code __queue_work}): PENDING is claimed with one CAS that also refuses disabled items;
 * the item is linked under its pool's lock, on the worklist if its pool-workqueue has an active slot, on
 * the inactive list otherwise; the pool is kicked (an idle worker woken, a worker created, or the BH
 * softirq raised). An item still running in another pool of the same workqueue is queued there
 * (non-reentrancy); a pool never lets two of its workers run the same item (the second is moved to the
 * first's scheduled list).</li>
 * <li>PENDING is cleared under the pool lock just before the function is called, so a queue attempt during
 * execution queues exactly one more execution.</li>
 * <li>Concurrency management: workers tell their pool when they sleep in the kernel's sleeping
 * primitives (the scheduler hooks). Blocking elsewhere (a Java lock, I/O, {@code park}) and items that hog
 * the CPU are found by a per-pool check on the next tick while items wait behind a running worker: a
 * blocked worker stops counting, an item running longer than {@link #cpuIntensiveThresholdUs()} becomes
 * CPU-intensive; either way an idle worker takes the waiting items.</li>
 * <li>Flushing: {@code flush_work} waits for the item's last queued (or running) instance by sequence
 * number; {@code flush_workqueue} by flush color (16 colors, as the kernel). Waits are reported instead of
 * hanging when they could only end by the caller itself finishing.</li>
 * </ul>
 */
public final class Workqueues {
    /** {@code WORK_CPU_UNBOUND}: "the calling CPU" for per-CPU workqueues. */
    public static final int WORK_CPU_UNBOUND = -1;
    /** {@code BH_WORKER_RESTARTS}: items per BH-pool invocation. */
    static final int BH_WORKER_RESTARTS = 10;
    /** {@code BH_WORKER_JIFFIES}: time per BH-pool invocation. */
    static final long BH_WORKER_NS = TimeUnit.MILLISECONDS.toNanos(2);

    private final Machine machine;
    private final Softirqs softirqs;
    private final Timers timers;
    private final Reports reports;
    private final Tracing tracing;
    private final WorkerPool[][] cpuPools;
    private final WorkerPool[][] bhPools;
    private final WorkerPool[] unboundPools;
    private final List<WorkerPool> allPools = new ArrayList<>();
    private final List<Workqueue> workqueues = new CopyOnWriteArrayList<>();
    private final Map<ExecutionContext, Worker> workersByContext = new ConcurrentHashMap<>();
    /**
     * Stepped mode: runs the workers' threads one at a time. Made (and registered as the machine's
     * {@code stepped-scheduler} agent) when the first worker is created; null before that and in threaded
     * mode.
     */
    private volatile SteppedScheduler scheduler;
    private final TimerList[] cmChecks;
    private final ReentrantLock flushLock = new ReentrantLock();
    private final Condition flushed = flushLock.newCondition();
    private final AtomicInteger flushWaiters = new AtomicInteger();
    /** Of {@link #flushWaiters}, those waiting for one item's instance ({@code flush_work}, cancel-sync). */
    private final AtomicInteger itemWaiters = new AtomicInteger();
    /**
     * Bumped by every completion or cancel that can end a wait (see {@link #decInFlight}); a waiter re-checks
     * its condition outside {@code flushLock}.
     */
    private final AtomicLong flushGeneration = new AtomicLong();
    private volatile long cpuIntensiveThresholdUs = 10_000;
    private final AtomicLong cpuIntensiveViolations = new AtomicLong();
    private final AtomicLong cmWakeups = new AtomicLong();

    private final Workqueue systemWq;
    private final Workqueue systemHighpriWq;
    private final Workqueue systemLongWq;
    private final Workqueue systemUnboundWq;
    private final Workqueue systemFreezableWq;
    private final Workqueue systemPowerEfficientWq;
    private final Workqueue systemFreezablePowerEfficientWq;
    private final Workqueue systemBhWq;
    private final Workqueue systemBhHighpriWq;

    public Workqueues(Machine machine, Softirqs softirqs, Tasklets tasklets, Timers timers) {
        this.machine = Objects.requireNonNull(machine, "machine");
        this.softirqs = Objects.requireNonNull(softirqs, "softirqs");
        this.timers = Objects.requireNonNull(timers, "timers");
        this.reports = machine.reports();
        this.tracing = machine.tracing();
        int cpus = machine.cpuCount();
        this.cpuPools = new WorkerPool[cpus][2];
        this.bhPools = new WorkerPool[cpus][2];
        this.cmChecks = new TimerList[cpus * 2];
        int id = 0;
        for (int cpu = 0; cpu < cpus; cpu++) {
            for (int hi = 0; hi < 2; hi++) {
                bhPools[cpu][hi] = new WorkerPool(this, id++, cpu, hi == 1, true);
                WorkerPool bh = bhPools[cpu][hi];
                bh.bhWorker = new Worker(bh, 0, null, "bh/" + cpu + (hi == 1 ? "-hi" : ""));
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
        tasklets.installBhWork(this::bhWorker);

        systemWq = alloc("events", 0, 0);
        systemHighpriWq = alloc("events_highpri", WQ_HIGHPRI, 0);
        systemLongWq = alloc("events_long", 0, 0);
        systemUnboundWq = alloc("events_unbound", WQ_UNBOUND, WQ_MAX_ACTIVE);
        systemFreezableWq = alloc("events_freezable", WQ_FREEZABLE, 0);
        systemPowerEfficientWq = alloc("events_power_efficient", WQ_POWER_EFFICIENT, 0);
        systemFreezablePowerEfficientWq = alloc("events_freezable_pwr_efficient", WQ_FREEZABLE | WQ_POWER_EFFICIENT, 0);
        systemBhWq = alloc("events_bh", WQ_BH, 0);
        systemBhHighpriWq = alloc("events_bh_highpri", WQ_BH | WQ_HIGHPRI, 0);
    }

    Machine machine() {
        return machine;
    }

    // ------------------------------------------------------------------------------------------
    // Workqueues (semantics §4.5, §4.6)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code alloc_workqueue(name, flags, max_active)}. {@code max_active} 0 means the default
     * ({@link Workqueue#WQ_DFL_ACTIVE}); values outside 1..{@link Workqueue#WQ_MAX_ACTIVE} are clamped with
     * the kernel's warning. A BH workqueue must pass 0 and may only add {@code WQ_HIGHPRI}.
     *
     * @return the workqueue, or null where the kernel returns NULL (after its WARN)
     */
    public Workqueue alloc(String name, int flags, int maxActive) {
        Objects.requireNonNull(name, "name");
        if ((flags & WQ_BH) != 0) {
            if ((flags & ~(WQ_BH | WQ_HIGHPRI | WQ_PERCPU)) != 0 || maxActive != 0) {
                reports.warning("WARNING: alloc_workqueue(" + name + "): a BH workqueue takes only WQ_HIGHPRI and"
                        + " max_active 0 (flags 0x" + Integer.toHexString(flags) + ", max_active " + maxActive + ")");
                return null;
            }
            maxActive = Integer.MAX_VALUE;
        } else {
            if (maxActive == 0) {
                maxActive = WQ_DFL_ACTIVE;
            }
            if (maxActive < 1 || maxActive > WQ_MAX_ACTIVE) {
                reports.printk(KernelEvent.Kind.WARN, String.format("workqueue: max_active %d requested for %s is out"
                        + " of range, clamping between %d and %d", maxActive, name, 1, WQ_MAX_ACTIVE));
                maxActive = Math.max(1, Math.min(WQ_MAX_ACTIVE, maxActive));
            }
        }
        if ((flags & WQ_ORDERED) != 0 && (flags & WQ_SYSFS) != 0) {
            reports.warning("WARNING: alloc_workqueue(" + name + "): WQ_SYSFS is not allowed on an ordered workqueue");
            return null;
        }
        boolean highpri = (flags & WQ_HIGHPRI) != 0;
        PoolWorkqueue[] pwqs;
        Workqueue wq;
        if ((flags & WQ_BH) != 0 || (flags & WQ_UNBOUND) == 0) {
            pwqs = new PoolWorkqueue[machine.cpuCount()];
            wq = new Workqueue(this, name, flags, maxActive, pwqs);
            for (int cpu = 0; cpu < pwqs.length; cpu++) {
                WorkerPool pool = (flags & WQ_BH) != 0 ? bhPools[cpu][highpri ? 1 : 0] : cpuPools[cpu][highpri ? 1 : 0];
                pwqs[cpu] = new PoolWorkqueue(wq, pool);
            }
        } else {
            pwqs = new PoolWorkqueue[1];
            wq = new Workqueue(this, name, flags, maxActive, pwqs);
            pwqs[0] = new PoolWorkqueue(wq, unboundPools[highpri ? 1 : 0]);
        }
        if ((flags & WQ_MEM_RECLAIM) != 0) {
            ExecutionContext rctx = machine.newContext(ExecutionContext.Role.WORKER, "kworker/R-" + name, machine.cpu(0));
            Rescuer rescuer = new Rescuer(wq, rctx);
            wq.rescuer = rescuer;
            rescuer.handle = machine.register(rescuer, true);
        }
        workqueues.add(wq);
        return wq;
    }

    /** {@code alloc_ordered_workqueue(name, flags)}: unbound, one item at a time, in queueing order. */
    public Workqueue allocOrdered(String name, int flags) {
        return alloc(name, WQ_UNBOUND | WQ_ORDERED | (flags & (WQ_FREEZABLE | WQ_MEM_RECLAIM | WQ_HIGHPRI)), 1);
    }

    /** {@code create_workqueue(name)}: per-CPU, mem-reclaim, max_active 1 (the legacy form). */
    public Workqueue createWorkqueue(String name) {
        return alloc(name, WQ_MEM_RECLAIM, 1);
    }

    /** {@code create_singlethread_workqueue(name)}: ordered. */
    public Workqueue createSinglethreadWorkqueue(String name) {
        return allocOrdered(name, WQ_MEM_RECLAIM);
    }

    /** {@code create_freezable_workqueue(name)}. */
    public Workqueue createFreezableWorkqueue(String name) {
        return alloc(name, WQ_FREEZABLE | WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
    }

    public Workqueue systemWq() {
        return systemWq;
    }

    public Workqueue systemHighpriWq() {
        return systemHighpriWq;
    }

    public Workqueue systemLongWq() {
        return systemLongWq;
    }

    public Workqueue systemUnboundWq() {
        return systemUnboundWq;
    }

    public Workqueue systemFreezableWq() {
        return systemFreezableWq;
    }

    public Workqueue systemPowerEfficientWq() {
        return systemPowerEfficientWq;
    }

    public Workqueue systemFreezablePowerEfficientWq() {
        return systemFreezablePowerEfficientWq;
    }

    public Workqueue systemBhWq() {
        return systemBhWq;
    }

    public Workqueue systemBhHighpriWq() {
        return systemBhHighpriWq;
    }

    /** The workqueues that exist, system ones first. */
    public List<Workqueue> workqueues() {
        return List.copyOf(workqueues);
    }

    private boolean isSystemWq(Workqueue wq) {
        return wq == systemWq || wq == systemHighpriWq || wq == systemLongWq || wq == systemUnboundWq
                || wq == systemFreezableWq || wq == systemPowerEfficientWq || wq == systemFreezablePowerEfficientWq
                || wq == systemBhWq || wq == systemBhHighpriWq;
    }

    // ------------------------------------------------------------------------------------------
    // Queueing (semantics §4.2)
    // ------------------------------------------------------------------------------------------

    /** {@code queue_work(wq, work)}: {@link #queueOn} the calling CPU. */
    public boolean queue(Workqueue wq, Work w) {
        return queueOn(WORK_CPU_UNBOUND, wq, w);
    }

    /**
     * {@code queue_work_on(cpu, wq, work)}.
     *
     * @return true if this call queued it; false if it was already pending or is disabled
     */
    public boolean queueOn(int cpu, Workqueue wq, Work w) {
        Objects.requireNonNull(wq, "wq");
        requireFunc(w, "queue_work");
        if (cpu != WORK_CPU_UNBOUND) {
            machine.cpu(cpu);
        }
        if (!w.tryClaimForQueue()) {
            return false;
        }
        insert(cpu, wq, w);
        return true;
    }

    /** {@code schedule_work(work)}: on {@code system_wq}. */
    public boolean schedule(Work w) {
        return queue(systemWq, w);
    }

    /** {@code schedule_work_on(cpu, work)}. */
    public boolean scheduleOn(int cpu, Work w) {
        return queueOn(cpu, systemWq, w);
    }

    private static void requireFunc(Work w, String call) {
        if (w.func() == null) {
            throw new IllegalStateException(call + "() of a work item that was never initialised: call INIT_WORK()"
                    + " first");
        }
    }

    /** {@code __queue_work}: the caller owns PENDING. */
    private void insert(int reqCpu, Workqueue wq, Work w) {
        ExecutionContext ctx = machine.current();
        if ((wq.draining > 0 || wq.destroyed) && !isChained(ctx, wq)) {
            if (wq.destroyed) {
                reports.bug("BUG: workqueue: cannot queue " + w.name() + " on wq " + wq.name() + ": the workqueue has"
                        + " been destroyed (the item never runs)", new Throwable("__queue_work"));
            } else {
                reports.warnOnce("wq_cannot_queue", "workqueue: cannot queue " + w.name() + " on wq " + wq.name());
            }
            return; // PENDING stays set: the item never runs, and later queue attempts return false
        }
        int cpu = reqCpu == WORK_CPU_UNBOUND ? ctx.cpu().id() : reqCpu;
        PoolWorkqueue pwq = wq.pwq(cpu);
        WorkerPool pool = pwq.pool;
        WorkerPool last = w.lastPool;
        if (last != null && last != pool && !wq.isOrdered()) {
            last.lock.lock();
            Worker worker = last.findWorkerExecuting(w);
            if (worker != null && worker.currentPwq != null && worker.currentPwq.wq == wq) {
                pwq = worker.currentPwq;
                pool = last;
            } else {
                last.lock.unlock();
                pool.lock.lock();
            }
        } else {
            pool.lock.lock();
        }
        boolean create;
        try {
            int color = wq.workColor;
            w.color = color;
            pwq.inFlight[color]++;
            w.queuedSeq = w.queuedSeq + 1;
            w.lastPool = pool;
            w.lastWq = wq;
            w.pwq = pwq;
            if (tracing.on(Tracepoint.WORKQUEUE_QUEUE_WORK)) {
                tracing.emit(Tracepoint.WORKQUEUE_QUEUE_WORK, "work struct=" + w.name() + " function=" + w.name()
                        + " workqueue=" + wq.name() + " req_cpu=" + (reqCpu == WORK_CPU_UNBOUND ? 8192 : reqCpu)
                        + " cpu=" + (pool.cpu >= 0 ? pool.cpu : cpu));
            }
            if (pwq.inactive.isEmpty() && pwq.nrActive < effectiveMaxActive(wq)) {
                activate(pwq, w);
                create = kickLocked(pool, ctx);
            } else {
                w.inactive = true;
                pwq.inactive.addTail(w);
                create = false;
            }
        } finally {
            pool.lock.unlock();
        }
        if (create) {
            createWorker(pool);
        }
    }

    /** Puts {@code w} on its pool's worklist, taking an active slot. Under the pool lock. */
    private void activate(PoolWorkqueue pwq, Work w) {
        pwq.nrActive++;
        w.inactive = false;
        if (pwq.pool.worklist.isEmpty()) {
            pwq.pool.watchdogTs = machine.jiffies();
            armWatchdog();
        }
        pwq.pool.worklist.addTail(w);
        if (tracing.on(Tracepoint.WORKQUEUE_ACTIVATE_WORK)) {
            tracing.emit(Tracepoint.WORKQUEUE_ACTIVATE_WORK, "work struct " + w.name());
        }
    }

    /**
     * {@code kick_pool}: makes sure someone will run the pool's worklist. Under the pool lock.
     *
     * @return true if the caller must create a worker (after dropping the lock)
     */
    private boolean kickLocked(WorkerPool pool, ExecutionContext ctx) {
        if (pool.bh) {
            int nr = (pool.highpri ? SoftirqVector.HI : SoftirqVector.TASKLET).nr();
            if (ctx.cpu().id() == pool.cpu) {
                softirqs.raiseOn(ctx, nr, true);
            } else {
                Cpu target = machine.cpu(pool.cpu);
                target.markSoftirqPending(1 << nr);
                softirqs.wakeKsoftirqd(target);
            }
            return false;
        }
        if (!pool.needMoreWorker()) {
            if (pool.concurrencyManaged() && !pool.worklist.isEmpty()) {
                armCmCheck(pool);
            }
            return false;
        }
        if (!pool.idle.isEmpty()) {
            Worker w = pool.idle.get(pool.idle.size() - 1);
            if (w.handle != null) {
                w.handle.wake();
            }
            return false;
        }
        return pool.workers.isEmpty() || pool.concurrencyManaged() || pool.workers.size() < 4096;
    }

    /** Creates a worker for {@code pool}; it starts idle and picks up the worklist. */
    private void createWorker(WorkerPool pool) {
        Worker worker;
        if (failWorkerCreation) {
            armMayday(pool, maydayInitialTimeout());
            return;
        }
        pool.lock.lock();
        try {
            if (!pool.idle.isEmpty() || !pool.needMoreWorker()) {
                return; // someone else made one meanwhile, or the work is gone
            }
            int wid = pool.nextWorkerId++;
            String name = pool.workerName(wid);
            ExecutionContext ctx = machine.newContext(ExecutionContext.Role.WORKER, name, pool.cpuForWorker(wid));
            worker = new Worker(pool, wid, ctx, name);
            pool.workers.add(worker);
            pool.idle.add(worker);
            workersByContext.put(ctx, worker);
            ctx.sleepListener(new ExecutionContext.SleepListener() {
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
            pool.lock.unlock();
        }
        if (machine.stepped()) {
            steppedScheduler().adopt(worker); // before registering: the stepper must never run it itself
        }
        worker.handle = machine.register(worker, true);
    }

    // ------------------------------------------------------------------------------------------
    // Workers (semantics §4.4)
    // ------------------------------------------------------------------------------------------

    /** One round of a worker's duty cycle ({@code worker_thread}). */
    int workerRound(Worker worker) {
        WorkerPool pool = worker.pool;
        worker.chainNs = Worker.NO_CHAIN;
        boolean create = false;
        int n = 0;
        pool.lock.lock();
        try {
            if (worker.retired) {
                return 0;
            }
            n += runScheduled(worker);
            if (!pool.needMoreWorker()) {
                return n;
            }
            pool.idle.remove(worker);
            worker.idle = false;
            worker.setWorking(true);
            pool.watchdogTs = machine.jiffies();
            do {
                Work w = pool.worklist.first();
                Worker running = pool.findWorkerExecuting(w);
                if (running != null && running != worker) {
                    pool.worklist.remove(w);        // assign_work: the worker already running it runs it next
                    w.list = null;
                    running.scheduled.addTail(w);
                    continue;
                }
                pool.worklist.remove(w);
                processOne(worker, w);
                n++;
                n += runScheduled(worker);
            } while (pool.keepWorking());
            worker.setWorking(false);
            worker.idle = true;
            worker.lastActive = machine.jiffies();
            pool.idle.add(worker);
            if (tooManyWorkers(pool)) {
                armIdleTimer(pool, idleWorkerTimeoutSeconds * machine.hz());
            }
            if (pool.needMoreWorker()) {
                create = kickLocked(pool, worker.context());
            }
        } finally {
            pool.lock.unlock();
        }
        if (create) {
            createWorker(pool);
        }
        return n;
    }

    private int runScheduled(Worker worker) {
        int n = 0;
        Work w;
        boolean wasWorking = worker.working;
        if (!worker.scheduled.isEmpty() && !wasWorking) {
            worker.setWorking(true);
        }
        while ((w = worker.scheduled.pollFirst()) != null) {
            processOne(worker, w);
            n++;
        }
        if (!wasWorking && worker.working) {
            worker.setWorking(false);
        }
        return n;
    }

    /**
     * {@code process_one_work}: runs {@code w} (already unlinked) on {@code worker}. Called and returns with
     * the pool lock held; drops it around the function.
     */
    private void processOne(Worker worker, Work w) {
        WorkerPool pool = worker.pool;
        PoolWorkqueue pwq = w.pwq;
        Workqueue wq = pwq.wq;
        worker.currentWork = w;
        worker.currentFunc = w.func();
        worker.currentPwq = pwq;
        worker.currentSeq = w.queuedSeq;
        worker.currentColor = w.color;
        long chained = worker.chainNs;
        worker.chainNs = Worker.NO_CHAIN;
        worker.startNs = chained != Worker.NO_CHAIN ? chained : machine.clock().nanoTime();
        w.pwq = null;
        w.lastPool = pool;
        w.clearPending();
        boolean intensive = (wq.flags & WQ_CPU_INTENSIVE) != 0 && !pool.bh;
        if (intensive) {
            worker.setCpuIntensive(true);
        }
        boolean create = false;
        if (!pool.bh && pool.needMoreWorker()) {
            create = kickLocked(pool, worker.context() != null ? worker.context() : machine.current());
        }
        Work.Func fn = worker.currentFunc;
        pool.lock.unlock();
        try {
            if (create) {
                createWorker(pool);
            }
            callWorkFn(worker, wq, w, fn);
            if (!pool.bh) {
                condResched();
            }
        } finally {
            pool.lock.lock();
        }
        pwq.statTotal++;
        long end = machine.clock().nanoTime();
        pwq.statRunNs += end - worker.startNs;
        if (!machine.stepped()) {
            // An item the worker takes next in this round starts now: one clock read per item, not two. (Not
            // in stepped mode, where condResched may have let simulated time pass; its clock is cheap.)
            worker.chainNs = end;
        }
        if (worker.cpuIntensive) {
            worker.setCpuIntensive(false);
        }
        if (worker.blocked) {
            worker.setBlocked(false);
        }
        worker.currentWork = null;
        worker.currentFunc = null;
        worker.currentPwq = null;
        long seq = worker.currentSeq;
        long done = Math.max(seq, w.cancelledSeq);  // a cancelled later instance is done with this one
        if (w.doneSeq < done) {
            w.doneSeq = done;
        }
        decInFlight(pwq, worker.currentColor, true);
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

    private SteppedScheduler steppedScheduler() {
        SteppedScheduler s = scheduler;
        if (s == null) {
            s = SteppedScheduler.of(machine);
            scheduler = s;
        }
        return s;
    }

    private void callWorkFn(Worker worker, Workqueue wq, Work w, Work.Func fn) {
        ExecutionContext own = worker.context();     // a kworker's or rescuer's own context; null for BH
        ExecutionContext ctx = own != null ? own : machine.current();
        int count = ctx.preemptCount();
        boolean irqsOff = ctx.irqsDisabled();
        if (tracing.on(Tracepoint.WORKQUEUE_EXECUTE_START)) {
            tracing.emit(Tracepoint.WORKQUEUE_EXECUTE_START, "work struct " + w.name() + ": function " + w.name());
        }
        worker.inFunc = true;
        try {
            fn.run(w);
        } catch (Throwable e) {
            if (SteppedScheduler.isShutdown(e)) {
                throw (Error) e; // the stepped kernel was closed while the item slept: unwind its thread
            }
            reports.oops("work " + w.name() + " (" + wq.name() + ")", e);
        } finally {
            worker.inFunc = false;
            if (tracing.on(Tracepoint.WORKQUEUE_EXECUTE_END)) {
                tracing.emit(Tracepoint.WORKQUEUE_EXECUTE_END, "work struct " + w.name() + ": function " + w.name());
            }
            int after = ctx.preemptCount();
            if (after != count || ctx.irqsDisabled() != irqsOff) {
                reports.bug(String.format("BUG: workqueue leaked atomic, lock or RCU: %s[%d]%n     preempt=0x%08x"
                        + " lock=0->0 RCU=0->0 workfn=%s", ctx.name(), Thread.currentThread().threadId(), after, w.name()),
                        new Throwable("process_one_work"));
                if (ctx.irqsDisabled() && !irqsOff) {
                    ctx.localIrqEnable();
                }
                ctx.restorePreemptCount(count);
            }
        }
    }

    /**
     * {@code pwq_dec_nr_in_flight}: an item of color {@code color} left its pool-workqueue (done, or
     * cancelled); frees its active slot and activates the first inactive item. Under the pool lock.
     */
    private void decInFlight(PoolWorkqueue pwq, int color, boolean wasActive) {
        pwq.inFlight[color]--;
        if (wasActive) {
            pwq.nrActive--;
            Work next = pwq.inactive.first();
            if (next != null && pwq.nrActive < effectiveMaxActive(pwq.wq)) {
                pwq.inactive.remove(next);
                activate(pwq, next);
            }
        }
        // Wake waiters only when one of their conditions can have become true: a flush color of this
        // pool-workqueue emptied (flush_workqueue, drain), its last active item ended (freeze), or some
        // thread waits for an item's instance (flush_work, cancel-sync: any completion may be its own).
        // A streaming workqueue with a flusher waiting then wakes it once, not once per item.
        if (pwq.inFlight[color] == 0 || pwq.nrActive == 0 || itemWaiters.get() > 0) {
            signalFlushers();
        }
    }

    private void signalFlushers() {
        flushGeneration.incrementAndGet();
        if (flushWaiters.get() > 0) {
            flushLock.lock();
            try {
                flushed.signalAll();
            } finally {
                flushLock.unlock();
            }
        }
    }

    /** {@code wq_worker_sleeping}: a worker blocks in a kernel sleep; wake another if items wait. */
    private void workerSleeping(Worker worker) {
        if (worker == null) {
            return;
        }
        WorkerPool pool = worker.pool;
        boolean create = false;
        pool.lock.lock();
        try {
            worker.setSleeping(true);
            if (pool.needMoreWorker()) {
                cmWakeups.incrementAndGet();
                if (worker.currentPwq != null) {
                    worker.currentPwq.statCmWakeups++;
                }
                create = kickLocked(pool, worker.context());
            }
        } finally {
            pool.lock.unlock();
        }
        if (create) {
            createWorker(pool);
        }
    }

    /** {@code wq_worker_running}. */
    private void workerRunning(Worker worker) {
        if (worker == null) {
            return;
        }
        worker.pool.lock.lock();
        try {
            worker.setSleeping(false);
        } finally {
            worker.pool.lock.unlock();
        }
    }

    /** Arms the pool's concurrency check for the next tick, if it is not armed. Under the pool lock. */
    private void armCmCheck(WorkerPool pool) {
        if (machine.stepped()) {
            return; // the stepped scheduler sees every block: sleeps through the hooks, other blocking reported
        }
        int slot = pool.cpu * 2 + (pool.highpri ? 1 : 0);
        TimerList t = cmChecks[slot];
        if (t == null) {
            t = new TimerList();
            timers.setup(t, "wq_cm_check/" + pool.cpu + (pool.highpri ? "H" : ""), x -> cmCheck(pool),
                    TimerList.TIMER_PINNED | TimerList.TIMER_IRQSAFE);
            cmChecks[slot] = t;
        }
        if (!t.isPending()) {
            t.expires(machine.jiffies() + 1);
            timers.addOn(t, pool.cpu);
        }
    }

    /**
     * The per-tick concurrency check: workers blocked outside the kernel's sleeping primitives stop
     * counting (and count again when they run), items running longer than the CPU-intensive threshold stop
     * counting; then an idle worker is woken if items wait.
     */
    private void cmCheck(WorkerPool pool) {
        boolean create = false;
        pool.lock.lock();
        try {
            long now = machine.clock().nanoTime();
            long thresholdNs = TimeUnit.MICROSECONDS.toNanos(cpuIntensiveThresholdUs);
            boolean released = false;
            for (Worker w : pool.workers) {
                if (w.currentWork == null || w.handle == null || w.handle.thread() == null) {
                    continue;
                }
                Thread.State state = w.handle.thread().getState();
                boolean blockedNow = w.inFunc && (state == Thread.State.BLOCKED || state == Thread.State.WAITING
                        || state == Thread.State.TIMED_WAITING);
                if (!w.sleeping && blockedNow != w.blocked) {
                    w.setBlocked(blockedNow);
                    released |= blockedNow;
                }
                if (w.counted() && thresholdNs > 0 && now - w.startNs >= thresholdNs) {
                    w.setCpuIntensive(true);
                    released = true;
                    cpuIntensiveViolations.incrementAndGet();
                    if (w.currentPwq != null) {
                        w.currentPwq.statCpuIntensive++;
                    }
                    cpuIntensiveReport(w.currentWork, w.currentFunc);
                }
            }
            if (pool.needMoreWorker()) {
                if (released) {
                    cmWakeups.incrementAndGet(); // a wake-up because a running worker stopped counting
                }
                create = kickLocked(pool, machine.current());
            } else if (!pool.worklist.isEmpty()) {
                armCmCheck(pool);
            }
        } finally {
            pool.lock.unlock();
        }
        if (create) {
            createWorker(pool);
        }
    }

    /** {@code wq_cpu_intensive_warning_thresh}. */
    static final int CPU_INTENSIVE_WARNING_THRESH = 4;
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

    /**
     * {@code workqueue.cpu_intensive_thresh_us}: how long a concurrency-managed item may run before it is
     * marked CPU-intensive (default 10,000 µs; 0 disables the detection).
     */
    public long cpuIntensiveThresholdUs() {
        return cpuIntensiveThresholdUs;
    }

    public void cpuIntensiveThresholdUs(long us) {
        if (us < 0) {
            throw new IllegalArgumentException("cpu_intensive_thresh_us must be >= 0: " + us);
        }
        cpuIntensiveThresholdUs = us;
    }

    /** Items that exceeded the CPU-intensive threshold. */
    public long cpuIntensiveViolations() {
        return cpuIntensiveViolations.get();
    }

    /** Workers woken because a running worker blocked or hogged the CPU (concurrency management). */
    public long cmWakeups() {
        return cmWakeups.get();
    }

    // ------------------------------------------------------------------------------------------
    // BH workqueues (semantics §4.13)
    // ------------------------------------------------------------------------------------------

    /** {@code bh_worker}: at the start of TASKLET/HI softirq, at most 10 items or 2 ms, then re-raise. */
    private void bhWorker(ExecutionContext ctx, boolean hi) {
        WorkerPool pool = bhPools[ctx.cpu().id()][hi ? 1 : 0];
        pool.lock.lock();
        try {
            if (pool.worklist.isEmpty()) {
                return;
            }
            Worker worker = pool.bhWorker;
            worker.chainNs = Worker.NO_CHAIN;
            long end = machine.clock().nanoTime() + BH_WORKER_NS;
            int restarts = BH_WORKER_RESTARTS;
            worker.setWorking(true);
            pool.watchdogTs = machine.jiffies();
            do {
                Work w = pool.worklist.pollFirst();
                processOne(worker, w);
            } while (!pool.worklist.isEmpty() && --restarts > 0 && machine.clock().nanoTime() < end);
            worker.setWorking(false);
            if (!pool.worklist.isEmpty()) {
                softirqs.raiseOn(ctx, (hi ? SoftirqVector.HI : SoftirqVector.TASKLET).nr(), false);
            }
        } finally {
            pool.lock.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Delayed work (semantics §4.7)
    // ------------------------------------------------------------------------------------------

    /** {@code queue_delayed_work(wq, dwork, delay)}: on the calling CPU's pool when the delay has passed. */
    public boolean queueDelayed(Workqueue wq, DelayedWork dw, long delay) {
        return queueDelayedOn(WORK_CPU_UNBOUND, wq, dw, delay);
    }

    /**
     * {@code queue_delayed_work_on(cpu, wq, dwork, delay)}: false (and the timer unchanged) if it is already
     * pending; a delay of 0 queues at once.
     */
    public boolean queueDelayedOn(int cpu, Workqueue wq, DelayedWork dw, long delay) {
        Objects.requireNonNull(wq, "wq");
        if (cpu != WORK_CPU_UNBOUND) {
            machine.cpu(cpu);
        }
        if (!dw.work.tryClaimForQueue()) {
            return false;
        }
        queueDelayedOwned(cpu, wq, dw, delay);
        return true;
    }

    /** {@code __queue_delayed_work}: the caller owns PENDING. */
    private void queueDelayedOwned(int cpu, Workqueue wq, DelayedWork dw, long delay) {
        ensureTimer(dw);
        if (delay <= 0) {
            insert(cpu, wq, dw.work);
            return;
        }
        dw.wq = wq;
        dw.cpu = cpu;
        wq.armedDelayed.incrementAndGet();
        dw.timer.expires(machine.jiffies() + delay);
        if (cpu == WORK_CPU_UNBOUND) {
            timers.add(dw.timer);
        } else {
            timers.addOn(dw.timer, cpu);
        }
    }

    private void ensureTimer(DelayedWork dw) {
        if (!dw.timerReady) {
            synchronized (dw) {
                if (!dw.timerReady) {
                    timers.setup(dw.timer, dw.name(), t -> delayedWorkTimerFn(dw), TimerList.TIMER_IRQSAFE);
                    dw.timerReady = true;
                }
            }
        }
    }

    /** {@code delayed_work_timer_fn}: the delay has passed; queue the item. */
    private void delayedWorkTimerFn(DelayedWork dw) {
        dw.wq.armedDelayed.decrementAndGet();
        insert(dw.cpu, dw.wq, dw.work);
    }

    /** {@code schedule_delayed_work(dwork, delay)}: on {@code system_wq}. */
    public boolean scheduleDelayed(DelayedWork dw, long delay) {
        return queueDelayed(systemWq, dw, delay);
    }

    /** {@code schedule_delayed_work_on(cpu, dwork, delay)}. */
    public boolean scheduleDelayedOn(int cpu, DelayedWork dw, long delay) {
        return queueDelayedOn(cpu, systemWq, dw, delay);
    }

    /** {@code mod_delayed_work(wq, dwork, delay)}. */
    public boolean modDelayed(Workqueue wq, DelayedWork dw, long delay) {
        return modDelayedOn(WORK_CPU_UNBOUND, wq, dw, delay);
    }

    /**
     * {@code mod_delayed_work_on(cpu, wq, dwork, delay)}: (re)arms whatever state it is in.
     *
     * @return true if it was pending (now re-timed), false if it was idle (now armed or queued)
     */
    public boolean modDelayedOn(int cpu, Workqueue wq, DelayedWork dw, long delay) {
        Objects.requireNonNull(wq, "wq");
        int ret = grabPending(dw.work, dw);
        if (dw.work.disableDepth() > 0) {
            dw.work.clearPending();
        } else {
            queueDelayedOwned(cpu, wq, dw, delay);
        }
        return ret == 1;
    }

    /**
     * {@code flush_delayed_work(dwork)}: an armed timer is cancelled and the item queued at once; then
     * {@link #flush}.
     */
    public boolean flushDelayed(DelayedWork dw) {
        if (dw.timerReady && timers.deleteSync(dw.timer) == 1) {
            dw.wq.armedDelayed.decrementAndGet();
            insert(dw.cpu, dw.wq, dw.work);
        }
        return flush(dw.work);
    }

    /** {@code cancel_delayed_work(dwork)}: true if the timer or the queued item was pending. Does not wait. */
    public boolean cancelDelayed(DelayedWork dw) {
        int ret = grabPending(dw.work, dw);
        dw.work.clearPending();
        return ret == 1;
    }

    /** {@code cancel_delayed_work_sync(dwork)}. */
    public boolean cancelDelayedSync(DelayedWork dw) {
        return cancelSync(dw.work, dw, false, "cancel_delayed_work_sync");
    }

    /** {@code disable_delayed_work(dwork)}. */
    public boolean disableDelayed(DelayedWork dw) {
        return disable(dw.work, dw);
    }

    /** {@code disable_delayed_work_sync(dwork)}. */
    public boolean disableDelayedSync(DelayedWork dw) {
        return cancelSync(dw.work, dw, true, "disable_delayed_work_sync");
    }

    /** {@code enable_delayed_work(dwork)}. */
    public boolean enableDelayed(DelayedWork dw) {
        return enable(dw.work);
    }

    // ------------------------------------------------------------------------------------------
    // Cancel / disable (semantics §4.9)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code try_to_grab_pending}: takes PENDING away from whoever holds it, unlinking a queued item or
     * stopping its delay timer.
     *
     * @return 1 if it was pending (and is no longer queued or armed), 0 if it was idle; either way the
     *         caller now owns PENDING
     */
    private int grabPending(Work w, DelayedWork dw) {
        for (int spins = 0;; spins++) {
            if (dw != null && dw.timerReady && timers.delete(dw.timer) == 1) {
                dw.wq.armedDelayed.decrementAndGet();
                return 1;
            }
            if (!w.testAndSetPending()) {
                return 0;
            }
            PoolWorkqueue pwq = w.pwq;
            if (pwq != null) {
                WorkerPool pool = pwq.pool;
                pool.lock.lock();
                try {
                    if (w.pwq == pwq && w.list != null) {
                        boolean active = !w.inactive;
                        w.list.remove(w);
                        w.pwq = null;
                        // A flush waiting for the removed instance is done with it — but only once an older
                        // instance that still runs (necessarily in this pool: non-reentrancy) has finished.
                        if (pool.findWorkerExecuting(w) != null) {
                            w.cancelledSeq = w.queuedSeq;
                        } else if (w.doneSeq < w.queuedSeq) {
                            w.doneSeq = w.queuedSeq;
                        }
                        decInFlight(pwq, w.color, active);
                        return 1;
                    }
                } finally {
                    pool.lock.unlock();
                }
            } else if (w.lastWq != null && (w.lastWq.draining > 0 || w.lastWq.destroyed) && spins > 1000) {
                return 1; // refused by a draining workqueue: PENDING was left set and nothing holds the item
            }
            if (spins < 100) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
    }

    /** {@code cancel_work(work)}: true if it was pending (now removed). Does not wait for a running instance. */
    public boolean cancel(Work w) {
        requireFunc(w, "cancel_work");
        int ret = grabPending(w, null);
        w.clearPending();
        return ret == 1;
    }

    /**
     * {@code cancel_work_sync(work)}: cancels and waits until no instance runs anywhere. A self-requeueing
     * item cannot escape: its queue attempts during the call return false.
     *
     * @return true if it was pending
     */
    public boolean cancelSync(Work w) {
        requireFunc(w, "cancel_work_sync");
        return cancelSync(w, null, false, "cancel_work_sync");
    }

    /** {@code disable_work(work)}: disable depth + 1 and cancel; true if it was pending. Does not wait. */
    public boolean disable(Work w) {
        requireFunc(w, "disable_work");
        return disable(w, null);
    }

    private boolean disable(Work w, DelayedWork dw) {
        int ret = grabPending(w, dw);
        if (!w.incDisable()) {
            reports.warning("workqueue: work disable count overflowed");
        }
        w.clearPending();
        return ret == 1;
    }

    /** {@code disable_work_sync(work)}: {@link #disable} and wait for a running instance. */
    public boolean disableSync(Work w) {
        requireFunc(w, "disable_work_sync");
        return cancelSync(w, null, true, "disable_work_sync");
    }

    /**
     * {@code enable_work(work)}: disable depth − 1.
     *
     * @return true iff the depth reached 0; at depth 0 the kernel warns and nothing changes
     */
    public boolean enable(Work w) {
        int depth = w.decDisable();
        if (depth < 0) {
            reports.warning("workqueue: work disable count underflowed");
            return false;
        }
        return depth == 0;
    }

    /** {@code enable_and_queue_work(wq, work)}: enable; queue if the depth reached 0. */
    public boolean enableAndQueue(Workqueue wq, Work w) {
        if (enable(w)) {
            return queue(wq, w);
        }
        return false;
    }

    private boolean cancelSync(Work w, DelayedWork dw, boolean keepDisabled, String call) {
        ExecutionContext ctx = machine.current();
        Worker self = currentWorker(ctx);
        if (self != null && self.currentWork == w) {
            reports.bug("WARNING: possible recursive locking detected: " + call + "(" + w.name() + ") called from the"
                    + " item's own function waits for itself ((work_completion)(" + w.name() + ")); it would never"
                    + " return", new Throwable(call));
            return false;
        }
        int ret = grabPending(w, dw);
        if (!w.incDisable()) {
            reports.warning("workqueue: work disable count overflowed");
        }
        w.clearPending();
        if (ctx.inHardirq()) {
            reports.warning("WARNING: " + call + "(" + w.name() + ") in hard-IRQ context");
        } else if (!ctx.inSoftirq() || !lastQueuedOnBh(w)) {
            ctx.mightSleep(call);
        }
        waitForRunningInstance(w, ctx, call);
        if (!keepDisabled) {
            w.decDisable();
        }
        return ret == 1;
    }

    private static boolean lastQueuedOnBh(Work w) {
        Workqueue wq = w.lastWq;
        return wq != null && wq.isBh();
    }

    // ------------------------------------------------------------------------------------------
    // Flush (semantics §4.8)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code flush_work(work)}: waits until the instance queued (or running) at the time of the call has
     * finished. From the item's own function it would wait for itself: reported, returns false.
     *
     * @return true if it had to wait, false if the item was idle
     */
    public boolean flush(Work w) {
        if (w.func() == null) {
            reports.warning("WARNING: flush_work() of a work item without a function (WARN_ON(!work->func))");
            return false;
        }
        ExecutionContext ctx = machine.current();
        Worker self = currentWorker(ctx);
        if (self != null && self.currentWork == w) {
            reports.bug("WARNING: possible recursive locking detected: flush_work(" + w.name() + ") called from the"
                    + " item's own function waits for itself ((work_completion)(" + w.name() + ")); it would never"
                    + " return", new Throwable("flush_work"));
            return false;
        }
        long target = instanceToWaitFor(w);
        if (target == 0) {
            return false;
        }
        ctx.mightSleep("flush_work");
        waitUntil(() -> w.doneSeq >= target, "flush_work(" + w.name() + ")", true);
        return true;
    }

    /** The sequence number of the queued or running instance of {@code w}, or 0 if it is idle. */
    private long instanceToWaitFor(Work w) {
        for (;;) {
            PoolWorkqueue pwq = w.pwq;
            if (pwq != null) {
                pwq.pool.lock.lock();
                try {
                    if (w.pwq == pwq) {
                        return w.queuedSeq;
                    }
                } finally {
                    pwq.pool.lock.unlock();
                }
                continue;
            }
            WorkerPool pool = w.lastPool;
            if (pool == null) {
                return 0;
            }
            pool.lock.lock();
            try {
                if (w.pwq != null) {
                    continue;
                }
                Worker running = pool.findWorkerExecuting(w);
                if (running != null) {
                    return running.currentSeq;
                }
                for (Worker worker : pool.workers) {
                    for (Work s = worker.scheduled.first(); s != null; s = s.next) {
                        if (s == w) {
                            return w.queuedSeq;
                        }
                    }
                }
                return 0;
            } finally {
                pool.lock.unlock();
            }
        }
    }

    private void waitForRunningInstance(Work w, ExecutionContext ctx, String call) {
        long target = instanceToWaitFor(w);
        if (target != 0) {
            waitUntil(() -> w.doneSeq >= target, call + "(" + w.name() + ")", true);
        }
    }

    /**
     * {@code flush_workqueue(wq)}: waits for every item queued before the call (running, queued or
     * inactive); items queued later do not hold it up. From an item of {@code wq} it would wait for
     * itself: reported, returns.
     */
    public void flushWorkqueue(Workqueue wq) {
        ExecutionContext ctx = machine.current();
        Worker self = currentWorker(ctx);
        if (self != null && self.currentPwq != null && self.currentPwq.wq == wq) {
            reports.bug("WARNING: possible recursive locking detected: flush_workqueue(" + wq.name() + ") called from"
                    + " an item running on it waits for itself ((wq_completion)" + wq.name() + "); it would never"
                    + " return", new Throwable("flush_workqueue"));
            return;
        }
        if (isSystemWq(wq) && wq.draining == 0) {
            reports.warnOnce("flush_system_wq_" + wq.name(), "WARNING: Flushing system-wide workqueues will be"
                    + " prohibited in near future.");
        }
        ctx.mightSleep("flush_workqueue");
        wq.flushMutex.lock();
        try {
            int next = (wq.workColor + 1) % PoolWorkqueue.NR_COLORS;
            waitUntil(() -> inFlight(wq, next) == 0, "flush_workqueue(" + wq.name() + ")");
            int color;
            lockAll(wq);
            try {
                color = wq.workColor;
                wq.workColor = next;
            } finally {
                unlockAll(wq);
            }
            waitUntil(() -> inFlight(wq, color) == 0, "flush_workqueue(" + wq.name() + ")");
        } finally {
            wq.flushMutex.unlock();
        }
    }

    /** {@code flush_scheduled_work()}: flushes {@code system_wq} (deprecated in the kernel, and warned about). */
    public void flushScheduledWork() {
        flushWorkqueue(systemWq);
    }

    private int inFlight(Workqueue wq, int color) {
        int n = 0;
        for (PoolWorkqueue pwq : distinct(wq)) {
            pwq.pool.lock.lock();
            try {
                n += pwq.inFlight[color];
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        return n;
    }

    private int totalInFlight(Workqueue wq) {
        int n = 0;
        for (PoolWorkqueue pwq : distinct(wq)) {
            pwq.pool.lock.lock();
            try {
                n += pwq.totalInFlight();
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        return n;
    }

    private static PoolWorkqueue[] distinct(Workqueue wq) {
        return wq.pwqs;
    }

    private static void lockAll(Workqueue wq) {
        for (PoolWorkqueue pwq : wq.pwqs) {
            pwq.pool.lock.lock();
        }
    }

    private static void unlockAll(Workqueue wq) {
        for (int i = wq.pwqs.length - 1; i >= 0; i--) {
            wq.pwqs[i].pool.lock.unlock();
        }
    }

    /**
     * {@code drain_workqueue(wq)}: flushes until the workqueue is empty. Meanwhile only chained queueing
     * (from the workqueue's own items) is accepted; other queue attempts get the kernel's
     * {@code cannot queue} warning.
     */
    public void drainWorkqueue(Workqueue wq) {
        synchronized (wq) {
            wq.draining++;
        }
        try {
            for (int tries = 1;; tries++) {
                flushWorkqueue(wq);
                if (totalInFlight(wq) == 0) {
                    return;
                }
                if (tries == 10 || (tries % 100 == 0 && tries <= 1000)) {
                    reports.printk(KernelEvent.Kind.WARN, "workqueue " + wq.name() + ": drain_workqueue() isn't complete"
                            + " after " + tries + " tries");
                }
            }
        } finally {
            synchronized (wq) {
                wq.draining--;
            }
        }
    }

    /**
     * {@code destroy_workqueue(wq)}: drains it (every queued item runs first), then retires it. Delayed items
     * whose timers are still armed are not cancelled — reported; when such a timer fires later its item is
     * refused with an error. If an item was queued after the drain, the kernel's sanity check warns
     * ("has the following busy pwq", with the pool-workqueue shown) and the workqueue is left alive.
     */
    public void destroy(Workqueue wq) {
        if (isSystemWq(wq)) {
            throw new IllegalArgumentException("destroy_workqueue() of system workqueue " + wq.name());
        }
        drainWorkqueue(wq);
        int armed = wq.armedDelayed.get();
        if (armed > 0) {
            reports.bug("BUG: destroy_workqueue(" + wq.name() + "): " + armed + " delayed work item(s) still armed;"
                    + " cancel them first (cancel_delayed_work_sync): their timers will queue into a destroyed"
                    + " workqueue", new Throwable("destroy_workqueue"));
        }
        Rescuer rescuer = wq.rescuer;
        if (rescuer != null) {
            wq.rescuer = null;       // no mayday reaches a stopped rescuer
            rescuer.handle.stop();
        }
        if (totalInFlight(wq) != 0) {
            // Something queued after the drain (the caller's bug). Like the kernel: warn, show the busy
            // pool-workqueues, and give up destroying — the workqueue stays (without its rescuer) and its
            // items still run, so nothing accepted is lost.
            reports.warning("WARNING: destroy_workqueue: " + wq.name() + " has the following busy pwq\n"
                    + showWorkqueue(wq));
            return;
        }
        wq.destroyed = true;
        workqueues.remove(wq);
    }

    // ------------------------------------------------------------------------------------------
    // Idle-worker retirement (semantics §4.4)
    // ------------------------------------------------------------------------------------------

    /** {@code MAX_IDLE_WORKERS_RATIO}. */
    static final int MAX_IDLE_WORKERS_RATIO = 4;
    private volatile long idleWorkerTimeoutSeconds = 300;
    private final Map<WorkerPool, TimerList> idleTimers = new ConcurrentHashMap<>();
    private final Map<WorkerPool, Work> cullWorks = new ConcurrentHashMap<>();

    /** {@code IDLE_WORKER_TIMEOUT} in seconds (300 by default); settable for tests and small machines. */
    public long idleWorkerTimeoutSeconds() {
        return idleWorkerTimeoutSeconds;
    }

    public void idleWorkerTimeoutSeconds(long seconds) {
        if (seconds < 1) {
            throw new IllegalArgumentException("the idle worker timeout must be >= 1 s: " + seconds);
        }
        idleWorkerTimeoutSeconds = seconds;
    }

    /** {@code too_many_workers}: more than two idle, and the idle beyond two outnumber a quarter of the busy. */
    private static boolean tooManyWorkers(WorkerPool pool) {
        int idle = pool.idle.size();
        int busy = pool.workers.size() - idle;
        return idle > 2 && (idle - 2) * MAX_IDLE_WORKERS_RATIO >= busy;
    }

    /** How many workers the pool of CPU {@code cpu} (−1: the unbound pool) has, for tests and diagnostics. */
    public int workerCount(int cpu, boolean highpri) {
        WorkerPool pool = cpu < 0 ? unboundPools[highpri ? 1 : 0] : cpuPools[machine.cpu(cpu).id()][highpri ? 1 : 0];
        pool.lock.lock();
        try {
            return pool.workers.size();
        } finally {
            pool.lock.unlock();
        }
    }

    private void armIdleTimer(WorkerPool pool, long delay) {
        TimerList t = idleTimers.computeIfAbsent(pool, p -> {
            TimerList timer = new TimerList();
            timers.setup(timer, "idle_worker_timeout/" + p.id, x -> idleWorkerTimeout(p), TimerList.TIMER_IRQSAFE);
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
     * workers, so an idle kernel stops ticking for it.
     */
    private void idleWorkerTimeout(WorkerPool pool) {
        long retireAt;
        pool.lock.lock();
        try {
            if (!tooManyWorkers(pool)) {
                return;
            }
            retireAt = pool.idle.get(0).lastActive + idleWorkerTimeoutSeconds * machine.hz();
        } finally {
            pool.lock.unlock();
        }
        long now = machine.jiffies();
        if (Jiffies.timeBefore(now, retireAt)) {
            armIdleTimer(pool, retireAt - now);
            return;
        }
        Work cull = cullWorks.computeIfAbsent(pool, p -> new Work("idle_cull_fn/" + p.id, w -> idleCull(p)));
        if (pool.cpu >= 0) {
            queue(systemUnboundWq, cull);
        } else {
            // The kernel culls from system_unbound_wq; for an unbound pool that is the pool itself, whose
            // culling worker then counts as busy and one extra idle worker stays. A per-CPU pool culls it.
            queueOn(0, systemWq, cull);
        }
    }

    /** {@code idle_cull_fn}: stops idle workers, longest idle first, while there are too many. */
    private void idleCull(WorkerPool pool) {
        for (;;) {
            Worker victim;
            pool.lock.lock();
            try {
                if (!tooManyWorkers(pool)) {
                    return;
                }
                Worker oldest = pool.idle.get(0);
                long retireAt = oldest.lastActive + idleWorkerTimeoutSeconds * machine.hz();
                if (Jiffies.timeBefore(machine.jiffies(), retireAt)) {
                    armIdleTimer(pool, retireAt - machine.jiffies());
                    return;
                }
                pool.idle.remove(0);
                pool.workers.remove(oldest);
                oldest.retired = true;
                victim = oldest;
            } finally {
                pool.lock.unlock();
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
    // Rescuers (semantics §4.4: mayday)
    // ------------------------------------------------------------------------------------------

    private volatile boolean failWorkerCreation;
    private final Map<WorkerPool, TimerList> maydayTimers = new ConcurrentHashMap<>();

    /**
     * Fault injection: while true, pools cannot create workers (as when the kernel cannot allocate or fork
     * one). Items then wait, except those of {@code WQ_MEM_RECLAIM} workqueues, which their rescuers run.
     */
    public void failWorkerCreation(boolean fail) {
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
            timers.setup(timer, "pool_mayday_timeout/" + p.id, x -> maydayTimeout(p), TimerList.TIMER_IRQSAFE);
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
     * every {@code MAYDAY_INTERVAL} while the pool starves.
     */
    private void maydayTimeout(WorkerPool pool) {
        boolean starving;
        pool.lock.lock();
        try {
            starving = pool.needMoreWorker() && pool.idle.isEmpty();
            if (starving) {
                for (Work w = pool.worklist.first(); w != null; w = w.next) {
                    PoolWorkqueue pwq = w.pwq;
                    Rescuer r = pwq == null ? null : pwq.wq.rescuer;
                    if (r != null && !r.maydays.contains(pwq)) {
                        pwq.statMayday++;
                        r.maydays.add(pwq);
                        r.handle.wake();
                    }
                }
            }
        } finally {
            pool.lock.unlock();
        }
        if (starving) {
            if (failWorkerCreation) {
                armMayday(pool, Math.max(1, machine.hz() / 10));
            } else {
                createWorker(pool);
            }
        }
    }

    /** {@code rescuer_thread}: runs, in the starving pool, the items of the rescuer's workqueue that wait there. */
    int rescue(Rescuer rescuer, PoolWorkqueue pwq) {
        WorkerPool pool = pwq.pool;
        Worker rw = new Worker(pool, -1, rescuer.context(), rescuer.name());
        workersByContext.put(rescuer.context(), rw);
        int n = 0;
        pool.lock.lock();
        try {
            pool.workers.add(rw);
            for (Work w = pool.worklist.first(); w != null;) {
                Work next = w.next;
                if (w.pwq == pwq) {
                    pool.worklist.remove(w);
                    rw.scheduled.addTail(w);
                }
                w = next;
            }
            Work w;
            while ((w = rw.scheduled.pollFirst()) != null) {
                processOne(rw, w);
                pwq.statRescued++;
                n++;
            }
            pool.workers.remove(rw);
        } finally {
            pool.lock.unlock();
            workersByContext.remove(rescuer.context());
        }
        return n;
    }

    // ------------------------------------------------------------------------------------------
    // max_active and the freezer (semantics §4.5)
    // ------------------------------------------------------------------------------------------

    private volatile boolean frozen;

    /** The limit in force: 0 for a freezable workqueue while the system is frozen. */
    private int effectiveMaxActive(Workqueue wq) {
        return frozen && (wq.flags & WQ_FREEZABLE) != 0 ? 0 : wq.maxActive;
    }

    /**
     * {@code workqueue_set_max_active(wq, max_active)}: clamped as at allocation; raising it activates waiting
     * items at once. Refused with the kernel's WARN for BH and ordered workqueues.
     */
    public void setMaxActive(Workqueue wq, int maxActive) {
        if (wq.isBh() || wq.isOrdered()) {
            reports.warning("WARNING: workqueue_set_max_active(" + wq.name() + ") on " + (wq.isBh() ? "a BH" : "an ordered")
                    + " workqueue is ignored");
            return;
        }
        if (maxActive < 1 || maxActive > WQ_MAX_ACTIVE) {
            reports.printk(KernelEvent.Kind.WARN, String.format("workqueue: max_active %d requested for %s is out of"
                    + " range, clamping between %d and %d", maxActive, wq.name(), 1, WQ_MAX_ACTIVE));
            maxActive = Math.max(1, Math.min(WQ_MAX_ACTIVE, maxActive));
        }
        wq.maxActive = maxActive;
        activateWaiting(wq);
    }

    /** Moves inactive items of {@code wq} to their worklists while slots allow, and kicks the pools. */
    private void activateWaiting(Workqueue wq) {
        ExecutionContext ctx = machine.current();
        for (PoolWorkqueue pwq : wq.pwqs) {
            boolean create = false;
            pwq.pool.lock.lock();
            try {
                Work next;
                boolean any = false;
                while ((next = pwq.inactive.first()) != null && pwq.nrActive < effectiveMaxActive(wq)) {
                    pwq.inactive.remove(next);
                    activate(pwq, next);
                    any = true;
                }
                if (any) {
                    create = kickLocked(pwq.pool, ctx);
                }
            } finally {
                pwq.pool.lock.unlock();
            }
            if (create) {
                createWorker(pwq.pool);
            }
        }
    }

    /**
     * {@code freeze_workqueues_begin} + waiting until {@code freeze_workqueues_busy} is false: from now on
     * items queued on {@code WQ_FREEZABLE} workqueues wait on their inactive lists; returns once no item of
     * a freezable workqueue is active any more. May sleep.
     */
    public void freeze() {
        machine.current().mightSleep("freeze_workqueues_begin");
        frozen = true;
        waitUntil(() -> {
            for (Workqueue wq : workqueues) {
                if ((wq.flags & WQ_FREEZABLE) != 0 && activeItems(wq) > 0) {
                    return false;
                }
            }
            return true;
        }, "freeze_workqueues_busy");
    }

    /** {@code thaw_workqueues}: freezable workqueues get their {@code max_active} back and run what waited. */
    public void thaw() {
        frozen = false;
        for (Workqueue wq : workqueues) {
            if ((wq.flags & WQ_FREEZABLE) != 0) {
                activateWaiting(wq);
            }
        }
    }

    /** Whether the workqueues are frozen. */
    public boolean isFrozen() {
        return frozen;
    }

    private int activeItems(Workqueue wq) {
        int n = 0;
        for (PoolWorkqueue pwq : wq.pwqs) {
            pwq.pool.lock.lock();
            try {
                n += pwq.nrActive;
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------------------------------
    // Lockup watchdog (semantics §4.12) and the monitor
    // ------------------------------------------------------------------------------------------

    private volatile long watchdogThreshSeconds = 30;
    private final TimerList watchdogTimer = new TimerList();
    private volatile boolean watchdogReady;
    private final AtomicLong lockups = new AtomicLong();

    /** {@code workqueue.watchdog_thresh}: seconds a pool may make no progress before it is reported (0: off). */
    public long watchdogThreshSeconds() {
        return watchdogThreshSeconds;
    }

    public void watchdogThreshSeconds(long seconds) {
        if (seconds < 0) {
            throw new IllegalArgumentException("watchdog_thresh must be >= 0: " + seconds);
        }
        watchdogThreshSeconds = seconds;
    }

    /** Lockups reported so far. */
    public long lockups() {
        return lockups.get();
    }

    /**
     * Arms the watchdog timer if it is not armed. The kernel's runs forever as a deferrable timer; ours runs
     * only while some pool has items (so an idle kernel stays tickless) and is not deferrable (so a stalled
     * pool on an otherwise idle CPU is still reported). Any context.
     */
    private void armWatchdog() {
        long thresh = watchdogThreshSeconds;
        if (thresh == 0) {
            return;
        }
        if (!watchdogReady) {
            synchronized (watchdogTimer) {
                if (!watchdogReady) {
                    timers.setup(watchdogTimer, "wq_watchdog_timer_fn", t -> watchdogFn(), TimerList.TIMER_IRQSAFE);
                    watchdogReady = true;
                }
            }
        }
        if (!watchdogTimer.isPending()) {
            synchronized (watchdogTimer) { // two first queuers must not both add it
                if (!watchdogTimer.isPending()) {
                    watchdogTimer.expires(machine.jiffies() + thresh * machine.hz());
                    timers.addOn(watchdogTimer, 0);
                }
            }
        }
    }

    /** {@code wq_watchdog_timer_fn}: reports every pool whose worklist has not moved for the threshold. */
    private void watchdogFn() {
        long thresh = watchdogThreshSeconds;
        if (thresh == 0) {
            return;
        }
        long now = machine.jiffies();
        long threshJiffies = thresh * machine.hz();
        boolean lockup = false;
        boolean busy = false;
        for (WorkerPool pool : allPools) {
            pool.lock.lock();
            try {
                if (pool.worklist.isEmpty()) {
                    continue;
                }
                busy = true;
                if (now - pool.watchdogTs > threshJiffies) {
                    lockup = true;
                    lockups.incrementAndGet();
                    reports.bug("BUG: workqueue lockup - pool " + pool.describe() + " stuck for "
                            + (now - pool.watchdogTs) / machine.hz() + "s!", new Throwable("wq_watchdog_timer_fn"));
                }
            } finally {
                pool.lock.unlock();
            }
        }
        if (lockup) {
            reports.printk(KernelEvent.Kind.INFO, showAllWorkqueues());
        }
        if (busy) {
            synchronized (watchdogTimer) {
                if (!watchdogTimer.isPending()) {
                    watchdogTimer.expires(now + threshJiffies);
                    timers.addOn(watchdogTimer, 0);
                }
            }
        }
    }

    /** {@code show_all_workqueues()}: the busy workqueues and pools, as the kernel dumps them. */
    public String showAllWorkqueues() {
        StringBuilder sb = new StringBuilder("Showing busy workqueues and worker pools:\n");
        for (Workqueue wq : workqueues) {
            sb.append(showWorkqueue(wq));
        }
        for (WorkerPool pool : allPools) {
            pool.lock.lock();
            try {
                if (pool.worklist.isEmpty() && pool.nrRunning == 0) {
                    continue;
                }
                sb.append("pool ").append(pool.id).append(": ").append(pool.describe()).append(" hung=")
                        .append((machine.jiffies() - pool.watchdogTs) / machine.hz()).append("s workers=")
                        .append(pool.workers.size()).append(" idle: ").append(pool.idle.size()).append('\n');
            } finally {
                pool.lock.unlock();
            }
        }
        return sb.toString();
    }

    /**
     * {@code show_one_workqueue(wq)}: the workqueue's busy pool-workqueues (in flight, pending, inactive), or
     * "" when it has none.
     */
    private String showWorkqueue(Workqueue wq) {
        StringBuilder pwqLines = new StringBuilder();
        for (int i = 0; i < wq.pwqs.length; i++) {
            PoolWorkqueue pwq = wq.pwqs[i];
            pwq.pool.lock.lock();
            try {
                if (pwq.totalInFlight() == 0) {
                    continue;
                }
                pwqLines.append("  pwq ").append(pwq.pool.id).append(": ").append(pwq.pool.describe())
                        .append(" active=").append(pwq.nrActive).append(" refcnt=").append(pwq.totalInFlight() + 1)
                        .append('\n');
                StringBuilder inFlight = new StringBuilder();
                for (Worker w : pwq.pool.workers) {
                    if (w.currentPwq == pwq) {
                        inFlight.append(inFlight.isEmpty() ? "" : ", ").append(w.name()).append(':')
                                .append(w.currentWork.name());
                    }
                }
                if (!inFlight.isEmpty()) {
                    pwqLines.append("    in-flight: ").append(inFlight).append('\n');
                }
                StringBuilder pending = new StringBuilder();
                for (Work x = pwq.pool.worklist.first(); x != null; x = x.next) {
                    if (x.pwq == pwq) {
                        pending.append(pending.isEmpty() ? "" : ", ").append(x.name());
                    }
                }
                if (!pending.isEmpty()) {
                    pwqLines.append("    pending: ").append(pending).append('\n');
                }
                if (!pwq.inactive.isEmpty()) {
                    pwqLines.append("    inactive: ").append(pwq.inactive.size()).append(" items\n");
                }
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        if (pwqLines.isEmpty()) {
            return "";
        }
        return "workqueue " + wq.name() + ": flags=0x" + Integer.toHexString(wq.flags()) + "\n" + pwqLines;
    }

    /** The statistics of one workqueue, summed over its pool-workqueues (the kernel's {@code wq_monitor}). */
    public record Stats(String name, long total, long inFlight, long runNs, long cpuIntensive, long cmWakeups,
                        long mayday, long rescued) {
    }

    /** {@code wq_monitor.py}: per-workqueue statistics. */
    public Stats stats(Workqueue wq) {
        long total = 0;
        long inFlight = 0;
        long runNs = 0;
        long cpuIntensive = 0;
        long cmw = 0;
        long mayday = 0;
        long rescued = 0;
        for (PoolWorkqueue pwq : wq.pwqs) {
            pwq.pool.lock.lock();
            try {
                mayday += pwq.statMayday;
                rescued += pwq.statRescued;
                total += pwq.statTotal;
                inFlight += pwq.totalInFlight();
                runNs += pwq.statRunNs;
                cpuIntensive += pwq.statCpuIntensive;
                cmw += pwq.statCmWakeups;
            } finally {
                pwq.pool.lock.unlock();
            }
        }
        return new Stats(wq.name(), total, inFlight, runNs, cpuIntensive, cmw, mayday, rescued);
    }

    /**
     * The workqueue monitor's table ({@code tools/workqueue/wq_monitor.py}): for each workqueue that ran
     * anything, total items, items in flight, run time (s), CPU-intensive violations, concurrency-management
     * wake-ups, mayday and rescued counts.
     */
    public String monitor() {
        StringBuilder sb = new StringBuilder(String.format("%-30s %10s %6s %9s %8s %8s %7s %7s%n", "", "total", "infl",
                "CPUtime", "CPUitsv", "CMW/RPR", "mayday", "rescued"));
        for (Workqueue wq : workqueues) {
            Stats s = stats(wq);
            if (s.total() == 0 && s.inFlight() == 0) {
                continue;
            }
            sb.append(String.format("%-30s %10d %6d %9.1f %8d %8d %7d %7d%n", s.name(), s.total(), s.inFlight(),
                    s.runNs() / 1e9, s.cpuIntensive(), s.cmWakeups(), s.mayday(), s.rescued()));
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------
    // Waiting and helpers
    // ------------------------------------------------------------------------------------------

    /** The worker whose item is running in {@code ctx} (a kworker, or a BH pseudo-worker in softirq), or null. */
    private Worker currentWorker(ExecutionContext ctx) {
        Worker w = workersByContext.get(ctx);
        if (w != null) {
            return w;
        }
        if (ctx.inServingSoftirq()) {
            for (WorkerPool pool : bhPools[ctx.cpu().id()]) {
                if (pool.bhWorker.currentWork != null) {
                    return pool.bhWorker;
                }
            }
        }
        return null;
    }

    /** {@code current_work()}: the item running in the calling context, or null. */
    public Work currentWork() {
        Worker w = currentWorker(machine.current());
        return w == null ? null : w.currentWork;
    }

    /** A chained queue: the caller is an item running on {@code wq}. */
    private boolean isChained(ExecutionContext ctx, Workqueue wq) {
        Worker w = currentWorker(ctx);
        return w != null && w.currentPwq != null && w.currentPwq.wq == wq;
    }

    private void waitUntil(BooleanSupplier done, String what) {
        waitUntil(done, what, false);
    }

    /**
     * Waits until {@code done} holds; {@code forItem}: the condition is about one item's instance, which every
     * completion may end (see {@link #decInFlight}).
     */
    private void waitUntil(BooleanSupplier done, String what, boolean forItem) {
        if (done.getAsBoolean()) {
            return;
        }
        if (machine.stepped()) {
            // A worker gives the CPU away until the condition holds; the stepping thread runs the kernel
            // (moving the clock only while some thread sleeps on a timer or burns CPU time).
            if (!steppedScheduler().waitFor(done, what)) {
                reports.bug("BUG: " + what + " would block forever in stepped mode: nothing else runs the work",
                        new Throwable(what));
            }
            return;
        }
        if (forItem) {
            itemWaiters.incrementAndGet();
        }
        flushWaiters.incrementAndGet();
        boolean interrupted = false;
        try {
            // The condition takes pool locks, and completions signal under a pool lock: evaluate it outside
            // flushLock (lock order), and sleep only if no completion happened since it was evaluated.
            for (;;) {
                long gen = flushGeneration.get();
                if (done.getAsBoolean()) {
                    break;
                }
                flushLock.lock();
                try {
                    if (flushGeneration.get() == gen) {
                        flushed.await(1, TimeUnit.MILLISECONDS);
                    }
                } catch (InterruptedException e) {
                    interrupted = true; // an uninterruptible wait, as the kernel's: remember and go on
                } finally {
                    flushLock.unlock();
                }
            }
        } finally {
            flushWaiters.decrementAndGet();
            if (forItem) {
                itemWaiters.decrementAndGet();
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
