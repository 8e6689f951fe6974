package dev.bottomhalf.workqueue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.internal.wiring.Subsystems;

/**
 * Flushing and draining for one {@link Workqueues} ({@code flush_work}, {@code __flush_workqueue} with its
 * flush colors, {@code drain_workqueue}), and every wait for items to finish — those, cancel-sync's wait for
 * a running instance, and the freezer's. Package-private: the public API is {@link Workqueues}.
 *
 * <p>Implementation notes. Every wait goes through the kernel's one wait ({@link Machine#waitUntil}): the
 * waiter evaluates its condition (which takes pool locks) with no lock of its own held, and parks on the
 * machine's wait queue; in stepped mode the wait drives the kernel or gives the baton away. Completions
 * report here under a pool lock ({@link #leftLocked}) and wake the waiters only when somebody waits and one of
 * their conditions can have become true; waking takes no lock.
 *
 * <p>The wait for one item's instance ({@code flush_work}, cancel-sync) and its wake-up meet at the instance's pool
 * lock. The worker records the end ({@code Work.doneSeq}, a release store) and then reads whether anyone waits
 * ({@link #leftLocked}), both under that lock; the waiter counts itself ({@code itemWaiters}, then the wait queue's
 * count) and then looks at {@code doneSeq} under the same lock ({@link #isDone}). If the waiter's look takes the
 * lock after the worker's section, it sees the end; if before, its count came before the worker's read, which
 * sees it and wakes it. So the worker needs no fence of its own for this — it used to pay a volatile store (a full
 * StoreLoad fence) on every item, 5–10 % of what an item costs on one CPU (docs/benchmarks.md §27) — and the
 * waiter pays a pool-lock round trip per look while the instance is not done.
 */
final class WorkqueueFlush {
    private final Machine machine;
    private final Reports reports;
    private final WorkerPools pools;
    /** Threads waiting for one item's instance ({@code flush_work}, cancel-sync): any completion may end it. */
    private final AtomicInteger itemWaiters = new AtomicInteger();

    WorkqueueFlush(Machine machine, WorkerPools pools) {
        this.machine = machine;
        this.reports = machine.reports();
        this.pools = pools;
    }

    /**
     * An item of color {@code color} left {@code pwq} (it ran, or was cancelled); its counters are already
     * updated. LOCKING: the pool lock, held by the caller (asserted). Wakes waiters only when one of their conditions can have become true: a
     * flush color of this pool-workqueue emptied (flush_workqueue, drain), its last active item ended
     * (freeze), or some thread waits for an item's instance (flush_work, cancel-sync: any completion may be its
     * own). A streaming workqueue with a flusher waiting then wakes it once, not once per item.
     */
    void leftLocked(PoolWorkqueue pwq, int color) {
        assert pwq.pool.lockHeld();
        if (machine.hasWaiters() && (pwq.inFlight[color] == 0 || pwq.nrActive == 0 || itemWaiters.get() > 0)) {
            machine.wakeWaiters();
        }
    }

    /**
     * An instance of an item to wait for: its number, and the pool under whose lock its end is recorded (the pool
     * that holds it queued, or runs it: an instance never moves to another pool).
     */
    private record Instance(long seq, WorkerPool pool) {
        /** The instance numbered {@code seq} in {@code pool}, or null for 0 (no instance was ever queued). */
        static Instance of(long seq, WorkerPool pool) {
            return seq == 0 ? null : new Instance(seq, pool);
        }
    }

    /**
     * Whether {@code w}'s instance {@code i} is done (it ran, or was cancelled). A look at {@code doneSeq} first,
     * which ends the wait at once when it is; then the same look under the instance's pool lock, which is what
     * makes the wake-up exact (class notes). Context: the waiter's, no lock held. LOCKING: takes and drops the pool
     * lock when the first look says not yet.
     */
    private static boolean isDone(Work w, Instance i) {
        if (w.doneSeq >= i.seq()) {
            return true;
        }
        i.pool().lock();
        try {
            return w.doneSeq >= i.seq();
        } finally {
            i.pool().unlock();
        }
    }

    /** {@code flush_work} ({@link Workqueues#flush}). */
    boolean flushWork(Work w) {
        if (w.func() == null) {
            reports.warning("WARNING: flush_work() of a work item without a function (WARN_ON(!work->func))");
            return false;
        }
        ExecutionContext ctx = machine.current();
        Worker self = pools.currentWorker(ctx);
        if (self != null && self.currentWork == w) {
            reports.lockdep(KernelEvent.Kind.BUG, "WARNING: possible recursive locking detected: flush_work("
                    + w.name() + ") called from the item's own function waits for itself ((work_completion)("
                    + w.name() + ")); it would never return", new Throwable("flush_work"));
            return false;
        }
        Instance target = instanceToWaitFor(w);
        if (target == null) {
            return false;
        }
        Workqueue targetWq = w.lastWq; // the workqueue of the instance found: where it is queued, or ran from
        if (targetWq != null) {
            WorkqueueChecks.checkFlushDependency(reports, self, targetWq, w);
        }
        Subsystems.locking().flushWork(ctx, w.func().getClass(), w, w.name());
        ctx.mightSleep("flush_work");
        waitUntil(() -> isDone(w, target), "flush_work(" + w.name() + ")", true);
        return true;
    }

    /** The queued or running instance of {@code w}, or null if it is idle. */
    private Instance instanceToWaitFor(Work w) {
        for (;;) {
            PoolWorkqueue pwq = w.pwq;
            if (pwq != null) {
                pwq.pool.lock();
                try {
                    if (w.pwq == pwq) {
                        // On a list: queued, numbered. Not on one: its producer has set pwq but not pushed it yet —
                        // being queued, concurrently with this flush, which treats it as idle (as the kernel's
                        // start_flush_work finds no pwq before insert_work).
                        return w.list != null ? Instance.of(w.queuedSeq, pwq.pool) : null;
                    }
                } finally {
                    pwq.pool.unlock();
                }
                continue;
            }
            WorkerPool pool = w.lastPool;
            if (pool == null) {
                return null;
            }
            pool.lock();
            try {
                if (w.pwq != null) {
                    continue;
                }
                Worker running = pool.findWorkerExecutingLocked(w);
                if (running != null) {
                    return Instance.of(running.currentSeq, pool);
                }
                for (Worker worker : pool.workers) {
                    for (Work s = worker.scheduled.first(); s != null; s = s.next) {
                        if (s == w) {
                            return Instance.of(w.queuedSeq, pool);
                        }
                    }
                }
                return null;
            } finally {
                pool.unlock();
            }
        }
    }

    /** Waits for the queued or running instance of {@code w}, if any (cancel-sync, disable-sync). */
    void waitForRunningInstance(Work w, String call) {
        Instance target = instanceToWaitFor(w);
        if (target != null) {
            waitUntil(() -> isDone(w, target), call + "(" + w.name() + ")", true);
        }
    }

    /**
     * Refuses {@code call} on {@code wq} from an item running on {@code wq} itself: {@code drain_workqueue} and
     * {@code destroy_workqueue} wait until the workqueue has no item left, the caller's own included, so in
     * the kernel they hang there for ever (lockdep splats first). Here: one BUG report per call, nothing is
     * done, and the kernel stays usable.
     *
     * @return true when refused
     */
    boolean refusedFromOwnItem(Workqueue wq, String call) {
        Worker self = pools.currentWorker(machine.current());
        if (self == null || self.currentPwq == null || self.currentPwq.wq != wq) {
            return false;
        }
        Work running = self.currentWork;
        reports.bug("BUG: " + call + "(" + wq.name() + ") called from " + (running == null ? "an item" : running.name())
                + ", an item running on " + wq.name() + ": it waits until " + wq.name() + " has no item left, this one"
                + " included, so it would wait for itself forever (deadlock); refused, nothing done",
                new Throwable(call));
        return true;
    }

    /** {@code flush_workqueue} ({@link Workqueues#flushWorkqueue}); {@code systemWq}: one of the system workqueues. */
    void flushWorkqueue(Workqueue wq, boolean systemWq) {
        ExecutionContext ctx = machine.current();
        Worker self = pools.currentWorker(ctx);
        if (self != null && self.currentPwq != null && self.currentPwq.wq == wq) {
            reports.lockdep(KernelEvent.Kind.BUG, "WARNING: possible recursive locking detected: flush_workqueue("
                    + wq.name() + ") called from an item running on it waits for itself ((wq_completion)" + wq.name()
                    + "); it would never return", new Throwable("flush_workqueue"));
            return;
        }
        if (systemWq && wq.draining == 0) {
            // __warn_flushing_systemwide_wq(): pr_warn() and dump_stack() on every call.
            reports.printk(KernelEvent.Kind.WARN, "WARNING: Flushing system-wide workqueues will be prohibited in near"
                    + " future.", new Throwable("__warn_flushing_systemwide_wq"));
        }
        WorkqueueChecks.checkFlushDependency(reports, self, wq, null);
        Subsystems.locking().flushWorkqueue(ctx, wq, wq.name());
        ctx.mightSleep("flush_workqueue");
        if (!lockFlush(wq)) {
            return;
        }
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
            wq.flusher.set(null);
            machine.wakeWaiters();
        }
    }

    /**
     * Waits until the calling thread is {@code wq}'s only flusher. The wait is the kernel's one wait, so a
     * kworker waiting here sleeps as in any other flush (its pool starts another worker; in stepped mode it gives
     * the baton away) instead of blocking in Java, which the stepped scheduler cannot see.
     *
     * @return false when the wait could never end (stepped mode, reported by the wait); the caller does nothing
     */
    private boolean lockFlush(Workqueue wq) {
        Thread me = Thread.currentThread();
        while (!wq.flusher.compareAndSet(null, me)) {
            if (!machine.waitUntil(() -> wq.flusher.get() == null, "flush_workqueue(" + wq.name() + ")")) {
                return false;
            }
        }
        return true;
    }

    private int inFlight(Workqueue wq, int color) {
        int n = 0;
        for (PoolWorkqueue pwq : distinct(wq)) {
            pwq.pool.lock();
            try {
                n += pwq.inFlightLocked(color);
            } finally {
                pwq.pool.unlock();
            }
        }
        return n;
    }

    /** Items of {@code wq} queued, inactive or running, over all its pool-workqueues. Takes the pool locks. */
    int totalInFlight(Workqueue wq) {
        int n = 0;
        for (PoolWorkqueue pwq : distinct(wq)) {
            pwq.pool.lock();
            try {
                n += pwq.totalInFlightLocked();
            } finally {
                pwq.pool.unlock();
            }
        }
        return n;
    }

    private static PoolWorkqueue[] distinct(Workqueue wq) {
        return wq.pwqs;
    }

    private static void lockAll(Workqueue wq) {
        for (PoolWorkqueue pwq : wq.pwqs) {
            pwq.pool.lock();
        }
    }

    private static void unlockAll(Workqueue wq) {
        for (int i = wq.pwqs.length - 1; i >= 0; i--) {
            wq.pwqs[i].pool.unlock();
        }
    }

    /** {@code drain_workqueue} ({@link Workqueues#drainWorkqueue}). */
    void drain(Workqueue wq, boolean systemWq) {
        if (refusedFromOwnItem(wq, "drain_workqueue")) {
            return;
        }
        synchronized (wq) {
            wq.draining++;
        }
        try {
            for (int tries = 1;; tries++) {
                flushWorkqueue(wq, systemWq);
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

    /** Waits until {@code done} holds (a condition on the workqueues' state that completions can change). */
    void waitUntil(BooleanSupplier done, String what) {
        waitUntil(done, what, false);
    }

    /**
     * Waits until {@code done} holds; {@code forItem}: the condition is about one item's instance, which every
     * completion may end (see {@link #leftLocked}).
     */
    private void waitUntil(BooleanSupplier done, String what, boolean forItem) {
        if (done.getAsBoolean()) {
            return;
        }
        if (forItem) {
            itemWaiters.incrementAndGet();
        }
        try {
            machine.waitUntil(done, what);
        } finally {
            if (forItem) {
                itemWaiters.decrementAndGet();
            }
        }
    }
}
