package dev.bottomhalf.tasklet;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

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
 * allocates nothing. The kernel keeps SCHED and RUN as two bits of one word; here they are two words, so
 * that the run side needs one atomic read-modify-write per callback instead of three.
 * <ul>
 * <li>{@code sched} ({@code TASKLET_STATE_SCHED}): 1 while the tasklet is queued on some CPU's list and not
 * yet started. Set by {@code schedule} with an atomic exchange (the kernel's {@code test_and_set_bit}; the
 * caller that turned it from 0 to 1 queues the tasklet), cleared by the running CPU with an atomic
 * exchange just before the callback (the kernel's {@code test_and_clear_bit}). Both sides are full
 * read-modify-writes on purpose: a scheduler that finds the tasklet already scheduled relies on the
 * pending run seeing what it wrote before, and the exchange that clears {@code sched} reads the
 * scheduler's write, which gives the happens-before edge (a plain volatile store would not).</li>
 * <li>{@code run} ({@code TASKLET_STATE_RUN}): 1 while the callback runs. Taken with a plain check-then-set
 * and released with a release store, which is safe because at most one context can try to take it at a
 * time: only the CPU whose list holds the tasklet tries, a tasklet is on at most one list (SCHED), and it
 * can be queued again only after that CPU has taken RUN and then cleared SCHED. The exchange on
 * {@code sched} publishes {@code run = 1} to whoever schedules it next; the release store of
 * {@code run = 0} publishes the callback's effects to {@code tasklet_unlock_wait}.</li>
 * <li>{@code count}: the disable depth; the tasklet runs only at 0. An int field of the tasklet (not a
 * separate atomic object), so that the run side reads it from the cache line it already holds. Disable is
 * an atomic add (full barrier, as the kernel's {@code smp_mb__after_atomic}), enable a CAS loop that
 * refuses to go below 0; the run side reads it with a volatile load after taking RUN.</li>
 * <li>{@code next}: the intrusive link of the per-CPU list (see {@link TaskletList} for who writes it when
 * and how it is published). It is not the SCHED state: SCHED is set before the tasklet is linked and
 * cleared after the consumer has read its successor.</li>
 * <li>{@code cpu}: the CPU whose list holds it; written with opaque stores by the scheduler, read only
 * for diagnostics and stepped-mode waits (where one thread does everything).</li>
 * <li>Why SCHED is a word of its own and not folded into {@code next} (a link that doubles as the
 * "scheduled" marker was considered): it would not save an atomic. A first schedule needs one atomic on
 * the tasklet (to decide which of several racing schedulers queues it) and one on the shared list (to
 * publish it), whatever encodes the state; a schedule that finds the tasklet already scheduled must still
 * <em>write</em> something the pending run reads (see {@code sched} above), and with a fused word that
 * write would race with the producers that link the tasklet's successor into that same word.</li>
 * </ul>
 */
public final class Tasklet {
    static final int SCHED = 1;
    static final int RUN = 2;
    private static final VarHandle SCHED_STATE;
    private static final VarHandle RUN_STATE;
    private static final VarHandle COUNT;
    private static final VarHandle CPU;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SCHED_STATE = l.findVarHandle(Tasklet.class, "sched", int.class);
            RUN_STATE = l.findVarHandle(Tasklet.class, "run", int.class);
            COUNT = l.findVarHandle(Tasklet.class, "count", int.class);
            CPU = l.findVarHandle(Tasklet.class, "cpu", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** {@code void (*callback)(struct tasklet_struct *)}. */
    @FunctionalInterface
    public interface Callback {
        /**
         * Runs the tasklet, in softirq context on the CPU it was scheduled on; must not sleep.
         *
         * @param t the tasklet being run, for {@link Tasklet#data(Class)} or its owner
         */
        void run(Tasklet t);
    }

    /** The legacy {@code void (*func)(unsigned long data)}. */
    @FunctionalInterface
    public interface Func {
        /**
         * Runs the tasklet in the legacy form, in softirq context on the CPU it was scheduled on; must not sleep.
         *
         * @param data the tasklet's {@code data}
         */
        void run(long data);
    }

    @SuppressWarnings("unused") // through SCHED_STATE
    private volatile int sched;
    @SuppressWarnings("unused") // through RUN_STATE
    private volatile int run;
    @SuppressWarnings("unused") // through COUNT
    private volatile int count;
    /** The per-CPU list's link; see {@link TaskletList} for who may write it when. */
    Tasklet next;
    @SuppressWarnings("unused") // through CPU
    private int cpu = -1;
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
    /** The object of the typed-data form ({@link #initData}); null otherwise. */
    private volatile Object dataObject;

    /** An uninitialised tasklet, for {@code tasklet_init} / {@code tasklet_setup} style code. */
    public Tasklet() {
        this.name = "tasklet";
    }

    /**
     * {@code tasklet_setup(t, callback)} / {@code DECLARE_TASKLET(name, callback)}: enabled, callback form.
     *
     * @param name the tasklet's name, for reports
     * @param callback run with the tasklet
     * @return the new, enabled tasklet
     */
    public static Tasklet setup(String name, Callback callback) {
        Tasklet t = new Tasklet();
        t.initCallback(name, callback);
        return t;
    }

    /**
     * {@code DECLARE_TASKLET_DISABLED(name, callback)}: like {@link #setup} with a disable count of 1.
     *
     * @param name the tasklet's name, for reports
     * @param callback run with the tasklet
     * @return the new, disabled tasklet
     */
    public static Tasklet setupDisabled(String name, Callback callback) {
        Tasklet t = setup(name, callback);
        COUNT.setVolatile(t, 1);
        return t;
    }

    /**
     * {@code tasklet_init(t, func, data)}: the legacy form; the function receives {@code data}.
     *
     * @param name the tasklet's name, for reports
     * @param func run with {@code data}
     * @param data passed to {@code func}
     * @return the new, enabled tasklet
     */
    public static Tasklet init(String name, Func func, long data) {
        Tasklet t = new Tasklet();
        t.initFunc(name, func, data);
        return t;
    }

    /**
     * {@code tasklet_init(t, func, data)} where {@code data} was a pointer cast to {@code unsigned long}: here
     * the data is any object, handed to {@code func} on every run and readable with {@link #data(Class)}.
     *
     * @param <T> the data's type
     * @param name the tasklet's name, for reports
     * @param func run with {@code data}
     * @param data handed to {@code func}, and readable with {@link #data(Class)}
     * @return the new, enabled tasklet
     */
    public static <T> Tasklet initData(String name, java.util.function.Consumer<? super T> func, T data) {
        Tasklet t = new Tasklet();
        t.initWithData(name, func, data);
        return t;
    }

    /**
     * Re-initialises this tasklet in the legacy form with an object as its {@code data}. State and count
     * reset.
     *
     * @param <T> the data's type
     * @param name the tasklet's name, for reports
     * @param func run with {@code data}
     * @param data handed to {@code func}, and readable with {@link #data(Class)}
     */
    public <T> void initWithData(String name, java.util.function.Consumer<? super T> func, T data) {
        Objects.requireNonNull(func, "func");
        initCallback(name, t -> func.accept(data));
        this.dataObject = data;
    }

    /**
     * The object {@code data} of the typed form, as {@code type} (the kernel's cast of {@code t->data}).
     *
     * @param <T> the data's type
     * @param type the data's class
     * @return the data
     * @throws ClassCastException when the data is not a {@code type}
     * @throws IllegalStateException when the tasklet was not set up with an object
     */
    public <T> T data(Class<T> type) {
        Object d = dataObject;
        if (d == null) {
            throw new IllegalStateException("tasklet " + name + " carries no object data (set up with "
                    + (func != null ? "a long data" : "a callback") + ")");
        }
        return type.cast(d);
    }

    /**
     * Re-initialises this tasklet in the callback form ({@code tasklet_setup}). State and count reset.
     *
     * @param name the tasklet's name, for reports
     * @param callback run with the tasklet
     */
    public void initCallback(String name, Callback callback) {
        this.callback = Objects.requireNonNull(callback, "callback");
        this.func = null;
        this.data = 0;
        this.dataObject = null;
        this.name = Objects.requireNonNull(name, "name");
        SCHED_STATE.setVolatile(this, 0);
        RUN_STATE.setVolatile(this, 0);
        COUNT.setVolatile(this, 0);
    }

    /**
     * Re-initialises this tasklet in the legacy form ({@code tasklet_init}). State and count reset.
     *
     * @param name the tasklet's name, for reports
     * @param func run with {@code data}
     * @param data passed to {@code func}
     */
    public void initFunc(String name, Func func, long data) {
        this.func = Objects.requireNonNull(func, "func");
        this.callback = null;
        this.data = data;
        this.dataObject = null;
        this.name = Objects.requireNonNull(name, "name");
        SCHED_STATE.setVolatile(this, 0);
        RUN_STATE.setVolatile(this, 0);
        COUNT.setVolatile(this, 0);
    }

    /**
     * The tasklet's name, as set up; any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * The {@code data} of the legacy form.
     *
     * @return the data, 0 in the callback form
     */
    public long data() {
        return data;
    }

    /** {@code use_callback}: set up in the callback form ({@code tasklet_setup}), not the legacy one. */
    boolean usesCallback() {
        return func == null;
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

    /**
     * Whether {@code TASKLET_STATE_SCHED} is set: queued and not yet started.
     *
     * @return true when scheduled
     */
    public boolean isScheduled() {
        return (int) SCHED_STATE.getVolatile(this) != 0;
    }

    /**
     * Whether {@code TASKLET_STATE_RUN} is set: the callback is running.
     *
     * @return true while the callback runs
     */
    public boolean isRunning() {
        return (int) RUN_STATE.getAcquire(this) != 0;
    }

    /**
     * The disable depth.
     *
     * @return the depth, 0 when enabled
     */
    public int disableCount() {
        return (int) COUNT.getVolatile(this);
    }

    /** {@code atomic_inc(&t->count)} with the full barrier of {@code tasklet_disable_nosync}. */
    void incrementDisableCount() {
        COUNT.getAndAdd(this, 1);
    }

    /** Takes one disable away unless the count is 0 (the kernel does not check; see {@code Tasklets.enable}). */
    boolean decrementDisableCount() {
        int c;
        do {
            c = (int) COUNT.getVolatile(this);
            if (c == 0) {
                return false;
            }
        } while (!COUNT.compareAndSet(this, c, c - 1));
        return true;
    }

    /** Both bits, {@link #SCHED} and {@link #RUN}, read one after the other (a snapshot for messages). */
    int state() {
        return (isScheduled() ? SCHED : 0) | (isRunning() ? RUN : 0);
    }

    /** {@code test_and_set_bit(TASKLET_STATE_SCHED)}: true when it was already set. Fully ordered. */
    boolean testAndSetSched() {
        return (int) SCHED_STATE.getAndSet(this, 1) != 0;
    }

    /** {@code test_and_clear_bit(TASKLET_STATE_SCHED)}: true when it was set. Fully ordered. */
    boolean testAndClearSched() {
        return (int) SCHED_STATE.getAndSet(this, 0) != 0;
    }

    /**
     * {@code tasklet_trylock}: takes RUN unless the callback is running elsewhere. Only the context whose
     * list holds the tasklet may call it (see the class notes for why a plain check-then-set suffices).
     */
    boolean tryLockRun() {
        if ((int) RUN_STATE.getAcquire(this) != 0) {
            return false;
        }
        RUN_STATE.setOpaque(this, 1);
        return true;
    }

    /** {@code tasklet_unlock}: releases RUN, publishing the callback's effects. */
    void unlockRun() {
        RUN_STATE.setRelease(this, 0);
    }

    /** The CPU whose list last received it, or -1. */
    int cpu() {
        return (int) CPU.getOpaque(this);
    }

    void cpu(int id) {
        CPU.setOpaque(this, id);
    }

    @Override
    public String toString() {
        int s = state();
        return "tasklet[" + name + ((s & SCHED) != 0 ? " SCHED" : "") + ((s & RUN) != 0 ? " RUN" : "")
                + (disableCount() != 0 ? " disabled " + disableCount() : "") + "]";
    }
}
