package dev.bottomhalf.internal.runtime;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelPanic;
import dev.bottomhalf.runtime.ManualClock;
import dev.bottomhalf.runtime.Stepper;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import dev.bottomhalf.internal.sync.Uninterruptibly;

/**
 * The scheduler of a stepped-mode kernel: agents whose work may sleep or burn CPU time (the kworkers) get
 * their own threads, and exactly one thread of the kernel runs at any moment — the stepping thread or one
 * of those threads — so a work function can sleep or busy-wait while other work runs, on the manual clock,
 * with the same result on every run. Thread-safe; its public methods are called by the kernel's sleeping,
 * waiting and delay primitives from whichever thread holds the baton.
 *
 * <p>It is itself an {@link Agent} ({@code stepped-scheduler}, registered once per stepped machine): each
 * {@link #doWork()} runs one <em>slice</em> of one thread, so the {@link Stepper} interleaves thread slices
 * with the CPUs' duty cycles, and its {@link #nextDeadlineNs()} (the next end of a burn or of a timed sleep)
 * joins the timers' deadlines when {@link Stepper#runFor} looks for the next event.
 *
 * <p>Implementation notes.
 * <ul>
 * <li><b>The baton.</b> {@code holder} names the one thread allowed to run kernel code. The stepping
 * thread (the <em>driver</em>) hands it to a thread for a slice and parks until it comes back; the thread
 * gives it back when it sleeps ({@link #sleep}), waits ({@link #waitFor}), burns ({@link #burn}), yields
 * ({@link #condResched}) or finishes its agent's {@code doWork()}. Every hand-over writes {@code holder}
 * (volatile) after the state it publishes and unparks the receiver, which reads {@code holder} before
 * anything else: each hand-over is a release/acquire pair, so the threads see each other's writes as if
 * they were one thread.</li>
 * <li><b>Thread states</b> (guarded by {@code this}; one line per transition, who makes it):
 * IDLE → STARTED (driver: the agent has work) → RUNNING (the thread takes the baton) →
 * BLOCKED (thread: sleep or wait) / BURNING (thread: burn) / RUNNABLE (thread: yields) / IDLE (thread:
 * {@code doWork()} returned); BLOCKED → RUNNABLE (driver: its wake condition holds or its deadline passed);
 * BURNING → RUNNABLE (driver: its burn reached the end at the head of its CPU's queue); RUNNABLE →
 * RUNNING (driver: the thread is first in the run queue); RUNNING → LOST (driver: it blocked outside the
 * kernel's primitives or ran for {@link #RUNAWAY_LIMIT_NS} of host time without giving the baton back);
 * LOST → RUNNABLE (thread: it reached one of the scheduler's entry points again).</li>
 * <li><b>Order.</b> The run queue is FIFO in the order threads became runnable. At one instant of the
 * manual clock, burns that ended become runnable first (by end time, then CPU), then blocked threads
 * whose condition holds (in the order they blocked); idle agents with work are started only when the
 * run queue is empty, in registration order. That is what makes a timeline reproducible row by row.</li>
 * <li><b>CPU time.</b> Each CPU has a FIFO of burns; only its head consumes simulated time, so two
 * burners of one CPU take turns, one after the other. A burn in atomic context (or by the driver in
 * atomic context) cannot give the CPU away: the clock jumps by its length at once, nothing else runs
 * meanwhile, and the CPU's current head burn is pushed back by as much (it was interrupted).</li>
 * <li><b>Blocking we cannot see.</b> A thread that parks, waits on a monitor or does I/O outside the
 * kernel's primitives never gives the baton back. While it holds the baton the driver samples its
 * {@link Thread#getState()}: blocked for {@link #BLOCKED_LIMIT_NS} of host time (not on the baton), or
 * running for {@link #RUNAWAY_LIMIT_NS}, it is reported as a BUG and marked LOST; the driver takes the
 * baton back and tells the thread's context that it sleeps (so a worker pool wakes another worker).
 * When the thread comes back to an entry point it queues for the baton again. Between those two
 * moments it runs in parallel with the baton holder — only after a reported misuse.</li>
 * <li><b>The stepping thread's own waits.</b> It cannot hand the baton to itself, so when it sleeps,
 * waits or burns in process context it <em>drives</em>: runs the event loop ({@code Stepper.drive}) until
 * its condition holds — the clock moving from event to event for a sleep or a burn, and for a condition
 * wait only while some thread sleeps on time or burns.</li>
 * <li><b>Locks.</b> The monitor ({@code this}) guards the phases, the run queue, the blocked list and the
 * burn queues, and is held only briefly. Order: monitor before subsystem locks (reporting a lost worker
 * tells its pool under the monitor); wake conditions and agents' {@code hasWork()} take subsystem locks
 * and are evaluated outside the monitor. Nobody holds a subsystem lock when entering the scheduler.</li>
 * <li><b>Shutdown.</b> Threads are daemons that poll {@link Machine#closed()} while parked; an idle one
 * exits, one parked mid-cycle is unwound with an error that {@link #isShutdown} recognises.</li>
 * <li><b>Panics.</b> A slice in which the kernel panics (a work function threw a fatal error) ends its thread;
 * the thread hands the baton back, and the driver throws the {@link KernelPanic} out of the step, as a handler
 * that the stepping thread runs itself would.</li>
 * </ul>
 */
public final class SteppedScheduler implements Agent {
    /** The agent name under which the scheduler appears in {@link Machine#agents()}. */
    public static final String NAME = "stepped-scheduler";
    /** Host time a thread may stay blocked outside the kernel's primitives before it is reported. */
    static final long BLOCKED_LIMIT_NS = TimeUnit.SECONDS.toNanos(1);
    /** Host time a slice may run without giving the baton back before it is reported. */
    static final long RUNAWAY_LIMIT_NS = TimeUnit.SECONDS.toNanos(10);
    /** How often the driver samples the slice's thread while it waits for the baton. */
    private static final long DRIVER_POLL_NS = TimeUnit.MILLISECONDS.toNanos(1);
    /** How often a parked thread checks whether its machine was closed. */
    private static final long THREAD_POLL_NS = TimeUnit.MILLISECONDS.toNanos(50);

    private enum Phase { IDLE, STARTED, RUNNING, BLOCKED, BURNING, RUNNABLE, LOST }

    private final Machine machine;
    private final ExecutionContext ctx;
    /** The thread allowed to run; null until the first hand-over (then the driver holds it implicitly). */
    private volatile Thread holder;
    private final Map<Agent, SimThread> adopted = new LinkedHashMap<>();      // guarded by this
    private final ArrayDeque<SimThread> runQueue = new ArrayDeque<>();         // guarded by this
    private final List<SimThread> blocked = new ArrayList<>();                 // guarded by this, block order
    private final List<ArrayDeque<Burn>> burns = new ArrayList<>();            // guarded by this, per CPU

    private SteppedScheduler(Machine machine) {
        this.machine = machine;
        this.ctx = RuntimeAccess.get().newContext(machine, ExecutionContext.Role.TASK, NAME, machine.cpu(0));
        for (int i = 0; i < machine.cpuCount(); i++) {
            burns.add(new ArrayDeque<>());
        }
    }

    /**
     * The scheduler of a stepped {@code machine}, registered as an agent the first time it is asked for.
     *
     * @throws IllegalStateException for a threaded machine
     */
    public static SteppedScheduler of(Machine machine) {
        if (!machine.stepped()) {
            throw new IllegalStateException("the stepped scheduler exists only in stepped mode");
        }
        synchronized (machine) {
            SteppedScheduler s = find(machine);
            if (s == null) {
                s = new SteppedScheduler(machine);
                machine.register(s, true);
            }
            return s;
        }
    }

    /** The scheduler of {@code machine}, or null if nothing asked for one yet. */
    public static SteppedScheduler find(Machine machine) {
        for (AgentHandle h : machine.agents()) {
            if (h.agent() instanceof SteppedScheduler s) {
                return s;
            }
        }
        return null;
    }

    /** The scheduler among {@code handles} (the agents a closing machine is stopping), or null. */
    public static SteppedScheduler find(Machine machine, List<AgentHandle> handles) {
        for (AgentHandle h : handles) {
            if (h.agent() instanceof SteppedScheduler s && s.machine == machine) {
                return s;
            }
        }
        return null;
    }

    /** Whether {@code thread} is one of the scheduler threads of {@code machine} (a stepped kworker's thread). */
    static boolean isSchedulerThread(Machine machine, Thread thread) {
        return thread instanceof SimThread t && t.scheduler().machine == machine;
    }

    /**
     * After the machine was closed: wakes every thread so it sees the close and ends, and waits for them
     * until {@code deadlineNs} (of {@link System#nanoTime()}). A thread that does not end (its work function
     * is stuck outside the kernel) is reported by name with its stack.
     *
     * @return the names of the threads still alive
     */
    List<String> awaitThreadsEnded(long deadlineNs) {
        List<SimThread> threads;
        synchronized (this) {
            threads = new ArrayList<>(adopted.values());
        }
        for (SimThread t : threads) {
            LockSupport.unpark(t);
        }
        List<String> stuck = new ArrayList<>();
        for (SimThread t : threads) {
            if (t.getState() == Thread.State.NEW) {
                continue;
            }
            long leftMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime()));
            if (!Uninterruptibly.join(t, leftMs)) {
                stuck.add(t.getName());
                Throwable stack = new Throwable("stack of " + t.getName());
                stack.setStackTrace(t.getStackTrace());
                machine.reports().bug("INFO: stepped thread " + t.getName() + " did not stop after close() and is left"
                        + " running (a daemon thread); it is in " + where(t), stack);
            }
        }
        return stuck;
    }

    /** Whether {@code t} is the error that unwinds a scheduler thread parked when its kernel was closed. */
    public static boolean isShutdown(Throwable t) {
        return t instanceof Shutdown;
    }

    // ------------------------------------------------------------------------------------------
    // Adopting agents
    // ------------------------------------------------------------------------------------------

    /**
     * From now on {@code agent}'s duty cycle runs on a thread of its own, one slice at a time, and the
     * {@link Stepper} leaves it to this scheduler. Call before registering the agent with the machine.
     */
    public void adopt(Agent agent) {
        Objects.requireNonNull(agent, "agent");
        synchronized (this) {
            adopted.putIfAbsent(agent, new SimThread(agent));
        }
    }

    /**
     * The thread that runs an adopted agent's slices (made when the agent was adopted, started at its first slice),
     * or null if the agent is not adopted here. Any thread.
     *
     * @param agent the agent
     * @return its thread, or null
     */
    public synchronized Thread threadOf(Agent agent) {
        return adopted.get(agent);
    }

    /** Forgets an idle adopted agent (a retired worker); its thread ends. */
    public void release(Agent agent) {
        SimThread t;
        synchronized (this) {
            t = adopted.remove(agent);
            if (t == null) {
                return;
            }
            t.released = true;
        }
        LockSupport.unpark(t);
    }

    /** Whether {@code agent} runs through this scheduler. */
    public synchronized boolean adopts(Agent agent) {
        return adopted.containsKey(agent);
    }

    /** The thread that runs the adopted agent whose context is {@code ctx}, or null (for lockup reports). */
    synchronized Thread threadOf(ExecutionContext ctx) {
        for (SimThread t : adopted.values()) {
            if (t.agent.context() == ctx) {
                return t;
            }
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------
    // The agent: one slice per doWork
    // ------------------------------------------------------------------------------------------

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    @Override
    public boolean hasWork() {
        return nextSlice(false) != null;
    }

    /** Runs one slice: the first runnable thread, else an idle adopted agent that has work. Driver only. */
    @Override
    public int doWork() {
        SimThread t = nextSlice(true);
        if (t == null) {
            return 0;
        }
        runSlice(t);
        return 1;
    }

    /** Runs one slice of {@code agent} if it is runnable or idle with work (for {@link Stepper#run}). */
    public int step(Agent agent) {
        SimThread t;
        synchronized (this) {
            t = adopted.get(agent);
        }
        if (t == null) {
            return 0;
        }
        settle();
        boolean idleWithWork = idle(t) && agent.hasWork(); // outside the monitor: the agent takes its own locks
        synchronized (this) {
            if (t.phase == Phase.RUNNABLE) {
                runQueue.remove(t);
                t.phase = Phase.RUNNING;
            } else if (t.phase == Phase.IDLE && idleWithWork) {
                t.phase = Phase.STARTED;
            } else {
                return 0;
            }
        }
        runSlice(t);
        return 1;
    }

    /** Whether a slice of {@code agent} would run now. */
    public boolean hasWork(Agent agent) {
        SimThread t;
        synchronized (this) {
            t = adopted.get(agent);
        }
        if (t == null) {
            return false;
        }
        settle();
        synchronized (this) {
            if (t.phase == Phase.RUNNABLE) {
                return true;
            }
        }
        return idle(t) && agent.hasWork();
    }

    private synchronized boolean idle(SimThread t) {
        return t.phase == Phase.IDLE;
    }

    /** The next end of a burn or of a timed sleep, on the kernel clock. */
    @Override
    public synchronized long nextDeadlineNs() {
        long next = Long.MAX_VALUE;
        for (ArrayDeque<Burn> q : burns) {
            Burn head = q.peekFirst();
            if (head != null) {
                next = Math.min(next, head.endNs());
            }
        }
        for (SimThread t : blocked) {
            next = Math.min(next, t.wakeAtNs);
        }
        return next;
    }

    /**
     * Moves finished burns and satisfied sleepers to the run queue, then picks the next slice (and, when
     * {@code take}, removes it from the queue and marks it started).
     */
    private SimThread nextSlice(boolean take) {
        settle();
        List<SimThread> idle;
        synchronized (this) {
            SimThread head = runQueue.peekFirst();
            if (head != null) {
                if (take) {
                    runQueue.pollFirst();
                    head.phase = Phase.RUNNING;
                }
                return head;
            }
            idle = new ArrayList<>();
            for (SimThread t : adopted.values()) {
                if (t.phase == Phase.IDLE) {
                    idle.add(t);
                }
            }
        }
        for (SimThread t : idle) {
            if (t.agent.hasWork()) { // outside the monitor: it takes the agent's own locks
                if (take) {
                    synchronized (this) {
                        t.phase = Phase.STARTED;
                    }
                }
                return t;
            }
        }
        return null;
    }

    /**
     * Makes runnable, in this order: threads whose burn ended (by end time, then CPU), then blocked threads
     * whose wake condition holds or whose deadline passed (in the order they blocked).
     */
    private void settle() {
        long now = machine.clock().nanoTime();
        List<SimThread> waiting;
        synchronized (this) {
            List<Burn> ended = new ArrayList<>();
            for (ArrayDeque<Burn> q : burns) {
                Burn head;
                while ((head = q.peekFirst()) != null && head.endNs() <= now) {
                    q.pollFirst();
                    long end = head.endNs();
                    head.done = true;
                    ended.add(head);
                    Burn next = q.peekFirst();
                    if (next != null) {
                        next.headSinceNs = end;
                    }
                }
            }
            ended.sort((a, b) -> a.endNs() != b.endNs() ? Long.compare(a.endNs(), b.endNs())
                    : Integer.compare(a.cpu, b.cpu));
            for (Burn b : ended) {
                if (b.owner != null) {
                    b.owner.phase = Phase.RUNNABLE;
                    runQueue.addLast(b.owner);
                }
            }
            waiting = blocked.isEmpty() ? List.of() : new ArrayList<>(blocked);
        }
        for (SimThread t : waiting) {
            // Conditions may take subsystem locks (a flush looks at pools): evaluated outside the monitor.
            boolean wake = now >= t.wakeAtNs || t.wakeWhen.getAsBoolean();
            if (wake) {
                synchronized (this) {
                    if (t.phase == Phase.BLOCKED && blocked.remove(t)) {
                        t.phase = Phase.RUNNABLE;
                        runQueue.addLast(t);
                    }
                }
            }
        }
    }

    /** Whether some thread waits for simulated time to pass (a timed sleep or a burn). */
    synchronized boolean timeWillWakeSomeone() {
        for (ArrayDeque<Burn> q : burns) {
            if (!q.isEmpty()) {
                return true;
            }
        }
        for (SimThread t : blocked) {
            if (t.timed) {
                return true;
            }
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------
    // Entry points of the kernel's primitives
    // ------------------------------------------------------------------------------------------

    /**
     * The calling context sleeps until {@code wakeWhen} holds (a timer callback makes it true) or the clock
     * reaches {@code wakeAtNs}. On a scheduler thread it gives the baton away; on the stepping thread it
     * drives the kernel — every CPU and thread, the clock jumping from event to event — until then.
     *
     * @throws IllegalStateException on the stepping thread, when nothing could ever end the sleep
     */
    public void sleep(BooleanSupplier wakeWhen, long wakeAtNs, String what) {
        SimThread self = self();
        if (self != null) {
            block(self, wakeWhen, wakeAtNs, true);
            return;
        }
        if (!RuntimeAccess.get().drive(machine, () -> wakeWhen.getAsBoolean() || machine.clock().nanoTime() >= wakeAtNs,
                wakeAtNs, () -> true)) {
            throw new IllegalStateException("stepped " + what + ": nothing is due on any CPU and no thread is"
                    + " running, so it would never end");
        }
    }

    /**
     * The calling context waits until {@code condition} holds (a flush waiting for an item). On a scheduler
     * thread it gives the baton away until then, and its context is told that it sleeps for that long
     * ({@link ExecutionContext#sleepStarts()} / {@link ExecutionContext#sleepEnds()}, the kernel's
     * {@code wq_worker_sleeping} / {@code wq_worker_running} around {@code schedule()}): a kworker waiting in
     * {@code flush_work} stops counting in its pool, so the pool starts another worker for the items behind
     * it — which may be what it waits for. On the stepping thread it drives the kernel, letting the clock move
     * only while some thread sleeps on a timer or burns CPU time (their progress may be what it waits for).
     *
     * @return true when the condition holds; false on the stepping thread when nothing can make it hold
     */
    public boolean waitFor(BooleanSupplier condition, String what) {
        if (condition.getAsBoolean()) {
            return true;
        }
        SimThread self = self();
        if (self != null) {
            ExecutionContext c = self.agent.context();
            RuntimeAccess.get().sleepStarts(c);
            block(self, condition, Long.MAX_VALUE, false); // (a closing kernel unwinds it: nothing to end then)
            RuntimeAccess.get().sleepEnds(c);
            return true;
        }
        return RuntimeAccess.get().drive(machine, condition, Long.MAX_VALUE, this::timeWillWakeSomeone);
    }

    /**
     * Busy-waits {@code ns} of simulated CPU time on the calling context's CPU ({@code ndelay}). In process
     * context the burn joins the CPU's queue and ends after it has been at the head for {@code ns}; in
     * atomic context the CPU cannot be given away, so the clock jumps by {@code ns} at once.
     */
    public void burn(long ns) {
        if (ns <= 0) {
            return;
        }
        ExecutionContext c = machine.current();
        int cpu = c.cpuId();
        if (c.inAtomic() || c.irqsDisabled()) {
            synchronized (this) {
                Burn head = burns.get(cpu).peekFirst();
                if (head != null) {
                    head.headSinceNs += ns;
                }
            }
            clock().advanceNanos(ns);
            return;
        }
        SimThread self = self();
        Burn b = new Burn(self, cpu, ns);
        if (self != null) {
            enter(self);
            synchronized (this) {
                enqueue(b);
                self.phase = Phase.BURNING;
                handBack(self);
            }
            awaitBatonOrUnwind(self);
            return;
        }
        synchronized (this) {
            enqueue(b);
        }
        if (!RuntimeAccess.get().drive(machine, () -> b.done, Long.MAX_VALUE, () -> true)) {
            throw new IllegalStateException("stepped burn on CPU " + cpu + " cannot end");
        }
    }

    /**
     * {@code cond_resched()}: a scheduler thread in process context gives the baton to the next runnable
     * thread of its CPU, if there is one, and queues behind it. Elsewhere nothing happens.
     */
    public void condResched() {
        SimThread self = self();
        if (self == null) {
            return;
        }
        ExecutionContext c = machine.current();
        if (c.inAtomic() || c.irqsDisabled()) {
            return;
        }
        enter(self);
        settle();
        synchronized (this) {
            int cpu = self.cpu();
            boolean other = false;
            for (SimThread t : runQueue) {
                if (t.cpu() == cpu) {
                    other = true;
                    break;
                }
            }
            if (!other) {
                return;
            }
            self.phase = Phase.RUNNABLE;
            runQueue.addLast(self);
            handBack(self);
        }
        awaitBatonOrUnwind(self);
    }

    private void enqueue(Burn b) {
        ArrayDeque<Burn> q = burns.get(b.cpu);
        if (q.isEmpty()) {
            b.headSinceNs = machine.clock().nanoTime();
        }
        q.addLast(b);
    }

    private void block(SimThread self, BooleanSupplier wakeWhen, long wakeAtNs, boolean timed) {
        enter(self);
        synchronized (this) {
            self.wakeWhen = wakeWhen;
            self.wakeAtNs = wakeAtNs;
            self.timed = timed;
            self.phase = Phase.BLOCKED;
            blocked.add(self);
            handBack(self);
        }
        awaitBatonOrUnwind(self);
    }

    private SimThread self() {
        return Thread.currentThread() instanceof SimThread t && t.scheduler() == this ? t : null;
    }

    private ManualClock clock() {
        if (machine.clock() instanceof ManualClock mc) {
            return mc;
        }
        throw new IllegalStateException("this stepped kernel uses " + machine.clock() + ", not a manual clock");
    }

    // ------------------------------------------------------------------------------------------
    // The baton
    // ------------------------------------------------------------------------------------------

    /** Driver: hands the baton to {@code t} for one slice and waits until it comes back. */
    private void runSlice(SimThread t) {
        Thread me = Thread.currentThread();
        t.driver = me;
        if (!t.isAlive() && t.getState() == Thread.State.NEW) {
            holder = t;
            t.start();
        } else {
            holder = t;
            LockSupport.unpark(t);
        }
        long startNs = System.nanoTime();
        long blockedSinceNs = -1;
        for (;;) {
            if (holder == me) {
                rethrowPanic(t);
                return;
            }
            LockSupport.parkNanos(this, DRIVER_POLL_NS);
            if (holder == me) {
                rethrowPanic(t);
                return;
            }
            long nowNs = System.nanoTime();
            Thread.State state = t.getState();
            boolean blockedOutside = !t.parkedOnBaton && (state == Thread.State.WAITING
                    || state == Thread.State.TIMED_WAITING || state == Thread.State.BLOCKED);
            if (blockedOutside) {
                if (blockedSinceNs < 0) {
                    blockedSinceNs = nowNs;
                } else if (nowNs - blockedSinceNs >= BLOCKED_LIMIT_NS) {
                    lose(t, me, "blocked (" + state + ") outside the kernel's sleeping primitives, in " + where(t));
                    return;
                }
            } else {
                blockedSinceNs = -1;
            }
            if (state == Thread.State.TERMINATED && holder != me) {
                synchronized (this) {
                    holder = me;
                }
                return;
            }
            if (nowNs - startNs >= RUNAWAY_LIMIT_NS) {
                lose(t, me, "ran for " + RUNAWAY_LIMIT_NS / 1_000_000 + " ms of host time without sleeping, burning"
                        + " or yielding through the kernel, in " + where(t));
                return;
            }
        }
    }

    /**
     * Driver: when the kernel panicked in {@code t}'s slice, throws the {@link KernelPanic} on the stepping
     * thread — where a panic of a handler the stepper runs surfaces — since {@code t} has ended.
     */
    private void rethrowPanic(SimThread t) {
        KernelPanic p = machine.panicCause();
        if (t.endedByPanic && p != null) {
            throw p;
        }
    }

    /**
     * Driver: the slice's thread cannot be modelled; report it, take the baton back, and tell its context
     * that it sleeps (a worker pool then starts another worker).
     */
    private void lose(SimThread t, Thread me, String why) {
        synchronized (this) {
            if (holder == me) {
                return; // it gave the baton back just now: nothing is lost
            }
            t.phase = Phase.LOST;
            holder = me;
            machine.reports().bug("BUG: " + t.agent.name() + " " + why + " in stepped mode: the stepped scheduler"
                    + " cannot tell when it would continue, so the kernel goes on without it (use msleep, usleep_range,"
                    + " mdelay or the kernel's waits in stepped work)", new Throwable("stepped scheduler"));
            RuntimeAccess.get().sleepStarts(t.agent.context());
            t.releasedCpuShare = true;
        }
    }

    /** Where a thread stands: the library call it is blocked in, and the first frame of its own code. */
    private static String where(Thread t) {
        StackTraceElement[] stack = t.getStackTrace();
        for (int i = 0; i < stack.length; i++) {
            String c = stack[i].getClassName();
            if (!c.startsWith("java.") && !c.startsWith("jdk.") && !c.startsWith("sun.")) {
                return i == 0 ? stack[0].toString() : stack[i - 1] + " called from " + stack[i];
            }
        }
        return stack.length == 0 ? "?" : stack[0].toString();
    }

    /** Thread: gives the baton back to the driver of the current slice. Under the monitor. */
    private void handBack(SimThread self) {
        Thread d = self.driver;
        holder = d;
        LockSupport.unpark(d);
    }

    /**
     * Thread: at every entry point, a thread that was declared LOST queues for the baton again and, once it
     * has it, tells its context that it runs again.
     */
    private void enter(SimThread self) {
        boolean rejoin;
        synchronized (this) {
            rejoin = self.phase == Phase.LOST;
            if (rejoin) {
                self.phase = Phase.RUNNABLE;
                runQueue.addLast(self);
            }
        }
        if (rejoin) {
            awaitBatonOrUnwind(self);
            if (self.releasedCpuShare) {
                self.releasedCpuShare = false;
                RuntimeAccess.get().sleepEnds(self.agent.context());
            }
        }
    }

    private void awaitBatonOrUnwind(SimThread self) {
        if (!awaitBaton(self, false)) {
            throw new Shutdown();
        }
    }

    /**
     * Thread: parks until it holds the baton; false if the machine was closed (or the agent released). A thread
     * interrupt does not end the wait (it would turn every park into a spin): an idle thread drops it, as a
     * {@link KernelThread} does before it goes idle; a thread in the middle of a duty cycle ({@code idle} false:
     * it sleeps, waits, burns or yields) keeps it for the code it runs, which sees it when the baton comes back.
     */
    private boolean awaitBaton(SimThread self, boolean idle) {
        self.parkedOnBaton = true;
        boolean interrupted = false;
        try {
            while (holder != self) {
                if (machine.closed() || self.released) {
                    return false;
                }
                LockSupport.parkNanos(this, THREAD_POLL_NS);
                interrupted |= Thread.interrupted();
            }
            return true;
        } finally {
            self.parkedOnBaton = false;
            if (idle) {
                Thread.interrupted(); // one that came between the last item and this wait is dropped too
            } else if (interrupted) {
                self.interrupt();
            }
        }
    }

    @Override
    public synchronized String toString() {
        return NAME + "[" + adopted.size() + " threads, " + runQueue.size() + " runnable, " + blocked.size()
                + " blocked]";
    }

    /** One busy-wait of one context on one CPU. Guarded by the scheduler. */
    private static final class Burn {
        final SimThread owner; // null: the stepping thread
        final int cpu;
        final long lengthNs;
        long headSinceNs;
        boolean done;

        Burn(SimThread owner, int cpu, long lengthNs) {
            this.owner = owner;
            this.cpu = cpu;
            this.lengthNs = lengthNs;
        }

        long endNs() {
            return headSinceNs + lengthNs;
        }
    }

    /** Unwinds a thread parked mid-cycle when its kernel is closed. */
    private static final class Shutdown extends Error {
        private static final long serialVersionUID = 1L;

        Shutdown() {
            super("the stepped kernel was closed while this thread waited for the baton", null, false, false);
        }
    }

    /** The thread of one adopted agent: runs its duty cycle one {@code doWork()} per start. */
    private final class SimThread extends Thread {
        final Agent agent;
        Phase phase = Phase.IDLE;           // guarded by the scheduler
        BooleanSupplier wakeWhen;           // guarded by the scheduler: while BLOCKED
        long wakeAtNs = Long.MAX_VALUE;     // guarded by the scheduler: while BLOCKED
        boolean timed;                      // guarded by the scheduler: while BLOCKED
        boolean releasedCpuShare;           // guarded by the scheduler: LOST, and its context told it sleeps
        Thread driver;                      // written by the driver before each hand-over
        boolean endedByPanic;               // written before the last hand-over, read by the driver after it
        volatile boolean released;
        volatile boolean parkedOnBaton;

        SimThread(Agent agent) {
            super(agent.name());
            this.agent = agent;
            setDaemon(true);
        }

        SteppedScheduler scheduler() {
            return SteppedScheduler.this;
        }

        int cpu() {
            return agent.context().cpuId();
        }

        @Override
        public void run() {
            RuntimeAccess.get().swapThreadContext(agent.context());
            try {
                while (awaitBaton(this, true)) {
                    synchronized (SteppedScheduler.this) {
                        phase = Phase.RUNNING;
                    }
                    try {
                        agent.doWork();
                    } catch (Shutdown e) {
                        throw e;
                    } catch (Throwable e) {
                        if (!(e instanceof KernelPanic) && !machine.panicked()) {
                            try {
                                machine.reports().oops(agent.name(), e); // a fatal error panics here
                            } catch (KernelPanic p) {
                                // handled below, like a panic thrown out of the duty cycle
                            }
                        }
                    }
                    if (machine.panicked()) {
                        // The kernel panicked in this slice: the thread ends, and its driver rethrows the panic.
                        synchronized (SteppedScheduler.this) {
                            phase = Phase.IDLE;
                            endedByPanic = true;
                            handBack(this);
                        }
                        return;
                    }
                    enter(this);
                    synchronized (SteppedScheduler.this) {
                        phase = Phase.IDLE;
                        handBack(this);
                    }
                }
            } catch (Shutdown e) {
                // The kernel was closed while this thread waited for the baton: it has nothing left to do.
            }
        }
    }
}
