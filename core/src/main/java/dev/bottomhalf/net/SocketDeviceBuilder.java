package dev.bottomhalf.net;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;

import dev.bottomhalf.irq.IrqController;

/**
 * The options every socket-backed device has ({@link UdpDevice.Builder}, {@link TcpDevice.Builder}): the address
 * it binds, its receive queues, their interrupt lines and CPUs, the NAPI weight, the socket's receive buffer and
 * IRQ deferral. Each device's builder adds its own options and its receive function, and opens the device. One
 * builder opens one device; any thread, one at a time.
 *
 * @param <B> the device's builder, which every option returns
 */
public abstract sealed class SocketDeviceBuilder<B extends SocketDeviceBuilder<B>>
        permits UdpDevice.Builder, TcpDevice.Builder {
    final Napi napi;
    final IrqController irqs;
    final String name;
    InetSocketAddress bind = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    int queues = 1;
    int firstIrq = -1;
    int[] cpus;
    int weight = Napi.NAPI_POLL_WEIGHT;
    int receiveBufferBytes;
    int napiDeferHardIrqs;
    long groFlushTimeoutNs;

    SocketDeviceBuilder(Napi napi, IrqController irqs, String name) {
        this.napi = Objects.requireNonNull(napi, "napi");
        this.irqs = Objects.requireNonNull(irqs, "irqs");
        new NetDevice(name); // checks the name now
        this.name = name;
    }

    /** This builder, as its device's type. */
    abstract B self();

    /**
     * The local address the device's sockets bind to (every UDP queue's channel, the TCP listener); port 0 lets the
     * host choose one.
     *
     * @param address the local address; the loopback address, port 0, unless set
     * @return this builder
     */
    public B bind(InetSocketAddress address) {
        this.bind = Objects.requireNonNull(address, "address");
        return self();
    }

    /**
     * The number of receive queues, each with its own line and NAPI instance. A UDP queue is a channel of its own
     * (more than one needs {@code SO_REUSEPORT}, else the device has one); a TCP device gives the connections it
     * accepts to its queues in turn.
     *
     * @param n 1 or more; 1 unless set
     * @return this builder
     * @throws IllegalArgumentException for fewer than 1
     */
    public B queues(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("a device has at least one queue: " + n);
        }
        this.queues = n;
        return self();
    }

    /**
     * The first interrupt line: queue {@code i} uses line {@code firstIrq + i}. Required.
     *
     * @param firstIrq a line of the kernel's controller, free for the device
     * @return this builder
     */
    public B irq(int firstIrq) {
        this.firstIrq = firstIrq;
        return self();
    }

    /**
     * The CPUs the queues' lines are routed to: queue {@code i} to {@code cpus[i % cpus.length]}. Unless set,
     * queue {@code i} goes to CPU {@code i} modulo the kernel's CPU count.
     *
     * @param cpus one CPU or more
     * @return this builder
     * @throws IllegalArgumentException for no CPU
     */
    public B cpus(int... cpus) {
        if (cpus.length == 0) {
            throw new IllegalArgumentException("cpus() needs at least one CPU");
        }
        this.cpus = cpus.clone();
        return self();
    }

    /**
     * The NAPI weight of each queue: the most datagrams, or reads, one poll takes.
     *
     * @param weight 1 or more; {@value Napi#NAPI_POLL_WEIGHT} unless set (above it, reported as
     *               {@code netif_napi_add_weight} reports it)
     * @return this builder
     * @throws IllegalArgumentException for a weight below 1
     */
    public B weight(int weight) {
        if (weight < 1) {
            throw new IllegalArgumentException("weight must be at least 1: " + weight);
        }
        this.weight = weight;
        return self();
    }

    /**
     * {@code SO_RCVBUF}: how much the host's socket buffers while a queue's interrupt is masked and its poll is
     * behind (the host caps it at {@code net.core.rmem_max}). UDP: each channel's — a datagram that does not fit is
     * dropped by the host, where the device cannot count it. TCP: the listener's, which the accepted connections
     * inherit — when it is full, TCP's window stops the sender.
     *
     * @param bytes the requested size; the host's default unless set
     * @return this builder
     * @throws IllegalArgumentException for a size below 1
     */
    public B receiveBufferBytes(int bytes) {
        if (bytes < 1) {
            throw new IllegalArgumentException("receiveBufferBytes must be at least 1: " + bytes);
        }
        this.receiveBufferBytes = bytes;
        return self();
    }

    /**
     * IRQ deferral ({@code napi_defer_hard_irqs} and {@code gro_flush_timeout} of the device, which its
     * {@code netDevice()} can also change later): after a poll that received something, up to {@code count} polls
     * in a row come from each queue's timer, {@code timeout} apart, while the queue's interrupt stays masked; the
     * last of them unmasks it. Under steady traffic the card stays quiet and the CPU takes no interrupt; the price
     * is up to {@code timeout} of added latency for what arrives while a deferral is under way. See
     * docs/subsystems/net.md, "IRQ deferral".
     *
     * @param count   {@code napi_defer_hard_irqs}, 0 (off, unless set) or more
     * @param timeout {@code gro_flush_timeout}, zero (off, unless set) or more, to the nanosecond
     * @return this builder
     * @throws IllegalArgumentException for a negative count or timeout
     */
    public B deferHardIrqs(int count, Duration timeout) {
        if (count < 0) {
            throw new IllegalArgumentException("napi_defer_hard_irqs must not be negative: " + count);
        }
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("gro_flush_timeout must not be negative: " + timeout);
        }
        this.napiDeferHardIrqs = count;
        this.groFlushTimeoutNs = timeout.toNanos();
        return self();
    }

    /**
     * What {@code open()} checks before it opens anything: the line is set, the receive function is set, and the
     * kernel still takes devices.
     *
     * @param device the device's class name, for the message
     * @param hasReceiver whether the receive function was set
     * @throws IllegalStateException without {@link #irq} or the receive function, or when the kernel is closed
     */
    final void checkOpenable(String device, boolean hasReceiver) {
        if (firstIrq < 0) {
            throw new IllegalStateException(device + " " + name + ": irq(firstLine) is required");
        }
        if (!hasReceiver) {
            throw new IllegalStateException(device + " " + name + ": receiver(...) is required");
        }
        napi.checkOpenForDevice();
    }

    /** The CPU of queue {@code i}: {@link #cpus}, or {@code i} modulo the kernel's CPU count. */
    final int cpuOf(int i) {
        return cpus != null ? cpus[i % cpus.length] : i % napi.cpuCount();
    }

    /** A new {@link NetDevice} for the device, with this builder's device-level settings (IRQ deferral). */
    final NetDevice netDevice() {
        NetDevice d = new NetDevice(name);
        d.setNapiDeferHardIrqs(napiDeferHardIrqs);
        d.setGroFlushTimeoutNs(groFlushTimeoutNs);
        return d;
    }
}
