package dev.bottomhalf.irq;

import java.util.Objects;

/**
 * A hard-IRQ handler or a threaded handler that returns an {@link IrqResult} instead of the kernel's int: the Java
 * API's typed form of {@link IrqHandler}. As a primary handler it runs in hardirq context on the {@code cpu/N}
 * thread of the CPU the line is routed to, with IRQs disabled; it must be short and must not sleep. As a thread
 * function it runs on the line's {@code irq/L-name} thread in process context and may sleep.
 *
 * <p>{@link IrqController#request(int)} takes it ({@code .handler(h)}, {@code .thread(t)}); {@link #asIrqHandler()}
 * adapts it to every method that takes an {@link IrqHandler}, the {@code dev.bottomhalf.linux} facade's
 * {@code request_irq} included.
 *
 * <p>Implementation notes: the adapter is made once, when the handler is requested; each interrupt then costs one
 * more interface call and the enum's field load — nothing is allocated.
 */
@FunctionalInterface
public interface IrqResultHandler {
    /**
     * Handles one interrupt.
     *
     * @param irq   the line number
     * @param devId the cookie given at request time
     * @return what happened; never null (a null is reported as the handler's oops, as an exception would be)
     */
    IrqResult handle(int irq, Object devId);

    /**
     * This handler as an {@link IrqHandler}: returns {@link IrqResult#value()} of each result. Any thread; call it
     * once and keep the result (each call makes a new adapter).
     *
     * @return an int-returning handler that calls this one
     */
    default IrqHandler asIrqHandler() {
        return (irq, devId) -> Objects.requireNonNull(handle(irq, devId), "IrqResultHandler returned null").value();
    }
}
