package dev.bottomhalf.net;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import dev.bottomhalf.irq.IrqController;

/**
 * What every receive queue of a socket-backed device ({@link UdpRxQueue}, {@link TcpRxQueue}) has: its index in the
 * device, its name, its interrupt line and CPU, its NAPI instance, and the driver's two entry points — the top half
 * and the poll — which {@link #openAll} registers. Package-private: users see the concrete queues.
 *
 * <p>Implementation notes: the identity fields are final, set before the device is opened; the NAPI instance is
 * changed only through {@link Napi}. The concrete queue owns everything else (see its notes).
 */
abstract class SocketRxQueue {
    final int index;
    final String name;
    final int irq;
    final int cpu;
    final NapiStruct napi = new NapiStruct();

    SocketRxQueue(String deviceName, int index, int irq, int cpu) {
        this.index = index;
        this.name = deviceName + "-rx-" + index;
        this.irq = irq;
        this.cpu = cpu;
    }

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

    /** The top half of the queue's line: masks the queue's interrupt and schedules its NAPI instance. */
    abstract int interrupt(int line, Object devId);

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
