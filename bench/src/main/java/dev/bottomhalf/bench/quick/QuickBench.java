package dev.bottomhalf.bench.quick;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import dev.bottomhalf.bench.WorkqueueThroughputHarness;
import dev.bottomhalf.bench.quick.QuickReport.Measurement;
import dev.bottomhalf.bench.quick.QuickReport.Regression;
import dev.bottomhalf.bench.quick.QuickRows.Metric;
import dev.bottomhalf.bench.quick.QuickRows.Row;

/**
 * {@code ./bottomhalf bench --quick}: the headline row of every section of docs/benchmarks.md with its peers, in
 * one run of a few minutes, written as JSON and as a Markdown table of ratios to the peers; optionally compared
 * with the committed baseline ({@code bench/baseline/quick.json}), flagging any ratio more than 10 % worse.
 *
 * <p>JMH rows run in one JMH invocation (one fork each, 2 × 1 s warm-up, 3 × 1 s measurement, the GC profiler
 * for bytes per operation); throughput rows run {@link WorkqueueThroughputHarness#throughput} in this JVM, best
 * of 3 rounds of 1,000,000 items.
 *
 * <p>Exit codes: 0 done (and no regression when comparing), 2 bad arguments or an unreadable baseline, 3 the
 * comparison found regressions.
 */
public final class QuickBench {
    static final String USAGE = """
            Usage: ./bottomhalf bench --quick [--compare[=FILE]] [--write-baseline[=N]] [--rows=REGEX] [--list]
                                              [--tolerance=PCT] [--items=N] [--rounds=N] [--warmup=N]
                                              [--iterations=N] [--time=MS] [--out=DIR]
            Runs the headline row of every benchmark section with its peers (a few minutes on 2 cores) and writes
            quick-<time>.json and quick-<time>.md (ratios to the peers) to DIR (default target/bench-quick).
              --compare[=FILE]   compare with a baseline (default bench/baseline/quick.json); a row that looks
                                 worse is measured once more and the faster kept; exit 3 when a ratio is still
                                 worse by more than the tolerance (or the baseline's own spread for that row,
                                 whichever is larger), or bottomhalf's side started to allocate
              --write-baseline[=N]  also write a baseline (bench/baseline/quick.json) from N runs (default 3):
                                 each row's median run and the runs' spread, which --compare allows that row
              --rows=REGEX       only the rows whose id matches (see --list)
              --list             list the rows and exit
              --tolerance=PCT    how much worse a ratio may get before --compare flags it (default 10)
              --items=N          items per throughput round (default 1000000); --rounds=N rounds (default 3)
              --warmup=N --iterations=N --time=MS   JMH warm-up and measurement iterations and their length
                                 (default 2, 3, 1000)
            Exit codes: 0 done, 2 bad arguments or baseline, 3 regressions found.""";

    private QuickBench() {
    }

    /** The parsed command line. */
    record Options(Path root, Path out, Path compareWith, boolean writeBaseline, int baselineRuns, Pattern rows,
            boolean list, double tolerance, int items, int rounds, int warmup, int iterations, int timeMs) {

        static Options parse(String[] args) {
            Path root = Path.of(System.getProperty("bottomhalf.root", "."));
            Path out = null;
            Path compare = null;
            boolean write = false;
            int baselineRuns = 3;
            Pattern rows = Pattern.compile(".*");
            boolean list = false;
            double tolerance = QuickReport.DEFAULT_TOLERANCE;
            int items = 1_000_000;
            int rounds = 3;
            int warmup = 2;
            int iterations = 3;
            int timeMs = 1000;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                String name = a;
                String value = null;
                int eq = a.indexOf('=');
                if (a.startsWith("--") && eq > 0) {
                    name = a.substring(0, eq);
                    value = a.substring(eq + 1);
                } else if (needsValue(a) && i + 1 < args.length) {
                    value = args[++i];
                }
                switch (name) {
                    case "--quick" -> { }
                    case "--root" -> root = Path.of(required(name, value));
                    case "--out" -> out = Path.of(required(name, value));
                    case "--compare" -> compare = value == null ? Path.of("") : Path.of(value);
                    case "--write-baseline" -> {
                        write = true;
                        if (value != null) {
                            baselineRuns = (int) positive(name, value);
                        }
                    }
                    case "--rows" -> rows = Pattern.compile(required(name, value));
                    case "--list" -> list = true;
                    case "--tolerance" -> tolerance = positive(name, value) / 100.0;
                    case "--items" -> items = (int) positive(name, value);
                    case "--rounds" -> rounds = (int) positive(name, value);
                    case "--warmup" -> warmup = (int) nonNegative(name, value);
                    case "--iterations" -> iterations = (int) positive(name, value);
                    case "--time" -> timeMs = (int) positive(name, value);
                    default -> throw new IllegalArgumentException("unknown option '" + a + "'");
                }
            }
            Path baseline = root.resolve("bench/baseline/quick.json");
            if (compare != null && compare.toString().isEmpty()) {
                compare = baseline;
            }
            return new Options(root, out != null ? out : root.resolve("target/bench-quick"), compare, write,
                    baselineRuns, rows, list, tolerance, items, rounds, warmup, iterations, timeMs);
        }

        private static boolean needsValue(String option) {
            return switch (option) {
                case "--root", "--out", "--rows", "--tolerance", "--items", "--rounds", "--warmup", "--iterations",
                        "--time" -> true;
                default -> false;
            };
        }

        private static String required(String name, String value) {
            if (value == null || value.isEmpty()) {
                throw new IllegalArgumentException(name + " needs a value");
            }
            return value;
        }

        private static double nonNegative(String name, String value) {
            double v;
            try {
                v = Double.parseDouble(required(name, value));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " takes a number, not '" + value + "'");
            }
            if (v < 0) {
                throw new IllegalArgumentException(name + " must not be negative: " + value);
            }
            return v;
        }

        private static double positive(String name, String value) {
            double v = nonNegative(name, value);
            if (v == 0) {
                throw new IllegalArgumentException(name + " must be positive: " + value);
            }
            return v;
        }

        Path baseline() {
            return root.resolve("bench/baseline/quick.json");
        }
    }

    /** Runs the quick benchmark; see the class comment for the exit codes. */
    public static void main(String[] args) throws Exception {
        System.exit(run(args));
    }

    static int run(String[] args) throws Exception {
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            System.out.println(USAGE);
            return 0;
        }
        Options o;
        try {
            o = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("bench --quick: " + e.getMessage());
            System.err.println(USAGE);
            return 2;
        }
        List<Row> rows = QuickRows.ROWS.stream().filter(r -> o.rows().matcher(r.id()).find()).toList();
        if (o.list()) {
            for (Row r : rows) {
                System.out.printf(Locale.ROOT, "%-24s benchmarks §%-4s %s: %s vs %s (%s)%n", r.id(), r.section(), r.title(),
                        r.ours().key(), r.reference().key(), r.kind().name().toLowerCase(Locale.ROOT));
            }
            return 0;
        }
        if (rows.isEmpty()) {
            System.err.println("bench --quick: no row matches '" + o.rows() + "' (see --list)");
            return 2;
        }
        QuickReport baseline = null;
        if (o.compareWith() != null) {
            try {
                baseline = QuickReport.fromJson(Files.readString(o.compareWith(), StandardCharsets.UTF_8));
            } catch (java.nio.file.NoSuchFileException e) {
                System.err.println("bench --quick: no baseline at " + o.compareWith()
                        + " (write one with --write-baseline, or name one with --compare=FILE)");
                return 2;
            } catch (IOException | IllegalArgumentException e) {
                System.err.println("bench --quick: cannot read the baseline " + o.compareWith() + ": " + e.getMessage());
                return 2;
            }
        }

        Map<String, String> facts = runFacts(o);
        Map<String, Measurement> measured = measure(rows, o);
        QuickReport report = QuickReport.of(facts, rows, measured);
        if (baseline != null) {
            // One run of a row moves by up to ±8 % (JMH rows) and far more (throughput rows) on a 2-core host:
            // a row that looks worse than the baseline is measured once more and the faster measurement kept.
            List<String> flagged = report.compare(baseline, o.tolerance()).stream().map(Regression::id).toList();
            if (!flagged.isEmpty()) {
                System.out.println("re-measuring the rows that look worse than the baseline: " + flagged);
                List<Row> again = rows.stream().filter(r -> flagged.contains(r.id())).toList();
                report = report.bestOf(QuickReport.of(Map.of(), again, measure(again, o)));
            }
        }
        report = report.withFact("finished", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME))
                .withFact("load average at the end", loadAverage());

        String stamp = ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Files.createDirectories(o.out());
        Path json = o.out().resolve("quick-" + stamp + ".json");
        Path md = o.out().resolve("quick-" + stamp + ".md");
        Files.writeString(json, report.toJson(), StandardCharsets.UTF_8);
        String markdown = report.toMarkdown(baseline);
        Files.writeString(md, markdown, StandardCharsets.UTF_8);
        System.out.println();
        System.out.println(markdown);
        System.out.println("written: " + json + " and " + md);
        if (o.writeBaseline()) {
            List<QuickReport> runs = new ArrayList<>(List.of(report));
            for (int i = 1; i < o.baselineRuns(); i++) {
                System.out.println("baseline: run " + (i + 1) + " of " + o.baselineRuns() + "...");
                runs.add(QuickReport.of(Map.of(), rows, measure(rows, o)));
            }
            QuickReport merged = QuickReport.medianOf(runs);
            Files.createDirectories(o.baseline().getParent());
            Files.writeString(o.baseline(), merged.toJson(), StandardCharsets.UTF_8);
            System.out.println(merged.toMarkdown(merged));
            System.out.println("baseline written (" + runs.size() + " runs, the median of each row and its spread): "
                    + o.baseline());
        }
        if (baseline != null) {
            List<Regression> regressions = report.compare(baseline, o.tolerance());
            if (!regressions.isEmpty()) {
                System.out.println("REGRESSIONS against " + o.compareWith() + ":");
                regressions.forEach(r -> System.out.println("  " + r.why()));
                return 3;
            }
            System.out.printf(Locale.ROOT, "no ratio more than %.0f %% worse than %s%n", 100 * o.tolerance(),
                    o.compareWith());
        }
        return 0;
    }

    /** Measures every metric of {@code rows}: the JMH ones in one JMH run, then the throughput ones. */
    private static Map<String, Measurement> measure(List<Row> rows, Options o) throws Exception {
        Map<String, Measurement> measured = new LinkedHashMap<>();
        Collection<Metric> metrics = QuickRows.metrics(rows);
        measured.putAll(runJmh(metrics.stream().filter(Metric::isJmh).toList(), o));
        for (Metric m : metrics) {
            if (!m.isJmh()) {
                System.out.printf(Locale.ROOT, "throughput: %s (%,d items, best of %d)...%n", m.label(), o.items(),
                        o.rounds());
                double rate = WorkqueueThroughputHarness.throughput(m.mechanism(), o.items(), o.rounds());
                measured.put(m.key(), new Measurement(rate, "items/s", Double.NaN, Double.NaN));
            }
        }
        return measured;
    }

    private static Map<String, Measurement> runJmh(List<Metric> metrics, Options o) throws RunnerException {
        Map<String, Measurement> out = new LinkedHashMap<>();
        if (metrics.isEmpty()) {
            return out;
        }
        ChainedOptionsBuilder b = new OptionsBuilder()
                .forks(1)
                .warmupIterations(o.warmup()).warmupTime(TimeValue.milliseconds(o.timeMs()))
                .measurementIterations(o.iterations()).measurementTime(TimeValue.milliseconds(o.timeMs()))
                .timeUnit(TimeUnit.NANOSECONDS)
                .addProfiler(GCProfiler.class)
                .shouldFailOnError(true);
        Map<String, List<String>> params = new LinkedHashMap<>();
        for (Metric m : metrics) {
            b.include("^dev\\.bottomhalf\\.bench\\." + Pattern.quote(m.benchmark()) + "$");
            String p = m.param();
            if (p != null) {
                int eq = p.indexOf('=');
                params.computeIfAbsent(p.substring(0, eq), k -> new ArrayList<>()).add(p.substring(eq + 1));
            }
        }
        params.forEach((name, values) -> b.param(name, values.stream().distinct().toArray(String[]::new)));
        Collection<RunResult> results = new Runner(b.build()).run();
        for (RunResult r : results) {
            String bench = r.getParams().getBenchmark().substring("dev.bottomhalf.bench.".length());
            for (Metric m : metrics) {
                if (!m.benchmark().equals(bench)) {
                    continue;
                }
                String p = m.param();
                if (p != null) {
                    int eq = p.indexOf('=');
                    if (!p.substring(eq + 1).equals(r.getParams().getParam(p.substring(0, eq)))) {
                        continue;
                    }
                }
                Result<?> primary = r.getPrimaryResult();
                Result<?> alloc = r.getSecondaryResults().get("gc.alloc.rate.norm");
                if (alloc == null) {
                    alloc = r.getSecondaryResults().get("·gc.alloc.rate.norm"); // JMH before 1.37 named it so
                }
                out.put(m.key(), new Measurement(primary.getScore(), primary.getScoreUnit(), primary.getScoreError(),
                        alloc == null ? Double.NaN : alloc.getScore()));
            }
        }
        for (Metric m : metrics) {
            if (!out.containsKey(m.key())) {
                throw new IllegalStateException("JMH returned no result for " + m.key());
            }
        }
        return out;
    }

    private static Map<String, String> runFacts(Options o) {
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("started", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
        facts.put("commit", System.getProperty("bottomhalf.commit", "unknown"));
        facts.put("JDK", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        facts.put("CPUs", Integer.toString(Runtime.getRuntime().availableProcessors()));
        facts.put("CPU model", cpuModel());
        facts.put("load average at the start", loadAverage());
        facts.put("settings", String.format(Locale.ROOT,
                "JMH 1 fork, %d × %d ms warm-up, %d × %d ms measurement, -prof gc; throughput best of %d × %,d items",
                o.warmup(), o.timeMs(), o.iterations(), o.timeMs(), o.rounds(), o.items()));
        return facts;
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        return "unknown";
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }
}
