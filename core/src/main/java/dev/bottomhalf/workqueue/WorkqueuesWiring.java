package dev.bottomhalf.workqueue;

import java.util.List;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.tasklet.Tasklets;
import dev.bottomhalf.time.Timers;

/** This package's side of {@link Subsystems.WorkqueueAccess}: forwards to the package-private members. Stateless. */
final class WorkqueuesWiring implements Subsystems.WorkqueueAccess {
    @Override
    public Workqueues newWorkqueues(Machine machine, Softirqs softirqs, Tasklets tasklets, Timers timers) {
        return new Workqueues(machine, softirqs, tasklets, timers);
    }

    @Override
    public boolean idleForClose(Workqueues workqueues) {
        return workqueues.idleForClose();
    }

    @Override
    public List<String> cancelArmedDelayedForClose(Workqueues workqueues) {
        return workqueues.cancelArmedDelayedForClose();
    }

    @Override
    public List<String> cancelQueuedForClose(Workqueues workqueues) {
        return workqueues.cancelQueuedForClose();
    }
}
