package dev.bottomhalf.net;

import java.util.List;
import java.util.Set;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.time.HrTimers;

/** This package's side of {@link Subsystems.NetAccess}: forwards to NAPI's package-private members. Stateless. */
final class NapiWiring implements Subsystems.NetAccess {
    @Override
    public Napi newNapi(Machine machine, Softirqs softirqs, Sched sched, Kthreads kthreads, HrTimers hrtimers) {
        return new Napi(machine, softirqs, sched, kthreads, hrtimers);
    }

    @Override
    public boolean idleForClose(Napi napi) {
        return napi.idleForClose();
    }

    @Override
    public void stopDevicesForClose(Napi napi) {
        napi.stopDevicesForClose();
    }

    @Override
    public void stopThreadsForClose(Napi napi) {
        napi.stopThreadsForClose();
    }

    @Override
    public List<String> discardForClose(Napi napi, Set<Integer> busyCpus) {
        return napi.discardForClose(busyCpus);
    }
}
