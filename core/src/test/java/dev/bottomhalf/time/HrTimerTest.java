package dev.bottomhalf.time;

import static dev.bottomhalf.time.HrTimer.Mode.ABS;
import static dev.bottomhalf.time.HrTimer.Mode.HARD;
import static dev.bottomhalf.time.HrTimer.Mode.PINNED;
import static dev.bottomhalf.time.HrTimer.Mode.REL;
import static dev.bottomhalf.time.HrTimer.Mode.SOFT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.trace.TraceBuffer;

/**
 * High-resolution timers ({@code hrtimer_start}, {@code hrtimer_cancel}, {@code hrtimer_forward};
 * docs/subsystems/timer.md, "High-resolution timers"), stepped with a manual clock moved nanosecond by
 * nanosecond.
 */
class HrTimerTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private HrTimers hr;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        hr = kernel.hrtimers();
        kernel.bindCurrentThread(0);
    }

    private void advanceNs(long ns) {
        stepper.clock().advanceNanos(ns);
        stepper.hardirq(0);
        stepper.hardirq(1);
    }

    private String where() {
        ExecutionContext c = kernel.context();
        return c.name() + (c.inHardirq() ? " hardirq" : "") + (c.inServingSoftirq() ? " softirq" : "");
    }

    @Test
    void hardTimer_firesInHardirq_onTheNanosecond_neverEarly() {
        HrTimer t = hr.create("h", x -> {
            log.add("h@" + where());
            return HrTimer.Restart.NORESTART;
        }, EnumSet.of(HARD));
        hr.start(t, 1_500, EnumSet.of(REL));
        assertTrue(t.isQueued());
        advanceNs(1_499);
        assertEquals(List.of(), log);
        advanceNs(1);
        assertEquals(List.of("h@cpu/0 hardirq"), log);
        assertFalse(hr.active(t));
        assertEquals(1, hr.interrupts(0));
        assertTrue(kernel.proc().interrupts().matches("(?s).*LOC: +1 +0 +Local timer interrupts\n.*"));
    }

    @Test
    void softTimer_firesInHrtimerSoftirq() {
        HrTimer t = hr.create("s", x -> {
            log.add("s@" + where());
            return HrTimer.Restart.NORESTART;
        }, EnumSet.of(SOFT));
        hr.start(t, 10_000, EnumSet.of(REL, SOFT));
        advanceNs(10_000);
        assertEquals(List.of("s@cpu/0 softirq"), log);
        assertEquals(1, kernel.softirqs().count(0, SoftirqVector.HRTIMER));
    }

    @Test
    void timersExpireInOrder_equalExpiriesInArmingOrder() {
        long base = hr.now();
        for (String n : new String[] {"c", "a", "b", "a2"}) {
            HrTimer t = hr.create(n, x -> {
                log.add(x.name());
                return HrTimer.Restart.NORESTART;
            }, Set.of());
            long at = switch (n) {
                case "a", "a2" -> 100;
                case "b" -> 200;
                default -> 300;
            };
            hr.start(t, base + at, EnumSet.of(ABS));
        }
        advanceNs(1_000);
        assertEquals(List.of("a", "a2", "b", "c"), log);
    }

    @Test
    void startOnAQueuedTimer_movesIt_cancelReturnValues() {
        HrTimer t = hr.create("m", x -> {
            log.add("m");
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        assertEquals(0, hr.tryToCancel(t), "inactive");
        hr.start(t, 1_000, EnumSet.of(REL));
        hr.start(t, 5_000, EnumSet.of(REL));
        assertEquals(1, hr.queued(0), "re-queued, not added twice");
        advanceNs(1_000);
        assertEquals(List.of(), log);
        assertEquals(1, hr.cancel(t), "was queued");
        assertEquals(0, hr.cancel(t), "not any more");
        advanceNs(10_000);
        assertEquals(List.of(), log);
    }

    @Test
    void forward_ofAnIntervalBelowTheResolution_usesTheResolution() {
        HrTimer t = hr.create("f", x -> HrTimer.Restart.NORESTART, Set.of());
        t.setExpires(100);
        assertEquals(6, hr.forward(t, 105, 0), "interval 0 is hrtimer_resolution (1 ns): 100 -> 106");
        assertEquals(106, t.expires());
        assertEquals(106, t.softExpires());
    }

    @Test
    void forward_ofAQueuedTimerThatIsNotDue_returns0WithoutAWarning_theDeltaIsCheckedFirst() {
        HrTimer t = hr.create("q", x -> HrTimer.Restart.NORESTART, Set.of());
        hr.start(t, 1_000_000, EnumSet.of(REL));
        assertEquals(0, hr.forward(t, hr.now(), 100));
        assertTrue(reports.matching("hrtimer_forward").isEmpty(), reports.toString());
        hr.cancel(t);
    }

    @Test
    void forward_countsOverruns_andAPeriodicTimerRestarts() {
        HrTimer t = hr.create("f", x -> HrTimer.Restart.NORESTART, Set.of());
        t.setExpires(100);
        assertEquals(10, hr.forward(t, 1_050, 100));
        assertEquals(1_100, t.expires());
        assertEquals(0, hr.forward(t, 1_050, 100), "already after now");
        assertEquals(1, hr.forward(t, 1_100, 100), "exactly due: one interval");
        assertEquals(1_200, t.expires());

        AtomicLong runs = new AtomicLong();
        AtomicLong overruns = new AtomicLong();
        HrTimer periodic = hr.create("periodic", x -> {
            runs.incrementAndGet();
            overruns.addAndGet(hr.forwardNow(x, 1_000) - 1);
            return runs.get() < 5 ? HrTimer.Restart.RESTART : HrTimer.Restart.NORESTART;
        }, Set.of());
        hr.start(periodic, 1_000, EnumSet.of(REL));
        for (int i = 0; i < 3; i++) {
            advanceNs(1_000);
        }
        assertEquals(3, runs.get());
        advanceNs(2_500); // the next interrupt comes 1.5 periods after the expiry: one run, one missed period
        assertEquals(4, runs.get());
        assertEquals(1, overruns.get());
        advanceNs(10_000);
        assertEquals(5, runs.get());
        assertFalse(hr.active(periodic));
    }

    @Test
    void rangeTimer_expiresWithAnEarlierInterrupt_insideItsRange() {
        HrTimer ranged = hr.create("ranged", x -> {
            log.add("ranged@" + hr.now());
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        HrTimer other = hr.create("other", x -> {
            log.add("other@" + hr.now());
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        long t0 = hr.now();
        hr.startRange(ranged, t0 + 1_000, 500, EnumSet.of(ABS));
        hr.start(other, t0 + 1_200, EnumSet.of(ABS));
        advanceNs(1_100);
        assertEquals(List.of(), log, "the interrupt is programmed for the range's end (1500) and other (1200)");
        advanceNs(100);
        assertEquals(List.of("other@" + (t0 + 1_200), "ranged@" + (t0 + 1_200)), log,
                "the ranged timer rides along with the interrupt at 1200, inside its range");
    }

    @Test
    void cancelFromTheOwnCallback_isReported_andTryToCancelSaysRunning() {
        AtomicInteger seen = new AtomicInteger(99);
        HrTimer t = hr.create("self", x -> {
            seen.set(hr.tryToCancel(x));
            hr.cancel(x);
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        hr.start(t, 10, EnumSet.of(REL));
        advanceNs(10);
        assertEquals(-1, seen.get());
        assertEquals(1, reports.matching("BUG: hrtimer_cancel(self) called from the timer's own callback").size());
    }

    @Test
    void cancel_waitsForACallbackRunningOnAnotherCpu() throws Exception {
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        HrTimer t = hr.create("slow", x -> {
            inside.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            log.add("done");
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        kernel.bindCurrentThread(1);
        hr.start(t, 10, EnumSet.of(REL, PINNED));
        kernel.bindCurrentThread(0);
        stepper.clock().advanceNanos(10);
        Thread cpu1 = Thread.ofPlatform().start(() -> stepper.hardirq(1));
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        assertTrue(hr.callbackRunning(t));
        assertEquals(-1, hr.tryToCancel(t));
        hr.start(t, 1_000_000, EnumSet.of(REL));
        assertEquals(1, t.cpu(), "started while its callback runs on CPU 1: it stays there");
        CountDownLatch cancelled = new CountDownLatch(1);
        Thread canceller = Thread.ofPlatform().start(() -> {
            kernel.bindCurrentThread(0);
            hr.cancel(t);
            cancelled.countDown();
            kernel.detachCurrentThread();
        });
        assertFalse(cancelled.await(50, TimeUnit.MILLISECONDS), "hrtimer_cancel returned while the callback ran");
        release.countDown();
        assertTrue(cancelled.await(10, TimeUnit.SECONDS));
        cpu1.join();
        canceller.join();
        assertEquals(List.of("done"), log);
        assertFalse(hr.active(t));
    }

    @Test
    void throwingCallback_isAnOops_andTheCpuGoesOn() {
        HrTimer bad = hr.create("bad", x -> {
            throw new IllegalStateException("boom");
        }, Set.of());
        HrTimer good = hr.create("good", x -> {
            log.add("good");
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        hr.start(bad, 10, EnumSet.of(REL));
        hr.start(good, 20, EnumSet.of(REL));
        advanceNs(20);
        assertEquals(List.of("good"), log);
        assertEquals(1, reports.ofKind(KernelEvent.Kind.OOPS).size());
    }

    @Test
    void tracepoints() {
        TraceBuffer trace = new TraceBuffer(32);
        kernel.tracing().enable(trace, EnumSet.of(Tracepoint.HRTIMER_START, Tracepoint.HRTIMER_CANCEL,
                Tracepoint.HRTIMER_EXPIRE_ENTRY, Tracepoint.HRTIMER_EXPIRE_EXIT));
        HrTimer t = hr.create("tr", x -> HrTimer.Restart.NORESTART, Set.of());
        hr.start(t, 10, EnumSet.of(REL));
        advanceNs(10);
        hr.start(t, 10, EnumSet.of(REL));
        hr.cancel(t);
        assertEquals(List.of(Tracepoint.HRTIMER_START, Tracepoint.HRTIMER_EXPIRE_ENTRY, Tracepoint.HRTIMER_EXPIRE_EXIT,
                Tracepoint.HRTIMER_START, Tracepoint.HRTIMER_CANCEL),
                trace.entries().stream().map(TraceBuffer.Entry::point).toList());
    }

    @Test
    void threaded_hrtimerFiresOnItsCpuThread_neverEarly() throws InterruptedException {
        Kernel k = kernels.bootThreaded(b -> { });
        k.bindCurrentThread(1);
        HrTimers h = k.hrtimers();
        CountDownLatch fired = new CountDownLatch(1);
        AtomicLong at = new AtomicLong();
        List<String> thread = new ArrayList<>();
        HrTimer t = h.create("rt", x -> {
            at.set(h.now());
            thread.add(Thread.currentThread().getName());
            fired.countDown();
            return HrTimer.Restart.NORESTART;
        }, Set.of());
        long expires = h.now() + 2_000_000;
        h.start(t, expires, EnumSet.of(ABS));
        assertTrue(fired.await(10, TimeUnit.SECONDS));
        assertTrue(at.get() >= expires, "fired " + (expires - at.get()) + " ns early");
        assertEquals(List.of("cpu/1"), thread);
    }
}
