package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.Clock;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.runtime.KernelPanic;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;
import java.util.function.IntSupplier;

import dev.bottomhalf.internal.sync.WaitQueue;

/**
 * The runtime of one kernel: its CPUs, clock, jiffies, execution contexts, runtime threads, reports and
 * tracing. The subsystems ({@code irq}, {@code softirq}, ...) are built on it; {@code dev.bottomhalf.Kernel}
 * assembles them. Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>No static mutable state: several machines live side by side in one JVM. A task thread's context
 * lives in a thread-local and names its machine; a thread moves to another machine only when its
 * context there is quiescent.</li>
 * <li>Jiffies are derived from the clock ({@code INITIAL_JIFFIES + elapsed × HZ}), so there is no tick
 * thread to keep them current and a {@link ManualClock} moves them exactly.</li>
 * <li>Lifecycle: {@code NEW → RUNNING → CLOSING → CLOSED} ({@code state}, written under
 * {@code lifecycleLock}, read anywhere). Agents registered before {@link #start()} get their threads there;
 * agents registered later (threaded IRQ handlers) get them at once. {@link #beginClose()} enters CLOSING:
 * from then on every task thread except the closer is refused at its next entry ({@link #current()}), while
 * the runtime's own contexts keep running so that what was accepted can finish. {@link #close()} enters
 * CLOSED, stops and joins every thread it started (each may finish the duty cycle it is in, in its own
 * context), and reports any that would not stop, by name, with its stack. A panic ({@link #panic}) refuses every caller but the closer from then on.</li>
 * <li>The entry gate: {@link #current()} is where every call of the API finds its context, so the one check
 * that a task may still enter lives there, behind one volatile read of {@code refusing} (false while the
 * kernel runs normally).</li>
 * <li>Waiting: every wait of every subsystem goes through {@link #waitUntil} and its variants: in stepped
 * mode they drive the kernel (or give the baton away, on a kworker thread); in threaded mode they park on
 * the machine's one {@link WaitQueue}, which subsystems wake ({@link #wakeWaiters()}) after a change a
 * waiter may care about; a wait in progress when the kernel reaches CLOSED or panics fails with
 * {@link IllegalStateException} at once.</li>
 * </ul>
 */
public final class Machine implements AutoCloseable {
    /**
     * The kernel starts jiffies 300 seconds before the 32-bit counter wraps
     * ({@code INITIAL_JIFFIES = (unsigned int)(-300 * HZ)}), so wrap bugs show up five minutes after boot.
     */
    public static long initialJiffies(int hz) {
        return (1L << 32) - 300L * hz;
    }

    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    /**
     * How long {@link #finishClose()} waits at most, in all, for the runtime threads to end before it reports
     * them; less when the configured close timeout is shorter (but at least {@link #MIN_JOIN_TIMEOUT_MS}).
     */
    private static final long JOIN_TIMEOUT_MS = 5_000;
    private static final long MIN_JOIN_TIMEOUT_MS = 100;

    private static final int NEW = 0;
    private static final int RUNNING = 1;
    private static final int CLOSING = 2;
    private static final int CLOSED = 3;

    private final KernelConfig config;
    private final Clock clock;
    private final long bootNs;
    private final long initialJiffies;
    private final Cpu[] cpus;
    private final Reports reports;
    /** A cross-CPU function's oopses, rate-limited per function (its class: one per lambda or method). */
    private final RateLimiter smpCallOopses;
    private final Tracing tracing;
    private final HostAffinity affinity;
    private final LockupDetector lockups;
    private volatile InterruptSource[] interruptSources = new InterruptSource[0];
    private volatile SoftirqEntry softirqEntry;
    /** The tasklet subsystem's drain for benchmarks; set once, at assembly. */
    private volatile IntConsumer taskletDrainForBenchmark;
    private final List<AgentHandle> agents = new CopyOnWriteArrayList<>();
    private final Object lifecycleLock = new Object();
    private volatile int state;                  // NEW, RUNNING, CLOSING, CLOSED; written under lifecycleLock
    /** True once the kernel closes or panics: {@link #current()} then checks who may still enter. */
    private volatile boolean refusing;
    /** The thread running {@link #beginClose()}..{@link #close()}; it may still call in while others may not. */
    private volatile Thread closer;
    private volatile KernelPanic panic;
    /**
     * The close's last sweep, run again by a call whose acceptance completed after it ({@link #afterAccept()});
     * installed by the kernel that assembles this machine.
     */
    private volatile Runnable lateSweep;
    /** Subsystems' own copies of {@link #refusing} ({@link #onRefusing}); set right after it. */
    private final List<Runnable> refusalListeners = new CopyOnWriteArrayList<>();
    /** The thread running {@link #lateSweep}: exempt from the checks, like the closer, while it sweeps. */
    private volatile Thread sweeper;
    /** Orders the close's last sweep ({@link #sweepForClose}) and the late ones ({@link #afterAccept()}). */
    private final Object sweepLock = new Object();
    private boolean swept; // guarded by sweepLock: the close's last sweep has run
    private final WaitQueue waitQueue = new WaitQueue();
    private volatile Object owner;
    /** The locking layer's state for this kernel (lockdep's classes and graph), made on first use. */
    private final java.util.concurrent.atomic.AtomicReference<Object> lockingState =
            new java.util.concurrent.atomic.AtomicReference<>();

    public Machine(KernelConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.clock = config.clock();
        this.bootNs = clock.nanoTime();
        this.initialJiffies = initialJiffies(config.hz());
        this.reports = RuntimeAccess.get().newReports(this, config.reporter());
        this.smpCallOopses = reports.limiter("__flush_smp_call_function_queue");
        this.tracing = RuntimeAccess.get().newTracing(this);
        this.affinity = config.pinning() ? new HostAffinity() : null;
        this.cpus = new Cpu[config.cpus()];
        for (int i = 0; i < cpus.length; i++) {
            cpus[i] = new Cpu(this, i);
        }
        for (Cpu cpu : cpus) {
            register(cpu.agent(), false);
        }
        this.lockups = new LockupDetector(this);
    }

    public KernelConfig config() {
        return config;
    }

    /**
     * The state that {@code dev.bottomhalf.locking} keeps for this kernel (lockdep's lock classes and
     * dependency graph): made by {@code make} on the first call, the same object afterwards. Any thread.
     */
    public Object lockingState(java.util.function.Supplier<?> make) {
        Object s = lockingState.get();
        if (s == null) {
            Object made = make.get();
            s = lockingState.compareAndExchange(null, made);
            if (s == null) {
                s = made;
            }
        }
        return s;
    }

    public Clock clock() {
        return clock;
    }

    public boolean stepped() {
        return config.stepped();
    }

    public int hz() {
        return config.hz();
    }

    public Reports reports() {
        return reports;
    }

    public Tracing tracing() {
        return tracing;
    }

    /** The soft and hard lockup detectors ({@code watchdog_thresh}); they watch from start to close. */
    public LockupDetector lockupDetector() {
        return lockups;
    }

    public int cpuCount() {
        return cpus.length;
    }

    public Cpu cpu(int id) {
        if (id < 0 || id >= cpus.length) {
            throw new KernelException(Errno.ENXIO, "CPU " + id + " does not exist (this kernel has CPUs 0.."
                    + (cpus.length - 1) + ")");
        }
        return cpus[id];
    }

    /** The object that assembled this machine (the {@code Kernel}); set once. */
    public Object owner() {
        return owner;
    }

    public void setOwner(Object owner) {
        if (this.owner != null) {
            throw new IllegalStateException("machine already owned by " + this.owner);
        }
        this.owner = owner;
    }

    // ------------------------------------------------------------------------------------------
    // Time
    // ------------------------------------------------------------------------------------------

    /** Current jiffies: {@code INITIAL_JIFFIES} at boot, +1 every 1/HZ s of the clock. Any thread. */
    public long jiffies() {
        return jiffiesAt(clock.nanoTime());
    }

    /** The jiffies value at clock time {@code nowNs}. */
    public long jiffiesAt(long nowNs) {
        long elapsed = nowNs - bootNs;
        long hz = config.hz();
        return initialJiffies + (elapsed / NANOS_PER_SECOND) * hz + (elapsed % NANOS_PER_SECOND) * hz / NANOS_PER_SECOND;
    }

    /**
     * The first clock time at which jiffies reads {@code j} (the start of that jiffy), or
     * {@link Long#MAX_VALUE} when it lies too far ahead for the clock. For a {@code j} already reached it
     * is in the past. Any thread.
     */
    public long nanoTimeOfJiffy(long j) {
        long ticks = j - initialJiffies;
        long hz = config.hz();
        if (ticks <= 0) {
            return bootNs + ticks * (NANOS_PER_SECOND / hz);
        }
        long seconds = ticks / hz;
        if (seconds > Long.MAX_VALUE / NANOS_PER_SECOND / 2) {
            return Long.MAX_VALUE;
        }
        long rest = ticks % hz;
        long ns = seconds * NANOS_PER_SECOND + (rest * NANOS_PER_SECOND + hz - 1) / hz;
        long at = bootNs + ns;
        return at < bootNs ? Long.MAX_VALUE : at;
    }

    /** {@code msecs_to_jiffies(ms)}: rounds up, as the kernel does. */
    public long msecsToJiffies(long ms) {
        return (ms * config.hz() + 999) / 1000;
    }

    /** The clock reading at boot: {@code uptimeNs() == clock().nanoTime() - bootNanoTime()}. */
    public long bootNanoTime() {
        return bootNs;
    }

    /** Nanoseconds since boot on this machine's clock. */
    public long uptimeNs() {
        return clock.nanoTime() - bootNs;
    }

    // ------------------------------------------------------------------------------------------
    // Contexts
    // ------------------------------------------------------------------------------------------

    /**
     * The calling thread's context on this machine; a thread that has none is attached as a task on the
     * configured default CPU ({@link KernelConfig#defaultTaskCpu()}, 0 unless set). The look-up of calls
     * already under way: it refuses only once the kernel panicked (entry points refuse new calls with
     * {@link #checkOpen()} or {@link #currentAtEntry()}), and a thread attaching anew is refused by a closing
     * kernel.
     *
     * @throws IllegalStateException once the kernel panicked; {@code kernel is closed} for a thread that is not
     *         attached yet, once the close has begun
     */
    public ExecutionContext current() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && !refusing && RuntimeAccess.get().machine(ctx) == this) {
            return ctx;
        }
        return currentSlow(ctx, false);
    }

    /**
     * The rest of {@link #current()} and {@link #currentAtEntry()}, out of line: a thread attached here while
     * the kernel refuses (checked as an entry or as a look-up), or a thread attached to no context here.
     * Kept apart so that the fast path stays a few instructions in every caller it is inlined into.
     */
    private ExecutionContext currentSlow(ExecutionContext ctx, boolean entry) {
        if (ctx != null && RuntimeAccess.get().machine(ctx) == this) {
            check(ctx, entry);
            return ctx;
        }
        return attach(cpus[config.defaultTaskCpu()]);
    }

    /** {@link #checkEntry} when the kernel refuses anyone; one volatile read otherwise. */
    public void checkEntryIfRefusing(ExecutionContext ctx) {
        if (refusing) {
            checkEntry(ctx);
        }
    }

    /** The entry check ({@link #check}) of an entry point: {@link #checkOpen()}, the facade, a first attach. */
    private void checkEntry(ExecutionContext ctx) {
        check(ctx, true);
    }

    /**
     * Throws unless the calling context ({@code null}: a thread attached to no context here) may still come in.
     * After a panic only the closer may. Once the close has begun, the closer and the runtime's own contexts
     * may — they go on until their threads stop, even after the kernel is CLOSED — and a task is refused at an
     * entry point ({@code entry}) from the moment the close begins, but never at a look-up inside a call: a call
     * that passed its entry check completes what it began (a refusal half-way would leave an item claimed and
     * on no list), and what it accepts after the close swept is swept by the call itself
     * ({@link #afterAccept()}). Its waits still fail once the kernel is CLOSED, as nothing will end them.
     */
    private void check(ExecutionContext ctx, boolean entry) {
        Thread me = Thread.currentThread();
        if (me == closer || me == sweeper) {
            return;
        }
        KernelPanic p = panic;
        if (p != null) {
            throw RuntimeAccess.get().refusal(p);
        }
        if (entry && state >= CLOSING && (ctx == null || ctx.role() == ExecutionContext.Role.TASK)) {
            throw new IllegalStateException("kernel is closed");
        }
    }

    /**
     * The calling thread's context, for an entry point: {@link #current()} with the entry check of
     * {@link #checkOpen()} in the same volatile read (a task is refused from the moment the close begins).
     */
    public ExecutionContext currentAtEntry() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && !refusing && RuntimeAccess.get().machine(ctx) == this) {
            return ctx;
        }
        return currentSlow(ctx, true);
    }

    /**
     * Throws {@link IllegalStateException} ({@code kernel is closed}, or the panic) if the calling thread
     * may no longer call into this kernel. For entry points that do not look up the caller's context.
     */
    public void checkOpen() {
        if (refusing) {
            ExecutionContext ctx = ExecutionContext.currentOrNull();
            checkEntry(ctx != null && RuntimeAccess.get().machine(ctx) == this ? ctx : null);
        }
    }

    /** The calling thread becomes a task on {@code cpu} (the counterpart of {@code sched_setaffinity}). */
    public ExecutionContext bindCurrentThread(int cpu) {
        Cpu target = cpu(cpu);
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && RuntimeAccess.get().machine(ctx) == this) {
            if (refusing) {
                checkEntry(ctx);
            }
            RuntimeAccess.get().rebind(ctx, target);
            return ctx;
        }
        return attach(target);
    }

    private ExecutionContext attach(Cpu cpu) {
        if (refusing) {
            checkEntry(null);
        }
        Thread t = Thread.currentThread();
        if (t instanceof KernelThread kt && RuntimeAccess.get().machine(kt.context()) != this) {
            throw new IllegalStateException(t.getName() + " is a runtime thread of another kernel");
        }
        ExecutionContext old = ExecutionContext.currentOrNull();
        if (old != null && (old.inAtomic() || old.irqsDisabled())) {
            throw new IllegalStateException("thread '" + t.getName() + "' is in atomic context on another kernel ("
                    + old + ") and cannot enter this one");
        }
        ExecutionContext ctx = RuntimeAccess.get().newContext(this, ExecutionContext.Role.TASK, t.getName(), cpu);
        RuntimeAccess.get().swapThreadContext(ctx);
        return ctx;
    }

    /** Forgets the calling thread's task context on this machine (it must be quiescent). */
    public void detachCurrentThread() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && RuntimeAccess.get().machine(ctx) == this && ctx.role() == ExecutionContext.Role.TASK) {
            if (ctx.inAtomic() || ctx.irqsDisabled()) {
                throw new IllegalStateException("cannot detach in atomic context: " + ctx);
            }
            RuntimeAccess.get().swapThreadContext(null);
        }
    }

    /** Makes a runtime context (a worker or an IRQ thread) for a subsystem. */
    public ExecutionContext newContext(ExecutionContext.Role role, String name, Cpu cpu) {
        if (role == ExecutionContext.Role.CPU || role == ExecutionContext.Role.TASK) {
            throw new IllegalArgumentException("the runtime makes " + role + " contexts itself");
        }
        return RuntimeAccess.get().newContext(this, role, name, cpu);
    }

    /**
     * Stepped mode: runs {@code body} on the calling thread as context {@code ctx}, then restores the
     * thread's own context. This is how one caller plays {@code cpu/0}, {@code ksoftirqd/1}, ...
     */
    public int runAs(ExecutionContext ctx, IntSupplier body) {
        if (!stepped()) {
            throw new IllegalStateException("runAs is for stepped mode; in threaded mode " + ctx.name()
                    + " runs on its own thread");
        }
        ExecutionContext previous = RuntimeAccess.get().swapThreadContext(ctx);
        try {
            return body.getAsInt();
        } finally {
            RuntimeAccess.get().swapThreadContext(previous);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Subsystem wiring
    // ------------------------------------------------------------------------------------------

    public void addInterruptSource(InterruptSource source) {
        synchronized (lifecycleLock) {
            InterruptSource[] old = interruptSources;
            InterruptSource[] next = java.util.Arrays.copyOf(old, old.length + 1);
            next[old.length] = source;
            interruptSources = next;
        }
    }

    InterruptSource[] interruptSources() {
        return interruptSources;
    }

    /** Installs the tasklet subsystem's benchmark drain ({@link #drainTaskletsForBenchmark}); once. */
    public void installTaskletDrainForBenchmark(IntConsumer drain) {
        synchronized (lifecycleLock) {
            if (taskletDrainForBenchmark != null) {
                throw new IllegalStateException("tasklet drain already installed");
            }
            taskletDrainForBenchmark = drain;
        }
    }

    /**
     * Takes CPU {@code cpu}'s tasklet list back and clears each tasklet's SCHED bit without running it, for the
     * benchmarks that measure scheduling alone ({@code Tasklets.drainForBenchmark}); never on a live kernel.
     */
    public void drainTaskletsForBenchmark(int cpu) {
        taskletDrainForBenchmark.accept(cpu);
    }

    /** The installed benchmark drain itself (see {@link #drainTaskletsForBenchmark}). */
    public IntConsumer taskletDrainForBenchmark() {
        return taskletDrainForBenchmark;
    }

    public void installSoftirqEntry(SoftirqEntry entry) {
        synchronized (lifecycleLock) {
            if (softirqEntry != null) {
                throw new IllegalStateException("softirq entry already installed");
            }
            softirqEntry = entry;
        }
    }

    public SoftirqEntry softirqEntry() {
        SoftirqEntry e = softirqEntry;
        if (e == null) {
            throw new IllegalStateException("no softirq subsystem installed on this machine");
        }
        return e;
    }

    // ------------------------------------------------------------------------------------------
    // Agents and threads
    // ------------------------------------------------------------------------------------------

    /**
     * Registers a duty cycle. In threaded mode it gets its own {@link KernelThread} (now, or at
     * {@link #start()}); in stepped mode the {@link Stepper} runs it.
     *
     * @param daemon true for {@code ksoftirqd}/IRQ threads (daemon idle strategy), false for {@code cpu/N}
     */
    public AgentHandle register(Agent agent, boolean daemon) {
        AgentHandle handle = new AgentHandle(this, agent, daemon);
        synchronized (lifecycleLock) {
            if (state == CLOSED || panic != null) {
                throw new IllegalStateException("kernel is closed");
            }
            agents.add(handle);
            if (state >= RUNNING && !stepped()) {
                startThread(handle);
            }
        }
        return handle;
    }

    void unregister(AgentHandle handle) {
        synchronized (lifecycleLock) {
            agents.remove(handle);
        }
        if (!handle.stopAndJoin(JOIN_TIMEOUT_MS)) {
            reports.warning("runtime thread " + handle.agent().name() + " did not stop within " + JOIN_TIMEOUT_MS
                    + " ms");
        }
    }

    /** The registered agents, in registration order (the order {@link Stepper#runUntilIdle()} uses). */
    public List<AgentHandle> agents() {
        return List.copyOf(agents);
    }

    private void startThread(AgentHandle handle) {
        KernelThread t = new KernelThread(this, handle.agent(),
                handle.agent().idleStrategy(handle.daemon() ? config.daemonIdle() : config.idleStrategy()));
        if (handle.agent() == RuntimeAccess.get().cpu(handle.agent().context()).agent()) {
            RuntimeAccess.get().cpu(handle.agent().context()).attachThread(t);
        }
        handle.start(t);
    }

    /** Starts every runtime thread (threaded mode). Idempotent. */
    public void start() {
        synchronized (lifecycleLock) {
            if (state != NEW) {
                return;
            }
            state = RUNNING;
            lockups.start();
            if (!stepped()) {
                for (AgentHandle h : agents) {
                    startThread(h);
                }
            }
        }
    }

    /** Whether the kernel has been closed (its threads stopped). Any thread. */
    public boolean closed() {
        return state == CLOSED;
    }

    /** Whether {@code close()} has begun (or ended). Any thread. */
    public boolean closing() {
        return state >= CLOSING;
    }

    /** Whether the kernel has panicked. Any thread. */
    public boolean panicked() {
        return panic != null;
    }

    /** The panic, or null. */
    public KernelPanic panicCause() {
        return panic;
    }

    /**
     * Begins closing: from now on task threads other than the caller are refused ({@code kernel is closed}),
     * while the runtime's contexts go on running what was accepted. Refused from inside the kernel (a
     * handler, a work item, any runtime thread): a close from there would wait for itself.
     *
     * @return true if the caller is the closer; false if the kernel was already closing or closed (the call
     *         then returns once that close has ended)
     * @throws IllegalStateException from a runtime context or in atomic context
     */
    public boolean beginClose() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        Thread me = Thread.currentThread();
        if (ctx != null && RuntimeAccess.get().machine(ctx) == this) {
            if (ctx.role() != ExecutionContext.Role.TASK || me instanceof KernelThread
                    || SteppedScheduler.isSchedulerThread(this, me)) {
                throw new IllegalStateException("Kernel.close() called from " + ctx.name() + " (" + ctx.describe()
                        + "): a kernel cannot be closed from its own handlers, work items or threads, because close()"
                        + " waits for them; close it from a task thread");
            }
            if (ctx.inAtomic() || ctx.irqsDisabled()) {
                throw new IllegalStateException("Kernel.close() called in atomic context (" + ctx.describe()
                        + "): close() waits for work to finish and may not be called with IRQs, bottom halves or"
                        + " preemption disabled");
            }
        }
        synchronized (lifecycleLock) {
            if (state >= CLOSING) {
                if (me == closer && state != CLOSED) {
                    throw new IllegalStateException("Kernel.close() called again while this thread is closing the kernel");
                }
                boolean interrupted = false;
                while (state != CLOSED) {
                    try {
                        lifecycleLock.wait();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                if (interrupted) {
                    me.interrupt();
                }
                return false;
            }
            closer = me;
            startRefusing(); // before the state: once closing() is true, every entry check refuses
            state = CLOSING;
        }
        return true;
    }

    /**
     * Ends the close begun by {@link #beginClose()} (or closes at once, when nobody began): the kernel is
     * CLOSED, every runtime thread is asked to stop and joined, and one that does not end in time is
     * reported by name with its stack (it is a daemon thread: it cannot keep the JVM alive). Every wait
     * still in progress on another thread fails with {@code kernel is closed}. Idempotent.
     *
     * @return the names of the runtime threads that did not stop
     */
    public List<String> finishClose() {
        List<AgentHandle> toStop;
        synchronized (lifecycleLock) {
            if (state == CLOSED) {
                return List.of();
            }
            state = CLOSED;
            startRefusing();
            if (closer == null) {
                closer = Thread.currentThread();
            }
            toStop = new ArrayList<>(agents);
            agents.clear();
        }
        lockups.stop();
        waitQueue.wakeAll();
        for (Cpu cpu : cpus) {
            cpu.wakeLevelWaiters();
        }
        for (AgentHandle h : toStop) {
            KernelThread t = h.thread();
            if (t != null) {
                t.requestStop();
            }
        }
        List<String> stuck = new ArrayList<>();
        long joinMs = Math.max(MIN_JOIN_TIMEOUT_MS, Math.min(JOIN_TIMEOUT_MS, config.closeTimeout().toMillis()));
        long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(joinMs);
        for (AgentHandle h : toStop) {
            long leftMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime()));
            if (!h.stopAndJoin(leftMs)) {
                KernelThread t = h.thread();
                stuck.add(h.agent().name());
                Throwable stack = new Throwable("stack of " + h.agent().name());
                stack.setStackTrace(t.getStackTrace());
                reports.bug("INFO: runtime thread " + h.agent().name() + " did not stop within " + joinMs
                        + " ms of close() and is left running (a daemon thread); it is in " + topFrame(stack), stack);
            }
        }
        SteppedScheduler scheduler = stepped() ? SteppedScheduler.find(this, toStop) : null;
        if (scheduler != null) {
            stuck.addAll(scheduler.awaitThreadsEnded(deadlineNs));
        }
        synchronized (lifecycleLock) {
            lifecycleLock.notifyAll();
        }
        return stuck;
    }

    private static String topFrame(Throwable stack) {
        StackTraceElement[] frames = stack.getStackTrace();
        return frames.length == 0 ? "no Java frame" : frames[0].toString();
    }

    /**
     * Whether the runtime is idle: no agent (CPU, ksoftirqd, IRQ thread, worker, the stepped scheduler) has
     * work, no CPU level is held (no hard IRQ or softirq runs, no task has IRQs or BH off) and no cross-CPU
     * call waits. For {@code Kernel.close()}; any thread, a snapshot.
     */
    public boolean idleForClose() {
        for (Cpu cpu : cpus) {
            if (cpu.irqLevelOwner() != null || cpu.bhLevelOwner() != null || cpu.callsPending()
                    || cpu.softirqPending() != 0) {
                return false;
            }
        }
        for (AgentHandle h : agents) {
            if (h.agent().hasWork()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Drops the cross-CPU calls still queued (their waiters are released) after the threads stopped. For
     * {@code Kernel.close()}.
     *
     * @return how many calls never ran
     */
    public int discardCallsForClose() {
        int n = 0;
        for (Cpu cpu : cpus) {
            n += cpu.discardCalls();
        }
        waitQueue.wakeAll();
        return n;
    }

    /**
     * Ends the closer's exemption: from now on the thread that closed the kernel is refused like every other.
     * Called last by the closer (after {@link #finishClose()} and what it cleans up after it).
     */
    public void endClose() {
        synchronized (lifecycleLock) {
            if (state == CLOSED && closer == Thread.currentThread()) {
                closer = null;
            }
        }
    }

    /**
     * Registers {@code setFlag}, which sets a subsystem's own volatile copy of this machine's "refusing" state, for
     * the hottest entry paths (re-queueing a pending item, asserting a latched line, scheduling a tasklet): they
     * read a field of their own object instead of the machine's, and call {@link #checkOpen()} or
     * {@link #afterAccept()} only once it is set. Set right after the machine's own flag, under the lifecycle lock,
     * when the close begins or the kernel panics — before the close sweeps, so an acceptance the sweep missed
     * still reads it; a call that reads the copy just before is one that began before the close (nothing it
     * accepts is lost). Runs {@code setFlag} at once if the machine refuses already.
     */
    public void onRefusing(Runnable setFlag) {
        refusalListeners.add(Objects.requireNonNull(setFlag, "setFlag"));
        if (refusing) {
            setFlag.run();
        }
    }

    private void startRefusing() {
        refusing = true;
        for (Runnable setFlag : refusalListeners) {
            setFlag.run();
        }
    }

    /**
     * Installs the close's last sweep (what {@code Kernel.close()} cancels and drops once the runtime threads
     * have stopped), for {@link #afterAccept()} to run again. Called once, by the kernel assembling this machine;
     * the sweep itself decides whether the close has swept yet (it runs under the close's sweep lock).
     */
    public void onLateAccept(Runnable sweep) {
        lateSweep = Objects.requireNonNull(sweep, "sweep");
    }

    /**
     * Called by an entry point once what it accepted is published (an item queued, a timer armed, a tasklet
     * scheduled, a softirq raised, a line latched, a call queued), with no lock held. One volatile read while
     * the kernel runs.
     *
     * <p>Why: an entry point checks that the kernel is open when it begins, and may complete its acceptance
     * after the close has begun. While the close is still CLOSING, its last sweep is still to come and sees the
     * acceptance: the publication is a full fence (a CAS or a lock) before this method's read of the state, and
     * the close writes CLOSED before it sweeps. Once the kernel is CLOSED the sweep may have passed already:
     * then the call runs it again ({@link #onLateAccept}), so what it accepted is cancelled and reported rather
     * than left queued for runtime threads that no longer exist.
     */
    public void afterAccept() {
        if (refusing) {
            acceptedWhileClosing();
        }
    }

    private void acceptedWhileClosing() {
        Runnable sweep = lateSweep;
        Thread me = Thread.currentThread();
        if (state != CLOSED || sweep == null || me == closer || me == sweeper) {
            return; // still CLOSING: the close's own last sweep comes after this acceptance and sees it
        }
        synchronized (sweepLock) {
            if (!swept) {
                return; // the close's last sweep takes this lock after us, and sees the acceptance
            }
            sweeper = me;
            try {
                sweep.run();
            } finally {
                sweeper = null;
            }
        }
    }

    /**
     * Runs the close's last sweep (once the runtime threads have stopped) and marks the close swept, so that
     * a call completing its acceptance from then on sweeps again ({@link #afterAccept()}). For
     * {@code Kernel.close()}, on the closer's thread.
     */
    public <T> T sweepForClose(java.util.function.Supplier<T> sweep) {
        synchronized (sweepLock) {
            T result = sweep.get();
            swept = true;
            return result;
        }
    }

    /** Closes without running anything: {@link #beginClose()}, {@link #finishClose()}, {@link #endClose()}. */
    @Override
    public void close() {
        if (beginClose() || !closed()) {
            finishClose();
            endClose();
        }
    }

    /**
     * The kernel panics ({@code panic()}): reported as EMERG {@code Kernel panic - not syncing: <reason>},
     * and from then on every call into the kernel, and every wait in progress, fails with
     * {@code IllegalStateException("kernel panicked: <reason>")} caused by the returned {@link KernelPanic}
     * (which the caller throws out of the call that panicked); runtime threads stop at their next loop. Only
     * {@code close()} still works. The first panic wins; later ones return it.
     */
    public KernelPanic panic(String reason, Throwable cause) {
        KernelPanic p;
        boolean first = false;
        synchronized (lifecycleLock) {
            p = panic;
            if (p == null) {
                p = RuntimeAccess.get().newPanic(reason, cause);
                panic = p;
                startRefusing();
                first = true;
            }
        }
        if (first) {
            RuntimeAccess.get().panic(reports, "Kernel panic - not syncing: " + reason, cause);
            waitQueue.wakeAll();
            for (Cpu cpu : cpus) {
                cpu.wakeLevelWaiters();
            }
            for (AgentHandle h : agents) {
                h.wake();
                KernelThread t = h.thread();
                if (t != null && t != Thread.currentThread()) {
                    t.requestStop();
                }
            }
        }
        return p;
    }

    // ------------------------------------------------------------------------------------------
    // Waiting (every subsystem's waits)
    // ------------------------------------------------------------------------------------------

    /**
     * Wakes the threads waiting in {@link #waitUntil} and its variants so that they re-check their
     * conditions. Any thread, any context; one volatile read when nobody waits. Subsystems call it after a
     * change that may end a wait (a callback finished, an item completed).
     */
    public void wakeWaiters() {
        waitQueue.wakeAll();
    }

    /**
     * The kernel's one wait queue, for tests that prove a wake-up protocol ({@link WaitQueue#parkUntilWoken}).
     * Subsystems wait and wake through {@link #waitUntil} and {@link #wakeWaiters()}.
     *
     * @return the wait queue
     */
    public WaitQueue waitQueue() {
        return waitQueue;
    }

    /** Whether some thread waits in {@link #waitUntil} (past its first spins). Any thread; a snapshot. */
    public boolean hasWaiters() {
        return waitQueue.hasWaiters();
    }

    /**
     * Waits, uninterruptibly ({@code TASK_UNINTERRUPTIBLE}), until {@code done} holds. In stepped mode a
     * kworker gives the CPU away until then and the stepping thread drives the kernel; in threaded mode the
     * thread parks until woken ({@link #wakeWaiters()}) and re-checks. A thread interrupt does not end the
     * wait: it is kept and set again on return.
     *
     * @param what the call that waits, for reports ({@code flush_work(w)})
     * @return true when {@code done} holds; false in stepped mode when nothing could ever make it hold (then
     *         reported as {@code BUG: <what> would block forever in stepped mode})
     * @throws IllegalStateException when the kernel closes or panics during the wait
     */
    public boolean waitUntil(BooleanSupplier done, String what) {
        return await(done, what, false);
    }

    /**
     * Like {@link #waitUntil} but interruptible ({@code TASK_INTERRUPTIBLE}): a thread interrupt (the model of
     * a pending signal) ends it, with the interrupt status left set.
     *
     * @return true when {@code done} holds, false when interrupted (or, in stepped mode, when nothing could
     *         ever make it hold: reported)
     */
    public boolean waitUntilInterruptible(BooleanSupplier done, String what) {
        return await(done, what, true);
    }

    private boolean await(BooleanSupplier done, String what, boolean interruptible) {
        if (done.getAsBoolean()) {
            return true;
        }
        ensureAlive();
        if (interruptible && Thread.currentThread().isInterrupted()) {
            return false;
        }
        if (stepped()) {
            for (;;) {
                if (SteppedScheduler.of(this).waitFor(done, what)) {
                    return true;
                }
                if (!anotherThreadInKernel()) {
                    reports.bug("BUG: " + what + " would block forever in stepped mode: nothing else can make it"
                            + " progress", new Throwable(what));
                    return false;
                }
                // A test's second thread plays a CPU (it holds that CPU's level): its progress may end the wait.
                if (!waitQueue.await(() -> done.getAsBoolean() || !anotherThreadInKernel(), this::ensureAlive,
                        interruptible, Long.MAX_VALUE, clock::nanoTime)) {
                    return false;
                }
            }
        }
        return waitQueue.await(done, this::ensureAlive, interruptible, Long.MAX_VALUE, clock::nanoTime);
    }

    /**
     * Stepped mode: whether some CPU level is held — by another thread, since a waiting caller is in process
     * context — so that thread (a second driver, as tests use to play a CPU) may still end a wait.
     */
    private boolean anotherThreadInKernel() {
        for (Cpu cpu : cpus) {
            if (cpu.irqLevelOwner() != null || cpu.bhLevelOwner() != null) {
                return true;
            }
        }
        return false;
    }

    /**
     * Sleeps until {@code wake} holds or the clock reaches {@code deadlineNs} ({@link Long#MAX_VALUE}: no
     * deadline). In stepped mode the sleep takes simulated time (the stepping thread drives the kernel until
     * then, a kworker gives the CPU away); in threaded mode the thread parks.
     *
     * @param interruptible whether a thread interrupt ends the sleep (left set)
     * @return false when an interrupt ended it, true otherwise
     * @throws IllegalStateException when the kernel closes or panics during the sleep, or in stepped mode
     *         when nothing could ever end it
     */
    public boolean sleepUntil(BooleanSupplier wake, long deadlineNs, String what, boolean interruptible) {
        ensureAlive();
        if (interruptible && Thread.currentThread().isInterrupted()) {
            return false;
        }
        if (stepped()) {
            SteppedScheduler.of(this).sleep(wake, deadlineNs, what);
            return true;
        }
        BooleanSupplier ended = deadlineNs == Long.MAX_VALUE ? wake
                : () -> wake.getAsBoolean() || clock.nanoTime() >= deadlineNs;
        return waitQueue.await(ended, this::ensureAlive, interruptible, Long.MAX_VALUE, clock::nanoTime)
                || !Thread.currentThread().isInterrupted();
    }

    /**
     * Throws when a wait can no longer end: the kernel panicked, or it is CLOSED — its threads are stopping, so
     * nothing will wake the waiter (the closer alone goes on).
     */
    private void ensureAlive() {
        if (refusing) {
            KernelPanic p = panic;
            Thread me = Thread.currentThread();
            if (p != null && me != closer && me != sweeper) {
                throw RuntimeAccess.get().refusal(p);
            }
            if (state == CLOSED && me != closer && me != sweeper) {
                throw new IllegalStateException("kernel is closed"); // nothing will ever wake it: the threads stop
            }
        }
    }

    void pinIfConfigured(KernelThread thread, int cpu) {
        if (affinity == null) {
            return;
        }
        int hostCores = Runtime.getRuntime().availableProcessors();
        String failure = affinity.pinCurrentThread(cpu % hostCores);
        if (failure != null) {
            reports.warnOnce("pinning", "CPU pinning unavailable, running unpinned: " + failure);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Cross-CPU function calls
    // ------------------------------------------------------------------------------------------

    /**
     * {@code smp_call_function_single(cpu, func, info, wait)}: runs {@code func} on {@code cpu} in hardirq
     * context with IRQs disabled. On the calling context's own CPU it runs at once, with IRQs disabled,
     * on the caller's thread. With {@code wait} the call returns after {@code func} finished.
     *
     * <p>In stepped mode a waiting call to another CPU drives that CPU's {@code cpu/N} duty cycle at once
     * (there is no thread to wait for). Calling with IRQs disabled is reported, as the kernel's
     * WARN_ON_ONCE, because the target could be waiting for this CPU.
     *
     * @throws KernelException {@code ENXIO} for a CPU that does not exist
     */
    public void smpCallFunctionSingle(int cpu, Runnable func, boolean wait) {
        checkOpen();
        Objects.requireNonNull(func, "func");
        Cpu target = cpu(cpu);
        ExecutionContext ctx = current();
        if (ctx.irqsDisabled() && !ctx.inHardirq()) {
            reports.warnOnce("smp_call_irqs_disabled", "smp_call_function_single() called with IRQs disabled "
                    + "(WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled()))");
        }
        if (target == RuntimeAccess.get().cpu(ctx)) {
            long flags = ctx.localIrqSave();
            try {
                runSmpCall(new SmpCall(func));
            } finally {
                ctx.localIrqRestore(flags);
            }
            return;
        }
        SmpCall call = new SmpCall(func);
        target.queueCall(call);
        afterAccept();
        if (!wait) {
            return;
        }
        if (stepped()) {
            runAs(target.cpuContext(), () -> target.agent().doWork());
        } else {
            waitUntil(() -> call.done, "smp_call_function_single(" + cpu + ")");
        }
        if (call.dropped) {
            throw new IllegalStateException("kernel is closed: smp_call_function_single(" + cpu + ") was dropped"
                    + " before it ran");
        }
    }

    /**
     * {@code smp_call_function_many_cond}: runs {@code func} on every CPU of {@code mask} — on the others in
     * hardirq context on their {@code cpu/N} with IRQs disabled (their {@code CAL} interrupts), and, when
     * {@code runLocal} and the calling CPU is in the mask, on the caller's thread with IRQs disabled, after
     * the others were sent their calls. With {@code wait} it returns when every CPU has run it. Used by
     * {@code smp_call_function} (all other CPUs), {@code on_each_cpu} and {@code on_each_cpu_mask}.
     * Calling with IRQs disabled is reported once (the kernel's {@code WARN_ON_ONCE}); in stepped mode a
     * waiting call drives the target CPUs inline.
     *
     * @param what the kernel function's name, for reports
     * @throws IllegalArgumentException for a CPU in the mask that does not exist
     */
    public void smpCallFunctionMany(java.util.BitSet mask, Runnable func, boolean wait, boolean runLocal,
                                    String what) {
        checkOpen();
        Objects.requireNonNull(func, "func");
        if (mask.length() > cpus.length) {
            throw new IllegalArgumentException(what + ": CPU " + (mask.length() - 1) + " does not exist");
        }
        ExecutionContext ctx = current();
        if (ctx.irqsDisabled() && !ctx.inHardirq()) {
            reports.warnOnce("smp_call_many_irqs_disabled", what + "() called with IRQs disabled "
                    + "(WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled()))");
        }
        int self = ctx.cpuId();
        java.util.List<SmpCall> sent = new java.util.ArrayList<>();
        for (int cpu = mask.nextSetBit(0); cpu >= 0; cpu = mask.nextSetBit(cpu + 1)) {
            if (cpu != self) {
                SmpCall call = new SmpCall(func);
                cpus[cpu].queueCall(call);
                sent.add(call);
            }
        }
        if (runLocal && mask.get(self)) {
            long flags = ctx.localIrqSave();
            try {
                runSmpCall(new SmpCall(func));
            } finally {
                ctx.localIrqRestore(flags);
            }
        }
        if (!wait) {
            return;
        }
        int i = 0;
        for (int cpu = mask.nextSetBit(0); cpu >= 0; cpu = mask.nextSetBit(cpu + 1)) {
            if (cpu == self) {
                continue;
            }
            SmpCall call = sent.get(i++);
            Cpu target = cpus[cpu];
            if (stepped()) {
                if (!call.done) {
                    runAs(target.cpuContext(), () -> target.agent().doWork());
                }
            } else {
                waitUntil(() -> call.done, what + "(" + cpu + ")");
            }
            if (call.dropped) {
                throw new IllegalStateException("kernel is closed: " + what + " to CPU " + cpu + " was dropped before"
                        + " it ran");
            }
        }
    }

    void runSmpCall(SmpCall call) {
        String funcName = call.func.toString();
        if (tracing.on(Tracepoint.CSD_FUNCTION_ENTRY)) {
            tracing.emit(Tracepoint.CSD_FUNCTION_ENTRY, "func=" + funcName);
        }
        try {
            call.func.run();
        } catch (Throwable t) {
            smpCallOopses.oops(call.func.getClass(), funcName, name -> "smp_call_function " + name, t);
        } finally {
            call.done = true;
            waitQueue.wakeAll();
            if (tracing.on(Tracepoint.CSD_FUNCTION_EXIT)) {
                tracing.emit(Tracepoint.CSD_FUNCTION_EXIT, "func=" + funcName);
            }
        }
    }

    @Override
    public String toString() {
        return "machine[" + cpus.length + " CPUs, HZ=" + config.hz() + (stepped() ? ", stepped" : ", threaded") + "]";
    }
}
