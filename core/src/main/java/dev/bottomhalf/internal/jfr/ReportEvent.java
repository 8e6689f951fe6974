package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * An instant: one report delivered to the kernel's reporter — a WARN, a BUG, an oops, or a printk at a level
 * (a {@code KernelEvent}), with the kernel's text. Reports the kernel's rules suppress (once, rate-limited) are
 * counted, not delivered, and not recorded. Made and committed by {@link Jfr} on the reporting thread; its stack
 * trace is the reporter's call site. Enabled by default: reports are rare and every one is worth a look.
 */
@Name(ReportEvent.NAME)
@Label("Kernel Report")
@Category({"bottomhalf", "Reports"})
@Description("A WARN, BUG, oops or printk report of the kernel, with the kernel's message text")
public final class ReportEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.Report";

    @Label("Kind")
    @Description("WARNING, BUG, OOPS, EMERG, ERR, WARN, NOTICE or INFO")
    String kind;

    @Label("Message")
    @Description("The kernel's message text, exactly as the kernel prints it")
    String message;

    @Label("CPU")
    @Description("The reporting context's CPU, -1 outside the kernel")
    int cpu;

    @Label("Comm")
    @Description("The reporting context's name: cpu/0, ksoftirqd/1, kworker/0:1, a task's thread name")
    String comm;

    @Label("Context")
    @Description("The execution context: hardirq, softirq, task, ...")
    String context;

    @Label("Jiffies")
    long jiffies;

    @Label("Cause")
    @Description("For an oops, what the handler threw; for a WARN, the stack's origin; may be absent")
    String cause;
}
