package dev.bottomhalf.net;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.InetSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One accepted connection of a {@link TcpDevice}, as its {@link TcpDevice.Receiver} sees it: an id, the peer's
 * address, the receive queue it was spread to, its counters and a slot for the receiver's own per-connection state
 * ({@link #attach}). Made by the device's card thread when it accepts the connection; handed to the receiver in NET_RX
 * softirq context on the queue's CPU (or with BH disabled, in a threaded instance's kthread or a busy poller). Its
 * identity and counters may be read from any thread.
 *
 * <p>Implementation notes: the channel and the card's selection key belong to the card thread (it registers the
 * connection and sets its read interest); the poll selector's key, {@code inReady} and the attachment belong to the
 * queue's poll (the owner of the queue's NAPI instance, so one thread at a time), which also closes the channel. The
 * connection reaches the poll through the queue's lock-free queue of accepted connections, which publishes the
 * card's writes. Counters are written by the poll with opaque stores and read racily with opaque loads.
 */
public final class TcpConnection {
    private static final VarHandle LONG = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int RX_BYTES = 0;
    private static final int READS = 1;

    private final long id;
    private final TcpRxQueue queue;
    final SocketChannel channel;
    private final InetSocketAddress remote;
    /** The key in the device's (card's) selector: read interest while the queue's interrupt is armed. */
    SelectionKey cardKey;
    /** The key in the queue's poll selector: read interest always; the poll's. */
    SelectionKey pollKey;
    /** Whether the connection is on the poll's round-robin of readable connections; the poll's. */
    boolean inReady;
    private Object attachment; // the receiver's: its calls for this connection never overlap
    private final long[] counters = new long[2];

    TcpConnection(long id, TcpRxQueue queue, SocketChannel channel, InetSocketAddress remote) {
        this.id = id;
        this.queue = queue;
        this.channel = channel;
        this.remote = remote;
    }

    /**
     * The connection's number in its device: 1 for the first accepted, then in the order the card accepted them.
     * Any thread.
     *
     * @return the id, 1 or more
     */
    public long id() {
        return id;
    }

    /**
     * The peer's address (the client's address and port), as accepted. Any thread.
     *
     * @return the remote address
     */
    public InetSocketAddress remoteAddress() {
        return remote;
    }

    /**
     * The receive queue the connection was spread to: its line, CPU and NAPI instance serve this connection. Any
     * thread.
     *
     * @return the queue
     */
    public TcpRxQueue queue() {
        return queue;
    }

    /**
     * Whether the connection is still open: false once the peer ended it, a read failed, the receiver asked for it
     * to be closed, or the device closed. Any thread; a snapshot.
     *
     * @return true while open
     */
    public boolean isOpen() {
        return channel.isOpen();
    }

    /**
     * Keeps the receiver's state for this connection (a parser's, a reassembly buffer): typically set in
     * {@link TcpDevice.Receiver#connected} and used by the later calls. The receiver's context only (its calls for
     * one connection run one at a time, in the queue's poll).
     *
     * @param state anything, or null
     */
    public void attach(Object state) {
        this.attachment = state;
    }

    /**
     * What the receiver {@link #attach attached}. The receiver's context only.
     *
     * @return the state, or null
     */
    public Object attachment() {
        return attachment;
    }

    /**
     * The bytes received on this connection and handed to the receiver. Any thread; a snapshot.
     *
     * @return the count since the connection was accepted
     */
    public long rxBytes() {
        return (long) LONG.getOpaque(counters, RX_BYTES);
    }

    /**
     * The reads of more than 0 bytes (each one call of {@link TcpDevice.Receiver#receive} and one unit of NAPI
     * work). Any thread; a snapshot.
     *
     * @return the count since the connection was accepted
     */
    public long reads() {
        return (long) LONG.getOpaque(counters, READS);
    }

    /** Counts one read of {@code bytes}; the poll. */
    void countRead(int bytes) {
        LONG.setOpaque(counters, RX_BYTES, (long) LONG.getOpaque(counters, RX_BYTES) + bytes);
        LONG.setOpaque(counters, READS, (long) LONG.getOpaque(counters, READS) + 1);
    }

    @Override
    public String toString() {
        return "tcp_connection[" + id + " from " + remote + " on " + queue.name() + (isOpen() ? "" : " closed") + "]";
    }
}
