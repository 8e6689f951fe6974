package dev.bottomhalf.time;

import java.util.Objects;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * A high-resolution timer ({@code struct hrtimer}): a callback owned by its user, armed for a time in
 * nanoseconds of the kernel clock ({@code CLOCK_MONOTONIC}: nanoseconds since boot), run in hard-IRQ
 * context from the CPU's timer interrupt, or in HRTIMER_SOFTIRQ for {@link Mode#SOFT} timers. See
 * {@link HrTimers} for the operations. Intrusive: arming allocates nothing.
 *
 * <p>Implementation notes (concurrency): {@code expires}, {@code softExpires}, {@code heapIndex} and
 * {@code seq} are guarded by the lock of the CPU base that holds the timer; {@code cpuBase} is volatile and
 * null while the timer migrates between CPUs (the kernel's {@code migration_base}), so
 * {@code lock_hrtimer_base} spins until it is set, locks it and re-checks it. {@code state} is volatile and
 * read without the lock by {@code hrtimer_active}/{@code hrtimer_is_queued}.
 */
public final class HrTimer {
    /** What a callback returns: {@code HRTIMER_NORESTART} or {@code HRTIMER_RESTART}. */
    public enum Restart {
        /** The timer is done. */
        NORESTART,
        /** Re-queue the timer at the expiry the callback set (usually with {@code hrtimer_forward}). */
        RESTART
    }

    /** {@code enum hrtimer_mode} bits. */
    public enum Mode {
        /** {@code HRTIMER_MODE_ABS}: the time is absolute. */
        ABS,
        /** {@code HRTIMER_MODE_REL}: the time is relative to now. */
        REL,
        /** {@code HRTIMER_MODE_PINNED}: stays on the CPU it is started on. */
        PINNED,
        /** {@code HRTIMER_MODE_SOFT}: expires in HRTIMER_SOFTIRQ. */
        SOFT,
        /** {@code HRTIMER_MODE_HARD}: expires in hard-IRQ context (the default on non-RT kernels). */
        HARD
    }

    /** {@code enum hrtimer_restart (*function)(struct hrtimer *)}. */
    @FunctionalInterface
    public interface Callback {
        /**
         * Runs when the timer expires: in hard-IRQ context, or in {@code HRTIMER_SOFTIRQ} for a soft timer; must
         * not sleep.
         *
         * @param timer the expired timer, for {@link HrTimer#owner(Class)}
         * @return {@link Restart#RESTART} after moving the expiry forward to run again, else {@link
         *   Restart#NORESTART}
         */
        Restart run(HrTimer timer);
    }

    /** {@code HRTIMER_STATE_INACTIVE}. */
    static final int INACTIVE = 0;
    /** {@code HRTIMER_STATE_ENQUEUED}. */
    static final int ENQUEUED = 1;

    long expires;
    long softExpires;
    int heapIndex = -1;
    long seq;
    volatile int state;
    volatile HrTimers.CpuBase cpuBase;
    volatile Callback function;
    boolean soft;
    volatile boolean initialised;
    /** The context running the callback (self-deadlock detection only; see {@code TimerList#runner}). */
    ExecutionContext runner;
    private volatile String name = "hrtimer";
    /** The driver object this timer is embedded in ({@code container_of}); null when none was given. */
    private final Object owner;

    /** An uninitialised timer, for {@link HrTimers#setup}. */
    public HrTimer() {
        this.owner = null;
    }

    /**
     * An uninitialised timer embedded in {@code owner}, the driver object that a callback gets back with
     * {@link #owner(Class)} ({@code container_of(timer, struct dev, timer)}):
     * {@code final HrTimer timer = new HrTimer(this);} in the driver's class. Any thread.
     *
     * @param owner the embedding object
     */
    public HrTimer(Object owner) {
        this.owner = Objects.requireNonNull(owner, "owner");
    }

    /**
     * {@code container_of(timer, type, field)}: the object this timer is embedded in, as {@code type}. Any
     * thread.
     *
     * @param <T> the owner's type
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when the timer was made without an owner
     * @throws ClassCastException    when the owner is not a {@code type}
     */
    public <T> T owner(Class<T> type) {
        if (owner == null) {
            throw new IllegalStateException("container_of(" + name + "): the hrtimer is embedded in nothing; make it"
                    + " with new HrTimer(owner)");
        }
        return type.cast(owner);
    }

    /**
     * The object this timer is embedded in, or null.
     *
     * @return the owner, or null
     */
    public Object owner() {
        return owner;
    }

    /**
     * The timer's name, as set up; any thread.
     *
     * @return the name ({@code "hrtimer"} before it is set up)
     */
    public String name() {
        return name;
    }

    void init(String name, Callback function, boolean soft, HrTimers.CpuBase base) {
        this.name = Objects.requireNonNull(name, "name");
        this.function = Objects.requireNonNull(function, "function");
        this.soft = soft;
        this.cpuBase = base;
        this.state = INACTIVE;
        this.heapIndex = -1;
        this.expires = 0;
        this.softExpires = 0;
        this.initialised = true;
    }

    /**
     * {@code hrtimer_get_expires}: the (hard) expiry, in ns of the kernel clock.
     *
     * @return the expiry in nanoseconds
     */
    public long expires() {
        return expires;
    }

    /**
     * {@code hrtimer_get_softexpires}: the start of the expiry range.
     *
     * @return the soft expiry in nanoseconds
     */
    public long softExpires() {
        return softExpires;
    }

    /**
     * {@code hrtimer_set_expires}: sets the expiry of a timer that is not queued (typically from its callback
     * before returning {@link Restart#RESTART}).
     *
     * @param ns the expiry in nanoseconds of the kernel clock
     */
    public void setExpires(long ns) {
        expires = ns;
        softExpires = ns;
    }

    /**
     * Whether it expires in HRTIMER_SOFTIRQ.
     *
     * @return true for a soft timer
     */
    public boolean isSoft() {
        return soft;
    }

    /**
     * {@code hrtimer_is_queued}.
     *
     * @return true when queued
     */
    public boolean isQueued() {
        return state == ENQUEUED;
    }

    /**
     * The CPU whose base holds (or last held) it, or −1 while it migrates.
     *
     * @return the CPU number, or −1
     */
    public int cpu() {
        HrTimers.CpuBase b = cpuBase;
        return b == null ? -1 : b.cpu;
    }

    @Override
    public String toString() {
        return "hrtimer[" + name + (isQueued() ? " queued expires=" + expires : "") + (soft ? " soft" : " hard") + "]";
    }
}
