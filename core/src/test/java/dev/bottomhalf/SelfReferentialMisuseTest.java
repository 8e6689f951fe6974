package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * A flush, cancel, kill, destroy or close called from inside the very thing it waits for — an item waiting
 * for its own workqueue, a callback cancelling its own timer, a handler synchronizing its own line — would
 * wait for itself forever (in the kernel: a hang with a lockdep splat). Each is reported once, returns
 * without waiting, and leaves the kernel usable: after it, a new item of the same mechanism still runs.
 * Stepped mode, so a livelock would show as a test that never ends and a flood of reports as a count above 1.
 */
class SelfReferentialMisuseTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);

    private Kernel k() {
        return kernels.kernel();
    }

    /** Runs everything runnable (the stepped kernel's CPUs, ksoftirqd, kworkers). */
    private void settle() {
        kernels.stepper().runUntilIdle();
    }

    private void assertOneReport(String text) {
        assertEquals(1, kernels.reports().matching(text).size(), kernels.reports().toString());
    }

    /** The kernel still runs work: a fresh item on {@code wq} runs. */
    private void assertWorkStillRuns(Workqueue wq) {
        AtomicInteger ran = new AtomicInteger();
        k().workqueues().queueOn(0, wq, new Work("afterwards", w -> ran.incrementAndGet()));
        settle();
        assertEquals(1, ran.get(), "an item queued afterwards ran");
    }

    private void fromOwnItem(Workqueue wq, Consumer<Work> body) {
        AtomicInteger ran = new AtomicInteger();
        k().workqueues().queueOn(0, wq, new Work("self", w -> {
            body.accept(w);
            ran.incrementAndGet();
        }));
        settle();
        assertEquals(1, ran.get(), "the item returned from its misuse");
    }

    // ------------------------------------------------------------------------------------------
    // Workqueues
    // ------------------------------------------------------------------------------------------

    @Test
    void destroyWorkqueue_fromOneOfItsOwnItems_isReportedOnce_refused_andTheWorkqueueStillWorks() {
        Workqueue wq = k().workqueues().alloc("selfish", 0, 0);
        fromOwnItem(wq, w -> k().workqueues().destroy(wq));
        assertOneReport("BUG: destroy_workqueue(selfish) called from self, an item running on selfish: it waits until"
                + " selfish has no item left, this one included, so it would wait for itself forever (deadlock);"
                + " refused, nothing done");
        assertTrue(k().workqueues().workqueues().contains(wq), "not destroyed");
        assertWorkStillRuns(wq);
        k().workqueues().destroy(wq);
        assertFalse(k().workqueues().workqueues().contains(wq), "destroyed from outside");
    }

    @Test
    void drainWorkqueue_fromOneOfItsOwnItems_isReportedOnce_andReturns() {
        Workqueue wq = k().workqueues().alloc("drainer", 0, 0);
        fromOwnItem(wq, w -> k().workqueues().drainWorkqueue(wq));
        assertOneReport("BUG: drain_workqueue(drainer) called from self, an item running on drainer");
        assertWorkStillRuns(wq);
    }

    @Test
    void destroyWorkqueue_fromAnItemOfAnotherWorkqueue_destroysIt() {
        Workqueue victim = k().workqueues().alloc("victim", 0, 0);
        Workqueue other = k().workqueues().alloc("other", 0, 0);
        fromOwnItem(other, w -> k().workqueues().destroy(victim));
        assertFalse(k().workqueues().workqueues().contains(victim));
        assertEquals(List.of(), kernels.reports().ofKind(KernelEvent.Kind.BUG));
    }

    @Test
    void flushWorkqueue_fromOneOfItsOwnItems_isTheLockdepSplat_andReturns() {
        Workqueue wq = k().workqueues().alloc("flusher", 0, 0);
        fromOwnItem(wq, w -> k().workqueues().flushWorkqueue(wq));
        assertOneReport("WARNING: possible recursive locking detected: flush_workqueue(flusher) called from an item"
                + " running on it waits for itself");
        assertWorkStillRuns(wq);
    }

    @Test
    void flushWork_ofItself_isTheLockdepSplat_andReturnsFalse() {
        AtomicReference<Boolean> result = new AtomicReference<>();
        fromOwnItem(k().workqueues().systemWq(), w -> result.set(k().workqueues().flush(w)));
        assertFalse(result.get());
        assertOneReport("WARNING: possible recursive locking detected: flush_work(self) called from the item's own"
                + " function waits for itself");
        assertWorkStillRuns(k().workqueues().systemWq());
    }

    @Test
    void cancelWorkSync_ofItself_isTheLockdepSplat_andReturnsFalse() {
        AtomicReference<Boolean> result = new AtomicReference<>();
        fromOwnItem(k().workqueues().systemWq(), w -> result.set(k().workqueues().cancelSync(w)));
        assertFalse(result.get());
        assertOneReport("WARNING: possible recursive locking detected: cancel_work_sync(self) called from the item's"
                + " own function waits for itself");
        assertWorkStillRuns(k().workqueues().systemWq());
    }

    @Test
    void cancelDelayedWorkSync_fromTheDelayedItemsOwnFunction_isReported_andReturns() {
        AtomicReference<DelayedWork> self = new AtomicReference<>();
        AtomicInteger ran = new AtomicInteger();
        DelayedWork dw = new DelayedWork("delayed-self", w -> {
            k().workqueues().cancelDelayedSync(self.get());
            ran.incrementAndGet();
        });
        self.set(dw);
        k().workqueues().scheduleDelayed(dw, 0);
        settle();
        assertEquals(1, ran.get());
        assertOneReport("WARNING: possible recursive locking detected: cancel_delayed_work_sync(delayed-self) called"
                + " from the item's own function");
    }

    // ------------------------------------------------------------------------------------------
    // Tasklets, timers, hrtimers
    // ------------------------------------------------------------------------------------------

    private void fromOwnTasklet(String text, Consumer<Tasklet> body) {
        AtomicInteger ran = new AtomicInteger();
        AtomicReference<Tasklet> self = new AtomicReference<>();
        self.set(Tasklet.setup("tself", t -> {
            body.accept(self.get());
            ran.incrementAndGet();
        }));
        k().tasklets().schedule(self.get());
        settle();
        assertEquals(1, ran.get());
        assertOneReport(text);
        AtomicInteger after = new AtomicInteger();
        k().tasklets().schedule(Tasklet.setup("after", t -> after.incrementAndGet()));
        settle();
        assertEquals(1, after.get(), "tasklets still run");
    }

    @Test
    void taskletKill_fromTheTaskletsOwnCallback_isReportedOnce_andReturns() {
        fromOwnTasklet("BUG: tasklet_kill(tself) called from the tasklet's own callback: it would wait for itself"
                + " forever (deadlock)", t -> k().tasklets().kill(t));
        kernels.reports().expect("Attempt to kill tasklet from interrupt");
    }

    @Test
    void taskletUnlockWait_fromTheTaskletsOwnCallback_isReportedOnce_andReturns() {
        fromOwnTasklet("BUG: tasklet_unlock_wait(tself) called from the tasklet's own callback",
                t -> k().tasklets().unlockWait(t));
    }

    @Test
    void taskletDisable_fromTheTaskletsOwnCallback_isReportedOnce_andReturns() {
        fromOwnTasklet("called from the tasklet's own callback", t -> {
            k().tasklets().disable(t);
            k().tasklets().enable(t);
        });
    }

    @Test
    void timerDeleteSync_fromTheTimersOwnCallback_isReportedOnce_andReturnsZero() {
        AtomicReference<Integer> result = new AtomicReference<>();
        AtomicReference<TimerList> self = new AtomicReference<>();
        self.set(TimerList.setup("timer-self", t -> result.set(k().timers().deleteSync(self.get())), 0));
        k().timers().mod(self.get(), k().jiffies() + 1);
        kernels.stepper().runFor(5, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals(0, result.get());
        assertOneReport("timer_delete_sync(timer-self) called from the timer's own callback would wait for itself"
                + " forever (deadlock)");
        AtomicInteger after = new AtomicInteger();
        k().timers().mod(TimerList.setup("after", t -> after.incrementAndGet(), 0), k().jiffies() + 1);
        kernels.stepper().runFor(5, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals(1, after.get(), "timers still fire");
    }

    @Test
    void hrtimerCancel_fromTheTimersOwnCallback_isReportedOnce_andReturnsZero() {
        AtomicReference<Integer> result = new AtomicReference<>();
        AtomicReference<HrTimer> self = new AtomicReference<>();
        self.set(k().hrtimers().create("hr-self", h -> {
            result.set(k().hrtimers().cancel(self.get()));
            return HrTimer.Restart.NORESTART;
        }, HrTimers.mode(HrTimer.Mode.REL)));
        k().hrtimers().start(self.get(), 1_000_000, HrTimers.mode(HrTimer.Mode.REL));
        kernels.stepper().runFor(5, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals(0, result.get());
        assertOneReport("BUG: hrtimer_cancel(hr-self) called from the timer's own callback would wait for itself"
                + " forever (deadlock)");
    }

    // ------------------------------------------------------------------------------------------
    // Interrupt lines
    // ------------------------------------------------------------------------------------------

    @Test
    void synchronizeIrq_fromTheLinesOwnHardHandler_isReportedOnce_andReturns() {
        AtomicInteger ran = new AtomicInteger();
        k().irqs().request(11, (irq, dev) -> {
            k().irqs().synchronize(11);
            ran.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(), "selfsync", "d");
        k().irqs().setAffinity(11, 0);
        k().irqs().assertIrq(11);
        kernels.stepper().hardirq(0);
        assertEquals(1, ran.get());
        assertOneReport("synchronize_irq(11) called from the hard handler of IRQ 11");
        k().irqs().assertIrq(11);
        kernels.stepper().hardirq(0);
        assertEquals(2, ran.get(), "the line still works");
        assertEquals(2, kernels.reports().matching("synchronize_irq(11) called from the hard handler").size(),
                "one report per misuse, no more");
    }

    @Test
    void disableIrq_fromTheLinesOwnThreadFunction_isReportedOnce_andReturns() {
        AtomicInteger ran = new AtomicInteger();
        k().irqs().requestThreaded(12, null, (irq, dev) -> {
            k().irqs().disable(12);
            k().irqs().enable(12);
            ran.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(IrqFlag.ONESHOT), "selfdis", "d");
        k().irqs().setAffinity(12, 0);
        k().irqs().assertIrq(12);
        settle();
        assertEquals(1, ran.get());
        assertOneReport("disable_irq(12) called from the thread of IRQ 12");
    }

    @Test
    void freeIrq_fromTheLinesOwnHardHandler_isRefusedWithTheKernelsWarning() {
        AtomicReference<String> freed = new AtomicReference<>("not called");
        k().irqs().request(13, (irq, dev) -> {
            try {
                freed.set(k().irqs().free(13, "d"));
            } catch (KernelException e) {
                freed.set(e.getMessage());
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "selffree", "d");
        k().irqs().setAffinity(13, 0);
        k().irqs().assertIrq(13);
        kernels.stepper().hardirq(0);
        assertEquals("EINVAL: Trying to free IRQ 13 from IRQ context!", freed.get());
        assertOneReport("Trying to free IRQ 13 from IRQ context!");
        assertEquals(List.of("selffree"), k().irqs().actionNames(13), "still requested");
    }

    // ------------------------------------------------------------------------------------------
    // Closing the kernel from inside it
    // ------------------------------------------------------------------------------------------

    @Test
    void closeFromATaskletTimerOrSoftirq_isRefusedWithAClearError_andTheKernelGoesOn() {
        AtomicReference<String> fromTasklet = new AtomicReference<>();
        AtomicReference<String> fromTimer = new AtomicReference<>();
        AtomicReference<String> fromSoftirq = new AtomicReference<>();
        k().tasklets().schedule(Tasklet.setup("closer", t -> fromTasklet.set(closeMessage())));
        k().timers().mod(TimerList.setup("closer-timer", t -> fromTimer.set(closeMessage()), 0), k().jiffies() + 1);
        k().softirqs().open(SoftirqVector.NET_TX, () -> fromSoftirq.set(closeMessage()));
        k().softirqs().raise(SoftirqVector.NET_TX);
        kernels.stepper().runFor(5, java.util.concurrent.TimeUnit.MILLISECONDS);
        for (AtomicReference<String> m : List.of(fromTasklet, fromTimer, fromSoftirq)) {
            assertTrue(m.get() != null && m.get().startsWith("Kernel.close() called from ")
                    && m.get().endsWith("close it from a task thread"), String.valueOf(m.get()));
        }
        assertFalse(k().isClosed());
        assertWorkStillRuns(k().workqueues().systemWq());
    }

    private String closeMessage() {
        try {
            k().close();
            return "close() returned";
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }
}
