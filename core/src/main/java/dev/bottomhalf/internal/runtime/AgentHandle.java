package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.internal.sync.Uninterruptibly;

/**
 * A registered {@link Agent}: in threaded mode the {@link KernelThread} that runs it, in stepped mode
 * just the agent (the {@link Stepper} runs it). Thread-safe.
 */
public final class AgentHandle {
    private final Machine machine;
    private final Agent agent;
    private final boolean daemon;
    private volatile KernelThread thread;

    AgentHandle(Machine machine, Agent agent, boolean daemon) {
        this.machine = machine;
        this.agent = agent;
        this.daemon = daemon;
    }

    public Agent agent() {
        return agent;
    }

    /** The runtime thread, or null in stepped mode or before the kernel started. */
    public KernelThread thread() {
        return thread;
    }

    boolean daemon() {
        return daemon;
    }

    /** Wakes the agent's thread if it may be parked; nothing in stepped mode. Any thread. */
    public void wake() {
        KernelThread t = thread;
        if (t != null) {
            t.wake();
        }
    }

    void start(KernelThread t) {
        this.thread = t;
        t.start();
    }

    /** Stops and joins the thread (threaded mode) and forgets the agent. */
    public void stop() {
        machine.unregister(this);
    }

    /** Stops the thread and waits for it; returns false if it did not end in time. */
    boolean stopAndJoin(long timeoutMs) {
        KernelThread t = thread;
        if (t == null) {
            return true;
        }
        t.requestStop();
        if (t == Thread.currentThread()) {
            return true;
        }
        return Uninterruptibly.join(t, timeoutMs);
    }
}
