package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of a hard-IRQ handler (the span of {@code irq_handler_entry} to {@code irq_handler_exit}), in hardirq
 * context on {@code cpu/N} or the stepping thread that lends it. Made, filled and committed by {@link Jfr} on the
 * thread that ran the handler.
 */
@Name(HardIrqEvent.NAME)
@Label("Hard IRQ Handler")
@Category({"bottomhalf", "IRQ"})
@Description("One hard-IRQ (top half) handler run, irq_handler_entry to irq_handler_exit")
@Enabled(false)
@StackTrace(false)
public final class HardIrqEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.HardIrq";

    @Label("IRQ")
    @Description("The interrupt line")
    int irq;

    @Label("Name")
    @Description("The handler's name, as /proc/interrupts shows it (request_irq's name)")
    String name;

    @Label("CPU")
    int cpu;

    @Label("Return Value")
    @Description("The handler's irqreturn_t: 0 IRQ_NONE, 1 IRQ_HANDLED, 2 IRQ_WAKE_THREAD")
    int ret;

    @Label("Result")
    @Description("The return value as irq_handler_exit prints it: handled, unhandled, wake_thread, ...")
    String result;
}
