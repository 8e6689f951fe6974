package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One virtual CPU of a kernel: its two exclusion levels, its softirq pending mask, its {@code cpu/N}
 * duty cycle (hard IRQs and cross-CPU calls) and per-CPU counters. Thread-safe where stated.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Ownership legend. <b>[I]</b> immutable after construction. <b>[A]</b> atomic, any thread.
 * <b>[C]</b> confined to the context that runs {@code cpu/N}.</li>
 * <li>The pending mask ({@code local_softirq_pending()}) is set with an atomic OR by any thread
 * (raise) and taken with an atomic swap to 0 by the BH owner at the start of each softirq pass. A raise
 * reads the mask first and skips the OR when its bit is already set, so re-raising a pending vector on a
 * busy CPU costs one load.</li>
 * <li>Cross-CPU calls go through an MPSC queue drained by {@code cpu/N}; after enqueuing, the caller
 * signals the CPU ({@link #signalInterrupt()}), which wakes {@code cpu/N} only if it may be parked
 * ({@link KernelThread#wake()}).</li>
 * <li>Interrupt hint. Polling every interrupt source after every softirq handler and tasklet costs one
 * interface call per source, so {@link #serviceInterruptsBetweenHandlers} first reads
 * {@code interruptHintNs}: the clock time from which a poll of the sources may find something for this
 * CPU. {@code Long.MAX_VALUE} means "nothing until a source signals", {@code Long.MIN_VALUE} means
 * "signalled: poll now", anything else is the earliest timed duty of a source (a timer), compared with
 * the clock only when it is set. The one-field check costs one load when nothing is signalled.</li>
 * <li>Producers (any thread): every source that makes something pending for a CPU — a latched line, a
 * queued call — or moves the time from which something is pending earlier — a timer that becomes the
 * first of its CPU, soft hrtimers that count again, the spurious-IRQ poll being armed — publishes that
 * state first and then calls {@link #signalInterrupt()}, which stores {@code Long.MIN_VALUE} with
 * release semantics (and wakes {@code cpu/N} if it may be parked, as before).</li>
 * <li>Consumer ({@code cpu/N} only): when the hint says to poll, it swaps the hint to
 * {@code Long.MAX_VALUE} (a volatile read-modify-write) BEFORE polling the sources, delivers what they
 * have, then lowers the hint by compare-and-set to the earliest time the sources report
 * ({@link InterruptSource#earliestPendingNs(Cpu)}, read after the swap). Why no signal is lost: the
 * hint's modification order puts each producer's store either before the swap — then the swap reads it
 * (or a later producer store), synchronizes with it, and the poll sees the state published before it —
 * or after the swap — then the hint is {@code Long.MIN_VALUE} when the consumer next looks, and only the
 * consumer's swap ever raises it again. The compare-and-set only lowers, so it never overwrites a
 * signal.</li>
 * <li>Why the timed part stays a lower bound: after the consumer's computation, a source's earliest
 * pending time moves earlier only through a signalled event, or through work done once a duty was due
 * (an hrtimer re-armed from its interrupt, the timer wheel's expiry pass) — and at that point the clock
 * has passed the hint already, so the next check polls and recomputes. This is the rule {@code cpu/N}'s
 * sleep already relies on: the sources' deadlines, plus a wake whenever one moves earlier.</li>
 * <li>The duty cycle ({@link Agent#doWork()}) delivers without touching the hint; a signal it has served
 * costs one extra poll at the next handler boundary. In stepped mode, while another context of this CPU
 * has IRQs disabled, the check leaves the hint as it is, so the latched interrupt is taken at a later
 * boundary, as before.</li>
 * </ul>
 */
public final class Cpu {
    private static final VarHandle PENDING;
    private static final VarHandle INTERRUPT_HINT;
    /** {@code interruptHintNs}: a source has signalled; poll now. */
    private static final long SIGNALLED = Long.MIN_VALUE;
    /** {@code interruptHintNs}: nothing is pending until a source signals. */
    private static final long NOTHING_UNTIL_SIGNALLED = Long.MAX_VALUE;

    static {
        try {
            PENDING = MethodHandles.lookup().findVarHandle(Cpu.class, "softirqPending", int.class);
            INTERRUPT_HINT = MethodHandles.lookup().findVarHandle(Cpu.class, "interruptHintNs", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Machine machine;                                             // [I]
    private final int id;                                                      // [I]
    private final CpuLevel irqLevel;                                           // [I]
    private final CpuLevel bhLevel;                                            // [I]
    private final ExecutionContext cpuContext;                                 // [I]
    private final CpuAgent agent = new CpuAgent();                            // [I]
    private final ConcurrentLinkedQueue<SmpCall> calls = new ConcurrentLinkedQueue<>(); // [A]
    private final AtomicLong functionCallInterrupts = new AtomicLong();        // [A]
    @SuppressWarnings("unused") // accessed through PENDING
    private volatile int softirqPending;                                       // [A]
    @SuppressWarnings("unused") // accessed through INTERRUPT_HINT
    private volatile long interruptHintNs = SIGNALLED;                         // [A] raised by cpu/N only
    private volatile boolean needResched;                                      // [A]
    private volatile KernelThread cpuThread;                                   // [A] set at start

    Cpu(Machine machine, int id) {
        this.machine = machine;
        this.id = id;
        this.irqLevel = new CpuLevel("IRQ level of CPU " + id, machine);
        this.bhLevel = new CpuLevel("BH level of CPU " + id, machine);
        this.cpuContext = RuntimeAccess.get().newContext(machine, ExecutionContext.Role.CPU, "cpu/" + id, this);
    }

    public int id() {
        return id;
    }

    public Machine machine() {
        return machine;
    }

    public CpuLevel irqLevel() {
        return irqLevel;
    }

    public CpuLevel bhLevel() {
        return bhLevel;
    }

    /** The context that currently has IRQs disabled on this CPU (or runs a hard IRQ), or null. Any thread. */
    public ExecutionContext irqLevelOwner() {
        return irqLevel.owner();
    }

    /** The context that currently serves softirqs or has BH disabled on this CPU, or null. Any thread. */
    public ExecutionContext bhLevelOwner() {
        return bhLevel.owner();
    }

    /** The {@code cpu/N} context. */
    public ExecutionContext cpuContext() {
        return cpuContext;
    }

    /** The {@code cpu/N} duty cycle. */
    public Agent agent() {
        return agent;
    }

    // ------------------------------------------------------------------------------------------
    // Softirq pending mask — used by the softirq subsystem
    // ------------------------------------------------------------------------------------------

    /** {@code local_softirq_pending()}. Any thread. */
    public int softirqPending() {
        return (int) PENDING.getVolatile(this);
    }

    /**
     * Sets {@code bits} in the pending mask. Any thread; one load when they are already set.
     *
     * @return whether some of them were not set yet (the call published a raise)
     */
    public boolean markSoftirqPending(int bits) {
        if (((int) PENDING.getVolatile(this) & bits) != bits) {
            PENDING.getAndBitwiseOr(this, bits);
            return true;
        }
        return false;
    }

    /** Takes the whole pending mask, leaving 0. Only the BH owner of this CPU. */
    public int takeSoftirqPending() {
        return (int) PENDING.getAndSet(this, 0);
    }

    /**
     * Tries to take the BH level for {@code ctx}, which must be a context of this CPU whose softirq byte
     * is 0 (it is about to serve softirqs). Softirq subsystem use.
     */
    public boolean tryAcquireBh(ExecutionContext ctx) {
        return bhLevel.tryAcquire(ctx);
    }

    /** Takes the BH level, waiting for the current owner. Softirq subsystem use ({@code ksoftirqd}). */
    public void acquireBh(ExecutionContext ctx) {
        bhLevel.acquire(ctx);
    }

    /** Gives the BH level up. Softirq subsystem use. */
    public void releaseBh(ExecutionContext ctx) {
        bhLevel.release(ctx);
    }

    /** {@code need_resched()} of this CPU: the softirq loop ends early when it is set. */
    public boolean needResched() {
        return needResched;
    }

    /** Sets this CPU's need-resched flag (stepped-mode tests use it to end a softirq loop early). */
    public void setNeedResched(boolean value) {
        needResched = value;
    }

    private long hardirqEntries;

    // ------------------------------------------------------------------------------------------
    // Hard-IRQ entry and exit
    // ------------------------------------------------------------------------------------------

    /** {@code irq_enter()} on this CPU's {@code cpu/N} context. Interrupt-source use. */
    public void irqEnter(ExecutionContext ctx) {
        assert ctx == cpuContext : ctx.name() + " cannot take hard IRQs of CPU " + id;
        hardirqEntries++;
        RuntimeAccess.get().irqEnter(ctx);
    }

    /**
     * How many hard IRQs this CPU has entered (every source: lines, calls, ticks). Plain counter: read it
     * only on the {@code cpu/N} context's thread (the timer tick uses it to see that the CPU was awake).
     */
    public long hardirqEntries() {
        return hardirqEntries;
    }

    /**
     * {@code irq_exit()}: leaves hardirq context; if that leaves the context outside any interrupt and
     * softirqs are pending, runs them here ({@code invoke_softirq}). Interrupt-source use.
     */
    public void irqExit(ExecutionContext ctx) {
        assert ctx == cpuContext : ctx.name() + " cannot take hard IRQs of CPU " + id;
        RuntimeAccess.get().irqLeave(ctx);
        if (!ctx.inInterrupt() && softirqPending() != 0) {
            machine.softirqEntry().invokeSoftirq(ctx);
        }
    }

    /**
     * Services hard IRQs and calls that arrived for this CPU while its {@code cpu/N} thread is serving
     * softirqs: the softirq loop calls this between handlers, which is where a hard IRQ "preempts" a
     * softirq in this model. Polls the interrupt sources only when one has signalled this CPU since the
     * last poll or a timed duty may be due (see the implementation notes); one load otherwise. Does
     * nothing on any other context.
     */
    public void serviceInterruptsBetweenHandlers(ExecutionContext ctx) {
        if (ctx != cpuContext) {
            return;
        }
        long hint = (long) INTERRUPT_HINT.getOpaque(this);
        if (hint == NOTHING_UNTIL_SIGNALLED || hint != SIGNALLED && machine.clock().nanoTime() < hint) {
            return;
        }
        if (agent.irqsHeldOffStepped()) {
            return;
        }
        INTERRUPT_HINT.getAndSet(this, NOTHING_UNTIL_SIGNALLED);
        if (agent.hasWork()) {
            agent.deliverAll();
        }
        lowerInterruptHint(agent.earliestPendingNs());
    }

    /** Lowers the interrupt hint to {@code ns} unless it is already lower (a signal stays a signal). */
    private void lowerInterruptHint(long ns) {
        long current = (long) INTERRUPT_HINT.getVolatile(this);
        while (ns < current && !INTERRUPT_HINT.compareAndSet(this, current, ns)) {
            current = (long) INTERRUPT_HINT.getVolatile(this);
        }
    }

    /**
     * An interrupt source has made something pending for this CPU, or moved the time from which
     * something is pending earlier: makes the next between-handlers check poll the sources, and wakes
     * {@code cpu/N} if it may be parked. Call it after publishing that state. Any thread.
     */
    public void signalInterrupt() {
        INTERRUPT_HINT.setRelease(this, SIGNALLED);
        KernelThread t = cpuThread;
        if (t != null) {
            t.wake();
        }
    }

    /** Wakes threads waiting for this CPU's levels, so that they see the kernel closed or panicked. */
    void wakeLevelWaiters() {
        irqLevel.wakeWaiters();
        bhLevel.wakeWaiters();
    }

    void attachThread(KernelThread thread) {
        this.cpuThread = thread;
    }

    // ------------------------------------------------------------------------------------------
    // Cross-CPU function calls
    // ------------------------------------------------------------------------------------------

    /** Function-call interrupts taken by this CPU ({@code CAL} in {@code /proc/interrupts}). Any thread. */
    public long functionCallInterrupts() {
        return functionCallInterrupts.get();
    }

    /** Whether cross-CPU calls wait for this CPU. Any thread; a snapshot. */
    boolean callsPending() {
        return !calls.isEmpty();
    }

    /** Drops the queued cross-CPU calls without running them (a closed kernel); their waiters are released. */
    int discardCalls() {
        int n = 0;
        SmpCall call;
        while ((call = calls.poll()) != null) {
            call.dropped = true;
            call.done = true;
            n++;
        }
        return n;
    }

    void queueCall(SmpCall call) {
        calls.add(call);
        signalInterrupt();
    }

    private int runCalls(ExecutionContext ctx) {
        int n = 0;
        SmpCall call;
        while ((call = calls.poll()) != null) {
            irqEnter(ctx);
            functionCallInterrupts.incrementAndGet();
            try {
                machine.runSmpCall(call);
            } finally {
                irqExit(ctx);
            }
            n++;
        }
        return n;
    }

    /** The {@code cpu/N} duty cycle: deliver pending hard IRQs, then cross-CPU calls. */
    private final class CpuAgent implements Agent {
        @Override
        public String name() {
            return cpuContext.name();
        }

        /**
         * Under the default idle strategy the spin window adapts to the waits ({@link AdaptivePoll}): interrupts
         * further apart than 50 µs soon find the CPU's thread parked at once instead of after a spin that catches
         * nothing (docs/benchmarks.md §25). A strategy chosen explicitly is kept.
         */
        @Override
        public IdleStrategy idleStrategy(IdleStrategy configured) {
            return AdaptivePoll.adaptingTheDefault(configured);
        }

        @Override
        public ExecutionContext context() {
            return cpuContext;
        }

        @Override
        public int doWork() {
            if (irqsHeldOffStepped()) {
                return 0;
            }
            return deliverAll();
        }

        /**
         * Stepped mode: another context of this CPU has IRQs disabled, so its hard IRQs stay latched until
         * it enables them (taking the IRQ level would throw mid-delivery and lose the interrupt).
         */
        private boolean irqsHeldOffStepped() {
            if (!machine.stepped()) {
                return false;
            }
            ExecutionContext owner = irqLevel.owner();
            return owner != null && owner != cpuContext;
        }

        int deliverAll() {
            int n = 0;
            for (InterruptSource source : machine.interruptSources()) {
                n += source.deliver(cpuContext);
            }
            return n + runCalls(cpuContext);
        }

        @Override
        public boolean hasWork() {
            if (irqsHeldOffStepped()) {
                return false;
            }
            if (!calls.isEmpty()) {
                return true;
            }
            for (InterruptSource source : machine.interruptSources()) {
                if (source.pending(Cpu.this)) {
                    return true;
                }
            }
            return false;
        }

        /** The earliest time from which a source may have something pending without a new signal. */
        long earliestPendingNs() {
            long earliest = Long.MAX_VALUE;
            for (InterruptSource source : machine.interruptSources()) {
                earliest = Math.min(earliest, source.earliestPendingNs(Cpu.this));
            }
            return earliest;
        }

        @Override
        public long nextDeadlineNs() {
            long next = Long.MAX_VALUE;
            for (InterruptSource source : machine.interruptSources()) {
                next = Math.min(next, source.nextDeadlineNs(Cpu.this));
            }
            return next;
        }
    }

    @Override
    public String toString() {
        return "CPU" + id;
    }
}
