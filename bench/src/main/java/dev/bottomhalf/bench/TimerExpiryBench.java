package dev.bottomhalf.bench;

import dev.bottomhalf.internal.Internals;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

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
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;

/**
 * Question: how fast does the tick expire timers — a million timers due on one tick, from the local timer
 * interrupt through the TIMER_SOFTIRQ pass that runs every callback — against Agrona's
 * {@code DeadlineTimerWheel.poll}? And what CPU does an idle kernel spend on ticks ({@link IdleTickCost})?
 *
 * <p>Stepped 1-CPU kernel, the benchmark thread bound to CPU 0. Before each invocation (not timed) the
 * timers are armed with {@code mod_timer}; the timed part moves the manual clock, delivers the tick on
 * CPU 0 ({@code stepper.hardirq(0)}: the callbacks run in TIMER_SOFTIRQ at irq_exit) and runs anything
 * left ({@code runUntilIdle}). Each callback increments a counter; after each invocation the count is
 * checked. Scores are per expired timer.
 * <ul>
 * <li>{@code *_oneTick_1M}: 1,000,000 timers with the same expiry, 10 jiffies ahead (a level-0 bucket),
 * expired by one tick (the tick of jiffy expires + 1: {@code calc_wheel_index} rounds up by one
 * granule so a timer never fires early, as in the kernel). Agrona is absent at 1M: its {@code scheduleTimer} scans the spoke for a free slot
 * from the start, so putting N timers on one spoke costs N²/2 probes (5·10¹¹ for a million) and its
 * wheel array is ticksPerWheel × the fullest spoke.</li>
 * <li>{@code *_oneTick_64k}: the same with 65,536 timers, where Agrona can be armed (1 ms resolution, 16
 * spokes; the timers go on the wheel's current tick and the one timed {@code poll(now, handler,
 * Integer.MAX_VALUE)} expires them).</li>
 * <li>{@code *_spread_1M}: 1,000,000 timers with expiries spread evenly over the next 1,024 jiffies
 * (about 977 a tick), expired by ticking once a jiffy until all have fired: bottomhalf one
 * {@code advanceJiffies(1)} + {@code hardirq(0)} per jiffy (timers beyond 63 jiffies sit in coarser
 * wheel levels and fire together at their bucket's expiry, as in the kernel); Agrona (1 ms resolution,
 * 16,384 spokes) one {@code poll} per millisecond.</li>
 * </ul>
 * Netty's {@code HashedWheelTimer} is left out: it expires on its own worker thread, which the caller
 * cannot drive tick by tick, moves at most 100,000 new timeouts into the wheel per tick, and sleeps to the
 * next tick; timing it would measure its tick schedule, not its expiry work.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -jar bench/target/benchmarks.jar TimerExpiryBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED", "-Xms4g", "-Xmx4g"})
public class TimerExpiryBench {
    static final int MILLION = 1_000_000;
    static final int SMALL = 65_536;
    static final int SPREAD = 1_024;

    // ------------------------------------------------------------------------------------------
    // bottomhalf
    // ------------------------------------------------------------------------------------------

    /** A stepped 1-CPU kernel with {@code n()} timers whose callback counts. */
    public abstract static class KernelState {
        Kernel kernel;
        Timers timers;
        Stepper stepper;
        TimerList[] t;
        long fired;

        abstract int n();

        @Setup(Level.Trial)
        public void boot() {
            kernel = Kernel.boot(KernelConfig.builder().cpus(1).stepped().reporter(Reporter.silent()).build());
            kernel.bindCurrentThread(0);
            timers = kernel.timers();
            stepper = kernel.stepper();
            TimerList.Callback fn = timer -> fired++;
            t = new TimerList[n()];
            for (int i = 0; i < t.length; i++) {
                t[i] = TimerList.setup("bench", fn, 0);
            }
        }

        @TearDown(Level.Invocation)
        public void check() {
            if (fired != t.length) {
                throw new IllegalStateException(fired + " of " + t.length + " timers fired");
            }
        }

        @TearDown(Level.Trial)
        public void close() {
            kernel.detachCurrentThread();
            kernel.close();
        }
    }

    /** All timers on the same jiffy, 10 ahead. */
    public abstract static class OneTick extends KernelState {
        /** The jiffy whose tick expires them: the kernel's wheel fires a level-0 timer one jiffy after {@code expires}. */
        long due;

        @Setup(Level.Invocation)
        public void arm() {
            long expires = kernel.jiffies() + 10;
            for (TimerList x : t) {
                timers.mod(x, expires);
            }
            due = timers.nextExpiry(0);
            fired = 0;
        }
    }

    @State(Scope.Thread)
    public static class OneTick1M extends OneTick {
        @Override
        int n() {
            return MILLION;
        }
    }

    @State(Scope.Thread)
    public static class OneTick64k extends OneTick {
        @Override
        int n() {
            return SMALL;
        }
    }

    @State(Scope.Thread)
    public static class Spread1M extends KernelState {
        @Override
        int n() {
            return MILLION;
        }

        @Setup(Level.Invocation)
        public void arm() {
            long now = kernel.jiffies();
            for (int i = 0; i < t.length; i++) {
                timers.mod(t[i], now + 1 + (i % SPREAD));
            }
            fired = 0;
        }
    }

    static long oneTick(OneTick s) {
        s.stepper.advanceToJiffy(s.due);
        s.stepper.hardirq(0);
        s.stepper.runUntilIdle();
        return s.fired;
    }

    @Benchmark
    @OperationsPerInvocation(MILLION)
    public long bottomhalf_oneTick_1M(OneTick1M s) {
        return oneTick(s);
    }

    @Benchmark
    @OperationsPerInvocation(SMALL)
    public long bottomhalf_oneTick_64k(OneTick64k s) {
        return oneTick(s);
    }

    @Benchmark
    @OperationsPerInvocation(MILLION)
    public long bottomhalf_spread_1M(Spread1M s) {
        Stepper stepper = s.stepper;
        int n = s.t.length;
        for (int tick = 0; s.fired < n && tick < 4 * SPREAD; tick++) {
            stepper.advanceJiffies(1);
            stepper.hardirq(0);
        }
        stepper.runUntilIdle();
        return s.fired;
    }

    // ------------------------------------------------------------------------------------------
    // Agrona
    // ------------------------------------------------------------------------------------------

    public abstract static class AgronaState implements DeadlineTimerWheel.TimerHandler {
        DeadlineTimerWheel wheel;
        long fired;
        long now;
        int extraPolls;

        abstract int n();

        abstract int ticksPerWheel();

        @Override
        public boolean onTimerExpiry(TimeUnit timeUnit, long now, long timerId) {
            fired++;
            return true;
        }

        @Setup(Level.Trial)
        public void create() {
            wheel = new DeadlineTimerWheel(TimeUnit.MILLISECONDS, 0, 1, ticksPerWheel());
        }

        @TearDown(Level.Invocation)
        public void check() {
            if (fired != n() || wheel.timerCount() != 0 || extraPolls != 0) {
                throw new IllegalStateException(fired + " of " + n() + " timers fired, " + wheel.timerCount() + " left, "
                        + extraPolls + " extra polls");
            }
        }
    }

    @State(Scope.Thread)
    public static class AgronaOneTick64k extends AgronaState {
        @Override
        int n() {
            return SMALL;
        }

        @Override
        int ticksPerWheel() {
            return 16;
        }

        /** All on the wheel's current tick (its start time), so the next poll expires them. */
        @Setup(Level.Invocation)
        public void arm() {
            long deadline = wheel.currentTickTime() - 1;
            for (int i = 0; i < SMALL; i++) {
                wheel.scheduleTimer(deadline);
            }
            fired = 0;
        }
    }

    @State(Scope.Thread)
    public static class AgronaSpread1M extends AgronaState {
        @Override
        int n() {
            return MILLION;
        }

        @Override
        int ticksPerWheel() {
            return 16_384;
        }

        @Setup(Level.Invocation)
        public void arm() {
            for (int i = 0; i < MILLION; i++) {
                wheel.scheduleTimer(now + 1 + (i % SPREAD));
            }
            fired = 0;
        }
    }

    @Benchmark
    @OperationsPerInvocation(SMALL)
    public long agrona_oneTick_64k(AgronaOneTick64k s) {
        DeadlineTimerWheel wheel = s.wheel;
        long now = wheel.currentTickTime();
        wheel.poll(now, s, Integer.MAX_VALUE);
        while (wheel.timerCount() > 0) { // not expected: check() refuses the invocation
            s.extraPolls++;
            wheel.poll(++now, s, Integer.MAX_VALUE);
        }
        return s.fired;
    }

    // ------------------------------------------------------------------------------------------
    // The floor of the kernel's rule
    // ------------------------------------------------------------------------------------------

    /**
     * The floor of {@code expire_timers} under the kernel's rule that the base lock is dropped around every
     * callback (so a callback can re-arm its own timer, and other CPUs can arm and delete timers meanwhile): per
     * timer, the unlink from a doubly linked list, one release store to drop the lock, the callback, one
     * compare-and-set to take the lock back. No wheel, no pending flag, no running timer, no tracepoints.
     */
    @State(Scope.Thread)
    public static class FloorOneTick64k {
        static final java.lang.invoke.VarHandle LOCK;

        static {
            try {
                LOCK = java.lang.invoke.MethodHandles.lookup().findVarHandle(FloorOneTick64k.class, "lock", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        /** A timer of the floor: its links and a callback. */
        static final class Node {
            Node next;
            Node prev;
            java.util.function.Consumer<Node> fn;
        }

        @SuppressWarnings("unused") // through LOCK
        volatile int lock;
        final Node[] nodes = new Node[SMALL];
        Node head;
        long fired;

        @Setup(Level.Trial)
        public void make() {
            java.util.function.Consumer<Node> fn = n -> fired++;
            for (int i = 0; i < SMALL; i++) {
                nodes[i] = new Node();
                nodes[i].fn = fn;
            }
        }

        @Setup(Level.Invocation)
        public void link() {
            Node prev = null;
            for (Node n : nodes) {
                n.prev = prev;
                n.next = null;
                if (prev != null) {
                    prev.next = n;
                }
                prev = n;
            }
            head = nodes[0];
            fired = 0;
        }

        @TearDown(Level.Invocation)
        public void check() {
            if (fired != SMALL) {
                throw new IllegalStateException(fired + " of " + SMALL + " callbacks ran");
            }
        }

        void lock() {
            while (!LOCK.compareAndSet(this, 0, 1)) {
                Thread.onSpinWait();
            }
        }

        void unlock() {
            LOCK.setRelease(this, 0);
        }
    }

    @Benchmark
    @OperationsPerInvocation(SMALL)
    public long floor_lockDroppedPerCallback_64k(FloorOneTick64k s) {
        s.lock();
        FloorOneTick64k.Node n;
        while ((n = s.head) != null) {
            FloorOneTick64k.Node next = n.next;
            s.head = next;
            if (next != null) {
                next.prev = null;
            }
            n.next = null;
            s.unlock();
            n.fn.accept(n);
            s.lock();
        }
        s.unlock();
        return s.fired;
    }

    @Benchmark
    @OperationsPerInvocation(MILLION)
    public long agrona_spread_1M(AgronaSpread1M s) {
        DeadlineTimerWheel wheel = s.wheel;
        for (int tick = 0; wheel.timerCount() > 0 && tick < 4 * SPREAD; tick++) {
            s.now++;
            wheel.poll(s.now, s, Integer.MAX_VALUE);
        }
        return s.fired;
    }

    // ------------------------------------------------------------------------------------------
    // The CPU an idle kernel spends on ticks (not JMH)
    // ------------------------------------------------------------------------------------------

    /**
     * Question: what CPU do the runtime threads of an idle threaded kernel use, and how many local timer
     * interrupts does it take, with no timer armed (NO_HZ idle: expected 0) and with one timer that re-arms
     * itself from its callback with {@code mod_timer(t, jiffies + 1)}? (That fires every second jiffy:
     * during the callback the base clock is one ahead, and {@code calc_wheel_index} rounds up one granule,
     * as in the kernel.) Threaded kernel, {@code cpus(2)}, HZ = 1000, default idle strategy (spin 50 µs,
     * then park); the periodic case also with the parking strategy. Each phase boots a fresh kernel, lets
     * it settle for 500 ms, then reads {@code ThreadMXBean.getThreadCpuTime} of {@code cpu/0},
     * {@code cpu/1}, {@code ksoftirqd/0}, {@code ksoftirqd/1}, the process CPU time and
     * {@code localTimerInterrupts(cpu)} before and after a 2 s sleep of the main thread.
     *
     * <pre>java -cp bench/target/benchmarks.jar 'dev.bottomhalf.bench.TimerExpiryBench$IdleTickCost'</pre>
     */
    public static final class IdleTickCost {
        private static final long WINDOW_MS = 2_000;
        private static final String[] NAMES = {"cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1"};

        private IdleTickCost() {
        }

        public static void main(String[] args) throws Exception {
            int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 1;
            System.out.printf(Locale.ROOT, "JDK %s; threaded kernel, 2 CPUs, HZ=1000; %d ms window%n",
                    System.getProperty("java.version"), WINDOW_MS);
            for (int r = 0; r < rounds; r++) {
                phase("idle, no timer armed", false, IdleStrategy.defaultStrategy());
                phase("one timer re-arming itself every jiffy", true, IdleStrategy.defaultStrategy());
                phase("one timer re-arming itself every jiffy, parking idle strategy", true, IdleStrategy.parking());
            }
        }

        private static void phase(String title, boolean periodic, IdleStrategy idle) throws Exception {
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).idleStrategy(idle).daemonIdleStrategy(idle)
                    .reporter(Reporter.silent()).build());
            try {
                kernel.bindCurrentThread(0);
                Timers timers = kernel.timers();
                long[] runs = new long[1];
                TimerList t = TimerList.setup("periodic", timer -> {
                    runs[0]++;
                    timers.mod(timer, kernel.jiffies() + 1);
                }, 0);
                if (periodic) {
                    timers.mod(t, kernel.jiffies() + 1);
                }
                Thread.sleep(500);
                List<Thread> threads = new ArrayList<>();
                for (String name : NAMES) {
                    threads.add(find(kernel, name));
                }
                long[] cpu0 = new long[threads.size()];
                for (int i = 0; i < cpu0.length; i++) {
                    cpu0[i] = mx.getThreadCpuTime(threads.get(i).threadId());
                }
                long loc00 = timers.localTimerInterrupts(0);
                long loc10 = timers.localTimerInterrupts(1);
                long runs0 = runs[0];
                long process0 = os.getProcessCpuTime();
                long wall0 = System.nanoTime();
                Thread.sleep(WINDOW_MS);
                long wall = System.nanoTime() - wall0;
                long process = os.getProcessCpuTime() - process0;
                long[] cpu1 = new long[threads.size()];
                for (int i = 0; i < cpu1.length; i++) {
                    cpu1[i] = mx.getThreadCpuTime(threads.get(i).threadId());
                }
                long loc0 = timers.localTimerInterrupts(0) - loc00;
                long loc1 = timers.localTimerInterrupts(1) - loc10;
                long ran = runs[0] - runs0;
                timers.shutdownSync(t);
                System.out.printf(Locale.ROOT, "%s (wall %.0f ms):%n", title, wall / 1e6);
                long total = 0;
                for (int i = 0; i < cpu1.length; i++) {
                    long d = cpu1[i] - cpu0[i];
                    total += d;
                    System.out.printf(Locale.ROOT, "  %-12s %9.3f ms CPU%n", NAMES[i], d / 1e6);
                }
                System.out.printf(Locale.ROOT, "  %-12s %9.3f ms CPU = %.3f%% of one core%n", "total", total / 1e6,
                        100.0 * total / wall);
                System.out.printf(Locale.ROOT, "  %-12s %9.3f ms CPU (JIT, GC and the sleeping main thread included)%n",
                        "whole JVM", process / 1e6);
                System.out.printf(Locale.ROOT, "  LOC cpu0 %d, cpu1 %d; callbacks %d; runtime-thread CPU per tick %.2f us%n",
                        loc0, loc1, ran, loc0 + loc1 == 0 ? 0.0 : total / 1e3 / (loc0 + loc1));
            } finally {
                kernel.detachCurrentThread();
                kernel.close();
            }
        }

        private static Thread find(Kernel kernel, String name) {
            for (AgentHandle h : Internals.machine(kernel).agents()) {
                if (h.thread() != null && h.thread().getName().equals(name)) {
                    return h.thread();
                }
            }
            throw new IllegalStateException("no runtime thread " + name + " among " + Internals.machine(kernel).agents().stream()
                    .map(h -> h.thread() == null ? h.agent().name() : h.thread().getName()).toList());
        }
    }
}
