package dev.bottomhalf.time;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.TimerEvent;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import static dev.bottomhalf.time.TimerBase.BASE_DEF;
import static dev.bottomhalf.time.TimerBase.BASE_GLOBAL;
import static dev.bottomhalf.time.TimerBase.BASE_LOCAL;
import static dev.bottomhalf.time.TimerBase.NR_BASES;
import static dev.bottomhalf.time.TimerList.TIMER_BASEMASK;
import static dev.bottomhalf.time.TimerList.TIMER_DEFERRABLE;
import static dev.bottomhalf.time.TimerList.TIMER_INIT_FLAGS;
import static dev.bottomhalf.time.TimerList.TIMER_IRQSAFE;
import static dev.bottomhalf.time.TimerList.TIMER_MIGRATING;
import static dev.bottomhalf.time.TimerList.TIMER_PINNED;

import java.lang.invoke.MethodHandles;
import java.time.Duration;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongArray;

import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.internal.runtime.InterruptSource;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;

/**
 * The kernel timer subsystem of one kernel ({@code kernel/time/timer.c}): per-CPU timer bases (pinned,
 * global, deferrable) with the kernel's wheel, the tick that raises TIMER_SOFTIRQ when a base is due,
 * the expiry pass in TIMER_SOFTIRQ, the {@code timer_list} operations with the kernel's return values,
 * and the sleeping helpers built on them. Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Jiffies come from the machine clock (ADR 0003). The tick is an interrupt source of each CPU
 * ("LOC" in {@code /proc/interrupts}) that is due only when a non-deferrable timer of that CPU is due:
 * an idle kernel does not wake every jiffy (NO_HZ idle). A CPU that is awake anyway (it took another
 * hard IRQ) also runs the tick when its deferrable timers are due, which is how the kernel services
 * them. In threaded mode {@code cpu/N} sleeps until the first due bucket; arming an earlier timer
 * wakes it ({@code trigger_dyntick_cpu}) through {@link Cpu#signalInterrupt()}, which also makes the
 * CPU's next between-handlers check poll the tick.</li>
 * <li>{@code mod_timer} and friends follow {@code __mod_timer} step by step, including the same-bucket
 * shortcut and the lock-the-base-then-recheck protocol of {@code lock_timer_base} (the timer's flags
 * name its base; {@code TIMER_MIGRATING} is set while it moves).</li>
 * <li>The expiry pass ({@code __run_timers}) runs each due timer with the base lock dropped, the base's
 * {@code running_timer} set, and the base clock one ahead of jiffies, so a callback that re-arms itself
 * for "now" lands on the next tick. A callback runs with IRQs enabled, or disabled for
 * {@code TIMER_IRQSAFE}; a throwing callback is an oops and the pass goes on.</li>
 * <li>The global base is expired by its own CPU; the kernel can also expire it from another CPU through
 * the timer-migration hierarchy when this CPU idles — not modelled.</li>
 * </ul>
 */
public final class Timers {
    /** {@code MAX_SCHEDULE_TIMEOUT}: sleep until woken. */
    public static final long MAX_SCHEDULE_TIMEOUT = Long.MAX_VALUE;

    private static final int MOD_TIMER_PENDING_ONLY = 0x01;
    private static final int MOD_TIMER_REDUCE = 0x02;
    private static final int MOD_TIMER_NOTPENDING = 0x04;

    private static final VarHandle FLAGS;

    static {
        try {
            FLAGS = MethodHandles.lookup().findVarHandle(TimerList.class, "flags", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Machine machine;
    private final Softirqs softirqs;
    private final Reports reports;
    private final Tracing tracing;
    private final int depth;
    private final TimerBase[][] bases;
    private final long[] seenHardirqs;
    private final SleepingHelpers sleeping;
    private final AtomicLongArray tickInterrupts;
    /** A callback's oopses, rate-limited per timer. */
    private final RateLimiter oopses;

    static {
        Subsystems.install(Subsystems.TimeAccess.class, new TimeWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Timers(Machine machine, Softirqs softirqs) {
        this.machine = Objects.requireNonNull(machine, "machine");
        this.softirqs = Objects.requireNonNull(softirqs, "softirqs");
        this.reports = machine.reports();
        this.oopses = reports.limiter("call_timer_fn");
        this.tracing = machine.tracing();
        this.depth = TimerWheel.depth(machine.hz());
        int cpus = machine.cpuCount();
        this.bases = new TimerBase[cpus][NR_BASES];
        long now = machine.jiffies();
        for (int cpu = 0; cpu < cpus; cpu++) {
            for (int kind = 0; kind < NR_BASES; kind++) {
                bases[cpu][kind] = new TimerBase(cpu, kind, depth, now);
            }
        }
        this.seenHardirqs = new long[cpus];
        this.tickInterrupts = new AtomicLongArray(cpus);
        this.sleeping = new SleepingHelpers(machine, this);
        softirqs.open(SoftirqVector.TIMER, this::runTimerSoftirq);
        machine.addInterruptSource(new Tick());
    }

    /**
     * {@code LVL_DEPTH} of this kernel's wheels (9, or 8 at HZ = 100).
     *
     * @return the number of wheel levels
     */
    public int wheelDepth() {
        return depth;
    }

    // ------------------------------------------------------------------------------------------
    // Set-up
    // ------------------------------------------------------------------------------------------

    /**
     * {@code timer_setup(timer, callback, flags)}: (re-)initialises {@code t}, not pending, on the calling
     * context's CPU. Flags other than {@code TIMER_INIT_FLAGS} get the kernel's WARN and are masked off.
     * Re-initialising a pending timer corrupts the kernel's wheel; here it is refused.
     *
     * @param t the timer
     * @param name its name, for reports and traces
     * @param callback run in {@code TIMER_SOFTIRQ} when it expires
     * @param flags {@code TIMER_*} bits
     * @throws IllegalStateException when {@code t} is pending, or the kernel is closed or has panicked
     */
    public void setup(TimerList t, String name, TimerList.Callback callback, int flags) {
        machine.checkOpen();
        init(t, name, callback, flags);
        t.internal = false;
    }

    private void init(TimerList t, String name, TimerList.Callback callback, int flags) {
        if (t.pending) {
            throw new IllegalStateException("timer_setup(" + t.name() + ") of a pending timer: delete it first"
                    + " (re-initialising an armed timer corrupts the timer wheel)");
        }
        if ((flags & ~TIMER_INIT_FLAGS) != 0) {
            reports.warnOnce("do_init_timer_flags", String.format("WARNING: timer_setup(%s): flags %#x are"
                    + " not timer_setup flags (WARN_ON_ONCE(flags & ~TIMER_INIT_FLAGS)); masked", name,
                    flags & ~TIMER_INIT_FLAGS));
            flags &= TIMER_INIT_FLAGS;
        }
        t.init(name, callback, flags, machine.current().cpuId());
    }

    /**
     * {@link #setup} of a timer of the kernel's own machinery (the workqueue watchdog, a pool's idle and
     * mayday timers, the timers of delayed work items, ...): calls on it are not entry points (no closed-kernel
     * check: the machinery arms it from inside calls that passed theirs), and {@code Kernel.close()} does not
     * report it among the user's cancelled timers (a delayed item is reported as such). For the other subsystems
     * through {@code Subsystems}.
     *
     * @param t the timer
     * @param name its name, for reports and traces
     * @param callback run in {@code TIMER_SOFTIRQ} when it expires
     * @param flags {@code TIMER_*} bits
     */
    void setupInternal(TimerList t, String name, TimerList.Callback callback, int flags) {
        init(t, name, callback, flags);
        t.internal = true;
    }

    /**
     * The entry check for calls on {@code t}: a user's timer is refused once the kernel closes; the kernel's
     * own timers are armed and cancelled by the machinery from inside calls that already passed theirs (a
     * queue_work that kicks its pool arms the pool's check), so they are not checked again.
     */
    private void checkOpen(TimerList t) {
        if (!t.internal) {
            machine.checkOpen();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Arming
    // ------------------------------------------------------------------------------------------

    /**
     * {@code mod_timer(timer, expires)}: arms or re-arms {@code t} on the calling CPU (unless its callback
     * is running on another CPU, where it stays so it cannot overlap itself).
     *
     * @param t the timer
     * @param expires the absolute expiry in jiffies
     * @return 0 if the timer was inactive (now armed) or is shut down (ignored); 1 if it was pending
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int mod(TimerList t, long expires) {
        return modTimer(t, expires, 0);
    }

    /**
     * {@code mod_timer(timer, jiffies + delay)} with one read of the clock: the kernel idiom reads
     * {@code jiffies} in the caller and again in {@code forward_timer_base}; in threaded mode each read is a
     * clock read (tens of ns on some machines), so relative arming is cheaper this way. The expiry and the
     * base forwarding use the same {@code jiffies}, exactly as when nothing ticks between the two reads.
     *
     * @param delay jiffies from now, at least 0 (a timer never fires before the next tick)
     * @param t the timer
     * @return as {@link #mod}
     * @throws IllegalArgumentException when {@code delay} is negative
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int modAfter(TimerList t, long delay) {
        checkOpen(t);
        if (delay < 0) {
            throw new IllegalArgumentException("mod_timer delay must be >= 0 jiffies, was " + delay);
        }
        long now = machine.jiffies();
        return modTimer(t, now + delay, 0, now, true);
    }

    /**
     * {@code mod_timer(timer, jiffies + delay)} with the delay as a {@link Duration}: {@link #modAfter(TimerList,
     * long)} after converting {@code delay} to jiffies as {@code msecs_to_jiffies} does — rounded up, and clamped
     * to {@link Jiffies#MAX_JIFFY_OFFSET} when too long ({@link Jiffies#durationToJiffies}). Arms an inactive timer
     * and re-arms a pending one. Any context, as {@link #mod}.
     *
     * @param t     an initialised timer
     * @param delay how long from now, not negative ({@link Duration#ZERO}: the next tick)
     * @return 0 if the timer was inactive (now armed) or is shut down (ignored); 1 if it was pending
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public int modAfter(TimerList t, Duration delay) {
        return modAfter(t, Jiffies.durationToJiffies(delay, machine.hz()));
    }

    /**
     * {@code mod_timer_pending(timer, expires)}: re-arms a pending timer; an inactive one stays inactive (0).
     *
     * @param t the timer
     * @param expires the absolute expiry in jiffies
     * @return 1 if it was pending (now re-armed), 0 if not
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int modPending(TimerList t, long expires) {
        return modTimer(t, expires, MOD_TIMER_PENDING_ONLY);
    }

    /**
     * {@code timer_reduce(timer, expires)}: like {@link #mod} but a pending timer only ever moves earlier.
     *
     * @param t the timer
     * @param expires the absolute expiry in jiffies
     * @return 0 if it was inactive (now armed), 1 if it was pending
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int reduce(TimerList t, long expires) {
        return modTimer(t, expires, MOD_TIMER_REDUCE);
    }

    /**
     * {@code add_timer(timer)}: arms an inactive timer at {@code t.expires()} on the calling CPU. On a
     * pending timer the kernel warns once and ignores the call, and so do we. An expiry in the past fires
     * on the next tick.
     *
     * @param t the timer, not pending
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public void add(TimerList t) {
        checkOpen(t);
        if (warnIfPending(t, "add_timer")) {
            return;
        }
        modTimer(t, t.expires, MOD_TIMER_NOTPENDING);
    }

    /**
     * {@code add_timer_local(timer)}: {@link #add} with {@code TIMER_PINNED} set.
     *
     * @param t the timer, not pending
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public void addLocal(TimerList t) {
        checkOpen(t);
        if (warnIfPending(t, "add_timer_local")) {
            return;
        }
        FLAGS.getAndBitwiseOr(t, TIMER_PINNED);
        modTimer(t, t.expires, MOD_TIMER_NOTPENDING);
    }

    /**
     * {@code add_timer_global(timer)}: {@link #add} with {@code TIMER_PINNED} cleared.
     *
     * @param t the timer, not pending
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public void addGlobal(TimerList t) {
        checkOpen(t);
        if (warnIfPending(t, "add_timer_global")) {
            return;
        }
        FLAGS.getAndBitwiseAnd(t, ~TIMER_PINNED);
        modTimer(t, t.expires, MOD_TIMER_NOTPENDING);
    }

    /**
     * {@code add_timer_on(timer, cpu)}: arms an inactive timer on {@code cpu}'s base and sets {@code
     * TIMER_PINNED}.
     *
     * @param t the timer, not pending
     * @param cpu the CPU whose base takes it
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     */
    public void addOn(TimerList t, int cpu) {
        checkOpen(t);
        requireInitialised(t, "add_timer_on");
        machine.cpu(cpu);
        if (warnIfPending(t, "add_timer_on")) {
            return;
        }
        FLAGS.getAndBitwiseOr(t, TIMER_PINNED);
        TimerBase newBase = bases[cpu][kindOf(t.flags)];
        TimerBase base = lockTimerBase(t);
        if (t.function == null) {
            base.unlock();
            return;
        }
        if (base != newBase) {
            t.flags |= TIMER_MIGRATING;
            base.unlock();
            base = newBase;
            base.lock();
            t.flags = (t.flags & ~TIMER_BASEMASK) | cpu;
        }
        boolean first;
        try {
            forward(base);
            first = base.internalAdd(t);
            traceStart(t, base);
        } finally {
            base.unlock();
        }
        if (first) {
            machine.cpu(base.cpu).signalInterrupt();
        }
        if (!t.internal) {
            machine.afterAccept();
        }
    }

    private boolean warnIfPending(TimerList t, String call) {
        requireInitialised(t, call);
        if (t.pending) {
            reports.warnOnce(call + "_pending", "WARNING: " + call + "(" + t.name() + ") of a pending"
                    + " timer is ignored (WARN_ON_ONCE(timer_pending(timer)))");
            return true;
        }
        return false;
    }

    private static void requireInitialised(TimerList t, String call) {
        if (!t.initialised()) {
            throw new IllegalStateException(call + "() of a timer that was never set up: call timer_setup() first");
        }
    }

    /** {@code __mod_timer}. */
    private int modTimer(TimerList t, long expires, int options) {
        checkOpen(t);
        return modTimer(t, expires, options, 0, false);
    }

    /**
     * {@code __mod_timer}; {@code now} is the caller's {@code jiffies} when {@code haveNow}, used to forward
     * the base (read under the lock otherwise).
     */
    private int modTimer(TimerList t, long expires, int options, long now, boolean haveNow) {
        requireInitialised(t, (options & MOD_TIMER_PENDING_ONLY) != 0 ? "mod_timer_pending"
                : (options & MOD_TIMER_REDUCE) != 0 ? "timer_reduce" : "mod_timer");
        TimerBase base;
        int idx = -1;
        long clk = 0;
        long bucketExpiry = 0;
        int ret = 0;
        if ((options & MOD_TIMER_NOTPENDING) == 0 && t.pending) {
            // The networking optimisation: same expiry, or (reduce) a later one, changes nothing.
            long diff = t.expires - expires;
            if (diff == 0) {
                return 1;
            }
            if ((options & MOD_TIMER_REDUCE) != 0 && diff <= 0) {
                return 1;
            }
            base = lockTimerBase(t);
            if (t.function == null) {
                base.unlock();
                return 0;
            }
            forward(base, now, haveNow);
            if (t.pending && (options & MOD_TIMER_REDUCE) != 0 && Jiffies.timeBeforeEq(t.expires, expires)) {
                base.unlock();
                return 1;
            }
            clk = base.clk;
            idx = base.index(expires);
            bucketExpiry = base.bucketExpiry[0];
            // Same bucket: only the expiry value changes.
            if (t.pending && idx == t.idx) {
                if ((options & MOD_TIMER_REDUCE) == 0 || Jiffies.timeAfter(t.expires, expires)) {
                    t.expires = expires;
                }
                base.unlock();
                return 1;
            }
        } else {
            base = lockTimerBase(t);
            if (t.function == null) {
                base.unlock();
                return 0;
            }
            forward(base, now, haveNow);
        }
        boolean first;
        try {
            ret = base.detachIfPending(t, false);
            if (ret != 0) {
                trace(Tracepoint.TIMER_CANCEL, t);
            }
            if (ret == 0 && (options & MOD_TIMER_PENDING_ONLY) != 0) {
                return 0;
            }
            TimerBase newBase = bases[machine.current().cpuId()][kindOf(t.flags)];
            if (base != newBase && base.runningTimer != t) {
                // Not while its callback runs there: timer_delete_sync would miss it, and it could overlap itself.
                t.flags |= TIMER_MIGRATING;
                base.unlock();
                base = newBase;
                base.lock();
                t.flags = (t.flags & ~TIMER_BASEMASK) | base.cpu;
                forward(base, now, haveNow);
            }
            t.expires = expires;
            if (idx >= 0 && clk == base.clk) {
                first = base.enqueue(t, idx, bucketExpiry);
            } else {
                first = base.internalAdd(t);
                bucketExpiry = base.bucketExpiry[0];
            }
            if (tracing.on(Tracepoint.TIMER_START)) {
                traceStart(t, base, bucketExpiry);
            }
        } finally {
            base.unlock();
        }
        if (first) {
            machine.cpu(base.cpu).signalInterrupt();
        }
        if (!t.internal) {
            machine.afterAccept(); // the kernel's own timers are armed under its locks, and not the close's to report
        }
        return ret;
    }

    private void forward(TimerBase base) {
        forward(base, 0, false);
    }

    private void forward(TimerBase base, long now, boolean haveNow) {
        if (!base.forward(haveNow ? now : machine.jiffies())) {
            reports.warnOnce("__forward_timer_base", "WARNING: " + base
                    + ": next expiry before the base clock (WARN_ON_ONCE in __forward_timer_base)");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Deleting
    // ------------------------------------------------------------------------------------------

    /**
     * {@code timer_delete(timer)}: removes a pending timer. Does not wait for a running callback and does
     * not stop it from re-arming the timer.
     *
     * @param t the timer
     * @return 1 if it was pending, 0 if not
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int delete(TimerList t) {
        return delete(t, false);
    }

    /**
     * {@code timer_shutdown(timer)}: like {@link #delete}, and later arming is silently ignored until the
     * timer is set up again.
     *
     * @param t the timer
     * @return 1 if it was pending, 0 if not
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int shutdown(TimerList t) {
        return delete(t, true);
    }

    private int delete(TimerList t, boolean shutdown) {
        checkOpen(t);
        requireInitialised(t, shutdown ? "timer_shutdown" : "timer_delete");
        int ret = 0;
        if (t.pending || shutdown) {
            TimerBase base = lockTimerBase(t);
            try {
                ret = base.detachIfPending(t, true);
                if (ret != 0) {
                    trace(Tracepoint.TIMER_CANCEL, t);
                }
                if (shutdown) {
                    t.function = null;
                }
            } finally {
                base.unlock();
            }
        }
        return ret;
    }

    /**
     * {@code timer_delete_sync_try(timer)} (was {@code try_to_del_timer_sync}).
     *
     * @param t the timer
     * @return 1 if it was pending (now removed), 0 if not, −1 if its callback is running right now
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int deleteSyncTry(TimerList t) {
        checkOpen(t);
        requireInitialised(t, "timer_delete_sync_try");
        return tryDeleteSync(t, false);
    }

    /**
     * {@code __try_to_del_timer_sync}: 1 or 0 as {@link #deleteSyncTry}; −1 while the callback runs, or −2
     * when it runs and a shutdown took the timer off its list (re-armed by that callback): then the retry after
     * the callback returns finds it inactive, and the caller reports 1.
     */
    private int tryDeleteSync(TimerList t, boolean shutdown) {
        TimerBase base = lockTimerBase(t);
        int ret = -1;
        try {
            if (base.runningTimer != t) {
                ret = base.detachIfPending(t, true);
                if (ret != 0) {
                    trace(Tracepoint.TIMER_CANCEL, t);
                }
            } else if (shutdown && base.detachIfPending(t, true) != 0) {
                // Its callback re-armed it. The kernel leaves it queued until the retry; the expiry pass of the
                // base may get to it first (its clock already due) and would find it without a function.
                trace(Tracepoint.TIMER_CANCEL, t);
                ret = -2;
            }
            if (shutdown) {
                t.function = null;
            }
        } finally {
            base.unlock();
        }
        return ret;
    }

    /**
     * {@code timer_delete_sync(timer)}: removes the timer and waits until its callback is not running on any
     * CPU. May sleep. From hard-IRQ context it is only legal for {@code TIMER_IRQSAFE} timers (otherwise the
     * kernel's WARN); from the timer's own callback it would wait forever — reported instead.
     *
     * @param t the timer
     * @return 1 if it was pending, 0 if not
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int deleteSync(TimerList t) {
        return deleteSync(t, false, "timer_delete_sync");
    }

    /**
     * {@code timer_shutdown_sync(timer)}: {@link #deleteSync} plus shutdown — afterwards the timer is not
     * queued, its callback is not running, and it cannot be re-armed (not even by its own callback) until
     * it is set up again.
     *
     * @param t the timer
     * @return 1 if it was pending, 0 if not
     * @throws IllegalStateException when the timer was never set up, or the kernel is closed or has panicked
     */
    public int shutdownSync(TimerList t) {
        return deleteSync(t, true, "timer_shutdown_sync");
    }

    private int deleteSync(TimerList t, boolean shutdown, String call) {
        checkOpen(t);
        requireInitialised(t, call);
        ExecutionContext ctx = machine.current();
        if (ctx.inHardirq() && (t.flags & TIMER_IRQSAFE) == 0) {
            reports.warning("WARNING: " + call + "(" + t.name() + ") in hard-IRQ context on a timer without"
                    + " TIMER_IRQSAFE: the callback may be interrupted on this CPU and never finish (WARN_ON(in_hardirq()"
                    + " && !(timer->flags & TIMER_IRQSAFE)))");
        }
        boolean detachedWhileRunning = false;
        for (;;) {
            int ret = tryDeleteSync(t, shutdown);
            if (ret == -2) {
                detachedWhileRunning = true;
                ret = -1;
            }
            if (ret >= 0) {
                return detachedWhileRunning ? 1 : ret;
            }
            TimerBase running = bases[t.flags & TimerList.TIMER_CPUMASK][kindOf(t.flags)];
            if (running.runningTimer == t && running.runner == ctx) {
                reports.lockdep(KernelEvent.Kind.BUG, "WARNING: possible recursive locking detected: " + call + "("
                        + t.name() + ") called from the timer's own callback would wait for itself forever (deadlock)",
                        new Throwable(call));
                return detachedWhileRunning ? 1 : 0;
            }
            // timer_sync_wait_running: sleep until the running callback has returned, then try again.
            if (!machine.waitUntil(() -> running.runningTimer != t, call + "(" + t.name() + ")")) {
                return detachedWhileRunning ? 1 : 0;
            }
        }
    }

    /**
     * Shuts down every armed timer of the user's (not the kernel's own, {@link #setupInternal}) on every CPU.
     * For {@code Kernel.close()}: with {@code sync} ({@code timer_shutdown_sync}) after the accepted work ran,
     * without ({@code timer_shutdown}) once the runtime threads have stopped and a callback still "running"
     * is one that never returned.
     *
     * @return the names of the timers that were armed
     */
    List<String> shutdownArmedForClose(boolean sync) {
        List<TimerList> armed = new ArrayList<>();
        for (TimerBase[] cpuBases : bases) {
            for (TimerBase base : cpuBases) {
                base.lock();
                try {
                    base.copyArmedTo(armed);
                } finally {
                    base.unlock();
                }
            }
        }
        List<String> cancelled = new ArrayList<>();
        for (TimerList t : armed) {
            if (!t.internal && (sync ? shutdownSync(t) : shutdown(t)) == 1) {
                cancelled.add(t.name());
            }
        }
        return cancelled;
    }

    /**
     * {@code timer_pending(timer)}.
     *
     * @param t the timer
     * @return true when armed
     */
    public boolean pending(TimerList t) {
        return t.pending;
    }

    // ------------------------------------------------------------------------------------------
    // Bases
    // ------------------------------------------------------------------------------------------

    /** {@code get_timer_cpu_base}: LOCAL for pinned, GLOBAL otherwise, DEF for deferrable timers. */
    private static int kindOf(int flags) {
        if ((flags & TIMER_DEFERRABLE) != 0) {
            return BASE_DEF;
        }
        return (flags & TIMER_PINNED) != 0 ? BASE_LOCAL : BASE_GLOBAL;
    }

    /** {@code lock_timer_base}: locks the base the timer's flags name, re-checking them under the lock. */
    private TimerBase lockTimerBase(TimerList t) {
        for (;;) {
            int tf = t.flags;
            if ((tf & TIMER_MIGRATING) == 0) {
                TimerBase base = bases[tf & TimerList.TIMER_CPUMASK][kindOf(tf)];
                base.lock();
                if (t.flags == tf) {
                    return base;
                }
                base.unlock();
            }
            Thread.onSpinWait();
        }
    }

    // ------------------------------------------------------------------------------------------
    // The tick and the expiry pass
    // ------------------------------------------------------------------------------------------

    /**
     * The local timer interrupt of each CPU: due when a pinned or global timer of the CPU is due; run also
     * when the CPU took another interrupt while deferrable timers were due.
     */
    private final class Tick implements InterruptSource {
        @Override
        public int deliver(ExecutionContext cpuContext) {
            Cpu cpu = RuntimeAccess.get().cpu(cpuContext);
            int id = cpu.id();
            TimerBase[] b = bases[id];
            boolean due = false;
            long entries = cpu.hardirqEntries();
            boolean awake = entries != seenHardirqs[id];
            seenHardirqs[id] = entries;
            if (b[BASE_LOCAL].timersPending || b[BASE_GLOBAL].timersPending
                    || (awake && b[BASE_DEF].timersPending)) {
                long now = machine.jiffies();
                due = dueAt(b[BASE_LOCAL], now) || dueAt(b[BASE_GLOBAL], now) || (awake && dueAt(b[BASE_DEF], now));
            }
            if (!due) {
                return 0;
            }
            cpu.irqEnter(cpuContext);
            try {
                tickInterrupts.incrementAndGet(id);
                runLocalTimers(cpuContext, b);
            } finally {
                cpu.irqExit(cpuContext);
                seenHardirqs[id] = cpu.hardirqEntries();
            }
            return 1;
        }

        @Override
        public boolean pending(Cpu cpu) {
            TimerBase[] b = bases[cpu.id()];
            if (!b[BASE_LOCAL].timersPending && !b[BASE_GLOBAL].timersPending) {
                return false;
            }
            long now = machine.jiffies();
            return dueAt(b[BASE_LOCAL], now) || dueAt(b[BASE_GLOBAL], now);
        }

        /**
         * Called when {@code cpu/N} is about to sleep ({@code get_next_timer_interrupt}): like the kernel,
         * it first recomputes a next expiry that deletions made stale, so the CPU does not wake for a
         * bucket that has been emptied.
         */
        @Override
        public long nextDeadlineNs(Cpu cpu) {
            for (int kind = BASE_LOCAL; kind <= BASE_GLOBAL; kind++) {
                TimerBase base = bases[cpu.id()][kind];
                base.lock();
                try {
                    base.nextExpiryExact();
                } finally {
                    base.unlock();
                }
            }
            long next = nextWakeJiffies(cpu.id());
            return next == NO_WAKE ? Long.MAX_VALUE : machine.nanoTimeOfJiffy(next);
        }

        /**
         * The start of the jiffy {@link #pending(Cpu)} compares with, without the lock and without
         * recomputing a stale next expiry: stale is early, which is allowed.
         */
        @Override
        public long earliestPendingNs(Cpu cpu) {
            long next = nextWakeJiffies(cpu.id());
            return next == NO_WAKE ? Long.MAX_VALUE : machine.nanoTimeOfJiffy(next);
        }
    }

    private static final long NO_WAKE = Long.MIN_VALUE;

    private static boolean dueAt(TimerBase base, long now) {
        return base.timersPending && Jiffies.timeAfterEq(now, base.nextExpiry);
    }

    /** The jiffy at which {@code cpu}'s first pinned or global timer is due, or {@link #NO_WAKE}. */
    private long nextWakeJiffies(int cpu) {
        long next = NO_WAKE;
        for (int kind = BASE_LOCAL; kind <= BASE_GLOBAL; kind++) {
            TimerBase base = bases[cpu][kind];
            if (base.timersPending) {
                long e = base.nextExpiry;
                if (next == NO_WAKE || Jiffies.timeBefore(e, next)) {
                    next = e;
                }
            }
        }
        return next;
    }

    /** {@code run_local_timers} (hardirq): raise TIMER_SOFTIRQ if any base of this CPU is due. */
    private void runLocalTimers(ExecutionContext ctx, TimerBase[] b) {
        long now = machine.jiffies();
        for (TimerBase base : b) {
            if (Jiffies.timeAfterEq(now, base.nextExpiry)) {
                Subsystems.softirq().raiseOn(softirqs, ctx, SoftirqVector.TIMER.nr(), false);
                return;
            }
        }
    }

    /** {@code run_timer_softirq}: the local base, then the global and deferrable ones. */
    private void runTimerSoftirq() {
        ExecutionContext ctx = machine.current();
        TimerBase[] b = bases[ctx.cpuId()];
        runTimerBase(ctx, b[BASE_LOCAL]);
        runTimerBase(ctx, b[BASE_GLOBAL]);
        runTimerBase(ctx, b[BASE_DEF]);
    }

    private void runTimerBase(ExecutionContext ctx, TimerBase base) {
        if (Jiffies.timeBefore(machine.jiffies(), base.nextExpiry)) {
            return;
        }
        base.lock();
        try {
            runTimers(ctx, base);
        } finally {
            base.unlock();
        }
    }

    /** {@code __run_timers}: expires every due bucket, highest level first; the clock runs one ahead. */
    private void runTimers(ExecutionContext ctx, TimerBase base) {
        if (base.runningTimer != null) {
            return;
        }
        long now;
        while (Jiffies.timeAfterEq(now = machine.jiffies(), base.clk) && Jiffies.timeAfterEq(now, base.nextExpiry)) {
            int levels = base.collect();
            base.clk++;
            base.recalcNextExpiry();
            while (levels-- > 0) {
                expireTimers(ctx, base, base.collected(levels));
            }
        }
    }

    /** {@code expire_timers}: each timer of a collected list, from the head, with the lock dropped. */
    private void expireTimers(ExecutionContext ctx, TimerBase base, int slot) {
        long baseclk = base.clk - 1;
        TimerList t;
        while ((t = base.first(slot)) != null) {
            base.running(t);
            base.detach(t, true);
            trace(Tracepoint.TIMER_CANCEL, t);
            TimerList.Callback fn = t.function;
            if (fn == null) {
                reports.warnOnce("expire_timers_no_function", "WARNING: timer " + t.name()
                        + " expired without a function (WARN_ON_ONCE(!fn))");
                base.running(null);
                continue;
            }
            boolean irqsafe = (t.flags & TIMER_IRQSAFE) != 0;
            base.unlock();
            try {
                if (Jfr.on()) {
                    callTimerFnRecorded(ctx, base, t, fn, baseclk, irqsafe);
                } else {
                    callTimerFn(ctx, base, t, fn, baseclk, irqsafe);
                }
            } finally {
                base.lock();
                base.running(null);
                machine.wakeWaiters(); // timer_delete_sync waiting for this callback; one load when nobody waits
            }
        }
    }

    /**
     * {@link #callTimerFn} inside a {@code bottomhalf.Timer} JFR event, while a recording runs. Kept apart from
     * {@code call_timer_fn} itself so that, with no recording, the expiry loop compiles to what it was without
     * JFR ({@code Jfr.on()} is a constant then, and this call is dropped): {@code call_timer_fn} stays small
     * enough to be inlined into the loop.
     */
    private void callTimerFnRecorded(ExecutionContext ctx, TimerBase base, TimerList t, TimerList.Callback fn,
                                     long baseclk, boolean irqsafe) {
        TimerEvent jfr = Jfr.timerBegin();
        if (jfr == null) {
            callTimerFn(ctx, base, t, fn, baseclk, irqsafe);
            return;
        }
        long expires = t.expires;     // before the callback, which may re-arm the timer
        long jiffies = machine.jiffies();
        try {
            callTimerFn(ctx, base, t, fn, baseclk, irqsafe);
        } finally {
            Jfr.timerEnd(jfr, t.name(), base.cpu, expires, jiffies);
        }
    }

    /** {@code call_timer_fn}: the callback, its tracepoints, the preempt-count leak check; oopses contained. */
    private void callTimerFn(ExecutionContext ctx, TimerBase base, TimerList t, TimerList.Callback fn, long baseclk,
                             boolean irqsafe) {
        if (irqsafe) {
            ctx.localIrqDisable();
        }
        int count = ctx.preemptCount();
        base.runner(ctx);
        if (tracing.on(Tracepoint.TIMER_EXPIRE_ENTRY)) {
            tracing.emit(Tracepoint.TIMER_EXPIRE_ENTRY, "timer=" + t.name() + " function=" + t.name() + " now="
                    + machine.jiffies() + " baseclk=" + baseclk);
        }
        try {
            fn.run(t);
        } catch (Throwable e) {
            oopses.oops(t, t, timer -> "timer " + timer.name(), e);
        } finally {
            base.runner(null);
            if (tracing.on(Tracepoint.TIMER_EXPIRE_EXIT)) {
                tracing.emit(Tracepoint.TIMER_EXPIRE_EXIT, "timer=" + t.name());
            }
            int after = ctx.preemptCount();
            if (after != count) {
                reports.warnOnce("call_timer_fn_preempt_leak", String.format("timer: %s preempt leak: %08x -> %08x",
                        t.name(), count, after));
                RuntimeAccess.get().restorePreemptCount(ctx, count);
            }
            if (irqsafe) {
                ctx.localIrqEnable();
            }
        }
    }

    private void trace(Tracepoint point, TimerList t) {
        if (tracing.on(point)) {
            tracing.emit(point, "timer=" + t.name());
        }
    }

    private void traceStart(TimerList t, TimerBase base) {
        if (tracing.on(Tracepoint.TIMER_START)) {
            traceStart(t, base, base.bucketExpiry[0]);
        }
    }

    private void traceStart(TimerList t, TimerBase base, long bucketExpiry) {
        int f = t.flags;
        StringBuilder flags = new StringBuilder();
        if ((f & TIMER_DEFERRABLE) != 0) {
            flags.append("D");
        }
        if ((f & TIMER_PINNED) != 0) {
            flags.append(flags.isEmpty() ? "" : "|").append("P");
        }
        if ((f & TIMER_IRQSAFE) != 0) {
            flags.append(flags.isEmpty() ? "" : "|").append("I");
        }
        tracing.emit(Tracepoint.TIMER_START, "timer=" + t.name() + " function=" + t.name() + " expires=" + t.expires
                + " [timeout=" + (t.expires - machine.jiffies()) + "] bucket_expiry=" + bucketExpiry + " cpu=" + base.cpu
                + " idx=" + t.idx + " flags=" + flags);
    }

    // ------------------------------------------------------------------------------------------
    // Observability
    // ------------------------------------------------------------------------------------------

    /**
     * Local timer interrupts taken by {@code cpu} ({@code LOC} in {@code /proc/interrupts}). Any thread.
     *
     * @param cpu the CPU
     * @return the count since boot
     */
    public long localTimerInterrupts(int cpu) {
        machine.cpu(cpu);
        return tickInterrupts.get(cpu);
    }

    /**
     * How many timers are pending on {@code cpu}'s bases (walks the wheels under their locks).
     *
     * @param cpu the CPU
     * @return the number of pending timers
     */
    public int pendingCount(int cpu) {
        int n = 0;
        for (TimerBase base : bases[machine.cpu(cpu).id()]) {
            base.lock();
            try {
                n += base.checkStructure();
            } finally {
                base.unlock();
            }
        }
        return n;
    }

    /**
     * The next jiffy at which any timer of {@code cpu} (deferrable ones included) is due, or
     * {@link Long#MIN_VALUE} when none is pending. Recomputes a stale next expiry.
     *
     * @param cpu the CPU
     * @return the jiffy, or {@link Long#MIN_VALUE}
     */
    public long nextExpiry(int cpu) {
        long next = Long.MIN_VALUE;
        for (TimerBase base : bases[machine.cpu(cpu).id()]) {
            base.lock();
            try {
                long e = base.nextExpiryExact();
                if (base.timersPending && (next == Long.MIN_VALUE || Jiffies.timeBefore(e, next))) {
                    next = e;
                }
            } finally {
                base.unlock();
            }
        }
        return next;
    }

    /** The wheel clock of {@code cpu}'s base for timers with {@code flags} (tests). */
    long baseClock(int cpu, int flags) {
        TimerBase base = bases[cpu][kindOf(flags)];
        base.lock();
        try {
            return base.clk;
        } finally {
            base.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Sleeping (process context) and busy-waiting (any context): implemented in SleepingHelpers
    // ------------------------------------------------------------------------------------------

    /**
     * {@code schedule_timeout(timeout)} for a sleep that a Java interrupt may end
     * ({@code TASK_INTERRUPTIBLE}): sleeps about {@code timeout} jiffies on a timer of the calling CPU.
     * In stepped mode a kworker gives the CPU to the stepped scheduler until the timer has fired, and the
     * stepping thread itself drives the clock: time jumps from event to event (timers of any CPU, burns,
     * other sleeps), whose work runs, until this sleep's timer has fired.
     *
     * @param timeout jiffies to sleep at most
     * @return the jiffies left (0 if the full time passed); a negative timeout prints
     *         {@code schedule_timeout: wrong timeout value %lx} and returns 0
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long scheduleTimeoutInterruptible(long timeout) {
        return sleeping.scheduleTimeoutInterruptible(timeout);
    }

    /**
     * {@link #scheduleTimeoutInterruptible(long)} with the timeout as a {@link Duration} (converted as
     * {@link Jiffies#durationToJiffies} converts: rounded up, clamped to {@link Jiffies#MAX_JIFFY_OFFSET}).
     * Process context.
     *
     * @param timeout how long to sleep at most, not negative
     * @return the time left, rounded to jiffies ({@link Duration#ZERO} when the full time passed)
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public Duration scheduleTimeoutInterruptible(Duration timeout) {
        return Jiffies.jiffiesToDuration(scheduleTimeoutInterruptible(toJiffies(timeout)), machine.hz());
    }

    /**
     * {@link #scheduleTimeoutUninterruptible(long)} with the timeout as a {@link Duration} (converted as
     * {@link Jiffies#durationToJiffies} converts). Process context.
     *
     * @param timeout how long to sleep at most, not negative
     * @return the time left, rounded to jiffies ({@link Duration#ZERO} when the full time passed)
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public Duration scheduleTimeoutUninterruptible(Duration timeout) {
        return Jiffies.jiffiesToDuration(scheduleTimeoutUninterruptible(toJiffies(timeout)), machine.hz());
    }

    private long toJiffies(Duration timeout) {
        return Jiffies.durationToJiffies(timeout, machine.hz());
    }

    /** {@code schedule_timeout_uninterruptible(timeout)}: as above, ignoring Java interrupts until it expires or a
     * {@code wake_up_process} ends it.
     *
     * @param timeout jiffies to sleep at most
     * @return the jiffies left (0 if the full time passed)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long scheduleTimeoutUninterruptible(long timeout) {
        return sleeping.scheduleTimeoutUninterruptible(timeout);
    }

    /**
     * {@code schedule_timeout(timeout)}: the calling task sleeps in the state it set with
     * {@code set_current_state} (the task state of its {@link dev.bottomhalf.runtime.ExecutionContext}) for at
     * most {@code timeout} jiffies ({@link #MAX_SCHEDULE_TIMEOUT}: until woken). A wake-up of that state
     * ({@code wake_up_process}, a wait queue's wake-up, a completion) ends it early; a task still running — it
     * was woken between setting its state and this call — returns at once. Process context; returns with the
     * task running.
     *
     * @param timeout jiffies to sleep at most, or {@link #MAX_SCHEDULE_TIMEOUT}
     * @return the jiffies left (0 when the full time passed; {@code timeout} itself when it did not sleep,
     *         {@link #MAX_SCHEDULE_TIMEOUT} for an untimed sleep)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long scheduleTimeout(long timeout) {
        return sleeping.scheduleTimeout(timeout, "schedule_timeout");
    }

    /**
     * {@link #scheduleTimeout(long)} on behalf of {@code call} (the sleeping primitive the reports name:
     * {@code schedule}, {@code wait_event}, {@code wait_for_completion}, ...), for {@code dev.bottomhalf.sched}
     * through {@code Subsystems}.
     *
     * @param timeout jiffies to sleep at most, or {@link #MAX_SCHEDULE_TIMEOUT}
     * @param call the name reports give the sleep
     * @return as {@link #scheduleTimeout(long)}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    long scheduleTimeout(long timeout, String call) {
        return sleeping.scheduleTimeout(timeout, call);
    }

    /**
     * {@code msleep(ms)}: sleeps at least {@code ms} milliseconds, rounded up to jiffies; not interruptible.
     * Like every sleeping helper here, in atomic context it reports {@code BUG: sleeping function called
     * from invalid context} and returns without sleeping.
     *
     * @param ms milliseconds to sleep
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void msleep(long ms) {
        sleeping.msleep(ms);
    }

    /**
     * {@code msleep_interruptible(ms)}: like {@link #msleep} but a Java interrupt ends it early.
     *
     * @param ms milliseconds to sleep
     * @return the milliseconds left (0 when it slept the whole time)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long msleepInterruptible(long ms) {
        return sleeping.msleepInterruptible(ms);
    }

    /**
     * {@code msleep} for a {@link Duration}: sleeps at least {@code time}, rounded up to whole jiffies as
     * {@code msecs_to_jiffies} rounds (so {@code Duration.ofMillis(ms)} sleeps exactly as {@link #msleep(long)}
     * does); not interruptible. Process context; in atomic context it reports {@code BUG: sleeping function called
     * from invalid context} and returns without sleeping.
     *
     * @param time how long to sleep, not negative (clamped to {@link Jiffies#MAX_JIFFY_OFFSET} jiffies)
     * @throws IllegalArgumentException when {@code time} is negative
     */
    public void msleep(Duration time) {
        sleeping.msleepJiffies(toJiffies(time));
    }

    /**
     * {@code msleep_interruptible} for a {@link Duration}: like {@link #msleep(Duration)}, but a Java interrupt (a
     * pending signal) ends it early and stays pending. Process context.
     *
     * @param time how long to sleep, not negative
     * @return the time left, rounded to jiffies ({@link Duration#ZERO} when it slept the whole time)
     * @throws IllegalArgumentException when {@code time} is negative
     */
    public Duration msleepInterruptible(Duration time) {
        return Jiffies.jiffiesToDuration(sleeping.msleepInterruptibleJiffies(toJiffies(time)), machine.hz());
    }

    /**
     * {@code usleep_range} for {@link Duration}s: sleeps between {@code min} and {@code max}, waking at {@code min}
     * (in stepped mode exactly, to the nanosecond), off the jiffy grid. Not interruptible. Process context.
     *
     * @param min the shortest sleep, not negative
     * @param max the longest sleep, at least {@code min}
     * @throws IllegalArgumentException when {@code min} is negative or {@code max} is shorter than {@code min}
     */
    public void usleepRange(Duration min, Duration max) {
        long minNs = Jiffies.durationToNanos(min);
        if (Objects.requireNonNull(max, "max").compareTo(min) < 0) {
            throw new IllegalArgumentException("usleep_range(" + min + ", " + max + "): need 0 <= min <= max");
        }
        sleeping.usleepRangeNs(minNs);
    }

    /**
     * {@code mdelay}/{@code udelay}/{@code ndelay} for a {@link Duration}: busy-waits {@code time} to the
     * nanosecond (clamped to {@link Long#MAX_VALUE} ns). Legal in any context, as {@link #mdelay} is; in stepped
     * mode it consumes simulated CPU time (see {@link #ndelay}).
     *
     * @param time how long to busy-wait, not negative
     * @throws IllegalArgumentException when {@code time} is negative
     */
    public void delay(Duration time) {
        sleeping.ndelay(Jiffies.durationToNanos(time));
    }

    /**
     * {@code usleep_range(min, max)}: sleeps between {@code min} and {@code max} microseconds, waking at
     * {@code min} (in stepped mode exactly), off the jiffy grid. Not interruptible.
     *
     * @param minUs the shortest sleep in microseconds
     * @param maxUs the longest sleep in microseconds
     * @throws IllegalArgumentException unless {@code 0 <= minUs <= maxUs}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void usleepRange(long minUs, long maxUs) {
        sleeping.usleepRange(minUs, maxUs);
    }

    /**
     * {@code mdelay(ms)}: busy-waits {@code ms} milliseconds. Legal in any context (atomic, hard IRQ, IRQs
     * off): it never calls {@code might_sleep} and never counts as sleeping, so a kworker that burns keeps
     * counting as running for concurrency management. In threaded mode it spins on the kernel clock; in
     * stepped mode (manual clock) it consumes simulated CPU time on the caller's CPU (see {@link #ndelay}).
     *
     * @param ms milliseconds to spin
     * @throws IllegalArgumentException when {@code ms} is negative
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void mdelay(long ms) {
        sleeping.mdelay(ms);
    }

    /**
     * {@code udelay(us)}: busy-waits {@code us} microseconds; see {@link #mdelay}.
     *
     * @param us microseconds to spin
     * @throws IllegalArgumentException when {@code us} is negative
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void udelay(long us) {
        sleeping.udelay(us);
    }

    /**
     * {@code ndelay(ns)}: busy-waits {@code ns} nanoseconds; see {@link #mdelay}. In stepped mode a
     * process-context caller's burn takes turns with other burns of its CPU; an atomic-context caller
     * cannot give the CPU away, so the clock jumps by {@code ns} at once.
     *
     * @param ns nanoseconds to spin
     * @throws IllegalArgumentException when {@code ns} is negative
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void ndelay(long ns) {
        sleeping.ndelay(ns);
    }
}
