package dev.bottomhalf.irq;

import static dev.bottomhalf.linux.Linux.IRQF_ONESHOT;
import static dev.bottomhalf.linux.Linux.IRQF_SHARED;
import static dev.bottomhalf.linux.Linux.IRQ_HANDLED;
import static dev.bottomhalf.linux.Linux.free_irq;
import static dev.bottomhalf.linux.Linux.request_irq;
import static dev.bottomhalf.linux.Linux.request_threaded_irq;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Hard IRQs ({@code request_irq}, {@code request_threaded_irq}, {@code free_irq}, {@code disable_irq},
 * {@code enable_irq}, {@code synchronize_irq}, {@code note_interrupt}; docs/subsystems/irq.md), each in
 * stepped mode.
 */
class IrqSemanticsTest {
    private static final int IRQ = 7;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private IrqController irqs;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        irqs = kernel.irqs();
        kernel.bindCurrentThread(0);
    }

    /** A device interrupt, taken by the CPU the line is routed to. */
    private void fire(int irq) {
        irqs.assertIrq(irq);
        stepper.hardirq(irqs.affinity(irq));
    }

    private static IrqHandler returning(AtomicInteger calls, int ret) {
        return (irq, dev) -> {
            calls.incrementAndGet();
            return ret;
        };
    }

    @Test
    void sharedRequestWithoutDevId_isEinval() {
        KernelException e = assertThrows(KernelException.class,
                () -> irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED), "a", null));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("IRQF_SHARED requires a dev_id"), e.getMessage());
        assertEquals(-22, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "a", null));
        assertTrue(irqs.actionNames(IRQ).isEmpty());
    }

    @Test
    void sharingALineHeldWithoutShared_isEbusy_withTheFlagsMismatchMessage() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, 0, "a", "devA"));
        assertEquals(-16, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "b", "devB"));
        assertEquals(1, reports.matching("genirq: Flags mismatch irq 7. 00200080 (b) vs. 00200000 (a)").size(),
                reports.toString());
        assertEquals(List.of("a"), irqs.actionNames(IRQ));
    }

    @Test
    void sharersMustAgreeOnTriggerAndOneshot() {
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED, IrqFlag.TRIGGER_RISING), "a", "A");
        KernelException trigger = assertThrows(KernelException.class,
                () -> irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED), "b", "B"));
        assertEquals(Errno.EBUSY, trigger.errno());
        KernelException oneshot = assertThrows(KernelException.class, () -> irqs.requestThreaded(IRQ, null,
                (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED, IrqFlag.TRIGGER_RISING, IrqFlag.ONESHOT), "c", "C"));
        assertEquals(Errno.EBUSY, oneshot.errno());
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED, IrqFlag.TRIGGER_RISING), "d", "D");
        assertEquals(List.of("a", "d"), irqs.actionNames(IRQ));
    }

    @Test
    void nullPrimaryWithoutOneshot_isEinval_withOneshot_isAccepted() {
        assertEquals(-22, request_threaded_irq(IRQ, null, (i, d) -> IRQ_HANDLED, 0, "t", "T"));
        assertEquals(1, reports.matching("genirq: Threaded irq requested with handler=NULL and !ONESHOT for t (irq 7)")
                .size(), reports.toString());
        assertEquals(0, request_threaded_irq(IRQ, null, (i, d) -> IRQ_HANDLED, IRQF_ONESHOT, "t", "T"));
        assertEquals(List.of("irq/7-t"), irqs.threadNames(IRQ));
    }

    @Test
    void sharedLine_callsEveryHandler_evenAfterOneHandledIt() {
        AtomicInteger a = new AtomicInteger();
        AtomicInteger b = new AtomicInteger();
        irqs.request(IRQ, returning(a, IrqReturn.HANDLED), EnumSet.of(IrqFlag.SHARED), "a", "A");
        irqs.request(IRQ, returning(b, IrqReturn.NONE), EnumSet.of(IrqFlag.SHARED), "b", "B");
        fire(IRQ);
        assertEquals(1, a.get());
        assertEquals(1, b.get());
    }

    @Test
    void wakeupsBeforeTheThreadRuns_collapseIntoOneRun() {
        AtomicInteger primary = new AtomicInteger();
        AtomicInteger thread = new AtomicInteger();
        irqs.requestThreaded(IRQ, returning(primary, IrqReturn.WAKE_THREAD), returning(thread, IrqReturn.HANDLED),
                Set.of(), "t", "T");
        for (int i = 0; i < 5; i++) {
            fire(IRQ);
        }
        assertEquals(5, primary.get());
        assertEquals(1, stepper.run("irq/7-t"));
        assertEquals(0, stepper.run("irq/7-t"));
        assertEquals(1, thread.get());
    }

    @Test
    void oneshot_keepsTheLineMaskedUntilTheThreadReturns_thenReplaysOnce() {
        AtomicInteger primary = new AtomicInteger();
        AtomicInteger thread = new AtomicInteger();
        irqs.requestThreaded(IRQ, returning(primary, IrqReturn.WAKE_THREAD), returning(thread, IrqReturn.HANDLED),
                EnumSet.of(IrqFlag.ONESHOT), "t", "T");
        fire(IRQ);
        assertTrue(irqs.isMasked(IRQ));
        for (int i = 0; i < 4; i++) {
            fire(IRQ);
        }
        assertEquals(1, primary.get(), "masked: the hard handler does not run again");
        assertTrue(irqs.isReplayPending(IRQ), "the interrupts that came meanwhile are latched");
        stepper.run("irq/7-t");
        assertEquals(1, thread.get());
        assertFalse(irqs.isMasked(IRQ), "unmasked when the thread function returned");
        stepper.hardirq(0 == irqs.affinity(IRQ) ? 0 : 1);
        assertEquals(2, primary.get(), "the latched interrupt is replayed once on unmask");
    }

    @Test
    void disableNests_andAnUnbalancedEnableWarns() {
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        irqs.disable(IRQ);
        irqs.disable(IRQ);
        irqs.enable(IRQ);
        assertEquals(1, irqs.depth(IRQ));
        assertTrue(irqs.isDisabled(IRQ));
        irqs.enable(IRQ);
        assertEquals(0, irqs.depth(IRQ));
        assertFalse(irqs.isDisabled(IRQ));
        irqs.enable(IRQ);
        assertEquals(0, irqs.depth(IRQ));
        List<KernelEvent> warn = reports.matching("Unbalanced enable for IRQ 7");
        assertEquals(1, warn.size());
        assertEquals(KernelEvent.Kind.WARNING, warn.get(0).kind());
    }

    @Test
    void interruptWhileDisabled_isReplayedOnEnable() {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, returning(calls, IrqReturn.HANDLED), Set.of(), "a", "A");
        irqs.disableNosync(IRQ);
        fire(IRQ);
        fire(IRQ);
        assertEquals(0, calls.get());
        irqs.enable(IRQ);
        stepper.hardirq(irqs.affinity(IRQ));
        assertEquals(1, calls.get(), "replayed once");
    }

    @Test
    void disableIrqFromItsOwnHandler_isReportedInsteadOfDeadlocking_nosyncIsFine() {
        irqs.request(IRQ, (i, d) -> {
            irqs.disable(IRQ);
            return IrqReturn.HANDLED;
        }, Set.of(), "self", "S");
        fire(IRQ);
        assertEquals(1, irqs.depth(IRQ));
        assertEquals(1, reports.matching("BUG: disable_irq(7) called from the hard handler of IRQ 7: it would wait for"
                + " itself forever (deadlock); use disable_irq_nosync() there").size(), reports.toString());
        irqs.enable(IRQ);
        irqs.free(IRQ, "S");
        reports.clear();
        irqs.request(IRQ, (i, d) -> {
            irqs.disableNosync(IRQ);
            return IrqReturn.HANDLED;
        }, Set.of(), "nosync", "N");
        fire(IRQ);
        assertEquals(1, irqs.depth(IRQ));
        assertTrue(reports.events().isEmpty(), reports.toString());
    }

    @Test
    void noAutoen_leavesTheLineDisabledUntilEnable() {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, returning(calls, IrqReturn.HANDLED), EnumSet.of(IrqFlag.NO_AUTOEN), "a", "A");
        assertEquals(1, irqs.depth(IRQ));
        fire(IRQ);
        assertEquals(0, calls.get());
        irqs.enable(IRQ);
        stepper.hardirq(irqs.affinity(IRQ));
        assertEquals(1, calls.get());
    }

    @Test
    void depthAcrossRequestDisableFree_asInTheKernelsIrqTest() {
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        assertEquals(0, irqs.depth(IRQ));
        irqs.disable(IRQ);
        assertEquals(1, irqs.depth(IRQ));
        irqs.enable(IRQ);
        assertEquals(0, irqs.depth(IRQ));
        irqs.disable(IRQ);
        assertEquals("a", irqs.free(IRQ, "A"));
        assertTrue(irqs.depth(IRQ) >= 1);
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        assertEquals(0, irqs.depth(IRQ));
        assertFalse(irqs.isDisabled(IRQ));
    }

    @Test
    void freeWithTheWrongDevId_warnsAndKeepsTheHandler() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, 0, "a", "right"));
        assertNull(free_irq(IRQ, "wrong"));
        assertEquals(1, reports.matching("Trying to free already-free IRQ 7").size());
        assertEquals(List.of("a"), irqs.actionNames(IRQ));
        assertEquals("a", free_irq(IRQ, "right"));
    }

    @Test
    void hundredThousandUnhandledInARow_disableTheLine_andThePollKeepsCallingSharedHandlers() {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, returning(calls, IrqReturn.NONE), EnumSet.of(IrqFlag.SHARED), "deaf", "D");
        for (int i = 1; i < IrqController.SPURIOUS_WINDOW; i++) {
            fire(IRQ);
        }
        assertFalse(irqs.isSpuriousDisabled(IRQ), "not before the 100,000th");
        fire(IRQ);
        assertTrue(irqs.isSpuriousDisabled(IRQ));
        assertEquals(1, irqs.depth(IRQ));
        KernelEvent bug = reports.matching("nobody cared").get(0);
        assertTrue(bug.message().startsWith("irq 7: nobody cared (try booting with the \"irqpoll\" option)\nhandlers:\n[<deaf>]"),
                bug.message());
        assertEquals(1, reports.matching("Disabling IRQ #7").size());
        assertEquals(KernelEvent.Kind.EMERG, reports.matching("Disabling IRQ #7").get(0).kind());
        int before = calls.get();
        fire(IRQ);
        assertEquals(before, calls.get(), "disabled");
        stepper.clock().advanceMillis(99);
        stepper.hardirq(0);
        assertEquals(before, calls.get(), "the poll runs every 100 ms");
        stepper.clock().advanceMillis(1);
        stepper.hardirq(0);
        assertEquals(before + 1, calls.get(), "poll_spurious_irqs called the shared handler");
        stepper.clock().advanceMillis(100);
        stepper.hardirq(0);
        assertEquals(before + 2, calls.get(), "and again 100 ms later");
    }

    @Test
    void exactly99900UnhandledOf100000_isNotEnough() {
        int[] verdicts = {IrqReturn.NONE};
        irqs.request(IRQ, (i, d) -> verdicts[0], Set.of(), "flaky", "F");
        fire(IRQ);                                  // the first unhandled one starts the window
        verdicts[0] = IrqReturn.HANDLED;
        for (int i = 0; i < 100; i++) {
            fire(IRQ);
        }
        verdicts[0] = IrqReturn.NONE;
        for (int i = 0; i < 99_899; i++) {
            fire(IRQ);
        }
        assertFalse(irqs.isSpuriousDisabled(IRQ), "99,900 unhandled is not > 99,900");
        assertEquals(0, irqs.spurious(IRQ).count(), "the window closed and was reset");
        assertTrue(reports.matching("nobody cared").isEmpty());
    }

    @Test
    void oneMoreUnhandled_is() {
        reports.expect("irq 7: nobody cared");
        int[] verdicts = {IrqReturn.NONE};
        irqs.request(IRQ, (i, d) -> verdicts[0], Set.of(), "flaky", "F");
        fire(IRQ);
        verdicts[0] = IrqReturn.HANDLED;
        for (int i = 0; i < 99; i++) {
            fire(IRQ);
        }
        verdicts[0] = IrqReturn.NONE;
        for (int i = 0; i < 99_900; i++) {
            fire(IRQ);
        }
        assertTrue(irqs.isSpuriousDisabled(IRQ), "99,901 unhandled of 100,000");
    }

    @Test
    void unhandledSpacedMoreThan100msApart_neverAccumulate() {
        irqs.request(IRQ, (i, d) -> IrqReturn.NONE, Set.of(), "rare", "R");
        for (int i = 0; i < IrqController.SPURIOUS_WINDOW + 10; i++) {
            stepper.clock().advanceMillis(101);
            fire(IRQ);
            if (i % 20_000 == 0) {
                assertEquals(1, irqs.spurious(IRQ).unhandled(), "reset to 1 every time");
            }
        }
        assertFalse(irqs.isSpuriousDisabled(IRQ));
    }

    @Test
    void allHandled_theWindowNeverAdvances() {
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "good", "G");
        for (int i = 0; i < 1000; i++) {
            fire(IRQ);
        }
        assertEquals(0, irqs.spurious(IRQ).count());
        assertEquals(0, irqs.spurious(IRQ).unhandled());
        assertEquals(1000, irqs.totalCount(IRQ));
    }

    @Test
    void bogusReturnValue_isReportedAtMost100Times_andDoesNotDisable() {
        irqs.request(IRQ, (i, d) -> 4, Set.of(), "bogus", "B");
        for (int i = 0; i < 150; i++) {
            fire(IRQ);
        }
        List<KernelEvent> bogus = reports.matching("irq event 7: bogus return value 4");
        assertEquals(IrqController.BOGUS_REPORTS, bogus.size());
        assertFalse(irqs.isDisabled(IRQ));
    }

    @Test
    void wakeThreadWithoutThreadFunction_warnsOnce() {
        irqs.request(IRQ, (i, d) -> IrqReturn.WAKE_THREAD, Set.of(), "nothread", "N");
        fire(IRQ);
        fire(IRQ);
        List<KernelEvent> w = reports.matching("IRQ 7 device nothread returned IRQ_WAKE_THREAD but no thread function available.");
        assertEquals(1, w.size());
    }

    @Test
    void threadedHandlerReturningNone_isCountedUnhandledOneInterruptLate() {
        irqs.requestThreaded(IRQ, (i, d) -> IrqReturn.WAKE_THREAD, (i, d) -> IrqReturn.NONE, Set.of(), "t", "T");
        for (int i = 0; i < IrqController.SPURIOUS_WINDOW; i++) {
            fire(IRQ);
            stepper.run("irq/7-t");
        }
        assertFalse(irqs.isSpuriousDisabled(IRQ), "the first interrupt only armed the deferred verdict");
        fire(IRQ);
        assertTrue(irqs.isSpuriousDisabled(IRQ));
        assertEquals(1, reports.matching("irq 7: nobody cared").size());
    }

    @Test
    void threadedHandlerThatHandles_isNeverUnhandled() {
        irqs.requestThreaded(IRQ, (i, d) -> IrqReturn.WAKE_THREAD, (i, d) -> IrqReturn.HANDLED, Set.of(), "t", "T");
        for (int i = 0; i < 1000; i++) {
            fire(IRQ);
            stepper.run("irq/7-t");
        }
        assertEquals(0, irqs.spurious(IRQ).unhandled());
    }

    @Test
    void procInterruptsCountsEveryInterruptTaken_evenUnhandledOnes() {
        irqs.request(IRQ, (i, d) -> IrqReturn.NONE, Set.of(), "none", "N");
        irqs.setAffinity(IRQ, 1);
        fire(IRQ);
        fire(IRQ);
        assertEquals(0, irqs.count(IRQ, 0));
        assertEquals(2, irqs.count(IRQ, 1));
        assertTrue(kernel.proc().interrupts().contains("  7:          0          2   BH-INTC   7-edge      none\n"),
                kernel.proc().interrupts());
    }

    @Test
    void hardHandler_runsOnTheRoutedCpuInHardirqWithIrqsDisabled() {
        List<String> seen = new ArrayList<>();
        irqs.request(IRQ, (i, d) -> {
            ExecutionContext c = kernel.context();
            seen.add(c.name() + " hardirq=" + c.inHardirq() + " irqsDisabled=" + c.irqsDisabled() + " cpu=" + c.cpuId());
            return IrqReturn.HANDLED;
        }, Set.of(), "a", "A");
        irqs.setAffinity(IRQ, 1);
        irqs.assertIrq(IRQ);
        assertEquals(0, stepper.hardirq(0), "not routed to CPU 0");
        assertEquals(1, stepper.hardirq(1));
        assertEquals(List.of("cpu/1 hardirq=true irqsDisabled=true cpu=1"), seen);
    }

    @Test
    void handlerThatEnablesInterrupts_isReported_andIrqsAreDisabledAgain() {
        List<Boolean> after = new ArrayList<>();
        irqs.request(IRQ, (i, d) -> {
            kernel.context().localIrqEnable();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.SHARED), "rude", "R");
        irqs.request(IRQ, (i, d) -> {
            after.add(kernel.context().irqsDisabled());
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.SHARED), "next", "N");
        fire(IRQ);
        assertEquals(1, reports.matching("irq 7 handler rude enabled interrupts").size());
        assertEquals(List.of(true), after);
    }

    @Test
    void throwingHandler_isAnOops_andTheLineKeepsWorking() {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("device on fire");
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "flaky", "F");
        fire(IRQ);
        fire(IRQ);
        assertEquals(2, calls.get());
        KernelEvent oops = reports.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertTrue(oops.message().contains("irq 7 handler flaky threw java.lang.IllegalStateException: device on fire"));
        assertEquals("hardirq", oops.context());
    }

    @Test
    void enableBeforeAnyRequest_isReported() {
        irqs.enable(3);
        assertEquals(1, reports.matching("enable_irq before setup/request_irq: irq 3").size());
    }

    @Test
    void freeFromInterruptContext_isRefused() {
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        List<String> refusals = new ArrayList<>();
        irqs.request(8, (i, d) -> {
            try {
                irqs.free(IRQ, "A");
            } catch (KernelException e) {
                refusals.add(e.getMessage());
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "b", "B");
        fire(8);
        assertEquals(List.of("EINVAL: Trying to free IRQ 7 from IRQ context!"), refusals);
        assertEquals(1, reports.matching("Trying to free IRQ 7 from IRQ context!").size());
        assertEquals(List.of("a"), irqs.actionNames(IRQ));
    }

    @Test
    void requestOfALineThatDoesNotExist_isEinval() {
        assertEquals(Errno.EINVAL, assertThrows(KernelException.class,
                () -> irqs.request(64, (i, d) -> IrqReturn.HANDLED, Set.of(), "x", "X")).errno());
    }
}
