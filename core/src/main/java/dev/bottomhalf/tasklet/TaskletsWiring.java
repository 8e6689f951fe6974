package dev.bottomhalf.tasklet;

import java.util.List;
import java.util.Set;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.softirq.Softirqs;

/** This package's side of {@link Subsystems.TaskletAccess}: forwards to the package-private members. Stateless. */
final class TaskletsWiring implements Subsystems.TaskletAccess {
    @Override
    public Tasklets newTasklets(Machine machine, Softirqs softirqs) {
        return new Tasklets(machine, softirqs);
    }

    @Override
    public void installBhWork(Tasklets tasklets, Subsystems.BhWork work) {
        tasklets.installBhWork(work);
    }

    @Override
    public boolean idleForClose(Tasklets tasklets) {
        return tasklets.idleForClose();
    }

    @Override
    public List<String> discardForClose(Tasklets tasklets, Set<Integer> busyCpus) {
        return tasklets.discardForClose(busyCpus);
    }
}
