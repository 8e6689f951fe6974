package dev.bottomhalf.irq;

import static dev.bottomhalf.linux.Linux.IRQF_TIMER;
import static dev.bottomhalf.linux.Linux.IRQ_HANDLED;
import static dev.bottomhalf.linux.Linux.IRQ_TYPE_LEVEL_HIGH;
import static dev.bottomhalf.linux.Linux.IRQ_TYPE_NONE;
import static dev.bottomhalf.linux.Linux.IRQF_SHARED;
import static dev.bottomhalf.linux.Linux.disable_percpu_irq;
import static dev.bottomhalf.linux.Linux.enable_percpu_irq;
import static dev.bottomhalf.linux.Linux.free_irq;
import static dev.bottomhalf.linux.Linux.free_percpu_irq;
import static dev.bottomhalf.linux.Linux.irq_get_trigger_type;
import static dev.bottomhalf.linux.Linux.irq_percpu_is_enabled;
import static dev.bottomhalf.linux.Linux.irq_set_irq_type;
import static dev.bottomhalf.linux.Linux.irq_set_percpu_devid;
import static dev.bottomhalf.linux.Linux.on_each_cpu;
import static dev.bottomhalf.linux.Linux.request_irq;
import static dev.bottomhalf.linux.Linux.request_percpu_irq;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/** Per-CPU lines ({@code request_percpu_irq} & co) and {@code irq_set_irq_type}. Stepped mode. */
class PercpuIrqTest {
    private static final int PPI = 29;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;
    private Stepper stepper;
    private KernelReports reports;
    private IrqController irqs;
    private final String[] stats = {"stats-of-cpu0", "stats-of-cpu1"};
    private final IntFunction<String> devId = cpu -> stats[cpu];
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        reports = kernels.reports();
        irqs = kernel.irqs();
        kernel.bindCurrentThread(0);
        assertEquals(0, irq_set_percpu_devid(PPI));
    }

    private IrqHandler logging() {
        return (irq, dev) -> {
            log.add(dev + "@" + ExecutionContext.current().name());
            return IRQ_HANDLED;
        };
    }

    @Test
    void theHandlerGetsTheDevIdOfTheCpuThatTookTheInterrupt_onlyWhereEnabled() {
        assertEquals(0, request_percpu_irq(PPI, logging(), "arch_timer", devId));
        irqs.assertIrqOn(PPI, 0);
        stepper.hardirq(0);
        assertEquals(List.of(), log, "enabled on no CPU after the request: held");
        enable_percpu_irq(PPI, IRQ_TYPE_NONE);
        assertTrue(irq_percpu_is_enabled(PPI));
        stepper.hardirq(0);
        assertEquals(List.of("stats-of-cpu0@cpu/0"), log, "the held interrupt is taken once enabled");
        on_each_cpu(x -> enable_percpu_irq(PPI, IRQ_TYPE_LEVEL_HIGH), null, true);
        irqs.assertIrqOn(PPI, 1);
        stepper.hardirq(1);
        assertEquals(List.of("stats-of-cpu0@cpu/0", "stats-of-cpu1@cpu/1"), log);
        assertEquals(IRQ_TYPE_LEVEL_HIGH, irq_get_trigger_type(PPI));
        assertEquals(1, irqs.count(PPI, 0));
        assertEquals(1, irqs.count(PPI, 1));
    }

    @Test
    void disable_holdsInterruptsOnThatCpuOnly() {
        request_percpu_irq(PPI, logging(), "t", devId);
        on_each_cpu(x -> enable_percpu_irq(PPI, 0), null, true);
        disable_percpu_irq(PPI);
        assertFalse(irq_percpu_is_enabled(PPI));
        irqs.assertIrqOn(PPI, 0);
        irqs.assertIrqOn(PPI, 1);
        stepper.hardirq(0);
        stepper.hardirq(1);
        assertEquals(List.of("stats-of-cpu1@cpu/1"), log);
    }

    @Test
    void disableIrqAndEnableIrq_ignoreAPerCpuLine() {
        request_percpu_irq(PPI, logging(), "t", devId);
        enable_percpu_irq(PPI, 0);
        irqs.disableNosync(PPI);
        irqs.assertIrqOn(PPI, 0);
        stepper.hardirq(0);
        assertEquals(List.of("stats-of-cpu0@cpu/0"), log);
        irqs.enable(PPI);
        irqs.enable(PPI);
        assertTrue(reports.matching("Unbalanced enable").isEmpty(), reports.toString());
        disable_percpu_irq(PPI);
    }

    @Test
    void requestRefusals() {
        assertEquals(-22, request_percpu_irq(PPI, logging(), "t", null), "no dev_id");
        assertEquals(-22, request_percpu_irq(PPI, logging(), IRQF_SHARED, "t", devId), "flags other than IRQF_TIMER");
        assertEquals(-22, request_percpu_irq(30, logging(), "t", devId), "not a per-CPU line");
        assertEquals(0, request_percpu_irq(PPI, logging(), IRQF_TIMER, "t", devId));
        assertEquals(-16, request_percpu_irq(PPI, logging(), "u", devId), "one handler per line");
        reports.expect("genirq: Flags mismatch irq 29. 00004400 (u) vs. 00014600 (t)");
        assertEquals(-22, request_irq(PPI, (i, d) -> IRQ_HANDLED, 0, "x", "X"), "request_irq refuses a per-CPU line");
        reports.expect("WARNING: request_irq(29, x) of a per-CPU line");
        assertEquals(-22, irq_set_percpu_devid(PPI), "already per-CPU");
        assertEquals(-22, irq_set_irq_type(PPI, IRQ_TYPE_LEVEL_HIGH), "its type comes from enable_percpu_irq");
    }

    @Test
    void free_refusesWhileEnabledOnACpu_andWithAnotherDevId() {
        request_percpu_irq(PPI, logging(), "t", devId);
        enable_percpu_irq(PPI, 0);
        free_percpu_irq(PPI, devId);
        reports.expect("percpu IRQ 29 still enabled on CPU0!");
        assertEquals(List.of("t"), irqs.actionNames(PPI));
        disable_percpu_irq(PPI);
        free_percpu_irq(PPI, (IntFunction<String>) cpu -> "other");
        reports.expect("Trying to free already-free IRQ 29");
        assertEquals(null, free_irq(PPI, devId), "free_irq of a per-CPU line: WARN_ON, NULL");
        reports.expect("WARNING: free_irq(29) of a per-CPU line: use free_percpu_irq");
        assertEquals(List.of("t"), irqs.actionNames(PPI));
        free_percpu_irq(PPI, devId);
        assertTrue(irqs.actionNames(PPI).isEmpty());
    }

    @Test
    void anInterruptWithoutHandler_isReportedOnceAndDisablesTheLineOnThatCpu() {
        request_percpu_irq(PPI, logging(), "t", devId);
        enable_percpu_irq(PPI, 0);
        disable_percpu_irq(PPI);
        free_percpu_irq(PPI, devId);
        enable_percpu_irq(PPI, 0);
        irqs.assertIrqOn(PPI, 0);
        stepper.hardirq(0);
        reports.expect("Spurious and unmasked percpu IRQ29 on CPU0");
        assertFalse(irq_percpu_is_enabled(PPI));
    }

    @Test
    void irqSetIrqType_setsTheTypeTheFirstRequestKeeps_andSharersAreComparedWith() {
        assertEquals(0, irq_set_irq_type(9, IRQ_TYPE_LEVEL_HIGH));
        assertEquals(0, request_irq(9, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "a", "A"));
        assertTrue(irqs.isLevelTriggered(9));
        assertEquals(-16, request_irq(9, (i, d) -> IRQ_HANDLED, IRQF_SHARED, "b", "B"));
        reports.expect("genirq: Flags mismatch irq 9. 00200080 (b) vs. 00200080 (a)");
        assertEquals(-22, irq_set_irq_type(64, 1), "no such line");
    }
}
