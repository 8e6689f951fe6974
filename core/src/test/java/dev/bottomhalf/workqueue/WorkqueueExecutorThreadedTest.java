package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;

/**
 * {@link WorkqueueExecutor} and {@link WorkqueueScheduledExecutor} on a threaded kernel: many submitters, waits
 * parked on the kernel's wait queue, interrupts of real kworker threads, shutdown and close while tasks run.
 * The tests assert outcomes and the order of events, never how long anything took.
 */
@Timeout(120)
class WorkqueueExecutorThreadedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /** How long a test waits for something that takes microseconds, before it fails instead of hanging. */
    private static final long TIMEOUT_S = 30;

    @AfterEach
    void clearTheTestThreadsInterrupt() {
        Thread.interrupted();
    }

    @Test
    void manySubmittersOnAnUnboundWorkqueue_everyFutureGetsItsValue() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(k, "many", Workqueue.WQ_UNBOUND, 4);
        int threads = 4;
        int perThread = 2_000;
        List<Thread> submitters = new ArrayList<>();
        AtomicInteger wrong = new AtomicInteger();
        for (int t = 0; t < threads; t++) {
            int base = t * perThread;
            submitters.add(Thread.ofPlatform().start(() -> {
                List<Future<Integer>> fs = new ArrayList<>();
                for (int i = 0; i < perThread; i++) {
                    int v = base + i;
                    fs.add(ex.submit(() -> v * 2));
                }
                try {
                    for (int i = 0; i < perThread; i++) {
                        if (fs.get(i).get() != (base + i) * 2) {
                            wrong.incrementAndGet();
                        }
                    }
                } catch (InterruptedException | ExecutionException e) {
                    wrong.incrementAndGet();
                }
            }));
        }
        for (Thread t : submitters) {
            t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        }
        assertEquals(0, wrong.get());
        ex.close();
        assertTrue(ex.isTerminated());
        assertEquals(threads * perThread, ex.completedTaskCount(), "exact once terminated (a get may return just"
                + " before its task is counted)");
        assertFalse(k.workqueues().workqueues().contains(ex.workqueue()));
    }

    @Test
    void invokeAllAndInvokeAny_onRealKworkers() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.on(k, k.workqueues().systemUnboundWq());
        List<Callable<String>> tasks = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            String v = "v" + i;
            tasks.add(() -> v);
        }
        List<Future<String>> fs = ex.invokeAll(tasks);
        for (int i = 0; i < 20; i++) {
            assertEquals("v" + i, fs.get(i).resultNow());
        }
        String any = ex.invokeAny(tasks, TIMEOUT_S, TimeUnit.SECONDS);
        assertTrue(any.matches("v\\d+"), any);
    }

    @Test
    void cancelTrue_interruptsTheRunningKworker_itsMsleepInterruptibleEndsEarly_andTheSignalEndsWithTheItem()
            throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.allocOrdered(k, "ordered", 0);
        CountDownLatch started = new CountDownLatch(1);
        AtomicReference<Thread> worker = new AtomicReference<>();
        AtomicBoolean sawSignal = new AtomicBoolean();
        Future<?> sleeper = ex.submit(() -> {
            worker.set(Thread.currentThread());
            started.countDown();
            k.timers().msleepInterruptible(TimeUnit.HOURS.toMillis(1));
            sawSignal.set(Thread.currentThread().isInterrupted());
        });
        Future<String> next = ex.submit(() -> Thread.currentThread().getName() + " " + Thread.currentThread().isInterrupted());
        assertTrue(started.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertTrue(sleeper.cancel(true));
        String after = next.get(TIMEOUT_S, TimeUnit.SECONDS);
        assertTrue(sawSignal.get(), "the item saw its pending signal");
        assertTrue(after.endsWith(" false"), "the next item saw none: " + after);
        assertTrue(after.startsWith("kworker/"), after);
        ex.close();
    }

    @Test
    void shutdownNow_interruptsTheRunningTask_returnsTheQueuedOnes_andTheExecutorTerminates() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.allocOrdered(k, "ordered", 0);
        CountDownLatch started = new CountDownLatch(1);
        Future<?> running = ex.submit(() -> {
            started.countDown();
            while (!Thread.currentThread().isInterrupted()) {
                k.timers().msleepInterruptible(1000);
            }
        });
        List<Future<Integer>> queued = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            int v = i;
            queued.add(ex.submit(() -> v));
        }
        assertTrue(started.await(TIMEOUT_S, TimeUnit.SECONDS));
        List<Runnable> neverRan = ex.shutdownNow();
        assertEquals(new ArrayList<Runnable>(queued.stream().map(f -> (Runnable) f).toList()), neverRan);
        assertTrue(ex.awaitTermination(TIMEOUT_S, TimeUnit.SECONDS));
        assertTrue(running.isDone());
        assertThrows(RejectedExecutionException.class, () -> ex.execute(() -> { }));
    }

    @Test
    void anInterruptedGet_throwsInterruptedException_theTaskStillRuns() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(k, "exec", 0, 0);
        CountDownLatch release = new CountDownLatch(1);
        Future<String> f = ex.submit(() -> {
            while (!release.await(1, TimeUnit.MILLISECONDS)) {
                k.timers().msleep(1);
            }
            return "done";
        });
        Thread waiter = Thread.currentThread();
        Thread interrupter = Thread.ofPlatform().start(() -> {
            while (waiter.getState() != Thread.State.TIMED_WAITING && waiter.getState() != Thread.State.WAITING) {
                Thread.onSpinWait();
            }
            waiter.interrupt();
        });
        assertThrows(InterruptedException.class, f::get);
        interrupter.join();
        release.countDown();
        assertEquals("done", f.get(TIMEOUT_S, TimeUnit.SECONDS));
        ex.close();
    }

    @Test
    void close_waitsForTheTasks_thenDestroysTheOwnedWorkqueue() {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(k, "exec", 0, 0);
        AtomicInteger done = new AtomicInteger();
        for (int i = 0; i < 10; i++) {
            ex.execute(() -> {
                k.timers().msleep(5);
                done.incrementAndGet();
            });
        }
        ex.close();
        assertEquals(10, done.get());
        assertTrue(ex.isTerminated());
        assertFalse(k.workqueues().workqueues().contains(ex.workqueue()));
    }

    @Test
    void executeOfACommandThatThrows_isTheWorkqueuesOops_andTheWorkerGoesOn() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(k, "exec", 0, 0);
        ex.execute(() -> {
            throw new IllegalStateException("boom");
        });
        assertEquals("after", ex.submit(() -> "after").get(TIMEOUT_S, TimeUnit.SECONDS));
        ex.close();
        assertEquals(1, kernels.reports().ofKind(KernelEvent.Kind.OOPS).size());
        assertEquals(1, ex.failedTaskCount());
    }

    @Test
    void aFixedRateTask_runsRepeatedly_untilCancelled() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueScheduledExecutor ex = WorkqueueScheduledExecutor.alloc(k, "sched", 0, 0);
        CountDownLatch threeRuns = new CountDownLatch(3);
        AtomicInteger runs = new AtomicInteger();
        ScheduledFuture<?> f = ex.scheduleAtFixedRate(() -> {
            runs.incrementAndGet();
            threeRuns.countDown();
        }, 0, 2, TimeUnit.MILLISECONDS);
        assertTrue(threeRuns.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertTrue(f.cancel(false));
        ex.shutdown();
        assertTrue(ex.awaitTermination(TIMEOUT_S, TimeUnit.SECONDS));
        int after = runs.get();
        assertFalse(((ScheduledTask<?>) f).dw.isPending());
        assertEquals(after, runs.get());
        assertTrue(f.isCancelled());
    }

    @Test
    void aScheduledTask_getWithATimeout_returnsItsValue() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueScheduledExecutor ex = WorkqueueScheduledExecutor.on(k, k.workqueues().systemWq());
        ScheduledFuture<String> f = ex.schedule(() -> "later", 20, TimeUnit.MILLISECONDS);
        assertEquals("later", f.get(TIMEOUT_S, TimeUnit.SECONDS));
        assertTrue(f.getDelay(TimeUnit.NANOSECONDS) <= 0);
    }

    @Test
    void closedKernel_submitIsRejected_withTheKernelsRefusal_andWaitersOfDroppedTasksAreReleased() throws Exception {
        Kernel k = kernels.kernel();
        WorkqueueScheduledExecutor ex = WorkqueueScheduledExecutor.alloc(k, "sched", 0, 0);
        ScheduledFuture<?> armed = ex.schedule(() -> { }, 1, TimeUnit.HOURS);
        AtomicReference<Throwable> waiterSaw = new AtomicReference<>();
        CountDownLatch waiting = new CountDownLatch(1);
        Thread waiter = Thread.ofPlatform().start(() -> {
            waiting.countDown();
            try {
                armed.get();
            } catch (Throwable t) {
                waiterSaw.set(t);
            }
        });
        assertTrue(waiting.await(TIMEOUT_S, TimeUnit.SECONDS));
        k.close();
        waiter.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertInstanceOf(java.util.concurrent.CancellationException.class, waiterSaw.get());
        RejectedExecutionException r = assertThrows(RejectedExecutionException.class, () -> ex.submit(() -> 1));
        assertEquals("kernel is closed", r.getCause().getMessage());
        assertTrue(ex.isTerminated());
    }
}
