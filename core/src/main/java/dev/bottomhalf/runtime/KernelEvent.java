package dev.bottomhalf.runtime;

import java.util.Objects;

/**
 * One report the kernel would print: a WARN, a BUG, an oops, or a message at a printk level.
 * Immutable.
 *
 * <p>{@link #message()} carries the kernel's own text (for example {@code Unbalanced enable for IRQ 7}
 * or {@code irq 9: nobody cared (try booting with the "irqpoll" option)}), so tests and log scrapers
 * can match on it exactly.
 *
 * @param kind     what sort of report
 * @param message  the kernel's message text, formatted
 * @param cpu      the CPU of the reporting context, or -1 when there is none
 * @param thread   the name of the reporting thread ({@code cpu/0}, {@code ksoftirqd/1}, a task's name)
 * @param context  the execution context: {@code hardirq}, {@code softirq}, {@code task}, ...
 * @param jiffies  the kernel's jiffies when it was reported
 * @param cause    for an oops, what the handler threw; for a WARN, the stack of the caller; may be null
 */
public record KernelEvent(Kind kind, String message, int cpu, String thread, String context, long jiffies,
                          Throwable cause) {

    /** The sort of report, mirroring the kernel's macros and printk levels. */
    public enum Kind {
        /** {@code WARN()} / {@code WARN_ON_ONCE()}: a kernel bug or misuse that the kernel survives. */
        WARNING,
        /** {@code BUG:} reports the kernel prints without stopping (sleeping in atomic context, lockups). */
        BUG,
        /** A handler threw: the Java counterpart of an oops. The runtime thread goes on. */
        OOPS,
        /** {@code pr_emerg} */
        EMERG,
        /** {@code pr_err} */
        ERR,
        /** {@code pr_warn} */
        WARN,
        /** {@code pr_notice} */
        NOTICE,
        /** {@code pr_info} */
        INFO
    }

    /**
     * An event as reported; any thread.
     *
     * @throws NullPointerException when {@code kind} or {@code message} is null
     */
    public KernelEvent {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(message, "message");
    }

    @Override
    public String toString() {
        return kind + " [" + thread + " cpu=" + cpu + " " + context + " j=" + jiffies + "] " + message;
    }
}
