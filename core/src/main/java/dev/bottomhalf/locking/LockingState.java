package dev.bottomhalf.locking;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.RateLimiter;

/**
 * What this package keeps per kernel, in the machine's one slot for it ({@link Machine#lockingState}): the rate
 * of {@code lockup suspected} reports and, when {@code proveLocking} is on, the kernel's {@link Lockdep}.
 * Immutable after construction; any thread.
 */
final class LockingState {
    final RateLimiter lockup;
    final Lockdep lockdep;

    private LockingState(Machine machine) {
        this.lockup = machine.reports().limiter("__spin_lock_debug");
        this.lockdep = machine.config().proveLocking() ? new Lockdep(machine) : null;
    }

    static LockingState of(Machine machine) {
        return (LockingState) machine.lockingState(() -> new LockingState(machine));
    }
}
