package dev.bottomhalf.bench.udp;

import java.time.Instant;

/**
 * A clock two processes on one host share: {@code System.nanoTime()} plus an offset to the host's real-time clock
 * ({@code CLOCK_REALTIME}, read through {@link Instant#now()}), fixed once per process. {@code System.nanoTime}'s
 * origin is per JVM by its specification, so the sender and the receiver each add their own offset. Any thread.
 *
 * <p>Implementation notes: the offset is taken from the tightest of {@link #SAMPLES} brackets
 * {@code nanoTime, Instant.now(), nanoTime}, so its error is under half the narrowest bracket (a microsecond or
 * less on Linux); both clocks then advance together (NTP's slew, a few parts per million, is noise over a run).
 * Reading the clock allocates nothing.
 */
public final class RealtimeClock {
    private static final int SAMPLES = 2_000;
    private static final long OFFSET_NS = calibrate();

    private RealtimeClock() {
    }

    /**
     * Now on the shared clock, in nanoseconds since the epoch.
     *
     * @return {@code System.nanoTime()} plus this process's offset
     */
    public static long nowNs() {
        return System.nanoTime() + OFFSET_NS;
    }

    private static long calibrate() {
        long best = Long.MAX_VALUE;
        long offset = 0;
        for (int i = 0; i < SAMPLES; i++) {
            long before = System.nanoTime();
            Instant now = Instant.now();
            long after = System.nanoTime();
            if (after - before < best) {
                best = after - before;
                long realNs = now.getEpochSecond() * 1_000_000_000L + now.getNano();
                offset = realNs - (before + (after - before) / 2);
            }
        }
        return offset;
    }
}
