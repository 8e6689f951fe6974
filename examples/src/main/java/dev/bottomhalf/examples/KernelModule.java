package dev.bottomhalf.examples;

/**
 * A loadable kernel module, as the kernel writes one: {@code init_module} runs at insmod,
 * {@code cleanup_module} at rmmod. {@link ModuleLoader} plays insmod and rmmod against a kernel.
 */
public interface KernelModule {
    /** Runs at load; 0 on success, {@code -errno} to refuse loading. */
    int init_module();

    /** Runs at unload. */
    void cleanup_module();
}
