package dev.bottomhalf.time;

import static dev.bottomhalf.time.TimerWheel.LVL_CLK_DIV;
import static dev.bottomhalf.time.TimerWheel.LVL_CLK_MASK;
import static dev.bottomhalf.time.TimerWheel.LVL_CLK_SHIFT;
import static dev.bottomhalf.time.TimerWheel.LVL_MASK;
import static dev.bottomhalf.time.TimerWheel.LVL_SIZE;
import static dev.bottomhalf.time.TimerWheel.NEXT_TIMER_MAX_DELTA;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.internal.sync.RawSpinLock;

/**
 * One timer base ({@code struct timer_base}): the wheel of one CPU for one kind of timer (pinned, global
 * or deferrable), with its clock, its next expiry and the timer whose callback is running. The wheel
 * algorithms are the kernel's: {@code calc_wheel_index}, {@code enqueue_timer},
 * {@code detach_if_pending}, {@code forward_timer_base}, {@code collect_expired_timers} and
 * {@code next_timer_interrupt}.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Everything is guarded by the base's spin lock ({@link #lock()}: one CAS; release: one release
 * store), as the kernel guards it with {@code base->lock}. Critical sections are short and never call user
 * code; {@link Timers} drops the lock around each callback, exactly where the kernel does.</li>
 * <li>{@code runningTimer}, {@code runner} and each timer's {@code pending} are written under the lock
 * with release stores (no full fence per expired timer) and read without it with volatile reads.</li>
 * <li>{@code nextExpiry} and {@code timersPending} are also read without the lock (volatile), by the tick
 * that decides whether to raise TIMER_SOFTIRQ and by the CPU deciding how long it may sleep; a stale
 * value is at worst early, which costs one empty pass, as in the kernel.</li>
 * <li>Buckets are intrusive doubly linked lists through {@link TimerList#next}/{@code prev}, new timers
 * at the head ({@code hlist_add_head}). Only the first timer of a list knows its head's slot (in its
 * {@code idx}), which makes moving a whole bucket to a collected list O(1), as {@code hlist_move_list}. Slots
 * {@code [0, wheelSize)} are the wheel; slots from {@code wheelSize} on are the lists collected by one
 * expiry pass, where a timer stays pending (and deletable) until its own turn.</li>
 * <li>The pending map is one 64-bit word per level, so {@code next_pending_bucket} is a rotate and a
 * count of trailing zeros.</li>
 * </ul>
 */
final class TimerBase extends RawSpinLock {
    static final int BASE_LOCAL = 0;
    static final int BASE_GLOBAL = 1;
    static final int BASE_DEF = 2;
    static final int NR_BASES = 3;
    private static final String[] KIND_NAMES = {"local", "global", "deferrable"};

    private static final VarHandle RUNNING_TIMER;
    private static final VarHandle RUNNER;

    static {
        try {
            RUNNING_TIMER = MethodHandles.lookup().findVarHandle(TimerBase.class, "runningTimer", TimerList.class);
            RUNNER = MethodHandles.lookup().findVarHandle(TimerBase.class, "runner",
                    dev.bottomhalf.runtime.ExecutionContext.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final int cpu;
    final int kind;
    final int depth;
    final int wheelSize;
    private final TimerList[] heads;
    private final long[] pendingMap;
    /** Scratch for {@code calc_wheel_index}'s bucket expiry; used under the lock only. */
    final long[] bucketExpiry = new long[1];

    long clk;
    volatile long nextExpiry;
    volatile boolean timersPending;
    boolean nextExpiryRecalc;
    volatile TimerList runningTimer;
    /** The context running {@link #runningTimer}'s callback (self-deadlock detection). */
    volatile dev.bottomhalf.runtime.ExecutionContext runner;
    TimerBase(int cpu, int kind, int depth, long jiffies) {
        this.cpu = cpu;
        this.kind = kind;
        this.depth = depth;
        this.wheelSize = TimerWheel.wheelSize(depth);
        this.heads = new TimerList[wheelSize + depth];
        this.pendingMap = new long[depth];
        this.clk = jiffies;
        this.nextExpiry = jiffies + NEXT_TIMER_MAX_DELTA;
    }

    // ------------------------------------------------------------------------------------------
    // The lock
    // ------------------------------------------------------------------------------------------

    // lock() and unlock(): the base is its own raw spinlock ({@code base->lock}).

    /**
     * Sets {@link #runningTimer} (under the lock) with a release store: its lockless readers (a sync delete
     * waiting for the callback) need only acquire ordering, and every decision on it is re-made under the lock.
     */
    void running(TimerList t) {
        RUNNING_TIMER.setRelease(this, t);
    }

    /** Sets {@link #runner} with a release store; read only to recognise the running context itself. */
    void runner(dev.bottomhalf.runtime.ExecutionContext ctx) {
        RUNNER.setRelease(this, ctx);
    }

    // ------------------------------------------------------------------------------------------
    // The wheel (all under the lock)
    // ------------------------------------------------------------------------------------------

    /** {@code enqueue_timer}: links at the head of bucket {@code idx}; true if it is now the first to expire. */
    boolean enqueue(TimerList t, int idx, long bucketExpiryJiffies) {
        TimerList first = heads[idx];
        t.prev = null;
        t.next = first;
        if (first != null) {
            first.prev = t;
        }
        heads[idx] = t;
        t.idx = idx;
        t.setPending(true);
        pendingMap[idx >>> 6] |= 1L << idx;
        if (Jiffies.timeBefore(bucketExpiryJiffies, nextExpiry)) {
            nextExpiry = bucketExpiryJiffies;
            timersPending = true;
            nextExpiryRecalc = false;
            return true;
        }
        return false;
    }

    /** {@code calc_wheel_index} against this base's clock; the bucket's expiry lands in {@link #bucketExpiry}. */
    int index(long expires) {
        return TimerWheel.index(expires, clk, depth, bucketExpiry);
    }

    /** {@code internal_add_timer}. */
    boolean internalAdd(TimerList t) {
        int idx = index(t.expires);
        return enqueue(t, idx, bucketExpiry[0]);
    }

    /** {@code detach_timer}: unlinks {@code t} from whatever list holds it. */
    void detach(TimerList t, boolean clearPending) {
        TimerList prev = t.prev;
        TimerList next = t.next;
        if (prev == null) {
            heads[t.idx] = next;
            if (next != null) {
                next.idx = t.idx;
            }
        } else {
            prev.next = next;
        }
        if (next != null) {
            next.prev = prev;
        }
        t.next = null;
        t.prev = null;
        if (clearPending) {
            t.setPending(false);
        }
    }

    /**
     * {@code detach_if_pending}: 0 if {@code t} is not pending; else unlinks it (clearing its bucket's
     * pending bit if it was the bucket's only timer) and returns 1.
     */
    int detachIfPending(TimerList t, boolean clearPending) {
        if (!t.pending) {
            return 0;
        }
        int idx = t.idx;
        if (idx >= 0 && idx < wheelSize && heads[idx] == t && t.next == null) {
            pendingMap[idx >>> 6] &= ~(1L << idx);
            nextExpiryRecalc = true;
        }
        detach(t, clearPending);
        return 1;
    }

    /** {@code __forward_timer_base}: moves the clock up to {@code basej}, never past the next expiry. */
    boolean forward(long basej) {
        if (Jiffies.timeBeforeEq(basej, clk)) {
            return true;
        }
        if (Jiffies.timeAfter(nextExpiry, basej)) {
            clk = basej;
        } else {
            if (Jiffies.timeBefore(nextExpiry, clk)) {
                return false; // the kernel's WARN_ON_ONCE: the caller reports it
            }
            clk = nextExpiry;
        }
        return true;
    }

    /**
     * {@code collect_expired_timers}: sets the clock to the next expiry and moves every due bucket (level 0,
     * and each higher level whose lower clock bits are zero) to a collected list.
     *
     * @return how many lists were collected; list {@code i} is {@link #collected(int)}
     */
    int collect() {
        long c = clk = nextExpiry;
        int levels = 0;
        for (int lvl = 0; lvl < depth; lvl++) {
            int idx = (int) (c & LVL_MASK) + lvl * LVL_SIZE;
            long bit = 1L << idx;
            if ((pendingMap[lvl] & bit) != 0) {
                pendingMap[lvl] &= ~bit;
                TimerList first = heads[idx];
                heads[idx] = null;
                int slot = wheelSize + levels;
                heads[slot] = first;
                if (first != null) {
                    first.idx = slot;
                }
                levels++;
            }
            if ((c & LVL_CLK_MASK) != 0) {
                break;
            }
            c >>>= LVL_CLK_SHIFT;
        }
        return levels;
    }

    /** The slot of collected list {@code i}. */
    int collected(int i) {
        return wheelSize + i;
    }

    /** The first timer of the list in {@code slot}, or null. */
    TimerList first(int slot) {
        return heads[slot];
    }

    /** {@code timer_recalc_next_expiry} ({@code __next_timer_interrupt}): the earliest pending bucket. */
    void recalcNextExpiry() {
        long c = clk;
        long next = clk + NEXT_TIMER_MAX_DELTA;
        for (int lvl = 0; lvl < depth; lvl++) {
            int pos = nextPendingBucket(lvl, (int) (c & LVL_MASK));
            long lvlClk = c & LVL_CLK_MASK;
            if (pos >= 0) {
                long tmp = (c + pos) << TimerWheel.shift(lvl);
                if (Jiffies.timeBefore(tmp, next)) {
                    next = tmp;
                }
                // The next expiry is before this level's clock would carry into the next level.
                if (pos <= ((LVL_CLK_DIV - lvlClk) & LVL_CLK_MASK)) {
                    break;
                }
            }
            long adj = lvlClk != 0 ? 1 : 0;
            c >>>= LVL_CLK_SHIFT;
            c += adj;
        }
        nextExpiryRecalc = false;
        timersPending = next != clk + NEXT_TIMER_MAX_DELTA;
        nextExpiry = next;
    }

    /** {@code next_pending_bucket}: distance from {@code start} to the next pending bucket of a level, or −1. */
    private int nextPendingBucket(int lvl, int start) {
        long rotated = Long.rotateRight(pendingMap[lvl], start);
        return rotated == 0 ? -1 : Long.numberOfTrailingZeros(rotated);
    }

    /** The next expiry, recomputed first if deletions made it stale. Under the lock. */
    long nextExpiryExact() {
        if (nextExpiryRecalc) {
            recalcNextExpiry();
        }
        return nextExpiry;
    }

    /** Whether bucket {@code idx} is marked pending (tests and structure checks). */
    boolean bucketPending(int idx) {
        return (pendingMap[idx >>> 6] & (1L << idx)) != 0;
    }

    /** Adds every armed timer of this base to {@code out}. Under the lock. */
    void copyArmedTo(java.util.List<TimerList> out) {
        for (int idx = 0; idx < wheelSize; idx++) {
            for (TimerList t = heads[idx]; t != null; t = t.next) {
                out.add(t);
            }
        }
    }

    /**
     * Checks the structure (tests): every pending bit has a non-empty bucket and vice versa, links are
     * consistent, every linked timer is pending and knows its bucket. Under the lock.
     *
     * @return how many timers are linked in the wheel
     */
    int checkStructure() {
        int n = 0;
        for (int idx = 0; idx < wheelSize; idx++) {
            TimerList t = heads[idx];
            if ((t != null) != bucketPending(idx)) {
                throw new IllegalStateException("bucket " + idx + " pending bit " + bucketPending(idx)
                        + " but " + (t == null ? "empty" : "holds " + t));
            }
            if (t != null && t.prev != null) {
                throw new IllegalStateException("first timer of bucket " + idx + " has a predecessor");
            }
            TimerList prev = null;
            for (; t != null; prev = t, t = t.next) {
                if (t.prev != prev || t.idx != idx || !t.pending) {
                    throw new IllegalStateException("bad link in bucket " + idx + " at " + t);
                }
                n++;
            }
        }
        return n;
    }

    String kindName() {
        return KIND_NAMES[kind];
    }

    @Override
    public String toString() {
        return "timer_base[cpu " + cpu + " " + kindName() + " clk=" + clk + " next_expiry=" + nextExpiry + "]";
    }
}
