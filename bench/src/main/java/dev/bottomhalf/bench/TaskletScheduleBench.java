package dev.bottomhalf.bench;

import java.util.concurrent.TimeUnit;

import org.jctools.queues.MpscArrayQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * Question: what does {@code tasklet_schedule} cost the caller on a busy CPU — when the tasklet is
 * already scheduled (target ≤ 10 ns), and when it has to be queued (target ≤ a JCTools MPSC offer, 0 B)?
 *
 * <p>Stepped kernel, caller bound to CPU 0 inside a BH-disabled section: nothing runs the list, so the
 * "already scheduled" case stays scheduled; the "queue" case takes the list back and clears SCHED after
 * each op, exactly what the CPU's softirq would do before running it, and the peer does offer then poll.
 *
 * <pre>./bottomhalf bench TaskletScheduleBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class TaskletScheduleBench {
    private Kernel kernel;
    private ExecutionContext task;
    private final Tasklet pending = Tasklet.setup("pending", t -> { });
    private final Tasklet[] fresh = new Tasklet[1024];
    private int next;
    private final MpscArrayQueue<Object> queue = new MpscArrayQueue<>(1024);
    private final Object item = new Object();

    @Setup(Level.Trial)
    public void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(Reporter.silent()).build());
        task = kernel.bindCurrentThread(0);
        task.localBhDisable();
        kernel.tasklets().schedule(pending);
        for (int i = 0; i < fresh.length; i++) {
            fresh[i] = Tasklet.setup("t" + i, t -> { });
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        kernel.tasklets().disableNosync(pending);
        kernel.machine().cpu(0).takeSoftirqPending();
        task.localBhEnableNoRun();
        kernel.machine().detachCurrentThread();
        kernel.close();
    }

    @Benchmark
    public void schedule_alreadyScheduled() {
        kernel.tasklets().schedule(pending);
    }

    @Benchmark
    public void schedule_queueOntoTheCpuList() {
        Tasklet t = fresh[next++ & (fresh.length - 1)];
        kernel.tasklets().schedule(t);
        kernel.tasklets().drainForBenchmark(0);
    }

    @Benchmark
    public Object jctools_offerThenPoll() {
        queue.offer(item);
        return queue.poll();
    }
}
