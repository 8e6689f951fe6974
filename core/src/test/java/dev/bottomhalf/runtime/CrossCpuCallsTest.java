package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.Internals;
import static dev.bottomhalf.linux.Linux.local_irq_disable;
import static dev.bottomhalf.linux.Linux.local_irq_enable;
import static dev.bottomhalf.linux.Linux.on_each_cpu;
import static dev.bottomhalf.linux.Linux.on_each_cpu_mask;
import static dev.bottomhalf.linux.Linux.smp_call_function;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/** {@code smp_call_function}, {@code on_each_cpu}, {@code on_each_cpu_mask} in stepped mode. */
class CrossCpuCallsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(3);
    private Kernel kernel;
    private Stepper stepper;
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        reports = kernels.reports();
        kernel.bindCurrentThread(1);
    }

    private void record(String tag) {
        ExecutionContext c = ExecutionContext.current();
        log.add(tag + "@" + c.cpu().id() + (c.inHardirq() ? " hardirq" : " task") + (c.irqsDisabled() ? " irqs-off" : ""));
    }

    @Test
    void onEachCpu_runsLocallyInline_andOnTheOthersInHardirq_waitDrivesThem() {
        on_each_cpu(this::record, "f", true);
        assertEquals(List.of("f@1 task irqs-off", "f@0 hardirq irqs-off", "f@2 hardirq irqs-off"), log);
        assertEquals(1, Internals.machine(kernel).cpu(0).functionCallInterrupts());
        assertEquals(0, Internals.machine(kernel).cpu(1).functionCallInterrupts(), "the local run is no interrupt");
        assertEquals(1, Internals.machine(kernel).cpu(2).functionCallInterrupts());
    }

    @Test
    void smpCallFunction_runsOnEveryOtherCpu_withoutWait_whenTheyTakeInterrupts() {
        smp_call_function(this::record, "g", false);
        assertEquals(List.of(), log);
        stepper.hardirq(2);
        stepper.hardirq(1);
        stepper.hardirq(0);
        assertEquals(List.of("g@2 hardirq irqs-off", "g@0 hardirq irqs-off"), log);
    }

    @Test
    void onEachCpuMask_runsOnTheMaskOnly_includingTheCallerWhenInIt() {
        BitSet mask = new BitSet();
        mask.set(0);
        on_each_cpu_mask(mask, this::record, "h", true);
        assertEquals(List.of("h@0 hardirq irqs-off"), log);
        log.clear();
        mask.set(1);
        on_each_cpu_mask(mask, this::record, "h", true);
        assertEquals(List.of("h@1 task irqs-off", "h@0 hardirq irqs-off"), log);
        BitSet bad = new BitSet();
        bad.set(3);
        assertThrows(IllegalArgumentException.class, () -> on_each_cpu_mask(bad, this::record, "x", true));
    }

    @Test
    void calledWithIrqsDisabled_isReportedOnce() {
        local_irq_disable();
        smp_call_function(this::record, "i", false);
        on_each_cpu(this::record, "i", false);
        local_irq_enable();
        assertEquals(1, reports.matching("smp_call_function() called with IRQs disabled").size());
        assertEquals(0, reports.matching("on_each_cpu() called with IRQs disabled").size(), "one WARN_ON_ONCE site");
        stepper.runUntilIdle();
    }
}
