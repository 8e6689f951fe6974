package dev.bottomhalf.web;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Writes one frame of the web view — what the page shows at one refresh — as a JSON object: the two per-CPU tables
 * with each row's counts and rates per second, ksoftirqd, the workqueues, the reports and the timeline's new
 * segments. Used by the view's sampler thread only.
 */
final class Frames {
    /** How many of the report log's newest entries a frame carries. */
    static final int REPORTS_PER_FRAME = 50;

    private Frames() {
    }

    /** The frame's fixed facts. */
    record Meta(long seq, int cpus, int hz, long refreshMs, long nowUs, boolean timelineOn) {
    }

    static String write(Meta meta, KernelCounters.Sample prev, KernelCounters.Sample cur, Timeline timeline,
                        HitRing ring, long baseNs, ReportLog log) {
        double seconds = prev == null ? 0 : (cur.wallNs() - prev.wallNs()) / 1e9;
        StringBuilder b = new StringBuilder(8192);
        b.append("{\"seq\":").append(meta.seq())
                .append(",\"cpus\":").append(meta.cpus())
                .append(",\"hz\":").append(meta.hz())
                .append(",\"refreshMs\":").append(meta.refreshMs())
                .append(",\"nowUs\":").append(meta.nowUs())
                .append(",\"uptimeNs\":").append(cur.uptimeNs())
                .append(",\"jiffies\":").append(cur.jiffies())
                .append(",\"closed\":").append(cur.closed());
        b.append(",\"interrupts\":");
        rows(b, cur.interrupts(), prev == null ? null : prev.interrupts(), seconds);
        b.append(",\"softirqs\":");
        rows(b, cur.softirqs(), prev == null ? null : prev.softirqs(), seconds);

        b.append(",\"ksoftirqd\":[");
        for (int cpu = 0; cpu < cur.ksoftirqdRuns().length; cpu++) {
            long runs = cur.ksoftirqdRuns()[cpu];
            b.append(cpu == 0 ? "" : ",").append("{\"cpu\":").append(cpu).append(",\"runs\":").append(runs)
                    .append(",\"rate\":").append(rate(runs, prev == null ? -1 : prev.ksoftirqdRuns()[cpu], seconds))
                    .append(",\"woken\":").append(cur.ksoftirqdWoken()[cpu]).append('}');
        }
        b.append(']');

        Map<String, Long> prevTotals = new HashMap<>();
        if (prev != null) {
            for (Workqueues.Stats s : prev.workqueues()) {
                prevTotals.put(s.name(), s.total());
            }
        }
        b.append(",\"workqueues\":[");
        boolean first = true;
        for (Workqueues.Stats s : cur.workqueues()) {
            b.append(first ? "" : ",").append("{\"name\":").append(quote(s.name()))
                    .append(",\"total\":").append(s.total())
                    .append(",\"rate\":").append(rate(s.total(), prevTotals.getOrDefault(s.name(), prev == null ? -1L : 0L), seconds))
                    .append(",\"inFlight\":").append(s.inFlight())
                    .append(",\"runMs\":").append(s.runNs() / 1_000_000)
                    .append(",\"cpuIntensive\":").append(s.cpuIntensive())
                    .append(",\"cmWakeups\":").append(s.cmWakeups())
                    .append(",\"mayday\":").append(s.mayday())
                    .append(",\"rescued\":").append(s.rescued()).append('}');
            first = false;
        }
        b.append(']');

        b.append(",\"reportCounts\":{");
        KernelEvent.Kind[] kinds = KernelEvent.Kind.values();
        for (KernelEvent.Kind k : kinds) {
            b.append(k.ordinal() == 0 ? "" : ",").append(quote(k.name())).append(':').append(cur.reportCounts()[k.ordinal()]);
        }
        b.append("},\"reportLog\":").append(log != null).append(",\"reports\":[");
        if (log != null) {
            List<ReportLog.Entry> entries = log.entries();
            first = true;
            for (ReportLog.Entry e : entries.subList(Math.max(0, entries.size() - REPORTS_PER_FRAME), entries.size())) {
                KernelEvent ev = e.event();
                b.append(first ? "" : ",").append("{\"seq\":").append(e.seq())
                        .append(",\"kind\":").append(quote(ev.kind().name()))
                        .append(",\"message\":").append(quote(ev.message()))
                        .append(",\"cpu\":").append(ev.cpu())
                        .append(",\"thread\":").append(quote(ev.thread()))
                        .append(",\"context\":").append(quote(ev.context()))
                        .append(",\"jiffies\":").append(ev.jiffies()).append('}');
                first = false;
            }
        }
        b.append(']');

        b.append(",\"timeline\":{\"on\":").append(meta.timelineOn()).append(",\"lanes\":[");
        for (Timeline.Lane lane : Timeline.Lane.values()) {
            b.append(lane.ordinal() == 0 ? "" : ",").append(quote(lane.label));
        }
        b.append("],\"segments\":[");
        boolean[] firstSeg = {true};
        if (timeline != null) {
            timeline.takeSegments(s -> {
                b.append(firstSeg[0] ? "" : ",").append('[').append(s.cpu).append(',').append(s.lane.ordinal())
                        .append(',').append(s.instant ? 1 : 0)
                        .append(',').append((s.startNs - baseNs) / 1_000)
                        .append(',').append((s.endNs - baseNs) / 1_000)
                        .append(',').append(s.count)
                        .append(',').append(quote(s.name)).append(']');
                firstSeg[0] = false;
            });
            b.append("],\"hits\":").append(ring.accepted())
                    .append(",\"hitsDropped\":").append(ring.dropped())
                    .append(",\"ringCapacity\":").append(ring.capacity())
                    .append(",\"spans\":").append(timeline.spans())
                    .append(",\"instants\":").append(timeline.instants())
                    .append(",\"unmatchedExits\":").append(timeline.unmatchedExits())
                    .append(",\"lostOpenSpans\":").append(timeline.lostOpenSpans())
                    .append(",\"segmentsDropped\":").append(timeline.segmentsDropped())
                    .append('}');
        } else {
            b.append("]}");
        }
        return b.append('}').toString();
    }

    private static void rows(StringBuilder b, List<KernelCounters.Row> cur, List<KernelCounters.Row> prev, double seconds) {
        Map<String, long[]> before = new HashMap<>();
        if (prev != null) {
            for (KernelCounters.Row r : prev) {
                before.put(r.label(), r.perCpu());
            }
        }
        b.append('[');
        boolean first = true;
        for (KernelCounters.Row r : cur) {
            long[] old = before.get(r.label());
            b.append(first ? "" : ",").append("{\"label\":").append(quote(r.label()))
                    .append(",\"desc\":").append(quote(r.description())).append(",\"counts\":[");
            for (int c = 0; c < r.perCpu().length; c++) {
                b.append(c == 0 ? "" : ",").append(r.perCpu()[c]);
            }
            b.append("],\"rates\":[");
            for (int c = 0; c < r.perCpu().length; c++) {
                b.append(c == 0 ? "" : ",").append(rate(r.perCpu()[c], old == null ? (prev == null ? -1 : 0) : old[c], seconds));
            }
            b.append("]}");
            first = false;
        }
        b.append(']');
    }

    /** Per second between two readings, rounded; 0 for the first frame (no earlier reading). */
    private static long rate(long now, long before, double seconds) {
        if (before < 0 || seconds <= 0) {
            return 0;
        }
        return Math.round(Math.max(0, now - before) / seconds);
    }

    /**
     * {@code s} as a JSON string literal (null as {@code null}). Unlike the trace exporter's, it also escapes
     * {@code <}, {@code >} and {@code &}: a frame's text (a report, a workqueue's name) may end up inside the page,
     * and these escapes keep it from ever closing a tag.
     */
    static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == '\u2028' || c == '\u2029' || c == '<' || c == '>' || c == '&') {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
