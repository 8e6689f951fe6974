package dev.bottomhalf.web;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

import dev.bottomhalf.runtime.TraceSink;
import dev.bottomhalf.runtime.Tracepoint;

/**
 * The web view's trace sink: a bounded ring of tracepoint hits that the view's sampler thread drains; when it is full
 * a hit is dropped and counted. {@link #hit} is called by any thread in any context (hardirq included), concurrently;
 * {@link #drain} by one thread at a time (the sampler).
 *
 * <p>Implementation notes: a producer claims slot {@code t} with one CAS on {@code tail}, only while
 * {@code t - head < capacity} (so it never overwrites a slot the consumer has not read), then stores its record
 * with a release store. The consumer reads slots from {@code head} with acquire loads, stops at a claimed slot
 * whose record is not stored yet (the next drain picks it up), clears each slot it read and then publishes the new
 * {@code head} with a volatile write, which orders the clears before any producer's claim of those slots. Nothing
 * blocks: a full ring costs a producer two volatile loads and an increment of the drop counter.
 */
final class HitRing implements TraceSink {
    /** One hit, immutable. */
    record Hit(Tracepoint point, long timeNs, int cpu, String comm, String detail) {
    }

    private final AtomicReferenceArray<Hit> slots;
    private final int mask;
    private final AtomicLong tail = new AtomicLong();
    private volatile long head;
    private final LongAdder dropped = new LongAdder();
    private final LongAdder accepted = new LongAdder();

    /**
     * A ring of {@code capacity} hits, rounded up to a power of two.
     *
     * @param capacity at least 1
     */
    HitRing(int capacity) {
        if (capacity < 1 || capacity > 1 << 24) {
            throw new IllegalArgumentException("trace capacity must be in 1..16777216: " + capacity);
        }
        int size = 1;
        while (size < capacity) {
            size <<= 1;
        }
        this.slots = new AtomicReferenceArray<>(size);
        this.mask = size - 1;
    }

    @Override
    public void hit(Tracepoint point, long timeNs, int cpu, String comm, String detail) {
        long t;
        do {
            t = tail.get();
            if (t - head >= slots.length()) {
                dropped.increment();
                return;
            }
        } while (!tail.compareAndSet(t, t + 1));
        slots.setRelease((int) (t & mask), new Hit(point, timeNs, cpu, comm, detail));
        accepted.increment();
    }

    /** Receives drained hits. */
    @FunctionalInterface
    interface Consumer {
        void accept(Hit hit);
    }

    /**
     * Hands every stored hit to {@code consumer}, oldest first, and frees their slots. One thread at a time.
     *
     * @param consumer receives the hits
     * @return how many were drained
     */
    int drain(Consumer consumer) {
        long h = head;
        long end = tail.get();
        int n = 0;
        while (h < end) {
            int i = (int) (h & mask);
            Hit hit = slots.getAcquire(i);
            if (hit == null) {
                break;              // claimed, not stored yet
            }
            slots.setPlain(i, null);
            consumer.accept(hit);
            h++;
            n++;
        }
        head = h;
        return n;
    }

    /** The ring's size in hits. */
    int capacity() {
        return slots.length();
    }

    /** Hits dropped because the ring was full. */
    long dropped() {
        return dropped.sum();
    }

    /** Hits stored. */
    long accepted() {
        return accepted.sum();
    }
}
