package dev.bottomhalf.sched;

import static dev.bottomhalf.sched.Sched.ERESTARTSYS;
import static dev.bottomhalf.sched.Task.TASK_INTERRUPTIBLE;
import static dev.bottomhalf.sched.Task.TASK_NORMAL;
import static dev.bottomhalf.sched.Task.TASK_RUNNING;
import static dev.bottomhalf.sched.Task.TASK_UNINTERRUPTIBLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Wait queues and the task state in stepped mode: the test thread is a task on CPU 0 that sleeps; its sleep
 * drives the kernel on the manual clock, so a wake-up from a timer, an interrupt, a softirq, a tasklet or a work
 * item comes at a known jiffy and the return values are exact.
 */
class WaitQueueSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Stepper stepper;
    private Sched sched;
    private KernelReports reports;
    private final WaitQueueHead wq = new WaitQueueHead("wq");
    private final AtomicBoolean cond = new AtomicBoolean();
    private long origin;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        sched = kernel.sched();
        reports = kernels.reports();
        origin = kernel.jiffies();
    }

    @AfterEach
    void clearSignal() {
        Thread.interrupted();
    }

    /**
     * A timer on CPU 0 that runs {@code body} at {@code origin + at}: it expires at {@code at - 1}, and level 0
     * of the wheel runs a timer at the tick after its expiry (rounded up so that it never fires early) — as the
     * timer of a sleep of {@code n} jiffies runs {@code n + 1} jiffies later.
     */
    private TimerList timerAt(long at, Runnable body) {
        TimerList t = TimerList.setup("waker", x -> body.run(), 0);
        kernel.timers().mod(t, origin + at - 1);
        return t;
    }

    private long now() {
        return kernel.jiffies() - origin;
    }

    @Test
    void waitEventTimeout_wokenByATimer_returnsTheJiffiesLeftExactly() {
        AtomicLong wokenAt = new AtomicLong(-1);
        timerAt(5, () -> {
            cond.set(true);
            wokenAt.set(now());
            sched.wakeUp(wq);
        });
        long ret = sched.waitEventTimeout(wq, cond::get, 20);
        assertEquals(5, wokenAt.get(), "the timer ran at origin + 5");
        assertEquals(5, now(), "the task ran again in the jiffy it was woken");
        assertEquals(15, ret, "20 jiffies asked, 5 passed");
        assertFalse(wq.active(), "the entry left the queue");
        assertEquals(TASK_RUNNING, sched.current().state());
    }

    @Test
    void waitEventTimeout_conditionFalseAtTheEnd_returnsZeroAfterTheFullTimeout() {
        long ret = sched.waitEventTimeout(wq, cond::get, 7);
        assertEquals(0, ret);
        assertEquals(8, now(), "the sleep's timer expires at 7 and runs at the next tick");
    }

    @Test
    void waitEventTimeout_conditionTrueJustAsTimeRunsOut_returnsOne() {
        long ret = sched.waitEventTimeout(wq, () -> now() >= 8, 7); // true only when the timeout ends the sleep
        assertEquals(1, ret, "___wait_cond_timeout: a true condition with no time left returns 1");
    }

    @Test
    void waitEventTimeout_conditionAlreadyTrue_returnsTheTimeoutWithoutSleeping() {
        cond.set(true);
        assertEquals(9, sched.waitEventTimeout(wq, cond::get, 9));
        assertEquals(1, sched.waitEventTimeout(wq, cond::get, 0), "timeout 0 and a true condition: 1");
        assertEquals(0, sched.waitEventTimeout(wq, () -> false, 0), "timeout 0 and a false condition: 0");
        assertEquals(0, now());
    }

    @Test
    void waitEvent_wakeUpWithTheConditionStillFalse_sleepsAgainUntilItHolds() {
        List<Long> wakes = new ArrayList<>();
        timerAt(3, () -> {
            wakes.add(now());
            sched.wakeUp(wq); // spurious: the condition is still false
        });
        timerAt(6, () -> {
            wakes.add(now());
            cond.set(true);
            sched.wakeUp(wq);
        });
        sched.waitEvent(wq, cond::get);
        assertEquals(List.of(3L, 6L), wakes);
        assertEquals(6, now());
    }

    @Test
    void waitEventInterruptible_signalSentFromATimer_returnsRestartsys() {
        Task me = sched.current();
        timerAt(4, () -> sched.sendSig(Sched.SIGINT, me));
        int ret = sched.waitEventInterruptible(wq, cond::get);
        assertEquals(-ERESTARTSYS, ret);
        assertEquals(4, now());
        assertTrue(sched.signalPending(me), "the signal stays pending (the thread interrupt)");
        assertFalse(wq.active());
    }

    @Test
    void waitEventInterruptible_signalAlreadyPending_returnsRestartsysAtOnce() {
        Thread.currentThread().interrupt();
        assertEquals(-ERESTARTSYS, sched.waitEventInterruptible(wq, cond::get));
        assertEquals(-ERESTARTSYS, sched.waitEventInterruptibleTimeout(wq, cond::get, 10));
        assertEquals(0, now());
        cond.set(true);
        assertEquals(0, sched.waitEventInterruptible(wq, cond::get), "a true condition wins over the signal");
    }

    @Test
    void waitEventInterruptibleTimeout_wokenAtAKnownJiffy_returnsTheRest() {
        timerAt(12, () -> {
            cond.set(true);
            sched.wakeUpInterruptible(wq);
        });
        assertEquals(18, sched.waitEventInterruptibleTimeout(wq, cond::get, 30));
    }

    @Test
    void wakeUpInterruptible_doesNotWakeAnUninterruptibleSleeper() {
        timerAt(2, () -> {
            cond.set(true);
            sched.wakeUpInterruptible(wq); // TASK_INTERRUPTIBLE only: the waiter sleeps uninterruptibly
        });
        long ret = sched.waitEventTimeout(wq, cond::get, 10);
        assertEquals(1, ret, "not woken at 2: the timeout ended the sleep, then the condition held");
        assertEquals(11, now());
    }

    @Test
    void waitEventKillable_ignoresSigint_butSigkillEndsIt() {
        Task me = sched.current();
        timerAt(2, () -> sched.sendSig(Sched.SIGINT, me));
        timerAt(5, () -> sched.sendSig(Sched.SIGKILL, me));
        assertEquals(-ERESTARTSYS, sched.waitEventKillable(wq, cond::get));
        assertEquals(5, now(), "SIGINT at 2 did not end a killable wait");
        assertTrue(sched.fatalSignalPending(me));
        sched.flushSignals();
        assertFalse(sched.signalPending(me));
    }

    @Test
    void lostWakeUpPattern_wakeUpBetweenTheStateAndSchedule_makesScheduleReturnAtOnce() {
        Task me = sched.current();
        sched.setCurrentState(TASK_INTERRUPTIBLE);
        assertEquals(TASK_INTERRUPTIBLE, me.state());
        assertTrue(sched.wakeUpProcess(me), "the task was about to sleep: woken");
        assertEquals(TASK_RUNNING, me.state());
        sched.schedule(); // would sleep forever otherwise: nothing else is due
        sched.setCurrentState(TASK_RUNNING);
        assertEquals(0, now());
        assertFalse(sched.wakeUpProcess(me), "a running task is not woken");
    }

    @Test
    void scheduleTimeout_endedEarlyByWakeUpProcessFromATimer_returnsTheJiffiesLeft() {
        Task me = sched.current();
        timerAt(8, () -> assertTrue(sched.wakeUpProcess(me)));
        sched.setCurrentState(TASK_UNINTERRUPTIBLE);
        assertEquals(42, sched.scheduleTimeout(50));
        assertEquals(8, now());
        assertEquals(TASK_RUNNING, me.state());
    }

    @Test
    void scheduleTimeout_ofARunningTask_returnsTheTimeoutAtOnce() {
        assertEquals(50, sched.scheduleTimeout(50));
        assertEquals(0, now());
    }

    @Test
    void scheduleTimeoutUninterruptible_notWokenByWakeUpInterruptible() {
        Task me = sched.current();
        timerAt(3, () -> assertFalse(sched.wakeUpState(me, TASK_INTERRUPTIBLE)));
        assertEquals(0, kernel.timers().scheduleTimeoutUninterruptible(6));
        assertEquals(7, now());
    }

    @Test
    void msleepInterruptible_endedBySendSig_returnsTheMillisecondsLeft() {
        Task me = sched.current();
        timerAt(10, () -> sched.sendSig(Sched.SIGTERM, me)); // HZ=1000 by default: 1 jiffy = 1 ms
        long left = kernel.timers().msleepInterruptible(30);
        assertEquals(10, now());
        assertEquals(20, left);
    }

    @Test
    void scheduleTimeoutKillable_notEndedBySigint_endedBySigkill() {
        Task me = sched.current();
        timerAt(2, () -> sched.sendSig(Sched.SIGINT, me));
        timerAt(5, () -> sched.sendSig(Sched.SIGKILL, me));
        assertEquals(15, sched.scheduleTimeoutKillable(20));
        assertEquals(5, now());
        sched.flushSignals();
    }

    @Test
    void scheduleTimeoutIdle_sleepsItsTimeout_andASignalDoesNotEndIt() {
        Task me = sched.current();
        timerAt(2, () -> sched.sendSig(Sched.SIGINT, me));
        assertEquals(0, sched.scheduleTimeoutIdle(4));
        assertEquals(5, now());
    }

    @Test
    void condResched_inAtomicContext_isReportedAsMightSleep() {
        reports.expect("BUG: sleeping function called from invalid context at cond_resched");
        kernel.context().localIrqDisable();
        try {
            sched.condResched();
        } finally {
            kernel.context().localIrqEnable();
        }
    }

    @Test
    void schedule_untimed_wokenByWakeUpProcess() {
        Task me = sched.current();
        timerAt(4, () -> sched.wakeUpProcess(me));
        sched.setCurrentState(TASK_UNINTERRUPTIBLE);
        sched.schedule();
        assertEquals(4, now());
    }

    @Test
    void prepareToWaitAndFinishWait_theOpenCodedLoop() {
        timerAt(3, () -> {
            cond.set(true);
            sched.wakeUp(wq);
        });
        WaitQueueEntry wait = sched.defineWait();
        int rounds = 0;
        for (;;) {
            sched.prepareToWait(wq, wait, TASK_INTERRUPTIBLE);
            assertTrue(wq.active());
            if (cond.get()) {
                break;
            }
            rounds++;
            sched.schedule();
        }
        sched.finishWait(wq, wait);
        assertEquals(1, rounds);
        assertEquals(3, now());
        assertFalse(wq.active());
        assertEquals(TASK_RUNNING, sched.current().state());
    }

    @Test
    void wakeUp_wakesEveryNonExclusiveEntryAndOneExclusive_inQueueOrder() {
        List<String> woken = new ArrayList<>();
        WaitQueueEntry a = sched.initWaitqueueFuncEntry(recording(woken, "a"));
        WaitQueueEntry b = sched.initWaitqueueFuncEntry(recording(woken, "b"));
        WaitQueueEntry x1 = sched.initWaitqueueFuncEntry(recording(woken, "x1"));
        WaitQueueEntry x2 = sched.initWaitqueueFuncEntry(recording(woken, "x2"));
        WaitQueueEntry x3 = sched.initWaitqueueFuncEntry(recording(woken, "x3"));
        sched.addWaitQueueExclusive(wq, x1);
        sched.addWaitQueue(wq, a);
        sched.addWaitQueueExclusive(wq, x2);
        sched.addWaitQueue(wq, b); // non-exclusive entries go to the head: b, a, x1, x2, x3
        sched.addWaitQueueExclusive(wq, x3);
        assertEquals(1, sched.wakeUp(wq));
        assertEquals(List.of("b", "a", "x1"), woken);
        woken.clear();
        assertEquals(2, sched.wakeUpNr(wq, 2));
        assertEquals(List.of("b", "a", "x1", "x2"), woken);
        woken.clear();
        assertEquals(3, sched.wakeUpAll(wq), "wake_up_all: nr_exclusive 0, all three exclusive entries woke");
        assertEquals(List.of("b", "a", "x1", "x2", "x3"), woken);
        assertEquals(5, wq.size(), "callback entries stay queued until removed");
        for (WaitQueueEntry e : List.of(a, b, x1, x2, x3)) {
            sched.removeWaitQueue(wq, e);
        }
        assertFalse(wq.active());
    }

    @Test
    void wakeUp_anExclusiveEntryThatDoesNotWake_doesNotCount() {
        List<String> woken = new ArrayList<>();
        sched.addWaitQueueExclusive(wq, sched.initWaitqueueFuncEntry((e, mode, flags, key) -> {
            woken.add("x1-not");
            return 0;
        }));
        sched.addWaitQueueExclusive(wq, sched.initWaitqueueFuncEntry(recording(woken, "x2")));
        sched.addWaitQueueExclusive(wq, sched.initWaitqueueFuncEntry(recording(woken, "x3")));
        sched.wakeUp(wq);
        assertEquals(List.of("x1-not", "x2"), woken);
    }

    @Test
    void wakeUp_taskEntry_wakesOnlyAMatchingState() {
        Task me = sched.current();
        WaitQueueEntry wait = sched.defineWait();
        sched.prepareToWait(wq, wait, TASK_UNINTERRUPTIBLE);
        sched.wakeUpInterruptible(wq);
        assertEquals(TASK_UNINTERRUPTIBLE, me.state(), "wake_up_interruptible does not wake TASK_UNINTERRUPTIBLE");
        assertTrue(wq.active());
        sched.wakeUp(wq);
        assertEquals(TASK_RUNNING, me.state());
        assertFalse(wq.active(), "autoremove_wake_function took the woken entry off");
        sched.finishWait(wq, wait);
    }

    @Test
    void prepareToWaitExclusive_saysWhetherItIsTheFirstWaiter() {
        WaitQueueEntry w1 = sched.defineWait();
        assertTrue(sched.prepareToWaitExclusive(wq, w1, TASK_INTERRUPTIBLE));
        assertEquals(WaitQueueEntry.WQ_FLAG_EXCLUSIVE, w1.flags() & WaitQueueEntry.WQ_FLAG_EXCLUSIVE);
        sched.finishWait(wq, w1);
        sched.addWaitQueue(wq, sched.initWaitqueueFuncEntry((e, m, f, k) -> 0));
        WaitQueueEntry w2 = sched.defineWait();
        assertFalse(sched.prepareToWaitExclusive(wq, w2, TASK_INTERRUPTIBLE));
        sched.finishWait(wq, w2);
        assertEquals(TASK_RUNNING, sched.current().state());
    }

    private static WaitQueueEntry.WakeFunction recording(List<String> log, String name) {
        return (e, mode, flags, key) -> {
            log.add(name);
            return 1;
        };
    }

    // ------------------------------------------------------------------------------------------
    // Waking from each context
    // ------------------------------------------------------------------------------------------

    /** Wakes {@code wq} after setting the condition, recording whether a sleeper was queued and who {@code current} was. */
    private final List<String> wakers = new ArrayList<>();

    private void wakeFrom(String where) {
        wakers.add(where + " active=" + wq.active() + " current=" + sched.current().comm()
                + " hardirq=" + kernel.context().inHardirq() + " softirq=" + kernel.context().inServingSoftirq());
        cond.set(true);
        sched.wakeUp(wq);
    }

    @Test
    void wakeUpFromHardirq_currentIsTheIdleTaskOfTheCpu() {
        kernel.irqs().request(24, (irq, dev) -> {
            wakeFrom("hardirq");
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", this);
        kernel.irqs().setAffinity(24, 1);
        kernel.irqs().assertIrq(24); // latched: cpu/1 takes it while the task sleeps
        assertEquals(30, sched.waitEventTimeout(wq, cond::get, 30));
        assertEquals(List.of("hardirq active=true current=swapper/1 hardirq=true softirq=false"), wakers);
    }

    @Test
    void wakeUpFromSoftirq() {
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> wakeFrom("softirq"));
        kernel.irqs().request(25, (irq, dev) -> {
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", this);
        kernel.irqs().setAffinity(25, 1);
        kernel.irqs().assertIrq(25);
        sched.waitEvent(wq, cond::get);
        assertEquals(List.of("softirq active=true current=swapper/1 hardirq=false softirq=true"), wakers);
    }

    @Test
    void wakeUpFromTasklet() {
        Tasklet t = Tasklet.setup("tl", x -> wakeFrom("tasklet"));
        kernel.irqs().request(26, (irq, dev) -> {
            kernel.tasklets().schedule(t);
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", this);
        kernel.irqs().setAffinity(26, 1);
        kernel.irqs().assertIrq(26);
        assertEquals(0, sched.waitEventInterruptible(wq, cond::get));
        assertEquals(List.of("tasklet active=true current=swapper/1 hardirq=false softirq=true"), wakers);
    }

    @Test
    void wakeUpFromTimer() {
        timerAt(2, () -> wakeFrom("timer"));
        assertEquals(8, sched.waitEventTimeout(wq, cond::get, 10));
        assertEquals(List.of("timer active=true current=swapper/0 hardirq=false softirq=true"), wakers);
    }

    @Test
    void wakeUpFromWork() {
        Workqueue wq1 = kernel.workqueues().alloc("events_test", 0, 0);
        kernel.workqueues().queueOn(1, wq1, new Work("w", w -> wakeFrom("work")));
        sched.waitEvent(wq, cond::get);
        assertEquals(List.of("work active=true current=kworker/1:0 hardirq=false softirq=false"), wakers);
    }

    // ------------------------------------------------------------------------------------------
    // Misuse
    // ------------------------------------------------------------------------------------------

    @Test
    void waitEvent_inAtomicContext_isReportedAsMightSleepAndDoesNotSleep() {
        reports.expect("BUG: sleeping function called from invalid context at wait_event_timeout");
        kernel.context().localBhDisable();
        try {
            assertEquals(0, sched.waitEventTimeout(wq, cond::get, 10));
        } finally {
            kernel.context().localBhEnable();
        }
        assertEquals(0, now());
        assertFalse(wq.active());
    }

    @Test
    void current_ofATaskThread_hasItsThreadNameAndAPid() {
        Task me = sched.current();
        assertEquals(Thread.currentThread().getName().length() < 16 ? Thread.currentThread().getName()
                : Thread.currentThread().getName().substring(0, 15), me.comm());
        assertTrue(me.pid() > 0);
        assertEquals(me, sched.current(), "one task per context");
        assertFalse(me.isKthread());
        assertEquals(TASK_NORMAL, Task.TASK_INTERRUPTIBLE | Task.TASK_UNINTERRUPTIBLE);
    }
}
