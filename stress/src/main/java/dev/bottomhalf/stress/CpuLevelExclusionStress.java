package dev.bottomhalf.stress;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * The per-CPU ownership levels exclude each other's holders: two tasks bound to the same CPU increment
 * a plain counter inside {@code local_bh_disable()} sections and inside {@code local_irq_disable()}
 * sections. No increment is lost, and inside each section the level's owner is the task's own context.
 * (Checked by making {@code CpuLevel.tryAcquire} always succeed: lost increments then show up.)
 *
 * <p>One threaded kernel serves every sample; a test class may share it, the library keeps no static state.
 */
public class CpuLevelExclusionStress {
    static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(1)
            .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
            .reporter(Reporter.silent()).build());

    @JCStressTest
    @Outcome(id = "2, 1, 1", expect = Expect.ACCEPTABLE, desc = "both BH sections exclusive, each saw itself as owner")
    @Outcome(expect = Expect.FORBIDDEN, desc = "BH sections overlapped")
    @State
    public static class BhLevel {
        int counter;
        int ownedByMe1;
        int ownedByMe2;

        private int section() {
            ExecutionContext ctx = KERNEL.bindCurrentThread(0);
            ctx.localBhDisable();
            try {
                counter++;
                return RuntimeAccess.get().cpu(ctx).bhLevelOwner() == ctx ? 1 : 0;
            } finally {
                ctx.localBhEnable();
            }
        }

        @Actor
        public void task1() {
            ownedByMe1 = section();
        }

        @Actor
        public void task2() {
            ownedByMe2 = section();
        }

        @Arbiter
        public void arbiter(III_Result r) {
            r.r1 = counter;
            r.r2 = ownedByMe1;
            r.r3 = ownedByMe2;
        }
    }

    @JCStressTest
    @Outcome(id = "2, 1, 1", expect = Expect.ACCEPTABLE, desc = "both IRQ-off sections exclusive, each saw itself as owner")
    @Outcome(expect = Expect.FORBIDDEN, desc = "IRQ-off sections overlapped")
    @State
    public static class IrqLevel {
        int counter;
        int ownedByMe1;
        int ownedByMe2;

        private int section() {
            ExecutionContext ctx = KERNEL.bindCurrentThread(0);
            long flags = ctx.localIrqSave();
            try {
                counter++;
                return RuntimeAccess.get().cpu(ctx).irqLevelOwner() == ctx ? 1 : 0;
            } finally {
                ctx.localIrqRestore(flags);
            }
        }

        @Actor
        public void task1() {
            ownedByMe1 = section();
        }

        @Actor
        public void task2() {
            ownedByMe2 = section();
        }

        @Arbiter
        public void arbiter(III_Result r) {
            r.r1 = counter;
            r.r2 = ownedByMe1;
            r.r3 = ownedByMe2;
        }
    }

    /**
     * As {@link IrqLevel} with the non-nesting {@code local_irq_disable()}/{@code local_irq_enable()} pair
     * instead of save/restore.
     */
    @JCStressTest
    @Outcome(id = "2, 1, 1", expect = Expect.ACCEPTABLE, desc = "both IRQ-off sections exclusive, each saw itself as owner")
    @Outcome(expect = Expect.FORBIDDEN, desc = "IRQ-off sections overlapped")
    @State
    public static class IrqLevelPlain {
        int counter;
        int ownedByMe1;
        int ownedByMe2;

        private int section() {
            ExecutionContext ctx = KERNEL.bindCurrentThread(0);
            ctx.localIrqDisable();
            try {
                counter++;
                return RuntimeAccess.get().cpu(ctx).irqLevelOwner() == ctx ? 1 : 0;
            } finally {
                ctx.localIrqEnable();
            }
        }

        @Actor
        public void task1() {
            ownedByMe1 = section();
        }

        @Actor
        public void task2() {
            ownedByMe2 = section();
        }

        @Arbiter
        public void arbiter(III_Result r) {
            r.r1 = counter;
            r.r2 = ownedByMe1;
            r.r3 = ownedByMe2;
        }
    }
}
