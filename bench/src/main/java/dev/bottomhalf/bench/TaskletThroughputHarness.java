package dev.bottomhalf.bench;

import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

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
 * <pre>java -cp bench/target/benchmarks.jar dev.bottomhalf.bench.TaskletThroughputHarness</pre>
 */
public final class TaskletThroughputHarness {
    private static final int ITEMS = 4_000_000;
    private static final int ROUNDS = 3;

    private TaskletThroughputHarness() {
    }

    public static void main(String[] args) throws Exception {
        System.out.printf(Locale.ROOT, "JDK %s; %,d items per round, best of %d rounds (M items/s)%n",
                System.getProperty("java.version"), ITEMS, ROUNDS);
        report("bottomhalf IRQ -> top half -> tasklet (busy-spin cpu/N)", TaskletThroughputHarness::tasklets);
        report("Disruptor 4, busy-spin consumer", TaskletThroughputHarness::disruptor);
        report("JCTools MpscArrayQueue, spinning consumer", TaskletThroughputHarness::jctools);
        report("ThreadPoolExecutor(1)", TaskletThroughputHarness::tpe);
    }

    private interface Run {
        long itemsPerSecond() throws Exception;
    }

    private static void report(String name, Run run) throws Exception {
        long best = 0;
        for (int i = 0; i < ROUNDS; i++) {
            best = Math.max(best, run.itemsPerSecond());
        }
        System.out.printf(Locale.ROOT, "  %-58s %8.2f%n", name, best / 1e6);
    }

    private static long rate(long startNs, long endNs) {
        return (long) (ITEMS / ((endNs - startNs) / 1e9));
    }

    private static void await(AtomicLong done, long target) {
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
        AtomicLong done = new AtomicLong();
        Ring ring = new Ring();
        int poolSize = 1 << 15;
        try (Kernel k = Kernel.boot(KernelConfig.builder().cpus(2).idleStrategy(IdleStrategy.busySpin())
                .reporter(Reporter.silent()).build())) {
            Tasklet[] pool = new Tasklet[poolSize];
            for (int i = 0; i < poolSize; i++) {
                pool[i] = Tasklet.setup("t" + i, t -> done.lazySet(done.get() + 1));
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
            k.irqs().setAffinity(9, 1);
            long start = System.nanoTime();
            long seenDone = 0;
            long seenTail = 0;
            long h = 0;
            for (int i = 0; i < ITEMS; i++) {
                // At most poolSize items in flight, so a tasklet is never re-scheduled while still queued.
                // The consumer's counters are re-read only when the cached values say "full", so the
                // producer does not bounce their cache lines on every item.
                while (i - seenDone >= poolSize - 1) {
                    k.irqs().assertIrq(9);
                    Thread.onSpinWait();
                    seenDone = done.get();
                }
                while (h - seenTail >= ring.items.length) {
                    k.irqs().assertIrq(9);
                    Thread.onSpinWait();
                    seenTail = ring.tail.get();
                }
                ring.items[(int) (h & (ring.items.length - 1))] = i & (poolSize - 1);
                ring.head.lazySet(++h);
                if ((i & 63) == 63) {
                    k.irqs().assertIrq(9);
                }
            }
            k.irqs().assertIrq(9);
            while (done.get() < ITEMS) {
                k.irqs().assertIrq(9);
                Thread.onSpinWait();
            }
            return rate(start, System.nanoTime());
        }
    }

    private static final class Event {
        int value;
    }

    private static long disruptor() {
        AtomicLong done = new AtomicLong();
        Disruptor<Event> d = new Disruptor<>(Event::new, 1 << 16, DaemonThreadFactory.INSTANCE, ProducerType.SINGLE,
                new BusySpinWaitStrategy());
        d.handleEventsWith((e, seq, end) -> done.lazySet(done.get() + 1));
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
        AtomicLong done = new AtomicLong();
        MpscArrayQueue<Integer> q = new MpscArrayQueue<>(1 << 16);
        Integer item = 1;
        AtomicBoolean running = new AtomicBoolean(true);
        Thread consumer = Thread.ofPlatform().daemon().start(() -> {
            long n = 0;
            while (running.get()) {
                if (q.poll() != null) {
                    done.lazySet(++n);
                } else {
                    Thread.onSpinWait();
                }
            }
        });
        long start = System.nanoTime();
        for (int i = 0; i < ITEMS; i++) {
            while (!q.offer(item)) {
                Thread.onSpinWait();
            }
        }
        await(done, ITEMS);
        long end = System.nanoTime();
        running.set(false);
        consumer.join();
        return rate(start, end);
    }

    private static long tpe() throws InterruptedException {
        AtomicLong done = new AtomicLong();
        ExecutorService pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
        Runnable task = () -> done.lazySet(done.get() + 1);
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
