package dev.bottomhalf.stress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * Randomised tasklet soak on a threaded 2-CPU kernel: tasklets scheduled (normal and HI) from hard IRQs,
 * from tasks on both CPUs and from other tasklets, with disable/enable pairs mixed in. Invariants: a
 * callback never overlaps itself; every schedule is followed by a run (after quiescing, each tasklet's
 * latest run started after its latest schedule call began); after the final {@code tasklet_kill} of a
 * tasklet nothing runs it again; no OOPS/BUG/WARNING. Length: {@code -Dbottomhalf.soak.seconds}
 * (10 by default, 600 with {@code -Psoak}), seed printed and replayable with {@code -Dbottomhalf.soak.seed}.
 */
class TaskletSoakTest {
    private static final int N = 16;

    @Test
    void tasklets_keepEveryInvariant() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("TaskletSoakTest: seed " + seed + ", " + seconds + " s");
        Reporter.Recording reports = Reporter.recording();
        Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(4).reporter(reports).build());
        List<String> violations = new ArrayList<>();
        try {
            AtomicLongArray scheduled = new AtomicLongArray(N);   // schedule calls begun
            AtomicLongArray seenAtRun = new AtomicLongArray(N);   // schedule calls begun before the latest run
            AtomicLongArray runs = new AtomicLongArray(N);
            AtomicInteger[] inside = new AtomicInteger[N];
            Tasklet[] ts = new Tasklet[N];
            for (int i = 0; i < N; i++) {
                int id = i;
                inside[i] = new AtomicInteger();
                ts[i] = Tasklet.setup("soak" + i, me -> {
                    if (inside[id].incrementAndGet() != 1) {
                        synchronized (violations) {
                            violations.add("tasklet " + id + " overlapped itself");
                        }
                    }
                    seenAtRun.accumulateAndGet(id, scheduled.get(id), Math::max);
                    runs.incrementAndGet(id);
                    if (id % 4 == 0) {                  // tasklets schedule other tasklets
                        schedule(kernel, ts, scheduled, (id + 1) % N, id % 8 == 0);
                    }
                    inside[id].decrementAndGet();
                });
            }
            for (int line = 1; line <= 2; line++) {
                int l = line;
                kernel.irqs().request(line, (irq, dev) -> {
                    schedule(kernel, ts, scheduled, (int) (System.nanoTime() % N + N) % N, l == 2);
                    return IrqReturn.HANDLED;
                }, Set.of(), "soak" + line, "d" + line);
                kernel.irqs().setAffinity(line, line - 1);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            SplittableRandom root = new SplittableRandom(seed);
            List<Thread> producers = new ArrayList<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            for (int p = 0; p < 3; p++) {
                SplittableRandom rnd = root.split();
                producers.add(Thread.ofPlatform().name("tasklet-soak-" + p).start(() -> {
                    try {
                        while (System.nanoTime() < deadline) {
                            ExecutionContext ctx = kernel.bindCurrentThread(rnd.nextInt(2));
                            int id = rnd.nextInt(N);
                            switch (rnd.nextInt(6)) {
                                case 0, 1 -> schedule(kernel, ts, scheduled, id, rnd.nextBoolean());
                                case 2 -> kernel.irqs().assertIrq(1 + rnd.nextInt(2));
                                case 3 -> {
                                    kernel.tasklets().disableNosync(ts[id]);
                                    schedule(kernel, ts, scheduled, id, false);
                                    Thread.onSpinWait();
                                    kernel.tasklets().enable(ts[id]);
                                }
                                case 4 -> {
                                    ctx.localBhDisable();
                                    schedule(kernel, ts, scheduled, id, true);
                                    ctx.localBhEnable();
                                }
                                default -> Thread.yield();
                            }
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            for (Thread t : producers) {
                t.join(TimeUnit.SECONDS.toMillis(seconds + 30));
                assertFalse(t.isAlive());
            }
            if (failure.get() != null) {
                throw new AssertionError("seed " + seed, failure.get());
            }
            // Quiesce: wait until every tasklet's latest run covers its latest schedule.
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            boolean quiet = false;
            while (!quiet && System.nanoTime() < until) {
                quiet = true;
                for (int i = 0; i < N; i++) {
                    quiet &= seenAtRun.get(i) >= scheduled.get(i) && !ts[i].isScheduled();
                }
                Thread.sleep(5);
            }
            for (int i = 0; i < N; i++) {
                assertTrue(seenAtRun.get(i) >= scheduled.get(i), "seed " + seed + ": tasklet " + i + " scheduled "
                        + scheduled.get(i) + " times, latest run saw " + seenAtRun.get(i) + " " + ts[i]);
                assertEquals(0, ts[i].disableCount());
            }
            // Final kill: nothing runs a killed tasklet again (nobody schedules them any more).
            kernel.bindCurrentThread(0);
            long[] atKill = new long[N];
            for (int i = 0; i < N; i++) {
                kernel.tasklets().kill(ts[i]);
            }
            for (int i = 0; i < N; i++) {
                atKill[i] = runs.get(i);
                assertFalse(ts[i].isScheduled() || ts[i].isRunning(), ts[i].toString());
            }
            Thread.sleep(50);
            for (int i = 0; i < N; i++) {
                assertEquals(atKill[i], runs.get(i), "tasklet " + i + " ran after tasklet_kill returned");
            }
            synchronized (violations) {
                assertTrue(violations.isEmpty(), "seed " + seed + ": " + violations);
            }
            List<KernelEvent> bad = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                    || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).toList();
            assertTrue(bad.isEmpty(), "seed " + seed + ": " + bad);
            kernel.detachCurrentThread();
        } finally {
            kernel.close();
        }
    }

    private static void schedule(Kernel kernel, Tasklet[] ts, AtomicLongArray scheduled, int id, boolean hi) {
        scheduled.incrementAndGet(id);
        if (hi) {
            kernel.tasklets().hiSchedule(ts[id]);
        } else {
            kernel.tasklets().schedule(ts[id]);
        }
    }
}
