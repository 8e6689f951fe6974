package dev.bottomhalf.cli;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A simulated network card with one receive queue per CPU. A device thread writes packets into each
 * queue's ring and raises the queue's interrupt line — only while the queue's interrupt is enabled,
 * as a real card does after the driver masked it. Thread-safe as described per method.
 */
final class SimulatedNic {
    /** One receive queue: a single-producer (device) / single-consumer (the softirq of one CPU) ring. */
    static final class RxQueue {
        private static final int SIZE = 4096;
        final int index;
        final int irq;
        private final long[] ring = new long[SIZE];
        private final AtomicLong head = new AtomicLong(); // next slot the device writes; device only
        private final AtomicLong tail = new AtomicLong(); // next slot the driver reads; driver only
        /** The card's interrupt-enable bit for this queue: cleared by the top half, set by the poll when drained. */
        final AtomicBoolean irqEnabled = new AtomicBoolean(true);
        final AtomicLong received = new AtomicLong();
        final AtomicLong dropped = new AtomicLong();
        final AtomicLong delivered = new AtomicLong();
        final AtomicLong bytes = new AtomicLong();
        /** The device total as last rolled up by the queue's statistics tasklet. */
        final AtomicLong rolledUp = new AtomicLong();
        final AtomicLong rollups = new AtomicLong();

        RxQueue(int index, int irq) {
            this.index = index;
            this.irq = irq;
        }

        /** Device side: stores one packet; false when the ring is full (the card drops it). */
        boolean offer(long packetLength) {
            long h = head.get();
            if (h - tail.get() >= SIZE) {
                dropped.incrementAndGet();
                return false;
            }
            ring[(int) (h & (SIZE - 1))] = packetLength;
            head.lazySet(h + 1);
            received.incrementAndGet();
            return true;
        }

        /** Driver side: takes up to {@code budget} packets; returns how many it took. */
        int poll(int budget) {
            long t = tail.get();
            long available = head.get() - t;
            int n = (int) Math.min(available, budget);
            long sum = 0;
            for (int i = 0; i < n; i++) {
                sum += ring[(int) ((t + i) & (SIZE - 1))];
            }
            tail.lazySet(t + n);
            delivered.addAndGet(n);
            bytes.addAndGet(sum);
            return n;
        }

        boolean isEmpty() {
            return head.get() == tail.get();
        }
    }

    final RxQueue[] queues;

    SimulatedNic(int queues, int firstIrq) {
        this.queues = new RxQueue[queues];
        for (int i = 0; i < queues; i++) {
            this.queues[i] = new RxQueue(i, firstIrq + i);
        }
    }
}
