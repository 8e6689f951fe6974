package dev.bottomhalf.stress;

import dev.bottomhalf.internal.Internals;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;

/**
 * The softirq pending mask under concurrent raises of different vectors on one CPU racing with the BH
 * owner taking the mask ({@code Cpu.markSoftirqPending} / {@code Cpu.takeSoftirqPending}). No bit is
 * lost: every raised bit ends up either in what the owner took or still pending, never both. Bits: HI = 1,
 * TIMER = 2, NET_RX = 8.
 *
 * <p>jcstress runs a test only when the host has a CPU per actor. {@link ThreeActors} (two raisers and
 * the owner as three actors) therefore runs only on hosts with three or more CPUs; on a two-CPU host it is
 * skipped and {@link RaiserTakes} (the owner is itself one of the raisers, as a softirq handler raising on
 * its own CPU before the loop's next pass) plus {@link SoftirqPendingMaskStress} (one raiser against the
 * owner) cover the same races two at a time, and {@link Threaded} runs the three-way race with
 * {@code ksoftirqd/0} as the owner.
 *
 * <p>How it was checked (core classes rebuilt with the fault into a directory ahead of core on the
 * jcstress class path, then {@code -m quick -sc false}): with {@code Cpu.markSoftirqPending} turned into a
 * plain read, OR and volatile store of the mask, {@link RaiserTakes} reports "9, 0" (TIMER lost) and
 * "9, 11" (bits both taken and left pending) and {@link Threaded} reports "0, 1"/"1, 0" (a raiser waited in
 * vain); with {@code takeSoftirqPending} split into a read and a store of 0, {@link RaiserTakes},
 * {@link Threaded} and {@link SoftirqPendingMaskStress} all report lost bits.
 */
public class SoftirqTwoRaisersStress {

    private static Cpu steppedCpu0() {
        return Internals.machine(Kernel.boot(KernelConfig.builder().cpus(1).irqLines(1).stepped()
                .reporter(Reporter.silent()).build())).cpu(0);
    }

    /**
     * Two raisers (TIMER, NET_RX) and the BH owner as three actors; HI is pending from the start so the
     * owner always takes something. Outcome: (taken, still pending).
     */
    @JCStressTest
    @Outcome(id = {"1, 10", "3, 8", "9, 2", "11, 0"}, expect = Expect.ACCEPTABLE,
            desc = "every bit taken exactly once or still pending")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a raise was lost, or a bit was both taken and left pending")
    @State
    public static class ThreeActors {
        private final Cpu cpu = steppedCpu0();
        private int taken;

        public ThreeActors() {
            cpu.markSoftirqPending(SoftirqVector.HI.bit());
        }

        @Actor
        public void raiseTimer() {
            cpu.markSoftirqPending(SoftirqVector.TIMER.bit());
        }

        @Actor
        public void raiseNetRx() {
            cpu.markSoftirqPending(SoftirqVector.NET_RX.bit());
        }

        @Actor
        public void bhOwnerTakes() {
            taken = cpu.takeSoftirqPending();
        }

        @Arbiter
        public void account(II_Result r) {
            r.r1 = taken;
            r.r2 = cpu.softirqPending();
        }
    }

    /**
     * One thread raises TIMER while the BH owner raises NET_RX on its own CPU and then takes the mask (HI
     * pending from the start): the two ORs race with each other and with the owner's swap. Outcome:
     * (taken, still pending).
     */
    @JCStressTest
    @Outcome(id = {"9, 2", "11, 0"}, expect = Expect.ACCEPTABLE, desc = "TIMER taken or still pending; HI, NET_RX taken")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a raise was lost, or a bit was both taken and left pending")
    @State
    public static class RaiserTakes {
        private final Cpu cpu = steppedCpu0();
        private int taken;

        public RaiserTakes() {
            cpu.markSoftirqPending(SoftirqVector.HI.bit());
        }

        @Actor
        public void raiseTimer() {
            cpu.markSoftirqPending(SoftirqVector.TIMER.bit());
        }

        @Actor
        public void bhOwnerRaisesNetRxThenTakes() {
            cpu.markSoftirqPending(SoftirqVector.NET_RX.bit());
            taken = cpu.takeSoftirqPending();
        }

        @Arbiter
        public void account(II_Result r) {
            r.r1 = taken;
            r.r2 = cpu.softirqPending();
        }
    }

    /**
     * The three-way race on a threaded kernel shared by all samples: two tasks bound to CPU 0 raise two
     * different vectors through {@code raise_softirq} while {@code ksoftirqd/0}, the BH owner, takes the
     * mask. Only one task raises each vector and it waits (at most a second) until that vector's handler
     * has run once more, so every raise must be followed by exactly the run it caused. Outcome: (task 1's
     * raise served, task 2's raise served).
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "both raises were served")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a raise was lost")
    @State
    public static class Threaded {
        static final int VECTOR_1 = 10;
        static final int VECTOR_2 = 11;
        static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(1)
                .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
                .reporter(Reporter.silent()).build());
        static final AtomicLong RUNS_1 = new AtomicLong();
        static final AtomicLong RUNS_2 = new AtomicLong();

        static {
            KERNEL.softirqs().open(VECTOR_1, "STRESS1", RUNS_1::incrementAndGet);
            KERNEL.softirqs().open(VECTOR_2, "STRESS2", RUNS_2::incrementAndGet);
        }

        private static int raiseAndAwaitRun(int vector, AtomicLong runs) {
            KERNEL.bindCurrentThread(0);
            long before = runs.get();
            KERNEL.softirqs().raise(vector);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while (runs.get() == before) {
                if (System.nanoTime() - deadline > 0) {
                    return 0;
                }
                Thread.yield(); // the host may have fewer cores than actors plus ksoftirqd
            }
            return 1;
        }

        @Actor
        public void task1(II_Result r) {
            r.r1 = raiseAndAwaitRun(VECTOR_1, RUNS_1);
        }

        @Actor
        public void task2(II_Result r) {
            r.r2 = raiseAndAwaitRun(VECTOR_2, RUNS_2);
        }
    }
}
