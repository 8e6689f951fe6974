package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.internal.runtime.SteppedScheduler;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Drives a stepped-mode kernel: the caller runs each runtime duty cycle ({@code cpu/N},
 * {@code ksoftirqd/N}, {@code irq/L-name}) and moves the manual clock. The duty cycles are the same code
 * the runtime threads run in threaded mode. Confined to one thread at a time.
 *
 * <p>Each step borrows the runtime context ({@link Machine#runAs}) so handlers see exactly the context
 * they would see on the real thread: {@code cpu/0} in hardirq, {@code ksoftirqd/0} serving softirqs.
 *
 * <p>Agents whose work may sleep or burn CPU time (the kworkers) are adopted by the machine's
 * {@link SteppedScheduler}: they run on threads of their own, one at a time, and the stepper reaches them
 * through the scheduler's own agent ({@code stepped-scheduler}), one slice per round. A work function that
 * sleeps therefore does not finish within {@link #runUntilIdle()}; let simulated time pass with
 * {@link #runFor} (event by event) or by advancing the clock and running again.
 */
public final class Stepper {
    /** {@link #runUntilIdle()} gives up after this many rounds: something keeps re-raising work. */
    public static final int MAX_ROUNDS = 100_000;

    private final Machine machine;

    Stepper(Machine machine) {
        if (!machine.stepped()) {
            throw new IllegalStateException("this kernel runs in threaded mode; build it with stepped() to step it");
        }
        this.machine = machine;
    }

    /**
     * The manual clock, or an exception if the kernel was built with another clock.
     *
     * @return the clock
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public ManualClock clock() {
        if (machine.clock() instanceof ManualClock mc) {
            return mc;
        }
        throw new IllegalStateException("this stepped kernel uses " + machine.clock() + ", not a manual clock");
    }

    /**
     * Advances the manual clock.
     *
     * @param amount how far, not negative
     * @param unit the amount's unit
     * @throws IllegalArgumentException when {@code amount} is negative
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public void advance(long amount, TimeUnit unit) {
        clock().advance(amount, unit);
    }

    /**
     * Advances the manual clock by {@code amount} (to the nanosecond) without running anything; see
     * {@link #advance(long, TimeUnit)}. The stepping thread.
     *
     * @param amount how far, not negative
     * @throws IllegalArgumentException when {@code amount} is negative
     * @throws ArithmeticException when {@code amount} does not fit in a {@code long} of nanoseconds
     */
    public void advance(Duration amount) {
        clock().advance(requireForward(amount).toNanos(), TimeUnit.NANOSECONDS);
    }

    /**
     * Lets {@code amount} of simulated time pass, event by event: {@link #runFor(long, TimeUnit)} with a
     * {@link Duration}. The stepping thread.
     *
     * @param amount how much simulated time, not negative
     * @throws IllegalArgumentException when {@code amount} is negative
     * @throws ArithmeticException when {@code amount} does not fit in a {@code long} of nanoseconds
     */
    public void runFor(Duration amount) {
        runFor(requireForward(amount).toNanos(), TimeUnit.NANOSECONDS);
    }

    private static Duration requireForward(Duration amount) {
        if (Objects.requireNonNull(amount, "amount").isNegative()) {
            throw new IllegalArgumentException("the clock only moves forward; amount = " + amount);
        }
        return amount;
    }

    /**
     * Advances the manual clock to the start of the jiffy {@code n} ahead of the current one, so that
     * {@code jiffies} grows by exactly {@code n} at any HZ (1/HZ need not be a whole number of ns).
     *
     * @param n jiffies to advance, not negative
     * @throws IllegalArgumentException when {@code n} is negative
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public void advanceJiffies(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("the clock only moves forward; n = " + n);
        }
        advanceToJiffy(machine.jiffies() + n);
    }

    /**
     * Advances the manual clock to the start of jiffy {@code j} (no-op if it has been reached).
     *
     * @param j the jiffy to reach
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public void advanceToJiffy(long j) {
        long target = machine.nanoTimeOfJiffy(j);
        long now = clock().nanoTime();
        if (target > now) {
            clock().advanceNanos(target - now);
        }
    }

    /**
     * The current jiffies.
     *
     * @return the jiffies counter
     */
    public long jiffies() {
        return machine.jiffies();
    }

    /**
     * Runs {@code cpu/N} once: delivers every pending hard IRQ and cross-CPU call, each with its irq_exit.
     *
     * @param cpu the CPU
     * @return how much work was done
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public int hardirq(int cpu) {
        Cpu c = machine.cpu(cpu);
        return machine.runAs(c.cpuContext(), () -> c.agent().doWork());
    }

    /**
     * Runs the agent named {@code name} ({@code ksoftirqd/0}, {@code irq/7-eth0}, ...) once; for a kworker,
     * one slice of its thread if it is runnable or idle with work.
     *
     * @param name the runtime thread's name
     * @return how much work was done
     * @throws IllegalArgumentException when no runtime thread has that name
     */
    public int run(String name) {
        AgentHandle h = find(name);
        Agent a = h.agent();
        SteppedScheduler scheduler = SteppedScheduler.find(machine);
        if (scheduler != null && scheduler.adopts(a)) {
            return scheduler.step(a);
        }
        return machine.runAs(a.context(), a::doWork);
    }

    /**
     * Whether the agent named {@code name} would find work (a kworker: would run a slice now).
     *
     * @param name the runtime thread's name
     * @return true when it would find work
     * @throws IllegalArgumentException when no runtime thread has that name
     */
    public boolean hasWork(String name) {
        Agent a = find(name).agent();
        SteppedScheduler scheduler = SteppedScheduler.find(machine);
        if (scheduler != null && scheduler.adopts(a)) {
            return scheduler.hasWork(a);
        }
        return a.hasWork();
    }

    private AgentHandle find(String name) {
        for (AgentHandle h : machine.agents()) {
            if (h.agent().name().equals(name)) {
                return h;
            }
        }
        throw new IllegalArgumentException("no runtime thread named '" + name + "'; have "
                + machine.agents().stream().map(h -> h.agent().name()).toList());
    }

    /**
     * Like {@link #runUntilIdle()} but stops after {@code rounds} rounds even if work remains (a disabled,
     * scheduled tasklet keeps its softirq busy forever, by design).
     *
     * @param rounds the most rounds to run
     * @return how much work was done
     */
    public int runUntilIdleOrRounds(int rounds) {
        int total = 0;
        for (int round = 0; round < rounds; round++) {
            int done = round();
            if (done < 0) {
                break;
            }
            total += done;
        }
        return total;
    }

    /**
     * One round: every agent that has work runs once, in registration order; agents adopted by the
     * {@link SteppedScheduler} are skipped (its own agent runs them).
     *
     * @return the work done, or −1 when no agent had work
     */
    private int round() {
        SteppedScheduler scheduler = SteppedScheduler.find(machine);
        int done = 0;
        boolean any = false;
        for (AgentHandle h : machine.agents()) {
            Agent a = h.agent();
            if (scheduler != null && a != scheduler && scheduler.adopts(a)) {
                continue;
            }
            if (a.hasWork()) {
                any = true;
                done += machine.runAs(a.context(), a::doWork);
            }
        }
        return any ? done : -1;
    }

    /**
     * Runs every agent that has work, in registration order ({@code cpu/0..N}, {@code ksoftirqd/0..N},
     * then IRQ threads in request order), until none has.
     *
     * @return how much work was done
     * @throws IllegalStateException after {@link #MAX_ROUNDS} rounds that all found work
     */
    public int runUntilIdle() {
        int total = 0;
        for (int round = 0; round < MAX_ROUNDS; round++) {
            int done = round();
            if (done < 0) {
                return total;
            }
            total += done;
        }
        List<String> busy = machine.agents().stream().filter(h -> h.agent().hasWork())
                .map(h -> h.agent().name()).toList();
        throw new IllegalStateException("still busy after " + MAX_ROUNDS + " rounds: " + busy);
    }

    /**
     * The clock time of the next event any agent waits for: a due timer of some CPU, the end of a burn or
     * of a timed sleep; {@link Long#MAX_VALUE} when there is none. May lie in the past (a timer due on a CPU
     * that holds interrupts off).
     *
     * @return the clock time in nanoseconds, or {@link Long#MAX_VALUE}
     */
    public long nextEventNs() {
        long next = Long.MAX_VALUE;
        for (AgentHandle h : machine.agents()) {
            next = Math.min(next, h.agent().nextDeadlineNs());
        }
        return next;
    }

    /**
     * Lets {@code amount} of simulated time pass, event by event: runs everything runnable, moves the clock
     * to the next event (a timer, the end of a burn or of a sleep) and repeats; ends with the clock exactly
     * {@code amount} later and everything runnable at that instant run. Deterministic.
     *
     * @param amount how much time, not negative
     * @param unit the amount's unit
     * @throws IllegalArgumentException when {@code amount} is negative
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public void runFor(long amount, TimeUnit unit) {
        if (amount < 0) {
            throw new IllegalArgumentException("the clock only moves forward; amount = " + amount);
        }
        runUntilNanos(clock().nanoTime() + unit.toNanos(amount));
    }

    /**
     * {@link #runFor} up to the clock time {@code deadlineNs}.
     *
     * @param deadlineNs the clock time to reach, in nanoseconds
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public void runUntilNanos(long deadlineNs) {
        drive(() -> clock().nanoTime() >= deadlineNs, deadlineNs, () -> true);
    }

    /**
     * Like {@link #runFor} but stops as soon as {@code done} holds after a step.
     *
     * @param done the condition to stop at
     * @param amount the most time to let pass
     * @param unit the amount's unit
     * @return whether {@code done} holds
     * @throws IllegalStateException when the kernel does not use a {@link ManualClock}
     */
    public boolean runUntil(BooleanSupplier done, long amount, TimeUnit unit) {
        long deadlineNs = clock().nanoTime() + unit.toNanos(amount);
        drive(() -> done.getAsBoolean() || clock().nanoTime() >= deadlineNs, deadlineNs, () -> true);
        return done.getAsBoolean();
    }

    /**
     * The event loop: runs until idle; if {@code done} does not hold yet and {@code mayAdvance} allows,
     * moves the clock to the next event (never past {@code limitNs}) and repeats.
     *
     * @return whether {@code done} holds; false when the clock may not or cannot move any more
     */
    boolean drive(BooleanSupplier done, long limitNs, BooleanSupplier mayAdvance) {
        int stuck = 0;
        for (;;) {
            runUntilIdleOrRounds(MAX_ROUNDS);
            if (done.getAsBoolean()) {
                return true;
            }
            if (!mayAdvance.getAsBoolean()) {
                return false;
            }
            long nowNs = clock().nanoTime();
            long nextNs = Math.min(limitNs, nextEventNs());
            if (nextNs <= nowNs) {
                // Due but not run (its CPU holds interrupts or bottom halves off): let time move on a jiffy.
                if (++stuck > 10_000) {
                    throw new IllegalStateException("stepped mode cannot make progress: an event has been due for"
                            + " 10,000 jiffies and its CPU does not run it (are IRQs or bottom halves disabled there?)");
                }
                nextNs = Math.min(limitNs, machine.nanoTimeOfJiffy(machine.jiffies() + 1));
            } else {
                stuck = 0;
            }
            if (nextNs == Long.MAX_VALUE) {
                return false;
            }
            if (nextNs > nowNs) {
                clock().advanceNanos(nextNs - nowNs);
            }
        }
    }
}
