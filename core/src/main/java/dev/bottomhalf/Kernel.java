package dev.bottomhalf;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.bottomhalf.internal.Internals;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.net.Napi;
import dev.bottomhalf.proc.KernelSnapshot;
import dev.bottomhalf.proc.Proc;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.SteppedScheduler;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.tasklet.Tasklets;
import dev.bottomhalf.time.Jiffies;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * One simulated machine and the front door of the library: N virtual CPUs with an interrupt controller, the
 * softirq vector with ksoftirqd, tasklets, the timer wheel and hrtimers, workqueues, tasks and kthreads, the
 * {@code /proc} views, reports and tracing — with the Linux kernel's semantics. Thread-safe; any thread may
 * call it (a thread that never bound itself is a task on the default CPU).
 *
 * <pre>{@code
 * try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).build())) {
 *     kernel.softirqs().open(SoftirqVector.NET_RX, () -> pollRing());
 *     kernel.irqs().request(9, (irq, dev) -> { ack(); kernel.softirqs().raise(SoftirqVector.NET_RX);
 *                                              return IrqReturn.HANDLED; }, Set.of(), "eth0", nic);
 *     nic.start(() -> kernel.irqs().assertIrq(9));   // a device thread raising its interrupt
 * }
 * }</pre>
 *
 * <p>What it offers: every subsystem ({@link #irqs()}, {@link #softirqs()}, {@link #tasklets()},
 * {@link #timers()}, {@link #hrtimers()}, {@link #workqueues()}, {@link #sched()}, {@link #kthreads()},
 * {@link #napi()}, {@link #proc()} and {@link #snapshot()}, {@link #reports()}, {@link #tracing()}); the clock ({@link #jiffies()}, {@link #hz()},
 * {@link #msecsToJiffies}, {@link #toJiffies(Duration)}, {@link #uptimeNs()}, ...); the calling thread
 * ({@link #bindCurrentThread}, {@link #detachCurrentThread()}, {@link #smpProcessorId()}, {@link #context()},
 * a read-only {@link ExecutionContext}); cross-CPU calls; and the lifecycle ({@link #close()},
 * {@link #isClosed()}, {@link #isTerminated()}, {@link #isPanicked()}, {@link #closeReport()}). The kernel's own
 * names are in {@code dev.bottomhalf.linux.Linux}, which resolves its calls through {@link #current()}.
 *
 * <p>Threaded mode (the default) starts {@code cpu/N}, {@code ksoftirqd/N} and, as they are needed,
 * {@code irq/L-name}, {@code kworker/...} and kthread threads. Stepped mode ({@link KernelConfig.Builder#stepped()})
 * starts none: the caller drives everything through {@link #stepper()} with a manual clock, which makes every
 * timing rule deterministic.
 *
 * <p>Implementation notes: the runtime under this class — the machine with its CPUs, exclusion levels, runtime
 * threads and stepped scheduler — lives in {@code dev.bottomhalf.internal.runtime}, which the module does not
 * export (docs/architecture.md lists what is internal and why). This class assembles the subsystems in layering
 * order (runtime, irq and softirq, tasklets and time, workqueues and sched, proc) and closes them in reverse; it
 * lives above the subsystems so that none of them imports it (docs/adr/0001). No static mutable state: kernels
 * are independent.
 */
public final class Kernel implements AutoCloseable {
    private final Machine machine;
    private final Softirqs softirqs;
    private final IrqController irqs;
    private final Tasklets tasklets;
    private final Timers timers;
    private final HrTimers hrtimers;
    private final Workqueues workqueues;
    private final Proc proc;
    private final Sched sched;
    private final Kthreads kthreads;
    private final Napi napi;
    /** Whether this object's close has begun, and its report once it has ended; guarded by this. */
    private boolean closing;
    private CloseReport closeReport;
    /** What calls still in flight when the close swept accepted and the kernel then dropped; guarded by this. */
    private final List<CloseReport> lateReports = new ArrayList<>();
    /** The CPUs whose threads did not stop, for the late sweeps; written once by the closer before it sweeps. */
    private volatile Set<Integer> busyCpusAtClose = Set.of();

    private Kernel(KernelConfig config) {
        this.machine = new Machine(config);
        machine.setOwner(this);
        this.softirqs = Subsystems.softirq().newSoftirqs(machine);
        this.irqs = Subsystems.irq().newIrqController(machine);
        this.tasklets = Subsystems.tasklet().newTasklets(machine, softirqs);
        this.timers = Subsystems.time().newTimers(machine, softirqs);
        this.hrtimers = Subsystems.time().newHrTimers(machine, softirqs);
        this.workqueues = Subsystems.workqueue().newWorkqueues(machine, softirqs, tasklets, timers);
        this.sched = Subsystems.sched().newSched(machine, timers);
        this.kthreads = Subsystems.sched().newKthreads(sched);
        this.napi = Subsystems.net().newNapi(machine, softirqs, sched, kthreads, hrtimers);
        this.proc = Subsystems.proc().newProc(machine, irqs, softirqs, timers, hrtimers, napi, workqueues);
        machine.onLateAccept(this::sweepLate);
    }

    /**
     * Builds a kernel and, in threaded mode, starts its runtime threads.
     *
     * @param config the configuration
     * @return the running kernel
     */
    public static Kernel boot(KernelConfig config) {
        Kernel k = new Kernel(Objects.requireNonNull(config, "config"));
        k.machine.start();
        return k;
    }

    /**
     * A threaded kernel with default settings and {@code cpus} CPUs.
     *
     * @param cpus the number of virtual CPUs, 1..64
     * @return the running kernel
     * @throws IllegalArgumentException for a CPU count outside 1..64
     */
    public static Kernel boot(int cpus) {
        return boot(KernelConfig.builder().cpus(cpus).build());
    }

    /**
     * The kernel the calling thread is attached to: a runtime thread's own kernel, or the kernel a task
     * thread last used or bound itself to. The {@code dev.bottomhalf.linux} facade resolves its calls here.
     * Never a closed kernel: a thread still attached to one is detached and gets the exception.
     *
     * @return the kernel
     * @throws IllegalStateException when the thread is attached to none, or its kernel is closed
     *         ({@code kernel is closed}) or panicked
     */
    public static Kernel current() {
        return (Kernel) RuntimeAccess.get().machine(ExecutionContext.current()).owner();
    }

    static {
        Internals.installKernelAccess(k -> k.machine);
    }

    /**
     * Softirqs: the vector table, {@code raise_softirq}, ksoftirqd and the per-CPU counts. Any thread.
     *
     * @return this kernel's softirqs
     */
    public Softirqs softirqs() {
        return softirqs;
    }

    /**
     * Hard IRQs: the interrupt lines, {@code request_irq}, enable/disable, affinity, per-CPU lines and {@code
     * irq_work}. Any thread.
     *
     * @return this kernel's interrupt controller
     */
    public IrqController irqs() {
        return irqs;
    }

    /**
     * Tasklets: HI and TASKLET softirq lists of every CPU.
     *
     * @return this kernel's tasklets
     */
    public Tasklets tasklets() {
        return tasklets;
    }

    /**
     * Kernel timers: the per-CPU timer wheels, {@code mod_timer} and friends, the sleeping helpers.
     *
     * @return this kernel's timers
     */
    public Timers timers() {
        return timers;
    }

    /**
     * High-resolution timers: nanosecond expiry, hard-IRQ or HRTIMER_SOFTIRQ callbacks.
     *
     * @return this kernel's hrtimers
     */
    public HrTimers hrtimers() {
        return hrtimers;
    }

    /**
     * Workqueues: worker pools, the system workqueues, work items, delayed work, flush and cancel.
     *
     * @return this kernel's workqueues
     */
    public Workqueues workqueues() {
        return workqueues;
    }

    /**
     * Tasks, wait queues and completions ({@code current}, {@code wait_event}, {@code complete}, ...).
     *
     * @return this kernel's scheduler
     */
    public Sched sched() {
        return sched;
    }

    /**
     * kthreads and kthread workers ({@code kthread_run}, {@code kthread_stop}, {@code kthread_queue_work}, ...).
     *
     * @return this kernel's kthreads
     */
    public Kthreads kthreads() {
        return kthreads;
    }

    /**
     * NAPI, the network receive polling: {@code netif_napi_add}, {@code napi_schedule}, {@code napi_complete_done},
     * {@code net_rx_action} on NET_RX_SOFTIRQ, threaded NAPI and busy polling (docs/subsystems/net.md).
     *
     * @return this kernel's NAPI subsystem
     */
    public Napi napi() {
        return napi;
    }

    /**
     * The {@code /proc} views.
     *
     * @return this kernel's {@code /proc}
     */
    public Proc proc() {
        return proc;
    }

    /**
     * Every counter this kernel keeps, read once now — interrupt lines, architecture interrupts, softirqs,
     * ksoftirqd, {@code softnet_stat}, the workqueue monitor's figures, the report counts — as an immutable
     * record; {@code /proc} renders from the same reading ({@link Proc#interrupts(KernelSnapshot)}, ...). Any
     * thread and context; like the other reads of {@code /proc} and the counters, it still works after the close.
     * See {@link KernelSnapshot} for what is consistent across counters and what is not kept.
     *
     * @return the snapshot
     */
    public KernelSnapshot snapshot() {
        return proc.snapshot();
    }

    /**
     * The report counters, the once-flags and the rate limits of this kernel's WARN/BUG/oops reports. Any thread.
     *
     * @return this kernel's reports
     */
    public Reports reports() {
        return machine.reports();
    }

    /**
     * The tracepoints of this kernel ({@code irq_handler_entry}, {@code softirq_raise}, {@code
     * workqueue_execute_start}, ...): where their hits go. Any thread.
     *
     * @return this kernel's tracing
     */
    public Tracing tracing() {
        return machine.tracing();
    }

    /**
     * The configuration this kernel was booted with. Any thread.
     *
     * @return the configuration
     */
    public KernelConfig config() {
        return machine.config();
    }

    /**
     * The number of this kernel's virtual CPUs, numbered from 0. Any thread.
     *
     * @return the CPU count
     */
    public int cpus() {
        return machine.cpuCount();
    }

    /**
     * {@code jiffies}: ticks since boot on this kernel's clock (it starts 5 minutes before wrapping). Any thread.
     *
     * @return the jiffies counter
     */
    public long jiffies() {
        return machine.jiffies();
    }

    /**
     * {@code HZ}: jiffies per second ({@link KernelConfig#hz()}). Any thread.
     *
     * @return the tick rate
     */
    public int hz() {
        return machine.hz();
    }

    /**
     * {@code msecs_to_jiffies(ms)}: rounds up; a negative value gives {@link Jiffies#MAX_JIFFY_OFFSET}.
     *
     * @param ms milliseconds
     * @return jiffies
     */
    public long msecsToJiffies(long ms) {
        return Jiffies.msecsToJiffies(ms, machine.hz());
    }

    /**
     * {@code usecs_to_jiffies(us)}: rounds up; a negative value gives {@link Jiffies#MAX_JIFFY_OFFSET}.
     *
     * @param us microseconds
     * @return jiffies
     */
    public long usecsToJiffies(long us) {
        return Jiffies.usecsToJiffies(us, machine.hz());
    }

    /**
     * {@code jiffies_to_msecs(j)}: rounds up.
     *
     * @param j jiffies
     * @return milliseconds
     */
    public long jiffiesToMsecs(long j) {
        return Jiffies.jiffiesToMsecs(j, machine.hz());
    }

    /**
     * {@code jiffies_to_usecs(j)}: rounds up.
     *
     * @param j jiffies
     * @return microseconds
     */
    public long jiffiesToUsecs(long j) {
        return Jiffies.jiffiesToUsecs(j, machine.hz());
    }

    /**
     * {@code duration} in jiffies, rounded up as {@code msecs_to_jiffies} rounds; a negative duration, or one
     * too long to count, gives {@link Jiffies#MAX_JIFFY_OFFSET} (the kernel's "infinite timeout"). The
     * subsystems' {@code Duration} overloads convert the same way but refuse a negative duration
     * ({@link Jiffies#durationToJiffies}). Any thread.
     *
     * @param duration a delay or timeout
     * @return its length in jiffies, at most {@link Jiffies#MAX_JIFFY_OFFSET}
     */
    public long toJiffies(Duration duration) {
        Objects.requireNonNull(duration, "duration");
        if (duration.isNegative()) {
            return Jiffies.MAX_JIFFY_OFFSET;
        }
        return Jiffies.durationToJiffies(duration, machine.hz());
    }

    /**
     * {@code j} jiffies as a duration (exact when {@code HZ} divides a second into whole nanoseconds). Any thread.
     *
     * @param j a jiffy count
     * @return its duration (negative for a negative count)
     */
    public Duration jiffiesToDuration(long j) {
        int hz = machine.hz();
        return Duration.ofSeconds(j / hz, (j % hz) * 1_000_000_000L / hz);
    }

    /**
     * Nanoseconds since boot on this kernel's clock ({@code ktime_get()} less the boot time). Any thread.
     *
     * @return nanoseconds since boot
     */
    public long uptimeNs() {
        return machine.uptimeNs();
    }

    /**
     * {@code smp_processor_id()}: the CPU the calling thread runs on in this kernel — a runtime thread's own
     * CPU, a bound task's CPU, or the default task CPU for a thread that never bound itself (attaching it).
     *
     * @return the CPU number
     * @throws IllegalStateException once the kernel is closed ({@code kernel is closed})
     */
    public int smpProcessorId() {
        return context().cpuId();
    }

    /**
     * A per-CPU variable ({@code DEFINE_PER_CPU}, {@code alloc_percpu}) on this kernel's CPUs: {@code init} makes
     * each CPU's value, once, in CPU order, on the calling thread. See {@link PerCpu} for the context rules. Any
     * thread.
     *
     * @param <T>  the type of each CPU's value
     * @param init the value of each CPU, from its number; never null
     * @return the per-CPU variable
     * @throws NullPointerException when {@code init} or one of its values is null
     */
    public <T> PerCpu<T> perCpu(java.util.function.IntFunction<? extends T> init) {
        return new PerCpu<>(this, init);
    }

    /**
     * A per-CPU {@code long} on this kernel's CPUs, 0 on each: the kernel's per-CPU counter, updated with
     * {@code this_cpu_add}/{@code this_cpu_inc} and summed by a reader. Any thread.
     *
     * @return the per-CPU long
     */
    public PerCpuLong perCpuLong() {
        return new PerCpuLong(this);
    }

    /**
     * The CPU of the calling thread's context on this kernel, for {@code this_cpu_*}: never attaches the thread.
     *
     * @throws IllegalStateException when the thread has no context on this kernel
     */
    int thisCpu(String call) {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx == null || RuntimeAccess.get().machine(ctx) != machine) {
            throw new IllegalStateException(call + ": thread '" + Thread.currentThread().getName() + "' runs on no CPU"
                    + " of this kernel: bind it with kernel.bindCurrentThread(cpu) first (runtime threads, handlers"
                    + " and work items run on their CPU)");
        }
        return ctx.cpuId();
    }

    /**
     * The stepper of a stepped-mode kernel.
     *
     * @return a stepper over this kernel
     * @throws IllegalStateException when the kernel runs in threaded mode
     */
    public Stepper stepper() {
        return RuntimeAccess.get().newStepper(machine);
    }

    /**
     * The calling thread becomes a task on {@code cpu} (like {@code sched_setaffinity} to one CPU).
     *
     * @param cpu the CPU
     * @return the calling thread's task context
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked, when the thread is a runtime thread
     *   of another kernel, or when it is in atomic context on another kernel
     */
    public ExecutionContext bindCurrentThread(int cpu) {
        return machine.bindCurrentThread(cpu);
    }

    /**
     * Forgets the calling thread's task context on this kernel: the thread is a stranger again (the next call
     * attaches it on the default CPU). A thread that bound itself with {@link #bindCurrentThread} and ends its
     * work before the kernel closes calls this; after the close it is not needed. No effect on a runtime thread
     * or a thread that was never attached.
     *
     * @throws IllegalStateException in atomic context (BH or IRQs disabled, a spinlock held)
     */
    public void detachCurrentThread() {
        machine.detachCurrentThread();
    }

    /**
     * The calling thread's execution context on this kernel (attaching it as a task if needed).
     *
     * @return the context
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public ExecutionContext context() {
        machine.checkOpen();
        return machine.current();
    }

    /**
     * {@code smp_call_function_single(cpu, func, NULL, wait)}.
     *
     * @param cpu the CPU that runs {@code func}, in hardirq context (inline with IRQs disabled when it is the
     *   calling CPU)
     * @param func the function
     * @param wait whether to return only after it ran
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public void smpCallFunctionSingle(int cpu, Runnable func, boolean wait) {
        machine.smpCallFunctionSingle(cpu, func, wait);
    }

    /**
     * Closes the kernel as unloading every module at once would: stops accepting work, runs what was
     * accepted, cancels what is only armed, stops the threads — waiting at most
     * {@link KernelConfig#closeTimeout()} (30 s unless configured) for the accepted work. See
     * {@link #close(Duration)}. Idempotent; a second caller waits for the first close to end.
     */
    @Override
    public void close() {
        close(machine.config().closeTimeout());
    }

    /**
     * Closes the kernel, letting accepted work run for at most {@code timeout}; the lifecycle of
     * {@link java.util.concurrent.ExecutorService#close()} in the kernel's order:
     * <ol>
     * <li>Stop accepting: from now on every call from a task thread other than this one fails with
     * {@code IllegalStateException("kernel is closed")}; the kernel's own contexts (handlers, work items)
     * may still raise, schedule and queue, so chains of work finish (the kernel's {@code drain_workqueue}).</li>
     * <li>Run what was accepted: latched interrupts, raised softirqs, scheduled tasklets, queued work on every
     * workqueue ({@code destroy_workqueue} for each) and every kthread worker, until nothing is left or
     * {@code timeout} passes. Timers
     * that come due meanwhile still fire.</li>
     * <li>Cancel what is only armed: delayed items whose delay has not passed ({@code cancel_delayed_work},
     * {@code kthread_cancel_delayed_work}),
     * timers ({@code timer_shutdown_sync}) and hrtimers ({@code hrtimer_cancel}); then run what their last
     * callbacks queued.</li>
     * <li>Stop the threads: every runtime thread is stopped and joined; one that does not end (a handler that
     * never returns) is reported by name with its stack and left behind as a daemon thread.</li>
     * <li>Drop and report what never ran (when {@code timeout} passed or the kernel had panicked, or what calls
     * still in flight accepted after the drain: see {@link #closeReport()}).</li>
     * </ol>
     * What was cancelled or dropped is reported once (NOTICE for armed timers, WARN for accepted work that
     * never ran) and returned. After the close every entry point fails at once with
     * {@code IllegalStateException("kernel is closed")}, and no thread gets this kernel back from
     * {@link #current()}. A panicked kernel is closed without running anything more.
     *
     * @param timeout how long accepted work may still run ({@link Duration#ZERO}: none, see {@link #shutdownNow()})
     * @return what was cancelled and dropped; a second call returns the first close's report
     * @throws IllegalStateException from the kernel's own contexts (a handler, a work item, a runtime thread)
     *         or in atomic context: close() waits for them, so it would wait for itself
     */
    public CloseReport close(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout cannot be negative: " + timeout);
        }
        if (!machine.beginClose()) {
            return awaitOtherClose();
        }
        synchronized (this) {
            closing = true;
        }
        long deadlineNs = System.nanoTime() + Math.min(timeout.toNanos(), Long.MAX_VALUE / 4);
        boolean panicked = machine.panicked();
        List<String> delayed = new ArrayList<>();
        List<String> timerNames = new ArrayList<>();
        List<String> hrtimerNames = new ArrayList<>();
        boolean drained = false;
        if (!panicked) {
            drained = awaitIdle(deadlineNs);
            delayed.addAll(Subsystems.workqueue().cancelArmedDelayedForClose(workqueues));
            delayed.addAll(Subsystems.sched().cancelArmedDelayedForClose(kthreads));
            timerNames.addAll(Subsystems.time().shutdownArmedForClose(timers, true));
            hrtimerNames.addAll(Subsystems.time().cancelQueuedForClose(hrtimers, true));
            drained = awaitIdle(deadlineNs) && drained;
            Subsystems.net().stopThreadsForClose(napi);
        }
        // Out of time (or panicked): take the queued items away before the workers finish their batches.
        List<String> droppedWork = new ArrayList<>();
        if (!drained) {
            droppedWork.addAll(Subsystems.workqueue().cancelQueuedForClose(workqueues));
            droppedWork.addAll(Subsystems.sched().cancelQueuedForClose(kthreads));
        }
        // The sockets' selector threads are not the runtime's: stop them while the close still only refuses (a call
        // they have in flight completes at once), never while the last sweep below holds its lock.
        Subsystems.net().stopDevicesForClose(napi);
        List<String> stuck = machine.finishClose();
        // The threads have stopped: what is still armed or queued now was armed or queued after the passes
        // above (a call that straddled the start of the close, a callback that re-armed itself): cancel it too.
        // A call whose acceptance completes after this sweep runs it again (Machine.afterAccept → sweepLate).
        busyCpusAtClose = busyCpus(stuck);
        CloseReport last = machine.sweepForClose(() -> sweepAfterThreadsStopped(panicked));
        delayed.addAll(last.cancelledDelayedWork());
        timerNames.addAll(last.cancelledTimers());
        hrtimerNames.addAll(last.cancelledHrtimers());
        droppedWork.addAll(last.droppedWork());
        drained = droppedWork.isEmpty() && !last.droppedAcceptedWork() && !panicked;
        CloseReport report = new CloseReport(drained, panicked, timerNames, hrtimerNames, delayed,
                droppedWork, last.droppedTasklets(), last.droppedSoftirqs(), last.droppedIrqs(), last.droppedCalls(),
                stuck);
        if (report.droppedAcceptedWork()) {
            machine.reports().printk(KernelEvent.Kind.WARN, "close: accepted work never ran (" + (panicked
                    ? "the kernel had panicked" : "not done within " + timeout.toMillis() + " ms") + "): "
                    + report.droppedLine());
        }
        if (report.cancelledArmed()) {
            machine.reports().printk(KernelEvent.Kind.NOTICE, "close: cancelled " + report.cancelledLine());
        }
        machine.endClose();
        machine.detachCurrentThread(); // the closer's own binding goes with the kernel
        synchronized (this) {
            closeReport = report;
            notifyAll();
        }
        return report;
    }

    /**
     * The close's sweep once the runtime threads have stopped: cancels what is armed, drops what is queued,
     * latched or raised (except on the CPUs whose threads did not stop), and returns the names.
     */
    private CloseReport sweepAfterThreadsStopped(boolean panicked) {
        Set<Integer> busyCpus = busyCpusAtClose;
        List<String> delayed = new ArrayList<>(Subsystems.workqueue().cancelArmedDelayedForClose(workqueues));
        delayed.addAll(Subsystems.sched().cancelArmedDelayedForClose(kthreads));
        List<String> timerNames = Subsystems.time().shutdownArmedForClose(timers, false);
        List<String> hrtimerNames = Subsystems.time().cancelQueuedForClose(hrtimers, false);
        List<String> droppedWork = new ArrayList<>(Subsystems.workqueue().cancelQueuedForClose(workqueues));
        droppedWork.addAll(Subsystems.sched().cancelQueuedForClose(kthreads));
        List<String> droppedTasklets = Subsystems.tasklet().discardForClose(tasklets, busyCpus);
        List<String> droppedSoftirqs = new ArrayList<>(Subsystems.net().discardForClose(napi, busyCpus));
        droppedSoftirqs.addAll(Subsystems.softirq().discardPendingForClose(softirqs, busyCpus));
        List<String> droppedIrqs = Subsystems.irq().discardLatchedForClose(irqs);
        int droppedCalls = machine.discardCallsForClose();
        boolean drained = droppedWork.isEmpty() && droppedTasklets.isEmpty() && droppedSoftirqs.isEmpty()
                && droppedIrqs.isEmpty() && droppedCalls == 0 && !panicked;
        return new CloseReport(drained, panicked, timerNames, hrtimerNames, delayed, droppedWork, droppedTasklets,
                droppedSoftirqs, droppedIrqs, droppedCalls, List.of());
    }

    /**
     * The sweep again, for a call that began while the kernel was open and completed its acceptance after the
     * close's last sweep ({@link Machine#afterAccept()}, on that call's thread, under the close's sweep lock):
     * what it accepted is cancelled or dropped, reported like the close's own, and added to
     * {@link #closeReport()}.
     */
    private void sweepLate() {
        CloseReport late = sweepAfterThreadsStopped(machine.panicked());
        if (!late.droppedAcceptedWork() && !late.cancelledArmed()) {
            return;
        }
        if (late.droppedAcceptedWork()) {
            machine.reports().printk(KernelEvent.Kind.WARN, "close: accepted work never ran (accepted by a call"
                    + " still in flight when the kernel closed): " + late.droppedLine());
        }
        if (late.cancelledArmed()) {
            machine.reports().printk(KernelEvent.Kind.NOTICE, "close: cancelled (armed by a call still in flight"
                    + " when the kernel closed) " + late.cancelledLine());
        }
        synchronized (this) {
            lateReports.add(late);
        }
    }

    /**
     * The report of this kernel's close, once it has ended: what {@link #close()} returned, plus what calls
     * still in flight when it swept went on to accept and the kernel then cancelled or dropped (each also
     * reported through the kernel's reporter as it happened). Empty before the close has ended.
     *
     * @return the report, or empty while the close has not ended
     */
    public synchronized Optional<CloseReport> closeReport() {
        if (closeReport == null) {
            return Optional.empty();
        }
        CloseReport r = closeReport;
        for (CloseReport late : lateReports) {
            r = r.plus(late);
        }
        return Optional.of(r);
    }

    /** A second caller of close: the report of the close under way, once it has ended. */
    private synchronized CloseReport awaitOtherClose() {
        boolean interrupted = false;
        while (closing && closeReport == null) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return closeReport != null ? closeReport : emptyReport();
    }

    /**
     * Closes without running what was accepted and not yet started: {@code close(Duration.ZERO)}, the
     * counterpart of {@link java.util.concurrent.ExecutorService#shutdownNow()}. Handlers and items already
     * running finish; everything else is cancelled and reported.
     *
     * @return what was cancelled and dropped
     * @throws IllegalStateException from the kernel's own contexts or in atomic context, as {@link
     *   #close(Duration)}
     */
    public CloseReport shutdownNow() {
        return close(Duration.ZERO);
    }

    /**
     * Whether {@link #close()} has begun (the counterpart of
     * {@link java.util.concurrent.ExecutorService#isShutdown()}): from then on task threads' calls fail with
     * {@code kernel is closed}. Any thread.
     *
     * @return true once the close began
     */
    public boolean isClosed() {
        return machine.closing();
    }

    /**
     * Whether the close has ended: the runtime threads stopped and what was left was reported (the counterpart
     * of {@link java.util.concurrent.ExecutorService#isTerminated()}). Any thread.
     *
     * @return true once the close ended
     */
    public boolean isTerminated() {
        return machine.closed();
    }

    /**
     * Whether the kernel has panicked (a fatal error in one of its contexts); it refuses every call. Any thread.
     *
     * @return true after a panic
     */
    public boolean isPanicked() {
        return machine.panicked();
    }

    /**
     * Waits until the runtime is idle — nothing latched, raised, scheduled, queued or running anywhere — or
     * {@code deadlineNs} passes. In stepped mode the closing thread drives the kernel (the clock moving only
     * while work sleeps or burns CPU time); in threaded mode it waits for the runtime threads.
     *
     * @return whether the runtime was idle
     */
    private boolean awaitIdle(long deadlineNs) {
        BooleanSupplier idle = () -> machine.idleForClose() && Subsystems.irq().idleForClose(irqs)
                && Subsystems.tasklet().idleForClose(tasklets) && Subsystems.net().idleForClose(napi)
                && Subsystems.workqueue().idleForClose(workqueues) && Subsystems.sched().idleForClose(kthreads);
        // Twice: a handler that finished between two of the reads of one check may have queued the next item.
        BooleanSupplier idleOrLate = () -> (idle.getAsBoolean() && idle.getAsBoolean())
                || System.nanoTime() - deadlineNs >= 0;
        if (machine.stepped()) {
            SteppedScheduler scheduler = SteppedScheduler.of(machine);
            while (!idleOrLate.getAsBoolean() && scheduler.waitFor(idleOrLate, "close")) {
                // waitFor returns once the condition holds or nothing can move: re-check
            }
        } else {
            machine.waitUntil(idleOrLate, "close");
        }
        return idle.getAsBoolean() && idle.getAsBoolean();
    }

    private static final Pattern CPU_THREAD = Pattern.compile("(?:cpu|ksoftirqd)/(\\d+)");

    /** The CPUs whose {@code cpu/N} or {@code ksoftirqd/N} did not stop: their lists still have a consumer. */
    private static Set<Integer> busyCpus(List<String> stuck) {
        Set<Integer> busy = new HashSet<>();
        for (String name : stuck) {
            Matcher m = CPU_THREAD.matcher(name);
            if (m.matches()) {
                busy.add(Integer.parseInt(m.group(1)));
            }
        }
        return busy;
    }

    private static CloseReport emptyReport() {
        return new CloseReport(true, false, List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
                List.of(), 0, List.of());
    }

    @Override
    public String toString() {
        return "Kernel" + machine;
    }
}
