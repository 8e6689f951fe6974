package dev.bottomhalf.sched;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.internal.runtime.SteppedScheduler;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.internal.wiring.Subsystems;

/**
 * kthreads ({@code kthread_create}, {@code kthread_run}, {@code kthread_stop}, parking, {@code kthread_bind}) and
 * kthread workers ({@code kthread_create_worker}, {@code kthread_queue_work}, delayed items, flush and cancel),
 * for one kernel. A kthread is a runtime thread of the kernel named by its comm, its own task in its own context
 * (role {@code KTHREAD}); in stepped mode it runs on a thread of the stepped scheduler, one slice at a time, so
 * its sleeps and wake-ups are deterministic; {@code Kernel.close()} stops its thread, and one that had not
 * exited is reported. Thread-safe; creating, stopping, parking and flushing sleep (process context), queueing
 * works from any context.
 *
 * <p>Implementation notes. A kthread's life is one duty cycle of its agent ({@link Kthread#doWork()}), started
 * by the first {@code wake_up_process}. The flags are volatile; {@code kthread_stop} waits on the kthread's
 * {@code exited} completion, {@code kthread_park} on its {@code parked} one. A worker's monitor is its lock;
 * calls that wait ({@code del_timer_sync}, a flush) release it first, as the kernel's do.
 */
public final class Kthreads {
    /** {@code EBUSY}. */
    public static final int EBUSY = 16;
    /** {@code ENOSYS}. */
    public static final int ENOSYS = 38;
    /** {@code KTW_FREEZABLE}: the worker's kthread is freezable (no effect here: nothing freezes). */
    public static final int KTW_FREEZABLE = 1 << 0;

    /**
     * {@code int (*threadfn)(void *data)}: a kthread's function; its return value is what {@code kthread_stop}
     * returns.
     *
     * @param <T> the type of the data the function is given
     */
    @FunctionalInterface
    public interface ThreadFn<T> {
        /**
         * Runs the kthread's body in its own thread, until it decides to return (normally once {@link
         * #shouldStop()} is true).
         *
         * @param data the data given to {@code kthread_create}
         * @return the exit code {@code kthread_stop} returns
         */
        int run(T data);
    }

    private final Sched sched;
    /** The workers created and not destroyed, for the close's accounting. */
    private final Set<KthreadWorker> workers = ConcurrentHashMap.newKeySet();
    private final Machine machine;
    private final Reports reports;
    private final Timers timers;

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Kthreads(Sched sched) {
        this.sched = Objects.requireNonNull(sched, "sched");
        this.machine = sched.machine();
        this.reports = machine.reports();
        this.timers = sched.timers();
    }

    Sched sched() {
        return sched;
    }

    // ------------------------------------------------------------------------------------------
    // kthreads (kernel/kthread.c)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code kthread_create(threadfn, data, namefmt, ...)}: a new kthread, stopped until {@link Sched#wakeUpProcess}
     * (or {@link #stop}) — its task sleeps in {@code TASK_UNINTERRUPTIBLE}. Its comm is {@code namefmt} formatted
     * with {@code args} ({@link String#format}), cut to 15 characters; it runs on the creating context's CPU until
     * {@link #bind}. Process context (it may sleep).
     *
     * @param <T> the data's type
     * @param threadfn the thread function
     * @param data passed to {@code threadfn}
     * @param namefmt the thread's name, a {@link String#format} pattern
     * @param args the pattern's arguments
     * @return the new kthread's task
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public <T> Task create(ThreadFn<T> threadfn, T data, String namefmt, Object... args) {
        Objects.requireNonNull(threadfn, "threadfn");
        machine.checkOpen();
        ExecutionContext creator = machine.current();
        creator.mightSleep("kthread_create");
        String comm = args.length == 0 ? namefmt : String.format(namefmt, args);
        if (comm.length() >= Task.TASK_COMM_LEN) {
            comm = comm.substring(0, Task.TASK_COMM_LEN - 1);
        }
        ExecutionContext ctx = machine.newContext(ExecutionContext.Role.KTHREAD, comm,
                RuntimeAccess.get().cpu(creator));
        Kthread k = new Kthread(this, ctx, threadfn, data, sched.nextPid());
        if (machine.stepped()) {
            SteppedScheduler.of(machine).adopt(k);
        }
        k.handle = machine.register(k, true);
        return k.task;
    }

    /**
     * {@code kthread_run(threadfn, data, namefmt, ...)}: {@link #create}, then {@code wake_up_process}.
     *
     * @param <T> the data's type
     * @param threadfn the thread function
     * @param data passed to {@code threadfn}
     * @param namefmt the thread's name, a {@link String#format} pattern
     * @param args the pattern's arguments
     * @return the new, woken kthread's task
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public <T> Task run(ThreadFn<T> threadfn, T data, String namefmt, Object... args) {
        Task t = create(threadfn, data, namefmt, args);
        sched.wakeUpProcess(t);
        return t;
    }

    /**
     * {@code kthread_stop(k)}: sets {@code kthread_should_stop()} for {@code k}, unparks and wakes it (a signal is
     * made pending for it, {@code TIF_NOTIFY_SIGNAL}, so its interruptible sleeps end), and waits until it exited.
     * Process context.
     *
     * <p>Where the kernel returns {@code -EINVAL} (a task that is not a kthread) this Java API throws; the
     * {@code dev.bottomhalf.linux} facade's {@code kthread_stop} returns {@code -EINVAL}.
     *
     * @param k the kthread
     * @return {@code threadfn}'s return value; {@code -EINTR} when the kthread was stopped before it ever ran
     * @throws KernelException {@code EINVAL} (after the kernel's {@code to_kthread} WARNING) for a task that is not
     *         a kthread
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public int stop(Task k) {
        machine.checkOpen();
        Kthread kt = toKthread(k, "kthread_stop");
        if (kt == null) {
            throw notAKthread(k, "kthread_stop");
        }
        kt.shouldStop = true;
        unpark(k);
        kt.notifySignal = true;
        Thread t = kt.thread;
        if (t != null && !kt.exiting) {
            t.interrupt(); // TIF_NOTIFY_SIGNAL: signal_pending() in the kthread
        }
        sched.wakeUpProcess(k);
        sched.waitForCompletion(kt.exited);
        return kt.result;
    }

    /**
     * {@code kthread_should_stop()}: whether {@link #stop} was called for the calling kthread.
     *
     * @return true once {@link #stop} was called for it; false in any other context
     */
    public boolean shouldStop() {
        Kthread k = currentKthread("kthread_should_stop");
        return k != null && k.shouldStop;
    }

    /**
     * {@code kthread_should_park()}: whether {@link #park} asks the calling kthread to park.
     *
     * @return true while a park request is pending for it
     */
    public boolean shouldPark() {
        Kthread k = currentKthread("kthread_should_park");
        return k != null && k.shouldPark;
    }

    /**
     * {@code kthread_parkme()}: while parking is asked for, the calling kthread tells {@link #park} it parked and
     * sleeps in {@code TASK_PARKED} until {@link #unpark}. Returns at once when nothing asks.
     */
    public void parkme() {
        Kthread k = currentKthread("kthread_parkme");
        if (k != null) {
            parkme(k);
        }
    }

    /** {@code __kthread_parkme(self)}. */
    void parkme(Kthread self) {
        ExecutionContext ctx = self.context();
        for (;;) {
            RuntimeAccess.get().setTaskState(ctx, Task.TASK_PARKED); // set_special_state()
            if (!self.shouldPark) {
                break;
            }
            sched.complete(self.parked);
            sched.sleep(ctx, Timers.MAX_SCHEDULE_TIMEOUT, "kthread_parkme");
        }
        RuntimeAccess.get().setTaskState(ctx, Task.TASK_RUNNING);
    }

    /**
     * {@code kthread_park(k)}: asks {@code k} to park, wakes it and waits until it parked in
     * {@link #parkme()} (a kthread that never checks {@link #shouldPark()} is waited for forever, as in the kernel).
     * A kthread that has not run yet parks before its function starts. Process context.
     *
     * <p>Where the kernel returns an error code this Java API throws it as a {@link KernelException}; the
     * {@code dev.bottomhalf.linux} facade's {@code kthread_park} returns 0 or the {@code -errno}.
     *
     * @param k the kthread
     * @throws KernelException {@code ENOSYS} (with the kernel's WARNING) for a kthread that is exiting;
     *         {@code EBUSY} (WARN_ON_ONCE) when it is already asked to park; {@code EINVAL} (after the kernel's
     *         {@code to_kthread} WARNING) for a task that is not a kthread
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void park(Task k) {
        machine.checkOpen();
        Kthread kt = toKthread(k, "kthread_park");
        if (kt == null) {
            throw notAKthread(k, "kthread_park");
        }
        if (kt.exiting) {
            reports.warning("WARNING: kthread_park(" + k.comm() + ") of an exiting kthread (WARN_ON(k->flags & PF_EXITING))");
            throw new KernelException(Errno.ENOSYS, "kthread_park(" + k.comm() + "): the kthread is exiting");
        }
        if (kt.shouldPark) {
            reports.warnOnce("kthread_park_twice", "WARNING: kthread_park(" + k.comm() + ") of a kthread already"
                    + " asked to park (WARN_ON_ONCE(test_bit(KTHREAD_SHOULD_PARK, &kthread->flags)))");
            throw new KernelException(Errno.EBUSY, "kthread_park(" + k.comm() + "): the kthread is already asked to"
                    + " park");
        }
        kt.shouldPark = true;
        if (k != sched.current()) {
            sched.wakeUpProcess(k);
            sched.waitForCompletion(kt.parked);
        }
    }

    /**
     * {@code kthread_unpark(k)}: clears the park request and wakes {@code k} out of {@code TASK_PARKED}. Any
     * context.
     *
     * @param k the kthread
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void unpark(Task k) {
        machine.checkOpen();
        Kthread kt = toKthread(k, "kthread_unpark");
        if (kt == null || !kt.shouldPark) {
            return;
        }
        kt.shouldPark = false;
        sched.wakeUpState(k, Task.TASK_PARKED);
    }

    /**
     * {@code kthread_bind(k, cpu)}: from now on {@code k} runs on {@code cpu}. Only for a kthread that is not
     * running — created and not woken yet, or asleep in {@code TASK_UNINTERRUPTIBLE}; otherwise the kernel's
     * {@code wait_task_inactive} fails and it WARNs, and nothing changes.
     *
     * @param k the kthread
     * @param cpu the CPU it runs on from now on
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void bind(Task k, int cpu) {
        machine.checkOpen();
        Kthread kt = toKthread(k, "kthread_bind");
        if (kt == null) {
            return;
        }
        var target = machine.cpu(cpu);
        if ((k.state() & Task.TASK_UNINTERRUPTIBLE) == 0 || k == sched.current()) {
            reports.warning("WARNING: kthread_bind(" + k.comm() + ", " + cpu + ") of a kthread that is not inactive in"
                    + " TASK_UNINTERRUPTIBLE (WARN_ON(1) when wait_task_inactive() fails)");
            return;
        }
        RuntimeAccess.get().bindKthread(k.context(), target);
    }

    private static KernelException notAKthread(Task k, String call) {
        return new KernelException(Errno.EINVAL, call + "(" + k.comm() + "): the task is not a kthread");
    }

    /** {@code to_kthread(k)}: its kthread, or null after the kernel's WARNING for a task that is not one. */
    private Kthread toKthread(Task k, String call) {
        Objects.requireNonNull(k, "k");
        Kthread kt = k.kthread();
        if (kt == null) {
            reports.warning("WARNING: " + call + "(" + k.comm() + "): the task is not a kthread"
                    + " (WARN_ON(!(k->flags & PF_KTHREAD)) in to_kthread())");
        }
        return kt;
    }

    private Kthread currentKthread(String call) {
        return toKthread(sched.current(), call);
    }

    // ------------------------------------------------------------------------------------------
    // kthread workers
    // ------------------------------------------------------------------------------------------

    /**
     * {@code kthread_create_worker(flags, namefmt, ...)}: a worker and its kthread (comm from {@code namefmt}),
     * running {@code kthread_worker_fn}. Process context.
     *
     * @param flags 0 or {@link #KTW_FREEZABLE}
     * @param namefmt the kthread's name, a {@link String#format} pattern
     * @param args the pattern's arguments
     * @return the worker, its kthread running
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public KthreadWorker createWorker(int flags, String namefmt, Object... args) {
        String name = args.length == 0 ? namefmt : String.format(namefmt, args);
        KthreadWorker worker = new KthreadWorker(name, flags);
        Task task = create(this::workerFn, worker, "%s", name);
        worker.task = task;
        workers.add(worker);
        sched.wakeUpProcess(task);
        return worker;
    }

    /** {@code kthread_worker_fn(worker)}: runs the queued items one at a time until the kthread is stopped. */
    private int workerFn(KthreadWorker worker) {
        Task self = sched.current();
        ExecutionContext ctx = self.context();
        if (worker.task != null && worker.task != self) {
            reports.warning("WARNING: kthread_worker_fn: " + worker.name() + " is already run by " + worker.task.comm()
                    + " (WARN_ON(worker->task && worker->task != current))");
        }
        worker.task = self;
        for (;;) {
            RuntimeAccess.get().setTaskState(ctx, Task.TASK_INTERRUPTIBLE);
            if (shouldStop()) {
                RuntimeAccess.get().setTaskState(ctx, Task.TASK_RUNNING);
                synchronized (worker) {
                    worker.task = null;
                }
                return 0;
            }
            KthreadWork work;
            synchronized (worker) {
                work = worker.workList.pollFirst();
                if (work != null) {
                    work.list = null;
                }
                worker.currentWork = work;
            }
            if (work != null) {
                RuntimeAccess.get().setTaskState(ctx, Task.TASK_RUNNING);
                try {
                    work.func.accept(work);
                } catch (Throwable t) {
                    if (SteppedScheduler.isShutdown(t) || t instanceof dev.bottomhalf.runtime.KernelPanic
                            || (t instanceof IllegalStateException && machine.closed())) {
                        throw t;
                    }
                    reports.oops(self.comm(), t); // a fatal error panics here
                }
            } else {
                sched.sleep(ctx, Timers.MAX_SCHEDULE_TIMEOUT, "kthread_worker_fn"); // schedule()
            }
            sched.condResched();
        }
    }

    /** {@code queuing_blocked(worker, work)}. Under the worker's lock. */
    private static boolean queuingBlocked(KthreadWork work) {
        return work.list != null || work.canceling != 0;
    }

    /** {@code kthread_insert_work_sanity_check(worker, work)}. Under the worker's lock. */
    private void sanityCheck(KthreadWorker worker, KthreadWork work) {
        if (work.list != null) {
            reports.warnOnce("kthread_insert_work_queued", "WARNING: kthread_insert_work: " + work.name() + " is already"
                    + " queued (WARN_ON_ONCE(!list_empty(&work->node)))");
        }
        KthreadWorker other = work.worker;
        if (other != null && other != worker) {
            reports.warnOnce("kthread_insert_work_worker", "WARNING: kthread_insert_work: " + work.name() + " was used"
                    + " with worker " + other.name() + " and is queued on " + worker.name()
                    + " (WARN_ON_ONCE(work->worker && work->worker != worker))");
        }
    }

    /** {@code kthread_insert_work(worker, work, pos)} at {@code index} of the work list. Under the worker's lock. */
    private void insertWork(KthreadWorker worker, KthreadWork work, int index) {
        sanityCheck(worker, work);
        worker.workList.add(index, work);
        work.list = worker.workList;
        work.worker = worker;
        Task task = worker.task;
        if (worker.currentWork == null && task != null) {
            sched.tryToWakeUp(task, Task.TASK_NORMAL);
        }
    }

    /**
     * {@code kthread_queue_work(worker, work)}: queues {@code work} at the tail unless it is queued (or being
     * cancelled), and wakes the worker when it is idle. Any context.
     *
     * @param worker the worker
     * @param work the item
     * @return false when it was already queued
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean queueWork(KthreadWorker worker, KthreadWork work) {
        machine.checkOpen();
        synchronized (worker) {
            if (queuingBlocked(work)) {
                return false;
            }
            insertWork(worker, work, worker.workList.size());
        }
        machine.afterAccept();
        return true;
    }

    /**
     * {@code kthread_flush_work(work)}: waits until the run of {@code work} that is queued or running now has
     * finished (a flush item is queued right behind it); returns at once when it is neither. Process context.
     * An item waiting on the delayed list for its timer is not waited for: the kernel's flush would wait forever
     * there (its flush item would sit on the delayed list); this one WARNs and returns instead.
     *
     * @param work the item
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void flushWork(KthreadWork work) {
        machine.checkOpen();
        KthreadWorker worker = work.worker;
        if (worker == null) {
            return;
        }
        machine.current().mightSleep("kthread_flush_work");
        Completion done = new Completion("kthread_flush_work");
        KthreadWork fwork = new KthreadWork("kthread_flush_work_fn", w -> sched.complete(done));
        fwork.flushItem = true;
        synchronized (worker) {
            if (work.worker != worker) {
                reports.warnOnce("kthread_flush_work_worker", "WARNING: kthread_flush_work: " + work.name()
                        + " moved to another worker (WARN_ON_ONCE(work->worker != worker))");
            }
            if (work.list == worker.workList) {
                insertWork(worker, fwork, worker.workList.indexOf(work) + 1);
            } else if (work.list == worker.delayedWorkList) {
                reports.warning("WARNING: kthread_flush_work(" + work.name() + ") of an item whose timer has not fired:"
                        + " the kernel's flush would wait forever; cancel it first");
                return;
            } else if (worker.currentWork == work) {
                insertWork(worker, fwork, 0);
            } else {
                return;
            }
        }
        sched.waitForCompletion(done);
    }

    /**
     * {@code kthread_flush_worker(worker)}: waits until every item queued before this call has run. Process
     * context.
     *
     * @param worker the worker
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void flushWorker(KthreadWorker worker) {
        machine.checkOpen();
        machine.current().mightSleep("kthread_flush_worker");
        Completion done = new Completion("kthread_flush_worker");
        KthreadWork fwork = new KthreadWork("kthread_flush_work_fn", w -> sched.complete(done));
        fwork.flushItem = true;
        queueWork(worker, fwork);
        sched.waitForCompletion(done);
    }

    /** {@code kthread_delayed_work_timer_fn}: the delay passed; the item moves to the work list. Timer context. */
    private void delayedWorkTimerFn(KthreadDelayedWork dwork) {
        KthreadWorker worker = dwork.worker;
        if (worker == null) {
            reports.warnOnce("kthread_delayed_work_timer_fn", "WARNING: kthread_delayed_work_timer_fn: "
                    + dwork.name() + " has no worker (WARN_ON_ONCE(!worker))");
            return;
        }
        synchronized (worker) {
            if (dwork.list != null) {
                worker.delayedWorkList.remove(dwork);
                dwork.list = null;
            } else {
                reports.warnOnce("kthread_delayed_work_timer_fn_list", "WARNING: kthread_delayed_work_timer_fn: "
                        + dwork.name() + " is on no list (WARN_ON_ONCE(list_empty(&work->node)))");
            }
            if (dwork.canceling == 0) {
                insertWork(worker, dwork, worker.workList.size());
            }
        }
    }

    /** {@code __kthread_queue_delayed_work(worker, dwork, delay)}. Under the worker's lock. */
    private void queueDelayedLocked(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        assert Thread.holdsLock(worker) : "worker->lock not held";
        if (delay == 0) {
            insertWork(worker, dwork, worker.workList.size());
            return;
        }
        sanityCheck(worker, dwork);
        if (!dwork.timerReady) {
            Subsystems.time().setupInternal(timers, dwork.timer, "kthread_delayed_work_timer_fn",
                    t -> delayedWorkTimerFn(dwork), TimerList.TIMER_IRQSAFE);
            dwork.timerReady = true;
        }
        worker.delayedWorkList.add(0, dwork); // list_add
        dwork.list = worker.delayedWorkList;
        dwork.worker = worker;
        timers.mod(dwork.timer, machine.jiffies() + delay); // add_timer
    }

    /**
     * {@code kthread_queue_delayed_work(worker, dwork, delay)}: queues {@code dwork} after {@code delay} jiffies
     * (at once for 0) unless it is queued or pending. Any context.
     *
     * @param worker the worker
     * @param dwork the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return false when it was already queued or pending
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean queueDelayedWork(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        machine.checkOpen();
        synchronized (worker) {
            if (queuingBlocked(dwork)) {
                return false;
            }
            queueDelayedLocked(worker, dwork, delay);
        }
        machine.afterAccept();
        return true;
    }

    /**
     * {@link #queueDelayedWork(KthreadWorker, KthreadDelayedWork, long)} with the delay as a {@link Duration}:
     * rounded up to jiffies as {@code msecs_to_jiffies} rounds, clamped to {@link Jiffies#MAX_JIFFY_OFFSET}. Any
     * context.
     *
     * @param worker the kthread worker
     * @param dwork  the delayed item
     * @param delay  how long from now, not negative ({@link Duration#ZERO}: queued at once)
     * @return false when it was already queued or pending
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean queueDelayedWork(KthreadWorker worker, KthreadDelayedWork dwork, Duration delay) {
        return queueDelayedWork(worker, dwork, Jiffies.durationToJiffies(delay, machine.hz()));
    }

    /**
     * {@link #modDelayedWork(KthreadWorker, KthreadDelayedWork, long)} with the delay as a {@link Duration}
     * (converted as {@link #queueDelayedWork(KthreadWorker, KthreadDelayedWork, Duration)} converts). Any context
     * but hardirq.
     *
     * @param worker the kthread worker
     * @param dwork  the delayed item
     * @param delay  how long from now, not negative
     * @return true when it was queued or pending before, false when it was idle
     * @throws IllegalArgumentException when {@code delay} is negative
     */
    public boolean modDelayedWork(KthreadWorker worker, KthreadDelayedWork dwork, Duration delay) {
        return modDelayedWork(worker, dwork, Jiffies.durationToJiffies(delay, machine.hz()));
    }

    /**
     * {@code kthread_mod_delayed_work(worker, dwork, delay)}: (re)queues {@code dwork} after {@code delay} jiffies
     * whether or not it was queued or pending. Any context but hardirq (it may wait for the timer's callback).
     *
     * @param worker the worker
     * @param dwork the delayed item
     * @param delay jiffies to wait; 0 queues at once
     * @return true when it was queued or pending before (or another caller is cancelling it, which this call
     *         then leaves alone), false when it was idle
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean modDelayedWork(KthreadWorker worker, KthreadDelayedWork dwork, long delay) {
        machine.checkOpen();
        boolean firstQueueing = false;
        synchronized (worker) {
            if (dwork.worker == null) {
                queueDelayedLocked(worker, dwork, delay);
                firstQueueing = true;
            } else {
                warnIfMoved(worker, dwork, "kthread_mod_delayed_work");
                dwork.canceling++;
            }
        }
        if (firstQueueing) {
            machine.afterAccept();
            return false;
        }
        delTimerSync(dwork);
        boolean ret;
        synchronized (worker) {
            dwork.canceling--;
            if (dwork.canceling != 0) {
                return true; // another command cancels it: the number of queued items does not change
            }
            ret = cancelLocked(worker, dwork);
            queueDelayedLocked(worker, dwork, delay);
        }
        machine.afterAccept(); // outside the worker's lock, which a late sweep takes
        return ret;
    }

    /** {@code del_timer_sync(&dwork->timer)}, for a timer that was set up. Without the worker's lock. */
    private void delTimerSync(KthreadDelayedWork dwork) {
        if (dwork.timerReady) {
            timers.deleteSync(dwork.timer);
        }
    }

    private void warnIfMoved(KthreadWorker worker, KthreadWork work, String call) {
        if (work.worker != worker) {
            reports.warnOnce(call + "_worker", "WARNING: " + call + ": " + work.name() + " was used with another"
                    + " worker (WARN_ON_ONCE(work->worker != worker))");
        }
    }

    /** {@code __kthread_cancel_work(work)}: takes it off its list. Under the worker's lock. */
    private static boolean cancelLocked(KthreadWorker worker, KthreadWork work) {
        assert Thread.holdsLock(worker) : "worker->lock not held";
        if (work.list == null) {
            return false;
        }
        if (work.list == worker.workList) {
            worker.workList.remove(work);
        } else {
            worker.delayedWorkList.remove(work);
        }
        work.list = null;
        return true;
    }

    /**
     * {@code kthread_cancel_work_sync(work)}: takes {@code work} off the queue and waits until a run in progress
     * has finished; queueing it meanwhile fails. Process context.
     *
     * @param work the item
     * @return whether it was queued
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean cancelWorkSync(KthreadWork work) {
        return cancelSync(work, false);
    }

    /**
     * {@code kthread_cancel_delayed_work_sync(dwork)}: as {@link #cancelWorkSync}, and the timer is cancelled
     * first.
     *
     * @param dwork the delayed item
     * @return true when it was queued or its timer armed
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public boolean cancelDelayedWorkSync(KthreadDelayedWork dwork) {
        return cancelSync(dwork, true);
    }

    private boolean cancelSync(KthreadWork work, boolean isDwork) {
        machine.checkOpen();
        KthreadWorker worker = work.worker;
        if (worker == null) {
            return false;
        }
        machine.current().mightSleep(isDwork ? "kthread_cancel_delayed_work_sync" : "kthread_cancel_work_sync");
        synchronized (worker) {
            warnIfMoved(worker, work, "kthread_cancel_work_sync");
            if (isDwork) {
                work.canceling++;
            }
        }
        if (isDwork) {
            delTimerSync((KthreadDelayedWork) work);
        }
        boolean ret;
        synchronized (worker) {
            if (isDwork) {
                work.canceling--;
            }
            ret = cancelLocked(worker, work);
            if (worker.currentWork != work) {
                return ret;
            }
            work.canceling++;
        }
        try {
            flushWork(work);
        } finally {
            synchronized (worker) {
                work.canceling--;
            }
        }
        return ret;
    }

    /**
     * {@code kthread_destroy_worker(worker)}: flushes it, stops its kthread and WARNs about items left on its
     * lists. Process context.
     *
     * @param worker the worker
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void destroyWorker(KthreadWorker worker) {
        machine.checkOpen();
        Task task = worker.task;
        if (task == null) {
            reports.warning("WARNING: kthread_destroy_worker(" + worker.name() + ") of a worker without a task"
                    + " (WARN_ON(!task))");
            return;
        }
        flushWorker(worker);
        stop(task);
        workers.remove(worker);
        synchronized (worker) {
            if (!worker.delayedWorkList.isEmpty()) {
                reports.warning("WARNING: kthread_destroy_worker(" + worker.name() + ") with delayed items still pending"
                        + " (WARN_ON(!list_empty(&worker->delayed_work_list)))");
            }
            if (!worker.workList.isEmpty()) {
                reports.warning("WARNING: kthread_destroy_worker(" + worker.name() + ") with items still queued"
                        + " (WARN_ON(!list_empty(&worker->work_list)))");
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Closing the kernel (Kernel.close: every worker's accepted items run or are reported)
    // ------------------------------------------------------------------------------------------

    /**
     * Whether no worker has an item queued or running. For {@code Kernel.close()}, which waits for it after
     * refusing new work; a snapshot (each worker under its lock). Delayed items whose timer has not fired are
     * the close's to cancel ({@link #cancelArmedDelayedForClose()}).
     */
    boolean idleForClose() {
        for (KthreadWorker worker : workers) {
            synchronized (worker) {
                if (!worker.workList.isEmpty() || worker.currentWork != null) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * {@code kthread_cancel_delayed_work} (without waiting) of every delayed item whose timer is armed. For
     * {@code Kernel.close()}.
     *
     * @return the names of the items cancelled
     */
    List<String> cancelArmedDelayedForClose() {
        List<String> cancelled = new ArrayList<>();
        for (KthreadWorker worker : workers) {
            List<KthreadWork> armed;
            synchronized (worker) {
                armed = new ArrayList<>(worker.delayedWorkList);
            }
            for (KthreadWork w : armed) {
                KthreadDelayedWork dwork = (KthreadDelayedWork) w;
                if (dwork.timerReady && timers.delete(dwork.timer) == 1) {
                    synchronized (worker) {
                        if (dwork.list == worker.delayedWorkList) {
                            worker.delayedWorkList.remove(dwork);
                            dwork.list = null;
                        }
                    }
                    cancelled.add(dwork.name());
                }
            }
        }
        return cancelled;
    }

    /**
     * Takes every queued item off every worker's list (the workers' threads have stopped). For
     * {@code Kernel.close()}; the flushes' own items are dropped without being listed (their waiters fail with
     * the closed kernel).
     *
     * @return the names of the user's items that never ran
     */
    List<String> cancelQueuedForClose() {
        List<String> dropped = new ArrayList<>();
        for (KthreadWorker worker : workers) {
            synchronized (worker) {
                for (KthreadWork w : worker.workList) {
                    w.list = null;
                    if (!w.flushItem) {
                        dropped.add(w.name());
                    }
                }
                worker.workList.clear();
            }
        }
        return dropped;
    }
}
