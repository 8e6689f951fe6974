package dev.bottomhalf.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.irq.IrqWork;
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/** {@code Kernel.snapshot()}: every counter read once, the figures /proc prints, immutable, readable after close. */
class KernelSnapshotTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    /**
     * A stepped scenario that moves every kind of counter: shared, level and unhandled lines, a disabled line,
     * a cross-CPU call, the tick, an hrtimer, an irq_work, softirqs, NAPI polls with a time squeeze, work items and
     * a WARN.
     */
    private Workqueue scenario(Kernel k) {
        Stepper s = k.stepper();
        ExecutionContext task = k.bindCurrentThread(0);
        k.irqs().request(9, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED), "eth0", "a");
        k.irqs().request(9, (i, d) -> IrqReturn.NONE, EnumSet.of(IrqFlag.SHARED), "eth1", "b");
        k.irqs().request(12, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.TRIGGER_HIGH), "i8042", "c");
        k.irqs().request(5, (i, d) -> IrqReturn.NONE, Set.of(), "deaf", "d");
        k.irqs().setAffinity(9, 0);
        k.irqs().setAffinity(5, 0);
        for (int n = 0; n < 3; n++) {
            k.irqs().assertIrq(9);
            s.hardirq(0);
            k.irqs().assertIrq(5);
            s.hardirq(0);
        }
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        s.hardirq(1);
        k.irqs().disable(12);
        k.irqs().disable(12);
        k.smpCallFunctionSingle(1, () -> { }, true);
        TimerList t = TimerList.setup("tick-me", x -> { }, 0);
        k.timers().mod(t, k.jiffies() + 1);
        s.advanceJiffies(2);
        s.hardirq(0);
        HrTimer h = k.hrtimers().create("h", x -> HrTimer.Restart.NORESTART, EnumSet.of(HrTimer.Mode.HARD));
        k.hrtimers().start(h, 1_000, EnumSet.of(HrTimer.Mode.REL));
        s.advance(1_000, TimeUnit.NANOSECONDS);
        s.hardirq(0);
        k.irqs().irqWorkQueueOn(IrqWork.create("iw", w -> { }), 1);
        s.hardirq(1);
        k.softirqs().open(SoftirqVector.HI, () -> { });
        for (int n = 0; n < 4; n++) {
            task.localBhDisable();
            k.softirqs().raise(SoftirqVector.HI);
            task.localBhEnable();
        }
        // NAPI: six instances of 100 packets at weight 64, scheduled together: the budget of 300 runs out once
        NetDevice dev = new NetDevice("eth2");
        int[] left = {100, 100, 100, 100, 100, 100};
        List<NapiStruct> rings = new ArrayList<>();
        for (int r = 0; r < left.length; r++) {
            int ring = r;
            NapiStruct n = new NapiStruct();
            k.napi().add(dev, n, (me, budget) -> {
                int work = Math.min(left[ring], budget);
                left[ring] -= work;
                if (work < budget) {
                    k.napi().completeDone(me, work);
                }
                return work;
            }, 64);
            k.napi().enable(n);
            rings.add(n);
        }
        task.localBhDisable();
        rings.forEach(n -> k.napi().schedule(n));
        task.localBhEnable();
        s.runUntilIdle();
        Workqueue wq = k.workqueues().alloc("counted", 0, 0);
        for (int n = 0; n < 5; n++) {
            k.workqueues().queue(wq, new Work("c" + n, w -> { }));
        }
        s.runUntilIdle();
        kernels.reports().expect("snapshot test warning");
        k.reports().warning("snapshot test warning");
        return wq;
    }

    @Test
    void snapshot_afterASteppedScenario_holdsTheFiguresProcPrints() {
        Kernel k = kernels.kernel();
        Workqueue wq = scenario(k);
        KernelSnapshot snap = k.snapshot();
        String interrupts = k.proc().interrupts();
        String softirqs = k.proc().softirqs();
        String softnet = k.proc().softnetStat();

        // rendered from the snapshot, byte for byte the live files (nothing moves between steps)
        assertEquals(interrupts, Proc.interrupts(snap));
        assertEquals(softirqs, Proc.softirqs(snap));
        assertEquals(softnet, Proc.softnetStat(snap));
        assertEquals(k.proc().irqSpurious(5), Proc.irqSpurious(snap.irqLine(5)));

        // the figures, one by one, against the text
        assertEquals(2, snap.cpuCount());
        assertEquals(k.hz(), snap.hz());
        assertEquals(k.jiffies(), snap.jiffies());
        assertEquals(k.uptimeNs(), snap.uptimeNs());
        assertEquals(k.irqs().lines(), snap.irqLines().size());
        for (Matcher m = Pattern.compile("(?m)^ *(\\d+): +(\\d+) +(\\d+) +BH-INTC +\\d+-(\\w+) +(.*)$")
                .matcher(interrupts); m.find(); ) {
            KernelSnapshot.IrqLine line = snap.irqLine(Integer.parseInt(m.group(1)));
            assertEquals(Long.parseLong(m.group(2)), line.counts().get(0), m.group());
            assertEquals(Long.parseLong(m.group(3)), line.counts().get(1), m.group());
            assertEquals(m.group(4), line.trigger(), m.group());
            assertEquals(m.group(5), line.name(), m.group());
        }
        KernelSnapshot.IrqLine nine = snap.irqLine(9);
        assertEquals(List.of("eth0", "eth1"), nine.actions());
        assertEquals(new KernelSnapshot.PerCpuCounts(new long[] {3, 1}), nine.counts());
        assertEquals(4, nine.counts().sum());
        assertEquals(Proc.CHIP_NAME, nine.chip());
        assertEquals(1, nine.affinity());
        assertEquals(0, nine.depth());
        KernelSnapshot.IrqLine twelve = snap.irqLine(12);
        assertTrue(twelve.levelTriggered());
        assertEquals(2, twelve.depth());
        KernelSnapshot.IrqLine five = snap.irqLine(5);
        assertEquals(new IrqController.SpuriousState(3, 3, five.spurious().lastUnhandledMs()), five.spurious());
        assertEquals("count 3\nunhandled 3\nlast_unhandled " + five.spurious().lastUnhandledMs() + " ms\n",
                k.proc().irqSpurious(5));
        assertFalse(five.spuriousDisabled());
        KernelSnapshot.IrqLine unused = snap.irqLine(3);
        assertFalse(unused.hasAction());
        assertEquals(1, unused.depth(), "a line never requested is disabled");
        assertTrue(interrupts.contains("LOC:          2          0   Local timer interrupts\n"), interrupts);
        assertTrue(interrupts.contains("CAL:          0          1   Function call interrupts\n"), interrupts);
        assertEquals(1, snap.cpus().get(0).localTimerInterrupts());
        assertEquals(1, snap.cpus().get(0).hrtimerInterrupts());
        assertEquals(2, snap.cpus().get(0).loc());
        assertEquals(1, snap.cpus().get(1).functionCallInterrupts());
        assertEquals(1, snap.cpus().get(1).irqWorkInterrupts());
        assertEquals(k.irqs().irqWorkInterrupts(1), snap.cpus().get(1).irqWorkInterrupts());

        for (Matcher m = Pattern.compile("(?m)^ *(\\w+): +(\\d+) +(\\d+)$").matcher(softirqs); m.find(); ) {
            KernelSnapshot.SoftirqCounts v = snap.softirqs().stream().filter(x -> x.name().equals(m.group(1)))
                    .findFirst().orElseThrow();
            assertEquals(Long.parseLong(m.group(2)), v.counts().get(0), m.group());
            assertEquals(Long.parseLong(m.group(3)), v.counts().get(1), m.group());
        }
        assertEquals(SoftirqVector.NR_SOFTIRQS, snap.softirqs().size());
        assertEquals(4, snap.softirq(SoftirqVector.HI.nr()).counts().get(0));
        assertTrue(snap.softirq(SoftirqVector.HI.nr()).open());
        assertEquals(k.softirqs().count(0, SoftirqVector.NET_RX), snap.softirq(SoftirqVector.NET_RX.nr()).counts().get(0));
        assertTrue(snap.softirq(SoftirqVector.NET_RX.nr()).counts().get(0) >= 2);
        assertNull(snap.softirq(SoftirqVector.NR_SOFTIRQS), "a user vector that is not open");
        for (int cpu = 0; cpu < 2; cpu++) {
            assertEquals(k.softirqs().ksoftirqdRuns(cpu), snap.cpus().get(cpu).ksoftirqdRuns());
            assertEquals(k.softirqs().ksoftirqdWoken(cpu), snap.cpus().get(cpu).ksoftirqdWoken());
        }

        String[] cpu0 = softnet.lines().findFirst().orElseThrow().split(" ");
        assertEquals(600, snap.cpus().get(0).softnet().processed());
        assertEquals(Long.parseLong(cpu0[0], 16), snap.cpus().get(0).softnet().processed());
        assertEquals(1, snap.cpus().get(0).softnet().timeSqueeze());
        assertEquals(Long.parseLong(cpu0[2], 16), snap.cpus().get(0).softnet().timeSqueeze());

        Workqueues.Stats counted = snap.workqueues().stream().filter(x -> x.name().equals("counted")).findFirst()
                .orElseThrow();
        assertEquals(k.workqueues().stats(wq), counted);
        assertEquals(5, counted.total());
        assertEquals(0, counted.inFlight());
        assertEquals(k.workqueues().workqueues().size(), snap.workqueues().size());
        assertTrue(k.workqueues().monitor().contains(String.format("%-30s %10d %6d", "counted", 5, 0)));
        assertEquals(k.workqueues().lockups(), snap.workqueueLockups());

        assertEquals(1, snap.reportCount(KernelEvent.Kind.WARNING));
        for (KernelEvent.Kind kind : KernelEvent.Kind.values()) {
            assertEquals(k.reports().count(kind), snap.reports().get(kind), kind.name());
        }
    }

    @Test
    void snapshot_isAValue_laterCountsDoNotChangeIt_andANewSnapshotSeesThem() {
        Kernel k = kernels.kernel();
        Stepper s = k.stepper();
        k.irqs().request(9, (i, d) -> IrqReturn.HANDLED, Set.of(), "eth0", "a");
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        s.hardirq(1);
        KernelSnapshot before = k.snapshot();
        k.irqs().assertIrq(9);
        s.hardirq(1);
        KernelSnapshot after = k.snapshot();
        assertEquals(1, before.irqLine(9).counts().get(1));
        assertEquals(2, after.irqLine(9).counts().get(1));
        assertNotEquals(before, after);
        assertEquals(after, k.snapshot(), "nothing moved: equal snapshots");
    }

    @Test
    void snapshotRecords_areImmutable_arraysAndCollectionsAreCopied() {
        Kernel k = kernels.kernel();
        scenario(k);
        KernelSnapshot snap = k.snapshot();
        long[] counts = snap.irqLine(9).counts().values();
        counts[0] = 99;
        assertEquals(3, snap.irqLine(9).counts().get(0), "values() hands out a copy");
        assertThrows(UnsupportedOperationException.class, () -> snap.irqLines().clear());
        assertThrows(UnsupportedOperationException.class, () -> snap.cpus().remove(0));
        assertThrows(UnsupportedOperationException.class, () -> snap.softirqs().clear());
        assertThrows(UnsupportedOperationException.class, () -> snap.workqueues().clear());
        assertThrows(UnsupportedOperationException.class, () -> snap.reports().put(KernelEvent.Kind.BUG, 5L));
        assertThrows(UnsupportedOperationException.class, () -> snap.irqLine(9).actions().add("x"));

        long[] in = {1, 2};
        KernelSnapshot.PerCpuCounts pc = new KernelSnapshot.PerCpuCounts(in);
        in[0] = 42;
        assertEquals(1, pc.get(0), "the constructor copies the array");
        List<String> names = new ArrayList<>(List.of("eth0"));
        KernelSnapshot.IrqLine line = new KernelSnapshot.IrqLine(1, "chip", false, names, List.of(), pc, 0, 0, false,
                new IrqController.SpuriousState(0, 0, 0));
        names.add("eth1");
        assertEquals(List.of("eth0"), line.actions(), "the constructor copies the lists");
        Map<KernelEvent.Kind, Long> reports = new EnumMap<>(KernelEvent.Kind.class);
        reports.put(KernelEvent.Kind.OOPS, 1L);
        List<KernelSnapshot.IrqLine> lines = new ArrayList<>(List.of(line));
        KernelSnapshot copy = new KernelSnapshot(0, 0, 1000, 2, lines, snap.cpus(), List.of(), List.of(), 0, reports);
        lines.clear();
        reports.put(KernelEvent.Kind.OOPS, 7L);
        assertEquals(1, copy.irqLines().size());
        assertEquals(1, copy.reportCount(KernelEvent.Kind.OOPS));
        assertThrows(IllegalArgumentException.class, () -> new KernelSnapshot(0, 0, 1000, 3, List.of(), snap.cpus(),
                List.of(), List.of(), 0, Map.of()), "three CPUs, two CPU records");
    }

    @Test
    void snapshot_afterClose_stillReads_asProcDoes() {
        Kernel k = kernels.kernel();
        scenario(k);
        KernelSnapshot open = k.snapshot();
        k.close();
        assertTrue(k.isTerminated());
        KernelSnapshot closed = k.snapshot();
        assertEquals(open.irqLines(), closed.irqLines());
        assertEquals(open.softirqs(), closed.softirqs());
        assertEquals(Proc.interrupts(closed), k.proc().interrupts());
        assertThrows(IllegalStateException.class, () -> k.softirqs().raise(SoftirqVector.HI),
                "entry points that act fail, reads do not");
    }

    @Test
    void threadedKernel_snapshotFiguresLieBetweenTheCountsBeforeAndAfter() throws InterruptedException {
        Kernel k = kernels.bootThreaded(b -> b.cpus(2));
        k.irqs().request(9, (i, d) -> IrqReturn.HANDLED, Set.of(), "eth0", "a");
        Thread device = new Thread(() -> {
            for (int n = 0; n < 200; n++) {
                k.irqs().assertIrq(9);
                Thread.onSpinWait();
            }
        });
        long before = k.irqs().totalCount(9);
        device.start();
        KernelSnapshot mid = k.snapshot();
        device.join();
        long after = k.irqs().totalCount(9);
        long seen = mid.irqLine(9).counts().sum();
        assertTrue(before <= seen && seen <= after, before + " <= " + seen + " <= " + after);
        assertTrue(Proc.interrupts(mid).contains(" eth0\n"));
    }
}
