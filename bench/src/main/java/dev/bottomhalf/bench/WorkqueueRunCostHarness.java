package dev.bottomhalf.bench;

import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Question: what does one work item cost the kernel from {@code queue_work} to the end of its (empty)
 * function, when the producer and the worker do not race for every item? A 1-CPU kernel; the caller,
 * bound to CPU 0, queues 4,096 distinct items on a per-CPU workqueue, then waits for them — in threaded
 * mode with {@code flush_workqueue} (the {@code kworker/0:N} thread runs them, mostly while the caller is
 * still queueing), in stepped mode with {@code runUntilIdle()} (the worker runs them after the caller has
 * queued them all: no second thread, no cache lines moving between cores). 200 such batches make a round;
 * the figure printed every fifth round is ns per item (queue + run).
 *
 * <p>Unlike {@link WorkqueueThroughputHarness}, which measures the hand-off under sustained load, this
 * isolates the per-item work of the queueing and worker paths: it is the harness for changes to those
 * paths (compare two builds back to back; the VM's speed varies between runs).
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.bottomhalf.bench.WorkqueueRunCostHarness [threaded|stepped]</pre>
 */
public final class WorkqueueRunCostHarness {
    private static final int ITEMS = 4096;
    private static final int BATCHES_PER_ROUND = 200;
    private static final int ROUNDS = 30;

    private WorkqueueRunCostHarness() {
    }

    public static void main(String[] args) {
        boolean stepped = args.length > 0 && args[0].equals("stepped");
        KernelConfig.Builder config = KernelConfig.builder().cpus(1).reporter(Reporter.silent());
        if (stepped) {
            config.stepped();
        }
        System.out.printf(Locale.ROOT, "JDK %s, %d CPUs, %s kernel%n", Runtime.version(),
                Runtime.getRuntime().availableProcessors(), stepped ? "stepped" : "threaded");
        try (Kernel kernel = Kernel.boot(config.build())) {
            kernel.bindCurrentThread(0);
            Workqueues wqs = kernel.workqueues();
            Workqueue wq = wqs.alloc("runcost", 0, 0);
            // Atomic: concurrency management may let a second worker run items alongside the first.
            AtomicLong ran = new AtomicLong();
            Work[] items = new Work[ITEMS];
            for (int i = 0; i < ITEMS; i++) {
                items[i] = new Work("w" + i, w -> ran.incrementAndGet());
            }
            for (int round = 1; round <= ROUNDS; round++) {
                long start = System.nanoTime();
                for (int b = 0; b < BATCHES_PER_ROUND; b++) {
                    for (Work w : items) {
                        wqs.queue(wq, w);
                    }
                    if (stepped) {
                        kernel.stepper().runUntilIdle();
                    } else {
                        wqs.flushWorkqueue(wq);
                    }
                }
                long ns = System.nanoTime() - start;
                if (round % 5 == 0) {
                    System.out.printf(Locale.ROOT, "  round %2d: %6.1f ns per item (queue + run)%n", round,
                            ns / (double) (BATCHES_PER_ROUND * ITEMS));
                }
            }
            long expected = (long) ROUNDS * BATCHES_PER_ROUND * ITEMS;
            if (ran.get() != expected) {
                throw new IllegalStateException("ran " + ran.get() + " items, expected " + expected);
            }
            kernel.detachCurrentThread();
        }
    }
}
