package dev.bottomhalf.workqueue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;

import dev.bottomhalf.internal.sync.RawSpinLock;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.time.TimerList;

/** A pool's immutable identity, read by producers queueing without the lock ({@link WorkerPool}, "Layout"). */
abstract class WorkerPoolIdentity extends CacheLinePad {
    /** [I] The pools of this kernel: the machine, the timers, worker creation. */
    final WorkerPools owner;
    /** [I] The pool's number (lockup reports, timer names). */
    final int id;
    /** [I] The CPU of a per-CPU or BH pool; −1 for unbound pools. */
    final int cpu;
    /** [I] A high-priority pool. */
    final boolean highpri;
    /** [I] A BH pool (run from softirq by its {@code bhWorker}). */
    final boolean bh;
    /**
     * [I] Items queued without the lock, not yet on the worklist ([A]: pushed by any thread, drained under the lock;
     * {@link WorkerPool}'s class notes).
     */
    final IncomingList incoming = new IncomingList();

    WorkerPoolIdentity(WorkerPools owner, int id, int cpu, boolean highpri, boolean bh) {
        this.owner = owner;
        this.id = id;
        this.cpu = cpu;
        this.highpri = highpri;
        this.bh = bh;
    }
}

/** Padding after a pool's identity ({@link WorkerPool}, "Layout"; as {@link PoolWorkqueuePadAfter}). */
@SuppressWarnings("unused") // padding only
abstract class WorkerPoolPadAfter extends WorkerPoolIdentity {
    byte p0a, p0b, p0c, p0d;
    int p10;
    long p11, p12, p13, p14, p15, p16, p17, p18;

    WorkerPoolPadAfter(WorkerPools owner, int id, int cpu, boolean highpri, boolean bh) {
        super(owner, id, cpu, highpri, bh);
    }
}

/**
 * A {@code worker_pool}: a worklist and the workers that serve it. Per CPU there is a normal and a
 * high-priority pool (concurrency-managed) and a normal and a high-priority BH pool (run from
 * TASKLET_SOFTIRQ / HI_SOFTIRQ); unbound workqueues share the unbound pools.
 *
 * <p>The pool owns its lock and every operation done under it: putting an active item on the worklist
 * ({@link #insertWorkLocked}), kicking ({@link #kickLocked}: wake an idle worker, ask for a new one, raise the
 * BH softirq, arm the per-tick concurrency check), a worker's entering and leaving idle and taking its next
 * item ({@link #workerEnterIdleLocked}, {@link #workerLeaveIdleLocked}, {@link #assignWorkLocked}), the
 * bookkeeping before and after an item runs ({@link #processOneBeginLocked}, {@link #processOneEndLocked}),
 * and {@code nr_running} ({@link #recountLocked}). It also owns the lock-free queueing protocol
 * ({@link #queueWithoutLock}). What a pool-workqueue counts (colors, in flight, {@code max_active}) is
 * {@link PoolWorkqueue}'s; the threads, timers and rounds that take the lock are {@link WorkerPools}'.
 *
 * <p>Concurrency management (per-CPU, non-BH pools): {@code nrRunning} counts workers that are executing
 * an item and are neither sleeping nor marked CPU-intensive. A worker takes the next item only while
 * {@code nrRunning <= 1} ({@code keep_working}); an idle worker is woken only while the worklist is
 * non-empty and {@code nrRunning == 0} ({@code need_more_worker}). So normally exactly one worker runs per
 * pool, and a second starts when the first blocks. Unbound pools are not concurrency-managed: any idle
 * worker may start any item.
 *
 * <p>Implementation notes (concurrency). Fields carry the ownership tags of the package legend
 * ({@code docs/subsystems/workqueue.md}, "Ownership"). The pool's state is [L], guarded by {@link #lock};
 * take it with {@link #lock()}, which also moves the items queued without the lock ({@link #incoming}) onto
 * the worklist, so a lock holder always sees every item queued before it took the lock. Methods named
 * {@code ...Locked} require the lock and assert it under {@code -ea} ({@link RawSpinLock#heldByCurrentThread()},
 * exact then; the assertion costs nothing without {@code -ea}). The exceptions, used by lock-free queueing on
 * concurrency-managed pools ({@link #queueWithoutLock}):
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
 *
 * <p>Why the code sits here: that argument is about the order of accesses to these four fields and to
 * {@link #nrRunning} on both sides — the producer's ({@link #queueWithoutLock}), the worker's
 * ({@link #recountLocked}, {@link #workerLeaveIdleLocked}, {@link #drainIncomingLocked}) and the kick's
 * ({@link #kickForIncomingLocked}, {@link #armCmCheckLocked}). Keeping every one of those accesses in this class,
 * next to the fields, lets the ordering be checked in one file; other classes call these methods and never
 * touch the fields.
 *
 * <p>Layout. What a producer queueing without the lock reads on every {@code queue_work} — {@link #cpu},
 * {@link #bh} and {@link #incoming} — and the rest of the pool's immutable identity live in superclasses with
 * padding on both sides ({@link WorkerPoolIdentity}), at least 64 bytes from the [L] fields below, which the worker
 * writes as it runs items, and from whatever was allocated just before the pool; as in {@link PoolWorkqueue}
 * ("Layout", which gives the measurement), and checked by {@code WorkqueueLayoutTest}.
 */
final class WorkerPool extends WorkerPoolPadAfter {
    /**
     * [I] The pool lock ({@code pool->lock}), which guards every [L] field here and in this pool's workers,
     * pool-workqueues and queued items. Take it with {@link #lock()} / {@link #unlock()}, never directly: taking
     * it drains {@link #incoming}.
     */
    private final RawSpinLock lock = new RawSpinLock();
    /**
     * [L] {@code worklist}: active items waiting for a worker (an idle worker's poll reads {@code isEmptySnapshot}
     * without the lock).
     */
    final WorkList worklist = new WorkList();
    /** [I] What a drain does with each incoming item: its pool-workqueue's {@link PoolWorkqueue#queueLocked}. */
    private final Consumer<Work> intake;
    /** [LR] {@link #nrRunning} as last set under the lock; read by lock-free producers. */
    volatile int nrRunningSnapshot;
    /**
     * [A] Whether the per-tick concurrency check is armed: set under the lock, cleared by the check before it takes
     * the lock.
     */
    volatile boolean cmCheckArmed;
    /**
     * [L] When the concurrency check last ran ({@link #cmCheck}); {@code Long.MIN_VALUE} before its first run. An item
     * the check finds running for the first time started after it.
     */
    long cmLastRunNs = Long.MIN_VALUE;
    /** [A] Idle workers polling for work instead of parked ({@link Worker#startSpinning()}). */
    final AtomicInteger idleSpinners = new AtomicInteger();
    /** [L] Every worker of the pool (a rescuer joins while it runs items here). */
    final List<Worker> workers = new ArrayList<>();
    /** [L] Idle workers, most recently idled last (the kernel's LIFO idle list). */
    final List<Worker> idle = new ArrayList<>();
    /** [L] The worker a kick chose, woken when the lock is dropped ({@link #wakeAtUnlockLocked}); null if none. */
    private AgentHandle wakeAtUnlock;
    /**
     * [L] A BH pool's CPU whose {@code ksoftirqd} a kick must wake, woken when the lock is dropped, for the reason the
     * worker is ({@link #wakeAtUnlockLocked}); null if none.
     */
    private Cpu ksoftirqdAtUnlock;
    /** [L] The per-tick concurrency check of a concurrency-managed pool; made when first armed. */
    private TimerList cmCheckTimer;
    /** [L] {@code nr_running}: workers running an item that count for concurrency ({@link Worker#counted()}). */
    int nrRunning;
    /** [L] The id the next worker gets. */
    int nextWorkerId;
    /** [I] The BH pseudo-worker of a BH pool ({@code bh/N}, {@code bh/N-hi}); null otherwise. */
    final Worker bhWorker;
    /** [L] When the worklist last went from empty to non-empty, or a worker last started a batch (watchdog). */
    long watchdogTs;

    WorkerPool(WorkerPools owner, int id, int cpu, boolean highpri, boolean bh) {
        super(owner, id, cpu, highpri, bh);
        this.intake = w -> w.pwq.queueLocked(w);
        this.bhWorker = bh ? new Worker(this, 0, null, "bh/" + cpu + (highpri ? "-hi" : "")) : null;
    }

    /**
     * Takes the pool lock and moves the items queued without it onto the worklist (or inactive lists). Any
     * context; never while holding another pool's lock, except {@code flush_workqueue}'s color switch.
     */
    void lock() {
        lock.lock();
        try {
            drainIncomingLocked();
        } catch (Throwable t) {
            unlock(); // never leave the lock held behind an exception (every later taker would spin), nor a wake
            throw t;
        }
    }

    /**
     * Takes the pool lock for a worker between two items: drains the incoming items only once the worklist is
     * empty. Items drained later still come after every item on the worklist (they were queued later), so the
     * order is the same; the worker takes a batch per drain instead of one item, and producers keep finding
     * the incoming list non-empty, which spares them the watcher check. Everyone else uses {@link #lock()}.
     * Context: the thread that just ran an item (a worker, the BH round, a rescuer).
     */
    void lockForWorker() {
        lock.lock();
        if (worklist.isEmpty()) {
            try {
                drainIncomingLocked();
            } catch (Throwable t) {
                unlock();
                throw t;
            }
        }
    }

    /** Takes the pool lock and leaves the incoming items where they are: only for {@link #kickForIncoming}. */
    private void lockKeepingIncoming() {
        lock.lock();
    }

    /**
     * Drops the pool lock, then wakes the worker a kick chose under it ({@link #wakeAtUnlockLocked}), or the BH
     * pool's {@code ksoftirqd}. Only its holder.
     */
    void unlock() {
        AgentHandle w = wakeAtUnlock;
        Cpu k = ksoftirqdAtUnlock;
        if (w == null && k == null) {
            lock.unlock();
            return;
        }
        wakeAtUnlock = null;
        ksoftirqdAtUnlock = null;
        lock.unlock();
        if (w != null) {
            w.wake();
        }
        if (k != null) {
            owner.machine().softirqEntry().wakeKsoftirqd(k);
        }
    }

    /**
     * Wakes {@code worker}'s thread once the pool lock is dropped ({@code kick_pool}'s {@code wake_up_process}).
     * The kernel wakes the worker under {@code pool->lock}, but a spinlock holder cannot be preempted, so the
     * woken worker runs at the earliest at the unlock. A Java thread can be: woken under the lock, the worker
     * may take the waker's CPU at once and then wait for the lock the waker still holds (seen as the
     * {@code kworker} preempting the queueing thread inside {@code kick_pool} and spinning on the pool lock,
     * docs/benchmarks.md §19). So the unpark is made by {@link #unlock()}, where the kernel's preemption would
     * happen. Which worker is woken is still decided under the lock, and a wake is only a signal: a worker that
     * ran meanwhile finds nothing and parks again. A second kick before the unlock that chooses another worker
     * wakes the first at once. In stepped mode waking does nothing either way. LOCKING: the pool lock, held by
     * the caller.
     */
    private void wakeAtUnlockLocked(Worker worker) {
        assert lockHeld();
        AgentHandle h = worker.handle;
        if (h == null) {
            return;
        }
        AgentHandle pending = wakeAtUnlock;
        if (pending != null && pending != h) {
            pending.wake();
        }
        wakeAtUnlock = h;
    }

    /** The worker whose wake waits for the unlock ({@link #wakeAtUnlockLocked}); for tests. LOCKING: the pool lock. */
    AgentHandle pendingWakeLocked() {
        assert lockHeld();
        return wakeAtUnlock;
    }

    /** The CPU whose {@code ksoftirqd} waits for the unlock to be woken (a BH pool's kick); for tests. LOCKING: the pool lock. */
    Cpu pendingKsoftirqdWakeLocked() {
        assert lockHeld();
        return ksoftirqdAtUnlock;
    }

    /** Whether the calling thread holds the pool lock (exact under {@code -ea}); for assertions. */
    boolean lockHeld() {
        return lock.heldByCurrentThread();
    }

    /**
     * Moves the items queued without the lock to where {@code __queue_work} would have put them.
     * LOCKING: the pool lock, held by the caller.
     */
    void drainIncomingLocked() {
        assert lockHeld();
        if (!incoming.isEmpty()) {
            incoming.drainTo(intake);
        }
    }

    /** Sets {@link #nrRunning} and publishes it. LOCKING: the pool lock, held by the caller. */
    void setNrRunningLocked(int n) {
        assert lockHeld();
        nrRunning = n;
        nrRunningSnapshot = n;
    }

    /**
     * A worker's {@link Worker#counted()} went from {@code before} to {@code after}: adjusts {@link #nrRunning}
     * by the difference. When the worker stops counting, a producer that saw it running may have left its item
     * to it: such items are picked up now that the published count has dropped (the caller then decides whether
     * to kick). Called by the worker's state setters. LOCKING: the pool lock, held by the caller.
     */
    void recountLocked(boolean before, boolean after) {
        assert lockHeld();
        if (before != after) {
            setNrRunningLocked(nrRunning + (after ? 1 : -1));
            if (!after) {
                drainIncomingLocked();
            }
        }
    }

    /** Whether the pool is concurrency-managed (per-CPU, not BH). Any context: reads final fields. */
    boolean concurrencyManaged() {
        return cpu >= 0 && !bh;
    }

    /** {@code need_more_worker}: items wait and nobody is running. LOCKING: the pool lock, held by the caller. */
    boolean needMoreWorkerLocked() {
        assert lockHeld();
        return !worklist.isEmpty() && (!concurrencyManaged() || nrRunning == 0);
    }

    /**
     * {@code keep_working}: items wait and at most this worker is running. LOCKING: the pool lock, held by the
     * caller.
     */
    boolean keepWorkingLocked() {
        assert lockHeld();
        return !worklist.isEmpty() && (!concurrencyManaged() || nrRunning <= 1);
    }

    /**
     * {@code too_many_workers}: more than two idle, and the idle beyond two outnumber a quarter of the busy.
     * LOCKING: the pool lock, held by the caller.
     */
    boolean tooManyWorkersLocked() {
        assert lockHeld();
        int nrIdle = idle.size();
        int busy = workers.size() - nrIdle;
        return nrIdle > 2 && (nrIdle - 2) * WorkerPools.MAX_IDLE_WORKERS_RATIO >= busy;
    }

    /**
     * {@code find_worker_executing_work}: a worker of this pool running this instance of {@code w}.
     * LOCKING: the pool lock, held by the caller.
     */
    Worker findWorkerExecutingLocked(Work w) {
        assert lockHeld();
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

    // ------------------------------------------------------------------------------------------
    // Items: insert, kick
    // ------------------------------------------------------------------------------------------

    /**
     * {@code insert_work} onto the worklist: appends an active item; when the worklist was empty, the watchdog
     * timestamp starts and the lockup watchdog is armed. Called by {@link PoolWorkqueue#activateLocked}.
     * LOCKING: the pool lock, held by the caller.
     */
    void insertWorkLocked(Work w) {
        assert lockHeld();
        if (worklist.isEmpty()) {
            watchdogTs = owner.machine().jiffies();
            owner.watchdog().armWatchdog();
        }
        worklist.addTail(w);
    }

    /**
     * {@code kick_pool}: makes sure someone will run the worklist — raises the BH softirq of a BH pool, wakes
     * the most recently idled worker, or asks for a new one; arms the per-tick concurrency check when items wait
     * behind a running worker. LOCKING: the pool lock, held by the caller.
     *
     * @param ctx the calling context (a BH pool's softirq is raised locally when it is on the pool's CPU)
     * @return true if the caller must create a worker ({@link WorkerPools#createWorker}, after dropping the lock)
     */
    boolean kickLocked(ExecutionContext ctx) {
        assert lockHeld();
        if (bh) {
            int nr = (highpri ? SoftirqVector.HI : SoftirqVector.TASKLET).nr();
            Machine machine = owner.machine();
            // raise_softirq: pending now; ksoftirqd (which a raise outside interrupt context wakes) at the unlock,
            // as a woken worker is: woken under the lock, a ksoftirqd that parked at once takes the raiser's CPU and
            // then spins on this lock (a queue_work of 7 µs instead of 1.6, docs/benchmarks.md §25).
            if (ctx.cpuId() == cpu) {
                Subsystems.softirq().raiseOn(owner.softirqs(), ctx, nr, false);
                if (!ctx.inInterrupt()) {
                    ksoftirqdAtUnlock = machine.cpu(cpu);
                }
            } else {
                Cpu target = machine.cpu(cpu);
                target.markSoftirqPending(1 << nr);
                ksoftirqdAtUnlock = target;
            }
            return false;
        }
        if (!needMoreWorkerLocked()) {
            if (concurrencyManaged() && !worklist.isEmpty()) {
                armCmCheckLocked();
            }
            return false;
        }
        if (!idle.isEmpty()) {
            wakeAtUnlockLocked(idle.get(idle.size() - 1));
            return false;
        }
        return workers.isEmpty() || concurrencyManaged() || workers.size() < 4096;
    }

    /**
     * {@code kick_pool} for an item queued without the lock that no worker and no check watches: a running
     * worker takes it when its worklist runs dry (the per-tick check is armed in case it hogs or blocks); else
     * the most recently idled worker is woken, and it drains. Called by {@link #kickForIncoming} under
     * {@link #lockKeepingIncoming()}. LOCKING: the pool lock, held by the caller.
     *
     * @return true if the caller must create a worker (after dropping the lock)
     */
    boolean kickForIncomingLocked() {
        assert lockHeld();
        if (nrRunning > 0) {
            armCmCheckLocked();
        } else if (!idle.isEmpty()) {
            wakeAtUnlockLocked(idle.get(idle.size() - 1));
        } else {
            return true;
        }
        return false;
    }

    /**
     * The pool's part of {@code __queue_work} without the lock ({@code Workqueues.queueWithoutLock}): pushes
     * {@code w} (its {@code pwq} set, PENDING owned by the caller) on {@link #incoming}, where the next lock
     * holder drains it, and makes sure one will come soon.
     *
     * <p>Only the producer that made the incoming list non-empty checks; later producers until the next drain
     * ride on it. The item is watched, and the producer leaves without the lock, when
     * <ul>
     * <li>a worker of the pool is running and the per-tick concurrency check is armed: the running worker
     * takes the lock when its item ends, and the check on the next tick when it hogs or blocks; or</li>
     * <li>no worker is running and an idle worker is polling ({@link #idleSpinners}): it sees the list
     * non-empty and takes the lock.</li>
     * </ul>
     * Otherwise the producer kicks the pool ({@link #kickForIncoming}: wake the most recently idled worker or
     * create one; under the lock but without draining, so the producers that push until that worker runs find
     * the list non-empty and ride on this kick). The race with a worker that stops running or stops polling
     * just after the producer looked is closed by ordering: the producer pushes (a full fence), then reads; the
     * worker publishes its change (a volatile write or CAS), then drains — so one of them sees the other.
     * Context: any. LOCKING: pool lock not held; taken only by the kick.
     */
    void queueWithoutLock(Work w) {
        if (!incoming.push(w)) {
            return; // the producer that made the list non-empty saw to it being drained
        }
        boolean watched = nrRunningSnapshot > 0 ? cmCheckArmed : idleSpinners.get() > 0;
        if (!watched) {
            kickForIncoming();
        }
    }

    /**
     * {@code kick_pool} for an item queued without the lock that no worker and no check watches
     * ({@link #queueWithoutLock}). Takes the pool lock without draining: the items stay on the incoming list,
     * so producers that push until a worker drains it skip their check and ride on this kick. Creates a worker
     * if none can be woken. Context: any. LOCKING: takes and drops the pool lock.
     */
    void kickForIncoming() {
        boolean create;
        lockKeepingIncoming();
        try {
            create = kickForIncomingLocked();
        } finally {
            unlock();
        }
        if (create) {
            owner.createWorker(this);
        }
    }

    /**
     * A worker that producers may have counted on as a spinner stopped spinning without going to work
     * (retired): moves what is queued to the worklist and kicks the pool as a producer taking the lock would
     * have. Context: any. LOCKING: takes and drops the pool lock.
     */
    void wakeForLeftItems() {
        boolean create;
        lock();
        try {
            create = kickLocked(owner.machine().current());
        } finally {
            unlock();
        }
        if (create) {
            owner.createWorker(this);
        }
    }

    /**
     * Arms the pool's per-tick concurrency check ({@link #cmCheck}) for the next tick, if it is not
     * armed. Only for a concurrency-managed pool. LOCKING: the pool lock, held by the caller.
     */
    void armCmCheckLocked() {
        assert lockHeld();
        Machine machine = owner.machine();
        TimerList t = cmCheckTimer;
        if (t == null) {
            t = new TimerList();
            Subsystems.time().setupInternal(owner.timers(), t, "wq_cm_check/" + cpu + (highpri ? "H" : ""),
                    x -> cmCheck(), TimerList.TIMER_PINNED | TimerList.TIMER_IRQSAFE);
            cmCheckTimer = t;
        }
        if (!cmCheckArmed) {
            cmCheckArmed = true; // (a read, not a write, per item: producers read this pool's fields)
        }
        if (!t.isPending() && !machine.closing()) {
            // Not once the kernel closes: close() shuts the timer down, and a re-arm racing that shutdown
            // could leave it in the wheel without a function.
            // Expiring "now" lands in the bucket of the next tick (level 0 rounds up by one), so while items
            // wait the check runs on every tick, as the kernel's wq_worker_tick does.
            t.expires(machine.jiffies());
            owner.timers().addOn(t, cpu);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Concurrency management: the sleep hooks and the per-tick check
    // ------------------------------------------------------------------------------------------

    /**
     * {@code wq_worker_sleeping}: {@code worker} blocks in a kernel sleep; it stops counting, and another worker
     * is woken if items wait. Context: the worker's own thread (its sleep hook). LOCKING: takes and drops the
     * pool lock.
     */
    void workerSleeping(Worker worker) {
        boolean create = false;
        lock();
        try {
            worker.setSleepingLocked(true);
            if (needMoreWorkerLocked()) {
                owner.countCmWakeup();
                if (worker.currentPwq != null) {
                    worker.currentPwq.statCmWakeups++;
                }
                create = kickLocked(worker.context());
            }
        } finally {
            unlock();
        }
        if (create) {
            owner.createWorker(this);
        }
    }

    /** {@code wq_worker_running}: the worker counts again. Context: its own thread. LOCKING: takes the pool lock. */
    void workerRunning(Worker worker) {
        lock();
        try {
            worker.setSleepingLocked(false);
        } finally {
            unlock();
        }
    }

    /**
     * The per-tick concurrency check: workers blocked outside the kernel's sleeping primitives stop
     * counting (and count again when they run), items running longer than the CPU-intensive threshold stop
     * counting; then an idle worker is woken if items wait. Context: the pool's check timer (TIMER softirq of
     * its CPU). LOCKING: takes and drops the pool lock.
     */
    void cmCheck() {
        boolean create = false;
        cmCheckArmed = false; // before the lock drains: a producer that still saw it armed is drained here
        Machine machine = owner.machine();
        lock();
        try {
            long now = machine.clock().nanoTime();
            long thresholdNs = TimeUnit.MICROSECONDS.toNanos(owner.cpuIntensiveThresholdUs());
            long tickNs = TimeUnit.SECONDS.toNanos(1) / machine.hz();
            boolean released = false;
            boolean anyBlocked = false;
            for (Worker w : workers) {
                if (w.currentWork == null || w.handle == null) {
                    continue;
                }
                Thread thread = w.handle.thread();
                long ranNs = now - w.startNs; // (stepped mode: exact)
                if (thread != null && !machine.stepped()) {
                    // (Stepped mode: workers wait for the scheduler's baton, which is not blocking; the
                    // scheduler itself reports a worker blocked outside the kernel's primitives; and the run
                    // time is the manual clock's.)
                    chargeRunLocked(w, now); // (wq_monitor's CPUtime stays current while the check ticks)
                    long cpuNs = WorkerCpuTime.of(thread);
                    boolean sameItem = w.cmItem == w.itemsStarted;
                    if (!sameItem) {
                        // First look at this item: charge it the time it has run. The first item of a stretch
                        // has its start (startNs). A later one started after the stretch began, and after this
                        // check's previous run, which did not find it running (both hold the pool lock) — it is
                        // charged the time since the later of the two, but at most a tick: the kernel's tick looks
                        // every jiffy, and its current_at (sum_exec_runtime as of the last tick) over-counts by at
                        // most a tick, while this check's thread can be late or was not armed.
                        w.cmItem = w.itemsStarted;
                        w.cmSinceNs = w.itemsStarted == w.stretchFirstItem ? w.startNs
                                : Math.max(Math.max(w.startNs, cmLastRunNs), now - tickNs);
                        w.cpuAtStartNs = cpuNs - Math.max(0, now - w.cmSinceNs);
                    }
                    Thread.State state = thread.getState();
                    boolean blockedNow = w.inFunc && (state == Thread.State.BLOCKED
                            || state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING
                            || state == Thread.State.RUNNABLE && sameItem
                                    && WorkerCpuTime.stalledInNative(thread, cpuNs - w.cmCpuNs, now - w.cmWallNs));
                    w.cmCpuNs = cpuNs;
                    w.cmWallNs = now;
                    // The kernel compares CPU time (sum_exec_runtime); without it, the time since the item's
                    // bound start.
                    ranNs = cpuNs >= 0 ? cpuNs - w.cpuAtStartNs : now - w.cmSinceNs;
                    if (!w.sleeping && blockedNow != w.blocked) {
                        w.setBlockedLocked(blockedNow);
                        released |= blockedNow;
                    }
                    anyBlocked |= w.blocked;
                }
                if (w.counted() && thresholdNs > 0 && ranNs >= thresholdNs) {
                    w.setCpuIntensiveLocked(true);
                    released = true;
                    if (w.currentPwq != null) {
                        w.currentPwq.statCpuIntensive++;
                    }
                    owner.cpuIntensiveFound(w.currentWork, w.currentFunc);
                }
            }
            if (needMoreWorkerLocked()) {
                if (released) {
                    owner.countCmWakeup(); // a wake-up because a running worker stopped counting
                }
                create = kickLocked(machine.current());
            } else if (!worklist.isEmpty() || anyBlocked) {
                armCmCheckLocked(); // (a blocked worker is watched until it runs again: then it counts again)
            }
            cmLastRunNs = now;
        } finally {
            unlock();
        }
        if (create) {
            owner.createWorker(this);
        }
    }

    // ------------------------------------------------------------------------------------------
    // A worker's duty cycle: idle, assign, process_one_work's bookkeeping
    // ------------------------------------------------------------------------------------------

    /**
     * {@code worker_leave_idle} as a worker starts a batch: off the idle list, working (counted in
     * {@link #nrRunning}), no longer polling — whatever producers pushed while counting on its poll is drained
     * now. Restarts the watchdog timestamp. Context: the worker's own thread. LOCKING: the pool lock, held by
     * the caller.
     */
    void workerLeaveIdleLocked(Worker worker) {
        assert lockHeld();
        idle.remove(worker);
        worker.idle = false;
        worker.setWorkingLocked(true);
        if (worker.stopSpinning()) {
            drainIncomingLocked(); // items pushed by producers that counted on this worker's poll
        }
        watchdogTs = owner.machine().jiffies();
    }

    /**
     * {@code worker_enter_idle}: the worker stops working, records when ({@code last_active}), goes on the idle
     * list (most recently idled last) and starts polling. Context: the worker's own thread. LOCKING: the pool
     * lock, held by the caller.
     */
    void workerEnterIdleLocked(Worker worker) {
        assert lockHeld();
        worker.setWorkingLocked(false);
        worker.idle = true;
        worker.lastActive = owner.machine().jiffies();
        idle.add(worker);
        worker.startSpinning();
    }

    /**
     * {@code assign_work} for the first item of the worklist: unlinks it and returns it for {@code worker} to
     * run; or, if another worker of this pool is already running that instance (non-reentrancy), moves it to
     * that worker's scheduled list and returns null. Context: the worker's own thread. LOCKING: the pool lock,
     * held by the caller.
     */
    Work assignWorkLocked(Worker worker) {
        assert lockHeld();
        Work w = worklist.first();
        Worker running = findWorkerExecutingLocked(w);
        if (running != null && running != worker) {
            worklist.remove(w);        // assign_work: the worker already running it runs it next
            w.list = null;
            running.scheduled.addTail(w);
            return null;
        }
        worklist.remove(w);
        return w;
    }

    /**
     * The first half of {@code process_one_work}, before the function runs: {@code worker} takes {@code w}
     * (already unlinked; {@code pwq} is its pool-workqueue) as its current item, PENDING is cleared (so a queue
     * attempt from now on queues exactly one more execution), a {@code WQ_CPU_INTENSIVE} item stops counting,
     * and the pool is kicked if others must take the items that wait. Context: the worker's thread (the BH
     * pool's softirq, a rescuer). LOCKING: the pool lock, held by the caller, which drops it to run the function.
     *
     * @return true if the caller must create a worker (after dropping the lock)
     */
    boolean processOneBeginLocked(Worker worker, Work w, PoolWorkqueue pwq) {
        assert lockHeld();
        Machine machine = owner.machine();
        Workqueue wq = pwq.wq;
        worker.currentWork = w;
        worker.currentFunc = w.func();
        worker.currentPwq = pwq;
        worker.currentSeq = w.queuedSeq;
        worker.currentColor = w.color;
        worker.itemsStarted++;
        if (machine.stepped()) {
            worker.startNs = machine.clock().nanoTime(); // (the manual clock: exact and cheap)
        } else if (worker.runPwq != pwq) {
            // A stretch of items of one pool-workqueue begins (the round's first item, or another pool-workqueue's
            // after the last): one clock read, the start of this item and of the stretch's run time. Within the
            // stretch items are not timed one by one — the clock costs as much as the rest of the bookkeeping of a
            // short item (docs/benchmarks.md §22); the statistic is charged per stretch (and per check tick), and
            // the CPU-intensive check bounds an item's start itself (cmCheck).
            long now = machine.clock().nanoTime();
            chargeRunLocked(worker, now);
            worker.runPwq = pwq;
            worker.runSinceNs = now;
            worker.startNs = now;
            worker.stretchFirstItem = worker.itemsStarted;
        }
        w.setPwq(null);
        if (w.lastPool != this) {
            w.setLastPool(this); // (already this pool when it was queued here: a read instead of a store)
        }
        w.clearPending(); // publishes the two stores above to the next thread that claims PENDING
        boolean intensive = (wq.flags & Workqueue.WQ_CPU_INTENSIVE) != 0 && !bh;
        if (intensive) {
            worker.setCpuIntensiveLocked(true);
        }
        boolean create = false;
        if (!bh) {
            if (needMoreWorkerLocked()) {
                create = kickLocked(worker.context() != null ? worker.context() : machine.current());
            } else if (concurrencyManaged() && !worklist.isEmpty()) {
                // Items wait behind this one: the per-tick check lets them start if it hogs or blocks. (Not
                // armed for a lone item: a tick on an otherwise idle cpu/N costs a thread wake-up, about 3 µs
                // on every wake of an idle pool and a tripled p99 — benchmarks §8.8. Items that arrive later
                // arm it when they are queued.)
                armCmCheckLocked();
            }
        }
        return create;
    }

    /**
     * The second half of {@code process_one_work}, after the function returned and the lock was taken again:
     * the statistics, the worker's CPU-intensive and blocked marks are reset, the current item cleared, the
     * instance counted done for {@code flush_work}, and the item leaves its pool-workqueue
     * ({@code pwq_dec_nr_in_flight}). Context: as {@link #processOneBeginLocked}. LOCKING: the pool lock, held
     * by the caller.
     */
    void processOneEndLocked(Worker worker, Work w, PoolWorkqueue pwq) {
        assert lockHeld();
        Machine machine = owner.machine();
        pwq.statTotal++;
        if (machine.stepped()) {
            pwq.statRunNs += machine.clock().nanoTime() - worker.startNs; // (threaded: per stretch, see above)
        }
        if (worker.cpuIntensive) {
            worker.setCpuIntensiveLocked(false);
        }
        if (worker.blocked) {
            worker.setBlockedLocked(false);
        }
        worker.currentWork = null;
        worker.currentFunc = null;
        worker.currentPwq = null;
        long seq = worker.currentSeq;
        long done = Math.max(seq, w.cancelledSeq);  // a cancelled later instance is done with this one
        if (w.doneSeq < done) {
            w.setDoneSeq(done); // a release store: the flush waiters meet this section at the lock (WorkqueueFlush)
        }
        pwq.decNrInFlightLocked(worker.currentColor, true);
    }

    /**
     * Charges {@code worker}'s open stretch ({@link Worker#runPwq}) with its run time up to {@code now} and goes on
     * counting from there. LOCKING: the pool lock, held by the caller.
     */
    void chargeRunLocked(Worker worker, long now) {
        assert lockHeld();
        PoolWorkqueue p = worker.runPwq;
        if (p != null) {
            p.statRunNs += now - worker.runSinceNs;
            worker.runSinceNs = now;
        }
    }

    /**
     * A round of {@code worker}'s items ends (the worker goes idle, the BH round or the rescuer's share is done):
     * its open stretch is charged (one clock read) and closed, so the time it spends idle counts for nobody.
     * Context: the worker's thread, the BH round, the rescuer. LOCKING: the pool lock, held by the caller.
     */
    void endRunLocked(Worker worker) {
        assert lockHeld();
        if (worker.runPwq != null) {
            chargeRunLocked(worker, owner.machine().clock().nanoTime());
            worker.runPwq = null;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Workers joining and leaving; the BH round; the rescuer's share
    // ------------------------------------------------------------------------------------------

    /** The id of a new worker. LOCKING: the pool lock, held by the caller. */
    int allocWorkerIdLocked() {
        assert lockHeld();
        return nextWorkerId++;
    }

    /**
     * {@code worker_attach_to_pool}: {@code worker} joins the pool's workers, and its idle list if {@code idle}
     * (a new worker; a rescuer joins busy). LOCKING: the pool lock, held by the caller.
     */
    void attachWorkerLocked(Worker worker, boolean idle) {
        assert lockHeld();
        workers.add(worker);
        if (idle) {
            this.idle.add(worker);
        }
    }

    /** {@code worker_detach_from_pool}: {@code worker} leaves the pool. LOCKING: the pool lock, held by the caller. */
    void detachWorkerLocked(Worker worker) {
        assert lockHeld();
        workers.remove(worker);
        idle.remove(worker);
    }

    /**
     * Publishes a new worker's thread handle, through which kicks wake it (they read it under this lock; see
     * {@link WorkerPools#createWorker}). LOCKING: the pool lock, held by the caller.
     */
    void publishHandleLocked(Worker worker, AgentHandle handle) {
        assert lockHeld();
        worker.handle = handle;
    }

    /**
     * The idle cull's victim: the longest-idle worker leaves the pool, retired (it takes no more work while its
     * thread stops). Context: the cull item. LOCKING: the pool lock, held by the caller.
     */
    Worker retireOldestIdleLocked() {
        assert lockHeld();
        Worker oldest = idle.get(0);
        idle.remove(0);
        workers.remove(oldest);
        oldest.retired = true;
        return oldest;
    }

    /**
     * A BH round starts ({@code bh_worker}): the pseudo-worker works, the watchdog timestamp restarts. Context:
     * softirq on the pool's CPU. LOCKING: the pool lock, held by the caller.
     */
    void bhRoundBeginLocked() {
        assert lockHeld();
        bhWorker.setWorkingLocked(true);
        watchdogTs = owner.machine().jiffies();
    }

    /**
     * The first item of the worklist, unlinked (the BH pool's only worker takes them in order). LOCKING: the pool
     * lock.
     */
    Work takeFirstLocked() {
        assert lockHeld();
        return worklist.pollFirst();
    }

    /** A BH round ends. Context: softirq on the pool's CPU. LOCKING: the pool lock, held by the caller. */
    void bhRoundEndLocked() {
        assert lockHeld();
        bhWorker.setWorkingLocked(false);
    }

    /**
     * A rescuer's share of a starving pool: the items of {@code pwq} move from the worklist, in order, to the
     * rescuer's stand-in worker {@code rw} ({@code rescuer_thread}'s {@code assign_work}). Context: the rescuer's
     * thread. LOCKING: the pool lock, held by the caller.
     */
    void moveToRescuerLocked(PoolWorkqueue pwq, Worker rw) {
        assert lockHeld();
        for (Work w = worklist.first(); w != null;) {
            Work next = w.next;
            if (w.pwq == pwq) {
                worklist.remove(w);
                rw.scheduled.addTail(w);
            }
            w = next;
        }
    }

    /**
     * {@code send_mayday} for every workqueue with a rescuer whose items wait on this starving pool: its
     * pool-workqueue goes on the rescuer's mayday list (once) and the rescuer is woken. Context: the mayday
     * timer. LOCKING: the pool lock, held by the caller.
     */
    void sendMaydaysLocked() {
        assert lockHeld();
        for (Work w = worklist.first(); w != null; w = w.next) {
            PoolWorkqueue pwq = w.pwq;
            Rescuer r = pwq == null ? null : pwq.wq.rescuer;
            if (r != null && !r.maydays.contains(pwq)) {
                pwq.statMayday++;
                r.maydays.add(pwq);
                r.handle.wake();
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Kernel.close
    // ------------------------------------------------------------------------------------------

    /**
     * Whether no item is queued (worklist, incoming, a worker's scheduled list) or running in this pool; the
     * inactive lists are the pool-workqueues'. For {@code Workqueues.idleForClose}. LOCKING: the pool lock, held
     * by the caller.
     */
    boolean idleLocked() {
        assert lockHeld();
        if (!worklist.isEmpty() || !incoming.isEmpty() || (bhWorker != null && bhWorker.currentWork != null)) {
            return false;
        }
        for (Worker worker : workers) {
            if (worker.currentWork != null || !worker.scheduled.isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Adds the items on the worklist and on the workers' scheduled lists to {@code queued}, in order. For
     * {@code Workqueues.cancelQueuedForClose}. LOCKING: the pool lock, held by the caller.
     */
    void copyQueuedLocked(List<Work> queued) {
        assert lockHeld();
        worklist.copyTo(queued);
        for (Worker worker : workers) {
            worker.scheduled.copyTo(queued);
        }
    }

    /**
     * Adds to {@code out} the items of {@code pwq} that wait in this pool, in the order they would start: those on
     * the workers' scheduled lists, then the worklist, then {@code pwq}'s inactive list (the incoming items were
     * moved to those when the lock was taken). For {@code WorkqueueExecutor.shutdownNow}. LOCKING: the pool lock,
     * held by the caller.
     */
    void copyQueuedLocked(PoolWorkqueue pwq, List<Work> out) {
        assert lockHeld();
        for (Worker worker : workers) {
            worker.scheduled.copyTo(out, pwq);
        }
        worklist.copyTo(out, pwq);
        pwq.inactive.copyTo(out);
    }

    /**
     * Counts the workers of this pool whose current item is one of {@code wq}'s that {@code which} accepts, and with
     * {@code interrupt} interrupts each one's thread: the running item's pending signal. The worker clears its
     * thread's interrupt under this lock before it takes its next item ({@code WorkerPools.processOne}), and its
     * current item changes only under this lock, so an interrupt sent here reaches that item and never the next.
     * A BH pool's pseudo-worker has no thread of its own: counted, never interrupted. For
     * {@code WorkqueueExecutor}. LOCKING: the pool lock, held by the caller.
     *
     * @return how many workers run such an item
     */
    int runningLocked(Workqueue wq, Predicate<Work> which, boolean interrupt) {
        assert lockHeld();
        int n = 0;
        for (Worker worker : workers) {
            if (runs(worker, wq, which)) {
                n++;
                Thread t = interrupt ? threadOf(worker) : null;
                if (t != null) {
                    t.interrupt();
                }
            }
        }
        if (bhWorker != null && runs(bhWorker, wq, which)) {
            n++;
        }
        return n;
    }

    /**
     * The thread that runs {@code worker}'s items: its runtime thread, or in stepped mode the thread the stepper runs
     * it on; null for a rescuer's stand-in (its thread is the rescuer's) or a worker not started yet. (Not kept in a
     * field of the worker: one more field there moved the worker's hot fields and cost the per-CPU throughput its
     * fast rounds, docs/benchmarks.md §28.)
     */
    private Thread threadOf(Worker worker) {
        AgentHandle h = worker.handle;
        Thread t = h != null ? h.thread() : null;
        if (t == null && owner.machine().stepped()) {
            t = owner.steppedScheduler().threadOf(worker);
        }
        return t;
    }

    private static boolean runs(Worker worker, Workqueue wq, Predicate<Work> which) {
        Work w = worker.currentWork;
        PoolWorkqueue pwq = worker.currentPwq;
        return w != null && pwq != null && pwq.wq == wq && which.test(w);
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

    /** The CPU a new worker's context runs on: the pool's, or round-robin for an unbound pool. Any context. */
    Cpu cpuForWorker(int workerId) {
        int n = owner.machine().cpuCount();
        return owner.machine().cpu(cpu >= 0 ? cpu : workerId % n);
    }

    @Override
    public String toString() {
        return "pool " + id + " (" + describe() + ")";
    }
}
