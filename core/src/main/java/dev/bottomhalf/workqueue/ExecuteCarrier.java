package dev.bottomhalf.workqueue;

/**
 * A reusable work item for {@link WorkqueueExecutor#execute}: it carries one {@code Runnable} at a time from the
 * submitting thread to the worker that runs it, then goes back to its executor's free carriers. A task given to
 * {@code execute} has no future, so nothing outside the executor ever names its item: the executor may queue the
 * same item again for the next task as soon as the function has returned — the kernel's own pattern of an item
 * that its function re-queues.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>States, told apart by {@code command} and the item's PENDING bit: free ({@code command} null, on the free
 * stack or being taken), queued ({@code command} set, PENDING set), running ({@code command} set, PENDING clear;
 * a worker's current item). No state word of its own: the item's PENDING bit, which queueing needs anyway, is the
 * only atomic per use.</li>
 * <li>Ownership: {@code command}, {@code seq} and the item's name are written by the thread that took the carrier
 * from the free stack, before it queues the item (published to the worker by the PENDING claim and the queueing);
 * the worker reads them and clears {@code command} when the function returns, before it pushes the carrier back
 * (published to the next taker by the free stack's compare-and-set). {@code shutdownNow} reads them after it won
 * the item's PENDING bit by {@code cancel_work}: whatever task then occupies the carrier never ran, and is its
 * to return.</li>
 * <li>{@code nextFree} links the executor's free stack; it is written by whoever owns the carrier at the time.</li>
 * </ul>
 */
final class ExecuteCarrier {
    /** The work function of every carrier: runs the task it carries. */
    static final Work.Func RUN = w -> {
        ExecuteCarrier c = (ExecuteCarrier) w.containerOrNull();
        c.executor.runCarrier(c);
    };

    final WorkqueueExecutor executor;
    final Work work;
    /** Whether it goes back to the free stack after its task (the executor keeps a bounded number). */
    final boolean kept;
    /** The task it carries; null while free. */
    Runnable command;
    /** The task's place in submission order ({@code shutdownNow}'s list). */
    long seq;
    /** The next free carrier on the free stack. */
    ExecuteCarrier nextFree;

    ExecuteCarrier(WorkqueueExecutor executor, boolean kept) {
        this.executor = executor;
        this.kept = kept;
        this.work = new Work("execute", RUN).container(this);
    }

    /**
     * Loads {@code task} (taken from the free stack, not queued): its runnable, its place in submission order, and
     * the item's name — the task's class, as the oops report and the tracepoints show it (renamed only when the
     * class changes: one reference compare per task).
     */
    void load(Runnable task, long taskSeq) {
        command = task;
        seq = taskSeq;
        String name = task.getClass().getName();
        if (work.name() != name) {
            work.renameIdle(name);
        }
    }

    /** Whether {@code w} is a carrier of {@code executor}. */
    static boolean isCarrierOf(Work w, WorkqueueExecutor executor) {
        return w.containerOrNull() instanceof ExecuteCarrier c && c.executor == executor;
    }
}
