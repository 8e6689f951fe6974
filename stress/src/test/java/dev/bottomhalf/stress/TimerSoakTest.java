package dev.bottomhalf.stress;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;

/**
 * Randomised timer soak on a threaded 2-CPU kernel (HZ = 1000, so a jiffy is a millisecond and the
 * {@code cpu/N} threads expire timers by themselves). {@value #WORKERS} task threads, starting on CPU 0
 * and CPU 1 alternately and now and then moving to the other CPU (so timers migrate between the CPUs'
 * bases), run {@code mod_timer}, {@code mod_timer_pending}, {@code timer_reduce}, {@code add_timer}
 * (plain, {@code _on}, {@code _local}, {@code _global}), {@code timer_delete}, {@code timer_delete_sync},
 * {@code timer_delete_sync_try}, {@code msleep} and wheel walks on a pool of {@value #TIMERS} timers
 * with delays of 0..{@value #MAX_DELAY} jiffies. The pool has three parts:
 * <ul>
 * <li>{@value #SHARED} shared timers that every worker operates on (a quarter of them re-arm themselves
 * from their callback);</li>
 * <li>timers owned by one worker each (only that worker arms or deletes them, so it can tell when one is
 * inactive and use {@code add_timer}, which returns nothing);</li>
 * <li>{@value #SHUTDOWN_PER_WORKER} timers per worker that re-arm themselves from their callback and that
 * the worker shuts down ({@code timer_shutdown_sync}) at a random moment of the run.</li>
 * </ul>
 * Pinned, deferrable and IRQ-safe timers are mixed in. Invariants:
 * <ul>
 * <li>a callback never overlaps itself; it runs in serving-softirq context, not in hardirq, with IRQs
 * disabled exactly for {@code TIMER_IRQSAFE} timers, on the CPU whose base holds the timer;</li>
 * <li>every inactive→pending transition is ended by exactly one expiry or one successful delete: per
 * timer, arms = runs + deletes returning 1, exactly. An arm is counted from return values only, which the
 * timer code decides under the base lock, so this holds for the shared timers too: {@code mod_timer} and
 * {@code timer_reduce} return 0 exactly when they found the timer inactive and armed it;
 * {@code mod_timer_pending} never arms an inactive timer; {@code add_timer} (no return value) is only
 * used by a timer's sole owner on a timer it saw inactive; a shutdown timer's callback counts its re-arm
 * only when it returned 0 and left the timer pending (after a shutdown, arming is ignored and also
 * returns 0);</li>
 * <li>after the workers stop, every armed timer that does not re-arm itself and is not deferrable expires
 * on its own (deferrable ones may wait for a busy CPU);</li>
 * <li>when a sync delete of an owned timer returns, its callback is not running and it is not pending
 * (workers also chase expiries: arm an owned timer for the next jiffy, spin until the expiry pass takes it
 * off the wheel, and {@code timer_delete_sync} it while its callback is starting);</li>
 * <li>a {@code mod_timer} from another CPU while the callback runs leaves the timer on the running CPU's
 * base (checked in the chase too: re-armed from the other CPU just as the callback starts);</li>
 * <li>nothing runs a timer after {@code timer_shutdown_sync} returned (its run count is frozen and the
 * callback checks a flag set on return);</li>
 * <li>the wheels stay consistent ({@code Timers.pendingCount} walks them during the run and at the end);
 * at the end, after a {@code timer_delete_sync} of every timer and a short idle, no timer is pending and
 * both CPUs' wheels are empty;</li>
 * <li>no OOPS, BUG or WARNING report; after {@code close()} none of the kernel's threads ({@code cpu/N},
 * {@code ksoftirqd/N}, ...) is alive.</li>
 * </ul>
 * Runs {@code -Dbottomhalf.soak.seconds} seconds (10 by default, 600 with {@code -Psoak}); the seed is
 * printed and the run replays (as far as thread scheduling allows) with {@code -Dbottomhalf.soak.seed}.
 */
class TimerSoakTest {
    private static final int CPUS = 2;
    private static final int WORKERS = 4;
    private static final int SHARED = 40;
    private static final int OWNED_PER_WORKER = 36;
    private static final int SHUTDOWN_PER_WORKER = 4;
    private static final int FIRST_OWNED = SHARED;
    private static final int FIRST_SHUTDOWN = FIRST_OWNED + WORKERS * OWNED_PER_WORKER;
    private static final int TIMERS = FIRST_SHUTDOWN + WORKERS * SHUTDOWN_PER_WORKER;
    private static final int MAX_DELAY = 20;

    private final List<String> violations = new ArrayList<>();
    private final TimerList[] timers = new TimerList[TIMERS];
    private final AtomicLongArray arms = new AtomicLongArray(TIMERS);
    private final AtomicLongArray runs = new AtomicLongArray(TIMERS);
    /** Callback starts, counted before anything else the callback does. */
    private final AtomicLongArray started = new AtomicLongArray(TIMERS);
    private final AtomicLongArray deletes = new AtomicLongArray(TIMERS);
    private final AtomicInteger[] inside = new AtomicInteger[TIMERS];
    /** Set when {@code timer_shutdown_sync} of a shutdown-group timer has returned. */
    private final AtomicIntegerArray shutDown = new AtomicIntegerArray(TIMERS);
    private final long[] runsAtShutdown = new long[TIMERS];
    private final AtomicLongArray opCounts = new AtomicLongArray(16);

    private static boolean isShared(int id) {
        return id < FIRST_OWNED;
    }

    private static boolean isShutdownGroup(int id) {
        return id >= FIRST_SHUTDOWN;
    }

    /** Shared timers that re-arm themselves from their callback (the shutdown group always does). */
    private static boolean rearmsItself(int id) {
        return isShutdownGroup(id) || (isShared(id) && id % 4 == 0);
    }

    private static int flagsOf(int id) {
        return switch (id % 6) {
            case 1 -> TimerList.TIMER_PINNED;
            case 2 -> TimerList.TIMER_DEFERRABLE;
            case 3 -> TimerList.TIMER_IRQSAFE;
            default -> 0;
        };
    }

    private void violation(String what) {
        synchronized (violations) {
            if (violations.size() < 50) {
                violations.add(what);
            }
        }
    }

    @Test
    void timers_keepEveryInvariant() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("TimerSoakTest: seed " + seed + ", " + seconds + " s (replay with -Dbottomhalf.soak.seed="
                + seed + ")");
        try {
            run(seconds, seed);
        } catch (Throwable t) {
            System.out.println("TimerSoakTest FAILED with seed " + seed + " (replay with -Dbottomhalf.soak.seed=" + seed
                    + ")");
            throw t;
        }
    }

    private void run(long seconds, long seed) throws Exception {
        Reporter.Recording reports = Reporter.recording();
        Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(CPUS).irqLines(1).reporter(reports).build());
        Timers tm = kernel.timers();
        List<KernelThread> runtimeThreads;
        try {
            for (int i = 0; i < TIMERS; i++) {
                int id = i;
                inside[i] = new AtomicInteger();
                timers[i] = TimerList.setup("soak" + i, me -> callback(kernel, tm, me, id), flagsOf(i));
            }
            long start = System.nanoTime();
            long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
            SplittableRandom root = new SplittableRandom(seed);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> workers = new ArrayList<>();
            for (int w = 0; w < WORKERS; w++) {
                int worker = w;
                SplittableRandom rnd = root.split();
                long[] shutdownAt = new long[SHUTDOWN_PER_WORKER];
                for (int s = 0; s < SHUTDOWN_PER_WORKER; s++) {
                    shutdownAt[s] = start + (long) ((0.2 + 0.6 * rnd.nextDouble()) * (deadline - start));
                }
                workers.add(Thread.ofPlatform().name("timer-soak-" + w).start(() -> {
                    try {
                        work(kernel, tm, worker, rnd, shutdownAt, deadline, stop);
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                        stop.set(true);
                    } finally {
                        kernel.detachCurrentThread();
                    }
                }));
            }
            for (Thread t : workers) {
                t.join(TimeUnit.SECONDS.toMillis(seconds + 60));
                assertFalse(t.isAlive(), t.getName() + " did not finish (seed " + seed + ")");
            }
            if (failure.get() != null) {
                throw new AssertionError("worker failed (seed " + seed + ")", failure.get());
            }

            // Liveness: with nobody arming any more, every armed timer that does not re-arm itself and is not
            // deferrable expires by itself within its delay (plus scheduling slack).
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            List<Integer> stuck;
            do {
                Thread.sleep(5);
                stuck = new ArrayList<>();
                for (int i = 0; i < TIMERS; i++) {
                    if (!rearmsItself(i) && (flagsOf(i) & TimerList.TIMER_DEFERRABLE) == 0 && timers[i].isPending()) {
                        stuck.add(i);
                    }
                }
            } while (!stuck.isEmpty() && System.nanoTime() < until);
            assertTrue(stuck.isEmpty(), "seed " + seed + ": armed timers that never expired (jiffies "
                    + kernel.jiffies() + "): " + stuck.stream().map(i -> timers[i].toString()).toList());

            // Delete everything (waiting for running callbacks), then let the kernel idle.
            kernel.bindCurrentThread(0);
            for (int i = 0; i < TIMERS; i++) {
                if (!isShutdownGroup(i) && tm.deleteSync(timers[i]) == 1) {
                    deletes.incrementAndGet(i);
                }
            }
            long[] runsAfterDelete = new long[TIMERS];
            for (int i = 0; i < TIMERS; i++) {
                runsAfterDelete[i] = runs.get(i);
            }
            Thread.sleep(50);

            long totalArms = 0;
            long totalRuns = 0;
            long totalDeletes = 0;
            for (int i = 0; i < TIMERS; i++) {
                TimerList t = timers[i];
                assertFalse(t.isPending(), "seed " + seed + ": still pending after timer_delete_sync: " + t);
                assertEquals(0, inside[i].get(), "seed " + seed + ": callback of " + t + " still running");
                assertEquals(runsAfterDelete[i], runs.get(i), "seed " + seed + ": " + t
                        + " ran after its timer_delete_sync returned");
                assertEquals(arms.get(i), runs.get(i) + deletes.get(i), "seed " + seed + ": " + t + ": arms "
                        + arms.get(i) + " != runs " + runs.get(i) + " + deletes " + deletes.get(i));
                if (isShutdownGroup(i)) {
                    assertEquals(1, shutDown.get(i), t + " was never shut down");
                    assertTrue(t.isShutDown(), t.toString());
                    assertEquals(runsAtShutdown[i], runs.get(i), "seed " + seed + ": " + t
                            + " ran after timer_shutdown_sync returned");
                }
                totalArms += arms.get(i);
                totalRuns += runs.get(i);
                totalDeletes += deletes.get(i);
            }
            assertEquals(0, tm.pendingCount(0), "timers left on CPU 0's wheels");
            assertEquals(0, tm.pendingCount(1), "timers left on CPU 1's wheels");
            String[] opNames = {"mod", "mod_pending", "reduce", "add", "add_on/local/global", "delete",
                    "delete_sync", "delete_sync_try", "wheel walk", "migrate", "msleep", "shutdown-group mod",
                    "shutdown_sync", "chase"};
            StringBuilder ops = new StringBuilder();
            for (int op = 0; op < opNames.length; op++) {
                ops.append(op == 0 ? "" : ", ").append(opNames[op]).append('=').append(opCounts.get(op));
            }
            System.out.println("TimerSoakTest: " + totalArms + " arms = " + totalRuns + " runs + " + totalDeletes
                    + " deletes; LOC cpu0=" + tm.localTimerInterrupts(0) + " cpu1=" + tm.localTimerInterrupts(1)
                    + "; ops: " + ops);
            assertTrue(totalRuns > 100, "seed " + seed + ": only " + totalRuns + " callbacks ran: the soak did not"
                    + " exercise expiry");
            synchronized (violations) {
                assertTrue(violations.isEmpty(), "seed " + seed + ": " + violations);
            }
            List<KernelEvent> bad = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                    || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).toList();
            assertTrue(bad.isEmpty(), "seed " + seed + ": kernel reports " + bad);
            kernel.detachCurrentThread();

            runtimeThreads = runtimeThreadsOf(kernel);
            Set<String> names = new TreeSet<>();
            runtimeThreads.forEach(t -> names.add(t.getName()));
            assertTrue(names.containsAll(List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1")),
                    "runtime threads of the kernel: " + names);
        } finally {
            kernel.close();
        }
        List<String> left = new ArrayList<>();
        for (KernelThread t : runtimeThreads) {
            if (t.isAlive()) {
                left.add(t.getName());
            }
        }
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t instanceof KernelThread kt && RuntimeAccess.get().machine(kt.context()) == Internals.machine(kernel) && !left.contains(t.getName())) {
                left.add(t.getName());   // one started after the snapshot
            }
        }
        assertTrue(left.isEmpty(), "runtime threads alive after close (seed " + seed + "): " + left);
    }

    // ------------------------------------------------------------------------------------------
    // The callback
    // ------------------------------------------------------------------------------------------

    private void callback(Kernel kernel, Timers tm, TimerList me, int id) {
        started.incrementAndGet(id);
        if (inside[id].incrementAndGet() != 1) {
            violation("timer " + id + " overlapped itself");
        }
        ExecutionContext ctx = kernel.context();
        if (!ctx.inServingSoftirq() || ctx.inHardirq()) {
            violation("timer " + id + " ran in " + ctx.describe());
        }
        boolean irqsafe = (flagsOf(id) & TimerList.TIMER_IRQSAFE) != 0;
        if (ctx.irqsDisabled() != irqsafe) {
            violation("timer " + id + (irqsafe ? " (IRQSAFE) ran with IRQs enabled" : " ran with IRQs disabled"));
        }
        if (me.cpu() != ctx.cpuId()) {
            violation("timer " + id + " ran on CPU " + ctx.cpuId() + " but its flags name CPU " + me.cpu());
        }
        if (shutDown.get(id) != 0) {
            violation("timer " + id + " ran after timer_shutdown_sync returned");
        }
        runs.incrementAndGet(id);
        for (int i = 0; i < 100; i++) {
            Thread.onSpinWait();            // a window for other CPUs to run, move or delete it meanwhile
        }
        if (rearmsItself(id)) {
            long expires = kernel.jiffies() + (runs.get(id) * 7 + id) % (MAX_DELAY + 1);
            int ret = tm.mod(me, expires);
            if (isShutdownGroup(id)) {
                // Only the owner's mod_timer (it counts its own arms) and its timer_shutdown_sync race with
                // this, and the latter waits for us, so nothing takes the timer off the wheel before we look:
                // 0 and pending = armed here; 0 and not pending = ignored (shut down meanwhile).
                if (ret == 0 && me.isPending()) {
                    arms.incrementAndGet(id);
                }
            } else if (ret == 0) {
                arms.incrementAndGet(id);
            }
        }
        inside[id].decrementAndGet();
    }

    // ------------------------------------------------------------------------------------------
    // The workers
    // ------------------------------------------------------------------------------------------

    private void work(Kernel kernel, Timers tm, int worker, SplittableRandom rnd, long[] shutdownAt, long deadline,
                      AtomicBoolean stop) {
        int cpu = worker % CPUS;
        kernel.bindCurrentThread(cpu);
        int firstOwned = FIRST_OWNED + worker * OWNED_PER_WORKER;
        int firstShutdown = FIRST_SHUTDOWN + worker * SHUTDOWN_PER_WORKER;
        for (int s = 0; s < SHUTDOWN_PER_WORKER; s++) {
            arm(firstShutdown + s, tm.mod(timers[firstShutdown + s], kernel.jiffies() + rnd.nextInt(MAX_DELAY + 1)));
        }
        boolean[] shut = new boolean[SHUTDOWN_PER_WORKER];
        while (!stop.get()) {
            long now = System.nanoTime();
            boolean over = now >= deadline;
            for (int s = 0; s < SHUTDOWN_PER_WORKER; s++) {
                if (!shut[s] && (over || now >= shutdownAt[s])) {
                    shut[s] = true;
                    shutdownSync(tm, firstShutdown + s);
                }
            }
            if (over) {
                return;
            }
            int id = rnd.nextBoolean() ? rnd.nextInt(SHARED) : firstOwned + rnd.nextInt(OWNED_PER_WORKER);
            TimerList t = timers[id];
            long expires = kernel.jiffies() + rnd.nextInt(MAX_DELAY + 1);
            int op = rnd.nextInt(21);
            switch (op) {
                case 0, 1, 2, 3 -> {
                    opCounts.incrementAndGet(0);
                    arm(id, tm.mod(t, expires));
                }
                case 4, 5 -> {
                    opCounts.incrementAndGet(1);
                    tm.modPending(t, expires);         // never arms an inactive timer: nothing to count
                }
                case 6, 7 -> {
                    opCounts.incrementAndGet(2);
                    arm(id, tm.reduce(t, expires));
                }
                case 8, 9 -> {
                    // add_timer returns nothing: only the owner, on a timer it saw inactive (nobody else can
                    // arm it, so it stays inactive until this call arms it).
                    if (!isShared(id) && !t.isPending()) {
                        int variant = rnd.nextInt(4);
                        if (variant != 0) {
                            // add_timer_on / _local / _global change the base without the running-callback
                            // check (as in the kernel): make sure the callback is not running anywhere.
                            if (tm.deleteSync(t) == 1) {
                                deletes.incrementAndGet(id);
                            }
                        }
                        t.expires(expires);
                        switch (variant) {
                            case 0 -> tm.add(t);
                            case 1 -> tm.addOn(t, rnd.nextInt(CPUS));
                            case 2 -> tm.addLocal(t);
                            default -> tm.addGlobal(t);
                        }
                        arms.incrementAndGet(id);
                        opCounts.incrementAndGet(variant == 0 ? 3 : 4);
                    }
                }
                case 10, 11, 12 -> {
                    opCounts.incrementAndGet(5);
                    if (tm.delete(t) == 1) {
                        deletes.incrementAndGet(id);
                    }
                }
                case 13 -> {
                    opCounts.incrementAndGet(6);
                    if (tm.deleteSync(t) == 1) {
                        deletes.incrementAndGet(id);
                    }
                    checkQuiet(id, "timer_delete_sync");
                }
                case 14 -> {
                    opCounts.incrementAndGet(7);
                    int ret = tm.deleteSyncTry(t);
                    if (ret == 1) {
                        deletes.incrementAndGet(id);
                    }
                    if (ret >= 0) {
                        checkQuiet(id, "timer_delete_sync_try");
                    }
                }
                case 15 -> {
                    opCounts.incrementAndGet(8);
                    tm.pendingCount(rnd.nextInt(CPUS));   // throws if a wheel is inconsistent
                }
                case 16 -> {
                    opCounts.incrementAndGet(9);
                    cpu = 1 - cpu;
                    kernel.bindCurrentThread(cpu);
                }
                case 17 -> {
                    if (rnd.nextInt(8) == 0) {
                        opCounts.incrementAndGet(10);
                        tm.msleep(1 + rnd.nextInt(3));
                    }
                }
                case 18 -> chase(kernel, tm, firstOwned + rnd.nextInt(OWNED_PER_WORKER), cpu, rnd.nextBoolean());
                default -> {
                    int s = rnd.nextInt(SHUTDOWN_PER_WORKER);
                    if (!shut[s]) {
                        opCounts.incrementAndGet(11);
                        arm(firstShutdown + s, tm.mod(timers[firstShutdown + s], expires));
                    }
                }
            }
            if (rnd.nextBoolean()) {
                LockSupport.parkNanos(rnd.nextInt(200_000));
            }
        }
    }

    /**
     * After a sync delete of an owned timer (only its owner arms it, so nothing can start its callback
     * again until the owner does): the callback is not running and the timer is not pending.
     */
    private void checkQuiet(int id, String call) {
        if (isShared(id)) {
            return;
        }
        if (inside[id].get() != 0) {
            violation(call + " of timer " + id + " returned while its callback was running");
        }
        if (timers[id].isPending()) {
            violation(call + " of timer " + id + " returned with the timer pending");
        }
    }

    /**
     * Races the expiry of an owned timer: arms it for the next jiffy and waits (spinning) until the expiry
     * pass has taken it off the wheel, which is when its callback starts. Then, half of the time, re-arms it
     * from the other CPU: if the callback ran all through that {@code mod_timer}, the timer must have stayed
     * on the CPU running it (else the next run could overlap this one, and a sync delete would look at the
     * wrong base). Then deletes it with {@code timer_delete_sync}, which must wait for the callback.
     */
    private void chase(Kernel kernel, Timers tm, int id, int cpu, boolean fromOtherCpu) {
        TimerList t = timers[id];
        if (t.isPending() || (flagsOf(id) & TimerList.TIMER_DEFERRABLE) != 0) {
            return;                                 // (a deferrable timer may wait for a busy CPU)
        }
        opCounts.incrementAndGet(13);
        arm(id, tm.mod(t, kernel.jiffies()));
        long limit = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5);
        while (t.isPending() && System.nanoTime() < limit) {
            Thread.onSpinWait();
        }
        if (fromOtherCpu) {
            int runningOn = t.cpu();
            long startedBefore = started.get(id);
            boolean insideBefore = inside[id].get() != 0;
            kernel.bindCurrentThread(1 - cpu);
            arm(id, tm.mod(t, kernel.jiffies() + 1 + id % MAX_DELAY));
            int now = t.cpu();
            if (insideBefore && inside[id].get() != 0 && started.get(id) == startedBefore && now != runningOn) {
                violation("mod_timer from CPU " + (1 - cpu) + " moved timer " + id + " to CPU " + now
                        + " while its callback was running on CPU " + runningOn);
            }
            kernel.bindCurrentThread(cpu);
        }
        if (tm.deleteSync(t) == 1) {
            deletes.incrementAndGet(id);
        }
        checkQuiet(id, "timer_delete_sync (chasing the expiry)");
    }

    /** Counts an arm: {@code mod_timer}/{@code timer_reduce} returned 0 on a timer that is never shut down. */
    private void arm(int id, int ret) {
        if (ret == 0) {
            arms.incrementAndGet(id);
        }
    }

    private void shutdownSync(Timers tm, int id) {
        opCounts.incrementAndGet(12);
        if (tm.shutdownSync(timers[id]) == 1) {
            deletes.incrementAndGet(id);
        }
        runsAtShutdown[id] = runs.get(id);
        shutDown.set(id, 1);
        if (inside[id].get() != 0 || timers[id].isPending()) {
            violation("timer_shutdown_sync of timer " + id + " returned while its callback was running or armed");
        }
    }

    private static List<KernelThread> runtimeThreadsOf(Kernel kernel) {
        List<KernelThread> threads = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t instanceof KernelThread kt && RuntimeAccess.get().machine(kt.context()) == Internals.machine(kernel)) {
                threads.add(kt);
            }
        }
        return threads;
    }
}
