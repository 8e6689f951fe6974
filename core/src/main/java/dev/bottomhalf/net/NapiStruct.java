package dev.bottomhalf.net;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.sched.Task;
import dev.bottomhalf.time.HrTimer;

/**
 * A NAPI instance ({@code struct napi_struct}): one receive queue of a {@link NetDevice}, polled by its driver's
 * poll function in NET_RX softirq context (or in its own kthread, {@code napi/<dev>-<id>}, when the device is
 * threaded, or by a busy-polling caller). Owned by its driver; its state word is changed from any context through
 * {@link Napi}'s operations.
 *
 * <p>The driver's side, as with a real card: the interrupt handler masks the device's interrupt and calls
 * {@code napi_schedule}; the poll function takes at most {@code budget} packets off the ring and returns how many
 * it took; when it took fewer than {@code budget} it calls {@code napi_complete_done} and, if that returns true,
 * unmasks the interrupt. A poll that took its whole budget must leave the state alone: the instance stays
 * scheduled and is polled again.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>{@code state}: the kernel's bits ({@link #STATE_SCHED} ... {@link #STATE_SCHED_THREADED}) in one int, changed
 * only with compare-and-set or atomic OR/AND (the kernel's {@code try_cmpxchg}, {@code set_bit},
 * {@code clear_bit}); every change is fully ordered. SCHED is the ownership of the instance: whoever turned it on
 * ({@code napi_schedule_prep}) owns the right to queue it, whoever holds it while polling owns the instance until
 * {@code napi_complete_done} clears it.</li>
 * <li>{@code prev}, {@code next}, {@code list}: the intrusive links of a CPU's poll list ({@code poll_list}); read
 * and written only under that CPU's softnet lock, so queueing allocates nothing. {@code list} is the list the
 * instance is on, or null ({@code list_empty(&n->poll_list)}).</li>
 * <li>{@code listOwner}: the CPU whose list holds it, or -1 ({@code list_owner}); written under the lock, read
 * racily to find that lock.</li>
 * <li>{@code weight}, {@code poll}, {@code dev}, {@code napiId}: written by {@code netif_napi_add} before the
 * instance can be scheduled (published by the SCHED clear of {@code napi_enable}), then only read.</li>
 * <li>{@code deferHardIrqsCount}: the deferrals left ({@code defer_hard_irqs_count}); a plain field read and written
 * only by {@code napi_complete_done}, that is by the owner of SCHED, whose hand-over (the SCHED clear, then the
 * compare-and-set that takes it) orders one owner's write before the next owner's read.</li>
 * <li>{@code timer}: the deferral timer ({@code napi->timer}, callback {@code napi_watchdog}), set up by
 * {@code netif_napi_add}, started by {@code napi_complete_done}, cancelled by {@code napi_disable}; its own
 * locking is the hrtimer base's.</li>
 * </ul>
 */
public final class NapiStruct {
    /** {@code NAPI_STATE_SCHED}: the poll is scheduled (or running, or the instance is disabled). */
    public static final int STATE_SCHED = 0;
    /** {@code NAPI_STATE_MISSED}: scheduled again while scheduled; poll once more after completing. */
    public static final int STATE_MISSED = 1;
    /** {@code NAPI_STATE_DISABLE}: {@code napi_disable} is under way; {@code napi_schedule_prep} refuses. */
    public static final int STATE_DISABLE = 2;
    /** {@code NAPI_STATE_NPSVC}: {@code napi_complete_done} must not dequeue it (set while disabled). */
    public static final int STATE_NPSVC = 3;
    /** {@code NAPI_STATE_LISTED}: added to its device ({@code netif_napi_add}) and not deleted. */
    public static final int STATE_LISTED = 4;
    /** {@code NAPI_STATE_NO_BUSY_POLL}: never busy-polled. */
    public static final int STATE_NO_BUSY_POLL = 5;
    /** {@code NAPI_STATE_IN_BUSY_POLL}: a {@code napi_busy_loop} caller owns it. */
    public static final int STATE_IN_BUSY_POLL = 6;
    /** {@code NAPI_STATE_PREFER_BUSY_POLL}: prefer busy polling over the softirq (kept, not acted on). */
    public static final int STATE_PREFER_BUSY_POLL = 7;
    /** {@code NAPI_STATE_THREADED}: polled by its own kthread instead of NET_RX. */
    public static final int STATE_THREADED = 8;
    /** {@code NAPI_STATE_SCHED_THREADED}: scheduled for its kthread, which owns it until it completes. */
    public static final int STATE_SCHED_THREADED = 9;

    static final int SCHED = 1 << STATE_SCHED;
    static final int MISSED = 1 << STATE_MISSED;
    static final int DISABLE = 1 << STATE_DISABLE;
    static final int NPSVC = 1 << STATE_NPSVC;
    static final int LISTED = 1 << STATE_LISTED;
    static final int IN_BUSY_POLL = 1 << STATE_IN_BUSY_POLL;
    static final int PREFER_BUSY_POLL = 1 << STATE_PREFER_BUSY_POLL;
    static final int THREADED = 1 << STATE_THREADED;
    static final int SCHED_THREADED = 1 << STATE_SCHED_THREADED;

    private static final VarHandle STATE;
    private static final VarHandle LIST_OWNER;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            STATE = l.findVarHandle(NapiStruct.class, "state", int.class);
            LIST_OWNER = l.findVarHandle(NapiStruct.class, "listOwner", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * {@code int (*poll)(struct napi_struct *, int)}: the driver's poll function. Runs in NET_RX softirq context
     * (or with BH disabled in the instance's kthread or a busy-polling caller), never concurrently with itself.
     */
    @FunctionalInterface
    public interface Poll {
        /**
         * Takes at most {@code budget} units of work (packets) off the device and hands them on.
         *
         * @param napi   the instance being polled
         * @param budget the most work this call may do (the instance's weight, or a busy poller's budget)
         * @return the work done, 0 to {@code budget}; when below {@code budget} the poll has called (or now calls)
         *         {@code napi_complete_done}, when equal it has left the state alone
         */
        int poll(NapiStruct napi, int budget);
    }

    @SuppressWarnings("unused") // through STATE
    private volatile int state;
    @SuppressWarnings("unused") // through LIST_OWNER
    private volatile int listOwner = -1;
    /** Poll-list links; under the owning CPU's softnet lock. */
    NapiStruct prev;
    NapiStruct next;
    SoftnetData.PollList list;
    volatile int weight;
    volatile Poll poll;
    volatile NetDevice dev;
    volatile int napiId;
    /** The kthread of a threaded instance ({@code napi->thread}), or null. */
    volatile Task thread;
    /** {@code defer_hard_irqs_count}: owned by the holder of SCHED (see the class notes). */
    int deferHardIrqsCount;
    /** {@code napi->timer}: the deferral timer, whose callback is {@code napi_watchdog}. */
    final HrTimer timer = new HrTimer(this);

    /**
     * An instance not yet added to a device, for {@code netif_napi_add}; embed one per receive queue. Any thread.
     */
    public NapiStruct() {
    }

    /**
     * The state word ({@code napi->state}); test it with the {@code STATE_*} bit numbers. Any thread; a snapshot.
     *
     * @return the bits, {@code 1 << STATE_SCHED} and so on
     */
    public int state() {
        return (int) STATE.getVolatile(this);
    }

    /**
     * Whether bit {@code nr} of the state word is set ({@code test_bit(nr, &napi->state)}). Any thread.
     *
     * @param nr a bit number, {@link #STATE_SCHED} to {@link #STATE_SCHED_THREADED}
     * @return whether it is set
     */
    public boolean testBit(int nr) {
        return (state() & (1 << nr)) != 0;
    }

    /**
     * {@code napi_is_scheduled(n)}: whether SCHED is set — scheduled, being polled, or disabled. Any thread.
     *
     * @return whether {@link #STATE_SCHED} is set
     */
    public boolean isScheduled() {
        return (state() & SCHED) != 0;
    }

    /**
     * {@code napi_disable_pending(n)}: whether a {@code napi_disable} is under way. Any thread.
     *
     * @return whether {@link #STATE_DISABLE} is set
     */
    public boolean disablePending() {
        return (state() & DISABLE) != 0;
    }

    /**
     * The poll weight ({@code napi->weight}): the budget of one poll from NET_RX or the kthread. Any thread.
     *
     * @return the weight given to {@code netif_napi_add_weight}, 64 by default
     */
    public int weight() {
        return weight;
    }

    /**
     * The device this instance was added to ({@code napi->dev}), or null before {@code netif_napi_add}. Any
     * thread.
     *
     * @return the device, or null
     */
    public NetDevice dev() {
        return dev;
    }

    /**
     * The instance's id ({@code napi->napi_id}), given by {@code netif_napi_add}: unique in its kernel and above the
     * CPU ids; 0 before. Any thread.
     *
     * @return the id, or 0
     */
    public int napiId() {
        return napiId;
    }

    /**
     * The kthread of a threaded instance ({@code napi->thread}, named {@code napi/<dev>-<id>}), or null. Any
     * thread.
     *
     * @return the task, or null
     */
    public Task thread() {
        return thread;
    }

    /**
     * The deferrals left ({@code napi->defer_hard_irqs_count}): how many more completions in a row will keep the
     * interrupt masked and leave the next poll to the deferral timer (see {@link NetDevice#napiDeferHardIrqs()}).
     * Any thread; a racy snapshot (it belongs to whoever polls the instance).
     *
     * @return the count, 0 when no deferral is under way
     */
    public int deferHardIrqsCount() {
        return deferHardIrqsCount;
    }

    /**
     * The CPU whose poll list holds the instance ({@code napi->list_owner}), or -1. Any thread; a snapshot.
     *
     * @return the CPU, or -1
     */
    public int listOwner() {
        return (int) LIST_OWNER.getOpaque(this);
    }

    void listOwner(int cpu) {
        LIST_OWNER.setOpaque(this, cpu);
    }

    /** Reads the state with a volatile load. */
    int get() {
        return (int) STATE.getVolatile(this);
    }

    /** {@code try_cmpxchg(&n->state, &val, new)}. */
    boolean cas(int expect, int update) {
        return STATE.compareAndSet(this, expect, update);
    }

    /** {@code set_bit}: atomic OR; returns the old word. */
    int setBits(int bits) {
        return (int) STATE.getAndBitwiseOr(this, bits);
    }

    /** {@code clear_bit}: atomic AND NOT; returns the old word. */
    int clearBits(int bits) {
        return (int) STATE.getAndBitwiseAnd(this, ~bits);
    }

    /** The instance as the kernel's messages name it: {@code eth0-9}, or {@code napi} before it is added. */
    String label() {
        NetDevice d = dev;
        return d == null ? "napi" : d.name() + "-" + napiId;
    }

    @Override
    public String toString() {
        int s = state();
        StringBuilder sb = new StringBuilder("napi[").append(label());
        String[] names = {"SCHED", "MISSED", "DISABLE", "NPSVC", "LISTED", "NO_BUSY_POLL", "IN_BUSY_POLL",
            "PREFER_BUSY_POLL", "THREADED", "SCHED_THREADED"};
        for (int i = 0; i < names.length; i++) {
            if ((s & (1 << i)) != 0) {
                sb.append(' ').append(names[i]);
            }
        }
        return sb.append(']').toString();
    }
}
