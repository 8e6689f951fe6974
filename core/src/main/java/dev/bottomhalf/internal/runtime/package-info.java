/**
 * The runtime's wiring, not exported: the {@code Machine} of one kernel with its {@code Cpu}s and their IRQ
 * and BH levels ({@code CpuLevel}), the runtime threads ({@code Agent}, {@code AgentHandle},
 * {@code KernelThread}), the hooks through which the runtime calls up into the subsystems
 * ({@code InterruptSource}, {@code SoftirqEntry}) and workers hear of their sleeps ({@code SleepListener}), the
 * stepped scheduler, the lockup detectors, host CPU pinning and cross-CPU calls. Users reach all of it through
 * {@code dev.bottomhalf.Kernel} and the exported {@code dev.bottomhalf.runtime} classes; this package's public
 * members are public only for the other packages of this module. Imports only {@code dev.bottomhalf.runtime} and
 * {@code internal.sync}.
 */
package dev.bottomhalf.internal.runtime;
