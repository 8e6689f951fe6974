package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.internal.runtime.CpuLevel;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.internal.runtime.SleepListener;

/**
 * The execution context of one thread of one kernel: the Java counterpart of the kernel's
 * {@code preempt_count} plus the local IRQ flag, with the kernel's context predicates. Confined: only
 * the thread currently executing the context may call its methods (in stepped mode the stepping
 * thread borrows runtime contexts one at a time).
 *
 * <p>The count keeps the kernel's layout: preemption depth in bits 0–7, the softirq
 * byte in bits 8–15 ({@link #SOFTIRQ_OFFSET} while serving softirqs, {@link #SOFTIRQ_DISABLE_OFFSET}
 * per {@code local_bh_disable}), hardirq nesting in bits 16–19. So in a BH-disabled task section
 * {@link #inInterrupt()} and {@link #inSoftirq()} are true while {@link #inServingSoftirq()} is false
 * and {@link #inTask()} is true — the kernel's gotcha, kept on purpose.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Ownership of the CPU's two exclusion levels follows the count: the context owns the
 * {@linkplain Cpu#bhLevelOwner() BH level} exactly while its softirq byte is non-zero (outside
 * hardirq), and the {@linkplain Cpu#irqLevelOwner() IRQ level} exactly while {@link #irqsDisabled()}.
 * Levels are taken and released only on the outermost transition.</li>
 * <li>Lock order: BH level before IRQ level. A context that already has IRQs disabled and must take
 * the BH level tries once; if another context holds it, it re-enables IRQs, takes the BH level and
 * disables IRQs again. The kernel needs no such step because a CPU cannot run two contexts at once;
 * we document it as a model deviation (it only happens when code disables BH inside an IRQ-disabled
 * section).</li>
 * <li>The task state ({@link #taskState()}, for {@code dev.bottomhalf.sched}) is the exception to
 * confinement: the owner writes it ({@code set_current_state}), any thread may wake it with one
 * compare-and-set ({@code wakeUpState}), which unparks the thread registered as sleeping in it.</li>
 * <li>In hardirq context {@code local_bh_disable}/{@code local_bh_enable} only count: a hard IRQ
 * already excludes every other context of its CPU in the kernel, and taking the BH level there could
 * deadlock against a task that holds BH and waits for the IRQ level.</li>
 * </ul>
 */
public final class ExecutionContext {
    /** Preemption-disable depth, bits 0–7. */
    public static final int PREEMPT_MASK = 0x0000_00ff;
    /** The softirq byte, bits 8–15. */
    public static final int SOFTIRQ_MASK = 0x0000_ff00;
    /** Hardirq nesting, bits 16–19. */
    public static final int HARDIRQ_MASK = 0x000f_0000;
    /** NMI nesting, bits 20–23 (never set by this library; kept for the layout). */
    public static final int NMI_MASK = 0x00f0_0000;
    /** Added by each {@code preempt_disable()}. */
    public static final int PREEMPT_OFFSET = 0x1;
    /** Added while serving softirqs. */
    public static final int SOFTIRQ_OFFSET = 0x100;
    /** Added by each {@code local_bh_disable()}. */
    public static final int SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET;
    /** Added on hard-IRQ entry ({@code irq_enter}). */
    public static final int HARDIRQ_OFFSET = 0x1_0000;

    /** The value {@link #localIrqSave()} returns when IRQs were enabled. */
    public static final long FLAGS_IRQS_ENABLED = 0;
    /** The value {@link #localIrqSave()} returns when IRQs were already disabled. */
    public static final long FLAGS_IRQS_DISABLED = 1;

    /** What a context is for. */
    public enum Role {
        /** {@code cpu/N}: hard IRQs and cross-CPU calls of CPU N, then softirqs at irq_exit. */
        CPU,
        /** {@code ksoftirqd/N}. */
        KSOFTIRQD,
        /** {@code irq/L-name}: a threaded IRQ handler. */
        IRQ_THREAD,
        /** {@code kworker/...}: a workqueue worker. */
        WORKER,
        /** A kthread ({@code kthread_create}, {@code dev.bottomhalf.sched}): its own task, named by its comm. */
        KTHREAD,
        /** Any other thread, bound to a CPU. */
        TASK
    }

    static {
        RuntimeAccess.install(new RuntimeBridge()); // first: the wiring's access to the members below
    }

    private static final ThreadLocal<ExecutionContext> CURRENT = new ThreadLocal<>();

    private final Machine machine;
    private final Role role;
    private final String name;
    /** A task's own thread (the one that attached it); null for runtime contexts, which threads borrow. */
    private final Thread taskThread;
    private Cpu cpu;
    private int preemptCount;
    private boolean irqsDisabled;
    /** The locking layer's per-context state (lockdep's held-lock stack); null until it needs one. */
    private Object lockState;

    ExecutionContext(Machine machine, Role role, String name, Cpu cpu) {
        this.machine = machine;
        this.role = role;
        this.name = name;
        this.cpu = cpu;
        this.taskThread = role == Role.TASK ? Thread.currentThread() : null;
    }

    // ------------------------------------------------------------------------------------------
    // Finding the current context
    // ------------------------------------------------------------------------------------------

    /**
     * The context of the calling thread, or null when the thread has none (not attached to any kernel).
     *
     * @return the context, or null
     */
    public static ExecutionContext currentOrNull() {
        if (Thread.currentThread() instanceof KernelThread kt) {
            return kt.context();
        }
        return CURRENT.get();
    }

    /**
     * The context of the calling thread. A task thread whose kernel has been closed is detached from it
     * here: it never gets a closed kernel's context back.
     *
     * @return the context
     * @throws IllegalStateException when the thread is attached to no kernel, or to one that is closed
     *         ({@code kernel is closed}) or panicked
     */
    public static ExecutionContext current() {
        ExecutionContext ctx = currentOrNull();
        if (ctx == null) {
            throw new IllegalStateException("thread '" + Thread.currentThread().getName()
                    + "' is not attached to a kernel: call kernel.bindCurrentThread(cpu) first, "
                    + "or make the call through a Kernel object");
        }
        if (ctx.role == Role.TASK && ctx.machine.closed() && CURRENT.get() == ctx) {
            CURRENT.remove();
            throw new IllegalStateException("kernel is closed: thread '" + Thread.currentThread().getName()
                    + "' was attached to a kernel that has been closed (it is detached now)");
        }
        ctx.machine.checkEntryIfRefusing(ctx);
        return ctx;
    }

    static ExecutionContext swapThreadContext(ExecutionContext ctx) {
        ExecutionContext previous = CURRENT.get();
        if (ctx == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(ctx);
        }
        return previous;
    }

    // ------------------------------------------------------------------------------------------
    // Identity
    // ------------------------------------------------------------------------------------------

    Machine machine() {
        return machine;
    }

    /**
     * What kind of context this is (a CPU's hard-IRQ thread, ksoftirqd, a worker, a task, ...); any thread.
     *
     * @return the role
     */
    public Role role() {
        return role;
    }

    /**
     * The thread name the kernel would show ({@code cpu/0}, {@code ksoftirqd/1}, a task's own name).
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * For a task, the thread it belongs to; null for a runtime context. Any thread.
     *
     * @return the thread, or null
     */
    public Thread taskThread() {
        return taskThread;
    }

    /** The CPU this context runs on. */
    Cpu cpu() {
        return cpu;
    }

    /**
     * The id of the CPU this context runs on ({@code smp_processor_id()} for its thread). Any thread.
     *
     * @return the CPU number
     */
    public int cpuId() {
        return cpu.id();
    }

    void rebind(Cpu newCpu) {
        if (role != Role.TASK && role != Role.KTHREAD) {
            throw new IllegalStateException(name + " is a runtime thread and stays on CPU " + cpu.id());
        }
        if (cpu != newCpu && (preemptCount != 0 || irqsDisabled)) {
            throw new IllegalStateException(name + " cannot move from CPU " + cpu.id() + " to CPU " + newCpu.id()
                    + " in atomic context (preempt_count " + hex(preemptCount) + ", irqs_disabled "
                    + irqsDisabled + ")");
        }
        cpu = newCpu;
    }

    /**
     * The per-context state of {@code dev.bottomhalf.locking} (lockdep's held locks, the kernel's
     * {@code current->held_locks}), or null. Only this context's thread.
     */
    Object lockState() {
        return lockState;
    }

    /** Sets the per-context state of {@code dev.bottomhalf.locking}. Only this context's thread. */
    void lockState(Object state) {
        this.lockState = state;
    }

    // ------------------------------------------------------------------------------------------
    // Predicates
    // ------------------------------------------------------------------------------------------

    /**
     * {@code preempt_count()}.
     *
     * @return the preempt count, with the kernel's bit layout
     */
    public int preemptCount() {
        return preemptCount;
    }

    /**
     * {@code in_hardirq()}: inside a hard-IRQ handler (or a cross-CPU function call).
     *
     * @return true in hardirq context
     */
    public boolean inHardirq() {
        return (preemptCount & HARDIRQ_MASK) != 0;
    }

    /**
     * {@code in_serving_softirq()}: executing a softirq handler, on any thread.
     *
     * @return true while a softirq handler runs
     */
    public boolean inServingSoftirq() {
        return (preemptCount & SOFTIRQ_OFFSET) != 0;
    }

    /**
     * {@code in_softirq()}: serving a softirq <em>or</em> BH disabled.
     *
     * @return true when the softirq count is non-zero
     */
    public boolean inSoftirq() {
        return (preemptCount & SOFTIRQ_MASK) != 0;
    }

    /**
     * {@code in_interrupt()}: hardirq, serving softirq, or BH disabled (true in BH-disabled task code).
     *
     * @return true in interrupt context or with BH disabled
     */
    public boolean inInterrupt() {
        return (preemptCount & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) != 0;
    }

    /**
     * {@code in_task()}: not in hardirq and not serving a softirq — true with BH disabled.
     *
     * @return true in task context
     */
    public boolean inTask() {
        return (preemptCount & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)) == 0;
    }

    /**
     * {@code in_atomic()}: {@code preempt_count() != 0}.
     *
     * @return true when the preempt count is non-zero
     */
    public boolean inAtomic() {
        return preemptCount != 0;
    }

    /**
     * {@code irqs_disabled()}.
     *
     * @return true when local IRQs are off
     */
    public boolean irqsDisabled() {
        return irqsDisabled;
    }

    /**
     * {@code preemptible()}: count 0 and IRQs enabled.
     *
     * @return true when preemptible
     */
    public boolean preemptible() {
        return preemptCount == 0 && !irqsDisabled;
    }

    /**
     * {@code interrupt_context_level()}: 0 task, 1 serving softirq, 2 hardirq, 3 NMI.
     *
     * @return the level, 0..3
     */
    public int interruptContextLevel() {
        if ((preemptCount & NMI_MASK) != 0) {
            return 3;
        }
        if (inHardirq()) {
            return 2;
        }
        return inServingSoftirq() ? 1 : 0;
    }

    /**
     * A short description for reports: {@code hardirq}, {@code softirq}, {@code task, BH disabled}, ...
     *
     * @return the description
     */
    public String describe() {
        if (inHardirq()) {
            return "hardirq";
        }
        if (inServingSoftirq()) {
            return "softirq";
        }
        StringBuilder sb = new StringBuilder("task");
        if (inSoftirq()) {
            sb.append(", BH disabled");
        }
        if (irqsDisabled) {
            sb.append(", IRQs disabled");
        }
        if ((preemptCount & PREEMPT_MASK) != 0) {
            sb.append(", preemption disabled");
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------
    // Local IRQ masking
    // ------------------------------------------------------------------------------------------

    /** {@code local_irq_disable()}: does not nest; hard IRQs for this CPU wait until enabled. */
    public void localIrqDisable() {
        if (!irqsDisabled) {
            cpu.irqLevel().acquire(this);
            irqsDisabled = true;
        }
    }

    /** {@code local_irq_enable()}: always unmasks, whatever the nesting. */
    public void localIrqEnable() {
        if (irqsDisabled) {
            irqsDisabled = false;
            cpu.irqLevel().release(this);
        }
    }

    /**
     * {@code local_irq_save(flags)}: disables and returns the previous state for {@link #localIrqRestore}.
     *
     * @return {@link #FLAGS_IRQS_DISABLED} or {@link #FLAGS_IRQS_ENABLED}, for {@link #localIrqRestore}
     */
    public long localIrqSave() {
        long flags = irqsDisabled ? FLAGS_IRQS_DISABLED : FLAGS_IRQS_ENABLED;
        localIrqDisable();
        return flags;
    }

    /**
     * {@code local_irq_restore(flags)}: returns to the state {@link #localIrqSave()} found. Restoring
     * while IRQs are enabled is reported as {@code raw_local_irq_restore() called with IRQs enabled}
     * (the kernel's {@code CONFIG_DEBUG_IRQFLAGS} check).
     *
     * @param flags what {@link #localIrqSave()} returned
     */
    public void localIrqRestore(long flags) {
        if (!irqsDisabled) {
            machine.reports().warnOnce("raw_local_irq_restore",
                    "raw_local_irq_restore() called with IRQs enabled");
        }
        if (flags == FLAGS_IRQS_DISABLED) {
            localIrqDisable();
        } else {
            localIrqEnable();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Bottom-half disabling
    // ------------------------------------------------------------------------------------------

    /** {@code local_bh_disable()}: nests; softirqs of this CPU wait until the outermost enable. */
    public void localBhDisable() {
        if ((preemptCount & SOFTIRQ_MASK) == SOFTIRQ_MASK - SOFTIRQ_OFFSET) {
            throw new IllegalStateException("local_bh_disable() nested more than 127 deep: the softirq byte of"
                    + " preempt_count would overflow");
        }
        if ((preemptCount & SOFTIRQ_MASK) == 0 && !inHardirq()) {
            takeBhLevel();
        }
        preemptCount += SOFTIRQ_DISABLE_OFFSET;
    }

    private void takeBhLevel() {
        CpuLevel bh = cpu.bhLevel();
        if (!irqsDisabled) {
            bh.acquire(this);
        } else if (!bh.tryAcquire(this)) {
            // Lock order is BH before IRQ: step out of the IRQ level while waiting (see class notes).
            localIrqEnable();
            bh.acquire(this);
            localIrqDisable();
        }
    }

    /**
     * {@code local_bh_enable()}: the outermost enable runs this CPU's pending softirqs on the calling
     * thread before it returns. Called from hardirq context it is reported
     * ({@code local_bh_enable() called from hardirq context}, the kernel's WARN_ON_ONCE) and only counts.
     */
    public void localBhEnable() {
        if ((preemptCount & SOFTIRQ_MASK) < SOFTIRQ_DISABLE_OFFSET) {
            debugLocksWarnOn("DEBUG_LOCKS_WARN_ON(val > preempt_count()): local_bh_enable() without "
                    + "local_bh_disable() (preempt_count " + hex(preemptCount) + ")");
            return;
        }
        if (inHardirq()) {
            machine.reports().warnOnce("local_bh_enable_hardirq", "local_bh_enable() called from hardirq context");
            preemptCount -= SOFTIRQ_DISABLE_OFFSET;
            return;
        }
        if (irqsDisabled) {
            machine.reports().warnOnce("local_bh_enable_irqs_off",
                    "local_bh_enable() called with IRQs disabled (lockdep_assert_irqs_enabled)");
        }
        // As the kernel: drop all but one preemption level, run pending work, then drop the last one.
        preemptCount -= SOFTIRQ_DISABLE_OFFSET - PREEMPT_OFFSET;
        if ((preemptCount & SOFTIRQ_MASK) == 0) {
            machine.softirqEntry().runPendingThenRelease(this);
        }
        preemptCount -= PREEMPT_OFFSET;
    }

    /**
     * {@code _local_bh_enable()}: re-enables bottom halves without running pending softirqs (they wait
     * for the next exit point: an irq_exit, another local_bh_enable, or ksoftirqd).
     */
    public void localBhEnableNoRun() {
        if ((preemptCount & SOFTIRQ_MASK) < SOFTIRQ_DISABLE_OFFSET) {
            debugLocksWarnOn("DEBUG_LOCKS_WARN_ON(val > preempt_count()): _local_bh_enable() without "
                    + "local_bh_disable() (preempt_count " + hex(preemptCount) + ")");
            return;
        }
        preemptCount -= SOFTIRQ_DISABLE_OFFSET;
        if ((preemptCount & SOFTIRQ_MASK) == 0 && !inHardirq()) {
            cpu.bhLevel().release(this);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Preemption and sleeping
    // ------------------------------------------------------------------------------------------

    /** {@code preempt_disable()}. */
    public void preemptDisable() {
        if ((preemptCount & PREEMPT_MASK) == PREEMPT_MASK) {
            throw new IllegalStateException("preempt_disable() nested more than 255 deep");
        }
        preemptCount += PREEMPT_OFFSET;
    }

    /**
     * {@code preempt_enable()}. Without a matching {@code preempt_disable()} it changes nothing and reports
     * the check of the kernel's {@code preempt_count_sub()} that fails: {@code val > preempt_count()} when the
     * whole count is 0, {@code (val < PREEMPT_MASK) && !(preempt_count() & PREEMPT_MASK)} when only the
     * preemption byte is.
     */
    public void preemptEnable() {
        if ((preemptCount & PREEMPT_MASK) == 0) {
            debugLocksWarnOn((preemptCount == 0 ? "DEBUG_LOCKS_WARN_ON(val > preempt_count())"
                    : "DEBUG_LOCKS_WARN_ON((val < PREEMPT_MASK) && !(preempt_count() & PREEMPT_MASK))")
                    + ": preempt_enable() without preempt_disable() (preempt_count " + hex(preemptCount) + ")");
            return;
        }
        preemptCount -= PREEMPT_OFFSET;
    }

    /**
     * {@code DEBUG_LOCKS_WARN_ON(c)}: a {@code WARN} only if it is the first lockdep report of this kernel
     * ({@code debug_locks_off()} turns lockdep off on the first one); counted either way.
     */
    private void debugLocksWarnOn(String message) {
        machine.reports().lockdep(KernelEvent.Kind.WARNING, message, new Throwable("WARNING: " + message));
    }

    private volatile SleepListener sleepListener;

    /** Sets the listener told about this context's sleeps (null: none). */
    void sleepListener(SleepListener listener) {
        this.sleepListener = listener;
    }

    /** Called by the kernel's sleeping primitives just before this context blocks. */
    void sleepStarts() {
        SleepListener l = sleepListener;
        if (l != null) {
            l.sleeping(this);
        }
    }

    /** Called by the kernel's sleeping primitives when this context runs again. */
    void sleepEnds() {
        SleepListener l = sleepListener;
        if (l != null) {
            l.running(this);
        }
    }

    /**
     * {@code might_sleep()}: called at the top of every call that can block. In atomic context (or with
     * IRQs disabled) it reports {@code BUG: sleeping function called from invalid context at <where>}
     * with the kernel's detail lines and returns false; a caller whose wait could never end from here
     * (it would wait for this very context) then returns instead of hanging. As the kernel's
     * {@code __might_resched()}, at most one report per second ({@code HZ} jiffies) on this kernel: the
     * others are counted, with no {@code callbacks suppressed} line.
     *
     * @param where the blocking call, e.g. {@code tasklet_kill}
     * @return true when sleeping is legal here
     */
    public boolean mightSleep(String where) {
        return mightSleep(where, null);
    }

    /**
     * {@link #mightSleep(String)} for a blocking call that is not one of the kernel's own — a JDK call such
     * as {@code Thread.sleep} found by an instrumentation agent (the {@code bottomhalf-blockhound} module):
     * the same test, report and rate limit, with the caller's stack.
     *
     * @param where the frame that made the call, e.g. {@code com.example.Nic.rx(Nic.java:42)}
     * @param stack the stack the report carries; null: one made here
     * @return true when sleeping is legal here
     */
    public boolean mightSleep(String where, Throwable stack) {
        if (preemptCount == 0 && !irqsDisabled) {
            return true;
        }
        Reports reports = machine.reports();
        if (!reports.mightResched().allow(KernelEvent.Kind.BUG)) {
            return false;
        }
        reports.bug("BUG: sleeping function called from invalid context at " + where + "\n"
                + "in_atomic(): " + (inAtomic() ? 1 : 0) + ", irqs_disabled(): " + (irqsDisabled ? 1 : 0)
                + ", non_block: 0, pid: " + Thread.currentThread().threadId() + ", name: " + name + "\n"
                + "preempt_count: " + Integer.toHexString(preemptCount) + ", expected: 0",
                stack != null ? stack : new Throwable(where));
        return false;
    }

    // ------------------------------------------------------------------------------------------
    // The task's scheduler state (dev.bottomhalf.sched)
    // ------------------------------------------------------------------------------------------

    private static final java.lang.invoke.VarHandle TASK_STATE;

    static {
        try {
            TASK_STATE = java.lang.invoke.MethodHandles.lookup().findVarHandle(ExecutionContext.class, "taskState",
                    int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The task's {@code __state}: 0 ({@code TASK_RUNNING}) or the state it set to sleep in. [A] */
    private volatile int taskState;
    /** The {@code dev.bottomhalf.sched} task of this context, made on first use; written once. */
    private volatile Object task;
    /** The thread sleeping in this context's task state (parked until it is running again), or null. [A] */
    private volatile Thread sleeper;

    /**
     * The scheduler state of the task this context is ({@code READ_ONCE(p->__state)}): 0 while it runs, else
     * the {@code TASK_*} bits it set before sleeping. Any thread.
     *
     * @return 0, or the {@code TASK_*} bits
     */
    public int taskState() {
        return taskState;
    }

    /** {@code set_current_state(state)}: a volatile write, ordered before the caller's next volatile read. */
    void setTaskState(int state) {
        taskState = state;
    }

    /**
     * {@code try_to_wake_up(p, mask)}: when the task's state has a bit of {@code mask} it becomes running
     * (0) and the thread sleeping in it, if one is parked, is unparked — that thread alone; otherwise nothing
     * happens. Any thread, any context.
     *
     * <p>No lost wake-up: the sleeper publishes itself ({@code sleepingThread}) before it reads the state and
     * parks; the waker writes the state before it reads the sleeper. Both are volatile, so either the waker
     * unparks the sleeper (an unpark before the park makes the park return) or the sleeper sees the state.
     *
     * @return whether this call woke the task
     */
    boolean wakeUpState(int mask) {
        for (;;) {
            int s = taskState;
            if ((s & mask) == 0) {
                return false;
            }
            if (TASK_STATE.compareAndSet(this, s, 0)) {
                Thread t = sleeper;
                if (t != null) {
                    java.util.concurrent.locks.LockSupport.unpark(t);
                }
                return true;
            }
        }
    }

    /**
     * The thread about to sleep until this task runs again ({@code thread}), or null when it stopped sleeping.
     * Called by that thread around its sleep, before it reads the state.
     */
    void sleepingThread(Thread thread) {
        sleeper = thread;
    }

    /**
     * {@code kthread_bind}: moves a kthread's context to {@code newCpu}. For {@code dev.bottomhalf.sched}, while
     * the kthread is not running (created and not woken, or asleep).
     *
     * @throws IllegalStateException for any other context
     */
    void bindKthread(Cpu newCpu) {
        if (role != Role.KTHREAD) {
            throw new IllegalStateException(name + " is not a kthread");
        }
        rebind(newCpu);
    }

    /** The {@code dev.bottomhalf.sched} task object of this context, or null before its first use. Any thread. */
    Object task() {
        return task;
    }

    /** Sets the task object of this context unless one is set; returns the one that is. Any thread. */
    synchronized Object taskIfAbsent(java.util.function.Supplier<Object> make) {
        Object t = task;
        if (t == null) {
            t = make.get();
            task = t;
        }
        return t;
    }

    // ------------------------------------------------------------------------------------------
    // Runtime-internal transitions
    // ------------------------------------------------------------------------------------------

    /** {@code irq_enter()}: enters hardirq context with IRQs disabled. */
    void irqEnter() {
        preemptCount += HARDIRQ_OFFSET;
        if (!irqsDisabled) {
            cpu.irqLevel().acquire(this);
            irqsDisabled = true;
        }
    }

    /** Leaves hardirq context; IRQs are enabled again. Softirq processing is the caller's next step. */
    void irqLeave() {
        assert inHardirq() : name + " is not in hardirq context";
        localIrqEnable();
        preemptCount -= HARDIRQ_OFFSET;
    }

    /** Sets the count back after a handler leaked a change (the kernel restores it the same way). */
    void restorePreemptCount(int count) {
        int leakedSoftirq = preemptCount & SOFTIRQ_MASK;
        int wantedSoftirq = count & SOFTIRQ_MASK;
        preemptCount = count;
        if (!inHardirq() && leakedSoftirq != 0 && wantedSoftirq == 0 && cpu.bhLevel().isOwnedBy(this)) {
            cpu.bhLevel().release(this);
        }
    }

    /** Adds or removes the serving-softirq offset; the caller owns the BH level. */
    void enterServingSoftirq() {
        assert cpu.bhLevel().isOwnedBy(this) || inHardirq() : name + " serves softirqs without the BH level";
        preemptCount += SOFTIRQ_OFFSET;
    }

    void leaveServingSoftirq() {
        preemptCount -= SOFTIRQ_OFFSET;
    }

    /** Makes IRQs enabled again after a handler returned with them disabled; returns whether it had to. */
    boolean forceIrqsEnabled() {
        if (irqsDisabled) {
            localIrqEnable();
            return true;
        }
        return false;
    }

    /** Makes IRQs disabled again after a hard-IRQ handler enabled them; returns whether it had to. */
    boolean forceIrqsDisabled() {
        if (!irqsDisabled) {
            localIrqDisable();
            return true;
        }
        return false;
    }

    static String hex(int count) {
        return String.format("%08x", count);
    }

    @Override
    public String toString() {
        return name + " on CPU " + cpu.id() + " [" + describe() + ", preempt_count " + hex(preemptCount) + "]";
    }
}
