package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.sched.Completion;
import dev.bottomhalf.sched.KthreadDelayedWork;
import dev.bottomhalf.sched.KthreadWorker;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.sched.WaitQueueHead;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * The Java API's {@link Duration} overloads, stepped on the manual clock at HZ 250 (a jiffy is 4 ms): each converts
 * as {@code msecs_to_jiffies} does (rounded up, clamped to {@code MAX_JIFFY_OFFSET}), so it behaves exactly as the
 * jiffies form with the converted count; hrtimers and busy-waits keep the nanoseconds; negative durations are
 * refused.
 */
class DurationOverloadsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).hz(250).bindTestThread(0);
    private Kernel kernel;
    private Stepper stepper;
    private long origin;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        origin = kernel.jiffies();
    }

    @AfterEach
    void clearSignal() {
        Thread.interrupted();
    }

    private long now() {
        return kernel.jiffies() - origin;
    }

    // ---- the conversion ------------------------------------------------------------------------

    @Test
    void durationToJiffies_roundsUpAsMsecsToJiffies() {
        assertEquals(0, Jiffies.durationToJiffies(Duration.ZERO, 250));
        assertEquals(1, Jiffies.durationToJiffies(Duration.ofNanos(1), 250), "any delay is at least one tick");
        assertEquals(1, Jiffies.durationToJiffies(Duration.ofMillis(4), 250));
        assertEquals(2, Jiffies.durationToJiffies(Duration.ofMillis(4).plusNanos(1), 250));
        for (long ms : new long[] {1, 3, 10, 999, 1000, 1001, 123_456}) {
            assertEquals(Jiffies.msecsToJiffies(ms, 250), Jiffies.durationToJiffies(Duration.ofMillis(ms), 250),
                    ms + " ms");
        }
    }

    @Test
    void durationToJiffies_tooLongToCount_clampsToMaxJiffyOffset() {
        assertEquals(Jiffies.MAX_JIFFY_OFFSET, Jiffies.durationToJiffies(Duration.ofSeconds(Long.MAX_VALUE), 250));
        assertEquals(Jiffies.MAX_JIFFY_OFFSET,
                Jiffies.durationToJiffies(Duration.ofSeconds(Jiffies.MAX_JIFFY_OFFSET / 250 + 1), 250));
    }

    @Test
    void negativeDurations_areRefusedEverywhere() {
        Duration minus = Duration.ofMillis(-1);
        TimerList t = TimerList.setup("t", x -> { }, 0);
        DelayedWork dw = new DelayedWork("dw", w -> { });
        Workqueue wq = kernel.workqueues().systemWq();
        assertThrows(IllegalArgumentException.class, () -> Jiffies.durationToJiffies(minus, 250));
        assertThrows(IllegalArgumentException.class, () -> kernel.timers().modAfter(t, minus));
        assertThrows(IllegalArgumentException.class, () -> kernel.timers().msleep(minus));
        assertThrows(IllegalArgumentException.class, () -> kernel.timers().delay(minus));
        assertThrows(IllegalArgumentException.class,
                () -> kernel.timers().usleepRange(Duration.ofMillis(2), Duration.ofMillis(1)));
        assertThrows(IllegalArgumentException.class, () -> kernel.workqueues().queueDelayed(wq, dw, minus));
        assertThrows(IllegalArgumentException.class, () -> kernel.workqueues().modDelayed(wq, dw, minus));
        assertThrows(IllegalArgumentException.class,
                () -> kernel.sched().waitForCompletionTimeout(new Completion("c"), minus));
        assertThrows(IllegalArgumentException.class, () -> kernel.sched().scheduleTimeout(minus));
        HrTimer hr = kernel.hrtimers().create("hr", x -> HrTimer.Restart.NORESTART, EnumSet.of(HrTimer.Mode.HARD));
        assertThrows(IllegalArgumentException.class, () -> kernel.hrtimers().start(hr, minus, EnumSet.noneOf(HrTimer.Mode.class)));
        assertThrows(IllegalArgumentException.class, () -> stepper.runFor(minus));
        assertFalse(kernel.timers().pending(t), "nothing was armed");
        assertFalse(dw.isPending());
    }

    // ---- timers --------------------------------------------------------------------------------

    @Test
    void modAfter_tenMillis_expiresThreeJiffiesLater_andFiresWhereTheJiffiesFormFires() {
        TimerList byDuration = TimerList.setup("d", x -> log.add("d@" + now()), 0);
        TimerList byJiffies = TimerList.setup("j", x -> log.add("j@" + now()), 0);
        assertEquals(0, kernel.timers().modAfter(byDuration, Duration.ofMillis(10)));
        kernel.timers().modAfter(byJiffies, 3);
        assertEquals(origin + 3, byDuration.expires(), "10 ms is 2.5 jiffies at HZ 250: rounded up to 3");
        assertEquals(1, kernel.timers().modAfter(byDuration, Duration.ofMillis(10)), "pending: re-armed");
        stepper.runFor(Duration.ofMillis(40));
        assertEquals(List.of("d@4", "j@4"), log.stream().sorted().toList(),
                "level 0 runs a timer at the tick after its expiry");
    }

    @Test
    void modAfter_anEternity_armsTheTimerMaxJiffyOffsetAhead() {
        TimerList t = TimerList.setup("forever", x -> log.add("fired"), 0);
        kernel.timers().modAfter(t, Duration.ofDays(365L * 1_000_000_000L));
        assertEquals(origin + Jiffies.MAX_JIFFY_OFFSET, t.expires());
        stepper.runFor(Duration.ofSeconds(10));
        assertEquals(List.of(), log);
        kernel.timers().deleteSync(t);
    }

    // ---- sleeps and delays ---------------------------------------------------------------------

    @Test
    void msleep_duration_sleepsAsMsleepOfTheSameMillis() {
        kernel.timers().msleep(Duration.ofMillis(10));
        long byDuration = now();
        origin = kernel.jiffies();
        kernel.timers().msleep(10);
        assertEquals(now(), byDuration);
        assertEquals(4, byDuration, "3 jiffies, and the sleep's timer runs the tick after");
    }

    @Test
    void msleepInterruptible_duration_returnsTheTimeLeftWhenASignalEndsIt() {
        Thread.currentThread().interrupt();
        assertEquals(Duration.ofMillis(12), kernel.timers().msleepInterruptible(Duration.ofMillis(10)),
                "not slept at all: the 3 jiffies left, 12 ms");
        Thread.interrupted();
        assertEquals(Duration.ZERO, kernel.timers().msleepInterruptible(Duration.ofMillis(10)));
    }

    @Test
    void usleepRange_duration_wakesAtMinToTheNanosecond() {
        long before = kernel.uptimeNs();
        kernel.timers().usleepRange(Duration.ofNanos(1_500_001), Duration.ofMillis(2));
        assertEquals(1_500_001, kernel.uptimeNs() - before);
    }

    @Test
    void delay_busyWaitsTheNanoseconds_evenWithIrqsOff() {
        long before = kernel.uptimeNs();
        kernel.context().localIrqDisable();
        try {
            kernel.timers().delay(Duration.ofNanos(12_345));
        } finally {
            kernel.context().localIrqEnable();
        }
        assertEquals(12_345, kernel.uptimeNs() - before);
    }

    @Test
    void scheduleTimeoutUninterruptible_duration_returnsZeroWhenTheTimeRanOut() {
        assertEquals(Duration.ZERO, kernel.timers().scheduleTimeoutUninterruptible(Duration.ofMillis(8)));
        assertEquals(3, now(), "2 jiffies, and the timer runs the tick after");
    }

    // ---- hrtimers ------------------------------------------------------------------------------

    @Test
    void hrtimerStart_duration_expiresToTheNanosecond_andRefusesAbs() {
        long start = kernel.hrtimers().now();
        HrTimer t = kernel.hrtimers().create("hr", x -> {
            log.add("fired@" + (kernel.hrtimers().now() - start));
            return HrTimer.Restart.NORESTART;
        }, EnumSet.of(HrTimer.Mode.HARD));
        kernel.hrtimers().start(t, Duration.ofNanos(1_500), EnumSet.of(HrTimer.Mode.HARD));
        assertEquals(Duration.ofNanos(1_500), kernel.hrtimers().timeRemaining(t));
        stepper.advance(Duration.ofNanos(1_499));
        stepper.hardirq(0);
        assertEquals(List.of(), log);
        stepper.advance(Duration.ofNanos(1));
        stepper.hardirq(0);
        assertEquals(List.of("fired@1500"), log);
        assertThrows(IllegalArgumentException.class,
                () -> kernel.hrtimers().start(t, Duration.ofNanos(1), EnumSet.of(HrTimer.Mode.ABS)));
    }

    @Test
    void hrtimerForwardNow_duration_skipsWholeIntervals() {
        List<Long> overruns = new ArrayList<>();
        HrTimer t = kernel.hrtimers().create("periodic", x -> {
            overruns.add(kernel.hrtimers().forwardNow(x, Duration.ofNanos(100)));
            return overruns.size() < 2 ? HrTimer.Restart.RESTART : HrTimer.Restart.NORESTART;
        }, EnumSet.of(HrTimer.Mode.HARD));
        kernel.hrtimers().start(t, Duration.ofNanos(100), EnumSet.of(HrTimer.Mode.HARD));
        stepper.advance(Duration.ofNanos(350));
        stepper.hardirq(0);
        assertEquals(List.of(3L), overruns, "expired at 100, now 350: forwarded to 400");
        stepper.advance(Duration.ofNanos(50));
        stepper.hardirq(0);
        assertEquals(List.of(3L, 1L), overruns);
    }

    // ---- delayed work --------------------------------------------------------------------------

    @Test
    void queueDelayed_duration_runsAtTheJiffyOfTheConvertedDelay() {
        Workqueue wq = kernel.workqueues().alloc("dur", 0, 0);
        DelayedWork byDuration = new DelayedWork("d", w -> log.add("d@" + now()));
        DelayedWork byJiffies = new DelayedWork("j", w -> log.add("j@" + now()));
        assertTrue(kernel.workqueues().queueDelayed(wq, byDuration, Duration.ofMillis(10)));
        assertFalse(kernel.workqueues().queueDelayed(wq, byDuration, Duration.ofMillis(1)), "already pending");
        kernel.workqueues().queueDelayed(wq, byJiffies, 3);
        stepper.runFor(Duration.ofMillis(40));
        assertEquals(List.of("d@4", "j@4"), log.stream().sorted().toList());
    }

    @Test
    void modDelayed_duration_retimesAPendingItem() {
        DelayedWork dw = new DelayedWork("d", w -> log.add("d@" + now()));
        kernel.workqueues().scheduleDelayed(dw, Duration.ofSeconds(1));
        assertTrue(kernel.workqueues().modDelayed(kernel.workqueues().systemWq(), dw, Duration.ofMillis(4)));
        stepper.runFor(Duration.ofMillis(40));
        assertEquals(List.of("d@2"), log, "1 jiffy, run at the tick after");
    }

    @Test
    void kthreadQueueDelayedWork_duration_runsAtTheConvertedJiffy() {
        KthreadWorker worker = kernel.kthreads().createWorker(0, "kw");
        KthreadDelayedWork dw = new KthreadDelayedWork("kd", w -> log.add("kd@" + now()));
        assertTrue(kernel.kthreads().queueDelayedWork(worker, dw, Duration.ofMillis(10)));
        stepper.runFor(Duration.ofMillis(40));
        assertEquals(List.of("kd@4"), log);
        assertFalse(kernel.kthreads().modDelayedWork(worker, dw, Duration.ofMillis(1)), "it was idle");
        stepper.runFor(Duration.ofMillis(40));
        assertEquals(List.of("kd@4", "kd@12"), log, "re-armed at 10 for 1 jiffy, run at the tick after");
        kernel.kthreads().destroyWorker(worker);
    }

    // ---- waits ---------------------------------------------------------------------------------

    private void timerAt(long at, Runnable body) {
        TimerList t = TimerList.setup("waker", x -> body.run(), 0);
        kernel.timers().mod(t, origin + at - 1);
    }

    @Test
    void waitForCompletionTimeout_duration_isTrueWhenCompleted_falseWhenTheTimeRanOut() {
        Completion done = new Completion("done");
        timerAt(3, () -> kernel.sched().complete(done));
        assertTrue(kernel.sched().waitForCompletionTimeout(done, Duration.ofMillis(40)));
        assertEquals(3, now());
        origin = kernel.jiffies();
        assertFalse(kernel.sched().waitForCompletionTimeout(done, Duration.ofMillis(20)));
        assertEquals(6, now(), "5 jiffies, and the sleep's timer runs the tick after");
    }

    @Test
    void waitEventTimeout_duration_isTrueWhenTheConditionHolds() {
        WaitQueueHead wq = new WaitQueueHead("wq");
        boolean[] ready = {false};
        timerAt(2, () -> {
            ready[0] = true;
            kernel.sched().wakeUp(wq);
        });
        assertTrue(kernel.sched().waitEventTimeout(wq, () -> ready[0], Duration.ofMillis(40)));
        assertEquals(2, now());
        assertFalse(kernel.sched().waitEventTimeout(wq, () -> false, Duration.ofMillis(4)));
    }

    @Test
    void waitForCompletionInterruptibleTimeout_duration_throwsInterruptedOnASignal_andLeavesItPending() {
        Completion done = new Completion("done");
        Sched sched = kernel.sched();
        var me = sched.current();
        timerAt(2, () -> sched.sendSig(Sched.SIGINT, me));
        assertThrows(InterruptedException.class,
                () -> sched.waitForCompletionInterruptibleTimeout(done, Duration.ofMillis(40)));
        assertEquals(2, now());
        assertTrue(Thread.currentThread().isInterrupted(), "the signal stays pending");
        assertEquals(0, done.waiters());
    }
}
