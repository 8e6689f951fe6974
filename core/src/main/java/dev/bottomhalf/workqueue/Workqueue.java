package dev.bottomhalf.workqueue;

import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A workqueue ({@code struct workqueue_struct}), made by {@link Workqueues#alloc}: a name, flags, a
 * {@code max_active} limit, and one pool-workqueue per CPU (per-CPU and BH workqueues) or a single one
 * (unbound and ordered workqueues). Also a {@link java.util.concurrent.Executor}: {@link #execute}
 * queues a fresh work item per task on this workqueue.
 *
 * <p>Implementation notes: fields carry the ownership tags of the package legend
 * ({@code docs/subsystems/workqueue.md}, "Ownership"). The flush color ({@code workColor}) is advanced by a
 * flusher while it holds every pool lock of the workqueue, and read by queueing under the lock of its pool, so
 * "queued before the flush" is exact. {@code flusher} serialises flushers (the kernel lets them overlap; the
 * observable result — each returns when everything queued before its call has run — is the same). It is a
 * sleeping lock of the kernel's own (claimed by compare-and-set, waited for in the kernel's one wait), not a
 * Java lock: a kworker waiting for it in stepped mode must give the baton away, and its pool must see it sleep.
 */
public final class Workqueue implements Executor {
    /** {@code WQ_BH}: items run in softirq context on the queueing CPU. */
    public static final int WQ_BH = 1 << 0;
    /** {@code WQ_UNBOUND}: served by unbound pools, no concurrency management. */
    public static final int WQ_UNBOUND = 1 << 1;
    /** {@code WQ_FREEZABLE}: takes part in system freeze. */
    public static final int WQ_FREEZABLE = 1 << 2;
    /** {@code WQ_MEM_RECLAIM}: has a rescuer, so it makes progress even when no worker can be created. */
    public static final int WQ_MEM_RECLAIM = 1 << 3;
    /** {@code WQ_HIGHPRI}: the high-priority pools (HI_SOFTIRQ for BH). */
    public static final int WQ_HIGHPRI = 1 << 4;
    /** {@code WQ_CPU_INTENSIVE}: items do not count for concurrency management. */
    public static final int WQ_CPU_INTENSIVE = 1 << 5;
    /** {@code WQ_SYSFS}: accepted, no effect here. */
    public static final int WQ_SYSFS = 1 << 6;
    /** {@code WQ_POWER_EFFICIENT}: per-CPU here (as without {@code workqueue.power_efficient}). */
    public static final int WQ_POWER_EFFICIENT = 1 << 7;
    /** {@code WQ_PERCPU}: explicitly per-CPU. */
    public static final int WQ_PERCPU = 1 << 8;
    /** {@code __WQ_ORDERED} (internal): one item at a time, in queueing order. */
    static final int WQ_ORDERED = 1 << 17;
    /**
     * {@code __WQ_LEGACY} (internal): made by {@code create*_workqueue()}; its items may flush a
     * {@code !WQ_MEM_RECLAIM} workqueue without {@code check_flush_dependency}'s warning.
     */
    static final int WQ_LEGACY = 1 << 18;

    /** {@code WQ_NAME_LEN}: a name keeps at most {@code WQ_NAME_LEN - 1} characters (the kernel's buffer and NUL). */
    public static final int WQ_NAME_LEN = 32;

    /** {@code WQ_MAX_ACTIVE} (v6.13+). */
    public static final int WQ_MAX_ACTIVE = 2048;
    /** {@code WQ_DFL_ACTIVE}: what {@code max_active == 0} means. */
    public static final int WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2;
    /** {@code WQ_UNBOUND_MAX_ACTIVE}. */
    public static final int WQ_UNBOUND_MAX_ACTIVE = WQ_MAX_ACTIVE;

    /** [I] The workqueue subsystem that made it. */
    final Workqueues owner;
    /** [I] Its name (truncated as the kernel truncates). */
    private final String name;
    /** [I] {@code WQ_*} flags. */
    final int flags;
    /**
     * [A] {@code max_active}: written by {@code workqueue_set_max_active} (volatile, no lock), read under the pool
     * locks.
     */
    volatile int maxActive;
    /** [I] Per CPU (per-CPU and BH workqueues) or a single entry (unbound, ordered). */
    final PoolWorkqueue[] pwqs;
    /**
     * [M] {@code nr_drainers}: while > 0 only chained queueing is accepted; changed under {@code synchronized (this)},
     * read volatile.
     */
    volatile int draining;
    /** [A] Set once by {@code destroy_workqueue}; queueing reads it. */
    volatile boolean destroyed;
    /**
     * [W] The flush color new items get: advanced by the flusher holding every pool lock of this workqueue, read under
     * any one.
     */
    volatile int workColor;
    /** [A] The thread flushing this workqueue, or null ({@code WorkqueueFlush.lockFlush}): claimed by CAS. */
    final AtomicReference<Thread> flusher = new AtomicReference<>();
    /** [A] The rescuer of a {@code WQ_MEM_RECLAIM} workqueue, else null (cleared by destroy). */
    volatile Rescuer rescuer;
    /** [A] Delayed items whose timers are armed to queue on this workqueue (for destroy's report). */
    final java.util.concurrent.atomic.AtomicInteger armedDelayed = new java.util.concurrent.atomic.AtomicInteger();

    Workqueue(Workqueues owner, String name, int flags, int maxActive, PoolWorkqueue[] pwqs) {
        this.owner = owner;
        this.name = name;
        this.flags = flags;
        this.maxActive = maxActive;
        this.pwqs = pwqs;
    }

    /**
     * The workqueue's name, as allocated (truncated to {@code WQ_NAME_LEN - 1}); any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * The {@code WQ_*} flags it was allocated with.
     *
     * @return the flags
     */
    public int flags() {
        return flags & ~(WQ_ORDERED | WQ_LEGACY);
    }

    /**
     * The effective {@code max_active}.
     *
     * @return the current limit
     */
    public int maxActive() {
        return maxActive;
    }

    /**
     * Whether this is a BH workqueue ({@code WQ_BH}): its items run in softirq context.
     *
     * @return true for a BH workqueue
     */
    public boolean isBh() {
        return (flags & WQ_BH) != 0;
    }

    /**
     * Whether this workqueue is unbound ({@code WQ_UNBOUND}): its items run on the unbound pools.
     *
     * @return true when unbound
     */
    public boolean isUnbound() {
        return (flags & WQ_UNBOUND) != 0;
    }

    /**
     * Whether this is an ordered workqueue ({@code alloc_ordered_workqueue}): one item at a time, in order.
     *
     * @return true when ordered
     */
    public boolean isOrdered() {
        return (flags & WQ_ORDERED) != 0;
    }

    boolean isPerCpu() {
        return pwqs.length > 1 || (!isUnbound() && !isOrdered());
    }

    /** The pool-workqueue serving {@code cpu}. */
    PoolWorkqueue pwq(int cpu) {
        return pwqs.length == 1 ? pwqs[0] : pwqs[cpu];
    }

    /**
     * {@link java.util.concurrent.Executor}: queues {@code task} as a fresh work item on this workqueue, on the
     * calling thread's CPU; the item is named after the task's class. (Two objects per task: the item and its
     * function. {@link WorkqueueExecutor#execute} reuses its items and allocates nothing.)
     *
     * @throws RejectedExecutionException if the workqueue has been destroyed
     */
    @Override
    public void execute(Runnable task) {
        Objects.requireNonNull(task, "task");
        if (destroyed) {
            throw new RejectedExecutionException("workqueue " + name + " has been destroyed");
        }
        Work w = new Work(task.getClass().getName(), x -> task.run());
        owner.queue(this, w);
    }

    @Override
    public String toString() {
        return "workqueue[" + name + "]";
    }
}
