package dev.bottomhalf.bench.quick;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.bench.WorkqueueThroughputHarness;
import dev.bottomhalf.bench.quick.QuickReport.Measurement;
import dev.bottomhalf.bench.quick.QuickReport.Regression;
import dev.bottomhalf.bench.quick.QuickRows.Better;
import dev.bottomhalf.bench.quick.QuickRows.Kind;
import dev.bottomhalf.bench.quick.QuickRows.Metric;
import dev.bottomhalf.bench.quick.QuickRows.Row;

/** The quick run's rows, ratios, comparison and outputs, without running a benchmark. */
class QuickReportTest {
    private static final Row COST = new Row("cost", "1", "a cost", Metric.jmh("A.ours", "ours"),
            Metric.jmh("A.peer", "peer"), Kind.PEER, Better.LOWER);
    private static final Row RATE = new Row("rate", "8.2", "a rate", Metric.throughput("wq-percpu", "wq"),
            Metric.throughput("fjp1", "fjp"), Kind.PEER, Better.HIGHER);

    private static QuickReport report(double oursNs, double peerNs, double oursRate, double peerRate, double bytes) {
        Map<String, Measurement> m = new LinkedHashMap<>();
        m.put("jmh:A.ours", new Measurement(oursNs, "ns/op", 0.1, bytes));
        m.put("jmh:A.peer", new Measurement(peerNs, "ns/op", 0.1, 0));
        m.put("harness:wq-throughput:wq-percpu", new Measurement(oursRate, "items/s", Double.NaN, Double.NaN));
        m.put("harness:wq-throughput:fjp1", new Measurement(peerRate, "items/s", Double.NaN, Double.NaN));
        return QuickReport.of(Map.of("JDK", "25"), List.of(COST, RATE), m);
    }

    /** A report of the cost row alone, as the quick run's re-measurement of a flagged row is. */
    private static QuickReport costOnly(double oursNs, double peerNs) {
        Map<String, Measurement> m = new LinkedHashMap<>();
        m.put("jmh:A.ours", new Measurement(oursNs, "ns/op", 0.1, 0));
        m.put("jmh:A.peer", new Measurement(peerNs, "ns/op", 0.1, 0));
        return QuickReport.of(Map.of(), List.of(COST), m);
    }

    @Test
    void speedup_isReferenceOverOursForCosts_andOursOverReferenceForRates() {
        QuickReport r = report(10, 20, 30e6, 15e6, 0);
        assertEquals(2.0, r.rows().get(0).speedup(), 1e-9, "half the peer's cost: twice as fast");
        assertEquals(2.0, r.rows().get(1).speedup(), 1e-9, "twice the peer's rate: twice as fast");
    }

    @Test
    void aRowWithoutBothMetrics_isLeftOut() {
        Map<String, Measurement> m = Map.of("jmh:A.ours", new Measurement(1, "ns/op", 0, 0));
        assertEquals(List.of(), QuickReport.of(Map.of(), List.of(COST), m).rows());
    }

    @Test
    void compare_flagsARatioMoreThanTheToleranceWorse_andNothingWithinIt() {
        QuickReport baseline = report(10, 20, 30e6, 15e6, 0); // 2.0× and 2.0×
        QuickReport slightlyWorse = report(10.9, 20, 28e6, 15e6, 0); // 1.83× (-8 %), 1.87× (-7 %)
        assertEquals(List.of(), slightlyWorse.compare(baseline, 0.10));

        QuickReport worse = report(11.5, 20, 30e6, 15e6, 0); // 1.74×: 13 % worse
        List<Regression> found = worse.compare(baseline, 0.10);
        assertEquals(1, found.size());
        assertEquals("cost", found.get(0).id());
        assertTrue(found.get(0).why().contains("13 % worse"), found.get(0).why());

        QuickReport slowerRate = report(10, 20, 20e6, 15e6, 0); // 1.33×: 33 % worse
        assertEquals(List.of("rate"), slowerRate.compare(baseline, 0.10).stream().map(Regression::id).toList());
    }

    @Test
    void compare_flagsBottomhalfsSideStartingToAllocate() {
        QuickReport baseline = report(10, 20, 30e6, 15e6, 0.001);
        QuickReport allocating = report(10, 20, 30e6, 15e6, 24);
        List<Regression> found = allocating.compare(baseline, 0.10);
        assertEquals(1, found.size());
        assertTrue(found.get(0).why().contains("allocates 24.0 B/op"), found.get(0).why());
    }

    @Test
    void bestOf_keepsTheFasterMeasurementOfEachRowMeasuredAgain_andNamesThem() {
        QuickReport baseline = report(10, 20, 30e6, 15e6, 0);
        QuickReport first = report(14, 20, 30e6, 15e6, 0); // cost row 1.43×: looks 29 % worse
        assertEquals(List.of("cost"), first.compare(baseline, 0.10).stream().map(Regression::id).toList());

        QuickReport noise = costOnly(10.5, 20); // the re-run: 1.90×, within 10 %
        QuickReport merged = first.bestOf(noise);
        assertEquals(20 / 10.5, merged.rows().get(0).speedup(), 1e-9);
        assertEquals(2.0, merged.rows().get(1).speedup(), 1e-9, "a row not measured again is kept as it was");
        assertEquals(List.of(), merged.compare(baseline, 0.10), "an outlier of one run is not reported");
        assertEquals("cost", merged.run().get("re-measured (best of two kept)"));

        QuickReport stillSlow = costOnly(13, 20); // 1.54×: a real regression
        assertEquals(List.of("cost"), first.bestOf(stillSlow).compare(baseline, 0.10).stream()
                .map(Regression::id).toList());
    }

    @Test
    void medianOf_keepsEachRowsMedianRun_andCompareAllowsARowTheSpreadOfItsRuns() {
        QuickReport a = report(10, 20, 30e6, 15e6, 0); // cost 2.0×, rate 2.0×
        QuickReport b = report(10, 22, 45e6, 15e6, 0); // 2.2×, 3.0×
        QuickReport c = report(10, 18, 15e6, 15e6, 0); // 1.8×, 1.0×
        QuickReport baseline = QuickReport.medianOf(List.of(a, b, c));
        assertEquals(2.0, baseline.rows().get(0).speedup(), 1e-9);
        assertEquals(0.2, baseline.rows().get(0).spread(), 1e-9, "(2.2 - 1.8) / 2.0");
        assertEquals(2.0, baseline.rows().get(1).speedup(), 1e-9);
        assertEquals(1.0, baseline.rows().get(1).spread(), 1e-9, "(3.0 - 1.0) / 2.0");

        // The cost row may drop 20 % (its spread) but not more; the rate row may drop anything short of 100 %.
        assertEquals(List.of(), report(10, 16.5, 2e6, 15e6, 0).compare(baseline, 0.10).stream()
                .filter(r -> r.id().equals("cost")).toList(), "1.65×: 17.5 % worse, within the 20 % spread");
        List<Regression> worse = report(10, 15, 30e6, 15e6, 0).compare(baseline, 0.10);
        assertEquals(List.of("cost"), worse.stream().map(Regression::id).toList());
        assertTrue(worse.get(0).why().contains("the baseline's own runs were that far apart"), worse.get(0).why());
    }

    @Test
    void json_roundTrips_andABaselineReadBackComparesEqual() {
        QuickReport r = report(10, 20, 30e6, 15e6, 0);
        QuickReport back = QuickReport.fromJson(r.toJson());
        assertEquals(r.rows(), back.rows());
        assertEquals(List.of(), r.compare(back, 0.0));
    }

    @Test
    void fromJson_refusesADocumentThatIsNotAReport() {
        assertThrows(IllegalArgumentException.class, () -> QuickReport.fromJson("{\"x\": 1}"));
        assertThrows(IllegalArgumentException.class, () -> QuickReport.fromJson("not json ["));
    }

    @Test
    void markdown_showsEveryRowWithItsRatio_andTheBaselineChangeWhenGiven() {
        QuickReport baseline = report(10, 20, 30e6, 15e6, 0);
        QuickReport now = report(10, 25, 30e6, 15e6, 0);
        String md = now.toMarkdown(baseline);
        assertTrue(md.contains("| cost | 1 | ours | 10.0 ns | peer | 25.0 ns | **2.50×** | 0.0 | 2.00× (±0 %) | +25 % |"),
                md);
        assertTrue(md.contains("| rate | 8.2 | wq | 30.00 M/s | fjp | 15.00 M/s | **2.00×** |  | 2.00× (±0 %) | +0 % |"),
                md);
        assertTrue(md.contains("- JDK: 25"), md);
    }

    @Test
    void everyRow_hasAUniqueId_andNamesMetricsThatExist() throws IOException {
        Set<String> ids = new HashSet<>();
        Set<String> benchmarks = benchmarkList();
        for (Row r : QuickRows.ROWS) {
            assertTrue(ids.add(r.id()), "duplicate row id " + r.id());
            for (Metric m : List.of(r.ours(), r.reference())) {
                if (m.isJmh()) {
                    assertTrue(benchmarks.contains("dev.bottomhalf.bench." + m.benchmark()),
                            r.id() + ": no JMH benchmark " + m.benchmark());
                } else {
                    assertTrue(WorkqueueThroughputHarness.THROUGHPUT_MECHANISMS.contains(m.mechanism()),
                            r.id() + ": no throughput mechanism " + m.mechanism());
                }
            }
        }
    }

    /** The benchmarks JMH's annotation processor listed for this module (META-INF/BenchmarkList). */
    private static Set<String> benchmarkList() throws IOException {
        Set<String> names = new HashSet<>();
        try (InputStream in = QuickReportTest.class.getResourceAsStream("/META-INF/BenchmarkList")) {
            assertTrue(in != null, "META-INF/BenchmarkList is on the class path");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                // JMH's serialised entry: "JMH S <len> <class> S <len> <generated class> S <len> <method> ...".
                String[] f = line.trim().split(" ");
                if (f.length > 9 && f[0].equals("JMH")) {
                    names.add(f[3] + "." + f[9]);
                }
            }
        }
        assertTrue(names.size() > 10, "read the benchmark list: " + names);
        return names;
    }

    @Test
    void options_parseBothSpellings_andRefuseNonsense() {
        QuickBench.Options o = QuickBench.Options.parse(new String[] {"--quick", "--rows", "wq\\.", "--tolerance=15",
                "--items=1000", "--compare", "--root=/tmp/x"});
        assertEquals(0.15, o.tolerance(), 1e-9);
        assertEquals(1000, o.items());
        assertEquals(Path.of("/tmp/x/bench/baseline/quick.json"), o.compareWith());
        assertEquals(Path.of("/tmp/x/target/bench-quick"), o.out());
        assertTrue(o.rows().matcher("wq.throughput-fjp1").find());

        assertThrows(IllegalArgumentException.class, () -> QuickBench.Options.parse(new String[] {"--items=0"}));
        assertThrows(IllegalArgumentException.class, () -> QuickBench.Options.parse(new String[] {"--rounds=x"}));
        assertThrows(IllegalArgumentException.class, () -> QuickBench.Options.parse(new String[] {"--frobnicate"}));
    }
}
