package dev.bottomhalf.stress;

import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Stepper;

/**
 * The IRQ disable depth and the replay of interrupts that arrive while a line is disabled. One actor
 * disables and re-enables the line (depth 0 → 1 → 0); the other raises the interrupt and delivers it on
 * CPU 0 at once. Whatever the interleaving, the depth ends at 0 with the line enabled, and the
 * interrupt is handled exactly once — at delivery, or replayed by the enable and delivered by the
 * arbiter. (Checked by removing the re-check after latching {@code replayPending} in
 * {@code IrqController.deliverLine}: outcome "0, 0, 0" — a lost interrupt — then appears.)
 */
@JCStressTest
@Outcome(id = "1, 0, 0", expect = Expect.ACCEPTABLE, desc = "handled once; depth 0; line enabled")
@Outcome(expect = Expect.FORBIDDEN, desc = "lost or duplicated interrupt, or inconsistent depth")
@State
public class IrqEnableVersusAssertStress {
    private static final int IRQ = 3;
    private final Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(4).stepped()
            .reporter(Reporter.silent()).build());
    private final Stepper stepper = kernel.stepper();
    private final AtomicInteger handled = new AtomicInteger();

    public IrqEnableVersusAssertStress() {
        kernel.irqs().request(IRQ, (irq, dev) -> {
            handled.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(), "stress", this);
    }

    @Actor
    public void disableThenEnable() {
        kernel.irqs().disableNosync(IRQ);
        kernel.irqs().enable(IRQ);
    }

    @Actor
    public void deviceRaisesAndCpuDelivers() {
        kernel.irqs().assertIrq(IRQ);
        stepper.hardirq(0);
    }

    @Arbiter
    public void arbiter(III_Result r) {
        stepper.hardirq(0); // a replay latched by enable_irq
        r.r1 = handled.get();
        r.r2 = kernel.irqs().depth(IRQ);
        r.r3 = kernel.irqs().isDisabled(IRQ) ? 1 : 0;
    }
}
