package dev.bottomhalf.workqueue;

import dev.bottomhalf.internal.jfr.Jfr;
import static dev.bottomhalf.workqueue.Workqueue.WQ_BH;
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

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
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
 * <li>Parts (docs/subsystems/workqueue.md, "Structure: who owns what"): this class is the public routing — the
 * Java API and what the {@code linux} facade calls, {@code __queue_work}'s choice of pool-workqueue and path,
 * the retry loop of {@code try_to_grab_pending}, and what is workqueue-wide ({@code alloc}/{@code destroy},
 * the system workqueues, {@code max_active}, the freezer, {@code Kernel.close}'s walks). Under a pool lock,
 * {@code PoolWorkqueue} does an item's accounting (color, in flight, {@code max_active}) and
 * {@code WorkerPool} puts it on the worklist and kicks; what workers do — running items, concurrency
 * management, BH rounds, idle-worker retirement, maydays and rescuers — is in {@code WorkerPools}; flushing,
 * draining and every wait for items to finish in {@code WorkqueueFlush}; the lockup watchdog, the dumps and
 * the monitor's statistics in {@code WorkqueueWatchdog}. Calls go from here down; nothing calls back, except
 * the idle timer queueing its cull item through the public {@link #queue} / {@link #queueOn}, as the kernel's
 * {@code idle_worker_timeout} does.</li>
 * <li>Queueing ({@code __queue_work}): PENDING is claimed with one CAS that also refuses disabled items;
 * the item is linked under its pool's lock, on the worklist if its pool-workqueue has an active slot, on
 * the inactive list otherwise; the pool is kicked (an idle worker woken, a worker created, or the BH
 * softirq raised). On a threaded kernel, items for a per-CPU pool skip the lock: they are pushed on the
 * pool's incoming list and linked by the next lock holder ({@link #queueWithoutLock}). An item still
 * running in another pool of the same workqueue is queued there
 * (non-reentrancy); a pool never lets two of its workers run the same item (the second is moved to the
 * first's scheduled list).</li>
 * <li>PENDING is cleared under the pool lock just before the function is called
 * ({@code WorkerPool.processOneBeginLocked}), so a queue attempt during execution queues exactly one more
 * execution.</li>
 * <li>Flushing: {@code flush_work} waits for the item's last queued (or running) instance by sequence
 * number; {@code flush_workqueue} by flush color (16 colors, as the kernel). Waits are reported instead of
 * hanging when they could only end by the caller itself finishing.</li>
 * <li>Locks: at most one pool lock is held at a time, except in {@code flush_workqueue}'s color switch
 * ({@code lockAll}: every pool of one workqueue, in pool-workqueue order, under that workqueue's
 * {@code flusher}). Waiters hold no lock while they wait (the machine's wait queue); a completion wakes
 * them under a pool lock, which takes no further lock.</li>
 * </ul>
 */
public final class Workqueues {
    /** {@code WORK_CPU_UNBOUND}: "the calling CPU" for per-CPU workqueues. */
    public static final int WORK_CPU_UNBOUND = -1;

    private final Machine machine;
    /** This object's copy of the machine's refusing state, for the re-queue of a pending item ({@link Machine#onRefusing}). */
    private volatile boolean refusing;
    /** Every delayed item whose timer was ever set up, for {@code Kernel.close()}; guarded by itself. */
    private final Set<DelayedWork> delayedWorks = Collections.newSetFromMap(new WeakHashMap<>());
    private final Timers timers;
    private final Reports reports;
    /** Queueing into a destroyed workqueue: reported rate-limited per workqueue (a re-arming timer floods). */
    private final RateLimiter destroyedQueueing;
    private final Tracing tracing;
    /** The pools and their workers. */
    private final WorkerPools pools;
    /** The lockup watchdog, the dumps and the statistics. */
    private final WorkqueueWatchdog watchdog;
    private final List<Workqueue> workqueues = new CopyOnWriteArrayList<>();
    /** Flushing, draining, and every wait for items to finish. */
    private final WorkqueueFlush flushing;
    private final WorkqueueHelpers helpers;
    /** Stepped mode (fixed for the machine's life): every item takes the locked path, for exact replay. */
    private final boolean stepped;

    private final Workqueue systemWq;
    private final Workqueue systemHighpriWq;
    private final Workqueue systemLongWq;
    private final Workqueue systemUnboundWq;
    private final Workqueue systemFreezableWq;
    private final Workqueue systemPowerEfficientWq;
    private final Workqueue systemFreezablePowerEfficientWq;
    private final Workqueue systemBhWq;
    private final Workqueue systemBhHighpriWq;

    /** The runtime under this kernel's workqueues, for the executors of this package. */
    Machine machine() {
        return machine;
    }

    static {
        Subsystems.install(Subsystems.WorkqueueAccess.class, new WorkqueuesWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Workqueues(Machine machine, Softirqs softirqs, Tasklets tasklets, Timers timers) {
        this.machine = Objects.requireNonNull(machine, "machine");
        machine.onRefusing(() -> refusing = true);
        Objects.requireNonNull(softirqs, "softirqs");
        this.timers = Objects.requireNonNull(timers, "timers");
        this.reports = machine.reports();
        this.destroyedQueueing = reports.limiter("__queue_work");
        this.tracing = machine.tracing();
        this.stepped = machine.stepped();
        this.pools = new WorkerPools(this, machine, softirqs, timers, workqueues);
        this.flushing = new WorkqueueFlush(machine, pools);
        this.helpers = new WorkqueueHelpers(this, machine, pools, timers);
        this.watchdog = pools.watchdog();
        Subsystems.tasklet().installBhWork(tasklets, pools::bhWorker);

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

    // ------------------------------------------------------------------------------------------
    // Workqueues
    // ------------------------------------------------------------------------------------------

    /**
     * {@code alloc_workqueue(name, flags, max_active)}. {@code max_active} 0 means the default
     * ({@link Workqueue#WQ_DFL_ACTIVE}); values outside 1..{@link Workqueue#WQ_MAX_ACTIVE} are clamped with
     * the kernel's warning. A BH workqueue must pass 0 and may only add {@code WQ_HIGHPRI}. A name of
     * {@link Workqueue#WQ_NAME_LEN} characters or more is truncated to {@code WQ_NAME_LEN - 1}, with the
     * kernel's {@code pr_warn_once}.
     *
     * <p>Where the kernel returns NULL (after its WARN) this Java API throws; the {@code dev.bottomhalf.linux}
     * facade's {@code alloc_workqueue} returns null, as the kernel does.
     *
     * @param name      the workqueue's name
     * @param flags     {@code WQ_*} flags
     * @param maxActive the most items in flight per pool, 0 for the default
     * @return the new workqueue, never null
     * @throws KernelException {@code EINVAL} (after the kernel's WARN) for a BH workqueue with other flags than
     *         {@code WQ_HIGHPRI} or a non-zero {@code max_active}, and for an ordered workqueue with {@code WQ_SYSFS}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public Workqueue alloc(String name, int flags, int maxActive) {
        machine.checkOpen();
        Objects.requireNonNull(name, "name");
        if ((flags & WQ_BH) == 0 || ((flags & ~(WQ_BH | WQ_HIGHPRI | WQ_PERCPU)) == 0 && maxActive == 0)) {
            name = WorkqueueChecks.truncatedName(reports, name); // (after the BH checks, as the kernel)
        }
        if ((flags & WQ_BH) != 0) {
            boolean badFlags = (flags & ~(WQ_BH | WQ_HIGHPRI | WQ_PERCPU)) != 0;
            if (badFlags || maxActive != 0) {
                // Two WARN_ON_ONCE()s in the kernel: one for the flags, one for max_active.
                String rule = "alloc_workqueue(" + name + "): a BH workqueue takes only WQ_HIGHPRI and"
                        + " max_active 0 (flags 0x" + Integer.toHexString(flags) + ", max_active " + maxActive + ")";
                reports.warnOnce(badFlags ? "alloc_workqueue_bh_flags" : "alloc_workqueue_bh_max_active",
                        "WARNING: " + rule);
                throw new KernelException(Errno.EINVAL, rule);
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
            String rule = "alloc_workqueue(" + name + "): WQ_SYSFS is not allowed on an ordered workqueue";
            reports.warning("WARNING: " + rule);
            throw new KernelException(Errno.EINVAL, rule);
        }
        boolean highpri = (flags & WQ_HIGHPRI) != 0;
        PoolWorkqueue[] pwqs;
        Workqueue wq;
        if ((flags & WQ_BH) != 0 || (flags & WQ_UNBOUND) == 0) {
            pwqs = new PoolWorkqueue[machine.cpuCount()];
            wq = new Workqueue(this, name, flags, maxActive, pwqs);
            for (int cpu = 0; cpu < pwqs.length; cpu++) {
                WorkerPool pool = pools.perCpuPool(cpu, highpri, (flags & WQ_BH) != 0);
                pwqs[cpu] = new PoolWorkqueue(wq, pool, flushing);
            }
        } else {
            pwqs = new PoolWorkqueue[1];
            wq = new Workqueue(this, name, flags, maxActive, pwqs);
            pwqs[0] = new PoolWorkqueue(wq, pools.unboundPool(highpri), flushing);
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

    /**
     * {@code alloc_ordered_workqueue(name, flags)}: unbound, one item at a time, in queueing order.
     *
     * @param name  the workqueue's name
     * @param flags more {@code WQ_*} flags
     * @return the new workqueue, never null
     * @throws KernelException {@code EINVAL} where the kernel returns NULL (see {@link #alloc})
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public Workqueue allocOrdered(String name, int flags) {
        return alloc(name, WQ_UNBOUND | WQ_ORDERED | flags, 1); // every flag passes, as the kernel's macro
    }

    /**
     * {@code create_workqueue(name)}: per-CPU, mem-reclaim, max_active 1 (the legacy form).
     *
     * @param name the workqueue's name
     * @return the workqueue
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public Workqueue createWorkqueue(String name) {
        return alloc(name, Workqueue.WQ_LEGACY | WQ_MEM_RECLAIM, 1);
    }

    /**
     * {@code create_singlethread_workqueue(name)}: ordered.
     *
     * @param name the workqueue's name
     * @return the workqueue
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public Workqueue createSinglethreadWorkqueue(String name) {
        return allocOrdered(name, Workqueue.WQ_LEGACY | WQ_MEM_RECLAIM);
    }

    /**
     * {@code create_freezable_workqueue(name)}.
     *
     * @param name the workqueue's name
     * @return the workqueue
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public Workqueue createFreezableWorkqueue(String name) {
        return alloc(name, Workqueue.WQ_LEGACY | WQ_FREEZABLE | WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
    }

    /**
     * {@code system_wq}: the per-CPU workqueue {@link #schedule} queues on; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemWq() {
        return systemWq;
    }

    /**
     * {@code system_highpri_wq}: per-CPU, on the high-priority pools; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemHighpriWq() {
        return systemHighpriWq;
    }

    /**
     * {@code system_long_wq}: per-CPU, for items that may run long; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemLongWq() {
        return systemLongWq;
    }

    /**
     * {@code system_unbound_wq}: unbound, items not tied to the queueing CPU; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemUnboundWq() {
        return systemUnboundWq;
    }

    /**
     * {@code system_freezable_wq}: per-CPU and {@code WQ_FREEZABLE}; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemFreezableWq() {
        return systemFreezableWq;
    }

    /**
     * {@code system_power_efficient_wq}: per-CPU, {@code WQ_POWER_EFFICIENT}; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemPowerEfficientWq() {
        return systemPowerEfficientWq;
    }

    /**
     * {@code system_freezable_power_efficient_wq}: {@code WQ_FREEZABLE | WQ_POWER_EFFICIENT}; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemFreezablePowerEfficientWq() {
        return systemFreezablePowerEfficientWq;
    }

    /**
     * {@code system_bh_wq}: its items run in softirq context on the queueing CPU; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemBhWq() {
        return systemBhWq;
    }

    /**
     * {@code system_bh_highpri_wq}: as {@link #systemBhWq()}, on the high-priority BH pools; any thread.
     *
     * @return the workqueue
     */
    public Workqueue systemBhHighpriWq() {
        return systemBhHighpriWq;
    }

    /**
     * The workqueues that exist, system ones first.
     *
     * @return a snapshot list
     */
    public List<Workqueue> workqueues() {
        return List.copyOf(workqueues);
    }

    private boolean isSystemWq(Workqueue wq) {
        return wq == systemWq || wq == systemHighpriWq || wq == systemLongWq || wq == systemUnboundWq
                || wq == systemFreezableWq || wq == systemPowerEfficientWq || wq == systemFreezablePowerEfficientWq
                || wq == systemBhWq || wq == systemBhHighpriWq;
    }

    // ------------------------------------------------------------------------------------------
    // Queueing
    // ------------------------------------------------------------------------------------------

    /**
     * {@code queue_work(wq, work)}: {@link #queueOn} the calling CPU.
     *
     * @param wq the workqueue
     * @param w an initialised item
     * @return true if this call queued it; false if it was already pending or is disabled
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     */
    public boolean queue(Workqueue wq, Work w) {
        return queueOn(WORK_CPU_UNBOUND, wq, w);
    }

    /**
     * {@code queue_work_on(cpu, wq, work)}.
     *
     * @param cpu the CPU whose pool runs it, or {@link #WORK_CPU_UNBOUND} for the calling one
     * @param wq the workqueue
     * @param w an initialised item
     * @return true if this call queued it; false if it was already pending or is disabled
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     * @throws dev.bottomhalf.runtime.KernelException ({@code ENXIO}) for a CPU that does not exist
     */
    public boolean queueOn(int cpu, Workqueue wq, Work w) {
        Objects.requireNonNull(wq, "wq");
        if (cpu != WORK_CPU_UNBOUND) {
            machine.cpu(cpu);
        }
        if (!w.tryClaimForQueue()) {
            // PENDING or disabled: an initialised item (queueing and disabling both require INIT_WORK).
            if (refusing) {
                machine.checkOpen(); // a closing kernel refuses even a re-queue that would change nothing
            }
            return false;
        }
        if (w.func() == null) {
            w.clearPending(); // the claim is given back: nothing was accepted
            requireFunc(w, "queue_work");
        }
        try {
            machine.checkOpen();
        } catch (IllegalStateException refused) {
            w.clearPending(); // the claim is given back: nothing was accepted
            throw refused;
        }
        insert(cpu, wq, w);
        machine.afterAccept();
        return true;
    }

    /**
     * {@code schedule_work(work)}: on {@code system_wq}.
     *
     * @param w an initialised item
     * @return true if this call queued it; false if it was already pending or is disabled
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     */
    public boolean schedule(Work w) {
        return queue(systemWq, w);
    }

    /**
     * {@code schedule_work_on(cpu, work)}.
     *
     * @param cpu the CPU whose pool runs it
     * @param w an initialised item
     * @return true if this call queued it; false if it was already pending or is disabled
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     * @throws dev.bottomhalf.runtime.KernelException ({@code ENXIO}) for a CPU that does not exist
     */
    public boolean scheduleOn(int cpu, Work w) {
        return queueOn(cpu, systemWq, w);
    }

    private static void requireFunc(Work w, String call) {
        if (w.func() == null) {
            throw new IllegalStateException(call + "() of a work item that was never initialised: call INIT_WORK()"
                    + " first");
        }
    }

    /**
     * {@code __queue_work}: the caller owns PENDING. Refuses a draining or destroyed workqueue (unless the item
     * is chained from it), picks the pool-workqueue (the CPU's, or — non-reentrancy — the pool still running
     * the item) and the path: without the lock ({@link #queueWithoutLock}), or under the pool lock through
     * {@link PoolWorkqueue#queueLocked} and {@link WorkerPool#kickLocked}. Context: any. LOCKING: none held;
     * takes one pool lock (briefly the item's last pool first, for the non-reentrancy look-up).
     */
    private void insert(int reqCpu, Workqueue wq, Work w) {
        ExecutionContext ctx = machine.current();
        if ((wq.draining > 0 || wq.destroyed) && !isChained(ctx, wq)) {
            if (wq.destroyed) {
                if (destroyedQueueing.allow(wq, KernelEvent.Kind.BUG)) {
                    reports.bug("BUG: workqueue: cannot queue " + w.name() + " on wq " + wq.name() + ": the workqueue"
                            + " has been destroyed (the item never runs)", new Throwable("__queue_work"));
                }
            } else {
                reports.warnOnce("wq_cannot_queue", "workqueue: cannot queue " + w.name() + " on wq " + wq.name());
            }
            return; // PENDING stays set: the item never runs, and later queue attempts return false
        }
        int cpu = reqCpu == WORK_CPU_UNBOUND ? ctx.cpuId() : reqCpu;
        PoolWorkqueue pwq = wq.pwq(cpu);
        WorkerPool pool = pwq.pool;
        WorkerPool last = w.lastPool;
        if ((last == null || last == pool) && pool.concurrencyManaged() && !stepped && (wq.flags & WQ_FREEZABLE) == 0) {
            queueWithoutLock(reqCpu, cpu, wq, pwq, w);
            return;
        }
        if (last != null && last != pool && !wq.isOrdered()) {
            last.lock();
            Worker worker = last.findWorkerExecutingLocked(w);
            if (worker != null && worker.currentPwq != null && worker.currentPwq.wq == wq) {
                pwq = worker.currentPwq;
                pool = last;
            } else {
                last.unlock();
                pool.lock();
            }
        } else {
            pool.lock();
        }
        boolean create;
        try {
            w.setPwq(pwq);
            traceQueueWork(reqCpu, pool.cpu >= 0 ? pool.cpu : cpu, wq, w);
            create = pwq.queueLocked(w) && pool.kickLocked(ctx);
        } finally {
            pool.unlock();
        }
        if (create) {
            pools.createWorker(pool);
        }
    }

    /**
     * {@code __queue_work} without the pool lock, for a per-CPU, concurrency-managed pool in threaded mode
     * when the item last ran in that same pool (or never ran): the item is pushed on the pool's incoming list
     * and the next holder of the pool lock does the rest ({@link PoolWorkqueue#queueLocked}); the pool sees to
     * it that someone takes the lock soon ({@link WorkerPool#queueWithoutLock}). Every path that looks at the
     * pool takes its lock first, so every operation that follows this call — a cancel, a flush, a worker
     * looking for work — finds the item queued. Unbound, BH, ordered and freezable workqueues, items that last
     * ran in another pool (non-reentrancy), and stepped mode take the locked path. Context: any; the caller
     * owns PENDING. LOCKING: none held, none taken unless the pool must be kicked.
     */
    private void queueWithoutLock(int reqCpu, int cpu, Workqueue wq, PoolWorkqueue pwq, Work w) {
        WorkerPool pool = pwq.pool;
        w.setPwq(pwq); // published by the push
        traceQueueWork(reqCpu, cpu, wq, w);
        pool.queueWithoutLock(w);
    }

    /** The {@code workqueue_queue_work} tracepoint. */
    private void traceQueueWork(int reqCpu, int cpu, Workqueue wq, Work w) {
        if (tracing.on(Tracepoint.WORKQUEUE_QUEUE_WORK)) {
            tracing.emit(Tracepoint.WORKQUEUE_QUEUE_WORK, "work struct=" + w.name() + " function=" + w.name()
                    + " workqueue=" + wq.name() + " req_cpu=" + (reqCpu == WORK_CPU_UNBOUND ? 8192 : reqCpu)
                    + " cpu=" + cpu);
        }
        if (Jfr.on()) {
            Jfr.queueWork(wq.name(), w.name(), reqCpu, cpu);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Workers (held by WorkerPools)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code workqueue.cpu_intensive_thresh_us}: how long a concurrency-managed item may run before it is
     * marked CPU-intensive (default 10,000 µs; 0 disables the detection).
     *
     * @return the threshold in microseconds
     */
    public long cpuIntensiveThresholdUs() {
        return pools.cpuIntensiveThresholdUs();
    }

    /**
     * Sets {@code workqueue.cpu_intensive_thresh_us}; any thread, takes effect for items that start afterwards.
     *
     * @param us the threshold in microseconds; 0 disables the detection
     * @throws IllegalArgumentException when {@code us} is negative
     */
    public void cpuIntensiveThresholdUs(long us) {
        pools.cpuIntensiveThresholdUs(us);
    }

    /**
     * Items that exceeded the CPU-intensive threshold.
     *
     * @return the count since boot
     */
    public long cpuIntensiveViolations() {
        return pools.cpuIntensiveViolations();
    }

    /**
     * Workers woken because a running worker blocked or hogged the CPU (concurrency management).
     *
     * @return the count since boot
     */
    public long cmWakeups() {
        return pools.cmWakeups();
    }

    /**
     * {@code IDLE_WORKER_TIMEOUT} in seconds (300 by default); settable: a shorter timeout gives idle workers back sooner on a small machine.
     *
     * @return the timeout in seconds
     */
    public long idleWorkerTimeoutSeconds() {
        return pools.idleWorkerTimeoutSeconds();
    }

    /**
     * Sets {@code IDLE_WORKER_TIMEOUT}: how long a pool keeps a surplus idle worker; any thread.
     *
     * @param seconds the timeout in seconds, at least 1
     * @throws IllegalArgumentException when {@code seconds} is below 1
     */
    public void idleWorkerTimeoutSeconds(long seconds) {
        pools.idleWorkerTimeoutSeconds(seconds);
    }

    /**
     * How many workers the pool of CPU {@code cpu} (−1: the unbound pool) has: a diagnostic, as the kernel's workqueue monitor shows.
     *
     * @param cpu the CPU, or −1 for the unbound pool
     * @param highpri whether to count the high-priority pool
     * @return the number of workers, idle or busy
     * @throws dev.bottomhalf.runtime.KernelException ({@code ENXIO}) for a CPU that does not exist
     */
    public int workerCount(int cpu, boolean highpri) {
        return pools.workerCount(cpu, highpri);
    }

    /**
     * Fault injection: while true, pools cannot create workers (as when the kernel cannot allocate or fork
     * one). Items then wait, except those of {@code WQ_MEM_RECLAIM} workqueues, which their rescuers run.
     */
    void failWorkerCreation(boolean fail) {
        pools.failWorkerCreation(fail);
    }

    // ------------------------------------------------------------------------------------------
    // Delayed work
    // ------------------------------------------------------------------------------------------

    /**
     * {@code queue_delayed_work(wq, dwork, delay)}: on the calling CPU's pool when the delay has passed.
     *
     * @param wq the workqueue
     * @param dw the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true if this call armed or queued it; false if it was already pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean queueDelayed(Workqueue wq, DelayedWork dw, long delay) {
        return queueDelayedOn(WORK_CPU_UNBOUND, wq, dw, delay);
    }

    /**
     * {@code queue_delayed_work_on(cpu, wq, dwork, delay)}: false (and the timer unchanged) if it is already
     * pending; a delay of 0 queues at once.
     *
     * @param cpu the CPU whose pool runs it, or {@link #WORK_CPU_UNBOUND}
     * @param wq the workqueue
     * @param dw the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true if this call armed or queued it; false if it was already pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     * @throws dev.bottomhalf.runtime.KernelException ({@code ENXIO}) for a CPU that does not exist
     */
    public boolean queueDelayedOn(int cpu, Workqueue wq, DelayedWork dw, long delay) {
        machine.checkOpen();
        Objects.requireNonNull(wq, "wq");
        if (cpu != WORK_CPU_UNBOUND) {
            machine.cpu(cpu);
        }
        if (!dw.work.tryClaimForQueue()) {
            return false;
        }
        queueDelayedOwned(cpu, wq, dw, delay);
        machine.afterAccept();
        return true;
    }

    /** {@code __queue_delayed_work}: the caller owns PENDING. Any context. LOCKING: none held; the timer's own. */
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
                    Subsystems.time().setupInternal(timers, dw.timer, dw.name(), t -> delayedWorkTimerFn(dw),
                            TimerList.TIMER_IRQSAFE);
                    synchronized (delayedWorks) {
                        delayedWorks.add(dw);
                    }
                    dw.timerReady = true;
                }
            }
        }
    }

    /** {@code delayed_work_timer_fn}: the delay has passed; queue the item. Context: the timer (softirq). */
    private void delayedWorkTimerFn(DelayedWork dw) {
        dw.wq.armedDelayed.decrementAndGet();
        insert(dw.cpu, dw.wq, dw.work);
    }

    /**
     * {@code schedule_delayed_work(dwork, delay)}: on {@code system_wq}.
     *
     * @param dw the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true if this call armed or queued it; false if it was already pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean scheduleDelayed(DelayedWork dw, long delay) {
        return queueDelayed(systemWq, dw, delay);
    }

    /**
     * {@code schedule_delayed_work_on(cpu, dwork, delay)}.
     *
     * @param cpu the CPU whose pool runs it
     * @param dw the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true if this call armed or queued it; false if it was already pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     * @throws dev.bottomhalf.runtime.KernelException ({@code ENXIO}) for a CPU that does not exist
     */
    public boolean scheduleDelayedOn(int cpu, DelayedWork dw, long delay) {
        return queueDelayedOn(cpu, systemWq, dw, delay);
    }

    /**
     * {@code mod_delayed_work(wq, dwork, delay)}.
     *
     * @param wq the workqueue
     * @param dw the delayed item
     * @param delay jiffies to wait from now; 0 queues at once
     * @return true if it was pending (now re-timed), false if it was idle (now armed or queued)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean modDelayed(Workqueue wq, DelayedWork dw, long delay) {
        return modDelayedOn(WORK_CPU_UNBOUND, wq, dw, delay);
    }

    /**
     * {@code mod_delayed_work_on(cpu, wq, dwork, delay)}: (re)arms whatever state it is in.
     *
     * @param cpu the CPU whose pool runs it, or {@link #WORK_CPU_UNBOUND}
     * @param wq the workqueue
     * @param dw the delayed item
     * @param delay jiffies to wait from now; 0 queues at once
     * @return true if it was pending (now re-timed), false if it was idle (now armed or queued)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean modDelayedOn(int cpu, Workqueue wq, DelayedWork dw, long delay) {
        machine.checkOpen();
        Objects.requireNonNull(wq, "wq");
        int ret = grabPending(dw.work, dw);
        if (dw.work.disableDepth() > 0) {
            dw.work.clearPending();
        } else {
            queueDelayedOwned(cpu, wq, dw, delay);
            machine.afterAccept();
        }
        return ret == 1;
    }

    // Duration overloads: the delay converted as msecs_to_jiffies converts (rounded up, clamped to
    // MAX_JIFFY_OFFSET); a negative delay is an IllegalArgumentException.

    /**
     * {@link #queueDelayed(Workqueue, DelayedWork, long)} with the delay as a {@link Duration}: rounded up to
     * jiffies as {@code msecs_to_jiffies} rounds, clamped to {@link Jiffies#MAX_JIFFY_OFFSET}. Any context.
     *
     * @param wq    the workqueue
     * @param dw    the delayed item
     * @param delay how long from now, not negative ({@link Duration#ZERO}: queued at once)
     * @return false (and the timer unchanged) if it was already pending
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean queueDelayed(Workqueue wq, DelayedWork dw, Duration delay) {
        return queueDelayed(wq, dw, toJiffies(delay));
    }

    /**
     * {@link #queueDelayedOn(int, Workqueue, DelayedWork, long)} with the delay as a {@link Duration} (converted as
     * {@link #queueDelayed(Workqueue, DelayedWork, Duration)} converts). Any context.
     *
     * @param cpu   the CPU whose pool runs it, or {@link #WORK_CPU_UNBOUND}
     * @param wq    the workqueue
     * @param dw    the delayed item
     * @param delay how long from now, not negative
     * @return false (and the timer unchanged) if it was already pending
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean queueDelayedOn(int cpu, Workqueue wq, DelayedWork dw, Duration delay) {
        return queueDelayedOn(cpu, wq, dw, toJiffies(delay));
    }

    /**
     * {@code schedule_delayed_work(dwork, delay)} with the delay as a {@link Duration}: on {@code system_wq}. Any
     * context.
     *
     * @param dw    the delayed item
     * @param delay how long from now, not negative
     * @return false if it was already pending
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean scheduleDelayed(DelayedWork dw, Duration delay) {
        return scheduleDelayed(dw, toJiffies(delay));
    }

    /**
     * {@code schedule_delayed_work_on(cpu, dwork, delay)} with the delay as a {@link Duration}. Any context.
     *
     * @param cpu   the CPU whose pool runs it
     * @param dw    the delayed item
     * @param delay how long from now, not negative
     * @return false if it was already pending
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean scheduleDelayedOn(int cpu, DelayedWork dw, Duration delay) {
        return scheduleDelayedOn(cpu, dw, toJiffies(delay));
    }

    /**
     * {@code mod_delayed_work(wq, dwork, delay)} with the delay as a {@link Duration}: (re)arms whatever state it
     * is in. Any context.
     *
     * @param wq    the workqueue
     * @param dw    the delayed item
     * @param delay how long from now, not negative
     * @return true if it was pending (now re-timed), false if it was idle (now armed or queued)
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean modDelayed(Workqueue wq, DelayedWork dw, Duration delay) {
        return modDelayed(wq, dw, toJiffies(delay));
    }

    /**
     * {@code mod_delayed_work_on(cpu, wq, dwork, delay)} with the delay as a {@link Duration}. Any context.
     *
     * @param cpu   the CPU whose pool runs it, or {@link #WORK_CPU_UNBOUND}
     * @param wq    the workqueue
     * @param dw    the delayed item
     * @param delay how long from now, not negative
     * @return true if it was pending (now re-timed), false if it was idle (now armed or queued)
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean modDelayedOn(int cpu, Workqueue wq, DelayedWork dw, Duration delay) {
        return modDelayedOn(cpu, wq, dw, toJiffies(delay));
    }

    private long toJiffies(Duration delay) {
        return Jiffies.durationToJiffies(delay, machine.hz());
    }

    /**
     * {@code flush_delayed_work(dwork)}: an armed timer is cancelled and the item queued at once; then
     * {@link #flush}.
     *
     * @param dw the delayed item
     * @return true if it had to wait, false if the item was idle
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean flushDelayed(DelayedWork dw) {
        machine.checkOpen();
        if (dw.timerReady && timers.deleteSync(dw.timer) == 1) {
            dw.wq.armedDelayed.decrementAndGet();
            insert(dw.cpu, dw.wq, dw.work);
        }
        return flush(dw.work);
    }

    /**
     * {@code cancel_delayed_work(dwork)}: true if the timer or the queued item was pending. Does not wait.
     *
     * @param dw the delayed item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean cancelDelayed(DelayedWork dw) {
        machine.checkOpen();
        int ret = grabPending(dw.work, dw);
        dw.work.clearPending();
        return ret == 1;
    }

    /**
     * {@code cancel_delayed_work_sync(dwork)}.
     *
     * @param dw the delayed item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean cancelDelayedSync(DelayedWork dw) {
        return cancelSync(dw.work, dw, false, "cancel_delayed_work_sync");
    }

    /**
     * {@code disable_delayed_work(dwork)}.
     *
     * @param dw the delayed item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean disableDelayed(DelayedWork dw) {
        return disable(dw.work, dw);
    }

    /**
     * {@code disable_delayed_work_sync(dwork)}.
     *
     * @param dw the delayed item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean disableDelayedSync(DelayedWork dw) {
        return cancelSync(dw.work, dw, true, "disable_delayed_work_sync");
    }

    /**
     * {@code enable_delayed_work(dwork)}.
     *
     * @param dw the delayed item
     * @return true iff the disable depth is 0 afterwards
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean enableDelayed(DelayedWork dw) {
        return enable(dw.work, dw);
    }

    // ------------------------------------------------------------------------------------------
    // Closing the kernel (Kernel.close: destroy_workqueue for every workqueue at once)
    // ------------------------------------------------------------------------------------------

    /**
     * Whether no item is queued, waiting over max_active or running on any pool. For {@code Kernel.close()},
     * which waits for it after refusing new work; a snapshot (each pool under its lock). LOCKING: takes each
     * pool lock in turn ({@link WorkerPool#idleLocked}).
     */
    boolean idleForClose() {
        for (WorkerPool pool : pools.allPools()) {
            pool.lock();
            try {
                if (!pool.idleLocked()) {
                    return false;
                }
            } finally {
                pool.unlock();
            }
        }
        for (Workqueue wq : workqueues) {
            for (PoolWorkqueue pwq : wq.pwqs) {
                WorkerPool pool = pwq.pool;
                pool.lock();
                try {
                    if (!pwq.inactive.isEmpty()) {
                        return false;
                    }
                } finally {
                    pool.unlock();
                }
            }
        }
        return true;
    }

    /**
     * {@code cancel_delayed_work} of every delayed item whose timer is armed. For {@code Kernel.close()}, after
     * the accepted work ran.
     *
     * @return the names of the items cancelled
     */
    List<String> cancelArmedDelayedForClose() {
        List<DelayedWork> all;
        synchronized (delayedWorks) {
            all = new ArrayList<>(delayedWorks);
        }
        List<String> cancelled = new ArrayList<>();
        for (DelayedWork dw : all) {
            if (dw.timerPending() && cancelDelayed(dw)) {
                cancelled.add(dw.name());
            }
        }
        return cancelled;
    }

    /**
     * {@code cancel_work} of every item still queued, waiting over max_active or assigned to a worker that
     * did not run it. For {@code Kernel.close()}, after the runtime threads stopped. LOCKING: takes each pool
     * lock in turn to copy the lists ({@link WorkerPool#copyQueuedLocked}), then cancels with none held.
     *
     * @return the names of the items cancelled
     */
    List<String> cancelQueuedForClose() {
        List<Work> queued = new ArrayList<>();
        for (WorkerPool pool : pools.allPools()) {
            pool.lock();
            try {
                pool.copyQueuedLocked(queued);
            } finally {
                pool.unlock();
            }
        }
        for (Workqueue wq : workqueues) {
            for (PoolWorkqueue pwq : wq.pwqs) {
                pwq.pool.lock();
                try {
                    pwq.inactive.copyTo(queued);
                } finally {
                    pwq.pool.unlock();
                }
            }
        }
        List<String> cancelled = new ArrayList<>();
        for (Work w : queued) {
            if (cancel(w)) {
                cancelled.add(w.name());
            }
        }
        return cancelled;
    }

    // ------------------------------------------------------------------------------------------
    // Cancel / disable
    // ------------------------------------------------------------------------------------------

    /**
     * {@code try_to_grab_pending}: takes PENDING away from whoever holds it, unlinking a queued item
     * ({@link PoolWorkqueue#grabQueuedLocked}) or stopping its delay timer; retries while another thread is
     * between claiming PENDING and linking the item. Context: any. LOCKING:
     * none held; takes the item's pool lock per attempt.
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
                pool.lock();
                try {
                    if (pwq.grabQueuedLocked(w)) {
                        return 1;
                    }
                } finally {
                    pool.unlock();
                }
            } else if (w.lastWq != null && (w.lastWq.draining > 0 || w.lastWq.destroyed) && spins > 1000) {
                return 1; // refused by a draining workqueue: PENDING was left set and nothing holds the item
            }
            if (spins < 100) {
                Thread.onSpinWait();
            } else {
                machine.checkOpen(); // a closed or panicked kernel ends the retries (nobody will finish the queueing)
                Thread.yield();
            }
        }
    }

    /**
     * {@code cancel_work(work)}: true if it was pending (now removed). Does not wait for a running instance.
     *
     * @param w an initialised item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     */
    public boolean cancel(Work w) {
        machine.checkOpen();
        requireFunc(w, "cancel_work");
        int ret = grabPending(w, null);
        w.clearPending();
        return ret == 1;
    }

    /**
     * {@code cancel_work_sync(work)}: cancels and waits until no instance runs anywhere. A self-requeueing
     * item cannot escape: its queue attempts during the call return false.
     *
     * @param w an initialised item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     */
    public boolean cancelSync(Work w) {
        machine.checkOpen();
        requireFunc(w, "cancel_work_sync");
        return cancelSync(w, null, false, "cancel_work_sync");
    }

    /**
     * {@code disable_work(work)}: disable depth + 1 and cancel; true if it was pending. Does not wait.
     *
     * @param w an initialised item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     */
    public boolean disable(Work w) {
        machine.checkOpen();
        requireFunc(w, "disable_work");
        return disable(w, null);
    }

    private boolean disable(Work w, DelayedWork dw) {
        machine.checkOpen();
        int ret = grabPending(w, dw);
        if (!w.incDisable()) {
            reports.warnOnce("work_offqd_disable", "workqueue: work disable count overflowed");
        }
        w.clearPending();
        return ret == 1;
    }

    /**
     * {@code disable_work_sync(work)}: {@link #disable} and wait for a running instance.
     *
     * @param w an initialised item
     * @return true if it was pending
     * @throws IllegalStateException when the kernel is closed or has panicked, or the item was never initialised
     */
    public boolean disableSync(Work w) {
        machine.checkOpen();
        requireFunc(w, "disable_work_sync");
        return cancelSync(w, null, true, "disable_work_sync");
    }

    /**
     * {@code enable_work(work)}: disable depth − 1.
     *
     * @param w the item
     * @return true iff the depth is 0 afterwards — also after an underflow: at depth 0 the kernel warns once
     *         ({@code WARN_ONCE}), the depth stays 0 and it returns true. As the kernel's, it first takes
     *         PENDING away ({@code work_grab_pending}), so enabling an enabled item that is queued cancels
     *         that instance.
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean enable(Work w) {
        return enable(w, null);
    }

    private boolean enable(Work w, DelayedWork dw) {
        machine.checkOpen();
        int depth = w.decDisable();
        if (depth < 0) {
            // Only an enabled item can be pending; a disabled one never is (queueing refuses it).
            if (w.isPending()) {
                grabPending(w, dw);
                w.clearPending();
            }
            reports.warnOnce("work_offqd_enable", "workqueue: work disable count underflowed");
            return true;
        }
        return depth == 0;
    }

    /**
     * {@code enable_and_queue_work(wq, work)}: enable; queue if the depth reached 0.
     *
     * @param wq the workqueue to queue on
     * @param w the item
     * @return true iff the depth reached 0 (then the item was queued, or already was pending: the kernel's
     *         inline ignores what {@code queue_work} returned)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean enableAndQueue(Workqueue wq, Work w) {
        machine.checkOpen();
        if (enable(w)) {
            queue(wq, w);
            return true;
        }
        return false;
    }

    private boolean cancelSync(Work w, DelayedWork dw, boolean keepDisabled, String call) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        Worker self = pools.currentWorker(ctx);
        if (self != null && self.currentWork == w) {
            reports.lockdep(KernelEvent.Kind.BUG, "WARNING: possible recursive locking detected: " + call + "("
                    + w.name() + ") called from the item's own function waits for itself ((work_completion)("
                    + w.name() + ")); it would never return", new Throwable(call));
            return false;
        }
        int ret = grabPending(w, dw);
        if (!w.incDisable()) {
            reports.warnOnce("work_offqd_disable", "workqueue: work disable count overflowed");
        }
        w.clearPending();
        if (lastQueuedOnBh(w)) {
            // WORK_OFFQ_BH: a BH item may be cancelled from any context but hard IRQ (WARN_ON_ONCE).
            if (ctx.inHardirq()) {
                reports.warnOnce("__cancel_work_sync_hardirq", "WARNING: " + call + "(" + w.name() + ") in hard-IRQ"
                        + " context");
            }
        } else {
            ctx.mightSleep(call);
        }
        flushing.waitForRunningInstance(w, call);
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
    // Flush
    // ------------------------------------------------------------------------------------------

    /**
     * {@code flush_work(work)}: waits until the instance queued (or running) at the time of the call has
     * finished. From the item's own function it would wait for itself: reported, returns false.
     *
     * @param w the item
     * @return true if it had to wait, false if the item was idle
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean flush(Work w) {
        machine.checkOpen();
        return flushing.flushWork(w);
    }

    /**
     * {@code flush_workqueue(wq)}: waits for every item queued before the call (running, queued or
     * inactive); items queued later do not hold it up. From an item of {@code wq} it would wait for
     * itself: reported, returns.
     *
     * @param wq the workqueue
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void flushWorkqueue(Workqueue wq) {
        machine.checkOpen();
        flushing.flushWorkqueue(wq, isSystemWq(wq));
    }

    /** {@code flush_scheduled_work()}: flushes {@code system_wq} (deprecated in the kernel, and warned about). */
    public void flushScheduledWork() {
        flushWorkqueue(systemWq);
    }

    /**
     * {@code drain_workqueue(wq)}: flushes until the workqueue is empty. Meanwhile only chained queueing
     * (from the workqueue's own items) is accepted; other queue attempts get the kernel's
     * {@code cannot queue} warning.
     *
     * @param wq the workqueue
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void drainWorkqueue(Workqueue wq) {
        machine.checkOpen();
        flushing.drain(wq, isSystemWq(wq));
    }

    /**
     * {@code destroy_workqueue(wq)}: drains it (every queued item runs first), then retires it. Delayed items
     * whose timers are still armed are not cancelled — reported; when such a timer fires later its item is
     * refused with an error. If an item was queued after the drain, the kernel's sanity check warns
     * ("has the following busy pwq", with the pool-workqueue shown) and the workqueue is left alive.
     *
     * @param wq a workqueue made with {@link #alloc}
     * @throws IllegalArgumentException for a system workqueue
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void destroy(Workqueue wq) {
        machine.checkOpen();
        if (isSystemWq(wq)) {
            throw new IllegalArgumentException("destroy_workqueue() of system workqueue " + wq.name());
        }
        if (flushing.refusedFromOwnItem(wq, "destroy_workqueue")) {
            return;
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
        if (flushing.totalInFlight(wq) != 0) {
            // Something queued after the drain (the caller's bug). Like the kernel: warn, show the busy
            // pool-workqueues, and give up destroying — the workqueue stays (without its rescuer) and its
            // items still run, so nothing accepted is lost.
            reports.warning("WARNING: destroy_workqueue: " + wq.name() + " has the following busy pwq\n"
                    + watchdog.showWorkqueue(wq));
            return;
        }
        wq.destroyed = true;
        workqueues.remove(wq);
    }

    // ------------------------------------------------------------------------------------------
    // max_active and the freezer
    // ------------------------------------------------------------------------------------------

    /**
     * {@code workqueue_set_max_active(wq, max_active)}: clamped as at allocation; raising it activates waiting
     * items at once. Refused with the kernel's WARN for BH and ordered workqueues.
     *
     * @param wq the workqueue
     * @param maxActive the new limit, clamped to 1..{@link Workqueue#WQ_MAX_ACTIVE}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void setMaxActive(Workqueue wq, int maxActive) {
        machine.checkOpen();
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

    /**
     * Moves inactive items of {@code wq} to their worklists while slots allow, and kicks the pools. Any
     * context. LOCKING: takes each pool lock in turn ({@link PoolWorkqueue#activateInactiveLocked}).
     */
    private void activateWaiting(Workqueue wq) {
        ExecutionContext ctx = machine.current();
        for (PoolWorkqueue pwq : wq.pwqs) {
            boolean create = false;
            pwq.pool.lock();
            try {
                boolean any = pwq.activateInactiveLocked();
                if (any) {
                    create = pwq.pool.kickLocked(ctx);
                }
            } finally {
                pwq.pool.unlock();
            }
            if (create) {
                pools.createWorker(pwq.pool);
            }
        }
    }

    /**
     * {@code freeze_workqueues_begin} + waiting until {@code freeze_workqueues_busy} is false: from now on
     * items queued on {@code WQ_FREEZABLE} workqueues wait on their inactive lists; returns once no item of
     * a freezable workqueue is active any more. May sleep.
     */
    public void freeze() {
        machine.checkOpen();
        machine.current().mightSleep("freeze_workqueues_begin");
        pools.freezing(true);
        flushing.waitUntil(() -> {
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
        machine.checkOpen();
        pools.freezing(false);
        for (Workqueue wq : workqueues) {
            if ((wq.flags & WQ_FREEZABLE) != 0) {
                activateWaiting(wq);
            }
        }
    }

    /**
     * Whether the workqueues are frozen.
     *
     * @return true between {@link #freeze()} and {@link #thaw()}
     */
    public boolean isFrozen() {
        return pools.freezing();
    }

    /** Items of {@code wq} active now, over its pool-workqueues. LOCKING: takes each pool lock in turn. */
    private int activeItems(Workqueue wq) {
        int n = 0;
        for (PoolWorkqueue pwq : wq.pwqs) {
            pwq.pool.lock();
            try {
                n += pwq.nrActive;
            } finally {
                pwq.pool.unlock();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------------------------------
    // Lockup watchdog and the monitor (held by WorkqueueWatchdog)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code workqueue.watchdog_thresh}: seconds a pool may make no progress before it is reported (0: off).
     *
     * @return the threshold in seconds, 0 when the watchdog is off
     */
    public long watchdogThreshSeconds() {
        return watchdog.watchdogThreshSeconds();
    }

    /**
     * Sets {@code workqueue.watchdog_thresh}; any thread.
     *
     * @param seconds seconds without progress before a pool is reported; 0 turns the watchdog off
     * @throws IllegalArgumentException when {@code seconds} is negative
     */
    public void watchdogThreshSeconds(long seconds) {
        watchdog.watchdogThreshSeconds(seconds);
    }

    /**
     * Lockups reported so far.
     *
     * @return the count since boot
     */
    public long lockups() {
        return watchdog.lockups();
    }

    /**
     * {@code show_all_workqueues()}: the busy workqueues and pools, as the kernel dumps them.
     *
     * @return the dump, headed {@code Showing busy workqueues and worker pools:}
     */
    public String showAllWorkqueues() {
        return watchdog.showAllWorkqueues();
    }

    /**
     * The statistics of one workqueue, summed over its pool-workqueues (the kernel's {@code wq_monitor}).
     *
     * @param name the workqueue's name
     * @param total items that started running
     * @param inFlight items queued or running now
     * @param runNs the items' summed run time in nanoseconds
     * @param cpuIntensive items that exceeded the CPU-intensive threshold
     * @param cmWakeups workers woken by concurrency management for this workqueue
     * @param mayday mayday requests sent to the rescuer
     * @param rescued items the rescuer ran
     */
    public record Stats(String name, long total, long inFlight, long runNs, long cpuIntensive, long cmWakeups,
                        long mayday, long rescued) {
    }

    /**
     * {@code wq_monitor.py}: per-workqueue statistics.
     *
     * @param wq the workqueue
     * @return its statistics now
     */
    public Stats stats(Workqueue wq) {
        return watchdog.stats(wq);
    }

    /**
     * The workqueue monitor's table ({@code tools/workqueue/wq_monitor.py}): for each workqueue that ran
     * anything, total items, items in flight, run time (s), CPU-intensive violations, concurrency-management
     * wake-ups, mayday and rescued counts.
     *
     * @return the table, one line per workqueue after a header
     */
    public String monitor() {
        return watchdog.monitor();
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------
    /**
     * {@code current_work()}: the item running in the calling context, or null. Any context.
     *
     * @return the running item, or null
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public Work currentWork() {
        machine.checkOpen();
        return helpers.currentWork();
    }

    /**
     * {@code current_is_workqueue_rescuer()}: whether the caller is a rescuer thread ({@code kworker/R-…}).
     *
     * @return true in a rescuer thread
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean currentIsWorkqueueRescuer() {
        machine.checkOpen();
        return helpers.currentIsRescuer();
    }

    /**
     * {@code INIT_WORK(work, func)} on an item a driver embedded, possibly in use: a queued item is reported as the
     * kernel's debug objects do and cancelled first; PENDING and the disable depth are cleared. Process context
     * (the cancel may wait).
     *
     * @param w the item
     * @param name its new name, for reports
     * @param func its new function
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void initWork(Work w, String name, Work.Func func) {
        machine.checkOpen();
        helpers.initWork(w, name, func);
    }

    /**
     * {@code INIT_DELAYED_WORK(dwork, func)}: as {@link #initWork}; an armed timer is reported and stopped first.
     *
     * @param dw the delayed item
     * @param name its new name, for reports
     * @param func its new function
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void initDelayedWork(DelayedWork dw, String name, Work.Func func) {
        machine.checkOpen();
        helpers.initDelayedWork(dw, name, func);
    }

    /**
     * {@code work_busy(work)}: {@link Work#WORK_BUSY_PENDING} and/or {@link Work#WORK_BUSY_RUNNING}. Any context.
     *
     * @param w the item
     * @return the {@code WORK_BUSY_*} bits, 0 when idle
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int workBusy(Work w) {
        machine.checkOpen();
        return helpers.workBusy(w);
    }

    /**
     * {@code workqueue_congested(cpu, wq)}: items of {@code wq} wait over {@code max_active} on {@code cpu}.
     *
     * @param cpu the CPU, or {@link #WORK_CPU_UNBOUND} for the calling one
     * @param wq the workqueue
     * @return true when congested
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean workqueueCongested(int cpu, Workqueue wq) {
        machine.checkOpen();
        return helpers.congested(cpu, wq);
    }

    /**
     * {@code schedule_on_each_cpu(func)}: one item per CPU on {@code system_wq}, waited for. Process context.
     *
     * @param name the items' name, for reports
     * @param func run once on each CPU
     * @return 0
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int scheduleOnEachCpu(String name, Work.Func func) {
        machine.checkOpen();
        return helpers.scheduleOnEachCpu(name, func);
    }

    /**
     * {@code queue_work_node(node, wq, work)}: queues on a CPU of {@code node}, for unbound workqueues.
     *
     * @param node the NUMA node (0), or {@code NUMA_NO_NODE}
     * @param wq the workqueue
     * @param w the item
     * @return true if this call queued it; false if it was already pending or is disabled
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean queueWorkNode(int node, Workqueue wq, Work w) {
        machine.checkOpen();
        return helpers.queueNode(node, wq, w);
    }

    /**
     * {@code is_chained_work}: the caller is an item running on {@code wq} — a kworker in task context
     * ({@code current_wq_worker()}), so a BH item, which runs in softirq, never chains.
     */
    private boolean isChained(ExecutionContext ctx, Workqueue wq) {
        if (!ctx.inTask()) {
            return false;
        }
        Worker w = pools.currentWorker(ctx);
        return w != null && w.currentPwq != null && w.currentPwq.wq == wq;
    }
}
