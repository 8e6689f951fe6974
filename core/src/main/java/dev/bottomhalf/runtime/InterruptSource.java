package dev.bottomhalf.runtime;

/**
 * Something that delivers work to a CPU's {@code cpu/N} thread in hardirq context — the interrupt
 * controller. The runtime calls it from each CPU's duty cycle and, while that thread serves softirqs
 * at irq_exit, between softirq handlers (the model of a hard IRQ preempting a softirq).
 */
public interface InterruptSource {
    /**
     * Delivers everything pending for {@code cpuContext.cpu()}: each interrupt between
     * {@link Cpu#irqEnter(ExecutionContext)} and {@link Cpu#irqExit(ExecutionContext)}.
     * Called only by the thread running {@code cpuContext}.
     *
     * @return how many interrupts were delivered
     */
    int deliver(ExecutionContext cpuContext);

    /** Whether anything is pending for {@code cpu}. Any thread. */
    boolean pending(Cpu cpu);

    /** The kernel-clock time of this source's next timed duty on {@code cpu}, or {@link Long#MAX_VALUE}. */
    default long nextDeadlineNs(Cpu cpu) {
        return Long.MAX_VALUE;
    }
}
