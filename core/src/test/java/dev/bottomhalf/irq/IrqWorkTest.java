package dev.bottomhalf.irq;

import static dev.bottomhalf.linux.Linux.DEFINE_IRQ_WORK;
import static dev.bottomhalf.linux.Linux.container_of;
import static dev.bottomhalf.linux.Linux.init_irq_work;
import static dev.bottomhalf.linux.Linux.irq_work_is_busy;
import static dev.bottomhalf.linux.Linux.irq_work_is_pending;
import static dev.bottomhalf.linux.Linux.irq_work_queue;
import static dev.bottomhalf.linux.Linux.irq_work_queue_on;
import static dev.bottomhalf.linux.Linux.irq_work_sync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/** {@code irq_work}: claim rules, where and when the function runs, sync. Stepped mode. */
class IrqWorkTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;
    private Stepper stepper;
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        reports = kernels.reports();
        kernel.bindCurrentThread(0);
    }

    private IrqWork.Func logging(String tag) {
        return w -> {
            ExecutionContext c = ExecutionContext.current();
            log.add(tag + "@" + c.name() + " hardirq=" + c.inHardirq() + " irqsDisabled=" + c.irqsDisabled());
        };
    }

    @Test
    void queue_runsOnTheCallingCpu_inHardirqWithIrqsDisabled_atItsNextInterrupt() {
        IrqWork w = DEFINE_IRQ_WORK("w", logging("w"));
        assertTrue(irq_work_queue(w));
        assertTrue(irq_work_is_pending(w));
        assertTrue(irq_work_is_busy(w));
        assertEquals(List.of(), log, "not inline: the self-IPI is taken when the CPU takes interrupts");
        stepper.hardirq(0);
        assertEquals(List.of("w@cpu/0 hardirq=true irqsDisabled=true"), log);
        assertFalse(irq_work_is_pending(w));
        assertFalse(irq_work_is_busy(w));
        assertEquals(1, kernel.irqs().irqWorkInterrupts(0));
    }

    @Test
    void queueOfAPendingItem_returnsFalse_andItRunsOnce() {
        IrqWork w = DEFINE_IRQ_WORK("w", logging("w"));
        assertTrue(irq_work_queue(w));
        assertFalse(irq_work_queue(w));
        assertFalse(irq_work_queue_on(w, 1), "pending anywhere: refused for every CPU");
        stepper.hardirq(0);
        stepper.hardirq(1);
        assertEquals(1, log.size(), log.toString());
    }

    @Test
    void queueOn_anotherCpu_runsThere() {
        IrqWork w = DEFINE_IRQ_WORK("w", logging("w"));
        assertTrue(irq_work_queue_on(w, 1));
        stepper.hardirq(0);
        assertEquals(List.of(), log);
        stepper.hardirq(1);
        assertEquals(List.of("w@cpu/1 hardirq=true irqsDisabled=true"), log);
    }

    @Test
    void theFunction_mayQueueItselfAgain_pendingIsClearedBeforeItRuns_andTheNextRunIsANewInterrupt() {
        List<Boolean> requeued = new ArrayList<>();
        IrqWork w = new IrqWork();
        init_irq_work(w, x -> {
            assertFalse(x.isPending());
            assertTrue(x.isBusy());
            if (requeued.size() < 2) {
                requeued.add(irq_work_queue(x));
            }
        });
        irq_work_queue(w);
        stepper.hardirq(0);
        assertEquals(List.of(true), requeued, "one run per interrupt");
        assertTrue(w.isPending());
        stepper.hardirq(0);
        stepper.hardirq(0);
        assertEquals(List.of(true, true), requeued);
        assertFalse(w.isBusy());
        assertEquals(3, kernel.irqs().irqWorkInterrupts(0));
    }

    @Test
    void queuedFromAHardHandler_runsAfterTheHandlerOnTheSameCpu() {
        IrqWork w = DEFINE_IRQ_WORK("w", logging("work"));
        kernel.irqs().request(5, (i, d) -> {
            log.add("handler");
            irq_work_queue(w);
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "D");
        kernel.irqs().setAffinity(5, 1);
        kernel.irqs().assertIrq(5);
        stepper.hardirq(1);
        stepper.hardirq(1);
        assertEquals(List.of("handler", "work@cpu/1 hardirq=true irqsDisabled=true"), log);
    }

    @Test
    void sync_inSteppedMode_drivesTheItemsCpu_andReturnsWhenItIsDone() {
        IrqWork w = DEFINE_IRQ_WORK("w", logging("w"));
        irq_work_queue_on(w, 1);
        irq_work_sync(w);
        assertEquals(1, log.size());
        assertFalse(w.isBusy());
    }

    @Test
    void sync_fromTheItemsOwnFunction_isReportedInsteadOfWaitingForever() {
        IrqWork w = DEFINE_IRQ_WORK("w", x -> irq_work_sync(x));
        irq_work_queue(w);
        reports.expect("WARNING: irq_work_sync(w) called with IRQs disabled (lockdep_assert_irqs_enabled)");
        reports.expect("BUG: irq_work_sync(w) called from the item's own function would wait for itself forever");
        stepper.hardirq(0);
    }

    @Test
    void containerOf_givesTheEmbeddingObject() {
        record Dev(String name) { }
        Dev dev = new Dev("eth0");
        IrqWork w = new IrqWork(dev);
        init_irq_work(w, x -> log.add(container_of(x, Dev.class).name()));
        irq_work_queue(w);
        stepper.hardirq(0);
        assertEquals(List.of("eth0"), log);
        assertSame(dev, w.owner(Dev.class));
    }

    @Test
    void aQueuedItem_keepsTheCpuBusyForClose_andIsReportedWhenDropped() {
        IrqWork w = DEFINE_IRQ_WORK("w", logging("w"));
        irq_work_queue_on(w, 1);
        assertFalse(Subsystems.irq().idleForClose(kernel.irqs()));
        stepper.hardirq(1);
        assertTrue(Subsystems.irq().idleForClose(kernel.irqs()));
        irq_work_queue_on(w, 1);
        assertEquals(List.of("irq_work w on CPU 1"), Subsystems.irq().discardLatchedForClose(kernel.irqs()));
        assertFalse(w.isBusy());
    }
}
