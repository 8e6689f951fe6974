package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.Internals;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.internal.runtime.LockupDetector;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.TimerList;

/**
 * The soft and hard lockup detectors ({@link LockupDetector}): which hold of a CPU's IRQ or BH level is
 * reported, when, with which CPU, duration, thread and stack, and how often. Stepped tests time every rule
 * with the manual clock (a handler's {@code mdelay} moves it while the handler holds its CPU); threaded tests
 * use {@code watchdog_thresh = 1} and wait for the report with a generous timeout, then release the stuck
 * handler or task so that its thread ends. A test that holds a level to provoke a report gives it back at its
 * end.
 */
class LockupDetectorTest {
    private static final String HARD = "Watchdog detected hard LOCKUP on cpu ";
    private static final String SOFT = "BUG: soft lockup - CPU#";
    private static final long TIMEOUT_S = 30;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;

    /** Boots the stepped kernel with {@code watchdog_thresh = thresh}; returns its reports. */
    private KernelReports stepped(int thresh) {
        kernel = kernels.boot(b -> b.watchdogThresh(thresh));
        return kernels.reports(kernel);
    }

    /** The BUG reports so far, as their messages. */
    private static List<String> bugs(KernelReports rec) {
        return rec.ofKind(KernelEvent.Kind.BUG).stream().map(KernelEvent::message).toList();
    }

    private static long me() {
        return Thread.currentThread().threadId();
    }

    /** Whether {@code e}'s stack has a frame of this class whose method name starts with {@code method}. */
    private static boolean stackHasFrame(KernelEvent e, String method) {
        assertNotNull(e.cause(), "a lockup report carries the stuck thread's stack");
        return Arrays.stream(e.cause().getStackTrace()).anyMatch(f ->
                f.getClassName().equals(LockupDetectorTest.class.getName()) && f.getMethodName().startsWith(method));
    }

    /** Whether {@code e}'s stack has the frame of a handler written in this class (a lambda). */
    private static boolean stackHasHandlerFrame(KernelEvent e) {
        return stackHasFrame(e, "lambda$");
    }

    /** Line 9 on CPU 1 runs {@code handler} as its top half. */
    private void requestOnCpu1(Runnable handler) {
        kernel.irqs().request(9, (irq, dev) -> {
            handler.run();
            return IrqReturn.HANDLED;
        }, Set.of(), "stuck", "dev");
        kernel.irqs().setAffinity(9, 1);
    }

    // ------------------------------------------------------------------------------------------
    // Stepped: hard IRQ handlers
    // ------------------------------------------------------------------------------------------

    @Test
    void hardirqHandler_mdelaysTwiceThreshPlusOne_reportsHardThenSoftLockupOfCpu1WithItsThreadAndStack() {
        KernelReports rec = stepped(10);
        requestOnCpu1(() -> kernel.timers().mdelay(21_000));
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);

        assertEquals(List.of(HARD + "1", SOFT + "1 stuck for 21s! [cpu/1:" + me() + "]"), bugs(rec));
        for (KernelEvent e : rec.ofKind(KernelEvent.Kind.BUG)) {
            assertEquals(1, e.cpu());
            assertEquals("cpu/1", e.thread());
            assertEquals("hardirq", e.context());
            assertTrue(stackHasHandlerFrame(e), "the handler's frame is on the reported stack: " + e.cause());
        }
        assertEquals("dev.bottomhalf.internal.runtime.SteppedScheduler",
                rec.ofKind(KernelEvent.Kind.BUG).get(0).cause().getStackTrace()[0].getClassName(),
                "the stack starts where the handler burns, not in the detector");
    }

    @Test
    void hardirqHandler_justBelowTwiceThresh_reportsTheHardLockupOnly() {
        KernelReports rec = stepped(10);
        requestOnCpu1(() -> kernel.timers().mdelay(20_999));
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);

        assertEquals(List.of(HARD + "1"), bugs(rec));
    }

    @Test
    void hardirqHandler_threshPlusOne_reportsTheHardLockup_justBelow_reportsNothing() {
        KernelReports rec = stepped(10);
        long[] delayMs = {10_999};
        requestOnCpu1(() -> kernel.timers().mdelay(delayMs[0]));
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);
        assertEquals(List.of(), bugs(rec));

        delayMs[0] = 11_000;
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);
        assertEquals(List.of(HARD + "1"), bugs(rec));
    }

    @Test
    void watchdogThreshZero_disablesBothDetectors() {
        KernelReports rec = stepped(0);
        requestOnCpu1(() -> kernel.timers().mdelay(120_000));
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);

        assertEquals(List.of(), bugs(rec));
        assertFalse(Internals.machine(kernel).lockupDetector().enabled());
        assertEquals("0\n", kernel.proc().watchdogThresh());
    }

    @Test
    void watchdogThresh_defaultsToTheKernels10s_andTakes0To60() {
        KernelConfig config = KernelConfig.builder().stepped().build();
        assertEquals(10, config.watchdogThresh());
        assertThrows(IllegalArgumentException.class, () -> KernelConfig.builder().watchdogThresh(61).build());
        assertThrows(IllegalArgumentException.class, () -> KernelConfig.builder().watchdogThresh(-1).build());

        stepped(60);
        assertEquals("60\n", kernel.proc().watchdogThresh());
        assertEquals(120, Internals.machine(kernel).lockupDetector().softlockupThresh());
        assertEquals(TimeUnit.SECONDS.toNanos(24), Internals.machine(kernel).lockupDetector().samplePeriodNs());
    }

    // ------------------------------------------------------------------------------------------
    // Stepped: softirqs, tasklets, timers
    // ------------------------------------------------------------------------------------------

    @Test
    void softirqHandlerAtIrqExit_stuck_isASoftLockupOfCpuThread_notAHardOne() {
        KernelReports rec = stepped(10);
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> kernel.timers().mdelay(21_000));
        requestOnCpu1(() -> kernel.softirqs().raise(SoftirqVector.NET_RX));
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);

        assertEquals(List.of(SOFT + "1 stuck for 21s! [cpu/1:" + me() + "]"), bugs(rec));
        KernelEvent e = rec.ofKind(KernelEvent.Kind.BUG).get(0);
        assertEquals("softirq", e.context());
        assertTrue(stackHasHandlerFrame(e));
    }

    @Test
    void softirqHandlerInKsoftirqd_stuck_isASoftLockupOfKsoftirqd() {
        KernelReports rec = stepped(10);
        kernel.bindCurrentThread(0);
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> kernel.timers().mdelay(25_000));
        kernel.softirqs().raise(SoftirqVector.NET_RX);   // task context: wakes ksoftirqd/0
        kernel.stepper().run("ksoftirqd/0");

        assertEquals(List.of(SOFT + "0 stuck for 25s! [ksoftirqd/0:" + me() + "]"), bugs(rec));
        assertEquals("ksoftirqd/0", rec.ofKind(KernelEvent.Kind.BUG).get(0).thread());
    }

    @Test
    void taskletCallback_stuck_isASoftLockup() {
        KernelReports rec = stepped(10);
        Tasklet stuck = Tasklet.setup("stuck", t -> kernel.timers().mdelay(21_000));
        requestOnCpu1(() -> kernel.tasklets().schedule(stuck));
        kernel.irqs().assertIrq(9);
        kernel.stepper().hardirq(1);

        assertEquals(List.of(SOFT + "1 stuck for 21s! [cpu/1:" + me() + "]"), bugs(rec));
        assertTrue(stackHasHandlerFrame(rec.ofKind(KernelEvent.Kind.BUG).get(0)));
    }

    @Test
    void timerCallback_stuck_isASoftLockup() {
        KernelReports rec = stepped(10);
        kernel.bindCurrentThread(1);
        TimerList timer = TimerList.setup("stuck", t -> kernel.timers().mdelay(30_000), 0);
        kernel.timers().mod(timer, kernel.jiffies() + 1);
        kernel.stepper().advanceJiffies(2);
        kernel.stepper().hardirq(1);               // the tick of CPU 1: TIMER_SOFTIRQ at irq_exit

        assertEquals(List.of(SOFT + "1 stuck for 30s! [cpu/1:" + me() + "]"), bugs(rec));
        assertTrue(stackHasHandlerFrame(rec.ofKind(KernelEvent.Kind.BUG).get(0)));
    }

    // ------------------------------------------------------------------------------------------
    // Stepped: tasks holding a level, re-reports, touches
    // ------------------------------------------------------------------------------------------

    @Test
    void taskWithBhDisabled_stillStuck_isReportedAgainEveryTwiceThresh_withTheDurationGrowing() {
        KernelReports rec = stepped(10);
        Stepper s = kernel.stepper();
        ExecutionContext task = kernel.bindCurrentThread(1);
        String me = Thread.currentThread().getName() + ":" + me();
        task.localBhDisable();
        s.advance(20, TimeUnit.SECONDS);
        assertEquals(List.of(), bugs(rec));
        s.advance(1, TimeUnit.SECONDS);
        assertEquals(List.of(SOFT + "1 stuck for 21s! [" + me + "]"), bugs(rec));
        assertEquals("BH disabled", rec.ofKind(KernelEvent.Kind.BUG).get(0).context());
        for (int i = 0; i < 50; i++) {
            s.advance(1, TimeUnit.SECONDS);
        }
        assertEquals(List.of(SOFT + "1 stuck for 21s! [" + me + "]", SOFT + "1 stuck for 42s! [" + me + "]",
                SOFT + "1 stuck for 63s! [" + me + "]"), bugs(rec));

        task.localBhEnable();                      // the CPU gets back to its loop: a new episode
        rec.clear();
        s.advance(30, TimeUnit.SECONDS);
        assertEquals(List.of(), bugs(rec));
        task.localBhDisable();
        s.advance(21, TimeUnit.SECONDS);
        assertEquals(List.of(SOFT + "1 stuck for 21s! [" + me + "]"), bugs(rec));
        task.localBhEnable();
    }

    @Test
    void taskWithIrqsDisabled_hardLockupExactlyPastThresh_onceForTheHold() {
        KernelReports rec = stepped(10);
        Stepper s = kernel.stepper();
        ExecutionContext task = kernel.bindCurrentThread(1);
        task.localIrqDisable();
        s.advance(10_999, TimeUnit.MILLISECONDS);
        assertEquals(List.of(), bugs(rec));
        s.advance(1, TimeUnit.MILLISECONDS);
        assertEquals(List.of(HARD + "1"), bugs(rec));
        KernelEvent e = rec.ofKind(KernelEvent.Kind.BUG).get(0);
        assertEquals(Thread.currentThread().getName(), e.thread());
        assertEquals("IRQs disabled", e.context());
        assertTrue(stackHasFrame(e, "taskWithIrqsDisabled_"), "the task's own frame is on the stack");

        s.advance(9, TimeUnit.SECONDS);            // 20 s: no second hard lockup report, no soft one yet
        assertEquals(List.of(HARD + "1"), bugs(rec));
        s.advance(1, TimeUnit.SECONDS);
        assertEquals(List.of(HARD + "1", SOFT + "1 stuck for 21s! [" + Thread.currentThread().getName() + ":"
                + me() + "]"), bugs(rec));
        task.localIrqEnable();
    }

    @Test
    void holdsWithAReleaseBetween_areTwoHolds_notOneLongOne() {
        KernelReports rec = stepped(10);
        Stepper s = kernel.stepper();
        ExecutionContext task = kernel.bindCurrentThread(1);
        for (int i = 0; i < 5; i++) {
            task.localIrqDisable();
            s.advance(8, TimeUnit.SECONDS);
            task.localIrqEnable();                 // IRQs on for an instant: the CPU could take its interrupts
        }
        assertEquals(List.of(), bugs(rec));
    }

    @Test
    void bothLevelsHeld_theOlderHoldTimesTheSoftLockup() {
        KernelReports rec = stepped(10);
        Stepper s = kernel.stepper();
        ExecutionContext task = kernel.bindCurrentThread(1);
        task.localIrqDisable();
        s.advance(5, TimeUnit.SECONDS);
        task.localBhDisable();                     // a younger hold of the other level
        s.advance(16, TimeUnit.SECONDS);

        assertEquals(List.of(HARD + "1", SOFT + "1 stuck for 21s! [" + Thread.currentThread().getName() + ":" + me()
                + "]"), bugs(rec));
        assertEquals("IRQs disabled", rec.ofKind(KernelEvent.Kind.BUG).get(1).context());
        task.localIrqEnable();
        task.localBhEnable();
    }

    @Test
    void holdsOnAnotherCpu_doNotCountForThisOne() {
        KernelReports rec = stepped(10);
        ExecutionContext task = kernel.bindCurrentThread(0);
        task.localIrqDisable();
        kernel.stepper().advance(11, TimeUnit.SECONDS);
        assertEquals(List.of(HARD + "0"), bugs(rec));
        assertEquals(0, rec.ofKind(KernelEvent.Kind.BUG).get(0).cpu());
        task.localIrqEnable();
    }

    @Test
    void touchSoftlockupWatchdog_startsANewReportingPeriod_theDurationStillCountsFromTheStart() {
        KernelReports rec = stepped(10);
        Stepper s = kernel.stepper();
        ExecutionContext task = kernel.bindCurrentThread(1);
        String me = Thread.currentThread().getName() + ":" + me();
        task.localBhDisable();
        s.advance(15, TimeUnit.SECONDS);
        Linux.touch_softlockup_watchdog();
        s.advance(20, TimeUnit.SECONDS);           // 35 s stuck, 20 s since the touch
        assertEquals(List.of(), bugs(rec));
        s.advance(1, TimeUnit.SECONDS);
        assertEquals(List.of(SOFT + "1 stuck for 36s! [" + me + "]"), bugs(rec));
        task.localBhEnable();
    }

    @Test
    void touchNmiWatchdog_restartsTheHardLockupTiming() {
        KernelReports rec = stepped(10);
        Stepper s = kernel.stepper();
        ExecutionContext task = kernel.bindCurrentThread(1);
        task.localIrqDisable();
        s.advance(8, TimeUnit.SECONDS);
        Linux.touch_nmi_watchdog();
        s.advance(10, TimeUnit.SECONDS);
        assertEquals(List.of(), bugs(rec));
        s.advance(1, TimeUnit.SECONDS);
        assertEquals(List.of(HARD + "1"), bugs(rec));
        task.localIrqEnable();
    }

    /** The timeline of docs/subsystems/runtime.md, "Lockup detectors", row by row. */
    @Test
    void docTimeline_slowTopHalfThenBhDisabledTask() {
        kernel = kernels.kernel();
        KernelReports rec = kernels.reports();
        Kernel k = kernel;
        String name = Thread.currentThread().getName();
        k.irqs().request(9, (irq, dev) -> {
            k.timers().mdelay(25_000);
            return IrqReturn.HANDLED;
        }, Set.of(), "slow", "slow");
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        k.stepper().hardirq(1);
        assertEquals(List.of(HARD + "1", SOFT + "1 stuck for 25s! [cpu/1:" + me() + "]"), bugs(rec));
        assertEquals(List.of("hardirq", "hardirq"), rec.ofKind(KernelEvent.Kind.BUG).stream()
                .map(KernelEvent::context).toList());
        assertEquals(TimeUnit.SECONDS.toNanos(25), k.uptimeNs());

        ExecutionContext task = k.bindCurrentThread(0);
        task.localBhDisable();
        List<String> reportedAt = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            int before = bugs(rec).size();
            k.stepper().advance(1, TimeUnit.SECONDS);
            if (bugs(rec).size() > before) {
                reportedAt.add(TimeUnit.NANOSECONDS.toSeconds(k.uptimeNs()) + ": "
                        + bugs(rec).get(before));
            }
        }
        task.localBhEnable();
        assertEquals(List.of("46: " + SOFT + "0 stuck for 21s! [" + name + ":" + me() + "]",
                "67: " + SOFT + "0 stuck for 42s! [" + name + ":" + me() + "]"), reportedAt);
        assertEquals("BH disabled", rec.ofKind(KernelEvent.Kind.BUG).get(2).context());
        assertEquals(4, rec.ofKind(KernelEvent.Kind.BUG).size(), "nothing when the hold ends");
    }

    // ------------------------------------------------------------------------------------------
    // Threaded
    // ------------------------------------------------------------------------------------------

    /**
     * A reporter that opens a latch per awaited message fragment. The extension records each report before
     * passing it on, so once a latch is open the report can be read through the kernel's {@link KernelReports}.
     */
    private static final class Awaiting implements Reporter {
        private final List<String> fragments;
        private final List<CountDownLatch> latches = new ArrayList<>();

        Awaiting(String... fragments) {
            this.fragments = List.of(fragments);
            for (int i = 0; i < fragments.length; i++) {
                latches.add(new CountDownLatch(1));
            }
        }

        @Override
        public void report(KernelEvent event) {
            for (int i = 0; i < fragments.size(); i++) {
                if (event.message().contains(fragments.get(i))) {
                    latches.get(i).countDown();
                }
            }
        }

        /** Waits for the first report containing {@code fragment} and returns it, read through {@code reports}. */
        KernelEvent await(String fragment, KernelReports reports) throws InterruptedException {
            int i = fragments.indexOf(fragment);
            assertTrue(latches.get(i).await(TIMEOUT_S, TimeUnit.SECONDS), "no report containing '" + fragment
                    + "' within " + TIMEOUT_S + " s; got " + reports);
            return reports.matching(fragment).get(0);
        }
    }

    private static Thread cpuThread(Kernel k, int cpu) {
        return Internals.machine(k).agents().stream().filter(h -> h.agent().name().equals("cpu/" + cpu))
                .map(AgentHandle::thread).findFirst().orElseThrow();
    }

    @Test
    void threaded_hardirqHandlerThatBlocks_reportsHardLockupOnCpu1_andSoftLockupOfCpu1Thread() throws Exception {
        Awaiting awaiting = new Awaiting(HARD + "1", SOFT + "1 stuck for ");
        kernel = kernels.bootThreaded(b -> b.watchdogThresh(1).reporter(awaiting));
        KernelReports reports = kernels.reports(kernel);
        // cpu/1 stays stuck until the release below: its soft lockup may be reported again before then.
        reports.expect(SOFT + "1 stuck for ");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        requestOnCpu1(() -> blockInHandler(entered, release));
        try {
            kernel.irqs().assertIrq(9);
            assertTrue(entered.await(TIMEOUT_S, TimeUnit.SECONDS));

            KernelEvent hard = awaiting.await(HARD + "1", reports);
            assertEquals(1, hard.cpu());
            assertEquals("cpu/1", hard.thread());
            assertEquals("hardirq", hard.context());
            assertTrue(Arrays.stream(hard.cause().getStackTrace())
                            .anyMatch(f -> f.getMethodName().equals("blockInHandler")),
                    "the handler's frame is on cpu/1's stack: " + Arrays.toString(hard.cause().getStackTrace()));

            KernelEvent soft = awaiting.await(SOFT + "1 stuck for ", reports);
            assertTrue(soft.message().endsWith("s! [cpu/1:" + cpuThread(kernel, 1).threadId() + "]"), soft.message());
        } finally {
            release.countDown();
        }
    }

    private static void blockInHandler(CountDownLatch entered, CountDownLatch release) {
        entered.countDown();
        try {
            release.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void threaded_taskThatKeepsIrqsDisabled_reportsHardLockupWithTheTasksStack() throws Exception {
        Awaiting awaiting = new Awaiting(HARD + "1");
        kernel = kernels.bootThreaded(b -> b.watchdogThresh(1).reporter(awaiting));
        KernelReports reports = kernels.reports(kernel);
        CountDownLatch disabled = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread task = new Thread(() -> holdIrqsOff(kernel, disabled, release), "irqs-off-task");
        task.start();
        try {
            assertTrue(disabled.await(TIMEOUT_S, TimeUnit.SECONDS));
            KernelEvent hard = awaiting.await(HARD + "1", reports);
            assertEquals(1, hard.cpu());
            assertEquals("irqs-off-task", hard.thread());
            assertEquals("IRQs disabled", hard.context());
            assertTrue(Arrays.stream(hard.cause().getStackTrace()).anyMatch(f -> f.getMethodName().equals("holdIrqsOff")),
                    "the task's frame is on the stack: " + Arrays.toString(hard.cause().getStackTrace()));
        } finally {
            release.countDown();
            task.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        }
        assertFalse(task.isAlive());
        // The hold was longer than 2 * watchdog_thresh, and soft-locked CPU 1 too, if the release came more than
        // 2 s after the hold began: that depends on the host. Closed, the kernel samples no more; whatever came
        // is about the task.
        kernel.close();
        for (KernelEvent soft : reports.matching(SOFT)) {
            assertTrue(soft.message().startsWith(SOFT + "1 stuck for ") && soft.message().endsWith("! [irqs-off-task:"
                    + task.threadId() + "]"), soft.message());
        }
    }

    private static void holdIrqsOff(Kernel k, CountDownLatch disabled, CountDownLatch release) {
        ExecutionContext ctx = k.bindCurrentThread(1);
        ctx.localIrqDisable();
        disabled.countDown();
        try {
            release.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            ctx.localIrqEnable();
            k.detachCurrentThread();
        }
    }

    @Test
    void threaded_close_stopsTheWatchdogThread() {
        Set<Thread> before = liveWatchdogThreads();
        kernel = kernels.bootThreaded(b -> b.watchdogThresh(1));
        Set<Thread> ours = liveWatchdogThreads();
        ours.removeAll(before);
        assertEquals(1, ours.size(), "one sampling thread per threaded kernel");
        kernel.close();
        for (Thread t : ours) {
            assertFalse(t.isAlive(), "the watchdog thread ended with close()");
        }
    }

    @Test
    void threaded_watchdogThreshZero_startsNoThread() {
        Set<Thread> before = liveWatchdogThreads();
        kernel = kernels.bootThreaded(b -> b.watchdogThresh(0));
        Set<Thread> ours = liveWatchdogThreads();
        ours.removeAll(before);
        assertEquals(Set.of(), ours);
    }

    private static Set<Thread> liveWatchdogThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().equals(LockupDetector.THREAD_NAME))
                .collect(Collectors.toSet());
    }
}
