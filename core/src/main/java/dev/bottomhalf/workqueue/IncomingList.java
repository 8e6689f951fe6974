package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.Consumer;

/**
 * A pool's list of items queued without its lock: an intrusive multi-producer FIFO through
 * {@link Work#next}, drained by whoever holds the pool's lock ({@link WorkerPool#lock()}).
 *
 * <p>Implementation notes. The list is a chain that starts at an anchor (a dummy item) and ends at
 * {@link #tail}. A producer clears its item's link, swaps itself in as the tail with one
 * {@code getAndSet} (a full fence: the claim of PENDING and every write before it are published with it),
 * then links the previous tail to it with a release store. Producers never block one another and never
 * wait for the consumer. The drainer swaps the tail back to the other, empty anchor — so producers from then
 * on build a fresh chain — and walks the old chain from its anchor to the tail it took, waiting (briefly:
 * a producer is between two consecutive instructions) for a link that a producer has swapped in but not yet
 * stored. The two anchors alternate; both are final and only ever linked here.
 *
 * <p>A push reports whether it made the list non-empty: only that producer needs to make sure someone will
 * drain (see {@code Workqueues.queueWithoutLock}); later producers until the next drain ride on its check.
 */
final class IncomingList {
    private static final VarHandle TAIL;
    private static final VarHandle NEXT;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            TAIL = lookup.findVarHandle(IncomingList.class, "tail", Work.class);
            NEXT = lookup.findVarHandle(Work.class, "next", Work.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Work anchorA = new Work();
    private final Work anchorB = new Work();
    @SuppressWarnings("unused") // through TAIL
    private volatile Work tail = anchorA;
    /** The anchor that heads the chain producers append to. Read and written only by the drainer. */
    private Work head = anchorA;

    /**
     * Appends {@code w}, which the caller owns (it set PENDING). Any thread, lock-free.
     *
     * @return true if the list was empty before
     */
    boolean push(Work w) {
        NEXT.set(w, (Work) null);
        Work prev = (Work) TAIL.getAndSet(this, w);
        NEXT.setRelease(prev, w);
        return prev == anchorA || prev == anchorB;
    }

    /** Whether no item waits; a volatile read of the tail. Any thread. */
    boolean isEmpty() {
        Work t = tail;
        return t == anchorA || t == anchorB;
    }

    /**
     * Hands every waiting item to {@code sink}, oldest first, with its link cleared. Only under the pool lock
     * (one drainer at a time).
     *
     * @return how many items were drained
     */
    int drainTo(Consumer<Work> sink) {
        if (isEmpty()) {
            return 0;
        }
        Work anchor = head;
        Work fresh = anchor == anchorA ? anchorB : anchorA;
        NEXT.set(fresh, (Work) null);
        Work last = (Work) TAIL.getAndSet(this, fresh);
        head = fresh;
        Work w = awaitNext(anchor);
        NEXT.set(anchor, (Work) null);
        int n = 0;
        for (;;) {
            Work next = w == last ? null : awaitNext(w);
            NEXT.set(w, (Work) null);
            sink.accept(w);
            n++;
            if (next == null) {
                return n;
            }
            w = next;
        }
    }

    private static Work awaitNext(Work w) {
        Work next;
        int spins = 0;
        while ((next = (Work) NEXT.getAcquire(w)) == null) {
            if (++spins < 64) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        return next;
    }
}
