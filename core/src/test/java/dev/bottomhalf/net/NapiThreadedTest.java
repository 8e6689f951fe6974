package dev.bottomhalf.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.testing.KernelExtension;

/**
 * NAPI on a threaded kernel: a device thread produces packets, the top half masks the device's interrupt and calls
 * {@code napi_schedule}, the poll drains the ring and unmasks on {@code napi_complete_done} — with NET_RX on
 * {@code cpu/N} and ksoftirqd, and with threaded NAPI. The test waits with latches and generous timeouts, never
 * with sleeps.
 */
class NapiThreadedTest {
    private static final long TIMEOUT_S = 30;
    private static final int LINE = 24;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private Kernel kernel;
    private Napi napi;
    private final NetDevice eth0 = new NetDevice("eth0");

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        napi = kernel.napi();
    }

    /** A card with a receive ring and an interrupt it masks while NAPI polls (level-triggered on unmask). */
    final class Nic {
        final NapiStruct n = new NapiStruct();
        final ConcurrentLinkedQueue<Integer> ring = new ConcurrentLinkedQueue<>();
        final AtomicBoolean irqEnabled = new AtomicBoolean(true);
        final AtomicIntegerArray seen;
        final CountDownLatch all;
        final AtomicIntegerArray pollers = new AtomicIntegerArray(1);
        final List<String> pollThreads = new CopyOnWriteArrayList<>();

        Nic(int packets) {
            seen = new AtomicIntegerArray(packets);
            all = new CountDownLatch(packets);
        }

        void produce(int packet) {
            ring.add(packet);
            if (irqEnabled.get()) {
                kernel.irqs().assertIrq(LINE);
            }
        }

        int topHalf(int irq, Object dev) {
            irqEnabled.set(false);
            napi.schedule(n);
            return IrqReturn.HANDLED;
        }

        int poll(NapiStruct me, int budget) {
            if (pollers.incrementAndGet(0) != 1) {
                throw new AssertionError("two polls of one instance at once");
            }
            String t = Thread.currentThread().getName();
            if (!pollThreads.contains(t)) {
                pollThreads.add(t);
            }
            int work = 0;
            Integer p;
            while (work < budget && (p = ring.poll()) != null) {
                seen.incrementAndGet(p);
                all.countDown();
                work++;
            }
            pollers.decrementAndGet(0);
            if (work < budget && napi.completeDone(me, work)) {
                irqEnabled.set(true);
                if (!ring.isEmpty()) {
                    kernel.irqs().assertIrq(LINE); // descriptors still pending: the unmasked line fires again
                }
            }
            return work;
        }
    }

    private void receive(Nic nic, int packets) throws InterruptedException {
        kernel.irqs().request(LINE, nic::topHalf, Set.of(), "eth0-rx-0", nic);
        kernel.irqs().setAffinity(LINE, 1);
        Thread device = new Thread(() -> {
            for (int i = 0; i < packets; i++) {
                nic.produce(i);
            }
        }, "eth0-device");
        device.start();
        device.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertTrue(nic.all.await(TIMEOUT_S, TimeUnit.SECONDS), "packets never polled: " + nic.all.getCount());
        for (int i = 0; i < packets; i++) {
            assertEquals(1, nic.seen.get(i), "packet " + i);
        }
    }

    @Test
    void interruptMasksAndSchedules_pollUnmasksOnComplete_everyPacketPolledExactlyOnce() throws Exception {
        Nic nic = new Nic(50_000);
        napi.add(eth0, nic.n, nic::poll);
        napi.enable(nic.n);
        receive(nic, 50_000);
        assertTrue(nic.pollThreads.stream().allMatch(t -> t.equals("cpu/1") || t.equals("ksoftirqd/1")),
                nic.pollThreads.toString());
        napi.disable(nic.n);
        napi.del(nic.n);
        kernel.close();   // the last poll has returned: its work is counted
        assertEquals(50_000, napi.processed(1));
        assertEquals(0, napi.processed(0));
    }

    @Test
    void threadedDevice_everyPacketPolledExactlyOnce_inTheNapiKthread() throws Exception {
        Nic nic = new Nic(50_000);
        napi.add(eth0, nic.n, nic::poll);
        napi.setThreaded(eth0, true);
        napi.enable(nic.n);
        receive(nic, 50_000);
        assertEquals(List.of("napi/eth0-3"), nic.pollThreads);
        napi.disable(nic.n);
        napi.del(nic.n);
    }

    @Test
    void disable_duringAPoll_waitsForThePollToEnd() throws Exception {
        CountDownLatch inPoll = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<String> order = new CopyOnWriteArrayList<>();
        NapiStruct n = new NapiStruct();
        napi.add(eth0, n, (me, budget) -> {
            inPoll.countDown();
            try {
                release.await(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            order.add("poll ended");
            napi.completeDone(me, 0);
            return 0;
        });
        napi.enable(n);
        kernel.irqs().request(LINE, (irq, dev) -> {
            napi.schedule(n);
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0-rx-0", n);
        kernel.irqs().setAffinity(LINE, 1);
        kernel.irqs().assertIrq(LINE);
        assertTrue(inPoll.await(TIMEOUT_S, TimeUnit.SECONDS));
        Thread disabler = new Thread(() -> {
            kernel.bindCurrentThread(0);
            napi.disable(n);
            order.add("napi_disable returned");
            kernel.detachCurrentThread();
        }, "disabler");
        disabler.start();
        while (!n.disablePending()) {
            Thread.onSpinWait(); // DISABLE is set before the wait: the disabler is now waiting for the poll
        }
        assertFalse(order.contains("napi_disable returned"));
        release.countDown();
        disabler.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(disabler.isAlive());
        assertEquals(List.of("poll ended", "napi_disable returned"), order);
        assertTrue(n.isScheduled());
        assertFalse(napi.schedule(n));
    }
}
