package dev.bottomhalf.stress;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.runtime.Reporter;

/**
 * Randomised soak of the foundation on a threaded 2-CPU kernel. Producer threads, each re-binding to a
 * random CPU before every step, assert IRQ lines (two plain lines whose handlers raise softirqs, a shared
 * line with two handlers, a threaded ONESHOT line whose thread raises a softirq) while the lines'
 * affinities flip; raise softirqs from task context, from hard-IRQ handlers and from cross-CPU calls; sit
 * in BH-disabled and IRQ-disabled sections; and disable/enable lines, both {@code disable_irq_nosync} and
 * the synchronous {@code disable_irq}.
 *
 * <p>The run is cut into epochs of 10-100 ms. At the end of each epoch the producers wait while the test
 * thread quiesces the kernel (every pending bit, latched interrupt and replay drained, the state stable over
 * several polls) and checks that nothing was lost so far, so a lost raise or interrupt cannot hide behind
 * a later one. Invariants, checked while running, after every epoch and at the end:
 * <ul>
 * <li>no handler (hard handler, each sharer, thread function) ever runs concurrently with itself; the hard
 * handler of the ONESHOT line never runs while its thread function does (the line stays masked); after
 * {@code disable_irq} returns no handler of the line is running;</li>
 * <li>every raise is followed by a run of that vector on that CPU: per CPU and vector, the raise count
 * read by the latest run is the total raise count (no raise newer than the last run), and the vector's
 * {@code /proc/softirqs} count is at least 1 where it was raised;</li>
 * <li>softirq handlers run in serving-softirq context, never in hardirq, on the CPU they were raised on;</li>
 * <li>per CPU, softirq handlers and BH-disabled task sections never overlap, and hard handlers and
 * IRQ-disabled task sections never overlap (a plain counter bumped inside each equals an atomic one);</li>
 * <li>the {@code /proc/interrupts} total of every line equals the invocations each of its handlers
 * recorded;</li>
 * <li>no OOPS, BUG or WARNING report; after {@code close()} none of the kernel's {@code cpu/N},
 * {@code ksoftirqd/N} and {@code irq/L-name} threads is alive.</li>
 * </ul>
 * Throughout the run a chaos thread ({@link InterruptChaos}) interrupts random runtime threads of the kernel
 * ({@code cpu/N}, {@code ksoftirqd/N}, the IRQ thread) and random producers at random times. Kernel threads
 * ignore interrupts, so every invariant above holds unchanged; in addition no call of the kernel clears the
 * interrupt status of the producer that made it, and at the end — the chaos stopped after one last interrupt of
 * every runtime thread, the kernel quiesced — the idle runtime threads together use less than 5 % of a core over
 * 300 ms (an interrupted thread that does not clear its status before it parks would spin).
 * Runs {@code -Dbottomhalf.soak.seconds} seconds (10 by default, 600 with {@code -Psoak}); the seed is
 * printed and the run replays (as far as thread scheduling allows) with {@code -Dbottomhalf.soak.seed}.
 */
class SoakTest {
    private static final int CPUS = 2;
    private static final int PRODUCERS = 6;
    private static final int[] PLAIN_LINES = {3, 4};
    private static final int SHARED_LINE = 5;
    private static final int ONESHOT_LINE = 6;
    private static final int[] LINES = {PLAIN_LINES[0], PLAIN_LINES[1], SHARED_LINE, ONESHOT_LINE};
    private static final int[] VECTORS = {10, 11, 12};   // user vectors

    // Handler ids for the in-flight flags and invocation counters.
    private static final int H_PLAIN_0 = 0;
    private static final int H_PLAIN_1 = 1;
    private static final int H_SHARER_0 = 2;
    private static final int H_SHARER_1 = 3;
    private static final int H_ONESHOT_HARD = 4;
    private static final int H_ONESHOT_THREAD = 5;
    private static final String[] HANDLER_NAMES = {"soak3", "soak4", "shared0", "shared1", "oneshot (hard)",
            "oneshot (thread)"};
    private static final long IDLE_WINDOW_MS = 300;
    /** The idle kernel's runtime threads together: less than 5 % of one core over the window. */
    private static final double IDLE_CPU_FRACTION = 0.05;

    private final List<String> violations = new ArrayList<>();
    private final AtomicBoolean[] inFlight = new AtomicBoolean[HANDLER_NAMES.length];
    private final AtomicLongArray calls = new AtomicLongArray(HANDLER_NAMES.length);
    /** raised[cpu * 32 + v]: raises begun; seenAtRun[...]: the raise count the latest run of v on cpu read first. */
    private final AtomicLongArray raised = new AtomicLongArray(CPUS * 32);
    private final AtomicLongArray seenAtRun = new AtomicLongArray(CPUS * 32);
    /** Bumped only by the holder of the CPU's BH level (plain) and alongside atomically. */
    private final long[] bhPlain = new long[CPUS];
    private final AtomicLongArray bhAtomic = new AtomicLongArray(CPUS);
    /** Bumped only by the holder of the CPU's IRQ level (plain) and alongside atomically. */
    private final long[] irqPlain = new long[CPUS];
    private final AtomicLongArray irqAtomic = new AtomicLongArray(CPUS);

    {
        for (int i = 0; i < inFlight.length; i++) {
            inFlight[i] = new AtomicBoolean();
        }
    }

    @Test
    void soak_keepsEveryInvariant() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("SoakTest: seed " + seed + ", " + seconds + " s (replay with -Dbottomhalf.soak.seed=" + seed + ")");
        try {
            run(seconds, seed);
        } catch (Throwable t) {
            System.out.println("SoakTest FAILED with seed " + seed + " (replay with -Dbottomhalf.soak.seed=" + seed + ")");
            throw t;
        }
    }

    private void run(long seconds, long seed) throws Exception {
        Reporter.Recording reports = Reporter.recording();
        Set<Thread> watchdogsBefore = InterruptChaos.threadsNamed("watchdog");
        Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(CPUS).irqLines(8)
                .idleStrategy(IdleStrategy.defaultStrategy()).reporter(reports).build());
        Set<Thread> watchdogs = InterruptChaos.threadsNamed("watchdog");
        watchdogs.removeAll(watchdogsBefore);
        List<KernelThread> runtimeThreads;
        SplittableRandom root = new SplittableRandom(seed);
        InterruptChaos chaos = new InterruptChaos(Internals.machine(kernel), root.split(), TimeUnit.MICROSECONDS.toNanos(50),
                TimeUnit.MICROSECONDS.toNanos(1_000));
        if (!CloseSoakTest.GUARD_WATCHDOG_SAMPLER_NOT_INTERRUPTED) {
            watchdogs.forEach(chaos::addTarget);
        }
        try {
            install(kernel);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            SplittableRandom epochs = root.split();
            // Epochs: the producers run for 10-100 ms, then wait at the barrier while this thread quiesces
            // the kernel and checks; a lost raise or interrupt cannot hide behind a later one across a check.
            CyclicBarrier barrier = new CyclicBarrier(PRODUCERS + 1);
            AtomicLong epochEnd = new AtomicLong(System.nanoTime() + epochNanos(epochs));
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> producers = new ArrayList<>();
            AtomicReference<Throwable> producerFailure = new AtomicReference<>();
            for (int p = 0; p < PRODUCERS; p++) {
                SplittableRandom rnd = root.split();
                InterruptChaos.Gate[] gate = new InterruptChaos.Gate[1];
                Thread producer = Thread.ofPlatform().name("soak-producer-" + p).unstarted(() -> {
                    try {
                        while (true) {
                            gate[0].open();
                            produce(kernel, rnd, epochEnd.get());
                            gate[0].closeAndClear();    // no interrupt of the chaos may break the barrier
                            barrier.await();            // epoch over
                            barrier.await();            // checked; next epoch set up
                            if (stop.get()) {
                                return;
                            }
                        }
                    } catch (BrokenBarrierException | InterruptedException e) {
                        // the test thread gave up; it reports why
                    } catch (Throwable e) {
                        producerFailure.compareAndSet(null, e);
                        barrier.reset();
                    } finally {
                        gate[0].closeAndClear();
                        kernel.detachCurrentThread();
                    }
                });
                gate[0] = chaos.gate(producer);
                producers.add(producer);
            }
            chaos.start("soak-interrupt-chaos");
            producers.forEach(Thread::start);
            int epoch = 0;
            try {
                while (true) {
                    awaitProducers(barrier, producerFailure, seed, kernel);
                    epoch++;
                    quiesce(kernel, seed);
                    checkEpoch(kernel, seed, epoch);
                    if (System.nanoTime() >= deadline) {
                        stop.set(true);
                        awaitProducers(barrier, producerFailure, seed, kernel);
                        break;
                    }
                    epochEnd.set(System.nanoTime() + epochNanos(epochs));
                    awaitProducers(barrier, producerFailure, seed, kernel);
                }
            } finally {
                barrier.reset();    // releases producers still waiting if a check failed
            }
            for (Thread t : producers) {
                t.join(TimeUnit.SECONDS.toMillis(30));
                assertFalse(t.isAlive(), t.getName() + " did not finish (seed " + seed + "): " + state(kernel));
            }
            if (producerFailure.get() != null) {
                throw new AssertionError("producer failed (seed " + seed + ")", producerFailure.get());
            }
            for (int line : LINES) {
                assertEquals(0, kernel.irqs().depth(line), "line " + line + " depth (seed " + seed + ")");
            }
            System.out.println("SoakTest: " + epoch + " epochs");

            quiesce(kernel, seed);
            chaos.stop();
            System.out.println("SoakTest: " + summary(kernel));
            System.out.println("SoakTest: interrupts sent " + chaos.sentByKind() + ", calls made with the caller's"
                    + " interrupt pending " + callsWithInterruptPending.get());

            synchronized (violations) {
                assertTrue(violations.isEmpty(), "seed " + seed + ": " + violations);
            }
            checkCounts(kernel, seed);
            List<KernelEvent> bad = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                    || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).toList();
            assertTrue(bad.isEmpty(), "seed " + seed + ": kernel reports " + bad);

            checkIdleCpu(kernel, chaos, watchdogs, seed);
            runtimeThreads = runtimeThreadsOf(kernel);
            Set<String> names = new TreeSet<>();
            runtimeThreads.forEach(t -> names.add(t.getName()));
            assertEquals(new TreeSet<>(List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1", "irq/6-oneshot")), names,
                    "runtime threads of the kernel");
        } finally {
            chaos.stop();
            kernel.close();
        }
        List<String> left = new ArrayList<>();
        for (KernelThread t : runtimeThreads) {
            if (t.isAlive()) {
                left.add(t.getName());
            }
        }
        assertTrue(left.isEmpty(), "runtime threads alive after close (seed " + seed + "): " + left);
        for (KernelThread t : runtimeThreads) {
            assertTrue(t.getName().matches("cpu/\\d+|ksoftirqd/\\d+|irq/\\d+-.+"), t.getName());
        }
    }

    // ------------------------------------------------------------------------------------------
    // Handlers
    // ------------------------------------------------------------------------------------------

    private void install(Kernel kernel) {
        for (int v : VECTORS) {
            kernel.softirqs().open(v, "SOAK" + v, () -> {
                ExecutionContext ctx = kernel.context();
                if (!ctx.inServingSoftirq() || ctx.inHardirq()) {
                    violation("softirq " + v + " ran in " + ctx);
                }
                int cpu = ctx.cpuId();
                if (RuntimeAccess.get().cpu(ctx).bhLevelOwner() != ctx) {
                    violation("softirq " + v + " ran on CPU " + cpu + " without its BH level: " + RuntimeAccess.get().cpu(ctx).bhLevelOwner());
                }
                // everything raised on this CPU before this run started is covered by it
                seenAtRun.accumulateAndGet(cpu * 32 + v, raised.get(cpu * 32 + v), Math::max);
                bhPlain[cpu]++;
                bhAtomic.incrementAndGet(cpu);
            });
        }
        for (int i = 0; i < PLAIN_LINES.length; i++) {
            int id = i == 0 ? H_PLAIN_0 : H_PLAIN_1;
            kernel.irqs().request(PLAIN_LINES[i], (irq, dev) -> {
                enter(id);
                inHardirq(kernel, id);
                raiseCounted(kernel, VECTORS[irq % VECTORS.length]);
                exit(id);
                return IrqReturn.HANDLED;
            }, Set.of(), "soak" + PLAIN_LINES[i], "dev" + PLAIN_LINES[i]);
        }
        for (int s = 0; s < 2; s++) {
            int id = s == 0 ? H_SHARER_0 : H_SHARER_1;
            kernel.irqs().request(SHARED_LINE, (irq, dev) -> {
                enter(id);
                inHardirq(kernel, id);
                exit(id);
                return IrqReturn.HANDLED;
            }, EnumSet.of(IrqFlag.SHARED), "shared" + s, "sharer" + s);
        }
        kernel.irqs().requestThreaded(ONESHOT_LINE, (irq, dev) -> {
            enter(H_ONESHOT_HARD);
            if (inFlight[H_ONESHOT_THREAD].get()) {
                violation("ONESHOT hard handler ran while its thread function was running (line not masked)");
            }
            inHardirq(kernel, H_ONESHOT_HARD);
            exit(H_ONESHOT_HARD);
            return IrqReturn.WAKE_THREAD;
        }, (irq, dev) -> {
            enter(H_ONESHOT_THREAD);
            calls.incrementAndGet(H_ONESHOT_THREAD);
            ExecutionContext ctx = kernel.context();
            if (ctx.inInterrupt() || ctx.irqsDisabled()) {
                violation("thread function ran in " + ctx);
            }
            raiseCounted(kernel, VECTORS[0]);
            exit(H_ONESHOT_THREAD);
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.ONESHOT), "oneshot", "dev6");
    }

    /** Common checks and accounting of a hard handler: hardirq context, IRQ level owned, counters. */
    private void inHardirq(Kernel kernel, int id) {
        calls.incrementAndGet(id);
        ExecutionContext ctx = kernel.context();
        if (!ctx.inHardirq() || !ctx.irqsDisabled()) {
            violation(HANDLER_NAMES[id] + " ran in " + ctx);
        }
        int cpu = ctx.cpuId();
        if (RuntimeAccess.get().cpu(ctx).irqLevelOwner() != ctx) {
            violation(HANDLER_NAMES[id] + " ran on CPU " + cpu + " without its IRQ level: " + RuntimeAccess.get().cpu(ctx).irqLevelOwner());
        }
        irqPlain[cpu]++;
        irqAtomic.incrementAndGet(cpu);
    }

    /** Raises {@code v} on the calling context's CPU, counting the raise first. */
    private void raiseCounted(Kernel kernel, int v) {
        ExecutionContext ctx = kernel.context();
        raised.incrementAndGet(ctx.cpuId() * 32 + v);
        kernel.softirqs().raise(v);
    }

    private void enter(int id) {
        if (!inFlight[id].compareAndSet(false, true)) {
            violation(HANDLER_NAMES[id] + " ran concurrently with itself");
        }
    }

    private void exit(int id) {
        inFlight[id].set(false);
    }

    private void violation(String what) {
        synchronized (violations) {
            if (violations.size() < 20) {
                violations.add(what);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Producers
    // ------------------------------------------------------------------------------------------

    private void produce(Kernel kernel, SplittableRandom rnd, long deadline) {
        while (System.nanoTime() < deadline) {
            boolean interruptedBefore = Thread.currentThread().isInterrupted();
            if (interruptedBefore) {
                callsWithInterruptPending.incrementAndGet();
            }
            produceOne(kernel, rnd);
            if (interruptedBefore && !Thread.currentThread().isInterrupted()) {
                violation("a producer's call cleared its interrupt status (kernel calls must keep a task's pending signal)");
            }
        }
    }

    private final AtomicLong callsWithInterruptPending = new AtomicLong();

    /** One random step of a producer. */
    private void produceOne(Kernel kernel, SplittableRandom rnd) {
        ExecutionContext ctx = kernel.bindCurrentThread(rnd.nextInt(CPUS));
        int cpu = ctx.cpuId();
        int line = LINES[rnd.nextInt(LINES.length)];
        switch (rnd.nextInt(14)) {
            case 0, 1, 2, 3 -> kernel.irqs().assertIrq(line);
            case 4, 5 -> raiseCounted(kernel, VECTORS[rnd.nextInt(VECTORS.length)]);
            case 6, 7 -> {
                ctx.localBhDisable();
                if (RuntimeAccess.get().cpu(ctx).bhLevelOwner() != ctx) {
                    violation("BH-disabled task does not own CPU " + cpu + "'s BH level");
                }
                bhPlain[cpu]++;
                bhAtomic.incrementAndGet(cpu);
                raiseCounted(kernel, VECTORS[rnd.nextInt(VECTORS.length)]);
                kernel.irqs().assertIrq(line);
                spin(rnd.nextInt(2000));
                ctx.localBhEnable();
            }
            case 8 -> {
                long flags = ctx.localIrqSave();
                if (RuntimeAccess.get().cpu(ctx).irqLevelOwner() != ctx) {
                    violation("IRQ-disabled task does not own CPU " + cpu + "'s IRQ level");
                }
                irqPlain[cpu]++;
                irqAtomic.incrementAndGet(cpu);
                kernel.irqs().assertIrq(line);
                spin(rnd.nextInt(500));
                ctx.localIrqRestore(flags);
            }
            case 9 -> {
                kernel.irqs().disableNosync(line);
                kernel.irqs().assertIrq(line);
                spin(rnd.nextInt(1000));
                kernel.irqs().enable(line);
            }
            case 10 -> {
                kernel.irqs().disable(line);   // waits for running handlers and threads
                for (int id : handlersOf(line)) {
                    if (inFlight[id].get()) {
                        violation(HANDLER_NAMES[id] + " still running after disable_irq(" + line + ") returned");
                    }
                }
                kernel.irqs().assertIrq(line);
                kernel.irqs().enable(line);
            }
            case 11 -> kernel.irqs().setAffinity(line, rnd.nextInt(CPUS));
            case 12 -> {
                int target = rnd.nextInt(CPUS);
                int v = VECTORS[rnd.nextInt(VECTORS.length)];
                kernel.smpCallFunctionSingle(target, () -> raiseCounted(kernel, v), rnd.nextBoolean());
            }
            default -> Thread.yield();
        }
    }

    /**
     * The idle check: one last interrupt of every runtime thread (the chaos stopped), the kernel quiesced again,
     * then the CPU time its runtime threads use over {@link #IDLE_WINDOW_MS} must stay under
     * {@link #IDLE_CPU_FRACTION} of a core.
     */
    private void checkIdleCpu(Kernel kernel, InterruptChaos chaos, Set<Thread> watchdogs, long seed)
            throws InterruptedException {
        chaos.interruptAllRuntimeThreads();
        quiesce(kernel, seed);
        Thread.sleep(20); // spin phases of the idle strategies end
        List<Thread> threads = new ArrayList<>(InterruptChaos.runtimeThreads(Internals.machine(kernel)));
        threads.addAll(watchdogs);
        Map<String, Long> used = InterruptChaos.cpuNanosOver(threads, IDLE_WINDOW_MS);
        long total = used.values().stream().mapToLong(Long::longValue).sum();
        long bound = (long) (TimeUnit.MILLISECONDS.toNanos(IDLE_WINDOW_MS) * IDLE_CPU_FRACTION);
        Map<String, Long> micros = new TreeMap<>();
        used.forEach((k, v) -> micros.put(k, v / 1000));
        System.out.println("SoakTest: idle runtime threads used " + total / 1000 + " µs of CPU in " + IDLE_WINDOW_MS
                + " ms (bound " + bound / 1000 + " µs): " + micros);
        assertTrue(total < bound, "seed " + seed + ": the idle kernel's runtime threads used " + total / 1000
                + " µs of CPU in " + IDLE_WINDOW_MS + " ms after the last interrupts: " + micros);
    }

    private static int[] handlersOf(int line) {
        return switch (line) {
            case 3 -> new int[] {H_PLAIN_0};
            case 4 -> new int[] {H_PLAIN_1};
            case SHARED_LINE -> new int[] {H_SHARER_0, H_SHARER_1};
            case ONESHOT_LINE -> new int[] {H_ONESHOT_HARD, H_ONESHOT_THREAD};
            default -> throw new IllegalArgumentException("line " + line);
        };
    }

    private static void spin(int iterations) {
        for (int i = 0; i < iterations; i++) {
            Thread.onSpinWait();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Quiescing and the final checks
    // ------------------------------------------------------------------------------------------

    /**
     * Waits until nothing is pending or running and every counter agrees, and stays so over three polls
     * 1 ms apart (a latched interrupt or a replay would change the counters in between).
     */
    private void quiesce(Kernel kernel, long seed) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String last = null;
        int stable = 0;
        while (stable < 3) {
            String now = quiescentSnapshot(kernel);
            if (now != null && now.equals(last)) {
                stable++;
            } else {
                stable = 0;
            }
            last = now;
            if (System.nanoTime() > deadline) {
                fail("timed out after 30 s waiting for the kernel to quiesce (seed " + seed + "): " + state(kernel));
            }
            Thread.sleep(1);
        }
    }

    /** A snapshot of every counter when the kernel looks quiescent, or null when it does not. */
    private String quiescentSnapshot(Kernel kernel) {
        StringBuilder sb = new StringBuilder();
        for (int cpu = 0; cpu < CPUS; cpu++) {
            if (Internals.machine(kernel).cpu(cpu).softirqPending() != 0 || Internals.machine(kernel).cpu(cpu).bhLevelOwner() != null
                    || Internals.machine(kernel).cpu(cpu).irqLevelOwner() != null) {
                return null;
            }
            for (int v : VECTORS) {
                long r = raised.get(cpu * 32 + v);
                if (seenAtRun.get(cpu * 32 + v) < r) {
                    return null;
                }
                sb.append(r).append(',');
            }
        }
        for (int line : LINES) {
            if (kernel.irqs().isMasked(line) || kernel.irqs().isReplayPending(line)) {
                return null;
            }
            sb.append(kernel.irqs().totalCount(line)).append(',');
        }
        for (int id = 0; id < HANDLER_NAMES.length; id++) {
            if (inFlight[id].get()) {
                return null;
            }
            sb.append(calls.get(id)).append(',');
        }
        return sb.toString();
    }

    private static long epochNanos(SplittableRandom rnd) {
        return TimeUnit.MILLISECONDS.toNanos(10 + rnd.nextInt(91));
    }

    private void awaitProducers(CyclicBarrier barrier, AtomicReference<Throwable> producerFailure, long seed, Kernel kernel)
            throws InterruptedException {
        try {
            barrier.await(60, TimeUnit.SECONDS);
        } catch (BrokenBarrierException | TimeoutException e) {
            if (producerFailure.get() != null) {
                throw new AssertionError("producer failed (seed " + seed + ")", producerFailure.get());
            }
            throw new AssertionError("producers did not reach the end of the epoch (seed " + seed + "): " + state(kernel), e);
        }
    }

    /** The checks between epochs: nothing lost so far, no violation, counters agree. */
    private void checkEpoch(Kernel kernel, long seed, int epoch) {
        synchronized (violations) {
            assertTrue(violations.isEmpty(), "seed " + seed + ", epoch " + epoch + ": " + violations);
        }
        for (int cpu = 0; cpu < CPUS; cpu++) {
            for (int v : VECTORS) {
                assertTrue(seenAtRun.get(cpu * 32 + v) >= raised.get(cpu * 32 + v), "seed " + seed + ", epoch " + epoch
                        + ": CPU " + cpu + " vector " + v + " has a raise newer than its last run");
            }
        }
        assertEquals(calls.get(H_PLAIN_0), kernel.irqs().totalCount(PLAIN_LINES[0]), "epoch " + epoch);
        assertEquals(calls.get(H_PLAIN_1), kernel.irqs().totalCount(PLAIN_LINES[1]), "epoch " + epoch);
        assertEquals(calls.get(H_SHARER_0), kernel.irqs().totalCount(SHARED_LINE), "epoch " + epoch);
        assertEquals(calls.get(H_SHARER_1), kernel.irqs().totalCount(SHARED_LINE), "epoch " + epoch);
        assertEquals(calls.get(H_ONESHOT_HARD), kernel.irqs().totalCount(ONESHOT_LINE), "epoch " + epoch);
    }

    private void checkCounts(Kernel kernel, long seed) {
        // /proc/interrupts totals against what the handlers counted
        Map<Integer, Long> procTotals = parseProcInterrupts(kernel.proc().interrupts());
        long[] expected = new long[8];
        expected[PLAIN_LINES[0]] = calls.get(H_PLAIN_0);
        expected[PLAIN_LINES[1]] = calls.get(H_PLAIN_1);
        expected[SHARED_LINE] = calls.get(H_SHARER_0);
        expected[ONESHOT_LINE] = calls.get(H_ONESHOT_HARD);
        assertEquals(calls.get(H_SHARER_0), calls.get(H_SHARER_1), "both sharers see every interrupt (seed " + seed + ")");
        for (int line : LINES) {
            assertTrue(expected[line] > 0, "line " + line + " never fired (seed " + seed + ")");
            assertEquals(expected[line], procTotals.getOrDefault(line, -1L),
                    "/proc/interrupts total of line " + line + " vs handler invocations (seed " + seed + ")");
            assertEquals(expected[line], kernel.irqs().totalCount(line), "kstat of line " + line);
        }
        assertTrue(calls.get(H_ONESHOT_THREAD) > 0, "the threaded handler never ran (seed " + seed + ")");
        assertTrue(calls.get(H_ONESHOT_THREAD) <= calls.get(H_ONESHOT_HARD),
                "more thread runs than wake-ups (seed " + seed + ")");
        // softirqs: every raised vector ran on that CPU, /proc/softirqs agrees
        String procSoftirqs = kernel.proc().softirqs();
        for (int cpu = 0; cpu < CPUS; cpu++) {
            for (int v : VECTORS) {
                long r = raised.get(cpu * 32 + v);
                assertTrue(seenAtRun.get(cpu * 32 + v) >= r, "CPU " + cpu + " vector " + v + ": a raise newer than its last run");
                if (r > 0) {
                    assertTrue(kernel.softirqs().count(cpu, v) > 0, "vector " + v + " raised on CPU " + cpu
                            + " never ran (seed " + seed + ")");
                    assertTrue(procSoftirqCount(procSoftirqs, "SOAK" + v, cpu) > 0, "/proc/softirqs SOAK" + v + " CPU" + cpu
                            + ":\n" + procSoftirqs);
                }
            }
        }
        // exclusion counters: read them as the levels' owner, which orders them after every bump
        for (int cpu = 0; cpu < CPUS; cpu++) {
            ExecutionContext me = kernel.bindCurrentThread(cpu);
            me.localBhDisable();
            long bh = bhPlain[cpu];
            me.localBhEnable();
            long flags = me.localIrqSave();
            long irq = irqPlain[cpu];
            me.localIrqRestore(flags);
            assertEquals(bhAtomic.get(cpu), bh, "CPU " + cpu + ": softirq handlers and BH-disabled sections overlapped"
                    + " (seed " + seed + ")");
            assertEquals(irqAtomic.get(cpu), irq, "CPU " + cpu + ": hard handlers and IRQ-disabled sections overlapped"
                    + " (seed " + seed + ")");
        }
        kernel.detachCurrentThread();
    }

    private static Map<Integer, Long> parseProcInterrupts(String text) {
        Map<Integer, Long> totals = new HashMap<>();
        for (String row : text.split("\n")) {
            String[] f = row.trim().split("\\s+");
            if (f.length < CPUS + 1 || !f[0].matches("\\d+:")) {
                continue;
            }
            long sum = 0;
            for (int cpu = 0; cpu < CPUS; cpu++) {
                sum += Long.parseLong(f[1 + cpu]);
            }
            totals.put(Integer.parseInt(f[0].substring(0, f[0].length() - 1)), sum);
        }
        return totals;
    }

    private static long procSoftirqCount(String text, String name, int cpu) {
        for (String row : text.split("\n")) {
            String[] f = row.trim().split("\\s+");
            if (f.length > cpu + 1 && f[0].equals(name + ":")) {
                return Long.parseLong(f[1 + cpu]);
            }
        }
        return -1;
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

    private String summary(Kernel kernel) {
        StringBuilder sb = new StringBuilder("handler calls");
        for (int id = 0; id < HANDLER_NAMES.length; id++) {
            sb.append(id == 0 ? " " : ", ").append(HANDLER_NAMES[id]).append('=').append(calls.get(id));
        }
        long raises = 0;
        for (int i = 0; i < raised.length(); i++) {
            raises += raised.get(i);
        }
        sb.append("; softirq raises ").append(raises).append(", BH sections+runs ").append(bhAtomic)
                .append(", IRQ sections+hard handlers ").append(irqAtomic);
        for (int cpu = 0; cpu < CPUS; cpu++) {
            sb.append(", ksoftirqd/").append(cpu).append(" batches ").append(kernel.softirqs().ksoftirqdRuns(cpu));
        }
        return sb.toString();
    }

    private String state(Kernel kernel) {
        StringBuilder sb = new StringBuilder();
        for (int cpu = 0; cpu < CPUS; cpu++) {
            sb.append("CPU").append(cpu).append(" pending=").append(Integer.toHexString(Internals.machine(kernel).cpu(cpu).softirqPending()))
                    .append(" ksoftirqd woken=").append(kernel.softirqs().ksoftirqdWoken(cpu))
                    .append(" bh owner=").append(Internals.machine(kernel).cpu(cpu).bhLevelOwner())
                    .append(" irq owner=").append(Internals.machine(kernel).cpu(cpu).irqLevelOwner());
            for (int v : VECTORS) {
                sb.append(" v").append(v).append(" raised=").append(raised.get(cpu * 32 + v))
                        .append(" seen=").append(seenAtRun.get(cpu * 32 + v));
            }
            sb.append("; ");
        }
        for (int line : LINES) {
            sb.append("line ").append(line).append(" depth=").append(kernel.irqs().depth(line))
                    .append(" masked=").append(kernel.irqs().isMasked(line))
                    .append(" replay=").append(kernel.irqs().isReplayPending(line))
                    .append(" count=").append(kernel.irqs().totalCount(line)).append("; ");
        }
        for (int id = 0; id < HANDLER_NAMES.length; id++) {
            sb.append(HANDLER_NAMES[id]).append(" calls=").append(calls.get(id))
                    .append(inFlight[id].get() ? " IN FLIGHT" : "").append("; ");
        }
        return sb.toString();
    }
}
