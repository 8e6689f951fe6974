package dev.bottomhalf.workqueue;

import static dev.bottomhalf.testing.Latches.await;
import static dev.bottomhalf.testing.Latches.awaitQuietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.Internals;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.Latches;

/**
 * The wake-ups of the workqueue's waits, proven rather than covered by the safety net: every parked waiter on a
 * threaded kernel re-checks its condition after 20 µs, then after twice as long, up to once a millisecond, so a
 * wake-up the workqueue forgets to send would only cost latency, and no other test could see it. Here every park
 * of the kernel's wait queue lasts up to ten minutes ({@code WaitQueue.parkUntilWoken}), and a wait that is not
 * woken when its item ends shows as a wait that does not return within {@link #TIMEOUT_S} seconds.
 *
 * <p>Each round holds a second item of the same workqueue ({@code holder}) running throughout, so the item waited
 * for is never the last of its flush color and never the last active one: when it ends, only the wake-up for the
 * threads waiting on one item ({@code flush_work}, {@code cancel_work_sync}) can end the wait. The workqueue is
 * unbound (no concurrency management, so no per-tick check whose timer would wake the waiter as a side effect).
 * In three rounds of four the item waited for ends a random 0–100 µs after the waiter has counted itself in the
 * wait queue (it is about to park, or parked); in the fourth, 0–400 µs after the waiter's call began (it finds the
 * item done at once, it spins, it yields). A test fails against a copy of the workqueue whose completion does not
 * wake the threads waiting on one item (both item tests, after their 10 s timeout).
 */
class WorkqueueWakeupTest {
    private static final long TIMEOUT_S = Latches.TIMEOUT_S;
    private static final int ROUNDS = 200;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private Kernel kernel;
    private Workqueues wqs;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
        Internals.machine(kernel).waitQueue().parkUntilWoken(TimeUnit.MINUTES.toNanos(10));
    }

    @Test
    void flushWork_isWokenWhenTheItemEnds_whileAnotherItemOfItsColorStillRuns() {
        rounds("flush_work", wqs::flush);
    }

    @Test
    void cancelWorkSync_isWokenWhenTheRunningInstanceEnds_whileAnotherItemOfItsColorStillRuns() {
        rounds("cancel_work_sync", wqs::cancelSync);
    }

    @Test
    void flushWorkqueue_isWokenWhenItsLastItemEnds() {
        Workqueue wq = wqs.alloc("wake_fwq", Workqueue.WQ_UNBOUND, 0);
        SplittableRandom random = new SplittableRandom(7);
        AtomicInteger runs = new AtomicInteger();
        for (int round = 0; round < ROUNDS; round++) {
            long spinNs = random.nextLong(400_000);
            Work w = new Work("spin" + round, x -> {
                spin(spinNs);
                runs.incrementAndGet();
            });
            assertTrue(wqs.queue(wq, w));
            int r = round;
            assertTrue(returnsInTime(() -> wqs.flushWorkqueue(wq)),
                    "flush_workqueue was not woken when its last item ended (round " + r + ", item spun " + spinNs + " ns)");
            assertEquals(round + 1, runs.get());
        }
    }

    /**
     * {@link #ROUNDS} rounds of: the holder starts and stays; the item is queued (the unbound pool runs it on
     * another worker) and, once {@code waiter} is about to wait for it from another thread, ends 0-400 µs
     * later; then the holder is released.
     */
    private void rounds(String call, Consumer<Work> waiter) {
        AtomicInteger parkedRounds = new AtomicInteger();
        Workqueue wq = wqs.alloc("wake_" + call, Workqueue.WQ_UNBOUND, 0);
        SplittableRandom random = new SplittableRandom(call.hashCode());
        for (int round = 0; round < ROUNDS; round++) {
            CountDownLatch holderIn = new CountDownLatch(1);
            CountDownLatch releaseHolder = new CountDownLatch(1);
            CountDownLatch itemIn = new CountDownLatch(1);
            AtomicInteger runs = new AtomicInteger();
            boolean parkedFirst = random.nextInt(4) != 0;
            long spinNs = random.nextLong(parkedFirst ? 100_000 : 400_000);
            Work holder = new Work("holder" + round, x -> {
                holderIn.countDown();
                awaitQuietly(releaseHolder);
            });
            AtomicBoolean waiting = new AtomicBoolean();
            Work item = new Work("item" + round, x -> {
                itemIn.countDown();
                while (!waiting.get()) {
                    Thread.onSpinWait();
                }
                if (parkedFirst && awaitParkedWaiter()) {
                    parkedRounds.incrementAndGet();
                }
                spin(spinNs);
                runs.incrementAndGet();
            });
            try {
                assertTrue(wqs.queue(wq, holder));
                await(holderIn, "the holder");
                assertTrue(wqs.queue(wq, item));
                await(itemIn, "the item"); // running: cancel_work_sync waits for it rather than taking it off the list
                int r = round;
                assertTrue(returnsInTime(() -> {
                    waiting.set(true); // the item ends 0-400 µs from here: the wait is in one of its phases then
                    waiter.accept(item);
                }), call + " was not woken when the item ended (round " + r + ", item spun " + spinNs
                        + " ns; the holder still ran)");
                assertEquals(1, runs.get(), "the item ran once, and had ended when " + call + " returned");
            } finally {
                releaseHolder.countDown();
            }
            wqs.flushWorkqueue(wq);
        }
        // Most rounds must have had the waiter parked (or about to) when the item ended, or the wake-up went untested.
        assertTrue(parkedRounds.get() >= ROUNDS / 2, "the waiter was counted as parked in only " + parkedRounds.get()
                + " of " + ROUNDS + " rounds");
    }

    /**
     * Runs {@code wait} on a thread of its own (bound to CPU 1) and reports whether it returned within
     * {@link #TIMEOUT_S} seconds. A failure inside it is rethrown here.
     */
    private boolean returnsInTime(Runnable wait) {
        CountDownLatch returned = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("waiter").start(() -> {
            kernel.bindCurrentThread(1);
            try {
                wait.run();
            } catch (Throwable e) {
                failure.set(e);
            } finally {
                kernel.detachCurrentThread();
                returned.countDown();
            }
        });
        boolean inTime;
        try {
            inTime = returned.await(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        if (!inTime) {
            return false; // the caller releases what it waits for; the kernel's close ends the wait
        }
        try {
            t.join();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        if (failure.get() != null) {
            throw new AssertionError("the wait failed", failure.get());
        }
        return true;
    }

    /**
     * Until the waiter has counted itself in the wait queue (past its spins and yields, about to park or parked),
     * at most a second: a waiter that found the item done never counts itself.
     */
    private boolean awaitParkedWaiter() {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (!Internals.machine(kernel).hasWaiters()) {
            if (System.nanoTime() > giveUp) {
                return false;
            }
            Thread.onSpinWait();
        }
        return true;
    }

    private static void spin(long ns) {
        long end = System.nanoTime() + ns;
        while (System.nanoTime() < end) {
            Thread.onSpinWait();
        }
    }
}
