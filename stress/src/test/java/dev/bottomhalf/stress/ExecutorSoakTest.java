package dev.bottomhalf.stress;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.WorkqueueExecutor;

/**
 * Randomised soak of {@link WorkqueueExecutor} on a threaded 2-CPU kernel, round after round: an executor of a random
 * kind (per-CPU, unbound with {@code max_active} 2, ordered, over {@code system_wq}, over {@code system_bh_wq}), three
 * submitters (task threads on CPU 0 and CPU 1, re-binding now and then) giving it tasks — mostly {@code execute},
 * which reuses the executor's items, some {@code submit}, a few futures cancelled — tasks that return at once, spin,
 * sleep ({@code msleep}, not on the BH workqueue) or throw; then, at a random moment, {@code shutdown},
 * {@code shutdownNow} or {@code close}. Invariants, per round:
 * <ul>
 * <li>every task given to {@code execute} ends exactly one way: refused, run once, or handed back by
 * {@code shutdownNow}; a future is done, or handed back (and then not done);</li>
 * <li>the executor terminates (within 10 s of the shutdown); {@code completedTaskCount} is the number of runs,
 * {@code failedTaskCount} the number of throwing runs;</li>
 * <li>on an ordered executor each submitter's {@code execute}d tasks run in the order it gave them;</li>
 * <li>no report but the oops of a throwing {@code execute}d task, one per such run.</li>
 * </ul>
 * Runs {@code -Dbottomhalf.soak.seconds} seconds (10 by default, 600 with {@code -Psoak}); the seed is printed and
 * replays the operation sequence (not the thread timing) with {@code -Dbottomhalf.soak.seed}.
 *
 * <p>Its first run found a bug of the executor's counted termination (64053e9): {@code shutdownNow} counted a future
 * it withdrew as retired, and a cancel of that future by its submitter, racing the withdrawal, counted it again — on
 * a BH executor, round 24, "not terminated 10 s after the shutdownNow" with no task left. (The count had gone below
 * the true one; with a task still running it can also end early, which {@code WorkqueueExecutorTest}'s
 * {@code aFutureHandedBackByShutdownNow_thenCancelledByItsCaller...} shows deterministically.) Fixed: the withdrawal
 * drops the executor's reference to the future, which retires it exactly once. A 90 s run then found the other way
 * to retire a future twice: a worker that took the item of a future cancelled an instant earlier added its run
 * reference back to a count already at 0 (a task "ran 0 times", and ran after the executor said terminated); the
 * run reference is now taken only above 0 ({@code WorkqueueExecutorStress.CancelVersusWorker}).
 */
class ExecutorSoakTest {
    private static final int SUBMITTERS = 3;

    /** One task given to the executor, with what happened to it. */
    static final class Task implements Runnable {
        final int submitter;
        final int seq;
        final int kind;         // 0 returns, 1 spins, 2 sleeps 1 ms (not BH), 3 throws
        final boolean bh;
        final Kernel kernel;
        final List<int[]> runLog;
        final AtomicInteger runs = new AtomicInteger();
        volatile boolean refused;
        Future<?> future;

        Task(int submitter, int seq, int kind, boolean bh, Kernel kernel, List<int[]> runLog) {
            this.submitter = submitter;
            this.seq = seq;
            this.kind = kind;
            this.bh = bh;
            this.kernel = kernel;
            this.runLog = runLog;
        }

        @Override
        public void run() {
            runs.incrementAndGet();
            synchronized (runLog) {
                runLog.add(new int[] {submitter, seq});
            }
            switch (kind) {
                case 1 -> {
                    for (int i = 0; i < 2_000; i++) {
                        Thread.onSpinWait();
                    }
                }
                case 2 -> {
                    if (!bh) {
                        kernel.timers().msleep(1);
                    }
                }
                case 3 -> throw new IllegalStateException("soak task throws");
                default -> {
                }
            }
        }
    }

    @Test
    void executors_keepEveryInvariant() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("ExecutorSoakTest: seed " + seed + ", " + seconds + " s (replay with -Dbottomhalf.soak.seed="
                + seed + ")");
        Reporter.Recording reports = Reporter.recording();
        Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1).reporter(reports).build());
        List<String> violations = new ArrayList<>();
        SplittableRandom root = new SplittableRandom(seed);
        long expectedOopses = 0;
        int rounds = 0;
        long tasksSeen = 0;
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() - deadline < 0 && violations.isEmpty()) {
                SplittableRandom r = root.split();
                int kind = r.nextInt(5);
                WorkqueueExecutor ex = switch (kind) {
                    case 0 -> WorkqueueExecutor.alloc(kernel, "soak", 0, 0);
                    case 1 -> WorkqueueExecutor.alloc(kernel, "soak_u", Workqueue.WQ_UNBOUND, 2);
                    case 2 -> WorkqueueExecutor.allocOrdered(kernel, "soak_o", 0);
                    case 3 -> WorkqueueExecutor.on(kernel, kernel.workqueues().systemWq());
                    default -> WorkqueueExecutor.on(kernel, kernel.workqueues().systemBhWq());
                };
                boolean bh = kind == 4;
                boolean ordered = kind == 2;
                List<int[]> runLog = new ArrayList<>();
                List<List<Task>> given = new ArrayList<>();
                AtomicBoolean stop = new AtomicBoolean();
                List<Thread> submitters = new ArrayList<>();
                for (int s = 0; s < SUBMITTERS; s++) {
                    int me = s;
                    List<Task> mine = new ArrayList<>();
                    given.add(mine);
                    SplittableRandom sr = r.split();
                    submitters.add(Thread.ofPlatform().name("executor-soak-" + s).daemon(true).start(() -> {
                        kernel.bindCurrentThread(me % 2);
                        try {
                            for (int seq = 0; !stop.get() && seq < 5_000; seq++) {
                                if (sr.nextInt(64) == 0) {
                                    kernel.detachCurrentThread();
                                    kernel.bindCurrentThread(sr.nextInt(2));
                                }
                                int k = sr.nextInt(16);
                                int behaviour = k < 10 ? 0 : k < 13 ? 1 : k < 15 ? 2 : 3;
                                Task t = new Task(me, seq, behaviour, bh, kernel, runLog);
                                mine.add(t);
                                try {
                                    if (sr.nextInt(8) == 0) {
                                        t.future = ex.submit(t);
                                        if (sr.nextInt(4) == 0) {
                                            t.future.cancel(sr.nextBoolean() && !bh);
                                        }
                                    } else {
                                        ex.execute(t);
                                    }
                                } catch (RejectedExecutionException e) {
                                    t.refused = true;
                                    return;
                                }
                                if (sr.nextInt(32) == 0) {
                                    Thread.yield();
                                }
                            }
                        } finally {
                            kernel.detachCurrentThread();
                        }
                    }));
                }
                Thread.sleep(r.nextInt(1, 20));
                int end = r.nextInt(3);
                List<Runnable> handedBack = List.of();
                switch (end) {
                    case 0 -> ex.shutdown();
                    case 1 -> handedBack = ex.shutdownNow();
                    default -> ex.close();
                }
                stop.set(true);
                for (Thread t : submitters) {
                    t.join(TimeUnit.SECONDS.toMillis(10));
                    if (t.isAlive()) {
                        violations.add("round " + rounds + ": submitter " + t.getName() + " did not finish");
                    }
                }
                if (!ex.awaitTermination(10, TimeUnit.SECONDS)) {
                    violations.add("round " + rounds + " (" + ex + "): not terminated 10 s after the "
                            + (end == 0 ? "shutdown" : end == 1 ? "shutdownNow" : "close"));
                }
                Map<Runnable, Integer> back = new IdentityHashMap<>();
                for (Runnable b : handedBack) {
                    back.merge(b, 1, Integer::sum);
                }
                long runs = 0;
                long throwingRuns = 0;
                for (List<Task> mine : given) {
                    for (Task t : mine) {
                        tasksSeen++;
                        int n = t.runs.get();
                        // (A future cancelled while its task ran is not counted as a completed or failed run.)
                        boolean counted = t.future == null || !t.future.isCancelled();
                        runs += counted ? n : 0;
                        if (t.kind == 3 && n > 0) {
                            throwingRuns += counted ? n : 0;
                            if (t.future == null) {
                                expectedOopses += n;
                            }
                        }
                        int handed = t.future == null ? back.getOrDefault(t, 0) : back.getOrDefault(t.future, 0);
                        int ways = n + (t.refused ? 1 : 0) + handed;
                        if (t.future == null && ways != 1) {
                            violations.add("round " + rounds + ": execute'd task " + t.submitter + "/" + t.seq
                                    + " ran " + n + ", refused " + t.refused + ", handed back " + handed);
                        }
                        if (t.future != null && !t.refused && handed == 0 && !t.future.isDone()) {
                            violations.add("round " + rounds + ": the future of task " + t.submitter + "/" + t.seq
                                    + " is not done after termination and was not handed back");
                        }
                        if (t.future != null && n > 1) {
                            violations.add("round " + rounds + ": submitted task " + t.submitter + "/" + t.seq
                                    + " ran " + n);
                        }
                        if (t.future != null && t.future.isDone() && !t.future.isCancelled() && n == 1 && t.kind != 3) {
                            try {
                                t.future.get();
                            } catch (ExecutionException | CancellationException e) {
                                violations.add("round " + rounds + ": task " + t.submitter + "/" + t.seq
                                        + " ran and its future says " + e);
                            }
                        }
                    }
                }
                if (ex.completedTaskCount() != runs) {
                    violations.add("round " + rounds + ": completedTaskCount " + ex.completedTaskCount()
                            + ", runs " + runs);
                }
                if (ex.failedTaskCount() != throwingRuns) {
                    violations.add("round " + rounds + ": failedTaskCount " + ex.failedTaskCount() + ", throwing runs "
                            + throwingRuns);
                }
                if (ordered) {
                    int[] last = new int[SUBMITTERS];
                    java.util.Arrays.fill(last, -1);
                    synchronized (runLog) {
                        for (int[] e : runLog) {
                            Task t = given.get(e[0]).get(e[1]);
                            if (t.future == null && e[1] < last[e[0]]) {
                                violations.add("round " + rounds + ": ordered executor ran " + e[0] + "/" + e[1]
                                        + " after " + e[0] + "/" + last[e[0]]);
                            }
                            if (t.future == null) {
                                last[e[0]] = Math.max(last[e[0]], e[1]);
                            }
                        }
                    }
                }
                rounds++;
            }
            List<KernelEvent> bad = new ArrayList<>();
            long oopses = 0;
            for (KernelEvent e : reports.events()) {
                if (e.kind() == KernelEvent.Kind.OOPS && e.message().startsWith("Oops: work " + Task.class.getName())) {
                    oopses++;
                } else if (e.kind() == KernelEvent.Kind.WARNING || e.kind() == KernelEvent.Kind.BUG
                        || e.kind() == KernelEvent.Kind.OOPS) {
                    bad.add(e);
                }
            }
            if (!bad.isEmpty()) {
                violations.add("kernel reports: " + bad.subList(0, Math.min(5, bad.size())));
            }
            if (oopses != expectedOopses) {
                violations.add("oops reports of throwing execute'd tasks: " + oopses + ", throwing runs "
                        + expectedOopses);
            }
        } finally {
            kernel.close();
        }
        System.out.println("ExecutorSoakTest: " + rounds + " rounds, " + tasksSeen + " tasks");
        if (!violations.isEmpty()) {
            System.out.println("ExecutorSoakTest FAILED with seed " + seed);
        }
        assertEquals(List.of(), violations.subList(0, Math.min(20, violations.size())));
    }
}
