package dev.bottomhalf.runtime;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A clock moved only by its owner, for stepped mode and tests. Thread-safe: the time is a
 * volatile field, so an advance is visible to every thread that reads the clock afterwards.
 *
 * <p>Implementation notes: after each advance the clock tells its listeners (the kernels'
 * {@link LockupDetector}s) the time it moved to, on the advancing thread and outside its lock.
 */
public final class ManualClock implements Clock {
    /** Told about every advance of the clock, on the advancing thread. */
    interface AdvanceListener {
        void advanced(long nowNs);
    }

    private volatile long nowNs;
    private final CopyOnWriteArrayList<AdvanceListener> listeners = new CopyOnWriteArrayList<>();

    ManualClock() {
    }

    @Override
    public long nanoTime() {
        return nowNs;
    }

    /** Moves time forward by {@code amount} units; never backwards. */
    public void advance(long amount, TimeUnit unit) {
        long deltaNs = unit.toNanos(amount);
        if (deltaNs < 0) {
            throw new IllegalArgumentException("a clock never goes backwards: advance by " + amount + " " + unit);
        }
        if (deltaNs == 0) {
            return;
        }
        long toNs;
        synchronized (this) {
            toNs = nowNs + deltaNs;
            nowNs = toNs;
        }
        for (AdvanceListener l : listeners) {
            l.advanced(toNs);
        }
    }

    void addListener(AdvanceListener listener) {
        listeners.add(listener);
    }

    void removeListener(AdvanceListener listener) {
        listeners.remove(listener);
    }

    /** Moves time forward by {@code ns} nanoseconds. */
    public void advanceNanos(long ns) {
        advance(ns, TimeUnit.NANOSECONDS);
    }

    /** Moves time forward by {@code ms} milliseconds. */
    public void advanceMillis(long ms) {
        advance(ms, TimeUnit.MILLISECONDS);
    }

    @Override
    public String toString() {
        return "manual clock at " + nowNs + " ns";
    }
}
