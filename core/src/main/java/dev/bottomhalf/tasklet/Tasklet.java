package dev.bottomhalf.tasklet;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * A tasklet ({@code struct tasklet_struct}): a deferred function owned by its user, run in softirq
 * context (TASKLET_SOFTIRQ, or HI_SOFTIRQ for {@code hiSchedule}) on the CPU that scheduled it, never
 * concurrently with itself. Thread-safe: schedule, disable and enable from any context; see
 * {@link Tasklets} for the operations.
 *
 * <p>Tasklets are deprecated in the kernel; new code should prefer BH workqueues. They remain because
 * much driver code (and much teaching material) uses them.
 *
 * <p>Implementation notes. The object carries the kernel's state and its own list link, so scheduling
 * allocates nothing.
 * <ul>
 * <li>{@code state}: bit 0 {@code TASKLET_STATE_SCHED} (queued on some CPU's list, not yet started), bit 1
 * {@code TASKLET_STATE_RUN} (its callback is running). Set and cleared with atomic bit operations.
 * Transitions: idle → SCHED (schedule, test-and-set: the winner queues it); SCHED → RUN (the owning
 * CPU's softirq, one CAS, just before the callback: the kernel's trylock plus clearing SCHED); RUN →
 * RUN|SCHED (a schedule during the callback queues it again, on the scheduling CPU); RUN → idle and
 * RUN|SCHED → SCHED (RUN cleared after the callback).</li>
 * <li>{@code count}: the disable depth; the tasklet runs only at 0.</li>
 * <li>{@code next}: the intrusive link of the per-CPU list; written by the scheduler before it
 * publishes the tasklet with a CAS, read by the list's consumer after its swap (acquire).</li>
 * </ul>
 */
public final class Tasklet {
    static final int SCHED = 1;
    static final int RUN = 2;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Tasklet.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** {@code void (*callback)(struct tasklet_struct *)}. */
    @FunctionalInterface
    public interface Callback {
        void run(Tasklet t);
    }

    /** The legacy {@code void (*func)(unsigned long data)}. */
    @FunctionalInterface
    public interface Func {
        void run(long data);
    }

    @SuppressWarnings("unused") // through STATE
    private volatile int state;
    final AtomicInteger count = new AtomicInteger();
    Tasklet next;
    /** The CPU whose list holds the tasklet while SCHED is set (for diagnostics and stepped-mode kill). */
    volatile int cpu = -1;
    /**
     * The context running the callback, while RUN is set. Plain field: it only answers "am I the one
     * running it?" (self-deadlock detection), and the writer is the only thread for which the answer
     * can be yes.
     */
    ExecutionContext runner;
    private volatile String name;
    private volatile Callback callback;
    private volatile Func func;
    private volatile long data;

    /** An uninitialised tasklet, for {@code tasklet_init} / {@code tasklet_setup} style code. */
    public Tasklet() {
        this.name = "tasklet";
    }

    /** {@code tasklet_setup(t, callback)} / {@code DECLARE_TASKLET(name, callback)}: enabled, callback form. */
    public static Tasklet setup(String name, Callback callback) {
        Tasklet t = new Tasklet();
        t.initCallback(name, callback);
        return t;
    }

    /** {@code DECLARE_TASKLET_DISABLED(name, callback)}: like {@link #setup} with a disable count of 1. */
    public static Tasklet setupDisabled(String name, Callback callback) {
        Tasklet t = setup(name, callback);
        t.count.set(1);
        return t;
    }

    /** {@code tasklet_init(t, func, data)}: the legacy form; the function receives {@code data}. */
    public static Tasklet init(String name, Func func, long data) {
        Tasklet t = new Tasklet();
        t.initFunc(name, func, data);
        return t;
    }

    /** Re-initialises this tasklet in the callback form ({@code tasklet_setup}). State and count reset. */
    public void initCallback(String name, Callback callback) {
        this.callback = Objects.requireNonNull(callback, "callback");
        this.func = null;
        this.data = 0;
        this.name = Objects.requireNonNull(name, "name");
        STATE.setVolatile(this, 0);
        count.set(0);
    }

    /** Re-initialises this tasklet in the legacy form ({@code tasklet_init}). State and count reset. */
    public void initFunc(String name, Func func, long data) {
        this.func = Objects.requireNonNull(func, "func");
        this.callback = null;
        this.data = data;
        this.name = Objects.requireNonNull(name, "name");
        STATE.setVolatile(this, 0);
        count.set(0);
    }

    public String name() {
        return name;
    }

    /** The {@code data} of the legacy form. */
    public long data() {
        return data;
    }

    boolean initialised() {
        return callback != null || func != null;
    }

    void invoke() {
        Callback cb = callback;
        if (cb != null) {
            cb.run(this);
        } else {
            func.run(data);
        }
    }

    /** Whether {@code TASKLET_STATE_SCHED} is set: queued and not yet started. */
    public boolean isScheduled() {
        return (state() & SCHED) != 0;
    }

    /** Whether {@code TASKLET_STATE_RUN} is set: the callback is running. */
    public boolean isRunning() {
        return (state() & RUN) != 0;
    }

    /** The disable depth. */
    public int disableCount() {
        return count.get();
    }

    int state() {
        return (int) STATE.getVolatile(this);
    }

    /** {@code test_and_set_bit(bit)}: true when the bit was already set. */
    boolean testAndSet(int bit) {
        return ((int) STATE.getAndBitwiseOr(this, bit) & bit) != 0;
    }

    /** Atomically SCHED → RUN (the run begins); false if the state was anything else. */
    boolean casSchedToRun() {
        return STATE.compareAndSet(this, SCHED, RUN);
    }

    /** Atomically 0 → RUN (a run of a tasklet whose SCHED bit was unexpectedly clear). */
    boolean casIdleToRun() {
        return STATE.compareAndSet(this, 0, RUN);
    }

    /** {@code test_and_clear_bit(bit)}: true when the bit was set. */
    boolean testAndClear(int bit) {
        return ((int) STATE.getAndBitwiseAnd(this, ~bit) & bit) != 0;
    }

    @Override
    public String toString() {
        int s = state();
        return "tasklet[" + name + ((s & SCHED) != 0 ? " SCHED" : "") + ((s & RUN) != 0 ? " RUN" : "")
                + (count.get() != 0 ? " disabled " + count.get() : "") + "]";
    }
}
