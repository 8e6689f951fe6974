package dev.bottomhalf.softirq;

import dev.bottomhalf.internal.Internals;
import static dev.bottomhalf.softirq.SoftirqVector.BLOCK;
import static dev.bottomhalf.softirq.SoftirqVector.HI;
import static dev.bottomhalf.softirq.SoftirqVector.NET_RX;
import static dev.bottomhalf.softirq.SoftirqVector.NET_TX;
import static dev.bottomhalf.softirq.SoftirqVector.TIMER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * The softirq rules whose outcome involves no timing (where a raise runs, local_bh_disable/enable nesting,
 * the context predicates, bit order, /proc/softirqs, the preempt_count leak report) on a threaded kernel: real
 * {@code cpu/N} and {@code ksoftirqd/N} threads. Handlers record the name of the thread they run on
 * and the context predicates; the test waits with latches and generous timeouts, never with sleeps.
 * Every scenario is built so that only one thread can legally run the handler.
 */
class SoftirqThreadedTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private KernelReports reports;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private Kernel kernel;
    private ExecutionContext task;
    private String me;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        task = kernel.bindCurrentThread(0);
        me = Thread.currentThread().getName();
    }

    /** The running thread's name, then the context as in the stepped tests. */
    private String snap() {
        ExecutionContext c = kernel.context();
        return String.format("%s: %s cpu=%d pc=%08x hardirq=%b serving=%b softirq=%b interrupt=%b task=%b irqsOff=%b",
                Thread.currentThread().getName(), c.name(), c.cpuId(), c.preemptCount(), c.inHardirq(),
                c.inServingSoftirq(), c.inSoftirq(), c.inInterrupt(), c.inTask(), c.irqsDisabled());
    }

    private static String serving(String thread, String ctx, int cpu, int pc) {
        return String.format("%s: %s cpu=%d pc=%08x hardirq=false serving=true softirq=true interrupt=true task=false"
                + " irqsOff=false", thread, ctx, cpu, pc);
    }

    private static void await(CountDownLatch latch, String what) throws InterruptedException {
        assertTrue(latch.await(TIMEOUT_S, TimeUnit.SECONDS), "timed out waiting for " + what);
    }

    /** A line routed to {@code cpu} whose hard handler raises {@code vectors} in order. */
    private void raisingLine(int irq, int cpu, SoftirqVector... vectors) {
        kernel.irqs().request(irq, (i, d) -> {
            for (SoftirqVector v : vectors) {
                kernel.softirqs().raise(v);
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "dev" + irq, "cookie" + irq);
        kernel.irqs().setAffinity(irq, cpu);
    }

    @Test
    void raiseFromTask_runsOnTheKsoftirqdThreadOfTheRaisingCpu_notOnTheRaiser() throws Exception {
        CountDownLatch ran = new CountDownLatch(1);
        kernel.softirqs().open(TIMER, () -> {
            log.add(snap());
            log.add("kernel thread=" + (Thread.currentThread() instanceof KernelThread));
            ran.countDown();
        });
        kernel.softirqs().raise(TIMER);
        await(ran, "TIMER in ksoftirqd/0");
        assertEquals(List.of(serving("ksoftirqd/0", "ksoftirqd/0", 0, 0x100), "kernel thread=true"), log);
        assertEquals(1, kernel.softirqs().count(0, TIMER));
        assertEquals(0, kernel.softirqs().count(1, TIMER));
    }

    /** On CPU 1: a task bound to CPU 1 wakes ksoftirqd/1. */
    @Test
    void raiseFromATaskBoundToCpu1_runsOnKsoftirqd1() throws Exception {
        CountDownLatch ran = new CountDownLatch(1);
        kernel.softirqs().open(TIMER, () -> {
            log.add(snap());
            ran.countDown();
        });
        Thread other = Thread.ofPlatform().name("task-on-cpu1").start(() -> {
            kernel.bindCurrentThread(1);
            kernel.softirqs().raise(TIMER);
        });
        other.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(other.isAlive());
        await(ran, "TIMER in ksoftirqd/1");
        assertEquals(List.of(serving("ksoftirqd/1", "ksoftirqd/1", 1, 0x100)), log);
        assertEquals(1, kernel.softirqs().count(1, TIMER));
        assertEquals(0, kernel.softirqs().count(0, TIMER));
    }

    @Test
    void raiseInsideBhDisabledSection_runsOnTheCallingThreadBeforeLocalBhEnableReturns() {
        kernel.softirqs().open(NET_RX, () -> log.add(snap()));
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        assertFalse(kernel.softirqs().ksoftirqdWoken(0), "raised with BH disabled: nobody is woken");
        task.localBhEnable();
        assertEquals(List.of(serving(me, me, 0, 0x101)), log, "ran synchronously, on this thread");
        assertEquals(1, kernel.softirqs().count(0, NET_RX));
        assertEquals(0, task.preemptCount());
    }

    @Test
    void nestedBhDisable_onlyTheOutermostEnableRuns_onTheCallingThread() {
        kernel.softirqs().open(NET_RX, () -> log.add(Thread.currentThread().getName()));
        task.localBhDisable();
        task.localBhDisable();
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        task.localBhEnable();
        assertEquals(List.of(), log);
        assertEquals(NET_RX.bit(), Internals.machine(kernel).cpu(0).softirqPending(), "still pending: nobody else ran it");
        task.localBhEnable();
        assertEquals(List.of(me), log);
    }

    /**
     * The context predicates in a BH-disabled section on a real thread, and the exclusion it implies: while this task has BH disabled on CPU 0,
     * ksoftirqd/0 (woken by another task on CPU 0) cannot serve CPU 0's softirqs, so the section's final
     * local_bh_enable is the one that runs them.
     */
    @Test
    void bhDisabledTask_predicates_andKsoftirqdWaitsForTheSectionToEnd() throws Exception {
        kernel.softirqs().open(NET_RX, () -> log.add(Thread.currentThread().getName()));
        task.localBhDisable();
        assertEquals(List.of(true, true, false, true), List.of(task.inSoftirq(), task.inInterrupt(),
                task.inServingSoftirq(), task.inTask()));
        assertEquals(task, Internals.machine(kernel).cpu(0).bhLevelOwner());
        Thread other = Thread.ofPlatform().name("raiser-on-cpu0").start(() -> {
            ExecutionContext c = kernel.bindCurrentThread(0);
            log.add("raiser in_interrupt=" + c.inInterrupt());
            kernel.softirqs().raise(NET_RX);     // its own context is plain task: it wakes ksoftirqd/0
        });
        other.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(other.isAlive());
        assertEquals(List.of("raiser in_interrupt=false"), log, "NET_RX cannot run while this task holds BH");
        task.localBhEnable();
        assertEquals(List.of("raiser in_interrupt=false", me), log);
        assertEquals(1, kernel.softirqs().count(0, NET_RX));
    }

    /** Bit order at irq_exit on cpu/1's thread. */
    @Test
    void vectorsRaisedByOneHardIrq_runInBitOrder_onTheCpuThreadAtIrqExit() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        for (SoftirqVector v : List.of(HI, TIMER)) {
            kernel.softirqs().open(v, () -> log.add(v + "@" + Thread.currentThread().getName()));
        }
        kernel.softirqs().open(NET_RX, () -> {
            log.add("NET_RX@" + Thread.currentThread().getName());
            done.countDown();
        });
        raisingLine(9, 1, NET_RX, HI, TIMER);
        kernel.irqs().assertIrq(9);
        await(done, "NET_RX");
        assertEquals(List.of("HI@cpu/1", "TIMER@cpu/1", "NET_RX@cpu/1"), log);
    }

    /** Bit order in a BH-disabled section of this thread. */
    @Test
    void vectorsRaisedInOneBhDisabledSection_runInBitOrder_onTheCallingThread() {
        for (SoftirqVector v : List.of(HI, TIMER, NET_RX)) {
            kernel.softirqs().open(v, () -> log.add(v.name()));
        }
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        kernel.softirqs().raise(HI);
        kernel.softirqs().raise(TIMER);
        task.localBhEnable();
        assertEquals(List.of("HI", "TIMER", "NET_RX"), log);
    }

    @Test
    void fiveRaisesInOneHardIrq_countOneExecution() throws Exception {
        CountDownLatch ran = new CountDownLatch(1);
        AtomicInteger runs = new AtomicInteger();
        kernel.softirqs().open(BLOCK, () -> {
            runs.incrementAndGet();
            log.add(Thread.currentThread().getName());
            ran.countDown();
        });
        raisingLine(9, 1, BLOCK, BLOCK, BLOCK, BLOCK, BLOCK);
        kernel.irqs().assertIrq(9);
        await(ran, "BLOCK");
        // a second, different softirq on the same CPU is a barrier: it runs after the first pass ended
        CountDownLatch barrier = new CountDownLatch(1);
        kernel.softirqs().open(NET_TX, barrier::countDown);
        raisingLine(10, 1, NET_TX);
        kernel.irqs().assertIrq(10);
        await(barrier, "NET_TX");
        assertEquals(1, runs.get());
        assertEquals(List.of("cpu/1"), log);
        assertEquals(1, kernel.softirqs().count(1, BLOCK));
        assertEquals(0, kernel.softirqs().count(0, BLOCK));
        assertTrue(kernel.proc().softirqs().contains("\n       BLOCK:          0          1\n"), kernel.proc().softirqs());
    }

    /** A handler leaking preempt_count, on ksoftirqd/0's thread. */
    @Test
    void handlerLeakingPreemptCount_inKsoftirqd_isReportedAndRestoredBeforeTheNextRun() throws Exception {
        CountDownLatch firstRan = new CountDownLatch(1);
        CountDownLatch secondRan = new CountDownLatch(1);
        List<Integer> entry = new CopyOnWriteArrayList<>();
        kernel.softirqs().open(NET_RX, () -> {
            boolean first = entry.isEmpty();
            entry.add(kernel.context().preemptCount());
            if (first) {
                kernel.context().preemptDisable();   // never re-enabled: a leak
                firstRan.countDown();
            } else {
                secondRan.countDown();
            }
        });
        kernel.softirqs().raise(NET_RX);
        await(firstRan, "first NET_RX run");
        kernel.softirqs().raise(NET_RX);              // the second run follows the first on ksoftirqd/0
        await(secondRan, "second NET_RX run");
        assertEquals(List.of(0x100, 0x100), entry, "the leak was undone before the next run");
        List<KernelEvent> huh = reports.matching("huh, entered softirq");
        assertEquals(1, huh.size(), reports.toString());
        assertEquals("huh, entered softirq 3 NET_RX net_rx_action with preempt_count 00000100, exited with 00000101?",
                huh.get(0).message());
        assertEquals(KernelEvent.Kind.ERR, huh.get(0).kind());
        assertEquals("ksoftirqd/0", huh.get(0).thread());
        assertEquals(0, huh.get(0).cpu());
    }

    @Test
    void throwingHandler_isAnOops_andKsoftirqdKeepsRunningLaterSoftirqs() throws Exception {
        AtomicInteger timerRuns = new AtomicInteger();
        CountDownLatch thrown = new CountDownLatch(1);
        CountDownLatch later = new CountDownLatch(2);
        kernel.softirqs().open(TIMER, () -> {
            if (timerRuns.incrementAndGet() == 1) {
                thrown.countDown();
                throw new IllegalStateException("bad timer");
            }
            log.add("TIMER again@" + Thread.currentThread().getName());
            later.countDown();
        });
        kernel.softirqs().open(NET_RX, () -> {
            log.add("NET_RX@" + Thread.currentThread().getName());
            later.countDown();
        });
        kernel.softirqs().raise(TIMER);
        await(thrown, "the throwing TIMER run");
        // raised after the throw: they run after the oops was reported, on the same ksoftirqd/0
        kernel.softirqs().raise(NET_RX);
        kernel.softirqs().raise(TIMER);
        await(later, "TIMER and NET_RX after the oops");
        assertEquals(1, kernel.reports().count(KernelEvent.Kind.OOPS));
        KernelEvent oops = reports.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertEquals("Oops: softirq TIMER (timer_action) threw java.lang.IllegalStateException: bad timer",
                oops.message());
        assertEquals("ksoftirqd/0", oops.thread());
        assertEquals(0, oops.cpu());
        assertEquals("softirq", oops.context());
        assertInstanceOf(IllegalStateException.class, oops.cause());
        assertEquals(2, timerRuns.get(), "the same vector runs again later");
        assertEquals(Set.of("TIMER again@ksoftirqd/0", "NET_RX@ksoftirqd/0"), Set.copyOf(log));
        assertEquals(2, log.size());
    }

    @Test
    void throwingHandler_atIrqExit_isAnOops_andTheCpuThreadKeepsTakingIrqsAndSoftirqs() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch thrown = new CountDownLatch(1);
        CountDownLatch again = new CountDownLatch(1);
        kernel.softirqs().open(NET_RX, () -> {
            log.add(Thread.currentThread().getName());
            if (runs.incrementAndGet() == 1) {
                thrown.countDown();
                throw new IllegalArgumentException("bad packet");
            }
            again.countDown();
        });
        raisingLine(9, 1, NET_RX);
        kernel.irqs().assertIrq(9);
        await(thrown, "the throwing NET_RX run");
        kernel.irqs().assertIrq(9);
        await(again, "NET_RX after the oops");
        assertEquals("cpu/1", log.get(0), "the first run is at cpu/1's irq_exit");
        // The second runs on CPU 1: at cpu/1's irq_exit, or in ksoftirqd/1 when the first pass (which built and
        // delivered the oops on a loaded host) ran past the 2 ms budget and handed the rest to ksoftirqd.
        assertTrue(Set.of("cpu/1", "ksoftirqd/1").contains(log.get(1)), log.toString());
        assertEquals(2, log.size(), log.toString());
        assertEquals(2, kernel.irqs().count(9, 1), "cpu/1 took the second interrupt");
        assertEquals(1, kernel.reports().count(KernelEvent.Kind.OOPS));
        KernelEvent oops = reports.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertEquals("Oops: softirq NET_RX (net_rx_action) threw java.lang.IllegalArgumentException: bad packet",
                oops.message());
        assertEquals("cpu/1", oops.thread());
        assertEquals("softirq", oops.context());
    }
}
