package dev.bottomhalf.irq;

import static dev.bottomhalf.linux.Linux.IRQF_COND_ONESHOT;
import static dev.bottomhalf.linux.Linux.IRQF_NO_AUTOEN;
import static dev.bottomhalf.linux.Linux.IRQF_NO_DEBUG;
import static dev.bottomhalf.linux.Linux.IRQF_ONESHOT;
import static dev.bottomhalf.linux.Linux.IRQF_PERCPU;
import static dev.bottomhalf.linux.Linux.IRQF_SHARED;
import static dev.bottomhalf.linux.Linux.IRQF_TRIGGER_FALLING;
import static dev.bottomhalf.linux.Linux.IRQF_TRIGGER_HIGH;
import static dev.bottomhalf.linux.Linux.IRQF_TRIGGER_RISING;
import static dev.bottomhalf.linux.Linux.IRQ_HANDLED;
import static dev.bottomhalf.linux.Linux.IRQ_NONE;
import static dev.bottomhalf.linux.Linux.IRQ_WAKE_THREAD;
import static dev.bottomhalf.linux.Linux.free_irq;
import static dev.bottomhalf.linux.Linux.request_irq;
import static dev.bottomhalf.linux.Linux.request_threaded_irq;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * {@code request_threaded_irq}, {@code __setup_irq} and {@code __free_irq} checked against Linux 6.12: the
 * refusals and their order, trigger-type inheritance between sharers, {@code IRQF_NO_DEBUG}, and the last
 * run of a threaded handler's pending wake-up at {@code free_irq}. Stepped mode.
 */
class IrqSetupFidelityTest {
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

    private void fire(int irq) {
        irqs.assertIrq(irq);
        stepper.hardirq(irqs.affinity(irq));
    }

    @Test
    void sharedWithNoAutoen_isEinval() {
        assertEquals(-22, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_NO_AUTOEN, "a", "A"));
        assertTrue(irqs.actionNames(IRQ).isEmpty());
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_NO_AUTOEN, "a", "A"));
    }

    @Test
    void nullPrimaryWithoutOneshot_onALineItCannotShare_isEbusyWithTheMismatchMessage_notEinval() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_TRIGGER_RISING, "a", "A"));
        assertEquals(-16, request_threaded_irq(IRQ, null, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_TRIGGER_FALLING,
                "t", "T"));
        assertEquals(1, reports.matching("genirq: Flags mismatch irq 7. 00000082 (t) vs. 00200081 (a)").size(),
                reports.toString());
        assertTrue(reports.matching("handler=NULL").isEmpty(), reports.toString());
    }

    @Test
    void nullPrimaryWithoutOneshot_onALineItCanShare_isEinvalWithTheThreadedMessage() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "a", "A"));
        assertEquals(-22, request_threaded_irq(IRQ, null, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "t", "T"));
        assertEquals(1, reports.matching("genirq: Threaded irq requested with handler=NULL and !ONESHOT for t (irq 7)")
                .size(), reports.toString());
        assertEquals(List.of("a"), irqs.actionNames(IRQ));
    }

    @Test
    void condOneshot_refusedForItsTrigger_printsItsOwnFlagsWithoutTheInheritedOneshot() {
        assertEquals(0, request_threaded_irq(IRQ, null, (i, d) -> IRQ_HANDLED,
                IRQF_SHARED | IRQF_ONESHOT | IRQF_TRIGGER_RISING, "a", "A"));
        assertEquals(-16, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_COND_ONESHOT | IRQF_TRIGGER_FALLING,
                "b", "B"));
        assertEquals(1, reports.matching("genirq: Flags mismatch irq 7. 00200082 (b) vs. 00002081 (a)").size(),
                reports.toString());
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_COND_ONESHOT | IRQF_TRIGGER_RISING,
                "c", "C"));
    }

    @Test
    void aSharerIsComparedWithTheLinesType_evenWhenTheFirstRequestGaveNone() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "a", "A"));
        assertEquals(-16, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_TRIGGER_HIGH, "b", "B"));
        reports.expect("genirq: Flags mismatch irq 7. 00200084 (b) vs. 00200080 (a)");
        assertFalse(irqs.isLevelTriggered(IRQ));
    }

    @Test
    void theLinesType_survivesFreeIrq_andARequestWithoutTriggerBitsKeepsIt() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED | IRQF_TRIGGER_HIGH, "a", "A"));
        free_irq(IRQ, "A");
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "b", "B"));
        assertTrue(irqs.isLevelTriggered(IRQ));
        assertEquals(-16, request_irq(IRQ, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "c", "C"),
                "the line is level now, c asks for none");
        reports.expect("genirq: Flags mismatch irq 7. 00200080 (c) vs. 00200080 (b)");
    }

    @Test
    void noDebugWithoutPercpu_isStillWatchedForUnhandledInterrupts() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_NONE, IRQF_NO_DEBUG, "a", "A"));
        fire(IRQ);
        assertEquals(1, irqs.spurious(IRQ).unhandled());
    }

    @Test
    void noDebugWithPercpu_isNotWatched() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_NONE, IRQF_NO_DEBUG | IRQF_PERCPU, "a", "A"));
        fire(IRQ);
        assertEquals(0, irqs.spurious(IRQ).unhandled());
    }

    @Test
    void freeIrq_runsAPendingThreadWakeUpOnceMore_inTheThread_beforeReturning() {
        AtomicInteger runs = new AtomicInteger();
        List<String> where = new java.util.ArrayList<>();
        assertEquals(0, request_threaded_irq(IRQ, (i, d) -> IRQ_WAKE_THREAD, (i, d) -> {
            runs.incrementAndGet();
            where.add(ExecutionContext.current().name());
            return IRQ_HANDLED;
        }, 0, "t", "T"));
        fire(IRQ);
        assertEquals(0, runs.get());
        assertEquals("t", free_irq(IRQ, "T"));
        assertEquals(1, runs.get());
        assertEquals(List.of("irq/7-t"), where);
        stepper.runUntilIdle();
        assertEquals(1, runs.get());
    }

    @Test
    void procInterrupts_leavesOutALineWhoseHandlerWasFreed_evenThoughItCounted() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, 0, "gone", "G"));
        fire(IRQ);
        assertEquals(1, irqs.totalCount(IRQ));
        assertTrue(kernel.proc().interrupts().contains("gone"));
        free_irq(IRQ, "G");
        assertFalse(kernel.proc().interrupts().contains("  7:"), kernel.proc().interrupts());
    }

    @Test
    void procIrqSmpAffinity_isTheHexMaskAndTheList() {
        assertEquals(0, request_irq(IRQ, (i, d) -> IRQ_HANDLED, 0, "a", "A"));
        irqs.setAffinity(IRQ, 1);
        assertEquals("2\n", kernel.proc().irqSmpAffinity(IRQ));
        assertEquals("1\n", kernel.proc().irqSmpAffinityList(IRQ));
        assertEquals("00000001", dev.bottomhalf.proc.ProcTestAccess.cpumaskHex(32, 0));
        assertEquals("01,00000000", dev.bottomhalf.proc.ProcTestAccess.cpumaskHex(40, 32));
        assertEquals("80", dev.bottomhalf.proc.ProcTestAccess.cpumaskHex(8, 7));
    }
}
