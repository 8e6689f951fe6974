package dev.bottomhalf.stress;

import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.II_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.WorkqueueExecutor;

/**
 * {@code WorkqueueExecutor}'s accounting of its tasks under races: {@code execute} against {@code shutdownNow}, two
 * submitters reusing carriers, and a future's {@code cancel} against the worker taking its item. A task given to
 * {@code execute} rides a reusable carrier: its work function gives the carrier back as soon as the task returns, and
 * the next {@code execute} may queue it again at once, while {@code shutdownNow} looks for queued carriers in the
 * pools and withdraws them with {@code cancel_work}. Whatever the interleaving, each task must end exactly one way —
 * refused, run once, or handed back by {@code shutdownNow} — and retire once, so that the executor terminates.
 *
 * <p>Kernel: one threaded 2-CPU kernel per test VM (real {@code kworker} threads), the parking idle strategy; a
 * fresh executor over its per-CPU workqueue per sample (the executor does not own it). The arbiter waits at most
 * {@value #WAIT_S} s for the termination.
 *
 * <p>How they were checked (quick mode, copies of the core broken on purpose): with a take lock that excludes
 * nobody ({@code ExecuteCarriers.take} without its compare-and-set, so two submitters can pop the same carrier),
 * {@link ExecuteReuse} failed in every configuration it reached (8 of 8 before the run was stopped: FORBIDDEN
 * "0, 1" and "1, 0", a task lost, in 2–9 % of the samples); with a {@code shutdownNow} that does not count the
 * tasks it hands back as retired, {@link ExecuteVersusShutdownNow} failed in 12 of
 * the 12 configurations it reached (FORBIDDEN "0, 0, …": the executor never terminated, whenever a task was
 * handed back); with a worker that adds its run reference to a future whose count is already 0 (the task cancelled
 * an instant before it took the item), {@link CancelVersusWorker} failed in 13 of the 13 configurations it reached
 * (FORBIDDEN "1, 0, 0": the task retired twice and the executor never terminated).
 */
public class WorkqueueExecutorStress {
    static final int WAIT_S = 2;
    static final int TASKS = 3;

    static final Reporter.Recording REPORTS = Reporter.recording();
    static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1)
            .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
            .reporter(REPORTS).build());
    static final Workqueue WQ = KERNEL.workqueues().alloc("stress_executor", 0, 0);

    /** Whether {@code ex} terminates within {@value #WAIT_S} s (false if the arbiter is interrupted meanwhile). */
    static boolean terminates(WorkqueueExecutor ex) {
        try {
            return ex.awaitTermination(WAIT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * CPU 0 gives three tasks to {@code execute}, one after the other; CPU 1 calls {@code shutdownNow}. Outcome:
     * (tasks that did not end exactly one way — lost, run twice, run and handed back or refused —, executor
     * terminated, tasks handed back, tasks refused). The last two show which interleavings the run reached.
     */
    @JCStressTest
    @Outcome(id = {"0, 1, 0, 0", "0, 1, 0, 1", "0, 1, 0, 2", "0, 1, 0, 3", "0, 1, 1, 0", "0, 1, 1, 1", "0, 1, 1, 2",
            "0, 1, 2, 0", "0, 1, 2, 1", "0, 1, 3, 0"}, expect = Expect.ACCEPTABLE,
            desc = "every task refused, run once, or handed back (handed back, refused)")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a task lost, run twice, run and handed back, or no termination")
    @State
    public static class ExecuteVersusShutdownNow {
        final WorkqueueExecutor ex = WorkqueueExecutor.on(KERNEL, WQ);
        final AtomicInteger[] runs = new AtomicInteger[TASKS];
        final Runnable[] tasks = new Runnable[TASKS];
        final boolean[] refused = new boolean[TASKS];
        volatile List<Runnable> handedBack = List.of();
        final WorkqueueStress.Start start = new WorkqueueStress.Start();

        {
            for (int i = 0; i < TASKS; i++) {
                AtomicInteger n = new AtomicInteger();
                runs[i] = n;
                tasks[i] = n::incrementAndGet;
            }
        }

        @Actor
        public void cpu0Executes() {
            KERNEL.bindCurrentThread(0);
            start.go(0);
            for (int i = 0; i < TASKS; i++) {
                try {
                    ex.execute(tasks[i]);
                } catch (RejectedExecutionException e) {
                    refused[i] = true;
                }
            }
        }

        @Actor
        public void cpu1ShutsDownNow() {
            KERNEL.bindCurrentThread(1);
            start.go(1);
            handedBack = ex.shutdownNow();
        }

        @Arbiter
        public void arbiter(IIII_Result r) {
            boolean terminated = terminates(ex);
            List<Runnable> back = handedBack;
            int bad = 0;
            int refusals = 0;
            for (int i = 0; i < TASKS; i++) {
                int ways = runs[i].get() + (refused[i] ? 1 : 0) + count(back, tasks[i]);
                if (ways != 1) {
                    bad++;
                }
                refusals += refused[i] ? 1 : 0;
            }
            r.r1 = bad + (back.size() > TASKS ? 1 : 0);
            r.r2 = terminated ? 1 : 0;
            r.r3 = back.size();
            r.r4 = refusals;
            WorkqueueStress.requireNoReports(REPORTS);
        }

        private static int count(List<Runnable> list, Runnable task) {
            int n = 0;
            for (Runnable x : list) {
                if (x == task) {
                    n++;
                }
            }
            return n;
        }
    }

    /** One executor for every sample of {@link ExecuteReuse}: its carriers go round from sample to sample. */
    static final WorkqueueExecutor SHARED = WorkqueueExecutor.on(KERNEL, WQ);

    /**
     * Two submitters, on CPU 0 and CPU 1, each give a task to one long-lived executor at the same moment, while
     * the workers give back the carriers of the tasks of earlier samples: the two take carriers from the same free
     * stack (one holds the take lock, the other makes a carrier of its own), and a carrier taken may have last run
     * on the other CPU's pool. Each task must run exactly once. Outcome: (runs of the first task, of the second).
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "both tasks ran once")
    @Outcome(expect = Expect.FORBIDDEN,
            desc = "a task lost (its carrier taken twice, or its task overwritten) or run twice")
    @State
    public static class ExecuteReuse {
        final AtomicInteger runs0 = new AtomicInteger();
        final AtomicInteger runs1 = new AtomicInteger();
        final Runnable task0 = runs0::incrementAndGet;
        final Runnable task1 = runs1::incrementAndGet;
        final WorkqueueStress.Start start = new WorkqueueStress.Start();

        @Actor
        public void cpu0Executes() {
            KERNEL.bindCurrentThread(0);
            start.go(0);
            SHARED.execute(task0);
        }

        @Actor
        public void cpu1Executes() {
            KERNEL.bindCurrentThread(1);
            start.go(1);
            SHARED.execute(task1);
        }

        @Arbiter
        public void arbiter(II_Result r) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
            while ((runs0.get() < 1 || runs1.get() < 1) && System.nanoTime() - deadline < 0) {
                Thread.yield();
            }
            r.r1 = runs0.get();
            r.r2 = runs1.get();
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }

    /**
     * CPU 0 submits a task; CPU 1 cancels its future ({@code cancel(false)}) as soon as it sees it, after a random
     * pause — so the cancel lands before a worker takes the item, between the worker taking it and the task
     * starting, while it runs, or after it ran. Then the arbiter shuts the executor down. Whatever the order, the
     * task must retire exactly once: the executor terminates, and an uncancelled task ran. Outcome: (cancel
     * returned true, the task's body ran, executor terminated).
     */
    @JCStressTest
    @Outcome(id = {"1, 0, 1", "1, 1, 1", "0, 1, 1"}, expect = Expect.ACCEPTABLE,
            desc = "cancelled before it ran / while it ran / too late; terminated")
    @Outcome(expect = Expect.FORBIDDEN, desc = "not terminated (the task retired twice or never), or lost")
    @State
    public static class CancelVersusWorker {
        final WorkqueueExecutor ex = WorkqueueExecutor.on(KERNEL, WQ);
        final AtomicInteger runs = new AtomicInteger();
        final int pause = ThreadLocalRandom.current().nextInt(400);
        volatile Future<?> future;

        @Actor
        public void cpu0Submits() {
            KERNEL.bindCurrentThread(0);
            future = ex.submit(runs::incrementAndGet);
        }

        @Actor
        public void cpu1Cancels(III_Result r) {
            KERNEL.bindCurrentThread(1);
            Future<?> f;
            for (int spins = 0; (f = future) == null; spins++) {
                if (spins < 10_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
            WorkqueueStress.spin(pause);
            r.r1 = f.cancel(false) ? 1 : 0;
        }

        @Arbiter
        public void arbiter(III_Result r) {
            ex.shutdown();
            boolean terminated = terminates(ex);
            r.r2 = runs.get();
            r.r3 = terminated ? 1 : 0;
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }
}
