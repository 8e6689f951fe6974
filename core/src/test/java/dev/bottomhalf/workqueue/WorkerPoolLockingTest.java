package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.testing.KernelExtension;

/**
 * The pool lock's ownership rule (docs/subsystems/workqueue.md, "Ownership"): a {@code ...Locked} method of
 * {@link WorkerPool} or {@link PoolWorkqueue} asserts that its caller holds the pool lock — not merely that
 * somebody does. Runs under {@code -ea}, as every test run.
 */
class WorkerPoolLockingTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private WorkerPool pool;
    private PoolWorkqueue pwq;

    @BeforeEach
    void boot() {
        assumeTrue(WorkerPool.class.desiredAssertionStatus(), "needs -ea");
        pwq = kernels.kernel().workqueues().systemWq().pwqs[0];
        pool = pwq.pool;
    }

    @Test
    void lockedMethods_withoutThePoolLock_failTheirAssertion() {
        assertThrows(AssertionError.class, () -> pool.needMoreWorkerLocked());
        assertThrows(AssertionError.class, () -> pool.keepWorkingLocked());
        assertThrows(AssertionError.class, () -> pool.kickLocked(kernels.kernel().context()));
        assertThrows(AssertionError.class, () -> pool.insertWorkLocked(new Work("w", w -> { })));
        assertThrows(AssertionError.class, () -> pwq.queueLocked(new Work("w", w -> { })));
        assertThrows(AssertionError.class, () -> pwq.decNrInFlightLocked(0, false));
        assertThrows(AssertionError.class, () -> pwq.totalInFlightLocked());
    }

    @Test
    void lockedMethods_underThePoolLock_run() {
        pool.lock();
        try {
            assertFalse(assertDoesNotThrow(() -> pool.needMoreWorkerLocked()));
            assertTrue(assertDoesNotThrow(() -> pwq.totalInFlightLocked()) >= 0);
        } finally {
            pool.unlock();
        }
    }

    @Test
    void lockedMethods_whileAnotherThreadHoldsThePoolLock_failTheirAssertion() throws InterruptedException {
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        Thread holder = new Thread(() -> {
            pool.lock();
            try {
                held.countDown();
                done.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                pool.unlock();
            }
        }, "pool-lock-holder");
        holder.start();
        try {
            assertTrue(held.await(10, TimeUnit.SECONDS));
            assertThrows(AssertionError.class, () -> pool.needMoreWorkerLocked());
            assertThrows(AssertionError.class, () -> pwq.inFlightLocked(0));
        } finally {
            done.countDown();
            holder.join();
        }
    }
}
