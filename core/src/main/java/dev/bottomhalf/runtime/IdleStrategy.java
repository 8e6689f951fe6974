package dev.bottomhalf.runtime;

/**
 * How a runtime thread ({@code cpu/N}, {@code ksoftirqd/N}, {@code irq/L-name}) waits when its
 * duty cycle found nothing to do. Implementations are stateless and shared by all threads.
 *
 * <p>The strategy only decides <em>how</em> to wait; parking itself is done by the runtime, which
 * publishes a "sleeping" flag before it parks so that producers unpark a consumer only when it may
 * be parked (never on every hand-off).
 *
 * <p>Implementation notes: {@link #onIdle(int, long)} is called with the number of consecutive idle
 * duty cycles and the nanoseconds spent idle so far; it must not allocate.
 */
public interface IdleStrategy {

    /** What the idle thread does next. */
    enum Action {
        /** {@link Thread#onSpinWait()} and look again. Lowest latency, burns a core. */
        SPIN,
        /** {@link Thread#yield()} and look again. */
        YIELD,
        /** Park until a producer wakes the thread (or its next deadline). */
        PARK
    }

    /**
     * Decides what to do after a duty cycle that did no work.
     *
     * @param idleRounds consecutive idle duty cycles, starting at 1
     * @param idleNs     nanoseconds since the last duty cycle that did work
     * @return what the thread does next
     */
    Action onIdle(int idleRounds, long idleNs);

    /**
     * Spins forever: the lowest hand-off latency, one host core per runtime thread.
     *
     * @return the strategy
     */
    static IdleStrategy busySpin() {
        return IdleStrategies.BUSY_SPIN;
    }

    /**
     * Yields forever: gives the core to other threads between looks.
     *
     * @return the strategy
     */
    static IdleStrategy yielding() {
        return IdleStrategies.YIELDING;
    }

    /**
     * Parks as soon as there is nothing to do: no CPU when idle, the wake-up cost of a thread pool.
     *
     * @return the strategy
     */
    static IdleStrategy parking() {
        return IdleStrategies.PARKING;
    }

    /**
     * Spins for {@code spins} rounds, yields for {@code yields} more, then parks.
     *
     * @param spins idle rounds to spin, at least 0
     * @param yields idle rounds to yield after the spins, at least 0
     * @return the strategy
     * @throws IllegalArgumentException when either is negative
     */
    static IdleStrategy backoff(int spins, int yields) {
        if (spins < 0 || yields < 0) {
            throw new IllegalArgumentException("spins and yields must be >= 0: " + spins + ", " + yields);
        }
        return new IdleStrategies.Backoff(spins, yields);
    }

    /**
     * Spins for up to {@code spinNs} nanoseconds after the last work, then parks. An event that
     * arrives within the spin window is seen within a few hundred nanoseconds; an idle thread costs
     * nothing after the window.
     *
     * @param spinNs the spin window in nanoseconds, at least 0
     * @return the strategy
     * @throws IllegalArgumentException when {@code spinNs} is negative
     */
    static IdleStrategy spinThenPark(long spinNs) {
        if (spinNs < 0) {
            throw new IllegalArgumentException("spin window must be >= 0 ns: " + spinNs);
        }
        return new IdleStrategies.SpinThenPark(spinNs);
    }

    /**
     * The default: spin for 50 µs after the last work, then park. 50 µs covers event sources that
     * fire every few tens of microseconds (they never see a wake-up cost), and costs an idle kernel
     * at most 50 µs of CPU per burst. A {@code kworker} thread under it adapts the 50 µs to its waits
     * (down to 0 when its items come further apart; docs/subsystems/workqueue.md, "Waking an idle
     * worker").
     *
     * @return the strategy
     */
    static IdleStrategy defaultStrategy() {
        return IdleStrategies.DEFAULT;
    }
}
