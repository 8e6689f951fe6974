/**
 * Hard IRQs ({@code kernel/irq/}): numbered lines, {@code request_irq}/{@code request_threaded_irq}/
 * {@code free_irq}, shared lines, delivery to the routed CPU in hardirq context, disable/enable depth
 * with replay, threaded handlers with ONESHOT, and unhandled-interrupt detection.
 *
 * <p>See {@code docs/subsystems/irq.md}.
 */
package dev.bottomhalf.irq;
