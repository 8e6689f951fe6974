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
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * Question: what do the NAPI hot paths cost — {@code napi_schedule} of an instance that is already scheduled
 * (one compare-and-set: MISSED), and a whole round of an interrupt's {@code napi_schedule} followed by
 * {@code net_rx_action} polling the instance once and completing it (both should allocate nothing)?
 *
 * <p>Stepped kernel, caller bound to CPU 0. The "already scheduled" row keeps BH disabled, so NET_RX never runs
 * and the instance stays scheduled; the "round" row schedules inside a BH-disabled section whose
 * {@code local_bh_enable} runs NET_RX on the caller's thread, where the poll takes one packet and completes.
 *
 * <pre>./bottomhalf bench NapiScheduleBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class NapiScheduleBench {
    private Kernel kernel;
    private ExecutionContext task;
    private final NetDevice dev = new NetDevice("eth0");
    private final NapiStruct pending = new NapiStruct();
    private final NapiStruct polled = new NapiStruct();

    @Setup(Level.Trial)
    public void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(Reporter.silent()).build());
        task = kernel.bindCurrentThread(0);
        kernel.napi().add(dev, pending, (n, budget) -> 0);
        kernel.napi().add(dev, polled, (n, budget) -> {
            kernel.napi().completeDone(n, 1);
            return 1;
        });
        kernel.napi().enable(polled);
    }

    @TearDown(Level.Trial)
    public void close() {
        kernel.detachCurrentThread();
        kernel.close();
    }

    /** {@code napi_schedule} of an instance that holds SCHED (here: disabled since its add): prep sets MISSED. */
    @Benchmark
    public boolean schedule_alreadyScheduled() {
        return kernel.napi().schedule(pending);
    }

    /** An interrupt's {@code napi_schedule}, then {@code net_rx_action} at {@code local_bh_enable}: one poll. */
    @Benchmark
    public void scheduleThenNetRxActionPollsOnce() {
        task.localBhDisable();
        kernel.napi().schedule(polled);
        task.localBhEnable();
    }
}
