package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.internal.runtime.SteppedScheduler;

/**
 * One task of a {@link WorkqueueExecutor} that has a future: the future {@code submit} (or {@code schedule})
 * returns, with the work item that runs it (a task given to {@code execute} has none: it rides an
 * {@link ExecuteCarrier}). Created on the submitting thread; run by whichever
 * worker (or BH round) the workqueue gives its item to; its future methods may be called from any thread.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>The future's state is {@link FutureTask}'s. {@code cancel} is {@code FutureTask.cancel(false)} followed by
 * the adapter's own steps: the interrupt of the running worker (below) and {@code cancel_work} (or
 * {@code cancel_delayed_work}) of the item, so a task cancelled while queued never reaches a worker; one that a
 * worker took an instant earlier finds the future cancelled and runs nothing.</li>
 * <li>{@code runner} (guarded by this object's monitor) is the worker thread inside the task. The interrupt of
 * {@code cancel(true)} and {@code shutdownNow} is sent under the monitor and the runner is cleared under it before
 * the work function returns, so an interrupt never outlives the task; the workqueue then clears the thread's
 * interrupt when the item returns, so it never reaches the next item.</li>
 * <li>{@code refs} counts why the task still belongs to its executor: 1 until the future is done (or until
 * {@code shutdownNow} withdraws the task and hands the future back, not done), plus 1 while the work function runs.
 * At 0 the executor forgets the task ({@link WorkqueueExecutor#retire}) — exactly once, which the executor's count
 * of tasks relies on: the count never climbs back from 0 (a worker that takes the item of a future cancelled an
 * instant earlier runs nothing and adds no reference), and a future handed back and later run or cancelled by its
 * caller takes it below 0 and retires nothing — so termination waits for the body of a task that was cancelled
 * while it ran.</li>
 * <li>After the kernel's close, a task whose future is not done and that is not running (its {@code refs} is 1, or 0
 * when {@code shutdownNow} handed it back) will never run again — the close ran or dropped what was queued and
 * cancelled what was armed — and its future is cancelled ({@link #reapIfKernelClosed}).</li>
 * </ul>
 */
class ExecutorTask<V> extends FutureTask<V> {
    /** The one work function of every task: the item's container is its task. */
    static final Work.Func RUN = w -> ((ExecutorTask<?>) w.container(Object.class)).runOnWorkqueue();

    private static final VarHandle REFS;

    static {
        try {
            REFS = MethodHandles.lookup().findVarHandle(ExecutorTask.class, "refs", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final WorkqueueExecutor executor;
    /** Submission order within the executor (shutdownNow's list, ties of scheduled tasks). */
    final long seq;
    /** The item that runs the task (for a scheduled task, its delayed item's work). */
    final Work work;
    @SuppressWarnings("unused") // through REFS
    private volatile int refs = 1;
    private Thread runner; // guarded by this

    /** A task for {@code submit(Callable)}. */
    ExecutorTask(WorkqueueExecutor executor, Callable<V> callable, Work work) {
        super(callable);
        this.executor = executor;
        this.seq = executor.nextSeq();
        this.work = work.container(this);
    }

    /** A task for {@code submit(Runnable, result)}. */
    ExecutorTask(WorkqueueExecutor executor, Runnable runnable, V result, Work work) {
        super(runnable, result);
        this.executor = executor;
        this.seq = executor.nextSeq();
        this.work = work.container(this);
    }

    /** The name of the work item of a task: the class of what the user gave (no allocation). */
    static String itemName(Object task) {
        return task.getClass().getName();
    }

    /** The work function: runs the task on the worker that took its item. */
    final void runOnWorkqueue() {
        if (!takeRunReference()) {
            return; // cancelled before a worker took its item, and already forgotten: nothing to run
        }
        boolean signal = executor.interruptible;
        if (signal) {
            synchronized (this) {
                runner = Thread.currentThread();
            }
        }
        try {
            runTask();
        } finally {
            if (signal) {
                synchronized (this) {
                    runner = null;
                }
            }
            release();
        }
    }

    /**
     * Adds the running function's reference, unless the count is already 0: the future is done (cancelled while its
     * item waited, and the worker took the item before the cancel could) and the executor has retired the task. The
     * count never climbs back from 0, so the task retires exactly once.
     */
    private boolean takeRunReference() {
        int r;
        do {
            r = refs;
            if (r <= 0) {
                return false;
            }
        } while (!REFS.compareAndSet(this, r, r + 1));
        return true;
    }

    /** Runs the body once (a one-shot task). Overridden by periodic tasks. */
    void runTask() {
        super.run();
    }

    /** Queues the item (for a scheduled task: arms its delay). The caller handles a closed kernel. */
    void arm() {
        executor.workqueues.queue(executor.wq, work);
    }

    /**
     * Takes the item off the workqueue if it has not started: {@code cancel_work} ({@code cancel_delayed_work}
     * for a scheduled task). False if it was not pending, or the kernel no longer takes calls from here.
     */
    boolean withdraw() {
        try {
            return executor.workqueues.cancel(work);
        } catch (IllegalStateException closed) {
            return false;
        }
    }

    /** Interrupts the worker running the task, if one is (never on a BH workqueue: no runner is recorded). */
    final void interruptRunner() {
        synchronized (this) {
            if (runner != null) {
                runner.interrupt();
            }
        }
    }

    /** Whether the future is done, without looking at the kernel. */
    final boolean finished() {
        return super.isDone();
    }

    /** The future's state, without looking at the kernel. */
    final State finishedState() {
        return super.state();
    }

    /**
     * After the kernel's close, a task that is not done and not running will never run again (the close ran or
     * dropped what was queued and cancelled what was armed): its future is cancelled — also one that
     * {@code shutdownNow} handed back ({@code refs} 0), so that a thread waiting on it is released rather than left
     * waiting for a run that nobody is likely to make.
     */
    final void reapIfKernelClosed() {
        if (!super.isDone() && refs <= 1 && executor.machine.closed()) {
            super.cancel(false);
        }
    }

    final void release() {
        if ((int) REFS.getAndAdd(this, -1) == 1) {
            executor.retire(this);
        }
    }

    // ------------------------------------------------------------------------------------------
    // FutureTask
    // ------------------------------------------------------------------------------------------

    /**
     * {@code Future.cancel}: the future is cancelled; with {@code mayInterruptIfRunning} the worker running it is
     * interrupted (its item's pending signal; not on a BH workqueue); and the item is taken off the workqueue
     * ({@code cancel_work} / {@code cancel_delayed_work}), so a queued task never runs.
     */
    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        if (!super.cancel(false)) {
            return false;
        }
        if (mayInterruptIfRunning) {
            interruptRunner();
        }
        withdraw();
        return true;
    }

    @Override
    protected void done() {
        executor.taskDone(this);
        release();
    }

    /**
     * A task threw. The future fails with it and the failure is counted; a fatal error ({@link Reports#isFatal})
     * then goes on to the workqueue: the oops report and the kernel's panic. A stepped kernel closed while the task
     * slept unwinds the worker's thread: the future is cancelled and the unwinding goes on.
     */
    @Override
    protected void setException(Throwable t) {
        if (SteppedScheduler.isShutdown(t)) {
            super.cancel(false);
            throw (Error) t;
        }
        super.setException(t);
        if (Reports.isFatal(t)) {
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
        }
    }

    @Override
    public boolean isDone() {
        reapIfKernelClosed();
        return super.isDone();
    }

    @Override
    public boolean isCancelled() {
        reapIfKernelClosed();
        return super.isCancelled();
    }

    @Override
    public State state() {
        reapIfKernelClosed();
        return super.state();
    }

    /**
     * Waits through the kernel ({@link WorkqueueExecutor#awaitDone}): in stepped mode the caller drives the
     * kernel, a worker gives its CPU away.
     */
    @Override
    public V get() throws InterruptedException, ExecutionException {
        if (!super.isDone()) {
            executor.awaitDone(this, WorkqueueExecutor.NO_DEADLINE, "Future.get");
        }
        return super.get();
    }

    /** Like {@link #get()}; the timeout runs on the kernel's clock (the manual clock in stepped mode). */
    @Override
    public V get(long timeout, TimeUnit unit) throws InterruptedException, ExecutionException, TimeoutException {
        long deadlineNs = executor.deadlineNs(timeout, unit);
        if (!super.isDone() && !executor.awaitDone(this, deadlineNs, "Future.get")) {
            throw new TimeoutException("task not done within " + timeout + " " + unit.toString().toLowerCase(java.util.Locale.ROOT)
                    + " of the kernel's clock");
        }
        return super.get();
    }
}
