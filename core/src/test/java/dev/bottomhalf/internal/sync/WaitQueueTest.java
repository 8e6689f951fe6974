package dev.bottomhalf.internal.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

/**
 * {@link WaitQueue}'s park mode for wake-up proofs ({@link WaitQueue#parkUntilWoken}): its refusal of a park
 * shorter than the safety net's, and that a parked waiter then goes on only when it is woken.
 */
class WaitQueueTest {

    @Test
    void parkUntilWoken_shorterThanTheSafetyNet_isRefused() {
        WaitQueue q = new WaitQueue();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> q.parkUntilWoken(WaitQueue.MAX_PARK_NS - 1));
        assertEquals("park of " + (WaitQueue.MAX_PARK_NS - 1) + " ns is shorter than " + WaitQueue.MAX_PARK_NS
                + " ns", e.getMessage());
    }

    @Test
    void parkUntilWoken_aWaiterWhoseConditionBecomesTrueWithoutAWakeUp_staysParked_untilWoken() throws Exception {
        WaitQueue q = new WaitQueue();
        q.parkUntilWoken(TimeUnit.MINUTES.toNanos(10));
        AtomicBoolean done = new AtomicBoolean();
        AtomicBoolean returned = new AtomicBoolean();
        Thread waiter = Thread.ofPlatform().start(() -> {
            q.await(done::get, () -> { }, false, Long.MAX_VALUE, System::nanoTime);
            returned.set(true);
        });
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!q.hasWaiters() || waiter.getState() != Thread.State.TIMED_WAITING) {
            assertTrue(System.nanoTime() < giveUp, "the waiter never parked");
            Thread.onSpinWait();
        }
        done.set(true); // no wakeAll(): with the periodic re-check off, nothing tells the waiter
        waiter.join(200);
        assertFalse(returned.get(), "the waiter went on without a wake-up");
        q.wakeAll();
        waiter.join(TimeUnit.SECONDS.toMillis(10));
        assertTrue(returned.get(), "the waiter did not go on when woken");
    }
}
