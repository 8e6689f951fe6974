package dev.bottomhalf.internal.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/**
 * The runtime's intrusive MPSC list on a bare node type: FIFO batches, the link-is-null-off-the-list rule
 * that lets a producer skip clearing the link, and many producers with one consumer.
 */
class MpscLinkedListTest {

    static final class Node {
        final int id;
        volatile int pending;
        Node next;

        Node(int id) {
            this.id = id;
        }
    }

    static final class NodeList extends MpscLinkedList<Node> {
        private static final VarHandle NEXT;

        static {
            try {
                NEXT = MethodHandles.lookup().findVarHandle(Node.class, "next", Node.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        NodeList() {
            super(new Node(-1), new Node(-2));
        }

        @Override
        protected Node nextAcquire(Node n) {
            return (Node) NEXT.getAcquire(n);
        }

        @Override
        protected void setNextRelease(Node n, Node next) {
            NEXT.setRelease(n, next);
        }

        @Override
        protected void setNextPlain(Node n, Node next) {
            NEXT.set(n, next);
        }
    }

    private static List<Integer> drain(NodeList list) {
        List<Integer> ids = new ArrayList<>();
        for (Node n = list.takeAll(); n != null; ) {
            Node next = list.successor(n);
            ids.add(n.id);
            n = next;
        }
        return ids;
    }

    @Test
    void push_thenTakeAll_walksTheBatchOldestFirst_andLeavesEveryLinkNull() {
        NodeList list = new NodeList();
        Node[] nodes = {new Node(0), new Node(1), new Node(2)};
        assertTrue(list.push(nodes[0]), "the first push finds the list empty");
        assertFalse(list.push(nodes[1]));
        assertFalse(list.push(nodes[2]));

        assertEquals(List.of(0, 1, 2), drain(list));
        assertTrue(list.isEmpty());
        for (Node n : nodes) {
            assertNull(n.next, "node " + n.id + " is on no list, so its link is null");
        }
    }

    @Test
    void nodesWalkedOff_canBeQueuedAgain_withoutTheProducerClearingTheirLinks() {
        NodeList list = new NodeList();
        Node a = new Node(0);
        Node b = new Node(1);
        for (int round = 0; round < 4; round++) {
            list.push(b);
            list.push(a);
            assertEquals(List.of(1, 0), drain(list), "round " + round);
        }
        assertNull(list.takeAll(), "nothing queued");
    }

    @Test
    void push_ofANodeWhoseLinkIsStillSet_isCaughtWhenAssertionsAreOn() {
        NodeList list = new NodeList();
        Node stale = new Node(0);
        stale.next = new Node(1); // as if a consumer had dropped a batch without walking it
        AssertionError e = assertThrows(AssertionError.class, () -> list.push(stale));
        assertTrue(e.getMessage().contains("link is set"), e.getMessage());
    }

    @Test
    void manyProducers_oneConsumer_everyQueueingIsSeenExactlyOnce() throws InterruptedException {
        NodeList list = new NodeList();
        int producers = 3;
        int perProducer = 20_000;
        int nodeCount = 64;
        Node[] nodes = new Node[nodeCount];
        for (int i = 0; i < nodeCount; i++) {
            nodes[i] = new Node(i);
        }
        VarHandle pending;
        try {
            pending = MethodHandles.lookup().findVarHandle(Node.class, "pending", int.class);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
        AtomicIntegerArray queued = new AtomicIntegerArray(nodeCount);
        AtomicIntegerArray seen = new AtomicIntegerArray(nodeCount);
        CountDownLatch done = new CountDownLatch(producers);
        AtomicReference<Throwable> producerFailure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int seed = p;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    int x = seed * 7919 + 1;
                    for (int i = 0; i < perProducer; i++) {
                        x = x * 1103515245 + 12345;
                        Node n = nodes[(x >>> 16) % nodeCount];
                        if ((int) pending.getAndSet(n, 1) == 0) { // claim the node, as a tasklet's SCHED bit does
                            queued.incrementAndGet(n.id);
                            list.push(n);
                        }
                    }
                } catch (Throwable t) {
                    producerFailure.compareAndSet(null, t);
                } finally {
                    done.countDown();
                }
            }));
        }
        VarHandle pendingBit = pending;
        Runnable consume = () -> {
            for (Node n = list.takeAll(); n != null; ) {
                Node next = list.successor(n);
                seen.incrementAndGet(n.id);
                pendingBit.setVolatile(n, 0); // release the claim after the link was read and cleared
                n = next;
            }
        };
        while (done.getCount() > 0) {
            consume.run();
        }
        consume.run();
        for (Thread t : threads) {
            t.join();
        }
        assertNull(producerFailure.get(), "no producer failed");
        for (int i = 0; i < nodeCount; i++) {
            assertEquals(queued.get(i), seen.get(i), "node " + i + ": every queueing reached the consumer once");
            assertNull(nodes[i].next, "node " + i + "'s link is null once it is off the list");
        }
    }
}
