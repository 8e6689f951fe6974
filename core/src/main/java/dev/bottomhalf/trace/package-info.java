/**
 * Recording and rendering of the kernel's tracepoints ({@code irq_handler_entry}, {@code softirq_raise},
 * ...). Emission lives in {@link dev.bottomhalf.runtime.Tracing}; this package holds the sinks:
 * {@link dev.bottomhalf.trace.TraceBuffer}, the kernel's text trace, and
 * {@link dev.bottomhalf.trace.ChromeTraceExporter}, a Chrome Trace Event timeline for Perfetto. Imported by no
 * subsystem.
 *
 * <p>See {@code docs/tracing.md} and {@code docs/subsystems/runtime.md} ("Reports and tracing").
 */
package dev.bottomhalf.trace;
