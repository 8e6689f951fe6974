package dev.bottomhalf.net;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;

/**
 * One received datagram as a {@link UdpDevice.Receiver} sees it: a slot of its queue's buffer pool (a direct
 * {@link ByteBuffer}, the receive descriptor of a card's ring) with the datagram's bytes and its sender. Handed to
 * the receiver in NET_RX softirq context (or with BH disabled, in a threaded instance's kthread or a busy poller)
 * and valid during that call only — unless the receiver {@link #retain() retains} it, in which case it stays the
 * receiver's until {@link #release()}, which any thread may call. The objects are made once per slot when the
 * device opens and reused: receiving allocates none.
 *
 * <p>Implementation notes: {@code length} and {@code sender} are written by the poll (the owner of the queue's
 * NAPI instance) before the receiver is called and read by it in the same thread; a retained slot is published to
 * another thread by whatever the receiver uses to hand it over. {@code held} is the slot's ownership: 0 in the pool
 * or being handed out, 1 retained; {@link #release()} turns it back with a compare-and-set and pushes the slot onto
 * the pool's lock-free stack, whose push publishes the buffer's state to the poll that pops it.
 */
public final class UdpDatagram {
    private static final VarHandle HELD;

    static {
        try {
            HELD = MethodHandles.lookup().findVarHandle(UdpDatagram.class, "held", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final UdpRxQueue queue;
    private final int slot;
    private final ByteBuffer buffer;
    private int length;
    private InetSocketAddress sender;
    /** Set by the poll while the receiver runs; only then may it retain. */
    boolean inCall;
    @SuppressWarnings("unused") // through HELD
    private volatile int held;

    UdpDatagram(UdpRxQueue queue, int slot, ByteBuffer buffer) {
        this.queue = queue;
        this.slot = slot;
        this.buffer = buffer;
    }

    /** Fills the handle for one datagram; the poll's thread, before the receiver runs. */
    void set(int len, InetSocketAddress from) {
        length = len;
        sender = from;
    }

    ByteBuffer buffer() {
        return buffer;
    }

    int slot() {
        return slot;
    }

    boolean retained() {
        return (int) HELD.getVolatile(this) != 0;
    }

    /**
     * The datagram's bytes: the slot's direct buffer with position 0 and limit {@link #length()}. The receiver may
     * read it, move its position or limit and write into it; the poll clears it before the slot's next datagram.
     * Valid during the receiver's call, or until {@link #release()} when retained.
     *
     * @return the pooled buffer, not a copy
     */
    public ByteBuffer data() {
        return buffer;
    }

    /**
     * The datagram's length in bytes (its UDP payload). The receiver's thread.
     *
     * @return 0 to the device's largest datagram
     */
    public int length() {
        return length;
    }

    /**
     * The datagram's sender, as {@link java.nio.channels.DatagramChannel#receive} returned it: the JDK keeps the
     * last sender's address object per channel and returns it again while the sender stays the same, so this is
     * often the same object for many datagrams (immutable; the receiver may keep it). The receiver's thread.
     *
     * @return the source address and port
     */
    public InetSocketAddress sender() {
        return sender;
    }

    /**
     * The receive queue the datagram arrived on. Any thread.
     *
     * @return the queue
     */
    public UdpRxQueue queue() {
        return queue;
    }

    /**
     * Keeps the slot after the receiver returns (the driver's "the stack took the buffer"): the poll will not reuse
     * it until {@link #release()}. While slots are retained the queue has fewer buffers; when none is free a
     * datagram is taken off the socket and dropped, counted in {@link UdpRxQueue#rxMissedErrors()}. Only the
     * receiver, during its call.
     *
     * @throws IllegalStateException outside the receiver's call, or when already retained
     */
    public void retain() {
        if (!inCall) {
            throw new IllegalStateException("retain() of a datagram of " + queue.name()
                    + " outside the receiver's call");
        }
        if (!HELD.compareAndSet(this, 0, 1)) {
            throw new IllegalStateException("retain() of a datagram of " + queue.name() + " that is already retained");
        }
    }

    /**
     * Gives a retained slot back to its queue's pool. Any thread; allocation-free (a compare-and-set and a push
     * onto a lock-free stack).
     *
     * @throws IllegalStateException when the datagram is not retained (never retained, or released already)
     */
    public void release() {
        if (!HELD.compareAndSet(this, 1, 0)) {
            throw new IllegalStateException("release() of a datagram of " + queue.name() + " that is not retained");
        }
        queue.pushFree(slot);
    }

    @Override
    public String toString() {
        return "udp_datagram[" + queue.name() + " slot " + slot + ", " + length + " bytes from " + sender + "]";
    }
}
