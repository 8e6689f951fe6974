package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * A work item ({@code struct work_struct}): a function owned by its user, queued on a workqueue and run
 * by a worker in process context (or in softirq context on a BH workqueue). See {@link Workqueues} for the
 * operations. Intrusive: queueing allocates nothing.
 *
 * <p>Implementation notes (concurrency). Fields carry the ownership tags of the package legend
 * ({@code docs/subsystems/workqueue.md}, "Ownership").
 * <ul>
 * <li>{@code data} is the kernel's atomic word, reduced to what is observable: bit 0
 * {@code WORK_STRUCT_PENDING} and, above {@link #DISABLE_SHIFT}, the 16-bit disable depth. Queueing sets
 * PENDING with one CAS that also checks the depth, so a disabled item is refused without ever looking
 * pending. Whoever sets PENDING owns the item until it is linked on a list or handed back.</li>
 * <li>{@code pwq}, {@code next}/{@code prev}, {@code list}, {@code color}, {@code inactive} describe where a
 * queued item is; they are written under the lock of the pool that holds the item. {@code pwq} is volatile
 * so that a canceller can find the pool to lock, then re-check it under that lock.</li>
 * <li>{@code lastPool} (volatile) is the pool that last queued or ran it: the non-reentrancy check looks
 * there for a worker still running it. {@code queuedSeq}/{@code doneSeq} number the queueing instances,
 * so {@code flush_work} can wait for "the last instance queued before the call".</li>
 * <li>Release stores. {@code pwq}, {@code lastPool}, {@code lastWq} and {@code queuedSeq} are volatile for
 * their lock-free readers, but every write is a release store ({@link #setPwq} and the other setters), not a
 * volatile one: on the hot path a volatile store costs a full StoreLoad fence, and none of these writes is
 * followed by a read that relies on it being globally visible first (no store-then-load handshake). Each is
 * either made under the pool lock, whose readers re-check under that lock, or published by the atomic that
 * follows it in the same thread: the incoming list's push after {@code pwq} is set, the PENDING clear
 * ({@link #clearPending}, a full fence) after {@code pwq} is cleared and {@code lastPool} set as the item
 * starts. So a thread that claims PENDING after that clear sees where the item last ran (non-reentrancy),
 * and a reader that races sees an older value and retries under the lock. {@code doneSeq} too: the flush
 * waiter and the worker, a store-then-load handshake on both sides, meet at the pool lock instead of at a fence
 * (the waiter counts itself, then looks under the lock; the worker writes and reads the count under it;
 * {@code WorkqueueFlush}'s notes).
 * {@code WorkqueuePublicationStress} races each of these publications.</li>
 * </ul>
 */
public final class Work {
    /** {@code void (*work_func_t)(struct work_struct *)}. */
    @FunctionalInterface
    public interface Func {
        /**
         * Runs the item; called by a worker thread (in softirq context for a BH workqueue).
         *
         * @param work the item being run, for {@link Work#container(Class)} or {@link DelayedWork#of}
         */
        void run(Work work);
    }

    /** {@code WORK_BUSY_PENDING}: {@link Workqueues#workBusy} — queued, or its delay timer is armed. */
    public static final int WORK_BUSY_PENDING = 1 << 0;
    /** {@code WORK_BUSY_RUNNING}: {@link Workqueues#workBusy} — a worker of its pool is running it. */
    public static final int WORK_BUSY_RUNNING = 1 << 1;

    static final long PENDING = 1L;
    static final int DISABLE_SHIFT = 8;
    static final long DISABLE_MAX = 0xFFFF;
    static final long DISABLE_MASK = DISABLE_MAX << DISABLE_SHIFT;

    private static final VarHandle DATA;
    private static final VarHandle PWQ;
    private static final VarHandle LAST_POOL;
    private static final VarHandle LAST_WQ;
    private static final VarHandle QUEUED_SEQ;
    private static final VarHandle DONE_SEQ;
    private static final VarHandle NAME;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            DATA = l.findVarHandle(Work.class, "data", long.class);
            PWQ = l.findVarHandle(Work.class, "pwq", PoolWorkqueue.class);
            LAST_POOL = l.findVarHandle(Work.class, "lastPool", WorkerPool.class);
            LAST_WQ = l.findVarHandle(Work.class, "lastWq", Workqueue.class);
            QUEUED_SEQ = l.findVarHandle(Work.class, "queuedSeq", long.class);
            DONE_SEQ = l.findVarHandle(Work.class, "doneSeq", long.class);
            NAME = l.findVarHandle(Work.class, "name", String.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** [A] PENDING and the disable depth (class notes); changed by CAS through DATA. */
    @SuppressWarnings("unused") // through DATA
    private volatile long data;
    /** [A] {@code work->func}: written by {@code INIT_WORK} while the item is not pending. */
    private volatile Func func;
    /** [A] The name for reports: written by {@code INIT_WORK}. */
    private volatile String name;

    // Where it is queued: written under the lock of the pool that holds it.
    /**
     * [LR] The pool-workqueue it is queued on, or null: written under that pool's lock (or before the item is
     * published on a pool's incoming list); read without it to find the pool to lock, then re-checked under it.
     */
    volatile PoolWorkqueue pwq;
    /** [L] The list it is on (a worklist, an inactive list, a worker's scheduled list), or null. */
    WorkList list;
    /**
     * [L] The link of that list; while the item is on a pool's incoming list, [A] (that list's release/acquire links).
     */
    Work next;
    /** [L] The back link of that list. */
    Work prev;
    /** [L] {@code work_color}: the flush color it was queued with. */
    int color;
    /** [L] {@code WORK_STRUCT_INACTIVE}: on its pool-workqueue's inactive list (over {@code max_active}). */
    boolean inactive;
    /** [LR] The pool that last queued or ran it (non-reentrancy looks there); written under that pool's lock. */
    volatile WorkerPool lastPool;
    /** [LR] The workqueue it was last queued on; written under the pool lock. */
    volatile Workqueue lastWq;
    /** [LR] The number of the last instance queued; written under the pool lock ({@link PoolWorkqueue#queueLocked}). */
    volatile long queuedSeq;
    /**
     * [LR] The number of the last instance done (ran, or cancelled): written with a release store under the lock of
     * the pool that held the instance ({@link #setDoneSeq}), only ever raised; read by flush waits, which look again
     * under that lock before they sleep ({@code WorkqueueFlush}'s notes).
     */
    volatile long doneSeq;
    /**
     * [LR] The instance a cancel removed while an older instance was still running: it counts as done once that
     * one finishes (so a flush or cancel_sync never returns while the function still runs).
     */
    volatile long cancelledSeq;
    /** [A] The structure that embeds this item, for {@code container_of} (see {@link #container(Object)}). */
    private volatile Object container;
    /** [A] The delayed work item this is the {@code work} member of, or null ({@code to_delayed_work}). */
    volatile DelayedWork delayed;

    /** An uninitialised item, for {@code INIT_WORK(&w, fn)} style code ({@link #init}). */
    public Work() {
        this.name = "work";
    }

    /**
     * {@code DECLARE_WORK(name, fn)} / {@code INIT_WORK}: an idle, enabled item.
     *
     * @param name the item's name, for reports
     * @param func the work function
     */
    public Work(String name, Func func) {
        init(name, func);
    }

    /**
     * {@code INIT_WORK(work, func)}: (re-)initialises an item that is not pending. Re-initialising a queued
     * item breaks the kernel's guarantees; here it is refused.
     *
     * @param name the item's name, for reports
     * @param func the work function
     * @throws IllegalStateException when the item is pending
     */
    public void init(String name, Func func) {
        if (isPending()) {
            throw new IllegalStateException("INIT_WORK(" + this.name + ") of a pending work item: cancel it first, or"
                    + " use Workqueues.initWork, which does what the kernel's debug objects do");
        }
        reinit(name, func);
    }

    /**
     * {@code INIT_WORK}'s {@code work->data = WORK_DATA_INIT()}: PENDING and the disable depth are cleared
     * whatever they were. The sequence numbers stay, so a flush of an instance still running keeps waiting for it.
     */
    void reinit(String name, Func func) {
        this.name = Objects.requireNonNull(name, "name");
        this.func = Objects.requireNonNull(func, "func");
        DATA.setVolatile(this, 0L);
    }

    /**
     * The item's name, as given at initialisation ({@code "work"} before it); any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * Records the object that embeds this item, so the work function can get back to it
     * ({@code container_of(work, struct my_work, work)}); returns this item.
     *
     * @param owner the embedding object
     * @return this item
     */
    public Work container(Object owner) {
        this.container = owner;
        return this;
    }

    /** The embedding object recorded with {@link #container(Object)}, or null; any thread. */
    Object containerOrNull() {
        return container;
    }

    /**
     * Renames an item that is not pending, for an item reused for another task ({@code WorkqueueExecutor}'s
     * carriers): a release store, published to the worker by the PENDING claim that queues it next. Its owner only.
     */
    void renameIdle(String newName) {
        NAME.setRelease(this, Objects.requireNonNull(newName, "name"));
    }

    /**
     * The embedding object recorded with {@link #container(Object)} ({@code container_of(work, type, member)}),
     * as a {@code type}.
     *
     * @param <T> the container's type
     * @param type the container's class
     * @return the recorded object
     * @throws IllegalStateException when none was recorded, or it is not a {@code type}
     */
    public <T> T container(Class<T> type) {
        Object c = container;
        if (c == null) {
            throw new IllegalStateException("container_of(" + name + "): no embedding object was recorded"
                    + " (Work.container(owner))");
        }
        if (!type.isInstance(c)) {
            throw new IllegalStateException("container_of(" + name + ", " + type.getName() + "): it is embedded in a "
                    + c.getClass().getName());
        }
        return type.cast(c);
    }

    /**
     * The work function ({@code work->func}), or null before {@link #init}.
     *
     * @return the function, or null
     */
    public Func func() {
        return func;
    }

    /**
     * {@code work_pending(work)}: PENDING — queued, on a delayed-work timer, or being grabbed.
     *
     * @return true when pending
     */
    public boolean isPending() {
        return (data() & PENDING) != 0;
    }

    /**
     * The disable depth ({@code disable_work} count).
     *
     * @return the depth, 0 when enabled
     */
    public int disableDepth() {
        return (int) ((data() & DISABLE_MASK) >>> DISABLE_SHIFT);
    }

    long data() {
        return (long) DATA.getVolatile(this);
    }

    /**
     * Queueing's {@code test_and_set_bit(PENDING)} together with the disable check: true if this call set
     * PENDING (the caller now owns the item); false if it was pending or is disabled.
     */
    boolean tryClaimForQueue() {
        long d;
        do {
            d = data();
            if ((d & (PENDING | DISABLE_MASK)) != 0) {
                return false;
            }
        } while (!DATA.compareAndSet(this, d, d | PENDING));
        return true;
    }

    /** {@code test_and_set_bit(PENDING)} regardless of the disable depth: true if it was already set. */
    boolean testAndSetPending() {
        return ((long) DATA.getAndBitwiseOr(this, PENDING) & PENDING) != 0;
    }

    /** Sets {@link #pwq} with a release store (class notes). */
    void setPwq(PoolWorkqueue p) {
        PWQ.setRelease(this, p);
    }

    /** Sets {@link #lastPool} with a release store (class notes). */
    void setLastPool(WorkerPool p) {
        LAST_POOL.setRelease(this, p);
    }

    /** Sets {@link #lastWq} with a release store (class notes). */
    void setLastWq(Workqueue wq) {
        LAST_WQ.setRelease(this, wq);
    }

    /** Sets {@link #queuedSeq} with a release store (class notes). Only its writer: under the pool lock. */
    void setQueuedSeq(long seq) {
        QUEUED_SEQ.setRelease(this, seq);
    }

    /**
     * Sets {@link #doneSeq} with a release store (class notes): the waiters meet the writer at the pool lock, not at
     * a fence. Only its writers: under the lock of the pool that held the instance.
     */
    void setDoneSeq(long seq) {
        DONE_SEQ.setRelease(this, seq);
    }

    /** Clears PENDING ({@code set_work_pool_and_clear_pending}): the item is off-queue again. */
    void clearPending() {
        DATA.getAndBitwiseAnd(this, ~PENDING);
    }

    /** Disable depth + 1; false (unchanged) at the maximum. */
    boolean incDisable() {
        long d;
        do {
            d = data();
            if ((d & DISABLE_MASK) == DISABLE_MASK) {
                return false;
            }
        } while (!DATA.compareAndSet(this, d, d + (1L << DISABLE_SHIFT)));
        return true;
    }

    /** Disable depth − 1; returns the new depth, or −1 (unchanged) if it was already 0. */
    int decDisable() {
        long d;
        do {
            d = data();
            if ((d & DISABLE_MASK) == 0) {
                return -1;
            }
        } while (!DATA.compareAndSet(this, d, d - (1L << DISABLE_SHIFT)));
        return (int) (((d - (1L << DISABLE_SHIFT)) & DISABLE_MASK) >>> DISABLE_SHIFT);
    }

    @Override
    public String toString() {
        return "work[" + name + (isPending() ? " pending" : "") + (disableDepth() > 0 ? " disabled " + disableDepth() : "")
                + "]";
    }
}
