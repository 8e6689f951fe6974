/**
 * Workqueues ({@code kernel/workqueue.c}): concurrency-managed per-CPU and unbound worker pools, work items
 * and delayed work with the kernel's PENDING, cancel, flush and non-reentrancy rules, ordered and BH
 * workqueues, max_active, the rescuer and the watchdog; and {@link dev.bottomhalf.workqueue.WorkqueueExecutor}
 * / {@link dev.bottomhalf.workqueue.WorkqueueScheduledExecutor}, the {@code java.util.concurrent} executors over
 * them.
 *
 * <p>See {@code docs/subsystems/workqueue.md}. Its section "Structure: who owns what" says which class owns
 * which state and operation, defines the ownership tags ({@code [I]}, {@code [L]}, {@code [LR]},
 * {@code [L/X]}, {@code [X]}, {@code [W]}, {@code [A]}, {@code [M]}) that open the javadoc of every mutable field of the
 * implementation, the rule for methods named {@code ...Locked} (the caller holds the pool lock; asserted
 * under {@code -ea}), and follows one item from {@code queue_work} to its completion.
 */
package dev.bottomhalf.workqueue;
