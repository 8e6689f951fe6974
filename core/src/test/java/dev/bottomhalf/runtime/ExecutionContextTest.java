package dev.bottomhalf.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;

/** The preempt_count predicates (semantics §1) in every context, IRQ masking and might_sleep. */
class ExecutionContextTest {
    private final Reporter.Recording reports = Reporter.recording();
    private Kernel kernel;
    private Stepper stepper;
    private ExecutionContext task;

    @BeforeEach
    void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(reports).build());
        stepper = kernel.stepper();
        task = kernel.bindCurrentThread(0);
    }

    @AfterEach
    void close() {
        kernel.machine().detachCurrentThread();
        kernel.close();
    }

    private static String predicates(ExecutionContext c) {
        return "hardirq=" + c.inHardirq() + " serving=" + c.inServingSoftirq() + " softirq=" + c.inSoftirq()
                + " interrupt=" + c.inInterrupt() + " task=" + c.inTask() + " atomic=" + c.inAtomic()
                + " irqsDisabled=" + c.irqsDisabled() + " level=" + c.interruptContextLevel();
    }

    @Test
    void predicates_inEveryContext() {
        List<String> seen = new ArrayList<>();
        seen.add("task " + predicates(task));
        task.localBhDisable();
        seen.add("bh " + predicates(task));
        task.localBhEnable();
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> seen.add("softirq " + predicates(kernel.context())));
        kernel.irqs().request(3, (irq, dev) -> {
            seen.add("hardirq " + predicates(kernel.context()));
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "d", "d");
        kernel.irqs().setAffinity(3, 0);
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);
        assertEquals(List.of(
                "task hardirq=false serving=false softirq=false interrupt=false task=true atomic=false irqsDisabled=false level=0",
                "bh hardirq=false serving=false softirq=true interrupt=true task=true atomic=true irqsDisabled=false level=0",
                "hardirq hardirq=true serving=false softirq=false interrupt=true task=false atomic=true irqsDisabled=true level=2",
                "softirq hardirq=false serving=true softirq=true interrupt=true task=false atomic=true irqsDisabled=false level=1"),
                seen);
    }

    @Test
    void localIrqSaveRestore_nests_butDisableEnableDoNot() {
        long outer = task.localIrqSave();
        long inner = task.localIrqSave();
        assertEquals(ExecutionContext.FLAGS_IRQS_ENABLED, outer);
        assertEquals(ExecutionContext.FLAGS_IRQS_DISABLED, inner);
        task.localIrqRestore(inner);
        assertTrue(task.irqsDisabled(), "restoring the inner flags keeps IRQs off");
        assertEquals(task, kernel.machine().cpu(0).irqLevelOwner());
        task.localIrqRestore(outer);
        assertFalse(task.irqsDisabled());
        assertEquals(null, kernel.machine().cpu(0).irqLevelOwner());

        task.localIrqDisable();
        task.localIrqDisable();
        task.localIrqEnable();
        assertFalse(task.irqsDisabled(), "local_irq_enable always unmasks");
        assertTrue(reports.events().isEmpty(), reports.toString());
    }

    @Test
    void localIrqRestore_withIrqsEnabled_warnsOnce() {
        task.localIrqRestore(ExecutionContext.FLAGS_IRQS_ENABLED);
        task.localIrqRestore(ExecutionContext.FLAGS_IRQS_ENABLED);
        assertEquals(1, reports.matching("raw_local_irq_restore() called with IRQs enabled").size());
    }

    @Test
    void hardIrqWaits_whileATaskOnThatCpuHasIrqsDisabled_inSteppedModeTheStepRefuses() {
        kernel.irqs().request(3, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "d", "d");
        kernel.irqs().setAffinity(3, 0);
        task.localIrqDisable();
        kernel.irqs().assertIrq(3);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> stepper.hardirq(0));
        assertTrue(e.getMessage().contains("cpu/0 needs the IRQ level of CPU 0"), e.getMessage());
        task.localIrqEnable();
    }

    @Test
    void preemptDisableEnable_countAndWarnOnUnderflow() {
        task.preemptDisable();
        task.preemptDisable();
        assertEquals(2, task.preemptCount());
        assertTrue(task.inAtomic());
        assertTrue(task.inTask());
        task.preemptEnable();
        task.preemptEnable();
        task.preemptEnable();
        assertEquals(0, task.preemptCount());
        assertEquals(1, reports.matching("preempt_enable() without preempt_disable()").size());
    }

    @Test
    void mightSleep_inAtomicContext_reportsTheKernelsBug() {
        assertTrue(task.mightSleep("test_sleep"));
        task.localBhDisable();
        assertFalse(task.mightSleep("test_sleep"));
        task.localBhEnable();
        KernelEvent bug = reports.ofKind(KernelEvent.Kind.BUG).get(0);
        assertTrue(bug.message().startsWith("BUG: sleeping function called from invalid context at test_sleep\n"
                + "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: "), bug.message());
        assertTrue(bug.message().endsWith("preempt_count: 200, expected: 0"), bug.message());
        task.localIrqDisable();
        task.mightSleep("other");
        task.localIrqEnable();
        assertTrue(reports.ofKind(KernelEvent.Kind.BUG).get(1).message().contains("in_atomic(): 0, irqs_disabled(): 1"));
    }

    @Test
    void mightSleep_fromASoftirqHandler_reports() {
        kernel.softirqs().open(SoftirqVector.TIMER, () -> kernel.context().mightSleep("msleep"));
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.TIMER);
        task.localBhEnable();
        assertEquals(1, reports.matching("BUG: sleeping function called from invalid context at msleep").size());
    }

    @Test
    void localBhEnable_withoutDisable_warnsAndChangesNothing() {
        task.localBhEnable();
        assertEquals(0, task.preemptCount());
        assertEquals(1, reports.matching("local_bh_enable() without local_bh_disable()").size());
    }

    @Test
    void localBhDisable_nestingBeyond127_isRefused() {
        for (int i = 0; i < 127; i++) {
            task.localBhDisable();
        }
        assertThrows(IllegalStateException.class, task::localBhDisable);
        for (int i = 0; i < 127; i++) {
            task.localBhEnableNoRun();
        }
        assertEquals(0, task.preemptCount());
        assertEquals(null, kernel.machine().cpu(0).bhLevelOwner());
    }

    @Test
    void bindCurrentThread_toACpuThatDoesNotExist_isEnxio() {
        KernelException e = assertThrows(KernelException.class, () -> kernel.bindCurrentThread(2));
        assertEquals(Errno.ENXIO, e.errno());
    }

    @Test
    void bindCurrentThread_inAtomicContext_isRefused() {
        task.localBhDisable();
        assertThrows(IllegalStateException.class, () -> kernel.bindCurrentThread(1));
        task.localBhEnable();
        assertEquals(1, kernel.bindCurrentThread(1).cpu().id());
    }

    @Test
    void jiffies_startFiveMinutesBeforeThe32BitWrap_andFollowTheClock() {
        assertEquals((1L << 32) - 300_000, kernel.jiffies());
        stepper.clock().advanceMillis(300_001);
        assertEquals((1L << 32) + 1, kernel.jiffies(), "the low 32 bits wrapped");
        Kernel hz250 = Kernel.boot(KernelConfig.builder().cpus(1).hz(250).stepped().build());
        assertEquals((1L << 32) - 75_000, hz250.jiffies());
        hz250.close();
    }

    @Test
    void facade_withoutAKernel_saysHowToAttach() {
        kernel.machine().detachCurrentThread();
        IllegalStateException e = assertThrows(IllegalStateException.class, dev.bottomhalf.linux.Linux::in_interrupt);
        assertTrue(e.getMessage().contains("is not attached to a kernel"), e.getMessage());
        task = kernel.bindCurrentThread(0);
    }
}
