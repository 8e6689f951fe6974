package dev.bottomhalf.net;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Consumer;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;

/**
 * One receive queue of a {@link TcpDevice}: the connections the card spread to it, an interrupt line, a
 * {@link NapiStruct}, one direct read buffer and a poll selector of its own. The device's card thread asserts the
 * line when one of the queue's connections is readable, or a newly accepted one waits, and the queue's interrupt is
 * unmasked; the top half masks it and schedules the NAPI instance; the poll hands the new connections to the
 * device's {@link TcpDevice.Receiver}, then reads the readable ones in turn, at most {@code budget} reads; a poll that
 * drained them completes the instance and, when {@code napi_complete_done} says so, unmasks the interrupt and wakes
 * the card. Its counters may be read from any thread; everything else is driven by the device.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>{@code irqState} (kept by {@code SocketRxQueue}, with the counters): the same three states as
 * {@link UdpRxQueue}'s, one int changed with compare-and-set:
 * {@code ARMED} (the card watches the queue's connections for reading), {@code ASSERTED} (the card asserted the line
 * and stopped watching them), {@code MASKED} (the top half masked it: NAPI owns the connections). Only the card moves
 * ARMED → ASSERTED; the top half sets MASKED; only the poll (on true from {@code napi_complete_done}) moves MASKED →
 * ARMED, then wakes the card, which gives the connections their read interest back before its next select — data
 * that arrived meanwhile is seen (epoll is level-triggered), and so is a connection accepted meanwhile (the card
 * checks the accepted queue of each armed queue before each select).</li>
 * <li>Ownership: {@code cardConnections} and {@code cardInterest} belong to the card thread (and, once it has been
 * joined, to the closing thread); the poll selector, the {@code ready} round-robin, the read buffer and the
 * connections' attachments to the poll (the owner of SCHED, one thread at a time). {@code accepted} is the
 * hand-over between them: a lock-free queue the card offers to and the poll takes from, which publishes the
 * connection and its non-blocking channel.</li>
 * <li>Why a poll selector: while the interrupt is masked the card no longer watches the queue's connections, so the
 * poll needs its own view of which are readable. Each connection is registered with it (read interest, never
 * changed) when the poll takes it from {@code accepted}; the poll's {@code selectNow} is level-triggered, so a
 * connection with data is reported on every poll and is never starved by another that keeps the queue masked.</li>
 * <li>A connection the poll closes is shut down for the peer at once (the JDK shuts a registered channel's output
 * down and defers the rest of the close); its socket is released when both selectors have dropped the cancelled key:
 * the poll selector at its next {@code selectNow}, the card's at its next select (the unmask's wake-up at the
 * latest).</li>
 * <li>Counters: written by one context at a time (the poll, serialised by SCHED; {@code interrupts} and
 * {@code connectionsAccepted} by the card), with opaque stores; read racily with opaque loads.</li>
 * </ul>
 */
public final class TcpRxQueue extends SocketRxQueue {
    private static final int CONNECTIONS_ACCEPTED = 0;
    private static final int CONNECTIONS_CLOSED = 1;
    private static final int RX_BYTES = 2;
    private static final int READS = 3;
    private static final int RX_ERRORS = 4;
    private static final int RECEIVER_OOPSES = 5;
    private static final int RECEIVER_CLOSES = 6;

    private final TcpDevice device;
    /** The poll's view of which connections are readable (each registered with read interest). */
    final Selector pollSelector;
    /** Connections the card accepted and the poll has not yet handed to the receiver. */
    private final ConcurrentLinkedQueue<TcpConnection> accepted = new ConcurrentLinkedQueue<>();
    /** The card's: every connection it spread here and has not yet seen closed. */
    final List<TcpConnection> cardConnections = new ArrayList<>();
    /** The card's: whether {@code cardConnections} have read interest in the device's selector. */
    private boolean cardInterest = true;
    /** The poll's: the readable connections, read one at a time in turn. */
    private final ArrayDeque<TcpConnection> ready = new ArrayDeque<>();
    private final Consumer<SelectionKey> onReadable;
    /** The poll's: the one read buffer (a direct buffer: the socket reads straight into it). */
    private final ByteBuffer buffer;
    private final TcpDevice.Receiver receiver;
    private final Reports reports;
    private final RateLimiter oopses;
    /** Counters, indexed by the constants above; see the class notes. */

    TcpRxQueue(TcpDevice device, int index, int irq, int cpu, int readBytes, TcpDevice.Receiver receiver, Napi napis,
               RateLimiter oopses) throws IOException {
        super(device.name(), index, irq, cpu, napis);
        this.device = device;
        this.buffer = ByteBuffer.allocateDirect(readBytes);
        this.receiver = receiver;
        this.reports = napis.reports();
        this.oopses = oopses;
        this.onReadable = key -> {
            TcpConnection c = (TcpConnection) key.attachment();
            if (!c.inReady) {
                c.inReady = true;
                ready.addLast(c);
            }
        };
        this.pollSelector = Selector.open();
    }

    // ------------------------------------------------------------------------------------------
    // Identity
    // ------------------------------------------------------------------------------------------

    /**
     * The device the queue belongs to. Any thread.
     *
     * @return the device
     */
    public TcpDevice device() {
        return device;
    }

    // ------------------------------------------------------------------------------------------
    // Counters
    // ------------------------------------------------------------------------------------------


    /**
     * The connections the card accepted and spread to this queue. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long connectionsAccepted() {
        return get(CONNECTIONS_ACCEPTED);
    }

    /**
     * The connections the poll closed: ended by the peer (a read of -1), failed (a reset), refused by the receiver
     * or lost to its exception. Not those the device's close closes. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long connectionsClosed() {
        return get(CONNECTIONS_CLOSED);
    }

    /**
     * {@code rx_bytes}: the bytes read and handed to the receiver. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxBytes() {
        return get(RX_BYTES);
    }

    /**
     * The reads of more than 0 bytes, each one call of the receiver and one unit of NAPI work (what the kernel would
     * count in segments: at most the device's read size each). Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long reads() {
        return get(READS);
    }

    /**
     * {@code rx_errors}: reads that failed with an I/O error (a connection reset by the peer, most often); each
     * closes its connection. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxErrors() {
        return get(RX_ERRORS);
    }

    /**
     * The receiver's exceptions: each reported as an oops (rate-limited per queue) and its connection closed. Any
     * thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long receiverOopses() {
        return get(RECEIVER_OOPSES);
    }

    /**
     * The connections closed because {@link TcpDevice.Receiver#receive} returned false. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long receiverCloses() {
        return get(RECEIVER_CLOSES);
    }

    /**
     * The interrupts the card raised: how many times it asserted the queue's line. Under load NAPI keeps polling
     * with the interrupt masked, so this grows more slowly than {@link #reads()}. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long interrupts() {
        return get(INTERRUPTS);
    }

    /**
     * The polls ({@code napi->poll} calls) of the queue's NAPI instance. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long polls() {
        return get(POLLS);
    }


    // ------------------------------------------------------------------------------------------
    // The card (the device's selector thread)
    // ------------------------------------------------------------------------------------------



    /**
     * Takes a newly accepted connection: registers it with the device's selector (read interest while the interrupt
     * is armed), keeps it for the card and hands it to the poll. The card thread.
     */
    void accept(TcpConnection c, Selector cardSelector) throws ClosedChannelException {
        c.cardKey = c.channel.register(cardSelector, cardInterest ? SelectionKey.OP_READ : 0, c);
        cardConnections.add(c);
        add(CONNECTIONS_ACCEPTED, 1);
        accepted.offer(c);
    }

    /**
     * Before each select, the card thread: raises the interrupt for newly accepted connections when it is armed (so
     * the receiver hears of them before they send anything), then gives the queue's connections read interest in the
     * device's selector exactly while the interrupt is armed (masking is taking the interest away), forgetting the
     * connections the poll closed.
     *
     * @throws IllegalStateException when the kernel is closing or closed (the card stops)
     */
    void prepareSelect(IrqController irqs) {
        boolean armed = armed();
        if (armed && !accepted.isEmpty()) {
            readable(irqs);
            armed = false;
        }
        if (armed == cardInterest) {
            return;
        }
        int ops = armed ? SelectionKey.OP_READ : 0;
        for (int i = cardConnections.size() - 1; i >= 0; i--) {
            TcpConnection c = cardConnections.get(i);
            try {
                c.cardKey.interestOps(ops);
            } catch (CancelledKeyException e) {
                // Closed by the poll: forget it (swap with the last, so the loop stays O(connections)).
                int last = cardConnections.size() - 1;
                cardConnections.set(i, cardConnections.get(last));
                cardConnections.remove(last);
            }
        }
        cardInterest = armed;
    }

    // ------------------------------------------------------------------------------------------
    // The driver: top half and poll
    // ------------------------------------------------------------------------------------------


    /**
     * The poll ({@code napi->poll}), NET_RX softirq context (or BH disabled in a kthread or busy poller): hands the
     * newly accepted connections to the receiver, then reads the readable ones in turn, one read each per turn, at
     * most {@code budget} reads of more than 0 bytes; completes and unmasks when they ran dry first.
     */
    @Override
    int poll(NapiStruct n, int budget) {
        add(POLLS, 1);
        int work = 0;
        try {
            TcpConnection c;
            while ((c = accepted.poll()) != null) {
                connect(c);
            }
            pollSelector.selectNow(onReadable);
            int workAtSelect = 0;
            while (work < budget) {
                c = ready.pollFirst();
                if (c == null) {
                    if (work == workAtSelect) {
                        break; // nothing read since the last look: drained
                    }
                    workAtSelect = work;
                    pollSelector.selectNow(onReadable); // level-triggered: anything left, or arrived meanwhile
                    continue;
                }
                int read = read(c);
                if (read > 0) {
                    work++;
                }
                if (read == buffer.capacity() && c.channel.isOpen()) {
                    ready.addLast(c);      // a full read: more may wait; its next turn after the others'
                } else {
                    c.inReady = false;     // a short read drained the socket, or it ended (a later select sees more)
                }
            }
        } catch (ClosedChannelException | ClosedSelectorException e) {
            // The device's or the kernel's close closed the channels: nothing more to read.
        } catch (IOException e) {
            add(RX_ERRORS, 1);
            reports.printk(KernelEvent.Kind.ERR, name + ": select failed: " + e, e);
        }
        if (work < budget && napis.completeDone(n, work)) {
            unmask();
        }
        return work;
    }

    /** Registers a new connection with the poll selector and tells the receiver; the poll. */
    private void connect(TcpConnection c) throws ClosedChannelException {
        c.pollKey = c.channel.register(pollSelector, SelectionKey.OP_READ, c);
        try {
            receiver.connected(c);
        } catch (Throwable e) {
            oops(e);
            close(c);
        }
    }

    /**
     * One read of {@code c} into the buffer, handed to the receiver: the bytes read (0 when none waited, -1 when the
     * connection ended or failed and was closed). The poll.
     */
    private int read(TcpConnection c) throws ClosedChannelException {
        ByteBuffer buf = buffer;
        buf.clear();
        int bytes;
        try {
            bytes = c.channel.read(buf);
        } catch (ClosedChannelException e) {
            throw e; // the device's or the kernel's close: the poll stops
        } catch (IOException e) {
            add(RX_ERRORS, 1); // a reset: the peer is gone, as after a read of -1
            close(c);
            return -1;
        }
        if (bytes <= 0) {
            if (bytes < 0) {
                close(c);
            }
            return bytes;
        }
        c.countRead(bytes);
        add(READS, 1);
        add(RX_BYTES, bytes);
        buf.flip();
        boolean keep;
        try {
            keep = receiver.receive(c, buf);
            if (!keep) {
                add(RECEIVER_CLOSES, 1);
            }
        } catch (Throwable e) {
            oops(e);
            keep = false;
        }
        if (!keep) {
            close(c);
        }
        return bytes;
    }

    /** The receiver threw: counted, reported as an oops rate-limited per queue (a fatal error panics). The poll. */
    private void oops(Throwable e) {
        add(RECEIVER_OOPSES, 1);
        oopses.oops(this, this, q -> "tcp receiver of " + q.name, e);
    }

    /** Closes {@code c} (cancelling its keys in both selectors) and tells the receiver. The poll. */
    private void close(TcpConnection c) {
        try {
            c.channel.close();
        } catch (IOException e) {
            reports.printk(KernelEvent.Kind.WARN, name + ": close of connection " + c.id() + " failed: " + e, e);
        }
        add(CONNECTIONS_CLOSED, 1);
        try {
            receiver.disconnected(c);
        } catch (Throwable e) {
            oops(e);
        }
    }

    @Override
    void wakeCard() {
        device.wakeCard();
    }

    // ------------------------------------------------------------------------------------------
    // Closing
    // ------------------------------------------------------------------------------------------

    /**
     * Closes every connection still open (without telling the receiver: NAPI is disabled) and the poll selector.
     * The closing thread, once the card has been joined and no poll runs.
     */
    void closeForDevice() {
        for (TcpConnection c : cardConnections) {
            try {
                c.channel.close();
            } catch (IOException e) {
                reports.printk(KernelEvent.Kind.WARN, name + ": close of connection " + c.id() + " failed: " + e, e);
            }
        }
        cardConnections.clear();
        try {
            pollSelector.close();
        } catch (IOException e) {
            reports.printk(KernelEvent.Kind.WARN, name + ": poll selector close failed: " + e, e);
        }
    }

    @Override
    public String toString() {
        String[] states = {"ARMED", "ASSERTED", "MASKED"};
        return "tcp_rx_queue[" + name + " irq " + irq + " cpu " + cpu + " " + states[irqState()]
                + "]";
    }
}
