/**
 * bottomhalf's front door: {@link dev.bottomhalf.Kernel} boots a kernel (threaded, or stepped with a manual
 * clock), gives access to every subsystem, converts between jiffies and time, binds the calling thread to a CPU,
 * and closes the kernel with a {@link dev.bottomhalf.CloseReport} of what did not run.
 *
 * <p>See {@code README.md} for a first program, {@code docs/architecture.md} for the layers, and
 * {@code docs/subsystems/runtime.md} for the lifecycle.
 */
package dev.bottomhalf;
