package dev.bottomhalf.runtime;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The report hub of one kernel: makes {@link KernelEvent}s from the current context, counts them by
 * kind and hands them to the configured {@link Reporter}. Thread-safe; any context.
 *
 * <p>A reporter that throws is not allowed to break the caller: its exception is swallowed after
 * being counted as an oops of the reporter itself (printed to stderr, because the reporter is the
 * thing that failed).
 */
public final class Reports {
    private final Machine machine;
    private final Reporter reporter;
    private final AtomicLongArray counts = new AtomicLongArray(KernelEvent.Kind.values().length);
    private final Set<String> warnedOnce = ConcurrentHashMap.newKeySet();

    Reports(Machine machine, Reporter reporter) {
        this.machine = machine;
        this.reporter = reporter;
    }

    /** How many reports of {@code kind} were made since boot. */
    public long count(KernelEvent.Kind kind) {
        return counts.get(kind.ordinal());
    }

    /** {@code WARN(1, ...)}: a misuse or kernel bug the kernel survives; carries the caller's stack. */
    public void warning(String message) {
        emit(KernelEvent.Kind.WARNING, message, new Throwable("WARNING: " + message));
    }

    /**
     * {@code WARN_ONCE}/{@code WARN_ON_ONCE}: reported the first time {@code key} is seen on this
     * kernel, counted but not reported afterwards.
     *
     * @return true when this call reported
     */
    public boolean warnOnce(String key, String message) {
        if (warnedOnce.add(key)) {
            warning(message);
            return true;
        }
        counts.incrementAndGet(KernelEvent.Kind.WARNING.ordinal());
        return false;
    }

    /** A {@code BUG: ...} report the kernel prints and survives. */
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
     * A handler threw. Reported as an oops naming the handler, counted, and the runtime goes on — except
     * for a fatal error ({@link #isFatal}): then, after the oops, the kernel panics
     * ({@code Kernel panic - not syncing: Fatal exception in interrupt} in interrupt context,
     * {@code Fatal exception} in process context, as the kernel with {@code panic_on_oops}) and this method
     * throws the {@link KernelPanic}, which unwinds the runtime thread's duty cycle; every later call into the
     * kernel fails.
     *
     * @param handler what was running: {@code softirq NET_RX}, {@code irq 7 handler eth0}, ...
     * @throws KernelPanic when {@code thrown} is fatal
     */
    public void oops(String handler, Throwable thrown) {
        if (thrown instanceof KernelPanic p) {
            throw p; // a panic unwinding through a handler boundary: already reported
        }
        emit(KernelEvent.Kind.OOPS, "Oops: " + handler + " threw " + thrown, thrown);
        if (isFatal(thrown)) {
            ExecutionContext ctx = ExecutionContext.currentOrNull();
            boolean inInterrupt = ctx != null && ctx.machine() == machine && ctx.inInterrupt();
            throw machine.panic(inInterrupt ? "Fatal exception in interrupt" : "Fatal exception", thrown);
        }
    }

    /**
     * Whether a handler's {@code thrown} makes the kernel panic: a {@link VirtualMachineError} other than
     * {@link StackOverflowError} (out of memory, an internal JVM error) — after it, no half-done update of the
     * runtime's lists and counters can be trusted — or a panic already under way. Every other throwable
     * (exceptions, assertion errors, a stack overflow, linkage errors of the handler's own code) is an oops
     * the kernel survives.
     */
    public static boolean isFatal(Throwable thrown) {
        return thrown instanceof KernelPanic
                || (thrown instanceof VirtualMachineError && !(thrown instanceof StackOverflowError));
    }

    /** The panic's EMERG line, with what the handler threw. */
    void panic(String message, Throwable cause) {
        emit(KernelEvent.Kind.EMERG, message, cause);
    }

    /** A message at a printk level ({@code pr_emerg}, {@code pr_err}, {@code pr_warn}, ...). */
    public void printk(KernelEvent.Kind level, String message) {
        emit(level, message, null);
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
        try {
            reporter.report(event);
        } catch (RuntimeException e) {
            System.err.println("bottomhalf: the reporter threw while reporting [" + event + "]: " + e);
        }
    }
}
