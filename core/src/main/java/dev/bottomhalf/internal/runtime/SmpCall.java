package dev.bottomhalf.internal.runtime;

/**
 * One cross-CPU function call ({@code call_single_data}): queued on the target CPU, run there by
 * {@code cpu/N} in hardirq context with IRQs disabled. Allocated per call (not a hot path). A waiting caller
 * waits in {@link Machine#waitUntil} for {@link #done}, which the target sets and then wakes the waiters.
 */
final class SmpCall {
    final Runnable func;
    volatile boolean done;
    /** Set before {@link #done} when a closing kernel dropped the call without running it. */
    volatile boolean dropped;

    SmpCall(Runnable func) {
        this.func = func;
    }
}
