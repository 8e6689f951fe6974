package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.IdleStrategy;

/**
 * An idle strategy that spins for at most a window after the last work, then parks, and adapts the window to
 * how long the thread actually waited — the rule of the kernel's adaptive halt polling ({@code haltpoll}'s
 * {@code adjust_poll_limit}, KVM's {@code grow_halt_poll_ns} / {@code shrink_halt_poll_ns}). One instance per
 * thread: only the {@link KernelThread} that owns it calls it.
 *
 * <p>The rule, after every idle period that ended with work ({@link #workAfterIdle}, the time from the thread's
 * first idle look to the work):
 * <ul>
 * <li>within the current window: the spin caught it; the window stays;</li>
 * <li>after the window but within the maximum: a longer spin would have caught it; the window doubles, starting
 * from {@link #growStartNs()} (a fifth of the maximum) when it was 0, up to the maximum;</li>
 * <li>after the maximum: the spin was wasted and the wake-up was paid anyway; the window halves, and drops to 0
 * below {@link #growStartNs()} — the thread then parks as soon as it is idle.</li>
 * </ul>
 * It starts at the maximum, so a thread behaves as {@link IdleStrategy#spinThenPark(long)} with the maximum until
 * its waits say otherwise: three waits longer than the maximum in a row take a 50 µs window to 0; work that
 * comes within 50 µs of the park brings it back (10, 20, 40, 50 µs).
 *
 * <p>Why a window that shrinks matters (docs/benchmarks.md §19): a thread that spun before it parked has used
 * CPU time the Linux scheduler remembers, and when woken it does not preempt the thread that woke it — it runs
 * only when the waker blocks. A thread that parked at once is woken onto the waker's CPU and runs at the
 * wake-up. So spinning after work that comes rarely costs both the CPU of the spin and the latency of the next
 * wake-up.
 *
 * <p>Implementation notes: the window is written by the owning thread only (volatile, so a diagnostic or a test
 * may read it from elsewhere; a volatile read costs the spinning thread nothing on x86). Nothing here reads a
 * clock; the thread passes the times in, so the rule is tested with plain numbers. Stepped mode has no runtime
 * threads and never uses it.
 */
public final class AdaptivePoll implements IdleStrategy {
    /** The default idle strategy's spin window ({@link IdleStrategy#defaultStrategy()}: 50 µs, then park). */
    public static final long DEFAULT_MAX_NS = 50_000;

    private final long maxNs;
    private final long growStartNs;
    /** The current window; written by the owning thread only, volatile so that a diagnostic read elsewhere sees it. */
    private volatile long windowNs;

    /**
     * A window that starts at {@code maxNs}.
     *
     * @param maxNs the longest window, at least 1 ns
     * @throws IllegalArgumentException when {@code maxNs} is below 1
     */
    public AdaptivePoll(long maxNs) {
        if (maxNs < 1) {
            throw new IllegalArgumentException("maximum spin window must be >= 1 ns: " + maxNs);
        }
        this.maxNs = maxNs;
        this.growStartNs = Math.max(1, maxNs / 5);
        this.windowNs = maxNs;
    }

    /**
     * What a runtime thread waits with when the configuration names {@code configured}: under the default strategy
     * (spin {@value #DEFAULT_MAX_NS} ns, then park) an adaptive window with that maximum, a new one per call (one
     * per thread); a strategy chosen explicitly is kept as it is. For {@link Agent#idleStrategy}.
     *
     * @param configured the configured strategy
     * @return the strategy the thread uses
     */
    public static IdleStrategy adaptingTheDefault(IdleStrategy configured) {
        return configured == IdleStrategy.defaultStrategy() ? new AdaptivePoll(DEFAULT_MAX_NS) : configured;
    }

    @Override
    public Action onIdle(int idleRounds, long idleNs) {
        return idleNs < windowNs ? Action.SPIN : Action.PARK;
    }

    /**
     * Work came {@code idleNs} after the thread's first idle look: adapts the window (class notes).
     *
     * @param idleNs the time from the first idle look to the work
     */
    public void workAfterIdle(long idleNs) {
        long w = windowNs;
        if (idleNs <= w) {
            return;
        }
        if (idleNs <= maxNs) {
            windowNs = Math.min(maxNs, Math.max(growStartNs, w * 2));
        } else if (w > 0) {
            long halved = w / 2;
            windowNs = halved < growStartNs ? 0 : halved;
        }
    }

    /** The current window; 0 means the thread parks as soon as it is idle. */
    public long windowNs() {
        return windowNs;
    }

    /** The longest window. */
    public long maxNs() {
        return maxNs;
    }

    /** Where the window starts again once it had dropped to 0: a fifth of the maximum. */
    public long growStartNs() {
        return growStartNs;
    }

    @Override
    public String toString() {
        return "adaptive-spin-then-park(max " + maxNs + " ns, now " + windowNs + " ns)";
    }
}
