package dev.bottomhalf.time;

import java.time.Duration;
import java.util.Objects;

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

    /**
     * A delay as a {@link Duration} in jiffies, for the Java API's {@code Duration} overloads: rounded up as
     * {@code msecs_to_jiffies} rounds (a delay never ends early), and clamped to {@link #MAX_JIFFY_OFFSET} when it
     * is too long to count, as the kernel's {@code msecs_to_jiffies} and {@code usecs_to_jiffies} clamp
     * ("too large values mean an infinite timeout"). Any thread.
     *
     * @param delay how long, not negative
     * @param hz    jiffies per second
     * @return the delay in jiffies, 0 only for a zero delay, at most {@link #MAX_JIFFY_OFFSET}
     * @throws IllegalArgumentException when {@code delay} is negative (the kernel's conversions take a negative
     *         count as an infinite timeout; a negative {@code Duration} is a caller's bug instead)
     * @throws NullPointerException when {@code delay} is null
     */
    public static long durationToJiffies(Duration delay, int hz) {
        requireNotNegative(delay);
        try {
            long j = Math.addExact(Math.multiplyExact(delay.getSeconds(), hz),
                    ((long) delay.getNano() * hz + 999_999_999L) / 1_000_000_000L);
            return Math.min(j, MAX_JIFFY_OFFSET);
        } catch (ArithmeticException e) {
            return MAX_JIFFY_OFFSET;
        }
    }

    /**
     * {@code j} jiffies as a {@link Duration} (exact when {@code hz} divides a second into whole nanoseconds); a
     * negative count gives {@link Duration#ZERO}. Any thread.
     *
     * @param j  a jiffy count (a delay or a time left, not an absolute {@code jiffies} value)
     * @param hz jiffies per second
     * @return the duration of {@code j} ticks
     */
    public static Duration jiffiesToDuration(long j, int hz) {
        if (j <= 0) {
            return Duration.ZERO;
        }
        return Duration.ofSeconds(j / hz, (j % hz) * 1_000_000_000L / hz);
    }

    /**
     * A delay as a {@link Duration} in nanoseconds, clamped to {@code KTIME_MAX} ({@link Long#MAX_VALUE}) as the
     * kernel's {@code ktime_set} clamps a time too long for a {@code ktime_t}.
     *
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    static long durationToNanos(Duration delay) {
        requireNotNegative(delay);
        try {
            return delay.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private static void requireNotNegative(Duration delay) {
        if (Objects.requireNonNull(delay, "duration").isNegative()) {
            throw new IllegalArgumentException("a delay or timeout cannot be negative, was " + delay);
        }
    }

    /** ⌈v × mul / div⌉ for v ≥ 0, without overflow for any v that fits the result. */
    private static long ceilScale(long v, long mul, long div) {
        long q = v / div;
        long r = v % div;
        return Math.addExact(Math.multiplyExact(q, mul), (r * mul + div - 1) / div);
    }
}
