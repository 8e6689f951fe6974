package dev.bottomhalf.stress;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIIII_Result;
import org.openjdk.jcstress.infra.results.IIIII_Result;
import org.openjdk.jcstress.infra.results.IIII_Result;
import org.openjdk.jcstress.infra.results.II_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;

/**
 * The {@code timer_list} state machine under races: {@code mod_timer} against {@code timer_delete}, against
 * the expiry pass and across a migration between CPU bases; {@code timer_delete_sync} against a running
 * callback; {@code timer_shutdown} against a callback that re-arms itself; and the rule that a callback
 * never runs on two CPUs at once. Every sample boots its own stepped 2-CPU kernel (nothing runs unless an
 * actor steps it), so each actor plays a CPU context explicitly: a task bound to a CPU calls the timer
 * operations, and {@code stepper.hardirq(n)} makes the calling thread {@code cpu/n} taking its tick (the
 * callbacks run in TIMER_SOFTIRQ at its irq_exit).
 *
 * <p>Every arbiter also walks both CPUs' wheels ({@code Timers.pendingCount}, which checks the bucket links
 * and the pending bitmap): an inconsistent wheel shows as −1 in the outcome (FORBIDDEN). A kernel
 * WARNING/BUG/OOPS during a sample throws from the arbiter (a jcstress error, which fails the build).
 * Note that a timer armed for jiffy {@code j} sits in the bucket of {@code j + 1} (the wheel rounds up, as
 * the kernel's {@code calc_index} does), so "due now" below means armed for the previous jiffy.
 *
 * <p>The two actors of a sample meet before their operations ({@link Start}) with a random skew of a
 * few spins, so the operations really overlap: without it the faster actor runs ahead through its batch
 * of samples, and the tests that race a tick against a task saw only one order.
 *
 * <p>How they were checked: each test was run with {@code -m quick -sc false} (4 compilation
 * configurations, on a 2-CPU machine that was busy with other builds) against a copy of the core in which
 * {@code Timers} had been broken on purpose in one place, the one its javadoc names; each reported the
 * FORBIDDEN outcome given there, in the proportion given, and none is ever seen against the unmodified
 * core.
 */
public class TimerStress {

    private static Kernel stepped(Reporter reporter) {
        return Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1).stepped().reporter(reporter).build());
    }

    /** {@code pendingCount(cpu)}, or −1 if the walk found the wheel inconsistent. */
    private static int wheel(Kernel kernel, int cpu) {
        try {
            return kernel.timers().pendingCount(cpu);
        } catch (IllegalStateException e) {
            return -1;
        }
    }

    /** Throws (a jcstress error) if the kernel reported a WARNING, BUG or OOPS during the sample. */
    private static void requireNoReports(Reporter.Recording reports) {
        List<KernelEvent> bad = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.WARNING
                || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.OOPS).toList();
        if (!bad.isEmpty()) {
            throw new IllegalStateException("kernel reports: " + bad);
        }
    }

    /**
     * Lines up the two actors of one sample. jcstress runs each actor over a whole batch of samples, so the
     * faster actor (a {@code mod_timer} takes about 0.1 µs, a tick that runs a callback about 0.2 µs once
     * compiled) would run ahead and the two operations of one sample would rarely meet. Each actor arrives
     * and waits for the other, then waits a few more spins of its own: a skew drawn per sample in
     * ±{@value #SKEW} spins, so every relative timing around the race window is tried.
     */
    static final class Start {
        static final int SKEW = 32;
        private final AtomicInteger arrived = new AtomicInteger();
        private final int skew = ThreadLocalRandom.current().nextInt(-SKEW, SKEW + 1);

        void go(int actor) {
            arrived.incrementAndGet();
            for (int spins = 0; arrived.get() < 2; spins++) {
                if (spins < 10_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();                  // fewer CPUs than actors: let the other one run
                }
            }
            for (int i = actor == 0 ? skew : -skew; i > 0; i--) {
                Thread.onSpinWait();
            }
        }
    }

    /**
     * {@code mod_timer} on CPU 0 races with {@code timer_delete} on CPU 1; the timer is pending on CPU 0
     * and stays there (it is re-armed from its own CPU). The two are linearizable: either the mod lands
     * first (it finds the timer pending: 1; the delete then removes it: 1; not pending) or the delete does
     * (1; the mod then finds it inactive and arms it again: 0; pending on CPU 0). The mod unlinks the timer
     * and links it into its new bucket under the base lock without ever clearing {@code pending} (the
     * kernel's {@code detach_if_pending(timer, base, false)}), which is what keeps the delete's lockless
     * {@code timer_pending} fast path from seeing a pending timer as inactive in between. Outcome: (mod
     * return, delete return, pending, timers linked on CPU 0, timers linked on CPU 1).
     *
     * <p>Checked by letting {@code __mod_timer} clear {@code pending} when it unlinks the timer
     * ({@code detachIfPending(t, true)}): FORBIDDEN "1, 0, 1, 1, 0" (the delete returned 0 for a timer that
     * was pending all along and stayed armed) in 1,505 of 49,674 samples.
     */
    @JCStressTest
    @Outcome(id = "1, 1, 0, 0, 0", expect = Expect.ACCEPTABLE, desc = "mod first (re-armed a pending timer), then deleted")
    @Outcome(id = "0, 1, 1, 1, 0", expect = Expect.ACCEPTABLE, desc = "deleted first, then mod armed it again on CPU 0")
    @Outcome(expect = Expect.FORBIDDEN, desc = "not linearizable, lost, or the wheel is corrupt")
    @State
    public static class ModVersusDelete {
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel = stepped(reports);
        final Timers timers = kernel.timers();
        final Start start = new Start();
        final TimerList t;
        final long newExpiry;

        public ModVersusDelete() {
            kernel.bindCurrentThread(0);
            t = TimerList.setup("t", me -> { }, 0);
            timers.mod(t, kernel.jiffies() + 10);   // pending on CPU 0
            newExpiry = kernel.jiffies() + 20;       // another bucket: the full unlink/relink path
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu0Mods(IIIII_Result r) {
            kernel.bindCurrentThread(0);
            start.go(0);
            r.r1 = timers.mod(t, newExpiry);
        }

        @Actor
        public void cpu1Deletes(IIIII_Result r) {
            kernel.bindCurrentThread(1);
            start.go(1);
            r.r2 = timers.delete(t);
        }

        @Arbiter
        public void arbiter(IIIII_Result r) {
            r.r3 = t.isPending() ? 1 : 0;
            r.r4 = wheel(kernel, 0);
            r.r5 = wheel(kernel, 1);
            requireNoReports(reports);
        }
    }

    /**
     * The same race across a migration: the timer is pending on CPU 0, {@code mod_timer} is called on CPU 1
     * (so it moves the timer to CPU 1's base: {@code TIMER_MIGRATING} is set while neither base lock is
     * held) and {@code timer_delete} on CPU 0. The delete must lock whichever base holds the timer
     * ({@code lock_timer_base}: read the flags, lock the base they name, re-check them) and must never act
     * on the old base once the timer has left it. Outcome: (mod return, delete return, pending, timers
     * linked on CPU 0, timers linked on CPU 1).
     *
     * <p>Checked by letting {@code lock_timer_base} return the base it locked without re-checking the
     * flags (the delete then works on CPU 0's base while the timer is being linked into CPU 1's): FORBIDDEN
     * "1, 1, 0, 0, -1" (CPU 1's wheel corrupt: a linked timer that is not pending) in 9,246 and
     * "1, 1, 1, 0, 1" (the delete "removed" it, yet it is still armed) in 1,353 of 40,974 samples.
     */
    @JCStressTest
    @Outcome(id = "1, 1, 0, 0, 0", expect = Expect.ACCEPTABLE, desc = "moved to CPU 1 first, then deleted there")
    @Outcome(id = "0, 1, 1, 0, 1", expect = Expect.ACCEPTABLE, desc = "deleted first, then armed on CPU 1")
    @Outcome(expect = Expect.FORBIDDEN, desc = "not linearizable, lost, left on the wrong CPU, or the wheel is corrupt")
    @State
    public static class ModMigratingVersusDelete {
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel = stepped(reports);
        final Timers timers = kernel.timers();
        final Start start = new Start();
        final TimerList t;
        final long newExpiry;

        public ModMigratingVersusDelete() {
            kernel.bindCurrentThread(0);
            t = TimerList.setup("t", me -> { }, 0);
            timers.mod(t, kernel.jiffies() + 10);   // pending on CPU 0
            newExpiry = kernel.jiffies() + 20;
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu1Mods(IIIII_Result r) {
            kernel.bindCurrentThread(1);
            start.go(0);
            r.r1 = timers.mod(t, newExpiry);
        }

        @Actor
        public void cpu0Deletes(IIIII_Result r) {
            kernel.bindCurrentThread(0);
            start.go(1);
            r.r2 = timers.delete(t);
        }

        @Arbiter
        public void arbiter(IIIII_Result r) {
            r.r3 = t.isPending() ? 1 : 0;
            r.r4 = wheel(kernel, 0);
            r.r5 = wheel(kernel, 1);
            requireNoReports(reports);
        }
    }

    /**
     * {@code mod_timer} (to the far future, from CPU 0) races with the expiry of the same timer, due on
     * CPU 1, whose {@code cpu/1} takes its tick. Either the mod wins (the timer was pending: 1; it moves to
     * CPU 0 for the far expiry and the tick on CPU 1 finds nothing to run) or the expiry does (the callback
     * runs once; the mod finds the timer inactive: 0, and arms it again — on CPU 1 if the callback was
     * still running there, on CPU 0 otherwise). Never both "it was pending" and a run (the arm would be
     * counted twice), never a lost re-arm, never a double run. The arbiter then moves the clock past the
     * far expiry and lets both CPUs take their ticks: the re-armed timer runs exactly once more. Outcome:
     * (runs before the arbiter, mod return, pending, runs after the far expiry).
     *
     * <p>Checked by letting {@code __mod_timer} take its return value from the lockless {@code timer_pending}
     * read it made before locking the base (reporting 1 on the pending path even when the expiry pass had
     * detached the timer in between): FORBIDDEN "1, 1, 1, 2" in 528 of 28,571 samples.
     */
    @JCStressTest
    @Outcome(id = "0, 1, 1, 1", expect = Expect.ACCEPTABLE, desc = "mod first: the timer moved to the far expiry, ran once there")
    @Outcome(id = "1, 0, 1, 2", expect = Expect.ACCEPTABLE, desc = "expiry first: ran, then mod armed it again; ran once more")
    @Outcome(expect = Expect.FORBIDDEN, desc = "the mod and the expiry both claimed the arm, a re-arm was lost, or a double run")
    @State
    public static class ModVersusExpiry {
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel = stepped(reports);
        final Stepper stepper = kernel.stepper();
        final Timers timers = kernel.timers();
        final Start start = new Start();
        final AtomicInteger runs = new AtomicInteger();
        final TimerList t;
        final long far;

        public ModVersusExpiry() {
            kernel.bindCurrentThread(1);
            t = TimerList.setup("t", me -> runs.incrementAndGet(), 0);
            timers.mod(t, kernel.jiffies());        // armed on CPU 1 (its bucket: the next jiffy) ...
            stepper.advanceJiffies(1);               // ... and due now
            far = kernel.jiffies() + 1000;
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu1TakesItsTick() {
            start.go(0);
            stepper.hardirq(1);
        }

        @Actor
        public void cpu0Mods(IIII_Result r) {
            kernel.bindCurrentThread(0);
            start.go(1);
            r.r2 = timers.mod(t, far);
        }

        @Arbiter
        public void arbiter(IIII_Result r) {
            r.r1 = runs.get();
            r.r3 = t.isPending() ? 1 : 0;
            int w0 = wheel(kernel, 0);
            int w1 = wheel(kernel, 1);
            if (w0 < 0 || w1 < 0 || w0 + w1 != r.r3) {
                r.r3 = -1;                           // linked count disagrees with timer_pending, or corrupt
            }
            stepper.advanceToJiffy(far + 200);       // past the bucket of the far expiry at any level
            stepper.hardirq(0);
            stepper.hardirq(1);
            r.r4 = runs.get();
            requireNoReports(reports);
        }
    }

    /**
     * {@code timer_delete_sync} on CPU 0 races with the callback's run on CPU 1; the callback re-arms
     * itself. When {@code timer_delete_sync} returns, the callback is not running (it is neither inside nor
     * about to start) and the timer is not pending (its re-arm was removed too), and nothing runs it
     * afterwards: it either removed the timer before it expired (1, no run) or waited for the callback and
     * then removed the re-armed timer (1, one run). Outcome: (delete_sync return, callback inside when it
     * returned, pending when it returned, runs when it returned, runs after more ticks on both CPUs,
     * timers linked on both CPUs).
     *
     * <p>Checked by letting {@code timer_delete_sync} ignore the base's {@code running_timer} (so it never
     * waits): FORBIDDEN "0, 1, 0, 0, 4, 1" (returned while the callback was inside; the callback's re-arm
     * survived and the timer ran on) in 228, "0, 0, 0, 0, 4, 1" (returned as the callback was starting) in
     * 20 and "0, 1, 0, 1, 4, 1" in 14 of 19,532 samples.
     */
    @JCStressTest
    @Outcome(id = "1, 0, 0, 0, 0, 0", expect = Expect.ACCEPTABLE, desc = "removed before it expired; never ran")
    @Outcome(id = "1, 0, 0, 1, 1, 0", expect = Expect.ACCEPTABLE, desc = "waited for the callback, then removed its re-arm")
    @Outcome(expect = Expect.FORBIDDEN, desc = "returned while the callback ran, or left it armed")
    @State
    public static class DeleteSyncVersusRunningCallback {
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel = stepped(reports);
        final Stepper stepper = kernel.stepper();
        final Timers timers = kernel.timers();
        final Start start = new Start();
        final AtomicInteger runs = new AtomicInteger();
        final AtomicInteger inside = new AtomicInteger();
        final TimerList t;

        public DeleteSyncVersusRunningCallback() {
            kernel.bindCurrentThread(1);
            t = TimerList.setup("t", me -> {
                inside.set(1);
                for (int i = 0; i < 50; i++) {
                    Thread.onSpinWait();
                }
                runs.incrementAndGet();
                timers.mod(me, kernel.jiffies() + 1);   // re-arms itself
                inside.set(0);
            }, 0);
            timers.mod(t, kernel.jiffies());             // its bucket is the next jiffy ...
            stepper.advanceJiffies(1);                   // ... so it is due on CPU 1 now
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu1TakesItsTick() {
            start.go(0);
            stepper.hardirq(1);
        }

        @Actor
        public void cpu0DeletesSync(IIIIII_Result r) {
            kernel.bindCurrentThread(0);
            start.go(1);
            r.r1 = timers.deleteSync(t);
            r.r2 = inside.get();
            r.r3 = t.isPending() ? 1 : 0;
            r.r4 = runs.get();
        }

        @Arbiter
        public void arbiter(IIIIII_Result r) {
            for (int i = 0; i < 3; i++) {
                stepper.advanceJiffies(2);
                stepper.hardirq(0);
                stepper.hardirq(1);
            }
            r.r5 = runs.get();
            int w0 = wheel(kernel, 0);
            int w1 = wheel(kernel, 1);
            r.r6 = w0 < 0 || w1 < 0 ? -1 : w0 + w1;
            requireNoReports(reports);
        }
    }

    /**
     * A timer's callback never runs concurrently with itself. The callback re-arms itself for "now"
     * ({@code mod_timer(t, jiffies)}: the next tick, as the base clock runs one ahead during expiry); it is
     * due on CPU 1, whose {@code cpu/1} one actor plays; the other actor, a task on CPU 0, re-arms it for
     * the next jiffy ({@code mod_timer(t, jiffies + 1)}: a bucket it is never in, so no same-bucket shortcut
     * keeps it where it is), moves the clock on two jiffies and plays {@code cpu/0} taking its own tick. If
     * the callback is running on CPU 1 when the mod comes, the mod must leave the timer on CPU 1's base (the
     * kernel's {@code base->running_timer != timer} check before migrating: "0, 2"); otherwise it moves to
     * CPU 0 and runs there, before ("0, 1") or after ("0, 3") the run on CPU 1. Outcome: (overlaps seen by
     * the callback, CPUs that ran it: bit 0 = CPU 0, bit 1 = CPU 1).
     *
     * <p>Checked by removing the {@code running_timer} check from {@code __mod_timer}'s migration: FORBIDDEN
     * "1, 3" (the callback ran on CPU 0 while it was still inside on CPU 1) in 812 and "2, 3" in 5 of 48,657
     * samples.
     */
    @JCStressTest
    @Outcome(id = {"0, 1", "0, 2", "0, 3"}, expect = Expect.ACCEPTABLE, desc = "never overlapped (ran on CPU 0, CPU 1, or both in turn)")
    @Outcome(expect = Expect.FORBIDDEN, desc = "the callback ran on both CPUs at once, or never ran, or the wheel is corrupt")
    @State
    public static class SelfRearmNeverOverlaps {
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel = stepped(reports);
        final Stepper stepper = kernel.stepper();
        final Timers timers = kernel.timers();
        final Start start = new Start();
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final AtomicInteger ranOn = new AtomicInteger();
        final TimerList t;

        public SelfRearmNeverOverlaps() {
            kernel.bindCurrentThread(1);
            t = TimerList.setup("t", me -> {
                if (inside.incrementAndGet() != 1) {
                    overlaps.incrementAndGet();
                }
                ranOn.getAndUpdate(m -> m | 1 << kernel.context().cpuId());
                for (int i = 0; i < 100; i++) {
                    Thread.onSpinWait();
                }
                timers.mod(me, kernel.jiffies());        // again on the next tick
                inside.decrementAndGet();
            }, 0);
            timers.mod(t, kernel.jiffies());             // its bucket is the next jiffy ...
            stepper.advanceJiffies(1);                   // ... so it is due on CPU 1 now
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu0RearmsAndTakesItsTick() {
            kernel.bindCurrentThread(0);
            start.go(0);
            timers.mod(t, kernel.jiffies() + 1);        // another bucket than any it is in: it may move
            stepper.advanceJiffies(2);                   // due (wherever it is)
            stepper.hardirq(0);
        }

        @Actor
        public void cpu1TakesItsTick() {
            start.go(1);
            stepper.hardirq(1);
        }

        @Arbiter
        public void arbiter(II_Result r) {
            r.r1 = overlaps.get();
            r.r2 = ranOn.get();
            // A corrupt wheel, or a linked count that disagrees with timer_pending, shows as overlaps = -1.
            int w0 = wheel(kernel, 0);
            int w1 = wheel(kernel, 1);
            if (w0 < 0 || w1 < 0 || w0 + w1 != (t.isPending() ? 1 : 0)) {
                r.r1 = -1;
            }
            requireNoReports(reports);
        }
    }

    /**
     * {@code timer_shutdown} (not the sync one) on CPU 0 races with the run, on CPU 1, of a callback that
     * re-arms itself. Once shut down, arming is ignored — also the callback's own re-arm if it comes after
     * the shutdown — so after both actors the timer is not pending, and nothing runs it however long the
     * clock goes on; it ran at most once (the run the shutdown did not prevent). Outcome: (runs, pending
     * after both actors, runs after more ticks on both CPUs, timers linked on both CPUs).
     *
     * <p>Checked by letting {@code __mod_timer} skip its "shut down" ({@code function == NULL}) check on the
     * path a callback's re-arm takes (the timer is inactive while its callback runs): FORBIDDEN "1, 1, 1, 0"
     * (re-armed after the shutdown; at expiry the kernel finds no function, warns and drops it) in 1,068
     * of 37,763 samples.
     */
    @JCStressTest
    @Outcome(id = "0, 0, 0, 0", expect = Expect.ACCEPTABLE, desc = "shut down before it expired")
    @Outcome(id = "1, 0, 1, 0", expect = Expect.ACCEPTABLE, desc = "ran once; its re-arm was ignored or removed")
    @Outcome(expect = Expect.FORBIDDEN, desc = "armed or run after the shutdown")
    @State
    public static class ShutdownVersusSelfRearm {
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel = stepped(reports);
        final Stepper stepper = kernel.stepper();
        final Timers timers = kernel.timers();
        final Start start = new Start();
        final AtomicInteger runs = new AtomicInteger();
        final TimerList t;

        public ShutdownVersusSelfRearm() {
            kernel.bindCurrentThread(1);
            t = TimerList.setup("t", me -> {
                runs.incrementAndGet();
                for (int i = 0; i < 20; i++) {
                    Thread.onSpinWait();
                }
                timers.mod(me, kernel.jiffies() + 1);
            }, 0);
            timers.mod(t, kernel.jiffies());             // its bucket is the next jiffy ...
            stepper.advanceJiffies(1);                   // ... so it is due on CPU 1 now
            kernel.detachCurrentThread();
        }

        @Actor
        public void cpu1TakesItsTick() {
            start.go(0);
            stepper.hardirq(1);
        }

        @Actor
        public void cpu0ShutsDown() {
            kernel.bindCurrentThread(0);
            start.go(1);
            timers.shutdown(t);
        }

        @Arbiter
        public void arbiter(IIII_Result r) {
            r.r1 = runs.get();
            r.r2 = t.isPending() ? 1 : 0;
            for (int i = 0; i < 3; i++) {
                stepper.advanceJiffies(2);
                stepper.hardirq(0);
                stepper.hardirq(1);
            }
            r.r3 = runs.get();
            int w0 = wheel(kernel, 0);
            int w1 = wheel(kernel, 1);
            r.r4 = w0 < 0 || w1 < 0 ? -1 : w0 + w1;
            if (r.r2 == 0) {
                requireNoReports(reports);           // a re-arm after shutdown (r2 = 1) also warns: shown as r2
            }
        }
    }
}
