/**
 * The kernel's {@code /proc} views — {@code /proc/interrupts}, {@code /proc/softirqs},
 * {@code /proc/irq/N/spurious} — rendered in the kernel's text formats from the live counters. Reads
 * every subsystem; imported by none of them.
 *
 * <p>See {@code docs/subsystems/irq.md} and {@code docs/subsystems/softirq.md} (the formats) and {@code docs/kernel-map.md}.
 */
package dev.bottomhalf.proc;
