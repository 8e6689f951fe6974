package dev.bottomhalf.stress;

import dev.bottomhalf.internal.Internals;
import dev.bottomhalf.internal.wiring.Subsystems;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.CloseReport;
import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Randomised soak of {@link Kernel#close()} under load, with thread interrupts. Round after round it boots a
 * threaded 2-CPU kernel, lets four producer threads (each re-binding to a random CPU before every step) get
 * work accepted — work items on per-CPU, unbound, ordered and BH workqueues, delayed work, tasklets (normal and
 * HI, and a double schedule inside a BH-disabled section that must coalesce), raises of two opened softirq
 * vectors, interrupts on two plain lines and a threaded ONESHOT line, kernel timers, hard and soft hrtimers,
 * cross-CPU calls, self-requeueing items (work, tasklet, timer, an hrtimer returning RESTART), relays across
 * mechanisms (work → timer → tasklet → hrtimer → work) and items that sleep ({@code msleep},
 * {@code usleep_range}, {@code mdelay}, interruptible sleeps) — and closes the kernel at a random moment while
 * they run, with {@code close()}, {@code close(Duration)} of 1-5 ms or {@code shutdownNow()}. A chaos thread
 * interrupts random runtime threads ({@code cpu/N}, {@code ksoftirqd/N}, kworkers, the IRQ thread; with the
 * guards off also the lockup detector's sampler) and random producers (with the guards off, in one round in four,
 * also the closing thread).
 *
 * <p>Invariants, checked after every round:
 * <ul>
 * <li>Exact accounting of every object whose acceptance can be counted from return values: work items and
 * delayed work ({@code queue_work} / {@code queue_delayed_work} returned true, {@code mod_delayed_work} returned
 * false, minus {@code cancel_*} that returned true), tasklets (scheduled only when every earlier acceptance has
 * started its callback, so each call that returns is one acceptance; a second schedule under the same
 * {@code local_bh_disable} coalesces and is not counted), timers ({@code mod_timer} returned 0, minus
 * {@code del_timer} that returned 1), hrtimers (each start after {@code hrtimer_try_to_cancel}, each RESTART):
 * callbacks started + the names in the {@link CloseReport} == accepted, per object.</li>
 * <li>Coverage for what coalesces (softirq raises, latched interrupts, wake-ups of the IRQ thread): every
 * accepted raise or assert is followed by a run that read it, or the report lists the vector on that CPU or the
 * line; cross-CPU calls: calls that returned ≤ runs + {@code droppedCalls} ≤ calls that returned or failed while
 * waiting, and a waiting call that returned normally ran its function.</li>
 * <li>No call a producer begins after the close began returns normally: it throws
 * {@code IllegalStateException("kernel is closed")}; no call is refused that way while the kernel is open; no
 * call of the kernel clears the interrupt status of the task that made it.</li>
 * <li>When {@code close()} (unbounded) returns, the report says {@code drained()} and lists no dropped work; no
 * runtime thread of the kernel (nor its {@code watchdog} sampler) is alive unless listed in
 * {@code threadsNotStopped}, which is empty (no callback blocks); close returns within 60 s; no OOPS, BUG or
 * WARNING report.</li>
 * <li>Thread interrupts: a work item that starts on a kworker never finds the signal of the previous item on that
 * worker pending; an uninterruptible sleep keeps a pending signal; and every few seconds (and at the end) a round
 * is stopped before its close: the producers end, every runtime thread is interrupted once more, and once the
 * kernel is idle its runtime threads together use less than 5 % of a core over 300 ms.</li>
 * </ul>
 * The wake-ups of the IRQ thread are counted but, as no list of the report names them, checked only after an
 * unbounded close. Bugs of core this soak found are described, with the seeds that showed them, at the
 * {@code GUARD_...} constants: while a guard is on (the default) the soak steers around its bug or counts what the
 * bug does instead of failing on it (the counts are printed at the end as {@code GUARDED: ...});
 * {@code -Dbottomhalf.soak.guards=off} turns every guard off and reproduces them. Every one is now fixed in core and
 * its guard is {@code false} (checked strictly); the last three were a call that began while the kernel was open
 * and completed after the close's last sweep ({@link #GUARD_REFUSED_CALLS_QUEUE_ANYWAY},
 * {@link #GUARD_ACCEPTED_AFTER_THE_CANCEL_PASS}: such a call now completes and sweeps what it accepted itself,
 * which {@link Kernel#closeReport()} then lists) and a shut-down timer expiring without its function
 * ({@link #GUARD_SHUT_DOWN_TIMER_EXPIRES}). The guards' notes describe the bugs as first found.
 *
 * <p>Runs {@code -Dbottomhalf.soak.seconds} seconds (10 by default, 600 with {@code -Psoak}); the seed is printed
 * and the run replays (as far as thread scheduling allows) with {@code -Dbottomhalf.soak.seed}.
 */
class CloseSoakTest {
    private static final int CPUS = 2;
    private static final int PRODUCERS = 4;
    private static final int[] PLAIN_LINES = {3, 4};
    private static final int THREADED_LINE = 5;
    private static final int[] LINES = {3, 4, THREADED_LINE};
    private static final int[] VECTORS = {10, 11};
    private static final long ROUND_TIMEOUT_S = 60;
    private static final long IDLE_ROUND_EVERY_NS = TimeUnit.SECONDS.toNanos(5);
    private static final long IDLE_WINDOW_MS = 300;
    /** The idle kernel's runtime threads together: less than 5 % of one core over the window. */
    private static final double IDLE_CPU_FRACTION = 0.05;
    /** Calls each producer makes once it saw close return; every one must be refused. */
    private static final int CALLS_AFTER_CLOSE = 25;

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seed 3870363003305, round 1; most seeds hit it within a
     * few rounds). While the kernel is closing, a task thread that ends a BH-disabled section runs its CPU's
     * pending softirqs on its own thread ({@code local_bh_enable} → {@code Softirqs.runPendingThenRelease}) in its
     * task context; the TASKLET/HI action looks its context up with {@code Machine.current()}, whose entry check
     * refuses every TASK-role context while CLOSING, whether or not it is serving softirqs. The action throws
     * {@code kernel is closed} before it takes its list (reported as {@code Oops: softirq TASKLET (tasklet_action)
     * threw java.lang.IllegalStateException: kernel is closed}); the tasklets stay queued with their softirq
     * already consumed, nothing raises it again, an unbounded {@code close()} waits its whole timeout (20 s here)
     * and then reports them as dropped. The same refusal meets every call a softirq handler, tasklet or BH work
     * item makes on such a thread (the chains the close promises to let finish). While this is true (the default)
     * the close never begins while a producer is inside a BH-disabled section and no section begins after it
     * began; {@code -Dbottomhalf.soak.guards=off} turns the guard off and reproduces the bug (seed 5873399985612,
     * round 2: {@code Oops: softirq TIMER (timer_action) threw ... kernel is closed} on a producer, in {@code
     * localBhEnable}). Remove once the entry check lets a task's context in while it serves softirqs.
     */
    static final boolean GUARD_NO_BH_SECTION_ACROSS_CLOSE = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seeds 3931085959147 round 0, 3956960945028 round 1,
     * 4040646268185 round 1, 4377516377919 round 23, 4383264225763 round 22; every 10-s run shows it). {@code
     * finishClose} sets CLOSED before it stops the runtime threads, and from then on {@code Machine.checkEntry}
     * refuses every context but the closer's — the kernel's own threads included — while they finish the duty
     * cycle they are in; {@code checkOpen} / {@code current()} inside the kernel's own paths then throw {@code
     * kernel is closed} in the middle of them:
     * <ul>
     * <li>spurious oopses of a normal close: {@code Oops: softirq TIMER (timer_action) threw
     * java.lang.IllegalStateException: kernel is closed} (and TASKLET, HI, HRTIMER: {@code Timers.runTimerSoftirq},
     * {@code Tasklets.action}, {@code HrTimers.runSoftirq} look their context up with {@code Machine.current()}) on
     * {@code ksoftirqd/N} and {@code cpu/N}; {@code Oops: ksoftirqd/0 threw ... kernel is closed: ksoftirqd/0 gave
     * up waiting for the BH level of CPU 0}; {@code Oops: kworker/u8:0 threw ... kernel is closed} when a kworker
     * ending its round arms its pool's idle timer ({@code WorkerPools.armIdleTimer} → {@code
     * Timers.setupInternal} / {@code add_timer_on}) — hundreds per 10-s run;</li>
     * <li>lost items: a kworker that has taken an item off the worklist and cleared its PENDING bit
     * ({@code processOne}) first creates a worker or arms the pool's concurrency check, which is refused
     * ({@code createWorker} → {@code Machine.register}; {@code armCmCheck}), so the function is never called and the
     * item is gone ({@code WORK p0.relay0.work: ran 0 + reported 1 != accepted 2}: PENDING clear, {@code doneSeq}
     * not advanced); a TASKLET/HI action refused after it took its CPU's list drops the tasklets it took (SCHED
     * set, on no list: {@code TASKLET p0.tasklet1: ran 0 + reported 0 != accepted 1}); a {@code cpu/N} that has
     * taken its latched interrupts or a queued cross-CPU call and then cannot get its own IRQ level ({@code Oops:
     * cpu/0 threw ... kernel is closed: cpu/0 gave up waiting for the IRQ level of CPU 0}) drops them: neither
     * delivered nor latched nor reported (seed 5213425548118, round 190: {@code irq 3 (close3) asserted (assert 19)
     * was never delivered after it ... and is not in []});</li>
     * <li>the spinlock recursion of {@link #GUARD_POOL_LOCK_LEAKS_ON_A_REFUSED_DRAIN} after CLOSED
     * ({@code Oops: kworker/1:0 threw java.lang.IllegalStateException: BUG: spinlock recursion}).</li>
     * </ul>
     * While this is true (the default): OOPS reports of {@code kernel is closed} (or the spinlock recursion) on a
     * runtime thread are counted, not failed (every callback of this soak catches its own refusals, so such an
     * oops comes from core); the soak's callbacks stop calling into the kernel once it is CLOSED; and a work item
     * with one acceptance unaccounted for is counted, not failed, once per kworker oops of the round (each may have
     * dropped the item it was processing), a tasklet likewise in a round with a refused TASKLET/HI action, an
     * interrupt or a cross-CPU call likewise in a round with a refused {@code cpu/N}, a delayed item whose timer
     * callback was refused ({@code Oops: timer p2.delayed2 threw ... kernel is closed}: the timer fired after
     * CLOSED, {@code delayed_work_timer_fn} could not queue the item, which stays PENDING on no list — seed
     * 5378163475728, round 105). Every other object must still be accounted for exactly.
     * {@code -Dbottomhalf.soak.guards=off} fails on all of it.
     * Remove once the kernel's own threads may finish their last cycle after CLOSED without being refused.
     */
    static final boolean GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seed 4136946819724, round 0, a {@code shutdownNow()}):
     * {@code smp_call_function_single(cpu, func, wait=true)} returns normally although {@code func} never ran. The
     * close drops the calls still queued ({@code Machine.discardCallsForClose} → {@code Cpu.discardCalls}) by
     * setting each call's {@code done} flag to release its waiter, and the waiter's {@code waitUntil(() ->
     * call.done)} checks that flag before it checks that the kernel is alive, so a waiter that wakes after the
     * discard returns as if the call had run — silently, without effect, instead of failing with {@code kernel is
     * closed}. (The call is listed in {@code droppedCalls}, so the accounting still holds.) While this is true (the
     * default) such returns are counted, not failed, when the kernel was closing; {@code -Dbottomhalf.soak.guards=off}
     * fails on them. Remove once a discarded call fails its waiter.
     */
    static final boolean GUARD_SMP_CALL_WAITER_RELEASED_AS_DONE = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seeds 4298180807548 round 3, 4300729454054 round 0,
     * 4302949656281 round 30: rounds whose closing thread the chaos interrupted). {@code finishClose} joins the
     * runtime threads with {@code Thread.join} ({@code AgentHandle.stopAndJoin}, {@code LockupDetector.stop}),
     * which throws at once when the closing thread has a pending interrupt; the interrupt is re-set and the thread,
     * asked to stop a microsecond earlier, is still alive — so every runtime thread is reported as {@code INFO:
     * runtime thread cpu/0 did not stop within 5000 ms of close() and is left running} (a BUG report, and
     * {@code runtime thread watchdog did not stop within 5000 ms of close()}, a WARNING), listed in
     * {@code threadsNotStopped}, and the tasklets and softirqs of their CPUs are neither run nor discarded nor
     * reported ({@code busyCpus}). The threads do stop right after. While this is true (the default) the chaos
     * does not interrupt the closing thread; {@code -Dbottomhalf.soak.guards=off} lets it, in one round in four.
     * Remove once the joins of the close wait out an interrupt (and restore it).
     */
    static final boolean GUARD_CLOSER_NOT_INTERRUPTED = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seeds 4151699665732 round 5, 4136946819724,
     * 4308479341171 round 0, 4316599776186 round 3; most seeds within a few rounds). An entry point checks that
     * the kernel is open once, at its start, and its internal steps check again: a call that began while the
     * kernel was open and is still running when the close begins can be refused half-way, after it has already
     * queued its item. {@code queue_work} on a per-CPU workqueue pushes the item on the pool's incoming list and
     * then kicks the pool, and the kick arms the pool's concurrency check ({@code WorkerPools.kickForIncoming} →
     * {@code armCmCheck} → {@code Timers.setupInternal} / {@code add_timer_on} → {@code checkOpen}), which
     * refuses the task: the call throws {@code kernel is closed}, but the item is queued and then runs or is
     * reported as dropped ({@code WORK p0.work3: ran 0 + reported 1 != accepted 0}; {@code queue_delayed_work}
     * likewise). The caller is told its item was refused, and the report names an item it never accepted. The
     * other way round (seed 4450375312263, round 9, an unbounded close: {@code DELAYED_WORK p2.delayed1: ran 0 +
     * reported 0 != accepted 1}, left PENDING on no list and with no timer): {@code mod_delayed_work} grabs the
     * item (deleting the armed timer of an earlier acceptance) and is then refused re-arming it
     * ({@code add_timer} → {@code checkOpen}), so the earlier acceptance is gone without a trace. While this is
     * true (the default) an object's runs + reports may differ from its acceptances by at most the number of calls
     * on it that began while the kernel was open and were refused; {@code -Dbottomhalf.soak.guards=off} fails on it.
     * Remove once an entry point that passed its check completes (or undoes) what it began.
     */
    static final boolean GUARD_REFUSED_CALLS_QUEUE_ANYWAY = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seeds 4380620993702 round 7, 4675978371905 round 29,
     * 4678880733864 round 22): the close cancels what is armed or queued in passes ({@code
     * cancelArmedDelayedForClose}, {@code shutdownArmedForClose}, {@code cancelQueuedForClose} once before and once
     * after the threads stop) and does not wait for the calls in flight when it began, nor stop the kernel's own
     * contexts from arming. What is accepted after a pass is neither run nor reported: a timer armed by a work item
     * on {@code kworker/u8:0} 8.4 ms into a bounded close ({@code TIMER p2.relay1.timer: ran 0 + reported 0 !=
     * accepted 1}, still pending), an hrtimer started by a producer whose {@code hrtimer_start} passed its checks
     * just before a {@code shutdownNow()} began and queued it after the hrtimer pass ({@code HRTIMER
     * p0.chainhrtimer: ran 7 + reported 0 != accepted 8}, still queued), a {@code mod_timer} likewise; a timer
     * re-armed by its own callback or an hrtimer callback returning RESTART after the pass; a pending timer that a
     * work item re-timed while the timer pass walked the CPUs' bases, moving it to a base the pass had already
     * copied (seed 5124287364217, round 284: {@code TIMER p1.relay0.timer}, {@code mod_timer} returned 1 on
     * {@code kworker/0:1} 0.1 ms into a {@code shutdownNow()}, still pending after it); a delayed item whose
     * {@code mod_delayed_work}, begun just before the close, re-armed its timer after the delayed-work pass: the
     * timer pass then shuts that timer down and reports it among the cancelled <em>timers</em> under the item's
     * name, and the item stays PENDING for good (seeds 4375261579664 round 4, 5515730343327 round 111: {@code
     * DELAYED_WORK p1.delayed2 is named in cancelledTimers}). Also after an unbounded {@code close()} that says
     * it drained (seed 4772375524118, round 132, dropped a sleeper queued by a call in flight). While this is true
     * (the default) an object with exactly one acceptance unaccounted for, whose latest acceptance (or re-arming)
     * was counted after the close began, is counted, not failed (softirq raises and interrupts likewise; a delayed
     * item so re-armed may be named among the cancelled timers; an unbounded close may drop items whose latest
     * acceptance was such); {@code -Dbottomhalf.soak.guards=off} fails on it. Remove once the close cancels (or
     * refuses) what is accepted after its passes and waits for the calls in flight.
     */
    static final boolean GUARD_ACCEPTED_AFTER_THE_CANCEL_PASS = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seeds 4443108714372 and 4454782871997, the idle rounds at
     * the end): the lockup detector's sampler thread ({@code watchdog}, {@code LockupDetector.runSampler}) waits
     * with {@code LockSupport.parkNanos} in a loop and never clears its interrupt status, so once interrupted every
     * park returns at once and it spins: {@code watchdog=300041} µs of CPU in a 300 ms window of an idle kernel
     * (the kernel's {@code KernelThread}s, which clear theirs before going idle, used 0). While this is true (the
     * default) the chaos does not interrupt the sampler; {@code -Dbottomhalf.soak.guards=off} does, and the idle
     * check fails. Remove once the sampler ignores (clears) interrupts like the other runtime threads.
     */
    static final boolean GUARD_WATCHDOG_SAMPLER_NOT_INTERRUPTED = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seed 4452853976853, round 2, a bounded close): {@code
     * WARNING: timer wq_cm_check/1 expired without a function (WARN_ON_ONCE(!fn))} on {@code ksoftirqd/1} — the
     * close's {@code timer_shutdown_sync} of the pool's concurrency-check timer left it (or let it be put back) on a
     * timer list with its function cleared, and the timer softirq expired it (mechanism not pinned down: the pool's
     * {@code armCmCheck} re-arms that timer from kworkers and producers concurrently with the shutdown). While this
     * is true (the default) that WARNING is counted, not failed; {@code -Dbottomhalf.soak.guards=off} fails on it.
     */
    static final boolean GUARD_SHUT_DOWN_TIMER_EXPIRES = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seed 4524169389091, round 1, an unbounded
     * {@code close()} that never returned: the closer in {@code Workqueues.idleForClose}, {@code cpu/0} in the
     * workqueue watchdog's timer function and a producer in {@code kickForIncoming} all spinning in
     * {@code RawSpinLock.lockSlow} on one pool lock that no thread holds any more). {@code WorkerPool.lock()} takes
     * the lock and then drains the items queued without it; the drain activates an item on an empty worklist,
     * which re-arms the workqueue watchdog's timer ({@code Workqueues.activate} → {@code
     * WorkqueueWatchdog.armWatchdog} → {@code add_timer_on} → {@code checkOpen}) whenever it is not pending —
     * and while the kernel is closing that check refuses a task (a producer whose call passed its own check just
     * before the close began), after CLOSED every thread but the closer. The exception leaves {@code lock()} with
     * the lock held and before its caller's {@code try}: the pool lock is leaked, and every later taker — the
     * closer included, whatever its timeout — spins forever; the items taken off the incoming list are lost. While
     * this is true (the default) the soak's kernels run with the workqueue watchdog off
     * ({@code watchdogThreshSeconds(0)}, so {@code armWatchdog} returns at once); {@code -Dbottomhalf.soak.guards=off}
     * leaves it on, and rounds hang (seed 5877657287599, round 1, guards off: a {@code shutdownNow()} spinning in
     * its second {@code cancelQueuedForClose}). Remove once the pool lock is released when a drain fails (or the
     * drain cannot be refused).
     */
    static final boolean GUARD_POOL_LOCK_LEAKS_ON_A_REFUSED_DRAIN = false; // fixed in core: the soak checks it strictly

    /**
     * TEMPORARY GUARD for a bug in core this soak found (seed 4516725233760, round 23: {@code raise_softirq(10)
     * returned normally (true) although the close had begun before the call}). {@code Machine.beginClose} writes
     * {@code state = CLOSING} before {@code refusing = true}, and the entry check reads only {@code refusing}; so
     * in between, {@link Kernel#isClosed()} already says the close has begun while calls are still let in. The
     * call is a real acceptance (the accounting counts it and it is run or reported), so the harm is the broken
     * promise of {@code isClosed()}. While this is true (the default) a call that began after {@code isClosed()}
     * turned true and returned normally is counted, not failed — as long as the close has not returned (a call
     * begun after that must always be refused); {@code -Dbottomhalf.soak.guards=off} fails on it. Remove once
     * {@code isClosed()} turns true no earlier than the refusals begin.
     */
    static final boolean GUARD_IS_CLOSED_BEFORE_REFUSING = false; // fixed in core: the soak checks it strictly

    private static boolean guardsOn() {
        return !"off".equals(System.getProperty("bottomhalf.soak.guards"));
    }

    /** Whether {@code e} is an oops of {@link #GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED}. */
    static boolean isRuntimeThreadRefusedAfterClosed(KernelEvent e) {
        return e.kind() == KernelEvent.Kind.OOPS && e.thread() != null
                && e.thread().matches("cpu/\\d+|ksoftirqd/\\d+|kworker/.+|irq/\\d+-.+")
                && e.cause() instanceof IllegalStateException ise && (isClosedRefusal(ise) || isSpinlockRecursion(ise));
    }

    static boolean isSpinlockRecursion(Throwable t) {
        return t.getMessage() != null && t.getMessage().startsWith("BUG: spinlock recursion");
    }

    /**
     * Whether {@code t} shows the refused drain of {@link #GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED}: a
     * {@code kernel is closed} thrown inside the workqueue's own paths under a pool lock, or the spinlock recursion
     * that follows it.
     */
    static boolean isRefusedDrain(Throwable t) {
        if (isSpinlockRecursion(t)) {
            return true;
        }
        if (!(t instanceof IllegalStateException ise) || !isClosedRefusal(ise)) {
            return false;
        }
        for (StackTraceElement f : t.getStackTrace()) {
            String m = f.getMethodName();
            if (m.equals("armWatchdog") || m.equals("armCmCheckLocked") || m.equals("armIdleTimer")
                    || m.equals("drainIncomingLocked")) {
                return true;
            }
        }
        return false;
    }

    /** Which report lists can name an object of this kind. */
    enum Mechanism { WORK, DELAYED_WORK, TASKLET, TIMER, HRTIMER }

    enum CloseMode { CLOSE, BOUNDED, SHUTDOWN_NOW, IDLE_THEN_CLOSE }

    /** What the producers and callbacks got accepted of one object, and how often its callback started. */
    static final class Ledger {
        final String name;
        final Mechanism mechanism;
        /** Acceptances counted from return values, minus cancellations that returned true. */
        final AtomicLong accepted = new AtomicLong();
        /** Callback starts. */
        final AtomicLong ran = new AtomicLong();
        /** mod_timer calls that returned 0 on a timer found shut down afterwards: armed or ignored, unknowable. */
        final AtomicLong ambiguous = new AtomicLong();
        /** When its latest acceptance (or re-arming of a pending one) was counted, after the call returned; or 0. */
        volatile long lastAcceptNs;
        /** Producer calls on it that began while the kernel was open and were refused ({@code kernel is closed}). */
        final AtomicLong straddled = new AtomicLong();
        /** Remaining self-requeues of a chain. */
        final AtomicInteger chainLeft = new AtomicInteger();

        /** The object, for its state in a failure message. */
        Object subject;
        /** The latest events, for a failure message: nanoTime, what, thread. */
        private final long[] traceNs = new long[TRACE];
        private final String[] trace = new String[TRACE];
        private int traced;

        Ledger(String name, Mechanism mechanism) {
            this.name = name;
            this.mechanism = mechanism;
        }

        void accept() {
            lastAcceptNs = System.nanoTime();
            accepted.incrementAndGet();
            trace("accepted", true);
        }

        void unaccept() {
            accepted.decrementAndGet();
            trace("cancelled by the user", true);
        }

        void enter() {
            ran.incrementAndGet();
            trace("callback started", false);
        }

        void ambiguousArm() {
            ambiguous.incrementAndGet();
            trace("armed or ignored (shut down)", true);
        }

        /** Records an outcome in the trace (a call that returned false or was refused). */
        void note(String what) {
            trace(what, false);
        }

        private void trace(String what, boolean withCall) {
            String call = withCall && !(Thread.currentThread() instanceof KernelThread) ? CALL.get() : null;
            String entry = what + " on " + Thread.currentThread().getName() + (call != null ? " by " + call : "");
            long now = System.nanoTime();
            synchronized (this) {
                traceNs[traced % TRACE] = now;
                trace[traced % TRACE] = entry;
                traced++;
            }
        }

        /** The latest events, times in µs relative to {@code originNs}. */
        synchronized String history(long originNs) {
            StringBuilder sb = new StringBuilder();
            for (int i = Math.max(0, traced - TRACE); i < traced; i++) {
                sb.append("\n      ").append(String.format("%+.1f µs ", (traceNs[i % TRACE] - originNs) / 1000.0))
                        .append(trace[i % TRACE]);
            }
            return sb.toString();
        }

        /** Every acceptance has started its callback and no chain step is due. */
        boolean idle() {
            return chainLeft.get() <= 0 && accepted.get() == ran.get();
        }
    }

    private static final int TRACE = 24;
    private static final java.util.regex.Pattern TIMER_OOPS = java.util.regex.Pattern.compile("Oops: timer (\\S+) threw .*");
    /** The producer call under way on this thread, for the ledgers' traces. */
    private static final ThreadLocal<String> CALL = new ThreadLocal<>();

    /** Counters over the whole run. */
    private final Map<String, AtomicLong> totals = new ConcurrentHashMap<>();
    private final Map<CloseMode, AtomicLong> rounds = new EnumMap<>(CloseMode.class);
    private final Map<String, Long> interruptsSent = new TreeMap<>();

    {
        for (CloseMode m : CloseMode.values()) {
            rounds.put(m, new AtomicLong());
        }
    }

    private void count(String what, long n) {
        if (n != 0) {
            totals.computeIfAbsent(what, k -> new AtomicLong()).addAndGet(n);
        }
    }

    @Test
    void closesUnderLoad_accountForEveryAcceptedItem_andInterruptsLoseNothing() throws Exception {
        long seconds = Long.getLong("bottomhalf.soak.seconds", 10);
        long seed = Long.getLong("bottomhalf.soak.seed", System.nanoTime());
        System.out.println("CloseSoakTest: seed " + seed + ", " + seconds + " s (replay with -Dbottomhalf.soak.seed="
                + seed + ")");
        int round = 0;
        try {
            SplittableRandom root = new SplittableRandom(seed);
            long start = System.nanoTime();
            long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
            long nextIdleRound = start + IDLE_ROUND_EVERY_NS;
            while (true) {
                long now = System.nanoTime();
                boolean last = now >= deadline;
                boolean idleRound = last || now >= nextIdleRound;
                if (idleRound) {
                    nextIdleRound = now + IDLE_ROUND_EVERY_NS;
                }
                new Round(this, root.split(), round, seed, idleRound).run();
                round++;
                if (last) {
                    break;
                }
            }
        } catch (Throwable t) {
            System.out.println("CloseSoakTest FAILED in round " + round + " with seed " + seed
                    + " (replay with -Dbottomhalf.soak.seed=" + seed + ")");
            throw t;
        }
        System.out.println("CloseSoakTest: " + round + " rounds " + rounds);
        System.out.println("CloseSoakTest: " + new TreeMap<>(totals));
        System.out.println("CloseSoakTest: interrupts sent " + interruptsSent);
    }

    // ------------------------------------------------------------------------------------------
    // One round: boot, load, close, check
    // ------------------------------------------------------------------------------------------

    /** One kernel from boot to the checks after its close. */
    private static final class Round {
        final CloseSoakTest soak;
        final SplittableRandom rnd;
        final int index;
        final long seed;
        final CloseMode mode;
        final Reporter.Recording reports = Reporter.recording();
        final Kernel kernel;
        final Set<Thread> watchdogs;
        final InterruptChaos chaos;
        final List<String> violations = new ArrayList<>();
        final List<Ledger> ledgers = new ArrayList<>();
        final Map<String, Ledger> byName = new HashMap<>();
        final AtomicBoolean closeReturned = new AtomicBoolean();
        /** {@link #GUARD_NO_BH_SECTION_ACROSS_CLOSE}: producers hold it shared over a BH-disabled section. */
        final ReentrantReadWriteLock bhSections = new ReentrantReadWriteLock();
        final AtomicBoolean stopProducers = new AtomicBoolean();

        // Coalescing mechanisms: counters begun, accepted (max begun count of an accepted call), seen by runs.
        final AtomicLongArray raised = new AtomicLongArray(CPUS * 32);
        final AtomicLongArray raisedAccepted = new AtomicLongArray(CPUS * 32);
        final AtomicLongArray raiseSeen = new AtomicLongArray(CPUS * 32);
        /** When the latest accepted raise (per CPU and vector) and assert (per line) returned. */
        final AtomicLongArray raiseAcceptedNs = new AtomicLongArray(CPUS * 32);
        final AtomicLongArray assertAcceptedNs = new AtomicLongArray(8);
        final AtomicLongArray asserted = new AtomicLongArray(8);
        final AtomicLongArray assertAccepted = new AtomicLongArray(8);
        final AtomicLongArray assertSeen = new AtomicLongArray(8);
        final AtomicLong raisesAccepted = new AtomicLong();
        final AtomicLong assertsAccepted = new AtomicLong();
        final AtomicLong threadWoken = new AtomicLong();
        final AtomicLong threadSeen = new AtomicLong();
        // Cross-CPU calls.
        final AtomicLong smpReturned = new AtomicLong();
        final AtomicLong smpFailedWaiting = new AtomicLong();
        final AtomicLong smpRan = new AtomicLong();
        // Observations.
        final AtomicLong callbacksAfterClose = new AtomicLong();
        final AtomicLong refusedInCallbackClosing = new AtomicLong();
        final AtomicLong refusedInCallbackClosingOnTask = new AtomicLong();
        final AtomicLong refusedInCallbackClosed = new AtomicLong();
        final AtomicLong sleepsCutByClose = new AtomicLong();
        final AtomicLong signalsObservedByItems = new AtomicLong();
        final AtomicLong kworkerItemStartsChecked = new AtomicLong();
        final AtomicLong producerCalls = new AtomicLong();
        final AtomicLong producerRefused = new AtomicLong();
        final AtomicLong coalescedSchedules = new AtomicLong();
        /** Kworker oopses of {@link #GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED}, each of which may lose one item. */
        final AtomicLong kworkerRefusalsLeft = new AtomicLong();
        final AtomicLong taskletActionRefusals = new AtomicLong();
        final AtomicLong cpuRefusals = new AtomicLong();
        /** Timers whose callback was refused after CLOSED, by name (a delayed item's timer bears its name). */
        final Set<String> refusedTimerCallbacks = new HashSet<>();
        /** Refused drains seen ({@link #GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED}). */
        final AtomicLong refusedDrains = new AtomicLong();

        Workqueue pcpu;
        Workqueue unbound;
        Workqueue ordered;
        Workqueue bh;
        volatile CloseReport report;
        volatile long closeNs;
        volatile long closeBeganNs;
        List<String> aliveAfterClose = List.of();

        Round(CloseSoakTest soak, SplittableRandom rnd, int index, long seed, boolean idleRound) {
            this.soak = soak;
            this.rnd = rnd;
            this.index = index;
            this.seed = seed;
            this.mode = idleRound ? CloseMode.IDLE_THEN_CLOSE
                    : CloseMode.values()[rnd.nextInt(CloseMode.IDLE_THEN_CLOSE.ordinal())];
            Set<Thread> before = InterruptChaos.threadsNamed("watchdog");
            this.kernel = Kernel.boot(KernelConfig.builder().cpus(CPUS).irqLines(8).reporter(reports)
                    .closeTimeout(Duration.ofSeconds(20)).idleStrategy(idle(rnd)).daemonIdleStrategy(idle(rnd)).build());
            Set<Thread> after = InterruptChaos.threadsNamed("watchdog");
            after.removeAll(before);
            this.watchdogs = after;
            this.chaos = new InterruptChaos(Internals.machine(kernel), rnd.split(), TimeUnit.MICROSECONDS.toNanos(20),
                    TimeUnit.MICROSECONDS.toNanos(400));
            if (!GUARD_WATCHDOG_SAMPLER_NOT_INTERRUPTED) {
                watchdogs.forEach(chaos::addTarget);
            }
        }

        private static IdleStrategy idle(SplittableRandom rnd) {
            return switch (rnd.nextInt(4)) {
                case 0 -> IdleStrategy.parking();
                case 1 -> IdleStrategy.backoff(100, 10);
                default -> IdleStrategy.defaultStrategy();
            };
        }

        volatile boolean closerInterrupted;

        String where() {
            return "seed " + seed + ", round " + index + " (" + mode + (closerInterrupted ? ", closer interrupted" : "") + ")";
        }

        void violation(String what) {
            synchronized (violations) {
                if (violations.size() < 30) {
                    violations.add(what);
                }
            }
        }

        Ledger ledger(String name, Mechanism m) {
            Ledger l = new Ledger(name, m);
            ledgers.add(l);
            byName.put(name, l);
            return l;
        }

        // ---- the run --------------------------------------------------------------------------

        void run() throws Exception {
            List<Producer> producers = new ArrayList<>();
            try {
                kernel.bindCurrentThread(0);
                setUp();
                for (int p = 0; p < PRODUCERS; p++) {
                    Producer producer = new Producer(this, p, rnd.split());
                    producer.setUpTimers();
                    producers.add(producer);
                }
                kernel.detachCurrentThread();
                chaos.start("close-soak-chaos-" + index);
                for (Producer p : producers) {
                    p.start();
                }
                if (mode == CloseMode.IDLE_THEN_CLOSE) {
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100 + rnd.nextInt(100)));
                    stopProducers.set(true);
                    joinProducers(producers);
                    checkIdleCpu();
                } else {
                    long delayUs = rnd.nextInt(4) == 0 ? rnd.nextInt(200) : rnd.nextInt(20_000);
                    LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(delayUs));
                }
                closeBounded();
                stopProducers.set(true);
                joinProducers(producers);
            } finally {
                chaos.stop();
                if (!kernel.isClosed()) {
                    kernel.shutdownNow();
                }
            }
            synchronized (soak.interruptsSent) {
                chaos.sentByKind().forEach((k, v) -> soak.interruptsSent.merge(k, v, Long::sum));
            }
            for (Producer p : producers) {
                if (p.failure != null) {
                    throw new AssertionError(where() + ": producer " + p.id + " failed", p.failure);
                }
            }
            check();
        }

        /** Closes the kernel from a closer thread, bounded: a close that hangs fails the round with every stack. */
        private void closeBounded() throws InterruptedException {
            boolean interruptCloser = rnd.nextInt(4) == 0 && !GUARD_CLOSER_NOT_INTERRUPTED;
            int boundMs = 1 + rnd.nextInt(5);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread closer = Thread.ofPlatform().name("close-soak-closer-" + index).unstarted(() -> {
                try {
                    long t0 = System.nanoTime();
                    closeBeganNs = t0;
                    CloseReport r = switch (mode) {
                        case CLOSE, IDLE_THEN_CLOSE -> kernel.close(Duration.ofSeconds(20));
                        case BOUNDED -> kernel.close(Duration.ofMillis(boundMs));
                        case SHUTDOWN_NOW -> kernel.shutdownNow();
                    };
                    closeNs = System.nanoTime() - t0;
                    report = r;
                    closeReturned.set(true);
                    List<String> alive = new ArrayList<>();
                    for (Thread t : InterruptChaos.runtimeThreads(Internals.machine(kernel))) {
                        alive.add(t.getName());
                    }
                    for (Thread t : watchdogs) {
                        if (t.isAlive()) {
                            alive.add(t.getName() + " (lockup detector sampler)");
                        }
                    }
                    aliveAfterClose = alive;
                } catch (Throwable t) {
                    failure.set(t);
                    closeReturned.set(true);
                }
            });
            closerInterrupted = interruptCloser;
            InterruptChaos.Gate gate = interruptCloser ? chaos.gate(closer) : null;
            if (GUARD_NO_BH_SECTION_ACROSS_CLOSE) {
                bhSections.writeLock().lock(); // released by the test thread after close returned
            }
            closer.start();
            if (gate != null) {
                gate.open();
            }
            closer.join(TimeUnit.SECONDS.toMillis(ROUND_TIMEOUT_S));
            if (GUARD_NO_BH_SECTION_ACROSS_CLOSE) {
                bhSections.writeLock().unlock();
            }
            if (closer.isAlive()) {
                fail(where() + ": close did not return within " + ROUND_TIMEOUT_S + " s\n" + allStacks());
            }
            if (failure.get() != null) {
                throw new AssertionError(where() + ": close threw", failure.get());
            }
            soak.count("closer interrupted (rounds)", interruptCloser ? 1 : 0);
        }

        private void joinProducers(List<Producer> producers) throws InterruptedException {
            for (Producer p : producers) {
                p.thread.join(TimeUnit.SECONDS.toMillis(ROUND_TIMEOUT_S));
                if (p.thread.isAlive()) {
                    fail(where() + ": producer " + p.id + " did not finish\n" + allStacks());
                }
            }
        }

        // ---- set-up: workqueues, vectors, lines and every producer's objects ------------------

        /** Workqueues, softirq vectors and IRQ lines; on the test thread, bound to CPU 0. */
        void setUp() {
            if (GUARD_POOL_LOCK_LEAKS_ON_A_REFUSED_DRAIN) {
                kernel.workqueues().watchdogThreshSeconds(0);
            }
            pcpu = kernel.workqueues().alloc("close_pcpu", rnd.nextBoolean() ? Workqueue.WQ_MEM_RECLAIM : 0, 0);
            unbound = kernel.workqueues().alloc("close_unbound", Workqueue.WQ_UNBOUND, 0);
            ordered = kernel.workqueues().allocOrdered("close_ordered", 0);
            bh = kernel.workqueues().alloc("close_bh", Workqueue.WQ_BH, 0);
            for (int v : VECTORS) {
                kernel.softirqs().open(v, "CLOSE" + v, () -> {
                    entered();
                    int cpu = ExecutionContext.currentOrNull().cpuId();
                    raiseSeen.accumulateAndGet(cpu * 32 + v, raised.get(cpu * 32 + v), Math::max);
                });
            }
            for (int i = 0; i < PLAIN_LINES.length; i++) {
                int line = PLAIN_LINES[i];
                kernel.irqs().request(line, (irq, dev) -> {
                    entered();
                    assertSeen.accumulateAndGet(irq, asserted.get(irq), Math::max);
                    return IrqReturn.HANDLED;
                }, Set.of(), "close" + line, "dev" + line);
                kernel.irqs().setAffinity(line, i);
            }
            kernel.irqs().requestThreaded(THREADED_LINE, (irq, dev) -> {
                entered();
                assertSeen.accumulateAndGet(irq, asserted.get(irq), Math::max);
                threadWoken.incrementAndGet();
                return IrqReturn.WAKE_THREAD;
            }, (irq, dev) -> {
                entered();
                threadSeen.accumulateAndGet(threadWoken.get(), Math::max);
                return IrqReturn.HANDLED;
            }, EnumSet.of(IrqFlag.ONESHOT), "closethr", "dev5");
            kernel.irqs().setAffinity(THREADED_LINE, rnd.nextInt(CPUS));
        }

        /** Every callback's first step: observations that do not depend on the kind. */
        void entered() {
            if (closeReturned.get()) {
                callbacksAfterClose.incrementAndGet();
            }
        }

        /**
         * A call into the kernel from a callback (kernel context): its result, or null when the closing kernel
         * refused it ({@code kernel is closed}).
         */
        /** {@link #kcall(BoolCall)} on {@code l}'s object, with the outcome in its trace. */
        Boolean kcall(Ledger l, String what, BoolCall c) {
            boolean closedBefore = kernel.isTerminated();
            Boolean r = kcall(c);
            if (r == null && !closedBefore) {
                l.straddled.incrementAndGet(); // refused after it began while runtime contexts were let in
            }
            l.note(what + " -> " + (r == null ? "refused" : r));
            return r;
        }

        /**
         * A producer call that began after {@link Kernel#isClosed()} said the close had begun returned normally:
         * always a violation once close has returned; before, see {@link #GUARD_IS_CLOSED_BEFORE_REFUSING}.
         */
        void returnedAfterCloseBegan(String what, boolean closeHadReturned) {
            if (closeHadReturned || !GUARD_IS_CLOSED_BEFORE_REFUSING) {
                violation(what + " although the close had begun before the call"
                        + (closeHadReturned ? " (and had returned)" : ""));
            } else {
                soak.count("GUARDED: calls accepted although isClosed() had said the close began", 1);
            }
        }

        Boolean kcall(BoolCall c) {
            if (GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED && kernel.isTerminated()) {
                refusedInCallbackClosed.incrementAndGet(); // it would be refused; see the guard
                return null;
            }
            try {
                return c.call();
            } catch (IllegalStateException e) {
                refusedInCallback(e);
                return null;
            }
        }

        /** Classifies a refusal a callback got: after the close ended, or while closing (on which thread). */
        void refusedInCallback(IllegalStateException e) {
            if (isRefusedDrain(e)) {
                refusedDrains.incrementAndGet();
            }
            if (!isClosedRefusal(e)) {
                violation("a callback's call failed: " + e);
            } else if (kernel.isTerminated()) {
                refusedInCallbackClosed.incrementAndGet();
            } else if (!(Thread.currentThread() instanceof KernelThread)) {
                refusedInCallbackClosingOnTask.incrementAndGet();
            } else {
                refusedInCallbackClosing.incrementAndGet();
                violation("while closing, a callback on runtime thread " + Thread.currentThread().getName()
                        + " was refused: " + e.getMessage());
            }
        }

        // ---- the checks after close ------------------------------------------------------------

        void check() {
            CloseReport atClose = report;
            if (atClose == null) {
                fail(where() + ": no close report");
            }
            // What close() returned, plus what calls in flight accepted after its last sweep and then swept
            // themselves (every producer has ended by now).
            CloseReport r = kernel.closeReport().orElseThrow();
            if (!aliveAfterClose.isEmpty()) {
                List<String> unexpected = new ArrayList<>(aliveAfterClose);
                unexpected.removeAll(r.threadsNotStopped());
                if (!unexpected.isEmpty()) {
                    violation("runtime threads alive after close returned, not in threadsNotStopped: " + unexpected);
                }
            }
            if (!r.threadsNotStopped().isEmpty()) {
                violation("threads did not stop although no callback blocks: " + r.threadsNotStopped());
            }
            if ((mode == CloseMode.CLOSE || mode == CloseMode.IDLE_THEN_CLOSE)
                    && (!atClose.drained() || atClose.droppedAcceptedWork())) {
                if (droppedOnlyInFlight(atClose)) {
                    // Accepted by calls that were in flight while the close ran and published after it drained:
                    // the close's sweep after the threads stopped dropped and reported them, as it must.
                    soak.count("unbounded closes that dropped only what calls in flight accepted after the drain", 1);
                } else {
                    violation("an unbounded close() did not drain: " + r);
                }
            }
            if (r.panicked()) {
                violation("the kernel panicked: " + r);
            }
            // Names in the report, by list.
            Map<String, Integer> reported = new HashMap<>();
            Map<String, String> foreign = new TreeMap<>();
            tally(r.droppedWork(), "droppedWork", reported, foreign, EnumSet.of(Mechanism.WORK, Mechanism.DELAYED_WORK));
            tally(r.cancelledDelayedWork(), "cancelledDelayedWork", reported, foreign, EnumSet.of(Mechanism.DELAYED_WORK));
            tally(r.droppedTasklets(), "droppedTasklets", reported, foreign, EnumSet.of(Mechanism.TASKLET));
            tally(r.cancelledTimers(), "cancelledTimers", reported, foreign, EnumSet.of(Mechanism.TIMER));
            tally(r.cancelledHrtimers(), "cancelledHrtimers", reported, foreign, EnumSet.of(Mechanism.HRTIMER));
            for (Map.Entry<String, String> f : foreign.entrySet()) {
                soak.count("report names not of the producers' objects: " + f.getValue() + " " + f.getKey(), 1);
            }
            // Exact accounting per object.
            for (KernelEvent e : reports.events()) {
                if ((e.cause() != null && isRefusedDrain(e.cause())) || isRuntimeThreadRefusedAfterClosed(e)) {
                    refusedDrains.incrementAndGet();
                }
                if (isRuntimeThreadRefusedAfterClosed(e) && e.thread().startsWith("kworker/")) {
                    kworkerRefusalsLeft.incrementAndGet(); // each may have dropped the item it was processing
                }
                if (isRuntimeThreadRefusedAfterClosed(e) && e.message().matches("Oops: softirq (TASKLET|HI) .*")) {
                    taskletActionRefusals.incrementAndGet();
                }
                if (isRuntimeThreadRefusedAfterClosed(e) && e.thread().startsWith("cpu/")) {
                    cpuRefusals.incrementAndGet();
                }
                java.util.regex.Matcher m = TIMER_OOPS.matcher(e.message());
                if (isRuntimeThreadRefusedAfterClosed(e) && m.matches()) {
                    refusedTimerCallbacks.add(m.group(1)); // a delayed item's timer: its queueing was refused
                }
            }
            Map<Mechanism, long[]> sums = new EnumMap<>(Mechanism.class);
            for (Ledger l : ledgers) {
                long ran = l.ran.get();
                long acc = l.accepted.get();
                long rep = reported.getOrDefault(l.name, 0);
                long amb = l.ambiguous.get();
                long str = l.straddled.get();
                long surplus = ran + rep - acc - amb;
                long deficit = acc - ran - rep;
                // What the guarded bugs explain, each at most as often as its evidence allows.
                if (surplus > 0 && GUARD_REFUSED_CALLS_QUEUE_ANYWAY) {
                    long n = Math.min(surplus, str);
                    soak.count("GUARDED: items queued by a call that then failed with kernel is closed", n);
                    surplus -= n;
                }
                if (deficit > 0 && GUARD_REFUSED_CALLS_QUEUE_ANYWAY) {
                    long n = Math.min(deficit, str);
                    soak.count("GUARDED: acceptances taken away by a call that then failed with kernel is closed", n);
                    deficit -= n;
                }
                if (deficit > 0 && GUARD_ACCEPTED_AFTER_THE_CANCEL_PASS && closeBeganNs != 0 && l.lastAcceptNs > closeBeganNs) {
                    soak.count("GUARDED: " + l.mechanism + " acceptances completed after the close began, neither run"
                            + " nor reported", 1);
                    deficit--;
                }
                if (deficit > 0 && GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED
                        && ((l.mechanism == Mechanism.DELAYED_WORK && refusedTimerCallbacks.contains(l.name))
                            || ((l.mechanism == Mechanism.WORK || l.mechanism == Mechanism.DELAYED_WORK)
                                && kworkerRefusalsLeft.getAndDecrement() > 0)
                            || (l.mechanism == Mechanism.TASKLET && taskletActionRefusals.get() > 0))) {
                    soak.count("GUARDED: " + l.mechanism + " items lost by a runtime thread refused after CLOSED", 1);
                    deficit--;
                }
                if (deficit == 1 && GUARD_SHUT_DOWN_TIMER_EXPIRES && l.mechanism == Mechanism.TIMER
                        && l.subject instanceof TimerList shut && shut.isShutDown()) {
                    // Open in core: a timer armed while the close's timer pass shut it down (its mod_timer returned
                    // before the shutdown made later arms no-ops) is neither run nor reported (seed 8970908299307,
                    // round 370) — the same race family as the shut-down timer that expires.
                    soak.count("GUARDED: a TIMER armed while the close shut it down, neither run nor reported", 1);
                    deficit--;
                }
                if (deficit > 0 || surplus > 0) {
                    violation(l.mechanism + " " + l.name + ": ran " + ran + " + reported " + rep + " != accepted " + acc
                            + (amb > 0 ? " (+ up to " + amb + " mod_timer calls on a timer shut down by close)" : "")
                            + (str > 0 ? " (" + str + " calls refused after they began while open)" : "")
                            + "; now " + l.subject + internals(l.subject) + "; close began at 0, returned at +" + closeNs / 1000 + " µs; latest events:"
                            + l.history(closeBeganNs));
                }
                // (A name may be listed twice: an item queued again after the first cancel pass is dropped again.)
                long[] s = sums.computeIfAbsent(l.mechanism, k -> new long[3]);
                s[0] += acc;
                s[1] += ran;
                s[2] += rep;
            }
            sums.forEach((m, s) -> {
                soak.count(m + " accepted", s[0]);
                soak.count(m + " ran", s[1]);
                soak.count(m + " reported", s[2]);
            });
            // Coverage of what coalesces.
            for (int cpu = 0; cpu < CPUS; cpu++) {
                for (int v : VECTORS) {
                    int i = cpu * 32 + v;
                    if (raiseSeen.get(i) < raisedAccepted.get(i)) {
                        if (GUARD_ACCEPTED_AFTER_THE_CANCEL_PASS && closeBeganNs != 0 && raiseAcceptedNs.get(i) > closeBeganNs
                                && !r.droppedSoftirqs().contains("CLOSE" + v + " on CPU " + cpu)) {
                            soak.count("GUARDED: softirq raises accepted after the close began, neither run nor reported", 1);
                        } else if (!r.droppedSoftirqs().contains("CLOSE" + v + " on CPU " + cpu)) {
                            violation("softirq CLOSE" + v + " raised on CPU " + cpu + " (raise " + raisedAccepted.get(i)
                                    + ") never ran after it (latest run read " + raiseSeen.get(i) + ") and is not in "
                                    + r.droppedSoftirqs());
                        } else {
                            soak.count("softirq raises reported", 1);
                        }
                    }
                }
            }
            for (int line : LINES) {
                if (assertSeen.get(line) < assertAccepted.get(line)) {
                    String name = "irq " + line + " (" + (line == THREADED_LINE ? "closethr" : "close" + line) + ")";
                    boolean listed = r.droppedIrqs().stream().anyMatch(s -> s.startsWith(name));
                    if (!listed && GUARD_ACCEPTED_AFTER_THE_CANCEL_PASS && closeBeganNs != 0
                            && assertAcceptedNs.get(line) > closeBeganNs) {
                        soak.count("GUARDED: interrupts asserted after the close began, neither delivered nor reported", 1);
                    } else if (!listed && GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED && cpuRefusals.get() > 0) {
                        soak.count("GUARDED: interrupts lost by a cpu/N refused after CLOSED", 1);
                    } else if (!listed) {
                        violation(name + " asserted (assert " + assertAccepted.get(line) + ") was never delivered after"
                                + " it (latest handler read " + assertSeen.get(line) + ") and is not in " + r.droppedIrqs());
                    } else {
                        soak.count("interrupts reported", 1);
                    }
                }
            }
            if (threadSeen.get() < threadWoken.get()) {
                // A hard handler returned WAKE_THREAD; its thread function never ran after it.
                soak.count("IRQ thread wake-ups never run (no report list names them)", 1);
                if (mode == CloseMode.CLOSE || mode == CloseMode.IDLE_THEN_CLOSE) {
                    violation("an unbounded close() returned while the IRQ thread had a wake-up it never ran");
                }
            }
            long smpAccounted = smpRan.get() + r.droppedCalls();
            if (GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED && smpAccounted < smpReturned.get() && cpuRefusals.get() > 0) {
                soak.count("GUARDED: cross-CPU calls lost by a cpu/N refused after CLOSED", smpReturned.get() - smpAccounted);
            } else if (smpAccounted < smpReturned.get() || smpAccounted > smpReturned.get() + smpFailedWaiting.get()) {
                violation("cross-CPU calls: ran " + smpRan.get() + " + dropped " + r.droppedCalls() + " outside ["
                        + smpReturned.get() + ", " + (smpReturned.get() + smpFailedWaiting.get()) + "]");
            }
            soak.count("cross-CPU calls accepted", smpReturned.get());
            soak.count("cross-CPU calls dropped", r.droppedCalls());
            // Reports: the close's own NOTICE/WARN are expected; nothing else of weight.
            Set<String> seen = new HashSet<>();
            for (KernelEvent e : reports.events()) {
                if (GUARD_SHUT_DOWN_TIMER_EXPIRES && e.kind() == KernelEvent.Kind.WARNING
                        && e.message().matches("WARNING: timer \\S+ expired without a function.*")) {
                    soak.count("GUARDED: " + e.message(), 1);
                    continue;
                }
                if (GUARD_RUNTIME_THREADS_REFUSED_AFTER_CLOSED && isRuntimeThreadRefusedAfterClosed(e)) {
                    soak.count("GUARDED: Oops of a runtime thread refused after CLOSED: " + e.message()
                            .replaceAll("kworker/\\S+", "kworker/*"), 1);
                    continue;
                }
                if (e.kind() == KernelEvent.Kind.OOPS || e.kind() == KernelEvent.Kind.BUG
                        || e.kind() == KernelEvent.Kind.WARNING) {
                    violation("kernel report " + e.kind() + " on " + e.thread() + " (" + e.context() + "): " + e.message()
                            + (seen.add(e.message()) ? stackOf(e.cause()) : ""));
                }
            }
            soak.count("producer calls", producerCalls.get());
            soak.count("producer calls refused (kernel is closed)", producerRefused.get());
            soak.count("callbacks started after close returned", callbacksAfterClose.get());
            soak.count("callback calls refused while closing, on a task thread (softirq at local_bh_enable)",
                    refusedInCallbackClosingOnTask.get());
            soak.count("callback calls refused after the close (CLOSED)", refusedInCallbackClosed.get());
            soak.count("sleeps cut by the close", sleepsCutByClose.get());
            soak.count("signals observed by items", signalsObservedByItems.get());
            soak.count("kworker item starts checked for a leaked signal", kworkerItemStartsChecked.get());
            soak.count("tasklet schedules coalesced", coalescedSchedules.get());
            soak.count("GUARDED: rounds with a runtime thread refused after CLOSED", refusedDrains.get() > 0 ? 1 : 0);
            soak.count("softirq raises accepted", raisesAccepted.get());
            soak.count("interrupts asserted (accepted)", assertsAccepted.get());
            soak.count("dropped (any) in " + mode, r.droppedAcceptedWork() ? 1 : 0);
            soak.rounds.get(mode).incrementAndGet();
            soak.totalCloseNs(mode, closeNs);
            synchronized (violations) {
                if (!violations.isEmpty()) {
                    StringBuilder events = new StringBuilder();
                    for (KernelEvent e : reports.events()) {
                        if (e.kind() == KernelEvent.Kind.OOPS || e.kind() == KernelEvent.Kind.BUG
                                || e.kind() == KernelEvent.Kind.WARNING) {
                            events.append("\n  [").append(e.kind()).append(" on ").append(e.thread()).append("] ")
                                    .append(e.message());
                        }
                    }
                    fail(where() + ": " + String.join("\n  ", violations) + "\nreport: " + r
                            + (events.length() > 0 ? "\nthe round's OOPS/BUG/WARNING reports, guarded or not:" + events : ""));
                }
            }
        }

        /**
         * Whether everything an unbounded close dropped was accepted while the close was under way (by a call that
         * began while the kernel was open): then it may have been published after the close found the kernel
         * idle, and only the close's sweep after the threads stopped could see it.
         */
        private boolean droppedOnlyInFlight(CloseReport r) {
            if (r.droppedCalls() > 0 || r.panicked() || closeBeganNs == 0) {
                return false;
            }
            for (int cpu = 0; cpu < CPUS; cpu++) {
                for (int v : VECTORS) {
                    if (r.droppedSoftirqs().contains("CLOSE" + v + " on CPU " + cpu)
                            && raiseAcceptedNs.get(cpu * 32 + v) <= closeBeganNs) {
                        return false;
                    }
                }
            }
            for (int line : LINES) {
                String name = "irq " + line + " (" + (line == THREADED_LINE ? "closethr" : "close" + line) + ")";
                if (r.droppedIrqs().stream().anyMatch(d -> d.startsWith(name)) && assertAcceptedNs.get(line) <= closeBeganNs) {
                    return false;
                }
            }
            List<String> names = new ArrayList<>(r.droppedWork());
            names.addAll(r.droppedTasklets());
            for (String n : names) {
                Ledger l = byName.get(n);
                if (l == null || (l.straddled.get() == 0 && l.lastAcceptNs <= closeBeganNs)) {
                    return false;
                }
            }
            return true;
        }

        private void tally(List<String> names, String list, Map<String, Integer> reported, Map<String, String> foreign,
                Set<Mechanism> allowed) {
            for (String n : names) {
                Ledger l = byName.get(n);
                if (l == null) {
                    foreign.put(n, list);
                    continue;
                }
                if (!allowed.contains(l.mechanism) && GUARD_ACCEPTED_AFTER_THE_CANCEL_PASS && closeBeganNs != 0
                        && l.mechanism == Mechanism.DELAYED_WORK && list.equals("cancelledTimers") && l.lastAcceptNs > closeBeganNs) {
                    soak.count("GUARDED: delayed items re-armed after the delayed-work pass, reported as cancelled timers", 1);
                } else if (!allowed.contains(l.mechanism)) {
                    violation(l.mechanism + " " + n + " is named in " + list + "; now " + l.subject + internals(l.subject)
                            + "; close began at 0; latest events:" + l.history(closeBeganNs));
                }
                reported.merge(n, 1, Integer::sum);
            }
        }

        // ---- the idle check (IDLE_THEN_CLOSE rounds) -------------------------------------------

        /**
         * The producers have ended: waits until everything accepted ran, stops the chaos after one last
         * interrupt of every runtime thread, and measures the CPU time the idle kernel's threads use.
         */
        private void checkIdleCpu() throws InterruptedException {
            awaitQuiet("before the last interrupts");
            chaos.stop();
            chaos.interruptAllRuntimeThreads();
            awaitQuiet("after the last interrupts");
            Thread.sleep(20); // spin phases of the idle strategies end
            List<Thread> threads = new ArrayList<>(InterruptChaos.runtimeThreads(Internals.machine(kernel)));
            threads.addAll(watchdogs);
            Map<String, Long> used = InterruptChaos.cpuNanosOver(threads, IDLE_WINDOW_MS);
            long total = used.values().stream().mapToLong(Long::longValue).sum();
            long bound = (long) (TimeUnit.MILLISECONDS.toNanos(IDLE_WINDOW_MS) * IDLE_CPU_FRACTION);
            System.out.println("CloseSoakTest: round " + index + ": idle runtime threads used " + total / 1000 + " µs of CPU in "
                    + IDLE_WINDOW_MS + " ms (bound " + bound / 1000 + " µs): " + micros(used));
            if (total >= bound) {
                violation("idle runtime threads used " + total / 1000 + " µs of CPU in " + IDLE_WINDOW_MS + " ms (bound "
                        + bound / 1000 + " µs): " + micros(used));
            }
            soak.count("idle CPU checks", 1);
        }

        private static Map<String, Long> micros(Map<String, Long> ns) {
            Map<String, Long> m = new TreeMap<>();
            ns.forEach((k, v) -> m.put(k, v / 1000));
            return m;
        }

        /** Waits until every object's acceptances ran and the kernel is idle, stable over 3 polls 1 ms apart. */
        private void awaitQuiet(String when) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            int stable = 0;
            while (stable < 3) {
                stable = quiet() ? stable + 1 : 0;
                if (System.nanoTime() > deadline) {
                    StringBuilder sb = new StringBuilder();
                    for (Ledger l : ledgers) {
                        if (!l.idle()) {
                            sb.append(l.name).append(" accepted=").append(l.accepted).append(" ran=").append(l.ran)
                                    .append(" chain=").append(l.chainLeft).append("; ");
                        }
                    }
                    fail(where() + ": the kernel did not quiesce " + when + " within 30 s: " + sb + "\n" + allStacks());
                }
                Thread.sleep(1);
            }
        }

        private boolean quiet() {
            for (Ledger l : ledgers) {
                if (!l.idle()) {
                    return false;
                }
            }
            for (int i = 0; i < raised.length(); i++) {
                if (raiseSeen.get(i) < raisedAccepted.get(i)) {
                    return false;
                }
            }
            for (int line : LINES) {
                if (assertSeen.get(line) < assertAccepted.get(line)) {
                    return false;
                }
            }
            return threadSeen.get() >= threadWoken.get() && Internals.machine(kernel).idleForClose()
                    && Subsystems.irq().idleForClose(kernel.irqs()) && Subsystems.tasklet().idleForClose(kernel.tasklets())
                    && Subsystems.workqueue().idleForClose(kernel.workqueues());
        }
    }

    private final Map<CloseMode, long[]> closeTimes = new EnumMap<>(CloseMode.class);

    private synchronized void totalCloseNs(CloseMode mode, long ns) {
        long[] t = closeTimes.computeIfAbsent(mode, k -> new long[2]);
        t[0] += ns;
        t[1] = Math.max(t[1], ns);
        count("close µs total " + mode, ns / 1000);
        totals.computeIfAbsent("close µs max " + mode, k -> new AtomicLong()).accumulateAndGet(ns / 1000, Math::max);
    }

    @FunctionalInterface
    interface BoolCall {
        boolean call();
    }

    static boolean isClosedRefusal(IllegalStateException e) {
        return e.getMessage() != null && e.getMessage().startsWith("kernel is closed");
    }

    /** The package-private state of a work item, read reflectively, for a failure message (empty if unreadable). */
    static String internals(Object subject) {
        Object w = subject instanceof DelayedWork dw ? dw.work() : subject;
        if (!(w instanceof Work)) {
            return "";
        }
        StringBuilder sb = new StringBuilder(" {");
        for (String f : List.of("data", "pwq", "list", "inactive", "lastPool", "lastWq", "queuedSeq", "doneSeq", "cancelledSeq")) {
            try {
                java.lang.reflect.Field field = Work.class.getDeclaredField(f);
                field.setAccessible(true);
                sb.append(f).append('=').append(field.get(w)).append(' ');
            } catch (ReflectiveOperationException | RuntimeException e) {
                return "";
            }
        }
        return sb.append('}').toString();
    }

    /** The first frames of {@code t} and its causes, for a failure message. */
    static String stackOf(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            sb.append("\n      ").append(c == t ? "" : "caused by ").append(c);
            StackTraceElement[] frames = c.getStackTrace();
            for (int i = 0; i < Math.min(frames.length, 25); i++) {
                sb.append("\n        at ").append(frames[i]);
            }
        }
        return sb.toString();
    }

    static String allStacks() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            sb.append('"').append(e.getKey().getName()).append("\" ").append(e.getKey().getState()).append('\n');
            for (StackTraceElement f : e.getValue()) {
                sb.append("    at ").append(f).append('\n');
            }
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------
    // Producers and their objects
    // ------------------------------------------------------------------------------------------

    /** One producer thread with the objects only it (and their own callbacks) submits. */
    private static final class Producer {
        final Round round;
        final Kernel kernel;
        final int id;
        final SplittableRandom rnd;
        final Thread thread;
        final InterruptChaos.Gate gate;
        volatile Throwable failure;

        final Work[] plain = new Work[4];
        final Ledger[] plainL = new Ledger[4];
        final Work[] chain = new Work[2];
        final Ledger[] chainL = new Ledger[2];
        final Workqueue[] chainWq = new Workqueue[2];
        final Work[] sleeper = new Work[2];
        final Ledger[] sleeperL = new Ledger[2];
        final DelayedWork[] delayed = new DelayedWork[3];
        final Ledger[] delayedL = new Ledger[3];
        final Tasklet[] tasklet = new Tasklet[3];
        final Ledger[] taskletL = new Ledger[3];
        Tasklet chainTasklet;
        Ledger chainTaskletL;
        final TimerList[] timer = new TimerList[3];
        final Ledger[] timerL = new Ledger[3];
        TimerList chainTimer;
        Ledger chainTimerL;
        final HrTimer[] hrtimer = new HrTimer[3];
        final Ledger[] hrtimerL = new Ledger[3];
        HrTimer chainHrtimer;
        Ledger chainHrtimerL;
        final Relay[] relays = new Relay[2];

        Producer(Round round, int id, SplittableRandom rnd) {
            this.round = round;
            this.kernel = round.kernel;
            this.id = id;
            this.rnd = rnd;
            String p = "p" + id + ".";
            for (int i = 0; i < plain.length; i++) {
                Ledger l = plainL[i] = round.ledger(p + "work" + i, Mechanism.WORK);
                plain[i] = new Work(l.name, w -> workBody(l, w, null));
            }
            for (int i = 0; i < chain.length; i++) {
                Ledger l = chainL[i] = round.ledger(p + "chain" + i, Mechanism.WORK);
                int k = i;
                chain[i] = new Work(l.name, w -> workBody(l, w, () -> {
                    if (l.chainLeft.getAndDecrement() > 0) {
                        Workqueue cwq = chainWq[k];
                        Boolean q = round.kcall(l, "requeue on " + cwq.name(), () -> kernel.workqueues().queue(cwq, w));
                        if (Boolean.TRUE.equals(q)) {
                            l.accept();
                        }
                    }
                }));
            }
            for (int i = 0; i < sleeper.length; i++) {
                Ledger l = sleeperL[i] = round.ledger(p + "sleeper" + i, Mechanism.WORK);
                sleeper[i] = new Work(l.name, w -> workBody(l, w, () -> sleep(l)));
            }
            for (int i = 0; i < delayed.length; i++) {
                Ledger l = delayedL[i] = round.ledger(p + "delayed" + i, Mechanism.DELAYED_WORK);
                delayed[i] = new DelayedWork(l.name, w -> workBody(l, w, null));
            }
            for (int i = 0; i < tasklet.length; i++) {
                Ledger l = taskletL[i] = round.ledger(p + "tasklet" + i, Mechanism.TASKLET);
                tasklet[i] = Tasklet.setup(l.name, t -> {
                    l.enter();
                    round.entered();
                });
            }
            chainTaskletL = round.ledger(p + "chaintasklet", Mechanism.TASKLET);
            chainTasklet = Tasklet.setup(chainTaskletL.name, t -> {
                Ledger l = chainTaskletL;
                l.enter();
                round.entered();
                if (l.chainLeft.decrementAndGet() > 0) {
                    boolean hi = (l.ran.get() & 1) == 0;
                    Boolean ok = round.kcall(() -> {
                        if (hi) {
                            kernel.tasklets().hiSchedule(t);
                        } else {
                            kernel.tasklets().schedule(t);
                        }
                        return true;
                    });
                    if (ok != null) {
                        l.accept();
                    } else {
                        l.chainLeft.set(0);
                    }
                }
            });
            for (int i = 0; i < timer.length; i++) {
                Ledger l = timerL[i] = round.ledger(p + "timer" + i, Mechanism.TIMER);
                timer[i] = TimerList.setup(l.name, t -> {
                    l.enter();
                    round.entered();
                }, i == 2 ? TimerList.TIMER_PINNED : 0);
            }
            chainTimerL = round.ledger(p + "chaintimer", Mechanism.TIMER);
            chainTimer = TimerList.setup(chainTimerL.name, t -> {
                Ledger l = chainTimerL;
                l.enter();
                round.entered();
                if (l.chainLeft.getAndDecrement() > 0) {
                    modCounted(l, t, 1 + (l.ran.get() % 3), true);
                }
            }, 0);
            for (int i = 0; i < hrtimer.length; i++) {
                Ledger l = hrtimerL[i] = round.ledger(p + "hrtimer" + i, Mechanism.HRTIMER);
                hrtimer[i] = new HrTimer();
            }
            chainHrtimerL = round.ledger(p + "chainhrtimer", Mechanism.HRTIMER);
            chainHrtimer = new HrTimer();
            for (int i = 0; i < relays.length; i++) {
                relays[i] = new Relay(this, p + "relay" + i);
            }
            for (int i = 0; i < plain.length; i++) {
                plainL[i].subject = plain[i];
            }
            for (int i = 0; i < chain.length; i++) {
                chainL[i].subject = chain[i];
            }
            for (int i = 0; i < sleeper.length; i++) {
                sleeperL[i].subject = sleeper[i];
            }
            for (int i = 0; i < delayed.length; i++) {
                delayedL[i].subject = delayed[i];
            }
            for (int i = 0; i < tasklet.length; i++) {
                taskletL[i].subject = tasklet[i];
            }
            chainTaskletL.subject = chainTasklet;
            for (int i = 0; i < timer.length; i++) {
                timerL[i].subject = timer[i];
            }
            chainTimerL.subject = chainTimer;
            for (int i = 0; i < hrtimer.length; i++) {
                hrtimerL[i].subject = hrtimer[i];
            }
            chainHrtimerL.subject = chainHrtimer;
            Thread t = Thread.ofPlatform().name("close-soak-producer-" + round.index + "-" + id).unstarted(this::run);
            this.thread = t;
            this.gate = round.chaos.gate(t);
        }

        /** Set-up that needs the kernel (hrtimer_setup): on the test thread, bound, before the producers start. */
        void setUpTimers() {
            for (int i = 0; i < hrtimer.length; i++) {
                Ledger l = hrtimerL[i];
                kernel.hrtimers().setup(hrtimer[i], l.name, h -> {
                    l.enter();
                    round.entered();
                    return HrTimer.Restart.NORESTART;
                }, i == 2 ? HrTimers.mode(HrTimer.Mode.REL, HrTimer.Mode.SOFT) : HrTimers.mode(HrTimer.Mode.REL));
            }
            Ledger cl = chainHrtimerL;
            kernel.hrtimers().setup(chainHrtimer, cl.name, h -> {
                cl.enter();
                round.entered();
                if (cl.chainLeft.get() > 1) {
                    kernel.hrtimers().forwardNow(h, 30_000 + 10_000 * (cl.ran.get() % 5));
                    cl.accept();
                    cl.chainLeft.decrementAndGet();
                    return HrTimer.Restart.RESTART;
                }
                cl.chainLeft.set(0);
                return HrTimer.Restart.NORESTART;
            }, HrTimers.mode(HrTimer.Mode.REL));
            for (Relay r : relays) {
                r.setUpTimer();
            }
        }

        void start() {
            thread.start();
        }

        private void run() {
            try {
                int afterClose = 0;
                while (true) {
                    if (round.closeReturned.get() && ++afterClose > CALLS_AFTER_CLOSE) {
                        break;
                    }
                    if (round.stopProducers.get() && !round.closeReturned.get() && !round.kernel.isClosed()) {
                        break; // an idle round: stop before the close
                    }
                    gate.open();
                    step();
                    gate.closeAndClear();
                }
            } catch (Throwable t) {
                failure = t;
            } finally {
                gate.closeAndClear();
                if (!round.kernel.isTerminated()) {
                    round.kernel.detachCurrentThread();
                }
            }
        }

        /**
         * One call of the producer's API: checks the close rules (a call begun after the close began must be
         * refused; none is refused while the kernel is open) and that the call keeps the task's interrupt.
         *
         * @return the call's result, or null when it was refused ({@code kernel is closed})
         */
        /** {@link #call(String, BoolCall)} on {@code l}'s object, with the outcome in its trace. */
        Boolean call(Ledger l, String what, BoolCall c) {
            long t0 = System.nanoTime();
            boolean closingBefore = kernel.isClosed();
            Boolean r = call(what, c);
            boolean closingAfter = kernel.isClosed();
            if (r == null && !closingBefore) {
                l.straddled.incrementAndGet(); // refused, though it began while the kernel was open
            }
            if (r == null && closingBefore) {
                return null; // refused at its entry, as it must be: not worth a line of the trace
            }
            long began = round.closeBeganNs;
            l.note(what + " -> " + (r == null ? "refused" : r) + " (call began " + (began == 0 ? "before the close"
                    : String.format("at %+.1f µs", (t0 - began) / 1000.0)) + ", " + (closingBefore ? "closing" : "open")
                    + " -> " + (closingAfter ? "closing" : "open") + ")");
            return r;
        }

        Boolean call(String what, BoolCall c) {
            boolean returnedBefore = round.closeReturned.get();
            boolean closingBefore = kernel.isClosed();
            boolean interruptedBefore = Thread.currentThread().isInterrupted();
            round.producerCalls.incrementAndGet();
            CALL.set(what);
            try {
                boolean r = c.call();
                if (closingBefore) {
                    round.returnedAfterCloseBegan(what + " returned normally (" + r + ")", returnedBefore);
                }
                return r;
            } catch (IllegalStateException e) {
                if (!isClosedRefusal(e)) {
                    throw e;
                }
                if (!kernel.isClosed()) {
                    round.violation(what + " was refused while the kernel is open: " + e.getMessage());
                }
                round.producerRefused.incrementAndGet();
                return null;
            } finally {
                if (interruptedBefore && !Thread.currentThread().isInterrupted()) {
                    round.violation(what + " cleared the calling task's interrupt status");
                }
            }
        }

        private Workqueue anyWq(boolean allowBh) {
            return switch (rnd.nextInt(allowBh ? 7 : 5)) {
                case 0 -> round.pcpu;
                case 1 -> round.unbound;
                case 2 -> round.ordered;
                case 3 -> kernel.workqueues().systemWq();
                case 4 -> kernel.workqueues().systemUnboundWq();
                case 5 -> round.bh;
                default -> kernel.workqueues().systemBhWq();
            };
        }

        private void step() {
            int cpu = rnd.nextInt(CPUS);
            Boolean bound = call("bindCurrentThread", () -> kernel.bindCurrentThread(cpu) != null);
            ExecutionContext ctx = Boolean.TRUE.equals(bound) ? ExecutionContext.currentOrNull() : null;
            switch (rnd.nextInt(20)) {
                case 0, 1 -> queuePlain();
                case 2 -> queueChain();
                case 3 -> queueSleeper();
                case 4, 5 -> delayed();
                case 6, 7 -> scheduleTasklet();
                case 8 -> bhSection(ctx);
                case 9 -> raise(ctx);
                case 10, 11 -> assertIrq();
                case 12, 13 -> timer();
                case 14 -> hrtimer();
                case 15 -> smpCall();
                case 16 -> relays[rnd.nextInt(relays.length)].start();
                case 17 -> cancelOrFlush();
                case 18 -> startChains();
                default -> {
                    if (rnd.nextBoolean()) {
                        Thread.yield();
                    } else {
                        Thread.onSpinWait();
                    }
                }
            }
        }

        private void queuePlain() {
            int i = rnd.nextInt(plain.length);
            Ledger l = plainL[i];
            boolean wasIdle = l.idle();
            Workqueue wq = anyWq(true);
            int target = rnd.nextInt(CPUS + 1) - 1;
            Boolean q = call(l, "queue_work_on(" + target + ", " + wq.name() + ")",
                    () -> target < 0 ? kernel.workqueues().queue(wq, plain[i]) : kernel.workqueues().queueOn(target, wq, plain[i]));
            if (Boolean.TRUE.equals(q)) {
                l.accept();
            } else if (Boolean.FALSE.equals(q) && wasIdle && !kernel.isClosed()) {
                round.violation("queue_work(" + l.name + ") returned false although every earlier acceptance had"
                        + " started (the item is not pending)");
            }
        }

        private void queueChain() {
            int i = rnd.nextInt(chain.length);
            Ledger l = chainL[i];
            Workqueue wq = anyWq(true);
            chainWq[i] = wq;
            l.chainLeft.set(1 + rnd.nextInt(4));
            Boolean q = call(l, "queue_work(" + wq.name() + ")", () -> kernel.workqueues().queue(wq, chain[i]));
            if (Boolean.TRUE.equals(q)) {
                l.accept();
            }
        }

        private void queueSleeper() {
            int i = rnd.nextInt(sleeper.length);
            Ledger l = sleeperL[i];
            Workqueue wq = anyWq(false);
            Boolean q = call(l, "queue_work(" + wq.name() + ")", () -> kernel.workqueues().queue(wq, sleeper[i]));
            if (Boolean.TRUE.equals(q)) {
                l.accept();
            }
        }

        private void delayed() {
            int i = rnd.nextInt(delayed.length);
            Ledger l = delayedL[i];
            DelayedWork dw = delayed[i];
            long delay = rnd.nextInt(6);
            Workqueue wq = anyWq(false);
            switch (rnd.nextInt(4)) {
                case 0, 1 -> {
                    boolean wasIdle = l.idle();
                    int target = rnd.nextInt(CPUS + 1) - 1;
                    Boolean q = call(l, "queue_delayed_work_on(" + target + ", " + wq.name() + ", " + delay + ")",
                            () -> kernel.workqueues().queueDelayedOn(target, wq, dw, delay));
                    if (Boolean.TRUE.equals(q)) {
                        l.accept();
                    } else if (Boolean.FALSE.equals(q) && wasIdle && !kernel.isClosed()) {
                        round.violation("queue_delayed_work(" + l.name + ") returned false although it is not pending");
                    }
                }
                case 2 -> {
                    Boolean wasPending = call(l, "mod_delayed_work(" + wq.name() + ", " + delay + ")", () -> kernel.workqueues().modDelayed(wq, dw, delay));
                    if (Boolean.TRUE.equals(wasPending)) {
                        l.lastAcceptNs = System.nanoTime(); // re-timed: armed anew
                    }
                    if (Boolean.FALSE.equals(wasPending)) {
                        l.accept();
                    }
                }
                default -> {
                    Boolean c = call(l, "cancel_delayed_work", () -> kernel.workqueues().cancelDelayed(dw));
                    if (Boolean.TRUE.equals(c)) {
                        l.unaccept();
                    }
                }
            }
        }

        private void scheduleTasklet() {
            int i = rnd.nextInt(tasklet.length);
            Ledger l = taskletL[i];
            if (!l.idle()) {
                return; // a schedule now may or may not coalesce: not countable
            }
            boolean hi = rnd.nextBoolean();
            Boolean ok = call("tasklet_schedule(" + l.name + ")", () -> {
                if (hi) {
                    kernel.tasklets().hiSchedule(tasklet[i]);
                } else {
                    kernel.tasklets().schedule(tasklet[i]);
                }
                return true;
            });
            if (ok != null) {
                l.accept();
            }
        }

        /**
         * Inside one BH-disabled section on this CPU: an idle tasklet scheduled twice (the second schedule
         * coalesces: its softirq cannot run on this CPU meanwhile), a raise, an assert.
         */
        private void bhSection(ExecutionContext ctx) {
            if (GUARD_NO_BH_SECTION_ACROSS_CLOSE) {
                if (!round.bhSections.readLock().tryLock()) {
                    return;
                }
                try {
                    if (!kernel.isClosed()) {
                        bhSectionUnguarded(ctx);
                    }
                } finally {
                    round.bhSections.readLock().unlock();
                }
            } else {
                bhSectionUnguarded(ctx);
            }
        }

        private void bhSectionUnguarded(ExecutionContext ctx) {
            if (ctx == null) {
                call("tasklet_schedule (unbound task)", () -> {
                    kernel.tasklets().schedule(tasklet[0]);
                    return true;
                });
                return;
            }
            try {
                ctx.localBhDisable();
            } catch (IllegalStateException e) {
                // A task waiting for its CPU's BH level gives up once the kernel is closed: a refusal like any other.
                if (!kernel.isClosed() || e.getMessage() == null || !e.getMessage().startsWith("kernel is closed")) {
                    throw e;
                }
                return;
            }
            try {
                int i = rnd.nextInt(tasklet.length);
                Ledger l = taskletL[i];
                if (l.idle()) {
                    int accepted = 0;
                    for (int n = 0; n < 2; n++) {
                        Boolean ok = call("tasklet_schedule(" + l.name + ") with BH disabled", () -> {
                            kernel.tasklets().schedule(tasklet[i]);
                            return true;
                        });
                        if (ok != null) {
                            if (accepted == 0) {
                                l.accept();
                            } else {
                                round.coalescedSchedules.incrementAndGet();
                            }
                            accepted++;
                            if (!tasklet[i].isScheduled()) {
                                round.violation("tasklet " + l.name + " not scheduled right after a schedule with BH disabled");
                            }
                        }
                    }
                }
                raise(ctx);
                if (rnd.nextBoolean()) {
                    assertIrq();
                }
                for (int s = rnd.nextInt(300); s > 0; s--) {
                    Thread.onSpinWait();
                }
            } finally {
                ctx.localBhEnable(); // runs this CPU's pending softirqs on this thread
            }
        }

        /**
         * raise_softirq on the task's CPU, counted first. Without a context (its bind was refused: the close
         * began) the call must be refused and is not counted.
         */
        private void raise(ExecutionContext ctx) {
            int v = VECTORS[rnd.nextInt(VECTORS.length)];
            int idx = (ctx == null ? 0 : ctx.cpuId()) * 32 + v;
            long n = ctx == null ? 0 : round.raised.incrementAndGet(idx);
            Boolean ok = call("raise_softirq(" + v + ")", () -> {
                kernel.softirqs().raise(v);
                return true;
            });
            if (ok != null && ctx != null) {
                round.raisesAccepted.incrementAndGet();
                round.raisedAccepted.accumulateAndGet(idx, n, Math::max);
                round.raiseAcceptedNs.accumulateAndGet(idx, System.nanoTime(), Math::max);
            }
        }

        private void assertIrq() {
            int line = LINES[rnd.nextInt(LINES.length)];
            long n = round.asserted.incrementAndGet(line);
            Boolean ok = call("assertIrq(" + line + ")", () -> {
                kernel.irqs().assertIrq(line);
                return true;
            });
            if (ok != null) {
                round.assertsAccepted.incrementAndGet();
                round.assertAccepted.accumulateAndGet(line, n, Math::max);
                round.assertAcceptedNs.accumulateAndGet(line, System.nanoTime(), Math::max);
            }
        }

        private void timer() {
            int i = rnd.nextInt(timer.length);
            Ledger l = timerL[i];
            if (rnd.nextInt(4) == 0) {
                Boolean wasPending = call("del_timer(" + l.name + ")", () -> kernel.timers().delete(timer[i]) == 1);
                if (Boolean.TRUE.equals(wasPending)) {
                    l.unaccept();
                }
                return;
            }
            boolean wasIdle = l.idle();
            Boolean wasPending = modCounted(l, timer[i], rnd.nextInt(5), false);
            if (Boolean.TRUE.equals(wasPending) && wasIdle && !kernel.isClosed()) {
                round.violation("mod_timer(" + l.name + ") returned 1 although every arming had fired");
            }
        }

        /** mod_timer(t, jiffies + delay), counted: 0 is an arming (ambiguous if the close shut the timer down). */
        Boolean modCounted(Ledger l, TimerList t, long delay, boolean fromCallback) {
            BoolCall c = () -> kernel.timers().modAfter(t, delay) == 1;
            Boolean wasPending = fromCallback ? round.kcall(l, "mod_timer", c) : call(l, "mod_timer", c);
            if (Boolean.TRUE.equals(wasPending)) {
                l.lastAcceptNs = System.nanoTime(); // re-timed (and maybe moved to this CPU's base): armed anew
            }
            if (Boolean.FALSE.equals(wasPending)) {
                if (t.isShutDown()) {
                    l.ambiguousArm();
                } else {
                    l.accept();
                }
            }
            return wasPending;
        }

        private void hrtimer() {
            int i = rnd.nextInt(hrtimer.length);
            Ledger l = hrtimerL[i];
            HrTimer h = hrtimer[i];
            boolean soft = i == 2;
            int[] ret = new int[1];
            Boolean cancelled = call("hrtimer_try_to_cancel(" + l.name + ")", () -> (ret[0] = kernel.hrtimers().tryToCancel(h)) == 1);
            if (Boolean.TRUE.equals(cancelled)) {
                l.unaccept();
            }
            // -1: the callback runs, and the timer may be queued again meanwhile: a start now might only move it
            if (cancelled == null || ret[0] < 0 || rnd.nextInt(5) == 0) {
                return;
            }
            long ns = 10_000 + rnd.nextLong(2_000_000);
            Boolean ok = call("hrtimer_start(" + l.name + ")", () -> {
                kernel.hrtimers().start(h, ns, soft ? HrTimers.mode(HrTimer.Mode.REL, HrTimer.Mode.SOFT)
                        : HrTimers.mode(HrTimer.Mode.REL));
                return true;
            });
            if (ok != null) {
                l.accept();
            }
        }

        private void smpCall() {
            int target = rnd.nextInt(CPUS);
            boolean wait = rnd.nextInt(4) == 0;
            AtomicBoolean ran = new AtomicBoolean();
            Runnable fn = () -> {
                round.entered();
                round.smpRan.incrementAndGet();
                ran.set(true);
            };
            boolean returnedBefore = round.closeReturned.get();
            boolean closingBefore = kernel.isClosed();
            round.producerCalls.incrementAndGet();
            try {
                kernel.smpCallFunctionSingle(target, fn, wait);
                if (closingBefore) {
                    round.returnedAfterCloseBegan("smp_call_function_single returned normally", returnedBefore);
                }
                round.smpReturned.incrementAndGet();
                if (wait && !ran.get() && GUARD_SMP_CALL_WAITER_RELEASED_AS_DONE && kernel.isClosed()) {
                    round.soak.count("GUARDED: smp_call_function_single(wait) returned although its call was dropped", 1);
                } else if (wait && !ran.get()) {
                    round.violation("smp_call_function_single(" + target + ", wait) returned but the function never ran"
                            + (kernel.isClosed() ? " (the kernel was closing)" : ""));
                }
            } catch (IllegalStateException e) {
                if (!isClosedRefusal(e)) {
                    throw e;
                }
                round.producerRefused.incrementAndGet();
                if (wait) {
                    round.smpFailedWaiting.incrementAndGet(); // refused at entry, or failed while it waited
                }
            }
        }

        private void cancelOrFlush() {
            int i = rnd.nextInt(plain.length);
            Ledger l = plainL[i];
            switch (rnd.nextInt(3)) {
                case 0 -> {
                    Boolean c = call(l, "cancel_work", () -> kernel.workqueues().cancel(plain[i]));
                    if (Boolean.TRUE.equals(c)) {
                        l.unaccept();
                    }
                }
                case 1 -> {
                    Boolean c = call(l, "cancel_work_sync", () -> kernel.workqueues().cancelSync(plain[i]));
                    if (Boolean.TRUE.equals(c)) {
                        l.unaccept();
                    }
                }
                default -> call("flush_work(" + l.name + ")", () -> kernel.workqueues().flush(plain[i]));
            }
        }

        /** Starts the tasklet and hrtimer chains when their previous chain is over. */
        private void startChains() {
            if (rnd.nextBoolean()) {
                Ledger l = chainTaskletL;
                if (l.idle()) {
                    l.chainLeft.set(1 + rnd.nextInt(4));
                    Boolean ok = call("tasklet_hi_schedule(chain)", () -> {
                        kernel.tasklets().hiSchedule(chainTasklet);
                        return true;
                    });
                    if (ok != null) {
                        l.accept();
                    } else {
                        l.chainLeft.set(0);
                    }
                }
                Ledger tl = chainTimerL;
                tl.chainLeft.set(1 + rnd.nextInt(3));
                modCounted(tl, chainTimer, rnd.nextInt(3), false);
            } else {
                Ledger l = chainHrtimerL;
                if (l.idle()) {
                    l.chainLeft.set(1 + rnd.nextInt(4));
                    Boolean ok = call("hrtimer_start(chain)", () -> {
                        kernel.hrtimers().start(chainHrtimer, 20_000 + rnd.nextInt(200_000), HrTimers.mode(HrTimer.Mode.REL));
                        return true;
                    });
                    if (ok != null) {
                        l.accept();
                    } else {
                        l.chainLeft.set(0);
                    }
                }
            }
        }

        // ---- callbacks ----------------------------------------------------------------------------

        /**
         * A work function: counts the start, checks on a kworker that no earlier item's signal is pending, runs
         * {@code body}, and tells the chaos the item returned.
         */
        void workBody(Ledger l, Work w, Runnable body) {
            l.enter();
            round.entered();
            Thread me = Thread.currentThread();
            boolean kworker = me instanceof KernelThread && me.getName().startsWith("kworker/");
            if (kworker) {
                round.kworkerItemStartsChecked.incrementAndGet();
                String leak = round.chaos.leakedInto(me, l.name);
                if (leak != null) {
                    round.violation(leak);
                }
            }
            try {
                if (body != null) {
                    body.run();
                }
                if (kworker && me.isInterrupted()) {
                    round.signalsObservedByItems.incrementAndGet();
                }
            } finally {
                if (kworker) {
                    round.chaos.itemReturned(me, l.name);
                }
            }
        }

        /** A sleeping item's body: one of the sleeping helpers, chosen by its run count. */
        void sleep(Ledger l) {
            boolean before = Thread.currentThread().isInterrupted();
            int kind = (int) (l.ran.get() % 5);
            try {
                switch (kind) {
                    case 0 -> kernel.timers().msleep(1);
                    case 1 -> kernel.timers().usleepRange(100, 300);
                    case 2 -> kernel.timers().mdelay(1);
                    case 3 -> kernel.timers().msleepInterruptible(2);
                    default -> kernel.timers().scheduleTimeoutInterruptible(2);
                }
            } catch (IllegalStateException e) {
                if (!isClosedRefusal(e)) {
                    round.violation("a sleep failed: " + e);
                } else if (!kernel.isTerminated()) {
                    round.refusedInCallback(e);
                } else {
                    round.sleepsCutByClose.incrementAndGet();
                }
                return;
            }
            if (before && (kind == 0 || kind == 1) && !Thread.currentThread().isInterrupted()) {
                round.violation("an uninterruptible sleep (" + (kind == 0 ? "msleep" : "usleep_range")
                        + ") cleared the item's pending signal");
            }
        }
    }

    /** A relay across mechanisms: work → timer → tasklet → hrtimer → work, each step counted on its own ledger. */
    private static final class Relay {
        final Producer producer;
        final Round round;
        final Kernel kernel;
        final Ledger workL;
        final Ledger timerL;
        final Ledger taskletL;
        final Ledger hrtimerL;
        final Ledger lastL;
        final Work work;
        final TimerList timer;
        final Tasklet tasklet;
        final HrTimer hrtimer = new HrTimer();
        final Work last;

        Relay(Producer producer, String name) {
            this.producer = producer;
            this.round = producer.round;
            this.kernel = round.kernel;
            workL = round.ledger(name + ".work", Mechanism.WORK);
            timerL = round.ledger(name + ".timer", Mechanism.TIMER);
            taskletL = round.ledger(name + ".tasklet", Mechanism.TASKLET);
            hrtimerL = round.ledger(name + ".hrtimer", Mechanism.HRTIMER);
            lastL = round.ledger(name + ".last", Mechanism.WORK);
            last = new Work(lastL.name, w -> producer.workBody(lastL, w, null));
            tasklet = Tasklet.setup(taskletL.name, t -> {
                taskletL.enter();
                round.entered();
                // only this tasklet's callback starts the hrtimer, and it never overlaps itself
                int[] ret = new int[1];
                Boolean c = round.kcall(() -> (ret[0] = kernel.hrtimers().tryToCancel(hrtimer)) == 1);
                if (Boolean.TRUE.equals(c)) {
                    hrtimerL.unaccept();
                }
                // (-1: its callback runs, and it may be queued again meanwhile; a start would only move it)
                if (c != null && ret[0] >= 0 && round.kcall(() -> {
                    kernel.hrtimers().start(hrtimer, 20_000 + 1_000 * (taskletL.ran.get() % 100),
                            HrTimers.mode(HrTimer.Mode.REL));
                    return true;
                }) != null) {
                    hrtimerL.accept();
                }
            });
            timer = TimerList.setup(timerL.name, t -> {
                timerL.enter();
                round.entered();
                // only this timer's callback schedules the tasklet: when idle, each schedule is one acceptance
                if (taskletL.idle() && round.kcall(() -> {
                    kernel.tasklets().schedule(tasklet);
                    return true;
                }) != null) {
                    taskletL.accept();
                }
            }, 0);
            work = new Work(workL.name, w -> producer.workBody(workL, w, () -> producer.modCounted(timerL, timer,
                    workL.ran.get() % 3, true)));
            workL.subject = work;
            timerL.subject = timer;
            taskletL.subject = tasklet;
            hrtimerL.subject = hrtimer;
            lastL.subject = last;
        }

        void setUpTimer() {
            kernel.hrtimers().setup(hrtimer, hrtimerL.name, h -> {
                hrtimerL.enter();
                round.entered();
                Boolean q = round.kcall(lastL, "queue_work(events)", () -> kernel.workqueues().queue(kernel.workqueues().systemWq(), last));
                if (Boolean.TRUE.equals(q)) {
                    lastL.accept();
                }
                return HrTimer.Restart.NORESTART;
            }, HrTimers.mode(HrTimer.Mode.REL));
        }

        void start() {
            Workqueue wq = producer.anyWq(true);
            Boolean q = producer.call(workL, "queue_work(" + wq.name() + ")", () -> kernel.workqueues().queue(wq, work));
            if (Boolean.TRUE.equals(q)) {
                workL.accept();
            }
        }
    }
}
