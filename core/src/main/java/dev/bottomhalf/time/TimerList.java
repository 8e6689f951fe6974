package dev.bottomhalf.time;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import java.util.Objects;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * A kernel timer ({@code struct timer_list}): a callback owned by its user, armed for an expiry in jiffies,
 * run once in TIMER_SOFTIRQ on the CPU whose timer base holds it. See {@link Timers} for the operations
 * ({@code mod_timer}, {@code timer_delete_sync}, ...). The object carries its own wheel link, so arming
 * and cancelling allocate nothing.
 *
 * <p>Typical use, as in a driver:
 * <pre>{@code
 * TimerList watchdog = TimerList.setup("watchdog", t -> resetDevice(), 0);
 * timers.mod(watchdog, kernel.jiffies() + kernel.msecsToJiffies(500));
 * ...
 * timers.deleteSync(watchdog);
 * }</pre>
 *
 * <p>Implementation notes (concurrency). Every field that describes the wheel position ({@code next},
 * {@code prev}, {@code slot}, {@code idx}, {@code expires} while armed) is written only under the lock of
 * the timer base that holds the timer. {@code flags} carries, as in the kernel, the CPU of that base in its
 * low bits plus {@code TIMER_MIGRATING} while the timer moves between bases; it is volatile and written
 * under the lock, so {@code lock_timer_base} can read it, lock the base it names and re-check it.
 * {@code pending} ({@code timer_pending}: the entry is linked) is read without the lock, as the kernel's
 * {@code READ_ONCE(timer->entry.pprev)}: a volatile read, written under the lock with a release store
 * ({@link #setPending}) — every lockless reader only needs to see a consistent value, and whoever acts on
 * it re-checks under the lock, so no writer needs a full fence. {@code function} is volatile: {@code timer_shutdown}
 * clears it under the lock, and a later arming re-checks it under the lock.
 */
public final class TimerList {
    /** {@code TIMER_CPUMASK}: the CPU of the base the timer is on. */
    public static final int TIMER_CPUMASK = 0x0003_FFFF;
    /** {@code TIMER_MIGRATING}: transient, while the timer moves between bases. */
    public static final int TIMER_MIGRATING = 0x0004_0000;
    /** {@code TIMER_BASEMASK}. */
    public static final int TIMER_BASEMASK = TIMER_CPUMASK | TIMER_MIGRATING;
    /** {@code TIMER_DEFERRABLE}: does not wake an idle CPU; runs when the CPU is awake for something else. */
    public static final int TIMER_DEFERRABLE = 0x0008_0000;
    /** {@code TIMER_PINNED}: stays on the CPU it is armed on. */
    public static final int TIMER_PINNED = 0x0010_0000;
    /** {@code TIMER_IRQSAFE}: the callback runs with IRQs disabled; sync delete is allowed from hard IRQ. */
    public static final int TIMER_IRQSAFE = 0x0020_0000;
    /** {@code TIMER_INIT_FLAGS}: the flags {@code timer_setup} accepts. */
    public static final int TIMER_INIT_FLAGS = TIMER_DEFERRABLE | TIMER_PINNED | TIMER_IRQSAFE;
    /** Internal: set up at least once (distinguishes "never set up", refused, from "shut down", ignored). */
    static final int TIMER_INITIALISED = 0x0040_0000;

    /** {@code void (*function)(struct timer_list *)}. */
    @FunctionalInterface
    public interface Callback {
        /**
         * Runs when the timer expires, in {@code TIMER_SOFTIRQ} on the timer's CPU (with IRQs disabled for a
         * {@code TIMER_IRQSAFE} timer); must not sleep.
         *
         * @param timer the expired timer, for {@link TimerList#owner(Class)}
         */
        void run(TimerList timer);
    }

    // Wheel position: guarded by the lock of the base that holds the timer. Kept to 48 bytes per timer
    // (compressed oops): no field that the base can hold instead.
    TimerList next;
    TimerList prev;
    /**
     * {@code timer_get_idx}: the wheel bucket the timer was enqueued in (the kernel's TIMER_ARRAYMASK
     * bits). For the first timer of a list it is also that list's head slot, which during expiry is a
     * collected list ({@code >= wheelSize}); the others keep their wheel bucket.
     */
    int idx = -1;
    long expires;
    volatile boolean pending;
    volatile int flags;
    volatile Callback function;
    /** A timer of the kernel's own machinery ({@link Timers#setupInternal}): cancelled at close, not reported. */
    volatile boolean internal;
    /**
     * The name (a {@code String}), or for a timer embedded in a driver object an {@link Owned} holding the
     * name and that object ({@code from_timer}): one field for both keeps a timer at 48 bytes, and only
     * owned timers pay for the holder. Read on cold paths only (reports, tracing, {@code from_timer}).
     */
    private volatile Object label = "timer";

    /** The name and the embedding object of an owned timer. */
    private record Owned(String name, Object owner) {
    }

    private static final VarHandle PENDING;

    static {
        try {
            PENDING = MethodHandles.lookup().findVarHandle(TimerList.class, "pending", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Writes {@code pending} under the base lock (see the implementation notes). */
    void setPending(boolean value) {
        PENDING.setRelease(this, value);
    }

    /** An uninitialised timer, for {@code timer_setup(&t, fn, flags)} style code ({@link Timers#setup}). */
    public TimerList() {
    }

    /**
     * An uninitialised timer embedded in {@code owner}, the driver object that a callback gets back with
     * {@link #owner(Class)} ({@code from_timer(dev, t, timer)} / {@code container_of}):
     * {@code final TimerList timer = new TimerList(this);} in the driver's class. Any thread.
     *
     * @param owner the embedding object
     */
    public TimerList(Object owner) {
        this.label = new Owned("timer", Objects.requireNonNull(owner, "owner"));
    }

    /**
     * {@code from_timer(var, timer, field)} / {@code container_of(timer, type, field)}: the object this timer
     * is embedded in, as {@code type}. Any thread.
     *
     * @param <T> the owner's type
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when the timer was made without an owner
     * @throws ClassCastException    when the owner is not a {@code type}
     */
    public <T> T owner(Class<T> type) {
        Object owner = owner();
        if (owner == null) {
            throw new IllegalStateException("from_timer(" + name() + "): the timer is embedded in nothing; make it"
                    + " with new TimerList(owner)");
        }
        return type.cast(owner);
    }

    /**
     * The object this timer is embedded in, or null.
     *
     * @return the owner, or null
     */
    public Object owner() {
        return label instanceof Owned o ? o.owner() : null;
    }

    /**
     * {@code timer_setup(timer, callback, flags)} / {@code DEFINE_TIMER}: a timer bound to the CPU of the
     * calling context (CPU 0 from a thread outside any kernel). {@code flags} may hold
     * {@link #TIMER_DEFERRABLE}, {@link #TIMER_PINNED}, {@link #TIMER_IRQSAFE}.
     *
     * @param name the timer's name, for reports and traces
     * @param callback run when it expires
     * @param flags {@link #TIMER_DEFERRABLE}, {@link #TIMER_PINNED}, {@link #TIMER_IRQSAFE}
     * @return the new, inactive timer
     * @throws IllegalArgumentException for any other flag bit (the kernel warns and masks them; use
     *         {@link Timers#setup} for that exact behaviour)
     */
    public static TimerList setup(String name, Callback callback, int flags) {
        if ((flags & ~TIMER_INIT_FLAGS) != 0) {
            throw new IllegalArgumentException(String.format("timer_setup(%s): flags %#x are not timer_setup flags"
                    + " (allowed: TIMER_DEFERRABLE, TIMER_PINNED, TIMER_IRQSAFE)", name, flags & ~TIMER_INIT_FLAGS));
        }
        TimerList t = new TimerList();
        t.init(name, callback, flags, currentCpu());
        return t;
    }

    /**
     * {@link #setup(String, Callback, int)} for a timer embedded in {@code owner} (see {@link #owner(Class)}).
     *
     * @param owner the embedding object
     * @param name the timer's name, for reports and traces
     * @param callback run when it expires
     * @param flags {@link #TIMER_DEFERRABLE}, {@link #TIMER_PINNED}, {@link #TIMER_IRQSAFE}
     * @return the new, inactive timer
     * @throws IllegalArgumentException for any other flag bit
     */
    public static TimerList setup(Object owner, String name, Callback callback, int flags) {
        if ((flags & ~TIMER_INIT_FLAGS) != 0) {
            return setup(name, callback, flags); // throws
        }
        TimerList t = new TimerList(owner);
        t.init(name, callback, flags, currentCpu());
        return t;
    }

    static int currentCpu() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        return ctx == null ? 0 : ctx.cpuId();
    }

    /** {@code __init_timer}: not linked, the given callback and flags, on {@code cpu}'s base. */
    void init(String name, Callback callback, int flags, int cpu) {
        Objects.requireNonNull(name, "name");
        this.label = label instanceof Owned o ? new Owned(name, o.owner()) : name;
        this.function = Objects.requireNonNull(callback, "callback");
        this.next = null;
        this.prev = null;
        this.idx = -1;
        this.pending = false;
        this.flags = (flags & TIMER_INIT_FLAGS) | cpu | TIMER_INITIALISED;
    }

    /**
     * The timer's name, as set up; any thread.
     *
     * @return the name ({@code "timer"} before it is set up)
     */
    public String name() {
        Object l = label;
        return l instanceof Owned o ? o.name() : (String) l;
    }

    /**
     * {@code timer->expires}: the expiry in jiffies, as last set.
     *
     * @return the expiry in jiffies
     */
    public long expires() {
        return expires;
    }

    /**
     * Sets {@code timer->expires} for a following {@link Timers#add} / {@link Timers#addOn}, as kernel
     * code does ({@code t.expires = jiffies + HZ; add_timer(&t);}). Changing it on a pending timer does
     * not move it (use {@link Timers#mod}), exactly as in the kernel.
     *
     * @param jiffies the absolute expiry in jiffies
     */
    public void expires(long jiffies) {
        this.expires = jiffies;
    }

    /**
     * The {@code TIMER_*} flags, including the CPU of its base in the low bits.
     *
     * @return the flag bits
     */
    public int flags() {
        return flags & ~TIMER_INITIALISED;
    }

    boolean initialised() {
        return (flags & TIMER_INITIALISED) != 0;
    }

    /**
     * The CPU of the base the timer is (or was last) on.
     *
     * @return the CPU number
     */
    public int cpu() {
        return flags & TIMER_CPUMASK;
    }

    /**
     * {@code timer_pending(timer)}: armed and not yet expired or deleted (not "running").
     *
     * @return true when pending
     */
    public boolean isPending() {
        return pending;
    }

    /**
     * Whether {@code timer_shutdown} has cleared the callback (arming is ignored until set up again).
     *
     * @return true when shut down
     */
    public boolean isShutDown() {
        return initialised() && function == null;
    }

    @Override
    public String toString() {
        return "timer[" + name() + (pending ? " pending expires=" + expires : "") + (isShutDown() ? " shut down" : "")
                + " cpu=" + cpu() + "]";
    }
}
