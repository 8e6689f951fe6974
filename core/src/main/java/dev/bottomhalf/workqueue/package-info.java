/**
 * Workqueues ({@code kernel/workqueue.c}): concurrency-managed per-CPU and unbound worker pools, work items
 * and delayed work with the kernel's PENDING, cancel, flush and non-reentrancy rules, ordered and BH
 * workqueues, max_active, the rescuer and the watchdog; and {@link dev.bottomhalf.workqueue.WorkqueueExecutor}
 * / {@link dev.bottomhalf.workqueue.WorkqueueScheduledExecutor}, the {@code java.util.concurrent} executors over
 * them.
 *
 * <p>See {@code docs/subsystems/workqueue.md}.
 */
package dev.bottomhalf.workqueue;
