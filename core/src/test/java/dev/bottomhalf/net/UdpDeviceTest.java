package dev.bottomhalf.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/**
 * {@link UdpDevice} on real sockets bound to 127.0.0.1: the selector thread asserts a queue's line when its channel
 * is readable, the top half masks and schedules NAPI, the poll hands datagrams to the receiver in NET_RX and
 * unmasks when it drained the channel. Senders are plain {@link DatagramChannel}s; traffic is bounded and sent in
 * windows that fit the socket buffer (the host drops what does not fit, where nothing can count it), and every wait
 * is a semaphore or a condition with a generous bound, never a sleep.
 */
class UdpDeviceTest {
    private static final long TIMEOUT_S = 30;
    private static final int LINE = 40;
    /** A small datagram's share of the socket buffer on the host, rounded up generously (the skb's true size). */
    private static final int TRUESIZE_BOUND = 4096;
    private static final int RCVBUF = 4 << 20;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /** The receiver of most tests: counts each sequence number, checks the context, releases a permit. */
    static final class Recorder implements UdpDevice.Receiver {
        final AtomicIntegerArray seen;
        final Semaphore received = new Semaphore(0);
        final List<String> wrongContext = new CopyOnWriteArrayList<>();

        Recorder(int datagrams) {
            seen = new AtomicIntegerArray(datagrams);
        }

        @Override
        public boolean receive(UdpDatagram d) {
            ExecutionContext ctx = ExecutionContext.currentOrNull();
            if (ctx == null || !ctx.inServingSoftirq() || ctx.cpuId() != d.queue().cpu()) {
                wrongContext.add(Thread.currentThread().getName() + " " + ctx + " for " + d.queue());
            }
            seen.incrementAndGet(d.data().getInt(0));
            received.release();
            return true;
        }

        void assertEachOnce() {
            for (int i = 0; i < seen.length(); i++) {
                assertEquals(1, seen.get(i), "datagram " + i);
            }
            assertEquals(List.of(), wrongContext);
        }
    }

    private static DatagramChannel sender() throws IOException {
        DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET);
        ch.bind(new InetSocketAddress("127.0.0.1", 0));
        return ch;
    }

    /** How many small datagrams surely fit in the smallest socket buffer of the device. */
    private static int window(UdpDevice dev, int most) throws IOException {
        int smallest = Integer.MAX_VALUE;
        for (UdpRxQueue q : dev.queues()) {
            smallest = Math.min(smallest, q.channel.getOption(StandardSocketOptions.SO_RCVBUF));
        }
        return Math.max(16, Math.min(most, smallest / TRUESIZE_BOUND));
    }

    /**
     * Sends datagrams 0 .. count-1 (a 4-byte sequence number each) round-robin from {@code senders}, in tight
     * loops of at most {@code window}, waiting after each until the receiver has them all (one permit each) and
     * the device has counted them ({@code rx_packets + rx_dropped}).
     */
    private static void send(UdpDevice dev, List<DatagramChannel> senders, int count, int window, Semaphore received)
            throws Exception {
        InetSocketAddress to = dev.localAddress();
        ByteBuffer b = ByteBuffer.allocateDirect(4);
        long base = dev.rxPackets() + dev.rxDropped();
        for (int start = 0; start < count; start += window) {
            int end = Math.min(count, start + window);
            for (int i = start; i < end; i++) {
                b.clear();
                b.putInt(0, i);
                senders.get(i % senders.size()).send(b, to);
            }
            assertTrue(received.tryAcquire(end - start, TIMEOUT_S, TimeUnit.SECONDS),
                    "datagrams " + start + ".." + (end - 1) + " not all received: " + received.availablePermits()
                            + " of them; device " + dev.queues());
            // The receiver has returned for each, and the poll has counted it (after the receiver's permit).
            long counted = base + end;
            awaitTrue(() -> dev.rxPackets() + dev.rxDropped() == counted, "datagrams counted: "
                    + (dev.rxPackets() + dev.rxDropped() - base) + " of " + end);
        }
    }

    private static void awaitTrue(BooleanSupplier condition, String what) {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() - giveUp < 0, "never: " + what);
            Thread.onSpinWait();
        }
    }

    private static void closeAll(List<DatagramChannel> channels) throws IOException {
        for (DatagramChannel ch : channels) {
            ch.close();
        }
    }

    @Test
    void twoQueues_everyDatagramReceivedOnce_inSoftirq_onItsQueuesCpu() throws Exception {
        Kernel kernel = kernels.kernel();
        Recorder r = new Recorder(4096);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").queues(2).irq(LINE).cpus(0, 1)
                .receiveBufferBytes(RCVBUF).receiver(r).open();
        assertTrue(dev.reusePort(), "SO_REUSEPORT on this host");
        assertEquals(2, dev.queues().size());
        List<DatagramChannel> senders = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            senders.add(sender());   // 32 source ports: the host's SO_REUSEPORT hash spreads them over both queues
        }
        send(dev, senders, 4096, window(dev, 512), r.received);
        r.assertEachOnce();
        assertEquals(4096, dev.rxPackets());
        for (UdpRxQueue q : dev.queues()) {
            if (System.getProperty("os.name").equals("Linux")) { // Linux hashes the senders over the sockets
                assertTrue(q.rxPackets() > 0, q + " received nothing");
            }
            assertEquals(q.interrupts(), kernel.irqs().count(q.irq(), q.cpu()), q + ": its interrupts on its CPU");
        }
        assertEquals(0, dev.rxDropped() + dev.rxMissedErrors());
        dev.close();
        closeAll(senders);
        kernel.close();
        assertEquals(4096, kernel.napi().processed(0) + kernel.napi().processed(1));
        assertEquals(dev.queues().get(0).rxPackets(), kernel.napi().processed(0));
    }

    @Test
    void threadedDevice_everyDatagramReceivedOnce_inTheQueuesNapiKthread_withBhDisabled() throws Exception {
        Kernel kernel = kernels.kernel();
        AtomicIntegerArray seen = new AtomicIntegerArray(2000);
        Semaphore received = new Semaphore(0);
        List<String> wrong = new CopyOnWriteArrayList<>();
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).cpus(1)
                .receiveBufferBytes(RCVBUF).receiver(d -> {
                    ExecutionContext ctx = ExecutionContext.currentOrNull();
                    String t = Thread.currentThread().getName();
                    if (ctx == null || !ctx.inSoftirq() || ctx.inServingSoftirq()
                            || !t.equals("napi/udp0-" + d.queue().napi().napiId())) {
                        wrong.add(t + " " + ctx);
                    }
                    seen.incrementAndGet(d.data().getInt(0));
                    received.release();
                    return true;
                }).open();
        kernel.napi().setThreaded(dev.netDevice(), true);
        List<DatagramChannel> senders = List.of(sender(), sender());
        send(dev, senders, 2000, window(dev, 500), received);
        for (int i = 0; i < 2000; i++) {
            assertEquals(1, seen.get(i), "datagram " + i);
        }
        assertEquals(List.of(), wrong);
        dev.close();
        assertEquals(null, dev.queues().get(0).napi().thread(), "netif_napi_del stopped the kthread");
        closeAll(senders);
    }

    @Test
    void burst_ofTenThousandSmallDatagrams_takesFewerInterruptsThanDatagrams() throws Exception {
        Kernel kernel = kernels.kernel();
        Recorder r = new Recorder(10_000);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).cpus(1)
                .receiveBufferBytes(RCVBUF).receiver(r).open();
        List<DatagramChannel> senders = List.of(sender());
        send(dev, senders, 10_000, window(dev, 1000), r.received);
        r.assertEachOnce();
        long interrupts = dev.interrupts();
        System.out.println("UdpDeviceTest burst: 10000 datagrams, " + interrupts + " interrupts, "
                + kernel.irqs().count(LINE, 1) + " taken on CPU 1");
        assertTrue(interrupts < 10_000, interrupts + " interrupts for 10000 datagrams");
        assertTrue(interrupts >= 1);
        assertEquals(interrupts, kernel.irqs().count(LINE, 1), "each assertion is one interrupt taken on CPU 1");
        long polls = dev.queues().getFirst().polls();
        assertTrue(polls >= interrupts, polls + " polls for " + interrupts + " interrupts: each interrupt polls once");
        assertTrue(polls * Napi.NAPI_POLL_WEIGHT >= 10_000, polls + " polls of at most 64 datagrams took 10000");
        dev.close();
        closeAll(senders);
    }

    @Test
    void irqDeferral_everyDatagramReceivedOnce_timerPollsOutnumberInterrupts_andTheLastOneUnmasks() throws Exception {
        Kernel kernel = kernels.kernel();
        Recorder r = new Recorder(10_000);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).cpus(1)
                .receiveBufferBytes(RCVBUF).deferHardIrqs(2, java.time.Duration.ofMillis(1)).receiver(r).open();
        assertEquals(2, dev.netDevice().napiDeferHardIrqs());
        assertEquals(1_000_000, dev.netDevice().groFlushTimeoutNs());
        List<DatagramChannel> senders = List.of(sender());
        send(dev, senders, 10_000, window(dev, 1000), r.received);
        r.assertEachOnce();
        UdpRxQueue q = dev.queues().getFirst();
        // Each interrupt's poll took datagrams, so two timer polls follow it before the unmask (more when they
        // find datagrams): at least three polls per interrupt, once the last deferral has run out.
        awaitTrue(() -> !q.interruptMasked(), "the last deferred poll unmasks the interrupt");
        long interrupts = q.interrupts();
        long polls = q.polls();
        System.out.println("UdpDeviceTest deferral: 10000 datagrams, " + interrupts + " interrupts, " + polls
                + " polls");
        assertTrue(interrupts >= 1);
        assertTrue(polls >= 3 * interrupts, polls + " polls for " + interrupts + " interrupts");
        assertEquals(0, dev.rxDropped() + dev.rxMissedErrors());
        dev.close();
        closeAll(senders);
    }

    /**
     * What the receive path allocates per datagram from one sender, measured on the threads that run it: the CPU's
     * {@code cpu/1} and {@code ksoftirqd/1} (top half, NET_RX, the poll's {@code DatagramChannel.receive} into a
     * pooled direct buffer; the JDK returns its cached sender address while the sender stays the same) and the
     * selector thread (per interrupt, not per datagram). After a warm-up; printed, and the CPU side asserted.
     */
    @Test
    void receivePath_fromOneSender_allocatesNothingPerDatagram() throws Exception {
        Kernel kernel = kernels.kernel();
        AtomicLong count = new AtomicLong();
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).cpus(1)
                .receiveBufferBytes(RCVBUF).receiver(d -> {
                    count.setRelease(count.getPlain() + 1); // one poll at a time: a single writer
                    return true;
                }).open();
        List<Thread> cpuSide = KernelExtension.runtimeThreads(kernel).stream()
                .filter(t -> t.getName().endsWith("/1")).toList();
        assertEquals(2, cpuSide.size(), cpuSide.toString());
        try (DatagramChannel s = sender(); DatagramChannel other = sender()) {
            int window = window(dev, 1000);
            InetSocketAddress to = dev.localAddress();
            int warmUp = 30_000;
            int measured = 50_000;
            pump(List.of(s), to, window, count, 0, warmUp);
            long[] before = {allocatedBytes(cpuSide.get(0).threadId()),
                allocatedBytes(cpuSide.get(1).threadId()),
                allocatedBytes(dev.cardThread().threadId())};
            long interruptsBefore = dev.interrupts();
            long startNs = System.nanoTime();
            pump(List.of(s), to, window, count, warmUp, warmUp + measured);
            long elapsedNs = System.nanoTime() - startNs;
            long cpuBytes = allocatedBytes(cpuSide.get(0).threadId()) - before[0]
                    + allocatedBytes(cpuSide.get(1).threadId()) - before[1];
            long cardBytes = allocatedBytes(dev.cardThread().threadId()) - before[2];
            long interrupts = dev.interrupts() - interruptsBefore;
            System.out.printf("UdpDeviceTest allocation: %d datagrams in %.1f ms (%.0f/s, sender-bound, windows of"
                    + " %d); cpu/1+ksoftirqd/1 %d B (%.3f B/datagram); selector thread %d B over %d interrupts"
                    + " (%.1f B/interrupt)%n", measured, elapsedNs / 1e6, measured * 1e9 / elapsedNs, window, cpuBytes,
                    (double) cpuBytes / measured, cardBytes, interrupts, interrupts == 0 ? 0.0
                            : (double) cardBytes / interrupts);
            assertTrue(cpuBytes < measured, cpuBytes + " B on the CPU side for " + measured + " datagrams: at least"
                    + " one allocation per datagram");
            // Two senders alternating: every datagram's sender differs from the previous one's, so the JDK makes a
            // new address for each (what a socket shared by many interleaved senders costs).
            long alternatingBefore = allocatedBytes(cpuSide.get(0).threadId())
                    + allocatedBytes(cpuSide.get(1).threadId());
            pump(List.of(s, other), to, window, count, warmUp + measured, warmUp + 2 * measured);
            long alternatingBytes = allocatedBytes(cpuSide.get(0).threadId())
                    + allocatedBytes(cpuSide.get(1).threadId()) - alternatingBefore;
            System.out.printf("UdpDeviceTest allocation: two senders alternating: %.1f B/datagram%n",
                    (double) alternatingBytes / measured);
            assertTrue(alternatingBytes < 200L * measured, alternatingBytes + " B for " + measured
                    + " datagrams from alternating senders: more than the JDK's sender address");
        }
        dev.close();
    }

    /** {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes(threadId)} (through reflection). */
    private static long allocatedBytes(long threadId) throws ReflectiveOperationException {
        java.lang.reflect.Method m = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(java.lang.management.ManagementFactory.getThreadMXBean(), threadId);
    }

    /** Sends 16-byte datagrams {@code from} .. {@code until - 1} in windows, each awaited through {@code count}. */
    private static void pump(List<DatagramChannel> senders, InetSocketAddress to, int window, AtomicLong count,
                             int from, int until) throws IOException {
        ByteBuffer b = ByteBuffer.allocateDirect(16);
        for (int sent = from; sent < until; ) {
            int end = Math.min(until, sent + window);
            for (; sent < end; sent++) {
                b.clear();
                senders.get(sent % senders.size()).send(b, to);
            }
            long want = sent;
            awaitTrue(() -> count.getAcquire() == want, "datagrams received: " + count.get() + " of " + want);
        }
    }

    @Test
    void receiverThrows_reportedAsOops_countedAsDropped_andTheDeviceGoesOn() throws Exception {
        Kernel kernel = kernels.kernel();
        kernels.reports().expect("Oops: udp receiver of udp0-rx-0 threw java.lang.IllegalArgumentException: bad 1");
        Semaphore calls = new Semaphore(0);
        List<Integer> accepted = new CopyOnWriteArrayList<>();
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).receiver(d -> {
            int seq = d.data().getInt(0);
            try {
                if (seq % 2 == 1) {
                    throw new IllegalArgumentException("bad " + seq);
                }
                accepted.add(seq);
                return true;
            } finally {
                calls.release();
            }
        }).open();
        List<DatagramChannel> senders = List.of(sender());
        send(dev, senders, 8, 8, calls);
        assertEquals(List.of(0, 2, 4, 6), accepted);
        UdpRxQueue q = dev.queues().get(0);
        assertEquals(4, q.receiverOopses());
        assertEquals(4, q.rxDropped());
        assertEquals(4, q.rxPackets());
        assertEquals(4, kernels.reports().matching("Oops: udp receiver of udp0-rx-0 threw").size());
        send(dev, senders, 1, 1, calls);     // and it still receives
        assertEquals(List.of(0, 2, 4, 6, 0), accepted);
        dev.close();
        closeAll(senders);
    }

    /**
     * While no queue's interrupt is armed the selector thread parks instead of selecting (no interest change, no
     * selector wake-up); the unmask unparks it, and a datagram that arrives afterwards still raises the interrupt.
     */
    @Test
    void cardWithEveryInterruptMasked_parks_andTheUnmaskWakesIt() throws Exception {
        Kernel kernel = kernels.kernel();
        Semaphore inReceiver = new Semaphore(0);
        Semaphore proceed = new Semaphore(0);
        Semaphore calls = new Semaphore(0);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).receiver(d -> {
            if (d.data().getInt(0) == 0) {
                inReceiver.release();
                proceed.acquireUninterruptibly();   // the poll holds the queue: its interrupt stays masked
            }
            calls.release();
            return true;
        }).open();
        List<DatagramChannel> senders = List.of(sender());
        ByteBuffer b = ByteBuffer.allocateDirect(4);
        b.putInt(0, 0);
        senders.getFirst().send(b, dev.localAddress());
        assertTrue(inReceiver.tryAcquire(TIMEOUT_S, TimeUnit.SECONDS), "datagram 0 reached the receiver");
        assertTrue(dev.queues().getFirst().interruptMasked());
        Thread card = dev.cardThread();
        awaitTrue(() -> java.util.concurrent.locks.LockSupport.getBlocker(card) == dev,
                "the card parks on the device: " + card.getState());
        proceed.release(2);                              // this call, and datagram 0's second visit below
        assertTrue(calls.tryAcquire(TIMEOUT_S, TimeUnit.SECONDS));
        awaitTrue(() -> !dev.queues().getFirst().interruptMasked(), "the poll unmasks");
        awaitTrue(() -> java.util.concurrent.locks.LockSupport.getBlocker(card) != dev, "the unmask unparks the card");
        long interrupts = dev.interrupts();
        send(dev, senders, 3, 3, calls);                 // 0 (passes now), 1, 2: the card raised the line again
        assertTrue(dev.interrupts() > interrupts, "an interrupt after the unmask");
        assertEquals(4, dev.rxPackets());
        dev.close();
        assertFalse(card.isAlive(), "close stops the parked-then-selecting card");
        closeAll(senders);
    }

    @Test
    void receiverRefuses_countedAsDropped_notAsPackets() throws Exception {
        Kernel kernel = kernels.kernel();
        Semaphore calls = new Semaphore(0);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).receiver(d -> {
            calls.release();
            return d.data().getInt(0) < 3;
        }).open();
        List<DatagramChannel> senders = List.of(sender());
        send(dev, senders, 10, 10, calls);
        assertEquals(3, dev.rxPackets());
        assertEquals(12, dev.queues().get(0).rxBytes());
        assertEquals(7, dev.rxDropped());
        dev.close();
        closeAll(senders);
    }

    @Test
    void retainedBuffers_exhaustThePool_thenDatagramsAreMissedErrors_untilReleased() throws Exception {
        Kernel kernel = kernels.kernel();
        Semaphore calls = new Semaphore(0);
        List<UdpDatagram> kept = new CopyOnWriteArrayList<>();
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).buffers(4).receiver(d -> {
            d.retain();
            kept.add(d);
            calls.release();
            return true;
        }).open();
        UdpRxQueue q = dev.queues().get(0);
        List<DatagramChannel> senders = List.of(sender());
        send(dev, senders, 4, 4, calls);
        assertEquals(0, q.freeBuffers());
        assertEquals(List.of(0, 1, 2, 3), kept.stream().map(d -> d.data().getInt(0)).toList(),
                "a retained buffer keeps its bytes");
        DatagramChannel s = senders.get(0);
        for (int i = 0; i < 3; i++) {
            s.send(ByteBuffer.allocate(4).putInt(0, 100 + i), dev.localAddress());
        }
        awaitTrue(() -> q.rxMissedErrors() == 3, "3 missed errors; " + q.rxMissedErrors());
        assertEquals(4, q.rxPackets());
        for (UdpDatagram d : kept) {
            d.release();
        }
        assertThrows(IllegalStateException.class, () -> kept.get(0).release());
        assertThrows(IllegalStateException.class, () -> kept.get(0).retain());
        assertEquals(4, q.freeBuffers());
        kept.clear();
        send(dev, senders, 1, 1, calls);
        assertEquals(1, kept.size());
        assertEquals(3, q.freeBuffers());
        kept.get(0).release();
        dev.close();
        closeAll(senders);
    }

    @Test
    void datagramLongerThanMaxDatagram_isALengthError_andTheRestIsReceived() throws Exception {
        Kernel kernel = kernels.kernel();
        Semaphore calls = new Semaphore(0);
        List<Integer> lengths = new CopyOnWriteArrayList<>();
        List<InetSocketAddress> from = new CopyOnWriteArrayList<>();
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).maxDatagram(16)
                .receiver(d -> {
                    lengths.add(d.length());
                    from.add(d.sender());
                    calls.release();
                    return true;
                }).open();
        UdpRxQueue q = dev.queues().get(0);
        try (DatagramChannel s = sender()) {
            s.send(ByteBuffer.allocate(17), dev.localAddress());
            s.send(ByteBuffer.allocate(16), dev.localAddress());
            assertTrue(calls.tryAcquire(1, TIMEOUT_S, TimeUnit.SECONDS));
            awaitTrue(() -> q.rxLengthErrors() == 1, "one length error");
            assertEquals(List.of(16), lengths);
            assertEquals(List.of(s.getLocalAddress()), from);
        }
        dev.close();
    }

    @Test
    void close_releasesThePort_freesTheLines_andStopsTheThread() throws Exception {
        Kernel kernel = kernels.kernel();
        Recorder r = new Recorder(64);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").queues(2).irq(LINE)
                .receiver(r).open();
        InetSocketAddress address = dev.localAddress();
        List<DatagramChannel> senders = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            senders.add(sender());
        }
        send(dev, senders, 64, 64, r.received);
        Thread card = dev.cardThread();
        assertTrue(card.isAlive());
        assertEquals(List.of("udp0-rx-0"), kernel.irqs().actionNames(LINE));
        dev.close();
        assertFalse(card.isAlive(), "the selector thread stopped");
        assertEquals(List.of(), kernel.irqs().actionNames(LINE));
        assertEquals(List.of(), kernel.irqs().actionNames(LINE + 1));
        assertEquals(List.of(), dev.netDevice().napis());
        assertTrue(dev.isClosed());
        assertEquals(null, dev.localAddress());
        try (DatagramChannel again = DatagramChannel.open(StandardProtocolFamily.INET)) {
            again.bind(address);     // no SO_REUSEPORT here: fails while any queue's channel is still bound
            assertEquals(address, again.getLocalAddress());
        }
        dev.close();                 // idempotent
        closeAll(senders);
    }

    @Test
    void kernelClose_stopsTheThread_andClosesTheChannels_thenDeviceCloseDoesNothing() throws Exception {
        Kernel kernel = kernels.kernel();
        Recorder r = new Recorder(16);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).receiver(r).open();
        InetSocketAddress address = dev.localAddress();
        List<DatagramChannel> senders = List.of(sender());
        send(dev, senders, 16, 16, r.received);
        Thread card = dev.cardThread();
        kernel.close();
        assertFalse(card.isAlive(), "the kernel's close stopped the selector thread");
        assertTrue(dev.isClosed());
        try (DatagramChannel again = DatagramChannel.open(StandardProtocolFamily.INET)) {
            again.bind(address);
        }
        dev.close();
        closeAll(senders);
        r.assertEachOnce();
    }

    @Test
    void open_onATakenLine_failsWithNothingLeftOpen() throws Exception {
        Kernel kernel = kernels.kernel();
        kernel.irqs().request(LINE + 1, (irq, d) -> 0, java.util.Set.of(), "other", this);
        UdpDevice.Builder b = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").queues(2).irq(LINE)
                .receiver(d -> true);
        assertThrows(dev.bottomhalf.runtime.KernelException.class, b::open);
        assertEquals(List.of(), kernel.irqs().actionNames(LINE));
        assertThrows(IllegalStateException.class,
                () -> UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp1").receiver(d -> true).open());
    }

    @Test
    void stepped_eachInterruptIsTakenByTheTopHalf_whichMasks_andThePollUnmasks() throws Exception {
        Kernel kernel = kernels.boot(c -> c.stepped().cpus(2));
        Stepper s = kernel.stepper();
        Recorder r = new Recorder(2);
        UdpDevice dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").irq(LINE).cpus(1).receiver(r)
                .open();
        UdpRxQueue q = dev.queues().get(0);
        try (DatagramChannel snd = sender()) {
            for (int i = 0; i < 2; i++) {
                snd.send(ByteBuffer.allocate(4).putInt(0, i), dev.localAddress());
                long want = i + 1;
                awaitTrue(() -> q.interrupts() == want, "the card asserts line " + LINE);
                assertFalse(q.interruptMasked(), "asserted, not yet masked");
                assertEquals(i, r.received.availablePermits());
                s.hardirq(1);        // the top half masks and schedules; NET_RX polls at irq_exit, drains, unmasks
                assertEquals(i + 1, r.received.availablePermits());
                assertFalse(q.interruptMasked());
                assertFalse(q.napi().isScheduled(), q.napi().toString());
            }
        }
        assertEquals(2, kernel.irqs().count(LINE, 1));
        r.assertEachOnce();
        dev.close();
        assertNotNull(dev.toString());
    }
}
