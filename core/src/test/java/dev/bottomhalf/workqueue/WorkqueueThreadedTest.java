package dev.bottomhalf.workqueue;

import static dev.bottomhalf.testing.Latches.await;
import static dev.bottomhalf.testing.Latches.awaitQuietly;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.Latches;
import dev.bottomhalf.testing.KernelReports;

/**
 * Workqueue rules whose outcome involves no timing ({@code queue_work}, {@code flush_work},
 * {@code cancel_work_sync}, non-reentrancy, ordered and unbound workqueues, {@code drain_workqueue}, ...;
 * docs/subsystems/workqueue.md) on a threaded kernel with real
 * {@code kworker} threads. Items block on latches the test controls; waits have generous timeouts and
 * the assertions are about order, exclusion and return values, never about latency.
 */
class WorkqueueThreadedTest {
    private static final long TIMEOUT_S = Latches.TIMEOUT_S;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private KernelReports reports;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private Kernel kernel;
    private Workqueues wqs;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
    }

    private static void waitFor(java.util.function.BooleanSupplier c, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.onSpinWait();
        }
    }

    /** Runs {@code r} on a new thread bound to {@code cpu}; returns the thread. */
    private Thread onCpu(int cpu, Runnable r) {
        return Thread.ofPlatform().start(() -> {
            kernel.bindCurrentThread(cpu);
            try {
                r.run();
            } finally {
                kernel.detachCurrentThread();
            }
        });
    }

    @Test
    void queueTwiceBeforeItRuns_trueThenFalse_runsOnce() {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blockerIn = new CountDownLatch(1);
        Workqueue wq = wqs.allocOrdered("ord", 0);
        wqs.queue(wq, new Work("blocker", w -> {
            blockerIn.countDown();
            awaitQuietly(release);
        }));
        await(blockerIn, "the blocker");
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("w", x -> runs.incrementAndGet());
        assertTrue(wqs.queue(wq, w));
        assertFalse(wqs.queue(wq, w));
        assertTrue(w.isPending());
        release.countDown();
        wqs.flushWorkqueue(wq);
        assertEquals(1, runs.get());
        assertFalse(w.isPending());
    }

    @Test
    void requeuedToAnotherCpuWhileRunning_runsAgainOnTheSameWorker_neverConcurrently() {
        Workqueue wq = wqs.alloc("pcpu", 0, 0);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("w", x -> {
            if (concurrent.incrementAndGet() > 1) {
                overlaps.incrementAndGet();
            }
            log.add(Thread.currentThread().getName());
            if (runs.incrementAndGet() == 1) {
                inside.countDown();
                awaitQuietly(release);
            }
            concurrent.decrementAndGet();
        });
        assertTrue(wqs.queueOn(0, wq, w));
        await(inside, "the first run");
        assertTrue(wqs.queueOn(1, wq, w), "queue_work_on(CPU1) of a running item returns true");
        release.countDown();
        waitFor(() -> runs.get() == 2, "the second run");
        wqs.flush(w);
        assertEquals(0, overlaps.get());
        assertEquals(2, log.size());
        assertTrue(log.get(0).startsWith("kworker/0:") && log.get(1).startsWith("kworker/0:"),
                "both runs in CPU 0's pool: " + log);
    }

    @Test
    void theSameItemOnTwoWorkqueues_mayRunConcurrently() {
        Workqueue a = wqs.alloc("a", 0, 0);
        Workqueue b = wqs.alloc("b", 0, 0);
        CountDownLatch both = new CountDownLatch(2);
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger maxConcurrent = new AtomicInteger();
        Work w = new Work("shared", x -> {
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            both.countDown();
            awaitQuietly(both);
            concurrent.decrementAndGet();
        });
        assertTrue(wqs.queueOn(0, a, w));
        waitFor(() -> !w.isPending(), "the first run to start");
        assertTrue(wqs.queueOn(1, b, w));
        await(both, "both instances inside at once");
        assertEquals(2, maxConcurrent.get(), "no guarantee across workqueues: they ran at the same time");
        wqs.flushWorkqueue(a);
        wqs.flushWorkqueue(b);
    }

    @Test
    void cancelSyncOfASelfRequeueingItem_returns_andItIsNeitherPendingNorRunning() throws Exception {
        Workqueue wq = wqs.alloc("loop", 0, 0);
        AtomicInteger runs = new AtomicInteger();
        AtomicBoolean stopNow = new AtomicBoolean();
        CountDownLatch insideWhileStopping = new CountDownLatch(1);
        List<Boolean> requeueDuringCancel = new CopyOnWriteArrayList<>();
        AtomicBoolean running = new AtomicBoolean();
        Work w = new Work("again", x -> {
            running.set(true);
            runs.incrementAndGet();
            if (stopNow.get()) {
                insideWhileStopping.countDown();
                waitFor(() -> x.disableDepth() > 0, "cancel_work_sync to start"); // the cancel is under way
                requeueDuringCancel.add(wqs.queue(wq, x));
            } else {
                wqs.queue(wq, x);
            }
            running.set(false);
        });
        wqs.queue(wq, w);
        waitFor(() -> runs.get() > 20, "the item looping");
        stopNow.set(true);
        await(insideWhileStopping, "a run that sees the cancel");
        wqs.cancelSync(w);
        assertEquals(List.of(false), requeueDuringCancel, "its self-requeue during the cancel was refused");
        assertFalse(w.isPending());
        assertFalse(running.get(), "not running when cancel_work_sync returned");
        assertEquals(0, w.disableDepth(), "cancel_work_sync leaves it enabled");
        int after = runs.get();
        Thread.sleep(20);
        assertEquals(after, runs.get(), "it did not run again after cancel_work_sync returned");
    }

    @Test
    void cancelSyncOfARunningOnlyItem_returnsFalse_afterTheRunEnds() {
        Workqueue wq = wqs.alloc("r", 0, 0);
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean finished = new AtomicBoolean();
        Work w = new Work("running", x -> {
            inside.countDown();
            awaitQuietly(release);
            finished.set(true);
        });
        wqs.queue(wq, w);
        await(inside, "the run");
        Thread releaser = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(30);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            release.countDown();
        });
        assertFalse(wqs.cancelSync(w), "it was not pending");
        assertTrue(finished.get(), "cancel_work_sync returned before the running instance ended");
        join(releaser);
    }

    private static void join(Thread t) {
        try {
            t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void cancelSyncOrFlushFromTheOwnFunction_isReportedInsteadOfADeadlock() {
        Workqueue wq = wqs.alloc("self", 0, 0);
        CountDownLatch done = new CountDownLatch(1);
        List<Boolean> results = new CopyOnWriteArrayList<>();
        Work w = new Work("selfish", x -> {
            results.add(wqs.flush(x));
            results.add(wqs.cancelSync(x));
            done.countDown();
        });
        wqs.queue(wq, w);
        await(done, "the item");
        assertEquals(List.of(false, false), results);
        assertEquals(1, reports.matching("flush_work(selfish) called from the item's own function").size());
        assertEquals(0, reports.matching("cancel_work_sync(selfish) called from the item's own function").size(),
                "lockdep reports once per kernel: its first report turns it off (debug_locks_off)");
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.BUG), "the second is counted");
    }

    @Test
    void flushWorkqueueFromAnItemOnIt_isReported() {
        Workqueue wq = wqs.alloc("fq", 0, 0);
        CountDownLatch done = new CountDownLatch(1);
        wqs.queue(wq, new Work("flusher", x -> {
            wqs.flushWorkqueue(wq);
            done.countDown();
        }));
        await(done, "the item");
        assertEquals(1, reports.matching("possible recursive locking detected: flush_workqueue(fq)").size());
        assertEquals(1, reports.matching("(wq_completion)fq").size());
    }

    @Test
    void flushWork_neverQueuedIsFalse_queuedIsTrueAfterItRan() {
        Workqueue wq = wqs.alloc("f", 0, 0);
        AtomicBoolean ran = new AtomicBoolean();
        Work idle = new Work("idle", x -> { });
        assertFalse(wqs.flush(idle));
        CountDownLatch release = new CountDownLatch(1);
        Work w = new Work("w", x -> {
            awaitQuietly(release);
            ran.set(true);
        });
        wqs.queue(wq, w);
        Thread releaser = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            release.countDown();
        });
        assertTrue(wqs.flush(w));
        assertTrue(ran.get());
        join(releaser);
    }

    @Test
    void flushWorkqueue_waitsForEarlierItems_notForLaterOnes() {
        Workqueue wq = wqs.alloc("colors", Workqueue.WQ_UNBOUND, 4);
        CountDownLatch aRelease = new CountDownLatch(1);
        CountDownLatch bRelease = new CountDownLatch(1);
        CountDownLatch bInside = new CountDownLatch(1);
        AtomicBoolean aDone = new AtomicBoolean();
        wqs.queue(wq, new Work("A", x -> {
            awaitQuietly(aRelease);
            aDone.set(true);
        }));
        CountDownLatch flushed = new CountDownLatch(1);
        Thread flusher = onCpu(0, () -> {
            wqs.flushWorkqueue(wq);
            flushed.countDown();
        });
        waitFor(() -> wq.workColor != 0, "the flush to start");
        wqs.queue(wq, new Work("B", x -> {
            bInside.countDown();
            awaitQuietly(bRelease);
        }));
        await(bInside, "B running");
        assertFalse(aDone.get());
        aRelease.countDown();
        await(flushed, "flush_workqueue");
        assertTrue(aDone.get());
        assertEquals(1, bRelease.getCount(), "B is still running: the flush did not wait for it");
        bRelease.countDown();
        join(flusher);
        wqs.flushWorkqueue(wq);
    }

    @Test
    void drainRefusesOutsideQueueing_butAcceptsChainedQueueing() {
        Workqueue wq = wqs.alloc("drain", 0, 0);
        CountDownLatch chainIn = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger chained = new AtomicInteger();
        AtomicBoolean outsiderRan = new AtomicBoolean();
        Work chain = new Work("chain", x -> {
            if (chained.incrementAndGet() == 1) {
                chainIn.countDown();
                awaitQuietly(release);
                assertTrue(wqs.queue(wq, x), "chained queueing during drain is accepted");
            }
        });
        wqs.queue(wq, chain);
        await(chainIn, "the chain item");
        Thread drainer = onCpu(1, () -> wqs.drainWorkqueue(wq));
        waitFor(() -> wq.draining > 0, "the drain to start");
        Work outsider = new Work("outsider", x -> outsiderRan.set(true));
        assertTrue(wqs.queue(wq, outsider), "the refused queue still reports true");
        Work second = new Work("second", x -> outsiderRan.set(true));
        wqs.queue(wq, second);
        release.countDown();
        join(drainer);
        assertEquals(2, chained.get());
        assertFalse(outsiderRan.get());
        assertTrue(outsider.isPending(), "refused: stays PENDING, never runs");
        assertFalse(wqs.queue(wq, outsider), "later attempts return false");
        assertEquals(1, reports.matching("workqueue: cannot queue outsider on wq drain").size());
        assertEquals(0, reports.matching("cannot queue second").size(), "printed once per boot");
    }

    @Test
    void perCpuMaxActive2_fiveSleepingItems_atMostTwoAtATimePerCpu() {
        Workqueue wq = wqs.alloc("ma2", 0, 2);
        int[] concurrent = new int[2];
        int[] max = new int[2];
        CountDownLatch all = new CountDownLatch(10);
        for (int cpu = 0; cpu < 2; cpu++) {
            for (int i = 0; i < 5; i++) {
                int c = cpu;
                wqs.queueOn(cpu, wq, new Work("s" + cpu + i, x -> {
                    synchronized (concurrent) {
                        max[c] = Math.max(max[c], ++concurrent[c]);
                    }
                    kernel.timers().msleep(5);
                    synchronized (concurrent) {
                        concurrent[c]--;
                    }
                    all.countDown();
                }));
            }
        }
        await(all, "ten sleeping items");
        assertEquals(2, max[0], "CPU 0");
        assertEquals(2, max[1], "CPU 1");
    }

    @Test
    void unboundMaxActive2_atMostTwoSystemWide() {
        Workqueue wq = wqs.alloc("u2", Workqueue.WQ_UNBOUND, 2);
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger max = new AtomicInteger();
        CountDownLatch all = new CountDownLatch(6);
        for (int i = 0; i < 6; i++) {
            wqs.queueOn(i % 2, wq, new Work("u" + i, x -> {
                max.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
                kernel.timers().msleep(5);
                concurrent.decrementAndGet();
                all.countDown();
            }));
        }
        await(all, "six items");
        assertEquals(2, max.get());
    }

    @Test
    void orderedWorkqueue_runsStrictlyInQueueingOrder_neverOverlapping() {
        Workqueue wq = wqs.allocOrdered("ordered", 0);
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        CountDownLatch all = new CountDownLatch(30);
        for (int i = 0; i < 30; i++) {
            int n = i;
            Work w = new Work("o" + i, x -> {
                if (concurrent.incrementAndGet() > 1) {
                    overlaps.incrementAndGet();
                }
                log.add("o" + n);
                concurrent.decrementAndGet();
                all.countDown();
            });
            Thread t = onCpu(i % 2, () -> wqs.queue(wq, w));
            join(t);
        }
        await(all, "thirty items");
        for (int i = 0; i < 30; i++) {
            assertEquals("o" + i, log.get(i));
        }
        assertEquals(0, overlaps.get());
    }

    @Test
    void disableWork_nestsAndBlocksQueueing_enableWorkUnderflowWarns_enableAndQueueRuns() {
        Workqueue wq = wqs.allocOrdered("dis", 0);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blockerIn = new CountDownLatch(1);
        wqs.queue(wq, new Work("blocker", x -> {
            blockerIn.countDown();
            awaitQuietly(release);
        }));
        await(blockerIn, "the blocker");
        AtomicInteger runs = new AtomicInteger();
        Work w = new Work("d", x -> runs.incrementAndGet());
        wqs.queue(wq, w);
        assertTrue(wqs.disable(w), "disable_work: it was queued; now removed");
        assertFalse(w.isPending());
        assertFalse(wqs.queue(wq, w), "disable_work: a disabled item is not queued");
        assertTrue(wqs.enable(w), "enable_work: depth back to 0");
        release.countDown();
        wqs.flushWorkqueue(wq);
        assertEquals(0, runs.get(), "disable_work: it does not run until queued again");

        wqs.disable(w);
        wqs.disable(w);
        wqs.disable(w);
        assertFalse(wqs.enable(w), "disable_work nests: depth still above 0");
        assertFalse(wqs.enable(w), "disable_work nests: depth still above 0");
        assertFalse(wqs.queue(wq, w), "disable_work nests: still disabled");
        assertTrue(wqs.enable(w), "disable_work nests: the third enable");

        assertTrue(wqs.enable(w), "enable_work of an enabled item warns and returns true (the depth is 0)");
        assertEquals(1, reports.matching("workqueue: work disable count underflowed").size());
        assertEquals(0, w.disableDepth());

        wqs.disable(w);
        assertTrue(wqs.enableAndQueue(wq, w), "enable_and_queue_work");
        wqs.flushWorkqueue(wq);
        assertEquals(1, runs.get(), "enable_and_queue_work: it ran");
    }

    @Test
    void destroyWorkqueue_runsEveryQueuedItemFirst() {
        Workqueue wq = wqs.allocOrdered("doomed", 0);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger runs = new AtomicInteger();
        wqs.queue(wq, new Work("first", x -> {
            awaitQuietly(release);
            runs.incrementAndGet();
        }));
        wqs.queue(wq, new Work("second", x -> runs.incrementAndGet()));
        wqs.queue(wq, new Work("third", x -> runs.incrementAndGet()));
        release.countDown();
        wqs.destroy(wq);
        assertEquals(3, runs.get());
        assertFalse(wqs.workqueues().contains(wq));
    }

    @Test
    void allocWorkqueue_refusesBhWithMaxActiveOrUnbound_andClampsMaxActive() {
        assertThrows(KernelException.class, () -> wqs.alloc("bh4", Workqueue.WQ_BH, 4));
        assertThrows(KernelException.class, () -> wqs.alloc("bhu", Workqueue.WQ_BH | Workqueue.WQ_UNBOUND, 0));
        assertEquals(2, reports.ofKind(KernelEvent.Kind.WARNING).size());
        Workqueue big = wqs.alloc("big", 0, 5000);
        assertEquals(Workqueue.WQ_MAX_ACTIVE, big.maxActive());
        assertEquals(1, reports.matching("workqueue: max_active 5000 requested for big is out of range, clamping"
                + " between 1 and 2048").size());
        assertEquals(Workqueue.WQ_DFL_ACTIVE, wqs.alloc("dfl", 0, 0).maxActive());
    }

    @Test
    void functionLeakingPreemptCount_isReported() {
        Workqueue wq = wqs.alloc("leak", 0, 0);
        Work w = new Work("leaky", x -> kernel.context().preemptDisable());
        wqs.queue(wq, w);
        wqs.flush(w);
        assertEquals(1, reports.matching("BUG: workqueue leaked atomic, lock or RCU: kworker/").size());
        // The worker goes on: another item runs fine.
        AtomicBoolean ran = new AtomicBoolean();
        Work next = new Work("next", x -> ran.set(kernel.context().preemptCount() == 0));
        wqs.queue(wq, next);
        wqs.flush(next);
        assertTrue(ran.get());
    }

    @Test
    void itemDroppingTheLastReferenceToItself_isFine() {
        Workqueue wq = wqs.alloc("free", 0, 0);
        AtomicReference<Work> holder = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        holder.set(new Work("self-freeing", x -> {
            holder.set(null);
            done.countDown();
        }));
        wqs.queue(wq, holder.get());
        await(done, "the item");
        assertNull(holder.get());
        assertEquals(0, reports.events().size(), reports.events().toString());
    }

    @Test
    void blockedWorker_isReplaced_soQueuedWorkRunsWhileItBlocks() {
        Workqueue wq = wqs.alloc("cm", 0, 0);
        CountDownLatch blocked = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch second = new CountDownLatch(1);
        Object monitor = new Object();
        AtomicReference<String> firstWorker = new AtomicReference<>();
        AtomicReference<String> secondWorker = new AtomicReference<>();
        wqs.queueOn(0, wq, new Work("blocks-in-java", x -> {
            firstWorker.set(Thread.currentThread().getName());
            synchronized (monitor) {
                blocked.countDown();
                try {
                    monitor.wait(TimeUnit.SECONDS.toMillis(TIMEOUT_S)); // not a kernel sleep: the tick check finds it
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            awaitQuietly(release);
        }));
        await(blocked, "the first item to block");
        wqs.queueOn(0, wq, new Work("second", x -> {
            secondWorker.set(Thread.currentThread().getName());
            second.countDown();
        }));
        await(second, "the second item, run by another worker while the first blocks");
        synchronized (monitor) {
            monitor.notifyAll();
        }
        release.countDown();
        // (Whether the check saw the first worker blocked before or after the second item was queued decides
        // whether the wake-up counts as a concurrency-management one, as in the kernel: not asserted.)
        assertTrue(secondWorker.get().startsWith("kworker/0:"), secondWorker.get());
        assertFalse(secondWorker.get().equals(firstWorker.get()), "the second item ran on another worker");
    }

    /**
     * A worker blocked in a native read (a pipe: Java reports the thread {@code RUNNABLE}) is taken for
     * blocked, as the kernel takes a worker waiting for I/O for sleeping: the item queued behind it runs on
     * another worker while the read waits. With CPU-intensive detection off, so that only the blocked check
     * can start the second worker; and with it on, the waiting item is not reported as a CPU hog (it used no
     * CPU).
     */
    private void blockedInNativeRead_isReplaced(long cpuIntensiveThresholdUs) throws IOException {
        wqs.cpuIntensiveThresholdUs(cpuIntensiveThresholdUs);
        Workqueue wq = wqs.alloc("cm_io", 0, 0);
        Pipe pipe = Pipe.open();
        CountDownLatch reading = new CountDownLatch(1);
        CountDownLatch readDone = new CountDownLatch(1);
        CountDownLatch second = new CountDownLatch(1);
        AtomicBoolean secondRanDuringRead = new AtomicBoolean();
        wqs.queueOn(0, wq, new Work("reads-a-pipe", x -> {
            reading.countDown();
            try {
                pipe.source().read(ByteBuffer.allocate(1)); // blocks in native code until the test writes
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            readDone.countDown();
        }));
        await(reading, "the first item to start its read");
        wqs.queueOn(0, wq, new Work("second", x -> {
            secondRanDuringRead.set(readDone.getCount() == 1);
            second.countDown();
        }));
        try {
            await(second, "the second item, run by another worker while the first waits in its read");
        } finally {
            pipe.sink().write(ByteBuffer.wrap(new byte[] {1}));
            await(readDone, "the read");
        }
        assertTrue(secondRanDuringRead.get(), "the second item ran while the first still waited");
        assertEquals(0, wqs.cpuIntensiveViolations(), "waiting in a read is not hogging the CPU");
        pipe.source().close();
        pipe.sink().close();
    }

    @Test
    void workerBlockedInANativeRead_isReplaced_withCpuIntensiveDetectionOff() throws IOException {
        blockedInNativeRead_isReplaced(0);
    }

    @Test
    void workerBlockedInANativeRead_isReplaced_andIsNotReportedAsACpuHog() throws IOException {
        blockedInNativeRead_isReplaced(10_000);
    }

    @Test
    void executorInterop_runsTasksOnKworkers() {
        Workqueue wq = wqs.alloc("exec", Workqueue.WQ_UNBOUND, 0);
        CountDownLatch done = new CountDownLatch(3);
        for (int i = 0; i < 3; i++) {
            wq.execute(() -> {
                log.add(Thread.currentThread().getName());
                done.countDown();
            });
        }
        await(done, "three tasks");
        assertTrue(log.stream().allMatch(n -> n.startsWith("kworker/u")), log.toString());
    }

    @Test
    void systemWorkqueues_existWithTheKernelsNames_andScheduleWorkUsesEvents() {
        assertEquals(List.of("events", "events_highpri", "events_long", "events_unbound", "events_freezable",
                "events_power_efficient", "events_freezable_pwr_efficient", "events_bh", "events_bh_highpri"),
                wqs.workqueues().stream().map(Workqueue::name).limit(9).toList());
        CountDownLatch done = new CountDownLatch(1);
        Work w = new Work("sched", x -> {
            log.add(Thread.currentThread().getName());
            done.countDown();
        });
        assertTrue(wqs.schedule(w));
        await(done, "schedule_work");
        assertTrue(log.get(0).startsWith("kworker/0:"), log.toString());
        wqs.flushScheduledWork();
        assertEquals(1, reports.matching("WARNING: Flushing system-wide workqueues will be prohibited in near future.")
                .size());
    }

    @Test
    void idleWorkersBeyondTwo_retireAfterTheIdleTimeout() {
        wqs.idleWorkerTimeoutSeconds(1);
        Workqueue wq = wqs.alloc("many", Workqueue.WQ_UNBOUND, 0);
        CountDownLatch allInside = new CountDownLatch(6);
        CountDownLatch release = new CountDownLatch(1);
        for (int i = 0; i < 6; i++) {
            wqs.queue(wq, new Work("w" + i, x -> {
                allInside.countDown();
                awaitQuietly(release);
            }));
        }
        await(allInside, "six items running at once on the unbound pool");
        assertTrue(wqs.workerCount(-1, false) >= 6);
        release.countDown();
        wqs.flushWorkqueue(wq);
        waitFor(() -> wqs.workerCount(-1, false) <= 2, "idle workers to retire");
        assertEquals(2, wqs.workerCount(-1, false), "two idle workers are kept");
        // The pool still works with the workers it kept.
        CountDownLatch again = new CountDownLatch(1);
        wqs.queue(wq, new Work("again", x -> again.countDown()));
        await(again, "an item after the cull");
    }

    /** Spins for {@code ms} of the clock: an item that runs that long without blocking. */
    private static void busy(long ms) {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        while (System.nanoTime() - end < 0) {
            Thread.onSpinWait();
        }
    }

    @Test
    void runTime_isChargedToEachItemsPoolWorkqueue_andTimeSpentIdleCountsForNobody() throws InterruptedException {
        // wq_monitor's CPUtime: in threaded mode the clock is read when a stretch of one pool-workqueue's items
        // begins and ends, not per item. Items of two workqueues alternate on one pool; an idle gap of 300 ms lies
        // between two rounds. Charging a stretch to the wrong pool-workqueue, or leaving it open while the worker
        // idles, breaks the bounds below by far more than their slack.
        wqs.cpuIntensiveThresholdUs(0); // (no CPU-intensive release: one worker runs them in order)
        Workqueue a = wqs.alloc("runtime_a", 0, 0);
        Workqueue b = wqs.alloc("runtime_b", 0, 0);
        CountDownLatch gate = new CountDownLatch(1);
        wqs.queueOn(0, a, new Work("gate", x -> awaitQuietly(gate))); // the rest queue up behind it
        wqs.queueOn(0, a, new Work("a1", x -> busy(20)));
        wqs.queueOn(0, b, new Work("b1", x -> busy(2)));
        wqs.queueOn(0, a, new Work("a2", x -> busy(20)));
        gate.countDown();
        wqs.flushWorkqueue(a);
        wqs.flushWorkqueue(b);
        Thread.sleep(300);
        wqs.queueOn(0, a, new Work("a3", x -> busy(5)));
        wqs.flushWorkqueue(a);
        long aMs = TimeUnit.NANOSECONDS.toMillis(wqs.stats(a).runNs());
        long bMs = TimeUnit.NANOSECONDS.toMillis(wqs.stats(b).runNs());
        assertTrue(aMs >= 45 && aMs < 45 + 150, "runtime_a ran 45 ms of items (and waited at the gate), charged "
                + aMs + " ms");
        assertTrue(bMs >= 2 && bMs < 18, "runtime_b ran 2 ms, charged " + bMs + " ms");
        assertEquals(4, wqs.stats(a).total());
        assertEquals(1, wqs.stats(b).total());
    }

    @Test
    void aLongStretchOfShortItems_isNotMistakenForAHog() {
        // 1,000 items of 0.1 ms back to back: one stretch of about 100 ms, with the check ticking because items
        // wait. Each item the check sees is new to it and is charged from the check's previous run, not from the
        // stretch's start — else every item after the first 10 ms would look like a 10 ms hog.
        wqs.cpuIntensiveThresholdUs(10_000);
        Workqueue wq = wqs.alloc("short_items", 0, 0);
        CountDownLatch gate = new CountDownLatch(1);
        wqs.queueOn(0, wq, new Work("gate", x -> awaitQuietly(gate)));
        for (int i = 0; i < 1_000; i++) {
            wqs.queueOn(0, wq, new Work("short" + i, x -> busy100us()));
        }
        gate.countDown();
        wqs.flushWorkqueue(wq);
        assertEquals(1_001, wqs.stats(wq).total());
        assertEquals(0, wqs.stats(wq).cpuIntensive(), "no item ran 10 ms");
        assertEquals(0, reports.matching("hogged CPU").size(), reports.events().toString());
    }

    private static void busy100us() {
        long end = System.nanoTime() + 100_000;
        while (System.nanoTime() - end < 0) {
            Thread.onSpinWait();
        }
    }

    @Test
    void cpuHog_isMarkedCpuIntensiveOnATick_soTheNextItemStarts_andRepeatOffendersAreReported() {
        wqs.cpuIntensiveThresholdUs(2_000);
        Workqueue wq = wqs.alloc("hog", 0, 0);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<CountDownLatch> hogging = new AtomicReference<>();
        Work.Func burn = x -> {                       // one function: the report counts per function
            hogging.get().countDown();
            while (!stop.get()) {
                Thread.onSpinWait(); // never sleeps: only the CPU-intensive detection lets others start
            }
        };
        for (int i = 1; i <= 4; i++) {
            stop.set(false);
            hogging.set(new CountDownLatch(1));
            wqs.queueOn(0, wq, new Work("hog", burn));
            await(hogging.get(), "hog " + i);
            CountDownLatch next = new CountDownLatch(1);
            wqs.queueOn(0, wq, new Work("next", x -> next.countDown()));
            await(next, "the next item to start while hog " + i + " still runs");
            stop.set(true);
            wqs.flushWorkqueue(wq);
            if (i < 4) {
                assertEquals(0, reports.matching("hogged CPU").size(), "reported only from the 4th time on");
            }
        }
        assertTrue(wqs.stats(wq).cpuIntensive() >= 4);
        assertEquals(1, reports.matching("workqueue: hog hogged CPU for >2000us 4 times, consider switching to"
                + " WQ_UNBOUND").size(), reports.events().toString());
    }

    @Test
    void aPerCpuPoolWhoseItemsNeverBlock_keepsOneWorker_evenUnderContentionForItsLock() {
        wqs.cpuIntensiveThresholdUs(0); // only blocking may start a second worker here
        Workqueue wq = wqs.alloc("tiny", 0, 0);
        AtomicInteger runs = new AtomicInteger();
        Work[] items = new Work[256];
        for (int i = 0; i < items.length; i++) {
            items[i] = new Work("t" + i, x -> runs.incrementAndGet());
        }
        long queued = 0;
        for (int round = 0; round < 200; round++) {
            for (Work w : items) {
                if (wqs.queueOn(0, wq, w)) {
                    queued++;
                }
            }
        }
        wqs.flushWorkqueue(wq);
        assertEquals(queued, runs.get());
        assertEquals(0, wqs.cmWakeups(), "no worker ever blocked, so concurrency management never woke another");
        assertEquals(1, wqs.workerCount(0, false));
    }
}
