package dev.bottomhalf.workqueue;

import java.util.ArrayList;
import java.util.List;

import dev.bottomhalf.runtime.Cpu;

/**
 * A {@code worker_pool}: a worklist and the workers that serve it. Per CPU there is a normal and a
 * high-priority pool (concurrency-managed) and a normal and a high-priority BH pool (run from
 * TASKLET_SOFTIRQ / HI_SOFTIRQ); unbound workqueues share the unbound pools.
 *
 * <p>Concurrency management (per-CPU, non-BH pools): {@code nrRunning} counts workers that are executing
 * an item and are neither sleeping nor marked CPU-intensive. A worker takes the next item only while
 * {@code nrRunning <= 1} ({@code keep_working}); an idle worker is woken only while the worklist is
 * non-empty and {@code nrRunning == 0} ({@code need_more_worker}). So normally exactly one worker runs per
 * pool, and a second starts when the first blocks. Unbound pools are not concurrency-managed: any idle
 * worker may start any item.
 *
 * <p>All fields are guarded by {@link #lock}.
 */
final class WorkerPool {
    final WorkerPools owner;
    final int id;
    /** The CPU of a per-CPU or BH pool; −1 for unbound pools. */
    final int cpu;
    final boolean highpri;
    final boolean bh;
    final PoolLock lock = new PoolLock();
    final WorkList worklist = new WorkList();
    final List<Worker> workers = new ArrayList<>();
    /** Idle workers, most recently idled last (the kernel's LIFO idle list). */
    final List<Worker> idle = new ArrayList<>();
    int nrRunning;
    int nextWorkerId;
    /** The BH pseudo-worker of a BH pool. */
    Worker bhWorker;
    /** When the worklist last went from empty to non-empty, or a worker last started a batch (watchdog). */
    long watchdogTs;

    WorkerPool(WorkerPools owner, int id, int cpu, boolean highpri, boolean bh) {
        this.owner = owner;
        this.id = id;
        this.cpu = cpu;
        this.highpri = highpri;
        this.bh = bh;
    }

    boolean concurrencyManaged() {
        return cpu >= 0 && !bh;
    }

    /** {@code need_more_worker}: items wait and nobody is running. */
    boolean needMoreWorker() {
        return !worklist.isEmpty() && (!concurrencyManaged() || nrRunning == 0);
    }

    /** {@code keep_working}: items wait and at most this worker is running. */
    boolean keepWorking() {
        return !worklist.isEmpty() && (!concurrencyManaged() || nrRunning <= 1);
    }

    /** {@code find_worker_executing_work}: a worker of this pool running this instance of {@code w}. */
    Worker findWorkerExecuting(Work w) {
        if (bhWorker != null) {
            return bhWorker.currentWork == w && bhWorker.currentFunc == w.func() ? bhWorker : null;
        }
        for (Worker worker : workers) {
            if (worker.currentWork == w && worker.currentFunc == w.func()) {
                return worker;
            }
        }
        return null;
    }

    /** Describes the pool as the kernel's lockup report does: {@code cpus=0 node=0 flags=0x0 nice=0}. */
    String describe() {
        if (bh) {
            return "cpus=" + cpu + " node=0 flags=0x0 " + (highpri ? "bh-hi" : "bh");
        }
        return (cpu >= 0 ? "cpus=" + cpu : "cpus=0-" + (owner.machine().cpuCount() - 1)) + " node=0 flags=0x"
                + Integer.toHexString(cpu >= 0 ? 0 : 4) + " nice=" + (highpri ? -20 : 0);
    }

    /** The worker name prefix: {@code kworker/0:}, {@code kworker/0:…H}, {@code kworker/u8:}. */
    String workerName(int workerId) {
        if (cpu >= 0) {
            return "kworker/" + cpu + ":" + workerId + (highpri ? "H" : "");
        }
        return "kworker/u" + id + ":" + workerId;
    }

    Cpu cpuForWorker(int workerId) {
        int n = owner.machine().cpuCount();
        return owner.machine().cpu(cpu >= 0 ? cpu : workerId % n);
    }

    @Override
    public String toString() {
        return "pool " + id + " (" + describe() + ")";
    }
}
