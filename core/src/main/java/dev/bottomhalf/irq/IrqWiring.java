package dev.bottomhalf.irq;

import java.util.List;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;

/** This package's side of {@link Subsystems.IrqAccess}: forwards to the package-private members. Stateless. */
final class IrqWiring implements Subsystems.IrqAccess {
    @Override
    public IrqController newIrqController(Machine machine) {
        return new IrqController(machine);
    }

    @Override
    public boolean idleForClose(IrqController irqs) {
        return irqs.idleForClose();
    }

    @Override
    public List<String> discardLatchedForClose(IrqController irqs) {
        return irqs.discardLatchedForClose();
    }
}
