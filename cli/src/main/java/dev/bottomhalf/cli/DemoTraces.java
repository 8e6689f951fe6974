package dev.bottomhalf.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.trace.ChromeTraceExporter;
import dev.bottomhalf.trace.TraceBuffer;

/**
 * The demo's two tracepoint readers, shared by both cards: the text trace of {@code --trace=N} (the last N hits,
 * printed at the end) and the timeline of {@code --trace-out=FILE} (the first hits, written as Chrome Trace Event
 * JSON). Attached before the run, {@link #report reported} after it; the main thread only.
 */
final class DemoTraces {
    private final DemoOptions options;
    private final TraceBuffer text;
    private final ChromeTraceExporter timeline;

    private DemoTraces(DemoOptions options, TraceBuffer text, ChromeTraceExporter timeline) {
        this.options = options;
        this.text = text;
        this.timeline = timeline;
    }

    /** Turns the kernel's tracepoints on for the readers the options ask for (none: tracing stays off). */
    static DemoTraces attach(Kernel kernel, DemoOptions options) {
        TraceBuffer text = options.traceLines() > 0 ? new TraceBuffer(options.traceLines()) : null;
        ChromeTraceExporter timeline = options.traceOut() != null
                ? new ChromeTraceExporter(DemoCommand.TRACE_OUT_HITS) : null;
        if (text != null && timeline != null) {
            kernel.tracing().enableAll((point, timeNs, cpu, comm, detail) -> {
                text.hit(point, timeNs, cpu, comm, detail);
                timeline.hit(point, timeNs, cpu, comm, detail);
            });
        } else if (text != null || timeline != null) {
            kernel.tracing().enableAll(text != null ? text : timeline);
        }
        return new DemoTraces(options, text, timeline);
    }

    /** Turns tracing off, prints the text trace and writes the timeline file, if asked for. */
    void report(Kernel kernel, PrintStream out) {
        kernel.tracing().disable();
        if (text != null) {
            out.println();
            out.println("trace (last " + options.traceLines() + " hits):");
            out.print(text.render());
        }
        if (timeline != null) {
            Path file = options.traceOut();
            try {
                timeline.writeTo(file);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the timeline to " + file + ": " + e.getMessage(), e);
            }
            out.println();
            out.printf("timeline: %,d tracepoint hits written to %s (%,d later hits dropped); open it at ui.perfetto.dev"
                    + " (Open trace file) or in chrome://tracing%n", timeline.recorded(), file, timeline.dropped());
        }
    }
}
