package dev.bottomhalf.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Waiting on the latches threaded tests use to hold and release work functions. Any thread. The bound is
 * generous ({@link #TIMEOUT_S}): these waits check order and liveness, never latency.
 */
public final class Latches {
    /** How long a wait may take before the test fails (or, for {@link #awaitQuietly}, gives up). */
    public static final long TIMEOUT_S = 10;

    private Latches() {
    }

    /**
     * Waits for {@code latch}; fails the test after {@link #TIMEOUT_S} seconds.
     *
     * @param latch the latch
     * @param what what the test waits for, for the failure message
     */
    public static void await(CountDownLatch latch, String what) {
        try {
            assertTrue(latch.await(TIMEOUT_S, TimeUnit.SECONDS), "timed out waiting for " + what);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Waits for {@code latch} at most {@link #TIMEOUT_S} seconds without failing: for a work function held until
     * the test releases it, which must end even when the test failed before the release. An interrupt ends the
     * wait and stays set.
     *
     * @param latch the latch
     */
    public static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
