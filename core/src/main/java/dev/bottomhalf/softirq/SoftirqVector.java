package dev.bottomhalf.softirq;

/**
 * The ten standard softirq vectors, in bit order: lower bits run first in every pass. The names are the
 * row names of {@code /proc/softirqs}. Vectors 10–31 are free for {@link Softirqs#open(int, String,
 * SoftirqAction)}.
 */
public enum SoftirqVector {
    /** High-priority tasklets and the BH-highpri workqueue pool. */
    HI,
    /** The timer wheel. */
    TIMER,
    /** Network transmit completion. */
    NET_TX,
    /** Network receive (NAPI). */
    NET_RX,
    /** Block-layer completions. */
    BLOCK,
    /** {@code irq_poll}. */
    IRQ_POLL,
    /** Normal tasklets and the BH-normal workqueue pool. */
    TASKLET,
    /** Scheduler load balancing. */
    SCHED,
    /** Soft-expiring hrtimers. */
    HRTIMER,
    /** RCU callbacks; last on purpose. */
    RCU;

    /** {@code NR_SOFTIRQS}. */
    public static final int NR_SOFTIRQS = 10;
    /** The most vectors a pending mask can hold (one 32-bit word). */
    public static final int MAX_VECTORS = 32;

    private static final SoftirqVector[] VALUES = values();

    /**
     * The vector's number: its bit in the pending mask.
     *
     * @return the number, 0..9
     */
    public int nr() {
        return ordinal();
    }

    /**
     * The pending-mask bit of this vector.
     *
     * @return {@code 1 << nr()}
     */
    public int bit() {
        return 1 << ordinal();
    }

    /**
     * The standard vector numbered {@code nr}, or null for 10..31.
     *
     * @param nr a vector number
     * @return the vector, or null
     */
    public static SoftirqVector of(int nr) {
        return nr >= 0 && nr < NR_SOFTIRQS ? VALUES[nr] : null;
    }
}
