package dev.bottomhalf.stress;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.internal.runtime.Machine;

/**
 * A chaos thread for the soaks: interrupts random runtime threads of one kernel ({@code cpu/N},
 * {@code ksoftirqd/N}, {@code kworker/...}, {@code irq/L-name}, found as the {@link KernelThread}s whose
 * context belongs to the kernel's machine, plus extra threads the test names, such as the lockup detector's
 * {@code watchdog}) and random task threads that have opened their {@link Gate}, at random times. Started by
 * the test thread, stopped by it with {@link #stop()}; the query methods may be called from any thread.
 *
 * <p>Implementation notes: every interrupt this class sends is counted per thread, and the count and the
 * {@link Thread#interrupt()} happen together under the thread's {@link Signals} monitor. A work item that
 * reads the count under the same monitor when it returns ({@link #itemReturned}) therefore knows that every
 * interrupt sent until then is one the kworker must clear when the item returns (the item's pending signal);
 * the next item on that thread ({@link #leakedInto}) that finds its interrupt set while the count has not moved
 * has received the previous item's signal. A task thread is interrupted only while its gate is open, and the
 * gate is opened and closed under its monitor, so a thread that closed its gate and cleared its status has no
 * interrupt of ours pending (the soaks close it before they wait on a barrier, which an interrupt would break).
 */
final class InterruptChaos {
    /** A task thread's consent to be interrupted; opened and closed by the thread itself. */
    static final class Gate {
        final Thread thread;
        private boolean open;

        Gate(Thread thread) {
            this.thread = thread;
        }

        synchronized void open() {
            open = true;
        }

        /** Closes the gate and clears the caller's interrupt status: no interrupt of the chaos is left pending. */
        void closeAndClear() {
            synchronized (this) {
                open = false;
            }
            Thread.interrupted();
        }

        synchronized boolean interruptIfOpen(InterruptChaos chaos) {
            if (!open) {
                return false;
            }
            chaos.interrupt(thread);
            return true;
        }
    }

    /** Per thread: the interrupts sent to it, and the count when its last work item returned. */
    private static final class Signals {
        long sent;
        long sentWhenLastItemReturned = -1;
        String lastItem;
    }

    private static final long REFRESH_NS = TimeUnit.MILLISECONDS.toNanos(5);

    private final Machine machine;
    private final SplittableRandom rnd;
    private final long minGapNs;
    private final long maxGapNs;
    private final List<Gate> gates = new CopyOnWriteArrayList<>();
    private final List<Thread> extra = new CopyOnWriteArrayList<>();
    private final Map<Thread, Signals> signals = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> sentByKind = new ConcurrentHashMap<>();
    private volatile boolean stop;
    private Thread thread;

    /**
     * @param machine  the kernel whose runtime threads are targets
     * @param rnd      the chaos's own random source (only the chaos thread uses it)
     * @param minGapNs shortest pause between two interrupts
     * @param maxGapNs longest pause between two interrupts
     */
    InterruptChaos(Machine machine, SplittableRandom rnd, long minGapNs, long maxGapNs) {
        this.machine = machine;
        this.rnd = rnd;
        this.minGapNs = minGapNs;
        this.maxGapNs = maxGapNs;
    }

    /** Registers a task thread's gate (closed until the thread opens it). */
    Gate gate(Thread t) {
        Gate g = new Gate(t);
        gates.add(g);
        return g;
    }

    /** Adds a thread outside the kernel's {@link KernelThread}s to the targets (the lockup detector's sampler). */
    void addTarget(Thread t) {
        extra.add(t);
    }

    void start(String name) {
        thread = Thread.ofPlatform().name(name).daemon().start(this::run);
    }

    /** Stops the chaos thread and waits for it; no interrupt is sent after this returns. */
    void stop() throws InterruptedException {
        stop = true;
        if (thread != null) {
            thread.join(TimeUnit.SECONDS.toMillis(30));
            if (thread.isAlive()) {
                throw new AssertionError("interrupt chaos thread did not stop");
            }
        }
    }

    private void run() {
        List<Thread> runtime = List.of();
        long refreshedNs = 0;
        while (!stop) {
            long now = System.nanoTime();
            if (now - refreshedNs > REFRESH_NS) {
                runtime = runtimeThreads(machine);
                refreshedNs = now;
            }
            int pick = rnd.nextInt(4);
            if (pick == 0 && !gates.isEmpty()) {
                gates.get(rnd.nextInt(gates.size())).interruptIfOpen(this);
            } else if (pick == 1 && !extra.isEmpty()) {
                Thread t = extra.get(rnd.nextInt(extra.size()));
                if (t.isAlive()) {
                    interrupt(t);
                }
            } else if (!runtime.isEmpty()) {
                Thread t = runtime.get(rnd.nextInt(runtime.size()));
                if (t.isAlive()) {
                    interrupt(t);
                }
            }
            LockSupport.parkNanos(minGapNs + rnd.nextLong(Math.max(1, maxGapNs - minGapNs)));
        }
    }

    /** Interrupts every live runtime thread of the kernel and every extra target once (the test thread). */
    void interruptAllRuntimeThreads() {
        for (Thread t : runtimeThreads(machine)) {
            interrupt(t);
        }
        for (Thread t : extra) {
            if (t.isAlive()) {
                interrupt(t);
            }
        }
    }

    private void interrupt(Thread t) {
        Signals s = signals.computeIfAbsent(t, k -> new Signals());
        synchronized (s) {
            s.sent++;
            t.interrupt();
        }
        sentByKind.computeIfAbsent(kindOf(t), k -> new AtomicLong()).incrementAndGet();
    }

    /**
     * Called by a work item when it starts on a {@code kworker}: the previous item's signal reached it if the
     * thread's interrupt status is set while no interrupt was sent since that item returned.
     *
     * @return a description of the leak, or null
     */
    String leakedInto(Thread t, String item) {
        Signals s = signals.get(t);
        if (s == null) {
            return null;
        }
        synchronized (s) {
            if (t.isInterrupted() && s.sentWhenLastItemReturned == s.sent) {
                return "the signal of " + s.lastItem + " (interrupt " + s.sent + " sent to " + t.getName()
                        + " before that item returned) was still pending when " + item + " started on the same worker";
            }
        }
        return null;
    }

    /** Called by a work item as it returns on a {@code kworker}: every interrupt sent so far is its own signal. */
    void itemReturned(Thread t, String item) {
        Signals s = signals.get(t);
        if (s == null) {
            return;
        }
        synchronized (s) {
            s.sentWhenLastItemReturned = s.sent;
            s.lastItem = item;
        }
    }

    /** Interrupts sent so far, by kind of thread ({@code cpu}, {@code ksoftirqd}, {@code kworker}, ...). */
    Map<String, Long> sentByKind() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (String k : List.of("cpu", "ksoftirqd", "kworker", "irq", "watchdog", "task")) {
            AtomicLong n = sentByKind.get(k);
            if (n != null) {
                m.put(k, n.get());
            }
        }
        return m;
    }

    static String kindOf(Thread t) {
        String n = t.getName();
        if (t instanceof KernelThread) {
            int slash = n.indexOf('/');
            return slash > 0 ? n.substring(0, slash) : n;
        }
        return n.equals("watchdog") ? "watchdog" : "task";
    }

    /** The live {@link KernelThread}s of {@code machine}. */
    static List<Thread> runtimeThreads(Machine machine) {
        List<Thread> threads = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t instanceof KernelThread kt && RuntimeAccess.get().machine(kt.context()) == machine && t.isAlive()) {
                threads.add(t);
            }
        }
        return threads;
    }

    /** The live threads named {@code name}: taken before and after a boot, they tell the boot's own threads. */
    static Set<Thread> threadsNamed(String name) {
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(name) && t.isAlive()) {
                threads.add(t);
            }
        }
        return threads;
    }

    /**
     * The CPU time each of {@code threads} used over {@code windowMs} of wall-clock time, in nanoseconds, by
     * name (the test thread sleeps meanwhile: this measures, it does not time a rule).
     */
    static Map<String, Long> cpuNanosOver(List<Thread> threads, long windowMs) throws InterruptedException {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        if (!mx.isThreadCpuTimeSupported()) {
            return Map.of();
        }
        if (!mx.isThreadCpuTimeEnabled()) {
            mx.setThreadCpuTimeEnabled(true);
        }
        long[] before = new long[threads.size()];
        for (int i = 0; i < before.length; i++) {
            before[i] = mx.getThreadCpuTime(threads.get(i).threadId());
        }
        Thread.sleep(windowMs);
        Map<String, Long> used = new LinkedHashMap<>();
        for (int i = 0; i < before.length; i++) {
            long after = mx.getThreadCpuTime(threads.get(i).threadId());
            if (before[i] >= 0 && after >= 0) {
                used.merge(threads.get(i).getName(), after - before[i], Long::sum);
            }
        }
        return used;
    }
}
