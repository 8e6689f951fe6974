package dev.bottomhalf.workqueue;

import static dev.bottomhalf.linux.Linux.mdelay;
import static dev.bottomhalf.linux.Linux.msleep;
import static dev.bottomhalf.linux.Linux.udelay;
import static dev.bottomhalf.linux.Linux.usleep_range;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * The concurrency-management timelines of the kernel's workqueue documentation ("Example Execution
 * Scenarios"; docs/subsystems/workqueue.md, "Timelines in stepped mode"), replayed row by row in stepped
 * mode, and the busy-wait delays ({@code mdelay}/{@code udelay}) they are built on.
 *
 * <p>The scenario: three items on one CPU. w0 burns the CPU 5 ms, sleeps 10 ms, burns 5 ms more; w1 and w2
 * burn 5 ms and sleep 10 ms. Burning is {@code mdelay} (simulated CPU time on the worker's CPU); sleeping
 * is {@code usleep_range(10000, 10000)}, which wakes exactly 10 ms later — {@code msleep(10)} would land on
 * the timer wheel and wake a jiffy late, as in the kernel (shown by its own test below). Each item records
 * what it does at which millisecond, and the whole list must equal the documented table.
 */
class WorkqueueTimelineTest {
    private static final long SLEEP_US = 10_000;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private final List<String> timeline = new CopyOnWriteArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private Workqueues wqs;
    private long originNs;

    @BeforeEach
    void boot() {
        use(kernels.kernel());
        reports = kernels.reports();
    }

    /** Makes {@code k} the kernel the helpers drive; the test thread becomes a task on its CPU 0. */
    private void use(Kernel k) {
        kernel = k;
        stepper = kernel.stepper();
        wqs = kernel.workqueues();
        kernel.bindCurrentThread(0);
        originNs = stepper.clock().nanoTime();
    }

    /** Records "{ms} {event}"; a time that is not a whole millisecond shows its fraction. */
    private void record(String event) {
        long ns = stepper.clock().nanoTime() - originNs;
        String at = ns % 1_000_000 == 0 ? Long.toString(ns / 1_000_000) : String.format("%.6f", ns / 1e6);
        timeline.add(at + " " + event);
    }

    /** w0 of the scenario: burns 5 ms, sleeps 10 ms, burns 5 ms. */
    private Work w0(Runnable sleep) {
        return new Work("w0", w -> {
            record("w0 starts and burns");
            mdelay(5);
            record("w0 sleeps");
            sleep.run();
            record("w0 wakes and burns");
            mdelay(5);
            record("w0 finishes");
        });
    }

    /** w1 or w2 of the scenario: burns 5 ms, sleeps 10 ms. */
    private Work burnThenSleep(String name, Runnable sleep) {
        return new Work(name, w -> {
            record(name + " starts and burns");
            mdelay(5);
            record(name + " sleeps");
            sleep.run();
            record(name + " wakes and finishes");
        });
    }

    private static void sleep10ms() {
        usleep_range(SLEEP_US, SLEEP_US);
    }

    private void queueOnCpu0(Workqueue wq, Work w) {
        assertTrue(wqs.queueOn(0, wq, w));
    }

    // ------------------------------------------------------------------------------------------
    // CPU-intensive auto-detection (wq_cpu_intensive_thresh_us)
    // ------------------------------------------------------------------------------------------

    private Work hog(long ms) {
        return new Work("hog", w -> {
            record("hog starts");
            mdelay(ms);
            record("hog finishes");
        });
    }

    /** Queues a hog of {@code hogMs} and then w1 on CPU 0, lets {@code forMs} pass, and returns the workqueue. */
    private Workqueue hogThenW1(long hogMs, long forMs) {
        Workqueue q = wqs.alloc("q", 0, 0);
        queueOnCpu0(q, hog(hogMs));
        queueOnCpu0(q, new Work("w1", w -> record("w1 starts")));
        stepper.runFor(forMs, TimeUnit.MILLISECONDS);
        return q;
    }

    @Test
    void aHogQueuedFirst_isMarkedCpuIntensiveOnTheTickItPassesTheThreshold_andTheNextItemStarts() {
        Workqueue q = hogThenW1(100, 200);
        // Threshold 10 ms (the default): w1 starts on the tick at which the hog has run 10 ms, not after 100.
        assertEquals(List.of("0 hog starts", "10 w1 starts", "100 hog finishes"), timeline);
        assertEquals(1, wqs.stats(q).cpuIntensive());
    }

    @Test
    void theCheckRunsOnEveryTick_soAThresholdOf3msLetsTheNextItemStartAt3ms() {
        wqs.cpuIntensiveThresholdUs(3_000);
        hogThenW1(20, 50);
        assertEquals(List.of("0 hog starts", "3 w1 starts", "20 hog finishes"), timeline);
    }

    @Test
    void withTheThresholdDisabled_theNextItemWaitsForTheHog() {
        wqs.cpuIntensiveThresholdUs(0);
        Workqueue q = hogThenW1(100, 200);
        assertEquals(List.of("0 hog starts", "100 hog finishes", "100 w1 starts"), timeline);
        assertEquals(0, wqs.stats(q).cpuIntensive());
    }

    // ------------------------------------------------------------------------------------------
    // The documentation's timelines: one per-CPU workqueue
    // ------------------------------------------------------------------------------------------

    @Test
    void maxActiveAtLeast3_eachItemStartsWhenThePreviousOneSleeps() {
        Workqueue q0 = wqs.alloc("q0", 0, 3);
        queueOnCpu0(q0, w0(WorkqueueTimelineTest::sleep10ms));
        queueOnCpu0(q0, burnThenSleep("w1", WorkqueueTimelineTest::sleep10ms));
        queueOnCpu0(q0, burnThenSleep("w2", WorkqueueTimelineTest::sleep10ms));

        stepper.runFor(100, TimeUnit.MILLISECONDS);

        assertEquals(List.of(
                "0 w0 starts and burns",
                "5 w0 sleeps",
                "5 w1 starts and burns",
                "10 w1 sleeps",
                "10 w2 starts and burns",
                "15 w2 sleeps",
                "15 w0 wakes and burns",
                "20 w0 finishes",
                "20 w1 wakes and finishes",
                "25 w2 wakes and finishes"), timeline);
        assertEquals(3, wqs.workerCount(0, false), "a worker per sleeping item");
        assertEquals(2, wqs.cmWakeups(), "w0 and w1 going to sleep each woke the next worker");
        assertTrue(reports.events().isEmpty(), reports.events().toString());
    }

    @Test
    void maxActive2_w2WaitsForAnActiveSlot_startsAt20_finishesAt35() {
        Workqueue q0 = wqs.alloc("q0", 0, 2);
        queueOnCpu0(q0, w0(WorkqueueTimelineTest::sleep10ms));
        queueOnCpu0(q0, burnThenSleep("w1", WorkqueueTimelineTest::sleep10ms));
        queueOnCpu0(q0, burnThenSleep("w2", WorkqueueTimelineTest::sleep10ms));

        stepper.runFor(100, TimeUnit.MILLISECONDS);

        assertEquals(List.of(
                "0 w0 starts and burns",
                "5 w0 sleeps",
                "5 w1 starts and burns",
                "10 w1 sleeps",
                "15 w0 wakes and burns",
                "20 w0 finishes",
                "20 w1 wakes and finishes",
                "20 w2 starts and burns",
                "25 w2 sleeps",
                "35 w2 wakes and finishes"), timeline);
        assertTrue(reports.events().isEmpty(), reports.events().toString());
    }

    // ------------------------------------------------------------------------------------------
    // The documentation's timelines: w1 and w2 on a WQ_CPU_INTENSIVE workqueue
    // ------------------------------------------------------------------------------------------

    @Test
    void cpuIntensiveItems_bothStartWhenW0Sleeps_andTakeTurnsOnTheCpu() {
        Workqueue q0 = wqs.alloc("q0", 0, 0);
        Workqueue q1 = wqs.alloc("q1", Workqueue.WQ_CPU_INTENSIVE, 0);
        queueOnCpu0(q0, w0(WorkqueueTimelineTest::sleep10ms));
        queueOnCpu0(q1, burnThenSleep("w1", WorkqueueTimelineTest::sleep10ms));
        queueOnCpu0(q1, burnThenSleep("w2", WorkqueueTimelineTest::sleep10ms));

        stepper.runFor(100, TimeUnit.MILLISECONDS);

        // The documentation's row "5 w1 and w2 start and burn CPU" is two events here; the one CPU then
        // serves their burns one after the other (w1 5–10 ms, w2 10–15 ms).
        assertEquals(List.of(
                "0 w0 starts and burns",
                "5 w0 sleeps",
                "5 w1 starts and burns",
                "5 w2 starts and burns",
                "10 w1 sleeps",
                "15 w2 sleeps",
                "15 w0 wakes and burns",
                "20 w0 finishes",
                "20 w1 wakes and finishes",
                "25 w2 wakes and finishes"), timeline);
        assertTrue(reports.events().isEmpty(), reports.events().toString());
    }

    @Test
    void withMsleep_eachSleepEndsOnTheTimerWheel_aJiffyLate() {
        // msleep(10) arms a 10-jiffy timer; the wheel rounds a level-0 expiry up by one bucket
        // (calc_wheel_index; docs/subsystems/timer.md, "Rounding, worked"),
        // so each sleep lasts 11 ms at HZ=1000. Same concurrency, every wake-up one jiffy later.
        Workqueue q0 = wqs.alloc("q0", 0, 3);
        queueOnCpu0(q0, w0(() -> msleep(10)));
        queueOnCpu0(q0, burnThenSleep("w1", () -> msleep(10)));
        queueOnCpu0(q0, burnThenSleep("w2", () -> msleep(10)));

        stepper.runFor(100, TimeUnit.MILLISECONDS);

        assertEquals(List.of(
                "0 w0 starts and burns",
                "5 w0 sleeps",
                "5 w1 starts and burns",
                "10 w1 sleeps",
                "10 w2 starts and burns",
                "15 w2 sleeps",
                "16 w0 wakes and burns",
                "21 w0 finishes",
                "21 w1 wakes and finishes",
                "26 w2 wakes and finishes"), timeline);
    }

    @Test
    void timeline_isTheSameOnEveryRun() {
        List<String> first = null;
        for (int run = 0; run < 5; run++) {
            kernel.close();
            timeline.clear();
            use(kernels.boot(b -> { }));
            Workqueue q0 = wqs.alloc("q0", 0, 2);
            queueOnCpu0(q0, w0(WorkqueueTimelineTest::sleep10ms));
            queueOnCpu0(q0, burnThenSleep("w1", WorkqueueTimelineTest::sleep10ms));
            queueOnCpu0(q0, burnThenSleep("w2", WorkqueueTimelineTest::sleep10ms));
            stepper.runFor(50, TimeUnit.MILLISECONDS);
            if (first == null) {
                first = List.copyOf(timeline);
            } else {
                assertEquals(first, timeline, "run " + run);
            }
        }
        assertEquals(10, first.size());
    }

    // ------------------------------------------------------------------------------------------
    // mdelay / udelay
    // ------------------------------------------------------------------------------------------

    @Test
    void mdelay_stepped_fromATask_advancesSimulatedTimeByExactlyTheDelay() {
        kernel.timers().mdelay(7);
        kernel.timers().udelay(250);
        kernel.timers().ndelay(40);
        assertEquals(7_250_040, stepper.clock().nanoTime() - originNs);
    }

    @Test
    void mdelay_stepped_twoBurnersOfOneCpuTakeTurns_whileAnotherCpuBurnsInParallel() {
        Workqueue wq = wqs.alloc("burners", Workqueue.WQ_CPU_INTENSIVE, 0);
        for (String name : List.of("a", "b")) {
            queueOnCpu0(wq, new Work(name, w -> {
                record(name + " starts on CPU " + kernel.context().cpuId());
                mdelay(4);
                record(name + " done");
            }));
        }
        assertTrue(wqs.queueOn(1, wq, new Work("c", w -> {
            record("c starts on CPU " + kernel.context().cpuId());
            udelay(4_000);
            record("c done");
        })));

        stepper.runFor(20, TimeUnit.MILLISECONDS);

        // kworker/1:0 exists since c was queued; b's worker is made only when a starts (a CPU-intensive item
        // does not hold its pool back), so c starts before b. Then CPU 0 serves a (0–4) and b (4–8) in
        // turn while CPU 1 serves c (0–4).
        assertEquals(List.of("0 a starts on CPU 0", "0 c starts on CPU 1", "0 b starts on CPU 0", "4 a done",
                "4 c done", "8 b done"), timeline);
    }

    @Test
    void mdelay_doesNotCountAsSleeping_theNextItemWaitsForTheBurnToEnd() {
        Workqueue wq = wqs.alloc("cm", 0, 0);
        queueOnCpu0(wq, new Work("burner", w -> {
            record("burner starts");
            mdelay(5);
            record("burner finishes");
        }));
        queueOnCpu0(wq, new Work("next", w -> record("next starts")));

        stepper.runFor(10, TimeUnit.MILLISECONDS);

        assertEquals(List.of("0 burner starts", "5 burner finishes", "5 next starts"), timeline);
        assertEquals(0, wqs.cmWakeups(), "busy-waiting is running, not sleeping: no concurrency-management wake-up");
        assertEquals(1, wqs.workerCount(0, false));
    }

    @Test
    void usleepRange_countsAsSleeping_theNextItemStartsAtOnce() {
        Workqueue wq = wqs.alloc("cm", 0, 0);
        queueOnCpu0(wq, new Work("sleeper", w -> {
            record("sleeper starts");
            usleep_range(5_000, 5_000);
            record("sleeper finishes");
        }));
        queueOnCpu0(wq, new Work("next", w -> record("next starts")));

        stepper.runFor(10, TimeUnit.MILLISECONDS);

        assertEquals(List.of("0 sleeper starts", "0 next starts", "5 sleeper finishes"), timeline);
        assertEquals(1, wqs.cmWakeups());
    }

    @Test
    void mdelay_isLegalInAtomicContext_andTheClockJumpsByTheDelay() {
        AtomicLong inSoftirqNs = new AtomicLong();
        kernel.softirqs().open(SoftirqVector.BLOCK, () -> {
            long before = stepper.clock().nanoTime();
            mdelay(2);
            inSoftirqNs.set(stepper.clock().nanoTime() - before);
        });
        ExecutionContext task = kernel.context();
        task.localBhDisable();
        udelay(300);
        kernel.softirqs().raise(SoftirqVector.BLOCK);
        task.localBhEnable(); // runs the softirq here, which burns 2 ms
        stepper.runUntilIdle();

        assertEquals(2_000_000, inSoftirqNs.get());
        assertEquals(2_300_000, stepper.clock().nanoTime() - originNs);
        assertTrue(reports.events().isEmpty(), "no 'sleeping function called from invalid context': "
                + reports.events());
    }

    @Test
    void mdelay_inAtomicContext_onAWorker_delaysTheCpusOtherBurner() {
        Workqueue wq = wqs.alloc("atomic", Workqueue.WQ_CPU_INTENSIVE, 0);
        queueOnCpu0(wq, new Work("burner", w -> {
            mdelay(4);
            record("burner done");
        }));
        queueOnCpu0(wq, new Work("atomic", w -> {
            ExecutionContext c = kernel.context();
            c.localBhDisable();
            record("atomic burns");
            mdelay(3);   // cannot give the CPU away: the clock jumps, the other burn is pushed back
            record("atomic done");
            c.localBhEnable();
        }));

        stepper.runFor(20, TimeUnit.MILLISECONDS);

        assertEquals(List.of("0 atomic burns", "3 atomic done", "7 burner done"), timeline);
        assertTrue(reports.events().isEmpty(), reports.events().toString());
    }

    @Test
    void mdelay_threaded_spinsAtLeastTheDelay() {
        Kernel threaded = kernels.bootThreaded(b -> b.cpus(1));
        threaded.bindCurrentThread(0);
        long start = System.nanoTime();
        threaded.timers().mdelay(15);
        long mdelayNs = System.nanoTime() - start;
        start = System.nanoTime();
        threaded.timers().udelay(2_000);
        long udelayNs = System.nanoTime() - start;
        assertTrue(mdelayNs >= TimeUnit.MILLISECONDS.toNanos(15), "mdelay(15) took " + mdelayNs + " ns");
        assertTrue(udelayNs >= TimeUnit.MICROSECONDS.toNanos(2_000), "udelay(2000) took " + udelayNs + " ns");
        ExecutionContext c = threaded.context();
        c.preemptDisable();
        threaded.timers().udelay(100);
        c.preemptEnable();
        assertTrue(kernels.reports(threaded).events().isEmpty(), kernels.reports(threaded).toString());
    }

    // ------------------------------------------------------------------------------------------
    // What the stepped scheduler cannot model
    // ------------------------------------------------------------------------------------------

    @Test
    void workerBlockedOutsideTheKernelsPrimitives_isReported_andTheKernelGoesOn() throws InterruptedException {
        CountDownLatch never = new CountDownLatch(1);
        Workqueue wq = wqs.alloc("blocky", 0, 0);
        queueOnCpu0(wq, new Work("blocker", w -> {
            record("blocker waits on a latch");
            try {
                never.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            record("blocker released");
        }));
        queueOnCpu0(wq, new Work("next", w -> record("next starts")));

        long hostStart = System.nanoTime();
        stepper.runFor(5, TimeUnit.MILLISECONDS);
        long hostNs = System.nanoTime() - hostStart;

        assertEquals(List.of("0 blocker waits on a latch", "0 next starts"), timeline,
                "the pool treats the blocked worker as sleeping and starts another");
        List<KernelEvent> bugs = reports.matching("blocked (WAITING) outside the kernel's sleeping primitives");
        assertEquals(1, bugs.size(), reports.events().toString());
        assertTrue(bugs.get(0).message().startsWith("BUG: kworker/0:0 "), bugs.get(0).message());
        assertTrue(bugs.get(0).message().contains("CountDownLatch.await"), bugs.get(0).message());
        assertTrue(hostNs < TimeUnit.SECONDS.toNanos(30), "reported instead of hanging");
        assertFalse(timeline.contains("0 blocker released"));
        never.countDown();
    }
}
