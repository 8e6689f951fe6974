package dev.bottomhalf.workqueue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import dev.bottomhalf.internal.sync.RawSpinLock;
import dev.bottomhalf.internal.runtime.Cpu;

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
 * <p>Implementation notes (concurrency). The pool's state is guarded by {@link #lock}; take it with
 * {@link #lock()}, which also moves the items queued without the lock ({@link #incoming}) onto the
 * worklist, so a lock holder always sees every item queued before it took the lock. The exceptions, used
 * by lock-free queueing on concurrency-managed pools ({@code Workqueues.queueWithoutLock}):
 * <ul>
 * <li>{@link #incoming}: pushed by any thread, drained under the lock;</li>
 * <li>{@link #nrRunningSnapshot}: {@code nrRunning} published (volatile) after every change, and
 * {@link #cmCheckArmed}: whether the per-tick concurrency check is armed — what a lock-free producer reads to
 * tell whether a running worker or the check will see its item;</li>
 * <li>{@link #idleSpinners}: idle workers that are polling rather than parked (they see a pushed item without
 * being woken).</li>
 * </ul>
 * Each of these is written by one side and read by the other after that side's own write (push, then read
 * the snapshot / spinner count; change the snapshot / spinner count, then drain), so of a producer and a
 * worker that race, at least one sees the other: an item never waits unwatched.
 */
final class WorkerPool {
    final WorkerPools owner;
    final int id;
    /** The CPU of a per-CPU or BH pool; −1 for unbound pools. */
    final int cpu;
    final boolean highpri;
    final boolean bh;
    /** Take it with {@link #lock()} / {@link #unlock()}, never directly: taking it drains {@link #incoming}. */
    private final RawSpinLock lock = new RawSpinLock();
    final WorkList worklist = new WorkList();
    /** Items queued without the lock, not yet on the worklist (see the class notes). */
    final IncomingList incoming = new IncomingList();
    private final Consumer<Work> intake;
    /** {@link #nrRunning} as last set under the lock; read by lock-free producers. */
    volatile int nrRunningSnapshot;
    /** Whether the per-tick concurrency check of this pool is armed (set under the lock, cleared by the check). */
    volatile boolean cmCheckArmed;
    /** Idle workers polling for work instead of parked ({@link Worker#startSpinning()}). */
    final AtomicInteger idleSpinners = new AtomicInteger();
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
        this.intake = w -> owner.accept(this, w);
    }

    /** Takes the pool lock and moves the items queued without it onto the worklist (or inactive lists). */
    void lock() {
        lock.lock();
        try {
            drainIncoming();
        } catch (Throwable t) {
            lock.unlock(); // never leave the lock held behind an exception: every later taker would spin forever
            throw t;
        }
    }

    /**
     * Takes the pool lock for a worker between two items: drains the incoming items only once the worklist is
     * empty. Items drained later still come after every item on the worklist (they were queued later), so the
     * order is the same; the worker takes a batch per drain instead of one item, and producers keep finding
     * the incoming list non-empty, which spares them the watcher check. Everyone else uses {@link #lock()}.
     */
    void lockForWorker() {
        lock.lock();
        if (worklist.isEmpty()) {
            try {
                drainIncoming();
            } catch (Throwable t) {
                lock.unlock();
                throw t;
            }
        }
    }

    /** Takes the pool lock and leaves the incoming items where they are: only for {@code WorkerPools.kickForIncoming}. */
    void lockKeepingIncoming() {
        lock.lock();
    }

    void unlock() {
        lock.unlock();
    }

    /** Whether the calling thread holds the pool lock (exact under {@code -ea}); for assertions. */
    boolean lockHeld() {
        return lock.heldByCurrentThread();
    }

    /** Moves the items queued without the lock to where {@code __queue_work} would have put them. Under the lock. */
    void drainIncoming() {
        assert lockHeld();
        if (!incoming.isEmpty()) {
            incoming.drainTo(intake);
        }
    }

    /** Sets {@link #nrRunning} and publishes it. Under the lock. */
    void setNrRunning(int n) {
        nrRunning = n;
        nrRunningSnapshot = n;
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
