package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * What the audit against Linux 6.12's kernel/workqueue.c changed: {@code enable_work}'s return value and its
 * grab of PENDING, {@code enable_and_queue_work}'s return value, {@code WQ_NAME_LEN} truncation,
 * {@code alloc_ordered_workqueue} passing every flag, and {@code check_flush_dependency}. Stepped mode.
 */
class WorkqueueKernelChecksTest {
    private static final String FLUSH_DEPENDENCY = "is flushing !WQ_MEM_RECLAIM";

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private Workqueues wqs;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
    }

    // ------------------------------------------------------------------------------------------
    // enable_work, enable_and_queue_work
    // ------------------------------------------------------------------------------------------

    @Test
    void enableWork_ofAnEnabledItem_warnsOnce_returnsTrue_andLeavesTheDepthAtZero() {
        Work w = new Work("w", x -> log.add("w"));
        assertTrue(wqs.enable(w));
        assertTrue(wqs.enable(w));
        assertEquals(0, w.disableDepth());
        assertEquals(1, reports.matching("workqueue: work disable count underflowed").size(), "WARN_ONCE");
        assertTrue(wqs.queue(wqs.systemWq(), w), "still enabled");
        stepper.runUntilIdle();
        assertEquals(List.of("w"), log);
    }

    @Test
    void enableWork_ofAnEnabledQueuedItem_takesPendingAway_soThatInstanceNeverRuns() {
        Workqueue wq = wqs.alloc("e", 0, 0);
        Work w = new Work("w", x -> log.add("w"));
        wqs.queueOn(0, wq, w);
        assertTrue(wqs.enable(w));
        assertFalse(w.isPending(), "work_grab_pending, then set_work_pool_and_clear_pending");
        stepper.runUntilIdle();
        assertEquals(List.of(), log);
        reports.expect("workqueue: work disable count underflowed");
    }

    @Test
    void enableDelayedWork_ofAnEnabledArmedItem_stopsItsTimer() {
        Workqueue wq = wqs.alloc("e", 0, 0);
        DelayedWork dw = new DelayedWork("dw", x -> log.add("dw"));
        wqs.queueDelayedOn(0, wq, dw, 5);
        assertTrue(wqs.enableDelayed(dw));
        assertFalse(dw.isPending() || dw.timerPending());
        stepper.advanceJiffies(20);
        stepper.runUntilIdle();
        assertEquals(List.of(), log);
        reports.expect("workqueue: work disable count underflowed");
    }

    @Test
    void enableAndQueueWork_returnsTrueWheneverTheDepthReachesZero() {
        Workqueue wq = wqs.alloc("e", 0, 0);
        Work w = new Work("w", x -> log.add("w"));
        wqs.disable(w);
        wqs.disable(w);
        assertFalse(wqs.enableAndQueue(wq, w), "depth 1");
        assertTrue(wqs.enableAndQueue(wq, w), "depth 0: queued");
        assertTrue(w.isPending());
        assertTrue(wqs.enableAndQueue(wq, w), "an enabled, pending item: enable_work steals the instance and"
                + " warns, queue_work queues it again, and the inline returns true");
        stepper.runUntilIdle();
        assertEquals(List.of("w"), log);
        reports.expect("workqueue: work disable count underflowed");
    }

    // ------------------------------------------------------------------------------------------
    // alloc_workqueue
    // ------------------------------------------------------------------------------------------

    @Test
    void allocWorkqueue_nameOf32CharactersOrMore_isTruncatedTo31_withOneWarningPerBoot() {
        String name = "abcdefghijklmnopqrstuvwxyz0123456789";       // 36
        Workqueue a = wqs.alloc(name, 0, 0);
        Workqueue b = wqs.alloc("x".repeat(32), 0, 0);
        Workqueue c = wqs.alloc("y".repeat(31), 0, 0);
        assertEquals(name.substring(0, 31), a.name());
        assertEquals("x".repeat(31), b.name());
        assertEquals("y".repeat(31), c.name(), "31 characters fit");
        List<KernelEvent> warned = reports.matching("workqueue: name exceeds WQ_NAME_LEN");
        assertEquals(List.of("workqueue: name exceeds WQ_NAME_LEN. Truncating to: " + name.substring(0, 31)),
                warned.stream().map(KernelEvent::message).toList(), "pr_warn_once");
        assertEquals(KernelEvent.Kind.WARN, warned.get(0).kind(), "a printk, not a WARN splat");
    }

    @Test
    void allocWorkqueue_theClampWarning_namesTheTruncatedName() {
        String name = "z".repeat(40);
        Workqueue wq = wqs.alloc(name, 0, 5000);
        assertEquals(Workqueue.WQ_MAX_ACTIVE, wq.maxActive());
        assertEquals(1, reports.matching("workqueue: max_active 5000 requested for " + "z".repeat(31)
                + " is out of range, clamping between 1 and " + Workqueue.WQ_MAX_ACTIVE).size());
        reports.matching("name exceeds");
    }

    @Test
    void allocOrderedWorkqueue_passesEveryFlag_soWqSysfsAndWqBhAreRefused() {
        assertThrows(KernelException.class, () -> wqs.allocOrdered("o-sysfs", Workqueue.WQ_SYSFS));
        assertEquals(1, reports.matching("WQ_SYSFS is not allowed on an ordered workqueue").size());
        assertThrows(KernelException.class, () -> wqs.allocOrdered("o-bh", Workqueue.WQ_BH));
        assertEquals(1, reports.matching("alloc_workqueue(o-bh)").size());
        Workqueue ordered = wqs.allocOrdered("o-intensive", Workqueue.WQ_CPU_INTENSIVE);
        assertEquals(Workqueue.WQ_UNBOUND | Workqueue.WQ_CPU_INTENSIVE, ordered.flags());
        assertTrue(ordered.isOrdered());
    }

    // ------------------------------------------------------------------------------------------
    // is_chained_work
    // ------------------------------------------------------------------------------------------

    @Test
    void drainingABhWorkqueue_refusesItsOwnItemsRequeue_sinceABhItemIsNoKworker() {
        Workqueue bh = wqs.alloc("bhq", Workqueue.WQ_BH, 0);
        Workqueue plain = wqs.alloc("plain", 0, 0);
        Work[] self = new Work[2];
        self[0] = new Work("bh_self", w -> {
            log.add("bh_self");
            if (log.size() < 3) {
                wqs.queue(bh, w);
            }
        });
        self[1] = new Work("kw_self", w -> {
            log.add("kw_self");
            if (log.size() < 3) {
                wqs.queue(plain, w);                 // chained: accepted while plain drains
            }
        });
        wqs.queue(bh, self[0]);
        wqs.drainWorkqueue(bh);
        assertEquals(List.of("bh_self"), log, "the requeue from softirq is not chained work: refused");
        assertTrue(self[0].isPending(), "refused while draining: PENDING stays, it never runs");
        assertEquals(1, reports.matching("workqueue: cannot queue bh_self on wq bhq").size());
        log.clear();
        wqs.queue(plain, self[1]);
        wqs.drainWorkqueue(plain);
        assertEquals(List.of("kw_self", "kw_self", "kw_self"), log, "a kworker's requeue is chained work");
    }

    // ------------------------------------------------------------------------------------------
    // check_flush_dependency
    // ------------------------------------------------------------------------------------------

    /** An item of {@code from} that runs {@code body} on CPU 0. */
    private void runOn(Workqueue from, String name, Runnable body) {
        wqs.queueOn(0, from, new Work(name, x -> body.run()));
        stepper.runUntilIdle();
    }

    @Test
    void memReclaimItemFlushingANonReclaimWorkqueue_warnsOncePerBoot_withTheKernelsText() {
        Workqueue reclaim = wqs.alloc("reclaim", Workqueue.WQ_MEM_RECLAIM, 0);
        Workqueue plain = wqs.alloc("plain", 0, 0);
        runOn(reclaim, "reclaim_fn", () -> wqs.flushWorkqueue(plain));
        runOn(reclaim, "reclaim_fn", () -> wqs.drainWorkqueue(plain));
        assertEquals(List.of("workqueue: WQ_MEM_RECLAIM reclaim:reclaim_fn is flushing !WQ_MEM_RECLAIM plain:0x0"),
                reports.matching(FLUSH_DEPENDENCY).stream().map(KernelEvent::message).toList());
        assertEquals(KernelEvent.Kind.WARNING, reports.matching(FLUSH_DEPENDENCY).get(0).kind());
    }

    @Test
    void memReclaimItemFlushingAnItemOfANonReclaimWorkqueue_namesTheItem_butOnlyWhenThereIsSomethingToWaitFor() {
        Workqueue reclaim = wqs.alloc("reclaim", Workqueue.WQ_MEM_RECLAIM, 0);
        Workqueue plain = wqs.alloc("plain", 0, 0);
        Work target = new Work("target_fn", x -> log.add("target"));
        runOn(reclaim, "idle_flusher", () -> wqs.flush(target));
        assertEquals(0, reports.matching(FLUSH_DEPENDENCY).size(), "start_flush_work: an idle item is not checked");
        runOn(reclaim, "reclaim_fn", () -> {
            wqs.queueOn(1, plain, target);
            wqs.flush(target);
        });
        assertEquals(List.of("target"), log);
        assertEquals(List.of("workqueue: WQ_MEM_RECLAIM reclaim:reclaim_fn is flushing !WQ_MEM_RECLAIM plain:target_fn"),
                reports.matching(FLUSH_DEPENDENCY).stream().map(KernelEvent::message).toList());
    }

    @Test
    void noFlushDependencyWarning_forLegacyWorkqueues_reclaimTargets_cancels_orTasks() {
        Workqueue legacy = wqs.createWorkqueue("legacy");
        Workqueue reclaim = wqs.alloc("reclaim", Workqueue.WQ_MEM_RECLAIM, 0);
        Workqueue reclaim2 = wqs.alloc("reclaim2", Workqueue.WQ_MEM_RECLAIM, 0);
        Workqueue plain = wqs.alloc("plain", 0, 0);
        Work target = new Work("target_fn", x -> log.add("target"));
        runOn(legacy, "legacy_fn", () -> wqs.flushWorkqueue(plain));           // __WQ_LEGACY
        runOn(reclaim, "reclaim_fn", () -> wqs.flushWorkqueue(reclaim2));      // the target can make progress
        runOn(reclaim, "cancel_fn", () -> {                                    // from_cancel
            wqs.queueOn(1, plain, target);
            wqs.cancelSync(target);
        });
        wqs.flushWorkqueue(plain);                                             // a task, not a worker
        assertEquals(0, reports.matching(FLUSH_DEPENDENCY).size());
        assertEquals(0, legacy.flags() & ~Workqueue.WQ_MEM_RECLAIM, "__WQ_LEGACY is internal");
    }
}
