package dev.bottomhalf.runtime;

import dev.bottomhalf.runtime.RateLimiter;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Rate-limited reports: the kernel's {@code ___ratelimit} rule ({@link RateLimit}), the per-site and per-key
 * states ({@link RateLimiter}) and the oopses of handlers that throw on every call, in stepped mode on the
 * manual clock (HZ 1000: one jiffy per millisecond, the default 10 reports per 5000 jiffies).
 */
class RateLimitTest {
    private static final long INTERVAL = 5_000; // DEFAULT_RATELIMIT_INTERVAL = 5 * HZ at HZ 1000
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private ExecutionContext task;

    /** Boots a kernel with {@code changes}, whose reports {@link #reports} then reads, this thread on its CPU 0. */
    private void boot(Consumer<KernelConfig.Builder> changes) {
        kernel = kernels.boot(changes);
        reports = kernels.reports(kernel);
        stepper = kernel.stepper();
        task = kernel.bindCurrentThread(0);
    }

    private void boot() {
        boot(b -> { });
    }

    private long oopsesDelivered() {
        return reports.ofKind(KernelEvent.Kind.OOPS).size();
    }

    private List<String> suppressedLines() {
        return reports.matching("callbacks suppressed").stream().map(KernelEvent::message).toList();
    }

    // ------------------------------------------------------------------------------------------
    // The rule
    // ------------------------------------------------------------------------------------------

    @Test
    void ratelimit_letsTheBurstThrough_suppressesTheRest_untilJiffiesPassTheEndOfTheInterval() {
        RateLimit rs = new RateLimit(INTERVAL, 10);
        long begin = 1_000;
        for (int i = 0; i < 10; i++) {
            assertEquals(0, rs.check(begin + i), "callback " + i + " of the burst");
        }
        assertEquals(RateLimit.SUPPRESSED, rs.check(begin + 10), "the 11th within the interval");
        assertEquals(RateLimit.SUPPRESSED, rs.check(begin + INTERVAL),
                "begin + interval is still inside: time_is_before_jiffies(begin + interval) is strict");
        assertEquals(2, rs.missed());
        assertEquals(2, rs.check(begin + INTERVAL + 1), "a new interval: goes ahead and hands over the count");
        assertEquals(0, rs.missed());
        for (int i = 1; i < 10; i++) {
            assertEquals(0, rs.check(begin + INTERVAL + 1));
        }
        assertEquals(RateLimit.SUPPRESSED, rs.check(begin + INTERVAL + 1));
        assertEquals(1, rs.check(begin + 3 * INTERVAL), "after a quiet gap the next call opens an interval");
    }

    @Test
    void ratelimit_withZeroIntervalOrZeroBurst_neverSuppresses() {
        RateLimit noInterval = new RateLimit(0, 10);
        RateLimit noBurst = new RateLimit(INTERVAL, 0);
        for (int i = 0; i < 1_000; i++) {
            assertEquals(0, noInterval.check(7));
            assertEquals(0, noBurst.check(7));
        }
        assertEquals(0, noInterval.missed());
        assertThrows(IllegalArgumentException.class, () -> new RateLimit(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> new RateLimit(INTERVAL, -1));
    }

    @Test
    void kernelConfig_defaultsToTheKernelsRate_andRefusesNegativeValues() {
        KernelConfig c = KernelConfig.builder().stepped().build();
        assertEquals(5_000, c.ratelimitIntervalMs());
        assertEquals(10, c.ratelimitBurst());
        assertThrows(IllegalArgumentException.class, () -> KernelConfig.builder().ratelimit(-1, 10).build());
        assertThrows(IllegalArgumentException.class, () -> KernelConfig.builder().ratelimit(5_000, -1).build());
    }

    @Test
    void limiter_hasOneStatePerKey_andNamesItsFunctionInTheSuppressedLine() {
        boot();
        RateLimiter site = kernel.reports().limiter("my_func");
        Object a = new Object();
        Object b = new Object();
        int allowedA = 0;
        int allowedB = 0;
        for (int i = 0; i < 15; i++) {
            allowedA += site.allow(a, KernelEvent.Kind.ERR) ? 1 : 0;
        }
        for (int i = 0; i < 12; i++) {
            allowedB += site.allow(b, KernelEvent.Kind.ERR) ? 1 : 0;
        }
        assertEquals(10, allowedA);
        assertEquals(10, allowedB, "another key has its own burst");
        assertEquals(7, kernel.reports().count(KernelEvent.Kind.ERR), "the suppressed ones are counted here");
        stepper.advanceJiffies(INTERVAL + 1);
        assertTrue(site.allow(b, KernelEvent.Kind.ERR));
        assertEquals(List.of("my_func: 2 callbacks suppressed"), suppressedLines());
        KernelEvent line = reports.matching("callbacks suppressed").get(0);
        assertEquals(KernelEvent.Kind.WARN, line.kind(), "printk_deferred(KERN_WARNING ...)");
        assertEquals(5, site.state(a).missed(), "a's count waits for a's next report");
    }

    @Test
    void limiter_dropsIdleStates_onlyOnceTheyAreIndistinguishableFromFreshOnes() {
        boot();
        RateLimiter site = kernel.reports().limiter("f");
        Object flooding = new Object();
        for (int i = 0; i < 11; i++) {
            site.allow(flooding, KernelEvent.Kind.INFO);
        }
        for (int i = 0; i < 1_000; i++) {
            site.allow(new Object(), KernelEvent.Kind.INFO);      // short-lived handlers, one report each
        }
        for (int i = 0; i < 100; i++) {
            site.allow(new Object(), KernelEvent.Kind.INFO);
        }
        assertEquals(1_101, site.size(), "nothing is idle yet: every interval is running");
        stepper.advanceJiffies(INTERVAL + 1);
        for (int i = 0; i < 10; i++) {
            site.allow(new Object(), KernelEvent.Kind.INFO);
        }
        assertTrue(site.size() < 100, "the idle states were dropped: " + site.size());
        assertEquals(1, site.state(flooding).missed(), "a state with an unreported count stays");
        assertTrue(site.allow(flooding, KernelEvent.Kind.INFO));
        assertEquals(List.of("f: 1 callbacks suppressed"), suppressedLines());
    }

    /** {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} of this thread (through reflection). */
    private static long allocatedBytes() throws ReflectiveOperationException {
        Method m = Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(ManagementFactory.getThreadMXBean(), Thread.currentThread().threadId());
    }

    @Test
    void suppressedReport_allocatesNothing() throws ReflectiveOperationException {
        boot();
        RateLimiter site = kernel.reports().limiter("f");
        Object key = new Object();
        RuntimeException thrown = new IllegalStateException("preallocated");
        // One lambda for both loops: linking a lambda's call site the first time it runs allocates (~30 KB).
        java.util.function.Function<Object, String> describe = k -> "handler " + k;
        for (int round = 0; round < 5; round++) {            // the burst, then the JIT's warm-up
            for (int i = 0; i < 100_000; i++) {
                site.allow(key, KernelEvent.Kind.ERR);
                site.oops(key, key, describe, thrown);
            }
            allocatedBytes();
        }
        long before = allocatedBytes();
        for (int i = 0; i < 100_000; i++) {
            site.allow(key, KernelEvent.Kind.ERR);
            site.oops(key, key, describe, thrown);
        }
        long allocated = allocatedBytes() - before;
        assertTrue(allocated < 4_096, allocated + " bytes for 200,000 suppressed reports (the measuring call"
                + " itself takes about 1 KB)");
        assertEquals(5, oopsesDelivered(), "the key's burst of 10 went to the first 5 allow/oops pairs");
        assertEquals(600_000, kernel.reports().count(KernelEvent.Kind.OOPS), "every oops counted");
        assertEquals(600_000 - 5, kernel.reports().count(KernelEvent.Kind.ERR),
                "every suppressed one counted (the 5 allowed are counted by the report their caller makes)");
    }

    // ------------------------------------------------------------------------------------------
    // Handlers that throw on every call
    // ------------------------------------------------------------------------------------------

    /**
     * The worked example of docs/subsystems/runtime.md: a hard-IRQ handler throws on each of 100,000
     * interrupts, one every 100 µs (10 s). Every oops is counted; 10 are reported per 5 s interval, the
     * second interval opens with the count of the first; the 100,000th interrupt ends the window of
     * note_interrupt, which reports "nobody cared" and disables the line.
     */
    @Test
    void hardirqHandlerThatAlwaysThrows_100000Interrupts_reports10PerInterval_andCountsEveryOops() {
        boot();
        RuntimeException boom = new IllegalStateException("boom");
        kernel.irqs().request(24, (irq, dev) -> {
            throw boom;
        }, Set.of(), "eth0", "dev");
        kernel.irqs().setAffinity(24, 0);
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            kernel.irqs().assertIrq(24);
            stepper.hardirq(0);
            stepper.advance(100, TimeUnit.MICROSECONDS);
        }
        assertEquals(n, kernel.reports().count(KernelEvent.Kind.OOPS), "every oops is counted");
        assertEquals(20, oopsesDelivered(), "10 in each of the two intervals the 10 s span");
        assertEquals(List.of("__handle_irq_event_percpu: 50000 callbacks suppressed"), suppressedLines(),
                "interrupts 10..50,009 were suppressed; 50,010 (at 5.001 s) opened the second interval");
        assertEquals("Oops: irq 24 handler eth0 threw java.lang.IllegalStateException: boom",
                reports.ofKind(KernelEvent.Kind.OOPS).get(0).message());
        reports.expect("irq 24: nobody cared");   // asserted below in the order of every report (events())
        List<String> order = reports.events().stream().map(e -> e.kind() + " " + e.message().lines().findFirst()
                .orElseThrow()).toList();
        assertEquals("WARN __handle_irq_event_percpu: 50000 callbacks suppressed", order.get(10),
                "the line comes before the report that opened the interval");
        assertEquals("BUG irq 24: nobody cared (try booting with the \"irqpoll\" option)", order.get(21));
        assertEquals("EMERG Disabling IRQ #24", order.get(22));
        assertEquals(23, order.size());
        assertTrue(kernel.irqs().isSpuriousDisabled(24),
                "no later oops opens an interval: the second interval's 49,980 stay counted, not reported");
    }

    @Test
    void softirqHandlerThatAlwaysThrows_reports10_thenTheSuppressedLine_whenTheIntervalIsOver() {
        boot();
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            throw new IllegalStateException("rx");
        });
        Runnable once = () -> {
            task.localBhDisable();
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            task.localBhEnable();     // runs NET_RX on this thread
        };
        for (int i = 0; i < 25; i++) {
            once.run();
        }
        assertEquals(25, kernel.reports().count(KernelEvent.Kind.OOPS));
        assertEquals(10, oopsesDelivered());
        stepper.advanceJiffies(INTERVAL);
        once.run();
        assertEquals(10, oopsesDelivered(), "5000 jiffies after the first: still the first interval");
        stepper.advanceJiffies(1);
        once.run();
        assertEquals(11, oopsesDelivered());
        assertEquals(List.of("handle_softirqs: 16 callbacks suppressed"), suppressedLines());
        assertEquals(27, kernel.reports().count(KernelEvent.Kind.OOPS));
        assertEquals("Oops: softirq NET_RX (net_rx_action) threw java.lang.IllegalStateException: rx",
                reports.ofKind(KernelEvent.Kind.OOPS).get(10).message());
    }

    @Test
    void taskletThatAlwaysThrows_isLimitedPerTasklet() {
        boot();
        Tasklet bad = Tasklet.setup("bad", t -> {
            throw new IllegalStateException("t");
        });
        Tasklet worse = Tasklet.setup("worse", t -> {
            throw new IllegalStateException("t");
        });
        for (int i = 0; i < 12; i++) {
            task.localBhDisable();
            kernel.tasklets().schedule(bad);
            kernel.tasklets().schedule(worse);
            task.localBhEnable();
        }
        assertEquals(24, kernel.reports().count(KernelEvent.Kind.OOPS));
        assertEquals(10, reports.matching("Oops: tasklet bad threw").size());
        assertEquals(10, reports.matching("Oops: tasklet worse threw").size(), "its own burst");
        stepper.advanceJiffies(INTERVAL + 1);
        task.localBhDisable();
        kernel.tasklets().schedule(worse);
        task.localBhEnable();
        assertEquals(List.of("tasklet_action_common: 2 callbacks suppressed"), suppressedLines());
        assertEquals(11, reports.matching("Oops: tasklet worse threw").size());
    }

    @Test
    void timerThatAlwaysThrows_reportsTheBurst_andTheCountWhenTheNextIntervalOpens() {
        boot();
        TimerList bad = TimerList.setup("bad", t -> {
            kernel.timers().mod(t, kernel.jiffies() + 1);     // re-armed before it throws, every time
            throw new IllegalStateException("tick");
        }, 0);
        kernel.timers().mod(bad, kernel.jiffies() + 1);
        long firstOopsJiffies = -1;
        while (kernel.reports().count(KernelEvent.Kind.OOPS) < 30) {
            stepper.advanceJiffies(1);
            stepper.hardirq(0);
            if (firstOopsJiffies < 0 && kernel.reports().count(KernelEvent.Kind.OOPS) == 1) {
                firstOopsJiffies = kernel.jiffies();
            }
        }
        assertEquals(10, oopsesDelivered());
        stepper.advanceToJiffy(firstOopsJiffies + INTERVAL + 1);
        long before = kernel.reports().count(KernelEvent.Kind.OOPS);
        while (kernel.reports().count(KernelEvent.Kind.OOPS) == before) {
            stepper.hardirq(0);
            stepper.advanceJiffies(1);
        }
        assertEquals(11, oopsesDelivered());
        assertEquals(List.of("call_timer_fn: 20 callbacks suppressed"), suppressedLines());
        assertEquals("Oops: timer bad threw java.lang.IllegalStateException: tick",
                reports.ofKind(KernelEvent.Kind.OOPS).get(10).message());
    }

    @Test
    void workThatAlwaysThrows_namesItsWorkqueue_andIsLimitedPerItem() {
        boot();
        Workqueue wq = kernel.workqueues().alloc("flaky", 0, 0);
        Work w = new Work("w", x -> {
            throw new IllegalStateException("w");
        });
        for (int i = 0; i < 15; i++) {
            kernel.workqueues().queueOn(0, wq, w);
            stepper.runUntilIdle();
        }
        assertEquals(15, kernel.reports().count(KernelEvent.Kind.OOPS));
        assertEquals(10, oopsesDelivered());
        assertEquals("Oops: work w (flaky) threw java.lang.IllegalStateException: w",
                reports.ofKind(KernelEvent.Kind.OOPS).get(0).message());
        stepper.advanceJiffies(INTERVAL + 1);
        kernel.workqueues().queueOn(0, wq, w);
        stepper.runUntilIdle();
        assertEquals(List.of("process_one_work: 5 callbacks suppressed"), suppressedLines());
        assertEquals(11, oopsesDelivered(), "the new interval's first");
    }

    @Test
    void oopsOfAStringNamedHandler_isLimitedPerName_andTheLineNamesTheHandler() {
        boot();
        for (int i = 0; i < 11; i++) {
            kernel.reports().oops("ksoftirqd/1", new IllegalStateException("loop"));
        }
        assertEquals(10, oopsesDelivered());
        stepper.advanceJiffies(INTERVAL + 1);
        kernel.reports().oops("ksoftirqd/1", new IllegalStateException("loop"));
        assertEquals(List.of("ksoftirqd/1: 1 callbacks suppressed"), suppressedLines());
        assertEquals(11, oopsesDelivered(), "the new interval's first");
        assertEquals(12, kernel.reports().count(KernelEvent.Kind.OOPS));
    }

    @Test
    void anOutOfMemoryErrorOverTheRate_isStillReported_andPanicsTheKernel() {
        boot();
        for (int i = 0; i < 10; i++) {
            kernel.reports().oops("h", new IllegalStateException());
        }
        OutOfMemoryError oom = new OutOfMemoryError("gone");
        KernelPanic panic = assertThrows(KernelPanic.class, () -> kernel.reports().oops("h", oom));
        assertEquals(oom, panic.getCause());
        assertEquals("Kernel panic - not syncing: Fatal exception", panic.getMessage());
        assertEquals(11, oopsesDelivered(), "the oops before a panic is never suppressed");
        assertTrue(kernel.isPanicked());
    }

    @Test
    void configuredRate_isUsed_andZeroBurstTurnsTheLimitOff() {
        boot(b -> b.ratelimit(1_000, 3));
        for (int i = 0; i < 5; i++) {
            kernel.reports().oops("h", new IllegalStateException());
        }
        assertEquals(3, oopsesDelivered());
        stepper.advanceJiffies(1_001);
        kernel.reports().oops("h", new IllegalStateException());
        assertEquals(List.of("h: 2 callbacks suppressed"), suppressedLines());
        assertEquals(4, oopsesDelivered(), "the new interval's first");
        kernel.close();
        boot(b -> b.ratelimit(5_000, 0));
        for (int i = 0; i < 100; i++) {
            kernel.reports().oops("h", new IllegalStateException());
        }
        assertEquals(100, oopsesDelivered());
        assertEquals(List.of(), suppressedLines());
        RateLimiter f = kernel.reports().limiter("f");
        Object key = new Object();
        for (int i = 0; i < 20; i++) {
            assertTrue(f.allow(key, KernelEvent.Kind.INFO));
        }
        assertNull(f.state(key), "no limit: no state kept");
    }

    // ------------------------------------------------------------------------------------------
    // Concurrent reporters
    // ------------------------------------------------------------------------------------------

    /**
     * Four threads report through one key as fast as they can, in 500 phases: all start a phase at once
     * (released from a spin, so they collide on the state at the start of each interval), and between two
     * phases the clock moves past the interval. No phase lets more than the burst through — the delivery
     * decision is made under the state's monitor — and each phase lets exactly the burst through and reports
     * the previous phase's count exactly.
     */
    @Test
    void concurrentReporters_neverDeliverMoreThanTheBurstPerInterval_andTheCountsAreExact() throws Exception {
        boot();
        RateLimiter site = kernel.reports().limiter("flood");
        Object key = new Object();
        int threads = 4;
        int perThread = 50;
        int phases = 500;
        AtomicInteger allowed = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        AtomicInteger phase = new AtomicInteger(-1);
        List<Integer> overDelivered = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        List<Thread> reporters = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                try {
                    for (int p = 0; p < phases; p++) {
                        while (phase.get() < p) {
                            Thread.yield();
                        }
                        for (int i = 0; i < perThread; i++) {
                            if (site.allow(key, KernelEvent.Kind.ERR)) {
                                allowed.incrementAndGet();
                            }
                        }
                        done.incrementAndGet();
                    }
                } catch (Throwable e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                }
            }, "reporter-" + t);
            th.start();
            reporters.add(th);
        }
        for (int p = 0; p < phases; p++) {
            phase.set(p);
            while (done.get() < (p + 1) * threads) {
                Thread.yield();
            }
            int n = allowed.getAndSet(0);
            if (n != 10) {
                overDelivered.add(n);
            }
            stepper.advanceJiffies(INTERVAL + 1);
        }
        for (Thread th : reporters) {
            th.join(30_000);
        }
        assertEquals(List.of(), failures);
        assertEquals(List.of(), overDelivered, "phases that did not let exactly the burst (10) through");
        int suppressedPerPhase = threads * perThread - 10;
        List<String> lines = suppressedLines();
        assertEquals(phases - 1, lines.size());
        assertTrue(lines.stream().allMatch(l -> l.equals("flood: " + suppressedPerPhase + " callbacks suppressed")),
                lines.stream().distinct().toList().toString());
        assertEquals(suppressedPerPhase, site.state(key).missed(), "the last phase's count waits");
        assertEquals((long) phases * (threads * perThread - 10), kernel.reports().count(KernelEvent.Kind.ERR),
                "every suppressed report counted (the ones that went ahead are counted by their report)");
    }
}
