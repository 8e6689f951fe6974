package dev.bottomhalf.micrometer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.proc.KernelSnapshot;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MockClock;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.simple.SimpleConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/** The meters of {@link BottomhalfMetrics} on a stepped kernel: names, tags, values, one snapshot per scrape. */
class BottomhalfMetricsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    private final MockClock clock = new MockClock();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry(SimpleConfig.DEFAULT, clock);
    private Kernel k;
    private Stepper s;
    private ExecutionContext task;

    @BeforeEach
    void boot() {
        k = kernels.kernel();
        s = k.stepper();
        task = k.bindCurrentThread(0);
    }

    /** Interrupts on two lines and CPUs, softirqs, a tick, a cross-CPU call, NAPI polls, work items and a WARN. */
    private Workqueue scenario() {
        k.irqs().request(9, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED), "eth0", "a");
        k.irqs().request(12, (i, d) -> IrqReturn.HANDLED, Set.of(), "i8042", "c");
        k.irqs().setAffinity(9, 1);
        k.irqs().setAffinity(12, 0);
        for (int n = 0; n < 3; n++) {
            k.irqs().assertIrq(9);
            s.hardirq(1);
        }
        k.irqs().assertIrq(12);
        s.hardirq(0);
        k.irqs().disable(12);
        k.softirqs().open(SoftirqVector.HI, () -> { });
        for (int n = 0; n < 2; n++) {
            task.localBhDisable();
            k.softirqs().raise(SoftirqVector.HI);
            task.localBhEnable();
        }
        k.smpCallFunctionSingle(1, () -> { }, true);
        TimerList t = TimerList.setup("tick-me", x -> { }, 0);
        k.timers().mod(t, k.jiffies() + 1);
        s.advanceJiffies(2);
        s.hardirq(0);
        NapiStruct n = new NapiStruct();
        int[] left = {10};
        k.napi().add(new NetDevice("eth1"), n, (me, budget) -> {
            int work = Math.min(left[0], budget);
            left[0] -= work;
            k.napi().completeDone(me, work);
            return work;
        }, 64);
        k.napi().enable(n);
        task.localBhDisable();
        k.napi().schedule(n);
        task.localBhEnable();
        Workqueue wq = k.workqueues().alloc("counted", 0, 0);
        for (int i = 0; i < 5; i++) {
            k.workqueues().queue(wq, new Work("c" + i, w -> s.advance(Duration.ofMillis(2))));
        }
        s.runUntilIdle();
        kernels.reports().expect("metrics test warning");
        k.reports().warning("metrics test warning");
        return wq;
    }

    private double counter(String name, String... tags) {
        return registry.get(name).tags(tags).functionCounter().count();
    }

    private double gauge(String name, String... tags) {
        return registry.get(name).tags(tags).gauge().value();
    }

    /** A scrape: every meter's measurements read once. */
    private void scrape() {
        for (Meter m : registry.getMeters()) {
            m.measure().forEach(x -> x.getValue());
        }
    }

    @Test
    void bind_afterASteppedScenario_metersHoldTheSnapshotsFigures_withTheirTags() {
        Workqueue wq = scenario();
        BottomhalfMetrics metrics = new BottomhalfMetrics(k);
        metrics.bindTo(registry);
        KernelSnapshot snap = k.snapshot();

        List<FunctionCounter> nine = List.copyOf(registry.get("bottomhalf.irq.interrupts").tag("irq", "9")
                .functionCounters());
        assertEquals(2, nine.size(), "one per CPU");
        for (FunctionCounter c : nine) {
            assertEquals(Set.of("irq", "name", "cpu"), c.getId().getTags().stream().map(Tag::getKey)
                    .collect(Collectors.toSet()));
            int cpu = Integer.parseInt(c.getId().getTag("cpu"));
            assertEquals(snap.irqLine(9).counts().get(cpu), c.count());
        }
        assertEquals(3, counter("bottomhalf.irq.interrupts", "irq", "9", "name", "eth0", "cpu", "1"));
        assertEquals(0, counter("bottomhalf.irq.interrupts", "irq", "9", "name", "eth0", "cpu", "0"));
        assertEquals(1, counter("bottomhalf.irq.interrupts", "irq", "12", "name", "i8042", "cpu", "0"));
        assertNull(registry.find("bottomhalf.irq.interrupts").tag("irq", "3").functionCounter(),
                "a line without a handler has no meters, as it has no /proc/interrupts row");
        assertEquals(1, gauge("bottomhalf.irq.disable.depth", "irq", "12"));
        assertEquals(0, gauge("bottomhalf.irq.disable.depth", "irq", "9"));
        assertEquals(snap.irqLine(9).spurious().count(), gauge("bottomhalf.irq.spurious.count", "irq", "9"));
        assertEquals(0, gauge("bottomhalf.irq.spurious.unhandled", "irq", "9"));

        double loc = counter("bottomhalf.irq.arch.interrupts", "type", "LOC", "cpu", "0");
        assertTrue(loc >= 1, "the scenario's tick");
        assertEquals(snap.cpus().get(0).loc(), loc);
        assertEquals(loc, counter("bottomhalf.timer.interrupts", "cpu", "0")
                + counter("bottomhalf.hrtimer.interrupts", "cpu", "0"), "LOC is the timer and hrtimer interrupts");
        assertTrue(k.proc().interrupts().contains(String.format("LOC: %10d ", (long) loc)), k.proc().interrupts());
        assertEquals(1, counter("bottomhalf.irq.arch.interrupts", "type", "CAL", "cpu", "1"));
        assertEquals(0, counter("bottomhalf.irq.arch.interrupts", "type", "IWI", "cpu", "1"));
        assertEquals(0, counter("bottomhalf.hrtimer.interrupts", "cpu", "0"));

        assertEquals(2, counter("bottomhalf.softirq.runs", "vector", "HI", "cpu", "0"));
        assertEquals(snap.softirq(SoftirqVector.NET_RX.nr()).counts().get(0),
                counter("bottomhalf.softirq.runs", "vector", "NET_RX", "cpu", "0"));
        assertEquals(snap.softirq(SoftirqVector.TIMER.nr()).counts().get(0),
                counter("bottomhalf.softirq.runs", "vector", "TIMER", "cpu", "0"));
        assertEquals(SoftirqVector.NR_SOFTIRQS * 2, registry.get("bottomhalf.softirq.runs").functionCounters().size());
        for (int cpu = 0; cpu < 2; cpu++) {
            String c = Integer.toString(cpu);
            assertEquals(snap.cpus().get(cpu).ksoftirqdRuns(), counter("bottomhalf.ksoftirqd.runs", "cpu", c));
            assertEquals(snap.cpus().get(cpu).ksoftirqdWoken() ? 1 : 0, gauge("bottomhalf.ksoftirqd.woken", "cpu", c));
        }
        assertEquals(10, counter("bottomhalf.softnet.processed", "cpu", "0"));
        assertEquals(0, counter("bottomhalf.softnet.time.squeeze", "cpu", "0"));

        var stats = k.workqueues().stats(wq);
        assertEquals(5, counter("bottomhalf.workqueue.items", "workqueue", "counted"));
        assertEquals(0, gauge("bottomhalf.workqueue.in.flight", "workqueue", "counted"));
        assertEquals(stats.runNs() / 1e9, counter("bottomhalf.workqueue.cpu.time", "workqueue", "counted"));
        assertEquals("seconds", registry.get("bottomhalf.workqueue.cpu.time").functionCounter().getId().getBaseUnit());
        assertEquals(stats.cmWakeups(), counter("bottomhalf.workqueue.cm.wakeups", "workqueue", "counted"));
        assertEquals(0, counter("bottomhalf.workqueue.mayday", "workqueue", "counted"));
        assertEquals(0, counter("bottomhalf.workqueue.rescued", "workqueue", "counted"));
        assertEquals(0, counter("bottomhalf.workqueue.cpu.intensive", "workqueue", "counted"));
        assertNotNull(registry.find("bottomhalf.workqueue.items").tag("workqueue", "events").functionCounter(),
                "the system workqueues have meters too");
        assertEquals(0, counter("bottomhalf.workqueue.lockups"));

        assertEquals(1, counter("bottomhalf.reports", "kind", "WARNING"));
        assertEquals(0, counter("bottomhalf.reports", "kind", "OOPS"));
        assertEquals(KernelEvent.Kind.values().length, registry.get("bottomhalf.reports").functionCounters().size());
        TimeGauge uptime = registry.get("bottomhalf.uptime").timeGauge();
        assertEquals(snap.uptimeNs() / 1e9, uptime.value(java.util.concurrent.TimeUnit.SECONDS), 1e-9);
    }

    @Test
    void meters_moveWhenTheCountersMove_onceTheSharedSnapshotIsOlderThanItsMaximumAge() {
        scenario();
        BottomhalfMetrics metrics = new BottomhalfMetrics(k);
        metrics.bindTo(registry);
        assertEquals(3, counter("bottomhalf.irq.interrupts", "irq", "9", "cpu", "1"));
        k.irqs().assertIrq(9);
        s.hardirq(1);
        k.workqueues().queue(k.workqueues().workqueues().stream().filter(w -> w.name().equals("counted"))
                .findFirst().orElseThrow(), new Work("late", w -> { }));
        s.runUntilIdle();
        assertEquals(3, counter("bottomhalf.irq.interrupts", "irq", "9", "cpu", "1"), "the scrape's snapshot");
        clock.add(Duration.ofMillis(999));
        assertEquals(3, counter("bottomhalf.irq.interrupts", "irq", "9", "cpu", "1"), "999 ms old: still served");
        clock.add(Duration.ofMillis(1));
        assertEquals(4, counter("bottomhalf.irq.interrupts", "irq", "9", "cpu", "1"));
        assertEquals(6, counter("bottomhalf.workqueue.items", "workqueue", "counted"));
    }

    @Test
    void aScrape_takesOneSnapshot_forAllItsMeters() {
        scenario();
        BottomhalfMetrics metrics = new BottomhalfMetrics(k);
        metrics.bindTo(registry);
        assertTrue(registry.getMeters().size() > 100, registry.getMeters().size() + " meters");
        long before = metrics.snapshotsTaken();
        scrape();
        assertEquals(before, metrics.snapshotsTaken(), "within the maximum age: the bind's snapshot serves");
        clock.add(Duration.ofSeconds(15));
        scrape();
        assertEquals(before + 1, metrics.snapshotsTaken(), "one snapshot for every meter of the scrape");
        clock.add(Duration.ofSeconds(15));
        scrape();
        assertEquals(before + 2, metrics.snapshotsTaken());
    }

    @Test
    void aZeroMaximumAge_readsTheKernelForEveryMeter() {
        scenario();
        BottomhalfMetrics metrics = new BottomhalfMetrics(k, Tags.empty(), Duration.ZERO);
        metrics.bindTo(registry);
        long before = metrics.snapshotsTaken();
        k.irqs().assertIrq(9);
        s.hardirq(1);
        assertEquals(4, counter("bottomhalf.irq.interrupts", "irq", "9", "cpu", "1"));
        assertEquals(before + 1, metrics.snapshotsTaken());
        assertThrows(IllegalArgumentException.class, () -> new BottomhalfMetrics(k, Tags.empty(),
                Duration.ofSeconds(-1)));
    }

    @Test
    void linesAndWorkqueuesThatAppearAfterBind_getMeters_andThoseThatGoLoseThem() {
        scenario();
        BottomhalfMetrics metrics = new BottomhalfMetrics(k);
        metrics.bindTo(registry);
        assertNull(registry.find("bottomhalf.irq.interrupts").tag("irq", "20").functionCounter());
        k.irqs().request(20, (i, d) -> IrqReturn.HANDLED, Set.of(), "late", "l");
        k.irqs().setAffinity(20, 0);
        k.irqs().assertIrq(20);
        s.hardirq(0);
        Workqueue late = k.workqueues().alloc("late_wq", 0, 0);
        k.workqueues().queue(late, new Work("x", w -> { }));
        s.runUntilIdle();
        k.irqs().request(9, (i, d) -> IrqReturn.NONE, EnumSet.of(IrqFlag.SHARED), "eth9", "b");
        k.irqs().free(12, "c");
        clock.add(Duration.ofSeconds(1));
        scrape();   // takes the snapshot that shows the new shape, and registers and removes meters

        assertEquals(1, counter("bottomhalf.irq.interrupts", "irq", "20", "name", "late", "cpu", "0"));
        assertEquals(1, counter("bottomhalf.workqueue.items", "workqueue", "late_wq"));
        assertEquals(3, counter("bottomhalf.irq.interrupts", "irq", "9", "name", "eth0, eth9", "cpu", "1"),
                "a handler added: the name tag changes, the count goes on");
        assertNull(registry.find("bottomhalf.irq.interrupts").tags("irq", "9", "name", "eth0").functionCounter(),
                "the old name's meters are gone");
        assertNull(registry.find("bottomhalf.irq.interrupts").tag("irq", "12").functionCounter(),
                "its handler freed: no row in /proc/interrupts, no meters");
        assertNull(registry.find("bottomhalf.irq.disable.depth").tag("irq", "12").gauge());

        k.workqueues().destroy(late);
        clock.add(Duration.ofSeconds(1));
        scrape();
        assertNull(registry.find("bottomhalf.workqueue.items").tag("workqueue", "late_wq").functionCounter());
    }

    @Test
    void extraTags_areOnEveryMeter_andCloseRemovesEveryMeter() {
        scenario();
        SimpleMeterRegistry other = new SimpleMeterRegistry(SimpleConfig.DEFAULT, clock);
        BottomhalfMetrics metrics = new BottomhalfMetrics(k, Tags.of("kernel", "k0"));
        metrics.bindTo(registry);
        metrics.bindTo(registry);
        metrics.bindTo(other);
        int count = registry.getMeters().size();
        assertEquals(count, other.getMeters().size());
        assertEquals(count, registry.getMeters().stream().map(Meter::getId).distinct().count(),
                "bound twice, registered once");
        for (Meter m : registry.getMeters()) {
            assertEquals("k0", m.getId().getTag("kernel"), m.getId().toString());
            assertTrue(m.getId().getName().startsWith("bottomhalf."), m.getId().toString());
            assertTrue(m instanceof FunctionCounter || m instanceof Gauge, m.getId().toString());
        }
        metrics.close();
        assertEquals(List.of(), registry.getMeters());
        assertEquals(List.of(), other.getMeters());
        assertThrows(IllegalStateException.class, () -> metrics.bindTo(registry));
    }

    @Test
    void afterTheKernelCloses_theMetersStillRead_asProcDoes() {
        scenario();
        BottomhalfMetrics metrics = new BottomhalfMetrics(k);
        metrics.bindTo(registry);
        k.close();
        clock.add(Duration.ofSeconds(1));
        assertEquals(3, counter("bottomhalf.irq.interrupts", "irq", "9", "cpu", "1"));
        assertEquals(5, counter("bottomhalf.workqueue.items", "workqueue", "counted"));
    }

    @Test
    void docsMetricsTable_namesEveryMeter_andNoOther() throws IOException {
        scenario();
        new BottomhalfMetrics(k).bindTo(registry);
        Set<String> registered = registry.getMeters().stream().map(m -> m.getId().getName())
                .collect(Collectors.toCollection(TreeSet::new));
        String doc = Files.readString(Path.of("..", "docs", "metrics.md"));
        Set<String> documented = new TreeSet<>();
        for (Matcher m = Pattern.compile("(?m)^\\| `(bottomhalf\\.[a-z.]+)` \\|").matcher(doc); m.find(); ) {
            documented.add(m.group(1));
        }
        assertEquals(registered, documented);
    }

    /** The example of docs/metrics.md: a threaded kernel bound to a registry. */
    @Test
    void docsExample() {
        // DOCS: example
        MeterRegistry registry = new SimpleMeterRegistry();            // or a Prometheus, OTLP, ... registry
        try (Kernel kernel = Kernel.boot(2);
                BottomhalfMetrics metrics = new BottomhalfMetrics(kernel, Tags.of("kernel", "nic0"))) {
            kernel.irqs().request(9, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "eth0", "nic");
            kernel.irqs().setAffinity(9, 1);
            metrics.bindTo(registry);                                  // meters for every CPU, line with a handler, ...
            kernel.irqs().assertIrq(9);                                // the card interrupts CPU 1
            FunctionCounter eth0 = registry.get("bottomhalf.irq.interrupts")
                    .tags("kernel", "nic0", "irq", "9", "name", "eth0", "cpu", "1").functionCounter();
            double taken = eth0.count();                               // as of the shared snapshot: at most 1 s old
            // DOCS: end
            assertTrue(taken == 0 || taken == 1, "the snapshot was taken before or after the interrupt: " + taken);
            assertTrue(registry.getMeters().size() > 50);
            // DOCS: example
        }                                                              // metrics.close() removes its meters
        // DOCS: end
        assertEquals(List.of(), registry.getMeters());
    }

    @Test
    void docsExample_isTheSnippetOfDocsMetricsMd() throws IOException {
        String doc = Files.readString(Path.of("..", "docs", "metrics.md"));
        Matcher block = Pattern.compile("(?ms)^```java\\n(.*?)^```$").matcher(doc);
        assertTrue(block.find(), "a java block in docs/metrics.md");
        String snippet = block.group(1).replaceFirst("(?s)^(import [^\\n]*\\n|\\n)*", "");
        String source = Files.readString(Path.of("src", "test", "java", "dev", "bottomhalf", "micrometer",
                "BottomhalfMetricsTest.java"));
        StringBuilder regions = new StringBuilder();
        for (Matcher m = Pattern.compile("(?ms)^ *// DOCS: example\\n(.*?)^ *// DOCS: end$").matcher(source);
                m.find(); ) {
            for (String line : m.group(1).split("\\n")) {
                regions.append(line.startsWith("        ") ? line.substring(8) : line).append('\n');
            }
        }
        assertEquals(regions.toString(), snippet);
    }
}
