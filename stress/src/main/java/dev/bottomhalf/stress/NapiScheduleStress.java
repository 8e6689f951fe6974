package dev.bottomhalf.stress;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.I_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;

/**
 * The NAPI state word under races (stepped kernels, so every sample is independent and each actor plays a CPU
 * context explicitly).
 */
public class NapiScheduleStress {

    private static Kernel stepped() {
        return Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1).stepped().reporter(Reporter.silent()).build());
    }

    /**
     * The poll on CPU 0 completes ({@code napi_complete_done}) while an interrupt on CPU 1 schedules the instance
     * ({@code napi_schedule}): either the schedule lands first — it only sets MISSED, and the completion sees it,
     * keeps SCHED and queues the instance again (false, false) — or the completion lands first — it clears SCHED
     * and the schedule takes it and queues the instance (true, true). Either way the instance ends scheduled and
     * on a poll list: no poll is lost. Outcome: (complete returned true, schedule returned true, scheduled and
     * queued). (Checked by making {@code napi_complete_done} clear SCHED even when MISSED is set: "0, 0, 0" appears.)
     */
    @JCStressTest
    @Outcome(id = {"0, 0, 1", "1, 1, 1"}, expect = Expect.ACCEPTABLE,
            desc = "the schedule merged into MISSED and the completion re-queued, or the schedule queued it anew")
    @Outcome(expect = Expect.FORBIDDEN, desc = "a poll was lost, or queued twice")
    @State
    public static class ScheduleRacesComplete {
        final Kernel kernel = stepped();
        final NetDevice dev = new NetDevice("eth0");
        final NapiStruct n = new NapiStruct();

        public ScheduleRacesComplete() {
            kernel.napi().add(dev, n, (me, budget) -> 0);
            kernel.napi().enable(n);
            kernel.napi().schedulePrep(n);      // the poll on CPU 0 owns the instance: SCHED set, on no list
        }

        @Actor
        public void cpu0Completes(III_Result r) {
            kernel.bindCurrentThread(0);
            r.r1 = kernel.napi().completeDone(n, 0) ? 1 : 0;
        }

        @Actor
        public void cpu1Interrupt(III_Result r) {
            kernel.bindCurrentThread(1);
            r.r2 = kernel.napi().schedule(n) ? 1 : 0;
        }

        @Arbiter
        public void check(III_Result r) {
            boolean queued0 = !kernel.napi().pollListEmpty(0);
            boolean queued1 = !kernel.napi().pollListEmpty(1);
            r.r3 = n.isScheduled() && (queued0 ^ queued1) ? 1 : 0;
        }
    }

    /**
     * Two interrupts on two CPUs schedule the same idle instance at once: SCHED's compare-and-set lets exactly one
     * of them queue it; the other sets MISSED. Outcome: how many poll lists hold it (exactly 1).
     */
    @JCStressTest
    @Outcome(id = "1", expect = Expect.ACCEPTABLE, desc = "queued once")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost or queued twice")
    @State
    public static class ConcurrentSchedules {
        final Kernel kernel = stepped();
        final NetDevice dev = new NetDevice("eth0");
        final NapiStruct n = new NapiStruct();

        public ConcurrentSchedules() {
            kernel.napi().add(dev, n, (me, budget) -> 0);
            kernel.napi().enable(n);
        }

        @Actor
        public void cpu0() {
            kernel.bindCurrentThread(0);
            kernel.napi().schedule(n);
        }

        @Actor
        public void cpu1() {
            kernel.bindCurrentThread(1);
            kernel.napi().schedule(n);
        }

        @Arbiter
        public void check(I_Result r) {
            r.r1 = (kernel.napi().pollListEmpty(0) ? 0 : 1) + (kernel.napi().pollListEmpty(1) ? 0 : 1);
        }
    }

    /**
     * An interrupt on CPU 0 schedules instance b while CPU 0's NET_RX ({@code net_rx_action}, as ksoftirqd) is
     * finishing the poll of instance a. A schedule that finds {@code in_net_rx_action} set does not raise NET_RX
     * (the action looks at the list again before it ends), so the flag must be cleared under the list's lock: b
     * is then either seen by the running action or raised anew, and polled once in all. Outcome: b's polls
     * after CPU 0's softirqs are drained. (Not yet seen failing: with the flag cleared after the lock is released,
     * {@code -m quick} found no lost poll — the window is a few instructions wide against a whole softirq pass.)
     */
    @JCStressTest
    @Outcome(id = "1", expect = Expect.ACCEPTABLE, desc = "polled by the running action or by the one it raised")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost (queued with NET_RX not raised) or polled twice")
    @State
    public static class ScheduleWhileNetRxActionEnds {
        final Kernel kernel = stepped();
        final NetDevice dev = new NetDevice("eth0");
        final NapiStruct a = new NapiStruct();
        final NapiStruct b = new NapiStruct();
        final java.util.concurrent.atomic.AtomicInteger bPolls = new java.util.concurrent.atomic.AtomicInteger();

        public ScheduleWhileNetRxActionEnds() {
            kernel.napi().add(dev, a, (me, budget) -> {
                kernel.napi().completeDone(me, 0);
                return 0;
            });
            kernel.napi().add(dev, b, (me, budget) -> {
                bPolls.incrementAndGet();
                kernel.napi().completeDone(me, 0);
                return 0;
            });
            kernel.napi().enable(a);
            kernel.napi().enable(b);
            kernel.bindCurrentThread(0);
            kernel.napi().schedule(a);          // queued on CPU 0, NET_RX pending there
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu0NetRx() {
            kernel.softirqs().runPendingOnStepped(0);
        }

        @Actor
        public void cpu0Interrupt() {
            kernel.bindCurrentThread(0);
            kernel.napi().schedule(b);
        }

        @Arbiter
        public void drain(I_Result r) {
            for (int i = 0; i < 3; i++) {
                kernel.softirqs().runPendingOnStepped(0);
            }
            r.r1 = bPolls.get();
        }
    }

    /**
     * IRQ deferral: the instance's deferral timer ({@code napi_watchdog}) expires on CPU 1 while a
     * {@code napi_schedule} on CPU 0 schedules the same idle instance (a threaded device, so that both only hand it to
     * its kthread and nothing polls during the race). Exactly one of them takes SCHED; the watchdog never sets
     * MISSED, since no device interrupt asked: the schedule that comes first queues it (true) and the watchdog leaves
     * it alone, or the watchdog queues it and the schedule sets MISSED (false). Outcome: (schedule returned true,
     * MISSED set, SCHED and SCHED_THREADED set). (Checked by making the watchdog use {@code napi_schedule_prep},
     * which sets MISSED: "1, 1, 1" appears.)
     */
    @JCStressTest
    @Outcome(id = {"1, 0, 1", "0, 1, 1"}, expect = Expect.ACCEPTABLE,
            desc = "the schedule queued it and the timer did nothing, or the timer queued it and the schedule set MISSED")
    @Outcome(expect = Expect.FORBIDDEN, desc = "MISSED from the timer, a lost SCHED, or both queued it")
    @State
    public static class WatchdogRacesSchedule {
        final Kernel kernel = stepped();
        final NetDevice dev = new NetDevice("eth0");
        final NapiStruct n = new NapiStruct();

        public WatchdogRacesSchedule() {
            kernel.bindCurrentThread(1);
            kernel.napi().add(dev, n, (me, budget) -> 0);
            kernel.napi().enable(n);
            kernel.napi().setThreaded(dev, true);
            dev.setNapiDeferHardIrqs(1);
            dev.setGroFlushTimeoutNs(1_000);
            kernel.napi().schedulePrep(n);        // the poll on CPU 1 owns the instance
            kernel.napi().completeDone(n, 1);     // work done, one deferral: SCHED cleared, the timer armed on CPU 1
            kernel.stepper().clock().advanceNanos(1_000);
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu0Schedules(III_Result r) {
            kernel.bindCurrentThread(0);
            r.r1 = kernel.napi().schedule(n) ? 1 : 0;
        }

        @Actor
        public void cpu1TimerInterrupt() {
            kernel.stepper().hardirq(1);
        }

        @Arbiter
        public void check(III_Result r) {
            r.r2 = n.testBit(NapiStruct.STATE_MISSED) ? 1 : 0;
            r.r3 = n.testBit(NapiStruct.STATE_SCHED) && n.testBit(NapiStruct.STATE_SCHED_THREADED) ? 1 : 0;
        }
    }
}
