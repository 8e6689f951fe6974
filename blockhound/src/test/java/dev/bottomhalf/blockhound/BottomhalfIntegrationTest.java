package dev.bottomhalf.blockhound;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import reactor.blockhound.integration.BlockHoundIntegration;

/**
 * The rules around the report: its rate limit, what is let through (the kernel's own waits, spinning, the
 * report path, threads outside any kernel, an idle kernel), how the integration is found, and that core
 * does not depend on it.
 */
class BottomhalfIntegrationTest {
    static final int LINE = 24;
    static final String BUG = "BUG: sleeping function called from invalid context";

    @RegisterExtension
    final KernelExtension stepped = KernelExtension.stepped().cpus(1).bindTestThread(0);
    @RegisterExtension
    final KernelExtension threaded = KernelExtension.threaded().cpus(2);

    @BeforeAll
    static void installBlockHound() {
        BottomhalfBlockHound.install();
    }

    @BeforeEach
    void clearCalls() {
        Sleepers.calls.clear();
    }

    @Test
    void install_isOneLine_andIdempotent() {
        BottomhalfBlockHound.install();
        assertTrue(BottomhalfBlockHound.isInstalled());
    }

    @Test
    void serviceLoader_findsTheIntegration() {
        assertTrue(ServiceLoader.load(BlockHoundIntegration.class).stream()
                .anyMatch(p -> p.type() == BottomhalfIntegration.class), "META-INF/services names it");
    }

    @Test
    void twoSleepsInOneSecond_areReportedOnce_andTheNextSecondReportsAgain() {
        Kernel k = stepped.kernel();
        k.irqs().request(LINE, (irq, dev) -> {
            Sleepers.threadSleep();
            Sleepers.parkNanos();
            return IrqReturn.HANDLED;
        }, Set.of(), "twice", "dev");
        k.irqs().setAffinity(LINE, 0);
        k.irqs().assertIrq(LINE);
        stepped.stepper().hardirq(0);
        assertEquals(1, stepped.reports().matching(BUG).size(), "__might_resched: one report per HZ");
        assertEquals(Sleepers.calls.get(0).expectedReport(), stepped.reports().matching(BUG).get(0).message());
        assertEquals(2, k.reports().count(KernelEvent.Kind.BUG), "the suppressed one is counted");

        stepped.stepper().advanceJiffies(k.config().hz());
        k.irqs().assertIrq(LINE);
        stepped.stepper().hardirq(0);
        assertEquals(2, stepped.reports().matching(BUG).size(), "a second later the next one is reported");
        assertEquals(Sleepers.calls.get(2).expectedReport(), stepped.reports().matching(BUG).get(1).message());
    }

    @Test
    void kernelSleepingHelper_inAtomicContext_isReportedByCoreAlone() {
        Kernel k = stepped.kernel();
        stepped.stepper().advanceJiffies(k.config().hz()); // the limiter would let a second report through now
        k.context().localBhDisable();
        Linux.msleep(1);
        k.context().localBhEnable();
        List<KernelEvent> bugs = stepped.reports().matching(BUG);
        assertEquals(1, bugs.size(), () -> "one report, core's: " + bugs);
        assertEquals(1, k.reports().count(KernelEvent.Kind.BUG), "and no second one, suppressed or not");
        assertTrue(bugs.get(0).message().startsWith(BUG + " at schedule_timeout_uninterruptible\n"),
                bugs.get(0).message());
    }

    @Test
    void spinWait_inHardirq_isNotASleep() {
        Kernel k = stepped.kernel();
        k.irqs().request(LINE, (irq, dev) -> {
            Sleepers.spinWait();
            return IrqReturn.HANDLED;
        }, Set.of(), "spin", "dev");
        k.irqs().setAffinity(LINE, 0);
        k.irqs().assertIrq(LINE);
        stepped.stepper().hardirq(0);
        assertTrue(Sleepers.calls.get(0).mayNotSleep());
        assertEquals(List.of(), stepped.reports().events());
    }

    @Test
    void reporterThatBlocks_isThePrintkPath_andNotReported() {
        Kernel k = stepped.boot(b -> b.reporter(event -> LockSupport.parkNanos(1_000)));
        k.irqs().request(LINE, (irq, dev) -> {
            k.context().localBhEnable(); // unbalanced: a WARNING, delivered from hardirq context
            return IrqReturn.HANDLED;
        }, Set.of(), "warns", "dev");
        k.irqs().setAffinity(LINE, 0);
        k.irqs().assertIrq(LINE);
        stepped.stepper().hardirq(0);
        assertEquals(0, stepped.reports().matching(BUG).size(), () -> stepped.reports().toString());
        assertEquals(1, stepped.reports().matching("local_bh_enable").size());
    }

    @Test
    void cpuWaitingForItsIrqLevel_inHardirq_isTheKernelsOwnWait_andNotReported() throws Exception {
        Kernel k = threaded.kernel();
        ExecutionContext task = k.bindCurrentThread(0);
        CountDownLatch handled = new CountDownLatch(1);
        k.irqs().request(LINE, (irq, dev) -> {
            handled.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "masked", "dev");
        k.irqs().setAffinity(LINE, 0);
        task.localIrqDisable();
        try {
            k.irqs().assertIrq(LINE);
            Thread cpu0 = KernelExtension.runtimeThreads(k).stream()
                    .filter(t -> t.getName().equals("cpu/0")).findFirst().orElseThrow();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!waitsForCpuLevel(cpu0) && System.nanoTime() < deadline) {
                Thread.onSpinWait(); // the test thread has IRQs disabled: it spins, it may not sleep
            }
            assertTrue(waitsForCpuLevel(cpu0), "cpu/0 parks in hardirq for the IRQ level");
        } finally {
            task.localIrqEnable();
        }
        assertTrue(handled.await(10, TimeUnit.SECONDS));
        assertEquals(List.of(), threaded.reports().events());
    }

    private static boolean waitsForCpuLevel(Thread t) {
        return t.getState() == Thread.State.WAITING && Arrays.stream(t.getStackTrace())
                .anyMatch(f -> f.getClassName().equals("dev.bottomhalf.internal.runtime.CpuLevel"));
    }

    /**
     * JUnit loads every test class before the first test runs, so this class was loaded before BlockHound
     * was installed: its synchronized block is probed only because the installation retransformed it.
     */
    @Test
    void contendedSynchronized_inAClassLoadedBeforeInstallation_isReported() throws Exception {
        Kernel k = stepped.kernel();
        try (Sleepers.Contention contention = new Sleepers.Contention().start()) {
            k.irqs().request(LINE, (irq, dev) -> {
                enterContended(contention);
                return IrqReturn.HANDLED;
            }, Set.of(), "preloaded", "dev");
            k.irqs().setAffinity(LINE, 0);
            k.irqs().assertIrq(LINE);
            stepped.stepper().hardirq(0);
            assertTrue(contention.entered);
        }
        List<KernelEvent> bugs = stepped.reports().matching(BUG);
        assertEquals(1, bugs.size(), () -> "one report: " + bugs);
        assertEquals(Sleepers.calls.get(0).expectedReport(), bugs.get(0).message());
        assertTrue(Sleepers.calls.get(0).frame().startsWith(
                "dev.bottomhalf.blockhound.BottomhalfIntegrationTest.enterContended("), Sleepers.calls.get(0).frame());
        assertTrue(bugs.get(0).cause().getMessage().startsWith("monitorenter java.lang.Object@"),
                bugs.get(0).cause().getMessage());
    }

    private static void enterContended(Sleepers.Contention contention) {
        Sleepers.mark(); contention.arm(); synchronized (contention.lock) {
            contention.entered = true;
        }
    }

    @Test
    void idleKernel_withTheIntegrationInstalled_reportsNothing() {
        Kernel k = threaded.kernel();
        long start = k.jiffies();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (k.jiffies() < start + 100 && System.nanoTime() < deadline) {
            LockSupport.parkNanos(1_000_000);
        }
        assertTrue(k.jiffies() >= start + 100, "the kernel ticked");
        assertEquals(List.of(), threaded.reports().events());
        assertEquals(0, k.reports().count(KernelEvent.Kind.BUG));
    }

    @Test
    void threadOutsideAnyKernel_mayBlock() throws Exception {
        AtomicInteger failures = new AtomicInteger();
        Thread t = new Thread(() -> {
            try {
                Sleepers.threadSleep();
                Sleepers.parkNanos();
            } catch (Throwable e) {
                failures.incrementAndGet();
            }
        });
        t.start();
        t.join();
        assertEquals(0, failures.get());
        assertFalse(Sleepers.calls.get(0).mayNotSleep());
    }

    @Test
    void core_doesNotDependOnBlockHound() throws Exception {
        Path core = Path.of(ExecutionContext.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        ModuleDescriptor descriptor = ModuleFinder.of(core).findAll().iterator().next().descriptor();
        assertEquals("dev.bottomhalf", descriptor.name());
        // Only the JDK's own modules: java.management (workers' CPU time), jdk.jfr (the JFR events).
        assertEquals(Set.of("java.base", "java.management", "jdk.jfr"), descriptor.requires().stream()
                .map(ModuleDescriptor.Requires::name).collect(java.util.stream.Collectors.toSet()));
    }
}
