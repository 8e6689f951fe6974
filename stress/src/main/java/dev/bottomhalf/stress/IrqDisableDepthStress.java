package dev.bottomhalf.stress;

import java.util.Set;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIII_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * The IRQ disable depth under concurrent {@code disable_irq_nosync()}/{@code enable_irq()} pairs: two
 * threads each disable a requested line and enable it again. While a thread's own disable is outstanding
 * it must see the line disabled with depth at least 1, whatever the other thread does; afterwards the
 * depth is back at 0 with the line enabled (depth 0 ⇔ enabled) and no enable was reported as unbalanced
 * (an underflow). Outcome: (actor 1 saw its disable hold, actor 2 saw its disable hold, final depth, final
 * disabled flag, "Unbalanced enable" reports).
 *
 * <p>The race of an interrupt asserted concurrently with {@code enable_irq()} (delivered or latched for
 * replay, never lost) is {@link IrqEnableVersusAssertStress}.
 *
 * <p>How it was checked (core classes rebuilt with the fault into a directory ahead of core on the
 * jcstress class path, then {@code -m quick -sc false}): with the {@code synchronized (desc)} block of
 * {@code IrqController.disableNosync} replaced by a plain read-modify-write of the depth, it reports
 * forbidden outcomes with a final depth of 1, with an "Unbalanced enable" report, and with a disabler that
 * saw the line enabled; with {@code enableLocked} clearing {@code disabled} on every decrement instead of
 * only at 0, it reports "0, 1, 0, 0, 0" and "1, 0, 0, 0, 0" (a line seen enabled while its disabler still
 * held it).
 *
 * <p>Every sample gets its own stepped kernel (no threads), so samples are independent.
 */
@JCStressTest
@Outcome(id = "1, 1, 0, 0, 0", expect = Expect.ACCEPTABLE,
        desc = "each disable held while outstanding; depth back to 0, line enabled, no underflow")
@Outcome(expect = Expect.FORBIDDEN, desc = "lost depth update, underflow, or disabled flag inconsistent with depth")
@State
public class IrqDisableDepthStress {
    private static final int IRQ = 3;
    private final Reporter.Recording reports = Reporter.recording();
    private final Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(4).stepped()
            .reporter(reports).build());

    public IrqDisableDepthStress() {
        kernel.irqs().request(IRQ, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "stress", "dev");
        kernel.detachCurrentThread();
    }

    private int disableCheckEnable() {
        kernel.irqs().disableNosync(IRQ);
        int held = kernel.irqs().isDisabled(IRQ) && kernel.irqs().depth(IRQ) >= 1 ? 1 : 0;
        kernel.irqs().enable(IRQ);
        return held;
    }

    @Actor
    public void first(IIIII_Result r) {
        r.r1 = disableCheckEnable();
    }

    @Actor
    public void second(IIIII_Result r) {
        r.r2 = disableCheckEnable();
    }

    @Arbiter
    public void arbiter(IIIII_Result r) {
        r.r3 = kernel.irqs().depth(IRQ);
        r.r4 = kernel.irqs().isDisabled(IRQ) ? 1 : 0;
        r.r5 = reports.matching("Unbalanced enable").size();
    }
}
