package dev.bottomhalf.net;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.RateLimiter;

/**
 * A network device that receives TCP: one listening {@link ServerSocketChannel}, whose accepted connections are
 * spread over the device's {@link TcpRxQueue}s, each queue with its own interrupt line and NAPI instance. Built and
 * opened with {@link #builder}, from a task (process context); {@link #close()} likewise; the counters and accessors
 * from any thread. The {@link Receiver} runs in NET_RX softirq context on the CPU of the connection's queue.
 *
 * <pre>{@code
 * TcpDevice tcp0 = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0")
 *         .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 6514))
 *         .queues(2).irq(50)                       // lines 50 and 51, routed to CPUs 0 and 1
 *         .receiver((conn, data) -> { parse(conn, data); return true; })
 *         .open();
 * }</pre>
 *
 * <p>The mapping to a card: the device's selector thread ({@code tcp/<name>}) is the hardware. It always watches the
 * listener and accepts each new connection (non-blocking), giving the queues one each in turn — the host's flow hash
 * playing RSS — and watches each connection for reading while its queue's interrupt is unmasked: when one is readable,
 * or a connection it accepted waits for the receiver, it asserts the queue's line (the interrupt) and stops watching
 * the queue's connections. The top half masks the queue's interrupt and calls {@code napi_schedule}; the poll tells
 * the receiver of the new connections, then reads the readable connections in turn, one read each per turn, each
 * read one unit of work, until {@code budget} reads or none is readable; a poll that drained them calls
 * {@code napi_complete_done} and, when that returns true, unmasks the interrupt and wakes the card. Which
 * connections are readable the poll learns from its queue's own selector (level-triggered), so one busy connection
 * that keeps the queue masked starves none of the others. Nothing is dropped: when the poll is behind, the socket
 * buffers fill and TCP's window stops the senders. See docs/subsystems/net.md, "TCP".
 *
 * <p>Implementation notes: the listener, the selectors and the queues are made by {@link Builder#open()} and closed
 * once, by {@link #close()} or by the kernel's close (whichever comes first; {@code closed} is guarded by this
 * object). {@code running} is the card's stop flag (volatile), set with a selector wake-up; the card is the only
 * thread that accepts, registers connections with the device's selector and changes their interest sets. Unlike
 * {@link UdpDevice}'s card it never parks: the listener is always watched. The kernel's close stops the card when the
 * kernel starts refusing work and closes the channels when it discards what is left ({@link Napi} keeps the open
 * devices for that).
 */
public final class TcpDevice extends SocketDeviceBase<TcpRxQueue> {
    /** The default size of one read, in bytes: the most one call of the receiver gets. */
    public static final int DEFAULT_READ_BYTES = 2048;

    /**
     * The device's receive functions, called in NET_RX softirq context on the CPU of the connection's queue (or with
     * BH disabled in a threaded instance's kthread or a busy poller); never concurrently for one queue (so never for
     * one connection), concurrently for different queues on different CPUs. An exception from any of them is
     * reported as an oops (rate-limited per queue), counted in {@link TcpRxQueue#receiverOopses()}, and closes the
     * connection — its stream has lost bytes the receiver did not take; the device goes on.
     */
    @FunctionalInterface
    public interface Receiver {
        /**
         * A connection was accepted: called once, before any {@link #receive} of it (in the first poll of its queue
         * after the accept, even before the peer sends anything). Nothing by default.
         *
         * @param connection the new connection; {@link TcpConnection#attach} keeps the receiver's state for it
         */
        default void connected(TcpConnection connection) {
        }

        /**
         * Takes the bytes of one read of {@code connection}: the next part of its stream, in order, from 1 byte to
         * the device's read size (TCP keeps no message boundaries: a message may arrive in several reads, several in
         * one). The buffer is the queue's, valid during this call only.
         *
         * @param connection the connection the bytes came from
         * @param data       the bytes: the queue's direct buffer, position 0, limit the bytes read
         * @return true to go on; false to close the connection ({@link #disconnected} follows, counted in
         *         {@link TcpRxQueue#receiverCloses()})
         */
        boolean receive(TcpConnection connection, ByteBuffer data);

        /**
         * The connection ended: the peer closed it (a read of -1), it failed (a reset), {@link #receive} returned false
         * or a callback threw. Called once, after the last {@link #receive}; the channel is already closed. Not
         * called for connections the device's (or the kernel's) close closes. Nothing by default.
         *
         * @param connection the closed connection
         */
        default void disconnected(TcpConnection connection) {
        }
    }

    /** The queues as an array, for the card's loop (no iterator). */
    private final TcpRxQueue[] queueArray;
    private final Selector selector;
    private final ServerSocketChannel listener;
    private final InetSocketAddress localAddress;
    private final Consumer<SelectionKey> onReady;
    private final RateLimiter acceptErrors;
    /** The card's: the next queue a connection goes to, and the last connection id. */
    private int nextQueue;
    private long lastId;
    private TcpDevice(Builder b) throws IOException {
        super(b);
        this.acceptErrors = napi.reports().limiter("inet_csk_accept");
        this.onReady = key -> {
            if (!running) {
                return;
            }
            if (key.attachment() instanceof TcpConnection c) {
                c.queue().readable(irqs);
            } else {
                acceptAll();
            }
        };
        RateLimiter oopses = napi.reports().limiter("tcp_v4_do_rcv");
        Selector sel = null;
        ServerSocketChannel ls = null;
        try {
            sel = Selector.open();
            ls = ServerSocketChannel.open();
            ls.configureBlocking(false);
            if (b.receiveBufferBytes > 0) {
                // Before bind: accepted sockets inherit it, and a window above 64 KiB is only offered when it is set
                // on the listener.
                ls.setOption(StandardSocketOptions.SO_RCVBUF, b.receiveBufferBytes);
            }
            ls.bind(b.bind);
            for (int i = 0; i < b.queues; i++) {
                int cpu = b.cpuOf(i);
                queues.add(new TcpRxQueue(this, i, b.firstIrq + i, cpu, b.readBytes, b.receiver, napi, oopses));
            }
            ls.register(sel, SelectionKey.OP_ACCEPT, null);
        } catch (IOException | RuntimeException e) {
            for (TcpRxQueue q : queues) {
                q.closeForDevice();
            }
            if (ls != null) {
                ls.close();
            }
            if (sel != null) {
                sel.close();
            }
            throw e;
        }
        this.selector = sel;
        this.listener = ls;
        this.localAddress = (InetSocketAddress) ls.getLocalAddress();
        this.queueArray = queues.toArray(new TcpRxQueue[0]);
    }

    /**
     * A builder of a device named {@code name} for the kernel whose NAPI and interrupt controller these are
     * ({@code kernel.napi()}, {@code kernel.irqs()}). Any thread.
     *
     * @param napi the kernel's NAPI
     * @param irqs the kernel's interrupt controller
     * @param name the interface name, 1 to 15 characters
     * @return a builder: one queue, listening on the loopback address on a port the host chooses, weight 64, reads of
     *         {@value #DEFAULT_READ_BYTES} bytes
     */
    public static Builder builder(Napi napi, IrqController irqs, String name) {
        return new Builder(napi, irqs, name);
    }

    /** The options of a {@link TcpDevice}; one builder opens one device. Any thread, one at a time. */
    public static final class Builder extends SocketDeviceBuilder<Builder> {
        private int readBytes = DEFAULT_READ_BYTES;
        private Receiver receiver;

        private Builder(Napi napi, IrqController irqs, String name) {
            super(napi, irqs, name);
        }

        @Override
        Builder self() {
            return this;
        }

        /**
         * The size of one read: each queue's read buffer, and the most bytes one call of the receiver gets.
         *
         * @param bytes 1 or more; {@value #DEFAULT_READ_BYTES} unless set
         * @return this builder
         * @throws IllegalArgumentException for fewer than 1
         */
        public Builder readBytes(int bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("readBytes must be at least 1: " + bytes);
            }
            this.readBytes = bytes;
            return this;
        }

        /**
         * The receive functions. Required.
         *
         * @param receiver called in softirq context for each connection's start, bytes and end
         * @return this builder
         */
        public Builder receiver(Receiver receiver) {
            this.receiver = Objects.requireNonNull(receiver, "receiver");
            return this;
        }

        /**
         * Opens the device ({@code ndo_open}): binds the listener, adds and enables the NAPI instances, requests the
         * lines ({@code <name>-rx-<i>}) and routes them, and starts the card thread. Process context (requesting a
         * line may sleep).
         *
         * @return the open device
         * @throws IOException when the listener cannot be opened or bound (the port is taken, the address is not
         *                     local); nothing is left open
         * @throws IllegalStateException without {@link #irq} or {@link #receiver}, or when the kernel is closed
         * @throws dev.bottomhalf.runtime.KernelException when a line cannot be requested ({@code EBUSY},
         *                     {@code EINVAL}); nothing is left open
         */
        public TcpDevice open() throws IOException {
            checkOpenable("TcpDevice", receiver != null);
            TcpDevice d = new TcpDevice(this);
            d.start(weight, "tcp");
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
                for (TcpRxQueue q : queueArray) {
                    q.prepareSelect(irqs);
                }
                selector.select(onReady);
            }
        } catch (IllegalStateException e) {
            // The kernel refuses interrupts (it is closing), or the selector was closed: the card stops.
            if (running && !napi.kernelClosing()) {
                napi.reports().printk(KernelEvent.Kind.ERR, "tcp/" + name + ": the card stopped: " + e, e);
            }
        } catch (IOException e) {
            napi.reports().printk(KernelEvent.Kind.ERR, "tcp/" + name + ": select failed, the card stopped: " + e, e);
        }
    }

    /** The listener is ready: accepts every waiting connection and spreads them over the queues. The card. */
    private void acceptAll() {
        for (;;) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (IOException e) {
                // Out of file descriptors, most often: the connection waits in the backlog; reported, rate-limited.
                if (acceptErrors.allow(KernelEvent.Kind.ERR)) {
                    napi.reports().printk(KernelEvent.Kind.ERR, name + ": accept failed: " + e, e);
                }
                return;
            }
            if (ch == null) {
                return;
            }
            TcpRxQueue q = queueArray[nextQueue];
            nextQueue = nextQueue + 1 == queueArray.length ? 0 : nextQueue + 1;
            try {
                ch.configureBlocking(false);
                q.accept(new TcpConnection(++lastId, q, ch, (InetSocketAddress) ch.getRemoteAddress()), selector);
            } catch (IOException e) {
                // Reset before it could be registered: nothing to receive from it.
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // closing a socket that failed: nothing more to do
                }
            }
        }
    }

    /** Wakes the card after an unmask, so that it gives the queue's connections read interest back. Any thread. */
    void wakeCard() {
        selector.wakeup();
    }

    /** Tells the card to stop; any thread. For the close, and the kernel's close when it starts refusing work. */
    @Override
    void stopCardForClose() {
        running = false;
        selector.wakeup();
    }
    /**
     * Closes the listener, every connection and the selectors (which releases the port). The card has stopped; under
     * this object's lock, as the device's and the kernel's close may both get here.
     */
    @Override
    synchronized void closeChannels() {
        try {
            listener.close();
        } catch (IOException e) {
            napi.reports().printk(KernelEvent.Kind.WARN, name + ": listener close failed: " + e, e);
        }
        for (TcpRxQueue q : queues) {
            q.closeForDevice();
        }
        try {
            selector.close(); // deregisters the closed channels: their sockets are released now
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
    public List<TcpRxQueue> queues() {
        return List.copyOf(queues);
    }

    /**
     * The address the listener is bound to: what clients connect to. Any thread.
     *
     * @return the local address with the chosen port, or null once closed
     */
    public InetSocketAddress localAddress() {
        return listener.isOpen() ? localAddress : null;
    }

    /** The card thread, for tests: whether it stopped. */
    Thread cardThread() {
        return card;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#connectionsAccepted()}. Any thread; a snapshot.
     *
     * @return connections accepted
     */
    public long connectionsAccepted() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.connectionsAccepted();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#connectionsClosed()}. Any thread; a snapshot.
     *
     * @return connections the polls closed
     */
    public long connectionsClosed() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.connectionsClosed();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#rxBytes()}. Any thread; a snapshot.
     *
     * @return bytes handed to the receiver
     */
    public long rxBytes() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.rxBytes();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#reads()}. Any thread; a snapshot.
     *
     * @return reads of more than 0 bytes
     */
    public long reads() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.reads();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#interrupts()}. Any thread; a snapshot.
     *
     * @return interrupts the card raised
     */
    public long interrupts() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.interrupts();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#polls()}. Any thread; a snapshot.
     *
     * @return polls of the queues' NAPI instances
     */
    public long polls() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.polls();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#receiverOopses()}. Any thread; a snapshot.
     *
     * @return the receiver's exceptions
     */
    public long receiverOopses() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.receiverOopses();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#receiverCloses()}. Any thread; a snapshot.
     *
     * @return connections closed because the receiver returned false
     */
    public long receiverCloses() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.receiverCloses();
        }
        return n;
    }

    /**
     * The sum of the queues' {@link TcpRxQueue#rxErrors()}. Any thread; a snapshot.
     *
     * @return reads that failed
     */
    public long rxErrors() {
        long n = 0;
        for (TcpRxQueue q : queues) {
            n += q.rxErrors();
        }
        return n;
    }

    @Override
    public String toString() {
        return "tcp_device[" + name + " " + queues.size() + " queue(s)" + (isClosed() ? " closed" : "") + "]";
    }
}
