package dev.bottomhalf.stress;

import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * What a hard handler must not overlap, on threaded kernels where {@code cpu/N} delivers for real. Both
 * races are between a CPU that is about to run a line's handler (it found the line enabled and unmasked
 * and is taking its in-progress flag) and another thread that disables or masks the line. Found by
 * {@code SoakTest}: before the fix, {@code IrqController.deliverLine} read {@code disabled}/{@code masked}
 * and only then took {@code inProgress}, so a {@code disable_irq()} (which sets {@code disabled}, then waits
 * while {@code inProgress}) could slip in between and return while the handler was about to start, and a
 * ONESHOT line masked by another CPU's run in between could run its hard handler while its thread
 * function ran. Each result is 1 for a clean sample, 0 when the handler saw the violation (it is counted
 * in the sample that notices it).
 */
public class IrqDeliveryExclusionStress {

    /**
     * One task asserts the line; another calls {@code disable_irq()} (which waits for a running handler),
     * keeps the line disabled for a moment and enables it. No handler may start between
     * {@code disable_irq()} returning and {@code enable_irq()}.
     */
    @JCStressTest
    @Outcome(id = "1", expect = Expect.ACCEPTABLE, desc = "no handler inside the disabled window")
    @Outcome(id = "0", expect = Expect.FORBIDDEN, desc = "a handler started after disable_irq() returned")
    @State
    public static class DisableVersusDelivery {
        static final int IRQ = 1;
        static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(2)
                .idleStrategy(IdleStrategy.busySpin()).daemonIdleStrategy(IdleStrategy.parking())
                .reporter(Reporter.silent()).build());
        static final AtomicBoolean DISABLED_WINDOW = new AtomicBoolean();
        static final AtomicInteger VIOLATIONS = new AtomicInteger();

        static {
            KERNEL.irqs().request(IRQ, (irq, dev) -> {
                if (DISABLED_WINDOW.get()) {
                    VIOLATIONS.incrementAndGet();
                }
                return IrqReturn.HANDLED;
            }, Set.of(), "stress", "dev");
        }

        @Actor
        public void device() {
            KERNEL.irqs().assertIrq(IRQ);
        }

        @Actor
        public void driver(I_Result r) {
            KERNEL.bindCurrentThread(0);
            KERNEL.irqs().disable(IRQ);
            DISABLED_WINDOW.set(true);
            for (int i = 0; i < 20; i++) {
                Thread.onSpinWait();
            }
            DISABLED_WINDOW.set(false);
            KERNEL.irqs().enable(IRQ);
            r.r1 = VIOLATIONS.getAndSet(0) == 0 ? 1 : 0;
        }
    }

    /**
     * A ONESHOT threaded line is asserted from two tasks, each routing it to its own CPU first, so both
     * CPUs deliver it. The line stays masked from the hard handler's run until the thread function has
     * finished, so the hard handler never runs while the thread function does.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "hard handler and thread function never overlapped")
    @Outcome(expect = Expect.FORBIDDEN, desc = "the hard handler ran while the thread function ran")
    @State
    public static class OneshotMaskVersusDelivery {
        static final int IRQ = 1;
        static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(2)
                .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
                .reporter(Reporter.silent()).build());
        static final AtomicBoolean THREAD_RUNNING = new AtomicBoolean();
        static final AtomicInteger VIOLATIONS = new AtomicInteger();

        static {
            KERNEL.irqs().requestThreaded(IRQ, (irq, dev) -> {
                if (THREAD_RUNNING.get()) {
                    VIOLATIONS.incrementAndGet();
                }
                return IrqReturn.WAKE_THREAD;
            }, (irq, dev) -> {
                THREAD_RUNNING.set(true);
                for (int i = 0; i < 200; i++) {
                    Thread.onSpinWait();
                }
                THREAD_RUNNING.set(false);
                return IrqReturn.HANDLED;
            }, EnumSet.of(IrqFlag.ONESHOT), "stress", "dev");
        }

        private static int assertOn(int cpu) {
            KERNEL.irqs().setAffinity(IRQ, cpu);
            KERNEL.irqs().assertIrq(IRQ);
            return VIOLATIONS.getAndSet(0) == 0 ? 1 : 0;
        }

        @Actor
        public void device0(II_Result r) {
            r.r1 = assertOn(0);
        }

        @Actor
        public void device1(II_Result r) {
            r.r2 = assertOn(1);
        }
    }
}
