package dev.bottomhalf.bench;

import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

import javax.management.ObjectName;

import org.agrona.DeadlineTimerWheel;
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
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;
import io.netty.util.HashedWheelTimer;
import io.netty.util.Timeout;
import io.netty.util.TimerTask;

/**
 * Question: what does it cost to arm, then cancel, a timer when a million of them are armed at once with
 * random delays from 1 ms to 10 s — {@code mod_timer} then {@code timer_delete} on bottomhalf's kernel timer
 * wheel against Netty's {@code HashedWheelTimer}, Agrona's {@code DeadlineTimerWheel}, a
 * {@code ScheduledThreadPoolExecutor(1)} and JDK 25's {@code ForkJoinPool.schedule}? Targets:
 * ≥ 2× faster than Netty, 0 B per timer after warm-up.
 *
 * <p>One invocation arms {@value #N} timers (delays from one pre-generated array, uniform in
 * [1, 10 000] ms, fixed seed), then cancels all of them in arming order; the score is per timer (arm +
 * cancel). Each mechanism has its own state, so no other mechanism's threads run during its benchmark.
 * <ul>
 * <li>bottomhalf, stepped: 1-CPU stepped kernel, the benchmark thread bound to CPU 0; {@value #N}
 * {@code TimerList}s created once; {@code timers.mod(t, kernel.jiffies() + delay)} then
 * {@code timers.delete(t)}. The manual clock does not move, so nothing expires and every delete finds
 * its timer pending. {@code jiffies} is a volatile read of the manual clock.</li>
 * <li>bottomhalf, threaded: the same on a threaded 1-CPU kernel (system clock, so two
 * {@code System.nanoTime} per arm: the caller's {@code jiffies} and {@code forward_timer_base}); the
 * timers due during the invocation fire on {@code cpu/0} as they would in use.</li>
 * <li>bottomhalf, threaded, relative: {@code timers.modAfter(t, delay)} — {@code mod_timer(t, jiffies +
 * delay)} with one clock read per arm (the caller's {@code jiffies} also forwards the base), the way
 * Netty's {@code newTimeout(task, delay, unit)} reads the clock once.</li>
 * <li>Netty: {@code new HashedWheelTimer(1, MILLISECONDS, 512)} (1 ms tick, to match HZ = 1000; 512
 * buckets), started in set-up; {@code newTimeout(task, delay, MILLISECONDS)} then {@code cancel()}. It
 * allocates a {@code Timeout} per arm by design; its worker thread moves new timeouts into the wheel and
 * unlinks cancelled ones on its own core.</li>
 * <li>Agrona: {@code new DeadlineTimerWheel(MILLISECONDS, 0, 1, ticksPerWheel)} with 1 ms resolution,
 * {@code scheduleTimer(now + delay)} then {@code cancelTimer(id)}; {@code now} is read once per invocation
 * (Agrona's cached-clock style; it never polls here). Two sizes: 16,384 spokes (16.4 s: every spoke
 * holds one millisecond's timers, about 100) and 1,024 spokes (about 1,000 timers a spoke: its
 * {@code scheduleTimer} scans the spoke for a free slot, so this is the slower shape).</li>
 * <li>{@code ScheduledThreadPoolExecutor(1)} with {@code setRemoveOnCancelPolicy(true)}:
 * {@code schedule(task, delay, MILLISECONDS)} then {@code cancel(false)}.</li>
 * <li>{@code new ForkJoinPool(1)}: {@code schedule(task, delay, MILLISECONDS)} (JDK 25) then
 * {@code cancel(false)}.</li>
 * </ul>
 * Timers that a peer's own thread expires during the invocation (delays of a few ms) are cancelled too,
 * which is then a no-op; that is the same for every threaded mechanism.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -jar bench/target/benchmarks.jar TimerArmCancelBench -prof gc</pre>
 *
 * <p>The heap per armed timer is not a JMH score: {@link HeapPerTimer} measures it
 * ({@code java -cp bench/target/benchmarks.jar 'dev.bottomhalf.bench.TimerArmCancelBench$HeapPerTimer'}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "-Xms4g", "-Xmx4g"})
public class TimerArmCancelBench {
    /** Timers armed (then cancelled) per invocation. */
    public static final int N = 1_000_000;
    /** Delays in milliseconds, uniform in [1, 10 000], fixed seed: every mechanism gets the same ones. */
    static final int[] DELAYS_MS = delays(N, 42);

    static int[] delays(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] d = new int[n];
        for (int i = 0; i < n; i++) {
            d[i] = 1 + r.nextInt(10_000);
        }
        return d;
    }

    static Kernel bootStepped() {
        return Kernel.boot(KernelConfig.builder().cpus(1).stepped().reporter(Reporter.silent()).build());
    }

    // ------------------------------------------------------------------------------------------
    // bottomhalf
    // ------------------------------------------------------------------------------------------

    /** A 1-CPU kernel, the benchmark thread bound to CPU 0, {@value #N} timers and their delays in jiffies. */
    public abstract static class KernelState {
        Kernel kernel;
        Timers timers;
        TimerList[] t;
        long[] delays;

        abstract Kernel boot();

        @Setup(Level.Trial)
        public void boot0() {
            kernel = boot();
            kernel.bindCurrentThread(0);
            timers = kernel.timers();
            t = new TimerList[N];
            TimerList.Callback fn = timer -> { };
            for (int i = 0; i < N; i++) {
                t[i] = TimerList.setup("bench", fn, 0);
            }
            delays = new long[N];
            for (int i = 0; i < N; i++) {
                delays[i] = kernel.msecsToJiffies(DELAYS_MS[i]);
            }
        }

        @TearDown(Level.Trial)
        public void close() {
            for (TimerList x : t) {
                timers.delete(x);
            }
            kernel.detachCurrentThread();
            kernel.close();
        }
    }

    @State(Scope.Thread)
    public static class SteppedKernel extends KernelState {
        @Override
        Kernel boot() {
            return bootStepped();
        }
    }

    @State(Scope.Thread)
    public static class ThreadedKernel extends KernelState {
        @Override
        Kernel boot() {
            return Kernel.boot(KernelConfig.builder().cpus(1).reporter(Reporter.silent()).build());
        }
    }

    static int armThenCancel(KernelState s) {
        Kernel kernel = s.kernel;
        Timers timers = s.timers;
        TimerList[] t = s.t;
        long[] delays = s.delays;
        int r = 0;
        for (int i = 0; i < N; i++) {
            r += timers.mod(t[i], kernel.jiffies() + delays[i]);
        }
        for (int i = 0; i < N; i++) {
            r += timers.delete(t[i]);
        }
        return r;
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int bottomhalf_stepped(SteppedKernel s) {
        return armThenCancel(s);
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int bottomhalf_threaded(ThreadedKernel s) {
        return armThenCancel(s);
    }

    /** Relative arming, one clock read per arm: {@code timers.modAfter(t, delay)}, the same delays. */
    static int armAfterThenCancel(KernelState s) {
        Timers timers = s.timers;
        TimerList[] t = s.t;
        long[] delays = s.delays;
        int r = 0;
        for (int i = 0; i < N; i++) {
            r += timers.modAfter(t[i], delays[i]);
        }
        for (int i = 0; i < N; i++) {
            r += timers.delete(t[i]);
        }
        return r;
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int bottomhalf_threaded_modAfter(ThreadedKernel s) {
        return armAfterThenCancel(s);
    }

    // ------------------------------------------------------------------------------------------
    // Netty
    // ------------------------------------------------------------------------------------------

    @State(Scope.Thread)
    public static class Netty {
        HashedWheelTimer timer;
        final Timeout[] handles = new Timeout[N];
        final TimerTask task = timeout -> { };

        @Setup(Level.Trial)
        public void start() {
            timer = new HashedWheelTimer(1, TimeUnit.MILLISECONDS, 512);
            timer.start();
        }

        @TearDown(Level.Trial)
        public void stop() {
            timer.stop();
        }
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int netty_hashedWheelTimer(Netty s) {
        HashedWheelTimer timer = s.timer;
        Timeout[] h = s.handles;
        TimerTask task = s.task;
        int[] d = DELAYS_MS;
        for (int i = 0; i < N; i++) {
            h[i] = timer.newTimeout(task, d[i], TimeUnit.MILLISECONDS);
        }
        int r = 0;
        for (int i = 0; i < N; i++) {
            r += h[i].cancel() ? 1 : 0;
        }
        return r;
    }

    // ------------------------------------------------------------------------------------------
    // Agrona
    // ------------------------------------------------------------------------------------------

    public abstract static class AgronaState {
        DeadlineTimerWheel wheel;
        final long[] ids = new long[N];

        abstract int ticksPerWheel();

        @Setup(Level.Trial)
        public void create() {
            wheel = new DeadlineTimerWheel(TimeUnit.MILLISECONDS, 0, 1, ticksPerWheel());
        }
    }

    @State(Scope.Thread)
    public static class Agrona16k extends AgronaState {
        @Override
        int ticksPerWheel() {
            return 16_384;
        }
    }

    @State(Scope.Thread)
    public static class Agrona1k extends AgronaState {
        @Override
        int ticksPerWheel() {
            return 1_024;
        }
    }

    static int agrona(AgronaState s) {
        DeadlineTimerWheel wheel = s.wheel;
        long[] ids = s.ids;
        int[] d = DELAYS_MS;
        long now = wheel.currentTickTime();
        for (int i = 0; i < N; i++) {
            ids[i] = wheel.scheduleTimer(now + d[i]);
        }
        int r = 0;
        for (int i = 0; i < N; i++) {
            r += wheel.cancelTimer(ids[i]) ? 1 : 0;
        }
        return r;
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int agrona_deadlineTimerWheel_16kSpokes(Agrona16k s) {
        return agrona(s);
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int agrona_deadlineTimerWheel_1kSpokes(Agrona1k s) {
        return agrona(s);
    }

    // ------------------------------------------------------------------------------------------
    // JDK
    // ------------------------------------------------------------------------------------------

    @State(Scope.Thread)
    public static class Stpe {
        ScheduledThreadPoolExecutor executor;
        final ScheduledFuture<?>[] handles = new ScheduledFuture<?>[N];
        final Runnable task = () -> { };

        @Setup(Level.Trial)
        public void start() {
            executor = new ScheduledThreadPoolExecutor(1);
            executor.setRemoveOnCancelPolicy(true);
        }

        @TearDown(Level.Trial)
        public void stop() {
            executor.shutdownNow();
        }
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int jdk_scheduledThreadPoolExecutor(Stpe s) {
        ScheduledThreadPoolExecutor executor = s.executor;
        ScheduledFuture<?>[] h = s.handles;
        Runnable task = s.task;
        int[] d = DELAYS_MS;
        for (int i = 0; i < N; i++) {
            h[i] = executor.schedule(task, d[i], TimeUnit.MILLISECONDS);
        }
        int r = 0;
        for (int i = 0; i < N; i++) {
            r += h[i].cancel(false) ? 1 : 0;
        }
        return r;
    }

    @State(Scope.Thread)
    public static class Fjp {
        ForkJoinPool pool;
        final ScheduledFuture<?>[] handles = new ScheduledFuture<?>[N];
        final Runnable task = () -> { };

        @Setup(Level.Trial)
        public void start() {
            pool = new ForkJoinPool(1);
        }

        @TearDown(Level.Trial)
        public void stop() {
            pool.shutdownNow();
        }
    }

    @Benchmark
    @OperationsPerInvocation(N)
    public int jdk_forkJoinPoolSchedule(Fjp s) {
        ForkJoinPool pool = s.pool;
        ScheduledFuture<?>[] h = s.handles;
        Runnable task = s.task;
        int[] d = DELAYS_MS;
        for (int i = 0; i < N; i++) {
            h[i] = pool.schedule(task, d[i], TimeUnit.MILLISECONDS);
        }
        int r = 0;
        for (int i = 0; i < N; i++) {
            r += h[i].cancel(false) ? 1 : 0;
        }
        return r;
    }

    // ------------------------------------------------------------------------------------------
    // Heap per armed timer (not JMH)
    // ------------------------------------------------------------------------------------------

    /**
     * Question: how much heap does one armed timer hold (target ≤ 48 B)? Method: the live heap after full
     * GCs ({@code System.gc()} until the used heap stops shrinking), with {@value #N} timers armed (random
     * delays of 1 ms–10 s, as in the benchmark) minus the same with none; the array holding the timer
     * references is allocated before the baseline, so its 4 B a timer is not counted. For bottomhalf the
     * {@code TimerList} objects are created after the baseline (they are the timers' memory: the wheel is
     * intrusive), the armed state is measured, then the deltas unarmed → armed (the wheel's share) and the
     * class histogram's exact bytes per {@code TimerList} instance ({@code GC.class_histogram}) are
     * reported too. The peers are measured the same way, as context: their per-timer objects are created
     * by arming. Run with a fixed heap so sizing does not move:
     *
     * <pre>java -Xms2g -Xmx2g -cp bench/target/benchmarks.jar 'dev.bottomhalf.bench.TimerArmCancelBench$HeapPerTimer'</pre>
     */
    public static final class HeapPerTimer {
        private HeapPerTimer() {
        }

        public static void main(String[] args) throws Exception {
            System.out.printf(Locale.ROOT, "JDK %s, %s; %,d timers; heap bytes per timer (live heap after full GC)%n",
                    System.getProperty("java.version"), ManagementFactory.getRuntimeMXBean().getInputArguments(), N);
            bottomhalf();
            peer("Netty HashedWheelTimer(1 ms, 512)", HeapPerTimer::netty);
            peer("Agrona DeadlineTimerWheel(1 ms, 16384 spokes)", n -> agrona(n, 16_384));
            peer("ScheduledThreadPoolExecutor(1)", HeapPerTimer::stpe);
            peer("ForkJoinPool(1).schedule", HeapPerTimer::fjp);
        }

        private static void bottomhalf() throws Exception {
            Kernel kernel = bootStepped();
            kernel.bindCurrentThread(0);
            Timers timers = kernel.timers();
            TimerList.Callback fn = timer -> { };
            TimerList[] t = new TimerList[N];
            long base = liveHeap();
            for (int i = 0; i < N; i++) {
                t[i] = TimerList.setup("bench", fn, 0);
            }
            long created = liveHeap();
            long now = kernel.jiffies();
            for (int i = 0; i < N; i++) {
                timers.mod(t[i], now + kernel.msecsToJiffies(DELAYS_MS[i]));
            }
            long armed = liveHeap();
            String histo = histogramLine(TimerList.class.getName());
            int pending = timers.pendingCount(0);
            for (TimerList x : t) {
                timers.delete(x);
            }
            long cancelled = liveHeap();
            System.out.printf(Locale.ROOT, "  bottomhalf TimerList, armed on the wheel:   %6.1f B/timer (%,d pending)%n",
                    (armed - base) / (double) N, pending);
            System.out.printf(Locale.ROOT, "    of which creating the TimerList:          %6.1f B/timer%n",
                    (created - base) / (double) N);
            System.out.printf(Locale.ROOT, "    of which arming it (wheel share):         %6.1f B/timer%n",
                    (armed - created) / (double) N);
            System.out.printf(Locale.ROOT, "    after cancelling all (vs created):        %6.1f B/timer%n",
                    (cancelled - created) / (double) N);
            System.out.printf(Locale.ROOT, "    class histogram: %s%n", histo);
            Reference.reachabilityFence(t);
            kernel.detachCurrentThread();
            kernel.close();
        }

        private static void peer(String name, IntFunction<Runnable> armAll) throws Exception {
            long base = liveHeap();
            Runnable release = armAll.apply(N);
            long armed = liveHeap();
            System.out.printf(Locale.ROOT, "  %-44s %6.1f B/timer%n", name + ", armed:", (armed - base) / (double) N);
            release.run();
        }

        private static Runnable netty(int n) {
            HashedWheelTimer timer = new HashedWheelTimer(1, TimeUnit.MILLISECONDS, 512);
            timer.start();
            TimerTask task = timeout -> { };
            Timeout[] h = new Timeout[n];
            for (int i = 0; i < n; i++) {
                h[i] = timer.newTimeout(task, 10_000 + DELAYS_MS[i], TimeUnit.MILLISECONDS);
            }
            // Let the worker move them from its queue into the wheel's buckets (100,000 per tick).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (System.nanoTime() < deadline) {
                sleep(100);
            }
            return () -> {
                Reference.reachabilityFence(h);
                timer.stop();
            };
        }

        private static Runnable agrona(int n, int ticksPerWheel) {
            DeadlineTimerWheel wheel = new DeadlineTimerWheel(TimeUnit.MILLISECONDS, 0, 1, ticksPerWheel);
            for (int i = 0; i < n; i++) {
                wheel.scheduleTimer(DELAYS_MS[i]);
            }
            return () -> Reference.reachabilityFence(wheel);
        }

        private static Runnable stpe(int n) {
            ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1);
            executor.setRemoveOnCancelPolicy(true);
            executor.prestartAllCoreThreads();
            Runnable task = () -> { };
            ScheduledFuture<?>[] h = new ScheduledFuture<?>[n];
            for (int i = 0; i < n; i++) {
                h[i] = executor.schedule(task, 10_000 + DELAYS_MS[i], TimeUnit.MILLISECONDS);
            }
            return () -> {
                Reference.reachabilityFence(h);
                executor.shutdownNow();
            };
        }

        private static Runnable fjp(int n) {
            ForkJoinPool pool = new ForkJoinPool(1);
            Runnable task = () -> { };
            ScheduledFuture<?>[] h = new ScheduledFuture<?>[n];
            for (int i = 0; i < n; i++) {
                h[i] = pool.schedule(task, 10_000 + DELAYS_MS[i], TimeUnit.MILLISECONDS);
            }
            // Let the delay scheduler take them from its pending queue into its heap.
            sleep(500);
            return () -> {
                Reference.reachabilityFence(h);
                pool.shutdownNow();
            };
        }

        /** The used heap after full GCs, once it stops shrinking. */
        static long liveHeap() {
            Runtime rt = Runtime.getRuntime();
            long prev = Long.MAX_VALUE;
            for (int i = 0; i < 10; i++) {
                System.gc();
                sleep(50);
                long used = rt.totalMemory() - rt.freeMemory();
                if (used >= prev) {
                    return Math.min(used, prev);
                }
                prev = used;
            }
            return prev;
        }

        /** The {@code GC.class_histogram} line of {@code className}: instances, bytes, and bytes per instance. */
        static String histogramLine(String className) throws Exception {
            String out = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
                    new Object[] {new String[0]}, new String[] {String[].class.getName()});
            for (String line : out.split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 4 && f[3].equals(className)) {
                    long instances = Long.parseLong(f[1]);
                    long bytes = Long.parseLong(f[2]);
                    return String.format(Locale.ROOT, "%,d instances, %,d B = %.1f B/instance (%s)", instances, bytes,
                            bytes / (double) instances, className);
                }
            }
            return "no histogram line for " + className;
        }

        static void sleep(long ms) {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
