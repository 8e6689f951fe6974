package dev.bottomhalf.time;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/**
 * Model-based randomised tests of the timer wheel: random arm / re-arm / reduce / delete / advance against
 * a reference that knows only the documented rounding rule ({@code calc_wheel_index};
 * docs/subsystems/timer.md, "Rounding, worked": the level by the delta from the base clock, the expiry
 * rounded up to the level's granularity, the clamp, past expiries on the next tick).
 * The wheel's structure is checked after every step. On failure the message carries the seed; re-run one
 * seed with {@code -Dbottomhalf.wheel.seed=N}.
 */
class TimerWheelModelTest {
    private static final int STEPS = 4_000;
    private static final int TIMERS = 48;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(1);

    private static long[] seeds() {
        String fixed = System.getProperty("bottomhalf.wheel.seed");
        if (fixed != null) {
            return new long[] {Long.parseLong(fixed)};
        }
        return new long[] {1, 2, 3, 42, System.nanoTime()};
    }

    /** The reference: where a timer armed at base clock {@code clk} fires, from the documented rule alone. */
    static long expectedBucket(long expires, long clk, int depth) {
        long delta = expires - clk;
        if (delta < 0) {
            return clk;
        }
        long cutoff = 63L << (3 * (depth - 1));
        if (delta >= cutoff) {
            expires = clk + cutoff - (1L << (3 * (depth - 1)));
            delta = expires - clk;
        }
        int level = 0;
        long start = 63; // LVL_START(1)
        while (level < depth - 1 && delta >= start) {
            level++;
            start <<= 3;
        }
        int s = 3 * level;
        return ((expires >>> s) + 1) << s;
    }

    /** A bucket in the past (an expiry in the past lands in the bucket of the clock) fires on the next tick. */
    static long firstTick(long bucket, long armedAt) {
        return Jiffies.timeAfter(bucket, armedAt) ? bucket : armedAt + 1;
    }

    /**
     * The bare wheel of one base, driven as {@code __mod_timer} and {@code __run_timers} drive it, from a
     * clock just below the 64-bit wrap (and from 0, and from the kernel's INITIAL_JIFFIES).
     */
    @ParameterizedTest(name = "start={0} hz={1}")
    @CsvSource({"-5000, 1000", "0, 1000", "4294667296, 1000", "-70000, 100", "4294877296, 300"})
    void bareWheel_matchesTheReference_acrossTheWrap(long start, int hz) {
        for (long seed : seeds()) {
            runBareWheel(seed, start, TimerWheel.depth(hz));
        }
    }

    private static void runBareWheel(long seed, long start, int depth) {
        SplittableRandom rnd = new SplittableRandom(seed);
        TimerBase base = new TimerBase(0, TimerBase.BASE_GLOBAL, depth, start);
        TimerList[] timers = new TimerList[TIMERS];
        for (int i = 0; i < TIMERS; i++) {
            timers[i] = new TimerList();
            timers[i].init("t" + i, t -> { }, 0, 0);
        }
        Map<TimerList, Long> due = new HashMap<>();
        long jiffies = start;
        String where = "seed " + seed + " start " + start + " depth " + depth;
        for (int step = 0; step < STEPS; step++) {
            int op = rnd.nextInt(10);
            TimerList t = timers[rnd.nextInt(TIMERS)];
            if (op < 5) {
                long expires = jiffies + delay(rnd);
                base.forward(jiffies);
                base.detachIfPending(t, false);
                t.expires = expires;
                base.internalAdd(t);
                due.put(t, firstTick(expectedBucket(expires, base.clk, depth), jiffies));
            } else if (op < 7) {
                assertEquals(due.containsKey(t) ? 1 : 0, base.detachIfPending(t, true), where + " step " + step);
                due.remove(t);
            } else {
                long advance = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(200_000) : 1 + rnd.nextInt(70);
                long target = jiffies + advance;
                // One tick per jiffy is what the kernel does when ticks are on time; long jumps exercise the
                // catch-up path (several buckets in one pass), so take both.
                boolean perJiffy = advance <= 70;
                while (jiffies != target) {
                    jiffies = perJiffy ? jiffies + 1 : target;
                    List<TimerList> fired = runTimers(base, jiffies);
                    for (TimerList f : fired) {
                        Long expected = due.remove(f);
                        if (expected == null) {
                            fail(where + " step " + step + ": " + f + " fired but was not armed");
                        }
                        assertTrue(Jiffies.timeAfterEq(jiffies, expected), where + ": fired before its bucket");
                        if (perJiffy) {
                            assertEquals((long) expected, jiffies, where + " step " + step + ": " + f.name()
                                    + " fired on the wrong tick");
                        }
                    }
                    for (Map.Entry<TimerList, Long> e : due.entrySet()) {
                        assertTrue(Jiffies.timeBefore(jiffies, e.getValue()), where + " step " + step + ": "
                                + e.getKey().name() + " due at " + e.getValue() + " has not fired at " + jiffies);
                    }
                }
            }
            assertEquals(due.size(), base.checkStructure(), where + " step " + step + ": timers in the wheel");
            for (Map.Entry<TimerList, Long> e : due.entrySet()) {
                assertTrue(e.getKey().isPending(), where);
            }
        }
    }

    private static long delay(SplittableRandom rnd) {
        return switch (rnd.nextInt(8)) {
            case 0 -> -rnd.nextInt(100);                   // in the past
            case 1 -> rnd.nextInt(64);                      // level 0 and its edge
            case 2 -> 60 + rnd.nextInt(8);                  // around LVL_START(1)
            case 3 -> 500 + rnd.nextInt(10);                // around LVL_START(2)
            case 4 -> rnd.nextInt(5_000);
            case 5 -> rnd.nextInt(300_000);
            case 6 -> rnd.nextLong(1L << 32);               // beyond the wheel: clamped
            default -> rnd.nextInt(40_000);
        };
    }

    /** {@code __run_timers} without callbacks: the timers that expire by {@code jiffies}, in expiry order. */
    private static List<TimerList> runTimers(TimerBase base, long jiffies) {
        List<TimerList> fired = new ArrayList<>();
        while (Jiffies.timeAfterEq(jiffies, base.clk) && Jiffies.timeAfterEq(jiffies, base.nextExpiry)) {
            int levels = base.collect();
            base.clk++;
            base.recalcNextExpiry();
            while (levels-- > 0) {
                TimerList t;
                int slot = base.collected(levels);
                while ((t = base.first(slot)) != null) {
                    base.detach(t, true);
                    fired.add(t);
                }
            }
        }
        return fired;
    }

    /**
     * The whole subsystem in a stepped kernel, across the 32-bit wrap of jiffies: random {@code mod_timer},
     * {@code timer_reduce}, {@code mod_timer_pending}, {@code timer_delete} and ticks; each callback must
     * run on exactly the tick the reference predicts from the base clock at arming.
     */
    @ParameterizedTest(name = "hz={0}")
    @CsvSource({"1000", "250", "100"})
    void kernelTimers_matchTheReference_acrossThe32BitWrap(int hz) {
        for (long seed : seeds()) {
            runKernel(seed, hz);
        }
    }

    private void runKernel(long seed, int hz) {
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Kernel k = kernels.boot(b -> b.hz(hz))) {       // each seed's kernel closed before the next
            Stepper stepper = k.stepper();
            k.bindCurrentThread(0);
            stepper.advanceToJiffy((1L << 32) - 3_000);
            Timers timers = k.timers();
            int depth = timers.wheelDepth();
            Map<TimerList, Long> due = new HashMap<>();
            Map<TimerList, Long> firedAt = new HashMap<>();
            TimerList[] all = new TimerList[TIMERS];
            for (int i = 0; i < TIMERS; i++) {
                all[i] = TimerList.setup("k" + i, t -> firedAt.put(t, k.jiffies()), 0);
            }
            String where = "seed " + seed + " hz " + hz;
            for (int step = 0; step < STEPS / 2; step++) {
                TimerList t = all[rnd.nextInt(TIMERS)];
                long now = k.jiffies();
                int op = rnd.nextInt(10);
                if (op < 3) {
                    long e = now + rnd.nextInt(-5, 3_000);
                    long before = t.expires();
                    boolean wasPending = due.containsKey(t);
                    assertEquals(wasPending ? 1 : 0, timers.mod(t, e), where + " mod_timer return");
                    if (!wasPending || before != e) { // the same expiry on a pending timer moves nothing
                        due.put(t, firstTick(expectedBucket(e, timers.baseClock(0, 0), depth), now));
                    }
                } else if (op < 4) {
                    long e = now + rnd.nextInt(0, 3_000);
                    long before = t.expires();
                    boolean wasPending = due.containsKey(t);
                    assertEquals(wasPending ? 1 : 0, timers.reduce(t, e), where + " timer_reduce return");
                    if (!wasPending || Jiffies.timeBefore(e, before)) {
                        due.put(t, firstTick(expectedBucket(e, timers.baseClock(0, 0), depth), now));
                    }
                } else if (op < 5) {
                    long e = now + rnd.nextInt(1, 3_000);
                    long before = t.expires();
                    boolean wasPending = due.containsKey(t);
                    assertEquals(wasPending ? 1 : 0, timers.modPending(t, e), where + " mod_timer_pending return");
                    if (wasPending && before != e) {
                        due.put(t, firstTick(expectedBucket(e, timers.baseClock(0, 0), depth), now));
                    }
                } else if (op < 6) {
                    assertEquals(due.containsKey(t) ? 1 : 0, timers.delete(t), where + " timer_delete return");
                    due.remove(t);
                } else {
                    int n = 1 + rnd.nextInt(40);
                    for (int i = 0; i < n; i++) {
                        stepper.advanceJiffies(1);
                        stepper.hardirq(0);
                        long j = k.jiffies();
                        for (Map.Entry<TimerList, Long> f : firedAt.entrySet()) {
                            Long expected = due.remove(f.getKey());
                            assertEquals(expected, f.getValue(), where + " step " + step + ": " + f.getKey().name()
                                    + " fired on the wrong tick");
                        }
                        firedAt.clear();
                        for (Map.Entry<TimerList, Long> e : due.entrySet()) {
                            assertTrue(Jiffies.timeBefore(j, e.getValue()), where + ": " + e.getKey().name()
                                    + " due at " + e.getValue() + " has not fired at " + j);
                        }
                    }
                }
                assertEquals(due.size(), timers.pendingCount(0), where + " step " + step + ": pending timers");
            }
            assertTrue(Jiffies.timeAfter(k.jiffies(), 1L << 32), "the run crossed the 32-bit wrap");
        }
    }
}
