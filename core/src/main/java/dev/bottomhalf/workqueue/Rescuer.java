package dev.bottomhalf.workqueue;

import java.util.concurrent.ConcurrentLinkedQueue;

import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.runtime.ExecutionContext;

/**
 * The rescuer of a {@code WQ_MEM_RECLAIM} workqueue ({@code kworker/R-<name>}): a thread that exists from
 * allocation on, so the workqueue makes progress even when a pool cannot create workers. A pool that has
 * failed to create a worker for {@code MAYDAY_INITIAL_TIMEOUT} sends it a mayday; it then runs, in that
 * pool, the items of its own workqueue that wait there.
 *
 * <p>Implementation notes: {@code maydays} is the only shared state (a concurrent queue: any timer callback
 * may add to it); everything else is touched by the rescuer's own thread.
 */
final class Rescuer implements Agent {
    final Workqueue wq;
    private final ExecutionContext ctx;
    final ConcurrentLinkedQueue<PoolWorkqueue> maydays = new ConcurrentLinkedQueue<>();
    AgentHandle handle;

    Rescuer(Workqueue wq, ExecutionContext ctx) {
        this.wq = wq;
        this.ctx = ctx;
    }

    @Override
    public String name() {
        return ctx.name();
    }

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    @Override
    public int doWork() {
        PoolWorkqueue pwq = maydays.poll();
        return pwq == null ? 0 : pwq.pool.owner.rescue(this, pwq);
    }

    @Override
    public boolean hasWork() {
        return !maydays.isEmpty();
    }
}
