package dev.bottomhalf.runtime;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One rate-limit state, the kernel's {@code struct ratelimit_state} with its {@code ___ratelimit()}: at
 * most {@code burst} callbacks go ahead in every {@code interval} jiffies, the others are suppressed and
 * counted. Thread-safe; any context.
 *
 * <p>The rule, as in the kernel: the first call opens an interval at its jiffies. A call at jiffies
 * {@code j} past the end of the interval ({@code time_is_before_jiffies(begin + interval)}, that is
 * {@code j > begin + interval}) opens a new one at {@code j}; if callbacks were suppressed in the old one,
 * {@link #check} hands their number to this call, which reports {@code "<func>: <n> callbacks suppressed"}
 * before its own message (see {@link RateLimiter}). Within an interval the first {@code burst} calls go
 * ahead. A suppressed count is only ever reported by a later call that opens an interval: a flood that
 * stops leaves its last count unreported (the kernel's behaviour without {@code RATELIMIT_MSG_ON_RELEASE}).
 *
 * <p>{@code interval == 0} turns the limit off (the kernel's rule); so does {@code burst == 0}, where the
 * kernel would suppress everything (a configuration switch that silences every report is
 * {@link Reporter#silent()}).
 *
 * <p>Implementation notes. Going ahead is decided under this object's monitor only, so no interval lets
 * more than {@code burst} calls through, whatever the number of concurrent callers. The common case of a
 * flood — the burst of the current interval is used up — is decided without the monitor: a read of the
 * volatile {@code begin} and then of the volatile {@code printed}, and one atomic increment of
 * {@code missed}; no allocation. The monitor holder writes {@code printed = 0} before {@code begin = now}
 * when it opens an interval, so a reader that sees the new {@code begin} sees the reset count too (it
 * never suppresses a call that a fresh interval would let through). A suppression decided just before an
 * interval opens may be counted in the new interval's {@code missed}: the sum of the reported counts stays
 * exact. The kernel's 6.12 {@code ___ratelimit} suppresses a call that finds the state's spinlock taken
 * without counting it; here that caller waits for the monitor (held for a few instructions) and is counted.
 */
public final class RateLimit {
    /** Returned by {@link #check} for a suppressed callback. */
    public static final int SUPPRESSED = -1;

    private static final VarHandle MISSED;

    static {
        try {
            MISSED = MethodHandles.lookup().findVarHandle(RateLimit.class, "missed", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long intervalJiffies;
    private final int burst;
    private final boolean unlimited;
    /** The jiffies that opened the current interval; written under the monitor. */
    private volatile long begin;
    /** Callbacks let through in the current interval; written under the monitor. */
    private volatile int printed;
    /** Set (under the monitor) by the first call. */
    private volatile boolean initialised;
    /** Suppressed since the last report of the count; through MISSED. */
    @SuppressWarnings("unused")
    private volatile int missed;

    /**
     * {@code RATELIMIT_STATE_INIT(name, interval, burst)}.
     *
     * @param intervalJiffies the interval in jiffies ({@code DEFAULT_RATELIMIT_INTERVAL} is {@code 5 * HZ});
     *                        0 turns the limit off
     * @param burst           callbacks let through per interval ({@code DEFAULT_RATELIMIT_BURST} is 10); 0 turns
     *                        the limit off
     */
    public RateLimit(long intervalJiffies, int burst) {
        if (intervalJiffies < 0 || intervalJiffies > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("interval must be 0.." + Integer.MAX_VALUE + " jiffies: " + intervalJiffies);
        }
        if (burst < 0) {
            throw new IllegalArgumentException("burst must be >= 0: " + burst);
        }
        this.intervalJiffies = intervalJiffies;
        this.burst = burst;
        this.unlimited = intervalJiffies == 0 || burst == 0;
    }

    /**
     * {@code ___ratelimit(rs, func)} at jiffies {@code nowJiffies}: whether this callback may go ahead.
     *
     * @param nowJiffies the current jiffies
     * @return {@link #SUPPRESSED} when it is suppressed (and counted); otherwise it goes ahead, and the
     *         value is the number of callbacks suppressed in the interval this call closed (0 when none, or
     *         when it did not open an interval), which the caller reports first
     */
    public int check(long nowJiffies) {
        if (unlimited) {
            return 0;
        }
        if (initialised && nowJiffies - (begin + intervalJiffies) <= 0 && printed >= burst) {
            MISSED.getAndAdd(this, 1);
            return SUPPRESSED;
        }
        synchronized (this) {
            if (!initialised) {
                begin = nowJiffies;
                initialised = true;
            }
            int closed = 0;
            if (nowJiffies - (begin + intervalJiffies) > 0) {
                closed = (int) MISSED.getAndSet(this, 0);
                printed = 0;
                begin = nowJiffies;
            }
            if (printed < burst) {
                printed = printed + 1;
                return closed;
            }
            MISSED.getAndAdd(this, 1);
            return SUPPRESSED;
        }
    }

    /**
     * The interval in jiffies (0: no limit).
     *
     * @return the interval
     */
    public long intervalJiffies() {
        return intervalJiffies;
    }

    /**
     * Callbacks let through per interval (0: no limit).
     *
     * @return the burst
     */
    public int burst() {
        return burst;
    }

    /**
     * Callbacks suppressed and not yet reported by a call that opened an interval.
     *
     * @return the count
     */
    public int missed() {
        return (int) MISSED.getVolatile(this);
    }

    /**
     * True when this state is indistinguishable from a fresh one at {@code nowJiffies}: its interval is over
     * and nothing suppressed waits to be reported (the next call would open an interval and report nothing,
     * exactly as on a fresh state). A state no call has checked yet is about to be used: not idle.
     */
    boolean idleAt(long nowJiffies) {
        return initialised && nowJiffies - (begin + intervalJiffies) > 0 && (int) MISSED.getVolatile(this) == 0;
    }

    @Override
    public String toString() {
        return "ratelimit[interval=" + intervalJiffies + " jiffies, burst=" + burst + ", printed=" + printed
                + ", missed=" + missed() + "]";
    }
}
