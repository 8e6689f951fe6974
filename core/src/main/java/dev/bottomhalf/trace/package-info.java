/**
 * Recording and rendering of the kernel's tracepoints ({@code irq_handler_entry}, {@code softirq_raise},
 * ...). Emission lives in {@link dev.bottomhalf.runtime.Tracing}; this package holds the sinks. Imported
 * by no subsystem.
 *
 * <p>See {@code docs/subsystems/runtime.md} ("Reports and tracing").
 */
package dev.bottomhalf.trace;
