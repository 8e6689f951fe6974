/**
 * Not exported: the JDK Flight Recorder events of the execution sites ({@code bottomhalf.HardIrq},
 * {@code bottomhalf.Softirq}, ...) and {@link dev.bottomhalf.internal.jfr.Jfr}, the gate and helpers the sites call.
 * Imports nothing of ours (only {@code jdk.jfr}); the subsystems and {@code runtime.Reports} call it.
 *
 * <p>Why here and not in the exported {@code dev.bottomhalf.trace}: what users rely on is an event's name and fields
 * in a recording, which JFR tools read without our classes; the classes themselves would only let a user commit
 * fake kernel events and would put {@code jdk.jfr} types on the public API. The names are public in
 * {@link dev.bottomhalf.trace.JfrEvents}. JFR registers events of a named module's non-exported package: the
 * module reads {@code jdk.jfr} ({@code requires jdk.jfr}) and JFR opens the package to itself when it registers the
 * class ({@code JfrModulePathTest} runs a kernel on the module path and reads its recording).
 *
 * <p>See {@code docs/tracing.md}, "JFR events".
 */
package dev.bottomhalf.internal.jfr;
