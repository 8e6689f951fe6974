package dev.bottomhalf.sched;

/**
 * A completion ({@code struct completion}, {@code DECLARE_COMPLETION}/{@code init_completion}): a count of
 * {@code complete()} calls not yet consumed by a waiter, and the queue of tasks waiting for one. Not bound to a
 * kernel: {@link Sched#complete}, {@link Sched#waitForCompletion} and the others act for the calling thread's.
 * Any thread, any context (waiting: process context).
 *
 * <p>Implementation notes. The monitor of {@link #wait} is {@code x->wait.lock}; it guards {@link #done}
 * (also volatile, for the lock-free reads of {@code completion_done} and {@code try_wait_for_completion}) and
 * the waiters, which queue at the tail and are woken one per {@code complete()} in queue order, as the simple
 * wait queue ({@code swait}) the kernel uses. {@code done} is an unsigned count: {@code complete_all()} sets
 * {@code UINT_MAX} (−1 here), which no waiter decrements.
 */
public final class Completion {
    /** {@code UINT_MAX} as {@code done} holds it. */
    static final int UINT_MAX = -1;

    private final String name;
    final WaitQueueHead wait;
    volatile int done;

    /**
     * {@code DECLARE_COMPLETION(name)} / {@code init_completion(x)}: nothing done yet.
     *
     * @param name the completion's name, for reports
     */
    public Completion(String name) {
        this.name = name;
        this.wait = new WaitQueueHead(name);
    }

    /**
     * The completion's name, as given; any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * {@code x->done} as an unsigned value ({@code 4294967295} after {@code complete_all}). Any thread; a
     * snapshot.
     *
     * @return the done count, unsigned
     */
    public long done() {
        return Integer.toUnsignedLong(done);
    }

    /**
     * How many tasks wait. Any thread; a snapshot.
     *
     * @return the number of waiters
     */
    public int waiters() {
        return wait.size();
    }

    @Override
    public String toString() {
        return "completion " + name + " [done " + done() + ", " + waiters() + " waiting]";
    }
}
