package dev.bottomhalf.time;

/**
 * {@code struct timespec64}: seconds and nanoseconds ({@code 0 <= tvNsec < 1,000,000,000}). Immutable; any
 * thread.
 *
 * @param tvSec  {@code tv_sec}
 * @param tvNsec {@code tv_nsec}
 */
public record Timespec64(long tvSec, long tvNsec) {
    /** {@code NSEC_PER_SEC}. */
    public static final long NSEC_PER_SEC = 1_000_000_000L;

    /**
     * A timespec of {@code tvSec} seconds and {@code tvNsec} nanoseconds; any thread.
     *
     * @throws IllegalArgumentException when {@code tvNsec} is outside 0..999,999,999
     */
    public Timespec64 {
        if (tvNsec < 0 || tvNsec >= NSEC_PER_SEC) {
            throw new IllegalArgumentException("tv_nsec out of range: " + tvNsec);
        }
    }

    /**
     * {@code ns_to_timespec64(ns)}: floors towards minus infinity, so {@code tvNsec} stays non-negative.
     *
     * @param ns nanoseconds
     * @return the timespec
     */
    public static Timespec64 ofNanos(long ns) {
        return new Timespec64(Math.floorDiv(ns, NSEC_PER_SEC), Math.floorMod(ns, NSEC_PER_SEC));
    }

    /**
     * {@code timespec64_to_ns(ts)}.
     *
     * @return the nanoseconds, overflowing beyond about 292 years
     */
    public long toNanos() {
        return tvSec * NSEC_PER_SEC + tvNsec;
    }
}
