package dev.bottomhalf.softirq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Stepper;

/**
 * Semantics §10 items 1–13 (softirqs and BH), each in stepped mode with a manual clock: every step is
 * driven by the test, so each assertion is deterministic.
 */
class SoftirqSemanticsTest {
    private final Reporter.Recording reports = Reporter.recording();
    private Kernel kernel;
    private Stepper stepper;
    private ExecutionContext task;
    private final List<String> log = new ArrayList<>();

    private void boot(KernelConfig.Builder builder) {
        kernel = Kernel.boot(builder.cpus(2).stepped().reporter(reports).build());
        stepper = kernel.stepper();
        task = kernel.bindCurrentThread(0);
    }

    private void boot() {
        boot(KernelConfig.builder());
    }

    @AfterEach
    void close() {
        if (kernel != null) {
            kernel.machine().detachCurrentThread();
            kernel.close();
        }
    }

    /** Opens {@code vector} with a handler that logs "NAME@thread". */
    private void openLogging(SoftirqVector vector) {
        kernel.softirqs().open(vector, () -> log.add(vector + "@" + kernel.context().name()));
    }

    private long count(int cpu, SoftirqVector v) {
        return kernel.softirqs().count(cpu, v);
    }

    @Test
    void item1_raiseFromTask_wakesKsoftirqd_andRunsThereNotInline() {
        boot();
        List<String> contexts = new ArrayList<>();
        kernel.softirqs().open(SoftirqVector.TIMER, () -> {
            ExecutionContext c = kernel.context();
            contexts.add(c.name() + " serving=" + c.inServingSoftirq() + " task=" + c.inTask());
        });
        assertFalse(kernel.softirqs().ksoftirqdWoken(0));
        kernel.softirqs().raise(SoftirqVector.TIMER);
        assertTrue(kernel.softirqs().ksoftirqdWoken(0), "raise from task context wakes ksoftirqd/0");
        assertFalse(kernel.softirqs().ksoftirqdWoken(1), "only the raising CPU's daemon");
        assertTrue(contexts.isEmpty(), "not run inline by the raiser");
        assertEquals(1, stepper.run("ksoftirqd/0"));
        assertEquals(List.of("ksoftirqd/0 serving=true task=false"), contexts);
        assertEquals(1, count(0, SoftirqVector.TIMER));
        assertEquals(0, stepper.run("ksoftirqd/0"), "nothing pending: it goes back to sleep");
        assertFalse(kernel.softirqs().ksoftirqdWoken(0));
    }

    @Test
    void item2_raiseInsideBhDisabledSection_runsSynchronouslyInLocalBhEnable() {
        boot();
        openLogging(SoftirqVector.NET_RX);
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        assertTrue(log.isEmpty());
        assertFalse(kernel.softirqs().ksoftirqdWoken(0), "raised in_interrupt(): no wake-up");
        task.localBhEnable();
        assertEquals(List.of("NET_RX@" + Thread.currentThread().getName()), log, "ran on the caller, before enable returned");
        assertEquals(0, task.preemptCount());
        assertFalse(kernel.softirqs().ksoftirqdWoken(0));
    }

    @Test
    void item3_nestedBhDisable_onlyTheOutermostEnableRunsPendingSoftirqs() {
        boot();
        openLogging(SoftirqVector.NET_RX);
        task.localBhDisable();
        task.localBhDisable();
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        task.localBhEnable();
        assertTrue(log.isEmpty(), "still BH-disabled after two of three enables");
        assertEquals(ExecutionContext.SOFTIRQ_DISABLE_OFFSET, task.preemptCount());
        task.localBhEnable();
        assertEquals(1, log.size());
    }

    @Test
    void item4_bhDisabledTask_isInInterruptAndInSoftirq_butStillInTask() {
        boot();
        task.localBhDisable();
        try {
            assertTrue(task.inSoftirq());
            assertTrue(task.inInterrupt());
            assertFalse(task.inServingSoftirq());
            assertTrue(task.inTask());
            assertTrue(task.inAtomic());
            assertEquals(0, task.interruptContextLevel());
        } finally {
            task.localBhEnable();
        }
    }

    @Test
    void item5_hardIrqDuringBhDisabledSection_leavesItsSoftirqForTheFinalLocalBhEnable() {
        boot();
        openLogging(SoftirqVector.NET_RX);
        kernel.irqs().request(9, (irq, dev) -> {
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", "nic");
        kernel.irqs().setAffinity(9, 0);
        task.localBhDisable();
        kernel.irqs().assertIrq(9);
        assertEquals(1, stepper.hardirq(0));
        assertEquals(1, kernel.irqs().count(9, 0), "the hard IRQ was taken");
        assertTrue(log.isEmpty(), "irq_exit must not run softirqs inside the BH-disabled section");
        assertEquals(SoftirqVector.NET_RX.bit(), kernel.machine().cpu(0).softirqPending());
        task.localBhEnable();
        assertEquals(List.of("NET_RX@" + Thread.currentThread().getName()), log);
    }

    @Test
    void item6_hardIrqDuringASoftirqPass_runsItsSoftirqInTheNextPassOfTheSameInvocation() {
        boot();
        List<String> events = new ArrayList<>();
        kernel.softirqs().open(SoftirqVector.TIMER, () -> {
            events.add("TIMER");
            kernel.irqs().assertIrq(6);            // a device interrupts this CPU mid-pass
        });
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> events.add("NET_RX@" + kernel.context().name()));
        kernel.irqs().request(5, (irq, dev) -> {
            kernel.softirqs().raise(SoftirqVector.TIMER);
            return IrqReturn.HANDLED;
        }, Set.of(), "tick", "t");
        kernel.irqs().request(6, (irq, dev) -> {
            ExecutionContext c = kernel.context();
            events.add("irq6 hardirq=" + c.inHardirq() + " serving=" + c.inServingSoftirq());
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", "n");
        kernel.irqs().setAffinity(5, 0);
        kernel.irqs().setAffinity(6, 0);
        kernel.irqs().assertIrq(5);
        stepper.hardirq(0);
        assertEquals(List.of("TIMER", "irq6 hardirq=true serving=true", "NET_RX@cpu/0"), events,
                "the nested IRQ is taken between handlers; its softirq runs in the restart pass, not nested");
        assertFalse(kernel.softirqs().ksoftirqdWoken(0));
        assertEquals(1, count(0, SoftirqVector.TIMER));
        assertEquals(1, count(0, SoftirqVector.NET_RX));
    }

    @Test
    void item7_pendingVectors_runInBitOrder() {
        boot();
        for (SoftirqVector v : List.of(SoftirqVector.NET_RX, SoftirqVector.HI, SoftirqVector.TIMER)) {
            openLogging(v);
        }
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        kernel.softirqs().raise(SoftirqVector.HI);
        kernel.softirqs().raise(SoftirqVector.TIMER);
        task.localBhEnable();
        String me = Thread.currentThread().getName();
        assertEquals(List.of("HI@" + me, "TIMER@" + me, "NET_RX@" + me), log);
    }

    @Test
    void item8_lowerVectorRaisedDuringAPass_waitsForTheNextPass() {
        boot();
        openLogging(SoftirqVector.HI);
        openLogging(SoftirqVector.NET_RX);
        kernel.softirqs().open(SoftirqVector.TIMER, () -> {
            log.add("TIMER");
            kernel.softirqs().raise(SoftirqVector.HI);
        });
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.TIMER);
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        String me = Thread.currentThread().getName();
        assertEquals(List.of("TIMER", "NET_RX@" + me, "HI@" + me), log);
    }

    @Test
    void item9_selfReraisingHandler_stopsAfterTenPasses_thenKsoftirqdTakesOver() {
        boot();
        int[] runs = {0};
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            runs[0]++;
            kernel.softirqs().raise(SoftirqVector.NET_RX);
        });
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        assertEquals(Softirqs.MAX_SOFTIRQ_RESTART, runs[0], "one invocation: at most 10 passes");
        assertTrue(kernel.softirqs().ksoftirqdWoken(0), "the leftover is handed to ksoftirqd");
        assertEquals(SoftirqVector.NET_RX.bit(), kernel.machine().cpu(0).softirqPending());
        stepper.run("ksoftirqd/0");
        assertEquals(2 * Softirqs.MAX_SOFTIRQ_RESTART, runs[0], "ksoftirqd runs the same bounded loop");
        assertTrue(kernel.softirqs().ksoftirqdWoken(0), "and stays runnable while work remains");
    }

    @Test
    void item9_selfReraisingHandler_stopsOnceTwoMillisecondsOfJiffiesPassed() {
        boot();
        int[] runs = {0};
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            runs[0]++;
            stepper.clock().advanceMillis(1);         // each pass takes one jiffy at HZ=1000
            kernel.softirqs().raise(SoftirqVector.NET_RX);
        });
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        assertEquals(2, runs[0], "end = jiffies + 2: the restart check fails once jiffies reached it");
        assertTrue(kernel.softirqs().ksoftirqdWoken(0));
    }

    @Test
    void item9_timeBudgetCountsJiffiesNotNanoseconds() {
        boot(KernelConfig.builder().hz(100));
        int[] runs = {0};
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            runs[0]++;
            stepper.clock().advanceMillis(3);         // 3 ms: less than one 10 ms jiffy per pass
            kernel.softirqs().raise(SoftirqVector.NET_RX);
        });
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        // HZ=100: msecs_to_jiffies(2) = 1 jiffy; the loop ends at the first tick boundary it crosses.
        assertTrue(runs[0] >= 1 && runs[0] <= 4, "ended by the jiffy boundary, ran " + runs[0]);
        assertTrue(runs[0] < Softirqs.MAX_SOFTIRQ_RESTART);
    }

    @Test
    void item9_needResched_endsTheLoopAfterOnePass() {
        boot();
        int[] runs = {0};
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            runs[0]++;
            kernel.softirqs().raise(SoftirqVector.NET_RX);
        });
        kernel.machine().cpu(0).setNeedResched(true);
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        assertEquals(1, runs[0]);
        assertTrue(kernel.softirqs().ksoftirqdWoken(0));
    }

    @Test
    void item10_fiveRaisesBeforeOnePass_countOneExecution() {
        boot();
        openLogging(SoftirqVector.BLOCK);
        task.localBhDisable();
        for (int i = 0; i < 5; i++) {
            kernel.softirqs().raise(SoftirqVector.BLOCK);
        }
        task.localBhEnable();
        assertEquals(1, log.size());
        assertEquals(1, count(0, SoftirqVector.BLOCK));
        assertEquals(0, count(1, SoftirqVector.BLOCK));
        assertTrue(kernel.proc().softirqs().contains("       BLOCK:          1          0\n"), kernel.proc().softirqs());
    }

    @Test
    void item11_handlerLeakingPreemptCount_isReportedAndRestored() {
        boot();
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> kernel.context().preemptDisable());
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        List<KernelEvent> huh = reports.matching("huh, entered softirq");
        assertEquals(1, huh.size(), reports.toString());
        assertEquals("huh, entered softirq 3 NET_RX net_rx_action with preempt_count 00000101, exited with 00000102?",
                huh.get(0).message());
        assertEquals(KernelEvent.Kind.ERR, huh.get(0).kind());
        assertEquals(0, task.preemptCount(), "the count is restored");
    }

    @Test
    void item12_localBhEnableFromHardirq_warnsOnce() {
        boot();
        kernel.irqs().request(4, (irq, dev) -> {
            ExecutionContext c = kernel.context();
            c.localBhDisable();
            c.localBhEnable();
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "d");
        kernel.irqs().setAffinity(4, 0);
        kernel.irqs().assertIrq(4);
        stepper.hardirq(0);
        kernel.irqs().assertIrq(4);
        stepper.hardirq(0);
        assertEquals(1, reports.matching("local_bh_enable() called from hardirq context").size(), reports.toString());
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.WARNING), "WARN_ON_ONCE still counts every hit");
    }

    @Test
    void item12_localBhEnableWithIrqsDisabled_warns() {
        boot();
        task.localIrqDisable();
        task.localBhDisable();
        task.localBhEnable();
        task.localIrqEnable();
        assertEquals(1, reports.matching("local_bh_enable() called with IRQs disabled (lockdep_assert_irqs_enabled)").size(),
                reports.toString());
    }

    @Test
    void item13_forcedIrqThreads_softirqRaisedByAnIrqRunsInKsoftirqd() {
        boot(KernelConfig.builder().forceIrqThreads(true));
        openLogging(SoftirqVector.NET_RX);
        kernel.irqs().request(9, (irq, dev) -> {
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", "nic");
        kernel.irqs().setAffinity(9, 0);
        kernel.irqs().assertIrq(9);
        stepper.hardirq(0);
        assertTrue(log.isEmpty(), "threadirqs: never inline at irq_exit");
        assertTrue(kernel.softirqs().ksoftirqdWoken(0));
        stepper.run("ksoftirqd/0");
        assertEquals(List.of("NET_RX@ksoftirqd/0"), log);
    }

    @Test
    void raiseOfAVectorWithoutHandler_isRefused() {
        boot();
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.bottomhalf.runtime.KernelException.class,
                () -> kernel.softirqs().raise(SoftirqVector.SCHED));
        assertEquals(dev.bottomhalf.runtime.Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("softirq vector 7 (SCHED) has no handler"), e.getMessage());
    }

    @Test
    void throwingHandler_isReportedAsOops_andLaterSoftirqsStillRun() {
        boot();
        kernel.softirqs().open(SoftirqVector.TIMER, () -> {
            throw new IllegalStateException("boom");
        });
        openLogging(SoftirqVector.NET_RX);
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.TIMER);
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        task.localBhEnable();
        assertEquals(1, kernel.reports().count(KernelEvent.Kind.OOPS));
        KernelEvent oops = reports.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertTrue(oops.message().startsWith("Oops: softirq TIMER (timer_action) threw java.lang.IllegalStateException: boom"),
                oops.message());
        assertEquals("softirq", oops.context());
        assertEquals(1, log.size(), "NET_RX still ran in the same pass");
        assertEquals(0, task.preemptCount());
    }

    @Test
    void userVector_opensAboveTheStandardTen_andShowsInProcSoftirqs() {
        boot();
        kernel.softirqs().open(12, "MYVEC", () -> log.add("MYVEC"));
        task.localBhDisable();
        kernel.softirqs().raise(12);
        task.localBhEnable();
        assertEquals(List.of("MYVEC"), log);
        String proc = kernel.proc().softirqs();
        assertTrue(proc.endsWith("         RCU:          0          0\n       MYVEC:          1          0\n"), proc);
    }
}
