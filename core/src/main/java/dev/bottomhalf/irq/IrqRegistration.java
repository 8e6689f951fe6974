package dev.bottomhalf.irq;

import java.util.concurrent.atomic.AtomicBoolean;

import dev.bottomhalf.runtime.KernelException;

/**
 * A handler installed by {@link IrqRequest#register()}: the line, the name and the {@code dev_id} that
 * {@code free_irq} needs, kept together. {@link #close()} frees it, so a driver's handler may live in a
 * try-with-resources block. Thread-safe; {@link #free()} from process context.
 */
public final class IrqRegistration implements AutoCloseable {
    private final IrqController controller;
    private final int irq;
    private final String name;
    private final Object devId;
    private final AtomicBoolean freed = new AtomicBoolean();

    IrqRegistration(IrqController controller, int irq, String name, Object devId) {
        this.controller = controller;
        this.irq = irq;
        this.name = name;
        this.devId = devId;
    }

    /**
     * The line.
     *
     * @return the IRQ number
     */
    public int irq() {
        return irq;
    }

    /**
     * The handler's name.
     *
     * @return the name given at request time
     */
    public String name() {
        return name;
    }

    /**
     * The {@code dev_id} cookie.
     *
     * @return the cookie given at request time, or null
     */
    public Object devId() {
        return devId;
    }

    /**
     * {@code free_irq(irq, dev_id)}: removes the handler, waits for a running hard handler and stops its thread.
     * Process context.
     *
     * @return the name given at request time
     * @throws IllegalStateException when this registration was freed already
     * @throws KernelException as {@link IrqController#free} throws it (freed by other means, or from interrupt
     *         context)
     */
    public String free() {
        if (!freed.compareAndSet(false, true)) {
            throw new IllegalStateException("free_irq(" + irq + ", " + name + "): already freed");
        }
        return controller.free(irq, devId);
    }

    /** {@link #free()} unless it was freed already: for try-with-resources. Process context. */
    @Override
    public void close() {
        if (!freed.get()) {
            free();
        }
    }

    @Override
    public String toString() {
        return "IrqRegistration[irq " + irq + " " + name + (freed.get() ? " freed" : "") + "]";
    }
}
