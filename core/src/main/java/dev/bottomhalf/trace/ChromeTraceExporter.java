package dev.bottomhalf.trace;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.TraceSink;
import dev.bottomhalf.runtime.Tracepoint;

/**
 * A trace sink that records tracepoint hits and writes them as a timeline in the Chrome Trace Event Format (JSON),
 * which Perfetto ({@code ui.perfetto.dev}) and {@code chrome://tracing} open. {@link #hit} may be called from any
 * thread and any context, hardirq included; {@link #writeTo(Path)} and the other writers from any thread.
 *
 * <p>Implementation notes: {@link #hit} claims a slot with one atomic increment and stores an immutable record
 * there with a release store; nothing else happens on the emitting thread (no lock, no formatting). The buffer
 * is bounded: it keeps the first {@link #capacity()} hits and drops the later ones, counting them
 * ({@link #dropped()}); keeping the first hits rather than the newest keeps every recorded exit after its entry.
 * A writer reads the claimed slots with acquire loads; a slot claimed by an emitter that has not stored its
 * record yet reads as empty and is skipped (counted as {@code skippedInFlight} in the trace's metadata), so
 * write after {@code tracing().disable()} for a complete file. All the JSON work happens in the writer.
 *
 * <p>What the file holds (see {@code docs/tracing.md}): one process per CPU ({@code CPU 0}, ...; hits from
 * threads outside the kernel go to a process {@code outside the kernel}); in it one thread per runtime context
 * that emitted ({@code cpu/0}, {@code ksoftirqd/0}, {@code kworker/0:1}, {@code irq/24-eth0}, a task's name);
 * on each thread a slice ({@code B}/{@code E}) for every entry/exit pair — hardirq handler, softirq vector,
 * tasklet, timer and hrtimer callback, work item, cross-CPU function call — nested as they nested; instants
 * ({@code i}) for raises, timer starts and cancels, queued and activated work items and NAPI polls (the kernel's
 * {@code napi_poll} is emitted after the poll, so it has no duration); flow arrows ({@code s}/{@code f}) from a
 * softirq raise to the next run of that vector on that CPU, from a work item's queueing to its execution, from a
 * timer's or hrtimer's (last) start to its expiry; and a counter ({@code C}) per CPU of the softirq vectors
 * raised and not yet entered. A flow's start ({@code s}) follows its instant at the same time on the same thread;
 * its end ({@code f}, {@code "bp": "e"}) follows the slice's begin, so it binds to that slice. An exit with no open entry of the same kind on its thread (the trace
 * started mid-way) is dropped; an entry still open when an enclosing entry exits, or at the trace's end, is
 * closed there, with {@code "closed": "by outer exit"} or {@code "closed": "at trace end"} in the closing
 * event's args; the pairing is {@link TraceSpans}'. Timestamps are the kernel clock's ({@code timeNs} of each hit) in microseconds: in stepped mode
 * the manual clock, so a stepped scenario's file is the same on every run.
 */
public final class ChromeTraceExporter implements TraceSink {
    /** The buffer size of {@link #attach(Kernel)}: 1,048,576 hits. */
    public static final int DEFAULT_CAPACITY = 1 << 20;

    /** One recorded hit, immutable. */
    private record Hit(Tracepoint point, long timeNs, int cpu, String comm, String detail) {
    }

    private final AtomicReferenceArray<Hit> slots;
    private final AtomicLong claimed = new AtomicLong();

    /**
     * An exporter keeping the first {@code capacity} hits. Any thread; enable it with
     * {@code kernel.tracing().enableAll(exporter)}, or use {@link #attach(Kernel)}.
     *
     * @param capacity how many hits to keep, at least 1
     * @throws IllegalArgumentException when {@code capacity} is below 1
     */
    public ChromeTraceExporter(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1: " + capacity);
        }
        this.slots = new AtomicReferenceArray<>(capacity);
    }

    /**
     * Creates an exporter of {@link #DEFAULT_CAPACITY} hits and sends every tracepoint of {@code kernel} to it
     * (replacing the kernel's previous sink). Any thread.
     *
     * @param kernel the kernel to trace
     * @return the exporter, recording
     */
    public static ChromeTraceExporter attach(Kernel kernel) {
        return attach(kernel, DEFAULT_CAPACITY);
    }

    /**
     * Creates an exporter of {@code capacity} hits and sends every tracepoint of {@code kernel} to it (replacing
     * the kernel's previous sink). Any thread.
     *
     * @param kernel the kernel to trace
     * @param capacity how many hits to keep, at least 1
     * @return the exporter, recording
     * @throws IllegalArgumentException when {@code capacity} is below 1
     */
    public static ChromeTraceExporter attach(Kernel kernel, int capacity) {
        ChromeTraceExporter exporter = new ChromeTraceExporter(capacity);
        kernel.tracing().enableAll(exporter);
        return exporter;
    }

    @Override
    public void hit(Tracepoint point, long timeNs, int cpu, String comm, String detail) {
        long i = claimed.getAndIncrement();
        if (i < slots.length()) {
            slots.setRelease((int) i, new Hit(point, timeNs, cpu, comm, detail));
        }
    }

    /**
     * How many hits the buffer holds at most. Any thread.
     *
     * @return the capacity
     */
    public int capacity() {
        return slots.length();
    }

    /**
     * How many hits were kept (claimed a slot). Any thread.
     *
     * @return the kept hits, at most {@link #capacity()}
     */
    public long recorded() {
        return Math.min(claimed.get(), slots.length());
    }

    /**
     * How many hits arrived after the buffer was full and were dropped. Any thread.
     *
     * @return the dropped hits
     */
    public long dropped() {
        return Math.max(0, claimed.get() - slots.length());
    }

    /**
     * Writes the timeline to {@code file} (created or truncated), UTF-8. Any thread; hits arriving meanwhile
     * may or may not be in it.
     *
     * @param file where to write
     * @throws IOException when the file cannot be written
     */
    public void writeTo(Path file) throws IOException {
        try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            writeTo(out);
        }
    }

    /**
     * Writes the timeline to {@code out}, which is neither flushed nor closed. Any thread.
     *
     * @param out where to write
     * @throws IOException when {@code out} throws
     */
    public void writeTo(Writer out) throws IOException {
        new Renderer(snapshot()).render(out, slots.length(), dropped());
    }

    /**
     * The timeline as a JSON string. Any thread.
     *
     * @return the JSON text, one event a line
     */
    public String toJson() {
        StringWriter out = new StringWriter();
        try {
            writeTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not throw
        }
        return out.toString();
    }

    /** The stored hits in slot order; null where an emitter has claimed a slot and not yet stored. */
    private Hit[] snapshot() {
        int n = (int) recorded();
        Hit[] hits = new Hit[n];
        for (int i = 0; i < n; i++) {
            hits[i] = slots.getAcquire(i);
        }
        return hits;
    }

    // ------------------------------------------------------------------------------------------
    // Rendering (the writer's thread only)
    // ------------------------------------------------------------------------------------------

    /** One output event: its JSON text, ordered by the hit that produced it, then by its place among them. */
    private record Event(int hitIndex, int sub, String json) {
    }

    /** One thread of the timeline: a (CPU, comm) pair. */
    private static final class Track {
        final int pid;
        final int tid;
        final String comm;
        final TraceSpans.OpenSpans open = new TraceSpans.OpenSpans(); // the open slices, innermost first

        Track(int pid, int tid, String comm) {
            this.pid = pid;
            this.tid = tid;
            this.comm = comm;
        }
    }

    /** The source end of a flow, waiting for the run it caused. */
    private record Source(int hitIndex, long timeNs, Track track) {
    }

    /** Turns one snapshot of hits into the JSON document. */
    private static final class Renderer {
        private final List<Hit> hits = new ArrayList<>();
        private final int skippedInFlight;
        private final List<Event> events = new ArrayList<>();
        private final Map<String, Track> tracks = new LinkedHashMap<>();
        private final Map<String, Source> pending = new HashMap<>();
        private final Map<Integer, Integer> softirqPending = new HashMap<>();
        private int outsidePid;
        private int nextFlowId = 1;
        private long unmatchedExits;
        private long closedByOuterExit;
        private long closedAtEnd;

        Renderer(Hit[] snapshot) {
            int skipped = 0;
            for (Hit h : snapshot) {
                if (h == null) {
                    skipped++;
                } else {
                    hits.add(h);
                }
            }
            this.skippedInFlight = skipped;
            hits.sort(Comparator.comparingLong(Hit::timeNs)); // stable: each thread's hits keep their order
        }

        void render(Writer out, int capacity, long dropped) throws IOException {
            int maxCpu = -1;
            for (Hit h : hits) {
                maxCpu = Math.max(maxCpu, h.cpu());
            }
            outsidePid = maxCpu + 2;
            for (int i = 0; i < hits.size(); i++) {
                accept(i, hits.get(i));
            }
            long endNs = hits.isEmpty() ? 0 : hits.getLast().timeNs();
            for (Track t : tracks.values()) {
                t.open.closeAll(endNs, (key, startNs, atNs, depth, matched) -> {
                    closedAtEnd++;
                    events.add(new Event(hits.size(), 0, event(nameOf(key), catOf(key), "E", atNs, t,
                            "\"args\":{\"closed\":\"at trace end\"}")));
                });
            }
            events.sort(Comparator.comparingInt(Event::hitIndex).thenComparingInt(Event::sub));

            out.write("{\"traceEvents\":[\n");
            boolean first = true;
            for (String m : metadata()) {
                first = line(out, m, first);
            }
            for (Event e : events) {
                first = line(out, e.json(), first);
            }
            out.write("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"source\":\"bottomhalf tracepoints\","
                    + "\"capacity\":" + capacity + ",\"recorded\":" + hits.size() + ",\"dropped\":" + dropped
                    + ",\"skippedInFlight\":" + skippedInFlight + ",\"unmatchedExitsDropped\":" + unmatchedExits
                    + ",\"closedByOuterExit\":" + closedByOuterExit + ",\"closedAtTraceEnd\":" + closedAtEnd
                    + "}}\n");
        }

        private static boolean line(Writer out, String json, boolean first) throws IOException {
            if (!first) {
                out.write(",\n");
            }
            out.write(json);
            return false;
        }

        /** The process and thread names and sort orders. */
        private List<String> metadata() {
            List<String> out = new ArrayList<>();
            Map<Integer, String> processes = new LinkedHashMap<>();
            for (Track t : tracks.values()) {
                processes.putIfAbsent(t.pid, t.pid == outsidePid ? "outside the kernel" : "CPU " + (t.pid - 1));
            }
            processes.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(p -> {
                out.add("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + p.getKey() + ",\"tid\":0,"
                        + "\"args\":{\"name\":" + quote(p.getValue()) + "}}");
                out.add("{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":" + p.getKey() + ",\"tid\":0,"
                        + "\"args\":{\"sort_index\":" + p.getKey() + "}}");
            });
            for (Track t : tracks.values()) {
                out.add("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":" + t.pid + ",\"tid\":" + t.tid
                        + ",\"args\":{\"name\":" + quote(t.comm) + "}}");
                out.add("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":" + t.pid + ",\"tid\":" + t.tid
                        + ",\"args\":{\"sort_index\":" + (rank(t.comm) * 10_000 + t.tid) + "}}");
            }
            return out;
        }

        /** The CPU's own thread first, then threaded IRQs, ksoftirqd, kworkers, anything else. */
        private static int rank(String comm) {
            if (comm.startsWith("cpu/")) {
                return 0;
            } else if (comm.startsWith("irq/")) {
                return 1;
            } else if (comm.startsWith("ksoftirqd/")) {
                return 2;
            } else if (comm.startsWith("kworker/")) {
                return 3;
            }
            return 4;
        }

        private Track track(Hit h) {
            String key = h.cpu() + "\u0000" + h.comm();
            Track t = tracks.get(key);
            if (t == null) {
                t = new Track(h.cpu() < 0 ? outsidePid : h.cpu() + 1, 1000 + tracks.size(), h.comm());
                tracks.put(key, t);
            }
            return t;
        }

        /** One hit: its slice end, instant, counter and flow events. */
        private void accept(int index, Hit h) {
            Track t = track(h);
            String d = h.detail();
            String cat = h.point().system();
            TraceSpans.Mark mark = TraceSpans.classify(h.point(), h.cpu(), d);
            TraceSpans.Role role = mark.role();
            String key = mark.key();
            String flow = mark.flow();
            if (h.point() == Tracepoint.SOFTIRQ_RAISE || h.point() == Tracepoint.SOFTIRQ_ENTRY) {
                String vec = between(d, "vec=", " ");
                if (vec != null) {
                    softirqCounter(index, h, t, Integer.parseInt(vec), role == TraceSpans.Role.INSTANT);
                }
            }
            String args = "\"args\":{\"detail\":" + quote(d) + "}";
            switch (role) {
                case ENTRY -> {
                    events.add(new Event(index, 0, event(nameOf(key), cat, "B", h.timeNs(), t, args)));
                    Source src = flow == null ? null : pending.remove(flow);
                    if (src != null) {
                        int id = nextFlowId++;
                        String flowArgs = "\"id\":" + id + ",\"args\":{}";
                        events.add(new Event(src.hitIndex(), 1, event(nameOf(key), "flow", "s", src.timeNs(),
                                src.track(), flowArgs)));
                        events.add(new Event(index, 1, event(nameOf(key), "flow", "f", h.timeNs(), t,
                                "\"bp\":\"e\"," + flowArgs)));
                    }
                    t.open.open(key, h.timeNs());
                }
                case EXIT -> exit(index, h, t, key, cat, args);
                case INSTANT -> {
                    String name = h.point().eventName() + (key.endsWith(":") ? "" : " " + key.substring(key.indexOf(':') + 1));
                    events.add(new Event(index, 0, event(name, cat, "i", h.timeNs(), t, "\"s\":\"t\"," + args)));
                    if (flow != null) {
                        Source src = new Source(index, h.timeNs(), t);
                        if (h.point() == Tracepoint.SOFTIRQ_RAISE) {
                            pending.putIfAbsent(flow, src); // later raises coalesce into the pending bit
                        } else {
                            pending.put(flow, src);         // the last start or queueing is the one that runs
                        }
                    }
                }
                default -> throw new AssertionError(role);
            }
        }

        /** An exit: closes its slice and any still open inside it; dropped when its slice is not open. */
        private void exit(int index, Hit h, Track t, String key, String cat, String args) {
            boolean closed = t.open.close(key, h.timeNs(), (open, startNs, endNs, depth, matched) -> {
                if (matched) {
                    events.add(new Event(index, 0, event(nameOf(open), cat, "E", endNs, t, args)));
                } else {
                    closedByOuterExit++;
                    events.add(new Event(index, 0, event(nameOf(open), catOf(open), "E", endNs, t,
                            "\"args\":{\"closed\":\"by outer exit\"}")));
                }
            });
            if (!closed) {
                unmatchedExits++;
            }
        }

        /** The "softirq pending" counter of the hit's CPU: a raise sets the vector's bit, an entry clears it. */
        private void softirqCounter(int index, Hit h, Track t, int vec, boolean raise) {
            int before = softirqPending.getOrDefault(h.cpu(), 0);
            int after = raise ? before | 1 << vec : before & ~(1 << vec);
            if (after != before) {
                softirqPending.put(h.cpu(), after);
                events.add(new Event(index, 3, event("softirq pending", "irq", "C", h.timeNs(), t,
                        "\"args\":{\"vectors\":" + Integer.bitCount(after) + "}")));
            }
        }

        /** The slice's display name: {@code irq 24: eth0}, {@code softirq NET_RX}, {@code work my-work}. */
        private static String nameOf(String key) {
            return TraceSpans.nameOf(key);
        }

        private static String catOf(String key) {
            return TraceSpans.categoryOf(key);
        }

        private static String event(String name, String cat, String ph, long timeNs, Track t, String rest) {
            return "{\"name\":" + quote(name) + ",\"cat\":" + quote(cat) + ",\"ph\":\"" + ph + "\",\"ts\":"
                    + micros(timeNs) + ",\"pid\":" + t.pid + ",\"tid\":" + t.tid + "," + rest + "}";
        }

        /** The text between {@code start} and the first {@code end} after it; null when either is missing. */
        private static String between(String s, String start, String end) {
            int a = s.indexOf(start);
            if (a < 0) {
                return null;
            }
            a += start.length();
            int b = s.indexOf(end, a);
            return b < 0 ? null : s.substring(a, b);
        }
    }

    /** Nanoseconds as microseconds, exact: {@code 1500} → {@code 1.5}, {@code 2000} → {@code 2}. */
    static String micros(long ns) {
        String sign = ns < 0 ? "-" : "";
        long abs = Math.abs(ns);
        long whole = abs / 1_000;
        int frac = (int) (abs % 1_000);
        if (frac == 0) {
            return sign + whole;
        }
        String f = String.format("%03d", frac);
        while (f.endsWith("0")) {
            f = f.substring(0, f.length() - 1);
        }
        return sign + whole + "." + f;
    }

    /** {@code s} as a JSON string literal. */
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
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    @Override
    public String toString() {
        return "ChromeTraceExporter[capacity=" + capacity() + ", recorded=" + recorded() + ", dropped=" + dropped() + "]";
    }
}
