package dev.bottomhalf.examples;

import dev.bottomhalf.Kernel;

/**
 * insmod and rmmod for {@link KernelModule}s: the calling thread becomes a task on CPU 0 of the kernel
 * (so the facade's calls find it) and runs the module's entry points, as the kernel runs them in process
 * context.
 */
public final class ModuleLoader {
    private final Kernel kernel;

    public ModuleLoader(Kernel kernel) {
        this.kernel = kernel;
    }

    /** {@code insmod}: returns what {@code init_module} returned. */
    public int insmod(KernelModule module) {
        kernel.bindCurrentThread(0);
        return module.init_module();
    }

    /** {@code rmmod}. */
    public void rmmod(KernelModule module) {
        kernel.bindCurrentThread(0);
        module.cleanup_module();
    }
}
