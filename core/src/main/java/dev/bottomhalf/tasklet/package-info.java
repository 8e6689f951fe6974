/**
 * Tasklets ({@code kernel/softirq.c}): user-owned deferred functions run from TASKLET_SOFTIRQ and
 * HI_SOFTIRQ on the CPU that scheduled them, never concurrently with themselves. Deprecated in the
 * kernel in favour of BH workqueues; kept for the large body of code and teaching that uses them.
 *
 * <p>See {@code docs/subsystems/tasklet.md}.
 */
package dev.bottomhalf.tasklet;
