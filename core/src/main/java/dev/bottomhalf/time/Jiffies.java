package dev.bottomhalf.time;

/**
 * Jiffies arithmetic ({@code include/linux/jiffies.h}). Jiffies are an unsigned counter that wraps; the
 * kernel starts it five minutes before its 32-bit half wraps ({@code INITIAL_JIFFIES}) so wrap bugs show
 * early. Compare jiffies only with these helpers, never with {@code <}: they take the signed difference,
 * which is right as long as the two values are less than half the counter apart.
 */
public final class Jiffies {
    /** {@code MAX_JIFFY_OFFSET}: what the conversions return for out-of-range input. */
    public static final long MAX_JIFFY_OFFSET = (Long.MAX_VALUE >> 1) - 1;

    private Jiffies() {
    }

    /**
     * {@code time_after(a, b)}: a is later than b.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is after {@code b}, across wrap-around
     */
    public static boolean timeAfter(long a, long b) {
        return b - a < 0;
    }

    /**
     * {@code time_before(a, b)}: a is earlier than b.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is before {@code b}, across wrap-around
     */
    public static boolean timeBefore(long a, long b) {
        return timeAfter(b, a);
    }

    /**
     * {@code time_after_eq(a, b)}.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is not before {@code b}
     */
    public static boolean timeAfterEq(long a, long b) {
        return a - b >= 0;
    }

    /**
     * {@code time_before_eq(a, b)}.
     *
     * @param a a jiffies value
     * @param b a jiffies value
     * @return true when {@code a} is not after {@code b}
     */
    public static boolean timeBeforeEq(long a, long b) {
        return timeAfterEq(b, a);
    }

    /**
     * {@code time_in_range(a, b, c)}: b ≤ a ≤ c.
     *
     * @param a the value to test
     * @param b the range's start
     * @param c the range's end, included
     * @return true when in range
     */
    public static boolean timeInRange(long a, long b, long c) {
        return timeAfterEq(a, b) && timeBeforeEq(a, c);
    }

    /**
     * {@code time_in_range_open(a, b, c)}: b ≤ a &lt; c.
     *
     * @param a the value to test
     * @param b the range's start
     * @param c the range's end, excluded
     * @return true when in range
     */
    public static boolean timeInRangeOpen(long a, long b, long c) {
        return timeAfterEq(a, b) && timeBefore(a, c);
    }

    /**
     * {@code msecs_to_jiffies(m)}: rounds up; a negative value gives {@link #MAX_JIFFY_OFFSET}.
     *
     * @param ms milliseconds
     * @param hz the tick rate
     * @return jiffies
     */
    public static long msecsToJiffies(long ms, int hz) {
        if (ms < 0) {
            return MAX_JIFFY_OFFSET;
        }
        return ceilScale(ms, hz, 1_000L);
    }

    /**
     * {@code usecs_to_jiffies(u)}: rounds up.
     *
     * @param us microseconds
     * @param hz the tick rate
     * @return jiffies
     */
    public static long usecsToJiffies(long us, int hz) {
        if (us < 0) {
            return MAX_JIFFY_OFFSET;
        }
        return ceilScale(us, hz, 1_000_000L);
    }

    /**
     * {@code nsecs_to_jiffies(n)}: rounds down, as the kernel's {@code nsecs_to_jiffies64} does.
     *
     * @param ns nanoseconds
     * @param hz the tick rate
     * @return jiffies
     */
    public static long nsecsToJiffies(long ns, int hz) {
        if (ns < 0) {
            return MAX_JIFFY_OFFSET;
        }
        return (ns / 1_000_000_000L) * hz + (ns % 1_000_000_000L) * hz / 1_000_000_000L;
    }

    /**
     * {@code jiffies_to_msecs(j)}: rounds up (exact for HZ 100, 250, 1000).
     *
     * @param j jiffies
     * @param hz the tick rate
     * @return milliseconds
     */
    public static long jiffiesToMsecs(long j, int hz) {
        return ceilScale(j, 1_000L, hz);
    }

    /**
     * {@code jiffies_to_usecs(j)}: rounds up.
     *
     * @param j jiffies
     * @param hz the tick rate
     * @return microseconds
     */
    public static long jiffiesToUsecs(long j, int hz) {
        return ceilScale(j, 1_000_000L, hz);
    }

    /** ⌈v × mul / div⌉ for v ≥ 0, without overflow for any v that fits the result. */
    private static long ceilScale(long v, long mul, long div) {
        long q = v / div;
        long r = v % div;
        return Math.addExact(Math.multiplyExact(q, mul), (r * mul + div - 1) / div);
    }
}
