package dev.bottomhalf.proc;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.net.Napi;
import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.workqueue.Workqueues;

/** This package's side of {@link Subsystems.ProcAccess}: forwards to the package-private constructor. Stateless. */
final class ProcWiring implements Subsystems.ProcAccess {
    @Override
    public Proc newProc(Machine machine, IrqController irqs, Softirqs softirqs, Timers timers, HrTimers hrtimers,
            Napi napi, Workqueues workqueues) {
        return new Proc(machine, irqs, softirqs, timers, hrtimers, napi, workqueues);
    }
}
