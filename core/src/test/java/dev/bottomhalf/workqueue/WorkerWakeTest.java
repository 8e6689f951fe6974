package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.runtime.AdaptivePoll;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;

/**
 * How an idle kworker is woken (docs/benchmarks.md §19): a kick decides under the pool lock which worker to wake
 * and wakes it when the lock is dropped, and under the default idle strategy a worker's spin window adapts to how
 * long it waited ({@link AdaptivePoll}). Waits have generous timeouts; nothing here asserts a latency.
 */
class WorkerWakeTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(1).with(b -> b.idleStrategy(IdleStrategy.parking()));

    private static void waitFor(BooleanSupplier c, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.onSpinWait();
        }
    }

    private static void waitAtLeastNanos(long ns) {
        long until = System.nanoTime() + ns;
        long left;
        while ((left = until - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
        }
    }

    /** CPU 0's normal pool, with its one worker idle and its thread parked. */
    private static Worker parkedWorker(Kernel kernel, Workqueue wq) {
        Workqueues wqs = kernel.workqueues();
        AtomicInteger runs = new AtomicInteger();
        Work first = new Work("first", x -> runs.incrementAndGet());
        assertTrue(wqs.queue(wq, first));
        waitFor(() -> runs.get() == 1 && !first.isPending(), "the first item");
        WorkerPool pool = wq.pwq(0).pool;
        Worker[] idle = new Worker[1];
        waitFor(() -> {
            pool.lock();
            try {
                idle[0] = pool.idle.size() == 1 && pool.workers.size() == 1 ? pool.idle.get(0) : null;
                return idle[0] != null;
            } finally {
                pool.unlock();
            }
        }, "the pool's one worker to go idle");
        Worker worker = idle[0];
        Thread t = worker.handle.thread();
        waitFor(() -> t.getState() == Thread.State.WAITING, "the worker's thread to park");
        return worker;
    }

    @Test
    void aKickUnderThePoolLock_leavesTheWakeForTheUnlock_whichWakesTheIdleWorker() {
        Kernel kernel = kernels.boot(b -> b.daemonIdleStrategy(IdleStrategy.parking()));
        kernel.bindCurrentThread(0);
        Workqueues wqs = kernel.workqueues();
        Workqueue wq = wqs.alloc("kick", Workqueue.WQ_FREEZABLE, 0); // freezable: queued under the pool lock
        Worker worker = parkedWorker(kernel, wq);
        WorkerPool pool = worker.pool;
        PoolWorkqueue pwq = wq.pwq(0);
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("kicked", x -> runs.incrementAndGet());
        assertTrue(w.tryClaimForQueue());
        pool.lock();
        try {
            w.setPwq(pwq);
            assertTrue(pwq.queueLocked(w));
            assertEquals(false, pool.kickLocked(kernel.context()), "an idle worker is there: none is created");
            assertSame(worker.handle, pool.pendingWakeLocked(), "the worker is chosen under the lock");
        } finally {
            pool.unlock();
        }
        waitFor(() -> runs.get() == 1 && !w.isPending(), "the kicked item");
        pool.lock();
        try {
            assertNull(pool.pendingWakeLocked(), "the unlock made the wake");
        } finally {
            pool.unlock();
        }
        kernel.detachCurrentThread();
    }

    @Test
    void aBhPoolsKick_raisesTheSoftirqUnderTheLock_andLeavesWakingKsoftirqdForTheUnlock() {
        Kernel kernel = kernels.boot(b -> b.daemonIdleStrategy(IdleStrategy.parking()));
        kernel.bindCurrentThread(0);
        Workqueues wqs = kernel.workqueues();
        Workqueue bh = wqs.systemBhWq();
        PoolWorkqueue pwq = bh.pwq(0);
        WorkerPool pool = pwq.pool;
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("bh_kicked", x -> runs.incrementAndGet());
        assertTrue(w.tryClaimForQueue());
        pool.lock();
        try {
            w.setPwq(pwq);
            assertTrue(pwq.queueLocked(w));
            assertEquals(false, pool.kickLocked(kernel.context()));
            assertSame(RuntimeAccess.get().cpu(kernel.context()), pool.pendingKsoftirqdWakeLocked(),
                    "ksoftirqd/0 is to be woken at the unlock");
            assertTrue((RuntimeAccess.get().cpu(kernel.context()).softirqPending()
                    & (1 << SoftirqVector.TASKLET.nr())) != 0, "TASKLET_SOFTIRQ is pending already");
        } finally {
            pool.unlock();
        }
        waitFor(() -> runs.get() == 1 && !w.isPending(), "the item, run by ksoftirqd/0's TASKLET_SOFTIRQ");
        pool.lock();
        try {
            assertNull(pool.pendingKsoftirqdWakeLocked(), "the unlock made the wake");
        } finally {
            pool.unlock();
        }
        kernel.detachCurrentThread();
    }

    @Test
    void aWorker_underTheDefaultIdleStrategy_pollsAdaptively_whileAnExplicitStrategyIsKept() {
        Kernel kernel = kernels.boot(b -> b.daemonIdleStrategy(IdleStrategy.parking()));
        WorkerPool pool = kernel.workqueues().systemWq().pwq(0).pool;
        Worker worker = new Worker(pool, 99, null, "kworker/0:99");
        AdaptivePoll a = assertInstanceOf(AdaptivePoll.class, worker.idleStrategy(IdleStrategy.defaultStrategy()));
        assertEquals(Worker.DEFAULT_SPIN_NS, a.maxNs());
        assertEquals(Worker.DEFAULT_SPIN_NS, a.windowNs(), "it starts as the default strategy");
        assertNotSame(a, worker.idleStrategy(IdleStrategy.defaultStrategy()), "one window per thread");
        IdleStrategy explicit = IdleStrategy.spinThenPark(Worker.DEFAULT_SPIN_NS);
        assertSame(explicit, worker.idleStrategy(explicit));
        assertSame(IdleStrategy.parking(), worker.idleStrategy(IdleStrategy.parking()));
    }

    @Test
    void aKworkerWhoseItemsComeAfterItParked_stopsPolling_afterThreeItems() {
        Kernel kernel = kernels.boot(b -> b.daemonIdleStrategy(IdleStrategy.defaultStrategy()));
        kernel.bindCurrentThread(0);
        Workqueues wqs = kernel.workqueues();
        Workqueue wq = wqs.alloc("sparse", 0, 0);
        Worker worker = parkedWorker(kernel, wq);
        KernelThread thread = (KernelThread) worker.handle.thread();
        AdaptivePoll window = assertInstanceOf(AdaptivePoll.class, thread.idleStrategy());
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("sparse", x -> runs.incrementAndGet());
        long[] expected = {25_000, 12_500, 0};
        for (int i = 0; i < expected.length; i++) {
            // Queued 1 ms after the thread was seen parked, so it waited longer than the 50 µs maximum whatever its
            // window was: the window halves. (The wait sets up the case; no latency is asserted.)
            waitAtLeastNanos(TimeUnit.MILLISECONDS.toNanos(1));
            assertTrue(wqs.queue(wq, w));
            int n = i + 1;
            waitFor(() -> runs.get() == n && !w.isPending(), "item " + n);
            waitFor(() -> thread.getState() == Thread.State.WAITING, "the worker's thread to park again");
            assertEquals(expected[i], window.windowNs(), "after item " + n);
        }
        assertEquals(1, wqs.workerCount(0, false));
        kernel.detachCurrentThread();
    }
}
