package dev.bottomhalf.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimers;

/**
 * NAPI's IRQ deferral ({@code napi_defer_hard_irqs}, {@code gro_flush_timeout}, the deferral timer
 * {@code napi_watchdog}; docs/subsystems/net.md, "IRQ deferral"), in stepped mode with the manual clock: which
 * completions keep the interrupt masked, when the timer polls, and what cancels it.
 */
class NapiDeferTest {
    private static final int LINE = 24;
    private static final long TIMEOUT_NS = 20_000;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;
    private Stepper stepper;
    private Napi napi;
    private HrTimers hrtimers;
    private ExecutionContext task;
    private final NetDevice eth0 = new NetDevice("eth0");
    /** Every poll: {@code <work>/<budget> on <context>}. */
    private final List<String> log = new ArrayList<>();

    /** A receive ring with an interrupt line routed to CPU 1: packets waiting, the mask, the driver's poll. */
    final class Ring {
        final NapiStruct n = new NapiStruct();
        int pending;
        boolean irqEnabled = true;
        /** What each completion returned, in order. */
        final List<Boolean> completions = new ArrayList<>();
        /** Run once inside the next poll, before it completes. */
        Runnable duringPoll;

        int poll(NapiStruct napiStruct, int budget) {
            int work = Math.min(pending, budget);
            pending -= work;
            log.add(work + "/" + budget + " on " + kernel.context().name());
            Runnable r = duringPoll;
            duringPoll = null;
            if (r != null) {
                r.run();
            }
            if (work < budget) {
                boolean done = napi.completeDone(napiStruct, work);
                completions.add(done);
                if (done) {
                    irqEnabled = true; // the driver unmasks only on true
                }
            }
            return work;
        }

        /** The device: raises its line when packets arrive and the interrupt is unmasked. */
        void arrive(int packets) {
            pending += packets;
            if (irqEnabled) {
                kernel.irqs().assertIrq(LINE);
            }
        }
    }

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        napi = kernel.napi();
        hrtimers = kernel.hrtimers();
        task = kernel.bindCurrentThread(0);
    }

    private Ring ring() {
        Ring r = new Ring();
        napi.add(eth0, r.n, r::poll);
        napi.enable(r.n);
        kernel.irqs().request(LINE, (irq, dev) -> {
            r.irqEnabled = false;   // the top half masks,
            napi.scheduleIrqoff(r.n); // and schedules the poll
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0-rx-0", r);
        kernel.irqs().setAffinity(LINE, 1);
        return r;
    }

    /** Moves the manual clock and lets both CPUs take their interrupts (the hrtimer's among them). */
    private void advanceNs(long ns) {
        stepper.clock().advanceNanos(ns);
        stepper.hardirq(0);
        stepper.hardirq(1);
    }

    private void defer(int count, long timeoutNs) {
        eth0.setNapiDeferHardIrqs(count);
        eth0.setGroFlushTimeoutNs(timeoutNs);
    }

    @Test
    void deferral_afterAPollWithWork_keepsTheIrqMasked_andTheTimerPollsAfterGroFlushTimeout_onTheSameCpu() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertEquals(List.of("5/64 on cpu/1"), log);
        assertEquals(List.of(false), a.completions, "deferred: the driver keeps the interrupt masked");
        assertFalse(a.irqEnabled);
        assertFalse(a.n.isScheduled(), "SCHED is clear: the timer will take it");
        assertTrue(hrtimers.active(a.n.timer));
        assertEquals(1, a.n.timer.cpu(), "pinned to the CPU that polled");
        assertEquals(1, a.n.deferHardIrqsCount(), "2 deferrals, one used");

        advanceNs(TIMEOUT_NS - 1);
        assertEquals(1, log.size(), "not before gro_flush_timeout");
        advanceNs(1);
        assertEquals(List.of("5/64 on cpu/1", "0/64 on cpu/1"), log, "the timer's poll, in NET_RX on CPU 1");
        assertEquals(List.of(false, false), a.completions, "the second deferral");
        assertEquals(0, a.n.deferHardIrqsCount());
        assertTrue(hrtimers.active(a.n.timer));

        advanceNs(TIMEOUT_NS);
        assertEquals(3, log.size());
        assertEquals(List.of(false, false, true), a.completions, "no deferral left: the interrupt is unmasked");
        assertTrue(a.irqEnabled);
        assertFalse(hrtimers.active(a.n.timer));
        advanceNs(10 * TIMEOUT_NS);
        assertEquals(3, log.size(), "no timer any more");
        assertEquals(1, kernel.irqs().count(LINE, 1), "one interrupt for three polls");
        assertEquals(5, napi.processed(1));
    }

    @Test
    void packetsArrivingWhileDeferred_areTakenByTheTimersPoll_withoutAnInterrupt_andRestartTheCount() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        a.arrive(3);                       // masked: no interrupt
        advanceNs(TIMEOUT_NS);
        assertEquals(List.of("5/64 on cpu/1", "3/64 on cpu/1"), log);
        assertEquals(1, a.n.deferHardIrqsCount(), "work done: the count starts again at 2, one used");
        advanceNs(TIMEOUT_NS);
        advanceNs(TIMEOUT_NS);
        assertEquals(List.of(false, false, false, true), a.completions, "two empty polls after the last work");
        assertEquals(1, kernel.irqs().count(LINE, 1), "8 packets, 4 polls, 1 interrupt");
        a.arrive(1);                       // unmasked again: the next packet interrupts
        stepper.hardirq(1);
        assertEquals(2, kernel.irqs().count(LINE, 1));
        assertEquals("1/64 on cpu/1", log.getLast());
    }

    @Test
    void noTimeout_meansNoDeferral_theCountStillMoves() {
        defer(2, 0);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertEquals(List.of(true), a.completions);
        assertTrue(a.irqEnabled);
        assertFalse(hrtimers.active(a.n.timer));
        assertEquals(1, a.n.deferHardIrqsCount(), "the count is kept even with no timer, as in the kernel");
    }

    @Test
    void deferZero_withATimeout_meansNoDeferral() {
        defer(0, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertEquals(List.of(true), a.completions);
        assertFalse(hrtimers.active(a.n.timer));
    }

    @Test
    void aCompletionWithoutWork_doesNotStartADeferral() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(0);                       // a spurious interrupt: the poll finds nothing
        stepper.hardirq(1);
        assertEquals(List.of("0/64 on cpu/1"), log);
        assertEquals(List.of(true), a.completions, "work_done 0 and no count left: unmask at once");
        assertFalse(hrtimers.active(a.n.timer));
    }

    @Test
    void missed_duringADeferredCompletion_pollsAgainAtOnce_andOnlyThatCompletionStartsTheTimer() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.duringPoll = () -> napi.schedule(a.n); // scheduled again while polled: MISSED
        a.arrive(5);
        stepper.hardirq(1);
        assertEquals(List.of("5/64 on cpu/1", "0/64 on cpu/1"), log, "MISSED: polled again in the same NET_RX");
        assertEquals(List.of(false, false), a.completions);
        assertEquals(0, a.n.deferHardIrqsCount(), "each completion used one deferral");
        assertTrue(hrtimers.active(a.n.timer));
        advanceNs(TIMEOUT_NS);
        assertEquals(List.of(false, false, true), a.completions);
        assertTrue(a.irqEnabled);
    }

    @Test
    void napiDisable_cancelsAPendingDeferral_soTheTimerNeverPolls() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertTrue(hrtimers.active(a.n.timer));
        napi.disable(a.n);
        assertFalse(hrtimers.active(a.n.timer), "hrtimer_cancel in napi_disable");
        a.pending = 7;
        advanceNs(10 * TIMEOUT_NS);
        assertEquals(1, log.size(), "no poll after the disable");
        assertTrue(a.n.isScheduled(), "disabled: napi_disable holds SCHED");
    }

    @Test
    void watchdog_ofAnInstanceAlreadyScheduled_setsNoMissed_andQueuesNothing() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertTrue(napi.schedulePrep(a.n), "someone else takes SCHED before the timer");
        advanceNs(TIMEOUT_NS);
        assertEquals(1, log.size(), "the timer found SCHED taken and left it to its owner");
        assertFalse(a.n.testBit(NapiStruct.STATE_MISSED), "no device interrupt asked: MISSED stays clear");
        task.localBhDisable();
        napi.scheduleAfterPrep(a.n);      // the owner queues it
        task.localBhEnable();
        assertEquals(2, log.size());
    }

    @Test
    void watchdog_whileADisableIsPending_doesNotSchedule() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        a.n.setBits(NapiStruct.DISABLE);  // napi_disable under way on another thread, before its hrtimer_cancel
        advanceNs(TIMEOUT_NS);
        assertFalse(a.n.isScheduled(), "napi_disable_pending: the timer leaves SCHED alone");
        assertEquals(1, log.size());
        a.n.clearBits(NapiStruct.DISABLE);
    }

    @Test
    void kernelClose_withADeferralPending_cancelsTheTimer_andNamesIt_droppingNoAcceptedWork() {
        defer(2, TIMEOUT_NS);
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertTrue(hrtimers.active(a.n.timer));
        dev.bottomhalf.CloseReport report = kernel.close(java.time.Duration.ofSeconds(30));
        assertEquals(List.of("napi_watchdog"), report.cancelledHrtimers(), report.toString());
        assertFalse(report.droppedAcceptedWork(), report.toString());
        assertEquals(1, log.size(), "the deferred poll never ran");
    }

    @Test
    void threadedDevice_theTimersPollRunsInTheInstancesKthread() {
        defer(1, TIMEOUT_NS);
        Ring a = ring();
        napi.setThreaded(eth0, true);
        a.arrive(5);
        stepper.hardirq(1);
        stepper.runUntilIdle();
        assertEquals(List.of("5/64 on napi/eth0-3"), log);
        assertTrue(hrtimers.active(a.n.timer));
        advanceNs(TIMEOUT_NS);
        stepper.runUntilIdle();
        assertEquals(List.of("5/64 on napi/eth0-3", "0/64 on napi/eth0-3"), log);
        assertEquals(List.of(false, true), a.completions, "defer 1: one timer poll, which unmasks");
    }

    @Test
    void settings_refuseNegativeValues_andChangesApplyFromTheNextCompletion() {
        assertThrows(IllegalArgumentException.class, () -> eth0.setNapiDeferHardIrqs(-1));
        assertThrows(IllegalArgumentException.class, () -> eth0.setGroFlushTimeoutNs(-1));
        Ring a = ring();
        a.arrive(5);
        stepper.hardirq(1);
        assertEquals(List.of(true), a.completions, "off by default");
        defer(1, TIMEOUT_NS);
        a.arrive(5);
        stepper.hardirq(1);
        assertEquals(List.of(true, false), a.completions, "on from the next completion");
        defer(0, 0);
        advanceNs(TIMEOUT_NS);
        assertEquals(List.of(true, false, true), a.completions);
    }

    @Test
    void deferralPath_allocatesNothing() throws ReflectiveOperationException {
        defer(1, TIMEOUT_NS);
        NapiStruct n = new NapiStruct();
        int[] polls = {0};
        int[] pending = {0};
        napi.add(eth0, n, (me, budget) -> {
            polls[0]++;
            int work = Math.min(pending[0], budget);
            pending[0] -= work;
            napi.completeDone(me, work); // work: deferred, the timer started; none: unmask
            return work;
        });
        napi.enable(n);
        Runnable rounds = () -> {
            for (int i = 0; i < 5_000; i++) {
                pending[0] = 1;
                task.localBhDisable();
                napi.schedule(n);          // as the top half would
                task.localBhEnable();      // NET_RX: the poll with work, deferred
                stepper.clock().advanceNanos(TIMEOUT_NS);
                stepper.hardirq(0);        // the timer's poll on this CPU: nothing, no deferral left
            }
        };
        for (int round = 0; round < 5; round++) {  // the JIT's warm-up, both ways
            defer(1, TIMEOUT_NS);
            rounds.run();
            defer(0, 0);
            rounds.run();
            allocatedBytes();
        }
        // The stepped harness itself (moving the manual clock, taking a CPU's interrupts) allocates: measured the
        // same loop without deferral, where the second step finds no timer, and compared.
        long before = allocatedBytes();
        rounds.run();
        long harness = allocatedBytes() - before;
        defer(1, TIMEOUT_NS);
        polls[0] = 0;
        before = allocatedBytes();
        rounds.run();
        long deferred = allocatedBytes() - before;
        assertEquals(10_000, polls[0], "each round: the interrupt's poll and the timer's");
        assertTrue(deferred - harness < 4_096, deferred + " bytes for 5,000 deferrals against " + harness
                + " for the same steps without them");
    }

    private static long allocatedBytes() throws ReflectiveOperationException {
        java.lang.reflect.Method m = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(java.lang.management.ManagementFactory.getThreadMXBean(),
                Thread.currentThread().threadId());
    }
}
