package dev.bottomhalf.workqueue;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.internal.wiring.Subsystems;

/**
 * The workqueue lockup watchdog ({@code wq_watchdog}) of one {@link Workqueues}, the dumps it prints
 * ({@code show_all_workqueues}, {@code show_one_workqueue}) and the monitor's statistics
 * ({@code tools/workqueue/wq_monitor.py}). Thread-safe; package-private: the public API is {@link Workqueues}.
 *
 * <p>Implementation notes: it only reads the pools and workqueues it is given — each pool's state under that
 * pool's lock, one pool at a time — and calls nothing back. {@link #armWatchdog} is called by
 * {@link WorkerPool#insertWorkLocked} under a pool lock; it takes only the watchdog timer's monitor (and the timer
 * base's lock through {@link Timers}), never a pool lock. The watchdog timer itself takes each pool's lock in
 * turn and arms itself again (under the timer's monitor, no pool lock held) while any pool has items.
 */
final class WorkqueueWatchdog {
    private final Machine machine;
    private final Timers timers;
    private final Reports reports;
    /** Every pool (immutable). */
    private final List<WorkerPool> allPools;
    /** The owner's live list of workqueues (copy-on-write). */
    private final List<Workqueue> workqueues;

    private volatile long watchdogThreshSeconds = 30;
    private final TimerList watchdogTimer = new TimerList();
    private volatile boolean watchdogReady;
    private final AtomicLong lockups = new AtomicLong();

    WorkqueueWatchdog(Machine machine, Timers timers, List<WorkerPool> allPools, List<Workqueue> workqueues) {
        this.machine = machine;
        this.timers = timers;
        this.reports = machine.reports();
        this.allPools = allPools;
        this.workqueues = workqueues;
    }

    /** {@link Workqueues#watchdogThreshSeconds()}. */
    long watchdogThreshSeconds() {
        return watchdogThreshSeconds;
    }

    void watchdogThreshSeconds(long seconds) {
        if (seconds < 0) {
            throw new IllegalArgumentException("watchdog_thresh must be >= 0: " + seconds);
        }
        watchdogThreshSeconds = seconds;
    }

    long lockups() {
        return lockups.get();
    }

    /**
     * Arms the watchdog timer if it is not armed. The kernel's runs forever as a deferrable timer; ours runs
     * only while some pool has items (so an idle kernel stays tickless) and is not deferrable (so a stalled
     * pool on an otherwise idle CPU is still reported). Any context.
     */
    void armWatchdog() {
        long thresh = watchdogThreshSeconds;
        if (thresh == 0) {
            return;
        }
        if (!watchdogReady) {
            synchronized (watchdogTimer) {
                if (!watchdogReady) {
                    Subsystems.time().setupInternal(timers, watchdogTimer, "wq_watchdog_timer_fn", t -> watchdogFn(),
                            TimerList.TIMER_IRQSAFE);
                    watchdogReady = true;
                }
            }
        }
        if (!watchdogTimer.isPending()) {
            synchronized (watchdogTimer) { // two first queuers must not both add it
                if (!watchdogTimer.isPending()) {
                    watchdogTimer.expires(machine.jiffies() + thresh * machine.hz());
                    timers.addOn(watchdogTimer, 0);
                }
            }
        }
    }

    /** {@code wq_watchdog_timer_fn}: reports every pool whose worklist has not moved for the threshold. */
    private void watchdogFn() {
        long thresh = watchdogThreshSeconds;
        if (thresh == 0) {
            return;
        }
        long now = machine.jiffies();
        long threshJiffies = thresh * machine.hz();
        boolean lockup = false;
        boolean busy = false;
        for (WorkerPool pool : allPools) {
            pool.lock();
            try {
                if (pool.worklist.isEmpty()) {
                    continue;
                }
                busy = true;
                if (now - pool.watchdogTs > threshJiffies) {
                    lockup = true;
                    lockups.incrementAndGet();
                    reports.bug("BUG: workqueue lockup - pool " + pool.describe() + " stuck for "
                            + (now - pool.watchdogTs) / machine.hz() + "s!", new Throwable("wq_watchdog_timer_fn"));
                }
            } finally {
                pool.unlock();
            }
        }
        if (lockup) {
            reports.printk(KernelEvent.Kind.INFO, showAllWorkqueues());
        }
        if (busy) {
            synchronized (watchdogTimer) {
                if (!watchdogTimer.isPending()) {
                    watchdogTimer.expires(now + threshJiffies);
                    timers.addOn(watchdogTimer, 0);
                }
            }
        }
    }

    /** {@code show_all_workqueues()}: the busy workqueues and pools, as the kernel dumps them. */
    String showAllWorkqueues() {
        StringBuilder sb = new StringBuilder("Showing busy workqueues and worker pools:\n");
        for (Workqueue wq : workqueues) {
            sb.append(showWorkqueue(wq));
        }
        for (WorkerPool pool : allPools) {
            pool.lock();
            try {
                if (pool.worklist.isEmpty() && pool.nrRunning == 0) {
                    continue;
                }
                sb.append("pool ").append(pool.id).append(": ").append(pool.describe()).append(" hung=")
                        .append((machine.jiffies() - pool.watchdogTs) / machine.hz()).append("s workers=")
                        .append(pool.workers.size()).append(" idle: ").append(pool.idle.size()).append('\n');
            } finally {
                pool.unlock();
            }
        }
        return sb.toString();
    }

    /**
     * {@code show_one_workqueue(wq)}: the workqueue's busy pool-workqueues (in flight, pending, inactive), or
     * "" when it has none.
     */
    String showWorkqueue(Workqueue wq) {
        StringBuilder pwqLines = new StringBuilder();
        for (int i = 0; i < wq.pwqs.length; i++) {
            PoolWorkqueue pwq = wq.pwqs[i];
            pwq.pool.lock();
            try {
                if (pwq.totalInFlightLocked() == 0) {
                    continue;
                }
                pwqLines.append("  pwq ").append(pwq.pool.id).append(": ").append(pwq.pool.describe())
                        .append(" active=").append(pwq.nrActive).append(" refcnt=").append(pwq.totalInFlightLocked() + 1)
                        .append('\n');
                StringBuilder inFlight = new StringBuilder();
                for (Worker w : pwq.pool.workers) {
                    if (w.currentPwq == pwq) {
                        inFlight.append(inFlight.isEmpty() ? "" : ", ").append(w.name()).append(':')
                                .append(w.currentWork.name());
                    }
                }
                if (!inFlight.isEmpty()) {
                    pwqLines.append("    in-flight: ").append(inFlight).append('\n');
                }
                StringBuilder pending = new StringBuilder();
                for (Work x = pwq.pool.worklist.first(); x != null; x = x.next) {
                    if (x.pwq == pwq) {
                        pending.append(pending.isEmpty() ? "" : ", ").append(x.name());
                    }
                }
                if (!pending.isEmpty()) {
                    pwqLines.append("    pending: ").append(pending).append('\n');
                }
                if (!pwq.inactive.isEmpty()) {
                    pwqLines.append("    inactive: ").append(pwq.inactive.size()).append(" items\n");
                }
            } finally {
                pwq.pool.unlock();
            }
        }
        if (pwqLines.isEmpty()) {
            return "";
        }
        return "workqueue " + wq.name() + ": flags=0x" + Integer.toHexString(wq.flags()) + "\n" + pwqLines;
    }

    /** {@code wq_monitor.py}: per-workqueue statistics. */
    Workqueues.Stats stats(Workqueue wq) {
        long total = 0;
        long inFlight = 0;
        long runNs = 0;
        long cpuIntensive = 0;
        long cmw = 0;
        long mayday = 0;
        long rescued = 0;
        for (PoolWorkqueue pwq : wq.pwqs) {
            pwq.pool.lock();
            try {
                mayday += pwq.statMayday;
                rescued += pwq.statRescued;
                total += pwq.statTotal;
                inFlight += pwq.totalInFlightLocked();
                runNs += pwq.statRunNs;
                cpuIntensive += pwq.statCpuIntensive;
                cmw += pwq.statCmWakeups;
            } finally {
                pwq.pool.unlock();
            }
        }
        return new Workqueues.Stats(wq.name(), total, inFlight, runNs, cpuIntensive, cmw, mayday, rescued);
    }

    /** The workqueue monitor's table: {@link Workqueues#monitor()}. */
    String monitor() {
        StringBuilder sb = new StringBuilder(String.format("%-30s %10s %6s %9s %8s %8s %7s %7s%n", "", "total", "infl",
                "CPUtime", "CPUitsv", "CMW/RPR", "mayday", "rescued"));
        for (Workqueue wq : workqueues) {
            Workqueues.Stats s = stats(wq);
            if (s.total() == 0 && s.inFlight() == 0) {
                continue;
            }
            sb.append(String.format("%-30s %10d %6d %9.1f %8d %8d %7d %7d%n", s.name(), s.total(), s.inFlight(),
                    s.runNs() / 1e9, s.cpuIntensive(), s.cmWakeups(), s.mayday(), s.rescued()));
        }
        return sb.toString();
    }
}
