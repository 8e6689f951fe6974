package dev.bottomhalf.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;

/**
 * Under the default idle strategy every runtime thread that polls — {@code cpu/N} and {@code ksoftirqd/N} as well as
 * the kworkers — adapts its spin window to its waits ({@link AdaptivePoll}); a strategy chosen explicitly is kept.
 * Waits have generous timeouts; nothing here asserts a latency.
 */
class RuntimeThreadAdaptivePollTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(1);

    private static KernelThread thread(String name) {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(name) && t instanceof KernelThread k && t.isAlive()) {
                return k;
            }
        }
        throw new AssertionError("no runtime thread " + name);
    }

    private static void waitFor(BooleanSupplier c, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for " + what);
            }
            LockSupport.parkNanos(50_000);
        }
    }

    @Test
    void underTheDefaultStrategy_theCpuAndSoftirqThreadsPollAdaptively() {
        kernels.boot(b -> b.idleStrategy(IdleStrategy.defaultStrategy())
                .daemonIdleStrategy(IdleStrategy.defaultStrategy()));
        for (String name : new String[] {"cpu/0", "ksoftirqd/0"}) {
            AdaptivePoll a = assertInstanceOf(AdaptivePoll.class, thread(name).idleStrategy(), name);
            assertEquals(AdaptivePoll.DEFAULT_MAX_NS, a.maxNs(), name);
        }
    }

    @Test
    void anExplicitStrategy_isKept() {
        IdleStrategy spin = IdleStrategy.spinThenPark(AdaptivePoll.DEFAULT_MAX_NS);
        kernels.boot(b -> b.idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(spin));
        assertSame(IdleStrategy.parking(), thread("cpu/0").idleStrategy());
        assertSame(spin, thread("ksoftirqd/0").idleStrategy());
    }

    @Test
    void ksoftirqd_whoseSoftirqsComeAfterItParked_stopsPolling_afterThree() {
        Kernel kernel = kernels.boot(b -> b.daemonIdleStrategy(IdleStrategy.defaultStrategy()));
        kernel.bindCurrentThread(0);
        AtomicInteger runs = new AtomicInteger();
        kernel.softirqs().open(SoftirqVector.NET_TX, runs::incrementAndGet);
        KernelThread ksoftirqd = thread("ksoftirqd/0");
        AdaptivePoll window = assertInstanceOf(AdaptivePoll.class, ksoftirqd.idleStrategy());
        long[] expected = {25_000, 12_500, 0};
        for (int i = 0; i < expected.length; i++) {
            waitFor(() -> ksoftirqd.getState() == Thread.State.WAITING, "ksoftirqd/0 to park");
            // Raised 1 ms after the daemon was seen parked: it waited longer than the 50 µs maximum whatever its
            // window was, so the window halves. (The wait sets up the case; no latency is asserted.)
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            kernel.softirqs().raise(SoftirqVector.NET_TX); // task context, BH enabled: ksoftirqd/0 runs it
            int n = i + 1;
            waitFor(() -> runs.get() == n, "softirq " + n);
            waitFor(() -> ksoftirqd.getState() == Thread.State.WAITING, "ksoftirqd/0 to park again");
            assertEquals(expected[i], window.windowNs(), "after softirq " + n);
        }
        kernel.detachCurrentThread();
    }
}
