package dev.bottomhalf.stress;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Randomised workqueue soak on a threaded 2-CPU kernel. Task threads (each bound to CPU 0 or 1, re-binding
 * now and then) run random operations — {@code queue_work}, {@code queue_work_on}, {@code cancel_work},
 * {@code cancel_work_sync}, {@code flush_work}, {@code disable_work(_sync)}+{@code enable_work},
 * {@code queue_delayed_work(_on)}, {@code mod_delayed_work}, {@code cancel_delayed_work(_sync)},
 * {@code flush_delayed_work}, {@code disable_delayed_work}+{@code enable_delayed_work},
 * {@code flush_workqueue} — on items spread over a per-CPU workqueue, an unbound one, an ordered one and
 * {@code system_bh_wq}; and create short-lived workqueues (per-CPU, unbound or ordered), queue a few
 * items on them (one of which queues another from its own function, the chained queueing a drain
 * accepts) and destroy them. Some item functions sleep ({@code msleep}) or spin, so concurrency
 * management starts extra workers.
 *
 * <p>Each thread owns most of its items (only it operates on them), which makes the accounting exact;
 * a few shared items get the same operations from every thread and are checked for exclusion only.
 * Invariants:
 * <ul>
 * <li>no item's function ever overlaps itself (a per-item counter inside the function); no two items of
 * the ordered workqueue ever run at once; BH items run in serving-softirq context, the others in a
 * kworker's process context;</li>
 * <li>after its owner's {@code flush_work}, {@code flush_delayed_work}, {@code cancel(_delayed)_work_sync} or
 * {@code disable_work_sync} returns, an owned item is neither running nor pending (only its owner queues
 * it);</li>
 * <li>per owned item: successful queues ({@code true} returns, delayed ones and every
 * {@code mod_delayed_work} included) == runs + successful cancels ({@code cancel*}/{@code disable*}
 * returning true; a {@code mod_delayed_work} that found the item pending cancels one instance and queues
 * one) + still pending at the end (0: each owner finishes with a {@code cancel*_sync} of everything);
 * a queue attempt on an item the owner has disabled is refused, and the owner's {@code enable} brings the
 * depth back to 0;</li>
 * <li>on the ordered workqueue each producer's items run in the order it queued them (the instances it
 * cancelled left out), each exactly once;</li>
 * <li>{@code destroy_workqueue} returns only after every item queued on the workqueue (chained ones
 * included) has run, in queueing order on an ordered one;</li>
 * <li>no WARNING, BUG or OOPS report; after {@code close()} none of the kernel's {@code kworker/*},
 * {@code cpu/N}, {@code ksoftirqd/N} threads is alive.</li>
 * </ul>
 * Runs {@code -Dbottomhalf.soak.seconds} seconds (10 by default, 600 with {@code -Psoak}); the seed is
 * printed and replays the operation sequence (not the thread timing) with {@code -Dbottomhalf.soak.seed}.
 * A producer that does not finish fails the test with the threads' stacks and any lock cycle.
 *
 * <p>This test found two core bugs, both fixed since (against commit c54ecd5 it failed on them): {@code flush_workqueue}
 * deadlocks with a worker finishing an item ({@code Workqueues.waitUntil} evaluates the flush condition,
 * which takes pool locks, while holding {@code flushLock}; {@code decInFlight} takes {@code flushLock} in
 * {@code signalFlushers} while holding a pool lock), usually within the first seconds; and
 * {@code flush_work} / {@code cancel_work_sync} return while the item's function still runs when a cancel
 * unlinked a newer queued instance ({@code grabPending} advanced {@code doneSeq} past the running one).
 */
class WorkqueueSoakTest {
    private static final int CPUS = 2;
    private static final int PRODUCERS = 4;
    private static final int PLAIN_PER_PRODUCER = 8;      // two on each of the four workqueues
    private static final int DELAYED_PER_PRODUCER = 3;    // per-CPU, unbound, BH
    private static final int ORDERED_PER_PRODUCER = 4;

    private final List<String> violations = new ArrayList<>();
    private final AtomicInteger orderedInside = new AtomicInteger();
    private final AtomicLong tmpWorkqueues = new AtomicLong();
    private final AtomicLong tmpItems = new AtomicLong();

    private Kernel kernel;
    private Workqueues wqs;
    private Workqueue percpu;
    private Workqueue unbound;
    private Workqueue ordered;
    private Workqueue bh;

    /** A work item (plain or delayed) fixed to one workqueue, with its counters. */
    final class Item {
        final String name;
        final int owner;                 // producer index, or -1 for a shared item
        final int index;                 // index among the owner's ordered items, or -1
        final Workqueue wq;
        final Work work;
        final DelayedWork dw;
        final AtomicInteger inside = new AtomicInteger();
        final AtomicLong runs = new AtomicLong();
        // Owner-only bookkeeping (read by the test thread after the owner has finished).
        long queued;
        long cancelled;
        /** Position in the owner's ordered-queue log of the instance queued last. */
        int lastLogPos = -1;

        Item(String name, int owner, int index, Workqueue wq, boolean delayed) {
            this.name = name;
            this.owner = owner;
            this.index = index;
            this.wq = wq;
            if (delayed) {
                this.dw = new DelayedWork(name, this::run);
                this.work = dw.work();
            } else {
                this.dw = null;
                this.work = new Work(name, this::run);
            }
        }

        private void run(Work w) {
            if (inside.incrementAndGet() != 1) {
                violation(name + " overlapped itself");
            }
            ExecutionContext ctx = kernel.context();
            if (wq.isBh()) {
                if (!ctx.inServingSoftirq() || ctx.inHardirq()) {
                    violation(name + " (BH) ran in " + ctx);
                }
            } else if (ctx.role() != ExecutionContext.Role.WORKER || ctx.inInterrupt()) {
                violation(name + " ran in " + ctx);
            }
            boolean isOrdered = wq == ordered;
            if (isOrdered) {
                if (orderedInside.incrementAndGet() != 1) {
                    violation(name + " ran while another item of the ordered workqueue ran");
                }
                runLog[owner].add(index);
            }
            ThreadLocalRandom r = ThreadLocalRandom.current();
            int what = r.nextInt(64);
            if (what == 0 && !wq.isBh()) {
                kernel.timers().msleep(1);       // a sleeping item: concurrency management wakes another worker
            } else {
                WorkqueueStress.spin(r.nextInt(200));
            }
            runs.incrementAndGet();
            if (isOrdered) {
                orderedInside.decrementAndGet();
            }
            inside.decrementAndGet();
        }

        @Override
        public String toString() {
            return name + " on " + wq.name() + ": queued " + queued + ", ran " + runs.get() + ", cancelled " + cancelled
                    + (work.isPending() ? ", PENDING" : "")
                    + (work.disableDepth() != 0 ? ", depth " + work.disableDepth() : "");
        }
    }

    /** Per producer: the ordered items it queued, in order ({item index, cancelled}); and the run order. */
    @SuppressWarnings("unchecked")
    private final List<int[]>[] queueLog = new List[PRODUCERS];
    @SuppressWarnings("unchecked")
    private final List<Integer>[] runLog = new List[PRODUCERS];

    private void violation(String what) {
        synchronized (violations) {
            if (violations.size() < 50) {
                violations.add(what);
            }
        }
    }

    @Test
    void workqueues_keepEveryInvariant() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("WorkqueueSoakTest: seed " + seed + ", " + seconds
                + " s (replay with -Dbottomhalf.soak.seed=" + seed + ")");
        try {
            run(seconds, seed);
        } catch (Throwable t) {
            System.out.println("WorkqueueSoakTest FAILED with seed " + seed);
            throw t;
        }
    }

    private void run(long seconds, long seed) throws Exception {
        Reporter.Recording reports = Reporter.recording();
        kernel = Kernel.boot(KernelConfig.builder().cpus(CPUS).irqLines(1).reporter(reports).build());
        List<KernelThread> runtimeThreads;
        try {
            wqs = kernel.workqueues();
            percpu = wqs.alloc("soak_percpu", 0, 0);
            unbound = wqs.alloc("soak_unbound", Workqueue.WQ_UNBOUND, 0);
            ordered = wqs.allocOrdered("soak_ordered", 0);
            bh = wqs.systemBhWq();
            Workqueue[] plainWqs = {percpu, unbound, ordered, bh};
            Workqueue[] delayedWqs = {percpu, unbound, bh};

            List<List<Item>> owned = new ArrayList<>();
            List<List<Item>> ownedOrdered = new ArrayList<>();
            for (int p = 0; p < PRODUCERS; p++) {
                queueLog[p] = new ArrayList<>();
                runLog[p] = java.util.Collections.synchronizedList(new ArrayList<>());
                List<Item> mine = new ArrayList<>();
                for (int i = 0; i < PLAIN_PER_PRODUCER; i++) {
                    Workqueue wq = plainWqs[i % plainWqs.length];
                    if (wq != ordered) {
                        mine.add(new Item("p" + p + "_" + wq.name() + "_" + i, p, -1, wq, false));
                    }
                }
                for (int i = 0; i < DELAYED_PER_PRODUCER; i++) {
                    Workqueue wq = delayedWqs[i % delayedWqs.length];
                    mine.add(new Item("p" + p + "_delayed_" + wq.name() + "_" + i, p, -1, wq, true));
                }
                List<Item> mineOrdered = new ArrayList<>();
                for (int i = 0; i < ORDERED_PER_PRODUCER; i++) {
                    Item it = new Item("p" + p + "_ordered_" + i, p, i, ordered, false);
                    mineOrdered.add(it);
                    mine.add(it);
                }
                owned.add(mine);
                ownedOrdered.add(mineOrdered);
            }
            List<Item> shared = new ArrayList<>();
            for (Workqueue wq : plainWqs) {
                if (wq != ordered) {               // the ordered log is per owner
                    shared.add(new Item("shared_" + wq.name(), -1, -1, wq, false));
                }
            }
            shared.add(new Item("shared_delayed_" + percpu.name(), -1, -1, percpu, true));
            shared.add(new Item("shared_delayed_" + bh.name(), -1, -1, bh, true));

            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            SplittableRandom root = new SplittableRandom(seed);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicLong ops = new AtomicLong();
            List<Thread> producers = new ArrayList<>();
            for (int p = 0; p < PRODUCERS; p++) {
                int me = p;
                SplittableRandom rnd = root.split();
                producers.add(Thread.ofPlatform().name("wq-soak-" + p).daemon(true).start(() -> {
                    try {
                        kernel.bindCurrentThread(me % CPUS);
                        long n = 0;
                        while (System.nanoTime() < deadline) {
                            step(me, rnd, owned.get(me), shared);
                            n++;
                        }
                        finish(me, owned.get(me));
                        ops.addAndGet(n);
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    } finally {
                        kernel.detachCurrentThread();
                    }
                }));
            }
            for (Thread t : producers) {
                t.join(TimeUnit.SECONDS.toMillis(seconds + 30));
                assertFalse(t.isAlive(), () -> t.getName() + " did not finish (seed " + seed + ")\n" + stacks());
            }
            if (failure.get() != null) {
                throw new AssertionError("producer failed (seed " + seed + ")", failure.get());
            }

            synchronized (violations) {
                assertTrue(violations.isEmpty(), "seed " + seed + ": " + violations);
            }
            // Shared items: stop them (nobody touches them any more) and check they stay stopped.
            kernel.bindCurrentThread(0);
            for (Item it : shared) {
                if (it.dw != null) {
                    wqs.cancelDelayedSync(it.dw);
                } else {
                    wqs.cancelSync(it.work);
                }
                assertFalse(it.work.isPending(), it + " (seed " + seed + ")");
                assertEquals(0, it.work.disableDepth(), it + " (seed " + seed + ")");
            }
            long[] atStop = shared.stream().mapToLong(it -> it.runs.get()).toArray();

            // Exact accounting of the owned items (each owner has cancelled all of its items synchronously).
            long queued = 0;
            long ran = 0;
            long cancelled = 0;
            for (List<Item> mine : owned) {
                for (Item it : mine) {
                    assertFalse(it.work.isPending(), it + " (seed " + seed + ")");
                    assertEquals(0, it.work.disableDepth(), it + " (seed " + seed + ")");
                    assertEquals(it.queued, it.runs.get() + it.cancelled,
                            "queues != runs + cancels: " + it + " (seed " + seed + ")");
                    queued += it.queued;
                    ran += it.runs.get();
                    cancelled += it.cancelled;
                }
            }
            // The ordered workqueue: per producer, the run order is the queueing order minus the cancels.
            for (int p = 0; p < PRODUCERS; p++) {
                List<Integer> expected = new ArrayList<>();
                for (int[] e : queueLog[p]) {
                    if (e[1] == 0) {
                        expected.add(e[0]);
                    }
                }
                List<Integer> actual;
                synchronized (runLog[p]) {
                    actual = new ArrayList<>(runLog[p]);
                }
                assertEquals(expected.size(), actual.size(), "producer " + p + ": ordered runs (seed " + seed + ")");
                for (int i = 0; i < expected.size(); i++) {
                    if (!expected.get(i).equals(actual.get(i))) {
                        throw new AssertionError("producer " + p + ": ordered item " + i + " of " + expected.size()
                                + " ran out of order: expected " + window(expected, i) + ", ran " + window(actual, i)
                                + " (seed " + seed + ")");
                    }
                }
            }
            Thread.sleep(20);
            for (int i = 0; i < shared.size(); i++) {
                assertEquals(atStop[i], shared.get(i).runs.get(), shared.get(i) + " ran after its cancel_work_sync");
            }
            System.out.println("WorkqueueSoakTest: " + ops.get() + " operations; owned items queued " + queued
                    + ", ran " + ran + ", cancelled " + cancelled + "; ordered runs " + java.util.Arrays.stream(runLog)
                            .mapToInt(List::size).sum() + "; shared runs " + java.util.Arrays.stream(atStop).sum()
                    + "; " + tmpWorkqueues.get() + " short-lived workqueues with " + tmpItems.get() + " items");
            List<KernelEvent> bad = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                    || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).toList();
            assertTrue(bad.isEmpty(), "seed " + seed + ": kernel reports " + bad);
            kernel.detachCurrentThread();

            runtimeThreads = runtimeThreadsOf(kernel);
            Set<String> names = new TreeSet<>();
            runtimeThreads.forEach(t -> names.add(t.getName()));
            assertTrue(names.containsAll(List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1")), names.toString());
            assertTrue(names.stream().anyMatch(n -> n.startsWith("kworker/0:")), names.toString());
            assertTrue(names.stream().anyMatch(n -> n.startsWith("kworker/u")), names.toString());
            System.out.println("WorkqueueSoakTest: runtime threads " + names);
        } finally {
            kernel.close();
        }
        List<String> left = new ArrayList<>();
        for (KernelThread t : runtimeThreads) {
            t.join(1000);
            if (t.isAlive()) {
                left.add(t.getName());
            }
        }
        for (KernelThread t : runtimeThreadsOf(kernel)) {
            left.add(t.getName());
        }
        assertTrue(left.isEmpty(), "runtime threads alive after close (seed " + seed + "): " + left);
        for (KernelThread t : runtimeThreads) {
            assertTrue(t.getName().matches("cpu/\\d+|ksoftirqd/\\d+|kworker/(\\d+|u\\d+):\\d+H?|kworker/R-.+"),
                    t.getName());
        }
    }

    /** The stacks of the producers and of this kernel's runtime threads, for a producer that hangs. */
    private String stacks() {
        StringBuilder sb = new StringBuilder();
        long[] deadlocked = ManagementFactory.getThreadMXBean().findDeadlockedThreads();
        if (deadlocked != null) {
            sb.append("DEADLOCK:\n");
            for (ThreadInfo ti : ManagementFactory.getThreadMXBean().getThreadInfo(deadlocked)) {
                sb.append("  \"").append(ti.getThreadName()).append("\" waits for ").append(ti.getLockName())
                        .append(" held by \"").append(ti.getLockOwnerName()).append("\"\n");
            }
        }
        for (var e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            boolean ours = t.getName().startsWith("wq-soak-")
                    || t instanceof KernelThread kt && RuntimeAccess.get().machine(kt.context()) == Internals.machine(kernel);
            if (!ours) {
                continue;
            }
            sb.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
            for (StackTraceElement f : e.getValue()) {
                sb.append("    at ").append(f).append('\n');
            }
        }
        return sb.toString();
    }

    private static String window(List<Integer> l, int i) {
        return l.subList(Math.max(0, i - 3), Math.min(l.size(), i + 4)).toString();
    }

    // ------------------------------------------------------------------------------------------
    // Producers
    // ------------------------------------------------------------------------------------------

    private void step(int me, SplittableRandom rnd, List<Item> mine, List<Item> shared) {
        if (rnd.nextInt(16) == 0) {
            kernel.bindCurrentThread(rnd.nextInt(CPUS));
        }
        int what = rnd.nextInt(1000);
        if (what < 700) {
            Item it = mine.get(rnd.nextInt(mine.size()));
            if (it.dw != null) {
                delayedOp(rnd, it, true);
            } else {
                plainOp(rnd, it, true);
            }
        } else if (what < 950) {
            Item it = shared.get(rnd.nextInt(shared.size()));
            if (it.dw != null) {
                delayedOp(rnd, it, false);
            } else {
                plainOp(rnd, it, false);
            }
        } else if (what < 990) {
            Workqueue wq = switch (rnd.nextInt(3)) {
                case 0 -> percpu;
                case 1 -> unbound;
                default -> ordered;
            };
            wqs.flushWorkqueue(wq);
        } else {
            shortLivedWorkqueue(me, rnd);
        }
    }

    /** A queue of {@code it} on its workqueue; true if this call queued it. */
    private boolean queue(SplittableRandom rnd, Item it) {
        return rnd.nextBoolean() ? wqs.queue(it.wq, it.work) : wqs.queueOn(rnd.nextInt(CPUS), it.wq, it.work);
    }

    private void queued(Item it, boolean owned) {
        if (!owned) {
            return;
        }
        it.queued++;
        if (it.wq == ordered) {
            List<int[]> log = queueLog[it.owner];
            it.lastLogPos = log.size();
            log.add(new int[] {it.index, 0});
        }
    }

    private void cancelled(Item it, boolean owned) {
        if (!owned) {
            return;
        }
        it.cancelled++;
        if (it.wq == ordered) {
            queueLog[it.owner].get(it.lastLogPos)[1] = 1;   // the pending instance is the one queued last
        }
    }

    private void plainOp(SplittableRandom rnd, Item it, boolean owned) {
        Work w = it.work;
        switch (rnd.nextInt(10)) {
            case 0, 1, 2, 3 -> {
                if (queue(rnd, it)) {
                    queued(it, owned);
                }
            }
            case 4 -> {
                if (wqs.cancel(w)) {
                    cancelled(it, owned);
                }
            }
            case 5 -> {
                if (wqs.cancelSync(w)) {
                    cancelled(it, owned);
                }
                settled(it, owned, "cancel_work_sync");
            }
            case 6, 7 -> {
                wqs.flush(w);
                settled(it, owned, "flush_work");
            }
            default -> {
                boolean sync = rnd.nextBoolean();
                if (sync ? wqs.disableSync(w) : wqs.disable(w)) {
                    cancelled(it, owned);
                }
                if (sync) {
                    settled(it, owned, "disable_work_sync");
                }
                if (queue(rnd, it)) {
                    violation("queue of disabled " + it.name + " succeeded");
                    if (owned) {
                        queued(it, owned);
                    }
                }
                boolean enabled = wqs.enable(w);
                if (owned && !enabled) {
                    violation("enable of " + it.name + " (disabled once by its owner) left depth " + w.disableDepth());
                }
            }
        }
    }

    private void delayedOp(SplittableRandom rnd, Item it, boolean owned) {
        DelayedWork dw = it.dw;
        long delay = rnd.nextInt(4);
        switch (rnd.nextInt(10)) {
            case 0, 1, 2 -> {
                boolean ok = rnd.nextBoolean() ? wqs.queueDelayed(it.wq, dw, delay)
                        : wqs.queueDelayedOn(rnd.nextInt(CPUS), it.wq, dw, delay);
                if (ok) {
                    queued(it, owned);
                }
            }
            case 3, 4 -> {
                if (wqs.modDelayed(it.wq, dw, delay)) {
                    cancelled(it, owned);          // the pending instance was replaced
                }
                queued(it, owned);
            }
            case 5 -> {
                if (wqs.cancelDelayed(dw)) {
                    cancelled(it, owned);
                }
            }
            case 6 -> {
                if (wqs.cancelDelayedSync(dw)) {
                    cancelled(it, owned);
                }
                settled(it, owned, "cancel_delayed_work_sync");
            }
            case 7, 8 -> {
                wqs.flushDelayed(dw);
                settled(it, owned, "flush_delayed_work");
            }
            default -> {
                if (wqs.disableDelayed(dw)) {
                    cancelled(it, owned);
                }
                if (wqs.queueDelayed(it.wq, dw, delay)) {
                    violation("queue of disabled " + it.name + " succeeded");
                    if (owned) {
                        queued(it, owned);
                    }
                }
                boolean enabled = wqs.enableDelayed(dw);
                if (owned && !enabled) {
                    violation("enable of " + it.name + " (disabled once by its owner) left depth "
                            + dw.work().disableDepth());
                }
            }
        }
    }

    /**
     * After its owner's {@code flush*}, {@code cancel*_sync} or {@code disable*_sync} returned, an owned
     * item (which only its owner queues, and whose function queues nothing) is neither pending nor running.
     */
    private void settled(Item it, boolean owned, String call) {
        if (owned && (it.inside.get() != 0 || it.work.isPending())) {
            violation(call + "(" + it.name + ") returned while the item was "
                    + (it.inside.get() != 0 ? "running" : "pending"));
        }
    }

    /** Every owned item cancelled synchronously: nothing of it is pending or running afterwards. */
    private void finish(int me, List<Item> mine) {
        for (Item it : mine) {
            boolean was = it.dw != null ? wqs.cancelDelayedSync(it.dw) : wqs.cancelSync(it.work);
            if (was) {
                cancelled(it, true);
            }
            settled(it, true, it.dw != null ? "cancel_delayed_work_sync" : "cancel_work_sync");
        }
    }

    /**
     * alloc_workqueue, a few items (the first queues one more from its function), destroy_workqueue: every
     * item has run by the time destroy returns; on an ordered workqueue the directly queued ones in order.
     */
    private void shortLivedWorkqueue(int me, SplittableRandom rnd) {
        int type = rnd.nextInt(3);
        String name = "soak_tmp" + me + "_" + tmpWorkqueues.incrementAndGet();
        Workqueue t = switch (type) {
            case 0 -> wqs.alloc(name, 0, 0);
            case 1 -> wqs.alloc(name, Workqueue.WQ_UNBOUND, 0);
            default -> wqs.allocOrdered(name, 0);
        };
        int n = 1 + rnd.nextInt(5);
        AtomicInteger ran = new AtomicInteger();
        List<Integer> order = java.util.Collections.synchronizedList(new ArrayList<>());
        Work chained = new Work(name + "_chained", w -> ran.incrementAndGet());
        for (int i = 0; i < n; i++) {
            int idx = i;
            Work w = new Work(name + "_" + i, me2 -> {
                order.add(idx);
                if (idx == 0 && !wqs.queue(t, chained)) {
                    violation("chained queue on " + name + " refused");
                }
                ran.incrementAndGet();
            });
            boolean ok = rnd.nextBoolean() ? wqs.queue(t, w) : wqs.queueOn(rnd.nextInt(CPUS), t, w);
            if (!ok) {
                violation("queue of a fresh item on " + name + " refused");
            }
        }
        tmpItems.addAndGet(n + 1);
        wqs.destroy(t);
        if (ran.get() != n + 1) {
            violation("destroy_workqueue(" + name + ") returned with " + ran.get() + " of " + (n + 1) + " items run");
        }
        if (type == 2) {
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                expected.add(i);
            }
            synchronized (order) {
                if (!order.equals(expected)) {
                    violation("ordered " + name + " ran " + order);
                }
            }
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
