package dev.bottomhalf.examples.chardev;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentLinkedQueue;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.time.TimerList;

/**
 * The simulated device behind {@link RxCharDevModule}: a receive FIFO that the wire fills and the driver's top
 * half drains, and the interrupt line the device asserts when bytes arrive. The wire ({@link #receive}) may be
 * called from any thread — a test thread standing in for the remote end, or a kernel timer armed by
 * {@link #receiveAt} in stepped mode; the register reads ({@link #rx_ready}, {@link #rx_data}) are the driver's,
 * from its top half.
 *
 * <p>Implementation notes: the FIFO is the hardware's own, not kernel state, so it needs no kernel lock; it is
 * a lock-free queue, so a top half never blocks on it.
 */
public final class RxFifoHardware {
    private final Kernel kernel;
    private final int irq;
    private final ConcurrentLinkedQueue<Byte> fifo = new ConcurrentLinkedQueue<>();

    /** A device on interrupt line {@code irq} of {@code kernel}. */
    public RxFifoHardware(Kernel kernel, int irq) {
        this.kernel = kernel;
        this.irq = irq;
    }

    /** The device's interrupt line. */
    public int irq() {
        return irq;
    }

    /** The wire delivers {@code text}: its bytes enter the FIFO, then the device asserts its line. */
    public void receive(String text) {
        for (byte b : text.getBytes(StandardCharsets.US_ASCII)) {
            fifo.add(b);
        }
        kernel.irqs().assertIrq(irq);
    }

    /**
     * The wire delivers {@code text} when the kernel's timer wheel reaches {@code expires}: a kernel timer
     * stands in for the remote end, so in stepped mode the arrival is on the manual clock. Called from a task.
     */
    public TimerList receiveAt(long expires, String text) {
        TimerList wire = TimerList.setup("wire", t -> receive(text), 0);
        kernel.timers().mod(wire, expires);
        return wire;
    }

    /** Status register: whether the FIFO holds a byte. */
    public boolean rx_ready() {
        return !fifo.isEmpty();
    }

    /** Data register: the FIFO's oldest byte (the caller checked {@link #rx_ready}). */
    public byte rx_data() {
        Byte b = fifo.poll();
        if (b == null) {
            throw new IllegalStateException("rx_data read with the FIFO empty");
        }
        return b;
    }
}
