package dev.bottomhalf.tasklet;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.TaskletEvent;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;

/**
 * The tasklet subsystem of one kernel ({@code kernel/softirq.c}, tasklet part): per-CPU normal and
 * high-priority lists run from TASKLET_SOFTIRQ and HI_SOFTIRQ, and the operations on {@link Tasklet}s.
 * Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Schedule: test-and-set SCHED; only the winner appends the tasklet to the calling context's CPU
 * list and raises the vector (waking ksoftirqd from plain task context). Already-scheduled tasklets cost
 * one atomic and stay on the CPU that queued them. A first schedule costs two atomics: the SCHED exchange
 * on the tasklet and the tail swap of the list (see {@link Tasklet} for why they cannot be one).</li>
 * <li>Run ({@code tasklet_action_common}): the CPU's BH owner detaches its list with one swap and walks it
 * oldest first; for each tasklet it reads the successor, takes RUN ({@code tasklet_trylock}); if the
 * disable count is 0 it clears SCHED (a clear SCHED is reported with the kernel's WARN and the callback
 * skipped), calls the callback and releases RUN — one atomic read-modify-write per callback. Otherwise
 * (disabled, or running on another CPU) it puts the tasklet back on the list and re-raises the vector
 * without waking anyone — so a disabled, scheduled tasklet keeps its softirq busy until it is enabled,
 * exactly as in the kernel.</li>
 * <li>Waits ({@code tasklet_disable}, {@code tasklet_kill}, {@code tasklet_unlock_wait}) poll the state
 * with spin, yield, then short parks: they are rare and the callback they wait for is short. A wait that
 * could only end by this very context finishing (called from the tasklet's own callback, or in stepped
 * mode with nothing else to run it) is reported instead of hanging.</li>
 * </ul>
 */
public final class Tasklets {
    private final Machine machine;
    /** This object's copy of the machine's refusing state, read by {@code tasklet_schedule} ({@link Machine#onRefusing}). */
    private volatile boolean refusing;
    private final Softirqs softirqs;
    private final Reports reports;
    private final Tracing tracing;
    private final TaskletList[] normal;
    private final TaskletList[] hi;
    /** A callback's oopses, rate-limited per tasklet. */
    private final RateLimiter oopses;

    static {
        Subsystems.install(Subsystems.TaskletAccess.class, new TaskletsWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Tasklets(Machine machine, Softirqs softirqs) {
        this.machine = Objects.requireNonNull(machine, "machine");
        machine.onRefusing(() -> refusing = true);
        this.softirqs = Objects.requireNonNull(softirqs, "softirqs");
        this.reports = machine.reports();
        this.oopses = reports.limiter("tasklet_action_common");
        this.tracing = machine.tracing();
        this.normal = new TaskletList[machine.cpuCount()];
        this.hi = new TaskletList[machine.cpuCount()];
        for (int i = 0; i < normal.length; i++) {
            normal[i] = new TaskletList();
            hi[i] = new TaskletList();
        }
        softirqs.open(SoftirqVector.TASKLET, () -> action(normal, SoftirqVector.TASKLET));
        softirqs.open(SoftirqVector.HI, () -> action(hi, SoftirqVector.HI));
        machine.installTaskletDrainForBenchmark(this::drainForBenchmark);
    }

    // ------------------------------------------------------------------------------------------
    // Scheduling
    // ------------------------------------------------------------------------------------------

    /**
     * {@code tasklet_schedule(t)}: queue on the calling context's CPU unless already scheduled. Any context.
     *
     * @param t a set-up tasklet
     * @throws IllegalStateException when the tasklet was never set up, or the kernel is closed or has panicked
     */
    public void schedule(Tasklet t) {
        schedule(t, normal, SoftirqVector.TASKLET);
    }

    /**
     * {@code tasklet_hi_schedule(t)}: as {@link #schedule} on the high-priority list (HI_SOFTIRQ).
     *
     * @param t a set-up tasklet
     * @throws IllegalStateException when the tasklet was never set up, or the kernel is closed or has panicked
     */
    public void hiSchedule(Tasklet t) {
        schedule(t, hi, SoftirqVector.HI);
    }

    private void schedule(Tasklet t, TaskletList[] lists, SoftirqVector vector) {
        if (refusing) {
            machine.checkOpen();
        }
        if (t.testAndSetSched()) {
            return;
        }
        if (!t.initialised()) {
            throw neverSetUp(t);
        }
        ExecutionContext ctx = machine.current();
        int cpu = ctx.cpuId();
        t.cpu(cpu);
        lists[cpu].push(t);
        if (Jfr.on()) {
            Jfr.taskletSchedule(t.name(), cpu, vector == SoftirqVector.HI);
        }
        Subsystems.softirq().raiseOn(softirqs, ctx, vector.nr(), true);
        if (refusing) { // set before the close sweeps: a push the sweep missed reads it (Machine.afterAccept)
            machine.afterAccept();
        }
    }

    /** Gives back the SCHED bit {@link #schedule} won for a tasklet never set up; the refusal to throw. */
    private static IllegalStateException neverSetUp(Tasklet t) {
        t.testAndClearSched();
        return new IllegalStateException("tasklet_schedule() of a tasklet that was never set up: call"
                + " tasklet_setup() or tasklet_init() first");
    }

    // ------------------------------------------------------------------------------------------
    // Running
    // ------------------------------------------------------------------------------------------

    /** The BH workqueues' pools, run before the tasklets ({@code bh_worker}); installed once, at boot. */
    private volatile Subsystems.BhWork bhWork;

    /** Installs the BH-workqueue hook (once), for the workqueue subsystem through {@code Subsystems}. */
    void installBhWork(Subsystems.BhWork work) {
        if (bhWork != null) {
            throw new IllegalStateException("a BH work hook is already installed");
        }
        bhWork = Objects.requireNonNull(work, "work");
    }

    private void action(TaskletList[] lists, SoftirqVector vector) {
        ExecutionContext ctx = machine.current();
        Subsystems.BhWork bh = bhWork;
        if (bh != null) {
            bh.run(ctx, vector == SoftirqVector.HI);
        }
        Cpu cpu = RuntimeAccess.get().cpu(ctx);
        TaskletList list = lists[cpu.id()];
        Tasklet t = list.takeAll();
        while (t != null) {
            // The successor is read before t can be queued again (SCHED cleared, or put back below).
            Tasklet next = list.successor(t);
            if (t.tryLockRun()) {
                if (t.disableCount() == 0) {
                    if (clearSched(t)) {
                        run(ctx, t, vector);
                    }
                    t.unlockRun();
                    machine.wakeWaiters(); // tasklet_kill / tasklet_unlock_wait; one load when nobody waits
                    t = next;
                    if (t != null) {
                        cpu.serviceInterruptsBetweenHandlers(ctx);
                    }
                    continue;
                }
                t.unlockRun();
            }
            list.push(t);
            Subsystems.softirq().raiseOn(softirqs, ctx, vector.nr(), false);
            t = next;
        }
    }

    /**
     * The kernel's {@code tasklet_clear_sched}: SCHED is cleared just before the callback, so a schedule
     * from now on queues the tasklet again. A queued tasklet whose SCHED is clear was re-initialised or
     * cleared behind the subsystem's back: the kernel warns once and skips the callback, and so do we.
     */
    private boolean clearSched(Tasklet t) {
        if (t.testAndClearSched()) {
            return true;
        }
        reports.warnOnce("tasklet_clear_sched", "tasklet SCHED state not set: " + (t.usesCallback() ? "callback " : "func ")
                + t.name());
        return false;
    }

    private void run(ExecutionContext ctx, Tasklet t, SoftirqVector vector) {
        t.runner = ctx;
        if (tracing.on(Tracepoint.TASKLET_ENTRY)) {
            tracing.emit(Tracepoint.TASKLET_ENTRY, "tasklet=" + t.name());
        }
        TaskletEvent jfr = Jfr.taskletBegin();
        try {
            t.invoke();
        } catch (Throwable e) {
            oopses.oops(t, t, tasklet -> "tasklet " + tasklet.name(), e);
        } finally {
            if (jfr != null) {
                Jfr.taskletEnd(jfr, t.name(), ctx.cpuId(), vector == SoftirqVector.HI);
            }
            if (tracing.on(Tracepoint.TASKLET_EXIT)) {
                tracing.emit(Tracepoint.TASKLET_EXIT, "tasklet=" + t.name());
            }
            t.runner = null;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Disable / enable / kill
    // ------------------------------------------------------------------------------------------

    /**
     * {@code tasklet_disable_nosync(t)}: disable depth + 1; does not wait. Any context.
     *
     * @param t the tasklet
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void disableNosync(Tasklet t) {
        machine.checkOpen();
        t.incrementDisableCount();
    }

    /**
     * {@code tasklet_disable(t)}: disable depth + 1, then sleep until a running callback has finished.
     * May sleep. Called from the tasklet's own callback it would wait for itself: reported, and it returns.
     *
     * @param t the tasklet
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void disable(Tasklet t) {
        disableNosync(t);
        unlockWait(t, "tasklet_disable");
    }

    /**
     * {@code tasklet_enable(t)}: disable depth − 1. A scheduled tasklet runs on its CPU's next pass (its
     * softirq is being re-raised while it waits). The kernel does not check underflow; we refuse it with a
     * warning, because a negative count would keep the tasklet from ever running.
     *
     * @param t the tasklet
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void enable(Tasklet t) {
        machine.checkOpen();
        if (!t.decrementDisableCount()) {
            reports.warning("tasklet_enable() of " + t.name() + " without tasklet_disable(): the disable count"
                    + " would underflow");
        }
    }

    /**
     * {@code tasklet_unlock_wait(t)}: sleep until the callback is not running. May sleep.
     *
     * @param t the tasklet
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void unlockWait(Tasklet t) {
        unlockWait(t, "tasklet_unlock_wait");
    }

    private void unlockWait(Tasklet t, String caller) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (t.runner == ctx) {
            reports.bug("BUG: " + caller + "(" + t.name() + ") called from the tasklet's own callback: it would"
                    + " wait for itself forever (deadlock)", new Throwable(caller));
            return;
        }
        ctx.mightSleep(caller);
        waitUntil(() -> !t.isRunning(), t, caller);
    }

    /**
     * {@code tasklet_kill(t)}: waits until a scheduled tasklet has run and is not running, leaving it
     * unscheduled. It does not dequeue: a scheduled tasklet runs once more first. In interrupt context it
     * prints the kernel's notice {@code Attempt to kill tasklet from interrupt} and — as sleeping there is
     * illegal — returns after the might_sleep report. On a scheduled, disabled tasklet the kernel hangs
     * until someone enables it; we report that ({@code tasklet_kill(NAME): the tasklet is scheduled but
     * disabled ...}) and keep waiting in threaded mode, return in stepped mode.
     *
     * @param t the tasklet
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void kill(Tasklet t) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (ctx.inInterrupt()) {
            reports.printk(KernelEvent.Kind.NOTICE, "Attempt to kill tasklet from interrupt");
        }
        if (t.runner == ctx) {
            reports.bug("BUG: tasklet_kill(" + t.name() + ") called from the tasklet's own callback: it would wait for"
                    + " itself forever (deadlock)", new Throwable("tasklet_kill"));
            return;
        }
        if (!ctx.mightSleep("tasklet_kill")) {
            return;
        }
        boolean[] reported = {false};
        while (t.testAndSetSched()) {
            if (t.disableCount() > 0 && !reported[0]) {
                reported[0] = true;
                reports.warning("tasklet_kill(" + t.name() + "): the tasklet is scheduled but disabled (count "
                        + t.disableCount() + "); it cannot run, so tasklet_kill() waits until tasklet_enable()");
                if (machine.stepped()) {
                    return;
                }
            }
            if (!waitUntil(() -> !t.isScheduled(), t, "tasklet_kill")) {
                return;
            }
        }
        waitUntil(() -> !t.isRunning(), t, "tasklet_kill");
        t.testAndClearSched();
    }

    private interface Condition {
        boolean holds();
    }

    /**
     * Waits for {@code done} (the kernel's waits for the tasklet's bits); in stepped mode the kernel is driven
     * instead. Returns false if it cannot ever hold (stepped mode: reported).
     */
    private boolean waitUntil(Condition done, Tasklet t, String caller) {
        return done.holds() || machine.waitUntil(done::holds, caller + "(" + t.name() + ")");
    }

    /**
     * Takes CPU {@code cpu}'s normal list back and clears SCHED on each tasklet without running it: what the
     * CPU's softirq does before it calls the callbacks. For benchmarks that measure the scheduling side
     * alone ({@code Internals.drainTaskletsForBenchmark}); never call it on a live kernel (the tasklets would be
     * dropped).
     */
    void drainForBenchmark(int cpu) {
        TaskletList list = normal[machine.cpu(cpu).id()];
        Tasklet t = list.takeAll();
        while (t != null) {
            Tasklet n = list.successor(t);
            t.testAndClearSched();
            t = n;
        }
    }

    /**
     * Whether CPU {@code cpu}'s normal (false) or high-priority (true) list is empty. Any thread.
     *
     * @param cpu the CPU
     * @param highPriority which list
     * @return true when empty
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     */
    public boolean listEmpty(int cpu, boolean highPriority) {
        machine.cpu(cpu);
        return (highPriority ? hi : normal)[cpu].isEmpty();
    }

    // ------------------------------------------------------------------------------------------
    // Closing the kernel
    // ------------------------------------------------------------------------------------------

    /** Whether every CPU's tasklet lists are empty. For {@code Kernel.close()}; any thread, a snapshot. */
    boolean idleForClose() {
        for (int cpu = 0; cpu < normal.length; cpu++) {
            if (!normal[cpu].isEmpty() || !hi[cpu].isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Takes every scheduled tasklet off its list without running it, clearing SCHED. For {@code Kernel.close()}
     * once the runtime threads have stopped (the caller is then the lists' only consumer), skipping the CPUs
     * in {@code busyCpus} whose {@code cpu/N} or {@code ksoftirqd/N} did not stop.
     *
     * @return the names of the tasklets that never ran
     */
    List<String> discardForClose(java.util.Set<Integer> busyCpus) {
        List<String> dropped = new ArrayList<>();
        for (int cpu = 0; cpu < normal.length; cpu++) {
            if (busyCpus.contains(cpu)) {
                continue;
            }
            for (TaskletList list : new TaskletList[] {hi[cpu], normal[cpu]}) {
                Tasklet t = list.takeAll();
                while (t != null) {
                    Tasklet next = list.successor(t);
                    if (t.testAndClearSched()) {
                        dropped.add(t.name());
                    }
                    t = next;
                }
            }
        }
        return dropped;
    }
}
