package dev.bottomhalf.irq;

/**
 * A hard-IRQ handler or a threaded handler ({@code irq_handler_t}). As a primary handler it runs in
 * hardirq context on the {@code cpu/N} thread of the CPU the line is routed to, with IRQs disabled; it
 * must be short and must not sleep. As a thread function it runs on the line's {@code irq/L-name}
 * thread in process context and may sleep.
 */
@FunctionalInterface
public interface IrqHandler {
    /**
     * Handles one interrupt of the line: in hardirq context as a primary handler, in the line's thread as
     * a thread function.
     *
     * @param irq   the line number
     * @param devId the cookie given at request time
     * @return {@link IrqReturn#NONE}, {@link IrqReturn#HANDLED} or {@link IrqReturn#WAKE_THREAD}
     */
    int handle(int irq, Object devId);
}
