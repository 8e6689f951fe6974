package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of a threaded IRQ handler's thread function on its {@code irq/L-name} thread (process context). Made,
 * filled and committed by {@link Jfr} on the thread that ran the function.
 */
@Name(ThreadedIrqEvent.NAME)
@Label("Threaded IRQ Handler")
@Category({"bottomhalf", "IRQ"})
@Description("One run of a threaded IRQ handler's thread function on irq/L-name")
@Enabled(false)
@StackTrace(false)
public final class ThreadedIrqEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.ThreadedIrq";

    @Label("IRQ")
    @Description("The interrupt line")
    int irq;

    @Label("Name")
    @Description("The handler's name (the thread is irq/<irq>-<name>)")
    String name;

    @Label("CPU")
    @Description("The CPU of the IRQ thread (the line's affinity when the handler was requested)")
    int cpu;

    @Label("Result")
    @Description("The thread function's return value: handled, unhandled, ...")
    String result;
}
