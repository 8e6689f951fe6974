package dev.bottomhalf.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/** kthread workers in stepped mode: order, flushes, delayed items at exact jiffies, cancellation. */
class KthreadWorkerSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Stepper stepper;
    private Kthreads kthreads;
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private long origin;
    private KthreadWorker worker;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        kthreads = kernel.kthreads();
        reports = kernels.reports();
        origin = kernel.jiffies();
        worker = kthreads.createWorker(0, "kw/%s", "dev0");
    }

    private long now() {
        return kernel.jiffies() - origin;
    }

    private KthreadWork logging(String name) {
        return new KthreadWork(name, w -> log.add(name + "@" + now() + " " + kernel.sched().current().comm()));
    }

    private KthreadDelayedWork delayed(String name) {
        return new KthreadDelayedWork(name, w -> log.add(name + "@" + now()));
    }

    @Test
    void queuedItems_runInOrder_inTheWorkersKthread() {
        assertTrue(kthreads.queueWork(worker, logging("a")));
        KthreadWork b = logging("b");
        assertTrue(kthreads.queueWork(worker, b));
        assertFalse(kthreads.queueWork(worker, b), "already queued");
        stepper.runUntilIdle();
        assertEquals(List.of("a@0 kw/dev0", "b@0 kw/dev0"), log);
        assertEquals("kw/dev0", worker.task().comm());
        assertTrue(kthreads.queueWork(worker, b), "it ran: it can be queued again");
        kthreads.destroyWorker(worker);
        assertEquals(List.of("a@0 kw/dev0", "b@0 kw/dev0", "b@0 kw/dev0"), log);
        assertNull(worker.task());
    }

    @Test
    void flushWork_waitsForTheItemThatSleeps() {
        KthreadWork slow = new KthreadWork("slow", w -> {
            kernel.timers().msleep(10);
            log.add("slow done@" + now());
        });
        kthreads.queueWork(worker, slow);
        kthreads.queueWork(worker, logging("after"));
        kthreads.flushWork(slow);
        assertEquals("slow done@11", log.get(0), "returned once slow ran");
        assertEquals(11, now());
        kthreads.flushWorker(worker);
        assertEquals(List.of("slow done@11", "after@11 kw/dev0"), log);
        kthreads.destroyWorker(worker);
    }

    @Test
    void flushWork_ofAnIdleItem_returnsAtOnce() {
        KthreadWork w = logging("w");
        kthreads.flushWork(w); // never queued
        kthreads.queueWork(worker, w);
        stepper.runUntilIdle();
        kthreads.flushWork(w); // ran
        assertEquals(0, now());
        kthreads.destroyWorker(worker);
    }

    @Test
    void queueDelayedWork_runsAtTheExactJiffy() {
        KthreadDelayedWork dw = delayed("dw");
        assertTrue(kthreads.queueDelayedWork(worker, dw, 10));
        assertFalse(kthreads.queueDelayedWork(worker, dw, 3), "pending");
        assertTrue(dw.timerPending());
        stepper.runFor(10, TimeUnit.MILLISECONDS);
        assertEquals(List.of(), log);
        stepper.runFor(1, TimeUnit.MILLISECONDS);
        assertEquals(List.of("dw@11"), log, "the timer expires at 10 and runs at the next tick");
        kthreads.destroyWorker(worker);
    }

    @Test
    void queueDelayedWork_zeroDelay_queuesAtOnce() {
        kthreads.queueDelayedWork(worker, delayed("now"), 0);
        stepper.runUntilIdle();
        assertEquals(List.of("now@0"), log);
        kthreads.destroyWorker(worker);
    }

    @Test
    void modDelayedWork_retimesAPendingItem_andReturnsWhetherItWasPending() {
        KthreadDelayedWork dw = delayed("dw");
        assertFalse(kthreads.modDelayedWork(worker, dw, 50), "idle: false, and now queued");
        assertTrue(kthreads.modDelayedWork(worker, dw, 5), "pending: true");
        stepper.runFor(30, TimeUnit.MILLISECONDS);
        assertEquals(List.of("dw@6"), log);
        assertFalse(kthreads.modDelayedWork(worker, dw, 2), "it ran: not pending");
        stepper.runFor(30, TimeUnit.MILLISECONDS);
        assertEquals(List.of("dw@6", "dw@33"), log);
        kthreads.destroyWorker(worker);
    }

    @Test
    void cancelDelayedWorkSync_ofAPendingItem_returnsTrue_andItNeverRuns() {
        KthreadDelayedWork dw = delayed("dw");
        kthreads.queueDelayedWork(worker, dw, 5);
        assertTrue(kthreads.cancelDelayedWorkSync(dw));
        assertFalse(dw.timerPending());
        stepper.runFor(20, TimeUnit.MILLISECONDS);
        assertEquals(List.of(), log);
        assertFalse(kthreads.cancelDelayedWorkSync(dw), "nothing left to cancel");
        kthreads.destroyWorker(worker);
    }

    @Test
    void cancelWorkSync_ofARunningItem_waitsForIt_andBlocksQueueingMeanwhile() {
        List<Boolean> requeued = new ArrayList<>();
        KthreadWork[] self = new KthreadWork[1];
        self[0] = new KthreadWork("running", w -> {
            kernel.timers().msleep(5);
            requeued.add(kthreads.queueWork(worker, self[0])); // canceling: refused
            log.add("running done@" + now());
        });
        kthreads.queueWork(worker, self[0]);
        stepper.runUntilIdle(); // it started and sleeps
        assertFalse(kthreads.cancelWorkSync(self[0]), "not queued (it runs): false");
        assertEquals(List.of("running done@6"), log, "returned once the run ended");
        assertEquals(List.of(false), requeued);
        kthreads.destroyWorker(worker);
    }

    @Test
    void cancelWorkSync_ofAQueuedItem_returnsTrue() {
        KthreadWork slow = new KthreadWork("slow", w -> kernel.timers().msleep(3));
        KthreadWork queued = logging("queued");
        kthreads.queueWork(worker, slow);
        kthreads.queueWork(worker, queued);
        stepper.runUntilIdle();
        assertTrue(kthreads.cancelWorkSync(queued));
        kthreads.flushWorker(worker);
        assertEquals(List.of(), log);
        kthreads.destroyWorker(worker);
    }

    @Test
    void flushWork_ofADelayedItemWhoseTimerIsPending_warnsAndReturns() {
        reports.expect("WARNING: kthread_flush_work(late) of an item whose timer has not fired");
        KthreadDelayedWork dw = delayed("late");
        kthreads.queueDelayedWork(worker, dw, 50);
        kthreads.flushWork(dw);
        assertEquals(0, now(), "returned at once instead of waiting forever");
        assertTrue(kthreads.cancelDelayedWorkSync(dw));
        kthreads.destroyWorker(worker);
    }

    @Test
    void destroyWorker_runsWhatIsQueued_thenStopsTheKthread() {
        kthreads.queueWork(worker, logging("last"));
        Task task = worker.task();
        kthreads.destroyWorker(worker);
        assertEquals(List.of("last@0 kw/dev0"), log);
        assertEquals(Kthread.TASK_DEAD, task.state());
    }

    @Test
    void destroyWorker_withADelayedItemPending_warns() {
        reports.expect("WARNING: kthread_destroy_worker(kw/dev0) with delayed items still pending");
        KthreadDelayedWork dw = delayed("late");
        kthreads.queueDelayedWork(worker, dw, 100);
        kthreads.destroyWorker(worker);
        kthreads.cancelDelayedWorkSync(dw);
    }

    @Test
    void queueWork_ofAnItemUsedWithAnotherWorker_warnsOnce() {
        reports.expect("WARN_ON_ONCE(work->worker && work->worker != worker)");
        KthreadWorker other = kthreads.createWorker(0, "kw/other");
        KthreadWork w = logging("w");
        kthreads.queueWork(worker, w);
        stepper.runUntilIdle();
        kthreads.queueWork(other, w);
        stepper.runUntilIdle();
        assertEquals(List.of("w@0 kw/dev0", "w@0 kw/other"), log);
        kthreads.destroyWorker(other);
        kthreads.destroyWorker(worker);
    }
}
