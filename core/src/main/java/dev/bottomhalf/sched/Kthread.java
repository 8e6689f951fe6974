package dev.bottomhalf.sched;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelPanic;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.runtime.SteppedScheduler;

/**
 * The {@code struct kthread} of one kthread, and the runtime agent whose one duty cycle is the kthread's life:
 * {@code kthread()} — park if asked, run {@code threadfn}, exit with its result. Its thread is a runtime thread of
 * the kernel named by the comm: a {@code KernelThread} in threaded mode, a thread of the {@link SteppedScheduler}
 * in stepped mode (run one slice at a time, like a kworker, ADR 0005).
 *
 * <p>Implementation notes. The flags ({@code KTHREAD_SHOULD_STOP}, {@code KTHREAD_SHOULD_PARK}) are volatile
 * booleans written by any thread and read by the kthread; {@link #started} and {@link #result} are written by the
 * kthread before it completes {@link #exited}, whose lock publishes them to {@code kthread_stop}. The agent has work
 * exactly once: when it was woken ({@code wake_up_process} made its task running) and has not started.
 */
final class Kthread implements Agent {
    /** The task state of a kthread that exited ({@code TASK_DEAD}): no wake-up matches it. */
    static final int TASK_DEAD = 0x80;

    private final Kthreads kthreads;
    private final ExecutionContext ctx;
    private final Kthreads.ThreadFn<Object> threadfn;
    private final Object data;
    final Task task;
    final Completion parked;
    final Completion exited;
    volatile boolean shouldStop;
    volatile boolean shouldPark;
    volatile boolean started;
    volatile boolean exiting;
    /** {@code TIF_NOTIFY_SIGNAL}, set by {@code kthread_stop}: the kthread's thread is (or will be) interrupted. */
    volatile boolean notifySignal;
    volatile int result;
    volatile Thread thread;
    volatile AgentHandle handle;

    @SuppressWarnings("unchecked")
    Kthread(Kthreads kthreads, ExecutionContext ctx, Kthreads.ThreadFn<?> threadfn, Object data, int pid) {
        this.kthreads = kthreads;
        this.ctx = ctx;
        this.threadfn = (Kthreads.ThreadFn<Object>) threadfn;
        this.data = data;
        this.task = new Task(ctx, ctx.name(), pid, this, null);
        this.parked = new Completion(ctx.name() + "-parked");
        this.exited = new Completion(ctx.name() + "-exited");
        RuntimeAccess.get().taskIfAbsent(ctx, () -> task);
        RuntimeAccess.get().setTaskState(ctx, Task.TASK_UNINTERRUPTIBLE); // created asleep until wake_up_process
    }

    @Override
    public String name() {
        return task.comm();
    }

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    @Override
    public boolean hasWork() {
        return !started && ctx.taskState() == Task.TASK_RUNNING;
    }

    /** Its task was woken: a kthread that has not started is started. Any thread. */
    void woken() {
        AgentHandle h = handle;
        if (!started && h != null) {
            h.wake();
        }
    }

    /** {@code kthread()}: parks if asked, runs {@code threadfn} unless stopped first, exits. The kthread's thread. */
    @Override
    public int doWork() {
        if (!hasWork()) {
            return 0;
        }
        thread = Thread.currentThread();
        started = true;
        if (notifySignal) {
            thread.interrupt(); // kthread_stop came before this thread was known
        }
        int ret = -Sched.EINTR;
        Machine machine = kthreads.sched().machine();
        try {
            if (!shouldStop) {
                kthreads.parkme(this);
                ret = threadfn.run(data);
            }
        } catch (Throwable t) {
            ret = 0; // an oops: the task dies (make_task_dead), its result never set
            if (SteppedScheduler.isShutdown(t) || (t instanceof IllegalStateException && machine.closed()
                    && !(t instanceof KernelPanic))) {
                exit(ret);
                if (!idleWorker()) { // an idle worker's kthread is the close's to stop, as destroy_workqueue's
                    machine.reports().bug("INFO: kthread " + name() + " had not exited when the kernel closed"
                            + " (kthread_stop was never called): it was unwound out of " + where(t), t);
                }
                if (t instanceof Error e) {
                    throw e; // the stepped scheduler's unwinding
                }
                return 1;
            }
            exit(ret);
            throw t;
        }
        exit(ret);
        return 1;
    }

    /**
     * Whether this is a kthread worker's own kthread ({@code kthread_worker_fn}) with no item running: the close
     * stops it as it destroys the workqueues, and accounts for the worker's items itself.
     */
    private boolean idleWorker() {
        if (data instanceof KthreadWorker worker && worker.task != null && worker.task.context() == ctx) {
            synchronized (worker) {
                return worker.currentWork == null;
            }
        }
        return false;
    }

    /** {@code kthread_exit(result)}: wakes {@code kthread_stop} and ends the thread after this duty cycle. */
    private void exit(int ret) {
        exiting = true;
        result = ret;
        RuntimeAccess.get().setTaskState(ctx, TASK_DEAD);
        Machine machine = kthreads.sched().machine();
        if (!machine.closed()) {
            kthreads.sched().completeAll(exited);
        }
        AgentHandle h = handle;
        if (h != null && !machine.closing()) {
            if (machine.stepped()) {
                SteppedScheduler.of(machine).release(this);
            }
            h.stop();
        }
    }

    private static String where(Throwable t) {
        for (StackTraceElement e : t.getStackTrace()) {
            String c = e.getClassName();
            if (!c.startsWith("java.") && !c.startsWith("jdk.") && !c.startsWith("dev.bottomhalf.runtime.")
                    && !c.startsWith("dev.bottomhalf.internal.") && !c.startsWith("dev.bottomhalf.time.")
                    && !c.startsWith("dev.bottomhalf.sched.")) {
                return e.toString();
            }
        }
        return t.getStackTrace().length == 0 ? "?" : t.getStackTrace()[0].toString();
    }

    @Override
    public String toString() {
        return "kthread " + task;
    }
}
