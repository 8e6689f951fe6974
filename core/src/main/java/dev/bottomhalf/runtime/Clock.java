package dev.bottomhalf.runtime;

/**
 * The time source of one kernel: a monotonic nanosecond counter. Thread-safe.
 *
 * <p>Jiffies are derived from it (see {@link dev.bottomhalf.Kernel#jiffies()}), so a {@link ManualClock} makes every
 * timing rule of the kernel — the 2 ms softirq budget, the 100 ms unhandled-interrupt window —
 * deterministic in stepped mode.
 */
public interface Clock {
    /**
     * Monotonic time in nanoseconds; only differences are meaningful.
     *
     * @return nanoseconds from an arbitrary origin
     */
    long nanoTime();

    /**
     * The host's monotonic clock ({@link System#nanoTime()}).
     *
     * @return the system clock
     */
    static Clock system() {
        return SystemClock.INSTANCE;
    }

    /**
     * A clock that only moves when told to, starting at 0 ns.
     *
     * @return a new manual clock
     */
    static ManualClock manual() {
        return new ManualClock();
    }
}

/** The host clock. Stateless. */
final class SystemClock implements Clock {
    static final SystemClock INSTANCE = new SystemClock();

    private SystemClock() {
    }

    @Override
    public long nanoTime() {
        return System.nanoTime();
    }

    @Override
    public String toString() {
        return "system clock";
    }
}
