package dev.bottomhalf.workqueue;

import static dev.bottomhalf.linux.Linux.usleep_range;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Every flush and cancel a kworker can make of another item or workqueue, in stepped mode, with the exact order
 * of what runs on the manual clock. In the kernel the flushing worker sleeps in {@code wait_for_completion};
 * {@code wq_worker_sleeping} drops it from its pool's {@code nr_running}, so the pool wakes (or creates) another
 * worker that runs the items queued behind it. Each entry of the log is "{ms} {event} {context}".
 */
class WorkqueueSteppedFlushFromWorkerTest {
    private static final long SLEEP_US = 10_000;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private Workqueues wqs;
    private long originNs;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
        originNs = stepper.clock().nanoTime();
    }

    private void record(String event) {
        long ns = stepper.clock().nanoTime() - originNs;
        String at = ns % 1_000_000 == 0 ? Long.toString(ns / 1_000_000) : String.format("%.3f", ns / 1e6);
        log.add(at + " " + event + " " + kernel.context().name());
    }

    /** An item that records its run. */
    private Work recording(String name) {
        return new Work(name, w -> record(name));
    }

    /** An item that records its start, sleeps 10 ms and records its end. */
    private Work sleeping(String name) {
        return new Work(name, w -> {
            record(name + " starts");
            usleep_range(SLEEP_US, SLEEP_US);
            record(name + " ends");
        });
    }

    private void runFor(long ms) {
        stepper.runFor(ms, TimeUnit.MILLISECONDS);
    }

    // ------------------------------------------------------------------------------------------
    // flush_work
    // ------------------------------------------------------------------------------------------

    @Test
    void flushWork_ofAnItemQueuedBehindItOnTheSamePool_anotherWorkerRunsIt_thenTheFlushReturns() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = recording("b");
        Work a = new Work("a", w -> {
            record("a flushes b");
            record("a flush=" + wqs.flush(b));
        });
        wqs.queueOn(0, wq, a);
        wqs.queueOn(0, wq, b);
        stepper.runUntilIdle();
        assertEquals(List.of("0 a flushes b kworker/0:0", "0 b kworker/0:1", "0 a flush=true kworker/0:0"), log);
    }

    @Test
    void flushWork_ofAnItemItQueuedItselfOnItsOwnCpu_anotherWorkerRunsIt() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            wqs.queueOn(0, wq, b);
            record("a flushes b");
            record("a flush=" + wqs.flush(b));
        });
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 a flushes b kworker/0:0", "0 b starts kworker/0:1", "10 b ends kworker/0:1",
                "10 a flush=true kworker/0:0"), log);
    }

    @Test
    void flushWork_ofAnItemOnAnotherCpu_waitsForItThere() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            record("a flushes b");
            record("a flush=" + wqs.flush(b));
        });
        wqs.queueOn(1, wq, b);
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 b starts kworker/1:0", "0 a flushes b kworker/0:0", "10 b ends kworker/1:0",
                "10 a flush=true kworker/0:0"), log);
    }

    @Test
    void flushWork_ofAnItemOfAnotherPoolOnTheSameCpu_waitsForTheHighpriWorker() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue hi = wqs.alloc("hi", Workqueue.WQ_HIGHPRI, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            wqs.queueOn(0, hi, b);
            record("a flushes b");
            record("a flush=" + wqs.flush(b));
        });
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 a flushes b kworker/0:0", "0 b starts kworker/0:0H", "10 b ends kworker/0:0H",
                "10 a flush=true kworker/0:0"), log);
    }

    @Test
    void flushWork_ofADelayedItemWhoseTimerIsArmed_returnsFalseAtOnce_andTheItemRunsAtItsTime() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        DelayedWork dw = new DelayedWork("dw", w -> record("dw"));
        Work a = new Work("a", w -> {
            wqs.queueDelayedOn(0, wq, dw, 5);
            record("a flush=" + wqs.flush(dw.work()));
        });
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 a flush=false kworker/0:0", "6 dw kworker/0:0"), log,
                "flush_work does not wait for a timer (level 0 rounds 5 jiffies up to 6)");
    }

    @Test
    void flushWork_ofADelayedItemWhoseTimerFired_anotherWorkerRunsIt() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        DelayedWork dw = new DelayedWork("dw", w -> record("dw"));
        Work a = new Work("a", w -> {
            record("a sleeps");
            usleep_range(SLEEP_US, SLEEP_US);             // dw's timer fires meanwhile and queues it behind a
            record("a flush=" + wqs.flush(dw.work()));
        });
        wqs.queueOn(0, wq, a);
        stepper.runUntilIdle();
        wqs.queueDelayedOn(0, wq, dw, 2);
        runFor(20);
        assertEquals(List.of("0 a sleeps kworker/0:0", "3 dw kworker/0:1", "10 a flush=false kworker/0:0"), log,
                "a second worker ran dw while a slept");
        log.clear();
        Work c = new Work("c", w -> {
            wqs.queueDelayedOn(0, wq, dw, 0);
            record("c flush=" + wqs.flush(dw.work()));
        });
        wqs.queueOn(0, wq, c);
        runFor(20);
        assertEquals(List.of("20 dw kworker/0:1", "20 c flush=true kworker/0:0"), log);
    }

    @Test
    void flushWork_ofAnItemRunningOnAnotherWorkerOfTheSamePool_waitsForItsEnd() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            record("a flushes b");
            record("a flush=" + wqs.flush(b));
        });
        wqs.queueOn(0, wq, b);
        wqs.queueOn(0, wq, a);     // b sleeps; the pool starts a second worker for a
        runFor(20);
        assertEquals(List.of("0 b starts kworker/0:0", "0 a flushes b kworker/0:1", "10 b ends kworker/0:0",
                "10 a flush=true kworker/0:1"), log);
    }

    @Test
    void flushWork_chainedThroughThreeItemsOfOnePool_eachFlusherSleeps_andAThirdWorkerRunsTheLast() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work c = recording("c");
        Work b = new Work("b", w -> {
            wqs.queueOn(0, wq, c);
            record("b flushes c");
            record("b flush=" + wqs.flush(c));
        });
        Work a = new Work("a", w -> {
            wqs.queueOn(0, wq, b);
            record("a flushes b");
            record("a flush=" + wqs.flush(b));
        });
        wqs.queueOn(0, wq, a);
        stepper.runUntilIdle();
        assertEquals(List.of("0 a flushes b kworker/0:0", "0 b flushes c kworker/0:1", "0 c kworker/0:2",
                "0 b flush=true kworker/0:1", "0 a flush=true kworker/0:0"), log);
    }

    // ------------------------------------------------------------------------------------------
    // flush_delayed_work
    // ------------------------------------------------------------------------------------------

    @Test
    void flushDelayedWork_ofAnArmedItem_queuesItBehindTheFlusher_andAnotherWorkerRunsItNow() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        DelayedWork dw = new DelayedWork("dw", w -> record("dw"));
        Work a = new Work("a", w -> {
            wqs.queueDelayedOn(0, wq, dw, 1000);
            record("a flushes dw");
            record("a flush=" + wqs.flushDelayed(dw));
        });
        wqs.queueOn(0, wq, a);
        stepper.runUntilIdle();
        assertEquals(List.of("0 a flushes dw kworker/0:0", "0 dw kworker/0:1", "0 a flush=true kworker/0:0"), log);
        assertTrue(!dw.timerPending() && !dw.isPending());
    }

    // ------------------------------------------------------------------------------------------
    // flush_workqueue
    // ------------------------------------------------------------------------------------------

    /** An item of {@code wq} on CPU 0 that queues {@code items} with {@code queue} and flushes {@code other}. */
    private Work flusherOf(Workqueue other, Runnable queue) {
        return new Work("a", w -> {
            queue.run();
            record("a flushes " + other.name());
            wqs.flushWorkqueue(other);
            record("a flushed");
        });
    }

    @Test
    void flushWorkqueue_ofAnotherWorkqueueOnTheSamePool_anotherWorkerRunsItsItems() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.alloc("other", 0, 0);
        Work b1 = recording("b1");
        Work b2 = recording("b2");
        wqs.queueOn(0, wq, flusherOf(other, () -> {
            wqs.queueOn(0, other, b1);
            wqs.queueOn(0, other, b2);
        }));
        stepper.runUntilIdle();
        assertEquals(List.of("0 a flushes other kworker/0:0", "0 b1 kworker/0:1", "0 b2 kworker/0:1",
                "0 a flushed kworker/0:0"), log);
    }

    @Test
    void flushWorkqueue_ofAnotherWorkqueueOnTheOtherCpuAndTheHighpriPool_waitsForBoth() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.alloc("other", Workqueue.WQ_HIGHPRI, 0);
        Work b1 = sleeping("b1");
        Work b2 = recording("b2");
        wqs.queueOn(0, wq, flusherOf(other, () -> {
            wqs.queueOn(1, other, b1);
            wqs.queueOn(0, other, b2);
        }));
        runFor(20);
        assertEquals(List.of("0 a flushes other kworker/0:0", "0 b1 starts kworker/1:0H", "0 b2 kworker/0:0H",
                "10 b1 ends kworker/1:0H", "10 a flushed kworker/0:0"), log);
    }

    @Test
    void flushWorkqueue_ofAnOrderedWorkqueue_waitsForItsItemsOneAfterTheOther() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.allocOrdered("ordered", 0);
        Work b1 = sleeping("b1");
        Work b2 = sleeping("b2");
        wqs.queueOn(0, wq, flusherOf(other, () -> {
            wqs.queue(other, b1);
            wqs.queue(other, b2);
        }));
        runFor(30);
        assertEquals(List.of("0 a flushes ordered kworker/0:0", "0 b1 starts kworker/u8:0", "10 b1 ends kworker/u8:0",
                "10 b2 starts kworker/u8:0", "20 b2 ends kworker/u8:0", "20 a flushed kworker/0:0"), log);
    }

    @Test
    void flushWorkqueue_ofAnUnboundWorkqueue_waitsForItsWorkers() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.alloc("unbound", Workqueue.WQ_UNBOUND, 0);
        Work b1 = sleeping("b1");
        Work b2 = sleeping("b2");
        wqs.queueOn(0, wq, flusherOf(other, () -> {
            wqs.queue(other, b1);
            wqs.queue(other, b2);
        }));
        runFor(30);
        assertEquals(List.of("0 a flushes unbound kworker/0:0", "0 b1 starts kworker/u8:0", "0 b2 starts kworker/u8:1",
                "10 b1 ends kworker/u8:0", "10 b2 ends kworker/u8:1", "10 a flushed kworker/0:0"), log);
    }

    @Test
    void flushWorkqueue_ofABhWorkqueue_itsItemsRunInSoftirqOnTheQueueingCpu() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue bh = wqs.systemBhWq();
        Work b1 = recording("b1");
        Work b2 = recording("b2");
        wqs.queueOn(0, wq, flusherOf(bh, () -> {
            wqs.queue(bh, b1);
            wqs.queue(bh, b2);
        }));
        stepper.runUntilIdle();
        assertEquals(List.of("0 a flushes events_bh kworker/0:0", "0 b1 ksoftirqd/0", "0 b2 ksoftirqd/0",
                "0 a flushed kworker/0:0"), log);
    }

    @Test
    void flushDelayedWork_ofAnItemArmedForTheOtherCpu_runsItThereAtOnce() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        DelayedWork dw = new DelayedWork("dw", w -> record("dw"));
        Work a = new Work("a", w -> {
            wqs.queueDelayedOn(1, wq, dw, 1000);
            record("a flush=" + wqs.flushDelayed(dw));
        });
        wqs.queueOn(0, wq, a);
        stepper.runUntilIdle();
        assertEquals(List.of("0 dw kworker/1:0", "0 a flush=true kworker/0:0"), log);
    }

    @Test
    void flushWorkqueue_ofAnotherWorkqueueWithItemsOverMaxActive_waitsForTheInactiveOnesToo() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.alloc("other", 0, 1);
        Work b1 = sleeping("b1");
        Work b2 = recording("b2");
        wqs.queueOn(0, wq, flusherOf(other, () -> {
            wqs.queueOn(0, other, b1);
            wqs.queueOn(0, other, b2);                // over max_active 1: inactive until b1 ends
        }));
        runFor(20);
        assertEquals(List.of("0 a flushes other kworker/0:0", "0 b1 starts kworker/0:1", "10 b1 ends kworker/0:1",
                "10 b2 kworker/0:1", "10 a flushed kworker/0:0"), log);
    }

    // ------------------------------------------------------------------------------------------
    // cancel_work_sync, cancel_delayed_work_sync
    // ------------------------------------------------------------------------------------------

    @Test
    void cancelWorkSync_ofAnItemRunningOnAnotherWorker_waitsForItToEnd_andReturnsFalse() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            record("a cancels b");
            record("a cancel=" + wqs.cancelSync(b));
        });
        wqs.queueOn(1, wq, b);
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 b starts kworker/1:0", "0 a cancels b kworker/0:0", "10 b ends kworker/1:0",
                "10 a cancel=false kworker/0:0"), log);
    }

    @Test
    void cancelWorkSync_ofAnItemRunningOnAnotherWorkerOfTheSamePool_waitsForIt() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            record("a cancels b");
            record("a cancel=" + wqs.cancelSync(b));
        });
        wqs.queueOn(0, wq, b);
        wqs.queueOn(0, wq, a);     // b sleeps; the pool starts a second worker for a
        runFor(20);
        assertEquals(List.of("0 b starts kworker/0:0", "0 a cancels b kworker/0:1", "10 b ends kworker/0:0",
                "10 a cancel=false kworker/0:1"), log);
    }

    @Test
    void cancelWorkSync_ofAnItemQueuedBehindIt_returnsTrueAtOnce_andItNeverRuns() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = recording("b");
        Work a = new Work("a", w -> record("a cancel=" + wqs.cancelSync(b)));
        wqs.queueOn(0, wq, a);
        wqs.queueOn(0, wq, b);
        runFor(20);
        assertEquals(List.of("0 a cancel=true kworker/0:0"), log);
    }

    @Test
    void cancelWorkSync_ofAnItemRunningAndQueuedAgain_removesTheQueuedOne_andWaitsForTheRunningOne() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work[] b = new Work[1];
        int[] runs = new int[1];
        b[0] = new Work("b", w -> {
            record("b starts");
            if (runs[0]++ == 0) {
                wqs.queueOn(1, wq, b[0]);
            }
            usleep_range(SLEEP_US, SLEEP_US);
            record("b ends");
        });
        Work a = new Work("a", w -> {
            record("a cancels b");
            record("a cancel=" + wqs.cancelSync(b[0]));
        });
        wqs.queueOn(1, wq, b[0]);
        wqs.queueOn(0, wq, a);
        runFor(30);
        assertEquals(List.of("0 b starts kworker/1:0", "0 a cancels b kworker/0:0", "10 b ends kworker/1:0",
                "10 a cancel=true kworker/0:0"), log);
    }

    @Test
    void cancelDelayedWorkSync_ofAnItemRunningOnAnotherWorker_waitsForItToEnd() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        DelayedWork dw = new DelayedWork("dw", w -> {
            record("dw starts");
            usleep_range(SLEEP_US, SLEEP_US);
            record("dw ends");
        });
        Work a = new Work("a", w -> {
            record("a cancels dw");
            record("a cancel=" + wqs.cancelDelayedSync(dw));
        });
        wqs.queueDelayedOn(1, wq, dw, 0);
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 dw starts kworker/1:0", "0 a cancels dw kworker/0:0", "10 dw ends kworker/1:0",
                "10 a cancel=false kworker/0:0"), log);
    }

    @Test
    void cancelDelayedWorkSync_ofAnItemQueuedBehindIt_orArmed_returnsTrue_andItNeverRuns() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        DelayedWork queued = new DelayedWork("queued", w -> record("queued"));
        DelayedWork armed = new DelayedWork("armed", w -> record("armed"));
        Work a = new Work("a", w -> {
            wqs.queueDelayedOn(0, wq, queued, 0);
            wqs.queueDelayedOn(0, wq, armed, 5);
            record("a cancel queued=" + wqs.cancelDelayedSync(queued));
            record("a cancel armed=" + wqs.cancelDelayedSync(armed));
        });
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 a cancel queued=true kworker/0:0", "0 a cancel armed=true kworker/0:0"), log);
    }

    @Test
    void disableWorkSync_ofAnItemRunningOnAnotherWorker_waitsForIt_andItStaysDisabled() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = sleeping("b");
        Work a = new Work("a", w -> {
            record("a disables b");
            record("a disable=" + wqs.disableSync(b) + " queue=" + wqs.queueOn(1, wq, b));
        });
        wqs.queueOn(1, wq, b);
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 b starts kworker/1:0", "0 a disables b kworker/0:0", "10 b ends kworker/1:0",
                "10 a disable=false queue=false kworker/0:0"), log);
    }

    // ------------------------------------------------------------------------------------------
    // drain_workqueue
    // ------------------------------------------------------------------------------------------

    @Test
    void drainWorkqueue_ofAnotherWorkqueue_waitsForItsChainedItemsToo() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.alloc("other", 0, 0);
        Work b2 = sleeping("b2");
        Work b1 = new Work("b1", w -> {
            record("b1 chains b2");
            wqs.queueOn(1, other, b2);
        });
        Work a = new Work("a", w -> {
            wqs.queueOn(0, other, b1);
            record("a drains other");
            wqs.drainWorkqueue(other);
            record("a drained");
        });
        wqs.queueOn(0, wq, a);
        runFor(20);
        assertEquals(List.of("0 a drains other kworker/0:0", "0 b1 chains b2 kworker/0:1", "0 b2 starts kworker/1:0",
                "10 b2 ends kworker/1:0", "10 a drained kworker/0:0"), log);
    }

    // ------------------------------------------------------------------------------------------
    // Two flushers of one workqueue; what stays refused
    // ------------------------------------------------------------------------------------------

    @Test
    void flushWorkqueue_fromTwoWorkersAtOnce_bothReturnAfterTheItem_withoutReports() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Workqueue other = wqs.alloc("other", 0, 0);
        Work b = sleeping("b");
        Work a1 = flusherOf(other, () -> wqs.queueOn(1, other, b));
        Work a2 = new Work("a2", w -> {
            record("a2 flushes other");
            wqs.flushWorkqueue(other);
            record("a2 flushed");
        });
        wqs.queueOn(0, wq, a1);
        wqs.queueOn(0, wq, a2);
        runFor(20);
        assertEquals(List.of("0 a flushes other kworker/0:0", "0 b starts kworker/1:0", "0 a2 flushes other kworker/0:1",
                "10 b ends kworker/1:0", "10 a flushed kworker/0:0", "10 a2 flushed kworker/0:1"), log);
    }

    @Test
    void flushWorkOfItself_andFlushWorkqueueOrDrainOfItsOwnWorkqueue_stayRefused_andNothingHangs() {
        Workqueue wq = wqs.alloc("a", 0, 0);
        Work b = recording("b");
        Work[] a = new Work[1];
        a[0] = new Work("a", w -> {
            wqs.queueOn(0, wq, b);
            record("a flush self=" + wqs.flush(a[0]));
            wqs.flushWorkqueue(wq);
            record("a flushed own wq");
            wqs.drainWorkqueue(wq);
            record("a drained own wq");
        });
        wqs.queueOn(0, wq, a[0]);
        stepper.runUntilIdle();
        assertEquals(List.of("0 a flush self=false kworker/0:0", "0 a flushed own wq kworker/0:0",
                "0 a drained own wq kworker/0:0", "0 b kworker/0:0"), log);
        // lockdep reports the first recursion and then turns itself off, as the kernel's does: flush_workqueue of
        // its own workqueue is refused silently after the flush_work one.
        assertEquals(1, reports.matching("possible recursive locking detected: flush_work(a)").size());
        assertEquals(1, reports.matching("BUG: drain_workqueue(a) called from a").size());
    }
}
