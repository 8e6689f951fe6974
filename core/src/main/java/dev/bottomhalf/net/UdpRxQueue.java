package dev.bottomhalf.net;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;

import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;

/**
 * One receive queue of a {@link UdpDevice}: a non-blocking {@link DatagramChannel} (the queue's ring), an interrupt
 * line, a {@link NapiStruct} and a fixed pool of direct buffers. The device's selector thread is the card: it
 * asserts the line when the channel is readable and the queue's interrupt is unmasked; the top half masks it and
 * schedules the NAPI instance; the poll receives at most {@code budget} datagrams into pooled buffers and hands
 * each to the device's {@link UdpDevice.Receiver}; a poll that drained the channel completes the instance and, when
 * {@code napi_complete_done} says so, unmasks the interrupt and wakes the selector. Its counters may be read from
 * any thread; everything else is driven by the device.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>{@code irqState} (kept by {@code SocketRxQueue}, with the counters): the card's interrupt state, one int
 * changed with compare-and-set: {@code ARMED} (unmasked:
 * the selector watches the channel for reading), {@code ASSERTED} (the selector asserted the line and stopped
 * watching, as a message-signalled interrupt is sent once), {@code MASKED} (the top half masked it: NAPI owns the
 * channel). Only the selector thread moves ARMED → ASSERTED; the top half sets MASKED; only the poll (on true from
 * {@code napi_complete_done}) moves MASKED → ARMED, then wakes the selector, which re-enables read interest before
 * its next select — so a datagram that arrived meanwhile is seen (epoll is level-triggered) and none is lost.</li>
 * <li>The selection key's interest set is changed only by the selector thread, from {@code irqState}, before each
 * select.</li>
 * <li>The pool: a lock-free stack of slot indices ({@code freeHead}, {@code freeNext}). Only the poll pops (the
 * owner of the NAPI instance's SCHED bit, so one thread at a time), any thread pushes (the poll, or
 * {@link UdpDatagram#release()}); with a single popper the stack has no ABA problem. The push's compare-and-set
 * publishes the plain {@code freeNext} write and the buffer's contents.</li>
 * <li>Counters: written by one context at a time (the poll, serialised by SCHED; {@code interrupts} by the selector
 * thread), with opaque stores; read racily with opaque loads.</li>
 * </ul>
 */
public final class UdpRxQueue extends SocketRxQueue {
    private static final VarHandle FREE_HEAD;

    static {
        try {
            FREE_HEAD = MethodHandles.lookup().findVarHandle(UdpRxQueue.class, "freeHead", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final int RX_PACKETS = 0;
    private static final int RX_BYTES = 1;
    private static final int RX_DROPPED = 2;
    private static final int RX_MISSED = 3;
    private static final int RX_LENGTH = 4;
    private static final int RX_ERRORS = 5;
    private static final int RECEIVER_OOPSES = 6;

    private final UdpDevice device;
    final DatagramChannel channel;
    SelectionKey key;
    private final int maxDatagram;
    private final UdpDatagram[] slots;
    private final int[] freeNext;
    /** Receives a datagram when no slot is free, to take it off the socket and drop it. */
    private final ByteBuffer scratch;
    private final UdpDevice.Receiver receiver;
    private final Reports reports;
    private final RateLimiter oopses;
    /** Counters, indexed by the constants above; see the class notes. */
    @SuppressWarnings("unused") // through FREE_HEAD
    private volatile int freeHead;

    UdpRxQueue(UdpDevice device, int index, int irq, int cpu, DatagramChannel channel, int buffers, int maxDatagram,
               UdpDevice.Receiver receiver, Napi napis, RateLimiter oopses) {
        super(device.name(), index, irq, cpu, napis);
        this.device = device;
        this.channel = channel;
        this.maxDatagram = maxDatagram;
        this.receiver = receiver;
        this.reports = napis.reports();
        this.oopses = oopses;
        this.slots = new UdpDatagram[buffers];
        this.freeNext = new int[buffers];
        // One byte more than the largest datagram: a datagram that fills it was longer and got truncated.
        ByteBuffer block = ByteBuffer.allocateDirect((buffers + 1) * (maxDatagram + 1));
        for (int i = 0; i < buffers; i++) {
            ByteBuffer b = block.slice(i * (maxDatagram + 1), maxDatagram + 1);
            slots[i] = new UdpDatagram(this, i, b);
            freeNext[i] = i + 1 < buffers ? i + 1 : -1;
        }
        this.scratch = block.slice(buffers * (maxDatagram + 1), maxDatagram + 1);
        FREE_HEAD.setVolatile(this, 0);
    }

    // ------------------------------------------------------------------------------------------
    // Identity
    // ------------------------------------------------------------------------------------------

    /**
     * The device the queue belongs to. Any thread.
     *
     * @return the device
     */
    public UdpDevice device() {
        return device;
    }

    /**
     * The address the queue's channel is bound to (every queue of a device shares it). Any thread.
     *
     * @return the local address, or null once the channel is closed
     */
    public InetSocketAddress localAddress() {
        try {
            return (InetSocketAddress) channel.getLocalAddress();
        } catch (IOException e) {
            return null;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Counters
    // ------------------------------------------------------------------------------------------


    /**
     * {@code rx_packets}: datagrams the receiver accepted. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxPackets() {
        return get(RX_PACKETS);
    }

    /**
     * {@code rx_bytes}: the bytes of the datagrams the receiver accepted. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxBytes() {
        return get(RX_BYTES);
    }

    /**
     * {@code rx_dropped}: datagrams the receiver refused (returned false) or threw on. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxDropped() {
        return get(RX_DROPPED);
    }

    /**
     * {@code rx_missed_errors}: datagrams taken off the socket and dropped because every buffer of the pool was
     * retained (a card with no free receive descriptor). Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxMissedErrors() {
        return get(RX_MISSED);
    }

    /**
     * {@code rx_length_errors}: datagrams longer than the device's largest datagram, dropped (the socket truncated
     * them). Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxLengthErrors() {
        return get(RX_LENGTH);
    }

    /**
     * {@code rx_errors}: receives that failed with an I/O error (each reported). Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long rxErrors() {
        return get(RX_ERRORS);
    }

    /**
     * The receiver's exceptions: each reported as an oops (rate-limited per queue) and counted in
     * {@link #rxDropped()} too. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long receiverOopses() {
        return get(RECEIVER_OOPSES);
    }

    /**
     * The interrupts the card raised: how many times the selector thread asserted the queue's line. Under load NAPI
     * keeps polling with the interrupt masked, so this grows more slowly than {@link #rxPackets()}. Any thread; a
     * snapshot.
     *
     * @return the count since the device opened
     */
    public long interrupts() {
        return get(INTERRUPTS);
    }

    /**
     * The polls ({@code napi->poll} calls) of the queue's NAPI instance: one per interrupt when traffic is light,
     * several per interrupt while the instance stays scheduled under load. Any thread; a snapshot.
     *
     * @return the count since the device opened
     */
    public long polls() {
        return get(POLLS);
    }

    /**
     * How many buffers of the pool are free (not retained by the receiver). Any thread; a snapshot, walked
     * without a lock, so only exact when nothing is being received or released.
     *
     * @return 0 to the pool's size
     */
    public int freeBuffers() {
        int n = 0;
        for (UdpDatagram d : slots) {
            if (!d.retained()) {
                n++;
            }
        }
        return n;
    }


    // ------------------------------------------------------------------------------------------
    // The card (selector thread)
    // ------------------------------------------------------------------------------------------



    // ------------------------------------------------------------------------------------------
    // The driver: top half and poll
    // ------------------------------------------------------------------------------------------


    /**
     * The poll ({@code napi->poll}), NET_RX softirq context (or BH disabled in a kthread or busy poller): receives
     * at most {@code budget} datagrams and hands them to the receiver; completes and unmasks when the channel ran
     * dry first.
     */
    @Override
    int poll(NapiStruct n, int budget) {
        add(POLLS, 1);
        int work = 0;
        while (work < budget) {
            int slot = popFree();
            ByteBuffer buf = slot >= 0 ? slots[slot].buffer() : scratch;
            buf.clear();
            SocketAddress from;
            try {
                from = channel.receive(buf);
            } catch (ClosedChannelException e) {
                pushIfTaken(slot);
                break; // the kernel's close closed it: nothing more to receive
            } catch (IOException e) {
                pushIfTaken(slot);
                add(RX_ERRORS, 1);
                reports.printk(KernelEvent.Kind.ERR, name + ": receive failed: " + e, e);
                break;
            }
            if (from == null) {
                pushIfTaken(slot);
                break; // drained
            }
            work++;
            int len = buf.position();
            if (slot < 0) {
                add(RX_MISSED, 1);
                continue;
            }
            if (len > maxDatagram) {
                add(RX_LENGTH, 1);
                pushFree(slot);
                continue;
            }
            buf.flip();
            deliver(slots[slot], len, (InetSocketAddress) from);
        }
        if (work < budget && napis.completeDone(n, work)) {
            unmask();
        }
        return work;
    }

    private void deliver(UdpDatagram d, int len, InetSocketAddress from) {
        d.set(len, from);
        boolean accepted;
        d.inCall = true;
        try {
            accepted = receiver.receive(d);
        } catch (Throwable e) {
            add(RECEIVER_OOPSES, 1);
            accepted = false;
            // Rate-limited per queue; a fatal error panics the kernel (and is rethrown to the poll's oops).
            oopses.oops(this, this, q -> "udp receiver of " + q.name, e);
        } finally {
            d.inCall = false;
        }
        if (accepted) {
            add(RX_PACKETS, 1);
            add(RX_BYTES, len);
        } else {
            add(RX_DROPPED, 1);
        }
        if (!d.retained()) {
            pushFree(d.slot());
        }
    }

    @Override
    void wakeCard() {
        device.wakeCard();
    }

    // ------------------------------------------------------------------------------------------
    // The pool
    // ------------------------------------------------------------------------------------------

    /** Pops a free slot, or -1. Only the poll (one thread at a time). */
    private int popFree() {
        for (;;) {
            int head = (int) FREE_HEAD.getVolatile(this);
            if (head < 0) {
                return -1;
            }
            if (FREE_HEAD.compareAndSet(this, head, freeNext[head])) {
                return head;
            }
        }
    }

    private void pushIfTaken(int slot) {
        if (slot >= 0) {
            pushFree(slot);
        }
    }

    /** Pushes a slot back. Any thread. */
    void pushFree(int slot) {
        for (;;) {
            int head = (int) FREE_HEAD.getVolatile(this);
            freeNext[slot] = head;
            if (FREE_HEAD.compareAndSet(this, head, slot)) {
                return;
            }
        }
    }

    @Override
    public String toString() {
        String[] states = {"ARMED", "ASSERTED", "MASKED"};
        return "udp_rx_queue[" + name + " irq " + irq + " cpu " + cpu + " " + states[irqState()]
                + "]";
    }
}
