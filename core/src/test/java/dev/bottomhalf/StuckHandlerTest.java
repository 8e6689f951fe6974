package dev.bottomhalf;

import static dev.bottomhalf.Faults.TIMEOUT_S;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.bottomhalf.Faults.ReportWaiter;
import dev.bottomhalf.Faults.Site;
import dev.bottomhalf.Faults.Where;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.workqueue.Work;

/**
 * Handlers that never return, in threaded mode: which report names each one — the hard and soft lockup
 * detectors for a handler that keeps its CPU's IRQ or BH level (hard IRQ, softirq, tasklet, timer, hrtimer, BH
 * work), the workqueue watchdog for a work item that keeps its pool from running the items behind it — and
 * that {@code close(Duration)} returns while the handler is still stuck, naming its thread, with a stack that
 * holds the handler's frame. Nothing watches a process-context thread that blocks (a threaded IRQ handler, a
 * kworker waiting outside the kernel's primitives): for those, close's report is what names them.
 *
 * <p>The kernels use {@code watchdog_thresh = 1} (a hard lockup after more than 1 s, a soft lockup after more
 * than 2 s, sampled every 0.4 s), {@code workqueue.watchdog_thresh = 1} and a close timeout of
 * {@value #JOIN_MS} ms (how long close waits for a runtime thread to end). Each handler blocks on a latch the
 * test releases at its end, so every thread ends before the extension checks for leaks. Reports are awaited
 * with generous timeouts; no assertion depends on how fast the host is.
 */
@Timeout(value = 120)
class StuckHandlerTest {
    /** The configured close timeout, which bounds close's wait for a runtime thread to end. */
    static final int JOIN_MS = 200;
    private static final String HARD = "Watchdog detected hard LOCKUP on cpu ";
    private static final String SOFT = "BUG: soft lockup - CPU#";
    private final ReportWaiter waiter = new ReportWaiter();

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).bindTestThread(0)
            .with(b -> b.watchdogThresh(1).closeTimeout(Duration.ofMillis(JOIN_MS)).reporter(waiter));

    /** Released at the end of each test: every stuck handler returns. */
    private final CountDownLatch release = new CountDownLatch(1);
    private final CountDownLatch entered = new CountDownLatch(1);
    /** The thread the stuck handler runs on. */
    private final AtomicReference<Thread> stuck = new AtomicReference<>();

    @AfterEach
    void releaseTheStuckHandler() throws InterruptedException {
        release.countDown();
        Thread t = stuck.get();
        if (t != null) {
            t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        }
    }

    /** The stuck handler: records its thread, then blocks until the test ends. */
    private void blockInHandler() {
        stuck.set(Thread.currentThread());
        entered.countDown();
        boolean interrupted = false;
        for (;;) {
            try {
                release.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** A stuck handler that keeps its CPU busy (it never blocks) until the test ends. */
    private void spinInHandler() {
        stuck.set(Thread.currentThread());
        entered.countDown();
        while (release.getCount() > 0) {
            Thread.onSpinWait();
        }
    }

    private Kernel bootAndStick(Where where, Runnable body) throws InterruptedException {
        Kernel k = kernels.kernel();
        Site.install(k, where, body::run).fire();
        assertTrue(entered.await(TIMEOUT_S, TimeUnit.SECONDS), where + ": the handler never ran");
        return k;
    }

    private static boolean hasFrame(Throwable stack, String method) {
        assertNotNull(stack, "the report carries a stack");
        return Arrays.stream(stack.getStackTrace()).anyMatch(f ->
                f.getClassName().equals(StuckHandlerTest.class.getName()) && f.getMethodName().equals(method));
    }

    /**
     * Closes with a short timeout while the handler is stuck: the close returns, and names the stuck thread,
     * with a stack that holds {@code handlerMethod}'s frame, as a runtime thread that did not stop.
     */
    private CloseReport closeWhileStuck(Kernel k, String handlerMethod) {
        Thread t = stuck.get();
        CloseReport report = k.close(Duration.ofMillis(100));
        assertTrue(t.isAlive(), "the handler is still stuck");
        assertEquals(List.of(t.getName()), report.threadsNotStopped(), report.toString());
        assertFalse(report.panicked());
        List<KernelEvent> notStopped = kernels.reports(k).matching("INFO: runtime thread " + t.getName()
                + " did not stop within " + JOIN_MS + " ms of close() and is left running (a daemon thread); it is in ");
        assertEquals(1, notStopped.size(), kernels.reports(k).toString());
        assertEquals(KernelEvent.Kind.BUG, notStopped.get(0).kind());
        assertTrue(hasFrame(notStopped.get(0).cause(), handlerMethod), "the stack of " + t.getName()
                + " holds the handler's frame: " + Arrays.toString(notStopped.get(0).cause().getStackTrace()));
        return report;
    }

    /** Releases the handler; its thread ends (it was asked to stop by the close). */
    private void releaseAndJoin() throws InterruptedException {
        release.countDown();
        Thread t = stuck.get();
        t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(t.isAlive(), t.getName() + " did not end after its handler returned");
    }

    /**
     * {@code BUG: soft lockup - CPU#<cpu> stuck for <D>s! [<comm>:<pid>]}: more than {@code 2 × watchdog_thresh}
     * whole seconds, the stuck thread's name and id.
     */
    private static void assertSoftLockup(KernelEvent soft, int cpu, Thread t) {
        Matcher m = Pattern.compile("BUG: soft lockup - CPU#" + cpu + " stuck for (\\d+)s! \\["
                + Pattern.quote(t.getName()) + ":" + t.threadId() + "]").matcher(soft.message());
        assertTrue(m.matches(), soft.message());
        assertTrue(Integer.parseInt(m.group(1)) > 2, soft.message());
        assertEquals(cpu, soft.cpu());
    }

    // ------------------------------------------------------------------------------------------
    // Handlers that keep a CPU level: the lockup detectors
    // ------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Where.class, names = {"HARDIRQ", "HRTIMER"})
    void hardIrqHandlerThatNeverReturns_isAHardThenASoftLockup_andCloseNamesItsThread(Where where)
            throws Exception {
        Kernel k = bootAndStick(where, this::blockInHandler);
        Thread t = stuck.get();
        int cpu = where == Where.HARDIRQ ? 1 : 0;
        assertEquals("cpu/" + cpu, t.getName());

        KernelEvent hard = waiter.await(HARD + cpu);
        assertEquals(HARD + cpu, hard.message());
        assertEquals(cpu, hard.cpu());
        assertEquals(t.getName(), hard.thread());
        assertEquals("hardirq", hard.context());
        assertTrue(hasFrame(hard.cause(), "blockInHandler"), Arrays.toString(hard.cause().getStackTrace()));

        KernelEvent soft = waiter.await(SOFT + cpu + " stuck for ");
        assertSoftLockup(soft, cpu, t);
        assertTrue(hasFrame(soft.cause(), "blockInHandler"));
        KernelReports reports = kernels.reports(k);
        assertEquals(1, reports.matching(HARD).size(), "a hard lockup is reported once per hold: " + reports);
        assertFalse(reports.matching(SOFT).isEmpty());

        closeWhileStuck(k, "blockInHandler");
        releaseAndJoin();
    }

    @ParameterizedTest
    @EnumSource(value = Where.class, names = {"SOFTIRQ", "TASKLET", "TIMER", "HRTIMER_SOFT", "BH_WORK"})
    void softirqHandlerThatNeverReturns_isASoftLockupNamingItsThread_andCloseNamesItsThread(Where where)
            throws Exception {
        Kernel k = bootAndStick(where, this::blockInHandler);
        Thread t = stuck.get();
        assertTrue(t.getName().equals("cpu/0") || t.getName().equals("ksoftirqd/0"), t.getName());

        KernelEvent soft = waiter.await(SOFT + "0 stuck for ");
        assertSoftLockup(soft, 0, t);
        assertEquals("softirq", soft.context());
        assertTrue(hasFrame(soft.cause(), "blockInHandler"), Arrays.toString(soft.cause().getStackTrace()));
        KernelReports reports = kernels.reports(k);
        assertFalse(reports.matching(SOFT).isEmpty());
        assertEquals(List.of(), reports.matching(HARD), "the IRQ level of CPU 0 stays free");

        closeWhileStuck(k, "blockInHandler");
        releaseAndJoin();
    }

    // ------------------------------------------------------------------------------------------
    // Work items: the workqueue watchdog
    // ------------------------------------------------------------------------------------------

    @Test
    void workItemThatHogsItsPool_isAWorkqueueLockup_whoseDumpNamesItAndItsWorker_andCloseNamesTheWorker()
            throws Exception {
        Kernel k = kernels.kernel();
        KernelReports reports = kernels.reports(k);
        k.workqueues().watchdogThreshSeconds(1);
        // Off, the CPU-intensive detection does not take the hog out of concurrency management, so the item
        // queued behind it waits: the pool makes no progress.
        k.workqueues().cpuIntensiveThresholdUs(0);
        CountDownLatch behind = new CountDownLatch(1);
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("hog", w -> spinInHandler()));
        assertTrue(entered.await(TIMEOUT_S, TimeUnit.SECONDS));
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("behind", w -> behind.countDown()));
        Thread t = stuck.get();
        assertTrue(t.getName().startsWith("kworker/0:"), t.getName());

        KernelEvent lockup = waiter.await("BUG: workqueue lockup - pool ");
        assertTrue(lockup.message().matches("BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for"
                + " [1-9][0-9]*s!"), lockup.message());
        KernelEvent dump = waiter.await("Showing busy workqueues and worker pools:");
        assertTrue(dump.message().contains("in-flight: " + t.getName() + ":hog"), dump.message());
        assertTrue(dump.message().contains("pending: behind"), dump.message());
        assertEquals(1, behind.getCount(), "the item behind the hog never ran");
        assertFalse(reports.matching("BUG: workqueue lockup").isEmpty());

        CloseReport report = closeWhileStuck(k, "spinInHandler");
        assertEquals(List.of("behind"), report.droppedWork(), report.toString());
        reports.expect("close: accepted work never ran (not done within 100 ms): 1 work item (behind)");
        releaseAndJoin();
    }

    @Test
    void workItemBlockedOnALatch_doesNotStallItsPool_andCloseNamesItsWorker() throws Exception {
        Kernel k = kernels.kernel();
        KernelReports reports = kernels.reports(k);
        k.workqueues().watchdogThreshSeconds(1);
        Site.install(k, Where.KWORKER, this::blockInHandler).fire();
        assertTrue(entered.await(TIMEOUT_S, TimeUnit.SECONDS));
        CountDownLatch behind = new CountDownLatch(1);
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("behind", w -> behind.countDown()));
        assertTrue(behind.await(TIMEOUT_S, TimeUnit.SECONDS), "a worker blocked outside the kernel's primitives"
                + " stops counting, so another worker of the pool runs the item behind it");
        Thread t = stuck.get();
        assertTrue(t.getName().startsWith("kworker/0:"), t.getName());

        CloseReport report = closeWhileStuck(k, "blockInHandler");
        assertTrue(report.drained(), "everything but the stuck item ran: " + report);
        assertEquals(List.of(), reports.matching("BUG: workqueue lockup"), "a pool that moves is no lockup");
        releaseAndJoin();
    }

    // ------------------------------------------------------------------------------------------
    // A threaded IRQ handler: nothing watches it; close names it
    // ------------------------------------------------------------------------------------------

    @Test
    void threadedIrqHandlerThatNeverReturns_isNamedByClose_withItsStack() throws Exception {
        Kernel k = bootAndStick(Where.IRQ_THREAD, this::blockInHandler);
        Thread t = stuck.get();
        assertEquals("irq/" + Faults.THREADED_IRQ + "-fault-thread", t.getName());
        closeWhileStuck(k, "blockInHandler");
        releaseAndJoin();
    }
}
