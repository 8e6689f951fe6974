package dev.bottomhalf.internal.jfr;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MutableCallSite;
import java.util.concurrent.atomic.AtomicLong;

import jdk.jfr.FlightRecorder;
import jdk.jfr.FlightRecorderListener;
import jdk.jfr.Recording;
import jdk.jfr.RecordingState;

/**
 * The execution sites' way into JDK Flight Recorder: a JVM-wide gate and one small static helper per event. Any
 * thread and any context (hardirq included): the helpers never block, and allocate only when their event is
 * recorded.
 *
 * <p>The two patterns at the sites:
 * <pre>{@code
 * // a duration event: begin before the handler, end after it
 * HardIrqEvent jfr = Jfr.hardIrqBegin();                    // null unless recorded
 * res = action.handler.handle(irq, devId);
 * if (jfr != null) Jfr.hardIrqEnd(jfr, irq, name, cpu, res, IrqReturn.describe(res));
 *
 * // an instant event: the fields are computed only inside the gate
 * if (Jfr.on()) Jfr.softirqRaise(names[nr], nr, cpu.id());
 * }</pre>
 *
 * <p>Implementation notes — what a disabled event costs. {@link #on()} is true while at least one JFR recording is
 * running in this JVM, whichever events it records. It is read through a {@code static final}
 * {@link MutableCallSite} whose target returns a constant: C2 inlines the call site's current target as a constant
 * (recording a dependency on it), so with no recording running the test folds to {@code false} and the site's
 * recording path is not compiled at all — no load, no branch, no call, no allocation, no clock read.
 * {@link MutableCallSite#setTarget} with {@link MutableCallSite#syncAll} (when a recording starts or the last one
 * stops) deoptimizes the compiled code that folded the old value, which is recompiled with the new one: a
 * recording's start and stop cost the kernel's hot paths one recompilation. Interpreted and C1-compiled code calls
 * through the constant method handle. (A static volatile boolean was tried first: one load and a branch per site,
 * but the two sites inside {@code tasklet_schedule} — the raise and the schedule — grew its C2 code from 2,336 to
 * 2,528 bytes, past {@code InlineSmallCode}'s 2,500, C2's limit for inlining an already compiled callee; with the
 * folded gate it is 2,384 bytes.) With a recording running that does not record the event, the helper asks the event
 * type itself through a probe instance ({@code PROBE.isEnabled()}, which JFR instruments into two plain loads of its
 * own configuration) and stops there. Only when the event is recorded is an event object made (a real allocation: it
 * lives across the handler) and its clock read; the ending helper fills the fields and commits only if
 * {@code shouldCommit()} (enabled, above the threshold).
 *
 * <p>Why not the plain JDK idiom ({@code var e = new XEvent(); e.begin(); ...; if (e.shouldCommit()) ...}) at every
 * site: once JFR has instrumented an event class (from the first recording of the JVM on), {@code begin()} and
 * {@code end()} read the clock whether the event is enabled or not, so a disabled event would still cost two clock
 * reads per handler, and the object's removal would rest on escape analysis across the handler's call. The gate's
 * cost does not depend on what the JIT decides about the handler.
 *
 * <p>The gate is JVM-wide static state, the one exception to the library's no-static-state rule, because JFR itself
 * is JVM-wide: every kernel of the JVM records into the same recordings. It is kept by a
 * {@link FlightRecorderListener}, which JFR calls after every recording's change of state (start, stop, close),
 * outside its own locks and possibly on several threads at once. Each call recounts the running recordings; of
 * overlapping recounts, only the last one started may publish (a generation number, compared and published under a
 * lock that is never held while JFR is called), so the gate ends equal to the last recount, which began after the
 * last change. Registering the listener does not start JFR; a recording that runs before this class is loaded
 * ({@code -XX:StartFlightRecording}) is found by the first recount. Settings changed on a running recording need no
 * notification: the probe is asked each time. Without the {@code jdk.jfr} module in the runtime (a class-path
 * application run with {@code --limit-modules}), or when registering the listener fails, the gate stays closed and
 * no event class is ever loaded.
 */
public final class Jfr {
    /** The gate: a call site whose target returns the constant true or false; see the class notes. */
    private static final MutableCallSite GATE = new MutableCallSite(MethodHandles.constant(boolean.class, false));
    private static final MethodHandle GATE_VALUE = GATE.dynamicInvoker();
    private static final AtomicLong RECOUNTS = new AtomicLong();
    private static final Object PUBLISH = new Object();
    private static long published;

    static {
        if (Jfr.class.getModule().isNamed() || ModuleLayer.boot().findModule("jdk.jfr").isPresent()) {
            try {
                Gate.install();
            } catch (RuntimeException | LinkageError e) {
                // a JVM whose Flight Recorder cannot be used: the gate stays closed, the kernel runs without events
            }
        }
    }

    private Jfr() {
    }

    /**
     * Loads this class at boot, so that registering the listener (and loading JFR's classes) does not happen in
     * the first handler. Any thread.
     */
    public static void init() {
        // the static initializer did the work
    }

    /**
     * Whether a JFR recording is running in this JVM: the gate every site tests first. A constant in C2-compiled code
     * (see the class notes).
     *
     * @return true while at least one recording runs
     */
    public static boolean on() {
        try {
            return (boolean) GATE_VALUE.invokeExact();
        } catch (Throwable e) {
            throw new AssertionError("a constant method handle threw", e);
        }
    }

    /** Recounts the running recordings and publishes the result unless a later recount began meanwhile. */
    static void recount() {
        long generation = RECOUNTS.incrementAndGet();
        boolean any = false;
        if (FlightRecorder.isInitialized()) {
            for (Recording r : FlightRecorder.getFlightRecorder().getRecordings()) {
                if (r.getState() == RecordingState.RUNNING) {
                    any = true;
                    break;
                }
            }
        }
        synchronized (PUBLISH) {
            if (generation > published) {
                published = generation;
                if (on() != any) {
                    GATE.setTarget(MethodHandles.constant(boolean.class, any));
                    MutableCallSite.syncAll(new MutableCallSite[] {GATE});
                }
            }
        }
    }

    /** The listener, in a class of its own so that {@link Jfr} links no JFR type unless the module is there. */
    private static final class Gate implements FlightRecorderListener {
        static void install() {
            FlightRecorder.addListener(new Gate());
            recount();
        }

        @Override
        public void recordingStateChanged(Recording r) {
            recount();
        }
    }

    /** One probe instance per event type: asked whether the type is enabled, never committed. */
    private static final class Probes {
        static final HardIrqEvent HARD_IRQ = new HardIrqEvent();
        static final ThreadedIrqEvent THREADED_IRQ = new ThreadedIrqEvent();
        static final SoftirqEvent SOFTIRQ = new SoftirqEvent();
        static final TaskletEvent TASKLET = new TaskletEvent();
        static final TimerEvent TIMER = new TimerEvent();
        static final HrTimerEvent HRTIMER = new HrTimerEvent();
        static final WorkEvent WORK = new WorkEvent();
        static final NapiPollEvent NAPI_POLL = new NapiPollEvent();
        static final SoftirqRaiseEvent SOFTIRQ_RAISE = new SoftirqRaiseEvent();
        static final TaskletScheduleEvent TASKLET_SCHEDULE = new TaskletScheduleEvent();
        static final QueueWorkEvent QUEUE_WORK = new QueueWorkEvent();
        static final KsoftirqdWakeupEvent KSOFTIRQD_WAKEUP = new KsoftirqdWakeupEvent();
        static final ReportEvent REPORT = new ReportEvent();
    }

    // ------------------------------------------------------------------------------------------
    // Duration events: xBegin() before the run (null unless recorded), xEnd(event, fields) after it
    // ------------------------------------------------------------------------------------------

    /**
     * Before a hard-IRQ handler. Hardirq context.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static HardIrqEvent hardIrqBegin() {
        if (!on() || !Probes.HARD_IRQ.isEnabled()) {
            return null;
        }
        HardIrqEvent e = new HardIrqEvent();
        e.begin();
        return e;
    }

    /**
     * After a hard-IRQ handler: fills and commits {@code e}. Hardirq context.
     *
     * @param e      what {@link #hardIrqBegin()} returned, not null
     * @param irq    the line
     * @param name   the handler's name
     * @param cpu    the CPU
     * @param ret    the handler's {@code irqreturn_t}
     * @param result the return value as the tracepoint prints it
     */
    public static void hardIrqEnd(HardIrqEvent e, int irq, String name, int cpu, int ret, String result) {
        e.end();
        if (e.shouldCommit()) {
            e.irq = irq;
            e.name = name;
            e.cpu = cpu;
            e.ret = ret;
            e.result = result;
            e.commit();
        }
    }

    /**
     * Before a threaded IRQ handler's thread function. Its {@code irq/L-name} thread.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static ThreadedIrqEvent threadedIrqBegin() {
        if (!on() || !Probes.THREADED_IRQ.isEnabled()) {
            return null;
        }
        ThreadedIrqEvent e = new ThreadedIrqEvent();
        e.begin();
        return e;
    }

    /**
     * After a thread function: fills and commits {@code e}. Its {@code irq/L-name} thread.
     *
     * @param e      what {@link #threadedIrqBegin()} returned, not null
     * @param irq    the line
     * @param name   the handler's name
     * @param cpu    the IRQ thread's CPU
     * @param result the thread function's return value as the tracepoint would print it
     */
    public static void threadedIrqEnd(ThreadedIrqEvent e, int irq, String name, int cpu, String result) {
        e.end();
        if (e.shouldCommit()) {
            e.irq = irq;
            e.name = name;
            e.cpu = cpu;
            e.result = result;
            e.commit();
        }
    }

    /**
     * Before a softirq vector's action. Serving-softirq context.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static SoftirqEvent softirqBegin() {
        if (!on() || !Probes.SOFTIRQ.isEnabled()) {
            return null;
        }
        SoftirqEvent e = new SoftirqEvent();
        e.begin();
        return e;
    }

    /**
     * After a softirq vector's action: fills and commits {@code e}. Serving-softirq context.
     *
     * @param e           what {@link #softirqBegin()} returned, not null
     * @param vector      the vector's name
     * @param nr          the vector's number
     * @param cpu         the CPU
     * @param pass        the pass of the restart loop, from 1
     * @param invokedFrom {@code irq_exit}, {@code ksoftirqd} or {@code local_bh_enable}
     */
    public static void softirqEnd(SoftirqEvent e, String vector, int nr, int cpu, int pass, String invokedFrom) {
        e.end();
        if (e.shouldCommit()) {
            e.vector = vector;
            e.nr = nr;
            e.cpu = cpu;
            e.pass = pass;
            e.invokedFrom = invokedFrom;
            e.commit();
        }
    }

    /**
     * Before a tasklet's function. Serving-softirq context.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static TaskletEvent taskletBegin() {
        if (!on() || !Probes.TASKLET.isEnabled()) {
            return null;
        }
        TaskletEvent e = new TaskletEvent();
        e.begin();
        return e;
    }

    /**
     * After a tasklet's function: fills and commits {@code e}. Serving-softirq context.
     *
     * @param e       what {@link #taskletBegin()} returned, not null
     * @param tasklet the tasklet's name
     * @param cpu     the CPU
     * @param hi      whether it ran from HI_SOFTIRQ
     */
    public static void taskletEnd(TaskletEvent e, String tasklet, int cpu, boolean hi) {
        e.end();
        if (e.shouldCommit()) {
            e.tasklet = tasklet;
            e.cpu = cpu;
            e.hi = hi;
            e.commit();
        }
    }

    /**
     * Before a timer callback. Serving-softirq context.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static TimerEvent timerBegin() {
        if (!on() || !Probes.TIMER.isEnabled()) {
            return null;
        }
        TimerEvent e = new TimerEvent();
        e.begin();
        return e;
    }

    /**
     * After a timer callback: fills and commits {@code e}. Serving-softirq context.
     *
     * @param e        what {@link #timerBegin()} returned, not null
     * @param function the timer's name
     * @param cpu      the CPU of the timer base
     * @param expires  the timer's expiry, in jiffies
     * @param jiffies  the jiffies when the callback started
     */
    public static void timerEnd(TimerEvent e, String function, int cpu, long expires, long jiffies) {
        e.end();
        if (e.shouldCommit()) {
            e.function = function;
            e.cpu = cpu;
            e.expires = expires;
            e.jiffies = jiffies;
            e.commit();
        }
    }

    /**
     * Before an hrtimer callback. Hardirq or serving-softirq context.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static HrTimerEvent hrTimerBegin() {
        if (!on() || !Probes.HRTIMER.isEnabled()) {
            return null;
        }
        HrTimerEvent e = new HrTimerEvent();
        e.begin();
        return e;
    }

    /**
     * After an hrtimer callback: fills and commits {@code e}. Hardirq or serving-softirq context.
     *
     * @param e        what {@link #hrTimerBegin()} returned, not null
     * @param function the hrtimer's name
     * @param cpu      the CPU of the hrtimer base
     * @param expires  the hard expiry, ns of the kernel's clock
     * @param now      the kernel's clock when the queue ran, ns
     * @param restart  whether the callback returned HRTIMER_RESTART
     */
    public static void hrTimerEnd(HrTimerEvent e, String function, int cpu, long expires, long now, boolean restart) {
        e.end();
        if (e.shouldCommit()) {
            e.function = function;
            e.cpu = cpu;
            e.expires = expires;
            e.now = now;
            e.restart = restart;
            e.commit();
        }
    }

    /**
     * Before a work item's function. The worker's thread.
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static WorkEvent workBegin() {
        if (!on() || !Probes.WORK.isEnabled()) {
            return null;
        }
        WorkEvent e = new WorkEvent();
        e.begin();
        return e;
    }

    /**
     * After a work item's function: fills and commits {@code e}. The worker's thread.
     *
     * @param e         what {@link #workBegin()} returned, not null
     * @param workqueue the workqueue's name
     * @param function  the item's name
     * @param cpu       the worker's CPU
     * @param worker    the worker's name
     */
    public static void workEnd(WorkEvent e, String workqueue, String function, int cpu, String worker) {
        e.end();
        if (e.shouldCommit()) {
            e.workqueue = workqueue;
            e.function = function;
            e.cpu = cpu;
            e.worker = worker;
            e.commit();
        }
    }

    /**
     * Before a NAPI poll function. BH disabled (NET_RX, a NAPI kthread, a busy poll).
     *
     * @return the begun event, or null when it is not being recorded
     */
    public static NapiPollEvent napiPollBegin() {
        if (!on() || !Probes.NAPI_POLL.isEnabled()) {
            return null;
        }
        NapiPollEvent e = new NapiPollEvent();
        e.begin();
        return e;
    }

    /**
     * After a NAPI poll function: fills and commits {@code e}. BH disabled.
     *
     * @param e      what {@link #napiPollBegin()} returned, not null
     * @param device the device's name
     * @param napi   the instance's label
     * @param work   the packets processed
     * @param budget the budget it was given
     * @param cpu    the polling context's CPU, -1 outside the kernel
     */
    public static void napiPollEnd(NapiPollEvent e, String device, String napi, int work, int budget, int cpu) {
        e.end();
        if (e.shouldCommit()) {
            e.device = device;
            e.napi = napi;
            e.work = work;
            e.budget = budget;
            e.cpu = cpu;
            e.commit();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Instant events: called only when on() returned true
    // ------------------------------------------------------------------------------------------

    /**
     * A softirq raise. Any context; call only when {@link #on()}.
     *
     * @param vector the vector's name
     * @param nr     its number
     * @param cpu    the CPU whose mask got the bit
     */
    public static void softirqRaise(String vector, int nr, int cpu) {
        if (Probes.SOFTIRQ_RAISE.isEnabled()) {
            SoftirqRaiseEvent e = new SoftirqRaiseEvent();
            e.vector = vector;
            e.nr = nr;
            e.cpu = cpu;
            e.commit();
        }
    }

    /**
     * A tasklet queued. Any context; call only when {@link #on()}.
     *
     * @param tasklet the tasklet's name
     * @param cpu     the CPU whose list it joined
     * @param hi      whether on the HI list
     */
    public static void taskletSchedule(String tasklet, int cpu, boolean hi) {
        if (Probes.TASKLET_SCHEDULE.isEnabled()) {
            TaskletScheduleEvent e = new TaskletScheduleEvent();
            e.tasklet = tasklet;
            e.cpu = cpu;
            e.hi = hi;
            e.commit();
        }
    }

    /**
     * A work item queued. Any context; call only when {@link #on()}.
     *
     * @param workqueue the workqueue's name
     * @param function  the item's name
     * @param reqCpu    the requested CPU, -1 for WORK_CPU_UNBOUND
     * @param cpu       the pool's CPU, -1 for an unbound pool
     */
    public static void queueWork(String workqueue, String function, int reqCpu, int cpu) {
        if (Probes.QUEUE_WORK.isEnabled()) {
            QueueWorkEvent e = new QueueWorkEvent();
            e.workqueue = workqueue;
            e.function = function;
            e.reqCpu = reqCpu;
            e.cpu = cpu;
            e.commit();
        }
    }

    /**
     * Whether the ksoftirqd wake-up event is being recorded, so that the site computes its fields only then. Any
     * context.
     *
     * @return true when {@link #on()} and the event type is enabled
     */
    public static boolean ksoftirqdWakeupRecorded() {
        return on() && Probes.KSOFTIRQD_WAKEUP.isEnabled();
    }

    /**
     * A sleeping ksoftirqd woken. Any context; call only when {@link #ksoftirqdWakeupRecorded()}.
     *
     * @param cpu          the daemon's CPU
     * @param pending      the pending vectors' names
     * @param waker        the waking context's name
     * @param wakerContext the waking context's state
     */
    public static void ksoftirqdWakeup(int cpu, String pending, String waker, String wakerContext) {
        KsoftirqdWakeupEvent e = new KsoftirqdWakeupEvent();
        e.cpu = cpu;
        e.pending = pending;
        e.waker = waker;
        e.wakerContext = wakerContext;
        e.commit();
    }

    /**
     * A report delivered. Any context; call only when {@link #on()}.
     *
     * @param kind    the report's kind
     * @param message the kernel's text
     * @param cpu     the reporting CPU, -1 outside the kernel
     * @param comm    the reporting context's name
     * @param context the reporting context's state
     * @param jiffies the jiffies of the report
     * @param cause   what was thrown, or null
     */
    public static void report(String kind, String message, int cpu, String comm, String context, long jiffies,
                              Throwable cause) {
        if (Probes.REPORT.isEnabled()) {
            ReportEvent e = new ReportEvent();
            e.kind = kind;
            e.message = message;
            e.cpu = cpu;
            e.comm = comm;
            e.context = context;
            e.jiffies = jiffies;
            e.cause = cause == null ? null : cause.toString();
            e.commit();
        }
    }
}
