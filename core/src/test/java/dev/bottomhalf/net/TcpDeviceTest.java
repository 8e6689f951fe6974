package dev.bottomhalf.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/**
 * {@link TcpDevice} on a real listener bound to 127.0.0.1: the card accepts and spreads the connections over the
 * queues and asserts a queue's line when one of its connections is readable (or newly accepted), the top half masks
 * and schedules NAPI, the poll tells the receiver of new connections, reads the readable ones in turn in NET_RX and
 * unmasks when they ran dry. Clients are plain blocking {@link SocketChannel}s, each on its own thread; every wait is
 * a semaphore or a condition with a generous bound, never a sleep.
 */
class TcpDeviceTest {
    private static final long TIMEOUT_S = 30;
    private static final int LINE = 50;
    private static final int MB = 1 << 20;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /** Byte {@code i} of client {@code k}'s stream (after its 4-byte id): differs by client and offset. */
    static byte pattern(int k, long i) {
        return (byte) (k * 131 + i + (i >>> 11) * 7);
    }

    /** One connection's reassembly: its id (the first 4 bytes), the bytes checked so far, what went wrong. */
    static final class Stream {
        final TcpConnection connection;
        int header;
        int headerBytes;
        long offset;
        long mismatches;
        String firstMismatch;
        int disconnects;

        Stream(TcpConnection connection) {
            this.connection = connection;
        }

        int id() {
            return header;
        }
    }

    /**
     * The receiver of the stream tests: checks the context of every call, reassembles each connection's stream and
     * checks every byte against {@link #pattern}; a permit per disconnect.
     */
    static final class Reassembler implements TcpDevice.Receiver {
        final List<Stream> streams = new CopyOnWriteArrayList<>();
        final List<String> wrong = new CopyOnWriteArrayList<>();
        final Semaphore disconnected = new Semaphore(0);

        private void checkContext(TcpConnection c, String call) {
            ExecutionContext ctx = ExecutionContext.currentOrNull();
            if (ctx == null || !ctx.inServingSoftirq() || ctx.cpuId() != c.queue().cpu()) {
                wrong.add(call + " on " + Thread.currentThread().getName() + " " + ctx + " for " + c);
            }
        }

        @Override
        public void connected(TcpConnection c) {
            checkContext(c, "connected");
            if (c.attachment() != null) {
                wrong.add("connected twice: " + c);
            }
            Stream s = new Stream(c);
            c.attach(s);
            streams.add(s);
        }

        @Override
        public boolean receive(TcpConnection c, ByteBuffer data) {
            checkContext(c, "receive");
            Stream s = (Stream) c.attachment();
            if (s == null || s.disconnects > 0) {
                wrong.add("receive outside connected..disconnected: " + c);
                return true;
            }
            if (data.position() != 0 || data.limit() == 0) {
                wrong.add("buffer " + data + " for " + c);
            }
            for (int i = 0, n = data.limit(); i < n; i++) {
                byte b = data.get(i);
                if (s.headerBytes < 4) {
                    s.header = s.header << 8 | (b & 0xff);
                    s.headerBytes++;
                } else {
                    if (b != pattern(s.header, s.offset) && s.mismatches++ == 0) {
                        s.firstMismatch = "client " + s.header + " byte " + s.offset + ": " + b + ", expected "
                                + pattern(s.header, s.offset);
                    }
                    s.offset++;
                }
            }
            return true;
        }

        @Override
        public void disconnected(TcpConnection c) {
            checkContext(c, "disconnected");
            Stream s = (Stream) c.attachment();
            if (s == null) {
                wrong.add("disconnected without connected: " + c);
                return;
            }
            s.disconnects++;
            disconnected.release();
        }

        /** Each of {@code clients} sent its {@code bytes} once, whole and in order; connected and ended once. */
        void assertStreams(int clients, long bytes) {
            assertEquals(List.of(), wrong);
            assertEquals(clients, streams.size(), "connections");
            boolean[] seen = new boolean[clients];
            for (Stream s : streams) {
                assertTrue(s.id() >= 0 && s.id() < clients && !seen[s.id()], "client id " + s.id() + " once");
                seen[s.id()] = true;
                assertEquals(0, s.mismatches, s.firstMismatch);
                assertEquals(bytes, s.offset, "client " + s.id() + "'s bytes");
                assertEquals(1, s.disconnects, "client " + s.id() + " disconnected once");
                assertEquals(bytes + 4, s.connection.rxBytes());
                assertFalse(s.connection.isOpen());
            }
        }
    }

    /** A client thread: connects, sends its id and {@code bytes} of its pattern, closes. */
    private static Thread client(InetSocketAddress to, int k, long bytes, List<Throwable> failures) {
        return Thread.ofPlatform().name("client-" + k).start(() -> {
            try (SocketChannel ch = SocketChannel.open(to)) {
                ByteBuffer b = ByteBuffer.allocate(64 * 1024);
                b.putInt(k);
                long i = 0;
                while (i < bytes || b.position() > 0) {
                    while (b.hasRemaining() && i < bytes) {
                        b.put(pattern(k, i++));
                    }
                    b.flip();
                    ch.write(b);
                    b.compact();
                }
            } catch (Throwable e) {
                failures.add(e);
            }
        });
    }

    private static void join(List<Thread> threads) throws InterruptedException {
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
            assertFalse(t.isAlive(), t.getName() + " did not finish");
        }
    }

    private static void awaitTrue(BooleanSupplier condition, String what) {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() - giveUp < 0, "never: " + what);
            Thread.onSpinWait();
        }
    }

    private static void acquire(Semaphore s, int permits, String what) throws InterruptedException {
        assertTrue(s.tryAcquire(permits, TIMEOUT_S, TimeUnit.SECONDS), what + ": " + s.availablePermits() + " of "
                + permits);
    }

    /** Reads from a client channel until the device's side is closed: -1, or a reset. */
    private static boolean endsAfterServerClose(SocketChannel ch) {
        ByteBuffer b = ByteBuffer.allocate(64);
        try {
            for (;;) {
                int n = ch.read(b);
                if (n < 0) {
                    return true;
                }
                b.clear();
            }
        } catch (IOException e) {
            return true; // reset
        }
    }

    @Test
    void eightClients_twoQueues_everyByteOnceInOrder_connectedAndDisconnectedOnce_inSoftirqOnTheQueuesCpu()
            throws Exception {
        Kernel kernel = kernels.kernel();
        Reassembler r = new Reassembler();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").queues(2).irq(LINE).cpus(0, 1)
                .receiver(r).open();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<Thread> clients = new ArrayList<>();
        for (int k = 0; k < 8; k++) {
            clients.add(client(dev.localAddress(), k, MB, failures));
        }
        join(clients);
        assertEquals(List.of(), failures);
        acquire(r.disconnected, 8, "connections ended");
        r.assertStreams(8, MB);
        for (TcpRxQueue q : dev.queues()) {
            assertEquals(4, q.connectionsAccepted(), q + ": round-robin");
            assertEquals(4, q.connectionsClosed(), q.toString());
            assertEquals(q.interrupts(), kernel.irqs().count(q.irq(), q.cpu()), q + ": its interrupts on its CPU");
            System.out.println("TcpDeviceTest 8 x 1 MB: " + q.name() + " " + q.reads() + " reads, " + q.polls()
                    + " polls, " + q.interrupts() + " interrupts");
        }
        assertEquals(8L * (MB + 4), dev.rxBytes());
        assertEquals(8, dev.connectionsAccepted());
        assertEquals(0, dev.receiverOopses() + dev.receiverCloses() + dev.rxErrors());
        assertTrue(dev.interrupts() < dev.reads(), dev.interrupts() + " interrupts for " + dev.reads() + " reads");
        dev.close();
        kernel.close();
        assertEquals(dev.reads(), kernel.napi().processed(0) + kernel.napi().processed(1),
                "NAPI's work is the reads");
    }

    @Test
    void threadedDevice_everyCallInTheQueuesNapiKthread_withBhDisabled() throws Exception {
        Kernel kernel = kernels.kernel();
        List<String> wrong = new CopyOnWriteArrayList<>();
        AtomicLong bytes = new AtomicLong();
        Semaphore ended = new Semaphore(0);
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).cpus(1)
                .receiver(new TcpDevice.Receiver() {
                    private void check(TcpConnection c) {
                        ExecutionContext ctx = ExecutionContext.currentOrNull();
                        String t = Thread.currentThread().getName();
                        if (ctx == null || !ctx.inSoftirq() || ctx.inServingSoftirq()
                                || !t.equals("napi/tcp0-" + c.queue().napi().napiId())) {
                            wrong.add(t + " " + ctx);
                        }
                    }

                    @Override
                    public void connected(TcpConnection c) {
                        check(c);
                    }

                    @Override
                    public boolean receive(TcpConnection c, ByteBuffer data) {
                        check(c);
                        bytes.addAndGet(data.limit());
                        return true;
                    }

                    @Override
                    public void disconnected(TcpConnection c) {
                        check(c);
                        ended.release();
                    }
                }).open();
        kernel.napi().setThreaded(dev.netDevice(), true);
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        join(List.of(client(dev.localAddress(), 0, 256 * 1024, failures),
                client(dev.localAddress(), 1, 256 * 1024, failures)));
        assertEquals(List.of(), failures);
        acquire(ended, 2, "both connections ended");
        assertEquals(2L * (256 * 1024 + 4), bytes.get());
        assertEquals(List.of(), wrong);
        dev.close();
        assertNull(dev.queues().getFirst().napi().thread(), "netif_napi_del stopped the kthread");
    }

    /**
     * One client sends without pause, so its queue's poll keeps using its whole budget and the interrupt stays
     * masked (the card no longer watches the queue's connections); a second client's small message still arrives,
     * because the poll learns from its own selector which connections are readable and reads them in turn.
     */
    @Test
    void floodingClient_doesNotStarve_aSecondClientsSmallMessage() throws Exception {
        Kernel kernel = kernels.kernel();
        AtomicLong flooded = new AtomicLong();
        Semaphore message = new Semaphore(0);
        Semaphore ended = new Semaphore(0);
        StringBuilder got = new StringBuilder();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).cpus(1)
                .receiver(new TcpDevice.Receiver() {
                    @Override
                    public boolean receive(TcpConnection c, ByteBuffer data) {
                        if (c.id() == 1) {
                            // A slow consumer of the flood: the poll stays behind the sender, every read of the
                            // flooding connection is a full one, and the poll keeps using its whole budget.
                            long until = System.nanoTime() + 20_000;
                            while (System.nanoTime() - until < 0) {
                                Thread.onSpinWait();
                            }
                            flooded.setRelease(flooded.getPlain() + data.limit());
                        } else {
                            for (int i = 0; i < data.limit(); i++) {
                                got.append((char) data.get(i));
                            }
                            if (got.toString().endsWith("\n")) {
                                message.release();
                            }
                        }
                        return true;
                    }

                    @Override
                    public void disconnected(TcpConnection c) {
                        ended.release();
                    }
                }).open();
        AtomicBoolean stop = new AtomicBoolean();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        AtomicLong sent = new AtomicLong();
        Thread flood = Thread.ofPlatform().name("flood").start(() -> {
            try (SocketChannel ch = SocketChannel.open(dev.localAddress())) {
                ByteBuffer b = ByteBuffer.allocateDirect(256 * 1024);
                while (!stop.get()) {
                    b.clear();
                    sent.addAndGet(ch.write(b));
                }
            } catch (Throwable e) {
                failures.add(e);
            }
        });
        awaitTrue(() -> flooded.getAcquire() > 4L * MB, "the flood reaches the receiver: " + flooded.get());
        long floodedBefore = flooded.getAcquire();
        long pollsBefore = dev.polls();
        try (SocketChannel second = SocketChannel.open(dev.localAddress())) {
            second.write(ByteBuffer.wrap("hello from the second client\n".getBytes(StandardCharsets.US_ASCII)));
            acquire(message, 1, "the second client's message while the flood goes on");
            assertTrue(flood.isAlive() && !stop.get(), "the flood was still going");
        }
        long floodedMeanwhile = flooded.getAcquire() - floodedBefore;
        TcpRxQueue q = dev.queues().getFirst();
        System.out.println("TcpDeviceTest flood: " + floodedMeanwhile + " flood bytes and " + (dev.polls()
                - pollsBefore) + " polls until the second client's message; in all " + q.reads() + " reads, "
                + q.polls() + " polls, " + q.interrupts() + " interrupts");
        assertEquals("hello from the second client\n", got.toString());
        stop.set(true);
        flood.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(flood.isAlive());
        assertEquals(List.of(), failures);
        acquire(ended, 2, "both connections ended");
        assertEquals(sent.get(), flooded.get(), "every flood byte received");
        assertEquals(sent.get() + 29, dev.rxBytes());
        dev.close();
    }

    /**
     * The round-robin, deterministically: while the poll is held inside the receiver, one connection gets a backlog of
     * 32 reads and a second one a short message; with weight 4 the message is read in the next poll, after at most
     * a few of the first connection's reads — not after its whole backlog, as a poll that kept reading the busy
     * connection would.
     */
    @Test
    void connectionWithABacklog_isReadInTurn_withANewConnectionsMessage() throws Exception {
        Kernel kernel = kernels.kernel();
        Semaphore inReceiver = new Semaphore(0);
        Semaphore proceed = new Semaphore(0);
        Semaphore message = new Semaphore(0);
        AtomicLong firstBytes = new AtomicLong();
        AtomicLong firstBytesAtMessage = new AtomicLong(-1);
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).cpus(1).weight(4)
                .readBytes(1024).receiver((c, data) -> {
                    if (c.id() == 1) {
                        if (c.reads() == 1) {
                            inReceiver.release();
                            proceed.acquireUninterruptibly();   // the poll holds the queue: its interrupt stays masked
                        }
                        firstBytes.addAndGet(data.limit());
                    } else if (data.get(data.limit() - 1) == '\n') {
                        firstBytesAtMessage.set(firstBytes.get());
                        message.release();
                    }
                    return true;
                }).open();
        try (SocketChannel first = SocketChannel.open(dev.localAddress())) {
            first.write(ByteBuffer.allocate(1));
            acquire(inReceiver, 1, "the first byte reached the receiver");
            first.write(ByteBuffer.allocate(32 * 1024));                  // fits the initial window: in the socket
            try (SocketChannel second = SocketChannel.open(dev.localAddress())) {
                second.write(ByteBuffer.wrap("hi\n".getBytes(StandardCharsets.US_ASCII)));
                awaitTrue(() -> dev.connectionsAccepted() == 2, "the card accepted the second connection");
                proceed.release();
                acquire(message, 1, "the second connection's message");
                awaitTrue(() -> firstBytes.get() == 32 * 1024 + 1, "the first connection's backlog");
            }
        }
        System.out.println("TcpDeviceTest round-robin: the message after " + firstBytesAtMessage.get()
                + " of the first connection's 32769 bytes");
        assertTrue(firstBytesAtMessage.get() <= 8 * 1024 + 1, firstBytesAtMessage.get() + " bytes of the first"
                + " connection read before the second's message: more than two polls of weight 4");
        dev.close();
    }

    @Test
    void receiverThrows_reportedAsOops_closesThatConnection_andTheDeviceGoesOn() throws Exception {
        Kernel kernel = kernels.kernel();
        kernels.reports().expect("Oops: tcp receiver of tcp0-rx-0 threw java.lang.IllegalArgumentException: bad X");
        List<String> accepted = new CopyOnWriteArrayList<>();
        Semaphore calls = new Semaphore(0);
        Semaphore ended = new Semaphore(0);
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE)
                .receiver(new TcpDevice.Receiver() {
                    @Override
                    public boolean receive(TcpConnection c, ByteBuffer data) {
                        try {
                            if (data.get(0) == 'X') {
                                throw new IllegalArgumentException("bad X");
                            }
                            accepted.add(StandardCharsets.US_ASCII.decode(data).toString());
                            return true;
                        } finally {
                            calls.release();
                        }
                    }

                    @Override
                    public void disconnected(TcpConnection c) {
                        ended.release();
                    }
                }).open();
        try (SocketChannel bad = SocketChannel.open(dev.localAddress());
             SocketChannel good = SocketChannel.open(dev.localAddress())) {
            bad.write(ByteBuffer.wrap("X".getBytes(StandardCharsets.US_ASCII)));
            acquire(calls, 1, "the bad byte reached the receiver");
            acquire(ended, 1, "the connection it threw on is closed");
            assertTrue(endsAfterServerClose(bad), "the client sees its connection end");
            good.write(ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)));
            acquire(calls, 1, "the other connection still receives");
            assertEquals(List.of("ok"), accepted);
            TcpRxQueue q = dev.queues().getFirst();
            assertEquals(1, q.receiverOopses());
            assertEquals(1, q.connectionsClosed());
            assertEquals(0, q.receiverCloses());
            assertEquals(1, kernels.reports().matching("Oops: tcp receiver of tcp0-rx-0 threw").size());
        }
        dev.close();
    }

    @Test
    void receiveReturningFalse_closesThatConnection_counted() throws Exception {
        Kernel kernel = kernels.kernel();
        Semaphore ended = new Semaphore(0);
        List<Long> endedIds = new CopyOnWriteArrayList<>();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE)
                .receiver(new TcpDevice.Receiver() {
                    @Override
                    public boolean receive(TcpConnection c, ByteBuffer data) {
                        return data.get(data.limit() - 1) != '.';   // a line ending in '.' asks to hang up
                    }

                    @Override
                    public void disconnected(TcpConnection c) {
                        endedIds.add(c.id());
                        ended.release();
                    }
                }).open();
        try (SocketChannel first = SocketChannel.open(dev.localAddress());
             SocketChannel second = SocketChannel.open(dev.localAddress())) {
            awaitTrue(() -> dev.connectionsAccepted() == 2, "both accepted");
            second.write(ByteBuffer.wrap("bye.".getBytes(StandardCharsets.US_ASCII)));
            acquire(ended, 1, "the receiver closed the second connection");
            assertEquals(List.of(2L), endedIds);
            assertTrue(endsAfterServerClose(second), "the client sees its connection end");
            assertEquals(1, dev.receiverCloses());
            assertEquals(1, dev.connectionsClosed());
            assertEquals(4, dev.rxBytes());
            first.write(ByteBuffer.wrap("still here".getBytes(StandardCharsets.US_ASCII)));
            awaitTrue(() -> dev.rxBytes() == 14, "the first connection still receives");
        }
        acquire(ended, 1, "the first client's close ends its connection");
        assertEquals(1, dev.receiverCloses());
        assertEquals(2, dev.connectionsClosed());
        dev.close();
    }

    @Test
    void close_releasesThePort_freesTheLines_stopsTheThread_andClosesTheConnections() throws Exception {
        Kernel kernel = kernels.kernel();
        Reassembler r = new Reassembler();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").queues(2).irq(LINE).receiver(r)
                .open();
        InetSocketAddress address = dev.localAddress();
        try (SocketChannel a = SocketChannel.open(address); SocketChannel b = SocketChannel.open(address)) {
            awaitTrue(() -> r.streams.size() == 2, "both connected");
            Thread card = dev.cardThread();
            assertTrue(card.isAlive());
            assertEquals(List.of("tcp0-rx-0"), kernel.irqs().actionNames(LINE));
            assertEquals(List.of("tcp0-rx-1"), kernel.irqs().actionNames(LINE + 1));
            dev.close();
            assertFalse(card.isAlive(), "the card thread stopped");
            assertEquals(List.of(), kernel.irqs().actionNames(LINE));
            assertEquals(List.of(), kernel.irqs().actionNames(LINE + 1));
            assertEquals(List.of(), dev.netDevice().napis());
            assertTrue(dev.isClosed());
            assertNull(dev.localAddress());
            assertTrue(endsAfterServerClose(a) && endsAfterServerClose(b), "the connections are closed");
            assertEquals(0, r.disconnected.availablePermits(), "no disconnected() after napi_disable");
        }
        try (ServerSocketChannel again = ServerSocketChannel.open()) {
            again.bind(address);     // fails while the device's listener is still bound
            assertEquals(address, again.getLocalAddress());
        }
        dev.close();                 // idempotent
    }

    @Test
    void kernelClose_withoutTheDevicesClose_stopsTheThread_andClosesTheChannels() throws Exception {
        Kernel kernel = kernels.kernel();
        Reassembler r = new Reassembler();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).receiver(r).open();
        InetSocketAddress address = dev.localAddress();
        try (SocketChannel a = SocketChannel.open(address)) {
            a.write(ByteBuffer.allocate(4).putInt(0, 0));
            awaitTrue(() -> dev.rxBytes() == 4, "the id received");
            Thread card = dev.cardThread();
            kernel.close();
            assertFalse(card.isAlive(), "the kernel's close stopped the card thread");
            assertTrue(dev.isClosed());
            assertTrue(endsAfterServerClose(a), "the kernel's close closed the connection");
        }
        try (ServerSocketChannel again = ServerSocketChannel.open()) {
            again.bind(address);
        }
        dev.close();                 // only what is left: nothing
        assertEquals(List.of(), r.wrong);
    }

    @Test
    void irqDeferral_everyByteReceived_withFewerInterruptsThanReads() throws Exception {
        Kernel kernel = kernels.kernel();
        Reassembler r = new Reassembler();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).cpus(1)
                .deferHardIrqs(2, Duration.ofMillis(1)).receiver(r).open();
        assertEquals(2, dev.netDevice().napiDeferHardIrqs());
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<Thread> clients = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            clients.add(client(dev.localAddress(), k, MB, failures));
        }
        join(clients);
        assertEquals(List.of(), failures);
        acquire(r.disconnected, 4, "connections ended");
        r.assertStreams(4, MB);
        TcpRxQueue q = dev.queues().getFirst();
        awaitTrue(() -> !q.interruptMasked(), "the last deferred poll unmasks the interrupt");
        System.out.println("TcpDeviceTest deferral: 4 x 1 MB, " + q.reads() + " reads, " + q.polls() + " polls, "
                + q.interrupts() + " interrupts");
        assertTrue(q.interrupts() >= 1);
        assertTrue(q.interrupts() < q.reads(), q.interrupts() + " interrupts for " + q.reads() + " reads");
        // An interrupt whose poll read something is followed by two timer polls (an accept's alone, which reads
        // nothing, by none): more polls than interrupts.
        assertTrue(q.polls() > q.interrupts(), q.polls() + " polls for " + q.interrupts() + " interrupts");
        dev.close();
    }

    /**
     * What the receive path allocates per read, measured on the threads that run it ({@code cpu/1} and
     * {@code ksoftirqd/1}: top half, NET_RX, the poll's {@code selectNow} and {@code read} into the queue's direct
     * buffer) after a warm-up; printed, and asserted below one byte per read.
     */
    @Test
    void receivePath_allocatesNothingPerRead() throws Exception {
        Kernel kernel = kernels.kernel();
        AtomicLong received = new AtomicLong();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).cpus(1)
                .receiver((c, data) -> {
                    received.setRelease(received.getPlain() + data.limit()); // one poll at a time: a single writer
                    return true;
                }).open();
        List<Thread> cpuSide = KernelExtension.runtimeThreads(kernel).stream()
                .filter(t -> t.getName().endsWith("/1")).toList();
        assertEquals(2, cpuSide.size(), cpuSide.toString());
        try (SocketChannel ch = SocketChannel.open(dev.localAddress())) {
            ByteBuffer b = ByteBuffer.allocateDirect(64 * 1024);
            pump(ch, b, 32L * MB, received);                      // warm-up
            long before = allocatedBytes(cpuSide.get(0).threadId()) + allocatedBytes(cpuSide.get(1).threadId());
            long cardBefore = allocatedBytes(dev.cardThread().threadId());
            long readsBefore = dev.reads();
            long interruptsBefore = dev.interrupts();
            long startNs = System.nanoTime();
            pump(ch, b, 128L * MB, received);
            long elapsedNs = System.nanoTime() - startNs;
            long cpuBytes = allocatedBytes(cpuSide.get(0).threadId()) + allocatedBytes(cpuSide.get(1).threadId())
                    - before;
            long cardBytes = allocatedBytes(dev.cardThread().threadId()) - cardBefore;
            long reads = dev.reads() - readsBefore;
            long interrupts = dev.interrupts() - interruptsBefore;
            System.out.printf("TcpDeviceTest allocation: 128 MB in %.1f ms (%.0f MB/s), %d reads (%.0f B each), %d"
                    + " interrupts; cpu/1+ksoftirqd/1 %d B (%.3f B/read); card %d B (%.1f B/interrupt)%n",
                    elapsedNs / 1e6, 128 * 1e9 / elapsedNs, reads, 128.0 * MB / reads, interrupts, cpuBytes,
                    (double) cpuBytes / reads, cardBytes, interrupts == 0 ? 0.0 : (double) cardBytes / interrupts);
            assertTrue(cpuBytes < reads, cpuBytes + " B on the CPU side for " + reads + " reads: at least one"
                    + " allocation per read");
        }
        dev.close();
    }

    /** Writes {@code bytes} on {@code ch} and waits until the receiver has them all. */
    private static void pump(SocketChannel ch, ByteBuffer b, long bytes, AtomicLong received) throws IOException {
        long want = received.getAcquire() + bytes;
        for (long left = bytes; left > 0; ) {
            b.clear();
            b.limit((int) Math.min(b.capacity(), left));
            while (b.hasRemaining()) {
                left -= ch.write(b);
            }
        }
        awaitTrue(() -> received.getAcquire() == want, "bytes received: " + received.get() + " of " + want);
    }

    /** {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes(threadId)} (through reflection). */
    private static long allocatedBytes(long threadId) throws ReflectiveOperationException {
        java.lang.reflect.Method m = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(java.lang.management.ManagementFactory.getThreadMXBean(), threadId);
    }

    @Test
    void open_onATakenLine_failsWithNothingLeftOpen() throws Exception {
        Kernel kernel = kernels.kernel();
        kernel.irqs().request(LINE + 1, (irq, d) -> 0, java.util.Set.of(), "other", this);
        TcpDevice.Builder b = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").queues(2).irq(LINE)
                .receiver((c, d) -> true);
        assertThrows(dev.bottomhalf.runtime.KernelException.class, b::open);
        assertEquals(List.of(), kernel.irqs().actionNames(LINE));
        assertThrows(IllegalStateException.class,
                () -> TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp1").receiver((c, d) -> true).open());
        assertThrows(IllegalArgumentException.class,
                () -> TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp1").readBytes(0));
    }

    /**
     * Stepped: each event of a connection — its accept, its bytes, its end — is an interrupt the card latches; the
     * top half masks, and the NET_RX poll at {@code irq_exit} tells the receiver and unmasks.
     */
    @Test
    void stepped_acceptBytesAndEnd_eachAnInterruptTakenByTheTopHalf_thePollUnmasks() throws Exception {
        Kernel kernel = kernels.boot(c -> c.stepped().cpus(2));
        Stepper s = kernel.stepper();
        List<String> events = new CopyOnWriteArrayList<>();
        TcpDevice dev = TcpDevice.builder(kernel.napi(), kernel.irqs(), "tcp0").irq(LINE).cpus(1)
                .receiver(new TcpDevice.Receiver() {
                    @Override
                    public void connected(TcpConnection c) {
                        events.add("connected " + c.id() + " on CPU " + ExecutionContext.currentOrNull().cpuId());
                    }

                    @Override
                    public boolean receive(TcpConnection c, ByteBuffer data) {
                        events.add("receive " + StandardCharsets.US_ASCII.decode(data));
                        return true;
                    }

                    @Override
                    public void disconnected(TcpConnection c) {
                        events.add("disconnected " + c.id());
                    }
                }).open();
        TcpRxQueue q = dev.queues().getFirst();
        SocketChannel client = SocketChannel.open(dev.localAddress());
        awaitTrue(() -> q.interrupts() == 1, "the accept raises the line");
        assertFalse(q.interruptMasked(), "asserted, not yet masked");
        assertEquals(List.of(), events);
        s.hardirq(1);
        assertEquals(List.of("connected 1 on CPU 1"), events);
        assertFalse(q.interruptMasked(), "the poll found nothing to read and unmasked");
        assertFalse(q.napi().isScheduled());

        client.write(ByteBuffer.wrap("abc".getBytes(StandardCharsets.US_ASCII)));
        awaitTrue(() -> q.interrupts() == 2, "the bytes raise the line again");
        s.hardirq(1);
        assertEquals(List.of("connected 1 on CPU 1", "receive abc"), events);
        assertFalse(q.interruptMasked());

        client.close();
        awaitTrue(() -> q.interrupts() == 3, "the end raises the line");
        s.hardirq(1);
        assertEquals(List.of("connected 1 on CPU 1", "receive abc", "disconnected 1"), events);
        assertFalse(q.interruptMasked());
        assertEquals(3, kernel.irqs().count(LINE, 1));
        assertEquals(3, q.polls());
        assertEquals(1, q.reads());
        assertEquals(1, q.connectionsClosed());
        dev.close();
        assertNotNull(dev.toString());
    }
}
