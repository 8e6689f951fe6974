package dev.bottomhalf.bench;

import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;

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
import dev.bottomhalf.softirq.SoftirqVector;

import io.netty.util.concurrent.DefaultEventExecutor;

/**
 * Latency questions that JMH's modes answer poorly (one event in flight at a time, percentiles):
 * <ol>
 * <li>Hand-off: how long from a device thread asserting an IRQ line to the top half starting on
 * {@code cpu/N}, for the busy-spin, parking and default idle strategies — against a Disruptor with a
 * busy-spin consumer and against parking executors (ThreadPoolExecutor, Netty DefaultEventExecutor)
 * handing one task to a consumer. One event every 20 µs.</li>
 * <li>Top half → softirq: from the start of the hard-IRQ handler to the start of the NET_RX handler it
 * raised (same CPU, at irq_exit, no thread hop).</li>
 * <li>Flood: while a softirq re-raises itself forever on CPU 0, the hard-IRQ hand-off latency of a line
 * routed to CPU 0, and how many loop iterations a plain task thread still gets compared with no flood
 * ({@code ... LatencyHarness flood} runs only this part).</li>
 * </ol>
 * p50/p99 from HdrHistogram; p99.9 on a 2-vCPU VM is scheduler noise and is not a target.
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.bottomhalf.bench.LatencyHarness</pre>
 */
public final class LatencyHarness {
    private static final int EVENTS = 20_000;
    private static final int WARMUP = 5_000;
    private static final long SPACING_NS = 20_000;

    private LatencyHarness() {
    }

    /** One measured hand-off mechanism: {@link #fire(long)} starts an event stamped with its send time. */
    private interface Target extends AutoCloseable {
        void fire(long sentNs);

        @Override
        void close();
    }

    private static final AtomicLong RECEIVED_AT = new AtomicLong();

    public static void main(String[] args) throws Exception {
        System.out.println("JDK " + System.getProperty("java.version") + ", " + Runtime.getRuntime().availableProcessors()
                + " CPUs; " + EVENTS + " events, one every " + SPACING_NS / 1000 + " us; latencies in ns");
        System.out.println();
        if (args.length > 0 && args[0].equals("tophalf")) {
            row("hard-IRQ handler start -> NET_RX handler start", topHalfToSoftirq());
            return;
        }
        if (args.length > 0 && args[0].equals("flood")) {
            System.out.println("3. softirq flood on CPU 0");
            flood();
            return;
        }
        System.out.println("1. hand-off latency, assert -> top half / publish -> consumer");
        row("bottomhalf assertIrq, busy-spin", handoff(kernelTarget(IdleStrategy.busySpin())));
        row("bottomhalf assertIrq, default (spin 50us, park)", handoff(kernelTarget(IdleStrategy.defaultStrategy())));
        row("bottomhalf assertIrq, parking", handoff(kernelTarget(IdleStrategy.parking())));
        row("Disruptor 4, busy-spin consumer", handoff(disruptorTarget()));
        row("ThreadPoolExecutor(1), parking", handoff(tpeTarget()));
        row("Netty DefaultEventExecutor, parking", handoff(nettyTarget()));
        System.out.println();
        System.out.println("2. top half -> softirq on the same CPU (irq_exit)");
        row("hard-IRQ handler start -> NET_RX handler start", topHalfToSoftirq());
        System.out.println();
        System.out.println("3. softirq flood on CPU 0");
        flood();
    }

    private static void row(String name, Histogram h) {
        System.out.printf(Locale.ROOT, "  %-50s p50 %8d   p99 %8d   p99.9 %9d%n", name, h.getValueAtPercentile(50),
                h.getValueAtPercentile(99), h.getValueAtPercentile(99.9));
    }

    private static Histogram handoff(Target target) {
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(1), 3);
        try (target) {
            for (int i = 0; i < WARMUP + EVENTS; i++) {
                RECEIVED_AT.set(0);
                long sent = System.nanoTime();
                target.fire(sent);
                long received;
                long giveUp = sent + TimeUnit.SECONDS.toNanos(1);
                while ((received = RECEIVED_AT.get()) == 0) {
                    Thread.onSpinWait();
                    if (System.nanoTime() > giveUp) {
                        throw new IllegalStateException("event lost");
                    }
                }
                if (i >= WARMUP) {
                    h.recordValue(Math.max(0, received - sent));
                }
                long next = sent + SPACING_NS;
                while (System.nanoTime() < next) {
                    Thread.onSpinWait();
                }
            }
        }
        return h;
    }

    private static Target kernelTarget(IdleStrategy idle) {
        Kernel k = Kernel.boot(KernelConfig.builder().cpus(2).idleStrategy(idle).reporter(Reporter.silent()).build());
        k.irqs().request(9, (irq, dev) -> {
            RECEIVED_AT.set(System.nanoTime());
            return IrqReturn.HANDLED;
        }, Set.of(), "bench", "bench");
        k.irqs().setAffinity(9, 1);
        return new Target() {
            @Override
            public void fire(long sentNs) {
                k.irqs().assertIrq(9);
            }

            @Override
            public void close() {
                k.close();
            }
        };
    }

    private static final class Event {
        long sent;
    }

    private static Target disruptorTarget() {
        Disruptor<Event> d = new Disruptor<>(Event::new, 1024, DaemonThreadFactory.INSTANCE, ProducerType.SINGLE,
                new BusySpinWaitStrategy());
        d.handleEventsWith((e, seq, end) -> RECEIVED_AT.set(System.nanoTime()));
        RingBuffer<Event> ring = d.start();
        return new Target() {
            @Override
            public void fire(long sentNs) {
                long seq = ring.next();
                ring.get(seq).sent = sentNs;
                ring.publish(seq);
            }

            @Override
            public void close() {
                d.halt();
            }
        };
    }

    private static Target tpeTarget() {
        ExecutorService pool = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
        Runnable task = () -> RECEIVED_AT.set(System.nanoTime());
        return executorTarget(pool, task);
    }

    private static Target nettyTarget() {
        DefaultEventExecutor ex = new DefaultEventExecutor();
        Runnable task = () -> RECEIVED_AT.set(System.nanoTime());
        return new Target() {
            @Override
            public void fire(long sentNs) {
                ex.execute(task);
            }

            @Override
            public void close() {
                ex.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            }
        };
    }

    private static Target executorTarget(ExecutorService pool, Runnable task) {
        return new Target() {
            @Override
            public void fire(long sentNs) {
                pool.execute(task);
            }

            @Override
            public void close() {
                pool.shutdownNow();
            }
        };
    }

    private static Histogram topHalfToSoftirq() {
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(1), 3);
        AtomicLong topHalfAt = new AtomicLong();
        try (Kernel k = Kernel.boot(KernelConfig.builder().cpus(2).idleStrategy(IdleStrategy.busySpin())
                .reporter(Reporter.silent()).build())) {
            k.softirqs().open(SoftirqVector.NET_RX, () -> RECEIVED_AT.set(System.nanoTime()));
            k.irqs().request(9, (irq, dev) -> {
                topHalfAt.set(System.nanoTime());
                k.softirqs().raise(SoftirqVector.NET_RX);
                return IrqReturn.HANDLED;
            }, Set.of(), "bench", "bench");
            k.irqs().setAffinity(9, 1);
            for (int i = 0; i < WARMUP + EVENTS; i++) {
                RECEIVED_AT.set(0);
                k.irqs().assertIrq(9);
                long received;
                while ((received = RECEIVED_AT.get()) == 0) {
                    Thread.onSpinWait();
                }
                if (i >= WARMUP) {
                    h.recordValue(Math.max(0, received - topHalfAt.get()));
                }
                long next = System.nanoTime() + SPACING_NS;
                while (System.nanoTime() < next) {
                    Thread.onSpinWait();
                }
            }
        }
        return h;
    }

    private static void flood() throws InterruptedException {
        long baseline = taskIterations(null);
        try (Kernel k = Kernel.boot(KernelConfig.builder().cpus(2).reporter(Reporter.silent()).build())) {
            k.softirqs().open(SoftirqVector.NET_RX, () -> {
                for (int i = 0; i < 200; i++) {
                    Thread.onSpinWait();
                }
                k.softirqs().raise(SoftirqVector.NET_RX);      // re-raises itself forever
            });
            k.irqs().request(9, (irq, dev) -> {
                RECEIVED_AT.set(System.nanoTime());
                return IrqReturn.HANDLED;
            }, Set.of(), "bench", "bench");
            k.irqs().setAffinity(9, 0);
            k.bindCurrentThread(0);
            k.softirqs().raise(SoftirqVector.NET_RX);            // ksoftirqd/0 starts flooding
            Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(1), 3);
            for (int i = 0; i < 10_000; i++) {
                RECEIVED_AT.set(0);
                long sent = System.nanoTime();
                k.irqs().assertIrq(9);
                long received;
                // Park while waiting: a spinning waiter would take the second core from cpu/0 and
                // ksoftirqd/0 and measure the host scheduler instead of the kernel.
                while ((received = RECEIVED_AT.get()) == 0) {
                    LockSupport.parkNanos(20_000);
                }
                h.recordValue(received - sent);
                LockSupport.parkNanos(50_000);
            }
            row("hard-IRQ delivery to CPU 0 during the flood", h);
            long during = taskIterations(k);
            System.out.printf(Locale.ROOT, "  task thread loop iterations in 2 s: %,d without flood, %,d during (%.0f%%)%n",
                    baseline, during, 100.0 * during / baseline);
            System.out.printf(Locale.ROOT, "  NET_RX runs on CPU 0 during the flood: %,d; ksoftirqd/0 batches: %,d%n",
                    k.softirqs().count(0, SoftirqVector.NET_RX), k.softirqs().ksoftirqdRuns(0));
            k.detachCurrentThread();
        }
    }

    private static long taskIterations(Kernel k) throws InterruptedException {
        long[] n = {0};
        Thread t = Thread.ofPlatform().name("task").start(() -> {
            if (k != null) {
                k.bindCurrentThread(0);
            }
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            long c = 0;
            while (System.nanoTime() < end) {
                c++;
            }
            n[0] = c;
        });
        t.join();
        return n[0];
    }
}
