package dev.bottomhalf.workqueue;

import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;

/**
 * What a producer queueing without the lock reads of a pool-workqueue: written once ({@link PoolWorkqueue},
 * "Layout").
 */
abstract class PoolWorkqueueIdentity extends CacheLinePad {
    /** [I] The workqueue. */
    final Workqueue wq;
    /** [I] The pool; its lock guards every mutable field of the pool-workqueue. */
    final WorkerPool pool;

    PoolWorkqueueIdentity(Workqueue wq, WorkerPool pool) {
        this.wq = wq;
        this.pool = pool;
    }
}

/**
 * Padding after a pool-workqueue's identity ({@link PoolWorkqueue}, "Layout"): 68 bytes and four single bytes,
 * which HotSpot puts in any hole the identity's fields leave (it fills holes first-fit, largest fields first), so no
 * hole is left there for a subclass's small field.
 */
@SuppressWarnings("unused") // padding only
abstract class PoolWorkqueuePadAfter extends PoolWorkqueueIdentity {
    byte p0a, p0b, p0c, p0d;
    int p10;
    long p11, p12, p13, p14, p15, p16, p17, p18;

    PoolWorkqueuePadAfter(Workqueue wq, WorkerPool pool) {
        super(wq, pool);
    }
}

/**
 * A {@code pool_workqueue}: the link between one workqueue and one worker pool; used under its pool's lock by
 * whoever queues, runs, cancels or flushes an item of the workqueue in that pool. It owns the accounting of its
 * items: the flush color, the in-flight count per color and the sequence number an item gets when it is queued
 * ({@link #queueLocked}), the {@code max_active} limit with its inactive list ({@link #activateLocked},
 * {@link #activateInactiveLocked}), the way out of a cancelled item ({@link #grabQueuedLocked}) and of one that
 * ran ({@link #decNrInFlightLocked}), which reports to the flushers ({@link WorkqueueFlush#leftLocked}).
 *
 * <p>Implementation notes. Ownership tags as in the package legend ({@code docs/subsystems/workqueue.md},
 * "Ownership"): every mutable field is [L], guarded by {@code pool}'s lock; the methods named {@code ...Locked}
 * assert under {@code -ea} that the caller holds it. Nothing here takes a lock or calls back into
 * {@link Workqueues}.
 *
 * <p>Layout. A producer that queues without the lock reads {@link #wq} and {@link #pool} on every
 * {@code queue_work}, from another CPU than the worker that writes this object's counters on every item. Were they
 * on one cache line, each item would cost the producer a miss on a line the worker just took back. So the two
 * live in superclasses with padding on both sides ({@link PoolWorkqueueIdentity}): HotSpot lays out a
 * superclass's fields before its subclass's, which puts them at least 64 bytes from the counters below and from
 * whatever was allocated just before this object (the previous pool-workqueue's counters). Unpinned, that took
 * the per-CPU workqueue's median throughput from 0.50–1.12× to 1.04–1.50× ForkJoinPool's
 * (docs/benchmarks.md §26); {@code WorkqueueLayoutTest} checks the distances.
 */
final class PoolWorkqueue extends PoolWorkqueuePadAfter {
    static final int NR_COLORS = 16;

    /** [I] Where a completion is reported to the flushers and other waiters. */
    private final WorkqueueFlush flush;
    /** [L] {@code nr_active}: items on the worklist or running, counted against {@code max_active}. */
    int nrActive;
    /** [L] {@code inactive_works}: items over the {@code max_active} limit, in queueing order. */
    final WorkList inactive = new WorkList();
    /** [L] {@code nr_in_flight}: items queued (active or inactive) or running, per flush color. */
    final int[] inFlight = new int[NR_COLORS];
    // Statistics (the kernel's pwq->stats, read by the workqueue monitor): [L].
    /** [L] Items started. */
    long statTotal;
    /** [L] The items' summed run time. */
    long statRunNs;
    /** [L] Items that exceeded the CPU-intensive threshold. */
    long statCpuIntensive;
    /** [L] Workers woken by concurrency management for this workqueue's items. */
    long statCmWakeups;
    /** [L] Maydays sent to the rescuer. */
    long statMayday;
    /** [L] Items the rescuer ran. */
    long statRescued;

    PoolWorkqueue(Workqueue wq, WorkerPool pool, WorkqueueFlush flush) {
        super(wq, pool);
        this.flush = flush;
    }

    /** Items in flight over all colors. LOCKING: the pool lock, held by the caller. */
    int totalInFlightLocked() {
        assert pool.lockHeld();
        int n = 0;
        for (int c : inFlight) {
            n += c;
        }
        return n;
    }

    /** Items in flight of flush color {@code color}. LOCKING: the pool lock, held by the caller. */
    int inFlightLocked(int color) {
        assert pool.lockHeld();
        return inFlight[color];
    }

    /**
     * The {@code max_active} in force: 0 for a freezable workqueue while the workqueues are frozen. LOCKING: the
     * pool lock, held by the caller.
     */
    private int effectiveMaxActiveLocked() {
        assert pool.lockHeld();
        return pool.owner.freezing() && (wq.flags & Workqueue.WQ_FREEZABLE) != 0 ? 0 : wq.maxActive;
    }

    /**
     * The part of {@code __queue_work} done under the pool's lock for an item whose pool-workqueue
     * ({@code w.pwq}) is this one: the flush color, the in-flight count and the sequence number, then the
     * worklist or the inactive list. Called by {@code Workqueues.insert}, and by the holder of the lock as it
     * drains the items queued without it ({@link WorkerPool#drainIncomingLocked}). The caller kicks if needed.
     * LOCKING: the pool lock, held by the caller.
     *
     * @return true if the item went on the worklist (the pool may need a kick)
     */
    boolean queueLocked(Work w) {
        assert pool.lockHeld();
        int color = wq.workColor;
        w.color = color;
        inFlight[color]++;
        w.setQueuedSeq(w.queuedSeq + 1);
        if (w.lastPool != pool) {
            w.setLastPool(pool);
        }
        if (w.lastWq != wq) {
            w.setLastWq(wq);
        }
        if (inactive.isEmpty() && nrActive < effectiveMaxActiveLocked()) {
            activateLocked(w);
            return true;
        }
        w.inactive = true;
        inactive.addTail(w);
        return false;
    }

    /**
     * {@code pwq_activate_work}: puts {@code w} on the pool's worklist, taking an active slot. LOCKING: the pool
     * lock, held by the caller.
     */
    void activateLocked(Work w) {
        assert pool.lockHeld();
        nrActive++;
        w.inactive = false;
        pool.insertWorkLocked(w);
        Tracing tracing = pool.owner.tracing();
        if (tracing.on(Tracepoint.WORKQUEUE_ACTIVATE_WORK)) {
            tracing.emit(Tracepoint.WORKQUEUE_ACTIVATE_WORK, "work struct " + w.name());
        }
    }

    /**
     * {@code pwq_activate_first_inactive} while slots allow (after {@code max_active} was raised, or on thaw):
     * moves inactive items to the worklist. LOCKING: the pool lock, held by the caller, who kicks the pool if
     * this returns true.
     *
     * @return true if any item was activated
     */
    boolean activateInactiveLocked() {
        assert pool.lockHeld();
        Work next;
        boolean any = false;
        while ((next = inactive.first()) != null && nrActive < effectiveMaxActiveLocked()) {
            inactive.remove(next);
            activateLocked(next);
            any = true;
        }
        return any;
    }

    /**
     * {@code pwq_dec_nr_in_flight}: an item of color {@code color} left this pool-workqueue (done, or
     * cancelled); frees its active slot and activates the first inactive item, then tells the flushers
     * ({@link WorkqueueFlush#leftLocked}). Called by {@link #grabQueuedLocked} and, when an item has run, by
     * {@link WorkerPool#processOneEndLocked}. LOCKING: the pool lock, held by the caller.
     */
    void decNrInFlightLocked(int color, boolean wasActive) {
        assert pool.lockHeld();
        inFlight[color]--;
        if (wasActive) {
            nrActive--;
            Work next = inactive.first();
            if (next != null && nrActive < effectiveMaxActiveLocked()) {
                inactive.remove(next);
                activateLocked(next);
            }
        }
        flush.leftLocked(this, color);
    }

    /**
     * The part of {@code try_to_grab_pending} under the pool's lock: if {@code w} is still queued here (on the
     * worklist, the inactive list or a worker's scheduled list), unlinks it and lets it leave this
     * pool-workqueue. A flush waiting for the removed instance is done with it — but only once an older
     * instance that still runs (necessarily in this pool: non-reentrancy) has finished. Context: any (the
     * caller owns PENDING). LOCKING: the pool lock, held by the caller.
     *
     * @return true if it was queued here and is now unlinked; false if it moved meanwhile (the caller retries)
     */
    boolean grabQueuedLocked(Work w) {
        assert pool.lockHeld();
        if (w.pwq != this || w.list == null) {
            return false;
        }
        boolean active = !w.inactive;
        w.list.remove(w);
        w.setPwq(null);
        if (pool.findWorkerExecutingLocked(w) != null) {
            w.cancelledSeq = w.queuedSeq;
        } else if (w.doneSeq < w.queuedSeq) {
            w.setDoneSeq(w.queuedSeq);
        }
        decNrInFlightLocked(w.color, active);
        return true;
    }

    /** Counts an item the rescuer ran ({@code stats[PWQ_STAT_RESCUED]}). LOCKING: the pool lock, held by the caller. */
    void countRescuedLocked() {
        assert pool.lockHeld();
        statRescued++;
    }

    @Override
    public String toString() {
        return "pwq[" + wq.name() + " on " + pool + " active=" + nrActive + " inactive=" + inactive.size() + "]";
    }
}
