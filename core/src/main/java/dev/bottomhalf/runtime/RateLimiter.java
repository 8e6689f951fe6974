package dev.bottomhalf.runtime;

import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * One rate-limited report site of a kernel — the kernel's {@code printk_ratelimited()} /
 * {@code if (__ratelimit(&rs)) pr_...()} — with one {@link RateLimit} per key (a handler, a device, or a
 * single state for the whole site). Made by {@link Reports#limiter(String)}; thread-safe; any context.
 *
 * <p>A suppressed report is still counted by kind ({@link Reports#count}); only its delivery to the
 * {@link Reporter} is left out. When a call opens a new interval after suppressions, the site first reports
 * {@code "<func>: <n> callbacks suppressed"} at {@link KernelEvent.Kind#WARN} — the kernel's
 * {@code printk_deferred(KERN_WARNING "%s: %d callbacks suppressed\n", func, missed)}, where {@code func}
 * is the name of the function that called {@code __ratelimit()}: here the {@code func} the site was made
 * with.
 *
 * <p>Implementation notes. A key's state is created by the first report of that key (which goes ahead, so
 * the allocation is on a reporting path); a suppressed report does a map lookup, {@link RateLimit#check}'s
 * lock-free path and a counter increment, and allocates nothing. Keys are compared with {@code equals}:
 * handler objects (which do not override it) by identity, strings by value. States whose interval is over
 * with nothing left to report are dropped when the map has more than 1,024 keys (such a state
 * behaves exactly like a fresh one) — scanned at most once per interval, or when the map has doubled since
 * the last scan — so short-lived handlers do not accumulate; a caller racing with that
 * removal may go ahead on the dropped state while another starts a fresh one.
 */
public final class RateLimiter {
    static final int PRUNE_MIN = 1024;

    private final Reports reports;
    private final String func;
    private final long intervalJiffies;
    private final int burst;
    private final boolean reportSuppressed;
    private final boolean unlimited;
    private final RateLimit single;
    private final ConcurrentHashMap<Object, RateLimit> states = new ConcurrentHashMap<>();
    private int pruneAt = PRUNE_MIN;   // guarded by states' monitor
    private long lastPruneJiffies;     // guarded by states' monitor
    private boolean pruned;            // guarded by states' monitor

    RateLimiter(Reports reports, String func, long intervalJiffies, int burst, boolean reportSuppressed) {
        this.reports = reports;
        this.func = func;
        this.intervalJiffies = intervalJiffies;
        this.burst = burst;
        this.reportSuppressed = reportSuppressed;
        this.single = new RateLimit(intervalJiffies, burst);
        this.unlimited = intervalJiffies == 0 || burst == 0;
    }

    /**
     * The function name the suppressed-callbacks line names; null: the line names the key.
     *
     * @return the name, or null
     */
    public String func() {
        return func;
    }

    /**
     * {@code __ratelimit(&rs)} for the site's single state: true when the caller goes ahead and reports
     * (through {@link Reports#warning}, {@link Reports#printk}, ..., which count it); false when the report
     * is suppressed, in which case it has been counted here as {@code kind}.
     *
     * @param kind the kind the report would have
     * @return true when the caller reports
     */
    public boolean allow(KernelEvent.Kind kind) {
        return allow(single, null, kind);
    }

    /**
     * {@link #allow(KernelEvent.Kind)} with one state per {@code key}.
     *
     * @param key whose reports share one rate
     * @param kind the kind the report would have
     * @return true when the caller reports
     */
    public boolean allow(Object key, KernelEvent.Kind kind) {
        if (unlimited) {
            return true;
        }
        return allow(stateFor(key), key, kind);
    }

    /**
     * A handler threw: reported as {@code Oops: <describe(subject)> threw <thrown>} unless the oopses of
     * {@code key} are over their rate, counted as {@link KernelEvent.Kind#OOPS} either way; the description
     * is made only for a report that goes ahead. A fatal error ({@link Reports#isFatal}) is always reported
     * and then panics the kernel (see {@link Reports#oops(String,
     * Throwable)}).
     *
     * @param key      whose oopses share one rate: the handler object
     * @param subject  what {@code describe} is applied to (often the key itself)
     * @param describe the handler as the report names it ({@code timer NAME}, {@code irq 7 handler eth0}, ...);
     *                 a non-capturing lambda costs no allocation
     * @param <D> the subject's type
     * @param thrown what the handler threw
     * @throws KernelPanic when {@code thrown} is fatal, or is a panic already under way
     */
    public <D> void oops(Object key, D subject, Function<? super D, String> describe, Throwable thrown) {
        if (thrown instanceof KernelPanic p) {
            throw p; // a panic unwinding through a handler boundary: already reported
        }
        if (Reports.isFatal(thrown)) {
            reports.deliverOops(describe.apply(subject), thrown); // the oops before a panic is never suppressed
        } else if (allow(key, KernelEvent.Kind.OOPS)) {
            reports.deliverOops(describe.apply(subject), thrown);
        }
        reports.panicIfFatal(thrown);
    }

    /**
     * The state of {@code key}, or null when it has none (no report of it yet, or dropped as idle).
     *
     * @param key the key
     * @return its state, or null
     */
    public RateLimit state(Object key) {
        return states.get(key);
    }

    /**
     * The state of the single-state form ({@link #allow(KernelEvent.Kind)}).
     *
     * @return the state
     */
    public RateLimit state() {
        return single;
    }

    private boolean allow(RateLimit rs, Object key, KernelEvent.Kind kind) {
        int closed = rs.check(reports.jiffies());
        if (closed == RateLimit.SUPPRESSED) {
            reports.suppressed(kind);
            return false;
        }
        if (closed > 0 && reportSuppressed) {
            reports.printk(KernelEvent.Kind.WARN, (func != null ? func : String.valueOf(key)) + ": " + closed
                    + " callbacks suppressed");
        }
        return true;
    }

    private RateLimit stateFor(Object key) {
        RateLimit rs = states.get(key);
        return rs != null ? rs : create(key);
    }

    private RateLimit create(Object key) {
        RateLimit fresh = new RateLimit(intervalJiffies, burst);
        RateLimit raced = states.putIfAbsent(key, fresh);
        if (raced != null) {
            return raced;
        }
        if (states.size() > PRUNE_MIN) {
            prune();
        }
        return fresh;
    }

    /**
     * Drops the idle states once the map has doubled since the last scan, or once an interval has passed
     * since it (states only become idle when their interval is over): at most one scan per interval while
     * the keys in use stay below twice their number at the last scan.
     */
    private void prune() {
        synchronized (states) {
            long now = reports.jiffies();
            if (pruned && states.size() <= pruneAt && now - (lastPruneJiffies + intervalJiffies) <= 0) {
                return;
            }
            states.values().removeIf(rs -> rs.idleAt(now));
            pruneAt = Math.max(PRUNE_MIN, 2 * states.size());
            lastPruneJiffies = now;
            pruned = true;
        }
    }

    /** Keys with a state now (for tests and diagnostics). */
    int size() {
        return states.size();
    }

    @Override
    public String toString() {
        return "ratelimited " + func + " (" + (unlimited ? "no limit" : burst + " per " + intervalJiffies + " jiffies")
                + ", " + states.size() + " keys)";
    }
}
