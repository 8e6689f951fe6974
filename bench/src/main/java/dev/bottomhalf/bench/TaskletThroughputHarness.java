package dev.bottomhalf.bench;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.jctools.queues.MpscArrayQueue;

import com.lmax.disruptor.BusySpinWaitStrategy;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import com.lmax.disruptor.util.DaemonThreadFactory;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * Question: end-to-end throughput of distinct deferred items from one producer — for bottomhalf, a device
 * thread fills a ring and raises an IRQ; the top half takes the ring's items and schedules one distinct
 * tasklet per item; the tasklets run at irq_exit on the same CPU — against a Disruptor with a busy-spin
 * consumer, a JCTools MPSC queue with a spinning consumer thread, and a ThreadPoolExecutor(1). Targets:
 * ≥ 3× ThreadPoolExecutor, ≥ 0.7× Disruptor.
 *
 * <p>Every mechanism runs {@value #WARMUP_ROUNDS} untimed rounds, then {@value #ROUNDS} timed ones; the
 * report gives the median and the best timed round. (Until 2026-12 it took the best of 3 rounds with no
 * warm-up, which on this VM measured the JIT as much as the mechanism: the first rounds of the tasklet
 * path, which has the most code to compile, ran at half its steady rate.) All tasklets share one callback
 * object, as kernel drivers share one function among their tasklets and as every peer here passes one task
 * object for every item; a distinct lambda per tasklet cost one more cache miss per item that no peer pays.
 * A producer that finds its ring or queue full (the device thread here, the JCTools producer) waits with
 * {@code LockSupport.parkNanos(1)}, which is what the Disruptor's own producer does when its ring is full.
 * Until 2026-12 they spun instead: on a 2-core VM the simulated device then kept one of the two cores
 * busy doing nothing while the CPU that had to drain its ring (and that CPU's ksoftirqd) shared the other;
 * a real device waiting for ring space takes no CPU from the host.
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.bottomhalf.bench.TaskletThroughputHarness</pre>
 */
public final class TaskletThroughputHarness {
    private static final int ITEMS = 4_000_000;
    private static final int WARMUP_ROUNDS = 3;
    private static final int ROUNDS = 5;

    private TaskletThroughputHarness() {
    }

    public static void main(String[] args) throws Exception {
        System.out.printf(Locale.ROOT, "JDK %s; %,d items per round, %d warm-up rounds, then %d timed rounds:"
                + " median, best (M items/s), and every timed round%n", System.getProperty("java.version"), ITEMS,
                WARMUP_ROUNDS, ROUNDS);
        String only = args.length > 0 ? args[0] : "all";
        if (only.equals("all") || only.equals("tasklet")) {
            report("bottomhalf IRQ -> top half -> tasklet (busy-spin cpu/0)", TaskletThroughputHarness::tasklets);
        }
        if (only.equals("all") || only.equals("peers")) {
            report("Disruptor 4, busy-spin consumer", TaskletThroughputHarness::disruptor);
            report("JCTools MpscArrayQueue, spinning consumer", TaskletThroughputHarness::jctools);
            report("ThreadPoolExecutor(1)", TaskletThroughputHarness::tpe);
        }
    }

    private interface Run {
        long itemsPerSecond() throws Exception;
    }

    private static void report(String name, Run run) throws Exception {
        for (int i = 0; i < WARMUP_ROUNDS; i++) {
            run.itemsPerSecond();
        }
        long[] rates = new long[ROUNDS];
        StringBuilder each = new StringBuilder();
        for (int i = 0; i < ROUNDS; i++) {
            rates[i] = run.itemsPerSecond();
            each.append(String.format(Locale.ROOT, " %.2f", rates[i] / 1e6));
        }
        Arrays.sort(rates);
        System.out.printf(Locale.ROOT, "  %-58s %8.2f %8.2f   [%s ]%n", name, rates[ROUNDS / 2] / 1e6,
                rates[ROUNDS - 1] / 1e6, each);
    }

    private static long rate(long startNs, long endNs) {
        return (long) (ITEMS / ((endNs - startNs) / 1e9));
    }

    /**
     * The consumer's count of items handled. Only the consuming thread writes {@code count}; it publishes it to
     * the producer every 1,024 items and at the last one, so the producer's reads do not pull the line away
     * from the consumer on every item. Every mechanism uses the same counter.
     */
    private static final class Done {
        long count;
        final AtomicLong published = new AtomicLong();

        void increment() {
            long c = ++count;
            if ((c & 1023) == 0 || c == ITEMS) {
                published.lazySet(c);
            }
        }

        long get() {
            return published.get();
        }
    }

    private static void await(Done done, long target) {
        while (done.get() < target) {
            Thread.onSpinWait();
        }
    }

    /** The device ring: single producer (device thread), single consumer (the top half on cpu/1). */
    private static final class Ring {
        final int[] items = new int[1 << 16];
        final AtomicLong head = new AtomicLong();
        final AtomicLong tail = new AtomicLong();
    }

    private static long tasklets() throws Exception {
        Done done = new Done();
        Ring ring = new Ring();
        int poolSize = 1 << 15;
        try (Kernel k = Kernel.boot(KernelConfig.builder().cpus(1).idleStrategy(IdleStrategy.busySpin())
                .reporter(Reporter.silent()).build())) {
            Tasklet[] pool = new Tasklet[poolSize];
            Tasklet.Callback callback = t -> done.increment();
            for (int i = 0; i < poolSize; i++) {
                pool[i] = Tasklet.setup("t" + i, callback);
            }
            k.irqs().request(9, (irq, dev) -> {
                long t = ring.tail.get();
                long h = ring.head.get();
                for (; t < h; t++) {
                    k.tasklets().schedule(pool[ring.items[(int) (t & (ring.items.length - 1))]]);
                }
                ring.tail.lazySet(t);
                return IrqReturn.HANDLED;
            }, Set.of(), "bench", "bench");
            k.irqs().setAffinity(9, 0);
            long start = System.nanoTime();
            long seenDone = 0;
            long seenTail = 0;
            long h = 0;
            long signalled = 0; // the ring head at the last assert: a device raises its line for new items only
            for (int i = 0; i < ITEMS; i++) {
                // At most poolSize items in flight, so a tasklet is never re-scheduled while still queued.
                // The consumer's counters are re-read only when the cached values say "full", so the
                // producer does not bounce their cache lines on every item.
                while (i - seenDone >= poolSize - 1024 || h - seenTail >= ring.items.length) {
                    if (signalled != h) {
                        k.irqs().assertIrq(9);
                        signalled = h;
                    }
                    LockSupport.parkNanos(1L); // a full ring: wait as the Disruptor's producer does
                    if (i - seenDone >= poolSize - 1024) {
                        seenDone = done.get();
                    } else {
                        seenTail = ring.tail.get();
                    }
                }
                ring.items[(int) (h & (ring.items.length - 1))] = i & (poolSize - 1);
                ring.head.lazySet(++h);
                if ((i & 63) == 63) {
                    k.irqs().assertIrq(9);
                    signalled = h;
                }
            }
            if (signalled != h) {
                k.irqs().assertIrq(9);
            }
            while (done.get() < ITEMS) {
                Thread.onSpinWait();
            }
            return rate(start, System.nanoTime());
        }
    }

    private static final class Event {
        int value;
    }

    private static long disruptor() {
        Done done = new Done();
        Disruptor<Event> d = new Disruptor<>(Event::new, 1 << 16, DaemonThreadFactory.INSTANCE, ProducerType.SINGLE,
                new BusySpinWaitStrategy());
        d.handleEventsWith((e, seq, end) -> done.increment());
        RingBuffer<Event> rb = d.start();
        long start = System.nanoTime();
        for (int i = 0; i < ITEMS; i++) {
            long seq = rb.next();
            rb.get(seq).value = i;
            rb.publish(seq);
        }
        await(done, ITEMS);
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
        for (int i = 0; i < ITEMS; i++) {
            while (!q.offer(item)) {
                LockSupport.parkNanos(1L); // a full queue: wait as the Disruptor's producer does
            }
        }
        await(done, ITEMS);
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
        for (int i = 0; i < ITEMS; i++) {
            pool.execute(task);
        }
        await(done, ITEMS);
        long end = System.nanoTime();
        pool.shutdownNow();
        return rate(start, end);
    }
}
