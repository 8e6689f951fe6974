package dev.bottomhalf.irq;

import static dev.bottomhalf.linux.Linux.IRQ_HANDLED;
import static dev.bottomhalf.linux.Linux.probe_irq_off;
import static dev.bottomhalf.linux.Linux.probe_irq_on;
import static dev.bottomhalf.linux.Linux.request_irq;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;

/** {@code probe_irq_on} / {@code probe_irq_off} ({@code kernel/irq/autoprobe.c}), on the manual clock. */
class ProbeIrqTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).with(b -> b.irqLines(40));
    private Kernel kernel;
    private Stepper stepper;
    private IrqController irqs;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        irqs = kernel.irqs();
        kernel.bindCurrentThread(0);
    }

    private void fire(int irq) {
        irqs.assertIrq(irq);
        stepper.hardirq(irqs.affinity(irq));
    }

    @Test
    void probeIrqOn_masksTheFreeLinesBelow32_sleeps120ms_andOffReturnsTheOneThatFired() {
        assertEquals(0, request_irq(3, (i, d) -> IRQ_HANDLED, 0, "taken", "T"));
        long before = kernel.uptimeNs();
        long mask = probe_irq_on();
        assertEquals(120_000_000L, kernel.uptimeNs() - before, "msleep(20) + msleep(100)");
        assertEquals(0xFFFF_FFFFL & ~(1L << 3), mask, "lines with a handler are not probed; only 0-31 in the mask");
        fire(5);
        assertEquals(5, probe_irq_off(mask));
        fire(5);
        assertEquals(0, probe_irq_off(0), "probing ended: nothing is autodetecting");
    }

    @Test
    void probeIrqOff_withNoInterrupt_is0_withSeveral_isTheLowestNegated() {
        long mask = probe_irq_on();
        assertEquals(0, probe_irq_off(mask));
        mask = probe_irq_on();
        fire(35);
        fire(9);
        fire(12);
        assertEquals(-9, probe_irq_off(mask));
    }

    @Test
    void aLineThatFiresWhileProbeIrqOnWaits_isSpurious_leftOutOfTheMaskAndOfTheResult() {
        TimerList noisy = TimerList.setup("noisy", t -> irqs.assertIrq(7), 0);
        kernel.timers().mod(noisy, kernel.jiffies() + 50);   // fires 50 ms into the 120 ms of probe_irq_on
        long mask = probe_irq_on();
        assertEquals(0, mask & (1L << 7), Long.toHexString(mask));
        assertEquals(1L << 6, mask & (1L << 6));
        fire(7);
        assertEquals(0, probe_irq_off(mask), "7 is no longer autodetecting");
    }
}
