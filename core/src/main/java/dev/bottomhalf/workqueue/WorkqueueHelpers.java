package dev.bottomhalf.workqueue;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.time.Timers;

/**
 * The helpers of {@code include/linux/workqueue.h} and {@code kernel/workqueue.c} that drivers call around
 * their items: re-initialising an embedded item ({@code INIT_WORK}, {@code INIT_DELAYED_WORK}),
 * {@code work_busy}, {@code workqueue_congested}, {@code schedule_on_each_cpu}, {@code queue_work_node} and
 * {@code current_is_workqueue_rescuer}. Package-private: the public API is {@link Workqueues}, which delegates
 * here; each method may be called from the contexts its javadoc there names.
 *
 * <p>Implementation notes: no state of its own but the debug-objects report budget ({@code odebugReports},
 * atomic); everything else is read under the pool locks, as {@link Workqueues} does.
 */
final class WorkqueueHelpers {
    /** {@code debug_print_object}: the kernel prints its first five debug-objects warnings of a boot, no more. */
    static final int ODEBUG_REPORT_LIMIT = 5;

    private final Workqueues owner;
    private final Machine machine;
    private final Reports reports;
    private final WorkerPools pools;
    private final Timers timers;
    private final AtomicInteger odebugReports = new AtomicInteger();

    WorkqueueHelpers(Workqueues owner, Machine machine, WorkerPools pools, Timers timers) {
        this.owner = owner;
        this.machine = machine;
        this.reports = machine.reports();
        this.pools = pools;
        this.timers = timers;
    }

    /**
     * {@code INIT_WORK(work, func)} on an item that may be in use, with what the kernel's debug objects
     * ({@code CONFIG_DEBUG_OBJECTS_WORK}) do: an item still queued is reported
     * ({@code ODEBUG: init active (active state 0) object: … object type: work_struct hint: …}) and cancelled with
     * {@code cancel_work_sync} ({@code work_fixup_init}) before it is re-initialised. Then PENDING and the
     * disable depth are cleared, as {@code WORK_DATA_INIT()} does. An instance that is running goes on running
     * the function it started with; the embedding object ({@link Work#container(Object)}) stays.
     */
    void initWork(Work w, String name, Work.Func func) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(func, "func");
        if (w.pwq != null) { // queued: debug_work_activate'd, not yet deactivated by process_one_work
            odebug(w.name(), "work_struct", w.name());
            owner.cancelSync(w);
        }
        w.reinit(name, func);
    }

    /**
     * {@code INIT_DELAYED_WORK(dwork, func)} on a delayed item that may be in use: an armed timer is reported
     * as an active {@code timer_list} and stopped ({@code timer_fixup_init}: {@code del_timer_sync}), a queued
     * item as in {@link #initWork}; then the item is re-initialised. Its timer keeps queueing through the
     * delayed-work timer function.
     */
    void initDelayedWork(DelayedWork dw, String name, Work.Func func) {
        if (dw.timerReady && dw.timer.isPending()) {
            odebug(dw.name(), "timer_list", "delayed_work_timer_fn");
            if (timers.deleteSync(dw.timer) == 1) {
                dw.wq.armedDelayed.decrementAndGet();
            }
        }
        initWork(dw.work, name, func);
    }

    /** The kernel's {@code debug_print_object} for an object initialised while active: a WARN, five per boot. */
    private void odebug(String object, String type, String hint) {
        if (odebugReports.getAndIncrement() < ODEBUG_REPORT_LIMIT) {
            reports.warning("ODEBUG: init active (active state 0) object: " + object + " object type: " + type
                    + " hint: " + hint);
        }
    }

    /**
     * {@code work_busy(work)}: {@link Work#WORK_BUSY_PENDING} if it is pending, {@link Work#WORK_BUSY_RUNNING} if a
     * worker of the pool it is queued on — or, when not queued, of the pool it last ran on — is running it. A
     * snapshot, only for debugging output, as the kernel says.
     */
    int workBusy(Work w) {
        int ret = w.isPending() ? Work.WORK_BUSY_PENDING : 0;
        PoolWorkqueue pwq = w.pwq;
        WorkerPool pool = pwq != null ? pwq.pool : w.lastPool;
        if (pool != null) {
            pool.lock();
            try {
                if (pool.findWorkerExecutingLocked(w) != null) {
                    ret |= Work.WORK_BUSY_RUNNING;
                }
            } finally {
                pool.unlock();
            }
        }
        return ret;
    }

    /**
     * {@code workqueue_congested(cpu, wq)}: whether items of {@code wq} wait on the inactive list of its
     * pool-workqueue for {@code cpu} ({@link Workqueues#WORK_CPU_UNBOUND}: the calling CPU) — over
     * {@code max_active}. A snapshot.
     */
    boolean congested(int cpu, Workqueue wq) {
        Objects.requireNonNull(wq, "wq");
        int c = cpu == Workqueues.WORK_CPU_UNBOUND ? machine.current().cpuId() : machine.cpu(cpu).id();
        PoolWorkqueue pwq = wq.pwq(c);
        pwq.pool.lock();
        try {
            return !pwq.inactive.isEmpty();
        } finally {
            pwq.pool.unlock();
        }
    }

    /**
     * {@code schedule_on_each_cpu(func)}: queues one item per CPU on {@code system_wq}, each on its CPU, and
     * waits until all of them have run. Process context; from a kworker it sleeps like any flush, so the item
     * for its own CPU runs on another worker of the pool.
     *
     * @return 0
     */
    int scheduleOnEachCpu(String name, Work.Func func) {
        Objects.requireNonNull(func, "func");
        int n = machine.cpuCount();
        Work[] works = new Work[n];
        for (int cpu = 0; cpu < n; cpu++) {
            works[cpu] = new Work(name, func);
            owner.scheduleOn(cpu, works[cpu]);
        }
        for (Work w : works) {
            owner.flush(w);
        }
        return 0;
    }

    /**
     * {@code queue_work_node(node, wq, work)}: for unbound workqueues, queues on a CPU of {@code node}. The machine
     * has one node, 0, holding every CPU: node 0 is the calling CPU, any other node (or {@code NUMA_NO_NODE})
     * {@link Workqueues#WORK_CPU_UNBOUND}; either way the unbound pool serves it. A per-CPU workqueue gets the
     * kernel's {@code WARN_ON_ONCE(!(wq->flags & WQ_UNBOUND))} and is queued on anyway.
     *
     * @return true if this call queued it; false if it was pending or is disabled
     */
    boolean queueNode(int node, Workqueue wq, Work w) {
        Objects.requireNonNull(wq, "wq");
        if (!wq.isUnbound()) {
            reports.warnOnce("queue_work_node", "WARNING: queue_work_node(" + node + ", " + wq.name() + ", " + w.name()
                    + ") on a workqueue without WQ_UNBOUND (WARN_ON_ONCE(!(wq->flags & WQ_UNBOUND)))");
        }
        int cpu = node == 0 ? machine.current().cpuId() : Workqueues.WORK_CPU_UNBOUND;
        return owner.queueOn(cpu, wq, w);
    }

    /** {@code current_is_workqueue_rescuer()}: whether the caller is a rescuer ({@code kworker/R-…}) in task context. */
    boolean currentIsRescuer() {
        ExecutionContext ctx = machine.current();
        if (!ctx.inTask()) {
            return false;
        }
        for (Workqueue wq : owner.workqueues()) {
            Rescuer r = wq.rescuer;
            if (r != null && r.context() == ctx) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@code current_work()} for {@link Workqueues#currentWork}: the item the calling kworker (or rescuer) runs,
     * or null. As the kernel's {@code current_wq_worker()}, only in task context: a BH item (run in softirq),
     * or a softirq or hard IRQ that interrupted a kworker, gets null.
     */
    Work currentWork() {
        ExecutionContext ctx = machine.current();
        if (!ctx.inTask()) {
            return null;
        }
        Worker w = pools.currentWorker(ctx);
        return w == null ? null : w.currentWork;
    }
}
