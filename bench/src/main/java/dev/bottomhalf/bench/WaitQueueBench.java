package dev.bottomhalf.bench;

import java.util.concurrent.TimeUnit;

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
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.sched.Completion;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.sched.WaitQueueHead;

/**
 * Question: what does {@code wake_up} cost when nobody waits (target: one volatile read, 0 B/op), and what
 * does a {@code complete()} → {@code wait_for_completion()} hand-off cost — on one thread (the done is there:
 * no sleep) and as a round trip to a kthread and back on a threaded kernel (two sleeps and two wake-ups)?
 *
 * <p>One threaded kernel (parking idle strategies). {@code floor_volatileRead} is the read of a volatile int
 * alone. The round trip: the benchmark thread (a
 * task on CPU 0) completes {@code request} and waits for {@code response}; a kthread waits for {@code request}
 * and completes {@code response}.
 *
 * <pre>./bottomhalf bench WaitQueueBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class WaitQueueBench {
    private final WaitQueueHead idle = new WaitQueueHead("idle");
    private final Completion same = new Completion("same");
    private volatile int floor;

    private Kernel threaded;
    private Sched threadedSched;
    private Task echo;
    private final Completion request = new Completion("request");
    private final Completion response = new Completion("response");

    @Setup(Level.Trial)
    public void boot() {
        threaded = Kernel.boot(KernelConfig.builder().cpus(2).idleStrategy(IdleStrategy.parking())
                .daemonIdleStrategy(IdleStrategy.parking()).reporter(Reporter.silent()).build());
        threadedSched = threaded.sched();
        Kthreads kthreads = threaded.kthreads();
        echo = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                if (threadedSched.waitForCompletionInterruptible(request) == 0) {
                    threadedSched.complete(response);
                }
            }
            return 0;
        }, null, "echo");
        threaded.bindCurrentThread(0); // one kernel per thread: the facade resolves this one
    }

    @TearDown(Level.Trial)
    public void close() {
        threaded.bindCurrentThread(0);
        threaded.kthreads().stop(echo);
        threaded.detachCurrentThread();
        threaded.close();
    }

    @Benchmark
    public int floor_volatileRead() {
        return floor;
    }

    @Benchmark
    public int wakeUp_noWaiter() {
        return threadedSched.wakeUp(idle);
    }

    @Benchmark
    public void facade_wakeUp_noWaiter() {
        Linux.wake_up(idle);
    }

    @Benchmark
    public void completeThenWait_sameThread() {
        threadedSched.complete(same);
        threadedSched.waitForCompletion(same);
    }

    @Benchmark
    public void completionRoundTrip_kthread() {
        threadedSched.complete(request);
        threadedSched.waitForCompletion(response);
    }
}
