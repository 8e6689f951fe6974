package dev.bottomhalf.trace;

import java.util.ArrayList;
import java.util.List;

import dev.bottomhalf.runtime.TraceSink;
import dev.bottomhalf.runtime.Tracepoint;

/**
 * A bounded ring of tracepoint hits, rendered like the kernel's {@code /sys/kernel/tracing/trace}.
 * Thread-safe: {@link #hit} is a short synchronized append (tracing is a debugging aid; when it is off
 * nothing reaches this class).
 */
public final class TraceBuffer implements TraceSink {
    /**
     * One recorded hit.
     *
     * @param point  the tracepoint
     * @param timeNs kernel clock at the hit
     * @param cpu    CPU of the emitting context (-1 outside the kernel)
     * @param comm   the emitting thread's name
     * @param detail the formatted fields
     */
    public record Entry(Tracepoint point, long timeNs, int cpu, String comm, String detail) {
        /**
         * The entry as one line of the kernel's trace file.
         *
         * @return the line, without a newline
         */
        public String format() {
            long us = timeNs / 1_000;
            return String.format("%16s [%03d] %6d.%06d: %s: %s", comm, cpu, us / 1_000_000, us % 1_000_000,
                    point.eventName(), detail);
        }
    }

    private final Entry[] ring;
    private long next;

    /**
     * A buffer keeping the last {@code capacity} hits.
     *
     * @param capacity how many hits to keep, at least 1
     * @throws IllegalArgumentException when {@code capacity} is below 1
     */
    public TraceBuffer(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1: " + capacity);
        }
        this.ring = new Entry[capacity];
    }

    @Override
    public synchronized void hit(Tracepoint point, long timeNs, int cpu, String comm, String detail) {
        ring[(int) (next++ % ring.length)] = new Entry(point, timeNs, cpu, comm, detail);
    }

    /**
     * The kept hits, oldest first.
     *
     * @return the hits, a new list
     */
    public synchronized List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        long start = Math.max(0, next - ring.length);
        for (long i = start; i < next; i++) {
            out.add(ring[(int) (i % ring.length)]);
        }
        return out;
    }

    /**
     * How many hits were lost to the ring's capacity.
     *
     * @return the count since the last {@link #clear()}
     */
    public synchronized long overwritten() {
        return Math.max(0, next - ring.length);
    }

    /** Forgets the kept hits and the overwritten count. */
    public synchronized void clear() {
        next = 0;
        java.util.Arrays.fill(ring, null);
    }

    /**
     * The kept hits as the kernel's trace file renders them.
     *
     * @return the header lines, then one line per hit
     */
    public String render() {
        StringBuilder sb = new StringBuilder("# tracer: nop\n#\n#           TASK  CPU  TIMESTAMP  FUNCTION\n");
        for (Entry e : entries()) {
            sb.append(e.format()).append('\n');
        }
        return sb.toString();
    }
}
