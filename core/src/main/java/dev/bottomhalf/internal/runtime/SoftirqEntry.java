package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * The softirq subsystem's entry points that the runtime calls at the kernel's exit points. Installed
 * once by the softirq subsystem ({@link Machine#installSoftirqEntry(SoftirqEntry)}).
 */
public interface SoftirqEntry {
    /**
     * {@code invoke_softirq()} at {@code irq_exit}: called on the {@code cpu/N} thread after it left
     * hardirq context, when {@code !in_interrupt()} and something is pending.
     */
    void invokeSoftirq(ExecutionContext cpuContext);

    /**
     * Called by the outermost {@code local_bh_enable}: the context owns the BH level and is about to
     * give it up; runs whatever is pending, then releases the BH level.
     */
    void runPendingThenRelease(ExecutionContext ctx);

    /** {@code wakeup_softirqd()} for {@code cpu}. */
    void wakeKsoftirqd(Cpu cpu);
}
