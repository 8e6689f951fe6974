package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/**
 * {@link WorkqueueScheduledExecutor} in stepped mode, jiffy by jiffy on the manual clock: delays rounded up to
 * jiffies and fired by the timer wheel, {@code getDelay}, fixed rate against fixed delay, a late run, a failing
 * periodic run, cancellation as {@code cancel_delayed_work}, shutdown policies, {@code shutdownNow}, the
 * kernel's close — what the JSR-166 TCK checks for {@code ScheduledThreadPoolExecutor}, made exact.
 */
class WorkqueueScheduledExecutorTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);

    private Kernel kernel;
    private Stepper stepper;
    private long origin;
    private final List<Long> runs = Collections.synchronizedList(new ArrayList<>());

    private WorkqueueScheduledExecutor boot(int hz) {
        kernel = kernels.boot(b -> b.hz(hz));
        stepper = kernel.stepper();
        origin = kernel.jiffies();
        return WorkqueueScheduledExecutor.alloc(kernel, "sched", 0, 0);
    }

    /** Records the jiffy (relative to boot) of each run. */
    private Runnable recorder() {
        return () -> runs.add(kernel.jiffies() - origin);
    }

    /** Moves the clock one jiffy at a time up to {@code j} (relative to boot), running what is due at each. */
    private void tickTo(long j) {
        while (kernel.jiffies() - origin < j) {
            stepper.advanceJiffies(1);
            stepper.runUntilIdle();
        }
    }

    @Test
    void toJiffies_roundsUp_asMsecsToJiffies() {
        WorkqueueScheduledExecutor ex = boot(100);
        assertEquals(0, ex.toJiffies(0, TimeUnit.MILLISECONDS));
        assertEquals(0, ex.toJiffies(-5, TimeUnit.SECONDS));
        assertEquals(1, ex.toJiffies(1, TimeUnit.NANOSECONDS));
        assertEquals(1, ex.toJiffies(10, TimeUnit.MILLISECONDS));
        assertEquals(2, ex.toJiffies(11, TimeUnit.MILLISECONDS));
        assertEquals(3, ex.toJiffies(25_000, TimeUnit.MICROSECONDS));
        assertEquals(100, ex.toJiffies(1, TimeUnit.SECONDS));
        for (long ms = 0; ms < 3000; ms += 7) {
            assertEquals(kernel.msecsToJiffies(ms), ex.toJiffies(ms, TimeUnit.MILLISECONDS), ms + " ms");
        }
    }

    @Test
    void schedule_runsOnTheTickAfterItsTargetJiffy_notBefore() throws Exception {
        WorkqueueScheduledExecutor ex = boot(100);
        ScheduledFuture<String> f = ex.schedule(() -> "at " + (kernel.jiffies() - origin), 25, TimeUnit.MILLISECONDS);
        assertEquals(30, f.getDelay(TimeUnit.MILLISECONDS), "25 ms is 3 jiffies at HZ 100: due at jiffy 3");
        tickTo(3);
        assertEquals(0, f.getDelay(TimeUnit.MILLISECONDS));
        assertFalse(f.isDone(), "level 0 of the wheel fires on the tick after expires");
        tickTo(4);
        assertTrue(f.isDone());
        assertEquals("at 4", f.get());
        assertEquals(-10, f.getDelay(TimeUnit.MILLISECONDS));
    }

    @Test
    void getDelay_followsTheManualClockExactly() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> f = ex.schedule(recorder(), 40, TimeUnit.MILLISECONDS);
        assertEquals(TimeUnit.MILLISECONDS.toNanos(40), f.getDelay(TimeUnit.NANOSECONDS));
        stepper.advance(15_500, TimeUnit.MICROSECONDS);
        assertEquals(24_500, f.getDelay(TimeUnit.MICROSECONDS));
        assertEquals(24, f.getDelay(TimeUnit.MILLISECONDS));
    }

    @Test
    void aLongDelay_firesOnItsWheelLevelsGranularity() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ex.schedule(recorder(), 100, TimeUnit.MILLISECONDS);
        tickTo(103);
        assertEquals(List.of(), runs);
        tickTo(110);
        assertEquals(List.of(104L), runs, "100 jiffies lands on level 1: 8-jiffy buckets, as queue_delayed_work");
    }

    @Test
    void zeroOrNegativeDelay_queuesAtOnce() throws Exception {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<Long> f = ex.schedule(() -> kernel.jiffies() - origin, -1, TimeUnit.SECONDS);
        assertEquals(0L, f.get());
        assertEquals(0, kernel.jiffies() - origin);
    }

    @Test
    void compareTo_ordersByTargetJiffy_thenBySubmission() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> late = ex.schedule(recorder(), 30, TimeUnit.MILLISECONDS);
        ScheduledFuture<?> early = ex.schedule(recorder(), 10, TimeUnit.MILLISECONDS);
        ScheduledFuture<?> early2 = ex.schedule(recorder(), 10_000, TimeUnit.MICROSECONDS);
        List<ScheduledFuture<?>> sorted = new ArrayList<>(List.of(late, early2, early));
        Collections.sort(sorted);
        assertEquals(List.of(early, early2, late), sorted);
        assertEquals(0, early.compareTo(early));
    }

    @Test
    void fixedRate_runsEveryPeriodFromTheFirstTarget_fixedDelay_everyPeriodPlusTheWheelsRoundUp() {
        WorkqueueScheduledExecutor ex = boot(1000);
        List<Long> rate = Collections.synchronizedList(new ArrayList<>());
        List<Long> delay = Collections.synchronizedList(new ArrayList<>());
        ex.scheduleAtFixedRate(() -> rate.add(kernel.jiffies() - origin), 5, 5, TimeUnit.MILLISECONDS);
        ex.scheduleWithFixedDelay(() -> delay.add(kernel.jiffies() - origin), 5, 5, TimeUnit.MILLISECONDS);
        tickTo(40);
        assertEquals(List.of(6L, 11L, 16L, 21L, 26L, 31L, 36L), rate, "targets 5, 10, 15, ...: each fires a tick later");
        assertEquals(List.of(6L, 12L, 18L, 24L, 30L, 36L), delay, "5 after each run's end, then the round-up");
        tickTo(1000);
        assertEquals(199, rate.size());
        assertEquals(166, delay.size());
        assertEquals(199 + 166, ex.completedTaskCount(), "each periodic run counts");
    }

    @Test
    void fixedRate_afterALateRun_catchesUpAndReturnsToItsGrid() {
        WorkqueueScheduledExecutor ex = boot(1000);
        AtomicInteger count = new AtomicInteger();
        ex.scheduleAtFixedRate(() -> {
            runs.add(kernel.jiffies() - origin);
            if (count.getAndIncrement() == 0) {
                kernel.timers().mdelay(7); // the first run burns past the next target (10)
            }
        }, 5, 5, TimeUnit.MILLISECONDS);
        stepper.runFor(30, TimeUnit.MILLISECONDS);
        assertEquals(List.of(6L, 13L, 16L, 21L, 26L), runs, "target 10 had passed when the first run ended at 13:"
                + " the second ran at once; target 15 fires at 16, back on the grid");
    }

    @Test
    void fixedDelay_afterALateRun_shiftsForGood() {
        WorkqueueScheduledExecutor ex = boot(1000);
        AtomicInteger count = new AtomicInteger();
        ex.scheduleWithFixedDelay(() -> {
            runs.add(kernel.jiffies() - origin);
            if (count.getAndIncrement() == 0) {
                kernel.timers().mdelay(7);
            }
        }, 5, 5, TimeUnit.MILLISECONDS);
        stepper.runFor(30, TimeUnit.MILLISECONDS);
        assertEquals(List.of(6L, 19L, 25L), runs, "the first run ended at 13: 5 later is 18, fired at 19; then every 6");
    }

    @Test
    void fixedRateOfOneJiffy_runsTwiceEveryOtherTick_sinceEachTargetHasComeWhenTheWheelFiresThePrevious() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ex.scheduleAtFixedRate(recorder(), 1, 1, TimeUnit.MILLISECONDS);
        tickTo(8);
        assertEquals(List.of(2L, 2L, 4L, 4L, 6L, 6L, 8L, 8L), runs, "one run per jiffy on average, never before its target");
    }

    @Test
    void aPeriodicRunThatThrows_failsTheFuture_andNoFurtherRunIsArmed() {
        WorkqueueScheduledExecutor ex = boot(1000);
        IllegalStateException boom = new IllegalStateException("third run fails");
        AtomicInteger count = new AtomicInteger();
        ScheduledFuture<?> f = ex.scheduleAtFixedRate(() -> {
            if (count.incrementAndGet() == 3) {
                throw boom;
            }
        }, 1, 1, TimeUnit.MILLISECONDS);
        tickTo(100);
        assertEquals(3, count.get());
        assertTrue(f.isDone());
        assertSame(boom, assertThrows(ExecutionException.class, f::get).getCause());
        assertEquals(1, ex.failedTaskCount());
        assertFalse(((ScheduledTask<?>) f).dw.isPending());
        assertEquals(List.of(), kernels.reports().ofKind(KernelEvent.Kind.OOPS));
    }

    @Test
    void cancelOfAnArmedTask_isCancelDelayedWork_itNeverRuns() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> f = ex.schedule(recorder(), 10, TimeUnit.MILLISECONDS);
        DelayedWork dw = ((ScheduledTask<?>) f).dw;
        assertTrue(dw.timerPending());
        assertTrue(f.cancel(false));
        assertFalse(dw.timerPending(), "the timer was deleted");
        assertFalse(dw.isPending());
        assertTrue(f.isCancelled());
        assertThrows(CancellationException.class, f::get);
        tickTo(50);
        assertEquals(List.of(), runs);
    }

    @Test
    void cancelOfAPeriodicTaskBetweenRuns_endsIt() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> f = ex.scheduleWithFixedDelay(recorder(), 2, 2, TimeUnit.MILLISECONDS);
        tickTo(7);
        assertEquals(List.of(3L, 6L), runs);
        assertTrue(f.cancel(true));
        tickTo(30);
        assertEquals(List.of(3L, 6L), runs);
        assertTrue(f.isDone());
        assertTrue(f.isCancelled());
        ex.shutdown();
        assertTrue(ex.isTerminated());
    }

    @Test
    void aPeriodicTaskThatCancelsItselfWhileRunning_isNotReArmed() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?>[] self = new ScheduledFuture<?>[1];
        self[0] = ex.scheduleAtFixedRate(() -> {
            runs.add(kernel.jiffies() - origin);
            if (runs.size() == 2) {
                self[0].cancel(false);
            }
        }, 1, 1, TimeUnit.MILLISECONDS);
        tickTo(20);
        assertEquals(2, runs.size());
        assertFalse(((ScheduledTask<?>) self[0]).dw.isPending());
    }

    @Test
    void timedGet_letsTheManualClockRunToTheTask() throws Exception {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<Long> f = ex.schedule(() -> kernel.jiffies() - origin, 30, TimeUnit.MILLISECONDS);
        assertEquals(31L, f.get(1, TimeUnit.SECONDS));
        assertEquals(31, kernel.jiffies() - origin, "the clock stopped when the task was done");
    }

    @Test
    void untimedGet_ofAnArmedTask_inSteppedMode_isReportedAndRefused() {
        WorkqueueScheduledExecutor ex = boot(1000);
        kernels.reports().expect("BUG: Future.get would block forever in stepped mode");
        ScheduledFuture<?> f = ex.schedule(recorder(), 1, TimeUnit.HOURS);
        IllegalStateException e = assertThrows(IllegalStateException.class, f::get);
        assertTrue(e.getMessage().contains("advance the clock, or wait with a timeout"), e.getMessage());
    }

    @Test
    void shutdown_cancelsPeriodicTasks_butDelayedOneShotTasksStillRun() throws Exception {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> periodic = ex.scheduleAtFixedRate(recorder(), 1, 2, TimeUnit.MILLISECONDS);
        ScheduledFuture<String> delayed = ex.schedule(() -> "ran", 50, TimeUnit.MILLISECONDS);
        tickTo(4);
        assertEquals(List.of(2L, 4L), runs);
        ex.shutdown();
        assertTrue(periodic.isCancelled());
        assertThrows(RejectedExecutionException.class, () -> ex.schedule(recorder(), 1, TimeUnit.MILLISECONDS));
        assertFalse(ex.isTerminated());
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertEquals("ran", delayed.get());
        assertEquals(51, kernel.jiffies() - origin, "terminated on the tick that ran the delayed task");
        assertEquals(List.of(2L, 4L), runs);
    }

    @Test
    void shutdownNow_returnsTheArmedTasks_inSubmissionOrder_notDone() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> a = ex.schedule(recorder(), 10, TimeUnit.MILLISECONDS);
        ScheduledFuture<?> b = ex.scheduleAtFixedRate(recorder(), 5, 5, TimeUnit.MILLISECONDS);
        Future<?> c = ex.submit(recorder());
        List<Runnable> neverRan = ex.shutdownNow();
        assertEquals(List.of(a, b, c), neverRan);
        assertFalse(a.isDone());
        assertFalse(((ScheduledTask<?>) b).dw.isPending());
        assertTrue(ex.isTerminated());
        tickTo(30);
        assertEquals(List.of(), runs);
    }

    @Test
    void kernelClose_cancelsArmedTasks_andTheirFuturesAreCancelled() {
        WorkqueueScheduledExecutor ex = boot(1000);
        ScheduledFuture<?> armed = ex.schedule(recorder(), 1, TimeUnit.SECONDS);
        ScheduledFuture<?> periodic = ex.scheduleAtFixedRate(recorder(), 1, 1, TimeUnit.MILLISECONDS);
        tickTo(2);
        kernel.close();
        assertTrue(armed.isCancelled());
        assertThrows(CancellationException.class, armed::get);
        assertTrue(periodic.isCancelled());
        assertTrue(ex.isShutdown());
        assertTrue(ex.isTerminated());
        RejectedExecutionException r = assertThrows(RejectedExecutionException.class,
                () -> ex.schedule(recorder(), 1, TimeUnit.MILLISECONDS));
        assertEquals("kernel is closed", r.getCause().getMessage());
    }

    @Test
    void aDelayBeyondWhatTheWheelTakesAtOnce_isArmedInSteps_andNeverRunsEarly() {
        WorkqueueScheduledExecutor ex = boot(100);
        long delayJiffies = ScheduledTask.MAX_ARM_JIFFIES + 500;
        ScheduledFuture<?> f = ex.schedule(recorder(), delayJiffies * 10, TimeUnit.MILLISECONDS);
        assertEquals(delayJiffies, ((ScheduledTask<?>) f).targetJiffy() - origin);
        stepper.runUntil(() -> !runs.isEmpty(), (delayJiffies + delayJiffies / 8) * 10, TimeUnit.MILLISECONDS);
        assertEquals(1, runs.size(), "ran within its last step's granularity");
        assertTrue(runs.get(0) > delayJiffies, runs + " vs target " + delayJiffies);
    }
}
