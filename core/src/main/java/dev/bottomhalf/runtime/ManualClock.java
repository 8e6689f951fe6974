package dev.bottomhalf.runtime;

import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.LongConsumer;
import java.util.concurrent.TimeUnit;

/**
 * A clock moved only by its owner, for stepped mode and tests. Thread-safe: the time is a
 * volatile field, so an advance is visible to every thread that reads the clock afterwards.
 *
 * <p>Implementation notes: after each advance the clock tells its listeners (the kernels'
 * lockup detectors) the time it moved to, on the advancing thread and outside its lock.
 */
public final class ManualClock implements Clock {

    private volatile long nowNs;
    private final CopyOnWriteArrayList<LongConsumer> listeners = new CopyOnWriteArrayList<>();

    ManualClock() {
    }

    @Override
    public long nanoTime() {
        return nowNs;
    }

    /**
     * Moves time forward by {@code amount} units; never backwards.
     *
     * @param amount how far
     * @param unit the amount's unit
     * @throws IllegalArgumentException when {@code amount} is negative
     */
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
        for (LongConsumer l : listeners) {
            l.accept(toNs);
        }
    }

    void addListener(LongConsumer listener) {
        listeners.add(listener);
    }

    void removeListener(LongConsumer listener) {
        listeners.remove(listener);
    }

    /**
     * Moves time forward by {@code ns} nanoseconds.
     *
     * @param ns nanoseconds, not negative
     * @throws IllegalArgumentException when {@code ns} is negative
     */
    public void advanceNanos(long ns) {
        advance(ns, TimeUnit.NANOSECONDS);
    }

    /**
     * Moves time forward by {@code ms} milliseconds.
     *
     * @param ms milliseconds, not negative
     * @throws IllegalArgumentException when {@code ms} is negative
     */
    public void advanceMillis(long ms) {
        advance(ms, TimeUnit.MILLISECONDS);
    }

    @Override
    public String toString() {
        return "manual clock at " + nowNs + " ns";
    }
}
