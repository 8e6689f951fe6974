package dev.bottomhalf.sched;

/**
 * A wait-queue head ({@code wait_queue_head_t}, {@code DECLARE_WAIT_QUEUE_HEAD}/{@code init_waitqueue_head}):
 * the list of entries waiting for one event. Not bound to a kernel: the calls that use it
 * ({@link Sched#waitEvent}, {@link Sched#wakeUp}, ...) act for the calling thread's. Any thread, any context.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>The head's monitor is its {@code wq_head->lock}: it guards the list and is held while the wake functions
 * run (so a wake function may remove its entry, as {@code autoremove_wake_function} does).</li>
 * <li>Non-exclusive entries are added at the head, exclusive ones at the tail, as {@code __add_wait_queue} and
 * {@code __add_wait_queue_entry_tail}; a wake-up walks from the head.</li>
 * <li>{@code count} (volatile) is the number of queued entries, written under the lock. A waker with nobody
 * queued reads it and returns: one volatile read, no lock, no allocation. That is safe because the waiter
 * queues itself (a volatile write of {@code count}) before it reads the condition, and the waker makes the
 * condition true before it reads {@code count}; the volatile accesses are totally ordered, so either the waker
 * sees the entry or the waiter sees the condition ({@code wq_has_sleeper}'s barrier pairing). The condition a
 * waiter tests must therefore be a volatile or atomic read.</li>
 * </ul>
 */
public final class WaitQueueHead {
    private final String name;
    private WaitQueueEntry first;   // guarded by this
    private WaitQueueEntry last;    // guarded by this
    private volatile int count;     // written under this

    /**
     * {@code DECLARE_WAIT_QUEUE_HEAD(name)} / {@code init_waitqueue_head(wq)}.
     *
     * @param name the head's name, for reports
     */
    public WaitQueueHead(String name) {
        this.name = name;
    }

    /**
     * The head's name, as given; any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * {@code waitqueue_active(wq)}: whether an entry is queued. Any thread; one volatile read, a snapshot.
     *
     * @return true when some entry is queued
     */
    public boolean active() {
        return count != 0;
    }

    /**
     * How many entries are queued. Any thread; a snapshot.
     *
     * @return the number of entries
     */
    public int size() {
        return count;
    }

    /** {@code __add_wait_queue}: at the head. Under the lock. */
    void addFirst(WaitQueueEntry e) {
        assert Thread.holdsLock(this) : "wq_head->lock not held";
        e.head = this;
        e.prev = null;
        e.next = first;
        if (first != null) {
            first.prev = e;
        } else {
            last = e;
        }
        first = e;
        e.queued = true;
        count++;
    }

    /** {@code __add_wait_queue_entry_tail}: at the tail. Under the lock. */
    void addLast(WaitQueueEntry e) {
        assert Thread.holdsLock(this) : "wq_head->lock not held";
        e.head = this;
        e.next = null;
        e.prev = last;
        if (last != null) {
            last.next = e;
        } else {
            first = e;
        }
        last = e;
        e.queued = true;
        count++;
    }

    /** {@code list_del_init(&wq_entry->entry)}; nothing when it is not queued here. Under the lock. */
    void remove(WaitQueueEntry e) {
        assert Thread.holdsLock(this) : "wq_head->lock not held";
        if (!e.queued || e.head != this) {
            return;
        }
        if (e.prev != null) {
            e.prev.next = e.next;
        } else {
            first = e.next;
        }
        if (e.next != null) {
            e.next.prev = e.prev;
        } else {
            last = e.prev;
        }
        e.prev = null;
        e.next = null;
        e.head = null;
        e.queued = false;
        count--;
    }

    /** Whether no entry is queued. Under the lock. */
    boolean emptyLocked() {
        assert Thread.holdsLock(this) : "wq_head->lock not held";
        return first == null;
    }

    /** The first entry, or null. Under the lock. */
    WaitQueueEntry firstLocked() {
        assert Thread.holdsLock(this) : "wq_head->lock not held";
        return first;
    }

    /**
     * {@code __wake_up_common}: calls the wake functions from the head until {@code nrExclusive} exclusive
     * entries woke ({@code 0}: all). Under the lock.
     *
     * @return the part of {@code nrExclusive} left
     */
    int wakeUpCommonLocked(int mode, int nrExclusive, int wakeFlags, Object key) {
        assert Thread.holdsLock(this) : "wq_head->lock not held";
        WaitQueueEntry curr = first;
        while (curr != null) {
            WaitQueueEntry next = curr.next; // the wake function may remove curr
            int flags = curr.flags;
            int ret = curr.func.wake(curr, mode, wakeFlags, key);
            if (ret < 0) {
                break;
            }
            if (ret != 0 && (flags & WaitQueueEntry.WQ_FLAG_EXCLUSIVE) != 0 && --nrExclusive == 0) {
                break;
            }
            curr = next;
        }
        return nrExclusive;
    }

    @Override
    public String toString() {
        return "wait_queue_head " + name + " [" + count + " queued]";
    }
}
