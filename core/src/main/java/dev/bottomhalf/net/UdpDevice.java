package dev.bottomhalf.net;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.RateLimiter;

/**
 * A network device whose receive queues are real UDP sockets: each {@link UdpRxQueue} is a non-blocking
 * {@link DatagramChannel} bound to the device's address, with its own interrupt line and NAPI instance. Built and
 * opened with {@link #builder}, from a task (process context); {@link #close()} likewise; the counters and
 * accessors from any thread. The {@link Receiver} runs in NET_RX softirq context on the CPU of the queue's line.
 *
 * <pre>{@code
 * UdpDevice udp0 = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0")
 *         .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8125))
 *         .queues(2).irq(40)                       // lines 40 and 41, routed to CPUs 0 and 1
 *         .receiver(d -> { count(d.data()); return true; })
 *         .open();
 * }</pre>
 *
 * <p>The mapping to a card: the device's selector thread ({@code udp/<name>}) is the hardware. It waits on a
 * {@link Selector} for the queues' channels to become readable and, for a queue whose interrupt is unmasked, asserts
 * the queue's line (the interrupt) and stops watching that channel. The top half masks the queue's interrupt and
 * calls {@code napi_schedule}; the poll receives up to {@code budget} datagrams into the queue's pooled direct
 * buffers and hands each to the receiver; a poll that drained the channel calls {@code napi_complete_done} and, when
 * that returns true, unmasks the interrupt (read interest again) and wakes the selector. Under load the interrupt
 * stays masked and NAPI keeps polling, so interrupts grow more slowly than datagrams. With more than one queue the
 * channels share the port through {@code SO_REUSEPORT}, and the host's kernel spreads the senders over them (by a
 * hash of the addresses: one sender's datagrams go to one queue); where the option is not supported the device has
 * one queue. See docs/subsystems/net.md, "Real sockets as devices".
 *
 * <p>Implementation notes: the queues, channels and selector are made by {@link Builder#open()} and closed once,
 * by {@link #close()} or by the kernel's close (whichever comes first; the life cycle is the package's
 * {@code SocketDeviceBase}, whose {@code closed} is guarded by this object).
 * {@code running} is the selector thread's stop flag (volatile), set with a selector wake-up and an unpark; the
 * thread itself is the only one that changes the selection keys' interest sets. While no queue's interrupt is armed
 * it parks instead of selecting ({@code cardWait}, see {@link #parkCard()}). The kernel's close stops the thread when the kernel
 * starts refusing work and closes the channels when it discards what is left ({@link Napi} keeps the open
 * devices for that).
 */
public final class UdpDevice extends SocketDeviceBase<UdpRxQueue> {
    /** The default size of each queue's buffer pool. */
    public static final int DEFAULT_BUFFERS = 256;
    /** The default largest datagram, in bytes: longer ones are dropped and counted as length errors. */
    public static final int DEFAULT_MAX_DATAGRAM = 2048;
    /** The largest UDP payload over IPv4 (65,535 less the IP and UDP headers). */
    public static final int MAX_UDP_PAYLOAD = 65_507;

    /**
     * The device's receive function: gets each datagram the poll took off a queue's channel, in NET_RX softirq
     * context on the queue's CPU (or with BH disabled in a threaded instance's kthread or a busy poller); never
     * concurrently for one queue, concurrently for different queues on different CPUs.
     */
    @FunctionalInterface
    public interface Receiver {
        /**
         * Takes one datagram. Its buffer is valid during this call only, unless the receiver
         * {@link UdpDatagram#retain() retains} it. An exception is reported as an oops (rate-limited per queue),
         * counted, and the datagram dropped; the device goes on.
         *
         * @param datagram the datagram: its bytes, length, sender and queue
         * @return true when accepted ({@code rx_packets}), false to drop it ({@code rx_dropped})
         */
        boolean receive(UdpDatagram datagram);
    }

    /** The queues as an array, for the selector thread's loop (no iterator). */
    private final UdpRxQueue[] queueArray;
    private final Selector selector;
    private final boolean reusePort;
    private final Consumer<SelectionKey> onReady;
    /** How the selector thread waits: {@link #SELECTING} or {@link #PARKED}; written by it, read by the unmask. */
    private volatile int cardWait = SELECTING;
    private static final int SELECTING = 0;
    private static final int PARKED = 1;
    private UdpDevice(Builder b) throws IOException {
        super(b);
        this.selector = Selector.open();
        this.onReady = key -> {
            if (running) {
                ((UdpRxQueue) key.attachment()).readable(irqs);
            }
        };
        ProtocolFamily family = b.bind.getAddress() instanceof Inet4Address
                ? StandardProtocolFamily.INET : StandardProtocolFamily.INET6;
        boolean reuse = false;
        RateLimiter oopses = napi.reports().limiter("udp_queue_rcv_skb");
        InetSocketAddress bindTo = b.bind;
        try {
            for (int i = 0; i < b.queues; i++) {
                DatagramChannel ch = DatagramChannel.open(family);
                try {
                    if (i == 0) {
                        reuse = b.queues > 1 && ch.supportedOptions().contains(StandardSocketOptions.SO_REUSEPORT);
                    } else if (!reuse) {
                        ch.close();
                        break; // no SO_REUSEPORT: one queue
                    }
                    ch.configureBlocking(false);
                    if (reuse) {
                        ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                    }
                    if (b.receiveBufferBytes > 0) {
                        ch.setOption(StandardSocketOptions.SO_RCVBUF, b.receiveBufferBytes);
                    }
                    ch.bind(bindTo);
                    if (i == 0) {
                        bindTo = (InetSocketAddress) ch.getLocalAddress(); // port 0: the others join the chosen port
                    }
                } catch (IOException | RuntimeException e) {
                    ch.close();
                    throw e;
                }
                int cpu = b.cpuOf(i);
                UdpRxQueue q = new UdpRxQueue(this, i, b.firstIrq + i, cpu, ch, b.buffers, b.maxDatagram, b.receiver,
                        napi, oopses);
                queues.add(q);
                q.key = ch.register(selector, SelectionKey.OP_READ, q);
            }
        } catch (IOException | RuntimeException e) {
            closeChannels();
            throw e;
        }
        this.reusePort = reuse;
        this.queueArray = queues.toArray(new UdpRxQueue[0]);
    }

    /**
     * A builder of a device named {@code name} for the kernel whose NAPI and interrupt controller these are
     * ({@code kernel.napi()}, {@code kernel.irqs()}). Any thread.
     *
     * @param napi the kernel's NAPI
     * @param irqs the kernel's interrupt controller
     * @param name the interface name, 1 to 15 characters
     * @return a builder: one queue bound to the loopback address on a port the host chooses, weight 64,
     *         {@value #DEFAULT_BUFFERS} buffers of {@value #DEFAULT_MAX_DATAGRAM} bytes per queue
     */
    public static Builder builder(Napi napi, IrqController irqs, String name) {
        return new Builder(napi, irqs, name);
    }

    /** The options of a {@link UdpDevice}; one builder opens one device. Any thread, one at a time. */
    public static final class Builder extends SocketDeviceBuilder<Builder> {
        private int buffers = DEFAULT_BUFFERS;
        private int maxDatagram = DEFAULT_MAX_DATAGRAM;
        private Receiver receiver;

        private Builder(Napi napi, IrqController irqs, String name) {
            super(napi, irqs, name);
        }

        @Override
        Builder self() {
            return this;
        }

        /**
         * The number of buffers in each queue's pool: how many datagrams the receiver may retain at once before
         * datagrams are dropped as {@code rx_missed_errors}.
         *
         * @param buffers 1 or more; {@value #DEFAULT_BUFFERS} unless set
         * @return this builder
         * @throws IllegalArgumentException for fewer than 1
         */
        public Builder buffers(int buffers) {
            if (buffers < 1) {
                throw new IllegalArgumentException("a queue needs at least one buffer: " + buffers);
            }
            this.buffers = buffers;
            return this;
        }

        /**
         * The largest datagram received whole; longer ones are dropped and counted as {@code rx_length_errors}.
         *
         * @param bytes 1 to {@value #MAX_UDP_PAYLOAD}; {@value #DEFAULT_MAX_DATAGRAM} unless set
         * @return this builder
         * @throws IllegalArgumentException outside that range
         */
        public Builder maxDatagram(int bytes) {
            if (bytes < 1 || bytes > MAX_UDP_PAYLOAD) {
                throw new IllegalArgumentException("maxDatagram must be 1 to " + MAX_UDP_PAYLOAD + ": " + bytes);
            }
            this.maxDatagram = bytes;
            return this;
        }

        /**
         * The receive function. Required.
         *
         * @param receiver called for each datagram in softirq context
         * @return this builder
         */
        public Builder receiver(Receiver receiver) {
            this.receiver = Objects.requireNonNull(receiver, "receiver");
            return this;
        }

        /**
         * Opens the device ({@code ndo_open}): binds the channels, adds and enables the NAPI instances, requests
         * the lines ({@code <name>-rx-<i>}) and routes them, and starts the selector thread. Process context
         * (requesting a line may sleep).
         *
         * @return the open device
         * @throws IOException when a channel cannot be opened or bound (the port is taken, the address is not
         *                     local); nothing is left open
         * @throws IllegalStateException without {@link #irq} or {@link #receiver}, or when the kernel is closed
         * @throws dev.bottomhalf.runtime.KernelException when a line cannot be requested ({@code EBUSY},
         *                     {@code EINVAL}); nothing is left open
         */
        public UdpDevice open() throws IOException {
            checkOpenable("UdpDevice", receiver != null);
            UdpDevice d = new UdpDevice(this);
            d.start(weight, "udp");
            return d;
        }
    }

    // ------------------------------------------------------------------------------------------
    // The card: the selector thread
    // ------------------------------------------------------------------------------------------

    @Override
    void runCard() {
        try {
            while (running) {
                if (!anyArmed()) {
                    parkCard();
                    continue;
                }
                for (UdpRxQueue q : queueArray) {
                    int want = q.armed() ? SelectionKey.OP_READ : 0;
                    if (q.key.interestOps() != want) {
                        q.key.interestOps(want);
                    }
                }
                selector.select(onReady);
            }
        } catch (IllegalStateException e) {
            // The kernel refuses interrupts (it is closing), or the selector was closed: the card stops.
            if (running && !napi.kernelClosing()) {
                napi.reports().printk(KernelEvent.Kind.ERR, "udp/" + name + ": the card stopped: " + e, e);
            }
        } catch (IOException e) {
            napi.reports().printk(KernelEvent.Kind.ERR, "udp/" + name + ": select failed, the card stopped: " + e, e);
        }
    }

    private boolean anyArmed() {
        for (UdpRxQueue q : queueArray) {
            if (q.armed()) {
                return true;
            }
        }
        return false;
    }

    /**
     * No queue's interrupt is armed (each is raised or masked): nothing to watch, so the selector thread parks
     * instead of selecting, and leaves the interest sets as they are — an unmask then costs an unpark, not a
     * selector wake-up and two interest changes. {@code cardWait} is written before the re-check of the queues and
     * read by {@link #wakeCard()} after the unmask's compare-and-set (all volatile): either this thread sees the
     * armed queue and does not park, or the unmask sees {@code PARKED} and unparks it (an unpark before the park
     * makes the park return at once).
     */
    private void parkCard() {
        cardWait = PARKED;
        if (running && !anyArmed()) {
            LockSupport.park(this);
        }
        cardWait = SELECTING;
    }

    /** Wakes the selector thread after an unmask, the way it waits (parked, or in select). Any thread. */
    void wakeCard() {
        if (cardWait == PARKED) {
            LockSupport.unpark(card);
        } else {
            selector.wakeup();
        }
    }

    /** Tells the selector thread to stop; any thread. For the kernel's close when it starts refusing work. */
    @Override
    void stopCardForClose() {
        running = false;
        selector.wakeup();
        Thread t = card;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    @Override
    void closeChannels() {
        for (UdpRxQueue q : queues) {
            try {
                q.channel.close();
            } catch (IOException e) {
                napi.reports().printk(KernelEvent.Kind.WARN, q.name() + ": close failed: " + e, e);
            }
        }
        try {
            selector.close();
        } catch (IOException e) {
            napi.reports().printk(KernelEvent.Kind.WARN, name + ": selector close failed: " + e, e);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Accessors and counters
    // ------------------------------------------------------------------------------------------

    /**
     * The receive queues, in index order. Any thread.
     *
     * @return an unmodifiable list of one queue or more
     */
    public List<UdpRxQueue> queues() {
        return List.copyOf(queues);
    }

    /**
     * Whether the queues share their port through {@code SO_REUSEPORT} (false with one queue). Any thread.
     *
     * @return true when more than one queue was asked for and the host supports the option
     */
    public boolean reusePort() {
        return reusePort;
    }

    /**
     * The address the device's channels are bound to: what senders send to. Any thread.
     *
     * @return the local address with the chosen port, or null once closed
     */
    public InetSocketAddress localAddress() {
        return queues.get(0).localAddress();
    }

    /** The selector thread, for tests: whether it stopped. */
    Thread cardThread() {
        return card;
    }

    /**
     * The sum of the queues' {@link UdpRxQueue#rxPackets()}. Any thread; a snapshot.
     *
     * @return datagrams accepted
     */
    public long rxPackets() {
        long n = 0;
        for (UdpRxQueue q : queues) {
            n += q.rxPackets();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link UdpRxQueue#rxDropped()}. Any thread; a snapshot.
     *
     * @return datagrams refused by the receiver or lost to its exceptions
     */
    public long rxDropped() {
        long n = 0;
        for (UdpRxQueue q : queues) {
            n += q.rxDropped();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link UdpRxQueue#rxMissedErrors()}. Any thread; a snapshot.
     *
     * @return datagrams dropped for want of a free buffer
     */
    public long rxMissedErrors() {
        long n = 0;
        for (UdpRxQueue q : queues) {
            n += q.rxMissedErrors();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link UdpRxQueue#interrupts()}. Any thread; a snapshot.
     *
     * @return interrupts the card raised
     */
    public long interrupts() {
        long n = 0;
        for (UdpRxQueue q : queues) {
            n += q.interrupts();
        }
        return n;
    }

    @Override
    public String toString() {
        return "udp_device[" + name + " " + queues.size() + " queue(s)" + (isClosed() ? " closed" : "") + "]";
    }
}
