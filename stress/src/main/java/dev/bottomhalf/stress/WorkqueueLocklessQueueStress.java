package dev.bottomhalf.stress;

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
import org.openjdk.jcstress.infra.results.II_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * {@code queue_work} on a per-CPU workqueue of a threaded kernel, where it queues without the pool lock
 * ({@code Workqueues.queueWithoutLock}): the item is pushed on the pool's incoming list and left to a worker
 * that is running, or polling, or woken. These tests race that hand-off against the worker changing state
 * (finishing its item, going idle, stopping its poll, parking) and against a cancel from another CPU.
 *
 * <p>Kernel: one threaded 2-CPU kernel per test VM (real {@code kworker} threads; see
 * {@link WorkqueueStress} for why not one per sample), with the parking idle strategy for every runtime
 * thread, so a worker that runs out of items parks at once and the window between "stop polling" and
 * "park" is crossed as often as possible. Fresh items per sample. An arbiter waits at most
 * {@value #WAIT_S} s for an item to run: an item that a producer left to nobody stays queued and shows as a
 * run count of 0 — FORBIDDEN.
 *
 * <p>How they were checked (sanity mode, copies of the core broken on purpose; docs/benchmarks.md §8.7):
 * with the producer always believing its item watched ({@code watched = true} in
 * {@code queueWithoutLock}) both tests failed in every configuration (FORBIDDEN "0, 0": no worker was ever
 * woken); with a worker that keeps counting as polling while it parks ({@code Worker.hasWork} without
 * {@code stopSpinning}), {@link QueueVersusWorkerIdling} failed in 15 of 15 configurations, FORBIDDEN in
 * 75 % of the samples.
 */
public class WorkqueueLocklessQueueStress {
    static final int WAIT_S = 2;

    static final Reporter.Recording REPORTS = Reporter.recording();
    static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1)
            .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
            .reporter(REPORTS).build());
    static final Workqueues WQS = KERNEL.workqueues();
    static final Workqueue WQ = WQS.alloc("stress_lockless", 0, 0);

    /**
     * Waits until {@code runs} reaches {@code expected} and the item is neither pending nor inside its
     * function (at most {@value #WAIT_S} s); returns the run count seen then.
     */
    static int awaitRuns(Work w, AtomicInteger runs, int expected, AtomicInteger inside) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while ((runs.get() < expected || w.isPending() || inside.get() != 0) && System.nanoTime() - deadline < 0) {
            Thread.yield();
        }
        return runs.get();
    }

    static Work counted(String name, AtomicInteger runs, AtomicInteger inside, int spins) {
        return new Work(name, me -> {
            inside.incrementAndGet();
            runs.incrementAndGet();
            WorkqueueStress.spin(spins);
            inside.decrementAndGet();
        });
    }

    /**
     * Two tasks on CPU 0 queue a fresh item each on CPU 0's pool: the first item spins a random 0–400
     * spins, so the second queue lands anywhere from "the worker is running the first item" through "it
     * finished, went idle and is polling" to "it stopped polling and parks". Whichever state the producer
     * sees, the second item must run. Outcome: (runs of the first item, runs of the second).
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "both items ran once")
    @Outcome(expect = Expect.FORBIDDEN, desc = "an item was left to nobody (never ran) or ran twice")
    @State
    public static class QueueVersusWorkerIdling {
        final AtomicInteger runs1 = new AtomicInteger();
        final AtomicInteger runs2 = new AtomicInteger();
        final AtomicInteger inside = new AtomicInteger();
        final Work w1 = counted("first", runs1, inside, ThreadLocalRandom.current().nextInt(400));
        final Work w2 = counted("second", runs2, inside, 0);
        final int delay = ThreadLocalRandom.current().nextInt(400);

        @Actor
        public void firstQueuer() {
            KERNEL.bindCurrentThread(0);
            WQS.queueOn(0, WQ, w1);
        }

        @Actor
        public void secondQueuer() {
            KERNEL.bindCurrentThread(0);
            WorkqueueStress.spin(delay);
            WQS.queueOn(0, WQ, w2);
        }

        @Arbiter
        public void arbiter(II_Result r) {
            r.r1 = awaitRuns(w1, runs1, 1, inside);
            r.r2 = awaitRuns(w2, runs2, 1, inside);
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }

    /**
     * A queue on CPU 0 (pushed without the lock) against a cancel of the same idle item on CPU 1. The cancel
     * takes the pool lock, which moves pushed items onto the worklist first, so it finds an item that was
     * pushed before it and removes it; otherwise the item runs once. Outcome: (queue return, cancel return,
     * runs, pending at the end).
     */
    @JCStressTest
    @Outcome(id = "1, 1, 0, 0", expect = Expect.ACCEPTABLE, desc = "queued, then cancelled before it ran")
    @Outcome(id = "1, 0, 1, 0", expect = Expect.ACCEPTABLE, desc = "the cancel came too late (or first): it ran once")
    @Outcome(id = "0, 0, 0, 0", expect = Expect.ACCEPTABLE_INTERESTING,
            desc = "the queue landed while the cancel's grab owned PENDING: refused, nothing ran")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost, cancelled and run, or left pending")
    @State
    public static class QueueVersusCancel {
        final AtomicInteger runs = new AtomicInteger();
        final AtomicInteger inside = new AtomicInteger();
        final Work w = counted("w", runs, inside, 0);
        final WorkqueueStress.Start start = new WorkqueueStress.Start();

        @Actor
        public void cpu0Queues(IIII_Result r) {
            KERNEL.bindCurrentThread(0);
            start.go(0);
            r.r1 = WQS.queueOn(0, WQ, w) ? 1 : 0;
        }

        @Actor
        public void cpu1Cancels(IIII_Result r) {
            KERNEL.bindCurrentThread(1);
            start.go(1);
            r.r2 = WQS.cancel(w) ? 1 : 0;
        }

        @Arbiter
        public void arbiter(IIII_Result r) {
            r.r3 = awaitRuns(w, runs, r.r1 == 1 && r.r2 == 0 ? 1 : 0, inside);
            r.r4 = w.isPending() ? 1 : 0;
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }
}
