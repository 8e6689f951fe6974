package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;

/**
 * A duty cycle of one runtime thread ({@code cpu/N}, {@code ksoftirqd/N}, {@code irq/L-name}). In
 * threaded mode a {@link KernelThread} calls {@link #doWork()} in a loop and waits per its
 * {@link IdleStrategy} when it returns 0; in stepped mode the caller invokes the same method through
 * {@link Stepper}. Same code path either way.
 *
 * <p>Every method is called only by the thread running the agent, except {@link #hasWork()} which
 * producers and the stepper may call from any thread.
 */
public interface Agent {
    /** The thread name, as the kernel shows it. */
    String name();

    /** The context the agent's work runs in. */
    ExecutionContext context();

    /**
     * Does one round of work.
     *
     * @return how much work was done; 0 means "nothing to do, the caller may idle"
     */
    int doWork();

    /** Whether {@link #doWork()} would find something to do; checked before parking. Any thread. */
    boolean hasWork();

    /**
     * The kernel-clock time at which this agent must run again even without a wake-up, or
     * {@link Long#MAX_VALUE} for none.
     */
    default long nextDeadlineNs() {
        return Long.MAX_VALUE;
    }

    /**
     * How this agent's thread waits for work, given the strategy the kernel's configuration names for it
     * ({@code idleStrategy} or {@code daemonIdleStrategy}). Asked once, when the thread is made (threaded mode
     * only); the default keeps the configured one. An agent that returns a stateful strategy (an
     * {@link AdaptivePoll}) returns a new one for each call.
     *
     * @param configured the configured strategy
     * @return the strategy its thread uses
     */
    default IdleStrategy idleStrategy(IdleStrategy configured) {
        return configured;
    }
}
