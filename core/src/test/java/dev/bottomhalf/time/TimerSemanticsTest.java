package dev.bottomhalf.time;

import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.trace.TraceBuffer;

/**
 * Kernel timers ({@code timer_setup}, {@code add_timer}, {@code mod_timer}, {@code timer_reduce},
 * {@code timer_delete}, {@code timer_delete_sync}, the wheel's rounding; docs/subsystems/timer.md), in
 * stepped mode with a manual clock: the test moves the clock jiffy by jiffy and takes each CPU's pending
 * interrupts (the tick among them), so every expiry is checked on the exact tick on which it happens.
 */
class TimerSemanticsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).with(b -> b.irqLines(16));
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private Timers timers;
    private ExecutionContext task;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        timers = kernel.timers();
        task = kernel.bindCurrentThread(0);
    }

    private long jiffies() {
        return kernel.jiffies();
    }

    /** A timer that logs "name@jiffies" when it fires. */
    private TimerList logging(String name, int flags) {
        return TimerList.setup(name, t -> log.add(t.name() + "@" + (jiffies() - origin)), flags);
    }

    private long origin;

    /** Moves the clock to a jiffy aligned to 2^shift and makes it the origin of logged times. */
    private void alignOrigin(int shift) {
        long j = jiffies();
        long aligned = ((j >>> shift) + 1) << shift;
        stepper.advanceToJiffy(aligned);
        origin = aligned;
        stepper.runUntilIdle();
    }

    /** One jiffy passes; both CPUs take what is pending (the tick runs TIMER_SOFTIRQ at its irq_exit). */
    private void tick() {
        stepper.advanceJiffies(1);
        stepper.hardirq(0);
        stepper.hardirq(1);
    }

    private void ticks(int n) {
        for (int i = 0; i < n; i++) {
            tick();
        }
    }

    @Test
    void modTimerJiffiesPlusOne_runsTwoTicksLater() {
        alignOrigin(0);
        TimerList t = logging("t", 0);
        timers.mod(t, jiffies() + 1);
        tick();
        assertEquals(List.of(), log, "not on the tick that makes jiffies == expires");
        tick();
        assertEquals(List.of("t@2"), log);
    }

    @Test
    void roundingExamples_fireOnTheKernelsTick() {
        alignOrigin(12);
        long[] offsets = {62, 63, 64, 100, 600};
        for (long off : offsets) {
            timers.mod(logging("e" + off, 0), origin + off);
        }
        ticks(700);
        assertEquals(List.of("e62@63", "e63@64", "e64@72", "e100@104", "e600@640"), log);
        // And the pure function agrees, from base clock 0.
        int depth = timers.wheelDepth();
        assertEquals(63, TimerWheel.firesAt(62, 0, depth));
        assertEquals(64, TimerWheel.firesAt(63, 0, depth));
        assertEquals(72, TimerWheel.firesAt(64, 0, depth));
        assertEquals(104, TimerWheel.firesAt(100, 0, depth));
        assertEquals(640, TimerWheel.firesAt(600, 0, depth));
    }

    @Test
    void modAfter_isModTimerJiffiesPlusDelay_evenOnABaseThatSleptThroughManyTicks() {
        alignOrigin(12);
        // Nothing ran for 1000 jiffies: both CPUs' base clocks lag, so arming must forward the base with
        // the same jiffies the expiry is computed from, or the timer lands on a coarser level and fires late.
        stepper.advanceJiffies(1000);
        long now = jiffies();
        TimerList relative = logging("after", 0);
        TimerList absolute = logging("abs", 0);
        assertEquals(0, timers.modAfter(relative, 100), "inactive → 0");
        assertEquals(now + 100, relative.expires());
        timers.mod(absolute, now + 100);
        assertEquals(1, timers.modAfter(relative, 100), "active → 1");
        ticks(1200);
        // 1000 + 100 = 1100 is not on a level-1 boundary: both round to 1104, the kernel's tick for delta 100
        // (one bucket; a bucket is a stack, so the later-armed one runs first).
        assertEquals(List.of("abs@1104", "after@1104"), log);
        assertThrows(IllegalArgumentException.class, () -> timers.modAfter(relative, -1));
    }

    @Test
    void modTimerReturnValues_andSameExpiryDoesNotMoveIt() {
        TraceBuffer trace = new TraceBuffer(64);
        kernel.tracing().enable(trace, Set.of(Tracepoint.TIMER_START, Tracepoint.TIMER_CANCEL));
        TimerList t = logging("t", 0);
        long e = jiffies() + 100;
        assertEquals(0, timers.mod(t, e), "inactive → 0");
        assertEquals(1, timers.mod(t, e + 50), "active → 1");
        int events = trace.entries().size();
        assertEquals(1, timers.mod(t, e + 50), "same expires on an active timer → 1");
        assertEquals(events, trace.entries().size(), "and nothing was dequeued or enqueued");
        assertEquals(e + 50, t.expires());
        assertTrue(t.isPending());
    }

    @Test
    void modTimerPendingOnInactive_returns0_andStaysInactive() {
        TimerList t = logging("t", 0);
        assertEquals(0, timers.modPending(t, jiffies() + 10));
        assertFalse(t.isPending());
        ticks(20);
        assertEquals(List.of(), log);
        timers.mod(t, jiffies() + 10);
        assertEquals(1, timers.modPending(t, jiffies() + 5));
        assertEquals(jiffies() + 5, t.expires());
    }

    @Test
    void timerReduce_onlyMovesEarlier() {
        alignOrigin(12);
        TimerList t = logging("t", 0);
        timers.mod(t, origin + 1000);
        assertEquals(1, timers.reduce(t, origin + 2000), "later: returns 1 and does not move");
        assertEquals(origin + 1000, t.expires());
        assertEquals(1, timers.reduce(t, origin + 500), "earlier: moved");
        assertEquals(origin + 500, t.expires());
        ticks(1100);
        assertEquals(List.of("t@504"), log, "fires at 500's bucket (level 1, 8-jiffy granularity)");
        TimerList u = logging("u", 0);
        assertEquals(0, timers.reduce(u, jiffies() + 3), "inactive: armed, returns 0");
        assertTrue(u.isPending());
    }

    @Test
    void addTimerOnAPendingTimer_warnsOnce_andChangesNothing() {
        alignOrigin(6);
        TimerList t = logging("t", 0);
        t.expires(origin + 10);
        timers.add(t);
        t.expires(origin + 30);
        timers.add(t);
        timers.add(t);
        assertEquals(1, reports.matching("WARNING: add_timer(t) of a pending timer is ignored").size());
        ticks(40);
        assertEquals(List.of("t@11"), log, "still fires at its first expiry");
    }

    @Test
    void timerDelete_returnValues_andADeletedTimerNeverRuns() {
        TimerList t = logging("t", 0);
        assertEquals(0, timers.delete(t));
        timers.mod(t, jiffies() + 5);
        assertEquals(1, timers.delete(t));
        assertFalse(t.isPending());
        ticks(20);
        assertEquals(List.of(), log);
    }

    @Test
    void deleteWhileTheCallbackRunsOnAnotherCpu_returns0AtOnce_syncWaits() throws Exception {
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TimerList t = TimerList.setup("slow", x -> {
            inside.countDown();
            await(release);
            log.add("done");
        }, 0);
        t.expires(jiffies() + 1);
        timers.addOn(t, 1);
        stepper.advanceJiffies(2);
        Thread cpu1 = Thread.ofPlatform().name("plays cpu/1").start(() -> stepper.hardirq(1));
        await(inside);
        assertEquals(0, timers.delete(t), "not pending: returns 0 immediately");
        assertEquals(-1, timers.deleteSyncTry(t), "its callback is running");
        CountDownLatch synced = new CountDownLatch(1);
        Thread deleter = Thread.ofPlatform().name("deleter").start(() -> {
            kernel.bindCurrentThread(0);
            timers.deleteSync(t);
            synced.countDown();
            kernel.detachCurrentThread();
        });
        assertFalse(synced.await(50, TimeUnit.MILLISECONDS), "timer_delete_sync returned while the callback ran");
        release.countDown();
        assertTrue(synced.await(10, TimeUnit.SECONDS));
        cpu1.join();
        deleter.join();
        assertEquals(List.of("done"), log);
    }

    private static void await(CountDownLatch latch) {
        try {
            assertTrue(latch.await(10, TimeUnit.SECONDS), "timed out");
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void deleteSyncFromTheTimersOwnCallback_isReportedInsteadOfAHang() {
        AtomicInteger result = new AtomicInteger(99);
        TimerList t = TimerList.setup("self", x -> result.set(timers.deleteSync(x)), 0);
        timers.mod(t, jiffies() + 1);
        ticks(3);
        assertEquals(0, result.get());
        assertEquals(1, reports.matching("WARNING: possible recursive locking detected: timer_delete_sync(self)"
                + " called from the timer's own callback").size());
    }

    @Test
    void shutdownSync_thenModTimer_returns0_andNeverRuns_untilSetUpAgain() {
        TimerList t = logging("t", 0);
        timers.mod(t, jiffies() + 5);
        assertEquals(1, timers.shutdownSync(t));
        assertTrue(t.isShutDown());
        assertEquals(0, timers.mod(t, jiffies() + 2));
        assertFalse(t.isPending());
        t.expires(jiffies() + 1);
        timers.add(t);
        assertFalse(t.isPending(), "add_timer is ignored silently too");
        ticks(10);
        assertEquals(List.of(), log);
        assertEquals(0, reports.ofKind(KernelEvent.Kind.WARNING).size());
        timers.setup(t, "t", x -> log.add("again"), 0);
        assertEquals(0, timers.mod(t, jiffies() + 1));
        ticks(3);
        assertEquals(List.of("again"), log);
    }

    @Test
    void callbackRearmingForNow_runsAgainOnTheNextTick_notInTheSamePass() {
        alignOrigin(0);
        AtomicInteger runs = new AtomicInteger();
        TimerList t = TimerList.setup("again", x -> {
            log.add("run@" + (jiffies() - origin));
            if (runs.incrementAndGet() < 3) {
                timers.mod(x, jiffies());
            }
        }, 0);
        timers.mod(t, origin + 1);
        ticks(2);
        assertEquals(List.of("run@2"), log);
        tick();
        assertEquals(List.of("run@2", "run@3"), log, "once per tick: the base clock is one ahead during expiry");
        tick();
        assertEquals(List.of("run@2", "run@3", "run@4"), log);
        ticks(5);
        assertEquals(3, runs.get());
    }

    @Test
    void expiryBeyondTheWheel_isClamped_toTheLastLevel() {
        int depth = timers.wheelDepth();
        assertEquals(9, depth);
        assertEquals(1_040_187_392L, TimerWheel.timeoutMax(depth));
        alignOrigin(24);
        TimerList t = logging("far", 0);
        timers.mod(t, origin + (1L << 31)); // ~24.8 days at HZ=1000, beyond WHEEL_TIMEOUT_MAX (~12 days)
        long clamped = origin + TimerWheel.timeoutMax(depth);
        long bucket = ((clamped >>> 24) + 1) << 24;
        assertEquals(bucket, TimerWheel.firesAt(origin + (1L << 31), origin, depth));
        stepper.advanceToJiffy(bucket - 1);
        stepper.hardirq(0);
        stepper.hardirq(1);
        assertEquals(List.of(), log);
        tick();
        assertEquals(List.of("far@" + (bucket - origin)), log, "fires at clk + WHEEL_TIMEOUT_MAX rounded up to level 8");
    }

    @Test
    void callbackLeakingPreemptCount_isWarnedAbout_andRestored() {
        TimerList t = TimerList.setup("leaky", x -> kernel.context().preemptDisable(), 0);
        timers.mod(t, jiffies() + 1);
        ticks(2);
        assertEquals(1, reports.matching("timer: leaky preempt leak: 00000100 -> 00000101").size());
        assertEquals(0, Internals.machine(kernel).cpu(0).cpuContext().preemptCount());
    }

    @Test
    void irqsafeTimer_runsWithIrqsOff_andMaySyncDeleteFromHardirq() {
        List<Boolean> irqsOff = new ArrayList<>();
        TimerList safe = TimerList.setup("safe", x -> irqsOff.add(kernel.context().irqsDisabled()), TimerList.TIMER_IRQSAFE);
        TimerList plain = TimerList.setup("plain", x -> irqsOff.add(kernel.context().irqsDisabled()), 0);
        timers.mod(safe, jiffies() + 1);
        timers.mod(plain, jiffies() + 1);
        ticks(2);
        assertEquals(2, irqsOff.size());
        assertTrue(irqsOff.contains(true) && irqsOff.contains(false));
        kernel.irqs().request(5, (irq, dev) -> {
            timers.deleteSync(safe);
            timers.deleteSync(plain);
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "d");
        kernel.irqs().setAffinity(5, 0);
        kernel.irqs().assertIrq(5);
        stepper.hardirq(0);
        assertEquals(0, reports.matching("timer_delete_sync(safe) in hard-IRQ context").size());
        assertEquals(1, reports.matching("WARNING: timer_delete_sync(plain) in hard-IRQ context on a timer without"
                + " TIMER_IRQSAFE").size());
    }

    @Test
    void deferrableTimerOnAnIdleCpu_waitsUntilTheCpuWakesForSomethingElse() {
        TimerList t = logging("lazy", TimerList.TIMER_DEFERRABLE);
        origin = jiffies();
        timers.mod(t, jiffies() + 5);
        ticks(100);
        assertEquals(List.of(), log, "an idle CPU does not wake for a deferrable timer");
        assertEquals(0, timers.localTimerInterrupts(0), "nor does it tick at all");
        kernel.irqs().request(3, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "nic", "n");
        kernel.irqs().setAffinity(3, 0);
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);
        assertEquals(List.of("lazy@100"), log, "serviced once the CPU is awake for an interrupt");
    }

    @Test
    void nonDeferrableTimer_wakesTheCpu_andCallbackRunsInTimerSoftirqOnItsCpu() {
        List<String> where = new ArrayList<>();
        TimerList t = TimerList.setup("w", x -> {
            ExecutionContext c = kernel.context();
            where.add(c.name() + " cpu" + c.cpuId() + " serving=" + c.inServingSoftirq() + " hardirq=" + c.inHardirq());
        }, 0);
        timers.addOn(t, 1);
        assertTrue((t.flags() & TimerList.TIMER_PINNED) != 0, "add_timer_on sets TIMER_PINNED");
        assertEquals(1, t.cpu());
        stepper.advanceJiffies(2);
        assertTrue(stepper.hasWork("cpu/1"), "the tick of CPU 1 is due");
        assertFalse(stepper.hasWork("cpu/0"));
        stepper.hardirq(1);
        assertEquals(List.of("cpu/1 cpu1 serving=true hardirq=false"), where);
        assertEquals(1, kernel.softirqs().count(1, SoftirqVector.TIMER));
        assertEquals(1, timers.localTimerInterrupts(1));
    }

    @Test
    void modTimer_armsOnTheCallingCpu_exceptWhileItsCallbackRunsThere() throws Exception {
        TimerList t = logging("m", 0);
        timers.mod(t, jiffies() + 10);
        assertEquals(0, t.cpu());
        kernel.bindCurrentThread(1);
        timers.mod(t, jiffies() + 20);
        assertEquals(1, t.cpu(), "a pending global timer follows mod_timer to the calling CPU");
        timers.delete(t);
        kernel.bindCurrentThread(0);

        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TimerList r = TimerList.setup("r", x -> {
            inside.countDown();
            await(release);
        }, 0);
        kernel.bindCurrentThread(1);
        timers.mod(r, jiffies() + 1);
        kernel.bindCurrentThread(0);
        stepper.advanceJiffies(2);
        Thread cpu1 = Thread.ofPlatform().name("plays cpu/1").start(() -> stepper.hardirq(1));
        await(inside);
        assertEquals(0, timers.mod(r, jiffies() + 5), "was not pending");
        assertEquals(1, r.cpu(), "re-armed from CPU 0 while its callback runs on CPU 1: it stays on CPU 1");
        release.countDown();
        cpu1.join();
        timers.mod(r, jiffies() + 6);
        assertEquals(0, r.cpu(), "once the callback is done, mod_timer moves it to the calling CPU");
    }

    @Test
    void throwingCallback_isAnOops_andTheOtherTimersOfThePassStillRun() {
        TimerList bad = TimerList.setup("bad", x -> {
            throw new IllegalStateException("boom");
        }, 0);
        TimerList good = logging("good", 0);
        origin = jiffies();
        timers.mod(bad, jiffies() + 1);
        timers.mod(good, jiffies() + 1);
        ticks(2);
        assertEquals(List.of("good@2"), log);
        assertEquals(1, reports.ofKind(KernelEvent.Kind.OOPS).size());
    }

    @Test
    void timerThatWasNeverSetUp_isRefused_withTheRuleInTheMessage() {
        TimerList t = new TimerList();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> timers.mod(t, jiffies() + 1));
        assertTrue(e.getMessage().contains("never set up"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TimerList.setup("x", x -> { }, 0x1));
        timers.setup(t, "masked", x -> { }, TimerList.TIMER_PINNED | 0x1);
        assertEquals(1, reports.matching("WARNING: timer_setup(masked): flags 0x1 are not timer_setup flags").size());
        assertEquals(TimerList.TIMER_PINNED, t.flags() & ~TimerList.TIMER_CPUMASK);
    }

    @Test
    void tracepoints_startCancelExpireEntryExit() {
        TraceBuffer trace = new TraceBuffer(64);
        kernel.tracing().enable(trace, EnumSet.of(Tracepoint.TIMER_START, Tracepoint.TIMER_CANCEL,
                Tracepoint.TIMER_EXPIRE_ENTRY, Tracepoint.TIMER_EXPIRE_EXIT));
        TimerList t = logging("traced", 0);
        timers.mod(t, jiffies() + 1);
        ticks(2);
        List<Tracepoint> seen = trace.entries().stream().map(TraceBuffer.Entry::point).toList();
        assertEquals(List.of(Tracepoint.TIMER_START, Tracepoint.TIMER_CANCEL, Tracepoint.TIMER_EXPIRE_ENTRY,
                Tracepoint.TIMER_EXPIRE_EXIT), seen);
        assertTrue(trace.entries().get(0).detail().startsWith("timer=traced function=traced expires="),
                trace.entries().get(0).detail());
    }

    @Test
    void scheduleTimeout_inSteppedMode_simulatesTheSleep_andOtherTimersFireOnTheWay() {
        alignOrigin(0);
        TimerList other = logging("other", 0);
        timers.mod(other, origin + 3);
        long left = timers.scheduleTimeoutUninterruptible(10);
        assertEquals(0, left);
        assertTrue(jiffies() - origin >= 11, "slept at least 10 jiffies: now " + (jiffies() - origin));
        assertEquals(List.of("other@4"), log);
        timers.msleep(5);
        assertTrue(jiffies() - origin >= 16);
    }

    @Test
    void scheduleTimeout_negative_printsTheKernelsError_andReturns0() {
        assertEquals(0, timers.scheduleTimeoutInterruptible(-1));
        assertEquals(1, reports.matching("schedule_timeout: wrong timeout value ffffffffffffffff").size());
    }

    @Test
    void msleep_inAtomicContext_isReportedAsSleepingInInvalidContext() {
        task.localBhDisable();
        timers.msleep(1);
        task.localBhEnable();
        assertEquals(1, reports.matching("BUG: sleeping function called from invalid context").size());
    }

    @Test
    void usleepRange_inSteppedMode_movesTheClockByTheMinimum() {
        long before = stepper.clock().nanoTime();
        timers.usleepRange(150, 200);
        assertEquals(150_000, stepper.clock().nanoTime() - before);
    }

    @Test
    void jiffiesStartFiveMinutesBeforeThe32BitWrap_atEveryHz() {
        for (int hz : new int[] {100, 250, 300, 1000}) {
            Kernel k = kernels.boot(b -> b.cpus(1).hz(hz));
            assertEquals((1L << 32) - 300L * hz, k.jiffies());
            Stepper s = k.stepper();
            s.advanceJiffies(1);
            assertEquals((1L << 32) - 300L * hz + 1, k.jiffies(), "one jiffy at HZ=" + hz);
            s.advance(300, TimeUnit.SECONDS);
            assertEquals((1L << 32) + 1, k.jiffies(), "the 32-bit half wrapped after 300 s at HZ=" + hz);
            assertEquals(hz > 100 ? 9 : 8, k.timers().wheelDepth());
        }
    }

    @Test
    void timersFireAcrossThe32BitWrap() {
        long wrap = 1L << 32;
        stepper.advanceToJiffy(wrap - 10);
        origin = jiffies();
        TimerList t = logging("wrap", 0);
        timers.mod(t, wrap + 5);
        ticks(14);
        assertEquals(List.of(), log);
        ticks(2);
        assertEquals(List.of("wrap@16"), log);
    }
}
