package dev.bottomhalf.bench.quick;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

import dev.bottomhalf.bench.quick.QuickRows.Better;
import dev.bottomhalf.bench.quick.QuickRows.Row;

/**
 * What a quick run measured, as ratios to the peers: each row's speed-up (above 1: bottomhalf is faster than
 * its reference, below 1: slower), the metrics behind it, and how the run compares with a baseline. Written as
 * JSON (the baseline's format) and as a Markdown table.
 *
 * <p>The speed-up of a cost row (ns/op) is reference ÷ ours; of a rate row (items/s) ours ÷ reference. A row
 * regresses when its speed-up falls more than the tolerance (10 % by default) below the baseline's, or when
 * bottomhalf's side starts to allocate (≥ 0.5 B/op where the baseline had less). Ratios, not times, are
 * compared: the CPU behind a 2-core VM changes from one day to the next, and only ratios measured in one run
 * carry over.
 */
public final class QuickReport {
    /** The default tolerance of {@link #compare}: a speed-up more than 10 % below the baseline's is flagged. */
    public static final double DEFAULT_TOLERANCE = 0.10;
    /** Bytes per operation at and above which a metric counts as allocating. */
    static final double ALLOCATING_BYTES = 0.5;

    /**
     * One metric's result.
     *
     * @param value the score: ns/op for a JMH metric, items/s for a throughput metric
     * @param unit the unit of {@code value}
     * @param error JMH's 99.9 % half-interval, or NaN when there is none (a harness's best of rounds)
     * @param bytesPerOp the allocation per operation ({@code gc.alloc.rate.norm}), or NaN when not measured
     */
    public record Measurement(double value, String unit, double error, double bytesPerOp) {
    }

    /**
     * One row's outcome.
     *
     * @param id the row's id
     * @param section the number of the section of docs/benchmarks.md
     * @param title what is measured
     * @param ours bottomhalf's metric label
     * @param reference the reference's metric label
     * @param kind {@code PEER} or {@code FLOOR}
     * @param oursValue bottomhalf's score
     * @param referenceValue the reference's score
     * @param unit the unit of both scores
     * @param speedup above 1: bottomhalf is faster than the reference
     * @param oursBytesPerOp bottomhalf's allocation per operation, NaN when not measured
     * @param spread in a baseline made of several runs, how far apart the runs' speed-ups were: (highest − lowest)
     *        ÷ the median; 0 for a single run
     */
    public record RowResult(String id, String section, String title, String ours, String reference, String kind,
            double oursValue, double referenceValue, String unit, double speedup, double oursBytesPerOp,
            double spread) {

        RowResult withSpread(double s) {
            return new RowResult(id, section, title, ours, reference, kind, oursValue, referenceValue, unit, speedup,
                    oursBytesPerOp, s);
        }
    }

    /**
     * A row of {@link #compare} that got worse.
     *
     * @param id the row's id
     * @param baselineSpeedup the baseline's speed-up
     * @param speedup this run's
     * @param why what is wrong, in one line
     */
    public record Regression(String id, double baselineSpeedup, double speedup, String why) {
    }

    /** The JSON document: where and how it ran, and the rows. */
    private record Document(Map<String, String> run, List<RowResult> rows, Map<String, Measurement> metrics) {
    }

    private final Map<String, String> run;
    private final List<RowResult> rows;
    private final Map<String, Measurement> metrics;

    private QuickReport(Map<String, String> run, List<RowResult> rows, Map<String, Measurement> metrics) {
        this.run = run;
        this.rows = rows;
        this.metrics = metrics;
    }

    /**
     * The report of {@code rows} from the measured {@code metrics} (keyed by {@link QuickRows.Metric#key()});
     * a row whose metrics were not both measured is left out.
     *
     * @param run facts about the run (JDK, CPUs, date, commit, load), shown in both outputs
     */
    public static QuickReport of(Map<String, String> run, List<Row> rows, Map<String, Measurement> metrics) {
        List<RowResult> out = new ArrayList<>();
        for (Row r : rows) {
            Measurement ours = metrics.get(r.ours().key());
            Measurement ref = metrics.get(r.reference().key());
            if (ours == null || ref == null) {
                continue;
            }
            double speedup = r.better() == Better.LOWER ? ref.value() / ours.value() : ours.value() / ref.value();
            out.add(new RowResult(r.id(), r.section(), r.title(), r.ours().label(), r.reference().label(),
                    r.kind().name(), ours.value(), ref.value(), ours.unit(), speedup, ours.bytesPerOp(), 0));
        }
        return new QuickReport(new LinkedHashMap<>(run), List.copyOf(out), new LinkedHashMap<>(metrics));
    }

    /** The rows' outcomes, in the order of {@link QuickRows#ROWS}. */
    public List<RowResult> rows() {
        return rows;
    }

    /** Facts about the run, read-only. */
    public Map<String, String> run() {
        return java.util.Collections.unmodifiableMap(run);
    }

    /**
     * This report with one more fact about the run (or a fact replaced).
     *
     * @param name the fact's name
     * @param value its value
     * @return the new report
     */
    public QuickReport withFact(String name, String value) {
        Map<String, String> facts = new LinkedHashMap<>(run);
        facts.put(name, value);
        return new QuickReport(facts, rows, metrics);
    }

    private static Gson gson() {
        return new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create();
    }

    /** The report as JSON: {@code run}, {@code rows}, {@code metrics}. */
    public String toJson() {
        return gson().toJson(new Document(run, rows, metrics));
    }

    /**
     * A report read back from {@link #toJson()}'s output (a baseline).
     *
     * @throws IllegalArgumentException when {@code json} is not such a document
     */
    public static QuickReport fromJson(String json) {
        Document d;
        try {
            d = gson().fromJson(json, Document.class);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a quick-run report: " + e.getMessage(), e);
        }
        if (d == null || d.rows() == null) {
            throw new IllegalArgumentException("not a quick-run report: no rows");
        }
        return new QuickReport(d.run() == null ? Map.of() : d.run(), d.rows(),
                d.metrics() == null ? Map.of() : d.metrics());
    }

    /**
     * A baseline made of several runs of the same rows: for each row the run with the median speed-up, with the
     * runs' spread ((highest − lowest) ÷ median) recorded, so that {@link #compare} allows a row at least the
     * variation its own runs showed. The facts are the first run's, plus how many runs were merged.
     *
     * @param runs two or more reports of the same rows
     * @return the merged baseline
     * @throws IllegalArgumentException for no runs
     */
    public static QuickReport medianOf(List<QuickReport> runs) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs to merge");
        }
        List<RowResult> out = new ArrayList<>();
        for (RowResult first : runs.get(0).rows) {
            List<RowResult> same = new ArrayList<>();
            for (QuickReport r : runs) {
                for (RowResult x : r.rows) {
                    if (x.id().equals(first.id())) {
                        same.add(x);
                    }
                }
            }
            same.sort(java.util.Comparator.comparingDouble(RowResult::speedup));
            RowResult median = same.get((same.size() - 1) / 2);
            double spread = (same.get(same.size() - 1).speedup() - same.get(0).speedup()) / median.speedup();
            out.add(median.withSpread(spread));
        }
        Map<String, String> facts = new LinkedHashMap<>(runs.get(0).run);
        facts.put("baseline", runs.size() + " runs, each row the median run, its spread allowed by --compare");
        return new QuickReport(facts, List.copyOf(out), new LinkedHashMap<>(runs.get(0).metrics));
    }

    /**
     * This report with each row that {@code remeasured} also has replaced by the faster of the two measurements
     * (the higher speed-up): what the quick run keeps for a row it measured again because the first measurement
     * looked like a regression. A slow outlier of one run (the host's scheduling) is not kept; a real regression
     * is slower in both.
     *
     * @param remeasured a report of some of the same rows
     * @return the merged report, with the facts of this one and a {@code re-measured} fact naming the rows
     */
    public QuickReport bestOf(QuickReport remeasured) {
        Map<String, RowResult> again = new LinkedHashMap<>();
        for (RowResult r : remeasured.rows) {
            again.put(r.id(), r);
        }
        List<RowResult> merged = new ArrayList<>();
        for (RowResult r : rows) {
            RowResult other = again.get(r.id());
            merged.add(other != null && other.speedup() > r.speedup() ? other : r);
        }
        Map<String, Measurement> allMetrics = new LinkedHashMap<>(metrics);
        Map<String, String> facts = new LinkedHashMap<>(run);
        if (!again.isEmpty()) {
            facts.put("re-measured (best of two kept)", String.join(", ", again.keySet()));
        }
        for (Map.Entry<String, Measurement> e : remeasured.metrics.entrySet()) {
            allMetrics.put(e.getKey() + "#2", e.getValue());
        }
        return new QuickReport(facts, List.copyOf(merged), allMetrics);
    }

    /**
     * Every row whose speed-up fell more than {@code tolerance} (a fraction: 0.10 is 10 %) below
     * {@code baseline}'s, or whose bottomhalf side started to allocate. Rows only one report has are not
     * compared.
     */
    public List<Regression> compare(QuickReport baseline, double tolerance) {
        Map<String, RowResult> base = new LinkedHashMap<>();
        for (RowResult r : baseline.rows) {
            base.put(r.id(), r);
        }
        List<Regression> out = new ArrayList<>();
        for (RowResult now : rows) {
            RowResult then = base.get(now.id());
            if (then == null) {
                continue;
            }
            double allowed = Math.max(tolerance, then.spread());
            if (now.speedup() < then.speedup() * (1 - allowed)) {
                out.add(new Regression(now.id(), then.speedup(), now.speedup(), String.format(Locale.ROOT,
                        "%s: %.2f× %s, baseline %.2f× (%.0f %% worse, more than the %.0f %% allowed%s)", now.id(),
                        now.speedup(), now.reference(), then.speedup(),
                        100 * (1 - now.speedup() / then.speedup()), 100 * allowed,
                        allowed > tolerance ? ": the baseline's own runs were that far apart" : "")));
            } else if (now.oursBytesPerOp() >= ALLOCATING_BYTES
                    && !(then.oursBytesPerOp() >= ALLOCATING_BYTES)) {
                out.add(new Regression(now.id(), then.speedup(), now.speedup(), String.format(Locale.ROOT,
                        "%s: %s allocates %.1f B/op, the baseline did not", now.id(), now.ours(),
                        now.oursBytesPerOp())));
            }
        }
        return out;
    }

    /**
     * The report as a Markdown table (one line per row), with the run's facts above it and, when
     * {@code baseline} is not null, the baseline's speed-up and this run's change beside each row.
     */
    public String toMarkdown(QuickReport baseline) {
        Map<String, RowResult> base = new LinkedHashMap<>();
        if (baseline != null) {
            for (RowResult r : baseline.rows) {
                base.put(r.id(), r);
            }
        }
        StringBuilder sb = new StringBuilder();
        sb.append("# Quick run: bottomhalf against its peers\n\n");
        for (Map.Entry<String, String> e : run.entrySet()) {
            sb.append("- ").append(e.getKey()).append(": ").append(e.getValue()).append('\n');
        }
        sb.append("\nSpeed-up above 1: bottomhalf is faster than the reference; below 1: slower. ")
                .append("Cost rows in ns/op, throughput rows in M items/s.\n\n");
        sb.append("| row | docs/benchmarks.md § | bottomhalf | | reference | | speed-up | B/op |");
        if (baseline != null) {
            sb.append(" baseline | change |");
        }
        sb.append('\n');
        sb.append("|---|---|---|---:|---|---:|---:|---:|");
        if (baseline != null) {
            sb.append("---:|---:|");
        }
        sb.append('\n');
        for (RowResult r : rows) {
            sb.append("| ").append(r.id()).append(" | ").append(r.section()).append(" | ").append(r.ours())
                    .append(" | ").append(score(r.oursValue(), r.unit())).append(" | ")
                    .append(r.reference()).append(r.kind().equals("FLOOR") ? " (floor)" : "").append(" | ")
                    .append(score(r.referenceValue(), r.unit())).append(" | ")
                    .append(String.format(Locale.ROOT, "**%.2f×**", r.speedup())).append(" | ")
                    .append(Double.isNaN(r.oursBytesPerOp()) ? "" : String.format(Locale.ROOT, "%.1f",
                            r.oursBytesPerOp()))
                    .append(" |");
            if (baseline != null) {
                RowResult then = base.get(r.id());
                if (then == null) {
                    sb.append(" | |");
                } else {
                    sb.append(String.format(Locale.ROOT, " %.2f× (±%.0f %%) | %+.0f %% |", then.speedup(),
                            100 * then.spread() / 2, 100 * (r.speedup() / then.speedup() - 1)));
                }
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String score(double value, String unit) {
        if (unit.equals("items/s")) {
            return String.format(Locale.ROOT, "%.2f M/s", value / 1e6);
        }
        return String.format(Locale.ROOT, value < 10 ? "%.2f ns" : "%.1f ns", value);
    }
}
