package dev.bottomhalf.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.CloseReport;
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
 * NAPI ({@code napi_schedule}, {@code napi_complete_done}, {@code net_rx_action}, {@code napi_disable}, threaded
 * NAPI, busy polling; docs/subsystems/net.md, "Rules"), in stepped mode with the manual clock (HZ=1000).
 */
class NapiSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private Napi napi;
    private ExecutionContext task;
    private final NetDevice eth0 = new NetDevice("eth0");
    /** Every poll: {@code <instance>:<work>/<budget>}. */
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        napi = kernel.napi();
        task = kernel.bindCurrentThread(0);
    }

    /** A receive queue as a driver sees it: packets waiting, an interrupt it masks and unmasks. */
    final class Ring {
        final String name;
        final NapiStruct n = new NapiStruct();
        int pending;
        boolean irqEnabled = true;
        /** Manual-clock time each poll takes, in ms. */
        long msPerPoll;
        /** Run once inside the next poll, before it completes. */
        Runnable duringPoll;
        Boolean lastComplete;

        Ring(String name, int pending) {
            this.name = name;
            this.pending = pending;
        }

        /** The driver's poll: takes up to budget packets; below budget completes and, if allowed, unmasks. */
        int poll(NapiStruct napiStruct, int budget) {
            int work = Math.min(pending, budget);
            pending -= work;
            log.add(name + ":" + work + "/" + budget);
            if (msPerPoll > 0) {
                stepper.advance(msPerPoll, TimeUnit.MILLISECONDS);
            }
            Runnable r = duringPoll;
            duringPoll = null;
            if (r != null) {
                r.run();
            }
            if (work < budget) {
                lastComplete = napi.completeDone(napiStruct, work);
                if (lastComplete) {
                    irqEnabled = true;
                }
            }
            return work;
        }

        /** The top half: mask, napi_schedule. */
        void interrupt() {
            irqEnabled = false;
            napi.schedule(n);
        }
    }

    private Ring ring(String name, int pending, int weight) {
        Ring r = new Ring(name, pending);
        napi.add(eth0, r.n, r::poll, weight);
        napi.enable(r.n);
        return r;
    }

    /** Runs {@code r} with BH disabled, so that NET_RX runs at its local_bh_enable on this thread. */
    private void inBhSection(Runnable r) {
        task.localBhDisable();
        r.run();
        task.localBhEnable();
    }

    @Test
    void schedule_fromABhSection_pollsOnceAtLocalBhEnable_andCompletes() {
        Ring a = ring("a", 10, 64);
        inBhSection(a::interrupt);
        assertEquals(List.of("a:10/64"), log);
        assertTrue(a.lastComplete);
        assertTrue(a.irqEnabled);
        assertFalse(a.n.isScheduled());
        assertEquals(10, napi.processed(0));
        assertEquals(1, kernel.softirqs().count(0, SoftirqVector.NET_RX));
        assertTrue(napi.pollListEmpty(0));
    }

    @Test
    void schedule_whileScheduled_setsMissedAndQueuesNothingMore() {
        Ring a = ring("a", 1, 64);
        inBhSection(() -> {
            assertTrue(napi.schedule(a.n));
            assertFalse(napi.schedule(a.n));
            assertFalse(napi.schedulePrep(a.n));
            assertTrue(a.n.testBit(NapiStruct.STATE_MISSED));
        });
        // MISSED made the first completion give the instance back for one more poll
        assertEquals(List.of("a:1/64", "a:0/64"), log);
        assertFalse(a.n.isScheduled());
    }

    @Test
    void completeDone_whenMoreWorkArrivedDuringThePoll_returnsFalse_andPollsAgain() {
        Ring a = ring("a", 3, 64);
        a.duringPoll = () -> {
            a.pending += 2;          // a packet arrives while the poll runs; the device interrupts anyway
            assertFalse(napi.schedule(a.n));
        };
        inBhSection(a::interrupt);
        assertEquals(List.of("a:3/64", "a:2/64"), log);
        assertTrue(a.lastComplete);
        assertEquals(5, napi.processed(0));
        assertFalse(a.n.isScheduled());
    }

    @Test
    void pollUsingItsWholeWeight_staysScheduled_andGoesToTheTail() {
        Ring a = ring("a", 4, 2);
        Ring b = ring("b", 3, 2);
        inBhSection(() -> {
            a.interrupt();
            b.interrupt();
        });
        assertEquals(List.of("a:2/2", "b:2/2", "a:2/2", "b:1/2", "a:0/2"), log);
        assertEquals(3, kernel.softirqs().count(0, SoftirqVector.NET_RX));
        assertEquals(0, napi.timeSqueeze(0));
        assertFalse(a.n.isScheduled());
        assertFalse(b.n.isScheduled());
    }

    @Test
    void oneInstanceWithMoreThanItsWeight_isPolledOncePerAction_tenTimes_thenKsoftirqdTakesOver() {
        Ring a = ring("a", 1000, 64);
        inBhSection(a::interrupt);
        // each net_rx_action polls it once and puts it back (repoll); the softirq loop restarts 10 times
        assertEquals(10, log.size());
        assertEquals(10, kernel.softirqs().count(0, SoftirqVector.NET_RX));
        assertEquals(0, napi.timeSqueeze(0));
        assertTrue(kernel.softirqs().ksoftirqdWoken(0));
        stepper.run("ksoftirqd/0");
        assertEquals(16, log.size());
        assertEquals("a:40/64", log.get(15));
        assertEquals(1000, napi.processed(0));
    }

    /** Six instances of 100 packets, weight 64, on CPU 0's list. */
    private List<Ring> sixRings() {
        List<Ring> rings = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            rings.add(ring("r" + i, 100, 64));
        }
        return rings;
    }

    @Test
    void netdevBudget_exhausted_countsTimeSqueeze_reRaisesNetRx_andKeepsTheUnpolledFirst() {
        List<Ring> rings = sixRings();
        inBhSection(() -> rings.forEach(Ring::interrupt));
        // 300 packets per net_rx_action: after five polls of 64 the budget is spent; r5 was not polled and goes
        // first next time, before the five that were put back
        assertEquals(List.of("r0:64/64", "r1:64/64", "r2:64/64", "r3:64/64", "r4:64/64",
                "r5:64/64", "r0:36/64", "r1:36/64", "r2:36/64", "r3:36/64", "r4:36/64",
                "r5:36/64"), log);
        assertEquals(1, napi.timeSqueeze(0));
        assertEquals(3, kernel.softirqs().count(0, SoftirqVector.NET_RX));
        assertEquals(600, napi.processed(0));
    }

    @Test
    void netdevBudget_sysctl_limitsOneAction() {
        napi.setNetdevBudget(3);
        Ring a = ring("a", 4, 2);
        Ring b = ring("b", 4, 2);
        inBhSection(() -> {
            a.interrupt();
            b.interrupt();
        });
        assertEquals(List.of("a:2/2", "b:2/2", "a:2/2", "b:2/2", "a:0/2", "b:0/2"), log);
        assertEquals(2, napi.timeSqueeze(0)); // 2 + 2 >= 3 after the second poll of each of the first two actions
    }

    @Test
    void netdevBudgetUsecs_expired_countsTimeSqueeze_reRaisesNetRx_andKeepsTheUnpolledFirst() {
        Ring a = ring("a", 1000, 64);
        Ring b = ring("b", 1000, 64);
        Ring c = ring("c", 1000, 64);
        a.msPerPoll = b.msPerPoll = c.msPerPoll = 1;
        inBhSection(() -> {
            a.interrupt();
            b.interrupt();
            c.interrupt();
        });
        // 2000 µs = 2 jiffies: after a and b the limit is reached; the softirq loop's own 2 ms ends with it
        assertEquals(List.of("a:64/64", "b:64/64"), log);
        assertEquals(1, napi.timeSqueeze(0));
        assertTrue(kernel.softirqs().ksoftirqdWoken(0), "NET_RX re-raised and handed to ksoftirqd");
        log.clear();
        stepper.run("ksoftirqd/0");
        assertEquals(List.of("c:64/64", "a:64/64"), log.subList(0, 2)); // c was never polled: it goes first
        assertEquals(2, napi.timeSqueeze(0));
    }

    @Test
    void netdevBudgetUsecs_atHz100_isOneJiffy() {
        Kernel k = kernels.boot(b -> b.cpus(1).hz(100));
        ExecutionContext t = k.bindCurrentThread(0);
        NetDevice dev = new NetDevice("eth1");
        List<String> polls = new ArrayList<>();
        for (String name : List.of("a", "b")) {
            NapiStruct n = new NapiStruct();
            k.napi().add(dev, n, (me, budget) -> {
                polls.add(name);
                k.stepper().advance(1, TimeUnit.MILLISECONDS); // a tenth of a jiffy per poll
                return budget;
            });
            k.napi().enable(n);
        }
        k.stepper().advanceToJiffy(k.jiffies() + 1);        // at the start of a jiffy
        t.localBhDisable();
        dev.napis().forEach(k.napi()::schedule);
        t.localBhEnable();
        // 2000 µs round up to 1 jiffy at HZ=100; 1 ms per poll: the limit is reached after ten polls. The softirq
        // loop's own MAX_SOFTIRQ_TIME is 1 jiffy here too, so ksoftirqd takes the rest.
        assertEquals(10, polls.size());
        assertEquals(1, k.napi().timeSqueeze(0));
        assertTrue(k.softirqs().ksoftirqdWoken(0));
        k.napi().setNetdevBudgetUsecs(1);                     // still rounds up to one jiffy
        assertEquals(1, k.napi().netdevBudgetUsecs());
        for (NapiStruct n : dev.napis()) {
            k.napi().disable(n);                              // the wait drives ksoftirqd/0, which completes them
        }
    }

    @Test
    void pollReturningMoreThanItsWeight_isReportedOnce() {
        NapiStruct n = new NapiStruct();
        napi.add(eth0, n, (me, budget) -> budget + 1, 2);
        napi.enable(n);
        inBhSection(() -> napi.schedule(n));
        String text = "eth0: NAPI poll function eth0-3 returned 3, exceeding its budget of 2.";
        assertEquals(1, reports.matching(text).size(), reports.messages().toString());
        assertEquals(KernelEvent.Kind.ERR, reports.matching(text).get(0).kind());
    }

    @Test
    void weightAbove64_isReportedOncePerKernel_andKept() {
        NapiStruct n = new NapiStruct();
        napi.add(eth0, n, (me, budget) -> 0, 65);
        napi.add(eth0, new NapiStruct(), (me, budget) -> 0, 128);
        assertEquals(65, n.weight());
        assertEquals(1, reports.matching("eth0: netif_napi_add_weight() called with weight 65").size());
        assertEquals(0, reports.matching("called with weight 128").size());
        assertEquals(0, reports.matching("called with weight 64").size());
    }

    @Test
    void add_leavesItDisabled_soScheduleRefuses_untilEnable() {
        NapiStruct n = new NapiStruct();
        napi.add(eth0, n, (me, budget) -> 0);
        assertEquals(64, n.weight());
        assertEquals(3, n.napiId());
        assertTrue(n.testBit(NapiStruct.STATE_SCHED) && n.testBit(NapiStruct.STATE_NPSVC));
        assertFalse(napi.schedule(n));        // SCHED is held by the add: only MISSED is set, as in the kernel
        assertFalse(kernel.softirqs().ksoftirqdWoken(0));
        assertTrue(napi.pollListEmpty(0));
        napi.enable(n);
        assertEquals(1 << NapiStruct.STATE_LISTED | 1 << NapiStruct.STATE_MISSED, n.state());
        assertEquals(List.of(n), eth0.napis());
    }

    @Test
    void disable_ofAnIdleInstance_returnsAtOnce_andScheduleIsRefusedAfterwards() {
        Ring a = ring("a", 5, 64);
        napi.disable(a.n);
        assertFalse(a.n.disablePending());
        assertTrue(a.n.isScheduled());
        assertFalse(napi.schedule(a.n));
        inBhSection(() -> { });
        assertEquals(List.of(), log);
        assertTrue(a.n.testBit(NapiStruct.STATE_MISSED)); // the refused schedule left MISSED, which enable keeps
        napi.enable(a.n);
        inBhSection(a::interrupt);
        assertEquals(List.of("a:5/64", "a:0/64"), log);   // so the first completion polls once more
    }

    @Test
    void disable_ofAScheduledInstance_waitsForItsPoll_whichCompletesEvenWithTheWholeWeightUsed() {
        Ring a = ring("a", 1000, 64);
        inBhSection(a::interrupt);            // ten polls, then NET_RX is left to ksoftirqd/0 with a queued
        assertEquals(10, log.size());
        assertTrue(a.n.isScheduled());
        napi.disable(a.n);                    // the wait drives the kernel: ksoftirqd/0 polls a once more
        assertEquals(11, log.size());
        assertEquals("a:64/64", log.get(10)); // the whole weight: net_rx_action saw the pending disable and completed
        assertTrue(a.n.isScheduled());        // now held by the disable
        assertFalse(a.n.disablePending());
        assertTrue(napi.pollListEmpty(0));
        stepper.runUntilIdle();
        assertEquals(11, log.size());
    }

    @Test
    void disable_fromTheInstancesOwnPoll_isReportedAsSleepingInAtomicContext_andReturns() {
        Ring a = ring("a", 3, 64);
        a.duringPoll = () -> napi.disable(a.n);
        reports.expect("BUG: sleeping function called from invalid context");
        inBhSection(a::interrupt);
        assertEquals(List.of("a:3/64"), log);
        assertTrue(a.lastComplete);            // the disable did nothing: the poll completed as usual
        assertFalse(a.n.disablePending());
    }

    @Test
    void enable_ofAnEnabledInstance_isTheKernelsBug() {
        Ring a = ring("a", 0, 64);
        reports.expect("kernel BUG: napi_enable(eth0-3) of an instance that is not disabled");
        napi.enable(a.n);
        assertFalse(a.n.isScheduled());
    }

    @Test
    void softnetStat_showsProcessedAndTimeSqueezePerCpu_inTheKernelsHexColumns() {
        List<Ring> rings = sixRings();
        inBhSection(() -> rings.forEach(Ring::interrupt));
        assertEquals(600, napi.processed(0));
        assertEquals(1, napi.timeSqueeze(0));
        assertEquals("""
                00000258 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 \
                00000000 00000000 00000000 00000000 00000000
                00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 \
                00000000 00000000 00000001 00000000 00000000
                """, kernel.proc().softnetStat());
    }

    @Test
    void napiPollTracepoint_namesTheInstanceDeviceWorkAndBudget() {
        Ring a = ring("a", 3, 64);
        TraceBuffer buf = new TraceBuffer(16);
        kernel.tracing().enable(buf, Set.of(Tracepoint.NAPI_POLL));
        inBhSection(a::interrupt);
        assertEquals(List.of("napi poll on napi struct eth0-3 for device eth0 work 3 budget 64"),
                buf.entries().stream().map(TraceBuffer.Entry::detail).toList());
    }

    @Test
    void interruptHandler_masksAndSchedules_pollRunsAtIrqExitOnTheSameCpu() {
        Ring a = ring("a", 5, 64);
        List<String> where = new ArrayList<>();
        a.duringPoll = () -> where.add(kernel.context().name() + " in_serving_softirq="
                + kernel.context().inServingSoftirq());
        kernel.irqs().request(24, (irq, dev) -> {
            a.interrupt();
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0-rx-0", a);
        kernel.irqs().setAffinity(24, 1);
        kernel.irqs().assertIrq(24);
        stepper.hardirq(1);
        assertEquals(List.of("a:5/64"), log);
        assertEquals(List.of("cpu/1 in_serving_softirq=true"), where);
        assertEquals(5, napi.processed(1));
        assertEquals(0, napi.processed(0));
        assertTrue(a.irqEnabled);
    }

    @Test
    void threadedDevice_pollsInItsKthread_withBhDisabled() {
        Ring a = ring("a", 100, 64);
        assertEquals(0, napi.setThreaded(eth0, true));
        assertNotNull(a.n.thread());
        assertEquals("napi/eth0-3", a.n.thread().comm());
        assertTrue(a.n.testBit(NapiStruct.STATE_THREADED));
        List<String> where = new ArrayList<>();
        a.duringPoll = () -> where.add(kernel.context().name() + " in_softirq=" + kernel.context().inSoftirq());
        inBhSection(a::interrupt);
        assertEquals(List.of(), log, "not NET_RX: the kthread polls");
        assertTrue(a.n.testBit(NapiStruct.STATE_SCHED_THREADED));
        stepper.runUntilIdle();
        assertEquals(List.of("a:64/64", "a:36/64"), log);
        assertEquals(List.of("napi/eth0-3 in_softirq=true"), where);
        assertFalse(a.n.isScheduled());
        assertEquals(0, kernel.softirqs().count(0, SoftirqVector.NET_RX));
        napi.disable(a.n);
        napi.del(a.n);
        assertNull(a.n.thread());
        assertEquals(List.of(), eth0.napis());
    }

    @Test
    void busyLoop_pollsFromTheCaller_completeWaitsForTheStop_andTheLastPollReArms() {
        Ring a = ring("a", 20, 64);
        int[] rounds = {0};
        napi.busyLoop(a.n.napiId(), start -> ++rounds[0] == 3, 8);
        // three rounds of 8, 8, 4 (complete refused while busy polling), then the stop's poll completes
        assertEquals(List.of("a:8/8", "a:8/8", "a:4/8", "a:0/8"), log);
        assertTrue(a.lastComplete);
        assertFalse(a.n.isScheduled());
        assertEquals(20, napi.processed(0));
    }

    @Test
    void busyLoop_onAScheduledInstance_pollsNothing() {
        Ring a = ring("a", 20, 64);
        napi.schedule(a.n);                   // from task context: NET_RX pending on CPU 0
        napi.busyLoop(a.n.napiId(), null, 8);
        // no poll with the busy budget of 8: the busy loop found SCHED taken; its local_bh_enable ran NET_RX
        assertEquals(List.of("a:20/64"), log);
    }

    @Test
    void close_withAnInstanceLeftToKsoftirqd_pollsItToTheEnd() {
        Ring a = ring("a", 1000, 64);
        inBhSection(a::interrupt);            // ten polls, then ksoftirqd/0 has NET_RX with a queued
        CloseReport report = kernel.close(java.time.Duration.ofSeconds(30));
        assertEquals(16, log.size());
        assertEquals(1000, napi.processed(0));
        assertTrue(report.drained(), report.toString());
    }

    @Test
    void close_withAnInstanceQueuedAndNobodyToRunNetRx_reportsItsPoll() {
        Ring a = ring("a", 5, 64);
        napi.schedule(a.n);                   // from task context without a BH section: NET_RX pending, nobody woken
        reports.expect("close: accepted work never ran");
        CloseReport report = kernel.close(java.time.Duration.ofSeconds(30));
        assertEquals(List.of(), log);
        assertTrue(report.droppedSoftirqs().contains("NET_RX poll of eth0-3 on CPU 0"), report.toString());
    }

    @Test
    void close_withAThreadedDevice_stopsItsKthreads() {
        Ring a = ring("a", 5, 64);
        napi.setThreaded(eth0, true);
        CloseReport report = kernel.close(java.time.Duration.ofSeconds(30));
        assertTrue(report.threadsNotStopped().isEmpty(), report.toString());
        assertEquals(0, reports.ofKind(KernelEvent.Kind.BUG).size(), reports.messages().toString());
        assertFalse(a.n.isScheduled());
    }

    private static long allocatedBytes() throws ReflectiveOperationException {
        java.lang.reflect.Method m = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(java.lang.management.ManagementFactory.getThreadMXBean(),
                Thread.currentThread().threadId());
    }

    @Test
    void hotPaths_scheduleWhenScheduled_andNetRxActionPerPoll_allocateNothing() throws ReflectiveOperationException {
        NapiStruct n = new NapiStruct();
        int[] polls = {0};
        napi.add(eth0, n, (me, budget) -> {
            polls[0]++;
            napi.completeDone(me, 1);
            return 1;
        });
        napi.enable(n);
        Runnable rounds = () -> {
            for (int i = 0; i < 20_000; i++) {
                task.localBhDisable();
                napi.schedule(n);           // queues it and raises NET_RX
                for (int j = 0; j < 10; j++) {
                    napi.schedule(n);       // already scheduled: MISSED
                }
                task.localBhEnable();       // net_rx_action: polls it, MISSED polls it once more
            }
        };
        for (int round = 0; round < 5; round++) {  // the JIT's warm-up
            rounds.run();
            allocatedBytes();
        }
        polls[0] = 0;
        long before = allocatedBytes();
        rounds.run();
        long allocated = allocatedBytes() - before;
        assertEquals(40_000, polls[0]);
        assertTrue(allocated < 4_096, allocated + " bytes for 220,000 schedules and 40,000 polls (the measuring call"
                + " itself takes about 1 KB)");
    }
}
