package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Workqueue rules with exact timing (delayed work: {@code queue_delayed_work}, {@code mod_delayed_work},
 * {@code cancel_delayed_work}, {@code flush_delayed_work}; docs/subsystems/workqueue.md) in stepped mode:
 * the test moves the manual clock jiffy by jiffy and runs what is due; kworkers are agents the stepper runs.
 */
class WorkqueueSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(3);
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private Workqueues wqs;
    private long origin;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
        origin = kernel.jiffies();
    }

    private DelayedWork logging(String name) {
        return new DelayedWork(name, w -> log.add(name + "@" + (kernel.jiffies() - origin) + " " + kernel.context().name()));
    }

    /** One jiffy passes and everything due runs. */
    private void tick() {
        stepper.advanceJiffies(1);
        stepper.runUntilIdle();
    }

    private void ticks(int n) {
        for (int i = 0; i < n; i++) {
            tick();
        }
    }

    @Test
    void queueDelayedOnAPendingItem_returnsFalse_andKeepsTheFirstTimer() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("dw");
        assertTrue(wqs.queueDelayed(wq, dw, 100));
        assertFalse(wqs.queueDelayed(wq, dw, 10));
        ticks(100);
        assertEquals(List.of(), log, "not before 100 ticks");
        ticks(10);
        assertEquals(1, log.size());
        assertTrue(log.get(0).startsWith("dw@10"), log.toString()); // 100 → level 1, 8-tick granularity: 104
        assertEquals("dw@104 kworker/0:0", log.get(0));
    }

    @Test
    void modDelayedWork_retimesAPendingItem_andItRunsOnce() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("dw");
        wqs.queueDelayed(wq, dw, 100);
        assertTrue(wqs.modDelayed(wq, dw, 10));
        ticks(10);
        assertEquals(List.of(), log, "never earlier than the new delay");
        ticks(200);
        assertEquals(List.of("dw@11 kworker/0:0"), log);
    }

    @Test
    void modDelayedWorkOnAnIdleItem_returnsFalse_andArmsIt() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("dw");
        assertFalse(wqs.modDelayed(wq, dw, 5));
        assertTrue(dw.isPending());
        assertTrue(dw.timerPending());
        ticks(10);
        assertEquals(List.of("dw@6 kworker/0:0"), log);
    }

    @Test
    void delayZero_queuesAtOnce_withoutWaitingForATick() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("dw");
        assertTrue(wqs.queueDelayed(wq, dw, 0));
        assertFalse(dw.timerPending());
        stepper.runUntilIdle();
        assertEquals(List.of("dw@0 kworker/0:0"), log);
    }

    @Test
    void flushDelayedWork_runsItNow_andReturnsTrueAfterwards() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("dw");
        wqs.queueDelayed(wq, dw, kernel.msecsToJiffies(10_000));
        assertTrue(wqs.flushDelayed(dw));
        assertEquals(List.of("dw@0 kworker/0:0"), log, "ran right away, before flush_delayed_work returned");
        assertFalse(dw.isPending());
    }

    @Test
    void cancelDelayedWorkWhileItRuns_returnsFalse_andTheFunctionContinues() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        List<Boolean> results = new ArrayList<>();
        DelayedWork[] self = new DelayedWork[1];
        self[0] = new DelayedWork("dw", w -> {
            results.add(wqs.cancelDelayed(self[0]));
            log.add("continued");
        });
        wqs.queueDelayed(wq, self[0], 1);
        ticks(3);
        assertEquals(List.of(false), results);
        assertEquals(List.of("continued"), log);
        assertTrue(wqs.queueDelayed(wq, self[0], 1), "and cancel did not disable it");
    }

    @Test
    void destroyWithAnArmedDelayedItem_isReported_andItsLaterExpiryIsAnError() {
        Workqueue wq = wqs.alloc("doomed", 0, 0);
        DelayedWork dw = logging("late");
        wqs.queueDelayed(wq, dw, 50);
        wqs.destroy(wq);
        assertEquals(1, reports.matching("BUG: destroy_workqueue(doomed): 1 delayed work item(s) still armed").size());
        ticks(100);
        assertEquals(List.of(), log);
        assertEquals(1, reports.matching("BUG: workqueue: cannot queue late on wq doomed").size());
    }

    @Test
    void destroyWithAnItemQueuedAfterTheDrain_warnsShowsTheBusyPwq_andLeavesTheWorkqueueAlive() {
        // destroy_workqueue reports the armed delayed item between its drain and its sanity check; a
        // reporter that reacts by queueing onto the workqueue puts an item there after the drain, as a
        // racing queuer would in threaded mode.
        Workqueues[] queues = new Workqueues[1];
        Workqueue[] target = new Workqueue[1];
        Work late = new Work("after-drain", w -> log.add("after-drain ran"));
        Kernel k = kernels.boot(b -> b.cpus(1).reporter(e -> {
            if (e.message().contains("still armed") && target[0] != null) {
                queues[0].queue(target[0], late);
            }
        }));
        KernelReports seen = kernels.reports(k);
        k.bindCurrentThread(0);
        Workqueues q = k.workqueues();
        queues[0] = q;
        Workqueue wq = q.alloc("leaky", 0, 0);
        target[0] = wq;
        DelayedWork armed = new DelayedWork("armed", w -> { });
        q.queueDelayed(wq, armed, 1000);
        q.destroy(wq);
        List<KernelEvent> warnings = seen.matching("WARNING: destroy_workqueue: leaky has the following busy pwq");
        assertEquals(1, warnings.size(), seen.toString());
        assertTrue(warnings.get(0).message().contains("workqueue leaky: flags=0x"), warnings.get(0).message());
        assertTrue(warnings.get(0).message().contains("pending: after-drain"), warnings.get(0).message());
        // Left alive: the item runs, and the workqueue still takes work.
        k.stepper().runUntilIdle();
        assertEquals(List.of("after-drain ran"), log);
        assertTrue(q.queue(wq, late));
        k.stepper().runUntilIdle();
        assertEquals(List.of("after-drain ran", "after-drain ran"), log);
        q.cancelDelayedSync(armed);
        q.destroy(wq);
        assertEquals(1, seen.matching("has the following busy pwq").size(), "a clean destroy does not warn");
        assertEquals(1, seen.matching("BUG: destroy_workqueue(leaky)").size(), "the first destroy's report only");
    }

    @Test
    void bhWorkqueue_runsOnTheQueueingCpuInSoftirq_beforeTasklets_inBatchesOfTen() {
        Workqueue bh = wqs.systemBhWq();
        kernel.bindCurrentThread(2);
        List<String> order = new ArrayList<>();
        Tasklet t = Tasklet.setup("tasklet", x -> order.add("tasklet"));
        ExecutionContext task = kernel.context();
        task.localBhDisable();
        kernel.tasklets().schedule(t);
        for (int i = 0; i < 12; i++) {
            int n = i;
            wqs.queue(bh, new Work("bh" + i, w -> {
                ExecutionContext c = kernel.context();
                order.add("bh" + n + " cpu" + c.cpuId() + (c.inServingSoftirq() ? " softirq" : ""));
            }));
        }
        task.localBhEnable();   // the first TASKLET_SOFTIRQ pass: 10 items, then the tasklet; the rest next pass
        stepper.runUntilIdle();
        assertEquals(13, order.size(), order.toString());
        for (int i = 0; i < 10; i++) {
            assertEquals("bh" + i + " cpu2 softirq", order.get(i));
        }
        assertEquals("tasklet", order.get(10), "the BH pool runs at the start of tasklet_action");
        assertEquals("bh10 cpu2 softirq", order.get(11));
        assertEquals("bh11 cpu2 softirq", order.get(12));
        assertTrue(kernel.softirqs().count(2, SoftirqVector.TASKLET) >= 2, "a second pass took the rest");
    }

    @Test
    void bhHighpri_runsFromHiSoftirq_andCancelSyncFromSoftirqIsAllowed() {
        Workqueue hi = wqs.systemBhHighpriWq();
        List<String> seen = new ArrayList<>();
        Work w = new Work("hi", x -> seen.add("hi"));
        wqs.queue(hi, w);
        stepper.runUntilIdle();
        assertEquals(List.of("hi"), seen);
        assertEquals(1, kernel.softirqs().count(0, SoftirqVector.HI));
        Tasklet canceller = Tasklet.setup("canceller", x -> wqs.cancelSync(w));
        kernel.tasklets().schedule(canceller);
        stepper.runUntilIdle();
        assertEquals(0, reports.matching("sleeping function called from invalid context").size(), reports.events().toString());
    }

    @Test
    void delayedWorkOnACpu_runsOnThatCpusWorker() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("on1");
        assertTrue(wqs.queueDelayedOn(1, wq, dw, 3));
        ticks(5);
        assertEquals(List.of("on1@4 kworker/1:0"), log);
    }

    @Test
    void cancelDelayedSync_ofAnArmedItem_returnsTrue_andItNeverRuns() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = logging("x");
        wqs.queueDelayed(wq, dw, 5);
        assertTrue(wqs.cancelDelayedSync(dw));
        assertFalse(dw.isPending());
        ticks(10);
        assertEquals(List.of(), log);
        assertEquals(0, dw.work().disableDepth());
    }

    @Test
    void poolWithoutProgressFor30s_isReportedAsALockup_withTheBusyWorkqueues() {
        Workqueue wq = wqs.alloc("stall", 0, 0);
        wqs.queueOn(1, wq, new Work("wq_stall_fn", w -> log.add("ran")));
        // Nobody runs CPU 1's kworker (the test never steps it): the pool makes no progress.
        stepper.advance(29, java.util.concurrent.TimeUnit.SECONDS);
        stepper.hardirq(0);
        assertEquals(0, reports.matching("workqueue lockup").size(), "not before the threshold");
        stepper.advance(2, java.util.concurrent.TimeUnit.SECONDS);
        stepper.hardirq(0); // the watchdog timer was due at 30 s (+ wheel rounding); it runs now, at 31 s
        assertEquals(1, reports.matching("BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 31s!")
                .size(), reports.events().toString());
        assertTrue(reports.matching("workqueue stall: flags=0x0").size() == 1
                && reports.matching("pending: wq_stall_fn").size() == 1, reports.events().toString());
        assertEquals(1, wqs.lockups());
        stepper.runUntilIdle();
        assertEquals(List.of("ran"), log);
        stepper.advance(31, java.util.concurrent.TimeUnit.SECONDS);
        stepper.hardirq(0);
        assertEquals(1, wqs.lockups(), "progress was made: no second report");
    }

    @Test
    void watchdogThreshold_isConfigurable_andZeroTurnsItOff() {
        reports.expect("BUG: workqueue lockup - pool cpus=1");
        wqs.watchdogThreshSeconds(2);
        Workqueue wq = wqs.alloc("stall", 0, 0);
        wqs.queueOn(1, wq, new Work("stuck", w -> { }));
        stepper.advance(3, java.util.concurrent.TimeUnit.SECONDS);
        stepper.hardirq(0);
        assertEquals(1, wqs.lockups());
        wqs.watchdogThreshSeconds(0);
        stepper.advance(10, java.util.concurrent.TimeUnit.SECONDS);
        stepper.hardirq(0);
        assertEquals(1, wqs.lockups());
    }

    @Test
    void monitor_countsExecutedItemsPerWorkqueue() {
        Workqueue wq = wqs.alloc("counted", 0, 0);
        for (int i = 0; i < 5; i++) {
            wqs.queue(wq, new Work("c" + i, w -> { }));
        }
        stepper.runUntilIdle();
        Workqueues.Stats s = wqs.stats(wq);
        assertEquals(5, s.total());
        assertEquals(0, s.inFlight());
        assertTrue(wqs.monitor().lines().anyMatch(l -> l.startsWith("counted ") && l.contains(" 5 ")), wqs.monitor());
    }

    @Test
    void freezer_freezableItemsWaitWhileFrozen_othersRun_thawRunsThem() {
        Workqueue freezable = wqs.alloc("fz", Workqueue.WQ_FREEZABLE, 0);
        Workqueue normal = wqs.alloc("nf", 0, 0);
        wqs.queue(freezable, new Work("before", w -> log.add("before")));
        wqs.freeze();                               // waits for the active item: in stepped mode it runs it
        assertEquals(List.of("before"), log);
        assertTrue(wqs.isFrozen());
        wqs.queue(freezable, new Work("frozen", w -> log.add("frozen")));
        wqs.queue(normal, new Work("normal", w -> log.add("normal")));
        stepper.runUntilIdle();
        assertEquals(List.of("before", "normal"), log, "the freezable item waits on its inactive list");
        assertTrue(wqs.showAllWorkqueues().contains("inactive: 1 items"), wqs.showAllWorkqueues());
        wqs.thaw();
        stepper.runUntilIdle();
        assertEquals(List.of("before", "normal", "frozen"), log);
    }

    @Test
    void setMaxActive_raisingItActivatesWaitingItems_andIsRefusedForOrderedWorkqueues() {
        Workqueue wq = wqs.alloc("ma", 0, 1);
        for (int i = 0; i < 3; i++) {
            wqs.queueOn(0, wq, new Work("m" + i, w -> log.add(w.name())));
        }
        assertTrue(wqs.showAllWorkqueues().contains("inactive: 2 items"), wqs.showAllWorkqueues());
        wqs.setMaxActive(wq, 3);
        assertFalse(wqs.showAllWorkqueues().contains("inactive:"), wqs.showAllWorkqueues());
        assertEquals(3, wq.maxActive());
        stepper.runUntilIdle();
        assertEquals(List.of("m0", "m1", "m2"), log);
        Workqueue ordered = wqs.allocOrdered("o", 0);
        wqs.setMaxActive(ordered, 4);
        assertEquals(1, ordered.maxActive());
        assertEquals(1, reports.matching("workqueue_set_max_active(o) on an ordered workqueue is ignored").size());
    }

    @Test
    void memReclaim_rescuerRunsItsItems_whenNoWorkerCanBeCreated() {
        wqs.failWorkerCreation(true);
        Workqueue reclaim = wqs.alloc("reclaim", Workqueue.WQ_MEM_RECLAIM, 0);
        Workqueue plain = wqs.alloc("plain", 0, 0);
        wqs.queueOn(0, reclaim, new Work("A", w -> log.add("A on " + Thread.currentThread().getName() + " "
                + kernel.context().name())));
        wqs.queueOn(0, plain, new Work("B", w -> log.add("B on " + kernel.context().name())));
        stepper.runUntilIdle();
        assertEquals(List.of(), log, "no worker could be created");
        stepper.advanceJiffies(10);                  // MAYDAY_INITIAL_TIMEOUT = HZ/100: 10 jiffies at HZ=1000 ...
        stepper.runUntilIdle();
        assertEquals(List.of(), log, "... and a level-0 timer rounds up by one: not yet");
        stepper.advanceJiffies(1);
        stepper.runUntilIdle();
        assertEquals(1, log.size(), log.toString());
        assertTrue(log.get(0).startsWith("A on ") && log.get(0).endsWith(" kworker/R-reclaim"), log.toString());
        Workqueues.Stats s = wqs.stats(reclaim);
        assertEquals(1, s.mayday());
        assertEquals(1, s.rescued());
        wqs.failWorkerCreation(false);
        stepper.advanceJiffies(110);                 // the next mayday round (MAYDAY_INTERVAL = HZ/10) retries
        stepper.runUntilIdle();
        assertEquals(List.of(log.get(0), "B on kworker/0:0"), log);
        assertEquals(0, wqs.stats(plain).rescued(), "only WQ_MEM_RECLAIM workqueues have rescuers");
    }
}
