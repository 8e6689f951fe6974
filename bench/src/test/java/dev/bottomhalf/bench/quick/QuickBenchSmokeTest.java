package dev.bottomhalf.bench.quick;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./bottomhalf bench --quick} end to end, shrunk to seconds: a JMH row against a peer, one against a floor,
 * and a throughput row — measured with one short iteration each, written as JSON and Markdown, and compared with a
 * baseline. The numbers mean nothing here (a loaded test host, no warm-up); what is checked is that the run's two
 * paths (JMH in a forked JVM, the throughput harness in this one) still produce a report that reads back.
 */
class QuickBenchSmokeTest {

    @Test
    void aShrunkQuickRun_measuresItsRows_writesJsonAndMarkdown_andComparesWithABaseline(@TempDir Path dir)
            throws Exception {
        String rows = "^(raise\\.pending|timer\\.expiry-floor|wq\\.throughput-tpe)$";
        List<String> shrunk = List.of("--rows=" + rows, "--warmup=0", "--iterations=1", "--time=100",
                "--items=20000", "--rounds=1", "--root=" + dir);
        int rc = QuickBench.run(Stream.concat(shrunk.stream(), Stream.of("--out=" + dir.resolve("first")))
                .toArray(String[]::new));
        assertEquals(0, rc);
        Path json = only(dir.resolve("first"), ".json");
        QuickReport report = QuickReport.fromJson(Files.readString(json, StandardCharsets.UTF_8));
        assertEquals(List.of("raise.pending", "timer.expiry-floor", "wq.throughput-tpe"),
                report.rows().stream().map(QuickReport.RowResult::id).toList());
        for (QuickReport.RowResult r : report.rows()) {
            assertTrue(r.oursValue() > 0 && r.referenceValue() > 0 && Double.isFinite(r.speedup()), r.toString());
        }
        String md = Files.readString(only(dir.resolve("first"), ".md"), StandardCharsets.UTF_8);
        assertTrue(md.contains("timer.expiry-floor"), md);

        // The run just written, as the baseline of a second run: the compare path runs (its verdict on these
        // unwarmed numbers is not the point: 0, or 3 when a row moved by more than the tolerance).
        Path baseline = dir.resolve("bench/baseline/quick.json");
        Files.createDirectories(baseline.getParent());
        Files.copy(json, baseline);
        int again = QuickBench.run(Stream.concat(shrunk.stream(), Stream.of("--out=" + dir.resolve("second"),
                "--compare", "--tolerance=1000")).toArray(String[]::new));
        assertEquals(0, again);
    }

    private static Path only(Path dir, String suffix) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> found = files.filter(p -> p.toString().endsWith(suffix)).toList();
            assertEquals(1, found.size(), found.toString());
            return found.get(0);
        }
    }
}
