package dev.bottomhalf.sched;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * A task ({@code struct task_struct}) as drivers see it: its {@code comm}, {@code pid} and scheduler state. One
 * per execution context: a task thread (bound with {@code Kernel.bindCurrentThread}, or attached implicitly) is
 * its own task, so are a kthread, a kworker, {@code ksoftirqd/N} and an {@code irq/L-name} thread, and the
 * {@code cpu/N} runtime thread is CPU N's idle task {@code swapper/N} (pid 0) — the task a hard IRQ, and the
 * softirqs run at its {@code irq_exit}, interrupt. Immutable identity; the state may be read from any thread.
 *
 * <p>Implementation notes. The state itself ({@code __state}) lives in the task's {@link ExecutionContext}
 * ({@link ExecutionContext#taskState()}), so that the timers' sleeping helpers below this package wake the same
 * state; wakers change it with one compare-and-set ({@code ExecutionContext.wakeUpState}). A pending signal is the
 * task thread's interrupt status; {@code SIGKILL} also sets {@link #fatalSignal}.
 */
public final class Task {
    /** {@code TASK_RUNNING}. */
    public static final int TASK_RUNNING = 0x0;
    /** {@code TASK_INTERRUPTIBLE}: a signal or a wake-up ends the sleep. */
    public static final int TASK_INTERRUPTIBLE = 0x1;
    /** {@code TASK_UNINTERRUPTIBLE}: only a wake-up ends the sleep. */
    public static final int TASK_UNINTERRUPTIBLE = 0x2;
    /** {@code TASK_PARKED}: a parked kthread. */
    public static final int TASK_PARKED = 0x40;
    /** {@code TASK_WAKEKILL}: a fatal signal ends the sleep. */
    public static final int TASK_WAKEKILL = 0x100;
    /** {@code TASK_NOLOAD}: not counted in the load average. */
    public static final int TASK_NOLOAD = 0x400;
    /** {@code TASK_KILLABLE}: uninterruptible, except for a fatal signal. */
    public static final int TASK_KILLABLE = TASK_WAKEKILL | TASK_UNINTERRUPTIBLE;
    /** {@code TASK_IDLE}: uninterruptible, not counted in the load average. */
    public static final int TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
    /** {@code TASK_NORMAL}: the states {@code wake_up} and {@code wake_up_process} wake. */
    public static final int TASK_NORMAL = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE;
    /** {@code TASK_COMM_LEN}: a comm holds at most 15 characters. */
    public static final int TASK_COMM_LEN = 16;

    private final ExecutionContext ctx;
    private final String comm;
    private final int pid;
    private final Kthread kthread;
    private final Thread thread;
    /** A {@code SIGKILL} was sent and not flushed. */
    volatile boolean fatalSignal;

    Task(ExecutionContext ctx, String comm, int pid, Kthread kthread, Thread thread) {
        this.ctx = ctx;
        this.comm = comm.length() < TASK_COMM_LEN ? comm : comm.substring(0, TASK_COMM_LEN - 1);
        this.pid = pid;
        this.kthread = kthread;
        this.thread = thread;
    }

    /**
     * {@code p->comm}: the name, cut to 15 characters as the kernel's.
     *
     * @return the name
     */
    public String comm() {
        return comm;
    }

    /**
     * {@code p->pid}: 0 for the idle tasks {@code swapper/N}, otherwise unique on its kernel.
     *
     * @return the pid
     */
    public int pid() {
        return pid;
    }

    /**
     * {@code READ_ONCE(p->__state)}: {@link #TASK_RUNNING} or the state it sleeps (or is about to sleep) in.
     *
     * @return the state
     */
    public int state() {
        return ctx.taskState();
    }

    /**
     * Whether this is a kthread ({@code p->flags & PF_KTHREAD}); kworkers and IRQ threads are kernel threads too.
     *
     * @return true for a kthread
     */
    public boolean isKthread() {
        return kthread != null || ctx.role() != ExecutionContext.Role.TASK;
    }

    /**
     * The context the task runs in.
     *
     * @return the execution context
     */
    public ExecutionContext context() {
        return ctx;
    }

    /** The kthread this task is, made by {@code kthread_create}, or null. */
    Kthread kthread() {
        return kthread;
    }

    /** The Java thread of a task thread (whose interrupt status is its pending signal); null for kernel threads. */
    Thread thread() {
        return thread;
    }

    @Override
    public String toString() {
        return comm + ":" + pid;
    }
}
