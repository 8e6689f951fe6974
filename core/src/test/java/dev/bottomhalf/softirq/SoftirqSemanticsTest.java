package dev.bottomhalf.softirq;

import dev.bottomhalf.internal.Internals;
import static dev.bottomhalf.softirq.SoftirqVector.BLOCK;
import static dev.bottomhalf.softirq.SoftirqVector.HI;
import static dev.bottomhalf.softirq.SoftirqVector.NET_RX;
import static dev.bottomhalf.softirq.SoftirqVector.NET_TX;
import static dev.bottomhalf.softirq.SoftirqVector.SCHED;
import static dev.bottomhalf.softirq.SoftirqVector.TASKLET;
import static dev.bottomhalf.softirq.SoftirqVector.TIMER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqHandler;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Softirqs and bottom halves ({@code raise_softirq}, {@code local_bh_disable}/{@code local_bh_enable},
 * {@code irq_exit}, {@code handle_softirqs}, ksoftirqd; docs/subsystems/softirq.md), in stepped mode with a manual clock: the test
 * thread is a task bound to CPU 0 and plays {@code cpu/N} and {@code ksoftirqd/N} through the
 * {@link Stepper}, so every step and every jiffy is chosen by the test and each assertion is exact.
 *
 * <p>Handlers record {@link #snap(ExecutionContext)}: the context name, CPU, {@code preempt_count} and
 * the context predicates ({@code in_hardirq}, {@code in_serving_softirq}, {@code in_softirq},
 * {@code in_interrupt}, {@code in_task}), so a test fails on any difference in where or how a handler ran.
 */
class SoftirqSemanticsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private ExecutionContext task;
    private String me;

    private void boot(Consumer<KernelConfig.Builder> changes) {
        kernel = kernels.boot(changes);
        reports = kernels.reports();
        stepper = kernel.stepper();
        task = kernel.bindCurrentThread(0);
        me = Thread.currentThread().getName();
    }

    private void boot() {
        boot(b -> { });
    }

    // ------------------------------------------------------------------------------------------
    // helpers
    // ------------------------------------------------------------------------------------------

    /** Where and how a handler runs: name, CPU, preempt_count and the context predicates. */
    private static String snap(ExecutionContext c) {
        return String.format("%s cpu=%d pc=%08x hardirq=%b serving=%b softirq=%b interrupt=%b task=%b irqsOff=%b",
                c.name(), c.cpuId(), c.preemptCount(), c.inHardirq(), c.inServingSoftirq(), c.inSoftirq(),
                c.inInterrupt(), c.inTask(), c.irqsDisabled());
    }

    private static String serving(String name, int cpu, int pc) {
        return String.format("%s cpu=%d pc=%08x hardirq=false serving=true softirq=true interrupt=true task=false"
                + " irqsOff=false", name, cpu, pc);
    }

    /** Opens {@code v} with a handler that logs {@code "V@context"}. */
    private void openLogging(SoftirqVector v) {
        kernel.softirqs().open(v, () -> log.add(v + "@" + kernel.context().name()));
    }

    /** A hard IRQ line routed to {@code cpu}. */
    private void line(int irq, int cpu, IrqHandler handler) {
        kernel.irqs().request(irq, handler, Set.of(), "dev" + irq, "cookie" + irq);
        kernel.irqs().setAffinity(irq, cpu);
    }

    /** A hard IRQ line routed to {@code cpu} whose handler raises {@code vectors}, in that order. */
    private void raisingLine(int irq, int cpu, SoftirqVector... vectors) {
        line(irq, cpu, (i, d) -> {
            for (SoftirqVector v : vectors) {
                kernel.softirqs().raise(v);
            }
            return IrqReturn.HANDLED;
        });
    }

    /** The device asserts the line and the CPU it is routed to takes it. */
    private void fire(int irq) {
        kernel.irqs().assertIrq(irq);
        stepper.hardirq(kernel.irqs().affinity(irq));
    }

    private Cpu cpu(int n) {
        return Internals.machine(kernel).cpu(n);
    }

    private long count(int cpu, SoftirqVector v) {
        return kernel.softirqs().count(cpu, v);
    }

    private boolean woken(int cpu) {
        return kernel.softirqs().ksoftirqdWoken(cpu);
    }

    // ------------------------------------------------------------------------------------------
    // raise_softirq from task context wakes ksoftirqd
    // ------------------------------------------------------------------------------------------

    @Test
    void raiseFromTask_wakesKsoftirqd_andRunsThereNotInline() {
        boot();
        kernel.softirqs().open(TIMER, () -> log.add(snap(kernel.context())));
        assertFalse(woken(0));
        assertFalse(stepper.hasWork("ksoftirqd/0"));

        kernel.softirqs().raise(TIMER);

        assertEquals(List.of(), log, "raise_softirq() from task context does not run the handler inline");
        assertEquals(TIMER.bit(), cpu(0).softirqPending(), "the bit is pending on the raising CPU");
        assertEquals(0, cpu(1).softirqPending());
        assertTrue(woken(0), "wakeup_softirqd() for the raising CPU");
        assertFalse(woken(1), "and only for it");
        assertTrue(stepper.hasWork("ksoftirqd/0"));
        assertFalse(stepper.hasWork("cpu/0"), "no hard IRQ involved: cpu/0 has nothing to do");
        assertEquals(0, count(0, TIMER));

        assertEquals(1, stepper.run("ksoftirqd/0"));
        assertEquals(List.of(serving("ksoftirqd/0", 0, 0x100)), log,
                "runs in ksoftirqd/0: in_serving_softirq() true, in_task() false, IRQs enabled");
        assertEquals(1, count(0, TIMER));
        assertEquals(0, count(1, TIMER));
        assertEquals(0, cpu(0).softirqPending());
        assertNull(cpu(0).bhLevelOwner(), "ksoftirqd gave the CPU's BH level back");
        assertEquals(1, kernel.softirqs().ksoftirqdRuns(0));

        assertEquals(0, stepper.run("ksoftirqd/0"), "nothing pending: ksoftirqd goes back to sleep");
        assertFalse(woken(0));
        assertEquals(1, log.size());
    }

    /** On the other CPU: the softirq belongs to the CPU that raised it. */
    @Test
    void raiseFromTaskOnCpu1_wakesKsoftirqd1_only() {
        boot();
        kernel.softirqs().open(TIMER, () -> log.add(snap(kernel.context())));
        kernel.bindCurrentThread(1);
        kernel.softirqs().raise(TIMER);
        assertFalse(woken(0));
        assertTrue(woken(1));
        assertEquals(0, stepper.run("ksoftirqd/0"));
        assertEquals(List.of(), log);
        assertEquals(1, stepper.run("ksoftirqd/1"));
        assertEquals(List.of(serving("ksoftirqd/1", 1, 0x100)), log);
        assertEquals(0, count(0, TIMER));
        assertEquals(1, count(1, TIMER));
    }

    /** raise_softirq: preemption disabled is not in_interrupt(), so the raise still wakes; IRQs-off raise too. */
    @Test
    void raiseWithPreemptionOrIrqsDisabled_stillWakesKsoftirqd_butDoubleUnderscoreRaiseDoesNot() {
        boot();
        openLogging(TIMER);
        task.preemptDisable();
        kernel.softirqs().raise(TIMER);
        task.preemptEnable();
        assertTrue(woken(0), "preempt_disable() is not in_interrupt(): raise_softirq wakes ksoftirqd");
        stepper.run("ksoftirqd/0");
        stepper.run("ksoftirqd/0");
        assertFalse(woken(0));

        task.localIrqDisable();
        kernel.softirqs().raiseIrqoff(TIMER.nr());
        task.localIrqEnable();
        assertTrue(woken(0), "raise_softirq_irqoff() from task context wakes ksoftirqd");
        stepper.run("ksoftirqd/0");
        stepper.run("ksoftirqd/0");
        assertFalse(woken(0));

        task.localIrqDisable();
        kernel.softirqs().raiseIrqoffNoWake(TIMER.nr());
        task.localIrqEnable();
        assertFalse(woken(0), "__raise_softirq_irqoff() only sets the bit");
        assertEquals(TIMER.bit(), cpu(0).softirqPending());
        assertEquals(List.of("TIMER@ksoftirqd/0", "TIMER@ksoftirqd/0"), log);
        assertEquals(List.of(), reports.events(), reports.toString());

        reports.expect("raise_softirq_irqoff() called with IRQs enabled");
        kernel.softirqs().raiseIrqoff(TIMER.nr());
        assertEquals(List.of("raise_softirq_irqoff() called with IRQs enabled (lockdep_assert_irqs_disabled)"),
                reports.events().stream().map(KernelEvent::message).toList());
    }

    // ------------------------------------------------------------------------------------------
    // local_bh_disable / local_bh_enable
    // ------------------------------------------------------------------------------------------

    @Test
    void raiseInsideBhDisabledSection_runsSynchronouslyInsideLocalBhEnable_onTheCallersCpu() {
        boot();
        kernel.bindCurrentThread(1);
        List<Object> contexts = new ArrayList<>();
        kernel.softirqs().open(NET_RX, () -> {
            contexts.add(kernel.context());
            log.add(snap(kernel.context()));
        });
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        assertEquals(List.of(), log);
        assertFalse(woken(1), "raised in_interrupt() (BH disabled): no ksoftirqd wake-up");
        assertEquals(NET_RX.bit(), cpu(1).softirqPending());
        task.localBhEnable();
        // local_bh_enable drops 0x200 - 1 and keeps one preemption level while it runs the softirqs
        assertEquals(List.of(serving(me, 1, 0x101)), log, "ran inside local_bh_enable, in the caller's context");
        assertSame(task, contexts.get(0), "on the calling thread's own context, not a runtime thread");
        assertEquals(0, task.preemptCount());
        assertEquals(1, count(1, NET_RX));
        assertEquals(0, count(0, NET_RX));
        assertFalse(woken(1), "ksoftirqd was never needed");
        assertFalse(woken(0));
        assertNull(cpu(1).bhLevelOwner());
    }

    @Test
    void nestedBhDisableThreeTimes_onlyTheThirdEnableRunsThePendingSoftirq() {
        boot();
        openLogging(NET_RX);
        task.localBhDisable();
        task.localBhDisable();
        task.localBhDisable();
        assertEquals(3 * ExecutionContext.SOFTIRQ_DISABLE_OFFSET, task.preemptCount());
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        assertEquals(List.of(), log, "first enable: still nested");
        assertEquals(0x400, task.preemptCount());
        task.localBhEnable();
        assertEquals(List.of(), log, "second enable: still nested");
        assertEquals(0x200, task.preemptCount());
        assertEquals(NET_RX.bit(), cpu(0).softirqPending());
        task.localBhEnable();
        assertEquals(List.of("NET_RX@" + me), log, "the outermost enable runs it");
        assertEquals(0, task.preemptCount());
        assertEquals(1, count(0, NET_RX));
        assertFalse(woken(0));
    }

    /** The context predicates inside a BH-disabled section, through the Java API and the kernel-name facade. */
    @Test
    void insideBhDisabledSection_inSoftirqAndInInterruptAreTrue_butInServingSoftirqIsFalseAndInTaskTrue() {
        boot();
        task.localBhDisable();
        try {
            assertTrue(task.inSoftirq());
            assertTrue(task.inInterrupt());
            assertFalse(task.inServingSoftirq());
            assertTrue(task.inTask());
            assertFalse(task.inHardirq());
            assertTrue(task.inAtomic());
            assertFalse(task.preemptible());
            assertEquals(0, task.interruptContextLevel());
            assertEquals(0x200, task.preemptCount());
            assertEquals(List.of(true, true, false, true, 0x200),
                    List.of(Linux.in_softirq(), Linux.in_interrupt(), Linux.in_serving_softirq(), Linux.in_task(),
                            Linux.preempt_count()));
        } finally {
            task.localBhEnable();
        }
        assertEquals(List.of(false, false, false, true, 0),
                List.of(Linux.in_softirq(), Linux.in_interrupt(), Linux.in_serving_softirq(), Linux.in_task(),
                        Linux.preempt_count()));
    }

    // ------------------------------------------------------------------------------------------
    // Hard IRQs and softirqs: irq_exit
    // ------------------------------------------------------------------------------------------

    @Test
    void hardIrqRaisingDuringBhDisabledSection_doesNotRunAtIrqExit_butAtTheSectionsFinalEnable() {
        boot();
        kernel.softirqs().open(NET_RX, () -> log.add(snap(kernel.context())));
        line(9, 0, (i, d) -> {
            log.add("irq9 " + snap(kernel.context()));
            kernel.softirqs().raise(NET_RX);
            return IrqReturn.HANDLED;
        });
        task.localBhDisable();
        task.localBhDisable();
        fire(9);
        assertEquals(1, kernel.irqs().count(9, 0), "the hard IRQ was taken on CPU 0");
        assertEquals(List.of("irq9 cpu/0 cpu=0 pc=00010000 hardirq=true serving=false softirq=false interrupt=true"
                + " task=false irqsOff=true"), log, "irq_exit ran nothing: the CPU is in a BH-disabled section");
        assertEquals(NET_RX.bit(), cpu(0).softirqPending());
        assertFalse(woken(0), "raised in hardirq: no ksoftirqd wake-up");
        assertFalse(stepper.hasWork("cpu/0"));
        task.localBhEnable();
        assertEquals(1, log.size(), "an inner enable does not run it");
        task.localBhEnable();
        assertEquals(serving(me, 0, 0x101), log.get(1), "the final local_bh_enable runs it, in the task");
        assertEquals(2, log.size());
        assertEquals(1, count(0, NET_RX));
        assertFalse(woken(0));
    }

    /**
     * A softirq raised by a hard IRQ while {@code handle_softirqs} runs. Java cannot preempt a running handler, so the model takes a hard IRQ that arrives while
     * {@code cpu/0} serves softirqs between two handlers (the documented fidelity gap). What must hold
     * is the kernel's outcome: the raised vector runs in the next pass of the same invocation — after the
     * rest of the current pass, not nested in it, and not in ksoftirqd.
     */
    @Test
    void hardIrqDuringASoftirqPass_runsItsSoftirqInTheNextPassOfTheSameInvocation() {
        boot();
        boolean[] inTimer = {false};
        kernel.softirqs().open(TIMER, () -> {
            inTimer[0] = true;
            log.add("TIMER@" + kernel.context().name());
            kernel.irqs().assertIrq(6);            // a device interrupts CPU 0 in the middle of the pass
            log.add("TIMER returns");
            inTimer[0] = false;
        });
        openLogging(BLOCK);
        kernel.softirqs().open(NET_RX, () -> log.add("NET_RX " + snap(kernel.context()) + " nested=" + inTimer[0]));
        raisingLine(5, 0, TIMER, BLOCK);
        line(6, 0, (i, d) -> {
            log.add("irq6 " + snap(kernel.context()));
            kernel.softirqs().raise(NET_RX);        // NET_RX (3) sorts between TIMER (1) and BLOCK (4)
            return IrqReturn.HANDLED;
        });

        fire(5);

        assertEquals(List.of(
                "TIMER@cpu/0",
                "TIMER returns",
                "irq6 cpu/0 cpu=0 pc=00010100 hardirq=true serving=true softirq=true interrupt=true task=false"
                        + " irqsOff=true",
                "BLOCK@cpu/0",
                "NET_RX " + serving("cpu/0", 0, 0x100) + " nested=false"), log,
                "NET_RX waits for the restart pass: after BLOCK of the current pass although its bit is lower");
        assertEquals(1, kernel.irqs().count(6, 0));
        assertEquals(List.of(1L, 1L, 1L), List.of(count(0, TIMER), count(0, BLOCK), count(0, NET_RX)));
        assertFalse(woken(0), "the same invocation finished it: ksoftirqd was not involved");
        assertEquals(0, cpu(0).softirqPending());
        assertNull(cpu(0).bhLevelOwner());
        assertFalse(stepper.hasWork("cpu/0"));
    }

    // ------------------------------------------------------------------------------------------
    // Order: vectors run in bit order, a vector raised during a pass runs in the next pass
    // ------------------------------------------------------------------------------------------

    /** Bit order at local_bh_enable. */
    @Test
    void netRxHiTimerRaisedTogether_runInBitOrder_hiTimerNetRx() {
        boot();
        for (SoftirqVector v : List.of(NET_RX, HI, TIMER)) {
            openLogging(v);
        }
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        kernel.softirqs().raise(HI);
        kernel.softirqs().raise(TIMER);
        assertEquals(NET_RX.bit() | HI.bit() | TIMER.bit(), cpu(0).softirqPending());
        task.localBhEnable();
        assertEquals(List.of("HI@" + me, "TIMER@" + me, "NET_RX@" + me), log);
    }

    /** Bit order at irq_exit and in ksoftirqd. */
    @Test
    void netRxHiTimerRaisedTogether_runInBitOrder_atIrqExitAndInKsoftirqd() {
        boot();
        for (SoftirqVector v : List.of(NET_RX, HI, TIMER)) {
            openLogging(v);
        }
        raisingLine(9, 1, NET_RX, HI, TIMER);
        fire(9);
        assertEquals(List.of("HI@cpu/1", "TIMER@cpu/1", "NET_RX@cpu/1"), log);

        log.clear();
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        kernel.softirqs().raise(HI);
        kernel.softirqs().raise(TIMER);
        task.localBhEnableNoRun();                 // _local_bh_enable(): leave them pending
        assertEquals(List.of(), log);
        kernel.softirqs().raise(TIMER);            // task context: wakes ksoftirqd/0
        stepper.run("ksoftirqd/0");
        assertEquals(List.of("HI@ksoftirqd/0", "TIMER@ksoftirqd/0", "NET_RX@ksoftirqd/0"), log);
    }

    @Test
    void hiRaisedWhileTimerRuns_runsInTheNextPass_afterNetRxOfTheCurrentPass() {
        boot();
        openLogging(HI);
        openLogging(NET_RX);
        kernel.softirqs().open(TIMER, () -> {
            log.add("TIMER@" + kernel.context().name());
            kernel.softirqs().raise(HI);
        });
        raisingLine(9, 0, TIMER, NET_RX);
        fire(9);
        assertEquals(List.of("TIMER@cpu/0", "NET_RX@cpu/0", "HI@cpu/0"), log);
        assertEquals(List.of(1L, 1L, 1L), List.of(count(0, HI), count(0, TIMER), count(0, NET_RX)));
        assertFalse(woken(0), "raised in softirq context: no wake-up, the restart pass ran it");
    }

    // ------------------------------------------------------------------------------------------
    // The bounded loop: MAX_SOFTIRQ_RESTART, MAX_SOFTIRQ_TIME, need_resched
    // ------------------------------------------------------------------------------------------

    /** A NET_RX handler that logs its context and re-raises itself while {@code again[0]}. */
    private void openSelfReraising(boolean[] again, Runnable each) {
        kernel.softirqs().open(NET_RX, () -> {
            log.add(kernel.context().name());
            each.run();
            if (again[0]) {
                kernel.softirqs().raise(NET_RX);
            }
        });
    }

    private List<String> times(int n, String s) {
        return Collections.nCopies(n, s);
    }

    /** The restart bound (MAX_SOFTIRQ_RESTART = 10), with the clock standing still. */
    @Test
    void selfReraisingHandler_oneInvocationRunsAtMostTenPasses_thenKsoftirqdTakesOverInBatches() {
        boot();
        boolean[] again = {true};
        openSelfReraising(again, () -> { });
        raisingLine(9, 0, NET_RX);
        fire(9);
        assertEquals(times(Softirqs.MAX_SOFTIRQ_RESTART, "cpu/0"), log,
                "irq_exit: the initial pass and 9 restarts, no more");
        assertEquals(10, count(0, NET_RX), "one count per pass");
        assertTrue(woken(0), "leftover work goes to ksoftirqd");
        assertEquals(NET_RX.bit(), cpu(0).softirqPending());
        assertNull(cpu(0).bhLevelOwner());

        log.clear();
        assertEquals(1, stepper.run("ksoftirqd/0"));
        assertEquals(times(10, "ksoftirqd/0"), log, "ksoftirqd runs the same bounded loop ...");
        assertTrue(woken(0), "... and stays runnable: it yields (cond_resched) between batches");
        assertEquals(1, stepper.run("ksoftirqd/0"));
        assertEquals(20, log.size());
        assertEquals(2, kernel.softirqs().ksoftirqdRuns(0));
        assertEquals(30, count(0, NET_RX));

        again[0] = false;
        log.clear();
        assertEquals(1, stepper.run("ksoftirqd/0"));
        assertEquals(List.of("ksoftirqd/0"), log);
        assertEquals(0, stepper.run("ksoftirqd/0"));
        assertFalse(woken(0));
        assertEquals(0, cpu(0).softirqPending());
    }

    /** Passes that take 0.1 ms each never reach the 2 ms budget, so the 10-pass bound ends it. */
    @Test
    void selfReraisingHandler_withTimeLeftInTheBudget_stillStopsAtTenPasses() {
        boot();
        boolean[] again = {true};
        openSelfReraising(again, () -> stepper.advance(100, java.util.concurrent.TimeUnit.MICROSECONDS));
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        assertEquals(times(10, me), log);
        assertEquals(1_000_000, stepper.clock().nanoTime(), "1 ms of the 2 ms budget used");
        assertTrue(woken(0));
    }

    /** The 2 ms budget (MAX_SOFTIRQ_TIME), at HZ=1000 (two jiffies), ends the loop long before 10 passes. */
    @Test
    void selfReraisingHandler_stopsOnceTwoMillisecondsOfJiffiesHavePassed() {
        boot();
        boolean[] again = {true};
        long start = kernel.jiffies();
        openSelfReraising(again, () -> stepper.advanceJiffies(1));
        raisingLine(9, 0, NET_RX);
        fire(9);
        // end = jiffies + msecs_to_jiffies(2) = start + 2; after pass 2 jiffies == end: time_before fails
        assertEquals(times(2, "cpu/0"), log);
        assertEquals(start + 2, kernel.jiffies());
        assertTrue(woken(0), "the rest goes to ksoftirqd");
        assertEquals(NET_RX.bit(), cpu(0).softirqPending());

        log.clear();
        stepper.run("ksoftirqd/0");
        assertEquals(times(2, "ksoftirqd/0"), log, "ksoftirqd's own invocation has the same 2 ms budget");
        assertTrue(woken(0));
    }

    /**
     * The budget is counted in jiffies, not nanoseconds. Starting 0.9 ms into a jiffy with
     * 0.5 ms passes, the second tick boundary comes after 1.5 ms: three passes.
     */
    @Test
    void timeBudget_endsAtTheSecondTickBoundary_evenBeforeTwoRealMilliseconds() {
        boot();
        stepper.advance(900, java.util.concurrent.TimeUnit.MICROSECONDS);
        boolean[] again = {true};
        openSelfReraising(again, () -> stepper.advance(500, java.util.concurrent.TimeUnit.MICROSECONDS));
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        assertEquals(times(3, me), log);
        assertEquals(2_400_000, stepper.clock().nanoTime(), "ended after 1.5 ms of real time");
        assertTrue(woken(0));
    }

    /** At HZ=100 msecs_to_jiffies(2) is one 10 ms jiffy: 3 ms passes run until 12 ms. */
    @Test
    void timeBudget_atHz100_isOneTenMillisecondJiffy() {
        boot(b -> b.hz(100));
        assertEquals(1, kernel.msecsToJiffies(Softirqs.MAX_SOFTIRQ_TIME_MS));
        boolean[] again = {true};
        openSelfReraising(again, () -> stepper.clock().advanceMillis(3));
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        assertEquals(times(4, me), log, "passes end at 3, 6, 9 (same jiffy) and 12 ms (next jiffy: stop)");
        assertTrue(woken(0));
    }

    /** need_resched ends the loop at the next restart check. */
    @Test
    void needResched_endsTheLoopAtTheNextRestartCheck_andKsoftirqdRunsOnePassPerBatchWhileItIsSet() {
        boot();
        boolean[] again = {true};
        int[] runs = {0};
        openSelfReraising(again, () -> {
            if (++runs[0] == 3) {
                cpu(0).setNeedResched(true);
            }
        });
        raisingLine(9, 0, NET_RX);
        fire(9);
        assertEquals(times(3, "cpu/0"), log, "need_resched set during pass 3: no restart after it");
        assertTrue(woken(0));

        log.clear();
        stepper.run("ksoftirqd/0");
        assertEquals(List.of("ksoftirqd/0"), log, "need_resched still set: one pass, then yield");
        cpu(0).setNeedResched(false);
        log.clear();
        stepper.run("ksoftirqd/0");
        assertEquals(times(10, "ksoftirqd/0"), log);
    }

    /** need_resched already set before the invocation: exactly one pass. */
    @Test
    void needResched_setBeforeTheInvocation_allowsExactlyOnePass() {
        boot();
        boolean[] again = {true};
        openSelfReraising(again, () -> { });
        cpu(0).setNeedResched(true);
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        assertEquals(List.of(me), log);
        assertTrue(woken(0));
        assertEquals(1, count(0, NET_RX));
    }

    // ------------------------------------------------------------------------------------------
    // Counters: /proc/softirqs
    // ------------------------------------------------------------------------------------------

    @Test
    void fiveRaisesBeforeOnePass_addOneToProcSoftirqs() {
        boot();
        openLogging(BLOCK);
        task.localBhDisable();
        for (int i = 0; i < 5; i++) {
            kernel.softirqs().raise(BLOCK);
        }
        task.localBhEnable();
        assertEquals(List.of("BLOCK@" + me), log);
        assertEquals(1, count(0, BLOCK), "counts executions, not raises");
        assertEquals(0, count(1, BLOCK));
        assertTrue(kernel.proc().softirqs().contains("\n       BLOCK:          1          0\n"), kernel.proc().softirqs());

        raisingLine(9, 1, BLOCK, BLOCK, BLOCK, BLOCK, BLOCK);
        fire(9);
        assertEquals(1, count(1, BLOCK), "five raises in one hard IRQ: one execution on CPU 1");
        assertTrue(kernel.proc().softirqs().contains("\n       BLOCK:          1          1\n"), kernel.proc().softirqs());
    }

    // ------------------------------------------------------------------------------------------
    // preempt_count leak (the "huh, entered softirq" report of handle_softirqs)
    // ------------------------------------------------------------------------------------------

    /** A leaked preempt_count in ksoftirqd. */
    @Test
    void handlerLeakingPreemptDisable_isReportedWithTheKernelsHuhMessage_andTheCountIsRestored() {
        boot();
        int[] entry = new int[2];
        int[] n = {0};
        kernel.softirqs().open(NET_RX, () -> {
            entry[n[0]++] = kernel.context().preemptCount();
            if (n[0] == 1) {
                kernel.context().preemptDisable();  // forgets the matching preempt_enable()
                kernel.softirqs().raise(NET_RX);
            }
        });
        kernel.softirqs().raise(NET_RX);
        stepper.run("ksoftirqd/0");
        assertEquals(List.of(0x100, 0x100), List.of(entry[0], entry[1]), "the second pass starts with the count restored");
        List<KernelEvent> huh = reports.matching("huh, entered softirq");
        assertEquals(1, huh.size(), reports.toString());
        KernelEvent e = huh.get(0);
        assertEquals("huh, entered softirq 3 NET_RX net_rx_action with preempt_count 00000100, exited with 00000101?",
                e.message());
        assertEquals(KernelEvent.Kind.ERR, e.kind());
        assertEquals("ksoftirqd/0", e.thread());
        assertEquals(0, e.cpu());
        assertEquals(1, kernel.reports().count(KernelEvent.Kind.ERR));
        ExecutionContext ksoftirqd = Internals.machine(kernel).agents().stream()
                .filter(h -> h.agent().name().equals("ksoftirqd/0")).findFirst().orElseThrow().agent().context();
        assertEquals(0, ksoftirqd.preemptCount(), "ksoftirqd/0 leaves with a clean count");
        assertNull(cpu(0).bhLevelOwner());
    }

    /** A leak inside local_bh_enable (count 0x101) and a leaked local_bh_disable (0x200). */
    @Test
    void handlerLeakingBhDisable_insideLocalBhEnable_isReportedAndRestored() {
        boot();
        kernel.softirqs().open(TASKLET, () -> kernel.context().localBhDisable());
        task.localBhDisable();
        kernel.softirqs().raise(TASKLET);
        task.localBhEnable();
        assertEquals(List.of("huh, entered softirq 6 TASKLET tasklet_action with preempt_count 00000101, exited with"
                + " 00000301?"), reports.events().stream().map(KernelEvent::message).toList());
        assertEquals(0, task.preemptCount());
        assertNull(cpu(0).bhLevelOwner(), "the BH level is given back with the restored count");
        assertTrue(task.preemptible());
    }

    // ------------------------------------------------------------------------------------------
    // local_bh_enable misuse (__local_bh_enable_ip's warnings)
    // ------------------------------------------------------------------------------------------

    /** local_bh_enable from hardirq context. */
    @Test
    void localBhEnableFromHardirq_warnsOnce_andRunsNothingUntilIrqExit() {
        boot();
        openLogging(NET_RX);
        line(4, 0, (i, d) -> {
            ExecutionContext c = kernel.context();
            c.localBhDisable();
            kernel.softirqs().raise(NET_RX);
            c.localBhEnable();
            log.add(String.format("enable returned pc=%08x", c.preemptCount()));
            return IrqReturn.HANDLED;
        });
        fire(4);
        assertEquals(List.of("enable returned pc=00010000", "NET_RX@cpu/0"), log,
                "nothing runs inside the hard IRQ; irq_exit runs it");
        List<KernelEvent> warnings = reports.ofKind(KernelEvent.Kind.WARNING);
        assertEquals(1, warnings.size(), reports.toString());
        assertEquals("local_bh_enable() called from hardirq context", warnings.get(0).message());
        assertEquals("cpu/0", warnings.get(0).thread());
        assertEquals("hardirq", warnings.get(0).context());

        fire(4);
        assertEquals(1, reports.matching("local_bh_enable() called from hardirq context").size(),
                "WARN_ON_ONCE: printed once");
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.WARNING), "but every hit is counted");
    }

    /** local_bh_enable with IRQs disabled. */
    @Test
    void localBhEnableWithIrqsDisabled_givesTheLockdepWarningOnce() {
        boot();
        reports.expect("local_bh_enable() called with IRQs disabled");
        task.localIrqDisable();
        task.localBhDisable();
        task.localBhEnable();
        task.localBhDisable();
        task.localBhEnable();
        assertTrue(task.irqsDisabled());
        task.localIrqEnable();
        assertEquals(List.of("local_bh_enable() called with IRQs disabled (lockdep_assert_irqs_enabled)"),
                reports.events().stream().map(KernelEvent::message).toList());
        assertEquals(KernelEvent.Kind.WARNING, reports.events().get(0).kind());
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.WARNING));
        assertEquals(0, task.preemptCount());
    }

    /**
     * local_bh_enable with IRQs disabled, continued: the kernel still runs pending softirqs in that case ({@code do_softirq} saves
     * the flags, {@code handle_softirqs} enables IRQs around the handlers) and restores the caller's
     * IRQs-off state afterwards.
     */
    @Test
    void localBhEnableWithIrqsDisabled_runsPendingHandlersWithIrqsEnabled_andLeavesIrqsDisabled() {
        boot();
        kernel.softirqs().open(NET_RX, () -> log.add(snap(kernel.context())));
        reports.expect("local_bh_enable() called with IRQs disabled");
        task.localIrqDisable();
        task.localBhDisable();
        kernel.softirqs().raise(NET_RX);
        task.localBhEnable();
        assertEquals(List.of(serving(me, 0, 0x101)), log, "handlers run with IRQs enabled");
        assertTrue(task.irqsDisabled(), "the caller's IRQs-off state is restored");
        assertSame(task, cpu(0).irqLevelOwner());
        task.localIrqEnable();
        assertEquals(List.of("local_bh_enable() called with IRQs disabled (lockdep_assert_irqs_enabled)"),
                reports.events().stream().map(KernelEvent::message).toList(), "and nothing else is reported");
    }

    // ------------------------------------------------------------------------------------------
    // threadirqs (force_irqthreads)
    // ------------------------------------------------------------------------------------------

    @Test
    void forcedIrqThreads_softirqRaisedByAHardIrq_runsInKsoftirqd_neverAtIrqExit() {
        boot(b -> b.forceIrqThreads(true));
        kernel.softirqs().open(NET_RX, () -> log.add(snap(kernel.context())));
        openLogging(TASKLET);
        raisingLine(9, 0, NET_RX, TASKLET);
        fire(9);
        assertEquals(List.of(), log, "threadirqs: irq_exit only wakes ksoftirqd");
        assertTrue(woken(0));
        assertEquals(NET_RX.bit() | TASKLET.bit(), cpu(0).softirqPending());
        assertEquals(0, count(0, NET_RX));
        stepper.run("ksoftirqd/0");
        assertEquals(List.of(serving("ksoftirqd/0", 0, 0x100), "TASKLET@ksoftirqd/0"), log,
                "every vector, TASKLET included (6.6+ has no SOFTIRQ_NOW_MASK exception)");
    }

    /**
     * threadirqs changes only irq_exit; a BH-disabled section still runs its softirqs in its
     * final local_bh_enable. The model has no {@code ktimers/N}: a TIMER raised by a hard IRQ goes to
     * ksoftirqd like every other vector (recent kernels hand tick-raised TIMER/HRTIMER to ktimers/N).
     */
    @Test
    void forcedIrqThreads_leaveLocalBhEnableInline_andSendTimerToKsoftirqdToo() {
        boot(b -> b.forceIrqThreads(true));
        openLogging(NET_TX);
        openLogging(TIMER);
        task.localBhDisable();
        kernel.softirqs().raise(NET_TX);
        task.localBhEnable();
        assertEquals(List.of("NET_TX@" + me), log);
        assertFalse(woken(0));

        raisingLine(9, 1, TIMER);
        fire(9);
        assertEquals(1, log.size());
        assertTrue(woken(1));
        stepper.run("ksoftirqd/1");
        assertEquals(List.of("NET_TX@" + me, "TIMER@ksoftirqd/1"), log);
    }

    // ------------------------------------------------------------------------------------------
    // Around the items
    // ------------------------------------------------------------------------------------------

    @Test
    void raiseOfAVectorWithoutHandler_isEinval_andChangesNothing() {
        boot();
        KernelException e = assertThrows(KernelException.class, () -> kernel.softirqs().raise(SCHED));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals("EINVAL: softirq vector 7 (SCHED) has no handler: call open_softirq() before raising it",
                e.getMessage());
        assertEquals(0, cpu(0).softirqPending());
        assertFalse(woken(0));
        assertEquals(Errno.EINVAL, assertThrows(KernelException.class, () -> kernel.softirqs().raise(32)).errno());
    }

    @Test
    void doSoftirq_runsPendingWorkInTaskContext_butNothingInInterruptContext() {
        boot();
        openLogging(NET_RX);
        task.localIrqDisable();
        kernel.softirqs().raiseIrqoffNoWake(NET_RX.nr());
        task.localIrqEnable();
        task.localBhDisable();
        kernel.softirqs().doSoftirq();
        assertEquals(List.of(), log, "do_softirq() returns at once when in_interrupt()");
        task.localBhEnableNoRun();
        assertEquals(List.of(), log, "_local_bh_enable() does not run pending work");
        kernel.softirqs().doSoftirq();
        assertEquals(List.of("NET_RX@" + me), log);
        assertFalse(woken(0));
    }

    @Test
    void throwingHandler_isAnOops_andTheRestOfThePassStillRuns() {
        boot();
        kernel.softirqs().open(TIMER, () -> {
            throw new IllegalStateException("boom");
        });
        openLogging(NET_RX);
        raisingLine(9, 0, TIMER, NET_RX);
        fire(9);
        assertEquals(1, kernel.reports().count(KernelEvent.Kind.OOPS));
        KernelEvent oops = reports.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertEquals("Oops: softirq TIMER (timer_action) threw java.lang.IllegalStateException: boom", oops.message());
        assertEquals("softirq", oops.context());
        assertEquals("cpu/0", oops.thread());
        assertEquals("boom", oops.cause().getMessage());
        assertEquals(List.of("NET_RX@cpu/0"), log);
        assertEquals(1, count(0, TIMER));
        assertNull(cpu(0).bhLevelOwner());
    }
}
