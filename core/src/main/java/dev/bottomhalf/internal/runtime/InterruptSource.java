package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * Something that delivers work to a CPU's {@code cpu/N} thread in hardirq context — the interrupt
 * controller. The runtime calls it from each CPU's duty cycle and, while that thread serves softirqs
 * at irq_exit, between softirq handlers (the model of a hard IRQ preempting a softirq).
 *
 * <p>The between-handlers check polls the sources only when the CPU's interrupt hint says so, so every
 * source keeps this contract: whenever it makes something pending for a CPU, or moves the time from which
 * something is pending there earlier, it publishes that state and then calls
 * {@link Cpu#signalInterrupt()} on that CPU. A duty that becomes due by the clock alone needs no signal:
 * {@link #earliestPendingNs(Cpu)} reports it.
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

    /**
     * The kernel-clock time from which {@link #pending(Cpu)} may turn true on {@code cpu} without a new
     * {@link Cpu#signalInterrupt()}, or {@link Long#MAX_VALUE}. It may be early, never late. Called by
     * {@code cpu/N} between softirq handlers after it polled the sources; takes no locks. Defaults to
     * {@link #nextDeadlineNs(Cpu)}.
     */
    default long earliestPendingNs(Cpu cpu) {
        return nextDeadlineNs(cpu);
    }
}
