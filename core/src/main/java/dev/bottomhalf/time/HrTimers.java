package dev.bottomhalf.time;

import dev.bottomhalf.internal.jfr.HrTimerEvent;
import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;

import dev.bottomhalf.internal.sync.RawSpinLock;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.internal.runtime.InterruptSource;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.internal.wiring.Subsystems;

/**
 * High-resolution timers of one kernel ({@code kernel/time/hrtimer.c}, high-resolution mode,
 * {@code CLOCK_MONOTONIC}): per-CPU queues ordered by expiry, a per-CPU timer interrupt programmed for the
 * first expiry, hard timers run in that interrupt, soft timers in HRTIMER_SOFTIRQ. Thread-safe.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>Each CPU has one base ({@code hrtimer_cpu_base}) with a spin lock and two queues, hard and soft,
 * each a binary min-heap on (expiry, arming order) stored in a growable array — arming allocates nothing
 * once the array is large enough — plus the queue's running timer.</li>
 * <li>The interrupt is an interrupt source of the CPU: due when the first hard timer's expiry, or (unless
 * HRTIMER_SOFTIRQ is already raised for them) the first soft timer's, has passed; {@code cpu/N} sleeps
 * until then. Starting a timer that becomes the first wakes the CPU. In stepped mode the test moves the
 * manual clock and takes the CPU's interrupts.</li>
 * <li>A timer expires once the clock passes its soft expiry ({@code hrtimer_start_range_ns} gives a range;
 * the interrupt is programmed for the hard end). The callback runs with the base lock dropped and the
 * queue's {@code running} set; a {@link HrTimer.Restart#RESTART} re-queues it at the expiry it set
 * ({@code hrtimer_forward}).</li>
 * <li>Starting a timer whose callback is running keeps it on that CPU, so it never overlaps itself.</li>
 * </ul>
 */
public final class HrTimers {

    /** {@code hrtimer_resolution} in high-resolution mode: 1 ns. */
    public static final long RESOLUTION_NS = 1;

    private final Machine machine;
    private final Softirqs softirqs;
    private final Reports reports;
    private final Tracing tracing;
    private final CpuBase[] bases;
    private final AtomicLongArray interrupts;
    /** {@code CLOCK_REALTIME} minus {@code CLOCK_MONOTONIC}, fixed at boot. */
    private final long realtimeOffsetNs;
    /** A callback's oopses, rate-limited per hrtimer. */
    private final RateLimiter oopses;

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    HrTimers(Machine machine, Softirqs softirqs) {
        this.machine = Objects.requireNonNull(machine, "machine");
        this.softirqs = Objects.requireNonNull(softirqs, "softirqs");
        this.reports = machine.reports();
        this.oopses = reports.limiter("__run_hrtimer");
        this.tracing = machine.tracing();
        this.bases = new CpuBase[machine.cpuCount()];
        for (int i = 0; i < bases.length; i++) {
            bases[i] = new CpuBase(i);
        }
        this.interrupts = new AtomicLongArray(bases.length);
        java.time.Instant wall = java.time.Instant.now();
        this.realtimeOffsetNs = machine.stepped() ? STEPPED_BOOT_REALTIME_NS
                : wall.getEpochSecond() * 1_000_000_000L + wall.getNano() - machine.uptimeNs();
        softirqs.open(SoftirqVector.HRTIMER, this::runSoftirq);
        machine.addInterruptSource(new Interrupt());
    }

    /**
     * {@code ktime_get()}: nanoseconds of the kernel clock since boot ({@code CLOCK_MONOTONIC}).
     *
     * @return nanoseconds since boot
     */
    public long now() {
        return machine.uptimeNs();
    }

    /**
     * The wall-clock time of a stepped kernel's boot: 2024-11-17T00:00:00Z (the release day of Linux 6.12),
     * so that {@code ktime_get_real} is deterministic in stepped mode.
     */
    public static final long STEPPED_BOOT_REALTIME_NS = 1_731_801_600L * 1_000_000_000L;

    /**
     * {@code ktime_get_real()}: nanoseconds since 1970-01-01T00:00:00Z ({@code CLOCK_REALTIME}) — the
     * wall-clock time at boot plus {@link #now()}. The boot time is the host's wall clock when the kernel was
     * built (threaded mode) or {@link #STEPPED_BOOT_REALTIME_NS} (stepped mode); nothing sets the clock
     * afterwards ({@code settimeofday} is not modelled), so it never jumps. Any thread.
     *
     * @return nanoseconds since the epoch
     */
    public long realNow() {
        return realtimeOffsetNs + now();
    }

    /**
     * {@code ktime_get_real_ts64(ts)}: {@link #realNow()} as seconds and nanoseconds. Any thread.
     *
     * @return the real time
     */
    public Timespec64 realNowTs64() {
        return Timespec64.ofNanos(realNow());
    }

    // ------------------------------------------------------------------------------------------
    // Per-CPU base
    // ------------------------------------------------------------------------------------------

    /** {@code struct hrtimer_cpu_base}: the lock, the hard and soft queues, the softirq state. */
    static final class CpuBase extends RawSpinLock {
        final int cpu;
        final Queue hard = new Queue();
        final Queue soft = new Queue();
        /** {@code softirq_activated}: HRTIMER_SOFTIRQ has been raised for due soft timers. */
        volatile boolean softirqActivated;
        long seq;

        CpuBase(int cpu) {
            this.cpu = cpu;
        }

        Queue queue(HrTimer t) {
            return t.soft ? soft : hard;
        }
    }

    /** One queue ({@code hrtimer_clock_base}): a min-heap on (expires, seq), and the running timer. */
    static final class Queue {
        private HrTimer[] heap = new HrTimer[16];
        private int size;
        /** The first expiry, read without the lock by the interrupt's due check; MAX when empty. */
        volatile long firstExpires = Long.MAX_VALUE;
        volatile HrTimer running;

        /** Adds every queued timer to {@code out}, in heap order. Under the base lock. */
        void copyTo(List<HrTimer> out) {
            for (int i = 0; i < size; i++) {
                out.add(heap[i]);
            }
        }

        HrTimer first() {
            return size == 0 ? null : heap[0];
        }

        int size() {
            return size;
        }

        /** Adds {@code t}; true if it is now the first to expire. */
        boolean add(HrTimer t) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            heap[size] = t;
            t.heapIndex = size;
            siftUp(size++);
            updateFirst();
            return heap[0] == t;
        }

        void remove(HrTimer t) {
            int i = t.heapIndex;
            HrTimer last = heap[--size];
            heap[size] = null;
            t.heapIndex = -1;
            if (i != size) {
                heap[i] = last;
                last.heapIndex = i;
                siftDown(i);
                siftUp(last.heapIndex);
            }
            updateFirst();
        }

        private void updateFirst() {
            firstExpires = size == 0 ? Long.MAX_VALUE : heap[0].expires;
        }

        private static boolean less(HrTimer a, HrTimer b) {
            return a.expires < b.expires || (a.expires == b.expires && a.seq < b.seq);
        }

        private void siftUp(int i) {
            HrTimer t = heap[i];
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                HrTimer p = heap[parent];
                if (!less(t, p)) {
                    break;
                }
                heap[i] = p;
                p.heapIndex = i;
                i = parent;
            }
            heap[i] = t;
            t.heapIndex = i;
        }

        private void siftDown(int i) {
            HrTimer t = heap[i];
            int half = size >>> 1;
            while (i < half) {
                int child = 2 * i + 1;
                HrTimer c = heap[child];
                int right = child + 1;
                if (right < size && less(heap[right], c)) {
                    child = right;
                    c = heap[child];
                }
                if (!less(c, t)) {
                    break;
                }
                heap[i] = c;
                c.heapIndex = i;
                i = child;
            }
            heap[i] = t;
            t.heapIndex = i;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Set-up and arming
    // ------------------------------------------------------------------------------------------

    /**
     * {@code hrtimer_setup(timer, function, CLOCK_MONOTONIC, mode)}: {@code mode} containing
     * {@link HrTimer.Mode#SOFT} makes it expire in HRTIMER_SOFTIRQ; otherwise in hard-IRQ context. The
     * timer belongs to the calling CPU until it is started.
     *
     * @param t the timer
     * @param name its name, for reports and traces
     * @param function its callback
     * @param mode the modes; {@link HrTimer.Mode#SOFT} makes a soft timer, the rest matter when it is started
     * @throws IllegalStateException when {@code t} is queued, or the kernel is closed or has panicked
     */
    public void setup(HrTimer t, String name, HrTimer.Callback function, Set<HrTimer.Mode> mode) {
        machine.checkOpen();
        if (t.isQueued()) {
            throw new IllegalStateException("hrtimer_setup(" + t.name() + ") of a queued timer: cancel it first");
        }
        t.init(name, function, mode.contains(HrTimer.Mode.SOFT), bases[machine.current().cpuId()]);
    }

    /**
     * Like {@link #setup} on a new timer.
     *
     * @param name the timer's name, for reports and traces
     * @param function its callback
     * @param mode the modes; {@link HrTimer.Mode#SOFT} makes a soft timer, the rest matter when it is started
     * @return the new, inactive timer
     * @throws IllegalStateException when the kernel is closed or has panicked
     */
    public HrTimer create(String name, HrTimer.Callback function, Set<HrTimer.Mode> mode) {
        HrTimer t = new HrTimer();
        setup(t, name, function, mode);
        return t;
    }

    /**
     * {@code hrtimer_start(timer, tim, mode)}: {@link #startRange} with no slack.
     *
     * @param t the timer
     * @param tim the expiry in nanoseconds, absolute or relative by {@code mode}
     * @param mode {@link HrTimer.Mode#ABS} or {@link HrTimer.Mode#REL}, optionally {@link HrTimer.Mode#PINNED}
     * @throws IllegalStateException when the hrtimer was never set up, or the kernel is closed or has panicked
     */
    public void start(HrTimer t, long tim, Set<HrTimer.Mode> mode) {
        startRange(t, tim, 0, mode);
    }

    /**
     * {@code hrtimer_start(timer, ns_to_ktime(delay), mode | HRTIMER_MODE_REL)}: (re)arms {@code t} to expire
     * {@code delay} from now, to the nanosecond ({@link #startRange(HrTimer, long, long, Set)} with no slack). A
     * {@code Duration} is relative, so {@link HrTimer.Mode#REL} is implied and {@code mode} must not contain
     * {@link HrTimer.Mode#ABS}; its other modes ({@code SOFT}, {@code HARD}, {@code PINNED}) count as for
     * {@link #start(HrTimer, long, Set)}. A delay too long for a {@code ktime_t} clamps to {@code KTIME_MAX}, as the
     * kernel's {@code ktime_set} does. Any context.
     *
     * @param t     an initialised timer
     * @param delay how long from now, not negative
     * @param mode  the timer's modes (without {@code ABS})
     * @throws IllegalArgumentException when {@code delay} is negative or {@code mode} contains {@code ABS}
     */
    public void start(HrTimer t, Duration delay, Set<HrTimer.Mode> mode) {
        startRange(t, delay, Duration.ZERO, mode);
    }

    /**
     * {@code hrtimer_start_range_ns} with a relative {@link Duration}: expires between {@code delay} and
     * {@code delay + slack} from now. See {@link #start(HrTimer, Duration, Set)}.
     *
     * @param t     an initialised timer
     * @param delay how long from now, not negative
     * @param slack how much later it may expire, not negative
     * @param mode  the timer's modes (without {@code ABS})
     * @throws IllegalArgumentException when {@code delay} or {@code slack} is negative or {@code mode} contains
     *         {@code ABS}
     */
    public void startRange(HrTimer t, Duration delay, Duration slack, Set<HrTimer.Mode> mode) {
        if (mode.contains(HrTimer.Mode.ABS)) {
            throw new IllegalArgumentException("hrtimer_start(" + t.name() + ") with a Duration is relative: drop"
                    + " HRTIMER_MODE_ABS");
        }
        EnumSet<HrTimer.Mode> rel = EnumSet.of(HrTimer.Mode.REL);
        rel.addAll(mode);
        startRange(t, Jiffies.durationToNanos(delay), Jiffies.durationToNanos(slack), rel);
    }

    /**
     * {@code hrtimer_start_range_ns(timer, tim, delta, mode)}: (re)arms {@code t} to expire between
     * {@code tim} and {@code tim + delta} ns ({@link HrTimer.Mode#REL}: from now). A queued timer is moved.
     * It goes to the calling CPU unless its callback is running (then it stays where it runs).
     *
     * @param t the timer
     * @param tim the soft expiry in nanoseconds, absolute or relative by {@code mode}
     * @param delta the slack in nanoseconds after {@code tim}
     * @param mode {@link HrTimer.Mode#ABS} or {@link HrTimer.Mode#REL}, optionally {@link HrTimer.Mode#PINNED}
     * @throws IllegalStateException when the hrtimer was never set up, or the kernel is closed or has panicked
     */
    public void startRange(HrTimer t, long tim, long delta, Set<HrTimer.Mode> mode) {
        machine.checkOpen();
        requireInitialised(t, "hrtimer_start");
        if (mode.contains(HrTimer.Mode.SOFT) != t.soft) {
            reports.warnOnce("hrtimer_start_range_ns_mode", "WARNING: hrtimer_start(" + t.name() + ") with a "
                    + (t.soft ? "hard" : "soft") + " mode on a " + (t.soft ? "soft" : "hard") + " timer (WARN_ON_ONCE("
                    + "!(mode & HRTIMER_MODE_SOFT) ^ !timer->is_soft)); it expires as set up");
        }
        long expires = mode.contains(HrTimer.Mode.REL) ? now() + tim : tim;
        if (expires < 0) {
            expires = Long.MAX_VALUE; // overflow of a relative time: KTIME_MAX
        }
        CpuBase target = bases[machine.current().cpuId()];
        CpuBase base = lockBase(t);
        boolean first;
        try {
            removeIfQueued(t, base, true);
            Queue q = base.queue(t);
            if (base != target && q.running != t) {
                t.cpuBase = null; // migrating: lock_hrtimer_base waits
                base.unlock();
                base = target;
                base.lock();
                t.cpuBase = base;
            }
            t.softExpires = expires;
            t.expires = delta > 0 && expires + delta > expires ? expires + delta : expires;
            first = enqueue(t, base);
        } finally {
            base.unlock();
        }
        if (first) {
            machine.cpu(base.cpu).signalInterrupt();
        }
        machine.afterAccept();
    }

    private boolean enqueue(HrTimer t, CpuBase base) {
        t.seq = base.seq++;
        t.state = HrTimer.ENQUEUED;
        boolean first = base.queue(t).add(t);
        if (tracing.on(Tracepoint.HRTIMER_START)) {
            tracing.emit(Tracepoint.HRTIMER_START, "hrtimer=" + t.name() + " function=" + t.name() + " expires="
                    + t.expires + " softexpires=" + t.softExpires + " mode=" + (t.soft ? "SOFT" : "HARD"));
        }
        return first;
    }

    /** {@code remove_hrtimer}: 1 if it was queued. */
    private int removeIfQueued(HrTimer t, CpuBase base, boolean restart) {
        if (t.state != HrTimer.ENQUEUED) {
            return 0;
        }
        if (!restart && tracing.on(Tracepoint.HRTIMER_CANCEL)) {
            tracing.emit(Tracepoint.HRTIMER_CANCEL, "hrtimer=" + t.name());
        }
        base.queue(t).remove(t);
        t.state = HrTimer.INACTIVE;
        return 1;
    }

    /** {@code lock_hrtimer_base}: locks the base holding {@code t}, waiting out a migration. */
    private CpuBase lockBase(HrTimer t) {
        for (;;) {
            CpuBase b = t.cpuBase;
            if (b != null) {
                b.lock();
                if (t.cpuBase == b) {
                    return b;
                }
                b.unlock();
            }
            Thread.onSpinWait();
        }
    }

    private static void requireInitialised(HrTimer t, String call) {
        if (!t.initialised) {
            throw new IllegalStateException(call + "() of an hrtimer that was never set up: call hrtimer_setup() first");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Cancelling and queries
    // ------------------------------------------------------------------------------------------

    /**
     * {@code hrtimer_try_to_cancel}: 1 if it was queued (now removed), 0 if not active, −1 if its callback runs.
     *
     * @param t the timer
     * @return 1, 0 or −1
     * @throws IllegalStateException when the hrtimer was never set up, or the kernel is closed or has panicked
     */
    public int tryToCancel(HrTimer t) {
        machine.checkOpen();
        requireInitialised(t, "hrtimer_try_to_cancel");
        if (!active(t)) {
            return 0;
        }
        CpuBase base = lockBase(t);
        try {
            if (base.queue(t).running == t) {
                return -1;
            }
            return removeIfQueued(t, base, false);
        } finally {
            base.unlock();
        }
    }

    /**
     * {@code hrtimer_cancel}: removes the timer and waits for a running callback to finish. From the timer's
     * own callback it would wait forever: reported, and it returns.
     *
     * @param t the timer
     * @return 1 if it was queued, 0 if not
     * @throws IllegalStateException when the hrtimer was never set up, or the kernel is closed or has panicked
     */
    public int cancel(HrTimer t) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        for (;;) {
            int ret = tryToCancel(t);
            if (ret >= 0) {
                return ret;
            }
            if (t.runner == ctx) {
                reports.bug("BUG: hrtimer_cancel(" + t.name() + ") called from the timer's own callback would wait for"
                        + " itself forever (deadlock)", new Throwable("hrtimer_cancel"));
                return 0;
            }
            // hrtimer_cancel_wait_running: sleep until the callback has returned, then try again.
            if (!machine.waitUntil(() -> !callbackRunning(t), "hrtimer_cancel(" + t.name() + ")")) {
                return 0;
            }
        }
    }

    /**
     * Cancels every queued hrtimer of every CPU. For {@code Kernel.close()}: with {@code sync}
     * ({@code hrtimer_cancel}) after the accepted work ran, without ({@code hrtimer_try_to_cancel}) once the
     * runtime threads have stopped.
     *
     * @return the names of the hrtimers that were queued
     */
    List<String> cancelQueuedForClose(boolean sync) {
        List<HrTimer> queued = new ArrayList<>();
        for (CpuBase base : bases) {
            base.lock();
            try {
                base.hard.copyTo(queued);
                base.soft.copyTo(queued);
            } finally {
                base.unlock();
            }
        }
        List<String> cancelled = new ArrayList<>();
        for (HrTimer t : queued) {
            if ((sync ? cancel(t) : tryToCancel(t)) == 1) {
                cancelled.add(t.name());
            }
        }
        return cancelled;
    }

    /**
     * {@code hrtimer_active}: queued, or its callback is running.
     *
     * @param t the timer
     * @return true when active
     */
    public boolean active(HrTimer t) {
        CpuBase b = t.cpuBase;
        return t.state == HrTimer.ENQUEUED || (b != null && b.queue(t).running == t);
    }

    /**
     * {@code hrtimer_callback_running}.
     *
     * @param t the timer
     * @return true while its callback runs
     */
    public boolean callbackRunning(HrTimer t) {
        CpuBase b = t.cpuBase;
        return b != null && b.queue(t).running == t;
    }

    /**
     * {@code hrtimer_get_remaining}: ns until the (hard) expiry; negative when overdue.
     *
     * @param t the timer
     * @return nanoseconds until the expiry
     */
    public long remaining(HrTimer t) {
        return t.expires - now();
    }

    /**
     * {@code hrtimer_forward(timer, now, interval)}: moves the expiry of a timer that is not queued forward
     * by whole intervals until it lies after {@code now}.
     *
     * @param t the timer, not queued
     * @param now the time to pass, in nanoseconds
     * @param interval the period in nanoseconds (at least the resolution)
     * @return the number of intervals skipped (overruns); 0 if the expiry already lies after {@code now}
     */
    public long forward(HrTimer t, long now, long interval) {
        long delta = now - t.expires;
        if (delta < 0) {
            return 0;
        }
        if (t.isQueued()) {
            reports.warning("WARNING: hrtimer_forward(" + t.name()
                    + ") of a queued timer is ignored (WARN_ON(timer->state & HRTIMER_STATE_ENQUEUED))");
            return 0;
        }
        if (interval < RESOLUTION_NS) {
            interval = RESOLUTION_NS;
        }
        long orun = 1;
        if (delta >= interval) {
            orun = delta / interval;
            addExpires(t, interval * orun);
            if (t.expires > now) {
                return orun;
            }
            orun++;
        }
        addExpires(t, interval);
        return orun;
    }

    /**
     * {@code hrtimer_forward_now(timer, interval)}.
     *
     * @param t the timer, not queued
     * @param interval the period in nanoseconds
     * @return the number of intervals skipped
     */
    public long forwardNow(HrTimer t, long interval) {
        return forward(t, now(), interval);
    }

    /**
     * {@code hrtimer_forward_now(timer, interval)} with the interval as a {@link Duration} (clamped to
     * {@code KTIME_MAX}): what a periodic callback calls before it returns {@link HrTimer.Restart#RESTART}.
     *
     * @param t        a timer that is not queued (its own callback's)
     * @param interval the period, not negative (below 1 ns it counts as 1 ns, as in {@link #forward})
     * @return the number of intervals skipped (overruns)
     * @throws IllegalArgumentException when {@code interval} is negative
     */
    public long forwardNow(HrTimer t, Duration interval) {
        return forwardNow(t, Jiffies.durationToNanos(interval));
    }

    /**
     * {@code hrtimer_get_remaining} as a {@link Duration}: the time until the (hard) expiry, negative when overdue.
     * Any thread.
     *
     * @param t a timer
     * @return the time left
     */
    public Duration timeRemaining(HrTimer t) {
        return Duration.ofNanos(remaining(t));
    }

    private static void addExpires(HrTimer t, long ns) {
        t.expires = saturatingAdd(t.expires, ns);
        t.softExpires = saturatingAdd(t.softExpires, ns);
    }

    private static long saturatingAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }

    /**
     * The CPU's high-resolution timer interrupts so far (they count in {@code LOC}). Any thread.
     *
     * @param cpu the CPU
     * @return the count since boot
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     */
    public long interrupts(int cpu) {
        machine.cpu(cpu);
        return interrupts.get(cpu);
    }

    /**
     * How many hrtimers are queued on {@code cpu} (hard and soft).
     *
     * @param cpu the CPU
     * @return the number of queued hrtimers
     * @throws dev.bottomhalf.runtime.KernelException {@code ENXIO} for a CPU that does not exist
     */
    public int queued(int cpu) {
        CpuBase b = bases[machine.cpu(cpu).id()];
        b.lock();
        try {
            return b.hard.size() + b.soft.size();
        } finally {
            b.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Expiry
    // ------------------------------------------------------------------------------------------

    /** The CPU's timer interrupt, programmed for the first hard expiry (and the first soft one). */
    private final class Interrupt implements InterruptSource {
        @Override
        public int deliver(ExecutionContext cpuContext) {
            Cpu cpu = RuntimeAccess.get().cpu(cpuContext);
            CpuBase base = bases[cpu.id()];
            if (!due(base, now())) {
                return 0;
            }
            cpu.irqEnter(cpuContext);
            try {
                interrupts.incrementAndGet(cpu.id());
                hrtimerInterrupt(cpuContext, base);
            } finally {
                cpu.irqExit(cpuContext);
            }
            return 1;
        }

        @Override
        public boolean pending(Cpu cpu) {
            CpuBase base = bases[cpu.id()];
            if (base.hard.firstExpires == Long.MAX_VALUE && (base.softirqActivated || base.soft.firstExpires == Long.MAX_VALUE)) {
                return false;
            }
            return due(base, now());
        }

        @Override
        public long nextDeadlineNs(Cpu cpu) {
            CpuBase base = bases[cpu.id()];
            long next = base.hard.firstExpires;
            if (!base.softirqActivated) {
                next = Math.min(next, base.soft.firstExpires);
            }
            return next == Long.MAX_VALUE ? Long.MAX_VALUE : machine.bootNanoTime() + next;
        }
    }

    private static boolean due(CpuBase base, long now) {
        return now >= base.hard.firstExpires || (!base.softirqActivated && now >= base.soft.firstExpires);
    }

    /** {@code hrtimer_interrupt}: raise HRTIMER_SOFTIRQ for due soft timers, run the due hard ones. */
    private void hrtimerInterrupt(ExecutionContext ctx, CpuBase base) {
        long now = now();
        base.lock();
        try {
            if (!base.softirqActivated && now >= base.soft.firstExpires) {
                base.softirqActivated = true;
                Subsystems.softirq().raiseOn(softirqs, ctx, SoftirqVector.HRTIMER.nr(), false);
            }
            runQueue(ctx, base, base.hard, now);
        } finally {
            base.unlock();
        }
    }

    /** {@code hrtimer_run_softirq}. */
    private void runSoftirq() {
        ExecutionContext ctx = machine.current();
        CpuBase base = bases[ctx.cpuId()];
        base.lock();
        try {
            runQueue(ctx, base, base.soft, now());
            base.softirqActivated = false;
        } finally {
            base.unlock();
        }
        machine.cpu(base.cpu).signalInterrupt();
    }

    /** {@code __hrtimer_run_queues} for one queue: every timer whose soft expiry has passed, in order. */
    private void runQueue(ExecutionContext ctx, CpuBase base, Queue q, long now) {
        HrTimer t;
        while ((t = q.first()) != null && now >= t.softExpires) {
            runTimer(ctx, base, q, t, now);
        }
    }

    /** {@code __run_hrtimer}. */
    private void runTimer(ExecutionContext ctx, CpuBase base, Queue q, HrTimer t, long now) {
        q.running = t;
        q.remove(t);
        t.state = HrTimer.INACTIVE;
        HrTimer.Callback fn = t.function;
        base.unlock();
        HrTimer.Restart restart = HrTimer.Restart.NORESTART;
        t.runner = ctx;
        if (tracing.on(Tracepoint.HRTIMER_EXPIRE_ENTRY)) {
            tracing.emit(Tracepoint.HRTIMER_EXPIRE_ENTRY, "hrtimer=" + t.name() + " function=" + t.name() + " now=" + now);
        }
        HrTimerEvent jfr = Jfr.hrTimerBegin();
        long jfrExpires = jfr != null ? t.expires : 0; // before the callback, which may forward the timer
        try {
            restart = fn.run(t);
            if (restart == null) {
                restart = HrTimer.Restart.NORESTART;
            }
        } catch (Throwable e) {
            oopses.oops(t, t, timer -> "hrtimer " + timer.name(), e);
        } finally {
            t.runner = null;
            if (jfr != null) {
                Jfr.hrTimerEnd(jfr, t.name(), base.cpu, jfrExpires, now, restart == HrTimer.Restart.RESTART);
            }
            if (tracing.on(Tracepoint.HRTIMER_EXPIRE_EXIT)) {
                tracing.emit(Tracepoint.HRTIMER_EXPIRE_EXIT, "hrtimer=" + t.name());
            }
            base.lock();
        }
        if (restart == HrTimer.Restart.RESTART && t.state == HrTimer.INACTIVE) {
            enqueue(t, base);
        }
        q.running = null;
        machine.wakeWaiters(); // hrtimer_cancel waiting for this callback; one load when nobody waits
    }

    /**
     * The modes, for callers that want the kernel's spelling.
     *
     * @param first a mode
     * @param rest more modes
     * @return the modes as a new set
     */
    public static Set<HrTimer.Mode> mode(HrTimer.Mode first, HrTimer.Mode... rest) {
        return EnumSet.of(first, rest);
    }
}
