package dev.bottomhalf.stress;

import dev.bottomhalf.internal.Internals;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

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
import dev.bottomhalf.runtime.Stepper;

/**
 * A raise from task context racing with {@code ksoftirqd} going to sleep is always served: no lost
 * wake-up.
 *
 * <p>How it was checked: with the re-read of the mask after {@code woken = false} removed from
 * {@code Ksoftirqd.doWork} (it returns 0 as soon as it cleared {@code woken}), {@code -m quick -sc false}
 * reports the forbidden outcome "0, 0" for {@link Stepped} (the raise left pending with the daemon asleep,
 * about 1 in 10,000 samples) and "0, 1"/"1, 0" for {@link Threaded} (a raiser that waited in vain).
 */
public class KsoftirqdWakeupStress {
    /** The user softirq vector the tests raise. */
    static final int VECTOR = 10;

    /**
     * The exact race, on a stepped kernel per sample: {@code ksoftirqd/0} has been woken but the mask was
     * drained meanwhile (as when a BH-enabling task ran the softirqs first), so its next duty cycle finds
     * the mask empty and goes to sleep. One actor plays that duty cycle; the other, a task on CPU 0, raises
     * the vector. The arbiter then runs whatever agent still has work. Outcome: (handler runs, whether the
     * mask is empty at the end): the handler ran exactly once and nothing stays pending.
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "the raise was served")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost wake-up: the raise is pending and ksoftirqd sleeps")
    @State
    public static class Stepped {
        private final Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(1).stepped()
                .reporter(Reporter.silent()).build());
        private final Stepper stepper = kernel.stepper();
        private final Cpu cpu = Internals.machine(kernel).cpu(0);
        private final AtomicInteger runs = new AtomicInteger();

        public Stepped() {
            kernel.softirqs().open(VECTOR, "STRESS", runs::incrementAndGet);
            kernel.bindCurrentThread(0);
            kernel.softirqs().raise(VECTOR);    // wakes ksoftirqd/0 ...
            cpu.takeSoftirqPending();           // ... but someone else drained the mask
            kernel.detachCurrentThread();
        }

        @Actor
        public void ksoftirqdDutyCycle() {
            stepper.run("ksoftirqd/0");
        }

        @Actor
        public void taskRaises() {
            kernel.bindCurrentThread(0);
            kernel.softirqs().raise(VECTOR);
        }

        @Arbiter
        public void arbiter(II_Result r) {
            stepper.runUntilIdle();
            r.r1 = runs.get();
            r.r2 = cpu.softirqPending() == 0 ? 1 : 0;
        }
    }

    /**
     * End to end on one threaded kernel (shared by all samples): two tasks bound to CPU 0 raise the same
     * vector and each waits, for at most a second, until the vector is no longer pending (the BH owner took
     * it, so its handler runs). {@code ksoftirqd/0} parks when idle, so a raise often lands while it is
     * going to sleep after serving the other task's raise; this also exercises the runtime thread's
     * park/unpark hand-off. Outcome: (task 1 served, task 2 served).
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "both raises were served")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost wake-up: a raise stayed pending for a second")
    @State
    public static class Threaded {
        static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(1)
                .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
                .reporter(Reporter.silent()).build());

        static {
            KERNEL.softirqs().open(VECTOR, "STRESS", () -> { });
        }

        private static int raiseAndAwaitServed() {
            KERNEL.bindCurrentThread(0);
            KERNEL.softirqs().raise(VECTOR);
            Cpu cpu = Internals.machine(KERNEL).cpu(0);
            int bit = 1 << VECTOR;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            while ((cpu.softirqPending() & bit) != 0) {
                if (System.nanoTime() - deadline > 0) {
                    return 0;
                }
                Thread.yield(); // the host may have fewer cores than actors plus ksoftirqd
            }
            return 1;
        }

        @Actor
        public void task1(II_Result r) {
            r.r1 = raiseAndAwaitServed();
        }

        @Actor
        public void task2(II_Result r) {
            r.r2 = raiseAndAwaitServed();
        }
    }
}
