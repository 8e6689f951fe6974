package dev.bottomhalf.workqueue;

import static dev.bottomhalf.linux.Linux.usleep_range;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * The helpers drivers use around their items, in stepped mode: re-initialising an embedded item
 * ({@code INIT_WORK}, {@code INIT_DELAYED_WORK}) with the kernel's debug-objects rules, {@code to_delayed_work}
 * and {@code container_of}, {@code work_busy}, {@code workqueue_congested}, {@code schedule_on_each_cpu},
 * {@code queue_work_node} and {@code current_is_workqueue_rescuer}.
 */
class WorkqueueDriverHelpersTest {
    private static final String ODEBUG = "ODEBUG: init active (active state 0) object: ";

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private Workqueues wqs;
    private final List<String> log = new CopyOnWriteArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
    }

    private Work.Func logs(String what) {
        return w -> log.add(what + " " + kernel.context().name());
    }

    /** A driver structure embedding a work item and a delayed one, as drivers do. */
    static final class MyDev {
        final String id;
        final Work work = new Work().container(this);
        final DelayedWork poll = new DelayedWork().container(this);

        MyDev(String id) {
            this.id = id;
        }
    }

    // ------------------------------------------------------------------------------------------
    // INIT_WORK, INIT_DELAYED_WORK, to_delayed_work, container_of
    // ------------------------------------------------------------------------------------------

    @Test
    void queueWork_ofAnItemNeverInitialised_isRefused_andLeavesItIdle_soINIT_WORKThenQueueWorks() {
        MyDev dev = new MyDev("dev7");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> wqs.queue(wqs.systemWq(), dev.work));
        assertEquals("queue_work() of a work item that was never initialised: call INIT_WORK() first", e.getMessage());
        assertFalse(dev.work.isPending(), "the claim is given back");
        wqs.initWork(dev.work, "mydev_work", w -> log.add("ran"));
        assertTrue(wqs.queue(wqs.systemWq(), dev.work));
        kernel.stepper().runUntilIdle();
        assertEquals(List.of("ran"), log);
    }

    @Test
    void initWork_onAnEmbeddedItem_thenContainerOf_givesTheDriverObjectBack() {
        MyDev dev = new MyDev("eth0");
        wqs.initWork(dev.work, "mydev_work", w -> log.add("work of " + w.container(MyDev.class).id));
        wqs.queue(wqs.systemWq(), dev.work);
        stepper.runUntilIdle();
        assertEquals(List.of("work of eth0"), log);
        assertEquals("mydev_work", dev.work.name());
    }

    @Test
    void toDelayedWork_inTheFunction_givesTheDelayedItem_andItsContainer() {
        MyDev dev = new MyDev("eth1");
        wqs.initDelayedWork(dev.poll, "mydev_poll", w -> {
            DelayedWork dw = DelayedWork.of(w);
            log.add((dw == dev.poll) + " " + dw.container(MyDev.class).id + " " + Linux.container_of(dw, MyDev.class).id);
        });
        wqs.queueDelayed(wqs.systemWq(), dev.poll, 0);
        stepper.runUntilIdle();
        assertEquals(List.of("true eth1 eth1"), log);
        IllegalArgumentException plain = assertThrows(IllegalArgumentException.class, () -> DelayedWork.of(dev.work));
        assertTrue(plain.getMessage().contains("not the work of a delayed work item"), plain.getMessage());
        IllegalStateException wrongType = assertThrows(IllegalStateException.class, () -> dev.work.container(String.class));
        assertTrue(wrongType.getMessage().contains("embedded in a " + MyDev.class.getName()), wrongType.getMessage());
    }

    @Test
    void initWork_ofAQueuedItem_isReportedAsTheDebugObjectsDo_cancelsIt_andOnlyTheNewFunctionRunsLater() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        Work w = new Work("old", logs("old"));
        wqs.queueOn(0, wq, w);
        wqs.initWork(w, "new", logs("new"));
        assertFalse(w.isPending(), "work_fixup_init: cancel_work_sync, then WORK_DATA_INIT");
        stepper.runUntilIdle();
        assertEquals(List.of(), log);
        assertEquals(List.of(ODEBUG + "old object type: work_struct hint: old"),
                reports.matching("ODEBUG").stream().map(e -> e.message()).toList());
        wqs.queueOn(0, wq, w);
        stepper.runUntilIdle();
        assertEquals(List.of("new kworker/0:0"), log);
    }

    @Test
    void initWork_clearsTheDisableDepth_andAnIdleItemIsNotReported() {
        Work w = new Work("w", logs("w"));
        wqs.disable(w);
        wqs.disable(w);
        wqs.initWork(w, "w", logs("w"));
        assertEquals(0, w.disableDepth(), "WORK_DATA_INIT: the disable count is part of the data");
        assertTrue(wqs.schedule(w));
        stepper.runUntilIdle();
        assertEquals(List.of("w kworker/0:0"), log);
    }

    @Test
    void initWork_fromItsOwnFunction_theRunningInstanceFinishes_andTheNewFunctionRunsWhenQueuedAgain() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        Work[] self = new Work[1];
        self[0] = new Work("first", w -> {
            wqs.initWork(w, "second", logs("second"));
            log.add("first still runs, pending=" + w.isPending());
            wqs.queueOn(0, wq, w);
        });
        wqs.queueOn(0, wq, self[0]);
        stepper.runUntilIdle();
        assertEquals(List.of("first still runs, pending=false", "second kworker/0:0"), log);
    }

    @Test
    void initDelayedWork_ofAnArmedItem_reportsTheTimer_stopsIt_andNothingRuns() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        DelayedWork dw = new DelayedWork("old", logs("old"));
        wqs.queueDelayedOn(0, wq, dw, 5);
        wqs.initDelayedWork(dw, "new", logs("new"));
        assertFalse(dw.isPending() || dw.timerPending());
        stepper.advanceJiffies(20);
        stepper.runUntilIdle();
        assertEquals(List.of(), log);
        assertEquals(List.of(ODEBUG + "old object type: timer_list hint: delayed_work_timer_fn"),
                reports.matching("ODEBUG").stream().map(e -> e.message()).toList());
        assertTrue(wqs.queueDelayedOn(0, wq, dw, 1));
        stepper.advanceJiffies(5);
        stepper.runUntilIdle();
        assertEquals(List.of("new kworker/0:0"), log);
        wqs.destroy(wq);
    }

    @Test
    void debugObjectsReports_stopAfterTheFirstFiveOfABoot() {
        Workqueue wq = wqs.alloc("d", 0, 0);
        for (int i = 0; i < 7; i++) {
            Work w = new Work("w" + i, logs("w"));
            wqs.queueOn(0, wq, w);
            wqs.initWork(w, "w" + i, logs("w"));
        }
        assertEquals(5, reports.matching("ODEBUG").size());
    }

    @Test
    void facadeInitWorkAndInitDelayedWork_nameTheItemAfterTheFunction() {
        MyDev dev = new MyDev("eth2");
        Linux.INIT_WORK(dev.work, WorkqueueDriverHelpersTest::handler);
        Linux.INIT_DELAYED_WORK(dev.poll, WorkqueueDriverHelpersTest::handler);
        assertEquals("WorkqueueDriverHelpersTest", dev.work.name());
        assertSame(dev.poll, Linux.to_delayed_work(dev.poll.work()));
        assertSame(dev, Linux.container_of(dev.work, MyDev.class));
    }

    private static void handler(Work w) {
        // the function of facadeInitWorkAndInitDelayedWork_nameTheItemAfterTheFunction
    }

    // ------------------------------------------------------------------------------------------
    // work_busy, workqueue_congested
    // ------------------------------------------------------------------------------------------

    @Test
    void workBusy_isPendingWhileQueuedOrArmed_runningWhileAWorkerRunsIt_andBothWhenRequeuedMeanwhile() {
        Workqueue wq = wqs.alloc("b", 0, 0);
        List<Integer> seen = new CopyOnWriteArrayList<>();
        Work[] self = new Work[1];
        self[0] = new Work("b", w -> {
            seen.add(wqs.workBusy(w));
            if (seen.size() == 1) {
                wqs.queueOn(1, wq, w);               // non-reentrancy: queued on the pool still running it
                seen.add(wqs.workBusy(w));
            }
            usleep_range(1000, 1000);
        });
        assertEquals(0, wqs.workBusy(self[0]));
        wqs.queueOn(0, wq, self[0]);
        assertEquals(Work.WORK_BUSY_PENDING, wqs.workBusy(self[0]));
        stepper.runUntilIdle();
        assertEquals(List.of(Work.WORK_BUSY_RUNNING, Work.WORK_BUSY_PENDING | Work.WORK_BUSY_RUNNING), seen);
        assertEquals(Work.WORK_BUSY_PENDING | Work.WORK_BUSY_RUNNING, wqs.workBusy(self[0]), "the first run sleeps");
        stepper.runFor(10, TimeUnit.MILLISECONDS);
        assertEquals(List.of(Work.WORK_BUSY_RUNNING, Work.WORK_BUSY_PENDING | Work.WORK_BUSY_RUNNING,
                Work.WORK_BUSY_RUNNING), seen, "the second run, after the first, on the same worker");
        assertEquals(0, wqs.workBusy(self[0]));
    }

    @Test
    void workBusy_ofAnArmedDelayedItem_isPending() {
        DelayedWork dw = new DelayedWork("dw", logs("dw"));
        wqs.scheduleDelayed(dw, 10);
        assertEquals(Work.WORK_BUSY_PENDING, Linux.work_busy(dw.work()));
        wqs.cancelDelayedSync(dw);
        assertEquals(0, Linux.work_busy(dw.work()));
    }

    @Test
    void workqueueCongested_whileItemsWaitOverMaxActiveOnThatCpu() {
        Workqueue wq = wqs.alloc("c", 0, 1);
        wqs.queueOn(0, wq, new Work("a", logs("a")));
        assertFalse(wqs.workqueueCongested(0, wq), "one active item");
        wqs.queueOn(0, wq, new Work("b", logs("b")));
        assertTrue(wqs.workqueueCongested(0, wq), "b waits on the inactive list");
        assertTrue(wqs.workqueueCongested(Workqueues.WORK_CPU_UNBOUND, wq), "the calling CPU is 0");
        assertFalse(Linux.workqueue_congested(1, wq), "per CPU");
        stepper.runUntilIdle();
        assertFalse(wqs.workqueueCongested(0, wq));
        assertEquals(List.of("a kworker/0:0", "b kworker/0:0"), log);
    }

    // ------------------------------------------------------------------------------------------
    // schedule_on_each_cpu, queue_work_node, current_is_workqueue_rescuer
    // ------------------------------------------------------------------------------------------

    @Test
    void scheduleOnEachCpu_runsTheFunctionOnEveryCpusWorker_beforeItReturns() {
        assertEquals(0, wqs.scheduleOnEachCpu("each", logs("each")));
        assertEquals(List.of("each kworker/0:0", "each kworker/1:0"), log);
    }

    @Test
    void scheduleOnEachCpu_fromAKworker_itsOwnCpusItemRunsOnAnotherWorkerOfThePool() {
        wqs.schedule(new Work("caller", w -> {
            log.add("caller starts");
            log.add("ret " + Linux.schedule_on_each_cpu(x -> log.add("each " + kernel.context().name())));
        }));
        stepper.runUntilIdle();
        // (kworker/1:0 was created by the queueing, before kworker/0:1, which the pool starts when the caller sleeps)
        assertEquals(List.of("caller starts", "each kworker/1:0", "each kworker/0:1", "ret 0"), log);
    }

    @Test
    void queueWorkNode_onAnUnboundWorkqueue_queuesIt_andOnAPerCpuOneWarnsOnceAndQueuesAnyway() {
        Workqueue unbound = wqs.alloc("u", Workqueue.WQ_UNBOUND, 0);
        Work a = new Work("a", logs("a"));
        assertTrue(wqs.queueWorkNode(0, unbound, a));
        assertFalse(wqs.queueWorkNode(0, unbound, a), "pending");
        assertTrue(Linux.queue_work_node(Linux.NUMA_NO_NODE, unbound, new Work("b", logs("b"))));
        stepper.runUntilIdle();
        assertEquals(List.of("a kworker/u8:0", "b kworker/u8:0"), log);
        Workqueue percpu = wqs.alloc("p", 0, 0);
        assertTrue(wqs.queueWorkNode(0, percpu, new Work("c", logs("c"))));
        assertTrue(wqs.queueWorkNode(0, percpu, new Work("d", logs("d"))));
        stepper.runUntilIdle();
        assertEquals(List.of("a kworker/u8:0", "b kworker/u8:0", "c kworker/0:0", "d kworker/0:0"), log);
        assertEquals(1, reports.matching("queue_work_node(0, p, c) on a workqueue without WQ_UNBOUND").size());
        assertEquals(0, reports.matching("queue_work_node(0, p, d)").size(), "WARN_ON_ONCE");
    }

    @Test
    void currentWork_isTheItemInAKworker_butNullInABhItemAndInATask() {
        Work[] seen = new Work[2];
        Work normal = new Work("normal", w -> seen[0] = Linux.current_work());
        Work bh = new Work("bh", w -> {
            seen[1] = wqs.currentWork();
            log.add("bh ran");
        });
        wqs.schedule(normal);
        wqs.queue(wqs.systemBhWq(), bh);
        stepper.runUntilIdle();
        assertSame(normal, seen[0]);
        assertEquals(List.of("bh ran"), log);
        assertEquals(null, seen[1], "current_wq_worker() is NULL outside task context");
        assertEquals(null, wqs.currentWork(), "a task");
    }

    @Test
    void currentIsWorkqueueRescuer_onlyInTheRescuer() {
        assertFalse(wqs.currentIsWorkqueueRescuer(), "a task");
        Workqueue reclaim = wqs.alloc("reclaim", Workqueue.WQ_MEM_RECLAIM, 0);
        wqs.queueOn(0, reclaim, new Work("normal", w -> log.add("worker " + wqs.currentIsWorkqueueRescuer())));
        stepper.runUntilIdle();
        wqs.failWorkerCreation(true);
        wqs.queueOn(1, reclaim, new Work("rescued", w -> log.add(kernel.context().name() + " "
                + Linux.current_is_workqueue_rescuer())));
        stepper.runFor(20, TimeUnit.MILLISECONDS);
        assertEquals(List.of("worker false", "kworker/R-reclaim true"), log);
        wqs.failWorkerCreation(false);
    }
}
