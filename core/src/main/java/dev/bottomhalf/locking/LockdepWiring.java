package dev.bottomhalf.locking;

import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.ExecutionContext;

/** This package's side of {@link Subsystems.LockingAccess}: forwards to lockdep's package-private maps. Stateless. */
final class LockdepWiring implements Subsystems.LockingAccess {
    @Override
    public void workStarts(ExecutionContext ctx, Object wq, String wqName, Object workKey, Object work,
                           String workName) {
        Lockdep.workStarts(ctx, wq, wqName, workKey, work, workName);
    }

    @Override
    public void workEnds(ExecutionContext ctx, Object wq, Object work) {
        Lockdep.workEnds(ctx, wq, work);
    }

    @Override
    public void flushWork(ExecutionContext ctx, Object workKey, Object work, String workName) {
        Lockdep.flushWork(ctx, workKey, work, workName);
    }

    @Override
    public void flushWorkqueue(ExecutionContext ctx, Object wq, String wqName) {
        Lockdep.flushWorkqueue(ctx, wq, wqName);
    }
}
