/**
 * Not exported: {@link dev.bottomhalf.internal.Internals}, the way from a {@code Kernel} to its runtime for
 * this module's own tests, benchmarks and stress tests. It sits above {@code dev.bottomhalf.Kernel}; nothing in
 * the library imports it except {@code Kernel}, which installs the access.
 */
package dev.bottomhalf.internal;
