/**
 * Softirqs ({@code kernel/softirq.c}): the vector table, raising, the bounded processing loop at
 * irq_exit, local_bh_enable and in {@code ksoftirqd/N}, and the per-CPU execution counts.
 *
 * <p>See {@code docs/subsystems/softirq.md}.
 */
package dev.bottomhalf.softirq;
