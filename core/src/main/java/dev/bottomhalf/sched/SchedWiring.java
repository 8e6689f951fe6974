package dev.bottomhalf.sched;

import java.util.List;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.time.Timers;

/** This package's side of {@link Subsystems.SchedAccess}: forwards to the package-private members. Stateless. */
final class SchedWiring implements Subsystems.SchedAccess {
    @Override
    public Sched newSched(Machine machine, Timers timers) {
        return new Sched(machine, timers);
    }

    @Override
    public Kthreads newKthreads(Sched sched) {
        return new Kthreads(sched);
    }

    @Override
    public boolean idleForClose(Kthreads kthreads) {
        return kthreads.idleForClose();
    }

    @Override
    public List<String> cancelArmedDelayedForClose(Kthreads kthreads) {
        return kthreads.cancelArmedDelayedForClose();
    }

    @Override
    public List<String> cancelQueuedForClose(Kthreads kthreads) {
        return kthreads.cancelQueuedForClose();
    }
}
