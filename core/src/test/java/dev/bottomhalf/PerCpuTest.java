package dev.bottomhalf;

import static dev.bottomhalf.linux.Linux.per_cpu;
import static dev.bottomhalf.linux.Linux.per_cpu_ptr;
import static dev.bottomhalf.linux.Linux.this_cpu_add;
import static dev.bottomhalf.linux.Linux.this_cpu_inc;
import static dev.bottomhalf.linux.Linux.this_cpu_ptr;
import static dev.bottomhalf.linux.Linux.this_cpu_read;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.irq.IrqResult;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.workqueue.Work;

/**
 * Per-CPU variables ({@link PerCpu}, {@link PerCpuLong}; the kernel's {@code DEFINE_PER_CPU}, {@code this_cpu_ptr},
 * {@code per_cpu_ptr}, {@code this_cpu_inc}): each context gets its CPU's value, a thread with no CPU is refused,
 * counters are summed by a reader.
 */
class PerCpuTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;
    private Stepper stepper;

    /** One CPU's statistics, as a driver keeps them. */
    static final class Stats {
        final int cpu;
        long packets;

        Stats(int cpu) {
            this.cpu = cpu;
        }
    }

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
    }

    @Test
    void theInitialiser_makesOneValuePerCpu_inCpuOrder() {
        List<Integer> calls = new ArrayList<>();
        PerCpu<Stats> stats = kernel.perCpu(cpu -> {
            calls.add(cpu);
            return new Stats(cpu);
        });
        assertEquals(List.of(0, 1), calls);
        assertEquals(2, stats.cpus());
        assertEquals(List.of(0, 1), stats.stream().map(s -> s.cpu).toList());
        List<String> seen = new ArrayList<>();
        stats.forEachCpu((s, cpu) -> seen.add(cpu + ":" + s.cpu));
        assertEquals(List.of("0:0", "1:1"), seen);
        assertThrows(NullPointerException.class, () -> PerCpu.of(kernel, cpu -> null));
    }

    @Test
    void get_onABoundTaskThread_isItsCpusValue_andFollowsARebind() {
        PerCpu<Stats> stats = PerCpu.of(kernel, Stats::new);
        kernel.bindCurrentThread(1);
        assertEquals(1, stats.get().cpu);
        assertSame(stats.get(1), stats.get());
        kernel.bindCurrentThread(0);
        assertEquals(0, stats.get().cpu);
    }

    @Test
    void get_inAHardIrqHandler_isTheCpuTheLineIsRoutedTo() {
        PerCpu<Stats> stats = kernel.perCpu(Stats::new);
        kernel.bindCurrentThread(0);
        kernel.irqs().request(7).handler((irq, dev) -> {
            stats.get().packets++;
            return IrqResult.HANDLED;
        }).name("eth0").register();
        kernel.irqs().setAffinity(7, 1);
        kernel.irqs().assertIrq(7);
        stepper.hardirq(1);
        assertEquals(0, stats.get(0).packets);
        assertEquals(1, stats.get(1).packets);
    }

    @Test
    void get_inAWorkItemQueuedOnACpu_isThatCpusValue() {
        PerCpu<Stats> stats = kernel.perCpu(Stats::new);
        AtomicReference<Stats> seen = new AtomicReference<>();
        kernel.bindCurrentThread(0);
        kernel.workqueues().queueOn(1, kernel.workqueues().systemWq(), new Work("w", w -> seen.set(stats.get())));
        stepper.runUntilIdle();
        assertSame(stats.get(1), seen.get());
    }

    @Test
    void get_onAThreadWithNoCpuOfThisKernel_isIllegalState() throws InterruptedException {
        PerCpu<Stats> stats = kernel.perCpu(Stats::new);
        PerCpuLong count = kernel.perCpuLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<Throwable> counterFailure = new AtomicReference<>();
        Thread stranger = new Thread(() -> {
            try {
                stats.get();
            } catch (Throwable t) {
                failure.set(t);
            }
            try {
                count.inc();
            } catch (Throwable t) {
                counterFailure.set(t);
            }
        }, "stranger");
        stranger.start();
        stranger.join();
        assertTrue(failure.get() instanceof IllegalStateException, String.valueOf(failure.get()));
        assertEquals("this_cpu_ptr: thread 'stranger' runs on no CPU of this kernel: bind it with"
                + " kernel.bindCurrentThread(cpu) first (runtime threads, handlers and work items run on their CPU)",
                failure.get().getMessage());
        assertTrue(counterFailure.get() instanceof IllegalStateException, String.valueOf(counterFailure.get()));
        assertEquals(0, count.sum());
    }

    @Test
    void get_onAThreadBoundToAnotherKernel_isIllegalState() {
        Kernel other = kernels.boot(b -> { });
        PerCpu<Stats> ours = kernel.perCpu(Stats::new);
        other.bindCurrentThread(0);
        assertThrows(IllegalStateException.class, ours::get);
        other.detachCurrentThread();
    }

    @Test
    void getOfACpuThatDoesNotExist_isIllegalArgument() {
        PerCpu<Stats> stats = kernel.perCpu(Stats::new);
        assertThrows(IllegalArgumentException.class, () -> stats.get(2));
        assertThrows(IllegalArgumentException.class, () -> stats.get(-1));
        assertThrows(IllegalArgumentException.class, () -> kernel.perCpuLong().get(2));
    }

    @Test
    void aPerCpuCounter_isUpdatedPerCpu_andSummedByAReader() {
        PerCpuLong rx = kernel.perCpuLong();
        kernel.bindCurrentThread(0);
        kernel.irqs().request(7).handler((irq, dev) -> {
            rx.add(10);
            return IrqResult.HANDLED;
        }).name("eth0").register();
        kernel.irqs().setAffinity(7, 1);
        kernel.irqs().assertIrq(7);
        stepper.hardirq(1);
        rx.inc();
        rx.inc();
        rx.dec();
        assertEquals(1, rx.get());
        assertEquals(1, rx.get(0));
        assertEquals(10, rx.get(1));
        assertEquals(11, rx.sum());
        rx.set(1, 0);
        rx.set(5);
        assertEquals(5, rx.sum());
        assertEquals("PerCpuLong[5, 0]", rx.toString());
    }

    @Test
    void theFacadesNames_reachTheCallersCpu() {
        kernel.bindCurrentThread(1);
        PerCpu<Stats> stats = dev.bottomhalf.linux.Linux.alloc_percpu(Stats::new);
        PerCpuLong n = kernel.perCpuLong();
        this_cpu_ptr(stats).packets = 3;
        this_cpu_inc(n);
        this_cpu_add(n, 4);
        assertEquals(3, per_cpu_ptr(stats, 1).packets);
        assertEquals(5, this_cpu_read(n));
        assertEquals(5, per_cpu(n, 1));
        assertEquals(0, per_cpu(n, 0));
    }

    @Test
    void twoTasksBoundToOneCpu_countingAtOnce_loseNoIncrement() throws InterruptedException {
        PerCpuLong n = kernel.perCpuLong();
        Runnable count = () -> {
            kernel.bindCurrentThread(1);
            for (int i = 0; i < 100_000; i++) {
                n.inc();
            }
            kernel.detachCurrentThread();
        };
        Thread a = new Thread(count, "a");
        Thread b = new Thread(count, "b");
        a.start();
        b.start();
        a.join();
        b.join();
        assertEquals(200_000, n.get(1));
        assertEquals(0, n.get(0));
    }

    /**
     * {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} of this thread (through reflection, the
     * method looked up once so that the measurement itself allocates little).
     */
    private static long allocatedBytes() throws ReflectiveOperationException {
        if (allocatedBytes == null) {
            allocatedBytes = Class.forName("com.sun.management.ThreadMXBean")
                    .getMethod("getThreadAllocatedBytes", long.class);
        }
        return (long) allocatedBytes.invoke(ManagementFactory.getThreadMXBean(), Thread.currentThread().threadId());
    }

    private static Method allocatedBytes;

    @Test
    void thisCpuAdd_getAndSum_allocateNothing() throws ReflectiveOperationException {
        PerCpuLong n = kernel.perCpuLong();
        PerCpu<Stats> stats = kernel.perCpu(Stats::new);
        kernel.bindCurrentThread(1);
        long sink = 0;
        for (int round = 0; round < 5; round++) { // the last round is measured, after the JIT's warm-up
            long before = allocatedBytes();
            for (int i = 0; i < 200_000; i++) {
                n.add(2);
                sink += n.sum() + stats.get().cpu;
            }
            long allocated = allocatedBytes() - before;
            if (round == 4) {
                // One allocation per call would be at least 16 bytes each, 3.2 MB in all; what the JIT or the
                // measurement allocates once stays far below 64 KB.
                assertTrue(allocated < 64 * 1024, "200,000 rounds allocated " + allocated + " bytes");
            }
        }
        assertEquals(2_000_000, n.get(1));
        assertTrue(sink > 0);
    }
}
