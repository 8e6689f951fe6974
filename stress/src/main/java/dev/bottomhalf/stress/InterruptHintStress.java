package dev.bottomhalf.stress;

import dev.bottomhalf.internal.Internals;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * The per-CPU interrupt hint of {@code Cpu.serviceInterruptsBetweenHandlers} under a race: a device asserts
 * a line for CPU 0 (publishes the pending bit, then signals the hint) while {@code cpu/0} runs the
 * between-handlers check (swaps the hint to "nothing until signalled", then polls the sources). Either the
 * check delivers the interrupt, or the hint is left signalled and the next check does; the interrupt is
 * never left pending behind a hint that says nothing is. Outcome: (delivered by the racing check, delivered
 * once the arbiter's next check ran).
 *
 * <p>Kernel: a stepped 2-CPU kernel per sample (nothing runs unless someone steps it); the consumer actor
 * plays {@code cpu/0} with {@code Machine.runAs}. A new CPU's hint starts "signalled" with nothing pending,
 * so the racing check always polls: the device's signal lands before its swap, between the swap and the
 * poll, during the poll or after it.
 *
 * <p>How it was checked ({@code -m quick}): against a copy of the core whose check cleared the hint after
 * polling instead of before (a signal that lands during the poll is then overwritten), FORBIDDEN "0, 0" in
 * every configuration, 14–21 % of the samples (the default build's sanity mode takes too few samples to show
 * it); against the core as it is, none in about 1.4 million samples.
 */
@JCStressTest
@Outcome(id = {"1, 1", "0, 1"}, expect = Expect.ACCEPTABLE, desc = "delivered by the racing check or by the next one")
@Outcome(id = "0, 0", expect = Expect.FORBIDDEN, desc = "lost: pending, but the hint said nothing was")
@Outcome(expect = Expect.FORBIDDEN, desc = "delivered more than once")
@State
public class InterruptHintStress {
    static final int LINE = 6;

    final Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(8).stepped()
            .reporter(Reporter.silent()).build());
    final Cpu cpu0 = Internals.machine(kernel).cpu(0);
    final ExecutionContext cpu0Context = cpu0.cpuContext();
    final AtomicInteger delivered = new AtomicInteger();
    final WorkqueueStress.Start start = new WorkqueueStress.Start();

    public InterruptHintStress() {
        kernel.irqs().request(LINE, (irq, dev) -> {
            delivered.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(), "stress", "stress");
        kernel.irqs().setAffinity(LINE, 0);
    }

    private void checkBetweenHandlers() {
        Internals.machine(kernel).runAs(cpu0Context, () -> {
            cpu0.serviceInterruptsBetweenHandlers(cpu0Context);
            return 0;
        });
    }

    @Actor
    public void cpu0ChecksBetweenHandlers(II_Result r) {
        start.go(0);
        checkBetweenHandlers();
        r.r1 = delivered.get();
    }

    @Actor
    public void deviceAssertsTheLine() {
        start.go(1);
        kernel.irqs().assertIrq(LINE);
    }

    @Arbiter
    public void arbiter(II_Result r) {
        checkBetweenHandlers();
        r.r2 = delivered.get();
    }
}
