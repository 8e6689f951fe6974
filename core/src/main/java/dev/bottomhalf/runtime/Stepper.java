package dev.bottomhalf.runtime;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Drives a stepped-mode kernel: the caller runs each runtime duty cycle ({@code cpu/N},
 * {@code ksoftirqd/N}, {@code irq/L-name}) and moves the manual clock. The duty cycles are the same code
 * the runtime threads run in threaded mode. Confined to one thread at a time.
 *
 * <p>Each step borrows the runtime context ({@link Machine#runAs}) so handlers see exactly the context
 * they would see on the real thread: {@code cpu/0} in hardirq, {@code ksoftirqd/0} serving softirqs.
 */
public final class Stepper {
    /** {@link #runUntilIdle()} gives up after this many rounds: something keeps re-raising work. */
    public static final int MAX_ROUNDS = 100_000;

    private final Machine machine;

    public Stepper(Machine machine) {
        if (!machine.stepped()) {
            throw new IllegalStateException("this kernel runs in threaded mode; build it with stepped() to step it");
        }
        this.machine = machine;
    }

    /** The manual clock, or an exception if the kernel was built with another clock. */
    public ManualClock clock() {
        if (machine.clock() instanceof ManualClock mc) {
            return mc;
        }
        throw new IllegalStateException("this stepped kernel uses " + machine.clock() + ", not a manual clock");
    }

    /** Advances the manual clock. */
    public void advance(long amount, TimeUnit unit) {
        clock().advance(amount, unit);
    }

    /**
     * Advances the manual clock to the start of the jiffy {@code n} ahead of the current one, so that
     * {@code jiffies} grows by exactly {@code n} at any HZ (1/HZ need not be a whole number of ns).
     */
    public void advanceJiffies(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("the clock only moves forward; n = " + n);
        }
        advanceToJiffy(machine.jiffies() + n);
    }

    /** Advances the manual clock to the start of jiffy {@code j} (no-op if it has been reached). */
    public void advanceToJiffy(long j) {
        long target = machine.nanoTimeOfJiffy(j);
        long now = clock().nanoTime();
        if (target > now) {
            clock().advanceNanos(target - now);
        }
    }

    /** The current jiffies. */
    public long jiffies() {
        return machine.jiffies();
    }

    /** Runs {@code cpu/N} once: delivers every pending hard IRQ and cross-CPU call, each with its irq_exit. */
    public int hardirq(int cpu) {
        Cpu c = machine.cpu(cpu);
        return machine.runAs(c.cpuContext(), () -> c.agent().doWork());
    }

    /** Runs the agent named {@code name} ({@code ksoftirqd/0}, {@code irq/7-eth0}, ...) once. */
    public int run(String name) {
        AgentHandle h = find(name);
        Agent a = h.agent();
        return machine.runAs(a.context(), a::doWork);
    }

    /** Whether the agent named {@code name} would find work. */
    public boolean hasWork(String name) {
        return find(name).agent().hasWork();
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
     * @return how much work was done
     */
    public int runUntilIdleOrRounds(int rounds) {
        int total = 0;
        for (int round = 0; round < rounds; round++) {
            int done = 0;
            boolean any = false;
            for (AgentHandle h : machine.agents()) {
                Agent a = h.agent();
                if (a.hasWork()) {
                    any = true;
                    done += machine.runAs(a.context(), a::doWork);
                }
            }
            total += done;
            if (!any) {
                break;
            }
        }
        return total;
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
            int done = 0;
            boolean any = false;
            for (AgentHandle h : machine.agents()) {
                Agent a = h.agent();
                if (a.hasWork()) {
                    any = true;
                    done += machine.runAs(a.context(), a::doWork);
                }
            }
            total += done;
            if (!any) {
                return total;
            }
        }
        List<String> busy = machine.agents().stream().filter(h -> h.agent().hasWork())
                .map(h -> h.agent().name()).toList();
        throw new IllegalStateException("still busy after " + MAX_ROUNDS + " rounds: " + busy);
    }
}
