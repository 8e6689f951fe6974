package dev.bottomhalf.tasklet;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One per-CPU tasklet list ({@code tasklet_vec} or {@code tasklet_hi_vec}): many producers (every
 * context on the CPU schedules onto it), one consumer (the CPU's BH owner). Allocation-free, FIFO.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Design: an intrusive multi-producer FIFO through {@link Tasklet#next}, appended at the tail (the
 * shape of Vyukov's intrusive MPSC queue). A producer clears its tasklet's link, swaps itself in as the
 * tail ({@code getAndSet}) and then links the old tail to itself with a release store. The consumer
 * detaches the whole list with one swap of the tail — the kernel's "detach the list and reset it to
 * empty" — and walks it oldest first; a tasklet queued during the walk goes onto the fresh list and waits
 * for the next pass, as in the kernel. There is no reversal pass: each tasklet of a batch is touched once
 * by the consumer, which matters when a batch holds thousands of tasklets that no longer fit in the
 * cache.</li>
 * <li>Two anchors. The list starts at an anchor, a private tasklet that is never scheduled, whose link
 * is the first tasklet. Two anchors alternate: {@link #takeAll} swaps the spare one in as the new tail
 * and keeps the old one as the head of the detached batch. A producer that swapped in before the detach
 * writes only into the old generation (the old anchor or an old tasklet), one that swapped in after it
 * only into the new one, so a producer delayed between its swap and its link store cannot corrupt the
 * other generation.</li>
 * <li>The price is a window per push: between a producer's swap and its link store, the old tail's link
 * is still null although a successor exists. The consumer knows where its batch ends (the tail it swapped
 * out), so it never mistakes that gap for the end; it waits for the link (spin, then yield), as the
 * consumers of JCTools' linked MPSC queues do. The gap is two instructions long; a producer thread that
 * is descheduled inside it delays the consumer until it runs again. A Treiber stack has no such window
 * but must be reversed before its tasklets can run in order.</li>
 * <li>Ownership: {@code tail} [A] any thread, atomic; {@code anchor}, {@code spare}, {@code batchLast} [C]
 * the BH owner of the list's CPU, which is one context at a time (the walk runs with the BH level held, so
 * two walks of one list never overlap); {@code Tasklet.next} belongs to whoever queued the tasklet until
 * it is linked, then to the producer of its successor (one release store), then to the consumer.</li>
 * <li>Memory ordering: the producer's swap of {@code tail} (full barrier) publishes its plain
 * {@code t.next = null}; its release store of {@code prev.next} pairs with the consumer's acquire load of
 * that link, which makes everything the producer wrote before scheduling visible to the consumer. The
 * consumer's plain reset of an anchor's link (right after it has read it) is published by the swap of
 * {@code tail} that later puts that anchor back in, which every later producer reads with its own swap.</li>
 * </ul>
 */
final class TaskletList {
    private static final VarHandle TAIL;
    private static final VarHandle NEXT;
    /** How often the consumer re-reads a link that a producer has not stored yet before it yields. */
    private static final int LINK_SPINS = 128;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            TAIL = l.findVarHandle(TaskletList.class, "tail", Tasklet.class);
            NEXT = l.findVarHandle(Tasklet.class, "next", Tasklet.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through TAIL
    private volatile Tasklet tail;
    private Tasklet anchor = new Tasklet();
    private Tasklet spare = new Tasklet();
    private Tasklet batchLast;

    TaskletList() {
        TAIL.setVolatile(this, anchor);
    }

    /** Appends {@code t}. Any context; the caller owns {@code t} (it won SCHED, or it is the consumer). */
    void push(Tasklet t) {
        t.next = null;
        Tasklet prev = (Tasklet) TAIL.getAndSet(this, t);
        NEXT.setRelease(prev, t);
    }

    /**
     * Detaches everything queued so far and returns the oldest tasklet, or null when the list is empty;
     * walk the batch with {@link #successor}. Only the BH owner of the list's CPU. Costs one load when the
     * list is empty and one swap otherwise.
     */
    Tasklet takeAll() {
        Tasklet head = anchor;
        if (TAIL.getVolatile(this) == head) {
            return null;
        }
        Tasklet fresh = spare; // its link is null: reset when it was last detached (below)
        batchLast = (Tasklet) TAIL.getAndSet(this, fresh); // != head: the tail only moves away from it
        anchor = fresh;
        spare = head;
        Tasklet first = awaitLink(head);
        head.next = null; // only this generation's first producer wrote it, and that write has been read
        return first;
    }

    /**
     * The tasklet after {@code t} in the batch from the last {@link #takeAll}, or null after its last one.
     * Read it before {@code t} can be queued again (before its SCHED is cleared or it is put back), since
     * queueing overwrites the link. Only the BH owner of the list's CPU.
     */
    Tasklet successor(Tasklet t) {
        if (t == batchLast) {
            batchLast = null;
            return null;
        }
        Tasklet n = awaitLink(t);
        t.next = null; // no stale reference keeps a dropped tasklet reachable
        return n;
    }

    private static Tasklet awaitLink(Tasklet t) {
        Tasklet n = (Tasklet) NEXT.getAcquire(t);
        return n != null ? n : awaitLinkSlow(t);
    }

    /** A producer swapped itself in after {@code t} but has not stored the link yet: wait for it. */
    private static Tasklet awaitLinkSlow(Tasklet t) {
        Tasklet n;
        for (int spins = 0; (n = (Tasklet) NEXT.getAcquire(t)) == null; spins++) {
            if (spins < LINK_SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield(); // the producer may have been descheduled inside its window
            }
        }
        return n;
    }

    /**
     * Whether nothing is queued. Any thread; a snapshot (it reads the consumer's anchor without
     * synchronisation: exact on the consumer's own thread and in stepped mode).
     */
    boolean isEmpty() {
        return TAIL.getVolatile(this) == anchor;
    }
}
