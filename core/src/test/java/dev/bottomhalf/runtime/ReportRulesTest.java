package dev.bottomhalf.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Each report follows the kernel's rule for it — every time, once per kernel (the second occurrence counted,
 * not reported), or rate-limited (the 11th within 5 s suppressed, then the suppressed-callbacks line) — as
 * listed in docs/kernel-map.md, "Reports: once, rate-limited, every time". Stepped mode, HZ 1000.
 */
class ReportRulesTest {
    private static final int IRQ = 7;
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private ExecutionContext task;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        task = kernel.bindCurrentThread(0);
    }

    private long count(KernelEvent.Kind kind) {
        return kernel.reports().count(kind);
    }

    private int reported(String text) {
        return reports.matching(text).size();
    }

    private void fire(int irq) {
        kernel.irqs().assertIrq(irq);
        stepper.hardirq(kernel.irqs().affinity(irq));
    }

    private void line(IrqReturnFn fn, String name) {
        kernel.irqs().request(IRQ, (i, d) -> fn.run(), Set.of(), name, name);
        kernel.irqs().setAffinity(IRQ, 0);
    }

    @FunctionalInterface
    private interface IrqReturnFn {
        int run();
    }

    // ------------------------------------------------------------------------------------------
    // Once per kernel
    // ------------------------------------------------------------------------------------------

    @Test
    void preemptEnableUnderflow_withOtherBitsSet_namesTheSecondCheckOfPreemptCountSub() {
        reports.expect("preempt_enable() without preempt_disable()");   // read below as the list of every report
        task.localBhDisable();
        task.preemptEnable();
        task.localBhEnable();
        assertEquals(List.of("DEBUG_LOCKS_WARN_ON((val < PREEMPT_MASK) && !(preempt_count() & PREEMPT_MASK)):"
                + " preempt_enable() without preempt_disable() (preempt_count 00000200)"),
                reports.events().stream().map(KernelEvent::message).toList());
    }

    @Test
    void lockdepReports_shareOneOncePerKernel_withDebugLocksWarnOn() {
        task.preemptEnable();                                 // DEBUG_LOCKS_WARN_ON: the first report
        TimerList self = TimerList.setup("self", t -> kernel.timers().deleteSync(t), 0);
        kernel.timers().mod(self, kernel.jiffies() + 1);
        stepper.advanceJiffies(2);
        stepper.hardirq(0);                                   // timer_delete_sync() from its own callback
        assertEquals(1, reported("DEBUG_LOCKS_WARN_ON"));
        assertEquals(0, reported("possible recursive locking detected"), "lockdep is off after its first report");
        assertEquals(1, count(KernelEvent.Kind.BUG), "counted");
    }

    @Test
    void mightSleep_reportsOncePerSecond_withNoSuppressedLine() {
        task.localIrqDisable();
        task.mightSleep("msleep");
        task.mightSleep("msleep");
        stepper.advanceJiffies(999);
        task.mightSleep("msleep");
        int withinTheSecond = reported("sleeping function called from invalid context");
        stepper.advanceJiffies(1);                            // prev_jiffy + HZ: time_before() is false
        task.mightSleep("msleep");
        task.localIrqEnable();
        assertEquals(1, withinTheSecond);
        assertEquals(2, reported("sleeping function called from invalid context"));
        assertEquals(4, count(KernelEvent.Kind.BUG));
        assertEquals(0, reported("callbacks suppressed"));
    }

    @Test
    void allocBhWorkqueue_withBadFlagsOrMaxActive_warnsOncePerCheck() {
        Workqueues wqs = kernel.workqueues();
        assertThrows(KernelException.class, () -> wqs.alloc("bh1", Workqueue.WQ_BH | Workqueue.WQ_FREEZABLE, 0));
        assertThrows(KernelException.class, () -> wqs.alloc("bh2", Workqueue.WQ_BH | Workqueue.WQ_FREEZABLE, 0));
        assertThrows(KernelException.class, () -> wqs.alloc("bh3", Workqueue.WQ_BH, 4));
        assertThrows(KernelException.class, () -> wqs.alloc("bh4", Workqueue.WQ_BH, 4));
        assertEquals(1, reported("alloc_workqueue(bh1)"));
        assertEquals(0, reported("alloc_workqueue(bh2)"));
        assertEquals(1, reported("alloc_workqueue(bh3)"), "max_active has its own WARN_ON_ONCE");
        assertEquals(0, reported("alloc_workqueue(bh4)"));
        assertEquals(4, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void workDisableCount_overflowAndUnderflow_warnOnceEach() {
        Workqueues wqs = kernel.workqueues();
        Work w = new Work("w", x -> { });
        assertTrue(wqs.enable(w) && wqs.enable(w), "enable_work returns !disable: true, the depth stays 0");
        assertEquals(1, reported("workqueue: work disable count underflowed"));
        for (int i = 0; i < 0xFFFF; i++) {
            wqs.disable(w);
        }
        assertEquals(0, reported("overflowed"));
        wqs.disable(w);
        wqs.disableSync(w);
        assertEquals(1, reported("workqueue: work disable count overflowed"));
        assertEquals(4, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void cancelWorkSyncOfABhItemInHardirq_warnsOnce() {
        Work w = new Work("w", x -> { });
        kernel.workqueues().queue(kernel.workqueues().systemBhWq(), w);
        stepper.runUntilIdle();                           // it ran from the BH pool: WORK_OFFQ_BH
        line(() -> {
            kernel.workqueues().cancelSync(w);
            return IrqReturn.HANDLED;
        }, "canceller");
        fire(IRQ);
        fire(IRQ);
        assertEquals(1, reported("cancel_work_sync(w) in hard-IRQ context"));
        assertEquals(2, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void cancelWorkSyncOfAProcessContextItemInHardirq_isMightSleepsBug_notTheBhWarning() {
        Work w = new Work("w", x -> { });
        line(() -> {
            kernel.workqueues().cancelSync(w);
            return IrqReturn.HANDLED;
        }, "canceller");
        fire(IRQ);
        assertEquals(0, reported("in hard-IRQ context"));
        assertEquals(1, reported("BUG: sleeping function called from invalid context at cancel_work_sync"));
    }

    @Test
    void taskletSchedStateNotSet_warnsOncePerKernel_namingTheForm() {
        Tasklet a = Tasklet.init("a", data -> { }, 0);
        Tasklet b = Tasklet.setup("b", t -> { });
        for (Tasklet t : List.of(a, b)) {
            task.localBhDisable();
            kernel.tasklets().schedule(t);
            if (t == a) {
                t.initFunc("a", data -> { }, 0);          // misuse: SCHED cleared while queued
            } else {
                t.initCallback("b", x -> { });
            }
            task.localBhEnable();
        }
        assertEquals(List.of("tasklet SCHED state not set: func a"),
                reports.matching("SCHED state").stream().map(KernelEvent::message).toList());
        assertEquals(2, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void handlerThatEnablesInterrupts_warnsOncePerKernel_notOncePerHandler() {
        kernel.irqs().request(IRQ, (i, d) -> {
            kernel.context().localIrqEnable();
            return IrqReturn.HANDLED;
        }, Set.of(), "rude", "R");
        kernel.irqs().request(IRQ + 1, (i, d) -> {
            kernel.context().localIrqEnable();
            return IrqReturn.HANDLED;
        }, Set.of(), "ruder", "R");
        kernel.irqs().setAffinity(IRQ, 0);
        kernel.irqs().setAffinity(IRQ + 1, 0);
        fire(IRQ);
        fire(IRQ + 1);
        assertEquals(1, reported("enabled interrupts"));
        assertEquals(2, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void wakeThreadWithoutThreadFunction_secondOccurrenceIsCounted() {
        line(() -> IrqReturn.WAKE_THREAD, "nothread");
        fire(IRQ);
        fire(IRQ);
        assertEquals(1, reported("returned IRQ_WAKE_THREAD but no thread function available."));
        assertEquals(2, count(KernelEvent.Kind.WARN));
    }

    @Test
    void bogusReturnValues_beyondTheHundredReported_areCounted() {
        line(() -> 4, "bogus");
        for (int i = 0; i < 101; i++) {
            fire(IRQ);
        }
        assertEquals(100, reported("irq event 7: bogus return value 4"));
        assertEquals(101, count(KernelEvent.Kind.BUG));
    }

    @Test
    void hrtimerStartWithTheWrongMode_warnsOncePerKernel_andForwardOfAQueuedTimerWarnsEveryTime() {
        HrTimer a = kernel.hrtimers().create("a", t -> HrTimer.Restart.NORESTART, EnumSet.of(HrTimer.Mode.REL,
                HrTimer.Mode.SOFT));
        HrTimer b = kernel.hrtimers().create("b", t -> HrTimer.Restart.NORESTART, EnumSet.of(HrTimer.Mode.REL,
                HrTimer.Mode.SOFT));
        kernel.hrtimers().start(a, 1_000_000, EnumSet.of(HrTimer.Mode.REL));
        kernel.hrtimers().start(b, 1_000_000, EnumSet.of(HrTimer.Mode.REL));
        assertEquals(1, reported("with a hard mode on a soft timer"));
        long later = kernel.hrtimers().now() + 5_000_000;
        kernel.hrtimers().forward(a, later, 1_000_000);
        kernel.hrtimers().forward(a, later, 1_000_000);
        assertEquals(2, reported("WARNING: hrtimer_forward(a) of a queued timer is ignored"), "WARN_ON: every time");
        assertEquals(4, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void timerWarnOnces_belongToTheCallSite_notToTheTimer() {
        TimerList x = new TimerList();
        TimerList y = new TimerList();
        kernel.timers().setup(x, "x", t -> { }, 0x1);
        kernel.timers().setup(y, "y", t -> { }, 0x1);
        assertEquals(1, reported("are not timer_setup flags"));
        kernel.timers().mod(x, kernel.jiffies() + 10);
        kernel.timers().mod(y, kernel.jiffies() + 10);
        kernel.timers().add(x);
        kernel.timers().add(y);
        assertEquals(1, reported("WARNING: add_timer("));
        kernel.timers().addLocal(x);
        assertEquals(1, reported("WARNING: add_timer_local(x)"), "another call site, another once-flag");
        assertEquals(5, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void timerPreemptLeak_warnsOncePerKernel() {
        TimerList p = TimerList.setup("p", t -> kernel.context().preemptDisable(), 0);
        TimerList q = TimerList.setup("q", t -> kernel.context().preemptDisable(), 0);
        kernel.timers().mod(p, kernel.jiffies() + 1);
        kernel.timers().mod(q, kernel.jiffies() + 1);
        stepper.advanceJiffies(2);
        stepper.hardirq(0);
        assertEquals(1, reported("preempt leak"));
        assertEquals(2, count(KernelEvent.Kind.WARNING));
    }

    // ------------------------------------------------------------------------------------------
    // Every time
    // ------------------------------------------------------------------------------------------

    @Test
    void flushingASystemWorkqueue_isAPrWarnWithAStack_everyTime() {
        kernel.workqueues().flushScheduledWork();
        kernel.workqueues().flushScheduledWork();
        List<KernelEvent> w = reports.matching("WARNING: Flushing system-wide workqueues will be prohibited");
        assertEquals(2, w.size());
        assertEquals(KernelEvent.Kind.WARN, w.get(0).kind());
        assertNotNull(w.get(0).cause(), "dump_stack()");
    }

    // ------------------------------------------------------------------------------------------
    // Rate-limited: 10 per 5 s, then "<func>: <n> callbacks suppressed"
    // ------------------------------------------------------------------------------------------

    @Test
    void hardirqHandlerLeakingPreemptCount_isRateLimitedPerHandler() {
        line(() -> {
            kernel.context().preemptDisable();
            return IrqReturn.HANDLED;
        }, "leaky");
        for (int i = 0; i < 11; i++) {
            fire(IRQ);
        }
        assertEquals(10, reported("irq 7 handler leaky leaked preempt_count"));
        stepper.advanceJiffies(5_001);
        fire(IRQ);
        assertEquals(List.of("__handle_irq_event_percpu: 1 callbacks suppressed"),
                reports.matching("callbacks suppressed").stream().map(KernelEvent::message).toList());
        assertEquals(11, reported("irq 7 handler leaky leaked preempt_count"));
        assertEquals(12, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void threadFunctionReturningInAtomicContext_isRateLimitedPerAction() {
        kernel.irqs().requestThreaded(IRQ, (i, d) -> IrqReturn.WAKE_THREAD, (i, d) -> {
            kernel.context().preemptDisable();
            return IrqReturn.HANDLED;
        }, EnumSet.noneOf(IrqFlag.class), "t", "T");
        kernel.irqs().setAffinity(IRQ, 0);
        for (int i = 0; i < 11; i++) {
            fire(IRQ);
            stepper.run("irq/7-t");
        }
        assertEquals(10, reported("irq/7-t: thread function returned in atomic context"));
        stepper.advanceJiffies(5_001);
        fire(IRQ);
        stepper.run("irq/7-t");
        assertEquals(1, reported("irq_thread_fn: 1 callbacks suppressed"));
        assertEquals(11, reported("irq/7-t: thread function returned in atomic context"), "the new interval's first");
        assertEquals(12, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void softirqReturningWithIrqsDisabled_isRateLimitedPerVector() {
        kernel.softirqs().open(SoftirqVector.NET_TX, () -> kernel.context().localIrqDisable());
        Runnable once = () -> {
            task.localBhDisable();
            kernel.softirqs().raise(SoftirqVector.NET_TX);
            task.localBhEnable();
        };
        for (int i = 0; i < 11; i++) {
            once.run();
        }
        assertEquals(10, reported("returned with IRQs disabled"));
        stepper.advanceJiffies(5_001);
        once.run();
        assertEquals(1, reported("handle_softirqs: 1 callbacks suppressed"));
        assertEquals(11, reported("returned with IRQs disabled"), "the new interval's first");
        assertEquals(12, count(KernelEvent.Kind.WARNING));
    }

    @Test
    void queueingIntoADestroyedWorkqueue_isRateLimitedPerWorkqueue() {
        Workqueue wq = kernel.workqueues().alloc("gone", 0, 0);
        kernel.workqueues().destroy(wq);
        for (int i = 0; i < 11; i++) {
            kernel.workqueues().queueOn(0, wq, new Work("w" + i, x -> { }));
        }
        assertEquals(10, reported("cannot queue"));
        stepper.advanceJiffies(5_001);
        kernel.workqueues().queueOn(0, wq, new Work("late", x -> { }));
        assertEquals(1, reported("__queue_work: 1 callbacks suppressed"));
        assertEquals(1, reported("cannot queue late on wq gone"));
        assertEquals(12, count(KernelEvent.Kind.BUG));
    }
}
