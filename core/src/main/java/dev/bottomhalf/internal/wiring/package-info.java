/**
 * The kernel's assembly and close steps, not exported: {@link dev.bottomhalf.internal.wiring.Subsystems}, the
 * interfaces through which {@code dev.bottomhalf.Kernel} makes the subsystems (their constructors take the
 * internal {@code Machine}) and calls their close steps, and through which the subsystems make the calls between
 * them that skip the entry checks; the exported classes keep all of these package-private. Each
 * subsystem package implements its interface in a package-private class and installs it; this package and the
 * subsystem packages import each other, as {@code runtime} and {@code internal.runtime} do. Core's tests and the
 * stress tests (on the class path) call the close steps through it too.
 */
package dev.bottomhalf.internal.wiring;
