package dev.bottomhalf.stress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
import dev.bottomhalf.runtime.Reporter;

/**
 * Randomised soak of the foundation on a threaded 2-CPU kernel. Producer threads assert IRQ lines
 * (plain, shared, threaded ONESHOT) while affinities flip, raise softirqs from task context and from
 * hard-IRQ handlers, sit in BH-disabled and IRQ-disabled sections on random CPUs, and disable/enable
 * lines. Invariants, checked continuously and after quiescing:
 * <ul>
 * <li>no handler of a line ever runs concurrently with itself;</li>
 * <li>every raise is followed by a run of that vector on that CPU (after quiescing, no vector has a
 * raise newer than its last run);</li>
 * <li>/proc/interrupts counts equal the handler invocations the handlers recorded;</li>
 * <li>softirq handlers run in serving-softirq context on the CPU they were raised on;</li>
 * <li>no OOPS, BUG or WARNING report; after close no runtime thread is alive.</li>
 * </ul>
 * Runs {@code -Dbottomhalf.soak.seconds} seconds (10 by default, 600 with {@code -Psoak}); the seed is
 * printed and can be replayed with {@code -Dbottomhalf.soak.seed}.
 */
class SoakTest {
    private static final int CPUS = 2;
    private static final int[] PLAIN_LINES = {3, 4};
    private static final int SHARED_LINE = 5;
    private static final int ONESHOT_LINE = 6;
    private static final int[] VECTORS = {10, 11, 12};   // user vectors, one counter set each

    @Test
    void soak_keepsEveryInvariant() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("SoakTest: seed " + seed + ", " + seconds + " s (replay with -Dbottomhalf.soak.seed=" + seed + ")");
        Reporter.Recording reports = Reporter.recording();
        List<String> violations = new ArrayList<>();
        Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(CPUS).irqLines(8)
                .idleStrategy(IdleStrategy.defaultStrategy()).reporter(reports).build());
        try {
            // raiseSeq[cpu][v] counts raises; ranSeq[cpu][v] is the raise count seen by the latest run.
            AtomicLongArray raised = new AtomicLongArray(CPUS * 32);
            AtomicLongArray seenAtRun = new AtomicLongArray(CPUS * 32);
            for (int v : VECTORS) {
                kernel.softirqs().open(v, "SOAK" + v, () -> {
                    ExecutionContext ctx = kernel.context();
                    if (!ctx.inServingSoftirq() || ctx.inHardirq()) {
                        record(violations, "softirq " + v + " ran in " + ctx);
                    }
                    int slot = ctx.cpu().id() * 32 + v;
                    // everything raised before this run started is covered by it
                    seenAtRun.accumulateAndGet(slot, raised.get(slot), Math::max);
                });
            }
            AtomicLongArray handlerCalls = new AtomicLongArray(8);
            AtomicBoolean[] inFlight = new AtomicBoolean[8];
            for (int i = 0; i < inFlight.length; i++) {
                inFlight[i] = new AtomicBoolean();
            }
            for (int line : PLAIN_LINES) {
                kernel.irqs().request(line, (irq, dev) -> {
                    enter(inFlight[irq], violations, irq);
                    handlerCalls.incrementAndGet(irq);
                    raiseCounted(kernel, raised, VECTORS[irq % VECTORS.length]);
                    exit(inFlight[irq]);
                    return IrqReturn.HANDLED;
                }, Set.of(), "soak" + line, "dev" + line);
            }
            for (int s = 0; s < 2; s++) {
                int sharer = s;
                kernel.irqs().request(SHARED_LINE, (irq, dev) -> {
                    if (sharer == 0) {
                        enter(inFlight[irq], violations, irq);
                        handlerCalls.incrementAndGet(irq);
                        exit(inFlight[irq]);
                    }
                    return IrqReturn.HANDLED;
                }, EnumSet.of(IrqFlag.SHARED), "shared" + s, "sharer" + s);
            }
            AtomicLong threadRuns = new AtomicLong();
            kernel.irqs().requestThreaded(ONESHOT_LINE, (irq, dev) -> {
                enter(inFlight[irq], violations, irq);
                handlerCalls.incrementAndGet(irq);
                exit(inFlight[irq]);
                return IrqReturn.WAKE_THREAD;
            }, (irq, dev) -> {
                threadRuns.incrementAndGet();
                raiseCounted(kernel, raised, VECTORS[0]);
                return IrqReturn.HANDLED;
            }, EnumSet.of(IrqFlag.ONESHOT), "oneshot", "dev6");

            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            SplittableRandom root = new SplittableRandom(seed);
            List<Thread> producers = new ArrayList<>();
            AtomicReference<Throwable> producerFailure = new AtomicReference<>();
            for (int p = 0; p < 4; p++) {
                SplittableRandom rnd = root.split();
                Thread t = Thread.ofPlatform().name("soak-producer-" + p).start(() -> {
                    try {
                        produce(kernel, rnd, deadline, raised);
                    } catch (Throwable e) {
                        producerFailure.compareAndSet(null, e);
                    }
                });
                producers.add(t);
            }
            for (Thread t : producers) {
                t.join(TimeUnit.SECONDS.toMillis(seconds + 30));
                assertFalse(t.isAlive(), t.getName() + " did not finish");
            }
            if (producerFailure.get() != null) {
                throw new AssertionError("producer failed (seed " + seed + ")", producerFailure.get());
            }
            // The producers left every line enabled; let the CPUs drain.
            for (int line : new int[] {PLAIN_LINES[0], PLAIN_LINES[1], SHARED_LINE, ONESHOT_LINE}) {
                assertEquals(0, kernel.irqs().depth(line), "line " + line + " depth (seed " + seed + ")");
            }
            waitUntil(() -> {
                for (int cpu = 0; cpu < CPUS; cpu++) {
                    if (kernel.machine().cpu(cpu).softirqPending() != 0) {
                        return false;
                    }
                    for (int v : VECTORS) {
                        if (seenAtRun.get(cpu * 32 + v) < raised.get(cpu * 32 + v)) {
                            return false;
                        }
                    }
                }
                return !kernel.irqs().isMasked(ONESHOT_LINE);
            }, 20, () -> "softirqs to drain (seed " + seed + "): " + state(kernel, raised, seenAtRun));

            synchronized (violations) {
                assertTrue(violations.isEmpty(), "seed " + seed + ": " + violations);
            }
            for (int line : new int[] {PLAIN_LINES[0], PLAIN_LINES[1], SHARED_LINE, ONESHOT_LINE}) {
                assertEquals(handlerCalls.get(line), kernel.irqs().totalCount(line),
                        "/proc/interrupts count of line " + line + " vs handler calls (seed " + seed + ")");
                assertTrue(handlerCalls.get(line) > 0, "line " + line + " never fired (seed " + seed + ")");
            }
            assertTrue(threadRuns.get() > 0, "the threaded handler never ran");
            for (int cpu = 0; cpu < CPUS; cpu++) {
                for (int v : VECTORS) {
                    if (raised.get(cpu * 32 + v) > 0) {
                        assertTrue(kernel.softirqs().count(cpu, v) > 0, "vector " + v + " raised on CPU " + cpu + " never ran");
                    }
                }
            }
            List<KernelEvent> bad = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                    || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).toList();
            assertTrue(bad.isEmpty(), "seed " + seed + ": kernel reports " + bad);
        } finally {
            kernel.close();
        }
        List<String> left = Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.matches("cpu/\\d+|ksoftirqd/\\d+|irq/\\d+-.*")).toList();
        assertTrue(left.isEmpty(), "runtime threads left after close: " + left);
    }

    private static void produce(Kernel kernel, SplittableRandom rnd, long deadline, AtomicLongArray raised) {
        int[] lines = {PLAIN_LINES[0], PLAIN_LINES[1], SHARED_LINE, ONESHOT_LINE};
        while (System.nanoTime() < deadline) {
            ExecutionContext ctx = kernel.bindCurrentThread(rnd.nextInt(CPUS));
            switch (rnd.nextInt(10)) {
                case 0, 1, 2, 3 -> kernel.irqs().assertIrq(lines[rnd.nextInt(lines.length)]);
                case 4 -> raiseCounted(kernel, raised, VECTORS[rnd.nextInt(VECTORS.length)]);
                case 5 -> {
                    ctx.localBhDisable();
                    raiseCounted(kernel, raised, VECTORS[rnd.nextInt(VECTORS.length)]);
                    kernel.irqs().assertIrq(lines[rnd.nextInt(lines.length)]);
                    spin(rnd.nextInt(2000));
                    ctx.localBhEnable();
                }
                case 6 -> {
                    long flags = ctx.localIrqSave();
                    kernel.irqs().assertIrq(lines[rnd.nextInt(lines.length)]);
                    spin(rnd.nextInt(500));
                    ctx.localIrqRestore(flags);
                }
                case 7 -> {
                    int line = lines[rnd.nextInt(lines.length)];
                    kernel.irqs().disableNosync(line);
                    kernel.irqs().assertIrq(line);
                    spin(rnd.nextInt(1000));
                    kernel.irqs().enable(line);
                }
                case 8 -> kernel.irqs().setAffinity(lines[rnd.nextInt(lines.length)], rnd.nextInt(CPUS));
                default -> Thread.yield();
            }
        }
    }

    /** Raises {@code v} on the calling context's CPU, counting the raise first. */
    private static void raiseCounted(Kernel kernel, AtomicLongArray raised, int v) {
        ExecutionContext ctx = kernel.context();
        raised.incrementAndGet(ctx.cpu().id() * 32 + v);
        kernel.softirqs().raise(v);
    }

    private static void enter(AtomicBoolean flag, List<String> violations, int irq) {
        if (!flag.compareAndSet(false, true)) {
            record(violations, "handler of IRQ " + irq + " ran concurrently with itself");
        }
    }

    private static void exit(AtomicBoolean flag) {
        flag.set(false);
    }

    private static void record(List<String> violations, String what) {
        synchronized (violations) {
            if (violations.size() < 20) {
                violations.add(what);
            }
        }
    }

    private static void spin(int iterations) {
        for (int i = 0; i < iterations; i++) {
            Thread.onSpinWait();
        }
    }

    private interface Condition {
        boolean holds();
    }

    private static String state(Kernel kernel, AtomicLongArray raised, AtomicLongArray seenAtRun) {
        StringBuilder sb = new StringBuilder();
        for (int cpu = 0; cpu < CPUS; cpu++) {
            sb.append("CPU").append(cpu).append(" pending=").append(Integer.toHexString(kernel.machine().cpu(cpu).softirqPending()))
                    .append(" ksoftirqd woken=").append(kernel.softirqs().ksoftirqdWoken(cpu))
                    .append(" bh owner=").append(kernel.machine().cpu(cpu).bhLevelOwner())
                    .append(" irq owner=").append(kernel.machine().cpu(cpu).irqLevelOwner());
            for (int v : VECTORS) {
                sb.append(" v").append(v).append(" raised=").append(raised.get(cpu * 32 + v))
                        .append(" seen=").append(seenAtRun.get(cpu * 32 + v));
            }
            sb.append("; ");
        }
        sb.append("oneshot masked=").append(kernel.irqs().isMasked(ONESHOT_LINE))
                .append(" replay=").append(kernel.irqs().isReplayPending(ONESHOT_LINE))
                .append(" threads=").append(kernel.irqs().threadNames(ONESHOT_LINE));
        return sb.toString();
    }

    private static void waitUntil(Condition c, int seconds, java.util.function.Supplier<String> what)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!c.holds()) {
            if (System.nanoTime() > deadline) {
                fail("timed out after " + seconds + " s waiting for " + what.get());
            }
            Thread.sleep(5);
        }
    }
}
