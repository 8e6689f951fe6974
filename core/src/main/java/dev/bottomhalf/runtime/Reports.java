package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.RateLimiter;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The report hub of one kernel: makes {@link KernelEvent}s from the current context, counts them by
 * kind and hands them to the configured {@link Reporter}. Thread-safe; any context.
 *
 * <p>Every report is counted ({@link #count}), whether it is delivered or not. Delivery follows the
 * kernel's three rules:
 * <ul>
 * <li>every time — {@code WARN()}, {@code WARN_ON()}, {@code pr_err()}, ...: {@link #warning},
 * {@link #bug}, {@link #printk};</li>
 * <li>once per kernel — {@code WARN_ONCE()}, {@code WARN_ON_ONCE()}, {@code printk_once()}, lockdep's
 * {@code debug_locks_off()}: {@link #warnOnce}, {@link #once}; later occurrences are counted, not
 * delivered;</li>
 * <li>rate-limited — {@code printk_ratelimited()}, {@code __ratelimit()}: a {@link RateLimiter} from
 * {@link #limiter}, at most {@link KernelConfig#ratelimitBurst()} reports per
 * {@link KernelConfig#ratelimitIntervalMs()} (the kernel's {@code DEFAULT_RATELIMIT_BURST} 10 per
 * {@code DEFAULT_RATELIMIT_INTERVAL} 5 s), then {@code "<func>: <n> callbacks suppressed"} when a new
 * interval begins.</li>
 * </ul>
 *
 * <p>An oops — a handler threw — is rate-limited per handler (see {@link #oops(String, Throwable)} and
 * {@link RateLimiter#oops}): the kernel prints every oops, but a kernel oops usually ends the task that
 * caused it, while a Java handler that throws on every call keeps being called and would otherwise produce
 * one report per interrupt, tick or work item.
 *
 * <p>A reporter that throws is not allowed to break the caller: its {@link RuntimeException} is swallowed
 * and printed to stderr (the reporter is the thing that failed); the report it failed to deliver is
 * counted like any other, and nothing else is.
 */
public final class Reports {
    private final Machine machine;
    private final Reporter reporter;
    private final AtomicLongArray counts = new AtomicLongArray(KernelEvent.Kind.values().length);
    private final Set<Object> warnedOnce = ConcurrentHashMap.newKeySet();
    private final long ratelimitIntervalJiffies;
    private final int ratelimitBurst;
    private final RateLimiter handlerOopses;
    private final RateLimiter mightResched;

    Reports(Machine machine, Reporter reporter) {
        this.machine = machine;
        this.reporter = reporter;
        KernelConfig config = machine.config();
        this.ratelimitIntervalJiffies = (long) config.ratelimitIntervalMs() * config.hz() / 1000;
        this.ratelimitBurst = config.ratelimitBurst();
        this.handlerOopses = limiter(null);
        // time_before(jiffies, prev_jiffy + HZ) suppresses: one report when jiffies >= prev + HZ, which is
        // ___ratelimit's "jiffies > begin + interval" with interval HZ - 1.
        this.mightResched = limiter("__might_resched", config.hz() - 1L, 1, false);
        Jfr.init(); // the JFR gate's listener is registered at boot, not in the first handler that reports
    }

    /**
     * How many reports of {@code kind} were made since boot, delivered or not.
     *
     * @param kind the report kind
     * @return the count since boot
     */
    public long count(KernelEvent.Kind kind) {
        return counts.get(kind.ordinal());
    }

    /**
     * {@code WARN(1, ...)}: a misuse or kernel bug the kernel survives; carries the caller's stack.
     *
     * @param message the report's text, without the {@code WARNING:} prefix
     */
    public void warning(String message) {
        emit(KernelEvent.Kind.WARNING, message, new Throwable("WARNING: " + message));
    }

    /**
     * {@code WARN_ONCE}/{@code WARN_ON_ONCE}: reported the first time {@code key} is seen on this
     * kernel, counted but not reported afterwards. The kernel's once-flag belongs to the call site, so a
     * call site that models one passes a constant key, not one made from the object it warns about.
     *
     * @param key the call site's once-flag
     * @param message the report's text
     * @return true when this call reported
     */
    public boolean warnOnce(String key, String message) {
        if (warnedOnce.add(key)) {
            warning(message);
            return true;
        }
        suppressed(KernelEvent.Kind.WARNING);
        return false;
    }

    /**
     * A report of any kind delivered the first time {@code key} is seen on this kernel and counted but not
     * delivered afterwards: {@code printk_once()}, {@code pr_warn_once()}, or a rule shared by several call
     * sites, such as lockdep's {@code debug_locks_off()} (the first lockdep or {@code DEBUG_LOCKS_WARN_ON}
     * report of a boot turns lockdep off, so no other follows).
     *
     * @param stack the caller's stack, or null
     * @param key the once-flag
     * @param kind the report's kind
     * @param message the report's text
     * @return true when this call reported
     */
    public boolean once(Object key, KernelEvent.Kind kind, String message, Throwable stack) {
        if (warnedOnce.add(key)) {
            emit(kind, message, stack);
            return true;
        }
        suppressed(kind);
        return false;
    }

    /** The key of lockdep's once-per-kernel rule ({@link #lockdep}). */
    public static final String DEBUG_LOCKS = "debug_locks";

    /**
     * A lockdep report ({@code WARNING: possible recursive locking detected}, ...) or a
     * {@code DEBUG_LOCKS_WARN_ON(c)}: delivered only if it is the first of this kernel — the kernel's
     * {@code debug_locks_off()} turns lockdep off with its first report, so no second one follows — and
     * counted either way.
     *
     * @param kind the report's kind
     * @param message the report's text
     * @param stack the caller's stack
     * @return true when this call reported
     */
    public boolean lockdep(KernelEvent.Kind kind, String message, Throwable stack) {
        return once(DEBUG_LOCKS, kind, message, stack);
    }

    /**
     * A {@code BUG: ...} report the kernel prints and survives.
     *
     * @param message the report's text, starting {@code BUG:}
     * @param stack the caller's stack, or null
     */
    public void bug(String message, Throwable stack) {
        emit(KernelEvent.Kind.BUG, message, stack);
    }

    /**
     * A {@code BUG:}-level report about a context other than the caller's (the {@link LockupDetector}
     * reports a stuck CPU from outside it): the event names that context's CPU, thread and state.
     */
    void bugOn(int cpu, String thread, String context, String message, Throwable stack) {
        counts.incrementAndGet(KernelEvent.Kind.BUG.ordinal());
        deliver(new KernelEvent(KernelEvent.Kind.BUG, message, cpu, thread, context, machine.jiffies(), stack));
    }

    /**
     * A handler threw. Reported as an oops naming the handler and counted, rate-limited per
     * {@code handler} string (at most {@link KernelConfig#ratelimitBurst()} reports of one handler per
     * {@link KernelConfig#ratelimitIntervalMs()}, then {@code "<handler>: <n> callbacks suppressed"} before
     * the next report that goes ahead), and the runtime goes on — except for a fatal error ({@link #isFatal}):
     * its oops is always reported, then the kernel panics ({@code Kernel panic - not syncing: Fatal exception
     * in interrupt} in interrupt context, {@code Fatal exception} in process context, as the kernel with
     * {@code panic_on_oops}) and this method throws the {@link KernelPanic}, which unwinds the runtime
     * thread's duty cycle; every later call into the kernel fails. Subsystems whose handlers are objects use
     * {@link RateLimiter#oops}, which names the kernel function in the suppressed line.
     *
     * @param handler what was running: {@code ksoftirqd/0}, {@code softirq NET_RX (net_rx_action)}, ...
     * @param thrown what the handler threw
     * @throws KernelPanic when {@code thrown} is fatal
     */
    public void oops(String handler, Throwable thrown) {
        handlerOopses.oops(handler, handler, h -> h, thrown);
    }

    /**
     * Whether a handler's {@code thrown} makes the kernel panic: a {@link VirtualMachineError} other than
     * {@link StackOverflowError} (out of memory, an internal JVM error) — after it, no half-done update of the
     * runtime's lists and counters can be trusted — or a panic already under way. Every other throwable
     * (exceptions, assertion errors, a stack overflow, linkage errors of the handler's own code) is an oops
     * the kernel survives.
     *
     * @param thrown what a handler threw
     * @return true when it is fatal
     */
    public static boolean isFatal(Throwable thrown) {
        return thrown instanceof KernelPanic
                || (thrown instanceof VirtualMachineError && !(thrown instanceof StackOverflowError));
    }

    /** The panic's EMERG line, with what the handler threw. */
    void panic(String message, Throwable cause) {
        emit(KernelEvent.Kind.EMERG, message, cause);
    }

    /**
     * A message at a printk level ({@code pr_emerg}, {@code pr_err}, {@code pr_warn}, ...).
     *
     * @param level the printk level
     * @param message the message
     */
    public void printk(KernelEvent.Kind level, String message) {
        emit(level, message, null);
    }

    /**
     * A message at a printk level followed by the kernel's {@code dump_stack()}: {@code stack} is the caller's.
     *
     * @param level the printk level
     * @param message the message
     * @param stack the caller's stack
     */
    public void printk(KernelEvent.Kind level, String message, Throwable stack) {
        emit(level, message, stack);
    }

    /**
     * Counts a report of {@code kind} that its call site suppressed by a rule of its own (a per-object
     * once-flag such as the kernel's {@code IRQTF_WARNED}, a per-boot budget such as
     * {@code report_bad_irq}'s 100): counted, not delivered.
     *
     * @param kind the suppressed report's kind
     */
    public void suppressed(KernelEvent.Kind kind) {
        counts.incrementAndGet(kind.ordinal());
    }

    /**
     * A rate-limited report site named {@code func} (the kernel function that would call
     * {@code __ratelimit()}, printed in its {@code "<func>: <n> callbacks suppressed"} line), with this
     * kernel's rate: {@link KernelConfig#ratelimitBurst()} per {@link KernelConfig#ratelimitIntervalMs()}.
     * Make one per call site (a subsystem keeps it in a field), as the kernel has one
     * {@code ratelimit_state} per {@code printk_ratelimited()}.
     *
     * @param func the kernel function the site stands for
     * @return a new limiter
     */
    public RateLimiter limiter(String func) {
        return new RateLimiter(this, func, ratelimitIntervalJiffies, ratelimitBurst, true);
    }

    /**
     * A rate-limited report site with its own rate, for the kernel's fixed ones (such as
     * {@code __might_resched}'s one report per second).
     *
     * @param reportSuppressed false for a site that never reports its suppressed count (the kernel's
     *                         hand-made limits print no {@code callbacks suppressed} line)
     */
    RateLimiter limiter(String func, long intervalJiffies, int burst, boolean reportSuppressed) {
        return new RateLimiter(this, func, intervalJiffies, burst, reportSuppressed);
    }

    /** {@code __might_resched()}'s own limit: one report per {@code HZ} jiffies, no suppressed-count line. */
    RateLimiter mightResched() {
        return mightResched;
    }

    long jiffies() {
        return machine.jiffies();
    }

    void deliverOops(String handler, Throwable thrown) {
        emit(KernelEvent.Kind.OOPS, "Oops: " + handler + " threw " + thrown, thrown);
    }

    /** After an oops of {@code thrown}: panics and throws the {@link KernelPanic} when it is fatal. */
    void panicIfFatal(Throwable thrown) {
        if (isFatal(thrown)) {
            ExecutionContext ctx = ExecutionContext.currentOrNull();
            boolean inInterrupt = ctx != null && ctx.machine() == machine && ctx.inInterrupt();
            throw machine.panic(inInterrupt ? "Fatal exception in interrupt" : "Fatal exception", thrown);
        }
    }

    private void emit(KernelEvent.Kind kind, String message, Throwable cause) {
        counts.incrementAndGet(kind.ordinal());
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        boolean ours = ctx != null && ctx.machine() == machine;
        deliver(new KernelEvent(kind, message, ours ? ctx.cpu().id() : -1,
                ours ? ctx.name() : Thread.currentThread().getName(), ours ? ctx.describe() : "outside the kernel",
                machine.jiffies(), cause));
    }

    private void deliver(KernelEvent event) {
        if (Jfr.on()) {
            Jfr.report(event.kind().name(), event.message(), event.cpu(), event.thread(), event.context(),
                    event.jiffies(), event.cause());
        }
        try {
            reporter.report(event);
        } catch (RuntimeException e) {
            System.err.println("bottomhalf: the reporter threw while reporting [" + event + "]: " + e);
        }
    }
}
