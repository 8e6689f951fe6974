package dev.bottomhalf.sched;

import static dev.bottomhalf.sched.Sched.ERESTARTSYS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.TimerList;

/** Completions in stepped mode: exact return values on the manual clock, the done counter, waiter order. */
class CompletionSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Sched sched;
    private KernelReports reports;
    private final Completion done = new Completion("done");
    private long origin;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        sched = kernel.sched();
        reports = kernels.reports();
        origin = kernel.jiffies();
    }

    @AfterEach
    void clearSignal() {
        Thread.interrupted();
    }

    /** A timer that runs {@code body} at {@code origin + at} (it expires one jiffy earlier; level 0 runs it the tick after). */
    private void timerAt(long at, Runnable body) {
        TimerList t = TimerList.setup("completer", x -> body.run(), 0);
        kernel.timers().mod(t, origin + at - 1);
    }

    private long now() {
        return kernel.jiffies() - origin;
    }

    @Test
    void completeBeforeTheWait_theWaitReturnsAtOnceAndConsumesIt() {
        sched.complete(done);
        assertEquals(1, done.done());
        assertTrue(sched.completionDone(done));
        sched.waitForCompletion(done);
        assertEquals(0, done.done());
        assertFalse(sched.completionDone(done));
        assertEquals(0, now());
    }

    @Test
    void waitForCompletionTimeout_completedByATimer_returnsTheJiffiesLeft() {
        timerAt(6, () -> sched.complete(done));
        assertEquals(24, sched.waitForCompletionTimeout(done, 30));
        assertEquals(6, now());
        assertEquals(0, done.done());
        assertEquals(0, done.waiters());
    }

    @Test
    void waitForCompletionTimeout_timesOut_returnsZeroAndLeavesNoWaiter() {
        assertEquals(0, sched.waitForCompletionTimeout(done, 5));
        assertEquals(6, now(), "the sleep's timer expires at 5 and runs at the next tick");
        assertEquals(0, done.waiters());
    }

    @Test
    void waitForCompletionTimeout_alreadyDone_returnsTheTimeout_orOneForZero() {
        sched.complete(done);
        sched.complete(done);
        assertEquals(10, sched.waitForCompletionTimeout(done, 10));
        assertEquals(1, sched.waitForCompletionTimeout(done, 0), "timeout ?: 1");
        assertEquals(0, sched.waitForCompletionTimeout(done, 0), "nothing done and no time: 0");
    }

    @Test
    void completeAll_setsUintMax_andNoWaitConsumesIt_untilReinit() {
        sched.completeAll(done);
        assertEquals(4294967295L, done.done());
        sched.waitForCompletion(done);
        assertTrue(sched.tryWaitForCompletion(done));
        assertEquals(4294967295L, done.done());
        sched.complete(done);
        assertEquals(4294967295L, done.done(), "complete() does not move UINT_MAX");
        sched.reinitCompletion(done);
        assertEquals(0, done.done());
        assertFalse(sched.tryWaitForCompletion(done));
    }

    @Test
    void complete_counts_eachWaitConsumesOne() {
        sched.complete(done);
        sched.complete(done);
        sched.complete(done);
        assertEquals(3, done.done());
        assertTrue(sched.tryWaitForCompletion(done));
        sched.waitForCompletion(done);
        assertEquals(1, done.done());
    }

    @Test
    void waitForCompletionInterruptible_signal_returnsRestartsys_completion_returnsZero() {
        Task me = sched.current();
        timerAt(3, () -> sched.sendSig(Sched.SIGUSR1, me));
        assertEquals(-ERESTARTSYS, sched.waitForCompletionInterruptible(done));
        assertEquals(3, now());
        assertEquals(0, done.waiters());
        Thread.interrupted();
        timerAt(5, () -> sched.complete(done));
        assertEquals(0, sched.waitForCompletionInterruptible(done));
        assertEquals(5, now());
    }

    @Test
    void waitForCompletionInterruptibleTimeout_returnsRestartsysZeroOrTheRest() {
        Task me = sched.current();
        timerAt(2, () -> sched.sendSig(Sched.SIGINT, me));
        assertEquals(-ERESTARTSYS, sched.waitForCompletionInterruptibleTimeout(done, 10));
        Thread.interrupted();
        long start = now();
        assertEquals(0, sched.waitForCompletionInterruptibleTimeout(done, 4));
        assertEquals(start + 5, now());
        timerAt(now() + 3, () -> sched.complete(done));
        assertEquals(17, sched.waitForCompletionInterruptibleTimeout(done, 20));
    }

    @Test
    void waitForCompletionKillable_ignoresSigint_sigkillReturnsRestartsys() {
        Task me = sched.current();
        timerAt(2, () -> sched.sendSig(Sched.SIGINT, me));
        timerAt(4, () -> sched.sendSig(Sched.SIGKILL, me));
        assertEquals(-ERESTARTSYS, sched.waitForCompletionKillable(done));
        assertEquals(4, now());
        sched.flushSignals();
        timerAt(9, () -> sched.complete(done));
        assertEquals(0, sched.waitForCompletionKillable(done));
        assertEquals(9, now());
        assertEquals(0, sched.waitForCompletionKillableTimeout(done, 3));
    }

    @Test
    void complete_wakesTheWaitersOneAtATime_inTheOrderTheyWaited() {
        List<String> log = new ArrayList<>();
        Kthreads kthreads = kernel.kthreads();
        Task a = kthreads.run(x -> {
            sched.waitForCompletion(done);
            log.add("a@" + now());
            return 0;
        }, null, "waiter-a");
        kernel.stepper().runUntilIdle();
        Task b = kthreads.run(x -> {
            sched.waitForCompletion(done);
            log.add("b@" + now());
            return 0;
        }, null, "waiter-b");
        kernel.stepper().runUntilIdle();
        assertEquals(2, done.waiters());
        timerAt(3, () -> sched.complete(done));
        timerAt(7, () -> sched.complete(done));
        kernel.stepper().runFor(10, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals(List.of("a@3", "b@7"), log);
        assertEquals(0, kthreads.stop(a) + kthreads.stop(b));
    }

    @Test
    void completeAll_wakesEveryWaiter() {
        List<String> log = new ArrayList<>();
        Kthreads kthreads = kernel.kthreads();
        for (String n : List.of("a", "b", "c")) {
            kthreads.run(x -> {
                sched.waitForCompletion(done);
                log.add(n);
                return 0;
            }, null, "waiter-" + n);
        }
        kernel.stepper().runUntilIdle();
        assertEquals(3, done.waiters());
        sched.completeAll(done);
        kernel.stepper().runUntilIdle();
        assertEquals(List.of("a", "b", "c"), log);
    }

    @Test
    void waitForCompletion_inAtomicContext_isReportedAsMightSleep() {
        reports.expect("BUG: sleeping function called from invalid context at wait_for_completion_timeout");
        kernel.context().preemptDisable();
        try {
            assertEquals(0, sched.waitForCompletionTimeout(done, 10));
        } finally {
            kernel.context().preemptEnable();
        }
        assertEquals(0, now());
        assertEquals(0, done.waiters());
    }
}
