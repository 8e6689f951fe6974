package dev.bottomhalf.internal.wiring;

import java.lang.invoke.MethodHandles;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.locking.Lockdep;
import dev.bottomhalf.net.Napi;
import dev.bottomhalf.proc.Proc;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.tasklet.Tasklets;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * The members of the exported subsystem classes that only the kernel's wiring calls — their constructors, which
 * take the internal {@link Machine}, the steps of {@code Kernel.close()}, and the calls between subsystems that
 * skip the entry checks (a softirq raised on a held context, the machinery's own timers, the BH workqueues' hook,
 * lockdep's workqueue maps) — reached through one access interface per subsystem package, which that package
 * implements and installs (the pattern of the JDK's {@code SharedSecrets}, as {@code RuntimeAccess} does for the
 * runtime package). Any thread; the accesses are stateless, and each method has the thread rules of the member it
 * forwards to.
 *
 * <p>Implementation notes: each subsystem package's main class ({@link Softirqs}, {@link IrqController},
 * {@link Tasklets}, {@link Timers}, {@link Workqueues}, {@link Sched}, {@link Lockdep}, {@link Proc}, {@link Napi}) installs its
 * package's access from its static initializer. A getter's first call initializes that class through a lazy
 * holder, so the access is installed before it is read, and the class-initialization lock publishes it;
 * afterwards the getter reads a {@code static final} field, a constant to the JIT (no volatile read, no map
 * look-up after the first call).
 */
public final class Subsystems {
    /** What {@code dev.bottomhalf.softirq} lends the wiring. */
    public interface SoftirqAccess {
        Softirqs newSoftirqs(Machine machine);

        /**
         * {@code Softirqs.raiseOn}: marks {@code nr} pending on the CPU of {@code ctx} for a subsystem that has
         * the context at hand (tasklets, timers, hrtimers, BH workqueues) and passed its own entry check; wakes
         * ksoftirqd when {@code wake} and not in interrupt. On the hot path of {@code tasklet_schedule}.
         */
        void raiseOn(Softirqs softirqs, ExecutionContext ctx, int nr, boolean wake);

        /** {@code Softirqs.discardPendingForClose}: drops the pending raises of every CPU not in {@code busyCpus}. */
        List<String> discardPendingForClose(Softirqs softirqs, Set<Integer> busyCpus);
    }

    /** What {@code dev.bottomhalf.irq} lends the wiring. */
    public interface IrqAccess {
        IrqController newIrqController(Machine machine);

        /** {@code IrqController.idleForClose}: nothing latched, no handler running or woken; a snapshot. */
        boolean idleForClose(IrqController irqs);

        /** {@code IrqController.discardLatchedForClose}: forgets latched interrupts, irq_work and thread wake-ups. */
        List<String> discardLatchedForClose(IrqController irqs);
    }

    /**
     * Work that runs at the start of TASKLET_SOFTIRQ and HI_SOFTIRQ, before the tasklets: the BH workqueues' pools
     * ({@code bh_worker}). Installed once by the workqueue subsystem ({@link TaskletAccess#installBhWork}); runs
     * in the softirq's context on its CPU.
     */
    @FunctionalInterface
    public interface BhWork {
        void run(ExecutionContext ctx, boolean highPriority);
    }

    /** What {@code dev.bottomhalf.tasklet} lends the wiring. */
    public interface TaskletAccess {
        Tasklets newTasklets(Machine machine, Softirqs softirqs);

        /** {@code Tasklets.installBhWork}: installs the BH workqueues' hook (once; a second call fails). */
        void installBhWork(Tasklets tasklets, BhWork work);

        /** {@code Tasklets.idleForClose}: every CPU's lists are empty; a snapshot. */
        boolean idleForClose(Tasklets tasklets);

        /** {@code Tasklets.discardForClose}: takes the scheduled tasklets of every CPU not in {@code busyCpus}. */
        List<String> discardForClose(Tasklets tasklets, Set<Integer> busyCpus);
    }

    /** What {@code dev.bottomhalf.time} lends the wiring: the timer wheel's and the hrtimers'. */
    public interface TimeAccess {
        Timers newTimers(Machine machine, Softirqs softirqs);

        HrTimers newHrTimers(Machine machine, Softirqs softirqs);

        /**
         * {@code Timers.setupInternal}: {@code timer_setup} of a timer of the kernel's own machinery (a delayed
         * item's timer, a pool's idle and mayday timers, the workqueue watchdog): no closed-kernel check on its
         * calls, and the close cancels it without reporting it among the user's timers.
         */
        void setupInternal(Timers timers, TimerList t, String name, TimerList.Callback callback, int flags);

        /**
         * {@code Timers.scheduleTimeout(timeout, call)}: {@code schedule_timeout} on behalf of the sleeping primitive
         * {@code call} of the sched package ({@code schedule}, {@code wait_event}, ...), which the reports name.
         */
        long scheduleTimeout(Timers timers, long timeout, String call);

        /** {@code Timers.shutdownArmedForClose}: {@code timer_shutdown(_sync)} of every armed user timer. */
        List<String> shutdownArmedForClose(Timers timers, boolean sync);

        /** {@code HrTimers.cancelQueuedForClose}: {@code hrtimer_cancel} (or try-to-cancel) of every queued one. */
        List<String> cancelQueuedForClose(HrTimers hrtimers, boolean sync);
    }

    /** What {@code dev.bottomhalf.workqueue} lends the wiring. */
    public interface WorkqueueAccess {
        Workqueues newWorkqueues(Machine machine, Softirqs softirqs, Tasklets tasklets, Timers timers);

        /** {@code Workqueues.idleForClose}: nothing queued, waiting over max_active or running; a snapshot. */
        boolean idleForClose(Workqueues workqueues);

        /** {@code Workqueues.cancelArmedDelayedForClose}: {@code cancel_delayed_work} of every armed item. */
        List<String> cancelArmedDelayedForClose(Workqueues workqueues);

        /** {@code Workqueues.cancelQueuedForClose}: {@code cancel_work} of every item that did not run. */
        List<String> cancelQueuedForClose(Workqueues workqueues);
    }

    /** What {@code dev.bottomhalf.sched} lends the wiring: the tasks' and the kthreads'. */
    public interface SchedAccess {
        Sched newSched(Machine machine, Timers timers);

        Kthreads newKthreads(Sched sched);

        /** {@code Kthreads.idleForClose}: no kthread worker has an item queued or running; a snapshot. */
        boolean idleForClose(Kthreads kthreads);

        /** {@code Kthreads.cancelArmedDelayedForClose}: {@code kthread_cancel_delayed_work} of every armed item. */
        List<String> cancelArmedDelayedForClose(Kthreads kthreads);

        /** {@code Kthreads.cancelQueuedForClose}: takes every queued item off every worker's list. */
        List<String> cancelQueuedForClose(Kthreads kthreads);
    }

    /**
     * What {@code dev.bottomhalf.locking} lends the wiring: lockdep's maps of the workqueue machinery
     * ({@code lock_map_acquire}/{@code lock_map_release} of a workqueue's and a work item's map). Each is called
     * on {@code ctx}'s own thread and does nothing (allocates nothing) when lockdep is off.
     */
    public interface LockingAccess {
        /** {@code Lockdep.workStarts}: {@code process_one_work} acquires the workqueue's and the item's maps. */
        void workStarts(ExecutionContext ctx, Object wq, String wqName, Object workKey, Object work, String workName);

        /** {@code Lockdep.workEnds}: releases both maps. */
        void workEnds(ExecutionContext ctx, Object wq, Object work);

        /** {@code Lockdep.flushWork}: {@code flush_work}'s {@code touch_work_lockdep_map}. */
        void flushWork(ExecutionContext ctx, Object workKey, Object work, String workName);

        /** {@code Lockdep.flushWorkqueue}: {@code __flush_workqueue}'s {@code touch_wq_lockdep_map}. */
        void flushWorkqueue(ExecutionContext ctx, Object wq, String wqName);
    }

    /** What {@code dev.bottomhalf.proc} lends the wiring. */
    public interface ProcAccess {
        Proc newProc(Machine machine, IrqController irqs, Softirqs softirqs, Timers timers, HrTimers hrtimers,
                Napi napi, Workqueues workqueues);
    }

    /** What {@code dev.bottomhalf.net} lends the wiring: NAPI's assembly and its close steps. */
    public interface NetAccess {
        Napi newNapi(Machine machine, Softirqs softirqs, Sched sched, Kthreads kthreads, HrTimers hrtimers);

        boolean idleForClose(Napi napi);

        /** Stops and joins the socket devices' threads: outside the close's sweep lock, which they may need. */
        void stopDevicesForClose(Napi napi);

        void stopThreadsForClose(Napi napi);

        List<String> discardForClose(Napi napi, Set<Integer> busyCpus);
    }

    /** The installed accesses by interface; guarded by {@code Subsystems.class}, read once per holder. */
    private static final Map<Class<?>, Object> INSTALLED = new HashMap<>();

    private Subsystems() {
    }

    /**
     * Installs {@code access} as the one implementation of {@code type}. Called once per interface, by the
     * static initializer of the subsystem class that owns it.
     *
     * @throws IllegalStateException when {@code type} has an access installed already
     */
    public static synchronized <A> void install(Class<A> type, A access) {
        Objects.requireNonNull(type, "type");
        if (INSTALLED.putIfAbsent(type, type.cast(Objects.requireNonNull(access, "access"))) != null) {
            throw new IllegalStateException("the " + type.getSimpleName() + " is installed already");
        }
    }

    /** The softirq package's access. */
    public static SoftirqAccess softirq() {
        return SoftirqInstalled.ACCESS;
    }

    /** The irq package's access. */
    public static IrqAccess irq() {
        return IrqInstalled.ACCESS;
    }

    /** The tasklet package's access. */
    public static TaskletAccess tasklet() {
        return TaskletInstalled.ACCESS;
    }

    /** The time package's access (timers and hrtimers). */
    public static TimeAccess time() {
        return TimeInstalled.ACCESS;
    }

    /** The workqueue package's access. */
    public static WorkqueueAccess workqueue() {
        return WorkqueueInstalled.ACCESS;
    }

    /** The sched package's access (tasks and kthreads). */
    public static SchedAccess sched() {
        return SchedInstalled.ACCESS;
    }

    /** The locking package's access (lockdep's workqueue maps). */
    public static LockingAccess locking() {
        return LockingInstalled.ACCESS;
    }

    /** The proc package's access. */
    public static ProcAccess proc() {
        return ProcInstalled.ACCESS;
    }

    /** The net package's access (NAPI). */
    public static NetAccess net() {
        return NetInstalled.ACCESS;
    }

    /**
     * Initializes {@code installer}, whose static initializer installs {@code type}'s access, and returns that
     * access. Not under the lock while initializing: another thread may be initializing {@code installer} and
     * waiting for the lock in {@link #install}.
     */
    private static <A> A load(Class<?> installer, Class<A> type) {
        try {
            MethodHandles.lookup().ensureInitialized(installer);
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
        synchronized (Subsystems.class) {
            Object access = INSTALLED.get(type);
            if (access == null) {
                throw new IllegalStateException("the " + type.getSimpleName() + " was used before "
                        + installer.getSimpleName() + " installed it");
            }
            return type.cast(access);
        }
    }

    private static final class SoftirqInstalled {
        static final SoftirqAccess ACCESS = load(Softirqs.class, SoftirqAccess.class);
    }

    private static final class IrqInstalled {
        static final IrqAccess ACCESS = load(IrqController.class, IrqAccess.class);
    }

    private static final class TaskletInstalled {
        static final TaskletAccess ACCESS = load(Tasklets.class, TaskletAccess.class);
    }

    private static final class TimeInstalled {
        static final TimeAccess ACCESS = load(Timers.class, TimeAccess.class);
    }

    private static final class WorkqueueInstalled {
        static final WorkqueueAccess ACCESS = load(Workqueues.class, WorkqueueAccess.class);
    }

    private static final class SchedInstalled {
        static final SchedAccess ACCESS = load(Sched.class, SchedAccess.class);
    }

    private static final class LockingInstalled {
        static final LockingAccess ACCESS = load(Lockdep.class, LockingAccess.class);
    }

    private static final class ProcInstalled {
        static final ProcAccess ACCESS = load(Proc.class, ProcAccess.class);
    }

    private static final class NetInstalled {
        static final NetAccess ACCESS = load(Napi.class, NetAccess.class);
    }
}
