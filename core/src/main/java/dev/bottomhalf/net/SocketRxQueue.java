package dev.bottomhalf.net;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.irq.IrqReturn;

/**
 * What every receive queue of a socket-backed device ({@link UdpRxQueue}, {@link TcpRxQueue}) has: its index in the
 * device, its name, its interrupt line and CPU, its NAPI instance, the card's interrupt state, the counters' storage,
 * and the driver's two entry points — the top half and the poll — which {@link #openAll} registers. Package-private:
 * users see the concrete queues.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>The identity fields are final, set before the device is opened; the NAPI instance is changed only through
 * {@link Napi}.</li>
 * <li>{@code irqState}: the card's interrupt state, one int changed with compare-and-set: {@code ARMED} (unmasked:
 * the card watches the queue's sockets for reading), {@code ASSERTED} (the card asserted the line and stops watching,
 * as a message-signalled interrupt is sent once), {@code MASKED} (the top half masked it: NAPI owns the sockets).
 * Only the card moves ARMED → ASSERTED ({@link #readable}); the top half sets MASKED ({@link #interrupt}); only the
 * poll, on true from {@code napi_complete_done}, moves MASKED → ARMED and then wakes the card ({@link #unmask}),
 * which re-enables read interest before its next select — epoll being level-triggered, nothing that arrived
 * meanwhile is missed.</li>
 * <li>Counters: indexed by the concrete queue's constants ({@link #INTERRUPTS} and {@link #POLLS} here), written by
 * one context at a time (the poll, serialised by SCHED; {@code INTERRUPTS} by the card) with opaque stores, read
 * racily with opaque loads.</li>
 * </ul>
 * The concrete queue owns everything else (see its notes).
 */
abstract class SocketRxQueue {
    static final int ARMED = 0;
    static final int ASSERTED = 1;
    static final int MASKED = 2;
    /** The counters' index of the interrupts the card raised; the concrete queues use 0 to 6 for their own. */
    static final int INTERRUPTS = 7;
    /** The counters' index of the polls. */
    static final int POLLS = 8;

    private static final VarHandle IRQ_STATE;
    private static final VarHandle LONG;

    static {
        try {
            IRQ_STATE = MethodHandles.lookup().findVarHandle(SocketRxQueue.class, "irqState", int.class);
            LONG = MethodHandles.arrayElementVarHandle(long[].class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final int index;
    final String name;
    final int irq;
    final int cpu;
    final NapiStruct napi = new NapiStruct();
    final Napi napis;
    /** Counters, indexed by the queue's constants; see the class notes. */
    private final long[] counters = new long[9];
    @SuppressWarnings("unused") // through IRQ_STATE
    private volatile int irqState = ARMED;

    SocketRxQueue(String deviceName, int index, int irq, int cpu, Napi napis) {
        this.index = index;
        this.name = deviceName + "-rx-" + index;
        this.irq = irq;
        this.cpu = cpu;
        this.napis = napis;
    }

    /** A counter's value; any thread, a snapshot. */
    final long get(int c) {
        return (long) LONG.getOpaque(counters, c);
    }

    /** Adds to a counter; one context at a time (see the class notes). */
    final void add(int c, long v) {
        LONG.setOpaque(counters, c, (long) LONG.getOpaque(counters, c) + v);
    }

    /** The interrupt state, {@code ARMED}, {@code ASSERTED} or {@code MASKED}; any thread, a snapshot. */
    final int irqState() {
        return (int) IRQ_STATE.getVolatile(this);
    }

    /**
     * Whether the queue's interrupt is masked (by its top half, until the poll completes). Any thread; a snapshot.
     *
     * @return true while NAPI owns the queue
     */
    public boolean interruptMasked() {
        return irqState() == MASKED;
    }

    /** Whether the card should watch the queue's sockets for reading: the interrupt is unmasked and not raised. */
    final boolean armed() {
        return irqState() == ARMED;
    }

    /**
     * The queue's socket (or one of them) is readable: if the interrupt is armed, raise it (ARMED → ASSERTED) and
     * assert the line. The card thread.
     *
     * @throws IllegalStateException when the kernel is closing or closed (the card stops)
     */
    final void readable(IrqController irqs) {
        if (IRQ_STATE.compareAndSet(this, ARMED, ASSERTED)) {
            add(INTERRUPTS, 1);
            irqs.assertIrq(irq);
        }
    }

    /**
     * The top half ({@code request_irq} handler), hardirq context on {@link #cpu()}: masks the queue's interrupt and
     * schedules its NAPI instance.
     */
    final int interrupt(int line, Object devId) {
        int prev = (int) IRQ_STATE.getAndSet(this, MASKED);
        napis.scheduleIrqoff(napi);
        return prev == ASSERTED ? IrqReturn.HANDLED : IrqReturn.NONE;
    }

    /** Unmasks after a completion that returned true (MASKED → ARMED) and wakes the card. The poll. */
    final void unmask() {
        if (IRQ_STATE.compareAndSet(this, MASKED, ARMED)) {
            wakeCard();
        }
    }

    /** Wakes the device's card so that it watches the queue again; any thread. */
    abstract void wakeCard();

    /**
     * The queue's index in its device, 0 first. Any thread.
     *
     * @return the index
     */
    public int index() {
        return index;
    }

    /**
     * The queue's name, {@code <dev>-rx-<index>}: its interrupt action's name in {@code /proc/interrupts}. Any
     * thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * The queue's interrupt line. Any thread.
     *
     * @return the line
     */
    public int irq() {
        return irq;
    }

    /**
     * The CPU the queue's line is routed to, on which its top half runs and NET_RX polls it (unless the device is
     * threaded or busy-polled). Any thread.
     *
     * @return the CPU
     */
    public int cpu() {
        return cpu;
    }

    /**
     * The queue's NAPI instance ({@code napi_struct}), added to the device's {@link NetDevice}. Any thread.
     *
     * @return the instance
     */
    public NapiStruct napi() {
        return napi;
    }

    /** The queue's poll ({@code napi->poll}). */
    abstract int poll(NapiStruct n, int budget);

    /**
     * The queues' part of {@code ndo_open}: for each, its NAPI instance added to {@code dev} with {@code weight} and
     * enabled, its line requested and routed to its CPU. If any step fails, what was done is undone (lines freed,
     * instances disabled and deleted) and the exception is rethrown. Process context.
     */
    static void openAll(Napi napi, IrqController irqs, NetDevice dev, List<? extends SocketRxQueue> queues,
                        int weight) {
        List<SocketRxQueue> requested = new ArrayList<>();
        try {
            for (SocketRxQueue q : queues) {
                napi.add(dev, q.napi, q::poll, weight);
                napi.enable(q.napi);
                irqs.request(q.irq, q::interrupt, Set.of(), q.name, q);
                requested.add(q);
                irqs.setAffinity(q.irq, q.cpu);
            }
        } catch (RuntimeException e) {
            for (SocketRxQueue q : queues) {
                if (requested.contains(q)) {
                    irqs.free(q.irq, q);
                }
                if (q.napi.dev() != null) {
                    napi.disable(q.napi);
                    napi.del(q.napi);
                }
            }
            throw e;
        }
    }
}
