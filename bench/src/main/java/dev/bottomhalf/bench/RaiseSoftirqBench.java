package dev.bottomhalf.bench;

import dev.bottomhalf.internal.Internals;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Set;
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
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;

/**
 * Question: what does it cost the caller to raise a softirq or assert an IRQ line on a CPU that is busy
 * (its bit is already pending or latched), and when the bit must be set, compared with the floor — one
 * atomic bit-OR — and with a JCTools MPSC offer? Target: ≤ 2× the bit-OR floor, 0 B/op.
 *
 * <p>The kernel is in stepped mode so that no consumer clears the bits: "busy" means the consumer has
 * not reached them yet. The "set" variants clear the bit after each op with the owner's swap (the same
 * swap the softirq loop does), and the floor does the same.
 *
 * <pre>./bottomhalf bench RaiseSoftirqBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class RaiseSoftirqBench {
    private static final VarHandle FLOOR;

    static {
        try {
            FLOOR = MethodHandles.lookup().findVarHandle(RaiseSoftirqBench.class, "floorBits", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused")
    private volatile int floorBits;
    private Kernel kernel;
    private ExecutionContext task;
    private final MpscArrayQueue<Object> queue = new MpscArrayQueue<>(1024);
    private final Object item = new Object();

    @Setup(Level.Trial)
    public void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(Reporter.silent()).build());
        task = kernel.bindCurrentThread(0);
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> { });
        kernel.irqs().request(9, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "nic", "nic");
        task.localBhDisable();                      // the CPU is "busy": nobody serves its softirqs
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        kernel.irqs().assertIrq(9);                 // latched; never delivered in this benchmark
    }

    @TearDown(Level.Trial)
    public void close() {
        Internals.machine(kernel).cpu(0).takeSoftirqPending();
        task.localBhEnable();
        kernel.detachCurrentThread();
        kernel.close();
    }

    @Benchmark
    public int floor_bitOr() {
        return (int) FLOOR.getAndBitwiseOr(this, 1 << 3);
    }

    @Benchmark
    public void raiseSoftirq_bitAlreadyPending() {
        kernel.softirqs().raise(SoftirqVector.NET_RX);
    }

    @Benchmark
    public void assertIrq_lineAlreadyLatched() {
        kernel.irqs().assertIrq(9);
    }

    @Benchmark
    public int floor_bitOrThenOwnerSwap() {
        FLOOR.getAndBitwiseOr(this, 1 << 3);
        return (int) FLOOR.getAndSet(this, 0);
    }

    @Benchmark
    public int raiseSoftirq_bitClearThenOwnerSwap() {
        kernel.softirqs().raise(SoftirqVector.NET_RX);
        return Internals.machine(kernel).cpu(0).takeSoftirqPending();
    }

    @Benchmark
    public Object jctools_offerThenPoll() {
        queue.offer(item);
        return queue.poll();
    }
}
