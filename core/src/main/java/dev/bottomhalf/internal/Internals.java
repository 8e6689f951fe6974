package dev.bottomhalf.internal;

import java.util.Objects;
import java.util.function.Function;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.runtime.Machine;

/**
 * The way from a {@link Kernel} to its internals, for this module's tests, benchmarks and stress tests (which
 * run on the class path) and nothing else: not exported, so a module-path user cannot reach it. Any thread.
 *
 * <p>Implementation notes: {@link Kernel}'s static initializer installs the access; any caller holds a
 * {@code Kernel}, so that class is initialized and the access published before the first call.
 */
public final class Internals {
    private static volatile Function<Kernel, Machine> kernelMachine;

    private Internals() {
    }

    /** Called once, by {@link Kernel}'s static initializer. */
    public static void installKernelAccess(Function<Kernel, Machine> access) {
        if (kernelMachine != null) {
            throw new IllegalStateException("the kernel access is installed already");
        }
        kernelMachine = Objects.requireNonNull(access, "access");
    }

    /** The runtime of {@code kernel}: its CPUs, runtime threads, levels and lockup detectors. */
    public static Machine machine(Kernel kernel) {
        return kernelMachine.apply(Objects.requireNonNull(kernel, "kernel"));
    }

    /**
     * Takes CPU {@code cpu}'s tasklet list of {@code kernel} back without running it, clearing each tasklet's
     * SCHED bit: for the benchmarks that measure {@code tasklet_schedule} alone. Never on a live kernel.
     */
    public static void drainTaskletsForBenchmark(Kernel kernel, int cpu) {
        machine(kernel).drainTaskletsForBenchmark(cpu);
    }

    /**
     * The drain of {@link #drainTaskletsForBenchmark} as a function of the CPU, looked up once: a benchmark
     * keeps it in its state so that the measured loop pays only for the drain itself, not for the look-up.
     */
    public static java.util.function.IntConsumer taskletDrainForBenchmark(Kernel kernel) {
        return machine(kernel).taskletDrainForBenchmark();
    }
}
