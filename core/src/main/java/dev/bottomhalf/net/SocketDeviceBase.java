package dev.bottomhalf.net;

import java.util.ArrayList;
import java.util.List;

import dev.bottomhalf.irq.IrqController;

/**
 * The life of a socket-backed device ({@link UdpDevice}, {@link TcpDevice}): its identity, its queues, the card
 * thread, {@code ndo_open} and {@code ndo_stop}, and the hooks the kernel's close calls ({@link SocketDevice}).
 * Each device adds its sockets, its card's loop and how the card is stopped and its sockets closed. Package-private:
 * users see the concrete devices.
 *
 * <p>Implementation notes: the queues and sockets are made by the builder's {@code open()} and closed once, by
 * {@link #close()} or by the kernel's close, whichever comes first ({@code closed} is guarded by this object).
 * {@code running} is the card's stop flag (volatile); {@code card} is set once when the device opens.
 *
 * @param <Q> the device's receive queue
 */
abstract sealed class SocketDeviceBase<Q extends SocketRxQueue> implements AutoCloseable
        permits UdpDevice, TcpDevice {
    final String name;
    final NetDevice netDevice;
    final Napi napi;
    final IrqController irqs;
    final List<Q> queues = new ArrayList<>();
    /** The card's stop flag: cleared once, by {@link #stopCardForClose}. */
    volatile boolean running = true;
    /** The card thread, from {@link #start} on. */
    volatile Thread card;
    private boolean closed; // guarded by this
    /** What the kernel's close calls, kept by {@link Napi} while the device is open. */
    final SocketDevice forClose = new SocketDevice() {
        @Override
        public void stopCardForClose() {
            SocketDeviceBase.this.stopCardForClose();
        }

        @Override
        public void stopAndJoinCardForClose() {
            SocketDeviceBase.this.stopCardForClose();
            joinCard();
        }

        @Override
        public void releaseForClose() {
            synchronized (SocketDeviceBase.this) {
                closed = true;
            }
            SocketDeviceBase.this.stopCardForClose();
            joinCard();
            closeChannels();
        }
    };

    SocketDeviceBase(SocketDeviceBuilder<?> b) {
        this.name = b.name;
        this.netDevice = b.netDevice();
        this.napi = b.napi;
        this.irqs = b.irqs;
    }

    /** Tells the card to stop (clears {@link #running} and wakes it); any thread, does not wait. */
    abstract void stopCardForClose();

    /** Closes the device's sockets and selectors (the port is free again); the card has stopped. */
    abstract void closeChannels();

    /** The card's loop; it runs on the card thread until {@link #running} is cleared or the kernel refuses. */
    abstract void runCard();

    /**
     * {@code ndo_open}: NAPI instances added and enabled, lines requested and routed, the card thread
     * ({@code <prefix>/<name>}) started. On a failure nothing is left open.
     */
    final void start(int weight, String cardPrefix) {
        try {
            SocketRxQueue.openAll(napi, irqs, netDevice, queues, weight);
        } catch (RuntimeException e) {
            closeChannels();
            throw e;
        }
        napi.attachDevice(forClose);
        card = Thread.ofPlatform().daemon().name(cardPrefix + "/" + name).start(this::runCard);
    }

    /** Waits for the card thread to end (not from the card itself); keeps an interrupt for the caller. */
    final void joinCard() {
        Thread t = card;
        if (t == null || t == Thread.currentThread()) {
            return;
        }
        boolean interrupted = false;
        for (;;) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@code ndo_stop}: stops the card (no more interrupts; a TCP device accepts no more connections), disables each
     * queue's NAPI instance ({@code napi_disable}: waits for a poll under way), frees its line ({@code free_irq}),
     * deletes the instance, and closes the sockets — a TCP device's open connections without its receiver's
     * {@code disconnected} — so the port is free again. What is still in the sockets is discarded. After the kernel's
     * close (which stops the card and closes the sockets itself) only the remaining resources are released.
     * Idempotent. Process context: not from the receiver, which would wait for its own poll.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        stopCardForClose();
        joinCard();
        try {
            for (Q q : queues) {
                if (napi.kernelClosing()) {
                    break;
                }
                napi.disable(q.napi());
                irqs.free(q.irq(), q);
                napi.del(q.napi());
            }
        } catch (IllegalStateException e) {
            // The kernel began to close meanwhile: its close releases what is left.
        } finally {
            closeChannels();
            napi.detachDevice(forClose);
        }
    }

    /**
     * Whether {@link #close()} (or the kernel's close) has begun. Any thread.
     *
     * @return true once closed
     */
    public synchronized boolean isClosed() {
        return closed;
    }

    /**
     * The interface name. Any thread.
     *
     * @return the name given to the builder
     */
    public String name() {
        return name;
    }

    /**
     * The device as NAPI sees it ({@code struct net_device}), for {@code dev_set_threaded} and IRQ deferral. Any
     * thread.
     *
     * @return the net device whose NAPI instances are the queues'
     */
    public NetDevice netDevice() {
        return netDevice;
    }
}
