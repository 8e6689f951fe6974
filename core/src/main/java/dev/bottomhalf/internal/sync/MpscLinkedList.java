package dev.bottomhalf.internal.sync;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An intrusive multi-producer, single-consumer FIFO: producers append nodes that carry their own link
 * field (a tasklet, a work item), one consumer at a time detaches everything queued so far and walks it
 * oldest first. Lock-free for producers; allocation-free. {@link #push} from any thread; {@link #takeAll}
 * and {@link #successor} only from the list's one consumer (whoever holds what serialises the consumers:
 * the BH level of a CPU, a pool lock).
 *
 * <p>A subclass names the node type and gives access to its link field (one {@code static final}
 * {@link VarHandle} per node type, so every link access compiles to a plain field access): see
 * {@link #nextAcquire}, {@link #setNextRelease}, {@link #setNextPlain}. Subclasses are final and used
 * through fields of their exact type, so the JIT binds those calls statically.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Design: Vyukov's intrusive MPSC shape. A producer swaps its node in as the tail ({@code getAndSet},
 * a full fence) and then links the previous tail to it with a release store.
 * The consumer detaches the whole chain with one swap of the tail — the kernel's "take the list and reset
 * it to empty" — and walks it oldest first. No reversal pass: each node of a batch is touched once by the
 * consumer.</li>
 * <li>Two anchors. The chain starts at an anchor, a node that is never queued, whose link is the first
 * node. Two anchors alternate: {@link #takeAll} swaps the spare one in as the new tail and keeps the old
 * one as the head of the detached batch. A producer that swapped in before the detach writes only into the
 * old generation, one that swapped in after it only into the new one, so a producer delayed between its
 * swap and its link store cannot corrupt the other generation.</li>
 * <li>The window: between a producer's swap and its link store, the old tail's link is still null although
 * a successor exists. The consumer knows where its batch ends (the tail it swapped out), so it never takes
 * that gap for the end; it waits for the link (spin, then yield: the producer is two instructions from
 * storing it, unless the host descheduled it there).</li>
 * <li>Ownership: {@code tail} [A] any thread, atomic; {@code head}, {@code spare}, {@code batchLast} [C]
 * the consumer; {@code anchorA}, {@code anchorB} [I] immutable; a node's link belongs to whoever queued the node until it is linked, then to the producer
 * of its successor (one release store), then to the consumer.</li>
 * <li>A node's link is null whenever the node is on no list, so a producer never writes it before its swap
 * (a store and a GC barrier less on every push): a new node's link is null; the consumer clears each link
 * it walks past ({@link #successor}, {@link #takeAll} for the anchor); the last node of a batch is never
 * linked (its successor, if any, swapped in after the detach and links to the fresh anchor); and a user
 * that moves nodes through the same link field into a list of its own clears the link when it takes a
 * node off that list. Each clear is published to the node's next producer through the node's pending bit:
 * the clear comes before the bit is released, the producer's claim of the bit before its swap.</li>
 * <li>Memory ordering: the producer's swap of {@code tail} publishes everything it wrote before queueing
 * (the claim of the node's pending bit); its release store of the
 * predecessor's link pairs with the consumer's acquire load of that link. The consumer's plain reset of an
 * anchor's link (after it has read it) is published by the swap that later puts that anchor back in as
 * the tail, which every later producer reads with its own swap.</li>
 * </ul>
 *
 * @param <N> the node type
 */
public abstract class MpscLinkedList<N> {
    private static final VarHandle TAIL;
    /** How often the consumer re-reads a link that a producer has not stored yet before it yields. */
    private static final int LINK_SPINS = 128;

    static {
        try {
            TAIL = MethodHandles.lookup().findVarHandle(MpscLinkedList.class, "tail", Object.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through TAIL
    private volatile Object tail;
    /** The two anchors, for producers' "was it empty" test (head and spare are the consumer's). */
    private final N anchorA;
    private final N anchorB;
    private N head;
    private N spare;
    private N batchLast;

    /**
     * @param anchorA a node that is never queued, used as an anchor
     * @param anchorB a second such node
     */
    protected MpscLinkedList(N anchorA, N anchorB) {
        this.anchorA = anchorA;
        this.anchorB = anchorB;
        this.head = anchorA;
        this.spare = anchorB;
        TAIL.setVolatile(this, anchorA);
    }

    /** The link of {@code node}, with acquire ordering. */
    protected abstract N nextAcquire(N node);

    /** Sets the link of {@code node} with release ordering. */
    protected abstract void setNextRelease(N node, N next);

    /** Sets the link of {@code node} with a plain store. */
    protected abstract void setNextPlain(N node, N next);

    /**
     * Appends {@code node}, which the caller owns (it won the node's pending bit). Its link is null, as it is
     * for every node on no list (see the class notes; checked when assertions are on). Any thread, lock-free.
     *
     * @return true if the list was empty before (only that producer needs to see that someone will drain)
     */
    @SuppressWarnings("unchecked")
    public final boolean push(N node) {
        assert nextAcquire(node) == null : "push of a node whose link is set (on a list already, or a stale link)";
        N prev = (N) TAIL.getAndSet(this, node);
        setNextRelease(prev, node);
        return isAnchor(prev);
    }

    /** Whether nothing is queued: a volatile read of the tail. Any thread; exact at the moment of the read. */
    public final boolean isEmpty() {
        return isAnchor(TAIL.getVolatile(this));
    }

    private boolean isAnchor(Object node) {
        return node == anchorA || node == anchorB;
    }

    /**
     * Detaches everything queued so far and returns the oldest node, or null when the list is empty; walk
     * the batch with {@link #successor}. Only the consumer. One load when the list is empty, one swap
     * otherwise.
     */
    @SuppressWarnings("unchecked")
    public final N takeAll() {
        N anchor = head;
        if (TAIL.getVolatile(this) == anchor) {
            return null;
        }
        N fresh = spare; // its link is null: reset when it was last detached (below)
        batchLast = (N) TAIL.getAndSet(this, fresh); // != anchor: the tail only moves away from it
        head = fresh;
        spare = anchor;
        N first = awaitLink(anchor);
        setNextPlain(anchor, null); // only this generation's first producer wrote it, and it has been read
        return first;
    }

    /**
     * The node after {@code node} in the batch of the last {@link #takeAll}, or null after its last one.
     * Read it before {@code node} can be queued again (queueing overwrites the link). Only the consumer.
     */
    public final N successor(N node) {
        if (node == batchLast) {
            batchLast = null;
            return null;
        }
        N next = awaitLink(node);
        setNextPlain(node, null); // off the list, its link is null: the next push relies on it
        return next;
    }

    private N awaitLink(N node) {
        N next = nextAcquire(node);
        return next != null ? next : awaitLinkSlow(node);
    }

    /** A producer swapped itself in after {@code node} but has not stored the link yet: wait for it. */
    private N awaitLinkSlow(N node) {
        N next;
        for (int spins = 0; (next = nextAcquire(node)) == null; spins++) {
            if (spins < LINK_SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield(); // the producer may have been descheduled inside its window
            }
        }
        return next;
    }
}
