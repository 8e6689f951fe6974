/**
 * The kernel's {@code /proc} views — {@code /proc/interrupts}, {@code /proc/softirqs},
 * {@code /proc/net/softnet_stat}, {@code /proc/irq/N/spurious} — rendered in the kernel's text formats, and the
 * {@link dev.bottomhalf.proc.KernelSnapshot} of every counter they are rendered from. Reads every subsystem;
 * imported by none of them.
 *
 * <p>See {@code docs/subsystems/irq.md} and {@code docs/subsystems/softirq.md} (the formats) and {@code docs/kernel-map.md}.
 */
package dev.bottomhalf.proc;
