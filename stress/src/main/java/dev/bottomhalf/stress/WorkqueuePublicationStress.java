package dev.bottomhalf.stress;

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

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * The publications of a work item's hot-path fields that are release stores rather than volatile ones
 * ({@code Work}'s class notes, "Release stores"), raced on a threaded kernel where queueing takes the
 * lock-free path: where the item last ran ({@code lastPool}), which the next producer needs for
 * non-reentrancy, is published by the PENDING clear as the item starts; where it is queued ({@code pwq}) and
 * the instance's number ({@code queuedSeq}), which {@code flush_work} needs, are published by the incoming
 * list's push and the pool lock.
 *
 * <p>Kernel: one threaded 2-CPU kernel per test VM, as in {@link WorkqueueLocklessQueueStress}, with the
 * parking idle strategy. Fresh items per sample. Arbiters wait at most {@value #WAIT_S} s.
 *
 * <p>How they were checked: {@code -m quick} against copies of the core broken on purpose, see each test
 * (docs/benchmarks.md §15.3 has what the release stores bought). The producer's {@code pwq}, which the push
 * publishes to the drainer: a copy that sets it after the push fails both tests here and both of
 * {@link WorkqueueLocklessQueueStress} in all 15 configurations (the drain finds an item without its
 * pool-workqueue: a NullPointerException in the worker).
 */
public class WorkqueuePublicationStress {
    static final int WAIT_S = 2;

    static final Reporter.Recording REPORTS = Reporter.recording();
    static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1)
            .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
            .reporter(REPORTS).build());
    static final Workqueues WQS = KERNEL.workqueues();
    static final Workqueue WQ = WQS.alloc("stress_publication", 0, 0);

    /** Waits (at most {@value #WAIT_S} s) until {@code cond} holds. */
    static void await(java.util.function.BooleanSupplier cond) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (!cond.getAsBoolean() && System.nanoTime() - deadline < 0) {
            Thread.yield();
        }
    }

    /**
     * A task on CPU 0 queues a fresh item; a task on CPU 1 waits until it is pending, then tries to queue it on
     * CPU 1 until its claim of PENDING succeeds — at the latest right after CPU 0's worker cleared PENDING to start the function. The
     * item then still runs in CPU 0's pool, so {@code __queue_work} must find it there — through
     * {@code lastPool}, which that clear published — and queue it behind the running instance, not start it on
     * CPU 1 beside it. Outcome: (CPU 0's queue return, runs, runs that overlapped another, runs on CPU 1).
     *
     * <p>Checked against a copy of the core whose {@code PoolWorkqueue.queueLocked} does not record the pool
     * and which sets {@code lastPool} only as the run ends ({@code processOneEndLocked}) instead of before the
     * PENDING clear, so nothing publishes it to the next claimer: FORBIDDEN "1, 2, 1, 1" (the function ran on
     * both CPUs at once) in 11 of 14 configurations (0.4–4 % of their samples); the unbroken core passes
     * all of them.
     */
    @JCStressTest
    @Outcome(id = "1, 2, 0, 0", expect = Expect.ACCEPTABLE,
            desc = "CPU 1 claimed it as it started on CPU 0: went to CPU 0's pool and ran again there, afterwards")
    @Outcome(id = "1, 2, 0, 1", expect = Expect.ACCEPTABLE_INTERESTING,
            desc = "CPU 1 claimed it only after the first run ended: ran again on CPU 1")
    @Outcome(expect = Expect.FORBIDDEN, desc = "the function overlapped itself, or a queue was lost or doubled")
    @State
    public static class RequeueOnAnotherCpuAsItStarts {
        final AtomicInteger runs = new AtomicInteger();
        final AtomicInteger runsOnCpu1 = new AtomicInteger();
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final Work w = new Work("w", me -> {
            if (inside.incrementAndGet() != 1) {
                overlaps.incrementAndGet();
            }
            if (KERNEL.context().cpuId() == 1) {
                runsOnCpu1.incrementAndGet();
            }
            WorkqueueStress.spin(200);
            inside.decrementAndGet();
            runs.incrementAndGet();
        });
        final WorkqueueStress.Start start = new WorkqueueStress.Start();

        @Actor
        public void cpu0Queues(IIII_Result r) {
            KERNEL.bindCurrentThread(0);
            start.go(0);
            r.r1 = WQS.queueOn(0, WQ, w) ? 1 : 0;
        }

        @Actor
        public void cpu1QueuesAsSoonAsItCan() {
            KERNEL.bindCurrentThread(1);
            start.go(1);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
            while (!w.isPending() && System.nanoTime() - deadline < 0) {
                Thread.onSpinWait(); // CPU 0's claim: seeing it publishes nothing of what its worker writes later
            }
            while (!WQS.queueOn(1, WQ, w) && System.nanoTime() - deadline < 0) {
                Thread.onSpinWait();
            }
        }

        @Arbiter
        public void arbiter(IIII_Result r) {
            int expected = r.r1 == 1 ? 2 : 1;
            await(() -> runs.get() >= expected && !w.isPending() && inside.get() == 0);
            r.r2 = runs.get();
            r.r3 = overlaps.get();
            r.r4 = runsOnCpu1.get();
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }

    /**
     * A task on CPU 0 queues a fresh item (lock-free: {@code pwq} set, then the push) while a task on CPU 1
     * calls {@code flush_work} on it. The flush finds the instance through {@code pwq} and waits for its
     * number ({@code queuedSeq}); if it returns true, that run has finished. Outcome: (flush return, runs
     * finished when the flush returned, runs at the end).
     *
     * <p>Checked against a copy that counts the instance done ({@code doneSeq}) as the run starts instead of as
     * it ends: FORBIDDEN "1, 0, 1" (the flush returned true before the run it waited for) in all 14
     * configurations (0.1–0.8 % of their samples); the unbroken core passes all 14. Since {@code doneSeq} became a
     * release store, whose waiters look again under the instance's pool lock, it also failed against that change's
     * first version, which took an item being queued ({@code pwq} set, not pushed yet) for an instance numbered 0,
     * already done: FORBIDDEN "1, 0, 1" in 68–181 samples of each configuration read (quick mode).
     */
    @JCStressTest
    @Outcome(id = "1, 1, 1", expect = Expect.ACCEPTABLE, desc = "queued first: the flush waited for the run")
    @Outcome(id = "0, 0, 1", expect = Expect.ACCEPTABLE, desc = "flushed first: nothing queued to wait for")
    @Outcome(id = "0, 1, 1", expect = Expect.ACCEPTABLE,
            desc = "flushed after the run had finished: idle, nothing to wait for")
    @Outcome(expect = Expect.FORBIDDEN, desc = "the flush returned true before the run ended, or the run was lost")
    @State
    public static class FlushVersusLocklessQueue {
        final AtomicInteger runs = new AtomicInteger();
        final Work w = new Work("w", me -> {
            WorkqueueStress.spin(50);
            runs.incrementAndGet();
        });
        final WorkqueueStress.Start start = new WorkqueueStress.Start();

        @Actor
        public void cpu0Queues() {
            KERNEL.bindCurrentThread(0);
            start.go(0);
            WQS.queueOn(0, WQ, w);
        }

        @Actor
        public void cpu1Flushes(III_Result r) {
            KERNEL.bindCurrentThread(1);
            start.go(1);
            boolean waited = WQS.flush(w);
            r.r2 = runs.get();
            r.r1 = waited ? 1 : 0;
        }

        @Arbiter
        public void arbiter(III_Result r) {
            await(() -> runs.get() >= 1 && !w.isPending());
            r.r3 = runs.get();
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }

    /**
     * As {@link FlushVersusLocklessQueue}, but the item has run once before the actors start, so it already has a
     * number (1) and that instance is done: a task on CPU 0 queues it again (lock-free) while a task on CPU 1 calls
     * {@code flush_work}. A flush that returns true has waited for the new run. Outcome: (flush return, runs
     * finished when the flush returned, runs at the end).
     *
     * <p>Checked against the core before the flush treated an item being queued ({@code pwq} set, not pushed yet)
     * as idle (50a33bb): that flush took the item for its previous instance, already done, and returned true at once
     * — FORBIDDEN "1, 1, 2" in all 14 configurations, 29 to 4,023 samples each (14,791 of 4,787,063; quick mode).
     * The core since passes all 14, with "0, 1, 2", "0, 2, 2" and "1, 2, 2" all seen.
     */
    @JCStressTest
    @Outcome(id = "1, 2, 2", expect = Expect.ACCEPTABLE, desc = "queued first: the flush waited for the new run")
    @Outcome(id = "0, 1, 2", expect = Expect.ACCEPTABLE,
            desc = "flushed first, or while the item was being queued: idle, nothing to wait for")
    @Outcome(id = "0, 2, 2", expect = Expect.ACCEPTABLE,
            desc = "flushed after the new run had finished: idle, nothing to wait for")
    @Outcome(expect = Expect.FORBIDDEN, desc = "the flush returned true before the new run ended, or a run was lost")
    @State
    public static class FlushVersusLocklessRequeue {
        final AtomicInteger runs = new AtomicInteger();
        final Work w = new Work("w", me -> {
            WorkqueueStress.spin(50);
            runs.incrementAndGet();
        });
        final WorkqueueStress.Start start = new WorkqueueStress.Start();

        public FlushVersusLocklessRequeue() {
            KERNEL.bindCurrentThread(0);
            WQS.queueOn(0, WQ, w);
            await(() -> runs.get() == 1 && WQS.workBusy(w) == 0); // ran, and its worker is done with it
        }

        @Actor
        public void cpu0Queues() {
            KERNEL.bindCurrentThread(0);
            start.go(0);
            WQS.queueOn(0, WQ, w);
        }

        @Actor
        public void cpu1Flushes(III_Result r) {
            KERNEL.bindCurrentThread(1);
            start.go(1);
            boolean waited = WQS.flush(w);
            r.r2 = runs.get();
            r.r1 = waited ? 1 : 0;
        }

        @Arbiter
        public void arbiter(III_Result r) {
            await(() -> runs.get() >= 2 && !w.isPending());
            r.r3 = runs.get();
            WorkqueueStress.requireNoReports(REPORTS);
        }
    }
}
