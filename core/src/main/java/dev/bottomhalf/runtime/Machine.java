package dev.bottomhalf.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

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
 * <li>Lifecycle: {@code NEW → RUNNING → CLOSED}. Agents registered before {@link #start()} get their
 * threads there; agents registered later (threaded IRQ handlers) get them at once. {@link #close()}
 * stops and joins every thread it started.</li>
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
    private static final long JOIN_TIMEOUT_MS = 5_000;

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
    private volatile InterruptSource[] interruptSources = new InterruptSource[0];
    private volatile SoftirqEntry softirqEntry;
    private final List<AgentHandle> agents = new CopyOnWriteArrayList<>();
    private final Object lifecycleLock = new Object();
    private volatile int state; // 0 new, 1 running, 2 closed
    private volatile Object owner;

    public Machine(KernelConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.clock = config.clock();
        this.bootNs = clock.nanoTime();
        this.initialJiffies = initialJiffies(config.hz());
        this.reports = new Reports(this, config.reporter());
        this.smpCallOopses = reports.limiter("__flush_smp_call_function_queue");
        this.tracing = new Tracing(this);
        this.affinity = config.pinning() ? new HostAffinity() : null;
        this.cpus = new Cpu[config.cpus()];
        for (int i = 0; i < cpus.length; i++) {
            cpus[i] = new Cpu(this, i);
        }
        for (Cpu cpu : cpus) {
            register(cpu.agent(), false);
        }
    }

    public KernelConfig config() {
        return config;
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
     * The calling thread's context on this machine; a thread that has none is attached as a task on its
     * default CPU ({@code thread id mod CPUs}: stable for the thread's life).
     */
    public ExecutionContext current() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && ctx.machine() == this) {
            return ctx;
        }
        return attach(defaultCpu(Thread.currentThread()));
    }

    /** The calling thread becomes a task on {@code cpu} (the counterpart of {@code sched_setaffinity}). */
    public ExecutionContext bindCurrentThread(int cpu) {
        Cpu target = cpu(cpu);
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && ctx.machine() == this) {
            ctx.rebind(target);
            return ctx;
        }
        return attach(target);
    }

    private ExecutionContext attach(Cpu cpu) {
        Thread t = Thread.currentThread();
        if (t instanceof KernelThread kt && kt.context().machine() != this) {
            throw new IllegalStateException(t.getName() + " is a runtime thread of another kernel");
        }
        ExecutionContext old = ExecutionContext.currentOrNull();
        if (old != null && (old.inAtomic() || old.irqsDisabled())) {
            throw new IllegalStateException("thread '" + t.getName() + "' is in atomic context on another kernel ("
                    + old + ") and cannot enter this one");
        }
        ExecutionContext ctx = new ExecutionContext(this, ExecutionContext.Role.TASK, t.getName(), cpu);
        ExecutionContext.swapThreadContext(ctx);
        return ctx;
    }

    /** Forgets the calling thread's task context on this machine (it must be quiescent). */
    public void detachCurrentThread() {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx != null && ctx.machine() == this && ctx.role() == ExecutionContext.Role.TASK) {
            if (ctx.inAtomic() || ctx.irqsDisabled()) {
                throw new IllegalStateException("cannot detach in atomic context: " + ctx);
            }
            ExecutionContext.swapThreadContext(null);
        }
    }

    private Cpu defaultCpu(Thread t) {
        return cpus[(int) Math.floorMod(t.threadId(), (long) cpus.length)];
    }

    /** Makes a runtime context (a worker or an IRQ thread) for a subsystem. */
    public ExecutionContext newContext(ExecutionContext.Role role, String name, Cpu cpu) {
        if (role == ExecutionContext.Role.CPU || role == ExecutionContext.Role.TASK) {
            throw new IllegalArgumentException("the runtime makes " + role + " contexts itself");
        }
        return new ExecutionContext(this, role, name, cpu);
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
        ExecutionContext previous = ExecutionContext.swapThreadContext(ctx);
        try {
            return body.getAsInt();
        } finally {
            ExecutionContext.swapThreadContext(previous);
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
            if (state == 2) {
                throw new IllegalStateException("kernel is closed");
            }
            agents.add(handle);
            if (state == 1 && !stepped()) {
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
                handle.daemon() ? config.daemonIdle() : config.idleStrategy());
        if (handle.agent() == handle.agent().context().cpu().agent()) {
            handle.agent().context().cpu().attachThread(t);
        }
        handle.start(t);
    }

    /** Starts every runtime thread (threaded mode). Idempotent. */
    public void start() {
        synchronized (lifecycleLock) {
            if (state != 0) {
                return;
            }
            state = 1;
            if (!stepped()) {
                for (AgentHandle h : agents) {
                    startThread(h);
                }
            }
        }
    }

    public boolean closed() {
        return state == 2;
    }

    /** Stops and joins every runtime thread. Idempotent. */
    @Override
    public void close() {
        List<AgentHandle> toStop;
        synchronized (lifecycleLock) {
            if (state == 2) {
                return;
            }
            state = 2;
            toStop = new ArrayList<>(agents);
            agents.clear();
        }
        for (AgentHandle h : toStop) {
            KernelThread t = h.thread();
            if (t != null) {
                t.requestStop();
            }
        }
        for (AgentHandle h : toStop) {
            if (!h.stopAndJoin(JOIN_TIMEOUT_MS)) {
                reports.warning("runtime thread " + h.agent().name() + " did not stop within " + JOIN_TIMEOUT_MS
                        + " ms of close()");
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
    // Cross-CPU function calls (semantics §8.1)
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
        Objects.requireNonNull(func, "func");
        Cpu target = cpu(cpu);
        ExecutionContext ctx = current();
        if (ctx.irqsDisabled() && !ctx.inHardirq()) {
            reports.warnOnce("smp_call_irqs_disabled", "smp_call_function_single() called with IRQs disabled "
                    + "(WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled()))");
        }
        if (target == ctx.cpu()) {
            long flags = ctx.localIrqSave();
            try {
                runSmpCall(new SmpCall(func, null));
            } finally {
                ctx.localIrqRestore(flags);
            }
            return;
        }
        SmpCall call = new SmpCall(func, wait && !stepped() ? Thread.currentThread() : null);
        target.queueCall(call);
        if (!wait) {
            return;
        }
        if (stepped()) {
            runAs(target.cpuContext(), () -> target.agent().doWork());
            return;
        }
        while (!call.done) {
            LockSupport.park(call);
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
            call.complete();
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
