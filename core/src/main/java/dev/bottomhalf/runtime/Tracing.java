package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.runtime.Machine;
import java.util.Set;

/**
 * The tracing switch of one kernel: which tracepoints are on and where their hits go. Thread-safe.
 *
 * <p>Implementation notes: emitters test {@link #on(Tracepoint)} — one volatile load and a mask —
 * before they format anything, so a disabled tracepoint costs a load and a branch and allocates
 * nothing. {@link #enable} publishes the sink before the mask (both volatile), so an emitter that
 * sees a bit set also sees the sink.
 */
public final class Tracing {
    private final Machine machine;
    private volatile TraceSink sink;
    private volatile long enabledMask;

    Tracing(Machine machine) {
        this.machine = machine;
    }

    /**
     * True when hits of {@code point} are being recorded.
     *
     * @param point the tracepoint
     * @return true when enabled
     */
    public boolean on(Tracepoint point) {
        return (enabledMask & point.bit()) != 0;
    }

    /**
     * Sends hits of the given tracepoints (all of them when {@code points} is empty) to {@code sink}.
     *
     * @param sink where the hits go
     * @param points the tracepoints to enable; empty for all
     */
    public synchronized void enable(TraceSink sink, Set<Tracepoint> points) {
        this.sink = java.util.Objects.requireNonNull(sink, "sink");
        long mask = 0;
        if (points.isEmpty()) {
            for (Tracepoint p : Tracepoint.values()) {
                mask |= p.bit();
            }
        } else {
            for (Tracepoint p : points) {
                mask |= p.bit();
            }
        }
        this.enabledMask = mask;
    }

    /**
     * Sends every tracepoint's hits to {@code sink}.
     *
     * @param sink where the hits go
     */
    public void enableAll(TraceSink sink) {
        enable(sink, Set.of());
    }

    /**
     * The sink hits go to while any tracepoint is on, so that a second reader can forward to it (see
     * {@link #replace}). Any thread.
     *
     * @return the sink, or null when every tracepoint is off
     */
    public synchronized TraceSink sink() {
        return enabledMask == 0 ? null : sink;
    }

    /**
     * The tracepoints that are on. Any thread.
     *
     * @return a new set; empty when tracing is off
     */
    public synchronized Set<Tracepoint> enabled() {
        java.util.EnumSet<Tracepoint> on = java.util.EnumSet.noneOf(Tracepoint.class);
        for (Tracepoint p : Tracepoint.values()) {
            if ((enabledMask & p.bit()) != 0) {
                on.add(p);
            }
        }
        return on;
    }

    /**
     * Hands tracing to {@code next} only if hits go to {@code expected} now: a reader that put its sink in front of
     * another gives the other back, unless someone replaced it meanwhile. Any thread.
     *
     * @param expected the sink that must be current ({@link #sink()}; null: tracing must be off)
     * @param next     the sink to send hits to; null turns every tracepoint off
     * @param points   the tracepoints to enable for {@code next} (empty for all); ignored when {@code next} is null
     * @return true when the sink was {@code expected} and was replaced
     */
    public synchronized boolean replace(TraceSink expected, TraceSink next, Set<Tracepoint> points) {
        if (sink() != expected) {
            return false;
        }
        if (next == null) {
            disable();
        } else {
            enable(next, points);
        }
        return true;
    }

    /** Turns every tracepoint off. */
    public synchronized void disable() {
        enabledMask = 0;
    }

    /**
     * Records one hit from the current context. Call only after {@link #on(Tracepoint)} returned true;
     * a hit racing with {@link #disable()} may still be delivered.
     *
     * @param point the tracepoint
     * @param detail the hit's text, in the kernel's format
     */
    public void emit(Tracepoint point, String detail) {
        TraceSink s = sink;
        if (s == null) {
            return;
        }
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        int cpu = ctx == null || ctx.machine() != machine ? -1 : ctx.cpu().id();
        String comm = ctx == null || ctx.machine() != machine ? Thread.currentThread().getName() : ctx.name();
        s.hit(point, machine.clock().nanoTime(), cpu, comm, detail);
    }
}
