package dev.bottomhalf.time;

import java.util.List;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.softirq.Softirqs;

/** This package's side of {@link Subsystems.TimeAccess}: forwards to the package-private members. Stateless. */
final class TimeWiring implements Subsystems.TimeAccess {
    @Override
    public Timers newTimers(Machine machine, Softirqs softirqs) {
        return new Timers(machine, softirqs);
    }

    @Override
    public HrTimers newHrTimers(Machine machine, Softirqs softirqs) {
        return new HrTimers(machine, softirqs);
    }

    @Override
    public void setupInternal(Timers timers, TimerList t, String name, TimerList.Callback callback, int flags) {
        timers.setupInternal(t, name, callback, flags);
    }

    @Override
    public long scheduleTimeout(Timers timers, long timeout, String call) {
        return timers.scheduleTimeout(timeout, call);
    }

    @Override
    public List<String> shutdownArmedForClose(Timers timers, boolean sync) {
        return timers.shutdownArmedForClose(sync);
    }

    @Override
    public List<String> cancelQueuedForClose(HrTimers hrtimers, boolean sync) {
        return hrtimers.cancelQueuedForClose(sync);
    }
}
