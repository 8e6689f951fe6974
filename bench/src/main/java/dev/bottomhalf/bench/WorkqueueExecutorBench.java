package dev.bottomhalf.bench;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.workqueue.WorkqueueExecutor;

/**
 * Question: what does a task cost through {@link WorkqueueExecutor} — a {@code submit} + {@code get} round trip,
 * and {@code execute} throughput (a batch of 1,000 no-op tasks, then a spin until all have run) — against a
 * {@link ThreadPoolExecutor} with two threads and a {@link ForkJoinPool} of parallelism 2, in the same run?
 * {@code -prof gc} gives the bytes allocated per task.
 *
 * <p>{@code executor}: {@code wq-percpu} (a threaded 2-CPU kernel, {@code alloc_workqueue("bench", 0, 0)}, the
 * caller a task on CPU 0, so every task runs on CPU 0's pool), {@code wq-unbound} ({@code WQ_UNBOUND},
 * {@code max_active} 2), {@code wq-raw} (the per-CPU workqueue's own {@code Executor}: a fresh item per task and
 * nothing else — with a {@code CompletableFuture} for the round trip — the adapter's overhead is the difference),
 * {@code tpe}, {@code fjp}.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -jar bench/target/benchmarks.jar WorkqueueExecutorBench -prof gc</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class WorkqueueExecutorBench {
    static final int BATCH = 1_000;

    @Param({"wq-percpu", "wq-unbound", "wq-raw", "tpe", "fjp"})
    public String executor;

    private Kernel kernel;
    private ExecutorService ex;
    /** {@code wq-raw}: the workqueue's own {@code Executor} (a fresh item per task, no lifecycle, no future). */
    private dev.bottomhalf.workqueue.Workqueue raw;
    private final AtomicLong ran = new AtomicLong();
    private Runnable count;

    @Setup(Level.Trial)
    public void start() {
        switch (executor) {
            case "wq-percpu", "wq-unbound" -> {
                kernel = Kernel.boot(KernelConfig.builder().cpus(2).reporter(Reporter.silent()).build());
                ex = executor.equals("wq-percpu") ? WorkqueueExecutor.alloc(kernel, "bench", 0, 0)
                        : WorkqueueExecutor.alloc(kernel, "bench", dev.bottomhalf.workqueue.Workqueue.WQ_UNBOUND, 2);
            }
            case "wq-raw" -> {
                kernel = Kernel.boot(KernelConfig.builder().cpus(2).reporter(Reporter.silent()).build());
                raw = kernel.workqueues().alloc("bench", 0, 0);
            }
            case "tpe" -> ex = new ThreadPoolExecutor(2, 2, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
            case "fjp" -> ex = new ForkJoinPool(2);
            default -> throw new IllegalArgumentException(executor);
        }
        count = ran::incrementAndGet;
    }

    @TearDown(Level.Trial)
    public void stop() {
        if (ex != null) {
            ex.close();
        }
        if (kernel != null) {
            kernel.close();
        }
    }

    /** One task submitted and waited for. */
    @Benchmark
    public Object submitGet() throws Exception {
        if (raw != null) {
            return java.util.concurrent.CompletableFuture.supplyAsync(ran::incrementAndGet, raw).get();
        }
        Future<Long> f = ex.submit(ran::incrementAndGet);
        return f.get();
    }

    /** {@link #BATCH} no-op tasks given to {@code execute}, then a spin until all have run: ns per task. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long executeBatch() {
        long target = ran.get() + BATCH;
        java.util.concurrent.Executor e = raw != null ? raw : ex;
        for (int i = 0; i < BATCH; i++) {
            e.execute(count);
        }
        long n;
        while ((n = ran.get()) < target) {
            Thread.onSpinWait();
        }
        return n;
    }
}
