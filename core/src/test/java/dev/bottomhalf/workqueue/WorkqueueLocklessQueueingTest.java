package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * {@code queue_work} on a per-CPU pool of a threaded kernel, which queues without the pool lock
 * ({@link Workqueues} {@code queueWithoutLock}): every item pushed runs exactly once, on its CPU; an idle
 * worker that parked is woken; a running worker, a cancel, a flush and {@code flush_workqueue} see items that
 * were pushed but not yet moved to the worklist. Waits have generous timeouts and nothing here asserts a
 * latency. The races themselves are in the jcstress {@code WorkqueueLocklessQueueStress}.
 */
class WorkqueueLocklessQueueingTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).with(b -> b.idleStrategy(IdleStrategy.parking()));
    private KernelReports reports;
    private Kernel kernel;
    private Workqueues wqs;

    private void boot(IdleStrategy daemonIdle) {
        kernel = kernels.boot(b -> b.daemonIdleStrategy(daemonIdle));
        reports = kernels.reports();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
    }

    private static void waitFor(BooleanSupplier c, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.onSpinWait();
        }
    }

    /**
     * Queues an item on CPU 0's pool that spins (runnable, so its worker keeps counting) until the returned
     * flag is set, and waits until it runs.
     */
    private AtomicBoolean runSpinnerUntilReleased(Workqueue wq) {
        AtomicBoolean release = new AtomicBoolean();
        AtomicBoolean started = new AtomicBoolean();
        wqs.queue(wq, new Work("spinner", x -> {
            started.set(true);
            while (!release.get()) {
                Thread.onSpinWait();
            }
        }));
        waitFor(started::get, "the spinning item");
        return release;
    }

    private void assertNoReports() {
        assertTrue(reports.events().stream().noneMatch(e -> e.kind() == KernelEvent.Kind.WARNING
                || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.OOPS), reports.events().toString());
    }

    /** Four producers, two per CPU, 20,000 distinct items each; every item runs once on the CPU it was queued on. */
    private void manyProducers(IdleStrategy daemonIdle) throws InterruptedException {
        boot(daemonIdle);
        Workqueue wq = wqs.alloc("many", 0, 0);
        int perProducer = 20_000;
        int producers = 4;
        AtomicIntegerArray runs = new AtomicIntegerArray(perProducer * producers);
        AtomicIntegerArray wrongCpu = new AtomicIntegerArray(1);
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int cpu = p % 2;
            int base = p * perProducer;
            threads.add(Thread.ofPlatform().start(() -> {
                kernel.bindCurrentThread(cpu);
                try {
                    for (int i = 0; i < perProducer; i++) {
                        int id = base + i;
                        Work w = new Work("m" + id, x -> {
                            runs.incrementAndGet(id);
                            if (kernel.context().cpuId() != cpu) {
                                wrongCpu.incrementAndGet(0);
                            }
                        });
                        assertTrue(wqs.queue(wq, w));
                    }
                } finally {
                    kernel.detachCurrentThread();
                }
            }));
        }
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
            assertFalse(t.isAlive(), "a producer did not finish");
        }
        wqs.flushWorkqueue(wq);
        for (int i = 0; i < runs.length(); i++) {
            assertEquals(1, runs.get(i), "runs of item " + i + " when flush_workqueue returned");
        }
        assertEquals(0, wrongCpu.get(0), "items that ran on another CPU than the one they were queued on");
        assertNoReports();
    }

    @Test
    void manyProducers_everyItemRunsOnceOnItsCpu_beforeFlushWorkqueueReturns_pollingWorkers() throws InterruptedException {
        manyProducers(IdleStrategy.defaultStrategy());
    }

    @Test
    void manyProducers_everyItemRunsOnceOnItsCpu_beforeFlushWorkqueueReturns_parkingWorkers() throws InterruptedException {
        manyProducers(IdleStrategy.parking());
    }

    @Test
    void aWorkerThatParked_isWokenByEachQueue() {
        boot(IdleStrategy.parking());
        Workqueue wq = wqs.alloc("wake", 0, 0);
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("w", x -> runs.incrementAndGet());
        for (int i = 1; i <= 300; i++) {
            assertTrue(wqs.queue(wq, w));
            int expected = i;
            waitFor(() -> runs.get() == expected && !w.isPending(), "run " + expected);
            if (i % 50 == 0) {
                sleepMillis(2); // long enough for the worker to park for sure
            }
        }
        assertEquals(1, wqs.workerCount(0, false));
        assertNoReports();
    }

    /**
     * While a worker runs an item, items queued behind it stay pushed (or are moved by the per-tick check);
     * a cancel from another CPU finds every one of them and removes it, and none runs.
     */
    @Test
    void itemsQueuedBehindARunningItem_areFoundAndRemovedByCancelFromAnotherCpu() throws InterruptedException {
        boot(IdleStrategy.defaultStrategy());
        wqs.cpuIntensiveThresholdUs(0); // the spinning item must keep its worker counted: nothing else starts
        Workqueue wq = wqs.alloc("behind", 0, 0);
        AtomicBoolean release = runSpinnerUntilReleased(wq);
        AtomicInteger runs = new AtomicInteger();
        Work[] behind = new Work[1000];
        for (int i = 0; i < behind.length; i++) {
            behind[i] = new Work("b" + i, x -> runs.incrementAndGet());
            assertTrue(wqs.queue(wq, behind[i]));
        }
        AtomicInteger cancelled = new AtomicInteger();
        Thread canceller = Thread.ofPlatform().start(() -> {
            kernel.bindCurrentThread(1);
            try {
                for (Work w : behind) {
                    if (wqs.cancel(w)) {
                        cancelled.incrementAndGet();
                    }
                }
            } finally {
                kernel.detachCurrentThread();
            }
        });
        canceller.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(canceller.isAlive());
        release.set(true);
        wqs.flushWorkqueue(wq);
        assertEquals(behind.length, cancelled.get(), "cancel_work found every item queued behind the running one");
        assertEquals(0, runs.get());
        for (Work w : behind) {
            assertFalse(w.isPending());
        }
        assertNoReports();
    }

    /** flush_work and flush_workqueue from another CPU wait for items queued (without the lock) before them. */
    @Test
    void flushesFromAnotherCpu_waitForItemsQueuedBeforeThem() throws InterruptedException {
        boot(IdleStrategy.defaultStrategy());
        wqs.cpuIntensiveThresholdUs(0);
        Workqueue wq = wqs.alloc("flushme", 0, 0);
        AtomicBoolean release = runSpinnerUntilReleased(wq);
        AtomicInteger runs = new AtomicInteger();
        Work last = null;
        for (int i = 0; i < 500; i++) {
            last = new Work("f" + i, x -> runs.incrementAndGet());
            assertTrue(wqs.queue(wq, last));
        }
        Work target = last;
        AtomicInteger seenByFlushWork = new AtomicInteger(-1);
        AtomicInteger seenByFlushWorkqueue = new AtomicInteger(-1);
        AtomicBoolean flushWorkReturned = new AtomicBoolean();
        Thread flusher = Thread.ofPlatform().start(() -> {
            kernel.bindCurrentThread(1);
            try {
                flushWorkReturned.set(wqs.flush(target));
                seenByFlushWork.set(runs.get());
                wqs.flushWorkqueue(wq);
                seenByFlushWorkqueue.set(runs.get());
            } finally {
                kernel.detachCurrentThread();
            }
        });
        sleepMillis(20);
        assertEquals(-1, seenByFlushWork.get(), "flush_work returned while its item waited behind the running one");
        release.set(true);
        flusher.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(flusher.isAlive());
        assertTrue(flushWorkReturned.get(), "flush_work waited, so it returns true");
        assertEquals(500, seenByFlushWork.get(), "the last item runs last: all 500 ran when flush_work returned");
        assertEquals(500, seenByFlushWorkqueue.get());
        assertNoReports();
    }

    private static void sleepMillis(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
