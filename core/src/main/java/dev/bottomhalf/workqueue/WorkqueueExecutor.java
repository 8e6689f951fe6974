package dev.bottomhalf.workqueue;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.runtime.SteppedScheduler;

/**
 * An {@link ExecutorService} over one workqueue: every task runs as a work item on it, with the workqueue's
 * semantics ({@code max_active}, ordered, unbound, BH). Any thread may submit (a task thread, a handler in any
 * context, a work item); the waits ({@link Future#get}, {@code invokeAll}, {@code invokeAny},
 * {@link #awaitTermination}) are for process context and go through the kernel's wait, so in stepped mode the
 * stepping thread drives the kernel while it waits and a worker gives its CPU away.
 *
 * <pre>{@code
 * WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "mydrv", Workqueue.WQ_UNBOUND, 4); // owns its workqueue
 * Future<Integer> f = ex.submit(() -> readRegister());      // a fresh work item, queued with queue_work
 * int value = f.get();                                      // ExecutionException if readRegister threw
 * ex.close();                                               // shutdown, wait, then destroy_workqueue
 * }</pre>
 *
 * <ul>
 * <li><b>Tasks.</b> {@code submit} queues a fresh {@link Work} per task ({@code queue_work}), {@code execute} one of
 * the executor's reusable items (no allocation per task); the future's {@code cancel} is {@code cancel_work} of a
 * queued task (it never runs) and, with {@code mayInterruptIfRunning}, an interrupt of the worker running it — the
 * model of the item's pending signal, cleared when the item returns. A task that throws fails its future and is
 * counted ({@link #failedTaskCount()}); it is not an oops. A Runnable given to {@link #execute} has no future: its
 * exception is counted and then reported as the workqueue's oops, as {@code ThreadPoolExecutor} hands it to the
 * thread's uncaught-exception handler.</li>
 * <li><b>BH workqueues.</b> Tasks run in softirq context on the submitting CPU and must not sleep (a sleep is
 * the kernel's {@code BUG: sleeping function called from invalid context}); {@code cancel(true)} does not
 * interrupt anything — softirq context has no task to signal.</li>
 * <li><b>Waiting in atomic context</b> (a handler, a BH task, BH or IRQs disabled) for a task that is not done is
 * reported as the kernel's {@code BUG: sleeping function called from invalid context} and refused with
 * {@link IllegalStateException}; in stepped mode an untimed wait that nothing can end is reported
 * ({@code would block forever in stepped mode}) and refused the same way. A timed wait lets the manual clock
 * run up to its timeout.</li>
 * <li><b>Lifecycle.</b> {@link #shutdown()} refuses new tasks ({@link RejectedExecutionException}) and lets queued
 * ones run; {@link #shutdownNow()} takes queued tasks off the workqueue ({@code cancel_work}) and returns them
 * — their futures stay not done, as {@code ThreadPoolExecutor}'s — and interrupts running ones;
 * {@link #close()} is {@link ExecutorService#close()}. An executor made by {@link #alloc} owns its workqueue
 * and destroys it ({@code destroy_workqueue}) when it terminates; one made by {@link #on} leaves it. A closed
 * kernel refuses every task with a {@link RejectedExecutionException} whose cause is the kernel's
 * {@code IllegalStateException("kernel is closed")}; once it is closed, the executor is shut down, and a task
 * that is not done and not running (it never ran, or a periodic task was armed) is cancelled.</li>
 * </ul>
 *
 * <p>Implementation notes.
 * <ul>
 * <li>{@code runState} (volatile, moved by compare-and-set) goes RUNNING → SHUTDOWN → STOP → TIDYING → TERMINATED,
 * only forward.</li>
 * <li>Admission and termination are counted. Every task takes a number ({@code carriers.nextSeq()}, a
 * {@code getAndAdd}: a future when it is made, an {@code execute}d task when it is admitted) and from then counts
 * as admitted until it retires, exactly once: a future when it is done and no longer running
 * ({@link #retire}), an {@code execute}d task when its run ends ({@code carriers.ran()}), any task when it is
 * refused after taking its number or withdrawn by {@link #shutdownNow} ({@code retired}). A submitter takes its
 * number (a full fence), then re-reads {@code runState}; {@code shutdown} writes {@code runState}, then counts — so
 * a task either is refused or is counted by the termination check. The check reads the retirements before the
 * numbers, both only grow, so it never sees fewer tasks than there were when it began: zero means none was left.
 * The last task to retire after a shutdown terminates the executor; an owned workqueue is destroyed by that
 * thread when it may sleep and is a task, otherwise by an item queued on {@code system_unbound_wq} (a worker of
 * the workqueue cannot destroy it: {@code destroy_workqueue} drains it).</li>
 * <li>{@code live} holds every future that is queued, armed or running, and every future not yet done — for
 * {@code shutdownNow}, and for the kernel's close, which cancels the futures that will never run. A submitter adds
 * its future before it re-reads {@code runState}, so {@code shutdownNow} (which writes it first) sees it.</li>
 * <li>A task given to {@code execute} rides one of the executor's reusable carriers ({@link ExecuteCarrier},
 * {@link ExecuteCarriers}) and is in no set: {@code shutdownNow} finds the queued ones in the workqueue's pools
 * (under each pool's lock) and withdraws them with {@code cancel_work} — the one that wins an item's PENDING bit
 * owns whatever task the carrier carries then — and interrupts the workers running the others under the pool lock
 * (the worker clears the interrupt under that lock before its next item). So an {@code execute} costs the task
 * number and the two atomics of {@code queue_work}, and its run the free stack's push and the count of runs; a
 * steady stream of them allocates nothing. Unlike a future's, an {@code execute} that races a {@code shutdownNow}
 * which did not see its task queued is not withdrawn by the submitter (its carrier may already carry another
 * task): the task runs.</li>
 * <li>After the kernel's close the counts no longer end (the close may have dropped a queued carrier): the
 * executor is terminated once no future is left and no worker runs an {@code execute}d task
 * ({@link #quiescent}), which {@link #isTerminated} and {@link #awaitTermination} look at again.</li>
 * </ul>
 */
public sealed class WorkqueueExecutor implements ExecutorService permits WorkqueueScheduledExecutor {
    static final long NO_DEADLINE = Long.MAX_VALUE;

    private static final int RUNNING = 0;
    private static final int SHUTDOWN = 1;
    private static final int STOP = 2;
    private static final int TIDYING = 3;
    private static final int TERMINATED = 4;

    private static final VarHandle RUN_STATE;

    static {
        try {
            RUN_STATE = MethodHandles.lookup().findVarHandle(WorkqueueExecutor.class, "runState", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final Machine machine;
    final Workqueues workqueues;
    final Workqueue wq;
    private final boolean ownsWorkqueue;
    /** Whether {@code cancel(true)} and {@code shutdownNow} interrupt a running task (not on a BH workqueue). */
    final boolean interruptible;
    private volatile int runState;
    /** [A] The futures (and scheduled tasks) queued, armed or running, and every future not yet done. */
    private final Set<ExecutorTask<?>> live = ConcurrentHashMap.newKeySet();
    /** The carriers of {@code execute}d tasks, the task numbers, and the count of {@code execute}d runs. */
    final ExecuteCarriers carriers = new ExecuteCarriers();
    /** [A] Admitted tasks that left for good other than by an {@code execute}d run (the class notes). */
    private final LongAdder retired = new LongAdder();
    /** [A] Runs of futures' tasks that ended (an {@code execute}d run is counted by {@link #carriers}). */
    private final LongAdder completed = new LongAdder();
    private final LongAdder failed = new LongAdder();

    WorkqueueExecutor(Kernel kernel, Workqueue wq, boolean ownsWorkqueue) {
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(wq, "wq");
        this.machine = kernel.workqueues().machine();
        this.workqueues = kernel.workqueues();
        if (wq.owner != workqueues) {
            throw new IllegalArgumentException(wq + " belongs to another kernel");
        }
        if (wq.destroyed) {
            throw new IllegalArgumentException(wq + " has been destroyed");
        }
        this.wq = wq;
        this.ownsWorkqueue = ownsWorkqueue;
        this.interruptible = !wq.isBh();
    }

    /**
     * An executor over {@code wq}, which it does not own: shutting it down leaves the workqueue as it is. Any
     * number of executors may share one workqueue (a system workqueue included).
     *
     * @param kernel the kernel {@code wq} belongs to
     * @param wq the workqueue the tasks run on
     * @return the executor
     * @throws IllegalArgumentException if {@code wq} belongs to another kernel or has been destroyed
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public static WorkqueueExecutor on(Kernel kernel, Workqueue wq) {
        kernel.workqueues().machine().checkOpen();
        return new WorkqueueExecutor(kernel, wq, false);
    }

    /**
     * An executor over a workqueue it allocates ({@code alloc_workqueue(name, flags, maxActive)}) and owns: when
     * the executor terminates, it destroys the workqueue.
     *
     * @param kernel the kernel to allocate on
     * @param name the workqueue's name
     * @param flags {@code WQ_*} bits
     * @param maxActive tasks that may run at once per CPU (per pool when unbound); 0 for the default
     * @return the executor
     * @throws IllegalArgumentException where {@code alloc_workqueue} returns NULL (after the kernel's WARN)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public static WorkqueueExecutor alloc(Kernel kernel, String name, int flags, int maxActive) {
        return new WorkqueueExecutor(kernel, allocated(kernel, () -> kernel.workqueues().alloc(name, flags, maxActive), name),
                true);
    }

    /**
     * Like {@link #alloc}, over {@code alloc_ordered_workqueue(name, flags)}: one task at a time, in order.
     *
     * @param kernel the kernel to allocate on
     * @param name the workqueue's name
     * @param flags further {@code WQ_*} bits
     * @return the executor
     * @throws IllegalArgumentException where {@code alloc_ordered_workqueue} returns NULL (after the kernel's
     *   WARN)
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public static WorkqueueExecutor allocOrdered(Kernel kernel, String name, int flags) {
        return new WorkqueueExecutor(kernel, allocated(kernel, () -> kernel.workqueues().allocOrdered(name, flags), name), true);
    }

    static Workqueue allocated(Kernel kernel, java.util.function.Supplier<Workqueue> alloc, String name) {
        try {
            return alloc.get();
        } catch (KernelException e) {
            throw new IllegalArgumentException("alloc_workqueue(" + name + ") refused the flags or max_active"
                    + " (see the kernel's warning)", e);
        }
    }

    /**
     * The workqueue the tasks run on.
     *
     * @return the workqueue
     */
    public Workqueue workqueue() {
        return wq;
    }

    /**
     * Whether this executor allocated its workqueue and destroys it when it terminates.
     *
     * @return true when made by {@link #alloc} or {@link #allocOrdered}
     */
    public boolean ownsWorkqueue() {
        return ownsWorkqueue;
    }

    /**
     * Task runs that ended, normally or by throwing (each run of a periodic task counts). A snapshot: a task is
     * counted just after its future completes, so the count is exact once the executor has terminated.
     *
     * @return the count so far
     */
    public long completedTaskCount() {
        return completed.sum() + carriers.runs();
    }

    /**
     * Tasks that threw: their futures failed (an {@code execute}d task's exception was also reported as an oops).
     *
     * @return the count so far
     */
    public long failedTaskCount() {
        return failed.sum();
    }

    // ------------------------------------------------------------------------------------------
    // Submitting
    // ------------------------------------------------------------------------------------------

    /**
     * Queues {@code command} on a work item named after its class. The item is one of the executor's reusable
     * carriers, so a steady stream of {@code execute} calls allocates nothing (see the class notes). An exception
     * the task throws is counted and reported as the workqueue's oops ({@code Oops: work <class> (<workqueue>)
     * threw ...}): there is no future to take it.
     *
     * @throws RejectedExecutionException after shutdown, on a destroyed workqueue, or when the kernel refuses
     *         (its {@code IllegalStateException} is the cause)
     */
    @Override
    public void execute(Runnable command) {
        Objects.requireNonNull(command, "command");
        if (runState != RUNNING) {
            throw rejected(null);
        }
        if (wq.destroyed) {
            throw new RejectedExecutionException(wq + " has been destroyed");
        }
        long seq = carriers.nextSeq(); // admitted: counted until retired (a full fence before the re-read below)
        if (runState != RUNNING) {
            retireRefused();
            throw rejected(null);
        }
        ExecuteCarrier c = carriers.take(this);
        c.load(command, seq);
        try {
            boolean queued = workqueues.queue(wq, c.work);
            assert queued : "a free carrier's item was pending";
        } catch (IllegalStateException refused) {
            giveUpRefused(c);
            throw rejected(refused);
        } catch (RuntimeException | Error e) {
            giveUpRefused(c);
            throw e;
        }
        // (No withdrawal when shutdownNow ran meanwhile, unlike a future's: the carrier may already have run and
        // carry another submitter's task. A shutdownNow that did not see this task queued lets it run.)
    }

    /** A carrier's task was refused after admission, possibly after its item was claimed: the carrier is not reused. */
    private void giveUpRefused(ExecuteCarrier c) {
        c.command = null;
        carriers.giveUp(c);
        retireRefused();
    }

    /** An admitted task was refused after all: it leaves without running. */
    private void retireRefused() {
        retired.increment();
        tryTerminate();
    }

    /**
     * The work function of a carrier: runs its task, then counts the run and gives the carrier back (a task that
     * threw gives it up: the oops report still names its item; the throwable goes on to that report). Context: the
     * worker (or BH round) that took the carrier's item.
     */
    final void runCarrier(ExecuteCarrier c) {
        Runnable command = c.command;
        try {
            command.run();
        } catch (Throwable t) {
            if (!SteppedScheduler.isShutdown(t)) {
                failed.increment();
            }
            c.command = null;
            carriers.giveUp(c);
            carriers.ran();
            if (runState != RUNNING) {
                tryTerminate();
            }
            throw t;
        }
        c.command = null;
        carriers.ran();
        carriers.giveBack(c);
        if (runState != RUNNING) {
            tryTerminate();
        }
    }

    @Override
    public <T> Future<T> submit(Callable<T> task) {
        return submitTask(task);
    }

    @Override
    public <T> Future<T> submit(Runnable task, T result) {
        Objects.requireNonNull(task, "task");
        return accept(new ExecutorTask<T>(this, task, result, new Work(ExecutorTask.itemName(task), ExecutorTask.RUN)));
    }

    @Override
    public Future<?> submit(Runnable task) {
        return submit(task, null);
    }

    private <T> ExecutorTask<T> submitTask(Callable<T> task) {
        Objects.requireNonNull(task, "task");
        return accept(new ExecutorTask<T>(this, task, new Work(ExecutorTask.itemName(task), ExecutorTask.RUN)));
    }

    /**
     * Admits {@code task}, a future made just before (its number taken: it counts as admitted until it retires or
     * is refused, see the class notes), and queues or arms it.
     */
    final <F extends ExecutorTask<?>> F accept(F task) {
        if (runState != RUNNING) {
            retireRefused();
            throw rejected(null);
        }
        if (wq.destroyed) {
            retireRefused();
            throw new RejectedExecutionException(wq + " has been destroyed");
        }
        live.add(task);
        if (runState != RUNNING) {
            live.remove(task);
            retireRefused();
            throw rejected(null);
        }
        try {
            task.arm();
        } catch (IllegalStateException refused) {
            live.remove(task);
            retireRefused();
            throw rejected(refused);
        } catch (RuntimeException | Error e) {
            live.remove(task);
            retireRefused();
            throw e;
        }
        if (runState >= STOP && task.withdraw()) {
            live.remove(task); // shutdownNow ran meanwhile and did not see it queued: refused, as ThreadPoolExecutor
            retireRefused();
            throw rejected(null);
        }
        return task;
    }

    private RejectedExecutionException rejected(IllegalStateException kernelRefusal) {
        if (kernelRefusal == null && machine.closing()) {
            try {
                machine.checkOpen(); // shut down by the kernel's close: the kernel's own refusal is the cause
            } catch (IllegalStateException refusal) {
                kernelRefusal = refusal;
            }
        }
        if (kernelRefusal != null) {
            return new RejectedExecutionException("task rejected by " + this + ": " + kernelRefusal.getMessage(),
                    kernelRefusal);
        }
        return new RejectedExecutionException("task rejected: " + this + " has been shut down");
    }

    /** The tasks queued, armed or running. */
    final Iterable<ExecutorTask<?>> liveTasks() {
        return live;
    }

    /** The next task number: the task counts as admitted from here until it retires (the class notes). */
    long nextSeq() {
        return carriers.nextSeq();
    }

    // ------------------------------------------------------------------------------------------
    // invokeAll, invokeAny
    // ------------------------------------------------------------------------------------------

    @Override
    public <T> List<Future<T>> invokeAll(Collection<? extends Callable<T>> tasks) throws InterruptedException {
        return invokeAll(tasks, NO_DEADLINE);
    }

    /** On timeout the tasks not done are cancelled; the list is returned (every future done). */
    @Override
    public <T> List<Future<T>> invokeAll(Collection<? extends Callable<T>> tasks, long timeout, TimeUnit unit)
            throws InterruptedException {
        return invokeAll(tasks, deadlineNs(timeout, unit));
    }

    private <T> List<Future<T>> invokeAll(Collection<? extends Callable<T>> tasks, long deadlineNs)
            throws InterruptedException {
        Objects.requireNonNull(tasks, "tasks");
        List<ExecutorTask<T>> futures = new ArrayList<>(tasks.size());
        try {
            for (Callable<T> t : tasks) {
                futures.add(submitTask(t));
            }
            for (ExecutorTask<T> f : futures) {
                if (!f.finished() && !awaitDone(f, deadlineNs, "invokeAll")) {
                    cancelAll(futures);
                    break;
                }
            }
            return new ArrayList<>(futures);
        } catch (Throwable t) {
            cancelAll(futures);
            throw t;
        }
    }

    @Override
    public <T> T invokeAny(Collection<? extends Callable<T>> tasks) throws InterruptedException, ExecutionException {
        try {
            return invokeAny(tasks, NO_DEADLINE);
        } catch (TimeoutException cannotHappen) {
            throw new AssertionError(cannotHappen);
        }
    }

    @Override
    public <T> T invokeAny(Collection<? extends Callable<T>> tasks, long timeout, TimeUnit unit)
            throws InterruptedException, ExecutionException, TimeoutException {
        return invokeAny(tasks, deadlineNs(timeout, unit));
    }

    /**
     * Submits every task, waits for the first success (in list order among those done) or for all to fail, and
     * cancels the rest ({@code cancel(true)}).
     */
    private <T> T invokeAny(Collection<? extends Callable<T>> tasks, long deadlineNs)
            throws InterruptedException, ExecutionException, TimeoutException {
        Objects.requireNonNull(tasks, "tasks");
        if (tasks.isEmpty()) {
            throw new IllegalArgumentException("invokeAny of no tasks");
        }
        List<ExecutorTask<T>> futures = new ArrayList<>(tasks.size());
        try {
            for (Callable<T> t : tasks) {
                futures.add(submitTask(t));
            }
            BooleanSupplier decided = () -> {
                boolean allDone = true;
                for (ExecutorTask<T> f : futures) {
                    if (!f.finished()) {
                        allDone = false;
                    } else if (f.finishedState() == Future.State.SUCCESS) {
                        return true;
                    }
                }
                return allDone;
            };
            if (!await(decided, deadlineNs, "invokeAny")) {
                throw new TimeoutException("no task completed within the timeout of the kernel's clock");
            }
            ExecutionException failure = null;
            for (ExecutorTask<T> f : futures) {
                if (f.finished()) {
                    switch (f.finishedState()) {
                        case SUCCESS -> {
                            return f.resultNow();
                        }
                        case FAILED -> failure = new ExecutionException(f.exceptionNow());
                        default -> failure = failure != null ? failure
                                : new ExecutionException(new CancellationException("task was cancelled"));
                    }
                }
            }
            throw failure != null ? failure : new ExecutionException(new IllegalStateException("no task completed"));
        } finally {
            cancelAll(futures);
        }
    }

    private static void cancelAll(List<? extends ExecutorTask<?>> futures) {
        for (ExecutorTask<?> f : futures) {
            if (!f.finished()) {
                f.cancel(true);
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Waiting
    // ------------------------------------------------------------------------------------------

    /** The kernel-clock deadline {@code timeout} from now ({@link #NO_DEADLINE} never comes). */
    final long deadlineNs(long timeout, TimeUnit unit) {
        Objects.requireNonNull(unit, "unit");
        long now = machine.clock().nanoTime();
        long ns = Math.max(0, unit.toNanos(timeout));
        return ns >= NO_DEADLINE - 1 - now ? NO_DEADLINE - 1 : now + ns;
    }

    /** Waits until {@code task} is done or {@code deadlineNs}: true when it is done. */
    final boolean awaitDone(ExecutorTask<?> task, long deadlineNs, String what) throws InterruptedException {
        return await(task::finished, deadlineNs, what);
    }

    /**
     * Waits until {@code done} holds, in process context, through the kernel's wait ({@code TASK_INTERRUPTIBLE}):
     * in stepped mode the stepping thread drives the kernel (an untimed wait lets the clock move only while a
     * work item sleeps or burns; a timed one up to its deadline), a worker gives its CPU away, and a worker that
     * waits counts as sleeping for its pool's concurrency management.
     *
     * @return true when {@code done} holds, false once {@code deadlineNs} has passed
     * @throws InterruptedException when the thread is interrupted (its status cleared)
     * @throws IllegalStateException in atomic context, or in stepped mode when nothing can end an untimed wait
     *         (both reported first), or when the kernel panics
     */
    final boolean await(BooleanSupplier done, long deadlineNs, String what) throws InterruptedException {
        if (done.getAsBoolean()) {
            return true;
        }
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        if (machine.closed()) {
            kernelClosed();
            return awaitAfterClose(done, deadlineNs);
        }
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && RuntimeAccess.get().machine(ctx) != machine) {
            ctx = null;
        }
        if (ctx != null && !ctx.mightSleep(what)) {
            throw new IllegalStateException(what + " in atomic context (" + ctx.name() + ", " + ctx.describe()
                    + ") would sleep until a task is done: refused");
        }
        boolean ended;
        if (ctx != null) {
            RuntimeAccess.get().sleepStarts(ctx);
        }
        try {
            ended = deadlineNs == NO_DEADLINE ? machine.waitUntilInterruptible(done, what)
                    : machine.sleepUntil(done, deadlineNs, what, true);
        } catch (IllegalStateException closing) {
            if (!machine.closed() || machine.panicked()) {
                throw closing;
            }
            kernelClosed(); // the kernel closed during the wait: what never started is cancelled now
            return awaitAfterClose(done, deadlineNs);
        } finally {
            if (ctx != null) {
                RuntimeAccess.get().sleepEnds(ctx);
            }
        }
        if (done.getAsBoolean()) {
            return true;
        }
        if (Thread.interrupted()) {
            throw new InterruptedException();
        }
        if (deadlineNs == NO_DEADLINE && !ended) {
            throw new IllegalStateException(what + " would block forever in stepped mode: nothing else can make the"
                    + " task progress (advance the clock, or wait with a timeout)");
        }
        return false;
    }

    /** After the kernel's close nothing drives it: polls (a task on a thread the close left running may end). */
    private boolean awaitAfterClose(BooleanSupplier done, long deadlineNs) throws InterruptedException {
        long leftNs = deadlineNs == NO_DEADLINE ? NO_DEADLINE : deadlineNs - machine.clock().nanoTime();
        long startNs = System.nanoTime();
        while (!done.getAsBoolean()) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            if (leftNs != NO_DEADLINE && System.nanoTime() - startNs >= leftNs) {
                return false;
            }
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(1));
        }
        return true;
    }

    // ------------------------------------------------------------------------------------------
    // Tasks leaving
    // ------------------------------------------------------------------------------------------

    /** A task's future is done ({@code FutureTask.done}): counted; waiters re-check. */
    final void taskDone(ExecutorTask<?> task) {
        switch (task.finishedState()) {
            case SUCCESS -> completed.increment();
            case FAILED -> {
                completed.increment();
                failed.increment();
            }
            default -> {
            }
        }
        machine.wakeWaiters();
    }

    /** A run of a periodic task ended normally. */
    final void ranOnce() {
        completed.increment();
    }

    /** A future's task no longer belongs to the executor (done, and not running). */
    final void retire(ExecutorTask<?> task) {
        live.remove(task);
        retired.increment();
        if (runState != RUNNING) {
            tryTerminate();
        }
    }

    /**
     * Tasks admitted and not yet retired: futures not retired, {@code execute}d tasks that have not run (or are
     * running). The retirements are read before the task numbers, so the count is never below the true one at
     * the first read (both only grow) — zero means none was left then. Any thread.
     */
    private long pendingTasks() {
        long gone = carriers.runs() + retired.sum();
        return carriers.sequence() - gone;
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------

    /** Refuses new tasks; queued and armed one-shot tasks still run. Does not wait (see {@link #awaitTermination}). */
    @Override
    public void shutdown() {
        advanceRunState(SHUTDOWN);
        onShutdown();
        tryTerminate();
    }

    /** What a shutdown does to the tasks of a subclass (the scheduled executor cancels periodic tasks). */
    void onShutdown() {
    }

    /**
     * Refuses new tasks, takes every task that has not started off the workqueue ({@code cancel_work},
     * {@code cancel_delayed_work}) and interrupts the workers running the others (not on a BH workqueue).
     *
     * @return the tasks that never started, in submission order: the Runnable given to {@code execute}, or the
     *         future of a submitted task (not done: running it runs the task on the caller's thread)
     */
    @Override
    public List<Runnable> shutdownNow() {
        advanceRunState(STOP);
        // The candidates: every future (and scheduled task) not done, and the carriers of execute'd tasks that wait
        // in the workqueue's pools (a carrier that is not queued has run, runs, or was never queued).
        List<Candidate> candidates = new ArrayList<>();
        for (ExecutorTask<?> t : live) {
            if (!t.finished()) {
                candidates.add(new Candidate(t.seq, t, null));
            }
        }
        for (Work w : queuedItems()) {
            if (ExecuteCarrier.isCarrierOf(w, this)) {
                ExecuteCarrier c = (ExecuteCarrier) w.containerOrNull();
                candidates.add(new Candidate(c.seq, null, c));
            }
        }
        candidates.sort(Comparator.comparingLong(Candidate::seq));
        List<Runnable> neverRan = new ArrayList<>();
        List<ExecutorTask<?>> started = new ArrayList<>();
        // Every queued task is withdrawn before any running one is interrupted: an interrupted task that ends
        // would let its worker start the next queued one (an ordered workqueue activates it at once) while this
        // pass was still withdrawing.
        for (Candidate k : candidates) {
            if (k.future() != null) {
                ExecutorTask<?> t = k.future();
                if (!t.finished() && t.withdraw()) {
                    // The executor is done with it: its reference goes, and the task retires exactly once — here,
                    // or by a cancel of the future that got there first (which then left its own reference).
                    t.release();
                    neverRan.add(t);
                } else {
                    started.add(t);
                }
            } else if (withdraw(k.carrier())) {
                // Won the item's PENDING bit: whichever task the carrier carries now never ran, and is ours to return.
                ExecuteCarrier c = k.carrier();
                Runnable command = c.command;
                c.command = null;
                carriers.giveBack(c);
                retired.increment();
                neverRan.add(command);
            }
        }
        for (ExecutorTask<?> t : started) {
            t.interruptRunner();
        }
        if (interruptible) {
            runningCarriers(true);
        }
        tryTerminate();
        return neverRan;
    }

    /** A task {@link #shutdownNow} may withdraw: a future, or the carrier of an {@code execute}d task. */
    private record Candidate(long seq, ExecutorTask<?> future, ExecuteCarrier carrier) {
    }

    /** {@code cancel_work} of a carrier's item; false if it was not pending or the kernel no longer takes calls. */
    private boolean withdraw(ExecuteCarrier c) {
        try {
            return workqueues.cancel(c.work);
        } catch (IllegalStateException closed) {
            return false;
        }
    }

    /**
     * The items of the workqueue that wait in its pools, each pool's in the order they would start (for
     * {@link #shutdownNow}). Takes each pool's lock in turn.
     */
    private List<Work> queuedItems() {
        List<Work> out = new ArrayList<>();
        for (PoolWorkqueue pwq : wq.pwqs) {
            WorkerPool pool = pwq.pool;
            pool.lock();
            try {
                pool.copyQueuedLocked(pwq, out);
            } finally {
                pool.unlock();
            }
        }
        return out;
    }

    /**
     * How many workers run a task given to {@code execute} now; with {@code interrupt}, each one's thread is
     * interrupted (the task's pending signal: it never outlives the task, {@link WorkerPool#runningLocked}).
     * Takes each pool's lock in turn.
     */
    private int runningCarriers(boolean interrupt) {
        int n = 0;
        for (PoolWorkqueue pwq : wq.pwqs) {
            WorkerPool pool = pwq.pool;
            pool.lock();
            try {
                n += pool.runningLocked(wq, w -> ExecuteCarrier.isCarrierOf(w, this), interrupt);
            } finally {
                pool.unlock();
            }
        }
        return n;
    }

    /** Whether {@link #shutdown()} or {@link #shutdownNow()} was called, or the kernel's close has begun. */
    @Override
    public boolean isShutdown() {
        return runState != RUNNING || machine.closing();
    }

    final boolean isShutdownRaw() {
        return runState != RUNNING;
    }

    /** Whether it is shut down, no task is queued, armed or running, and an owned workqueue has been destroyed. */
    @Override
    public boolean isTerminated() {
        if (machine.closed()) {
            kernelClosed();
        }
        return runState == TERMINATED;
    }

    /**
     * Waits until {@link #isTerminated()} or the timeout passes on the kernel's clock (in stepped mode the
     * manual clock runs up to it while the caller drives the kernel).
     */
    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        if (isTerminated()) {
            return true;
        }
        return await(this::isTerminated, deadlineNs(timeout, unit), "awaitTermination");
    }

    private void advanceRunState(int target) {
        for (;;) {
            int s = runState;
            if (s >= target || RUN_STATE.compareAndSet(this, s, target)) {
                return;
            }
        }
    }

    /** The kernel is closed: the executor is stopped, and a task that never started is cancelled. */
    private void kernelClosed() {
        advanceRunState(STOP);
        for (ExecutorTask<?> t : live) {
            t.reapIfKernelClosed();
        }
        tryTerminate();
        if (runState == TIDYING) {
            terminated(); // the destroying item was dropped by the close (or is left on a stopped worker)
        }
    }

    /** Terminates once shut down with no task left (see the class notes). */
    final void tryTerminate() {
        for (;;) {
            int s = runState;
            if (s == RUNNING || s >= TIDYING || !quiescent()) {
                return;
            }
            if (RUN_STATE.compareAndSet(this, s, TIDYING)) {
                break;
            }
        }
        if (!ownsWorkqueue || machine.closing() || wq.destroyed) {
            terminated();
            return;
        }
        if (mayDestroyHere()) {
            try {
                workqueues.destroy(wq);
            } catch (IllegalStateException closedMeanwhile) {
                // the kernel's close drains the workqueue itself
            } finally {
                terminated();
            }
            return;
        }
        Work destroyer = new Work("destroy " + wq.name(), w -> {
            try {
                workqueues.destroy(wq);
            } finally {
                terminated();
            }
        });
        try {
            workqueues.queue(workqueues.systemUnboundWq(), destroyer);
        } catch (IllegalStateException closedMeanwhile) {
            terminated();
        }
    }

    /**
     * Whether no task is left. While the kernel is open: no task admitted and not retired. Once it is closed, the
     * close ran or dropped what was queued and what never ran is cancelled ({@link #kernelClosed}): what is left is
     * what still runs — a future not yet done, a worker still inside an {@code execute}d task.
     */
    private boolean quiescent() {
        if (machine.closed()) {
            return live.isEmpty() && runningCarriers(false) == 0;
        }
        return pendingTasks() == 0;
    }

    /** Whether the calling thread may destroy the workqueue itself: a task thread that may sleep. */
    private boolean mayDestroyHere() {
        if (Thread.currentThread() instanceof KernelThread) {
            return false;
        }
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx == null || RuntimeAccess.get().machine(ctx) != machine) {
            return true;
        }
        return ctx.role() == ExecutionContext.Role.TASK && !ctx.inAtomic() && !ctx.irqsDisabled();
    }

    private void terminated() {
        runState = TERMINATED;
        machine.wakeWaiters();
    }

    @Override
    public String toString() {
        int s = runState;
        String state = switch (s) {
            case RUNNING -> "running";
            case SHUTDOWN -> "shutting down";
            case STOP -> "stopping";
            case TIDYING -> "terminating";
            default -> "terminated";
        };
        return getClass().getSimpleName() + "[" + wq.name() + ", " + state + ", tasks " + Math.max(0, pendingTasks())
                + ", completed " + completedTaskCount() + ", failed " + failed.sum() + "]";
    }
}
