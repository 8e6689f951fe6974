package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What submitters touch on every {@code execute} and {@code submit}: the lock that hands out free carriers, the
 * carriers taken off the free stack, the task numbers. After {@link CacheLinePad}, so it starts a cache line into
 * the object.
 */
abstract class ExecuteCarriersSubmitSide extends CacheLinePad {
    /** [A] 1 while a submitter takes a carrier: compare-and-set from 0, released with a release store. */
    volatile int takeLock;
    /** Guarded by {@link #takeLock}: free carriers taken off the free stack at once, handed out one by one. */
    ExecuteCarrier taken;
    /** [A] The next task number ({@code getAndAdd}): the executor's count of tasks admitted, in submission order. */
    volatile long sequence;
    /** [A] Carriers made to be kept ({@code getAndAdd}): at most {@link ExecuteCarriers#MAX_KEPT}. */
    volatile int kept;
}

/** Keeps the submitters' fields and the workers' fields on different cache lines. */
@SuppressWarnings("unused") // padding only
abstract class ExecuteCarriersPad extends ExecuteCarriersSubmitSide {
    int q00;
    long q01, q02, q03, q04, q05, q06, q07, q08;
}

/** What workers touch when a task given to {@code execute} returns: the free stack and the count of runs. */
abstract class ExecuteCarriersRunSide extends ExecuteCarriersPad {
    /** [A] The free stack's top: pushed by compare-and-set, taken whole by one submitter holding the take lock. */
    volatile ExecuteCarrier free;
    /** [A] Runs of tasks given to {@code execute} that ended ({@code getAndAdd}), normally or by throwing. */
    volatile long runs;
}

/**
 * The carriers of one {@link WorkqueueExecutor}: reusable work items for the tasks given to {@code execute}, so
 * that a steady stream of them allocates nothing ({@link ExecuteCarrier}). Also the executor's two hot counters:
 * the task numbers, and the runs of {@code execute}d tasks.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>The free stack: a worker pushes a carrier whose task returned (compare-and-set on {@code free}); a submitter
 * holding the take lock takes the whole stack at once ({@code getAndSet} to null) into {@code taken} and hands
 * carriers out from there. Only the lock holder takes, and a push cannot recreate an old top except by a
 * carrier that was taken — so none of the stack's ABA cases arise. Per {@code execute}, a submitter pays the
 * take lock's compare-and-set and, once per batch of carriers, the {@code getAndSet}; the worker pays its push.</li>
 * <li>A submitter that finds the take lock held (another submitter is taking) or no free carrier makes a new
 * carrier. Up to {@link #MAX_KEPT} carriers are kept and go back to the free stack after their task; the others
 * are left to the garbage collector, so a burst of tasks does not pin its peak of carriers. A carrier whose task
 * threw is not reused either (the oops report still names its item after the task returned): it is given up and
 * its place may be filled again.</li>
 * <li>Layout: the submitters' fields and the workers' fields sit in superclasses, on different cache lines (see
 * {@link CacheLinePad}); one producer and one worker then touch one line each.</li>
 * </ul>
 */
final class ExecuteCarriers extends ExecuteCarriersRunSide {
    /** How many carriers an executor keeps for reuse. */
    static final int MAX_KEPT = 2048;

    private static final VarHandle TAKE_LOCK;
    private static final VarHandle SEQUENCE;
    private static final VarHandle KEPT;
    private static final VarHandle FREE;
    private static final VarHandle RUNS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            TAKE_LOCK = l.findVarHandle(ExecuteCarriersSubmitSide.class, "takeLock", int.class);
            SEQUENCE = l.findVarHandle(ExecuteCarriersSubmitSide.class, "sequence", long.class);
            KEPT = l.findVarHandle(ExecuteCarriersSubmitSide.class, "kept", int.class);
            FREE = l.findVarHandle(ExecuteCarriersRunSide.class, "free", ExecuteCarrier.class);
            RUNS = l.findVarHandle(ExecuteCarriersRunSide.class, "runs", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // padding only
    private long r01, r02, r03, r04, r05, r06, r07, r08;

    /**
     * The next task number: a full fence, which the admission protocol relies on (the executor's class notes).
     * Any thread.
     */
    long nextSeq() {
        return (long) SEQUENCE.getAndAdd(this, 1L);
    }

    /** How many task numbers were handed out. Any thread. */
    long sequence() {
        return sequence;
    }

    /**
     * A free carrier for a task of {@code executor}: a kept one from the free stack, or a new one. Any thread.
     */
    ExecuteCarrier take(WorkqueueExecutor executor) {
        if (!TAKE_LOCK.compareAndSet(this, 0, 1)) {
            return new ExecuteCarrier(executor, false); // another submitter is taking: not worth waiting for
        }
        ExecuteCarrier c = taken;
        if (c == null && free != null) {
            c = (ExecuteCarrier) FREE.getAndSet(this, (ExecuteCarrier) null);
        }
        if (c != null) {
            taken = c.nextFree;
            c.nextFree = null;
            TAKE_LOCK.setRelease(this, 0);
            return c;
        }
        TAKE_LOCK.setRelease(this, 0);
        boolean keep = (int) KEPT.getAndAdd(this, 1) < MAX_KEPT;
        if (!keep) {
            KEPT.getAndAdd(this, -1);
        }
        return new ExecuteCarrier(executor, keep);
    }

    /** Puts back a carrier that carries nothing (its task ran, or was withdrawn). Any thread. */
    void giveBack(ExecuteCarrier c) {
        if (!c.kept) {
            return;
        }
        ExecuteCarrier top;
        do {
            top = free;
            c.nextFree = top;
        } while (!FREE.weakCompareAndSet(this, top, c));
    }

    /** A kept carrier will not be reused (its task threw, or its item cannot be queued again): its place is free. */
    void giveUp(ExecuteCarrier c) {
        if (c.kept) {
            KEPT.getAndAdd(this, -1);
        }
    }

    /** Counts a run of an {@code execute}d task that ended. The worker that ran it. */
    void ran() {
        RUNS.getAndAdd(this, 1L);
    }

    /** Runs of {@code execute}d tasks that ended. Any thread. */
    long runs() {
        return runs;
    }
}
