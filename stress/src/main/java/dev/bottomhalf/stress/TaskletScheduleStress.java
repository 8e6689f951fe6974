package dev.bottomhalf.stress;

import java.util.concurrent.atomic.AtomicInteger;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * The tasklet state machine under races (stepped kernels, so every sample is independent and each actor
 * plays a CPU context explicitly).
 */
public class TaskletScheduleStress {

    private static Kernel stepped() {
        return Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1).stepped().reporter(Reporter.silent()).build());
    }

    /**
     * Two CPUs schedule the same idle tasklet at once: SCHED's test-and-set lets exactly one of them queue
     * it, so after both CPUs' softirqs are drained it has run exactly once. (Checked by replacing the
     * test-and-set in {@code Tasklets.schedule} with a read followed by a set: outcome 2 appears.)
     */
    @JCStressTest
    @Outcome(id = "1", expect = Expect.ACCEPTABLE, desc = "queued once, ran once")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost or duplicated")
    @State
    public static class ConcurrentSchedules {
        final Kernel kernel = stepped();
        final AtomicInteger runs = new AtomicInteger();
        final Tasklet t = Tasklet.setup("t", me -> runs.incrementAndGet());

        @Actor
        public void cpu0() {
            kernel.bindCurrentThread(0);
            kernel.tasklets().schedule(t);
        }

        @Actor
        public void cpu1() {
            kernel.bindCurrentThread(1);
            kernel.tasklets().schedule(t);
        }

        @Arbiter
        public void drain(I_Result r) {
            kernel.softirqs().runPendingOnStepped(0);
            kernel.softirqs().runPendingOnStepped(1);
            r.r1 = runs.get();
        }
    }

    /**
     * A schedule races with the run of the same tasklet on its CPU: either the schedule lands before SCHED
     * is cleared (one run in all) or after (it is queued again and runs once more) — never lost, and the
     * callback never overlaps itself. Outcome: (runs, overlaps).
     */
    @JCStressTest
    @Outcome(id = {"1, 0", "2, 0"}, expect = Expect.ACCEPTABLE, desc = "merged with the pending run, or ran again")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a schedule was lost or the callback overlapped itself")
    @State
    public static class ScheduleWhileRunning {
        final Kernel kernel = stepped();
        final AtomicInteger runs = new AtomicInteger();
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final Tasklet t = Tasklet.setup("t", me -> {
            if (inside.incrementAndGet() != 1) {
                overlaps.incrementAndGet();
            }
            runs.incrementAndGet();
            inside.decrementAndGet();
        });

        public ScheduleWhileRunning() {
            kernel.bindCurrentThread(0);
            kernel.tasklets().schedule(t);     // pending on CPU 0 before the actors start
            kernel.machine().detachCurrentThread();
        }

        @Actor
        public void cpu0RunsIt() {
            kernel.softirqs().runPendingOnStepped(0);
        }

        @Actor
        public void cpu1SchedulesIt() {
            kernel.bindCurrentThread(1);
            kernel.tasklets().schedule(t);
        }

        @Arbiter
        public void drain(II_Result r) {
            for (int i = 0; i < 3; i++) {
                kernel.softirqs().runPendingOnStepped(0);
                kernel.softirqs().runPendingOnStepped(1);
            }
            r.r1 = runs.get();
            r.r2 = overlaps.get();
        }
    }

    /**
     * The RUN bit across CPUs: while CPU 0 runs the tasklet, CPU 1 schedules it and at once runs its own
     * softirq. CPU 1 must not start the callback while CPU 0 is still in it (it re-queues the tasklet and
     * runs it on a later pass), and the schedule is never lost. This is what keeps the plain check-then-set
     * of {@code Tasklet.tryLockRun} honest. Outcome: (runs, overlaps). (Checked by letting {@code tryLockRun}
     * skip its RUN check: {@code -m quick} reports "2, 1" in about 1 of 4,000 samples.)
     */
    @JCStressTest
    @Outcome(id = {"1, 0", "2, 0"}, expect = Expect.ACCEPTABLE, desc = "merged with the pending run, or ran again after it")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a schedule was lost or the callback ran on both CPUs at once")
    @State
    public static class RunAgainOnAnotherCpu {
        final Kernel kernel = stepped();
        final AtomicInteger runs = new AtomicInteger();
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final Tasklet t = Tasklet.setup("t", me -> {
            if (inside.incrementAndGet() != 1) {
                overlaps.incrementAndGet();
            }
            for (int i = 0; i < 20; i++) {
                Thread.onSpinWait();
            }
            runs.incrementAndGet();
            inside.decrementAndGet();
        });

        public RunAgainOnAnotherCpu() {
            kernel.bindCurrentThread(0);
            kernel.tasklets().schedule(t);
            kernel.machine().detachCurrentThread();
        }

        @Actor
        public void cpu0RunsIt() {
            kernel.softirqs().runPendingOnStepped(0);
        }

        @Actor
        public void cpu1SchedulesAndRunsIt() {
            kernel.bindCurrentThread(1);
            kernel.tasklets().schedule(t);
            kernel.softirqs().runPendingOnStepped(1);
        }

        @Arbiter
        public void drain(II_Result r) {
            for (int i = 0; i < 3; i++) {
                kernel.softirqs().runPendingOnStepped(0);
                kernel.softirqs().runPendingOnStepped(1);
            }
            r.r1 = runs.get();
            r.r2 = overlaps.get();
        }
    }
}
