package dev.bottomhalf.runtime;

import java.util.concurrent.locks.LockSupport;

/**
 * One cross-CPU function call ({@code call_single_data}): queued on the target CPU, run there by
 * {@code cpu/N} in hardirq context with IRQs disabled. Allocated per call (not a hot path).
 */
final class SmpCall {
    final Runnable func;
    final Thread waiter;
    volatile boolean done;

    SmpCall(Runnable func, Thread waiter) {
        this.func = func;
        this.waiter = waiter;
    }

    void complete() {
        done = true;
        if (waiter != null) {
            LockSupport.unpark(waiter);
        }
    }
}
