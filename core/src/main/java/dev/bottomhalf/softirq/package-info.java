/**
 * Softirqs ({@code kernel/softirq.c}): the vector table, raising, the bounded processing loop at
 * irq_exit, local_bh_enable and in {@code ksoftirqd/N}, and the per-CPU execution counts.
 */
package dev.bottomhalf.softirq;
