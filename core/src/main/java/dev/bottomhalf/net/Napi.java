package dev.bottomhalf.net;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.NapiPollEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.Jiffies;

/**
 * NAPI, the network receive-polling machinery of one kernel ({@code net/core/dev.c}): {@link NapiStruct}s added
 * to {@link NetDevice}s, scheduled onto the calling CPU's poll list and polled by {@code net_rx_action}
 * (NET_RX_SOFTIRQ) within {@code netdev_budget} packets and {@code netdev_budget_usecs}, by a per-instance kthread
 * for threaded devices, or by a busy-polling caller; with the per-CPU counters of {@code /proc/net/softnet_stat}.
 * Thread-safe; each operation says from which contexts it may be called (docs/subsystems/net.md).
 *
 * <p>Implementation notes.
 * <ul>
 * <li>State: each instance's word is changed with compare-and-set and atomic bit operations, exactly the
 * transitions of the kernel ({@code napi_schedule_prep}, {@code napi_complete_done}, {@code napi_disable},
 * {@code napi_enable}); the SCHED bit is the ownership of the instance, so at most one context polls it.</li>
 * <li>Lists: a CPU's poll list is intrusive and guarded by that CPU's softnet lock (the kernel's
 * {@code local_irq_save}: a hard IRQ here may run beside ksoftirqd serving the same CPU). Scheduling an instance
 * that is already scheduled is one compare-and-set (MISSED); queueing one is a lock, three link stores and a
 * raise; a poll from {@code net_rx_action} two lock sections. None allocates (unless tracing is on).</li>
 * <li>Waits ({@code napi_disable}) go through the machine's one wait ({@code Machine.waitUntil}): they drive the
 * kernel in stepped mode, park in threaded mode, and fail with {@code IllegalStateException} when the kernel
 * closes; every SCHED clear wakes them.</li>
 * <li>Socket-backed devices ({@link UdpDevice}, {@link TcpDevice}) are kept in a concurrent set (their
 * {@code SocketDevice} hooks) from their open to their close: when the kernel starts refusing work their card threads
 * are told to stop, and the close's sweep ({@code discardForClose}) joins them and closes their channels.</li>
 * </ul>
 */
public final class Napi {
    static {
        Subsystems.install(Subsystems.NetAccess.class, new NapiWiring());
    }

    /** {@code NAPI_POLL_WEIGHT}: the default weight, and the largest one that is not reported. */
    public static final int NAPI_POLL_WEIGHT = 64;
    /** The default of the {@code net.core.netdev_budget} sysctl: packets per {@code net_rx_action}. */
    public static final int NETDEV_BUDGET = 300;
    /** The default of the {@code net.core.netdev_budget_usecs} sysctl: 2 ms per {@code net_rx_action}. */
    public static final int NETDEV_BUDGET_USECS = 2000;

    /** {@code HRTIMER_MODE_REL_PINNED}, hard: the deferral timer expires in hard-IRQ context on the CPU that set it. */
    private static final Set<HrTimer.Mode> WATCHDOG_MODE = Set.of(HrTimer.Mode.REL, HrTimer.Mode.PINNED);

    private final Machine machine;
    private final Softirqs softirqs;
    private final Sched sched;
    private final Kthreads kthreads;
    private final HrTimers hrtimers;
    private final Reports reports;
    private final Tracing tracing;
    private final SoftnetData[] softnet;
    /** Poll functions' oopses, rate-limited per instance. */
    private final RateLimiter oopses;
    /** Instances by id ({@code napi_hash}), for {@code napi_busy_loop}. */
    private final Map<Integer, NapiStruct> byId = new ConcurrentHashMap<>();
    /** Every listed instance, for the close. */
    private final Set<NapiStruct> listed = ConcurrentHashMap.newKeySet();
    /** The open socket-backed devices, whose cards and channels the kernel's close stops and closes. */
    private final Set<SocketDevice> devices = ConcurrentHashMap.newKeySet();
    private int lastNapiId;
    /** This object's copy of the machine's refusing state, read by {@code napi_schedule_prep}. */
    private volatile boolean refusing;
    private volatile int netdevBudget = NETDEV_BUDGET;
    private volatile int netdevBudgetUsecs = NETDEV_BUDGET_USECS;

    /**
     * Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one.
     * Opens NET_RX_SOFTIRQ with {@code net_rx_action}.
     *
     * @param machine   the kernel's machine
     * @param softirqs  the softirq vector, whose NET_RX this subsystem opens
     * @param sched     tasks, for waking the kthreads of threaded instances
     * @param kthreads  kthreads, for {@code napi/<dev>-<id>}
     * @param hrtimers hrtimers, for each instance's deferral timer ({@code napi_watchdog})
     */
    Napi(Machine machine, Softirqs softirqs, Sched sched, Kthreads kthreads, HrTimers hrtimers) {
        this.machine = Objects.requireNonNull(machine, "machine");
        this.softirqs = Objects.requireNonNull(softirqs, "softirqs");
        this.sched = Objects.requireNonNull(sched, "sched");
        this.kthreads = Objects.requireNonNull(kthreads, "kthreads");
        this.hrtimers = Objects.requireNonNull(hrtimers, "hrtimers");
        this.reports = machine.reports();
        this.tracing = machine.tracing();
        this.oopses = reports.limiter("__napi_poll");
        this.softnet = new SoftnetData[machine.cpuCount()];
        for (int i = 0; i < softnet.length; i++) {
            softnet[i] = new SoftnetData(i);
        }
        machine.onRefusing(() -> {
            refusing = true;
            for (SocketDevice d : devices) {
                d.stopCardForClose(); // no more interrupts from the sockets: the close drains what was taken
            }
        });
        this.lastNapiId = machine.cpuCount(); // MIN_NAPI_ID is NR_CPUS + 1: ids never look like CPU numbers
        softirqs.open(SoftirqVector.NET_RX, this::netRxAction);
    }

    // ------------------------------------------------------------------------------------------
    // Sysctls
    // ------------------------------------------------------------------------------------------

    /**
     * {@code net.core.netdev_budget}: the most packets one {@code net_rx_action} polls before it stops (counting
     * a {@code time_squeeze}) and re-raises NET_RX. Any thread.
     *
     * @return the budget, {@value #NETDEV_BUDGET} unless set
     */
    public int netdevBudget() {
        return netdevBudget;
    }

    /**
     * Sets {@code net.core.netdev_budget}. Any thread; the next {@code net_rx_action} reads it.
     *
     * @param budget packets per {@code net_rx_action}, at least 1
     * @throws IllegalArgumentException for a budget below 1
     */
    public void setNetdevBudget(int budget) {
        if (budget < 1) {
            throw new IllegalArgumentException("netdev_budget must be at least 1: " + budget);
        }
        netdevBudget = budget;
    }

    /**
     * {@code net.core.netdev_budget_usecs}: how long one {@code net_rx_action} may poll, in microseconds; measured
     * in jiffies on the kernel's clock ({@code usecs_to_jiffies}, so 2000 µs is 2 jiffies at HZ=1000). Any thread.
     *
     * @return the limit, {@value #NETDEV_BUDGET_USECS} unless set
     */
    public int netdevBudgetUsecs() {
        return netdevBudgetUsecs;
    }

    /**
     * Sets {@code net.core.netdev_budget_usecs}. Any thread; the next {@code net_rx_action} reads it.
     *
     * @param usecs microseconds per {@code net_rx_action}, at least 1
     * @throws IllegalArgumentException for a value below 1
     */
    public void setNetdevBudgetUsecs(int usecs) {
        if (usecs < 1) {
            throw new IllegalArgumentException("netdev_budget_usecs must be at least 1: " + usecs);
        }
        netdevBudgetUsecs = usecs;
    }

    // ------------------------------------------------------------------------------------------
    // Adding and deleting
    // ------------------------------------------------------------------------------------------

    /**
     * {@code netif_napi_add(dev, napi, poll)}: {@link #add(NetDevice, NapiStruct, NapiStruct.Poll, int)} with
     * weight {@value #NAPI_POLL_WEIGHT}. Process context.
     *
     * @param dev  the device the instance belongs to
     * @param napi the instance, not yet added
     * @param poll the driver's poll function
     */
    public void add(NetDevice dev, NapiStruct napi, NapiStruct.Poll poll) {
        add(dev, napi, poll, NAPI_POLL_WEIGHT);
    }

    /**
     * {@code netif_napi_add_weight(dev, napi, poll, weight)}: adds the instance to {@code dev}, gives it an id and
     * leaves it disabled (SCHED and NPSVC set) until {@link #enable}. A weight above {@value #NAPI_POLL_WEIGHT} is
     * reported once per kernel ({@code eth0: netif_napi_add_weight() called with weight 65}, the kernel's
     * {@code netdev_err_once}) and kept. On a threaded device the instance's kthread is created now. An instance
     * already added is the kernel's {@code WARN_ON}: reported, and nothing changes. Process context.
     *
     * @param dev    the device the instance belongs to
     * @param napi   the instance, not yet added
     * @param poll   the driver's poll function
     * @param weight the budget of one poll
     */
    public void add(NetDevice dev, NapiStruct napi, NapiStruct.Poll poll, int weight) {
        Objects.requireNonNull(dev, "dev");
        Objects.requireNonNull(napi, "napi");
        Objects.requireNonNull(poll, "poll");
        machine.checkOpen();
        if ((napi.setBits(NapiStruct.LISTED) & NapiStruct.LISTED) != 0) {
            reports.warning("netif_napi_add_weight() of " + napi.label() + ", which is already added"
                    + " (WARN_ON(test_and_set_bit(NAPI_STATE_LISTED)))");
            return;
        }
        napi.poll = poll;
        if (weight > NAPI_POLL_WEIGHT) {
            reports.once("netif_napi_add_weight", KernelEvent.Kind.ERR, dev.name()
                    + ": netif_napi_add_weight() called with weight " + weight, null);
        }
        napi.weight = weight;
        napi.dev = dev;
        napi.deferHardIrqsCount = 0;
        hrtimers.setup(napi.timer, "napi_watchdog", this::watchdog, WATCHDOG_MODE);
        napi.listOwner(-1);
        napi.setBits(NapiStruct.SCHED | NapiStruct.NPSVC);
        synchronized (this) {
            napi.napiId = ++lastNapiId;
        }
        byId.put(napi.napiId, napi);
        listed.add(napi);
        dev.napis.add(napi);
        if (dev.threaded && napi.thread == null) {
            kthreadCreate(napi);
        }
    }

    /**
     * {@code netif_napi_del(napi)}: takes the instance off its device and stops its kthread. The driver disables
     * it first ({@link #disable}); deleting one that is not added does nothing. Process context (may sleep).
     *
     * @param napi the instance
     */
    public void del(NapiStruct napi) {
        machine.checkOpen();
        if ((napi.clearBits(NapiStruct.LISTED) & NapiStruct.LISTED) == 0) {
            return;
        }
        byId.remove(napi.napiId, napi);
        listed.remove(napi);
        NetDevice dev = napi.dev;
        if (dev != null) {
            dev.napis.remove(napi);
        }
        Task t = napi.thread;
        if (t != null) {
            kthreads.stop(t);
            napi.thread = null;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Enable / disable
    // ------------------------------------------------------------------------------------------

    /**
     * {@code napi_enable(n)}: clears SCHED and NPSVC so that the instance can be scheduled; on a threaded device
     * with a kthread, sets THREADED. Enabling an instance that is not disabled is the kernel's {@code BUG_ON}:
     * reported as a BUG, and nothing changes. Any context.
     *
     * @param n the instance, disabled (as {@code netif_napi_add} or {@link #disable} left it)
     */
    public void enable(NapiStruct n) {
        machine.checkOpen();
        int val;
        int update;
        do {
            val = n.get();
            if ((val & NapiStruct.SCHED) == 0) {
                reports.bug("kernel BUG: napi_enable(" + n.label() + ") of an instance that is not disabled"
                        + " (BUG_ON(!test_bit(NAPI_STATE_SCHED)))", new Throwable("napi_enable"));
                return;
            }
            update = val & ~(NapiStruct.SCHED | NapiStruct.NPSVC);
            NetDevice dev = n.dev;
            if (dev != null && dev.threaded && n.thread != null) {
                update |= NapiStruct.THREADED;
            }
        } while (!n.cas(val, update));
    }

    /**
     * {@code napi_disable(n)}: sets DISABLE (so {@code napi_schedule_prep} refuses), sleeps until the instance is
     * neither scheduled nor being polled, then takes SCHED and NPSVC for itself, clears THREADED, cancels the
     * deferral timer ({@code hrtimer_cancel}: a deferred poll does not happen), and clears DISABLE. A scheduled
     * instance is polled once more before the wait ends (its poll sees {@code napi_disable_pending} and
     * completes). In stepped mode the wait drives the kernel. Process context
     * (may sleep); in atomic context — a poll function among them, which would wait for itself — it is reported
     * as the kernel's {@code might_sleep} BUG and returns without disabling.
     *
     * @param n the instance, enabled
     * @throws IllegalStateException when the kernel closes during the wait
     */
    public void disable(NapiStruct n) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        if (!ctx.mightSleep("napi_disable")) {
            return; // atomic context (a poll among them: it would wait for itself): reported by might_sleep
        }
        n.setBits(NapiStruct.DISABLE);
        String what = null;
        for (;;) {
            int val = n.get();
            if ((val & (NapiStruct.SCHED | NapiStruct.NPSVC)) != 0) {
                if (what == null) {
                    what = "napi_disable(" + n.label() + ")";
                }
                if (!machine.waitUntil(() -> (n.get() & (NapiStruct.SCHED | NapiStruct.NPSVC)) == 0, what)) {
                    n.clearBits(NapiStruct.DISABLE);
                    return; // stepped mode, nothing can poll it: reported by the wait
                }
                continue;
            }
            int update = (val | NapiStruct.SCHED | NapiStruct.NPSVC)
                    & ~(NapiStruct.THREADED | NapiStruct.PREFER_BUSY_POLL);
            if (n.cas(val, update)) {
                break;
            }
        }
        if (n.dev != null) {
            hrtimers.cancel(n.timer); // a deferred poll's timer: it finds SCHED taken and does nothing if it runs now
        }
        n.clearBits(NapiStruct.DISABLE);
    }

    // ------------------------------------------------------------------------------------------
    // Scheduling
    // ------------------------------------------------------------------------------------------

    /**
     * {@code napi_schedule_prep(n)}: takes SCHED unless a disable is pending; if SCHED was already set, sets
     * MISSED instead, so that the owner polls once more after completing. Any context; one compare-and-set.
     *
     * @param n the instance
     * @return true when the caller took SCHED and must now queue it ({@link #scheduleAfterPrep}); false when it is
     *         already scheduled or being disabled
     */
    public boolean schedulePrep(NapiStruct n) {
        if (refusing) {
            machine.checkOpen();
        }
        int val = n.get();
        int update;
        do {
            if ((val & NapiStruct.DISABLE) != 0) {
                return false;
            }
            update = val | NapiStruct.SCHED;
            if ((val & NapiStruct.SCHED) != 0) {
                update |= NapiStruct.MISSED;
            }
            if (n.cas(val, update)) {
                return (val & NapiStruct.SCHED) == 0;
            }
            val = n.get();
        } while (true);
    }

    /**
     * {@code napi_schedule(n)}: {@link #schedulePrep}, and when it succeeds {@link #scheduleAfterPrep}. The usual
     * call of an interrupt handler after it masked the device's interrupt. Any context; from task context the
     * caller disables BH around it, as in the kernel (NET_RX then runs at {@code local_bh_enable}).
     *
     * @param n the instance
     * @return whether this call queued it
     */
    public boolean schedule(NapiStruct n) {
        if (schedulePrep(n)) {
            scheduleAfterPrep(n);
            return true;
        }
        return false;
    }

    /**
     * {@code napi_schedule_irqoff(n)}: {@link #schedule} for a caller with IRQs disabled (a hard IRQ handler).
     *
     * @param n the instance
     */
    public void scheduleIrqoff(NapiStruct n) {
        if (schedulePrep(n)) {
            scheduleAfterPrep(n);
        }
    }

    /**
     * {@code __napi_schedule(n)}: queues an instance whose SCHED the caller took ({@link #schedulePrep}): a
     * threaded instance is handed to its kthread (SCHED_THREADED, {@code wake_up_process}); any other goes to the
     * tail of the calling CPU's poll list and NET_RX is raised ({@code __raise_softirq_irqoff}: no ksoftirqd
     * wake-up) unless {@code net_rx_action} is running on this CPU and will look again. Any context.
     *
     * @param n the instance, SCHED taken by the caller
     */
    public void scheduleAfterPrep(NapiStruct n) {
        ExecutionContext ctx = machine.currentAtEntry();
        queue(ctx, n);
        machine.afterAccept();
    }

    /**
     * {@code __napi_schedule_irqoff(n)}: {@link #scheduleAfterPrep} for a caller with IRQs disabled.
     *
     * @param n the instance, SCHED taken by the caller
     */
    public void scheduleAfterPrepIrqoff(NapiStruct n) {
        scheduleAfterPrep(n);
    }

    /** {@code ____napi_schedule}. */
    private void queue(ExecutionContext ctx, NapiStruct n) {
        if ((n.get() & NapiStruct.THREADED) != 0) {
            Task t = n.thread;
            if (t != null) {
                n.setBits(NapiStruct.SCHED_THREADED);
                sched.wakeUpProcess(t);
                return;
            }
        }
        int cpu = ctx.cpuId();
        SoftnetData sd = softnet[cpu];
        sd.lock.lock();
        try {
            sd.pollList.addTail(n);
            n.listOwner(cpu);
        } finally {
            sd.lock.unlock();
        }
        if (!sd.inNetRxAction) {
            Subsystems.softirq().raiseOn(softirqs, ctx, SoftirqVector.NET_RX.nr(), false);
        }
    }

    /**
     * {@code napi_complete_done(n, work_done)}: the poll's "done": takes the instance off any poll list and clears
     * SCHED — unless MISSED was set (scheduled again meanwhile), which keeps SCHED and queues it again. The driver
     * re-enables the device's interrupt only when this returns true. Returns false at once (changing nothing) while
     * the instance is disabled or busy-polled: its owner will poll it again. Called from the poll function (or by
     * the owner of SCHED), when it did less than its budget.
     *
     * <p>IRQ deferral: a completion after a poll that did work sets the instance's count to the device's
     * {@code napi_defer_hard_irqs}; while the count is above 0, each completion takes one from it and — when the
     * device's {@code gro_flush_timeout} is above 0 — returns false, so the interrupt stays masked, and starts the
     * instance's timer (pinned to this CPU) for that many nanoseconds; when it expires, {@code napi_watchdog}
     * schedules the next poll as an interrupt would. So after the last poll that found work, at most
     * {@code napi_defer_hard_irqs} polls come from the timer, and the last of them unmasks.
     *
     * @param n         the instance
     * @param workDone  the work the poll did: above 0 restarts the deferral count
     * @return true when the instance is idle now and the device's interrupt may be unmasked
     */
    public boolean completeDone(NapiStruct n, int workDone) {
        int val = n.get();
        if ((val & (NapiStruct.NPSVC | NapiStruct.IN_BUSY_POLL)) != 0) {
            return false;
        }
        long timeoutNs = 0;
        boolean unmask = true;
        NetDevice dev = n.dev;
        if (workDone > 0 && dev != null) {
            n.deferHardIrqsCount = dev.napiDeferHardIrqs();
        }
        if (n.deferHardIrqsCount > 0) {
            n.deferHardIrqsCount--;
            timeoutNs = dev != null ? dev.groFlushTimeoutNs() : 0;
            if (timeoutNs != 0) {
                unmask = false;
            }
        }
        if (n.list != null || n.listOwner() >= 0) {
            unlist(n);
        }
        int update;
        do {
            val = n.get();
            if ((val & NapiStruct.SCHED) == 0) {
                reports.warnOnce("napi_complete_done", "napi_complete_done(" + n.label() + ") of an instance that is"
                        + " not scheduled (WARN_ON_ONCE(!(val & NAPIF_STATE_SCHED)))");
            }
            update = val & ~(NapiStruct.MISSED | NapiStruct.SCHED | NapiStruct.SCHED_THREADED
                    | NapiStruct.PREFER_BUSY_POLL);
            if ((val & NapiStruct.MISSED) != 0) {
                update |= NapiStruct.SCHED;
            }
        } while (!n.cas(val, update));
        if ((val & NapiStruct.MISSED) != 0) {
            scheduleAfterPrep(n);
            return false;
        }
        if (timeoutNs != 0) {
            hrtimers.start(n.timer, timeoutNs, WATCHDOG_MODE);
        }
        machine.wakeWaiters(); // napi_disable; one load when nobody waits
        return unmask;
    }

    /**
     * {@code napi_watchdog}: the deferral timer's callback, in hard-IRQ context on the CPU that started it. Takes
     * SCHED — without setting MISSED, since no device interrupt asked — unless a disable is pending or the instance
     * is already scheduled, and queues it ({@code __napi_schedule_irqoff}) for NET_RX or its kthread.
     */
    private HrTimer.Restart watchdog(HrTimer timer) {
        NapiStruct n = timer.owner(NapiStruct.class);
        if ((n.get() & NapiStruct.DISABLE) == 0
                && (n.setBits(NapiStruct.SCHED) & NapiStruct.SCHED) == 0) {
            n.clearBits(NapiStruct.PREFER_BUSY_POLL);
            scheduleAfterPrep(n);
        }
        return HrTimer.Restart.NORESTART;
    }

    /**
     * {@code napi_complete(n)}: {@code napi_complete_done(n, 0)}.
     *
     * @param n the instance
     * @return as {@link #completeDone}
     */
    public boolean complete(NapiStruct n) {
        return completeDone(n, 0);
    }

    /** {@code list_del_init(&n->poll_list)} under the owning CPU's lock; {@code list_owner = -1}. */
    private void unlist(NapiStruct n) {
        int owner = n.listOwner();
        if (owner >= 0) {
            SoftnetData sd = softnet[owner];
            sd.lock.lock();
            try {
                if (n.list != null) {
                    n.list.remove(n);
                }
            } finally {
                sd.lock.unlock();
            }
        }
        n.listOwner(-1);
    }

    // ------------------------------------------------------------------------------------------
    // Polling
    // ------------------------------------------------------------------------------------------

    /**
     * {@code net_rx_action}: the NET_RX handler. Polls this CPU's list in order within {@code netdev_budget}
     * packets and {@code netdev_budget_usecs}; a poll that used its whole weight goes to the tail. When the budget
     * or the time runs out it counts a {@code time_squeeze}; what is left is put back and NET_RX re-raised.
     */
    private void netRxAction() {
        ExecutionContext ctx = machine.current();
        SoftnetData sd = softnet[ctx.cpuId()];
        long timeLimit = machine.jiffies() + Jiffies.usecsToJiffies(netdevBudgetUsecs, machine.hz());
        int budget = netdevBudget;
        start:
        for (;;) {
            sd.inNetRxAction = true;
            sd.lock.lock();
            sd.work.spliceTailFrom(sd.pollList);
            sd.lock.unlock();
            for (;;) {
                sd.lock.lock();
                NapiStruct n = sd.work.head;
                if (n == null) {
                    boolean repollEmpty = sd.repoll.isEmpty();
                    sd.lock.unlock();
                    if (repollEmpty) {
                        sd.inNetRxAction = false;
                        sd.lock.lock();
                        boolean refilled = !sd.pollList.isEmpty();
                        sd.lock.unlock();
                        if (refilled) {
                            continue start; // a schedule saw in_net_rx_action and did not raise
                        }
                        return;
                    }
                    break;
                }
                sd.work.remove(n);
                sd.lock.unlock();
                long r = pollOnce(ctx, sd, n);
                if ((r & 1) != 0) {
                    sd.lock.lock();
                    sd.repoll.addTail(n);
                    sd.lock.unlock();
                }
                budget -= (int) (r >> 1);
                if (budget <= 0 || machine.jiffies() - timeLimit >= 0) {
                    sd.incrementTimeSqueeze();
                    break;
                }
                RuntimeAccess.get().cpu(ctx).serviceInterruptsBetweenHandlers(ctx);
            }
            break;
        }
        boolean more;
        sd.lock.lock();
        try {
            sd.work.spliceTailFrom(sd.pollList);
            sd.work.spliceTailFrom(sd.repoll);
            sd.pollList.spliceTailFrom(sd.work);
            more = !sd.pollList.isEmpty();
            if (!more) {
                // Under the lock (the kernel: with IRQs off): a schedule that queues after this section reads
                // false and raises; one that queued before it is on the list, and NET_RX is raised below.
                sd.inNetRxAction = false;
            }
        } finally {
            sd.lock.unlock();
        }
        if (more) {
            Subsystems.softirq().raiseOn(softirqs, ctx, SoftirqVector.NET_RX.nr(), false);
        }
    }

    /**
     * {@code __napi_poll}: polls a scheduled instance with its weight and decides whether it goes back on the
     * list. Counts the work as processed on {@code sd}'s CPU.
     *
     * @return the work done shifted left by one, with bit 0 set when the instance must be polled again (repoll)
     */
    private long pollOnce(ExecutionContext ctx, SoftnetData sd, NapiStruct n) {
        int weight = n.weight;
        int work = 0;
        if ((n.get() & NapiStruct.SCHED) != 0) {
            work = invokePoll(n, weight);
        }
        if (work > weight) {
            reports.once("napi_poll_budget", KernelEvent.Kind.ERR, n.dev.name() + ": NAPI poll function "
                    + n.label() + " returned " + work + ", exceeding its budget of " + weight + ".", null);
        }
        if (work > 0) {
            sd.addProcessed(work);
        }
        long result = (long) work << 1;
        if (work < weight) {
            return result;
        }
        // The whole weight used: the poll left the state alone and this context still owns the instance.
        if ((n.get() & NapiStruct.DISABLE) != 0) {
            complete(n);
            return result;
        }
        if (n.list != null) {
            reports.once("napi_poll_rescheduled", KernelEvent.Kind.WARN, n.dev.name()
                    + ": Budget exhausted after napi rescheduled", null);
            return result;
        }
        return result | 1;
    }

    /** Calls the poll function, with the napi_poll tracepoint; an exception is an oops and counts as no work. */
    private int invokePoll(NapiStruct n, int budget) {
        int work;
        NapiPollEvent jfr = Jfr.napiPollBegin();
        try {
            work = n.poll.poll(n, budget);
        } catch (Throwable e) {
            oopses.oops(n, n, napi -> "napi poll " + napi.label(), e);
            work = 0;
        }
        if (jfr != null) {
            ExecutionContext ctx = ExecutionContext.currentOrNull();
            Jfr.napiPollEnd(jfr, n.dev.name(), n.label(), work, budget, ctx != null ? ctx.cpuId() : -1);
        }
        if (tracing.on(Tracepoint.NAPI_POLL)) {
            tracing.emit(Tracepoint.NAPI_POLL, "napi poll on napi struct " + n.label() + " for device "
                    + n.dev.name() + " work " + work + " budget " + budget);
        }
        return work;
    }

    // ------------------------------------------------------------------------------------------
    // Threaded NAPI
    // ------------------------------------------------------------------------------------------

    /**
     * {@code dev_set_threaded(dev, threaded)}: with true, creates the kthread {@code napi/<dev>-<id>} of every
     * instance of {@code dev} that has none and sets THREADED on each, so that from the next schedule on they are
     * polled by their kthreads (with BH disabled, on the kthread's CPU) instead of NET_RX; with false, clears
     * THREADED (the kthreads stay until {@link #del}). An instance being polled switches at its next schedule.
     * Process context.
     *
     * @param dev      the device
     * @param threaded the mode
     * @return 0
     */
    public int setThreaded(NetDevice dev, boolean threaded) {
        machine.checkOpen();
        if (dev.threaded == threaded) {
            return 0;
        }
        if (threaded) {
            for (NapiStruct n : dev.napis) {
                if (n.thread == null) {
                    kthreadCreate(n);
                }
            }
        }
        dev.threaded = threaded;
        for (NapiStruct n : dev.napis) {
            if (threaded) {
                n.setBits(NapiStruct.THREADED);
            } else {
                n.clearBits(NapiStruct.THREADED);
            }
        }
        return 0;
    }

    /** {@code napi_kthread_create}: {@code kthread_run(napi_threaded_poll, n, "napi/%s-%d", dev->name, id)}. */
    private void kthreadCreate(NapiStruct n) {
        n.thread = kthreads.run(this::threadedPoll, n, "napi/%s-%d", n.dev.name(), n.napiId);
    }

    /** {@code napi_threaded_poll}: waits for SCHED_THREADED, polls until the instance needs no repoll, again. */
    private int threadedPoll(NapiStruct n) {
        while (threadWait(n)) {
            threadedPollLoop(n);
        }
        return 0;
    }

    /** {@code napi_thread_wait}: true when the instance is scheduled for this kthread, false when told to stop. */
    private boolean threadWait(NapiStruct n) {
        sched.setCurrentState(Task.TASK_INTERRUPTIBLE);
        while (!kthreads.shouldStop()) {
            if ((n.get() & NapiStruct.SCHED_THREADED) != 0) {
                if (n.list != null) {
                    reports.warning("napi_thread_wait(" + n.label() + "): scheduled for its kthread while on a poll"
                            + " list (WARN_ON(!list_empty(&napi->poll_list)))");
                }
                sched.setCurrentState(Task.TASK_RUNNING);
                return true;
            }
            sched.schedule();
            sched.setCurrentState(Task.TASK_INTERRUPTIBLE);
        }
        sched.setCurrentState(Task.TASK_RUNNING);
        return false;
    }

    /** {@code napi_threaded_poll_loop}. */
    private void threadedPollLoop(NapiStruct n) {
        ExecutionContext ctx = machine.current();
        for (;;) {
            ctx.localBhDisable();
            long r;
            try {
                r = pollOnce(ctx, softnet[ctx.cpuId()], n);
            } finally {
                ctx.localBhEnable();
            }
            if ((r & 1) == 0) {
                return;
            }
            sched.condResched();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Busy polling
    // ------------------------------------------------------------------------------------------

    /** The end condition of {@link #busyLoop} ({@code bool (*loop_end)(void *, unsigned long start_time)}). */
    @FunctionalInterface
    public interface BusyLoopEnd {
        /**
         * Whether the busy loop should end now.
         *
         * @param startTimeUs the loop's start on the kernel's clock, from {@link #busyLoopCurrentTime()}
         * @return true to end the loop
         */
        boolean end(long startTimeUs);
    }

    /**
     * {@code busy_loop_current_time()}: the kernel's clock in units of 1024 ns (about microseconds), what
     * {@link BusyLoopEnd} receives as the start time. Any thread.
     *
     * @return nanoseconds since boot shifted right by 10
     */
    public long busyLoopCurrentTime() {
        return machine.uptimeNs() >> 10;
    }

    /**
     * {@code napi_busy_loop(napi_id, loop_end, arg, false, budget)}: polls the instance with id {@code napiId} from
     * the calling context, {@code budget} at a time with BH disabled, until {@code loopEnd} says to stop (once when
     * it is null). The caller owns the instance only if it is idle when the loop starts (it takes SCHED and
     * IN_BUSY_POLL; while it holds them {@code napi_complete_done} returns false); otherwise each round polls
     * nothing. At the end it clears MISSED and IN_BUSY_POLL and polls once more so that the driver can complete
     * and unmask; a last poll that used the whole budget schedules the instance for NET_RX. An unknown id does
     * nothing. The work counts as processed on the caller's CPU. Process context; in stepped mode the clock moves
     * only if {@code loopEnd} or the poll moves it, so a time-based end condition needs the manual clock.
     *
     * @param napiId  the instance's id ({@link NapiStruct#napiId()})
     * @param loopEnd the end condition, or null for one round
     * @param budget  the budget of each poll
     */
    public void busyLoop(int napiId, BusyLoopEnd loopEnd, int budget) {
        machine.checkOpen();
        ExecutionContext ctx = machine.current();
        NapiStruct n = byId.get(napiId);
        if (n == null) {
            return;
        }
        long startUs = busyLoopCurrentTime();
        boolean owned = false;
        for (;;) {
            ctx.localBhDisable();
            try {
                if (!owned) {
                    int val = n.get();
                    if ((val & (NapiStruct.DISABLE | NapiStruct.SCHED | NapiStruct.IN_BUSY_POLL)) == 0
                            && n.cas(val, val | NapiStruct.IN_BUSY_POLL | NapiStruct.SCHED)) {
                        owned = true;
                    }
                }
                if (owned) {
                    int work = invokePoll(n, budget);
                    if (work > 0) {
                        softnet[ctx.cpuId()].addProcessed(work);
                    }
                }
            } finally {
                ctx.localBhEnable();
            }
            if (loopEnd == null || loopEnd.end(startUs)) {
                break;
            }
            Thread.onSpinWait();
        }
        if (owned) {
            busyPollStop(ctx, n, budget);
        }
    }

    /** {@code busy_poll_stop}: gives the instance back, polling once more so the driver can re-arm. */
    private void busyPollStop(ExecutionContext ctx, NapiStruct n, int budget) {
        n.clearBits(NapiStruct.MISSED);
        n.clearBits(NapiStruct.IN_BUSY_POLL);
        ctx.localBhDisable();
        try {
            int rc = invokePoll(n, budget);
            if (rc > 0) {
                softnet[ctx.cpuId()].addProcessed(rc);
            }
            if (rc == budget) {
                scheduleAfterPrep(n);
            }
        } finally {
            ctx.localBhEnable();
        }
        machine.wakeWaiters();
    }

    // ------------------------------------------------------------------------------------------
    // Statistics
    // ------------------------------------------------------------------------------------------

    /**
     * {@code softnet_data.processed} of {@code cpu}: the work (packets) its polls did. The kernel counts each
     * packet as {@code __netif_receive_skb} takes it; here each unit a poll function returns. Any thread.
     *
     * @param cpu a CPU of this kernel
     * @return the count since boot
     */
    public long processed(int cpu) {
        return softnet(cpu).processed();
    }

    /**
     * {@code softnet_data.time_squeeze} of {@code cpu}: how many {@code net_rx_action}s ran out of budget or time
     * with work left. Any thread.
     *
     * @param cpu a CPU of this kernel
     * @return the count since boot
     */
    public long timeSqueeze(int cpu) {
        return softnet(cpu).timeSqueeze();
    }

    /**
     * The instance with id {@code napiId} ({@code napi_by_id}), if it is added. Any thread.
     *
     * @param napiId an id from {@link NapiStruct#napiId()}
     * @return the instance, or null
     */
    public NapiStruct byId(int napiId) {
        return byId.get(napiId);
    }

    /**
     * Whether {@code cpu}'s poll list is empty. Any thread; a snapshot.
     *
     * @param cpu a CPU of this kernel
     * @return whether nothing is queued for NET_RX there
     */
    public boolean pollListEmpty(int cpu) {
        SoftnetData sd = softnet(cpu);
        sd.lock.lock();
        try {
            return sd.pollList.isEmpty() && sd.work.isEmpty() && sd.repoll.isEmpty();
        } finally {
            sd.lock.unlock();
        }
    }

    private SoftnetData softnet(int cpu) {
        machine.cpu(cpu);
        return softnet[cpu];
    }

    // ------------------------------------------------------------------------------------------
    // Socket-backed devices
    // ------------------------------------------------------------------------------------------

    /** The kernel's reports, for the devices of this package. */
    Reports reports() {
        return reports;
    }

    /** The kernel's CPU count, for the devices' default routing. */
    int cpuCount() {
        return softnet.length;
    }

    /** Whether the kernel's close has begun (its calls refuse). */
    boolean kernelClosing() {
        return refusing;
    }

    /** Fails when the kernel is closed, before a device opens sockets. */
    void checkOpenForDevice() {
        machine.checkOpen();
    }

    /** Keeps an open device for the close; a device opened while the close begins is stopped at once. */
    void attachDevice(SocketDevice d) {
        devices.add(d);
        if (refusing) {
            d.stopCardForClose();
        }
    }

    /** Forgets a device its owner closed. */
    void detachDevice(SocketDevice d) {
        devices.remove(d);
    }

    // ------------------------------------------------------------------------------------------
    // Closing the kernel
    // ------------------------------------------------------------------------------------------

    /**
     * Whether nothing is queued on a poll list nor scheduled for a kthread. For {@code Kernel.close()}; any thread,
     * a snapshot.
     *
     * @return whether NAPI is idle
     */
    boolean idleForClose() {
        for (int cpu = 0; cpu < softnet.length; cpu++) {
            if (!pollListEmpty(cpu)) {
                return false;
            }
        }
        for (NapiStruct n : listed) {
            if ((n.get() & NapiStruct.SCHED_THREADED) != 0 && n.thread != null) {
                return false;
            }
        }
        return true;
    }

    /**
     * Stops the socket devices' card threads and waits for them. For {@code Kernel.close()}, on the closing
     * thread, once the close refuses new calls and before its last sweep (see
     * {@code SocketDevice.stopAndJoinCardForClose}).
     */
    void stopDevicesForClose() {
        for (SocketDevice d : devices) {
            d.stopAndJoinCardForClose();
        }
    }

    /**
     * Stops the kthreads of threaded instances ({@code kthread_stop}, as {@code netif_napi_del} would), except those
     * of instances still scheduled for them. For {@code Kernel.close()}, after the drain and before the runtime
     * threads stop, on the closing thread.
     */
    void stopThreadsForClose() {
        for (NapiStruct n : listed) {
            Task t = n.thread;
            // One still scheduled for its kthread (a poll that keeps using its whole weight after the drain's time
            // ran out) would make kthread_stop wait forever: the runtime's close stops that thread and reports it.
            if (t != null && (n.get() & NapiStruct.SCHED_THREADED) == 0) {
                kthreads.stop(t);
                n.thread = null;
            }
        }
    }

    /**
     * Takes every queued instance off its poll list without polling it. For {@code Kernel.close()} once the
     * runtime threads have stopped, skipping the CPUs in {@code busyCpus} whose threads did not stop.
     *
     * @param busyCpus CPUs whose {@code cpu/N} or {@code ksoftirqd/N} did not stop
     * @return one entry per instance that was never polled: {@code NET_RX poll of eth0-9 on CPU 0}
     */
    List<String> discardForClose(Set<Integer> busyCpus) {
        for (SocketDevice d : devices) {
            d.releaseForClose();
        }
        devices.clear();
        List<String> dropped = new ArrayList<>();
        for (SoftnetData sd : softnet) {
            if (busyCpus.contains(sd.cpu)) {
                continue;
            }
            sd.lock.lock();
            try {
                for (SoftnetData.PollList l : new SoftnetData.PollList[] {sd.pollList, sd.work, sd.repoll}) {
                    while (!l.isEmpty()) {
                        NapiStruct n = l.head;
                        l.remove(n);
                        n.listOwner(-1);
                        dropped.add("NET_RX poll of " + n.label() + " on CPU " + sd.cpu);
                    }
                }
                sd.inNetRxAction = false;
            } finally {
                sd.lock.unlock();
            }
        }
        for (NapiStruct n : listed) {
            if ((n.clearBits(NapiStruct.SCHED_THREADED) & NapiStruct.SCHED_THREADED) != 0) {
                dropped.add("threaded poll of " + n.label());
            }
        }
        return dropped;
    }
}
