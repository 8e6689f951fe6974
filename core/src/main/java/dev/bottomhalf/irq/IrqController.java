package dev.bottomhalf.irq;

import dev.bottomhalf.internal.jfr.HardIrqEvent;
import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.internal.runtime.InterruptSource;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;

/**
 * The interrupt controller and generic IRQ layer of one kernel ({@code kernel/irq/}): numbered lines,
 * handler registration, delivery to the CPU a line is routed to, disable/enable depth with replay,
 * threaded handlers, and unhandled-interrupt detection. Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Delivery. A device thread calls {@link #assertIrq(int)}: one atomic OR into the target CPU's
 * pending bitmap (skipped when the bit is already set: an edge that arrives while one is latched
 * merges with it, as in an interrupt controller) and, when the bit was newly set, a signal to the CPU
 * ({@link Cpu#signalInterrupt()}: its between-handlers hint, and a wake of {@code cpu/N} only if it may be
 * parked). A merged assert relies on the signal of the assert that set the bit, as its wake-up does.
 * {@code cpu/N} swaps each bitmap word to 0 and handles the lines in ascending order, each between
 * {@code irq_enter} and {@code irq_exit}.</li>
 * <li>Flow ({@code handle_edge_irq} with the ONESHOT masking of the fasteoi flow): a line that is
 * disabled, masked or already in progress on another CPU only records {@code replayPending}
 * ({@code IRQS_PENDING}). The CPU that owns {@code inProgress} loops while {@code replayPending} is set,
 * so a handler never runs concurrently with itself; after it clears {@code inProgress} it re-reads
 * {@code replayPending} (Dekker with the CPU that set it) and re-delivers.</li>
 * <li>Enabling a line (depth 1 → 0) or unmasking a ONESHOT line replays a latched interrupt
 * ({@code check_irq_resend}).</li>
 * <li>Registration changes the action array copy-on-write under the descriptor monitor; delivery reads
 * the array once per interrupt.</li>
 * <li>The spurious-poll timer ({@code poll_spurious_irqs}, every HZ/10) is a deadline of CPU 0's duty
 * cycle and runs in hardirq context there; the kernel runs it from a timer in softirq context with IRQs
 * disabled.</li>
 * </ul>
 */
public final class IrqController {
    /** {@code note_interrupt}'s window: verdicts are taken every 100,000 interrupts. */
    public static final int SPURIOUS_WINDOW = 100_000;
    /** More than this many unhandled interrupts in one window disables the line. */
    public static final int SPURIOUS_THRESHOLD = 99_900;
    /** At most this many {@code bogus return value} reports per boot. */
    public static final int BOGUS_REPORTS = 100;
    private static final int SPURIOUS_DEFERRED = 0x8000_0000;
    private static final VarHandle PENDING = MethodHandles.arrayElementVarHandle(long[].class);

    private final Machine machine;
    /** This object's copy of the machine's refusing state, for {@link #assertIrq}'s one load ({@link Machine#onRefusing}). */
    private volatile boolean refusing;
    private final Reports reports;
    private final Tracing tracing;
    private final IrqDesc[] descs;
    private final Cpu[] cpus;
    private final int words;
    private final long[] pending; // [cpu × words + word], accessed through PENDING only
    private final long pollIntervalNs;
    private volatile long pollDeadlineNs = Long.MAX_VALUE;
    private volatile boolean noIrqDebug;
    private int bogusReportsLeft = BOGUS_REPORTS; // guarded by this
    /** A primary handler's oopses, rate-limited per action. */
    private final RateLimiter handlerOopses;
    /** A thread function's oopses ({@link IrqThread}), rate-limited per action. */
    final RateLimiter threadOopses;
    /** A primary handler that returns with another preempt_count: rate-limited per action, like its oopses. */
    private final RateLimiter preemptLeaks;
    /** A thread function that returns in atomic context ({@link IrqThread}): rate-limited per action. */
    final RateLimiter threadAtomicReturns;
    /** An irq_work function's oopses, rate-limited per item. */
    private final RateLimiter irqWorkOopses;
    /** Per CPU: the irq_work items queued for it ({@code raised_list}). */
    private final java.util.concurrent.ConcurrentLinkedQueue<IrqWork>[] irqWorkLists;
    /** Per CPU: irq_work interrupts taken (the self-IPI / function-call IPI that runs the items). */
    private final java.util.concurrent.atomic.AtomicLongArray irqWorkInterrupts;
    /** {@code probing_active}: the thread between {@code probe_irq_on} and {@code probe_irq_off}; guarded by this. */
    private Thread prober;

    static {
        Subsystems.install(Subsystems.IrqAccess.class, new IrqWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    IrqController(Machine machine) {
        this.machine = Objects.requireNonNull(machine, "machine");
        machine.onRefusing(() -> refusing = true);
        this.reports = machine.reports();
        this.handlerOopses = reports.limiter("__handle_irq_event_percpu");
        this.threadOopses = reports.limiter("irq_thread_fn");
        this.preemptLeaks = reports.limiter("__handle_irq_event_percpu");
        this.threadAtomicReturns = reports.limiter("irq_thread_fn");
        this.irqWorkOopses = reports.limiter("irq_work_single");
        this.tracing = machine.tracing();
        int lines = machine.config().irqLines();
        this.cpus = new Cpu[machine.cpuCount()];
        for (int i = 0; i < cpus.length; i++) {
            cpus[i] = machine.cpu(i);
        }
        this.descs = new IrqDesc[lines];
        for (int i = 0; i < lines; i++) {
            descs[i] = new IrqDesc(i, cpus.length, i % cpus.length);
        }
        @SuppressWarnings({"unchecked", "rawtypes"})
        java.util.concurrent.ConcurrentLinkedQueue<IrqWork>[] lists = new java.util.concurrent.ConcurrentLinkedQueue[cpus.length];
        for (int i = 0; i < lists.length; i++) {
            lists[i] = new java.util.concurrent.ConcurrentLinkedQueue<>();
        }
        this.irqWorkLists = lists;
        this.irqWorkInterrupts = new java.util.concurrent.atomic.AtomicLongArray(cpus.length);
        this.words = (lines + 63) >>> 6;
        this.pending = new long[words * cpus.length];
        // POLL_SPURIOUS_IRQ_INTERVAL = HZ/10 jiffies = 100 ms at every HZ.
        this.pollIntervalNs = (machine.hz() / 10) * 1_000_000_000L / machine.hz();
        machine.addInterruptSource(new InterruptSource() {
            @Override
            public int deliver(ExecutionContext cpuContext) {
                return IrqController.this.deliver(cpuContext);
            }

            @Override
            public boolean pending(Cpu cpu) {
                return IrqController.this.pending(cpu);
            }

            @Override
            public long nextDeadlineNs(Cpu cpu) {
                return IrqController.this.nextDeadlineNs(cpu);
            }
        });
    }

    Machine machine() {
        return machine;
    }

    /**
     * The number of lines.
     *
     * @return the line count; lines are numbered from 0
     */
    public int lines() {
        return descs.length;
    }

    /**
     * {@code noirqdebug}: turns unhandled-interrupt detection off (or on again).
     *
     * @param off true to turn the detection off, false to turn it on
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void setNoIrqDebug(boolean off) {
        machine.checkOpen();
        if (off && !noIrqDebug) {
            reports.printk(KernelEvent.Kind.INFO, "IRQ lockup detection disabled");
        }
        noIrqDebug = off;
    }

    private IrqDesc desc(int irq) {
        if (irq < 0 || irq >= descs.length) {
            throw new KernelException(Errno.EINVAL, "irq " + irq + " does not exist (this kernel has lines 0.."
                    + (descs.length - 1) + ")");
        }
        return descs[irq];
    }

    // ------------------------------------------------------------------------------------------
    // Registration
    // ------------------------------------------------------------------------------------------

    /**
     * A request for line {@code irq} to fill in and {@link IrqRequest#register()}: the Java API's
     * {@code request_irq}/{@code request_threaded_irq}, with typed handlers ({@link IrqResultHandler}). Any thread
     * (the registration itself is process context).
     *
     * <pre>{@code
     * kernel.irqs().request(24).handler((irq, dev) -> IrqResult.HANDLED).name("eth0").dev(nic).register();
     * }</pre>
     *
     * @param irq the line
     * @return a new request
     */
    public IrqRequest request(int irq) {
        return new IrqRequest(this, irq);
    }

    /**
     * {@code request_irq(irq, handler, flags, name, dev_id)}: {@link #requestThreaded} without a thread function
     * and with {@code IRQF_COND_ONESHOT} added, as the kernel's {@code request_irq} does, so a plain handler may
     * share a line whose sharers are ONESHOT.
     *
     * @param irq the line
     * @param handler the hard-IRQ handler
     * @param flags the request flags
     * @param name the action's name, shown in {@code /proc/interrupts} and the thread's name
     * @param devId the cookie {@link #free} names the action by; required with {@link IrqFlag#SHARED}
     * @throws KernelException {@code EINVAL} or {@code EBUSY}, as {@link #requestThreaded(int, IrqHandler,
     *   IrqHandler, int, String, Object)}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void request(int irq, IrqHandler handler, Set<IrqFlag> flags, String name, Object devId) {
        requestThreaded(irq, Objects.requireNonNull(handler, "handler"), null,
                IrqFlag.mask(flags) | IrqFlag.COND_ONESHOT.value(), name, devId);
    }

    /**
     * {@code request_threaded_irq(irq, handler, thread_fn, flags, name, dev_id)}.
     *
     * @param irq the line
     * @param handler the hard-IRQ handler, or null for the default one that wakes the thread
     * @param threadFn the threaded handler, or null
     * @param flags the request flags
     * @param name the action's name, shown in {@code /proc/interrupts} and the thread's name
     * @param devId the cookie {@link #free} names the action by; required with {@link IrqFlag#SHARED}
     * @throws KernelException {@code EINVAL} or {@code EBUSY}, as {@link #requestThreaded(int, IrqHandler,
     *   IrqHandler, int, String, Object)}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void requestThreaded(int irq, IrqHandler handler, IrqHandler threadFn, Set<IrqFlag> flags, String name,
                                Object devId) {
        requestThreaded(irq, handler, threadFn, IrqFlag.mask(flags), name, devId);
    }

    /**
     * {@code request_threaded_irq(irq, handler, thread_fn, flags, name, dev_id)} with the kernel's
     * {@code IRQF_*} bits. Installs a handler on a line, sharing it when every requester agrees; the
     * first handler enables the line (unless {@code IRQF_NO_AUTOEN}). A {@code thread_fn} gets its own
     * {@code irq/L-name} thread. May sleep.
     *
     * @param handler  the primary handler, or null for the default one (which wakes the thread; then
     *                 {@code IRQF_ONESHOT} is required)
     * @param threadFn the threaded handler, or null
     * @param irq the line
     * @param flags {@code IRQF_*} bits
     * @param name the action's name, shown in {@code /proc/interrupts} and the thread's name
     * @param devId the cookie {@link #free} names the action by; required with {@code IRQF_SHARED}
     * @throws KernelException {@code EINVAL} for a missing line, a shared request without {@code dev_id},
     *                         no handler at all, a NULL primary without ONESHOT, or bad suspend flags;
     *                         {@code EBUSY} when the line cannot be shared with its current handlers
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void requestThreaded(int irq, IrqHandler handler, IrqHandler threadFn, int flags, String name,
                                Object devId) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (name == null || name.isEmpty()) {
            throw new KernelException(Errno.EINVAL, "request_irq(" + irq + "): a handler needs a name (it is shown in"
                    + " /proc/interrupts)");
        }
        if (IrqFlag.SHARED.in(flags) && devId == null) {
            throw new KernelException(Errno.EINVAL, "request_irq(" + irq + ", " + name + "): IRQF_SHARED requires a"
                    + " dev_id, the cookie free_irq() uses to find this handler among the sharers");
        }
        if (IrqFlag.SHARED.in(flags) && IrqFlag.NO_AUTOEN.in(flags)) {
            throw new KernelException(Errno.EINVAL, "request_irq(" + irq + ", " + name + "): IRQF_NO_AUTOEN cannot be"
                    + " combined with IRQF_SHARED (a sharer would wait for interrupts of a line left disabled)");
        }
        if (IrqFlag.COND_SUSPEND.in(flags) && (IrqFlag.NO_SUSPEND.in(flags) || !IrqFlag.SHARED.in(flags))) {
            throw new KernelException(Errno.EINVAL, "request_irq(" + irq + ", " + name + "): IRQF_COND_SUSPEND needs"
                    + " IRQF_SHARED and excludes IRQF_NO_SUSPEND");
        }
        if (desc.percpuDevId) {
            reports.warning("WARNING: request_irq(" + irq + ", " + name + ") of a per-CPU line: use request_percpu_irq"
                    + " (WARN_ON(irq_settings_is_per_cpu_devid(desc)))");
            throw new KernelException(Errno.EINVAL, "request_irq(" + irq + ", " + name + "): the line is a per-CPU"
                    + " (percpu_devid) line");
        }
        if (handler == null && threadFn == null) {
            throw new KernelException(Errno.EINVAL, "request_threaded_irq(" + irq + ", " + name
                    + "): neither a handler nor a thread function");
        }
        boolean defaultPrimary = false;
        if (handler == null) {
            handler = (i, d) -> IrqReturn.WAKE_THREAD;
            defaultPrimary = true;
        }
        machine.current().mightSleep("request_threaded_irq");
        synchronized (desc) {
            IrqAction[] old = desc.actions;
            if (old.length > 0) {
                IrqAction first = old[0];
                // Our lines are irq-domain lines whose type was stored at mapping time (IRQ_TYPE_NONE), so
                // irqd_trigger_type_was_set() holds and a sharer is compared with the line's current type:
                // the one the first request or irq_set_irq_type gave it, else none. No inheritance.
                int oldType = desc.trigger;
                boolean mismatch = !IrqFlag.SHARED.in(first.flags & flags) || oldType != (flags & IrqFlag.TRIGGER_MASK);
                if (!mismatch) {
                    if (IrqFlag.ONESHOT.in(first.flags) && IrqFlag.COND_ONESHOT.in(flags)) {
                        flags |= IrqFlag.ONESHOT.value();
                    } else if (IrqFlag.ONESHOT.in(first.flags ^ flags)) {
                        mismatch = true;
                    }
                }
                mismatch = mismatch || IrqFlag.PERCPU.in(first.flags ^ flags);
                if (mismatch) {
                    String kernelMessage = String.format("genirq: Flags mismatch irq %d. %08x (%s) vs. %08x (%s)",
                            irq, flags, name, first.flags, first.name);
                    if (!IrqFlag.PROBE_SHARED.in(flags)) {
                        reports.printk(KernelEvent.Kind.ERR, kernelMessage);
                    }
                    throw new KernelException(Errno.EBUSY, "request_irq(" + irq + ", " + name + "): the line is held by '"
                            + first.name + "' and cannot be shared: every sharer needs IRQF_SHARED and the same"
                            + " trigger, ONESHOT and PERCPU flags (" + kernelMessage + ")");
                }
            }
            long threadMask = 0;
            if (IrqFlag.ONESHOT.in(flags)) {
                long used = 0;
                for (IrqAction a : old) {
                    used |= a.threadMask;
                }
                if (used == -1L) {
                    throw new KernelException(Errno.EBUSY, "request_irq(" + irq + ", " + name + "): more than 64"
                            + " ONESHOT handlers on one line");
                }
                threadMask = Long.lowestOneBit(~used);
            } else if (defaultPrimary) {
                // Checked after the sharing rules, as __setup_irq does: a mismatch is EBUSY first.
                String kernelMessage = String.format(
                        "genirq: Threaded irq requested with handler=NULL and !ONESHOT for %s (irq %d)", name, irq);
                reports.printk(KernelEvent.Kind.ERR, kernelMessage);
                throw new KernelException(Errno.EINVAL, "request_threaded_irq(" + irq + ", " + name + "): a NULL primary"
                        + " handler needs IRQF_ONESHOT, or the line would fire again before the thread ran ("
                        + kernelMessage + ")");
            }
            IrqAction action = new IrqAction(irq, handler, threadFn, flags, name, devId, threadMask, defaultPrimary);
            if (threadFn != null) {
                action.thread = new IrqThread(this, desc, action);
            }
            IrqAction[] next = java.util.Arrays.copyOf(old, old.length + 1);
            next[old.length] = action;
            desc.irqCount = 0;      // "reset broken irq detection when installing new handler"
            desc.irqsUnhandled = 0;
            if (old.length == 0) {
                if ((flags & IrqFlag.TRIGGER_MASK) != 0) {   // __irq_set_trigger; without bits the type stays
                    desc.trigger = flags & IrqFlag.TRIGGER_MASK;
                }
                desc.oneshot = IrqFlag.ONESHOT.in(flags);
                // IRQF_NO_DEBUG counts only for a per-CPU line (IPIs and the like), as in __setup_irq.
                desc.noDebug = IrqFlag.NO_DEBUG.in(flags) && IrqFlag.PERCPU.in(flags);
                desc.depth = IrqFlag.NO_AUTOEN.in(flags) ? 1 : 0;
                desc.disabled = desc.depth > 0;
                desc.masked = false;
                desc.threadsOneshot = 0;
                desc.replayPending = false;
                desc.spuriousDisabled = false;
                desc.threadsHandledLast = 0;
                desc.everRequested = true;
            } else if (desc.spuriousDisabled) {
                desc.spuriousDisabled = false;
                enableLocked(desc);
            }
            desc.actions = next;
            if (action.thread != null) {
                action.thread.handle = machine.register(action.thread, true);
            }
        }
    }

    /**
     * {@code free_irq(irq, dev_id)}: removes the handler registered with {@code devId} (compared by
     * identity), waits for a running hard handler, stops the handler's thread, and returns the name given
     * at request time. Removing the last handler shuts the line down (depth 1). Process context.
     *
     * <p>Where the kernel WARNs and returns NULL, this Java API WARNs the same and throws; the
     * {@code dev.bottomhalf.linux} facade's {@code free_irq} returns null, as the kernel does.
     *
     * @param irq   the line
     * @param devId the cookie given at request time (null for a handler requested without one)
     * @return the name given at request time, never null
     * @throws KernelException {@code EINVAL} after the kernel's report: {@code Trying to free already-free IRQ N}
     *         when no handler has that {@code dev_id}, {@code Trying to free IRQ N from IRQ context!} in interrupt
     *         context, and for a per-CPU line ({@code free_percpu_irq} frees those); also for a line that does
     *         not exist
     * @throws IllegalStateException once the kernel is closed
     */
    public String free(int irq, Object devId) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (desc.percpuDevId) {
            reports.warning("WARNING: free_irq(" + irq + ") of a per-CPU line: use free_percpu_irq"
                    + " (WARN_ON(irq_settings_is_per_cpu_devid(desc)))");
            throw new KernelException(Errno.EINVAL, "free_irq(" + irq + "): a per-CPU line: use free_percpu_irq");
        }
        ExecutionContext ctx = machine.current();
        if (ctx.inInterrupt()) {
            String message = "Trying to free IRQ " + irq + " from IRQ context!";
            reports.warning(message);
            throw new KernelException(Errno.EINVAL, message);
        }
        ctx.mightSleep("free_irq");
        IrqAction removed = null;
        synchronized (desc) {
            IrqAction[] old = desc.actions;
            int idx = -1;
            for (int i = 0; i < old.length; i++) {
                if (old[i].devId == devId) {
                    idx = i;
                    break;
                }
            }
            if (idx < 0) {
                String message = "Trying to free already-free IRQ " + irq;
                reports.warning(message);
                throw new KernelException(Errno.EINVAL, message);
            }
            removed = old[idx];
            IrqAction[] next = new IrqAction[old.length - 1];
            System.arraycopy(old, 0, next, 0, idx);
            System.arraycopy(old, idx + 1, next, idx, old.length - idx - 1);
            desc.actions = next.length == 0 ? IrqDesc.NO_ACTIONS : next;
            if (next.length == 0) {
                desc.depth = 1;          // irq_shutdown()
                desc.disabled = true;
                desc.masked = false;
                desc.replayPending = false;
            }
        }
        waitForHardHandler(desc, ctx);
        IrqThread thread = removed.thread;
        if (thread != null) {
            // kthread_stop: a wake-up the thread has not served yet is served one last time before it exits
            // (irq_wait_for_interrupt checks IRQTF_RUNTHREAD once more after kthread_should_stop).
            if (thread.runnable() && ctx != thread.context()) {
                if (machine.stepped()) {
                    machine.runAs(thread.context(), thread::doWork);
                } else {
                    machine.waitUntil(() -> !thread.runnable(), "free_irq(" + irq + ")");
                }
            }
            thread.handle.stop();
            if (thread.runnable()) {      // only when freed from its own thread, or the kernel is closing: dropped
                thread.cancelPendingRun();
                finalizeOneshot(desc, removed, thread);
                desc.threadsActive.decrementAndGet();
                machine.wakeWaiters();
            }
        }
        return removed.name;
    }

    // ------------------------------------------------------------------------------------------
    // Disable / enable / synchronize
    // ------------------------------------------------------------------------------------------

    /**
     * {@code disable_irq_nosync(irq)}: depth + 1; does not wait. Any context.
     *
     * @param irq the line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void disableNosync(int irq) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (desc.percpuDevId) {
            return;       // irq_get_desc_buslock(IRQ_GET_DESC_CHECK_GLOBAL) finds no descriptor: nothing happens
        }
        synchronized (desc) {
            if (desc.depth++ == 0) {
                desc.disabled = true;
            }
        }
    }

    /**
     * {@code disable_irq(irq)}: depth + 1, then waits for running handlers (hard and threaded). From the
     * line's own handler or thread this would wait for itself forever; that is reported as a BUG and
     * the call returns after the depth change.
     *
     * @param irq the line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void disable(int irq) {
        disableNosync(irq);
        synchronize(irq, "disable_irq");
    }

    /**
     * {@code disable_hardirq(irq)}: depth + 1, waits for running hard handlers only.
     *
     * @param irq the line
     * @return false if a threaded handler of the line is active
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean disableHardirq(int irq) {
        disableNosync(irq);
        IrqDesc desc = descs[irq];
        waitForHardHandler(desc, machine.current());
        return desc.threadsActive.get() == 0;
    }

    /**
     * {@code enable_irq(irq)}: depth − 1; at 0 the line is live again and an interrupt that arrived while
     * it was disabled is replayed. At depth 0 reports {@code Unbalanced enable for IRQ N}; on a line that
     * was never requested reports {@code enable_irq before setup/request_irq: irq N}. Any context.
     *
     * @param irq the line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void enable(int irq) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (desc.percpuDevId) {
            return;       // as disableNosync: per-CPU lines use enable_percpu_irq
        }
        synchronized (desc) {
            if (!desc.everRequested) {
                reports.warning("enable_irq before setup/request_irq: irq " + irq);
                return;
            }
            enableLocked(desc);
        }
    }

    private void enableLocked(IrqDesc desc) {
        assert Thread.holdsLock(desc) : "desc->lock not held";
        if (desc.depth == 0) {
            reports.warning("Unbalanced enable for IRQ " + desc.irq);
            return;
        }
        if (--desc.depth == 0) {
            desc.disabled = false;
            if (desc.masked && desc.threadsOneshot == 0 && !desc.oneshotHardirq) {
                desc.masked = false;    // a ONESHOT mask whose threads finished while the line was disabled
            }
            if (desc.replayPending && !desc.masked) {
                resend(desc);
            }
        }
    }

    /**
     * {@code synchronize_irq(irq)}: waits until no hard handler runs and no thread function is active.
     *
     * @param irq the line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void synchronize(int irq) {
        desc(irq);
        synchronize(irq, "synchronize_irq");
    }

    /**
     * {@code synchronize_hardirq(irq)}: waits for running hard handlers only; returns false if a thread is active.
     *
     * @param irq the line
     * @return false when a threaded handler is active
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean synchronizeHardirq(int irq) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        waitForHardHandler(desc, machine.current());
        return desc.threadsActive.get() == 0;
    }

    private void synchronize(int irq, String caller) {
        machine.checkOpen();
        IrqDesc desc = descs[irq];
        ExecutionContext ctx = machine.current();
        if (waitsForItself(desc, ctx)) {
            reports.bug(String.format("BUG: %s(%d) called from %s of IRQ %d: it would wait for itself forever"
                            + " (deadlock); use disable_irq_nosync() there", caller, irq,
                    ctx.inHardirq() ? "the hard handler" : "the thread", irq), new Throwable(caller));
            return;
        }
        ctx.mightSleep(caller);
        if (machine.stepped()) {
            // Nothing else runs in stepped mode: drive the line's threads until they are done.
            for (IrqAction a : desc.actions) {
                if (a.thread != null && a.thread.runnable()) {
                    machine.runAs(a.thread.context(), a.thread::doWork);
                }
            }
            return;
        }
        machine.waitUntil(desc::quiescent, caller + "(" + irq + ")");
    }

    private boolean waitsForItself(IrqDesc desc, ExecutionContext ctx) {
        if (ctx.inHardirq() && desc.runningOn == ctx) {
            return true;
        }
        if (ctx.role() == ExecutionContext.Role.IRQ_THREAD) {
            for (IrqAction a : desc.actions) {
                if (a.thread != null && a.thread.context() == ctx) {
                    return true;
                }
            }
        }
        return false;
    }

    private void waitForHardHandler(IrqDesc desc, ExecutionContext ctx) {
        if (desc.runningOn == ctx) {
            return; // the caller is that handler; nothing to wait for that could ever end
        }
        if (desc.inProgress.get() && !machine.stepped()) {
            machine.waitUntil(() -> !desc.inProgress.get(), "synchronize_hardirq(" + desc.irq + ")");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Affinity
    // ------------------------------------------------------------------------------------------

    /**
     * {@code irq_set_affinity(irq, cpumask_of(cpu))}: routes future interrupts of the line to {@code cpu}.
     * An interrupt already latched for the old CPU is still delivered there.
     *
     * @param irq the line
     * @param cpu the CPU that takes the line's interrupts from now on
     * @throws KernelException {@code EINVAL} for a CPU that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void setAffinity(int irq, int cpu) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (cpu < 0 || cpu >= cpus.length) {
            throw new KernelException(Errno.EINVAL, "irq_set_affinity(" + irq + "): CPU " + cpu + " does not exist");
        }
        desc.affinity = cpu;
    }

    /**
     * The CPU the line's interrupts go to.
     *
     * @param irq the line
     * @return the CPU number
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public int affinity(int irq) {
        return desc(irq).affinity;
    }

    // ------------------------------------------------------------------------------------------
    // Delivery
    // ------------------------------------------------------------------------------------------

    /**
     * A device raises its interrupt: latches line {@code irq} for the CPU it is routed to and wakes that
     * CPU's {@code cpu/N} if it may be parked. Any thread; allocation-free; a line that is already latched
     * costs one load. The interrupt is taken even if the line has no handler or is disabled (then it is
     * remembered and replayed on enable).
     *
     * @param irq the line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void assertIrq(int irq) {
        if (refusing) {
            machine.checkOpen(); // a device of a closing or closed kernel is refused at once, latched line or not
        }
        IrqDesc desc = desc(irq);
        if (latch(desc.affinity, irq)) {
            machine.afterAccept();
        }
    }

    /** @return whether this call latched the line (it was not latched yet) */
    private boolean latch(int cpu, int irq) {
        int idx = cpu * words + (irq >>> 6);
        long bit = 1L << irq;
        if (((long) PENDING.getVolatile(pending, idx) & bit) == 0
                && ((long) PENDING.getAndBitwiseOr(pending, idx, bit) & bit) == 0) {
            cpus[cpu].signalInterrupt();
            return true;
        }
        return false;
    }

    private void resend(IrqDesc desc) {
        desc.replayPending = false;
        latch(desc.affinity, desc.irq);
    }

    /** {@code InterruptSource.pending}: whether a line is latched, irq_work is queued or the poll is due. */
    boolean pending(Cpu cpu) {
        int base = cpu.id() * words;
        for (int w = 0; w < words; w++) {
            if ((long) PENDING.getVolatile(pending, base + w) != 0) {
                return true;
            }
        }
        if (!irqWorkLists[cpu.id()].isEmpty()) {
            return true;
        }
        long poll = pollDeadlineNs;
        return cpu.id() == 0 && poll != Long.MAX_VALUE && machine.clock().nanoTime() >= poll;
    }

    /** {@link InterruptSource#nextDeadlineNs}: the spurious-IRQ poll on CPU 0. */
    long nextDeadlineNs(Cpu cpu) {
        return cpu.id() == 0 ? pollDeadlineNs : Long.MAX_VALUE;
    }

    /** {@code InterruptSource.deliver}: every latched line of the CPU, each between irq_enter and irq_exit. */
    int deliver(ExecutionContext ctx) {
        Cpu cpu = RuntimeAccess.get().cpu(ctx);
        int base = cpu.id() * words;
        int n = 0;
        for (int w = 0; w < words; w++) {
            if ((long) PENDING.getVolatile(pending, base + w) == 0) {
                continue;
            }
            long bits = (long) PENDING.getAndSet(pending, base + w, 0L);
            while (bits != 0) {
                int irq = (w << 6) + Long.numberOfTrailingZeros(bits);
                bits &= bits - 1;
                deliverLine(ctx, cpu, descs[irq]);
                n++;
            }
        }
        if (!irqWorkLists[cpu.id()].isEmpty()) {
            n += runIrqWorks(ctx, cpu);
        }
        if (cpu.id() == 0 && pollDeadlineNs != Long.MAX_VALUE) {
            n += pollSpuriousIfDue(ctx, cpu);
        }
        return n;
    }

    private void deliverLine(ExecutionContext ctx, Cpu cpu, IrqDesc desc) {
        if (desc.autodetect) {
            desc.waiting = false;        // IRQS_WAITING: the flow handler clears it on every interrupt
        }
        if (desc.percpuDevId) {
            deliverPercpu(ctx, cpu, desc);
            return;
        }
        if (desc.disabled || desc.masked || desc.actions.length == 0 || !desc.inProgress.compareAndSet(false, true)
                || disabledOrMaskedMeanwhile(desc)) {
            desc.replayPending = true;   // IRQS_PENDING: replayed on enable/unmask, or by the CPU running it
            if (!desc.inProgress.get() && !desc.disabled && !desc.masked && desc.actions.length > 0) {
                resend(desc);           // it finished (or was enabled) between our look and the store
            }
            return;
        }
        cpu.irqEnter(ctx);
        desc.runningOn = ctx;
        try {
            do {
                desc.replayPending = false;
                if (desc.oneshot) {
                    synchronized (desc) {
                        desc.masked = true;
                        desc.oneshotHardirq = true;  // enable_irq must not unmask before the thread is woken
                    }
                }
                desc.kstat.incrementAndGet(cpu.id());
                int ret = handleIrqEvent(ctx, desc);
                if (!desc.noDebug && !noIrqDebug) {
                    noteInterrupt(desc, ret);
                }
                if (desc.oneshot) {
                    synchronized (desc) {
                        desc.oneshotHardirq = false;
                        if (desc.threadsOneshot == 0 && !desc.disabled) {
                            desc.masked = false;
                        }
                    }
                }
            } while (desc.replayPending && !desc.disabled && !desc.masked);
        } finally {
            desc.runningOn = null;
            desc.inProgress.set(false);
            machine.wakeWaiters();
            if (desc.replayPending && !desc.disabled && !desc.masked) {
                resend(desc);
            }
            cpu.irqExit(ctx);
        }
    }

    /**
     * Re-reads, with {@code inProgress} taken, what {@link #deliverLine} checked before taking it: a
     * {@code disable_irq} (sets {@code disabled}, then waits while {@code inProgress}) or another CPU's
     * ONESHOT run (sets {@code masked} while it holds {@code inProgress}) may have come in between, and the
     * handler must not start then (the kernel checks both under {@code desc->lock}). Both sides write
     * their flag before reading the other's (volatile), so one of them sees the other. If the line is now
     * disabled or masked, gives {@code inProgress} back so the caller latches the interrupt for replay.
     */
    private boolean disabledOrMaskedMeanwhile(IrqDesc desc) {
        if (!desc.disabled && !desc.masked && desc.actions.length > 0) {
            return false;
        }
        desc.inProgress.set(false);
        machine.wakeWaiters();
        return true;
    }

    /** {@code __handle_irq_event_percpu}: calls every handler of the line; returns their OR. */
    private int handleIrqEvent(ExecutionContext ctx, IrqDesc desc) {
        int retval = 0;
        for (IrqAction action : desc.actions) {
            if (tracing.on(Tracepoint.IRQ_HANDLER_ENTRY)) {
                tracing.emit(Tracepoint.IRQ_HANDLER_ENTRY, "irq=" + desc.irq + " name=" + action.name);
            }
            HardIrqEvent jfr = Jfr.hardIrqBegin();
            int before = ctx.preemptCount();
            int res;
            try {
                res = action.handler.handle(desc.irq, action.devId);
            } catch (Throwable t) {
                handlerOopses.oops(action, action, a -> "irq " + a.irq + " handler " + a.name, t);
                res = IrqReturn.NONE;
            }
            if (jfr != null) {
                Jfr.hardIrqEnd(jfr, desc.irq, action.name, ctx.cpuId(), res, IrqReturn.describe(res));
            }
            if (tracing.on(Tracepoint.IRQ_HANDLER_EXIT)) {
                tracing.emit(Tracepoint.IRQ_HANDLER_EXIT, "irq=" + desc.irq + " ret="
                        + (res == IrqReturn.NONE ? "unhandled" : "handled"));
            }
            if (RuntimeAccess.get().forceIrqsDisabled(ctx)) {
                reports.warnOnce("__handle_irq_event_percpu_irqs_enabled",
                        "irq " + desc.irq + " handler " + action.name + " enabled interrupts");
            }
            if (ctx.preemptCount() != before) {
                if (preemptLeaks.allow(action, KernelEvent.Kind.WARNING)) {
                    reports.warning(String.format("irq %d handler %s leaked preempt_count %08x -> %08x",
                            desc.irq, action.name, before, ctx.preemptCount()));
                }
                RuntimeAccess.get().restorePreemptCount(ctx, before);
            }
            if (res == IrqReturn.WAKE_THREAD) {
                if (action.thread == null) {
                    if (!action.warnedNoThread) {
                        action.warnedNoThread = true;
                        reports.printk(KernelEvent.Kind.WARN, "IRQ " + desc.irq + " device " + action.name
                                + " returned IRQ_WAKE_THREAD but no thread function available.");
                    } else {
                        reports.suppressed(KernelEvent.Kind.WARN);
                    }
                } else {
                    wakeThread(desc, action);
                }
            }
            retval |= res;
        }
        return retval;
    }

    /** {@code __irq_wake_thread}: repeated wake-ups before the thread runs collapse into one run. */
    private void wakeThread(IrqDesc desc, IrqAction action) {
        IrqThread thread = action.thread;
        synchronized (desc) {
            if (!thread.markRunnable()) {
                return;
            }
            desc.threadsOneshot |= action.threadMask;
            desc.threadsActive.incrementAndGet();
        }
        thread.wakeThread();
    }

    /** {@code irq_finalize_oneshot}: unmask when the last ONESHOT thread of the line is done. */
    void finalizeOneshot(IrqDesc desc, IrqAction action, IrqThread thread) {
        if (!desc.oneshot) {
            return;
        }
        synchronized (desc) {
            if (thread.runnable()) {
                return; // woken again meanwhile: it stays masked until that run is done
            }
            desc.threadsOneshot &= ~action.threadMask;
            if (desc.threadsOneshot == 0 && !desc.disabled && desc.masked) {
                desc.masked = false;
                if (desc.replayPending) {
                    resend(desc);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Trigger type (kernel/irq/manage.c, chip.c)
    // ------------------------------------------------------------------------------------------

    /** {@code IRQ_TYPE_SENSE_MASK}: the trigger bits, with the values of {@code IRQF_TRIGGER_*}. */
    public static final int IRQ_TYPE_SENSE_MASK = 0xf;

    /**
     * {@code irq_set_irq_type(irq, type)}: sets the line's trigger type ({@code IRQ_TYPE_EDGE_RISING} 1,
     * {@code _FALLING} 2, {@code _BOTH} 3, {@code IRQ_TYPE_LEVEL_HIGH} 4, {@code _LOW} 8, or {@code NONE} 0;
     * other bits are ignored). Sharers are then compared with it, and a first request without trigger bits
     * keeps it. Any context.
     *
     * @param irq the line
     * @param type {@code IRQ_TYPE_*} bits
     * @throws KernelException {@code EINVAL} for a missing line or a per-CPU line
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void setIrqType(int irq, int type) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (desc.percpuDevId) {
            throw new KernelException(Errno.EINVAL, "irq_set_irq_type(" + irq + "): a per-CPU line takes its type"
                    + " from enable_percpu_irq");
        }
        synchronized (desc) {
            desc.trigger = type & IRQ_TYPE_SENSE_MASK;
        }
    }

    /**
     * {@code irq_get_trigger_type(irq)}: the line's {@code IRQ_TYPE_*} bits (0: none).
     *
     * @param irq the line
     * @return the trigger bits
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public int triggerType(int irq) {
        IrqDesc desc = desc(irq);
        synchronized (desc) {
            return desc.trigger;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Per-CPU lines (request_percpu_irq, enable_percpu_irq, ...)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code irq_set_percpu_devid(irq)}: makes the line a per-CPU line (a PPI: each CPU has its own
     * interrupt with this number, enabled per CPU, with a per-CPU {@code dev_id}). Architecture code does
     * this before drivers call {@link #requestPercpu}; only those lines can be requested that way, and
     * {@code request_irq} refuses them. Not on a line that has handlers.
     *
     * @param irq the line
     * @throws KernelException {@code EINVAL} when the line is already per-CPU or has handlers
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void setPercpuDevid(int irq) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        synchronized (desc) {
            if (desc.percpuDevId || desc.actions.length > 0) {
                throw new KernelException(Errno.EINVAL, "irq_set_percpu_devid(" + irq + "): the line is "
                        + (desc.percpuDevId ? "already per-CPU" : "in use"));
            }
            desc.percpuDevId = true;
        }
    }

    /**
     * Whether the line is a per-CPU line ({@code irq_is_percpu_devid}).
     *
     * @param irq the line
     * @return true for a per-CPU line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean isPercpuDevid(int irq) {
        return desc(irq).percpuDevId;
    }

    /**
     * {@code request_percpu_irq(irq, handler, devname, percpu_dev_id)} ({@code __request_percpu_irq} with
     * {@code flags} 0 or {@code IRQF_TIMER}): installs the one handler of a per-CPU line. The handler gets,
     * as its {@code dev_id}, {@code percpuDevId.apply(cpu)} for the CPU that took the interrupt (the kernel's
     * {@code this_cpu_ptr(dev_id)}); {@code free_percpu_irq} finds the handler by the identity of
     * {@code percpuDevId}. The line is then enabled on no CPU: each CPU calls {@link #enablePercpu} (the
     * kernel's comment says "on the local CPU", its code leaves it to the driver). No thread, no
     * unhandled-interrupt detection. May sleep.
     *
     * @param irq a per-CPU line
     * @param handler the handler, run on the CPU that took the interrupt
     * @param flags 0 or {@link #IRQF_TIMER}
     * @param name the action's name
     * @param percpuDevId maps a CPU number to that CPU's cookie, handed to the handler
     * @throws KernelException {@code EINVAL} without {@code percpuDevId}, on a line that is not per-CPU, or
     *                         with flags other than 0 and {@code IRQF_TIMER}; {@code EBUSY} when the line
     *                         already has its handler
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void requestPercpu(int irq, IrqHandler handler, int flags, String name,
                              java.util.function.IntFunction<?> percpuDevId) {
        machine.checkOpen();
        Objects.requireNonNull(handler, "handler");
        if (percpuDevId == null) {
            throw new KernelException(Errno.EINVAL, "request_percpu_irq(" + irq + "): no per-CPU dev_id");
        }
        IrqDesc desc = desc(irq);
        if (!desc.percpuDevId) {
            throw new KernelException(Errno.EINVAL, "request_percpu_irq(" + irq + "): not a per-CPU line (see"
                    + " irq_set_percpu_devid)");
        }
        if (flags != 0 && flags != IRQF_TIMER) {
            throw new KernelException(Errno.EINVAL, String.format("request_percpu_irq(%d): flags %#x (only 0 or"
                    + " IRQF_TIMER)", irq, flags));
        }
        if (name == null || name.isEmpty()) {
            throw new KernelException(Errno.EINVAL, "request_percpu_irq(" + irq + "): a handler needs a name");
        }
        int actionFlags = flags | IrqFlag.PERCPU.value() | IrqFlag.NO_SUSPEND.value();
        machine.current().mightSleep("request_percpu_irq");
        synchronized (desc) {
            IrqAction[] old = desc.actions;
            if (old.length > 0) {
                IrqAction first = old[0];
                reports.printk(KernelEvent.Kind.ERR, String.format("genirq: Flags mismatch irq %d. %08x (%s) vs. %08x (%s)",
                        irq, actionFlags, name, first.flags, first.name));
                throw new KernelException(Errno.EBUSY, "request_percpu_irq(" + irq + ", " + name + "): the line is"
                        + " held by '" + first.name + "'");
            }
            IrqAction action = new IrqAction(irq, handler, null, actionFlags, name, percpuDevId, 0, false);
            action.percpuDevId = percpuDevId;
            desc.irqCount = 0;
            desc.irqsUnhandled = 0;
            desc.oneshot = false;
            desc.noDebug = true;
            desc.depth = 1;               // per-CPU lines are never auto-enabled
            desc.disabled = true;
            desc.everRequested = true;
            desc.actions = new IrqAction[] {action};
        }
    }

    /** {@code IRQF_TIMER}: {@code __IRQF_TIMER | IRQF_NO_SUSPEND | IRQF_NO_THREAD}. */
    public static final int IRQF_TIMER = IrqFlag.TIMER_INTERNAL.value() | IrqFlag.NO_SUSPEND.value()
            | IrqFlag.NO_THREAD.value();

    /**
     * {@code enable_percpu_irq(irq, type)}: enables a per-CPU line on the calling CPU, first setting its
     * trigger type when {@code type} has one ({@code IRQ_TYPE_NONE} keeps the line's). An interrupt that
     * arrived on this CPU while the line was disabled here is taken now. Does nothing on a line that is not
     * per-CPU. Any context; per-CPU, so normally from the CPU itself (for example through
     * {@code on_each_cpu}).
     *
     * @param irq the per-CPU line
     * @param type {@code IRQ_TYPE_*} bits, or {@code IRQ_TYPE_NONE} to keep the line's
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void enablePercpu(int irq, int type) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (!desc.percpuDevId) {
            return;
        }
        int cpu = machine.current().cpuId();
        synchronized (desc) {
            type &= IRQ_TYPE_SENSE_MASK;
            if (type != 0) {
                desc.trigger = type;
            }
            desc.percpuEnabled.set(cpu, 1);
        }
        if (desc.percpuPending.getAndSet(cpu, 0) != 0) {
            latch(cpu, irq);
        }
    }

    /**
     * {@code disable_percpu_irq(irq)}: disables a per-CPU line on the calling CPU (interrupts wait).
     *
     * @param irq the per-CPU line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void disablePercpu(int irq) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (!desc.percpuDevId) {
            return;
        }
        desc.percpuEnabled.set(machine.current().cpuId(), 0);
    }

    /**
     * {@code irq_percpu_is_enabled(irq)}: whether the per-CPU line is enabled on the calling CPU.
     *
     * @param irq the per-CPU line
     * @return true when enabled on the calling CPU
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean percpuIsEnabled(int irq) {
        IrqDesc desc = desc(irq);
        return desc.percpuDevId && desc.percpuEnabled.get(machine.current().cpuId()) != 0;
    }

    /**
     * {@code free_percpu_irq(irq, percpu_dev_id)}: removes the handler of a per-CPU line. It must be disabled on
     * every CPU first: otherwise {@code percpu IRQ %d still enabled on CPU%d!} and nothing is freed. Another
     * {@code dev_id}: {@code Trying to free already-free IRQ %d}. From interrupt context:
     * {@code Trying to free IRQ %d from IRQ context!}, and it goes on, as in the kernel. Does nothing on a
     * line that is not per-CPU. Unlike {@code free_irq} it does not wait for a running handler.
     *
     * @param irq the per-CPU line
     * @param percpuDevId the function it was requested with
     * @throws KernelException {@code EINVAL} for a line that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void freePercpu(int irq, Object percpuDevId) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (!desc.percpuDevId) {
            return;
        }
        if (machine.current().inInterrupt()) {
            reports.warning("Trying to free IRQ " + irq + " from IRQ context!");
        }
        synchronized (desc) {
            IrqAction[] actions = desc.actions;
            if (actions.length == 0 || actions[0].devId != percpuDevId) {
                reports.warning("Trying to free already-free IRQ " + irq);
                return;
            }
            for (int cpu = 0; cpu < cpus.length; cpu++) {
                if (desc.percpuEnabled.get(cpu) != 0) {
                    reports.warning("percpu IRQ " + irq + " still enabled on CPU" + cpu + "!");
                    return;
                }
            }
            desc.actions = IrqDesc.NO_ACTIONS;
        }
    }

    /** {@code handle_percpu_devid_irq}: no serialisation, no depth, no unhandled-interrupt detection. */
    private void deliverPercpu(ExecutionContext ctx, Cpu cpu, IrqDesc desc) {
        int id = cpu.id();
        if (desc.percpuEnabled.get(id) == 0) {
            desc.percpuPending.set(id, 1);     // held by the controller until enable_percpu_irq on this CPU
            return;
        }
        cpu.irqEnter(ctx);
        try {
            desc.kstat.incrementAndGet(id);
            IrqAction[] actions = desc.actions;
            if (actions.length == 0) {
                desc.percpuEnabled.set(id, 0);
                reports.once("handle_percpu_devid_irq", KernelEvent.Kind.ERR, "Spurious and unmasked percpu IRQ"
                        + desc.irq + " on CPU" + id, null);
                return;
            }
            IrqAction action = actions[0];
            if (tracing.on(Tracepoint.IRQ_HANDLER_ENTRY)) {
                tracing.emit(Tracepoint.IRQ_HANDLER_ENTRY, "irq=" + desc.irq + " name=" + action.name);
            }
            HardIrqEvent jfr = Jfr.hardIrqBegin();
            int res;
            try {
                res = action.handler.handle(desc.irq, action.percpuDevId.apply(id));
            } catch (Throwable t) {
                handlerOopses.oops(action, action, a -> "irq " + a.irq + " handler " + a.name, t);
                res = IrqReturn.NONE;
            }
            if (jfr != null) {
                Jfr.hardIrqEnd(jfr, desc.irq, action.name, id, res, IrqReturn.describe(res));
            }
            if (tracing.on(Tracepoint.IRQ_HANDLER_EXIT)) {
                tracing.emit(Tracepoint.IRQ_HANDLER_EXIT, "irq=" + desc.irq + " ret="
                        + (res == IrqReturn.NONE ? "unhandled" : "handled"));
            }
        } finally {
            cpu.irqExit(ctx);
        }
    }

    /**
     * A device raises a per-CPU line on {@code cpu} (the CPU's own instance of the interrupt, as a PPI).
     * Any thread.
     *
     * @param irq the per-CPU line
     * @param cpu the CPU whose instance is raised
     * @throws KernelException {@code EINVAL} when the line is not per-CPU or the CPU does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void assertIrqOn(int irq, int cpu) {
        machine.checkOpen();
        IrqDesc desc = desc(irq);
        if (!desc.percpuDevId) {
            throw new KernelException(Errno.EINVAL, "irq " + irq + " is not a per-CPU line: its interrupts go to the"
                    + " CPU it is routed to (assertIrq)");
        }
        if (cpu < 0 || cpu >= cpus.length) {
            throw new KernelException(Errno.EINVAL, "CPU " + cpu + " does not exist");
        }
        latch(cpu, irq);
    }

    // ------------------------------------------------------------------------------------------
    // Autoprobing (kernel/irq/autoprobe.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code probe_irq_on()}: starts autoprobing. Every line without a handler (per-CPU lines excepted) is
     * started; after 20 ms it is marked as waiting; after another 100 ms the lines that fired meanwhile are
     * dropped as spurious. Returns the mask of the lines still waiting among 0–31. The caller then makes its
     * device interrupt and calls {@link #probeIrqOff}. Sleeps 120 ms (simulated in stepped mode); one prober
     * at a time (the kernel's {@code probing_active} mutex, held until {@code probe_irq_off}).
     *
     * @return the mask of lines 0–31 that did not fire by themselves, for {@link #probeIrqOff}
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public long probeIrqOn() {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        ctx.mightSleep("probe_irq_on");
        Thread me = Thread.currentThread();
        machine.waitUntil(() -> {
            synchronized (this) {
                if (prober == null) {
                    prober = me;
                }
                return prober == me;
            }
        }, "probe_irq_on");
        sleepMs(20, "probe_irq_on");
        for (IrqDesc desc : descs) {
            synchronized (desc) {
                if (desc.actions.length == 0 && !desc.percpuDevId) {
                    desc.waiting = true;
                    desc.autodetect = true;
                }
            }
        }
        sleepMs(100, "probe_irq_on");
        long mask = 0;
        for (IrqDesc desc : descs) {
            synchronized (desc) {
                if (desc.autodetect) {
                    if (!desc.waiting) {
                        desc.autodetect = false;       // fired already: spurious
                        desc.replayPending = false;
                    } else if (desc.irq < 32) {
                        mask |= 1L << desc.irq;
                    }
                }
            }
        }
        return mask;
    }

    /**
     * {@code probe_irq_off(val)}: ends autoprobing ({@code val}, the mask {@code probe_irq_on} returned, is
     * not used, as in 6.12). Returns the line that fired since {@code probe_irq_on}; 0 when none did; when
     * several did, the lowest of them negated.
     *
     * @param val the mask {@link #probeIrqOn} returned (unused)
     * @return the line that fired, 0 for none, the negated lowest line when several did
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int probeIrqOff(long val) {
        machine.checkOpen();
        int found = 0;
        int nr = 0;
        for (IrqDesc desc : descs) {
            synchronized (desc) {
                if (desc.autodetect) {
                    if (!desc.waiting) {
                        if (nr == 0) {
                            found = desc.irq;
                        }
                        nr++;
                    }
                    desc.autodetect = false;
                    desc.replayPending = false;    // irq_shutdown
                }
            }
        }
        synchronized (this) {
            if (prober == Thread.currentThread()) {
                prober = null;
            }
        }
        machine.wakeWaiters();
        return nr > 1 ? -found : found;
    }

    private void sleepMs(long ms, String what) {
        machine.sleepUntil(() -> false, machine.clock().nanoTime() + ms * 1_000_000L, what, false);
    }

    // ------------------------------------------------------------------------------------------
    // IRQ work (kernel/irq_work.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code irq_work_queue(work)}: queues {@code work} for the calling CPU; its function runs there in hard-IRQ
     * context soon after (the kernel's self-IPI) — after the current hard handler, or at once when the CPU
     * is idle. Any context.
     *
     * @param work an initialised item
     * @return false when it was already pending (not queued twice), true when queued
     * @throws IllegalStateException when the item was never set up, or the kernel is closed or has panicked
     */
    public boolean irqWorkQueue(IrqWork work) {
        return irqWorkQueueOn(work, machine.current().cpuId());
    }

    /**
     * {@code irq_work_queue_on(work, cpu)}: like {@link #irqWorkQueue} for {@code cpu} (the kernel uses the
     * function-call IPI for another CPU). Any context.
     *
     * @param work an initialised item
     * @param cpu the CPU that runs it
     * @return false when it was already pending
     * @throws KernelException {@code EINVAL} for a CPU that does not exist
     * @throws IllegalStateException when the item was never set up, or the kernel is closed or has panicked
     */
    public boolean irqWorkQueueOn(IrqWork work, int cpu) {
        machine.checkOpen();
        if (!work.initialised()) {
            throw new IllegalStateException("irq_work_queue(" + work.name() + ") of an item never set up: call"
                    + " init_irq_work() first");
        }
        if (cpu < 0 || cpu >= cpus.length) {
            throw new KernelException(Errno.EINVAL, "irq_work_queue_on: CPU " + cpu + " does not exist");
        }
        if (!work.claim()) {
            return false;
        }
        work.cpu = cpu;
        irqWorkLists[cpu].add(work);
        cpus[cpu].signalInterrupt();
        return true;
    }

    /**
     * {@code irq_work_sync(work)}: waits until {@code work} is neither pending nor running. Needs IRQs
     * enabled (lockdep's assertion otherwise) and may sleep. From the item's own function it would wait
     * for itself: reported, and it returns. In stepped mode it drives the item's CPU.
     *
     * @param work the item
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void irqWorkSync(IrqWork work) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (ctx.irqsDisabled()) {
            reports.warnOnce("irq_work_sync_irqs_disabled", "WARNING: irq_work_sync(" + work.name() + ") called with"
                    + " IRQs disabled (lockdep_assert_irqs_enabled)");
        }
        if (work.runner == ctx) {
            reports.bug("BUG: irq_work_sync(" + work.name() + ") called from the item's own function would wait"
                    + " for itself forever (deadlock)", new Throwable("irq_work_sync"));
            return;
        }
        ctx.mightSleep("irq_work_sync");
        if (!work.isBusy()) {
            return;
        }
        if (machine.stepped()) {
            int cpu = work.cpu;
            if (cpu >= 0) {
                Cpu target = cpus[cpu];
                machine.runAs(target.cpuContext(), () -> target.agent().doWork());
            }
            return;
        }
        machine.waitUntil(() -> !work.isBusy(), "irq_work_sync(" + work.name() + ")");
    }

    /**
     * IRQ-work interrupts {@code cpu} took (each runs every item queued for it until then).
     *
     * @param cpu the CPU
     * @return the count since boot
     */
    public long irqWorkInterrupts(int cpu) {
        return irqWorkInterrupts.get(cpu);
    }

    /** {@code irq_work_run_list}: one interrupt runs the items queued before it started. */
    private int runIrqWorks(ExecutionContext ctx, Cpu cpu) {
        java.util.concurrent.ConcurrentLinkedQueue<IrqWork> list = irqWorkLists[cpu.id()];
        int n = list.size();
        if (n == 0) {
            return 0;
        }
        cpu.irqEnter(ctx);
        irqWorkInterrupts.incrementAndGet(cpu.id());
        try {
            for (int i = 0; i < n; i++) {
                IrqWork w = list.poll();
                if (w == null) {
                    break;
                }
                w.runner = ctx;
                try {
                    w.run();
                } catch (Throwable t) {
                    irqWorkOopses.oops(w, w, x -> "irq_work " + x.name(), t);
                } finally {
                    w.runner = null;
                }
            }
        } finally {
            machine.wakeWaiters();
            cpu.irqExit(ctx);
        }
        return 1;
    }

    // ------------------------------------------------------------------------------------------
    // Unhandled-interrupt detection (kernel/irq/spurious.c)
    // ------------------------------------------------------------------------------------------

    private void noteInterrupt(IrqDesc desc, int actionRet) {
        if (desc.pollInProgress) {
            return;
        }
        if (actionRet < 0 || actionRet > (IrqReturn.HANDLED | IrqReturn.WAKE_THREAD)) {
            boolean report;
            synchronized (this) {
                report = bogusReportsLeft > 0;
                if (report) {
                    bogusReportsLeft--;
                }
            }
            if (report) {
                reportBadIrq(desc, actionRet);
            } else {
                reports.suppressed(KernelEvent.Kind.BUG);
            }
            return;
        }
        if ((actionRet & IrqReturn.WAKE_THREAD) != 0) {
            if (actionRet == IrqReturn.WAKE_THREAD) {
                if ((desc.threadsHandledLast & SPURIOUS_DEFERRED) == 0) {
                    desc.threadsHandledLast |= SPURIOUS_DEFERRED;
                    return;
                }
                int handled = desc.threadsHandled.get() | SPURIOUS_DEFERRED;
                if (handled != desc.threadsHandledLast) {
                    actionRet = IrqReturn.HANDLED;
                    desc.threadsHandledLast = handled;
                } else {
                    actionRet = IrqReturn.NONE;
                }
            } else {
                desc.threadsHandledLast &= ~SPURIOUS_DEFERRED;
            }
        }
        if (actionRet == IrqReturn.NONE) {
            long now = machine.jiffies();
            if (now - (desc.lastUnhandled + machine.hz() / 10) > 0) {
                desc.irqsUnhandled = 1;
            } else {
                desc.irqsUnhandled++;
            }
            desc.lastUnhandled = now;
        }
        if (desc.irqsUnhandled == 0) {
            return;
        }
        if (++desc.irqCount < SPURIOUS_WINDOW) {
            return;
        }
        desc.irqCount = 0;
        if (desc.irqsUnhandled > SPURIOUS_THRESHOLD) {
            reportBadIrq(desc, actionRet);
            reports.printk(KernelEvent.Kind.EMERG, "Disabling IRQ #" + desc.irq);
            synchronized (desc) {
                desc.spuriousDisabled = true;
                desc.depth++;
                desc.disabled = true;
            }
            if (pollDeadlineNs == Long.MAX_VALUE) {
                pollDeadlineNs = machine.clock().nanoTime() + pollIntervalNs;
                cpus[0].signalInterrupt();   // a new timed duty of CPU 0
            }
        }
        desc.irqsUnhandled = 0;
    }

    private void reportBadIrq(IrqDesc desc, int actionRet) {
        StringBuilder sb = new StringBuilder();
        if (actionRet < 0 || actionRet > (IrqReturn.HANDLED | IrqReturn.WAKE_THREAD)) {
            sb.append("irq event ").append(desc.irq).append(": bogus return value ").append(Integer.toHexString(actionRet));
        } else {
            sb.append("irq ").append(desc.irq).append(": nobody cared (try booting with the \"irqpoll\" option)");
        }
        sb.append("\nhandlers:");
        for (IrqAction a : desc.actions) {
            sb.append('\n').append(a.describe());
        }
        reports.bug(sb.toString(), new Throwable("note_interrupt"));
    }

    /** {@code poll_spurious_irqs}: runs the handlers of shared, spurious-disabled lines every HZ/10. */
    private int pollSpuriousIfDue(ExecutionContext ctx, Cpu cpu) {
        long now = machine.clock().nanoTime();
        if (now < pollDeadlineNs) {
            return 0;
        }
        pollDeadlineNs = now + pollIntervalNs;
        int polled = 0;
        for (int i = 1; i < descs.length; i++) {
            IrqDesc desc = descs[i];
            if (!desc.spuriousDisabled) {
                continue;
            }
            IrqAction[] actions = desc.actions;
            if (actions.length == 0 || !IrqFlag.SHARED.in(actions[0].flags) || IrqFlag.TIMER_INTERNAL.in(actions[0].flags)) {
                continue;
            }
            if (!desc.inProgress.compareAndSet(false, true)) {
                desc.replayPending = true;
                continue;
            }
            desc.pollInProgress = true;
            cpu.irqEnter(ctx);
            desc.runningOn = ctx;
            try {
                desc.kstat.incrementAndGet(cpu.id());
                handleIrqEvent(ctx, desc);
                polled++;
            } finally {
                desc.runningOn = null;
                desc.pollInProgress = false;
                desc.inProgress.set(false);
                machine.wakeWaiters();
                cpu.irqExit(ctx);
            }
        }
        return Math.max(polled, 1);
    }

    // ------------------------------------------------------------------------------------------
    // State for /proc and tests
    // ------------------------------------------------------------------------------------------

    /**
     * Interrupts of line {@code irq} taken on {@code cpu} (handled or not).
     *
     * @param irq the line
     * @param cpu the CPU
     * @return the count since boot
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public long count(int irq, int cpu) {
        return desc(irq).kstat.get(cpu);
    }

    /**
     * Interrupts of line {@code irq} taken on all CPUs.
     *
     * @param irq the line
     * @return the count since boot
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public long totalCount(int irq) {
        return desc(irq).totalCount();
    }

    /**
     * The line's disable depth.
     *
     * @param irq the line
     * @return the depth, 0 when enabled
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public int depth(int irq) {
        IrqDesc desc = desc(irq);
        synchronized (desc) {
            return desc.depth;
        }
    }

    /**
     * Whether the line is disabled (depth &gt; 0).
     *
     * @param irq the line
     * @return true when disabled
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean isDisabled(int irq) {
        return desc(irq).disabled;
    }

    /**
     * Whether a ONESHOT line is masked waiting for its threads.
     *
     * @param irq the line
     * @return true while masked
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean isMasked(int irq) {
        return desc(irq).masked;
    }

    /**
     * Whether the line was disabled by unhandled-interrupt detection ("nobody cared").
     *
     * @param irq the line
     * @return true when disabled as spurious
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean isSpuriousDisabled(int irq) {
        return desc(irq).spuriousDisabled;
    }

    /**
     * Whether an interrupt is latched for replay (arrived while disabled, masked or running).
     *
     * @param irq the line
     * @return true when a replay is pending
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean isReplayPending(int irq) {
        return desc(irq).replayPending;
    }

    /**
     * Whether line {@code irq}'s interrupts are triggered by level (shown as {@code level} in /proc).
     *
     * @param irq the line
     * @return true for a level-triggered line
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public boolean isLevelTriggered(int irq) {
        IrqDesc desc = desc(irq);
        synchronized (desc) {
            return (desc.trigger & (IrqFlag.TRIGGER_HIGH.value() | IrqFlag.TRIGGER_LOW.value())) != 0;
        }
    }

    /**
     * The names of the line's handlers, in chain order.
     *
     * @param irq the line
     * @return the names, a new list
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public List<String> actionNames(int irq) {
        List<String> names = new ArrayList<>();
        for (IrqAction a : desc(irq).actions) {
            names.add(a.name);
        }
        return names;
    }

    /**
     * The names of the line's handler threads ({@code irq/L-name}).
     *
     * @param irq the line
     * @return the names, a new list
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public List<String> threadNames(int irq) {
        List<String> names = new ArrayList<>();
        for (IrqAction a : desc(irq).actions) {
            if (a.thread != null) {
                names.add(a.thread.name());
            }
        }
        return names;
    }

    /**
     * The unhandled-interrupt state of a line, as {@code /proc/irq/N/spurious} shows it.
     *
     * @param count           interrupts counted in the current 100,000 window
     * @param unhandled       unhandled interrupts in the window
     * @param lastUnhandledMs jiffies of the last unhandled interrupt, in ms
     */
    public record SpuriousState(int count, int unhandled, long lastUnhandledMs) {
    }

    /**
     * The unhandled-interrupt counters of a line. Racy snapshot (the kernel's {@code /proc/irq/N/spurious}
     * is too).
     *
     * @param irq the line
     * @return the counters now
     * @throws KernelException {@code EINVAL} for a line that does not exist
     */
    public SpuriousState spurious(int irq) {
        IrqDesc desc = desc(irq);
        return new SpuriousState(desc.irqCount, desc.irqsUnhandled, desc.lastUnhandled * 1000 / machine.hz());
    }

    // ------------------------------------------------------------------------------------------
    // Closing the kernel
    // ------------------------------------------------------------------------------------------

    /**
     * Whether no interrupt is latched, no hard handler runs and no threaded handler is woken or running.
     * For {@code Kernel.close()}; any thread, a snapshot.
     */
    boolean idleForClose() {
        for (IrqDesc desc : descs) {
            if (desc != null && (!desc.quiescent() || desc.replayPending)) {
                return false;
            }
        }
        for (int i = 0; i < pending.length; i++) {
            if ((long) PENDING.getVolatile(pending, i) != 0) {
                return false;
            }
        }
        for (java.util.concurrent.ConcurrentLinkedQueue<IrqWork> list : irqWorkLists) {
            if (!list.isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Forgets every latched interrupt without delivering it, and every threaded handler's wake-up its thread
     * never served. For {@code Kernel.close()} once the runtime threads have stopped.
     *
     * @return one entry per dropped interrupt: {@code irq 24 (eth0) on CPU 0}, {@code irq/24-eth0 (thread
     *         wake-up)}
     */
    List<String> discardLatchedForClose() {
        List<String> dropped = new ArrayList<>();
        for (int cpu = 0; cpu < pending.length / words; cpu++) {
            for (int w = 0; w < words; w++) {
                long bits = (long) PENDING.getAndSet(pending, cpu * words + w, 0L);
                while (bits != 0) {
                    int irq = w * 64 + Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    dropped.add(describeForClose(irq) + " on CPU " + cpu);
                }
            }
        }
        for (int cpu = 0; cpu < irqWorkLists.length; cpu++) {
            IrqWork w;
            while ((w = irqWorkLists[cpu].poll()) != null) {
                w.cancelQueued();
                dropped.add("irq_work " + w.name() + " on CPU " + cpu);
            }
        }
        for (IrqDesc desc : descs) {
            if (desc != null && desc.replayPending) {
                desc.replayPending = false;
                dropped.add(describeForClose(desc.irq) + " (replay)");
            }
            for (IrqAction a : desc == null ? IrqDesc.NO_ACTIONS : desc.actions) {
                if (a.thread != null && a.thread.runnable()) { // woken (IRQTF_RUNTHREAD), never run
                    a.thread.cancelPendingRun();
                    dropped.add("irq/" + desc.irq + "-" + a.name + " (thread wake-up)");
                }
            }
        }
        return dropped;
    }

    private String describeForClose(int irq) {
        List<String> names = actionNames(irq);
        return "irq " + irq + (names.isEmpty() ? "" : " (" + String.join(", ", names) + ")");
    }
}
