/**
 * The runtime of one kernel: virtual CPUs with their IRQ and BH exclusion levels, execution contexts
 * (the kernel's {@code preempt_count} and context predicates), the clock and jiffies, runtime threads
 * and idle strategies, stepped mode, reports and the tracing switch. The bottom layer: it imports no
 * other package of this library.
 *
 * <p>See {@code docs/subsystems/runtime.md} (modes, threads and CPUs, the lifecycle, waits, execution contexts, reports, the lockup detectors) and {@code docs/architecture.md}.
 */
package dev.bottomhalf.runtime;
