package dev.bottomhalf.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;

/**
 * Which CPU a thread is on: the one it bound itself to, else the configured default
 * ({@link KernelConfig#defaultTaskCpu()}, 0 unless set) — never something derived from the thread's identity,
 * so "the local CPU" of an unbound thread is the same on every run and for every thread.
 */
class TaskCpuBindingTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(4);

    @Test
    void unboundThreads_areAllOnTheDefaultCpu0_whateverTheirThreadIds() throws Exception {
        Kernel k = kernels.kernel();
        List<Integer> cpus = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int[] cpu = new int[1];
            Thread t = Thread.ofPlatform().start(() -> {
                cpu[0] = k.context().cpu().id();
                k.detachCurrentThread();
            });
            t.join();
            cpus.add(cpu[0]);
        }
        assertEquals(List.of(0, 0, 0, 0, 0, 0, 0, 0), cpus);
    }

    @Test
    void theDefaultCpu_isConfigurable_andValidated() throws Exception {
        Kernel k = kernels.boot(b -> b.defaultTaskCpu(3));
        int[] cpu = new int[1];
        Thread t = Thread.ofPlatform().start(() -> {
            cpu[0] = k.context().cpu().id();
            k.detachCurrentThread();
        });
        t.join();
        assertEquals(3, cpu[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelConfig.builder().cpus(2).defaultTaskCpu(2).build());
        assertEquals("defaultTaskCpu must be a CPU of this kernel (0..1): 2", e.getMessage());
    }

    @Test
    void bindCurrentThread_movesTheThread_andAnExplicitBindingWins() {
        Kernel k = kernels.kernel();
        assertEquals(0, k.context().cpu().id());
        k.bindCurrentThread(2);
        assertEquals(2, k.context().cpu().id());
        k.bindCurrentThread(1);
        assertEquals(1, k.context().cpu().id());
    }

    /**
     * The README's stepped example: a timer set up and armed by the stepping thread fires on CPU 0's tick —
     * whatever the thread did with the kernel before (it used to be pinned to CPU {@code threadId % cpus}).
     */
    @Test
    void readmeSteppedExample_firesOnCpu0_evenAfterTheThreadTouchedTheKernel() {
        Kernel k = kernels.kernel();
        k.jiffies();
        k.context();                      // the thread's first call: it attaches as a task, on CPU 0
        Stepper s = k.stepper();
        AtomicInteger fired = new AtomicInteger();
        TimerList watchdog = TimerList.setup("watchdog", t -> fired.incrementAndGet(), 0);
        k.timers().mod(watchdog, k.jiffies() + 1);
        s.advanceJiffies(2);
        s.hardirq(0);
        assertEquals(1, fired.get(), "the watchdog ran at CPU 0's irq_exit");
        assertTrue(!watchdog.isPending());
    }
}
