package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.Internals;
import dev.bottomhalf.internal.runtime.Cpu;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqHandler;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Execution contexts (docs/subsystems/runtime.md, "Execution contexts"): the {@code preempt_count} layout
 * and the context predicates ({@code in_interrupt}, {@code in_softirq}, {@code in_hardirq}, {@code in_task},
 * ...) in every context, local IRQ masking ({@code local_irq_disable}, {@code local_irq_save}), preemption,
 * {@code might_sleep}, the misuse reports, and binding a thread to a CPU. Stepped mode: the test thread is a
 * task on CPU 0 and plays the runtime contexts.
 */
class ExecutionContextTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private final List<String> seen = new ArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private ExecutionContext task;
    private String me;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        task = kernel.bindCurrentThread(0);
        me = Thread.currentThread().getName();
    }

    /**
     * Every context predicate of the current context, asked through the Java API; the facade
     * ({@code dev.bottomhalf.linux.Linux}) must give the same answers.
     */
    private String predicates(String label) {
        ExecutionContext c = kernel.context();
        String java = String.format("%s pc=%08x hardirq=%b serving=%b softirq=%b interrupt=%b task=%b atomic=%b"
                        + " irqsDisabled=%b preemptible=%b level=%d", c.name(), c.preemptCount(), c.inHardirq(),
                c.inServingSoftirq(), c.inSoftirq(), c.inInterrupt(), c.inTask(), c.inAtomic(), c.irqsDisabled(),
                c.preemptible(), c.interruptContextLevel());
        String facade = String.format("%s pc=%08x hardirq=%b serving=%b softirq=%b interrupt=%b task=%b atomic=%b"
                        + " irqsDisabled=%b preemptible=%b level=%d", c.name(), Linux.preempt_count(), Linux.in_hardirq(),
                Linux.in_serving_softirq(), Linux.in_softirq(), Linux.in_interrupt(), Linux.in_task(), Linux.in_atomic(),
                Linux.irqs_disabled(), Linux.preemptible(), Linux.interrupt_context_level());
        assertEquals(java, facade, "facade and Java API disagree in " + label);
        assertEquals(Linux.in_hardirq(), Linux.in_irq(), "in_irq() is the alias of in_hardirq()");
        assertEquals(c.cpu().id(), Linux.smp_processor_id());
        return label + ": " + java;
    }

    private void line(int irq, int cpu, IrqHandler handler) {
        kernel.irqs().request(irq, handler, Set.of(), "dev" + irq, "cookie" + irq);
        kernel.irqs().setAffinity(irq, cpu);
    }

    private void fire(int irq) {
        kernel.irqs().assertIrq(irq);
        stepper.hardirq(kernel.irqs().affinity(irq));
    }

    // ------------------------------------------------------------------------------------------
    // Context predicates: in_interrupt, in_softirq, in_hardirq, in_task, ...
    // ------------------------------------------------------------------------------------------

    @Test
    void predicatesTable_inTaskBhDisabledKsoftirqdIrqExitLocalBhEnableAndHardirq() {
        seen.add(predicates("task"));
        task.preemptDisable();
        seen.add(predicates("preempt-off task"));
        task.preemptEnable();
        task.localIrqDisable();
        seen.add(predicates("irqs-off task"));
        task.localIrqEnable();
        task.localBhDisable();
        seen.add(predicates("bh-off task"));
        task.localBhEnable();

        kernel.softirqs().open(SoftirqVector.NET_RX, () -> seen.add(predicates("softirq")));
        kernel.softirqs().raise(SoftirqVector.NET_RX);            // from task: ksoftirqd
        stepper.run("ksoftirqd/0");
        line(3, 0, (irq, dev) -> {
            seen.add(predicates("hardirq"));
            kernel.softirqs().raise(SoftirqVector.NET_RX);        // at irq_exit
            return IrqReturn.HANDLED;
        });
        fire(3);
        task.localBhDisable();
        kernel.softirqs().raise(SoftirqVector.NET_RX);            // inside local_bh_enable
        task.localBhEnable();

        assertEquals(List.of(
                "task: " + me + " pc=00000000 hardirq=false serving=false softirq=false interrupt=false task=true"
                        + " atomic=false irqsDisabled=false preemptible=true level=0",
                "preempt-off task: " + me + " pc=00000001 hardirq=false serving=false softirq=false interrupt=false"
                        + " task=true atomic=true irqsDisabled=false preemptible=false level=0",
                "irqs-off task: " + me + " pc=00000000 hardirq=false serving=false softirq=false interrupt=false"
                        + " task=true atomic=false irqsDisabled=true preemptible=false level=0",
                "bh-off task: " + me + " pc=00000200 hardirq=false serving=false softirq=true interrupt=true task=true"
                        + " atomic=true irqsDisabled=false preemptible=false level=0",
                "softirq: ksoftirqd/0 pc=00000100 hardirq=false serving=true softirq=true interrupt=true task=false"
                        + " atomic=true irqsDisabled=false preemptible=false level=1",
                "hardirq: cpu/0 pc=00010000 hardirq=true serving=false softirq=false interrupt=true task=false"
                        + " atomic=true irqsDisabled=true preemptible=false level=2",
                "softirq: cpu/0 pc=00000100 hardirq=false serving=true softirq=true interrupt=true task=false"
                        + " atomic=true irqsDisabled=false preemptible=false level=1",
                "softirq: " + me + " pc=00000101 hardirq=false serving=true softirq=true interrupt=true task=false"
                        + " atomic=true irqsDisabled=false preemptible=false level=1"),
                seen);
        assertEquals(0, task.preemptCount());
        assertTrue(reports.events().isEmpty(), reports.toString());
    }

    @Test
    void hardirqInterruptingASoftirq_seesBothTheHardirqAndTheServingBits() {
        kernel.softirqs().open(SoftirqVector.TIMER, () -> kernel.irqs().assertIrq(4));
        line(3, 0, (irq, dev) -> {
            kernel.softirqs().raise(SoftirqVector.TIMER);
            return IrqReturn.HANDLED;
        });
        line(4, 0, (irq, dev) -> {
            seen.add(predicates("hardirq over softirq"));
            return IrqReturn.HANDLED;
        });
        fire(3);
        assertEquals(List.of("hardirq over softirq: cpu/0 pc=00010100 hardirq=true serving=true softirq=true"
                + " interrupt=true task=false atomic=true irqsDisabled=true preemptible=false level=2"), seen);
    }

    @Test
    void smpCallFunction_runsInHardirqOnTheTargetCpu() {
        kernel.smpCallFunctionSingle(1, () -> seen.add(predicates("ipi")), true);
        assertEquals(List.of("ipi: cpu/1 pc=00010000 hardirq=true serving=false softirq=false interrupt=true"
                + " task=false atomic=true irqsDisabled=true preemptible=false level=2"), seen);
    }

    /**
     * Model gap, asserted as the model behaves: in the kernel a hard IRQ that interrupts a BH-disabled
     * task section runs on top of that task's count (0x10200: {@code in_softirq()} true). The model
     * keeps one count per context, so {@code cpu/0} sees only its own hardirq bits (0x10000). The rules
     * that depend on it — no softirqs at irq_exit, the section's enable runs them — hold
     * ({@code SoftirqSemanticsTest.hardIrqRaisingDuringBhDisabledSection_doesNotRunAtIrqExit_butAtTheSectionsFinalEnable}).
     */
    @Test
    void hardirqOverABhDisabledTask_seesOnlyItsOwnCount_modelGap() {
        line(3, 0, (irq, dev) -> {
            seen.add(predicates("hardirq over bh-off task"));
            return IrqReturn.HANDLED;
        });
        task.localBhDisable();
        fire(3);
        task.localBhEnable();
        assertEquals(List.of("hardirq over bh-off task: cpu/0 pc=00010000 hardirq=true serving=false softirq=false"
                + " interrupt=true task=false atomic=true irqsDisabled=true preemptible=false level=2"), seen);
    }

    // ------------------------------------------------------------------------------------------
    // Local IRQ masking: local_irq_disable/enable, local_irq_save/restore
    // ------------------------------------------------------------------------------------------

    @Test
    void localIrqSaveRestore_nest_andTheInnerRestoreKeepsIrqsDisabled() {
        Cpu cpu0 = Internals.machine(kernel).cpu(0);
        long outer = task.localIrqSave();
        assertEquals(ExecutionContext.FLAGS_IRQS_ENABLED, outer);
        assertFalse(Linux.irqs_disabled_flags(outer));
        assertTrue(task.irqsDisabled());
        long inner = Linux.local_irq_save();
        assertEquals(ExecutionContext.FLAGS_IRQS_DISABLED, inner);
        assertTrue(Linux.irqs_disabled_flags(inner));
        long innermost = task.localIrqSave();
        assertEquals(ExecutionContext.FLAGS_IRQS_DISABLED, innermost);
        task.localIrqRestore(innermost);
        assertTrue(task.irqsDisabled());
        Linux.local_irq_restore(inner);
        assertTrue(task.irqsDisabled(), "restoring the inner flags keeps IRQs off");
        assertSame(task, cpu0.irqLevelOwner(), "and the CPU's IRQ level with this task");
        task.localIrqRestore(outer);
        assertFalse(task.irqsDisabled(), "the outermost restore enables");
        assertNull(cpu0.irqLevelOwner());
        assertEquals(0, task.preemptCount(), "IRQ masking does not touch preempt_count");
        assertTrue(reports.events().isEmpty(), reports.toString());
    }

    @Test
    void localIrqRestoreWithIrqsEnabled_warnsOnce_withTheDebugIrqflagsText() {
        reports.expect("raw_local_irq_restore() called with IRQs enabled");
        task.localIrqRestore(ExecutionContext.FLAGS_IRQS_ENABLED);
        assertFalse(task.irqsDisabled());
        long flags = task.localIrqSave();
        task.localIrqEnable();                        // someone enabled in between
        task.localIrqRestore(flags);
        assertEquals(List.of("raw_local_irq_restore() called with IRQs enabled"),
                reports.events().stream().map(KernelEvent::message).toList());
        assertEquals(KernelEvent.Kind.WARNING, reports.events().get(0).kind());
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.WARNING), "WARN_ONCE prints once, counts both");

        task.localIrqRestore(ExecutionContext.FLAGS_IRQS_DISABLED);   // restoring "disabled" flags disables
        assertTrue(task.irqsDisabled());
        task.localIrqEnable();
    }

    @Test
    void localIrqDisableEnable_doNotNest_oneEnableUnmasksAfterAnyNumberOfDisables() {
        Linux.local_irq_disable();
        Linux.local_irq_disable();
        task.localIrqDisable();
        assertTrue(Linux.irqs_disabled());
        Linux.local_irq_enable();
        assertFalse(task.irqsDisabled(), "local_irq_enable always unmasks");
        assertNull(Internals.machine(kernel).cpu(0).irqLevelOwner());
        task.localIrqEnable();
        assertFalse(task.irqsDisabled(), "enabling enabled IRQs is a no-op");
        assertTrue(reports.events().isEmpty(), reports.toString());
    }

    @Test
    void irqsDisabledOnCpu0_holdBackItsHardIrqs_untilTheTaskEnablesThem() {
        line(3, 0, (irq, dev) -> IrqReturn.HANDLED);
        line(5, 1, (irq, dev) -> IrqReturn.HANDLED);
        task.localIrqDisable();
        kernel.irqs().assertIrq(3);
        kernel.irqs().assertIrq(5);
        assertFalse(stepper.hasWork("cpu/0"), "CPU 0 has IRQs off: its interrupt stays latched");
        assertEquals(0, stepper.hardirq(0));
        assertEquals(0, kernel.irqs().count(3, 0));
        assertEquals(1, stepper.hardirq(1), "CPU 1 is not affected");
        assertEquals(1, kernel.irqs().count(5, 1));
        task.localIrqEnable();
        assertTrue(stepper.hasWork("cpu/0"));
        assertEquals(1, stepper.hardirq(0), "taken once IRQs are enabled again, not lost");
        assertEquals(1, kernel.irqs().count(3, 0));
        kernel.irqs().assertIrq(3);
        assertEquals(1, stepper.hardirq(0), "and the line keeps working");
        assertEquals(2, kernel.irqs().count(3, 0));
    }

    // ------------------------------------------------------------------------------------------
    // Preemption and might_sleep
    // ------------------------------------------------------------------------------------------

    @Test
    void preemptDisableEnable_countInBits0To7_andAnUnbalancedEnableWarns() {
        reports.expect("preempt_enable() without preempt_disable()");
        Linux.preempt_disable();
        task.preemptDisable();
        assertEquals(2, task.preemptCount());
        assertTrue(task.inAtomic());
        assertTrue(task.inTask());
        assertFalse(task.inInterrupt());
        assertFalse(task.preemptible());
        task.preemptEnable();
        Linux.preempt_enable();
        assertEquals(0, task.preemptCount());
        assertTrue(task.preemptible());
        assertTrue(reports.events().isEmpty());
        task.preemptEnable();
        assertEquals(0, task.preemptCount(), "an underflow changes nothing");
        assertEquals(List.of("DEBUG_LOCKS_WARN_ON(val > preempt_count()): preempt_enable() without preempt_disable()"
                + " (preempt_count 00000000)"), reports.events().stream().map(KernelEvent::message).toList());
        assertEquals(KernelEvent.Kind.WARNING, reports.events().get(0).kind());
    }

    @Test
    void preemptDisable_nestedMoreThan255Deep_isRefused() {
        for (int i = 0; i < 255; i++) {
            task.preemptDisable();
        }
        assertEquals(0xff, task.preemptCount());
        IllegalStateException e = assertThrows(IllegalStateException.class, task::preemptDisable);
        assertEquals("preempt_disable() nested more than 255 deep", e.getMessage());
        assertEquals(0xff, task.preemptCount(), "no carry into the softirq byte");
        for (int i = 0; i < 255; i++) {
            task.preemptEnable();
        }
        assertEquals(0, task.preemptCount());
    }

    private String tid() {
        return Long.toString(Thread.currentThread().threadId());
    }

    @Test
    void mightSleep_inTaskContext_isFine() {
        assertTrue(task.mightSleep("mutex_lock"));
        Linux.might_sleep();
        assertTrue(reports.events().isEmpty(), reports.toString());
    }

    @Test
    void mightSleep_fromASoftirqHandler_reportsTheKernelsBugLines() {
        boolean[] allowed = {true};
        kernel.softirqs().open(SoftirqVector.TIMER, () -> allowed[0] = kernel.context().mightSleep("msleep"));
        kernel.softirqs().raise(SoftirqVector.TIMER);
        stepper.run("ksoftirqd/0");
        assertFalse(allowed[0], "might_sleep() says no");
        List<KernelEvent> bugs = reports.ofKind(KernelEvent.Kind.BUG);
        assertEquals(1, bugs.size(), reports.toString());
        assertEquals("BUG: sleeping function called from invalid context at msleep\n"
                + "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: " + tid() + ", name: ksoftirqd/0\n"
                + "preempt_count: 100, expected: 0", bugs.get(0).message());
        assertEquals("ksoftirqd/0", bugs.get(0).thread());
        assertEquals("softirq", bugs.get(0).context());
        assertNotNull(bugs.get(0).cause(), "carries the caller's stack");
        assertEquals(1, kernel.reports().count(KernelEvent.Kind.BUG));
    }

    @Test
    void mightSleep_withIrqsDisabled_inBhDisabledTask_andInHardirq_reportEachState() {
        reports.expect("BUG: sleeping function called from invalid context at ");
        task.localIrqDisable();
        assertFalse(task.mightSleep("wait_for_completion"));
        task.localIrqEnable();
        stepper.advanceJiffies(kernel.config().hz());      // __might_resched reports at most once per HZ jiffies
        task.localBhDisable();
        assertFalse(Linux.in_task() && task.mightSleep("mutex_lock"));
        task.localBhEnable();
        stepper.advanceJiffies(kernel.config().hz());
        line(3, 0, (irq, dev) -> {
            kernel.context().mightSleep("kmalloc(GFP_KERNEL)");
            return IrqReturn.HANDLED;
        });
        fire(3);
        assertEquals(List.of(
                "BUG: sleeping function called from invalid context at wait_for_completion\n"
                        + "in_atomic(): 0, irqs_disabled(): 1, non_block: 0, pid: " + tid() + ", name: " + me + "\n"
                        + "preempt_count: 0, expected: 0",
                "BUG: sleeping function called from invalid context at mutex_lock\n"
                        + "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: " + tid() + ", name: " + me + "\n"
                        + "preempt_count: 200, expected: 0",
                "BUG: sleeping function called from invalid context at kmalloc(GFP_KERNEL)\n"
                        + "in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: " + tid() + ", name: cpu/0\n"
                        + "preempt_count: 10000, expected: 0"),
                reports.events().stream().map(KernelEvent::message).toList());
        assertTrue(reports.events().stream().allMatch(e -> e.kind() == KernelEvent.Kind.BUG));
    }

    @Test
    void mightSleep_withAGivenStack_reportsTheSameLines_carryingThatStack_underTheSameLimit() {
        Throwable stack = new Throwable("java.lang.Thread.sleepNanos0");
        task.preemptDisable();
        assertFalse(task.mightSleep("com.example.Nic.rx(Nic.java:42)", stack));
        assertFalse(task.mightSleep("msleep"), "the second in the same HZ is not reported");
        task.preemptEnable();
        assertTrue(task.mightSleep("com.example.Nic.rx(Nic.java:42)", stack), "legal again");
        List<KernelEvent> bugs = reports.ofKind(KernelEvent.Kind.BUG);
        assertEquals(1, bugs.size(), reports.toString());
        assertEquals("BUG: sleeping function called from invalid context at com.example.Nic.rx(Nic.java:42)\n"
                + "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: " + tid() + ", name: " + me + "\n"
                + "preempt_count: 1, expected: 0", bugs.get(0).message());
        assertSame(stack, bugs.get(0).cause());
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.BUG), "the suppressed one is counted");
    }

    // ------------------------------------------------------------------------------------------
    // BH count misuse
    // ------------------------------------------------------------------------------------------

    @Test
    void localBhEnableWithoutDisable_warnsOncePerKernel_andChangesNothing() {
        reports.expect("local_bh_enable() without local_bh_disable()");
        task.localBhEnable();
        Linux._local_bh_enable();
        assertEquals(0, task.preemptCount());
        assertNull(Internals.machine(kernel).cpu(0).bhLevelOwner());
        assertEquals(List.of(
                "DEBUG_LOCKS_WARN_ON(val > preempt_count()): local_bh_enable() without local_bh_disable()"
                        + " (preempt_count 00000000)"),
                reports.events().stream().map(KernelEvent::message).toList(),
                "DEBUG_LOCKS_WARN_ON: the first report turns lockdep off (debug_locks_off), so the second is silent");
        assertEquals(KernelEvent.Kind.WARNING, reports.events().get(0).kind());
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.WARNING), "both are counted");
    }

    @Test
    void localBhDisable_127DeepFitsTheSoftirqByte_the128thIsRefused() {
        for (int i = 0; i < 127; i++) {
            Linux.local_bh_disable();
        }
        assertEquals(0xfe00, task.preemptCount(), "127 × SOFTIRQ_DISABLE_OFFSET");
        assertFalse(task.inServingSoftirq(), "bit 8 is still clear");
        IllegalStateException e = assertThrows(IllegalStateException.class, task::localBhDisable);
        assertEquals("local_bh_disable() nested more than 127 deep: the softirq byte of preempt_count would overflow",
                e.getMessage());
        assertEquals(0xfe00, task.preemptCount(), "nothing carried into the hardirq bits");
        assertFalse(task.inHardirq());
        assertSame(task, Internals.machine(kernel).cpu(0).bhLevelOwner());
        for (int i = 0; i < 126; i++) {
            task.localBhEnable();
        }
        assertSame(task, Internals.machine(kernel).cpu(0).bhLevelOwner(), "still one level deep");
        task.localBhEnable();
        assertEquals(0, task.preemptCount());
        assertNull(Internals.machine(kernel).cpu(0).bhLevelOwner());
    }

    // ------------------------------------------------------------------------------------------
    // Binding threads to CPUs
    // ------------------------------------------------------------------------------------------

    @Test
    void bindCurrentThread_toACpuThatDoesNotExist_isEnxio() {
        KernelException e = assertThrows(KernelException.class, () -> kernel.bindCurrentThread(2));
        assertEquals(Errno.ENXIO, e.errno());
        assertEquals(6, e.errno().code());
        assertEquals("ENXIO: CPU 2 does not exist (this kernel has CPUs 0..1)", e.getMessage());
        assertEquals(Errno.ENXIO, assertThrows(KernelException.class, () -> kernel.bindCurrentThread(-1)).errno());
        assertEquals(0, kernel.context().cpu().id(), "a refused bind leaves the thread where it was");
    }

    @Test
    void bindCurrentThread_movesTheSameTaskContext_butNotInAtomicContext() {
        ExecutionContext moved = kernel.bindCurrentThread(1);
        assertSame(task, moved, "one task context per thread and kernel");
        assertEquals(1, Linux.smp_processor_id());
        assertEquals(ExecutionContext.Role.TASK, moved.role());
        assertEquals(me, moved.name());

        task.localBhDisable();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> kernel.bindCurrentThread(0));
        assertTrue(e.getMessage().startsWith(me + " cannot move from CPU 1 to CPU 0 in atomic context"), e.getMessage());
        assertEquals(1, task.cpu().id());
        task.localBhEnable();
        task.localIrqDisable();
        assertThrows(IllegalStateException.class, () -> kernel.bindCurrentThread(0));
        assertSame(task, kernel.bindCurrentThread(1), "binding to the CPU it is on is allowed even then");
        task.localIrqEnable();
        assertEquals(0, kernel.bindCurrentThread(0).cpu().id());
    }

    @Test
    void facade_withoutAKernel_saysHowToAttach() {
        kernel.detachCurrentThread();
        IllegalStateException e = assertThrows(IllegalStateException.class, Linux::in_interrupt);
        assertTrue(e.getMessage().contains("is not attached to a kernel: call kernel.bindCurrentThread(cpu) first"),
                e.getMessage());
        task = kernel.bindCurrentThread(0);
        assertFalse(Linux.in_interrupt());
    }
}
