package dev.bottomhalf.time;

/**
 * The geometry of the kernel's hierarchical timer wheel ({@code kernel/time/timer.c}): levels of 64
 * buckets, each level 8× coarser than the one below, 9 levels when HZ &gt; 100 and 8 otherwise. Pure
 * functions of jiffies; {@link TimerBase} uses them to place timers, and {@code docs/subsystems/timer.md}
 * quotes them (a test checks the table against this class).
 *
 * <p>Jiffies are unsigned 64-bit values held in a {@code long}: comparisons go through
 * {@link Jiffies#timeAfter} and friends, shifts are unsigned.
 */
public final class TimerWheel {
    /** {@code LVL_CLK_SHIFT}: each level is 2^3 = 8 times coarser. */
    public static final int LVL_CLK_SHIFT = 3;
    /** {@code LVL_CLK_DIV}. */
    public static final int LVL_CLK_DIV = 1 << LVL_CLK_SHIFT;
    /** {@code LVL_CLK_MASK}. */
    public static final long LVL_CLK_MASK = LVL_CLK_DIV - 1;
    /** {@code LVL_BITS}: 64 buckets per level. */
    public static final int LVL_BITS = 6;
    /** {@code LVL_SIZE}. */
    public static final int LVL_SIZE = 1 << LVL_BITS;
    /** {@code LVL_MASK}. */
    public static final long LVL_MASK = LVL_SIZE - 1;
    /** {@code NEXT_TIMER_MAX_DELTA}: how far ahead the base looks when nothing is pending. */
    public static final long NEXT_TIMER_MAX_DELTA = (1L << 30) - 1;

    private TimerWheel() {
    }

    /**
     * {@code LVL_DEPTH}: 9 levels if HZ &gt; 100, else 8.
     *
     * @param hz the tick rate
     * @return the number of levels
     */
    public static int depth(int hz) {
        return hz > 100 ? 9 : 8;
    }

    /**
     * {@code LVL_SHIFT(n)}.
     *
     * @param level the level
     * @return the bit shift of its buckets, 3 per level
     */
    public static int shift(int level) {
        return level * LVL_CLK_SHIFT;
    }

    /**
     * {@code LVL_GRAN(n)}: the granularity of level {@code n} in ticks, 8^n.
     *
     * @param level the level
     * @return ticks per bucket
     */
    public static long granularity(int level) {
        return 1L << shift(level);
    }

    /**
     * {@code LVL_START(n)} for n ≥ 1: the smallest delta placed on level {@code n}, 63·8^(n−1).
     *
     * @param level the level, at least 1
     * @return the delta in ticks
     */
    public static long levelStart(int level) {
        if (level < 1) {
            throw new IllegalArgumentException("LVL_START is defined for levels >= 1, not " + level);
        }
        return (LVL_SIZE - 1L) << ((level - 1) * LVL_CLK_SHIFT);
    }

    /**
     * {@code WHEEL_SIZE}: buckets in all levels.
     *
     * @param depth the number of levels
     * @return the bucket count
     */
    public static int wheelSize(int depth) {
        return LVL_SIZE * depth;
    }

    /**
     * {@code WHEEL_TIMEOUT_CUTOFF}: deltas from here on are clamped.
     *
     * @param depth the number of levels
     * @return the cutoff in ticks
     */
    public static long timeoutCutoff(int depth) {
        return levelStart(depth);
    }

    /**
     * {@code WHEEL_TIMEOUT_MAX}: the longest representable timeout.
     *
     * @param depth the number of levels
     * @return the longest timeout in ticks
     */
    public static long timeoutMax(int depth) {
        return timeoutCutoff(depth) - granularity(depth - 1);
    }

    /**
     * The level a timer {@code delta = expires − clk} ticks ahead lands on (a negative delta: level 0).
     *
     * @param delta ticks ahead of the base clock
     * @param depth the number of levels
     * @return the level
     */
    public static int level(long delta, int depth) {
        if (delta < 0) {
            return 0;
        }
        for (int lvl = 0; lvl < depth - 1; lvl++) {
            if (Long.compareUnsigned(delta, levelStart(lvl + 1)) < 0) {
                return lvl;
            }
        }
        return depth - 1;
    }

    /**
     * {@code calc_wheel_index(expires, clk, &bucket_expiry)}: the bucket index of a timer, and through
     * {@code bucketExpiryOut[0]} the jiffy at which that bucket expires. A timer never lands in a bucket
     * that expires before {@code expires}; deltas at or beyond the cutoff are clamped to
     * {@code clk + WHEEL_TIMEOUT_MAX}; a timer in the past goes into the bucket of {@code clk}.
     *
     * @param expires the timer's expiry in jiffies
     * @param clk the base clock in jiffies
     * @param depth the number of levels
     * @param bucketExpiryOut receives the bucket's expiry in element 0
     * @return the bucket index over all levels
     */
    public static int index(long expires, long clk, int depth, long[] bucketExpiryOut) {
        long delta = expires - clk;
        for (int lvl = 0; lvl < depth - 1; lvl++) {
            if (Long.compareUnsigned(delta, levelStart(lvl + 1)) < 0) {
                return calcIndex(expires, lvl, bucketExpiryOut);
            }
        }
        if (delta < 0) {
            bucketExpiryOut[0] = clk;
            return (int) (clk & LVL_MASK);
        }
        if (Long.compareUnsigned(delta, timeoutCutoff(depth)) >= 0) {
            expires = clk + timeoutMax(depth);
        }
        return calcIndex(expires, depth - 1, bucketExpiryOut);
    }

    /** {@code calc_index}: round up to the level's granularity, so the bucket never expires early. */
    static int calcIndex(long expires, int level, long[] bucketExpiryOut) {
        int s = shift(level);
        long e = (expires >>> s) + 1;
        bucketExpiryOut[0] = e << s;
        return level * LVL_SIZE + (int) (e & LVL_MASK);
    }

    /**
     * The jiffy at which a timer with {@code expires}, armed when the base clock is {@code clk}, fires.
     *
     * @param expires the timer's expiry in jiffies
     * @param clk the base clock when armed
     * @param depth the number of levels
     * @return the jiffy it fires at, never before {@code expires}
     */
    public static long firesAt(long expires, long clk, int depth) {
        long[] out = new long[1];
        index(expires, clk, depth, out);
        return out[0];
    }
}
