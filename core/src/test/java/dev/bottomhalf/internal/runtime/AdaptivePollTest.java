package dev.bottomhalf.internal.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.runtime.IdleStrategy.Action;

/**
 * The adaptive spin window of a runtime thread ({@link AdaptivePoll}): the rule of the kernel's adaptive halt
 * polling, fed with plain numbers (the thread passes its waits in; nothing here reads a clock). µs below are the
 * window of a 50 µs maximum.
 */
class AdaptivePollTest {
    private static final long US = 1_000;

    @Test
    void aNewWindow_isTheMaximum_andSpinsUntilIt() {
        AdaptivePoll p = new AdaptivePoll(50 * US);
        assertEquals(50 * US, p.windowNs());
        assertEquals(10 * US, p.growStartNs());
        assertEquals(Action.SPIN, p.onIdle(1, 0));
        assertEquals(Action.SPIN, p.onIdle(1000, 50 * US - 1));
        assertEquals(Action.PARK, p.onIdle(1001, 50 * US));
    }

    @Test
    void workCaughtByTheSpin_leavesTheWindowAlone() {
        AdaptivePoll p = new AdaptivePoll(50 * US);
        p.workAfterIdle(1 * US);
        p.workAfterIdle(50 * US);
        assertEquals(50 * US, p.windowNs());
    }

    @Test
    void workLongAfterTheMaximum_halvesTheWindow_andBelowTheGrowStartItDropsToZero() {
        AdaptivePoll p = new AdaptivePoll(50 * US);
        p.workAfterIdle(200 * US);
        assertEquals(25 * US, p.windowNs());
        p.workAfterIdle(200 * US);
        assertEquals(12_500, p.windowNs());
        p.workAfterIdle(200 * US);
        assertEquals(0, p.windowNs(), "6.25 µs is below the 10 µs grow start");
        p.workAfterIdle(200 * US);
        assertEquals(0, p.windowNs());
    }

    @Test
    void aZeroWindow_parksAtOnce() {
        AdaptivePoll p = new AdaptivePoll(50 * US);
        for (int i = 0; i < 3; i++) {
            p.workAfterIdle(1_000 * US);
        }
        assertEquals(Action.PARK, p.onIdle(1, 0));
    }

    @Test
    void workJustAfterTheWindow_butWithinTheMaximum_growsItBackFromTheGrowStart_byDoubling_upToTheMaximum() {
        AdaptivePoll p = new AdaptivePoll(50 * US);
        for (int i = 0; i < 3; i++) {
            p.workAfterIdle(1_000 * US);
        }
        p.workAfterIdle(30 * US);
        assertEquals(10 * US, p.windowNs());
        p.workAfterIdle(30 * US);
        assertEquals(20 * US, p.windowNs());
        p.workAfterIdle(30 * US);
        assertEquals(40 * US, p.windowNs());
        p.workAfterIdle(30 * US);
        assertEquals(40 * US, p.windowNs(), "caught by the 40 µs spin");
        p.workAfterIdle(45 * US);
        assertEquals(50 * US, p.windowNs(), "never past the maximum");
    }

    @Test
    void aMaximumBelowOneNanosecond_isRefused() {
        assertThrows(IllegalArgumentException.class, () -> new AdaptivePoll(0));
    }
}
