package dev.bottomhalf.micrometer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleFunction;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.proc.KernelSnapshot;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.workqueue.Workqueues;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.binder.MeterBinder;

/**
 * A Micrometer {@link MeterBinder} for one bottomhalf kernel: every counter of its {@link KernelSnapshot} as a
 * meter — interrupts per line and CPU, the architecture rows, softirq runs per vector and CPU, ksoftirqd runs,
 * the timer and hrtimer interrupts, the {@code softnet_stat} counters, the workqueue monitor's figures per
 * workqueue and the report counts (the table of names and tags is in {@code docs/metrics.md}). Thread-safe: it
 * may be bound to several registries, and their scrapes may run on any threads, concurrently.
 *
 * <pre>{@code
 * MeterRegistry registry = new SimpleMeterRegistry();
 * try (Kernel kernel = Kernel.boot(2); BottomhalfMetrics metrics = new BottomhalfMetrics(kernel)) {
 *     metrics.bindTo(registry);
 *     // ... bottomhalf.irq.interrupts{irq=9,name=eth0,cpu=1}, bottomhalf.softirq.runs{vector=NET_RX,cpu=1}, ...
 * }
 * }</pre>
 *
 * <p>One read per scrape: every meter reads its figure from one shared snapshot, which is taken again only
 * when it is older than {@code maxSnapshotAge} (1 s unless given) on the clock of the first registry it was
 * bound to. A scrape reads its hundreds of meters within far less than that, so it takes one snapshot (one
 * {@code kernel.snapshot()}, each counter read once) and all its figures come from the same reading: the
 * interrupts of a line on two CPUs, or {@code LOC} and its parts, agree with each other as they would in one
 * {@code /proc/interrupts}. The other design, a counter read per meter, would cost a {@code kernel.snapshot()}
 * or a separate live read per meter and let the figures of one scrape drift apart; a cached snapshot costs
 * one read and a little staleness, at most {@code maxSnapshotAge}, which a scrape interval of seconds hides.
 *
 * <p>The meters follow the kernel's shape: lines that gain a handler, workqueues allocated and user softirq
 * vectors opened after {@link #bindTo} get their meters when a later snapshot first shows them (a scrape
 * registers them; the next scrape reads them), and the meters of a line whose handlers were all freed, of a
 * destroyed workqueue, or of a line whose handler names changed ({@code name} tag) are removed. Lines without a
 * handler have no meters, as they have no row in {@code /proc/interrupts}. Workqueues that share a name share
 * their meters: the figures are summed.
 *
 * <p>Implementation notes: the snapshot and the time it was taken are published together through one volatile
 * field, so a meter reads either the old or the new pair; the refresh, and the registration that follows it,
 * run under this object's lock, so that concurrent scrapes take one snapshot between them. The meters' functions
 * hold this object strongly (Micrometer holds the kernel, their state object, weakly): the meters keep the kernel
 * reachable until {@link #close()} removes them.
 */
public final class BottomhalfMetrics implements MeterBinder, AutoCloseable {
    /** How long a snapshot serves the meters unless the constructor is given another age. */
    public static final Duration DEFAULT_MAX_SNAPSHOT_AGE = Duration.ofSeconds(1);

    /** The {@code type} tag values of {@code bottomhalf.irq.arch.interrupts}, as {@code /proc/interrupts} names the rows. */
    private static final String LOC = "LOC";
    private static final String CAL = "CAL";
    private static final String IWI = "IWI";
    private static final String ARCH_DESCRIPTION = "architecture interrupts of /proc/interrupts: LOC (local timer:"
            + " tick and hrtimer), CAL (function call), IWI (irq_work)";

    private final Kernel kernel;
    private final Tags tags;
    private final long maxAgeNs;
    private final Object lock = new Object();
    /** The registries bound to, with the meters registered in each; guarded by {@link #lock}. */
    private final List<Binding> bindings = new ArrayList<>();
    /** The shape the meters were last synced to; guarded by {@link #lock}. */
    private Shape shape;
    /** Set by {@link #close()}; guarded by {@link #lock}. */
    private boolean closed;
    /** The clock of the first registry bound to; written once under {@link #lock}. */
    private volatile Clock clock;
    /** The snapshot the meters read, with its clock time. */
    private volatile Taken taken;
    private final AtomicLong snapshotsTaken = new AtomicLong();

    /** A snapshot and the registry clock's monotonic time at which it was taken. */
    private record Taken(KernelSnapshot snapshot, long atNs) {
    }

    /** One registry and the meters registered in it, by the part of the kernel they show. */
    private static final class Binding {
        final MeterRegistry registry;
        final Map<Object, List<Meter>> meters = new HashMap<>();

        Binding(MeterRegistry registry) {
            this.registry = registry;
        }
    }

    /** The meters of one line with handlers. */
    private record IrqKey(int irq, String name) {
    }

    /** The meters of one softirq vector. */
    private record SoftirqKey(int nr, String name) {
    }

    /** The meters of the workqueues of one name. */
    private record WorkqueueKey(String name) {
    }

    /** The meters that never change: per CPU, reports, lockups, uptime. */
    private record FixedKey() {
    }

    /** What meters a snapshot calls for, in the order they are registered. */
    private record Shape(Set<Object> keys) {
        static Shape of(KernelSnapshot s) {
            Set<Object> keys = new LinkedHashSet<>();
            keys.add(new FixedKey());
            for (KernelSnapshot.IrqLine line : s.irqLines()) {
                if (line.hasAction()) {
                    keys.add(new IrqKey(line.irq(), line.name()));
                }
            }
            for (KernelSnapshot.SoftirqCounts v : s.softirqs()) {
                keys.add(new SoftirqKey(v.nr(), v.name()));
            }
            for (Workqueues.Stats wq : s.workqueues()) {
                keys.add(new WorkqueueKey(wq.name()));
            }
            return new Shape(Collections.unmodifiableSet(keys));
        }
    }

    /**
     * Metrics of {@code kernel}, with no extra tags and snapshots of at most {@link #DEFAULT_MAX_SNAPSHOT_AGE}.
     * Any thread.
     *
     * @param kernel the kernel
     */
    public BottomhalfMetrics(Kernel kernel) {
        this(kernel, Tags.empty(), DEFAULT_MAX_SNAPSHOT_AGE);
    }

    /**
     * Metrics of {@code kernel} with {@code tags} on every meter (to tell kernels apart, say), and snapshots of
     * at most {@link #DEFAULT_MAX_SNAPSHOT_AGE}. Any thread.
     *
     * @param kernel the kernel
     * @param tags   tags added to every meter
     */
    public BottomhalfMetrics(Kernel kernel, Iterable<Tag> tags) {
        this(kernel, tags, DEFAULT_MAX_SNAPSHOT_AGE);
    }

    /**
     * Metrics of {@code kernel} with {@code tags} on every meter, whose meters share a snapshot until it is
     * {@code maxSnapshotAge} old. Any thread.
     *
     * @param kernel         the kernel
     * @param tags           tags added to every meter
     * @param maxSnapshotAge how long one snapshot serves the meters; {@link Duration#ZERO} takes one per meter
     *                       read (for tests; a scrape then reads the kernel once per meter)
     * @throws IllegalArgumentException when {@code maxSnapshotAge} is negative
     */
    public BottomhalfMetrics(Kernel kernel, Iterable<Tag> tags, Duration maxSnapshotAge) {
        this.kernel = Objects.requireNonNull(kernel, "kernel");
        this.tags = Tags.of(Objects.requireNonNull(tags, "tags"));
        if (maxSnapshotAge.isNegative()) {
            throw new IllegalArgumentException("maxSnapshotAge cannot be negative: " + maxSnapshotAge);
        }
        this.maxAgeNs = maxSnapshotAge.toNanos();
    }

    /**
     * Registers the kernel's meters in {@code registry}, from a snapshot taken now; the first registry's clock
     * times the snapshots from then on. Any thread; a registry bound twice gets its meters once.
     *
     * @param registry the registry
     * @throws IllegalStateException after {@link #close()}
     */
    @Override
    public void bindTo(MeterRegistry registry) {
        Objects.requireNonNull(registry, "registry");
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("BottomhalfMetrics is closed");
            }
            for (Binding b : bindings) {
                if (b.registry == registry) {
                    return;
                }
            }
            if (clock == null) {
                clock = registry.config().clock();
            }
            bindings.add(new Binding(registry));
            refresh(clock.monotonicTime());
        }
    }

    /**
     * The snapshot the meters read now: the shared one while it is younger than the maximum age, else a new
     * one (which also registers the meters of new lines, vectors and workqueues). Any thread.
     *
     * @return the snapshot
     * @throws IllegalStateException before the first {@link #bindTo}
     */
    public KernelSnapshot snapshot() {
        Clock c = clock;
        if (c == null) {
            throw new IllegalStateException("BottomhalfMetrics is not bound to a registry yet");
        }
        Taken t = taken;
        long now = c.monotonicTime();
        if (t != null && now - t.atNs() < maxAgeNs) {
            return t.snapshot();
        }
        synchronized (lock) {
            t = taken;
            now = c.monotonicTime();
            if (t != null && now - t.atNs() < maxAgeNs) {
                return t.snapshot();   // another scrape refreshed it while this one waited
            }
            return refresh(now);
        }
    }

    /**
     * How many snapshots the meters have taken of the kernel so far: a scrape adds one (when the last is older
     * than the maximum age). Any thread.
     *
     * @return the count
     */
    public long snapshotsTaken() {
        return snapshotsTaken.get();
    }

    /**
     * Removes every meter this object registered from every registry it was bound to; the meters' snapshot is
     * never taken again. Idempotent; any thread.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            for (Binding b : bindings) {
                for (List<Meter> meters : b.meters.values()) {
                    meters.forEach(b.registry::remove);
                }
                b.meters.clear();
            }
            bindings.clear();
        }
    }

    /** Takes a snapshot, publishes it, and brings every registry's meters to its shape. Under {@link #lock}. */
    private KernelSnapshot refresh(long nowNs) {
        assert Thread.holdsLock(lock);
        KernelSnapshot s = kernel.snapshot();
        snapshotsTaken.incrementAndGet();
        taken = new Taken(s, nowNs);
        if (!closed) {
            Shape next = Shape.of(s);
            boolean changed = !next.equals(shape);
            shape = next;
            for (Binding b : bindings) {
                if (changed || b.meters.isEmpty()) {
                    sync(b, next, s);
                }
            }
        }
        return s;
    }

    /** Removes the meters {@code shape} no longer calls for and registers those it newly does. */
    private void sync(Binding b, Shape next, KernelSnapshot s) {
        b.meters.entrySet().removeIf(e -> {
            if (next.keys().contains(e.getKey())) {
                return false;
            }
            e.getValue().forEach(b.registry::remove);
            return true;
        });
        for (Object key : next.keys()) {
            if (!b.meters.containsKey(key)) {
                b.meters.put(key, register(b.registry, key, s));
            }
        }
    }

    private List<Meter> register(MeterRegistry r, Object key, KernelSnapshot s) {
        List<Meter> m = new ArrayList<>();
        switch (key) {
            case FixedKey k -> registerFixed(r, s, m);
            case IrqKey k -> registerIrq(r, k, s, m);
            case SoftirqKey k -> {
                for (int cpu = 0; cpu < s.cpuCount(); cpu++) {
                    int c = cpu;
                    m.add(counter(r, "bottomhalf.softirq.runs", "times the softirq vector ran on the CPU (one per pass,"
                            + " not per raise; /proc/softirqs)", Tags.of("vector", k.name(), "cpu", cpuTag(c)),
                            x -> {
                                KernelSnapshot.SoftirqCounts v = x.softirq(k.nr());
                                return v == null ? Double.NaN : v.counts().get(c);
                            }));
                }
            }
            case WorkqueueKey k -> registerWorkqueue(r, k.name(), m);
            default -> throw new IllegalArgumentException(String.valueOf(key));
        }
        return m;
    }

    private void registerFixed(MeterRegistry r, KernelSnapshot s, List<Meter> m) {
        for (int cpu = 0; cpu < s.cpuCount(); cpu++) {
            int c = cpu;
            Tags cpuTags = Tags.of("cpu", cpuTag(c));
            m.add(counter(r, "bottomhalf.irq.arch.interrupts", ARCH_DESCRIPTION, cpuTags.and("type", LOC),
                    x -> x.cpus().get(c).loc()));
            m.add(counter(r, "bottomhalf.irq.arch.interrupts", ARCH_DESCRIPTION, cpuTags.and("type", CAL),
                    x -> x.cpus().get(c).functionCallInterrupts()));
            m.add(counter(r, "bottomhalf.irq.arch.interrupts", ARCH_DESCRIPTION, cpuTags.and("type", IWI),
                    x -> x.cpus().get(c).irqWorkInterrupts()));
            m.add(counter(r, "bottomhalf.timer.interrupts", "the tick's local timer interrupts (part of LOC)", cpuTags,
                    x -> x.cpus().get(c).localTimerInterrupts()));
            m.add(counter(r, "bottomhalf.hrtimer.interrupts", "high-resolution timer interrupts (part of LOC)",
                    cpuTags, x -> x.cpus().get(c).hrtimerInterrupts()));
            m.add(counter(r, "bottomhalf.ksoftirqd.runs", "batches of softirqs ksoftirqd/N ran", cpuTags,
                    x -> x.cpus().get(c).ksoftirqdRuns()));
            m.add(gauge(r, "bottomhalf.ksoftirqd.woken", "1 while ksoftirqd/N is woken, 0 while it sleeps", cpuTags,
                    x -> x.cpus().get(c).ksoftirqdWoken() ? 1 : 0));
            m.add(counter(r, "bottomhalf.softnet.processed", "softnet_stat processed: the work (packets) NAPI polls"
                    + " did on the CPU", cpuTags, x -> x.cpus().get(c).softnet().processed()));
            m.add(counter(r, "bottomhalf.softnet.time.squeeze", "softnet_stat time_squeeze: net_rx_action runs that"
                    + " ran out of budget or time with work left", cpuTags,
                    x -> x.cpus().get(c).softnet().timeSqueeze()));
        }
        for (KernelEvent.Kind kind : KernelEvent.Kind.values()) {
            m.add(counter(r, "bottomhalf.reports", "reports made (WARNING, BUG, OOPS and the printk levels),"
                    + " delivered or not", Tags.of("kind", kind.name()), x -> x.reportCount(kind)));
        }
        m.add(counter(r, "bottomhalf.workqueue.lockups", "workqueue lockups the watchdog reported", Tags.empty(),
                KernelSnapshot::workqueueLockups));
        m.add(TimeGauge.builder("bottomhalf.uptime", kernel, TimeUnit.NANOSECONDS, k -> snapshot().uptimeNs())
                .description("time since the kernel booted, on its clock").tags(tags).register(r));
    }

    private void registerIrq(MeterRegistry r, IrqKey k, KernelSnapshot s, List<Meter> m) {
        Tags line = Tags.of("irq", Integer.toString(k.irq()), "name", k.name());
        for (int cpu = 0; cpu < s.cpuCount(); cpu++) {
            int c = cpu;
            m.add(counter(r, "bottomhalf.irq.interrupts", "interrupts of the line taken on the CPU, handled or not"
                    + " (/proc/interrupts)", line.and("cpu", cpuTag(c)), x -> x.irqLine(k.irq()).counts().get(c)));
        }
        m.add(gauge(r, "bottomhalf.irq.disable.depth", "the line's disable depth (0: enabled)", line,
                x -> x.irqLine(k.irq()).depth()));
        m.add(gauge(r, "bottomhalf.irq.spurious.count", "interrupts in the current unhandled-detection window of"
                + " 100,000 (/proc/irq/N/spurious count)", line, x -> x.irqLine(k.irq()).spurious().count()));
        m.add(gauge(r, "bottomhalf.irq.spurious.unhandled", "unhandled interrupts in the current window"
                + " (/proc/irq/N/spurious unhandled)", line, x -> x.irqLine(k.irq()).spurious().unhandled()));
    }

    private void registerWorkqueue(MeterRegistry r, String name, List<Meter> m) {
        Tags wq = Tags.of("workqueue", name);
        m.add(counter(r, "bottomhalf.workqueue.items", "work items that started running (wq_monitor total)", wq,
                x -> sum(x, name, Workqueues.Stats::total)));
        m.add(gauge(r, "bottomhalf.workqueue.in.flight", "work items queued or running now (wq_monitor infl)", wq,
                x -> sum(x, name, Workqueues.Stats::inFlight)));
        m.add(FunctionCounter.builder("bottomhalf.workqueue.cpu.time", kernel,
                        k -> sum(snapshot(), name, Workqueues.Stats::runNs) / 1e9)
                .description("the items' summed run time (wq_monitor CPUtime)").baseUnit("seconds")
                .tags(tags).tags(wq).register(r));
        m.add(counter(r, "bottomhalf.workqueue.cpu.intensive", "items that exceeded the CPU-intensive threshold"
                + " (wq_monitor CPUitsv)", wq, x -> sum(x, name, Workqueues.Stats::cpuIntensive)));
        m.add(counter(r, "bottomhalf.workqueue.cm.wakeups", "workers woken by concurrency management (wq_monitor"
                + " CMW/RPR)", wq, x -> sum(x, name, Workqueues.Stats::cmWakeups)));
        m.add(counter(r, "bottomhalf.workqueue.mayday", "mayday requests sent to the rescuer (wq_monitor mayday)", wq,
                x -> sum(x, name, Workqueues.Stats::mayday)));
        m.add(counter(r, "bottomhalf.workqueue.rescued", "items the rescuer ran (wq_monitor rescued)", wq,
                x -> sum(x, name, Workqueues.Stats::rescued)));
    }

    /** A figure of the workqueues named {@code name}, summed; NaN once none has that name. */
    private static double sum(KernelSnapshot s, String name, ToDoubleFunction<Workqueues.Stats> figure) {
        double total = 0;
        boolean found = false;
        for (Workqueues.Stats wq : s.workqueues()) {
            if (wq.name().equals(name)) {
                total += figure.applyAsDouble(wq);
                found = true;
            }
        }
        return found ? total : Double.NaN;
    }

    private FunctionCounter counter(MeterRegistry r, String name, String description, Tags meterTags,
            ToDoubleFunction<KernelSnapshot> figure) {
        return FunctionCounter.builder(name, kernel, k -> figure.applyAsDouble(snapshot()))
                .description(description).tags(tags).tags(meterTags).register(r);
    }

    private Gauge gauge(MeterRegistry r, String name, String description, Tags meterTags,
            ToDoubleFunction<KernelSnapshot> figure) {
        return Gauge.builder(name, kernel, k -> figure.applyAsDouble(snapshot()))
                .description(description).tags(tags).tags(meterTags).register(r);
    }

    private static String cpuTag(int cpu) {
        return Integer.toString(cpu);
    }
}
