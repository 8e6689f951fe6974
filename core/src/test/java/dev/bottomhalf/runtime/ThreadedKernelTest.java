package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * The same behaviours in threaded mode, where they involve no timing: which thread and context runs
 * what, and that close() leaves nothing behind. Latches with generous timeouts; no sleeps.
 */
class ThreadedKernelTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static List<String> runtimeThreadsAlive() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.matches("cpu/\\d+|ksoftirqd/\\d+|irq/\\d+-.*")).toList();
    }

    @Test
    void irqTopHalf_runsOnCpuThread_andItsSoftirqRunsAtIrqExitOnTheSameThread() throws Exception {
        Kernel k = kernels.kernel();
        ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();
        CountDownLatch done = new CountDownLatch(1);
        k.softirqs().open(SoftirqVector.NET_RX, () -> {
            ExecutionContext c = k.context();
            seen.add("softirq " + Thread.currentThread().getName() + " serving=" + c.inServingSoftirq()
                    + " hardirq=" + c.inHardirq());
            done.countDown();
        });
        k.irqs().request(9, (irq, dev) -> {
            ExecutionContext c = k.context();
            seen.add("irq " + Thread.currentThread().getName() + " hardirq=" + c.inHardirq()
                    + " irqsDisabled=" + c.irqsDisabled());
            k.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", "nic");
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(List.of("irq cpu/1 hardirq=true irqsDisabled=true", "softirq cpu/1 serving=true hardirq=false"),
                List.copyOf(seen));
    }

    @Test
    void raiseFromTask_runsInKsoftirqdOfTheTasksCpu() throws Exception {
        Kernel k = kernels.kernel();
        AtomicReference<String> where = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        k.softirqs().open(SoftirqVector.TIMER, () -> {
            where.set(Thread.currentThread().getName() + " task=" + k.context().inTask());
            done.countDown();
        });
        k.bindCurrentThread(1);
        k.softirqs().raise(SoftirqVector.TIMER);
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals("ksoftirqd/1 task=false", where.get());
        assertEquals(1, k.softirqs().count(1, SoftirqVector.TIMER));
    }

    @Test
    void localBhEnable_runsPendingSoftirqsOnTheCallingThread() {
        Kernel k = kernels.kernel();
        AtomicReference<String> where = new AtomicReference<>();
        k.softirqs().open(SoftirqVector.NET_TX, () -> where.set(Thread.currentThread().getName()));
        ExecutionContext me = k.bindCurrentThread(0);
        me.localBhDisable();
        k.softirqs().raise(SoftirqVector.NET_TX);
        me.localBhEnable();
        assertEquals(Thread.currentThread().getName(), where.get());
    }

    @Test
    void threadedHandler_runsOnItsIrqThreadInTaskContext() throws Exception {
        Kernel k = kernels.kernel();
        AtomicReference<String> where = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        k.irqs().requestThreaded(11, null, (irq, dev) -> {
            ExecutionContext c = k.context();
            where.set(Thread.currentThread().getName() + " task=" + c.inTask() + " interrupt=" + c.inInterrupt());
            done.countDown();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.ONESHOT), "sensor", "s");
        k.irqs().assertIrq(11);
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals("irq/11-sensor task=true interrupt=false", where.get());
        k.irqs().synchronize(11);
        assertFalse(k.irqs().isMasked(11), "unmasked after the thread function");
        assertEquals("sensor", k.irqs().free(11, "s"));
        assertTrue(runtimeThreadsAlive().stream().noneMatch(n -> n.equals("irq/11-sensor")), "free_irq stops the thread");
    }

    @Test
    void synchronizeIrq_waitsForARunningThreadedHandler() throws Exception {
        Kernel k = kernels.kernel();
        CountDownLatch inThread = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean finished = new AtomicBoolean();
        k.irqs().requestThreaded(12, (irq, dev) -> IrqReturn.WAKE_THREAD, (irq, dev) -> {
            inThread.countDown();
            try {
                release.await(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            finished.set(true);
            return IrqReturn.HANDLED;
        }, Set.of(), "slow", "s");
        k.irqs().assertIrq(12);
        assertTrue(inThread.await(TIMEOUT_S, TimeUnit.SECONDS));
        Thread releaser = Thread.ofPlatform().start(() -> {
            Thread.onSpinWait();
            release.countDown();
        });
        k.irqs().synchronize(12);
        assertTrue(finished.get(), "synchronize_irq returned only after the thread function finished");
        releaser.join();
    }

    @Test
    void sameLine_neverRunsConcurrentlyWithItself_whileAffinityFlips() throws Exception {
        Kernel k = kernels.kernel();
        AtomicBoolean inFlight = new AtomicBoolean();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger calls = new AtomicInteger();
        k.irqs().request(13, (irq, dev) -> {
            if (!inFlight.compareAndSet(false, true)) {
                overlaps.incrementAndGet();
            }
            calls.incrementAndGet();
            for (int i = 0; i < 50; i++) {
                Thread.onSpinWait();
            }
            inFlight.set(false);
            return IrqReturn.HANDLED;
        }, Set.of(), "busy", "b");
        Thread[] devices = new Thread[2];
        for (int d = 0; d < devices.length; d++) {
            devices[d] = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 100_000; i++) {
                    k.irqs().assertIrq(13);
                    if ((i & 63) == 0) {
                        k.irqs().setAffinity(13, (i >> 6) & 1);
                    }
                }
            });
        }
        for (Thread t : devices) {
            t.join();
        }
        // The last assert latched the line: the handler runs, even if a loaded host has not run it yet.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (calls.get() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(calls.get() > 0);
        assertEquals(0, overlaps.get());
    }

    @Test
    void throwingSoftirqHandler_isAnOops_andTheCpuGoesOn() throws Exception {
        KernelReports rec = kernels.reports();
        Kernel k = kernels.kernel();
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch second = new CountDownLatch(2);
        k.softirqs().open(SoftirqVector.BLOCK, () -> {
            second.countDown();
            if (runs.incrementAndGet() == 1) {
                throw new IllegalStateException("bad block");
            }
        });
        k.bindCurrentThread(0);
        k.softirqs().raise(SoftirqVector.BLOCK);
        // wait for the first (throwing) run before raising again
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (runs.get() == 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        k.softirqs().raise(SoftirqVector.BLOCK);
        assertTrue(second.await(TIMEOUT_S, TimeUnit.SECONDS), "ksoftirqd/0 survived the exception");
        assertEquals(1, k.reports().count(KernelEvent.Kind.OOPS));
        KernelEvent oops = rec.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertEquals("ksoftirqd/0", oops.thread());
        assertEquals(0, oops.cpu());
    }

    @Test
    void smpCallFunctionSingle_runsOnTheTargetCpuInHardirq_andCountsAsCal() {
        Kernel k = kernels.kernel();
        k.bindCurrentThread(0);
        AtomicReference<String> where = new AtomicReference<>();
        int rc = Linux.smp_call_function_single(1, (String info) -> {
            ExecutionContext c = k.context();
            where.set(info + " " + c.name() + " hardirq=" + c.inHardirq() + " irqsDisabled=" + c.irqsDisabled());
        }, "hello", true);
        assertEquals(0, rc);
        assertEquals("hello cpu/1 hardirq=true irqsDisabled=true", where.get());
        assertEquals(1, Internals.machine(k).cpu(1).functionCallInterrupts());
        assertTrue(k.proc().interrupts().contains("CAL:          0          1   Function call interrupts"));
        assertEquals(-6, Linux.smp_call_function_single(7, (Object o) -> { }, null, true), "-ENXIO");
        AtomicReference<String> local = new AtomicReference<>();
        Linux.smp_call_function_single(0, (Object o) -> local.set(k.context().name()
                + " irqsDisabled=" + k.context().irqsDisabled()), null, true);
        assertEquals(Thread.currentThread().getName() + " irqsDisabled=true", local.get(), "local CPU: inline, IRQs off");
    }

    @Test
    void close_stopsAndJoinsEveryRuntimeThread_andIsIdempotent() {
        Kernel k = kernels.kernel();
        k.irqs().requestThreaded(20, null, (irq, dev) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.ONESHOT), "t", "t");
        assertTrue(runtimeThreadsAlive().containsAll(List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1", "irq/20-t")),
                runtimeThreadsAlive().toString());
        k.close();
        k.close();
        assertEquals(List.of(), runtimeThreadsAlive());
    }

    @Test
    void twoKernels_inOneJvm_areIndependent() throws Exception {
        Kernel a = kernels.kernel();
        Kernel b = kernels.boot(x -> { });
        CountDownLatch done = new CountDownLatch(2);
        a.softirqs().open(SoftirqVector.NET_RX, done::countDown);
        b.softirqs().open(SoftirqVector.NET_RX, done::countDown);
        a.bindCurrentThread(0);
        a.softirqs().raise(SoftirqVector.NET_RX);
        b.bindCurrentThread(1);
        b.softirqs().raise(SoftirqVector.NET_RX);
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(1, a.softirqs().count(0, SoftirqVector.NET_RX));
        assertEquals(0, a.softirqs().count(1, SoftirqVector.NET_RX));
        assertEquals(0, b.softirqs().count(0, SoftirqVector.NET_RX));
        assertEquals(1, b.softirqs().count(1, SoftirqVector.NET_RX));
    }
}
