package dev.bottomhalf.sched;

/**
 * A wait-queue entry ({@code struct wait_queue_entry}): a task (or a callback) queued on a
 * {@link WaitQueueHead}, with its flags and wake function. Made by the sleeping task ({@code DEFINE_WAIT},
 * {@code init_waitqueue_entry}) and used by it with {@code prepare_to_wait}/{@code finish_wait}; the wakers call
 * its {@link WakeFunction} under the head's lock.
 *
 * <p>Implementation notes: {@link #prev}/{@link #next}/{@link #queued} are guarded by the lock (monitor) of the
 * head the entry is on; {@code queued} is also read without it by {@code finish_wait}'s
 * {@code list_empty_careful} (volatile).
 */
public final class WaitQueueEntry {
    /** {@code WQ_FLAG_EXCLUSIVE}: {@code wake_up} wakes one exclusive waiter. */
    public static final int WQ_FLAG_EXCLUSIVE = 0x01;
    /** {@code WQ_FLAG_WOKEN}: set by {@code woken_wake_function}. */
    public static final int WQ_FLAG_WOKEN = 0x02;

    /**
     * {@code wait_queue_func_t}: called under the head's lock by {@code __wake_up_common}, in the waker's
     * context (any context).
     */
    @FunctionalInterface
    public interface WakeFunction {
        /**
         * Handles one wake-up that reached the entry, under the head's lock in the waker's context.
         *
         * @param entry this entry
         * @param mode the {@code TASK_*} states the wake-up wakes from
         * @param wakeFlags the wake flags
         * @param key the wake-up's key, for entries that filter on it
         * @return positive when it woke something (an exclusive entry then counts against {@code nr_exclusive}),
         *         0 when not, negative to stop the walk
         */
        int wake(WaitQueueEntry entry, int mode, int wakeFlags, Object key);
    }

    volatile int flags;
    final Task task;
    final WakeFunction func;
    final Sched sched;
    WaitQueueEntry prev;
    WaitQueueEntry next;
    WaitQueueHead head;
    volatile boolean queued;

    WaitQueueEntry(Sched sched, Task task, WakeFunction func, int flags) {
        this.sched = sched;
        this.task = task;
        this.func = func;
        this.flags = flags;
    }

    /**
     * The entry's flags ({@link #WQ_FLAG_EXCLUSIVE}, {@link #WQ_FLAG_WOKEN}).
     *
     * @return the flag bits
     */
    public int flags() {
        return flags;
    }

    /**
     * {@code wq_entry->private}: the task it wakes, or null for a callback entry.
     *
     * @return the task, or null
     */
    public Task task() {
        return task;
    }

    /**
     * Whether the entry is on a wait queue ({@code !list_empty(&wq_entry->entry)}). Any thread; a snapshot.
     *
     * @return true while queued
     */
    public boolean queued() {
        return queued;
    }
}
