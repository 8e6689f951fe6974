package dev.bottomhalf.internal.sync;

import java.util.concurrent.TimeUnit;

/**
 * Joins that a thread interrupt does not cut short: the closing thread waits its whole budget for the
 * runtime threads to end even when it has been interrupted (it would otherwise report live threads as
 * stuck a microsecond after asking them to stop), and gets its interrupt status back afterwards. Any thread.
 */
public final class Uninterruptibly {
    private Uninterruptibly() {
    }

    /**
     * Waits up to {@code timeoutMs} for {@code t} to end; an interrupt meanwhile is kept and set again on return.
     *
     * @return true if {@code t} ended
     */
    public static boolean join(Thread t, long timeoutMs) {
        long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        boolean interrupted = false;
        try {
            for (;;) {
                long leftNs = deadlineNs - System.nanoTime();
                if (!t.isAlive() || leftNs <= 0) {
                    return !t.isAlive();
                }
                try {
                    t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(leftNs)));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
