package dev.bottomhalf.runtime;

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
 */
public final class KernelThread extends Thread {
    private final Machine machine;
    private final Agent agent;
    private final IdleStrategy idle;
    private volatile boolean running = true;
    private volatile boolean sleeping;

    KernelThread(Machine machine, Agent agent, IdleStrategy idle) {
        super(agent.name());
        this.machine = machine;
        this.agent = agent;
        this.idle = idle;
        setDaemon(true);
    }

    /** The context this thread runs in. */
    public ExecutionContext context() {
        return agent.context();
    }

    public Agent agent() {
        return agent;
    }

    /** Unparks the thread if it may be parked. Any thread; cheap when the thread is busy. */
    public void wake() {
        if (sleeping) {
            LockSupport.unpark(this);
        }
    }

    void requestStop() {
        running = false;
        LockSupport.unpark(this);
    }

    @Override
    public void run() {
        machine.pinIfConfigured(this, agent.context().cpu().id());
        int idleRounds = 0;
        long idleSinceNs = 0;
        while (running) {
            int work;
            try {
                work = agent.doWork();
            } catch (Throwable t) {
                machine.reports().oops(agent.name(), t);
                work = 1;
            }
            if (work > 0) {
                idleRounds = 0;
                continue;
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
