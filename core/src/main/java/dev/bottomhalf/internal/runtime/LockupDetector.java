package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.Clock;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.ManualClock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongConsumer;

import dev.bottomhalf.internal.sync.Uninterruptibly;

/**
 * The soft and hard lockup detectors of one kernel ({@code kernel/watchdog.c}): they report a CPU that runs
 * kernel code for more than {@code 2 × watchdog_thresh} seconds without getting back to its task or idle loop
 * (a soft lockup), and a CPU that cannot take a hard interrupt for more than {@code watchdog_thresh} seconds
 * (a hard lockup). Thread-safe: built and started by the {@link Machine}; the touch methods may be called from
 * any context.
 *
 * <p>What "stuck" means in this model. A CPU runs its contexts on separate threads, and what keeps them from
 * each other is the CPU's two exclusion levels (ADR 0002): the <b>IRQ level</b>, held by a hard-IRQ handler
 * (or cross-CPU call) on {@code cpu/N} and by any context of the CPU that has IRQs disabled, and the <b>BH
 * level</b>, held while the CPU's softirqs (tasklets, timers) are served — at irq_exit on {@code cpu/N}, by
 * {@code ksoftirqd/N}, in {@code local_bh_enable} — and by any context of the CPU that has BH disabled. A hold
 * is one owner keeping a level without releasing it; it ends with the release. So:
 * <ul>
 * <li><b>hard lockup</b> of CPU N: an IRQ-level hold older than {@code watchdog_thresh} whole seconds —
 *     {@code Watchdog detected hard LOCKUP on cpu N}, once per hold (the kernel's
 *     {@code watchdog_hardlockup_warned});</li>
 * <li><b>soft lockup</b> of CPU N: an IRQ- or BH-level hold older than {@code 2 × watchdog_thresh} whole
 *     seconds ({@code get_softlockup_thresh}) — {@code BUG: soft lockup - CPU#N stuck for Ds! [comm:pid]},
 *     with {@code comm} the holder's name ({@code cpu/1}, {@code ksoftirqd/0}, a task's thread name) and
 *     {@code pid} the Java thread id of the thread running it; reported again, with the duration grown, each
 *     time another {@code 2 × watchdog_thresh} seconds pass with the same hold (the kernel's
 *     {@code watchdog_report_ts}).</li>
 * </ul>
 * Both are {@link KernelEvent.Kind#BUG} events that name the stuck CPU, the holder and its state
 * ({@code hardirq}, {@code softirq}, {@code IRQs disabled}, {@code BH disabled}), with the holder thread's stack
 * as the cause. The duration is whole seconds of the kernel's clock. The kernel prints nothing when a CPU
 * recovers, and neither do we. {@code watchdog_thresh = 0} turns both off, as in the kernel.
 *
 * <p>When it looks. In threaded mode a daemon thread, {@value #THREAD_NAME}, samples every CPU each
 * {@code 2 × watchdog_thresh / 5} seconds ({@code set_sample_period}: 4 s by default) and times a hold from the
 * last sample that did not see it (the kernel's {@code watchdog_touch_ts}), so a report comes at most one period
 * after its threshold. With a {@link ManualClock} (stepped mode) every advance of the clock is a sample: a hold
 * that the previous sample did not see began after it, at the clock time the previous sample was taken (the
 * clock moves only by advances), so holds are timed exactly and a report comes at the first advance that
 * crosses its threshold — an {@code mdelay} in a handler, a test's {@code advance}, or {@link Stepper#runFor}
 * passing time while a task holds a level.
 *
 * <p>Where it differs from the kernel.
 * <ul>
 * <li>The kernel checks for a soft lockup in the stuck CPU's own watchdog hrtimer, so a CPU with IRQs off
 *     reports only its hard lockup until it enables IRQs again. Ours looks from outside the CPU, as the
 *     kernel's buddy detector ({@code watchdog_buddy.c}) does for hard lockups, and reports the soft lockup
 *     when it is due.</li>
 * <li>A section with only {@code preempt_disable()} takes no level, keeps nothing else of its CPU from running
 *     in this model, and is not watched.</li>
 * <li>A softirq handler stuck on {@code cpu/N} also keeps that CPU's hard IRQs waiting here (the model's one
 *     fidelity gap: Java cannot preempt it), but the IRQ level is free, so — as in the kernel, where the hard
 *     IRQ would preempt the softirq — it is a soft lockup only.</li>
 * <li>The kernel's timestamps are {@code running_clock() >> 30} (units of 1.07 s); ours are whole seconds.
 *     The lines the kernel prints after the BUG line (modules, IRQ trace events, CPU utilization) are not
 *     modelled; the stack is the event's cause.</li>
 * </ul>
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Hot-path cost: one opaque increment of a level's release counter per outermost release
 *     ({@link CpuLevel}: a store to a line the releaser owns, ordered by the volatile release that follows).
 *     Nothing is added per handler, no clock is read and no volatile store is made. The kernel's own model — a
 *     per-CPU timestamp touched when the CPU gets back to its loop — would cost a clock read per duty cycle,
 *     would not see a task that holds a level (tasks have no duty cycle here), and would blame {@code cpu/N}
 *     for waiting on a level a task holds. The release counter is our {@code hrtimer_interrupts}: it moves
 *     whenever the CPU could have taken an interrupt or scheduled.</li>
 * <li>A sample reads a level's count (acquire), its owner (volatile) and the count again; a hold is seen
 *     only when both counts match, and it continues a tracked hold only with the same owner and count.</li>
 * <li>Sampling state (per-CPU holds, report periods, {@code lastSampleNs}) is guarded by this object's
 *     monitor: samples come from the {@value #THREAD_NAME} thread or from the thread that advances a manual
 *     clock. Reports are made after the monitor is released, so a reporter that calls back into the kernel
 *     cannot disturb a sample. A touch stores its clock time in an atomic that the next sample takes.</li>
 * </ul>
 */
public final class LockupDetector {
    /** The kernel's default {@code watchdog_thresh}, in seconds. */
    public static final int DEFAULT_WATCHDOG_THRESH = 10;
    /** The largest {@code watchdog_thresh} the kernel's sysctl accepts, in seconds. */
    public static final int MAX_WATCHDOG_THRESH = 60;
    /** The name of the sampling thread in threaded mode. */
    public static final String THREAD_NAME = "watchdog";

    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private static final long JOIN_TIMEOUT_MS = 5_000;
    /** No touch pending. */
    private static final long NONE = Long.MIN_VALUE;

    private final Machine machine;
    private final int thresh;
    private final long samplePeriodNs;
    private final CpuWatch[] watches;                                     // guarded by this
    private long lastSampleNs;                                            // guarded by this
    private final ManualClock manualClock;                                // null: not a manual clock
    private final LongConsumer listener = this::sampleOnAdvance;
    private Thread sampler;                                               // guarded by this
    private volatile boolean started;
    private volatile boolean stopped;

    LockupDetector(Machine machine) {
        this.machine = machine;
        this.thresh = machine.config().watchdogThresh();
        this.samplePeriodNs = 2L * thresh * (NANOS_PER_SECOND / 5);
        this.watches = new CpuWatch[machine.cpuCount()];
        for (int i = 0; i < watches.length; i++) {
            watches[i] = new CpuWatch(machine.cpu(i));
        }
        this.lastSampleNs = machine.bootNanoTime();
        this.manualClock = machine.clock() instanceof ManualClock mc ? mc : null;
    }

    /** {@code watchdog_thresh}, in seconds; 0 when the detectors are off. */
    public int watchdogThresh() {
        return thresh;
    }

    /** {@code get_softlockup_thresh()}: twice {@code watchdog_thresh}, in seconds. */
    public int softlockupThresh() {
        return 2 * thresh;
    }

    /** {@code sample_period}: how often the threaded sampler looks, in nanoseconds (0 when off). */
    public long samplePeriodNs() {
        return samplePeriodNs;
    }

    /** Whether the detectors watch this kernel (started, {@code watchdog_thresh > 0}, not closed). */
    public boolean enabled() {
        return thresh > 0 && started && !stopped;
    }

    // ------------------------------------------------------------------------------------------
    // Touching
    // ------------------------------------------------------------------------------------------

    /**
     * {@code touch_softlockup_watchdog()}: code that knowingly keeps {@code cpu} busy says so; a new reporting
     * period of the CPU starts now (the report is delayed, the duration still counts from the start of the
     * hold, as in the kernel). Any context.
     */
    public void touchSoftlockupWatchdog(Cpu cpu) {
        watches[cpu.id()].softTouchedAtNs.set(machine.clock().nanoTime());
    }

    /**
     * {@code touch_nmi_watchdog()}: as {@link #touchSoftlockupWatchdog}, and the hard lockup detector times the
     * CPU's current IRQ-level hold from now. Any context.
     */
    public void touchNmiWatchdog(Cpu cpu) {
        CpuWatch w = watches[cpu.id()];
        long nowNs = machine.clock().nanoTime();
        w.nmiTouchedAtNs.set(nowNs);
        w.softTouchedAtNs.set(nowNs);
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------

    /** Starts watching: listens to a manual clock, else starts the sampling thread. Idempotent. */
    synchronized void start() {
        if (thresh == 0 || started || stopped) {
            return;
        }
        started = true;
        lastSampleNs = machine.clock().nanoTime();
        if (manualClock != null) {
            RuntimeAccess.get().addAdvanceListener(manualClock, listener);
            return;
        }
        Thread t = new Thread(this::runSampler, THREAD_NAME);
        t.setDaemon(true);
        sampler = t;
        t.start();
    }

    /** Stops watching and joins the sampling thread. Idempotent. */
    void stop() {
        Thread t;
        synchronized (this) {
            if (stopped) {
                return;
            }
            stopped = true;
            t = sampler;
        }
        if (manualClock != null) {
            RuntimeAccess.get().removeAdvanceListener(manualClock, listener);
        }
        if (t == null || t == Thread.currentThread()) {
            return;
        }
        LockSupport.unpark(t);
        if (!Uninterruptibly.join(t, JOIN_TIMEOUT_MS)) {
            machine.reports().warning("runtime thread " + THREAD_NAME + " did not stop within " + JOIN_TIMEOUT_MS
                    + " ms of close()");
        }
    }

    /**
     * The threaded sampler: one sample per period on the kernel's clock, until stopped. Thread interrupts are
     * cleared and otherwise ignored, as by the other runtime threads ({@link KernelThread}); {@link #stop()}
     * is what ends it.
     */
    private void runSampler() {
        Clock clock = machine.clock();
        long nextNs = clock.nanoTime() + samplePeriodNs;
        while (!stopped) {
            long nowNs = clock.nanoTime();
            if (nowNs < nextNs) {
                // A kernel thread ignores signals: an interrupt left set would make every park return at once.
                Thread.interrupted();
                LockSupport.parkNanos(this, Math.min(nextNs - nowNs, TimeUnit.SECONDS.toNanos(1)));
                continue;
            }
            try {
                sampleAndReport(nowNs);
            } catch (RuntimeException e) {
                machine.reports().oops(THREAD_NAME, e);
            }
            nextNs = Math.max(nextNs + samplePeriodNs, nowNs + 1);
        }
    }

    /** A manual clock moved to {@code nowNs}: a sample (see the class comment). On the advancing thread. */
    private void sampleOnAdvance(long nowNs) {
        if (!stopped) {
            sampleAndReport(nowNs);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Sampling
    // ------------------------------------------------------------------------------------------

    /**
     * Looks at every CPU at clock time {@code nowNs}, then reports what crossed a threshold — outside the
     * monitor, so a reporter that calls back into the kernel cannot disturb the sample.
     */
    void sampleAndReport(long nowNs) {
        List<Due> due;
        synchronized (this) {
            due = sample(nowNs);
        }
        for (Due d : due) {
            RuntimeAccess.get().bugOn(machine.reports(), d.cpu, d.thread, d.context, d.message, d.stack);
        }
    }

    private List<Due> sample(long nowNs) {
        long previousNs = lastSampleNs;
        if (nowNs < previousNs) {
            nowNs = previousNs; // two threads advanced a shared manual clock at once: keep time monotonic
        }
        lastSampleNs = nowNs;
        List<Due> due = null;
        for (CpuWatch w : watches) {
            due = w.check(nowNs, previousNs, due);
        }
        return due == null ? List.of() : due;
    }

    /** A report found by a sample, made once the sample is over. */
    private record Due(int cpu, String thread, String context, String message, Throwable stack) {
    }

    private static long wholeSeconds(long ns) {
        return ns / NANOS_PER_SECOND;
    }

    /** One level's current hold as the samples saw it. Guarded by the detector. */
    private static final class Hold {
        /** The owner at the last sample; null when the level was free (or changing hands). */
        ExecutionContext owner;
        int releases;
        /** The last sample before the hold was first seen (the kernel's touch timestamp). */
        long sinceNs;
        /** Where the hard lockup detector times this hold from: {@code sinceNs}, or a touch. */
        long hardFromNs;
        /** The hard lockup of this hold was reported. */
        boolean hardWarned;

        void observe(CpuLevel level, long previousNs) {
            int before = level.releases();
            ExecutionContext o = level.owner();
            int after = level.releases();
            if (o == null || before != after) {
                owner = null;
                return;
            }
            if (o != owner || after != releases) {
                owner = o;
                releases = after;
                sinceNs = previousNs;
                hardFromNs = previousNs;
                hardWarned = false;
            }
        }
    }

    /** The detectors' view of one CPU. Guarded by the detector, except the touch atomics (any thread). */
    private final class CpuWatch {
        final Cpu cpu;
        final Hold irq = new Hold();
        final Hold bh = new Hold();
        /** {@code watchdog_touch_ts}: the start of the hold the soft lockup detector times. */
        long softTouchNs = Long.MIN_VALUE;
        /** {@code watchdog_report_ts}: the start of the current reporting period. */
        long softPeriodNs;
        /** The clock time of the last {@code touch_softlockup_watchdog} not yet taken by a sample, or NONE. */
        final AtomicLong softTouchedAtNs = new AtomicLong(NONE);
        /** The clock time of the last {@code touch_nmi_watchdog} not yet taken by a sample, or NONE. */
        final AtomicLong nmiTouchedAtNs = new AtomicLong(NONE);

        CpuWatch(Cpu cpu) {
            this.cpu = cpu;
        }

        /** Samples this CPU; adds the reports that are due to {@code due} (made if null) and returns it. */
        List<Due> check(long nowNs, long previousNs, List<Due> due) {
            irq.observe(cpu.irqLevel(), previousNs);
            bh.observe(cpu.bhLevel(), previousNs);
            Hold stuck = irq.owner == null ? (bh.owner == null ? null : bh)
                    : bh.owner == null || irq.sinceNs <= bh.sinceNs ? irq : bh;
            long softTouchedNs = take(softTouchedAtNs);
            long nmiTouchedNs = take(nmiTouchedAtNs);
            if (stuck == null) {
                softTouchNs = nowNs;
                softPeriodNs = nowNs;
                return due;
            }
            if (irq.owner != null) {
                irq.hardFromNs = Math.max(irq.hardFromNs, nmiTouchedNs);
                if (!irq.hardWarned && wholeSeconds(nowNs - irq.hardFromNs) > thresh) {
                    irq.hardWarned = true;
                    due = add(due, irq, threadOf(irq.owner), "Watchdog detected hard LOCKUP on cpu " + cpu.id(),
                            true);
                }
            }
            if (stuck.sinceNs != softTouchNs) {
                softTouchNs = stuck.sinceNs;
                softPeriodNs = stuck.sinceNs;
            }
            softPeriodNs = Math.max(softPeriodNs, softTouchedNs);
            if (wholeSeconds(nowNs - softPeriodNs) > 2L * thresh) {
                softPeriodNs = nowNs;
                Thread t = threadOf(stuck.owner);
                due = add(due, stuck, t, String.format("BUG: soft lockup - CPU#%d stuck for %ds! [%s:%d]", cpu.id(),
                        wholeSeconds(nowNs - softTouchNs), stuck.owner.name(), t == null ? -1 : t.threadId()),
                        stuck == irq);
            }
            return due;
        }

        /** The pending touch time in {@code touch}, or NONE; one load when there is none. */
        private static long take(AtomicLong touch) {
            return touch.get() == NONE ? NONE : touch.getAndSet(NONE);
        }

        /** A report about {@code hold}, with the stack of {@code t} (the thread running its owner) as cause. */
        private List<Due> add(List<Due> due, Hold hold, Thread t, String message, boolean irqLevel) {
            ExecutionContext owner = hold.owner;
            Throwable stack = new Throwable("stack of " + owner.name()
                    + (t == null ? "" : " (thread " + t.getName() + ", id " + t.threadId() + ")"));
            stack.setStackTrace(t == null ? new StackTraceElement[0] : stackOf(t));
            List<Due> list = due == null ? new ArrayList<>(2) : due;
            list.add(new Due(cpu.id(), owner.name(), describe(owner, irqLevel), message, stack));
            return list;
        }
    }

    /** What the holder was doing, from the level it holds and its role. */
    private static String describe(ExecutionContext owner, boolean irqLevel) {
        ExecutionContext.Role role = owner.role();
        if (irqLevel) {
            return role == ExecutionContext.Role.CPU ? "hardirq" : "IRQs disabled";
        }
        return role == ExecutionContext.Role.CPU || role == ExecutionContext.Role.KSOFTIRQD ? "softirq"
                : "BH disabled";
    }

    /**
     * The thread running {@code ctx}: the calling thread if it runs it now (stepped mode borrows contexts), a
     * task's own thread, a runtime context's thread, or a stepped-mode kworker's thread; null if none is known.
     */
    private Thread threadOf(ExecutionContext ctx) {
        if (ExecutionContext.currentOrNull() == ctx) {
            return Thread.currentThread();
        }
        Thread task = ctx.taskThread();
        if (task != null) {
            return task;
        }
        for (AgentHandle h : machine.agents()) {
            if (h.agent().context() == ctx && h.thread() != null) {
                return h.thread();
            }
        }
        if (machine.stepped()) {
            SteppedScheduler s = SteppedScheduler.find(machine);
            Thread t = s == null ? null : s.threadOf(ctx);
            return t != null ? t : Thread.currentThread();
        }
        return null;
    }

    /** {@code t}'s stack; for the calling thread, without the detector's own frames on top. */
    private static StackTraceElement[] stackOf(Thread t) {
        StackTraceElement[] stack = t.getStackTrace();
        if (t != Thread.currentThread()) {
            return stack;
        }
        int top = 0;
        while (top < stack.length) {
            String c = stack[top].getClassName();
            if (!c.equals(Thread.class.getName()) && !c.startsWith(LockupDetector.class.getName())
                    && !c.equals(ManualClock.class.getName())) {
                break;
            }
            top++;
        }
        return Arrays.copyOfRange(stack, top, stack.length);
    }

    @Override
    public String toString() {
        return "lockup detector[watchdog_thresh=" + thresh + (enabled() ? "" : ", off") + "]";
    }
}
