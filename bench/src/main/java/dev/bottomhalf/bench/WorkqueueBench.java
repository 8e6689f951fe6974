package dev.bottomhalf.bench;

import java.util.concurrent.TimeUnit;

import org.jctools.queues.MpscArrayQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Question: what does {@code queue_work} cost the caller — when the item is already pending (returns false),
 * and when a distinct item has to be queued onto a per-CPU pool (target ≤ a JCTools MPSC offer, 0 B/op)?
 *
 * <p>There is no public "take the worklist back without running it", so the queueing rows queue a
 * pre-allocated distinct item and then {@code cancel_work} it (which unlinks it and clears PENDING): the
 * row is the cost of the pair. {@code cancel_idle} is the cancel of an item that is not queued (its two
 * atomics, no lock), for reference. The peer offers then polls.
 *
 * <ul>
 * <li>{@code Stepped}: a stepped 2-CPU kernel, caller bound to CPU 0, one pending item parked on the
 * worklist of CPU 0's pool. Nothing runs the pool, whose one worker is idle: every queue takes the
 * "wake an idle worker" branch of {@code kick_pool}, which in stepped mode finds no thread to unpark.</li>
 * <li>{@code Busy}: a threaded 1-CPU kernel whose CPU 0 pool has one worker running an item that yields in a
 * loop (RUNNABLE, so it keeps counting in {@code nr_running}; CPU-intensive detection switched off so it
 * keeps counting; {@code BusyBatch}'s spins instead), with one pending item behind it. This is the "busy pool" case: a queue finds
 * {@code need_more_worker} false and wakes nobody (it only checks that the per-tick concurrency check is
 * armed). Nothing drains the worklist concurrently.</li>
 * </ul>
 *
 * <p>{@code busy_queueDistinct_batch} does the same on the {@code Busy} kernel: the threaded path, where the
 * items are pushed on the pool's incoming list without its lock (the pool's check, on CPU 0's tick, moves them to
 * the worklist now and then while the row runs).
 *
 * <p>{@code stepped_queueDistinct_batch} measures the queueing alone: each invocation queues {@value #BATCH}
 * distinct items onto the stepped kernel's CPU 0 pool (nothing runs them), and an untimed per-invocation
 * tear-down cancels them all; JMH divides by the batch, so the per-invocation bookkeeping is spread over 1,024
 * queues. Its peer {@code jctools_offer_batch} offers 1,024 items into an MPSC queue the same way and drains it
 * untimed.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -jar bench/target/benchmarks.jar WorkqueueBench -prof gc</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class WorkqueueBench {

    /** Stepped 2-CPU kernel; the caller is a task on CPU 0; CPU 0's pool has an idle worker and one pending item. */
    @State(Scope.Thread)
    public static class Stepped {
        Kernel kernel;
        Workqueues wqs;
        Workqueue wq;
        final Work pending = new Work("pending", w -> { });
        final Work[] fresh = new Work[1024];
        int next;

        @Setup(Level.Trial)
        public void boot() {
            kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(Reporter.silent()).build());
            kernel.bindCurrentThread(0);
            wqs = kernel.workqueues();
            wq = wqs.alloc("bench", 0, 0);
            for (int i = 0; i < fresh.length; i++) {
                fresh[i] = new Work("w" + i, w -> { });
            }
            if (!wqs.queue(wq, pending)) {
                throw new IllegalStateException("could not queue the pending item");
            }
        }

        @TearDown(Level.Trial)
        public void close() {
            wqs.cancel(pending);
            kernel.detachCurrentThread();
            kernel.close();
        }
    }

    /** Threaded 1-CPU kernel; CPU 0's pool has a running (yielding) worker and one pending item behind it. */
    @State(Scope.Thread)
    public static class Busy {
        Kernel kernel;
        Workqueues wqs;
        Workqueue wq;
        volatile boolean stop;
        volatile boolean holding;
        final Work pending = new Work("pending", w -> { });
        final Work[] fresh = new Work[1024];
        int next;

        @Setup(Level.Trial)
        public void boot() {
            kernel = Kernel.boot(KernelConfig.builder().cpus(1).idleStrategy(IdleStrategy.parking())
                    .reporter(Reporter.silent()).build());
            kernel.bindCurrentThread(0);
            wqs = kernel.workqueues();
            wqs.cpuIntensiveThresholdUs(0); // the holder must keep counting in nr_running
            wq = wqs.alloc("bench", 0, 0);
            for (int i = 0; i < fresh.length; i++) {
                fresh[i] = new Work("w" + i, w -> { });
            }
            boolean spin = spinningHolder();
            Work holder = new Work("holder", w -> {
                holding = true;
                while (!stop) {
                    if (spin) {
                        Thread.onSpinWait();
                    } else {
                        Thread.yield();
                    }
                }
            });
            wqs.queue(wq, holder);
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!holding) {
                if (System.nanoTime() > giveUp) {
                    throw new IllegalStateException("the holder item did not start");
                }
                Thread.onSpinWait();
            }
            if (!wqs.queue(wq, pending)) {
                throw new IllegalStateException("could not queue the pending item");
            }
        }

        /**
         * Whether the holder spins instead of yielding: a yielding thread gets little CPU on a busy host, and the
         * pool's check may then take it for blocked in native code and start a worker for the items behind it.
         */
        boolean spinningHolder() {
            return false;
        }

        @TearDown(Level.Trial)
        public void close() {
            wqs.cancel(pending);
            stop = true;
            wqs.flushWorkqueue(wq);
            kernel.detachCurrentThread();
            kernel.close();
        }
    }

    /** Items queued per invocation by the batch rows. */
    static final int BATCH = 1024;

    /** {@link Stepped}, whose per-invocation tear-down cancels the batch the benchmark queued. */
    @State(Scope.Thread)
    public static class SteppedBatch extends Stepped {
        @TearDown(Level.Invocation)
        public void cancelTheBatch() {
            cancelEach(wqs, fresh);
        }
    }

    /** Cancels every item of a batch, each of which must be pending (untimed: the batch rows' tear-down). */
    static void cancelEach(Workqueues wqs, Work[] batch) {
        for (Work w : batch) {
            if (!wqs.cancel(w)) {
                throw new IllegalStateException(w.name() + " was not pending: the batch did not queue it");
            }
        }
    }

    /** Queues every item of a batch: the timed part of the batch rows. */
    static int queueEach(Workqueues wqs, Workqueue wq, Work[] batch) {
        int queued = 0;
        for (Work w : batch) {
            if (wqs.queue(wq, w)) {
                queued++;
            }
        }
        return queued;
    }

    /**
     * {@link Busy}, whose per-invocation tear-down cancels the batch the benchmark queued: the threaded kernel's
     * path, where a distinct item last run in (or never run by) this per-CPU pool is pushed on the pool's incoming
     * list without the pool lock, and the pool is busy, so nobody is woken.
     */
    @State(Scope.Thread)
    public static class BusyBatch extends Busy {
        @Override
        boolean spinningHolder() {
            return true; // (the batch must stay queued until the tear-down cancels it)
        }

        @TearDown(Level.Invocation)
        public void cancelTheBatch() {
            cancelEach(wqs, fresh);
        }
    }

    /** The batch rows' peer: an MPSC queue that the per-invocation tear-down drains. */
    @State(Scope.Thread)
    public static class PeerBatch {
        final MpscArrayQueue<Object> queue = new MpscArrayQueue<>(2 * BATCH);
        final Object[] items = new Object[BATCH];

        @Setup(Level.Trial)
        public void fill() {
            for (int i = 0; i < BATCH; i++) {
                items[i] = new Object();
            }
        }

        @TearDown(Level.Invocation)
        public void drain() {
            int n = queue.drain(x -> { });
            if (n != BATCH) {
                throw new IllegalStateException(n + " of " + BATCH + " offers were queued");
            }
        }
    }

    /**
     * The floor of {@code queue_work} of a distinct item on the locked path the stepped batch takes: per item,
     * the PENDING claim (a compare-and-set on the item's word), the pool lock (a compare-and-set, then a release
     * store) and the link at the worklist's tail. No colour, sequence, in-flight count, kick or tracepoint.
     * The per-invocation tear-down (untimed) clears the claims and the list.
     */
    @State(Scope.Thread)
    public static class FloorBatch {
        static final java.lang.invoke.VarHandle DATA;
        static final java.lang.invoke.VarHandle LOCK;

        static {
            try {
                DATA = java.lang.invoke.MethodHandles.lookup().findVarHandle(Item.class, "data", long.class);
                LOCK = java.lang.invoke.MethodHandles.lookup().findVarHandle(FloorBatch.class, "lock", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        /** An item of the floor: its claim word and links. */
        static final class Item {
            volatile long data;
            Item next;
            Item prev;
        }

        final Item[] items = new Item[BATCH];
        @SuppressWarnings("unused") // through LOCK
        volatile int lock;
        Item head;
        Item tail;

        @Setup(Level.Trial)
        public void make() {
            for (int i = 0; i < BATCH; i++) {
                items[i] = new Item();
            }
        }

        @TearDown(Level.Invocation)
        public void reset() {
            int n = 0;
            for (Item i = head; i != null; i = i.next) {
                n++;
            }
            if (n != BATCH) {
                throw new IllegalStateException(n + " of " + BATCH + " items were linked");
            }
            for (Item i : items) {
                i.data = 0;
                i.next = null;
                i.prev = null;
            }
            head = null;
            tail = null;
        }

        boolean queue(Item i) {
            if (!DATA.compareAndSet(i, 0L, 1L)) {
                return false;
            }
            while (!LOCK.compareAndSet(this, 0, 1)) {
                Thread.onSpinWait();
            }
            Item t = tail;
            i.prev = t;
            if (t == null) {
                head = i;
            } else {
                t.next = i;
            }
            tail = i;
            LOCK.setRelease(this, 0);
            return true;
        }
    }

    /**
     * The floor of the threaded path's {@code queue_work} of a distinct item ({@code busy_queueDistinct_batch}):
     * per item, the PENDING claim (a compare-and-set on the item's word) and the push on a multi-producer list
     * (an exchange of its tail, then a release store of the link). No pool-workqueue, colour, watcher check or
     * tracepoint. The per-invocation tear-down (untimed) clears the claims and the list.
     */
    @State(Scope.Thread)
    public static class PushFloorBatch {
        static final java.lang.invoke.VarHandle DATA;
        static final java.lang.invoke.VarHandle NEXT;
        static final java.lang.invoke.VarHandle TAIL;

        static {
            try {
                java.lang.invoke.MethodHandles.Lookup l = java.lang.invoke.MethodHandles.lookup();
                DATA = l.findVarHandle(Item.class, "data", long.class);
                NEXT = l.findVarHandle(Item.class, "next", Item.class);
                TAIL = l.findVarHandle(PushFloorBatch.class, "tail", Item.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        /** An item of the floor: its claim word and link. */
        static final class Item {
            volatile long data;
            volatile Item next;
        }

        final Item[] items = new Item[BATCH];
        final Item stub = new Item();
        @SuppressWarnings("unused") // through TAIL
        volatile Item tail = stub;

        @Setup(Level.Trial)
        public void make() {
            for (int i = 0; i < BATCH; i++) {
                items[i] = new Item();
            }
        }

        @TearDown(Level.Invocation)
        public void reset() {
            int n = 0;
            for (Item i = stub.next; i != null; i = i.next) {
                n++;
            }
            if (n != BATCH) {
                throw new IllegalStateException(n + " of " + BATCH + " items were linked");
            }
            for (Item i : items) {
                i.data = 0;
                i.next = null;
            }
            stub.next = null;
            tail = stub;
        }

        boolean queue(Item i) {
            if (!DATA.compareAndSet(i, 0L, 1L)) {
                return false;
            }
            Item prev = (Item) TAIL.getAndSet(this, i);
            NEXT.setRelease(prev, i);
            return true;
        }
    }

    /** The peer. */
    @State(Scope.Thread)
    public static class Peer {
        final MpscArrayQueue<Object> queue = new MpscArrayQueue<>(1024);
        final Object item = new Object();
    }

    @Benchmark
    public boolean stepped_queue_alreadyPending(Stepped s) {
        return s.wqs.queue(s.wq, s.pending);
    }

    @Benchmark
    public boolean stepped_queueThenCancel(Stepped s) {
        Work w = s.fresh[s.next++ & (s.fresh.length - 1)];
        s.wqs.queue(s.wq, w);
        return s.wqs.cancel(w);
    }

    @Benchmark
    public boolean stepped_cancel_idle(Stepped s) {
        return s.wqs.cancel(s.fresh[s.next++ & (s.fresh.length - 1)]);
    }

    @Benchmark
    public boolean busy_queue_alreadyPending(Busy b) {
        return b.wqs.queue(b.wq, b.pending);
    }

    @Benchmark
    public boolean busy_queueThenCancel(Busy b) {
        Work w = b.fresh[b.next++ & (b.fresh.length - 1)];
        b.wqs.queue(b.wq, w);
        return b.wqs.cancel(w);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int stepped_queueDistinct_batch(SteppedBatch s) {
        return queueEach(s.wqs, s.wq, s.fresh);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int busy_queueDistinct_batch(BusyBatch b) {
        return queueEach(b.wqs, b.wq, b.fresh);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int jctools_offer_batch(PeerBatch p) {
        int offered = 0;
        for (Object item : p.items) {
            if (p.queue.offer(item)) {
                offered++;
            }
        }
        return offered;
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int floor_claimLockLinkUnlock_batch(FloorBatch f) {
        int queued = 0;
        for (FloorBatch.Item i : f.items) {
            if (f.queue(i)) {
                queued++;
            }
        }
        return queued;
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int floor_claimPush_batch(PushFloorBatch f) {
        int queued = 0;
        for (PushFloorBatch.Item i : f.items) {
            if (f.queue(i)) {
                queued++;
            }
        }
        return queued;
    }

    @Benchmark
    public Object jctools_offerThenPoll(Peer p) {
        p.queue.offer(p.item);
        return p.queue.poll();
    }
}
