package dev.bottomhalf.softirq;

import java.util.List;
import java.util.Set;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.ExecutionContext;

/** This package's side of {@link Subsystems.SoftirqAccess}: forwards to the package-private members. Stateless. */
final class SoftirqsWiring implements Subsystems.SoftirqAccess {
    @Override
    public Softirqs newSoftirqs(Machine machine) {
        return new Softirqs(machine);
    }

    @Override
    public void raiseOn(Softirqs softirqs, ExecutionContext ctx, int nr, boolean wake) {
        softirqs.raiseOn(ctx, nr, wake);
    }

    @Override
    public List<String> discardPendingForClose(Softirqs softirqs, Set<Integer> busyCpus) {
        return softirqs.discardPendingForClose(busyCpus);
    }
}
