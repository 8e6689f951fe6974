package dev.bottomhalf.bench;

import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;
import org.jctools.queues.MpscArrayQueue;

import com.lmax.disruptor.BusySpinWaitStrategy;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import com.lmax.disruptor.util.DaemonThreadFactory;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Workqueue questions that JMH's modes answer poorly (docs/benchmarks.md §8). Each part runs its peers in the
 * same JVM.
 * <ol>
 * <li>{@code throughput}: end-to-end throughput of distinct items from one producer thread (bound to CPU 0
 * of a 1-CPU kernel) queued onto a per-CPU workqueue (one {@code kworker/0:N} runs them) and onto an unbound
 * workqueue — against a Disruptor with a busy-spin consumer, a JCTools MPSC queue with a spinning consumer
 * thread, a ThreadPoolExecutor(1), ForkJoinPool(1), the common pool, a virtual thread per task and Netty's
 * DefaultEventLoop (the executors a Java user would pick instead, each fed with {@code execute} like the TPE), and
 * the floor of any such hand-off of distinct items ({@link #claimFloor}: a claim flag per item and a queue, no
 * workqueue). A work item is re-queued only after it ran (a pool of 32,768 items,
 * as {@link TaskletThroughputHarness} does with tasklets). Targets (docs/benchmarks.md §17.3; the floor, §26):
 * ≥ 1.5× the faster ForkJoinPool, ≥ 3× ThreadPoolExecutor, the virtual thread and Netty. M items/s, best of 3
 * rounds. The workqueue rows count with an atomic increment per item: a
 * per-CPU pool normally runs one item at a time, but concurrency management may start a second worker (an
 * item seen blocked, or CPU-intensive), and a plain single-writer counter (the peers') can then lose
 * increments. The Disruptor is measured with both counters. A producer that waits for the consumers reads
 * their counter about once a microsecond ({@link #backOff()}), not in a tight loop.</li>
 * <li>{@code wakeup}: queue → function start when the pool is idle (its worker parked: one event every
 * 200 µs, the daemon idle strategy spins at most 50 µs), against ThreadPoolExecutor(1) and ForkJoinPool(1), with
 * the floor (one {@code LockSupport.unpark} of a parked platform thread) and the same thread spinning 50 µs after
 * each event before it parks; each row also gives how long the queueing call took and how many events started
 * before it returned.</li>
 * <li>{@code bh}: from a task thread on CPU 0, {@code queue_work(system_bh_wq)} vs {@code tasklet_schedule}
 * → function start; both run in TASKLET_SOFTIRQ: once woken through {@code ksoftirqd/0} (BH enabled, the
 * raise wakes it), once inline at the caller's {@code local_bh_enable()} (queued inside a BH-disabled
 * section).</li>
 * <li>{@code blocked}: on a per-CPU workqueue item A blocks (kernel {@code msleep(5)}, which tells the pool;
 * or {@code Thread.sleep(5)} / {@code LockSupport.parkNanos(5 ms)}, which the pool notices on its next tick);
 * once A's worker is seen blocked, item B is queued: B's queue → B's start (B stamps its start; the caller
 * waits for it parked).</li>
 * </ol>
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar dev.bottomhalf.bench.WorkqueueThroughputHarness [throughput|wakeup|bh|blocked|all]
 * java ... WorkqueueThroughputHarness compare [--pin=one|split] [--rounds=5] [--items=4000000] wq-percpu fjp1 ...</pre>
 * {@code compare} alternates the named throughput rows round by round ({@link #compare}).
 */
public final class WorkqueueThroughputHarness {
    /** Items per throughput round: 4,000,000 for the full run; {@link #throughput} sets it (the quick run's is smaller). */
    private static int items = 4_000_000;
    private static final int ROUNDS = 3;
    private static final int POOL = 1 << 15;

    private static final int LAT_EVENTS = 20_000;
    private static final int LAT_WARMUP = 2_000;
    /** Events per row of the wake-up part's first, unreported pass over every row. */
    private static final int LAT_WARMUP_PASS = 5_000;
    private static final long LAT_SPACING_NS = 200_000;

    private static final int BLOCK_EVENTS = 2_000;
    private static final int BLOCK_WARMUP = 100;

    private static final AtomicLong RECEIVED_AT = new AtomicLong();

    private WorkqueueThroughputHarness() {
    }

    public static void main(String[] args) throws Exception {
        String only = args.length > 0 ? args[0] : "all";
        if (only.equals("compare")) {
            compare(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        System.out.printf(Locale.ROOT, "JDK %s, %d CPUs%n", System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors());
        if (only.equals("all") || only.equals("throughput") || only.equals("wq") || only.equals("peers")) {
            System.out.printf(Locale.ROOT, "%n1. throughput: %,d distinct items per round, best of %d rounds (M items/s)%n",
                    items, ROUNDS);
            if (!only.equals("peers")) {
                report("bottomhalf per-CPU wq, kworker idle: default (spin 50us, park)",
                        () -> workqueue(false, IdleStrategy.defaultStrategy()));
                report("bottomhalf per-CPU wq, kworker idle: spinThenPark(10 ms)",
                        () -> workqueue(false, IdleStrategy.spinThenPark(TimeUnit.MILLISECONDS.toNanos(10))));
                report("bottomhalf unbound wq, kworker idle: default (spin 50us, park)",
                        () -> workqueue(true, IdleStrategy.defaultStrategy()));
            }
            if (!only.equals("wq")) {
                report("Disruptor 4, busy-spin consumer", () -> disruptor(new Done()));
                report("Disruptor 4, busy-spin consumer, atomic counter (as bottomhalf)",
                        () -> disruptor(new SharedDone()));
                report("JCTools MpscArrayQueue, spinning consumer", WorkqueueThroughputHarness::jctools);
                report("floor: claim a flag, hand over through an intrusive MPSC list", () -> claimFloor(true));
                report("floor: claim a flag, hand over through an MpscArrayQueue", () -> claimFloor(false));
                report("ThreadPoolExecutor(1)", WorkqueueThroughputHarness::tpe);
                report("ForkJoinPool(1)", () -> executor(new ForkJoinPool(1), true));
                report("ForkJoinPool.commonPool()", () -> executor(ForkJoinPool.commonPool(), false));
                report("virtual thread per task", () -> executor(
                        java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor(), true));
                report("Netty DefaultEventLoop", WorkqueueThroughputHarness::nettyEventLoop);
            }
        }
        if (only.equals("all") || only.equals("wakeup")) {
            System.out.printf(Locale.ROOT, "%n2. wake-up of an idle pool: queue -> function start, %,d events after %,d"
                    + " warm-up, one every %d us (ns)%n", LAT_EVENTS, LAT_WARMUP, LAT_SPACING_NS / 1000);
            System.out.printf(Locale.ROOT, "  (call: how long the queue/execute call took; inside: events whose function"
                    + " started before that call returned)%n");
            java.util.Map<String, java.util.function.Supplier<Target>> rows = new java.util.LinkedHashMap<>();
            rows.put("bottomhalf per-CPU wq (kworker/0 parked)", () -> workqueueTarget(false, null));
            rows.put("bottomhalf unbound wq (kworker/u parked)", () -> workqueueTarget(true, null));
            rows.put("per-CPU wq, kworker idle: parking", () -> workqueueTarget(false, IdleStrategy.parking()));
            rows.put("ThreadPoolExecutor(1)", WorkqueueThroughputHarness::tpeTarget);
            rows.put("ForkJoinPool(1)", WorkqueueThroughputHarness::fjpTarget);
            rows.put("floor: unpark of a thread that parks at once", () -> unparkTarget(0));
            rows.put("unpark of a thread that spins 50 us, then parks", () -> unparkTarget(50_000));
            // A pass over every row first, not reported: the JIT compiles the producer's and the kernel's paths
            // while it runs. Without it the first row measured (the per-CPU workqueue) paid for the compiler
            // threads on the two CPUs: 150-1,000 ns more at p50 than the same row measured again at the end.
            for (java.util.function.Supplier<Target> t : rows.values()) {
                latency(t.get(), LAT_WARMUP_PASS);
            }
            rows.forEach((name, t) -> row(name, latency(t.get(), LAT_EVENTS)));
        }
        if (only.equals("all") || only.equals("bh")) {
            System.out.printf(Locale.ROOT, "%n3. BH workqueue vs tasklet from a task thread on CPU 0: queue/schedule ->"
                    + " function start, %,d events after %,d warm-up, one every %d us (ns)%n", LAT_EVENTS, LAT_WARMUP,
                    LAT_SPACING_NS / 1000);
            row("system_bh_wq, BH enabled (ksoftirqd/0 woken)", latency(bhTarget(true, false)));
            row("tasklet_schedule, BH enabled (ksoftirqd/0 woken)", latency(bhTarget(false, false)));
            row("system_bh_wq, inline at local_bh_enable()", latency(bhTarget(true, true)));
            row("tasklet_schedule, inline at local_bh_enable()", latency(bhTarget(false, true)));
        }
        if (only.equals("all") || only.equals("blocked")) {
            System.out.printf(Locale.ROOT, "%n4. blocked-worker replacement: B queued behind a blocked A -> B's start,"
                    + " %,d events after %,d warm-up (ns)%n", BLOCK_EVENTS, BLOCK_WARMUP);
            blocked("A in kernel msleep(5)", 0);
            blocked("A in Thread.sleep(5)", 1);
            blocked("A in LockSupport.parkNanos(5 ms)", 2);
        }
    }

    // ------------------------------------------------------------------------------------------
    // 1. Throughput
    // ------------------------------------------------------------------------------------------

    /**
     * The mechanisms of the throughput part by the names the quick run ({@code ./bottomhalf bench --quick})
     * uses: {@code wq-percpu}, {@code wq-unbound}, {@code tpe}, {@code fjp1}, {@code fjp-common},
     * {@code vthread}, {@code netty-eventloop}, {@code jctools}, {@code disruptor}, and the floors
     * {@code floor-claim-list} and {@code floor-claim-ring} ({@link #claimFloor}).
     */
    public static final java.util.List<String> THROUGHPUT_MECHANISMS = java.util.List.of("wq-percpu", "wq-unbound",
            "tpe", "fjp1", "fjp-common", "vthread", "netty-eventloop", "jctools", "disruptor", "floor-claim-ring",
            "floor-claim-list");

    /**
     * Runs one mechanism of the throughput part {@code rounds} times with {@code itemsPerRound} distinct items
     * each, exactly as the full run does, and returns the best rate in items per second. Not thread-safe: one
     * call at a time.
     *
     * @throws IllegalArgumentException for a name not in {@link #THROUGHPUT_MECHANISMS}
     */
    public static double throughput(String mechanism, int itemsPerRound, int rounds) throws Exception {
        Run run = switch (mechanism) {
            case "wq-percpu" -> () -> workqueue(false, IdleStrategy.defaultStrategy());
            case "wq-unbound" -> () -> workqueue(true, IdleStrategy.defaultStrategy());
            case "tpe" -> WorkqueueThroughputHarness::tpe;
            case "fjp1" -> () -> executor(new ForkJoinPool(1), true);
            case "fjp-common" -> () -> executor(ForkJoinPool.commonPool(), false);
            case "vthread" -> () -> executor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor(), true);
            case "netty-eventloop" -> WorkqueueThroughputHarness::nettyEventLoop;
            case "jctools" -> WorkqueueThroughputHarness::jctools;
            case "disruptor" -> () -> disruptor(new Done());
            case "floor-claim-ring" -> () -> claimFloor(false);
            case "floor-claim-list" -> () -> claimFloor(true);
            default -> throw new IllegalArgumentException("no throughput mechanism '" + mechanism + "'; known: "
                    + THROUGHPUT_MECHANISMS);
        };
        int saved = items;
        items = itemsPerRound;
        try {
            long best = 0;
            for (int i = 0; i < rounds; i++) {
                best = Math.max(best, run.itemsPerSecond());
            }
            return best;
        } finally {
            items = saved;
        }
    }

    private interface Run {
        long itemsPerSecond() throws Exception;
    }

    /**
     * {@code compare [--pin=one|split] [--rounds=N] [--items=N] MECHANISM...}: rounds of the named throughput
     * mechanisms ({@link #THROUGHPUT_MECHANISMS}), alternating (each mechanism once per round), then each one's
     * best, median and every round, M items/s. {@code --pin=one} runs every thread on CPU 0: a round then measures
     * what an item costs the producer and the consumer together, and varies little; {@code --pin=split} runs the
     * producer (the calling thread) on CPU 0 and every other thread on CPU 1: the hand-off between two CPUs
     * ({@link CpuPinning}).
     */
    static void compare(String[] args) throws Exception {
        String pin = "none";
        int rounds = 5;
        int perRound = 4_000_000;
        java.util.List<String> names = new java.util.ArrayList<>();
        for (String a : args) {
            if (a.equals("--pin=one") || a.equals("--pin=split")) {
                pin = a.substring(6);
            } else if (a.startsWith("--rounds=")) {
                rounds = Integer.parseInt(a.substring(9));
            } else if (a.startsWith("--items=")) {
                perRound = Integer.parseInt(a.substring(8));
            } else if (THROUGHPUT_MECHANISMS.contains(a)) {
                names.add(a);
            } else {
                throw new IllegalArgumentException("compare [--pin=one|split] [--rounds=N] [--items=N] MECHANISM...; unknown "
                        + a + "; mechanisms: " + THROUGHPUT_MECHANISMS);
            }
        }
        if (names.isEmpty() || rounds < 1 || perRound < POOL) {
            throw new IllegalArgumentException("compare needs a mechanism, --rounds >= 1 and --items >= " + POOL);
        }
        System.out.printf(Locale.ROOT, "%d rounds of %,d items, alternating; %s; M items/s%n", rounds, perRound,
                switch (pin) {
                    case "one" -> "every thread on CPU 0";
                    case "split" -> "producer on CPU 0, every other thread on CPU 1";
                    default -> "not pinned";
                });
        java.util.Map<String, double[]> rates = new java.util.LinkedHashMap<>();
        for (String n : names) {
            rates.put(n, new double[rounds]);
        }
        CpuPinning pinning = pin.equals("none") ? null : new CpuPinning(pin.equals("split"));
        try {
            for (int r = 0; r < rounds; r++) {
                for (String n : names) {
                    rates.get(n)[r] = throughput(n, perRound, 1) / 1e6;
                }
            }
        } finally {
            if (pinning != null) {
                pinning.close();
            }
        }
        for (java.util.Map.Entry<String, double[]> e : rates.entrySet()) {
            double[] v = e.getValue().clone();
            java.util.Arrays.sort(v);
            StringBuilder all = new StringBuilder();
            for (double x : e.getValue()) {
                all.append(String.format(Locale.ROOT, " %.2f", x));
            }
            System.out.printf(Locale.ROOT, "  %-16s best %6.2f  median %6.2f  (rounds:%s)%n", e.getKey(),
                    v[v.length - 1], v[v.length / 2], all);
        }
    }

    private static void report(String name, Run run) throws Exception {
        long best = 0;
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < ROUNDS; i++) {
            long r = run.itemsPerSecond();
            all.append(String.format(Locale.ROOT, " %.2f", r / 1e6));
            best = Math.max(best, r);
        }
        System.out.printf(Locale.ROOT, "  %-64s %8.2f   (rounds:%s)%n", name, best / 1e6, all);
    }

    private static long rate(long startNs, long endNs) {
        return (long) (items / ((endNs - startNs) / 1e9));
    }

    /** The consumer's count of items handled. */
    private interface Counter {
        void increment();

        long get();
    }

    /**
     * One consuming thread: it counts in a plain field and publishes the count every 1,024 items and at the
     * last one, so the producer's reads do not pull the line away from the consumer on every item. The same
     * counter as {@link TaskletThroughputHarness}'s; every single-consumer mechanism uses it.
     */
    private static final class Done implements Counter {
        long count;
        final AtomicLong published = new AtomicLong();

        @Override
        public void increment() {
            long c = ++count;
            if ((c & 1023) == 0 || c == items) {
                published.lazySet(c);
            }
        }

        @Override
        public long get() {
            return published.get();
        }
    }

    /** Several consuming threads (the unbound pool's workers): an atomic increment per item. */
    private static final class SharedDone implements Counter {
        final AtomicLong count = new AtomicLong();

        @Override
        public void increment() {
            count.incrementAndGet();
        }

        @Override
        public long get() {
            return count.get();
        }
    }

    private static void await(Counter done, long target) {
        while (done.get() < target) {
            backOff();
        }
    }

    /**
     * What a waiting producer does between two reads of the consumers' counter: about a microsecond of
     * spin-wait hints, then {@code Thread.yield()}. Reading the counter in a tight loop would pull its cache line
     * away from the consumer on every item it counts (the workqueue rows count with an atomic, see the class
     * notes), and the measurement would be of that tug-of-war rather than of the mechanism. The yield matters when
     * the host runs the producer and the consumer on one CPU (always with {@code compare --pin=one}, in some rounds
     * unpinned): a producer that only spins keeps the CPU from the consumer it waits for until its time slice
     * ends. The same for every row; the workqueue rows wait more often (a full window of reused items, above).
     */
    private static void backOff() {
        for (int i = 0; i < 64; i++) {
            Thread.onSpinWait();
        }
        Thread.yield();
    }

    private static long workqueue(boolean unbound, IdleStrategy kworkerIdle) {
        // An atomic counter even for the per-CPU pool: its concurrency management may let a second worker run
        // items alongside the first (see the class notes), and a plain counter then loses increments.
        Counter done = new SharedDone();
        Kernel k = Kernel.boot(KernelConfig.builder().cpus(1).idleStrategy(IdleStrategy.parking())
                .daemonIdleStrategy(kworkerIdle).reporter(Reporter.silent()).build());
        try {
            k.bindCurrentThread(0);
            Workqueues wqs = k.workqueues();
            Workqueue wq = unbound ? wqs.alloc("bench_u", Workqueue.WQ_UNBOUND, 0) : wqs.alloc("bench", 0, 0);
            Work[] pool = new Work[POOL];
            for (int i = 0; i < POOL; i++) {
                pool[i] = new Work("w" + i, w -> done.increment());
            }
            long start = System.nanoTime();
            long seenDone = 0;
            long refused = 0;
            for (int i = 0; i < items; i++) {
                // At most POOL - 1024 items in flight, so an item is normally re-queued long after it ran; the
                // counter is re-read only when the cached value says "full".
                if (i - seenDone >= POOL - 1024) {
                    long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (i - seenDone >= POOL - 1024) {
                        if (backOffPastDeadline(giveUp)) {
                            throw timedOut("the workers (" + seenDone + " of " + i + " items done)");
                        }
                        seenDone = done.get();
                    }
                }
                Work w = pool[i & (POOL - 1)];
                // With several consumers (unbound) an old item can still be pending: wait until it has run.
                while (!wqs.queue(wq, w)) {
                    refused++;
                    Thread.onSpinWait();
                }
            }
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (done.get() < items) {
                if (backOffPastDeadline(giveUp)) {
                    throw timedOut("the last items (" + done.get() + " of " + items + " done)");
                }
            }
            long end = System.nanoTime();
            if (refused > 0) {
                System.out.printf(Locale.ROOT, "    (%,d queue attempts found the item still pending)%n", refused);
            }
            return rate(start, end);
        } finally {
            k.detachCurrentThread();
            k.close();
        }
    }

    /**
     * A distinct item of the claim floor: its own claim flag, like a work item's PENDING bit, and a link. Ten more
     * longs give it a work item's size (about 100 bytes, two cache lines, the flag and the link on different ones):
     * items packed three to a line would share each line's transfer between CPUs, which no work item does.
     */
    private static final class Claimable {
        volatile int claimed;
        volatile Claimable next;
        @SuppressWarnings("unused") // size only
        long f0, f1, f2, f3, f4, f5, f6, f7, f8, f9;
    }

    /** The runtime's intrusive MPSC list over {@link Claimable#next}, the same list a pool's incoming items use. */
    private static final class ClaimableList extends dev.bottomhalf.internal.sync.MpscLinkedList<Claimable> {
        private static final java.lang.invoke.VarHandle NEXT;

        static {
            try {
                NEXT = java.lang.invoke.MethodHandles.lookup().findVarHandle(Claimable.class, "next", Claimable.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        ClaimableList() {
            super(new Claimable(), new Claimable());
        }

        @Override
        protected Claimable nextAcquire(Claimable c) {
            return (Claimable) NEXT.getAcquire(c);
        }

        @Override
        protected void setNextRelease(Claimable c, Claimable next) {
            NEXT.setRelease(c, next);
        }

        @Override
        protected void setNextPlain(Claimable c, Claimable next) {
            NEXT.set(c, next);
        }
    }

    private static final java.lang.invoke.VarHandle CLAIMED;

    static {
        try {
            CLAIMED = java.lang.invoke.MethodHandles.lookup().findVarHandle(Claimable.class, "claimed", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * The floor of a hand-off of distinct, re-queueable items between two threads (docs/benchmarks.md §26): what
     * any design with a per-item PENDING bit pays, and nothing else. The producer claims each item's flag with a
     * CAS (as {@code queue_work} claims PENDING) and hands it over; the consumer clears the flag with a volatile
     * store (the clear and the full barrier before the function runs) and counts it in the same atomic counter as
     * the workqueue rows. The same pool of items and the same window of items in flight as {@link #workqueue}.
     * {@code list}: handed over through the runtime's intrusive MPSC list (the workqueue's incoming list: the
     * consumer follows each item's link), else through a JCTools {@code MpscArrayQueue} (the consumer reads
     * references from an array). No kernel, no pool, no flush or cancel accounting.
     */
    private static long claimFloor(boolean list) throws InterruptedException {
        Counter done = new SharedDone();
        Claimable[] pool = new Claimable[POOL];
        for (int i = 0; i < POOL; i++) {
            pool[i] = new Claimable();
        }
        MpscArrayQueue<Claimable> ring = list ? null : new MpscArrayQueue<>(POOL);
        ClaimableList incoming = list ? new ClaimableList() : null;
        AtomicBoolean running = new AtomicBoolean(true);
        Thread consumer = Thread.ofPlatform().daemon().start(() -> {
            int idle = 0;
            while (running.get()) {
                Claimable c = list ? incoming.takeAll() : ring.relaxedPoll();
                if (c == null) {
                    // Spin, and yield now and then: a host that puts both threads on one CPU must let the producer run.
                    if ((++idle & 63) == 0) {
                        Thread.yield();
                    } else {
                        Thread.onSpinWait();
                    }
                    continue;
                }
                idle = 0;
                if (list) {
                    while (c != null) {
                        Claimable next = incoming.successor(c);
                        c.claimed = 0;
                        done.increment();
                        c = next;
                    }
                } else {
                    c.claimed = 0;
                    done.increment();
                }
            }
        });
        try {
            long start = System.nanoTime();
            long seenDone = 0;
            for (int i = 0; i < items; i++) {
                if (i - seenDone >= POOL - 1024) {
                    long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (i - seenDone >= POOL - 1024) {
                        if (backOffPastDeadline(giveUp)) {
                            throw timedOut("the consumer (" + seenDone + " of " + i + " items done)");
                        }
                        seenDone = done.get();
                    }
                }
                Claimable c = pool[i & (POOL - 1)];
                while (!CLAIMED.compareAndSet(c, 0, 1)) {
                    Thread.onSpinWait();
                }
                if (list) {
                    incoming.push(c);
                } else {
                    while (!ring.offer(c)) {
                        Thread.onSpinWait();
                    }
                }
            }
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (done.get() < items) {
                if (backOffPastDeadline(giveUp)) {
                    throw timedOut("the last items (" + done.get() + " of " + items + " done)");
                }
            }
            return rate(start, System.nanoTime());
        } finally {
            running.set(false);
            consumer.join();
        }
    }

    private static final class Event {
        int value;
    }

    private static long disruptor(Counter done) {
        Disruptor<Event> d = new Disruptor<>(Event::new, 1 << 16, DaemonThreadFactory.INSTANCE, ProducerType.SINGLE,
                new BusySpinWaitStrategy());
        d.handleEventsWith((e, seq, end) -> done.increment());
        RingBuffer<Event> rb = d.start();
        long start = System.nanoTime();
        for (int i = 0; i < items; i++) {
            long seq = rb.next();
            rb.get(seq).value = i;
            rb.publish(seq);
        }
        await(done, items);
        long end = System.nanoTime();
        d.halt();
        return rate(start, end);
    }

    private static long jctools() throws InterruptedException {
        Done done = new Done();
        MpscArrayQueue<Integer> q = new MpscArrayQueue<>(1 << 16);
        Integer item = 1;
        AtomicBoolean running = new AtomicBoolean(true);
        Thread consumer = Thread.ofPlatform().daemon().start(() -> {
            while (running.get()) {
                if (q.poll() != null) {
                    done.increment();
                } else {
                    Thread.onSpinWait();
                }
            }
        });
        long start = System.nanoTime();
        for (int i = 0; i < items; i++) {
            while (!q.offer(item)) {
                Thread.onSpinWait();
            }
        }
        await(done, items);
        long end = System.nanoTime();
        running.set(false);
        consumer.join();
        return rate(start, end);
    }

    private static long tpe() throws InterruptedException {
        Done done = new Done();
        ExecutorService pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
        Runnable task = () -> done.increment();
        long start = System.nanoTime();
        for (int i = 0; i < items; i++) {
            pool.execute(task);
        }
        await(done, items);
        long end = System.nanoTime();
        pool.shutdownNow();
        return rate(start, end);
    }

    /**
     * An {@link ExecutorService} peer measured exactly like the {@code ThreadPoolExecutor(1)} row: the producer
     * submits one shared task per item with {@code execute}; the tasks count in a {@link SharedDone} (a pool of
     * several threads, and virtual threads, may run them concurrently). {@code shutdown}: whether the pool is
     * the caller's to shut down (not the common pool).
     */
    private static long executor(ExecutorService pool, boolean shutdown) {
        Counter done = new SharedDone();
        Runnable task = done::increment;
        try {
            long start = System.nanoTime();
            for (int i = 0; i < items; i++) {
                pool.execute(task);
            }
            await(done, items);
            long end = System.nanoTime();
            return rate(start, end);
        } finally {
            if (shutdown) {
                pool.shutdownNow();
            }
        }
    }

    /** Netty's {@code DefaultEventLoop} (one thread, its MPSC task queue), measured like the TPE row. */
    private static long nettyEventLoop() throws InterruptedException {
        Done done = new Done();
        io.netty.channel.DefaultEventLoop loop = new io.netty.channel.DefaultEventLoop();
        Runnable task = done::increment;
        try {
            long start = System.nanoTime();
            for (int i = 0; i < items; i++) {
                loop.execute(task);
            }
            await(done, items);
            long end = System.nanoTime();
            return rate(start, end);
        } finally {
            loop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).await(10, TimeUnit.SECONDS);
        }
    }

    // ------------------------------------------------------------------------------------------
    // 2., 3. Latency to the function, one event at a time
    // ------------------------------------------------------------------------------------------

    /** One measured mechanism: {@link #fire()} hands over one event; the function stamps {@link #RECEIVED_AT}. */
    private interface Target extends AutoCloseable {
        void fire();

        @Override
        void close();
    }

    /**
     * One latency row: queue → function start ({@code h}), how long the queueing call took ({@code call}), and how
     * many of the {@code events} started before that call returned ({@code inside}: the woken thread took the
     * caller's CPU at the wake-up instead of waiting for the caller to block; docs/benchmarks.md §19).
     */
    private record Latency(Histogram h, Histogram call, long inside, long events) {
    }

    private static void row(String name, Latency l) {
        Histogram h = l.h();
        System.out.printf(Locale.ROOT, "  %-52s p50 %9d   p99 %9d   p99.9 %10d   max %10d   call p50 %6d   inside %5.1f%%%n",
                name, h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
                h.getMaxValue(), l.call().getValueAtPercentile(50), 100.0 * l.inside() / l.events());
    }

    private static Latency latency(Target target) {
        return latency(target, LAT_EVENTS);
    }

    /** {@code events} hand-overs measured after {@link #LAT_WARMUP} unmeasured ones. */
    private static Latency latency(Target target, int events) {
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        Histogram call = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        long inside = 0;
        try (target) {
            for (int i = 0; i < LAT_WARMUP + events; i++) {
                RECEIVED_AT.set(0);
                long sent = System.nanoTime();
                target.fire();
                long returned = System.nanoTime();
                long received;
                long giveUp = sent + TimeUnit.SECONDS.toNanos(5);
                // The caller waits parked, as a device between events would: the receiving side stamps the
                // time, so this adds nothing to the figure, and a spinning caller would hold one of the two
                // vCPUs that the woken thread needs (see §8.8 of docs/benchmarks.md).
                while ((received = RECEIVED_AT.get()) == 0) {
                    LockSupport.parkNanos(20_000);
                    if (System.nanoTime() > giveUp) {
                        throw new IllegalStateException("event " + i + " lost");
                    }
                }
                if (i >= LAT_WARMUP) {
                    h.recordValue(Math.max(0, received - sent));
                    call.recordValue(Math.max(0, returned - sent));
                    if (received < returned) {
                        inside++;
                    }
                }
                long next = sent + LAT_SPACING_NS;
                long left;
                while ((left = next - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(left);
                }
            }
        }
        return new Latency(h, call, inside, events);
    }

    /** {@code kworkerIdle}: the daemon idle strategy, or null for the default configuration. */
    private static Target workqueueTarget(boolean unbound, IdleStrategy kworkerIdle) {
        KernelConfig.Builder b = KernelConfig.builder().cpus(1).reporter(Reporter.silent());
        if (kworkerIdle != null) {
            b.daemonIdleStrategy(kworkerIdle);
        }
        Kernel k = Kernel.boot(b.build());
        k.bindCurrentThread(0);
        Workqueues wqs = k.workqueues();
        Workqueue wq = unbound ? wqs.alloc("lat_u", Workqueue.WQ_UNBOUND, 0) : wqs.alloc("lat", 0, 0);
        Work w = new Work("lat", x -> RECEIVED_AT.set(System.nanoTime()));
        return new Target() {
            @Override
            public void fire() {
                if (!wqs.queue(wq, w)) {
                    throw new IllegalStateException("the item is still pending");
                }
            }

            @Override
            public void close() {
                k.detachCurrentThread();
                k.close();
            }
        };
    }

    /**
     * The floor: a platform thread parked in {@link LockSupport#park()}, woken with one {@link LockSupport#unpark}
     * when the caller publishes an event (the publish-then-check-the-sleeping-flag protocol of the kernel's
     * threads). After each event it spins {@code spinNs} (0: none) looking for the next one, then parks.
     */
    private static Target unparkTarget(long spinNs) {
        final class Waiter extends Thread {
            volatile long published;
            volatile boolean sleeping;
            volatile boolean stop;

            Waiter() {
                super(spinNs == 0 ? "unpark-floor" : "unpark-spinner");
                setDaemon(true);
            }

            @Override
            public void run() {
                long seen = 0;
                while (!stop) {
                    if (published != seen) {
                        seen = published;
                        RECEIVED_AT.set(System.nanoTime());
                        continue;
                    }
                    long idleSince = System.nanoTime();
                    while (published == seen && !stop && System.nanoTime() - idleSince < spinNs) {
                        Thread.onSpinWait();
                    }
                    if (published != seen) {
                        continue;
                    }
                    sleeping = true;
                    if (published == seen && !stop) {
                        LockSupport.park();
                    }
                    sleeping = false;
                }
            }
        }
        Waiter waiter = new Waiter();
        waiter.start();
        return new Target() {
            @Override
            public void fire() {
                waiter.published = waiter.published + 1; // only the caller writes it
                if (waiter.sleeping) {
                    LockSupport.unpark(waiter);
                }
            }

            @Override
            public void close() {
                waiter.stop = true;
                LockSupport.unpark(waiter);
            }
        };
    }

    private static Target tpeTarget() {
        ExecutorService pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
        return executorTarget(pool);
    }

    private static Target fjpTarget() {
        return executorTarget(new ForkJoinPool(1));
    }

    private static Target executorTarget(ExecutorService pool) {
        Runnable task = () -> RECEIVED_AT.set(System.nanoTime());
        return new Target() {
            @Override
            public void fire() {
                pool.execute(task);
            }

            @Override
            public void close() {
                pool.shutdownNow();
            }
        };
    }

    /**
     * From the caller, a task on CPU 0: {@code queue_work(system_bh_wq)} or {@code tasklet_schedule}. With
     * {@code inline}, inside {@code local_bh_disable()}: the softirq then runs on the caller's thread at
     * {@code local_bh_enable()}.
     */
    private static Target bhTarget(boolean bhWq, boolean inline) {
        Kernel k = Kernel.boot(KernelConfig.builder().cpus(1).reporter(Reporter.silent()).build());
        ExecutionContext ctx = k.bindCurrentThread(0);
        Workqueues wqs = k.workqueues();
        Workqueue wq = wqs.systemBhWq();
        Work w = new Work("bh_lat", x -> RECEIVED_AT.set(System.nanoTime()));
        Tasklet t = Tasklet.setup("lat", x -> RECEIVED_AT.set(System.nanoTime()));
        return new Target() {
            @Override
            public void fire() {
                if (inline) {
                    ctx.localBhDisable();
                }
                if (bhWq) {
                    if (!wqs.queue(wq, w)) {
                        throw new IllegalStateException("the BH item is still pending");
                    }
                } else {
                    k.tasklets().schedule(t);
                }
                if (inline) {
                    ctx.localBhEnable();
                }
            }

            @Override
            public void close() {
                k.detachCurrentThread();
                k.close();
            }
        };
    }

    // ------------------------------------------------------------------------------------------
    // 4. Blocked-worker replacement
    // ------------------------------------------------------------------------------------------

    private static volatile Thread blockerThread;
    private static volatile boolean blockerStarted;
    private static volatile boolean blockerDone;

    /** kind 0: kernel msleep(5); 1: Thread.sleep(5); 2: LockSupport.parkNanos(5 ms). */
    private static void blocked(String name, int kind) throws InterruptedException {
        Kernel k = Kernel.boot(KernelConfig.builder().cpus(1).reporter(Reporter.silent()).build());
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
        long cmBefore;
        try {
            k.bindCurrentThread(0);
            Workqueues wqs = k.workqueues();
            Workqueue wq = wqs.alloc("blk", 0, 0);
            Work a = new Work("A", x -> {
                blockerThread = Thread.currentThread();
                blockerStarted = true;
                switch (kind) {
                    case 0 -> k.timers().msleep(5);
                    case 1 -> {
                        try {
                            Thread.sleep(5);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    default -> {
                        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5);
                        long left;
                        while ((left = end - System.nanoTime()) > 0) {
                            LockSupport.parkNanos(left);
                        }
                    }
                }
                blockerDone = true;
            });
            Work b = new Work("B", x -> RECEIVED_AT.set(System.nanoTime()));
            cmBefore = 0;
            for (int i = 0; i < BLOCK_WARMUP + BLOCK_EVENTS; i++) {
                if (i == BLOCK_WARMUP) {
                    cmBefore = wqs.cmWakeups();
                }
                blockerStarted = false;
                blockerDone = false;
                RECEIVED_AT.set(0);
                if (!wqs.queue(wq, a)) {
                    throw new IllegalStateException("A is still pending");
                }
                long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (!blockerStarted) {
                    if (spinPastDeadline(giveUp)) {
                        throw timedOut("A to start");
                    }
                }
                Thread at = blockerThread;
                Thread.State s;
                while ((s = at.getState()) != Thread.State.WAITING && s != Thread.State.TIMED_WAITING) {
                    if (spinPastDeadline(giveUp)) {
                        throw timedOut("A to block");
                    }
                }
                long sent = System.nanoTime();
                if (!wqs.queue(wq, b)) {
                    throw new IllegalStateException("B is still pending");
                }
                long received;
                while ((received = RECEIVED_AT.get()) == 0) {
                    // Parked, not spinning: B stamps its own start, so the wait adds nothing to the figure,
                    // and a spinning caller takes one of the two vCPUs from the worker it is waiting for.
                    LockSupport.parkNanos(20_000);
                    if (System.nanoTime() > giveUp) {
                        throw timedOut("B to start (sample " + i + ")");
                    }
                }
                if (i >= BLOCK_WARMUP) {
                    h.recordValue(Math.max(0, received - sent));
                }
                while (!blockerDone) {
                    LockSupport.parkNanos(100_000);
                    if (spinPastDeadline(giveUp)) {
                        throw timedOut("A to finish");
                    }
                }
                wqs.flush(a);
                LockSupport.parkNanos(500_000);
            }
            System.out.printf(Locale.ROOT, "  %-52s p50 %9d   p99 %9d   p99.9 %10d   max %10d%n", name,
                    h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
                    h.getMaxValue());
            System.out.printf(Locale.ROOT, "  %-52s concurrency-management wake-ups during the measurement: %,d%n", "",
                    wqs.cmWakeups() - cmBefore);
        } finally {
            k.detachCurrentThread();
            k.close();
        }
    }

    /**
     * One spin of a wait loop; true once {@code giveUpNs} has passed. The caller builds its message only then:
     * building it on every spin would put string formatting (and its allocation) in the measured loop.
     */
    private static boolean spinPastDeadline(long giveUpNs) {
        Thread.onSpinWait();
        return System.nanoTime() > giveUpNs;
    }

    /** A throughput producer's wait for the consumers: {@link #backOff()}, then the deadline check. */
    private static boolean backOffPastDeadline(long giveUpNs) {
        backOff();
        return System.nanoTime() > giveUpNs;
    }

    private static IllegalStateException timedOut(String what) {
        return new IllegalStateException("timed out waiting for " + what);
    }
}
