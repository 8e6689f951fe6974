package dev.bottomhalf.bench;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

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
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * Question: what does an uncontended spinlock cost the caller — {@code spin_lock/spin_unlock},
 * {@code spin_lock_irqsave/spin_unlock_irqrestore} (the CPU's IRQ level taken and released too) and
 * {@code spin_lock_bh/spin_unlock_bh} (the BH level, and the pending-softirq check of the unlock) — with
 * lockdep off, against a {@link ReentrantLock} and a {@code synchronized} block in the same run? Target: 0 B/op;
 * {@code spin_lock/unlock} no slower than {@code ReentrantLock}.
 *
 * <p>Each op is one lock and one unlock around an increment of a plain field. The kernel is stepped (no runtime
 * threads compete for the two cores); the benchmark thread is a task on CPU 0.
 *
 * <pre>./bottomhalf bench SpinlockBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class SpinlockBench {
    private Kernel kernel;
    private final Spinlock lock = Spinlock.define("bench_lock");
    private final ReentrantLock reentrant = new ReentrantLock();
    private final Object monitor = new Object();
    private long counter;

    @Setup(Level.Trial)
    public void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(Reporter.silent()).build());
        kernel.bindCurrentThread(0);
    }

    @TearDown(Level.Trial)
    public void close() {
        kernel.detachCurrentThread();
        kernel.close();
    }

    @Benchmark
    public long spinLock_unlock() {
        lock.lock();
        long c = ++counter;
        lock.unlock();
        return c;
    }

    @Benchmark
    public long facade_spin_lock_spin_unlock() {
        Linux.spin_lock(lock);
        long c = ++counter;
        Linux.spin_unlock(lock);
        return c;
    }

    @Benchmark
    public long spinLockIrqsave_unlockIrqrestore() {
        long flags = lock.lockIrqsave();
        long c = ++counter;
        lock.unlockIrqrestore(flags);
        return c;
    }

    @Benchmark
    public long spinLockBh_unlockBh() {
        lock.lockBh();
        long c = ++counter;
        lock.unlockBh();
        return c;
    }

    @Benchmark
    public long reentrantLock_lockUnlock() {
        reentrant.lock();
        try {
            return ++counter;
        } finally {
            reentrant.unlock();
        }
    }

    @Benchmark
    public long synchronizedBlock() {
        synchronized (monitor) {
            return ++counter;
        }
    }
}
