package dev.bottomhalf.stress;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * A {@code spin_lock_irqsave} lock excludes every other holder: a task and a hard-IRQ-context function (a
 * cross-CPU call, which runs on {@code cpu/N} between {@code irq_enter} and {@code irq_exit}) increment a plain
 * counter under it with a read, a spin and a write. No increment is lost, the function ran in hardirq context,
 * and each holder saw itself as the lock's owner. Two variants: the function on the task's own CPU (the task's
 * IRQ-off section also holds it off) and on the other CPU (only the lock word excludes); and two tasks on two
 * CPUs with {@code spin_lock_bh}. (Checked by making the lock's CAS unconditional: lost increments show up.)
 *
 * <p>One threaded kernel serves every sample; lockdep is off, as in production.
 */
public class SpinlockExclusionStress {
    static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1)
            .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
            .reporter(Reporter.silent()).build());

    /** A read, a pause and a write: an overlapping holder loses one of the two increments. */
    static int bump(int counter) {
        int c = counter;
        Thread.onSpinWait();
        return c + 1;
    }

    abstract static class TaskVersusHardirq {
        final Spinlock lock = new Spinlock("&stress->lock");
        int counter;
        int taskOwned;
        volatile int handlerHardirqAndOwned;

        abstract int callCpu();

        abstract int taskCpu();

        void task() {
            ExecutionContext ctx = KERNEL.bindCurrentThread(taskCpu());
            long flags = lock.lockIrqsave();
            try {
                counter = bump(counter);
                taskOwned = lock.heldByCurrentContext() ? 1 : 0;
            } finally {
                lock.unlockIrqrestore(flags);
            }
            assert !ctx.irqsDisabled();
        }

        void interrupt() {
            KERNEL.bindCurrentThread(1 - callCpu());
            KERNEL.smpCallFunctionSingle(callCpu(), () -> {
                boolean hardirq = KERNEL.context().inHardirq();
                long flags = lock.lockIrqsave();
                try {
                    counter = bump(counter);
                    handlerHardirqAndOwned = hardirq && lock.heldByCurrentContext() ? 1 : 0;
                } finally {
                    lock.unlockIrqrestore(flags);
                }
            }, true);
        }

        void result(III_Result r) {
            r.r1 = counter;
            r.r2 = taskOwned;
            r.r3 = handlerHardirqAndOwned;
        }
    }

    @JCStressTest
    @Outcome(id = "2, 1, 1", expect = Expect.ACCEPTABLE, desc = "task and hardirq function never overlapped")
    @Outcome(expect = Expect.FORBIDDEN, desc = "an increment was lost, or a holder did not own the lock")
    @State
    public static class SameCpu extends TaskVersusHardirq {
        @Override
        int callCpu() {
            return 0;
        }

        @Override
        int taskCpu() {
            return 0;
        }

        @Actor
        public void taskActor() {
            task();
        }

        @Actor
        public void interruptActor() {
            interrupt();
        }

        @Arbiter
        public void arbiter(III_Result r) {
            result(r);
        }
    }

    @JCStressTest
    @Outcome(id = "2, 1, 1", expect = Expect.ACCEPTABLE, desc = "task and the other CPU's hardirq function never overlapped")
    @Outcome(expect = Expect.FORBIDDEN, desc = "an increment was lost, or a holder did not own the lock")
    @State
    public static class OtherCpu extends TaskVersusHardirq {
        @Override
        int callCpu() {
            return 1;
        }

        @Override
        int taskCpu() {
            return 0;
        }

        @Actor
        public void taskActor() {
            task();
        }

        @Actor
        public void interruptActor() {
            interrupt();
        }

        @Arbiter
        public void arbiter(III_Result r) {
            result(r);
        }
    }

    @JCStressTest
    @Outcome(id = "2, 1, 1", expect = Expect.ACCEPTABLE, desc = "both spin_lock_bh sections exclusive, each BH-disabled")
    @Outcome(expect = Expect.FORBIDDEN, desc = "sections overlapped, or one was not in BH-disabled context")
    @State
    public static class BhOnTwoCpus {
        final Spinlock lock = new Spinlock("&stress->bh_lock");
        int counter;
        int first;
        int second;

        private int section(int cpu) {
            ExecutionContext ctx = KERNEL.bindCurrentThread(cpu);
            lock.lockBh();
            try {
                counter = bump(counter);
                return ctx.inSoftirq() && !ctx.inServingSoftirq() && lock.heldByCurrentContext() ? 1 : 0;
            } finally {
                lock.unlockBh();
            }
        }

        @Actor
        public void cpu0() {
            first = section(0);
        }

        @Actor
        public void cpu1() {
            second = section(1);
        }

        @Arbiter
        public void arbiter(III_Result r) {
            r.r1 = counter;
            r.r2 = first;
            r.r3 = second;
        }
    }
}
