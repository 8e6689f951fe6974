package dev.bottomhalf.irq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The driver helpers on a threaded kernel: {@code irq_work} runs on {@code cpu/N} and {@code irq_work_sync}
 * waits for it, {@code on_each_cpu} with {@code wait} returns after every CPU ran the function,
 * {@code free_irq} serves a pending thread wake-up before it returns. Nothing here checks timing.
 */
class DriverHelpersThreadedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private Kernel kernel;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        kernel.bindCurrentThread(0);
    }

    @Test
    void irqWorkQueuedForAnotherCpu_runsOnItsCpuThread_andSyncWaitsForIt() throws InterruptedException {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Set<String> where = ConcurrentHashMap.newKeySet();
        IrqWork w = IrqWork.create("w", x -> {
            where.add(ExecutionContext.current().name() + " hardirq=" + ExecutionContext.current().inHardirq());
            started.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(kernel.irqs().irqWorkQueueOn(w, 1));
        assertTrue(started.await(10, TimeUnit.SECONDS));
        assertTrue(w.isBusy());
        assertFalse(w.isPending());
        assertTrue(kernel.irqs().irqWorkQueueOn(w, 1), "running, not pending: it may be queued again");
        release.countDown();
        kernel.irqs().irqWorkSync(w);
        assertFalse(w.isBusy());
        assertEquals(Set.of("cpu/1 hardirq=true"), where);
    }

    @Test
    void onEachCpu_withWait_returnsAfterEveryCpuRanIt() {
        AtomicInteger runs = new AtomicInteger();
        Set<Integer> cpus = ConcurrentHashMap.newKeySet();
        Linux.on_each_cpu(x -> {
            runs.incrementAndGet();
            cpus.add(Linux.smp_processor_id());
        }, null, true);
        assertEquals(2, runs.get());
        assertEquals(Set.of(0, 1), cpus);
    }

    @Test
    void freeIrq_servesAPendingThreadWakeUp_beforeItReturns() throws InterruptedException {
        CountDownLatch inThread = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger runs = new AtomicInteger();
        kernel.irqs().requestThreaded(7, (i, d) -> IrqReturn.WAKE_THREAD, (i, d) -> {
            runs.incrementAndGet();
            inThread.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return IrqReturn.HANDLED;
        }, 0, "t", "T");
        kernel.irqs().assertIrq(7);
        assertTrue(inThread.await(10, TimeUnit.SECONDS));
        kernel.irqs().assertIrq(7);     // a second wake-up while the thread function runs: pending
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (kernel.irqs().totalCount(7) < 2 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        release.countDown();
        assertEquals("t", kernel.irqs().free(7, "T"));
        assertEquals(2, runs.get(), "the pending wake-up ran before free_irq returned");
    }
}
