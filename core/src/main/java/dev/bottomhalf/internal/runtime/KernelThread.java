package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelPanic;
import dev.bottomhalf.runtime.Reports;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A runtime thread of one kernel in threaded mode: runs one {@link Agent}'s duty cycle until stopped.
 * Its {@link ExecutionContext} is a field, so {@link ExecutionContext#current()} costs a type check
 * and a load on runtime threads.
 *
 * <p>Implementation notes: the wake-up protocol is "publish, then check the sleeping flag". A producer
 * first publishes work (an atomic write), then reads {@code sleeping} and unparks only when it is set.
 * The thread sets {@code sleeping} (volatile), re-checks {@link Agent#hasWork()} and only then parks.
 * Both sides use volatile accesses, so one of them sees the other's write: no lost wake-up, and no
 * unpark on the hot path of a busy consumer.
 *
 * <p>Thread interrupts: the kernel's threads ignore signals, so an interrupt of a runtime thread is not
 * a stop request. While an agent's duty cycle runs (a work item, a threaded handler) the interrupt status
 * is left for the code that runs there to see — it is that code's pending signal, which the interruptible
 * sleeps and waits honour — and the thread clears it before it goes idle, so an interrupted idle thread
 * parks instead of spinning. Each interrupt cleared is counted ({@link #interruptsIgnored()}).
 *
 * <p>Panics: when the kernel panics the thread leaves its loop (a {@link KernelPanic} thrown out of the
 * duty cycle unwinds it) and ends; nothing it held is used again, since every call into the kernel fails.
 */
public final class KernelThread extends Thread {
    private final Machine machine;
    private final Agent agent;
    private final IdleStrategy idle;
    /** {@link #idle} when it adapts to the waits ({@link AdaptivePoll}); told after each idle period. */
    private final AdaptivePoll adaptive;
    private volatile boolean running = true;
    private volatile boolean sleeping;
    private volatile long interruptsIgnored;

    KernelThread(Machine machine, Agent agent, IdleStrategy idle) {
        super(agent.name());
        this.machine = machine;
        this.agent = agent;
        this.idle = idle;
        this.adaptive = idle instanceof AdaptivePoll a ? a : null;
        setDaemon(true);
    }

    /** The context this thread runs in. */
    public ExecutionContext context() {
        return agent.context();
    }

    public Agent agent() {
        return agent;
    }

    /** How this thread waits for work: the strategy its agent chose ({@link Agent#idleStrategy}). Any thread. */
    public IdleStrategy idleStrategy() {
        return idle;
    }

    /** Unparks the thread if it may be parked. Any thread; cheap when the thread is busy. */
    public void wake() {
        if (sleeping) {
            LockSupport.unpark(this);
        }
    }

    /** How many thread interrupts this thread cleared before going idle (kernel threads ignore signals). */
    public long interruptsIgnored() {
        return interruptsIgnored;
    }

    void requestStop() {
        running = false;
        LockSupport.unpark(this);
    }

    @Override
    public void run() {
        machine.pinIfConfigured(this, agent.context().cpuId());
        int idleRounds = 0;
        long idleSinceNs = 0;
        while (running && !machine.panicked()) {
            int work;
            try {
                work = agent.doWork();
            } catch (Throwable t) {
                if (Reports.isFatal(t) || machine.panicked()) {
                    if (!(t instanceof KernelPanic) && !machine.panicked()) {
                        try {
                            machine.reports().oops(agent.name(), t); // reports the oops and panics
                        } catch (KernelPanic expected) {
                            // the panic is what ends this thread
                        }
                    }
                    return;
                }
                try {
                    machine.reports().oops(agent.name(), t);
                } catch (KernelPanic p) {
                    return;
                }
                work = 1;
            }
            if (work > 0) {
                if (idleRounds > 0 && adaptive != null) {
                    adaptive.workAfterIdle(System.nanoTime() - idleSinceNs);
                }
                idleRounds = 0;
                continue;
            }
            if (Thread.interrupted()) {
                interruptsIgnored++; // only this thread writes it
            }
            long now = System.nanoTime();
            if (idleRounds++ == 0) {
                idleSinceNs = now;
            }
            switch (idle.onIdle(idleRounds, now - idleSinceNs)) {
                case SPIN -> Thread.onSpinWait();
                case YIELD -> Thread.yield();
                case PARK -> park();
            }
        }
    }

    private void park() {
        sleeping = true;
        try {
            if (!running || agent.hasWork()) {
                return;
            }
            long deadline = agent.nextDeadlineNs();
            if (deadline == Long.MAX_VALUE) {
                LockSupport.park(this);
            } else {
                long waitNs = deadline - machine.clock().nanoTime();
                if (waitNs > 0) {
                    LockSupport.parkNanos(this, Math.min(waitNs, TimeUnit.SECONDS.toNanos(1)));
                }
            }
        } finally {
            sleeping = false;
        }
    }
}
