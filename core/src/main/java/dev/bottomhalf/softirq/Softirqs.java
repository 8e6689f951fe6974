package dev.bottomhalf.softirq;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.SoftirqEvent;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.function.Function;

import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.internal.runtime.SoftirqEntry;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;

/**
 * The softirq subsystem of one kernel ({@code kernel/softirq.c}): the vector table, raising, the
 * bounded processing loop, {@code ksoftirqd/N}, and the per-CPU per-vector execution counts shown in
 * {@code /proc/softirqs}. Thread-safe: raise from any context on any thread.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Where softirqs run: at irq_exit on {@code cpu/N} when the interrupt did not
 * interrupt a softirq or a BH-disabled section; at the outermost {@code local_bh_enable} on the
 * caller's thread; and in {@code ksoftirqd/N}, woken by a raise from plain task context or when the
 * loop's budget runs out. Every path goes through {@code runPendingThenRelease}, so there is one
 * loop.</li>
 * <li>Exclusion: a context serves softirqs of CPU N only while it owns CPU N's BH level. A context that
 * finds the BH level owned leaves its pending bits to the owner, which re-checks the mask before it
 * gives the level up and once more after (the bit may have been set between its last check and the
 * release; then it takes the level again, or whoever took it in between runs them).</li>
 * <li>Budget: one invocation runs at most {@link #MAX_SOFTIRQ_RESTART} passes and stops
 * early once {@link #MAX_SOFTIRQ_TIME_MS} worth of jiffies have passed or {@code need_resched()} is set;
 * leftovers wake {@code ksoftirqd}. With jiffies granularity the time limit is "two tick boundaries".</li>
 * <li>Counters: {@code counts[cpu × 32 + nr]} is written only by the BH owner of that CPU (single
 * writer, opaque store) and read by anyone (opaque load).</li>
 * <li>Fidelity gap: Java cannot preempt a running handler. A hard IRQ for a CPU whose {@code cpu/N}
 * thread is serving softirqs is taken between two handlers; a hard IRQ for a CPU whose softirqs are
 * being served by {@code ksoftirqd} or a task runs at once on {@code cpu/N}, in parallel.</li>
 * </ul>
 */
public final class Softirqs {
    /**
     * {@code MAX_SOFTIRQ_TIME}: 2 ms. From the kernel's comment: long enough to drain a burst of network
     * traffic, short enough that a flood cannot starve user tasks for more than a couple of ticks before
     * the work moves to ksoftirqd, which the scheduler treats as an ordinary task.
     */
    public static final int MAX_SOFTIRQ_TIME_MS = 2;
    /**
     * {@code MAX_SOFTIRQ_RESTART}: 10 passes per invocation. Bounds the loop on coarse-HZ machines where
     * 2 ms is less than one jiffy and the time check alone would not end it.
     */
    public static final int MAX_SOFTIRQ_RESTART = 10;

    private static final VarHandle COUNTS = MethodHandles.arrayElementVarHandle(long[].class);
    /** Handlers are published with a release store and read with an acquire load: open races with raise. */
    private static final VarHandle ACTIONS = MethodHandles.arrayElementVarHandle(SoftirqAction[].class);

    private final Machine machine;
    private final Tracing tracing;
    private final SoftirqAction[] actions = new SoftirqAction[SoftirqVector.MAX_VECTORS];
    private final String[] names = new String[SoftirqVector.MAX_VECTORS];
    private final String[] actionNames = new String[SoftirqVector.MAX_VECTORS];
    private final long[] counts;
    private final Ksoftirqd[] daemons;
    private final long maxSoftirqTimeJiffies;
    /** A handler's oopses, rate-limited per vector. */
    private final RateLimiter oopses;
    /** A handler that returns with IRQs disabled: rate-limited per vector, like its oopses. */
    private final RateLimiter irqsOffReturns;
    /** Names a vector's handler in an oops report; made once (it reads this object's names). */
    private final Function<Integer, String> oopsName = nr -> "softirq " + names[nr] + " (" + actionNames[nr] + ")";

    static {
        Subsystems.install(Subsystems.SoftirqAccess.class, new SoftirqsWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Softirqs(Machine machine) {
        this.machine = Objects.requireNonNull(machine, "machine");
        this.tracing = machine.tracing();
        this.oopses = machine.reports().limiter("handle_softirqs");
        this.irqsOffReturns = machine.reports().limiter("handle_softirqs");
        this.maxSoftirqTimeJiffies = machine.msecsToJiffies(MAX_SOFTIRQ_TIME_MS);
        for (SoftirqVector v : SoftirqVector.values()) {
            names[v.nr()] = v.name();
        }
        this.counts = new long[machine.cpuCount() * SoftirqVector.MAX_VECTORS];
        this.daemons = new Ksoftirqd[machine.cpuCount()];
        for (int i = 0; i < daemons.length; i++) {
            daemons[i] = new Ksoftirqd(this, machine.cpu(i));
            daemons[i].handle = machine.register(daemons[i], true);
        }
        machine.installSoftirqEntry(new SoftirqEntry() {
            @Override
            public void invokeSoftirq(ExecutionContext cpuContext) {
                Softirqs.this.invokeSoftirq(cpuContext);
            }

            @Override
            public void runPendingThenRelease(ExecutionContext ctx) {
                Softirqs.this.runPendingThenRelease(ctx);
            }

            @Override
            public void wakeKsoftirqd(Cpu cpu) {
                Softirqs.this.wakeKsoftirqd(cpu);
            }
        });
    }

    Machine machine() {
        return machine;
    }

    // ------------------------------------------------------------------------------------------
    // The vector table
    // ------------------------------------------------------------------------------------------

    /**
     * {@code open_softirq(nr, action)} for a standard vector.
     *
     * @param vector the standard vector
     * @param action its handler
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void open(SoftirqVector vector, SoftirqAction action) {
        open(vector.nr(), vector.name(), action);
    }

    /**
     * {@code open_softirq(nr, action)}: installs the handler of vector {@code nr}. Vectors 0–9 keep their
     * standard names; 10–31 are user vectors shown in {@code /proc/softirqs} under {@code name}.
     * Re-opening a vector replaces its handler, as in the kernel.
     *
     * @param nr the vector, 0..31
     * @param name the user vector's name of 1..12 characters (ignored for 0–9)
     * @param action its handler
     * @throws KernelException {@code EINVAL} for a vector outside 0..31 or an empty name
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public synchronized void open(int nr, String name, SoftirqAction action) {
        machine.checkOpen();
        Objects.requireNonNull(action, "action");
        if (nr < 0 || nr >= SoftirqVector.MAX_VECTORS) {
            throw new KernelException(Errno.EINVAL, "softirq vector " + nr + " is outside 0.."
                    + (SoftirqVector.MAX_VECTORS - 1) + " (the pending mask has 32 bits)");
        }
        if (nr >= SoftirqVector.NR_SOFTIRQS) {
            if (name == null || name.isBlank() || name.length() > 12) {
                throw new KernelException(Errno.EINVAL, "a user softirq vector needs a name of 1..12 characters"
                        + " for /proc/softirqs: '" + name + "'");
            }
            names[nr] = name;
        }
        actionNames[nr] = names[nr].toLowerCase(java.util.Locale.ROOT) + "_action";
        ACTIONS.setRelease(actions, nr, action);
    }

    private SoftirqAction action(int nr) {
        return (SoftirqAction) ACTIONS.getAcquire(actions, nr);
    }

    /**
     * The {@code /proc/softirqs} name of vector {@code nr}, or null for an unopened user vector.
     *
     * @param nr the vector, 0..31
     * @return the name
     */
    public String name(int nr) {
        return names[nr];
    }

    /**
     * Whether vector {@code nr} has a handler.
     *
     * @param nr the vector, 0..31
     * @return true when opened
     */
    public boolean isOpen(int nr) {
        return action(nr) != null;
    }

    // ------------------------------------------------------------------------------------------
    // Raising
    // ------------------------------------------------------------------------------------------

    /**
     * {@code raise_softirq(nr)} for a standard vector.
     *
     * @param vector the standard vector
     * @throws KernelException {@code EINVAL} for a vector without a handler
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void raise(SoftirqVector vector) {
        raise(vector.nr());
    }

    /**
     * {@code raise_softirq(nr)}: marks vector {@code nr} pending on the calling context's CPU; from plain
     * task context (not {@code in_interrupt()}) it also wakes that CPU's ksoftirqd. Any context; raising a
     * pending vector again is one load. Allocates nothing unless tracing is on.
     *
     * @param nr the vector
     * @throws KernelException {@code EINVAL} for a vector without a handler
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void raise(int nr) {
        if (raiseIrqoff(machine.currentAtEntry(), nr, true)) {
            machine.afterAccept();
        }
    }

    /**
     * {@code raise_softirq_irqoff(nr)}: as {@link #raise(int)} for a caller that has IRQs disabled;
     * calling it with IRQs enabled is reported as the kernel's lockdep assertion.
     *
     * @param nr the vector
     * @throws KernelException {@code EINVAL} for a vector without a handler
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void raiseIrqoff(int nr) {
        ExecutionContext ctx = machine.currentAtEntry();
        assertIrqsDisabled(ctx, "raise_softirq_irqoff");
        if (raiseIrqoff(ctx, nr, true)) {
            machine.afterAccept();
        }
    }

    /**
     * {@code __raise_softirq_irqoff(nr)}: only sets the pending bit; never wakes ksoftirqd.
     *
     * @param nr the vector
     * @throws KernelException {@code EINVAL} for a vector without a handler
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void raiseIrqoffNoWake(int nr) {
        ExecutionContext ctx = machine.currentAtEntry();
        assertIrqsDisabled(ctx, "__raise_softirq_irqoff");
        if (raiseIrqoff(ctx, nr, false)) {
            machine.afterAccept();
        }
    }

    /**
     * Marks {@code nr} pending on the CPU of {@code ctx} on behalf of a subsystem that already has the
     * context at hand (tasklets, timers), through {@code Subsystems}. Wakes ksoftirqd when {@code wake} and not in
     * interrupt.
     *
     * @param ctx the raising context; its CPU gets the pending bit
     * @param nr the vector
     * @param wake whether to wake ksoftirqd (only outside interrupt context)
     */
    void raiseOn(ExecutionContext ctx, int nr, boolean wake) {
        assert nr >= 0 && nr < SoftirqVector.MAX_VECTORS && action(nr) != null : "raiseOn: unopened vector " + nr;
        raiseOpened(ctx, nr, wake);
    }

    /** @return whether the vector was not pending yet (then the raise published it) */
    private boolean raiseIrqoff(ExecutionContext ctx, int nr, boolean wake) {
        if (nr < 0 || nr >= SoftirqVector.MAX_VECTORS || action(nr) == null) {
            throw unopened(nr);
        }
        return raiseOpened(ctx, nr, wake);
    }

    /**
     * The raise itself, for a vector known to be open: the subsystems' raises ({@link #raiseOn}) skip the
     * check, which keeps their callers' compiled code small enough to be inlined into a caller's loop.
     */
    private boolean raiseOpened(ExecutionContext ctx, int nr, boolean wake) {
        Cpu cpu = RuntimeAccess.get().cpu(ctx);
        boolean published = cpu.markSoftirqPending(1 << nr);
        if (tracing.on(Tracepoint.SOFTIRQ_RAISE)) {
            tracing.emit(Tracepoint.SOFTIRQ_RAISE, describe(nr));
        }
        if (Jfr.on()) {
            Jfr.softirqRaise(names[nr], nr, cpu.id());
        }
        if (wake && !ctx.inInterrupt()) {
            wakeKsoftirqd(cpu);
        }
        return published;
    }

    private KernelException unopened(int nr) {
        return new KernelException(Errno.EINVAL, "softirq vector " + nr + (nr >= 0 && nr < 32 && names[nr] != null
                ? " (" + names[nr] + ")" : "") + " has no handler: call open_softirq() before raising it");
    }

    private void assertIrqsDisabled(ExecutionContext ctx, String call) {
        if (!ctx.irqsDisabled()) {
            machine.reports().warnOnce("lockdep_irqs_disabled_" + call,
                    call + "() called with IRQs enabled (lockdep_assert_irqs_disabled)");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Running them
    // ------------------------------------------------------------------------------------------

    /**
     * {@code do_softirq()}: from task context with BH enabled, runs this CPU's pending softirqs on the
     * calling thread; does nothing in interrupt context or when another context is serving them.
     */
    public void doSoftirq() {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        Cpu cpu = RuntimeAccess.get().cpu(ctx);
        if (ctx.inInterrupt() || cpu.softirqPending() == 0 || !cpu.tryAcquireBh(ctx)) {
            return;
        }
        runPendingThenRelease(ctx);
    }

    /** {@code SoftirqEntry.invokeSoftirq}: {@code invoke_softirq()} at {@code irq_exit}. */
    void invokeSoftirq(ExecutionContext cpuContext) {
        Cpu cpu = RuntimeAccess.get().cpu(cpuContext);
        if (machine.config().forceIrqThreads()) {
            wakeKsoftirqd(cpu);
            return;
        }
        if (cpu.tryAcquireBh(cpuContext)) {
            runPendingThenRelease(cpuContext);
        }
        // else: a task with BH disabled, or ksoftirqd, owns BH on this CPU and runs them when it is done.
    }

    /** {@code SoftirqEntry.runPendingThenRelease}: the outermost {@code local_bh_enable}. */
    void runPendingThenRelease(ExecutionContext ctx) {
        Cpu cpu = RuntimeAccess.get().cpu(ctx);
        while (true) {
            boolean deferred = false;
            if (cpu.softirqPending() != 0) {
                deferred = handleSoftirqs(ctx, cpu);
            }
            cpu.releaseBh(ctx);
            if (deferred || cpu.softirqPending() == 0 || !cpu.tryAcquireBh(ctx)) {
                return;
            }
        }
    }

    /**
     * {@code handle_softirqs()}: the bounded loop. The caller owns the BH level of {@code cpu}.
     *
     * @return true when work was left for ksoftirqd (budget exhausted)
     */
    private boolean handleSoftirqs(ExecutionContext ctx, Cpu cpu) {
        // The kernel reads jiffies here; we read the clock once and turn it into jiffies only when a
        // restart decision needs it (most invocations run one pass and never do).
        long startNs = machine.clock().nanoTime();
        long end = Long.MIN_VALUE;
        int restart = MAX_SOFTIRQ_RESTART;
        RuntimeAccess.get().enterServingSoftirq(ctx);
        // Handlers run with IRQs enabled (step 3); a caller that had them off (do_softirq's
        // local_irq_save, a local_bh_enable misused with IRQs off) gets them off again at the end.
        boolean callerIrqsOff = RuntimeAccess.get().forceIrqsEnabled(ctx);
        try {
            int pending = cpu.takeSoftirqPending();
            while (true) {
                while (pending != 0) {
                    int nr = Integer.numberOfTrailingZeros(pending);
                    pending &= pending - 1;
                    runAction(ctx, cpu, nr, restart);
                    cpu.serviceInterruptsBetweenHandlers(ctx);
                }
                if (cpu.softirqPending() == 0) {
                    return false;
                }
                if (end == Long.MIN_VALUE) {
                    end = machine.jiffiesAt(startNs) + maxSoftirqTimeJiffies;
                }
                if (machine.jiffies() - end < 0 && !cpu.needResched() && --restart != 0) {
                    pending = cpu.takeSoftirqPending();
                    continue;
                }
                wakeKsoftirqd(cpu);
                return true;
            }
        } finally {
            RuntimeAccess.get().leaveServingSoftirq(ctx);
            if (callerIrqsOff) {
                ctx.localIrqDisable();
            }
        }
    }

    /** One vector's action; {@code restart} is the loop's countdown (MAX_SOFTIRQ_RESTART on the first pass). */
    private void runAction(ExecutionContext ctx, Cpu cpu, int nr, int restart) {
        SoftirqAction action = action(nr);
        int slot = cpu.id() * SoftirqVector.MAX_VECTORS + nr;
        COUNTS.setOpaque(counts, slot, (long) COUNTS.getOpaque(counts, slot) + 1);
        int before = ctx.preemptCount();
        boolean traced = tracing.on(Tracepoint.SOFTIRQ_ENTRY);
        if (traced) {
            tracing.emit(Tracepoint.SOFTIRQ_ENTRY, describe(nr));
        }
        SoftirqEvent jfr = Jfr.softirqBegin();
        try {
            action.run();
        } catch (Throwable t) {
            oopses.oops(nr, nr, oopsName, t); // nr < 128: a cached Integer, no allocation
        }
        if (jfr != null) {
            Jfr.softirqEnd(jfr, names[nr], nr, cpu.id(), MAX_SOFTIRQ_RESTART + 1 - restart, invokedFrom(ctx));
        }
        if (tracing.on(Tracepoint.SOFTIRQ_EXIT)) {
            tracing.emit(Tracepoint.SOFTIRQ_EXIT, describe(nr));
        }
        int after = ctx.preemptCount();
        if (after != before) {
            machine.reports().printk(KernelEvent.Kind.ERR, String.format(
                    "huh, entered softirq %d %s %s with preempt_count %08x, exited with %08x?",
                    nr, names[nr], actionNames[nr], before, after));
            RuntimeAccess.get().restorePreemptCount(ctx, before);
        }
        if (RuntimeAccess.get().forceIrqsEnabled(ctx) && irqsOffReturns.allow(nr, KernelEvent.Kind.WARNING)) {
            machine.reports().warning(String.format("softirq %d %s %s returned with IRQs disabled",
                    nr, names[nr], actionNames[nr]));
        }
    }

    /** Who serves the softirqs on {@code ctx}, for the JFR event: cpu/N at irq_exit, ksoftirqd, or a task. */
    private static String invokedFrom(ExecutionContext ctx) {
        return switch (ctx.role()) {
            case CPU -> "irq_exit";
            case KSOFTIRQD -> "ksoftirqd";
            default -> "local_bh_enable";
        };
    }

    /**
     * The names of the vectors in {@code mask}, joined by {@code |} ({@code NET_RX|TIMER}); empty for none. Any
     * thread.
     */
    String vectorNames(int mask) {
        StringBuilder sb = new StringBuilder();
        for (int m = mask; m != 0; m &= m - 1) {
            int nr = Integer.numberOfTrailingZeros(m);
            sb.append(sb.isEmpty() ? "" : "|").append(names[nr] != null ? names[nr] : String.valueOf(nr));
        }
        return sb.toString();
    }

    private String describe(int nr) {
        return "vec=" + nr + " [action=" + names[nr] + "]";
    }

    // ------------------------------------------------------------------------------------------
    // ksoftirqd
    // ------------------------------------------------------------------------------------------

    /** {@code wakeup_softirqd()} for {@code cpu}. */
    void wakeKsoftirqd(Cpu cpu) {
        daemons[cpu.id()].wake();
    }

    /**
     * Whether {@code ksoftirqd/cpu} has been woken and not yet gone back to sleep. Any thread.
     *
     * @param cpu the CPU
     * @return true while woken
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public boolean ksoftirqdWoken(int cpu) {
        return daemons[machine.cpu(cpu).id()].woken();
    }

    /**
     * How many batches {@code ksoftirqd/cpu} has run. Any thread.
     *
     * @param cpu the CPU
     * @return the count since boot
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public long ksoftirqdRuns(int cpu) {
        return daemons[machine.cpu(cpu).id()].runs();
    }

    AgentHandle ksoftirqdHandle(int cpu) {
        return daemons[cpu].handle;
    }

    /**
     * Stepped mode: serves CPU {@code cpu}'s pending softirqs now, as its ksoftirqd would, for a blocking
     * call that has no other thread to wait for. Does nothing if another context owns the CPU's BH level.
     *
     * @param cpu the CPU
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public void runPendingOnStepped(int cpu) {
        Ksoftirqd d = daemons[machine.cpu(cpu).id()];
        ExecutionContext ctx = d.context();
        machine.runAs(ctx, () -> {
            if (RuntimeAccess.get().cpu(ctx).softirqPending() == 0 || !RuntimeAccess.get().cpu(ctx).tryAcquireBh(ctx)) {
                return 0;
            }
            runPendingThenRelease(ctx);
            return 1;
        });
    }

    /** Runs the ksoftirqd body for one batch; see {@link Ksoftirqd}. */
    void ksoftirqdBatch(ExecutionContext ctx) {
        runPendingThenRelease(ctx);
    }

    // ------------------------------------------------------------------------------------------
    // Statistics
    // ------------------------------------------------------------------------------------------

    /**
     * How many times vector {@code nr} ran on {@code cpu} (one per pass, not per raise). Any thread.
     *
     * @param cpu the CPU
     * @param nr the vector, 0..31
     * @return the count since boot
     * @throws IllegalArgumentException for a vector outside 0..31
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public long count(int cpu, int nr) {
        machine.cpu(cpu);
        if (nr < 0 || nr >= SoftirqVector.MAX_VECTORS) {
            throw new IllegalArgumentException("softirq vector " + nr + " is outside 0..31");
        }
        return (long) COUNTS.getOpaque(counts, cpu * SoftirqVector.MAX_VECTORS + nr);
    }

    /**
     * {@link #count(int, int)} for a standard vector.
     *
     * @param cpu the CPU
     * @param vector the standard vector
     * @return the count since boot
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public long count(int cpu, SoftirqVector vector) {
        return count(cpu, vector.nr());
    }

    /**
     * The vectors whose whole work is running items another mechanism owns — tasklets (HI, TASKLET), timers
     * (TIMER), hrtimers (HRTIMER): a raise of them left pending at close loses nothing the user queued, since
     * close cancels and reports those items themselves.
     */
    private static final int ITEM_VECTORS = (1 << SoftirqVector.HI.nr()) | (1 << SoftirqVector.TASKLET.nr())
            | (1 << SoftirqVector.TIMER.nr()) | (1 << SoftirqVector.HRTIMER.nr());

    /**
     * Clears the pending softirqs of every CPU not in {@code busyCpus} without running them. For
     * {@code Kernel.close()} once the runtime threads have stopped.
     *
     * @return one entry per dropped raise: {@code NET_RX on CPU 0}; not the vectors that only run queued
     *         items ({@link #ITEM_VECTORS}), whose items close cancels and reports one by one
     */
    java.util.List<String> discardPendingForClose(java.util.Set<Integer> busyCpus) {
        java.util.List<String> dropped = new java.util.ArrayList<>();
        for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
            if (busyCpus.contains(cpu)) {
                continue;
            }
            int pending = machine.cpu(cpu).takeSoftirqPending() & ~ITEM_VECTORS;
            for (int nr = 0; pending != 0; nr++, pending >>>= 1) {
                if ((pending & 1) != 0) {
                    dropped.add(names[nr] + " on CPU " + cpu);
                }
            }
        }
        return dropped;
    }
}
