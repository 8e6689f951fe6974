package dev.bottomhalf;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * {@link Kernel#close()}: what runs, what is cancelled and reported, in which order; that close is refused
 * from inside the kernel; and that nothing of a closed kernel stays alive or reachable. Threaded tests wait
 * on latches with generous timeouts; no assertion depends on host timing except the bounded closes, whose
 * accounting (ran + dropped = accepted) holds whatever ran in time. The tests close their kernels themselves
 * and check the {@link CloseReport}; the extension's own close after the test is then a no-op.
 */
class KernelCloseTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    /** A threaded kernel with {@code cpus} CPUs (the extension checks its reports and threads after the test). */
    private Kernel threaded(int cpus) {
        return kernels.bootThreaded(b -> b.cpus(cpus));
    }

    private Kernel stepped() {
        return kernels.kernel();
    }

    private static List<Thread> liveThreadsOf(Kernel k) {
        List<Thread> live = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t instanceof KernelThread kt && RuntimeAccess.get().machine(kt.context()) == Internals.machine(k) && t.isAlive()) {
                live.add(t);
            }
        }
        return live;
    }

    // ------------------------------------------------------------------------------------------
    // Running what was accepted
    // ------------------------------------------------------------------------------------------

    @Test
    void close_runsEveryQueuedWorkItem_beforeItStopsTheThreads() {
        Kernel k = threaded(2);
        KernelReports rec = kernels.reports(k);
        AtomicInteger ran = new AtomicInteger();
        Workqueue wq = k.workqueues().alloc("slow", 0, 0);
        for (int i = 0; i < 200; i++) {
            k.workqueues().queueOn(1, wq, new Work("w" + i, w -> {
                k.timers().udelay(200);
                ran.incrementAndGet();
            }));
        }
        CloseReport report = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertEquals(200, ran.get(), "every accepted item ran");
        assertTrue(report.drained(), report.toString());
        assertFalse(report.droppedAcceptedWork(), report.toString());
        assertEquals(List.of(), liveThreadsOf(k));
        assertEquals(List.of(), rec.ofKind(KernelEvent.Kind.WARN), rec.toString());
    }

    @Test
    void closeWithATimeout_dropsWhatDidNotRun_andReportsItOnce_ranPlusDroppedIsAccepted() {
        Kernel k = threaded(1);
        KernelReports rec = kernels.reports(k);
        AtomicInteger ran = new AtomicInteger();
        Workqueue wq = k.workqueues().alloc("slow", 0, 0);
        for (int i = 0; i < 200; i++) {
            k.workqueues().queue(wq, new Work("w" + i, w -> {
                k.timers().mdelay(2);
                ran.incrementAndGet();
            }));
        }
        CloseReport report = k.close(Duration.ofMillis(20));
        assertFalse(report.drained());
        assertEquals(200, ran.get() + report.droppedWork().size(), report.toString());
        assertTrue(report.droppedWork().size() > 0, report.toString());
        List<KernelEvent> warns = rec.matching("close: accepted work never ran");
        assertEquals(1, warns.size(), rec.toString());
        assertTrue(warns.get(0).message().contains(report.droppedWork().size() + " work items ("),
                warns.get(0).message());
        assertEquals(List.of(), liveThreadsOf(k));
    }

    @Test
    void shutdownNow_runsNothingThatHadNotStarted_andReportsEveryMechanism() {
        Kernel k = stepped();
        KernelReports rec = kernels.reports(k);
        Stepperless.acceptOneOfEach(k);
        CloseReport report = k.shutdownNow();
        assertEquals(List.of("pending-work"), report.droppedWork());
        assertEquals(List.of("pending-tasklet"), report.droppedTasklets());
        assertTrue(report.droppedSoftirqs().contains("NET_RX on CPU 0"), report.toString());
        assertEquals(List.of("irq 5 (dev5) on CPU 0"), report.droppedIrqs());
        assertEquals(List.of("armed-timer"), report.cancelledTimers());
        assertEquals(List.of("armed-hrtimer"), report.cancelledHrtimers());
        assertEquals(List.of("delayed"), report.cancelledDelayedWork());
        assertEquals(0, Stepperless.ran.get(), "nothing ran");
        assertEquals(1, rec.matching("close: accepted work never ran").size(), rec.toString());
        assertEquals(1, rec.matching("close: cancelled 1 timer (armed-timer), 1 hrtimer (armed-hrtimer), 1 delayed"
                + " work item (delayed)").size(), rec.toString());
    }

    @Test
    void steppedClose_runsWhatWasAccepted_thenCancelsTheArmedTimers() {
        Kernel k = stepped();
        KernelReports rec = kernels.reports(k);
        Stepperless.acceptOneOfEach(k);
        CloseReport report = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertTrue(report.drained(), report.toString());
        assertFalse(report.droppedAcceptedWork(), report.toString());
        assertEquals(4, Stepperless.ran.get(), "work, tasklet, NET_RX and irq 5 ran");
        assertEquals(List.of("armed-timer"), report.cancelledTimers());
        assertEquals(List.of("armed-hrtimer"), report.cancelledHrtimers());
        assertEquals(List.of("delayed"), report.cancelledDelayedWork());
        assertEquals(List.of(), rec.ofKind(KernelEvent.Kind.WARN), rec.toString());
    }

    /** One accepted item of each mechanism, none of which has run yet, and three armed timers. */
    private static final class Stepperless {
        static final AtomicInteger ran = new AtomicInteger();

        static void acceptOneOfEach(Kernel k) {
            ran.set(0);
            k.bindCurrentThread(0);
            k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("pending-work", w -> ran.incrementAndGet()));
            k.tasklets().schedule(Tasklet.setup("pending-tasklet", t -> ran.incrementAndGet()));
            k.softirqs().open(SoftirqVector.NET_RX, ran::incrementAndGet);
            k.softirqs().raise(SoftirqVector.NET_RX);
            k.irqs().request(5, (irq, dev) -> {
                ran.incrementAndGet();
                return IrqReturn.HANDLED;
            }, Set.of(), "dev5", "d");
            k.irqs().setAffinity(5, 0);
            k.irqs().assertIrq(5);
            TimerList t = TimerList.setup("armed-timer", x -> ran.addAndGet(100), 0);
            k.timers().mod(t, k.jiffies() + 1000);
            HrTimer h = k.hrtimers().create("armed-hrtimer", x -> {
                ran.addAndGet(100);
                return HrTimer.Restart.NORESTART;
            }, HrTimers.mode(HrTimer.Mode.REL));
            k.hrtimers().start(h, 1_000_000_000L, HrTimers.mode(HrTimer.Mode.REL));
            k.workqueues().scheduleDelayed(new DelayedWork("delayed", w -> ran.addAndGet(100)), 1000);
        }
    }

    /** A kthread worker's queued items are accepted work: close runs them, and cancels its armed delayed ones. */
    @Test
    void steppedClose_runsAKthreadWorkersQueuedItems_andCancelsItsArmedDelayedOnes() {
        Kernel k = stepped();
        k.bindCurrentThread(0);
        AtomicInteger ran = new AtomicInteger();
        dev.bottomhalf.sched.KthreadWorker worker = k.kthreads().createWorker(0, "close-kw");
        k.kthreads().queueWork(worker, new dev.bottomhalf.sched.KthreadWork("kw-queued", w -> ran.incrementAndGet()));
        k.kthreads().queueDelayedWork(worker, new dev.bottomhalf.sched.KthreadDelayedWork("kw-delayed",
                w -> ran.addAndGet(100)), 1000);
        CloseReport report = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertEquals(1, ran.get(), "the queued item ran, the armed one did not");
        assertTrue(report.drained(), report.toString());
        assertEquals(List.of("kw-delayed"), report.cancelledDelayedWork());
        assertEquals(List.of(), report.droppedWork());
    }

    /** shutdownNow drops a kthread worker's queued items and names them; nothing lost silently. */
    @Test
    void shutdownNow_dropsAKthreadWorkersQueuedItems_andNamesThem() {
        Kernel k = stepped();
        KernelReports rec = kernels.reports(k);
        k.bindCurrentThread(0);
        AtomicInteger ran = new AtomicInteger();
        dev.bottomhalf.sched.KthreadWorker worker = k.kthreads().createWorker(0, "close-kw");
        k.kthreads().queueWork(worker, new dev.bottomhalf.sched.KthreadWork("kw-a", w -> ran.incrementAndGet()));
        k.kthreads().queueWork(worker, new dev.bottomhalf.sched.KthreadWork("kw-b", w -> ran.incrementAndGet()));
        CloseReport report = k.shutdownNow();
        assertEquals(0, ran.get());
        assertEquals(List.of("kw-a", "kw-b"), report.droppedWork());
        assertEquals(1, rec.matching("close: accepted work never ran").size(), rec.toString());
    }

    // ------------------------------------------------------------------------------------------
    // A call in flight across the close
    // ------------------------------------------------------------------------------------------

    /**
     * A {@code queue_work} that passed its entry check while the kernel was open and is held (in its
     * {@code workqueue_queue_work} tracepoint, before the item is published) until the close has returned: the
     * item it then queues is accepted — the call returns true — and is dropped and reported, by the call's own
     * thread, instead of staying queued for threads that no longer exist.
     */
    @Test
    void aQueueWorkInFlightAcrossTheClose_isDroppedAndReported_byTheCallItself() throws Exception {
        Kernel k = threaded(2);
        KernelReports rec = kernels.reports(k);
        Workqueue wq = k.workqueues().alloc("straddle", 0, 0);
        Work straddler = new Work("straddler", w -> fail("ran after the close"));
        CountDownLatch inCall = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        k.tracing().enable((point, timeNs, cpu, comm, detail) -> {
            if (detail.contains("struct=straddler")) {
                inCall.countDown();
                try {
                    release.await(TIMEOUT_S, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }, Set.of(dev.bottomhalf.runtime.Tracepoint.WORKQUEUE_QUEUE_WORK));
        AtomicReference<Object> queued = new AtomicReference<>();
        Thread producer = Thread.ofPlatform().name("straddling-producer").start(() -> {
            try {
                queued.set(k.workqueues().queueOn(0, wq, straddler));
            } catch (Throwable t) {
                queued.set(t);
            }
        });
        assertTrue(inCall.await(TIMEOUT_S, TimeUnit.SECONDS));
        CloseReport atClose = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertEquals(List.of(), atClose.droppedWork(), "the item was not published yet when the close swept");
        assertTrue(k.closeReport().isPresent());
        release.countDown();
        producer.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertEquals(Boolean.TRUE, queued.get(), "the call accepted the item");
        assertFalse(straddler.isPending(), "the item is not left pending");
        CloseReport last = k.closeReport().orElseThrow();
        assertEquals(List.of("straddler"), last.droppedWork(), last.toString());
        assertFalse(last.drained(), last.toString());
        List<KernelEvent> late = rec.matching("close: accepted work never ran (accepted by a call still in flight"
                + " when the kernel closed): 1 work item (straddler)");
        assertEquals(1, late.size(), rec.toString());
        assertEquals("straddling-producer", late.get(0).thread(), "reported by the call's own thread");
    }

    /** Before its close has ended a kernel has no close report; after it, the one close() returned. */
    @Test
    void closeReport_isEmptyUntilTheCloseEnded_thenWhatCloseReturned() {
        Kernel k = stepped();
        assertTrue(k.closeReport().isEmpty());
        CloseReport r = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertEquals(r, k.closeReport().orElseThrow());
    }

    // ------------------------------------------------------------------------------------------
    // After close
    // ------------------------------------------------------------------------------------------

    @Test
    void afterClose_aThreadStillBoundGetsKernelIsClosedOnce_andIsDetached_theCloserIsDetachedAtOnce()
            throws Exception {
        Kernel k = stepped();
        CountDownLatch bound = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        AtomicReference<String> first = new AtomicReference<>();
        AtomicReference<String> second = new AtomicReference<>();
        AtomicReference<ExecutionContext> after = new AtomicReference<>();
        Thread task = Thread.ofPlatform().name("bound-task").start(() -> {
            k.bindCurrentThread(1);
            assertEquals(k, Kernel.current());
            bound.countDown();
            try {
                closed.await();
            } catch (InterruptedException e) {
                return;
            }
            first.set(assertThrows(IllegalStateException.class, Kernel::current).getMessage());
            after.set(ExecutionContext.currentOrNull());
            second.set(assertThrows(IllegalStateException.class, Kernel::current).getMessage());
        });
        assertTrue(bound.await(TIMEOUT_S, TimeUnit.SECONDS));
        k.bindCurrentThread(0);
        k.close();
        assertNull(ExecutionContext.currentOrNull(), "close() detaches its own caller");
        closed.countDown();
        task.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertTrue(first.get().startsWith("kernel is closed: thread 'bound-task' was attached to a kernel that has been"
                + " closed"), first.get());
        assertNull(after.get(), "the binding was cleared");
        assertTrue(second.get().contains("is not attached to a kernel"), second.get());
    }

    @Test
    void aMsleepInProgress_failsWhenTheKernelCloses_insteadOfHangingForever() throws Exception {
        Kernel k = threaded(1);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        CountDownLatch sleeping = new CountDownLatch(1);
        Thread sleeper = Thread.ofPlatform().name("sleeper").start(() -> {
            k.bindCurrentThread(0);
            sleeping.countDown();
            try {
                k.timers().msleep(3_600_000);
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        assertTrue(sleeping.await(TIMEOUT_S, TimeUnit.SECONDS));
        while (sleeper.getState() != Thread.State.TIMED_WAITING && sleeper.isAlive()) {
            Thread.onSpinWait();
        }
        CloseReport report = k.close(Duration.ofSeconds(TIMEOUT_S));
        sleeper.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(sleeper.isAlive(), "msleep still sleeping after close");
        assertTrue(thrown.get() instanceof IllegalStateException, String.valueOf(thrown.get()));
        assertEquals("kernel is closed", thrown.get().getMessage());
        assertEquals(List.of(), report.cancelledTimers(), "the sleep's own timer is not the user's");
    }

    // ------------------------------------------------------------------------------------------
    // Close from inside the kernel
    // ------------------------------------------------------------------------------------------

    @Test
    void closeFromAWorkItem_isRefused_andTheKernelStaysUsable() throws Exception {
        Kernel k = threaded(1);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        k.workqueues().schedule(new Work("closer", w -> {
            try {
                k.close();
            } catch (Throwable t) {
                thrown.set(t);
            }
            done.countDown();
        }));
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertTrue(thrown.get() instanceof IllegalStateException, String.valueOf(thrown.get()));
        assertTrue(thrown.get().getMessage().startsWith("Kernel.close() called from kworker/0:"), thrown.get().getMessage());
        assertTrue(thrown.get().getMessage().endsWith("close it from a task thread"), thrown.get().getMessage());
        assertFalse(k.isClosed());
        CountDownLatch after = new CountDownLatch(1);
        k.workqueues().schedule(new Work("after", w -> after.countDown()));
        assertTrue(after.await(TIMEOUT_S, TimeUnit.SECONDS), "the kernel still runs work");
        k.close();
    }

    @Test
    void closeFromAHardirqHandler_isRefused() {
        Kernel k = stepped();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        k.irqs().request(3, (irq, dev) -> {
            try {
                k.close();
            } catch (Throwable t) {
                thrown.set(t);
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "closer", "c");
        k.irqs().setAffinity(3, 0);
        k.irqs().assertIrq(3);
        k.stepper().hardirq(0);
        assertTrue(thrown.get().getMessage().startsWith("Kernel.close() called from cpu/0 (hardirq"),
                thrown.get().getMessage());
        assertFalse(k.isClosed());
        k.close();
    }

    @Test
    void closeWithBottomHalvesDisabled_isRefused() {
        Kernel k = stepped();
        ExecutionContext ctx = k.bindCurrentThread(0);
        ctx.localBhDisable();
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class, k::close);
            assertTrue(e.getMessage().startsWith("Kernel.close() called in atomic context"), e.getMessage());
        } finally {
            ctx.localBhEnable();
        }
        k.close();
        assertTrue(k.isClosed());
    }

    @Test
    void aSecondCloser_waitsForTheFirst_andGetsItsReport() throws Exception {
        Kernel k = threaded(1);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        k.workqueues().schedule(new Work("holds-close", w -> {
            started.countDown();
            try {
                release.await(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                fail(e);
            }
        }));
        assertTrue(started.await(TIMEOUT_S, TimeUnit.SECONDS));
        AtomicReference<CloseReport> first = new AtomicReference<>();
        Thread closer = Thread.ofPlatform().name("first-closer").start(() -> first.set(k.close(Duration.ofSeconds(TIMEOUT_S))));
        while (!k.isClosed()) {
            Thread.onSpinWait();
        }
        AtomicReference<CloseReport> second = new AtomicReference<>();
        Thread other = Thread.ofPlatform().name("second-closer").start(() -> second.set(k.close(Duration.ZERO)));
        Thread.sleep(50);
        assertTrue(other.isAlive(), "the second close returned before the first ended");
        release.countDown();
        closer.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        other.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertTrue(first.get().drained());
        assertEquals(first.get(), second.get());
    }
}
