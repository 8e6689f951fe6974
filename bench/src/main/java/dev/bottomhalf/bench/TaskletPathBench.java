package dev.bottomhalf.bench;

import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

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
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * Question: what does one item cost on the CPU that does all the work of
 * {@link TaskletThroughputHarness}'s bottomhalf row — IRQ, top half scheduling one distinct tasklet per
 * item, TASKLET_SOFTIRQ at irq_exit running them — without the threads? A diagnostic, not a target: it
 * runs on one thread (stepped kernel, one CPU), so a shared, loaded VM disturbs it far less than the
 * three spinning threads of the harness, and it splits the harness's time into "our code" and "the rest".
 *
 * <p>Two batch sizes. 64 items per interrupt with the tasklets still in cache from their scheduling is the
 * harness's light-load shape; 16,384 per interrupt is its shape under sustained load, where the softirq
 * pass finds thousands of tasklets queued (IRQs are taken between tasklets and keep appending) and every
 * tasklet has left the cache between its scheduling and its run. Both cycle through 32,768 tasklets, as
 * the harness does, in the order they were allocated — adjacent in memory, so the hardware prefetcher
 * hides most misses. The {@code _scattered} row schedules the same tasklets in a fixed random order, as a
 * program whose tasklets belong to objects spread over the heap would.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -jar bench/target/benchmarks.jar TaskletPathBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class TaskletPathBench {
    private static final int POOL = 1 << 15;

    private Kernel kernel;
    private final Tasklet[] pool = new Tasklet[POOL];
    private final Tasklet[] scattered = new Tasklet[POOL];
    private Tasklet[] order;
    private int next;
    private int batch;
    private long ran;

    @Setup(Level.Trial)
    public void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(1).irqLines(16).stepped().reporter(Reporter.silent()).build());
        Tasklet.Callback callback = t -> ran++;
        for (int i = 0; i < POOL; i++) {
            pool[i] = Tasklet.setup("t" + i, callback);
            scattered[i] = pool[i];
        }
        Random random = new Random(42);
        for (int i = POOL - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            Tasklet x = scattered[i];
            scattered[i] = scattered[j];
            scattered[j] = x;
        }
        kernel.irqs().request(9, (irq, dev) -> {
            for (int i = 0; i < batch; i++) {
                kernel.tasklets().schedule(order[next++ & (POOL - 1)]);
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "bench", "bench");
        kernel.irqs().setAffinity(9, 0);
    }

    @TearDown(Level.Trial)
    public void close() {
        if (ran == 0) {
            throw new IllegalStateException("no tasklet ran");
        }
        kernel.close();
    }

    private long interrupt(Tasklet[] tasklets, int items) {
        order = tasklets;
        batch = items;
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(0);
        return ran;
    }

    @Benchmark
    @OperationsPerInvocation(64)
    public long irqTopHalfTasklets_64PerInterrupt() {
        return interrupt(pool, 64);
    }

    @Benchmark
    @OperationsPerInvocation(16384)
    public long irqTopHalfTasklets_16kPerInterrupt() {
        return interrupt(pool, 16384);
    }

    @Benchmark
    @OperationsPerInvocation(16384)
    public long irqTopHalfTasklets_16kPerInterrupt_scattered() {
        return interrupt(scattered, 16384);
    }
}
