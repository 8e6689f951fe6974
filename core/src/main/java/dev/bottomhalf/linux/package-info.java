/**
 * The kernel's own API names ({@code request_irq}, {@code raise_softirq}, {@code local_bh_disable}, ...)
 * as a static facade over the Java API, so that kernel code and teaching listings port line by line.
 * The facade has no logic of its own: it resolves the calling thread's kernel and delegates.
 *
 * <p>See {@code docs/kernel-map.md}, which lists every kernel name, its Java counterpart and what was kept or changed.
 */
package dev.bottomhalf.linux;
