package dev.bottomhalf.examples.net;

import static dev.bottomhalf.linux.Linux.DECLARE_DELAYED_WORK;
import static dev.bottomhalf.linux.Linux.cancel_delayed_work_sync;
import static dev.bottomhalf.linux.Linux.msecs_to_jiffies;
import static dev.bottomhalf.linux.Linux.per_cpu_ptr;
import static dev.bottomhalf.linux.Linux.pr_err;
import static dev.bottomhalf.linux.Linux.pr_info;
import static dev.bottomhalf.linux.Linux.schedule_delayed_work;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_lock_bh;
import static dev.bottomhalf.linux.Linux.spin_lock_init;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static dev.bottomhalf.linux.Linux.spin_unlock_bh;
import static dev.bottomhalf.linux.Linux.this_cpu_ptr;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.PerCpu;
import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.net.UdpDatagram;
import dev.bottomhalf.net.UdpDevice;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;

/**
 * A StatsD aggregator on a socket-backed NAPI device: datagrams of lines {@code name:value|type} (types {@code c}
 * counter with an optional {@code |@rate}, {@code ms} timer, {@code g} gauge) arrive on a {@link UdpDevice}; the
 * receiver parses and counts them in NET_RX softirq context into the CPU's own table; a delayed work item flushes
 * every CPU's table once per {@link #flush_ms} in process context and hands the merged totals to a sink, as a
 * StatsD server would send them on to its backend. {@code init_module} and {@code cleanup_module} run in a task;
 * nothing is echoed back.
 *
 * <p>What it shows:
 * <ul>
 * <li>the receive path is the driver's: the device's selector thread asserts a queue's line, the top half masks it
 * and schedules NAPI, the poll hands each datagram to {@link #statsd_rcv} on the CPU of the queue's line — with two
 * queues (two sockets sharing the port through {@code SO_REUSEPORT}) two CPUs count at once, each in its own
 * table;</li>
 * <li>per-CPU data with one lock per CPU: the receiver takes its CPU's lock with plain {@code spin_lock} (bottom
 * halves are off in softirq context), the flush takes each CPU's with {@code spin_lock_bh} — with a plain
 * {@code spin_lock} the flush could be interrupted on that CPU by NET_RX spinning on the lock the flush holds — and
 * swaps the table for an empty one, so the lock is held for a swap, not for the merge;</li>
 * <li>the flush re-arms itself ({@code schedule_delayed_work} from its own function), and unload cancels it with
 * {@code cancel_delayed_work_sync}, which waits for a running flush and defeats its re-arming; unload closes the
 * device (no more datagrams), then flushes once more so that nothing counted is lost;</li>
 * <li>a datagram with no valid line is refused ({@code rx_dropped}); a bad line is counted in
 * {@link Flush#badLines()}.</li>
 * </ul>
 *
 * <p>The device receives without allocating; this example's parser does not try: it makes a {@code String} per
 * metric name and an entry per new name.
 *
 * <p>Implementation notes: each CPU's {@code statsd_cpu} is written only in softirq context on that CPU, under its
 * lock, and read and swapped by the flush under the same lock; the flush runs on the system workqueue, one at a
 * time. {@code flushes} is a copy-on-write list, read by any thread.
 */
public final class StatsdAggregatorModule implements KernelModule {
    /** Module parameter {@code flush_ms}: the flush interval. */
    public long flush_ms = 1000;

    /** One metric's aggregate over a flush interval. */
    public static final class Metric {
        final char type;
        long count;
        double sum;
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        double last;

        Metric(char type) {
            this.type = type;
        }

        void add(double value) {
            count++;
            sum += value;
            min = Math.min(min, value);
            max = Math.max(max, value);
            last = value;
        }

        void merge(Metric o) {
            count += o.count;
            sum += o.sum;
            min = Math.min(min, o.min);
            max = Math.max(max, o.max);
            last = o.last;
        }

        /** @return {@code c}, {@code ms} or {@code g} */
        public String type() {
            return type == 'c' ? "c" : type == 't' ? "ms" : "g";
        }

        /** @return a counter's total (rate-corrected), a timer's sum */
        public double sum() {
            return sum;
        }

        /** @return how many lines contributed */
        public long count() {
            return count;
        }

        /** @return the smallest value */
        public double min() {
            return min;
        }

        /** @return the largest value */
        public double max() {
            return max;
        }

        /** @return the last value (a gauge's value) */
        public double last() {
            return last;
        }

        @Override
        public String toString() {
            return switch (type) {
                case 'c' -> "c " + fmt(sum);
                case 't' -> "ms count " + count + " sum " + fmt(sum) + " min " + fmt(min) + " max " + fmt(max);
                default -> "g " + fmt(last);
            };
        }

        private static String fmt(double v) {
            return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
        }
    }

    /**
     * One flush: its number, the merged metrics, the lines each CPU counted and the bad lines.
     *
     * @param seq         1 for the first flush
     * @param metrics     by name, sorted
     * @param linesPerCpu valid lines counted on each CPU since the previous flush
     * @param badLines    lines that did not parse
     */
    public record Flush(long seq, Map<String, Metric> metrics, long[] linesPerCpu, long badLines) {
    }

    /** {@code struct statsd_cpu}: one CPU's table, written in softirq context on that CPU. */
    static final class statsd_cpu {
        final Spinlock lock = new Spinlock("&sc->lock");
        Map<String, Metric> metrics = new HashMap<>();   // under lock
        long lines;                                       // under lock
        long bad;                                         // under lock
        final byte[] scratch = new byte[UdpDevice.DEFAULT_MAX_DATAGRAM]; // softirq on this CPU only
    }

    private final InetSocketAddress bind;
    private final int firstIrq;
    private final int queues;
    private final Consumer<Flush> sink;
    private final List<Flush> flushes = new CopyOnWriteArrayList<>();
    private final DelayedWork flush_work = DECLARE_DELAYED_WORK("statsd_flush", this::statsd_flush);
    private PerCpu<statsd_cpu> stats;
    private UdpDevice dev;
    private long seq;           // the flush's: one flush at a time (the work item), or cleanup after cancelling it
    private long interval;      // jiffies

    /**
     * The aggregator for {@code bind}, with {@code queues} receive queues on lines {@code firstIrq} onwards; each
     * flush goes to {@code sink} (in process context) and is kept for {@link #flushes()}. Nothing runs until
     * {@link #init_module}.
     *
     * @param bind     where StatsD clients send (port 8125 by convention; 0 lets the host choose)
     * @param firstIrq the first of the device's lines
     * @param queues   receive queues (sockets sharing the port)
     * @param sink     what each flush is handed to
     */
    public StatsdAggregatorModule(InetSocketAddress bind, int firstIrq, int queues, Consumer<Flush> sink) {
        this.bind = bind;
        this.firstIrq = firstIrq;
        this.queues = queues;
        this.sink = sink;
    }

    @Override
    public int init_module() {
        Kernel kernel = Kernel.current();
        stats = kernel.perCpu(cpu -> new statsd_cpu());
        for (statsd_cpu sc : stats) {
            spin_lock_init(sc.lock);
        }
        interval = msecs_to_jiffies(flush_ms);
        try {
            dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "statsd0").bind(bind).queues(queues)
                    .irq(firstIrq).receiver(this::statsd_rcv).open();
        } catch (IOException e) {
            pr_err("statsd: cannot bind %s: %s\n", bind, e.getMessage());
            return -98; // -EADDRINUSE
        }
        schedule_delayed_work(flush_work, interval);
        pr_info("statsd: listening on %s, %d queue(s), flushing every %d ms\n", dev.localAddress(),
                dev.queues().size(), flush_ms);
        return 0;
    }

    @Override
    public void cleanup_module() {
        cancel_delayed_work_sync(flush_work);      // waits for a running flush; its re-arm is cancelled too
        dev.close();                               // napi_disable, free_irq, close the sockets
        flush();                                   // what was counted after the last periodic flush
        pr_info("statsd: stopped after %d flushes; rx_packets %d rx_dropped %d\n", seq, dev.rxPackets(),
                dev.rxDropped());
    }

    /** The device's receiver: NET_RX softirq context on the queue's CPU. Counts each line in this CPU's table. */
    boolean statsd_rcv(UdpDatagram d) {
        statsd_cpu sc = this_cpu_ptr(stats);
        int len = d.length();
        byte[] b = sc.scratch;
        d.data().get(0, b, 0, len);
        int valid = 0;
        spin_lock(sc.lock);                        // softirq: BHs are off; the flush takes it with spin_lock_bh
        try {
            int start = 0;
            while (start < len) {
                int end = start;
                while (end < len && b[end] != '\n') {
                    end++;
                }
                if (end > start) {
                    if (parseLine(sc, b, start, end)) {
                        valid++;
                    } else {
                        sc.bad++;
                    }
                }
                start = end + 1;
            }
            sc.lines += valid;
        } finally {
            spin_unlock(sc.lock);
        }
        return valid > 0;
    }

    /** {@code name:value|type[|@rate]}; false when it does not parse. */
    private static boolean parseLine(statsd_cpu sc, byte[] b, int start, int end) {
        int colon = -1;
        int bar = -1;
        for (int i = start; i < end; i++) {
            if (b[i] == ':' && colon < 0) {
                colon = i;
            } else if (b[i] == '|' && colon >= 0) {
                bar = i;
                break;
            }
        }
        if (colon <= start || bar < 0 || bar == colon + 1) {
            return false;
        }
        int typeEnd = bar + 1;
        while (typeEnd < end && b[typeEnd] != '|') {
            typeEnd++;
        }
        char type;
        if (typeEnd - bar == 2 && b[bar + 1] == 'c') {
            type = 'c';
        } else if (typeEnd - bar == 3 && b[bar + 1] == 'm' && b[bar + 2] == 's') {
            type = 't';
        } else if (typeEnd - bar == 2 && b[bar + 1] == 'g') {
            type = 'g';
        } else {
            return false;
        }
        double value;
        double rate = 1;
        try {
            value = Double.parseDouble(new String(b, colon + 1, bar - colon - 1, StandardCharsets.US_ASCII));
            if (typeEnd < end) {
                if (typeEnd + 2 >= end || b[typeEnd + 1] != '@') {
                    return false;
                }
                rate = Double.parseDouble(new String(b, typeEnd + 2, end - typeEnd - 2, StandardCharsets.US_ASCII));
                if (!(rate > 0 && rate <= 1)) {
                    return false;
                }
            }
        } catch (NumberFormatException e) {
            return false;
        }
        String name = new String(b, start, colon - start, StandardCharsets.UTF_8);
        Metric m = sc.metrics.computeIfAbsent(name, k -> new Metric(type));
        if (m.type != type) {
            return false;
        }
        m.add(type == 'c' ? value / rate : value);
        return true;
    }

    /** The flush work: process context on the system workqueue. Re-arms itself. */
    void statsd_flush(Work w) {
        flush();
        schedule_delayed_work(flush_work, interval);
    }

    /** Swaps each CPU's table for an empty one under its lock, merges them, hands the result to the sink. */
    private void flush() {
        Map<String, Metric> merged = new TreeMap<>();
        long[] perCpu = new long[stats.cpus()];
        long bad = 0;
        for (int cpu = 0; cpu < perCpu.length; cpu++) {
            statsd_cpu sc = per_cpu_ptr(stats, cpu);
            Map<String, Metric> taken;
            spin_lock_bh(sc.lock);                 // NET_RX on this CPU must not spin on a lock we hold
            try {
                taken = sc.metrics;
                sc.metrics = new HashMap<>();
                perCpu[cpu] = sc.lines;
                sc.lines = 0;
                bad += sc.bad;
                sc.bad = 0;
            } finally {
                spin_unlock_bh(sc.lock);
            }
            for (Map.Entry<String, Metric> e : taken.entrySet()) {
                Metric into = merged.computeIfAbsent(e.getKey(), k -> new Metric(e.getValue().type));
                into.merge(e.getValue());
            }
        }
        Flush f = new Flush(++seq, Collections.unmodifiableMap(merged), perCpu, bad);
        flushes.add(f);
        sink.accept(f);
    }

    /**
     * The flushes so far, oldest first. Any thread.
     *
     * @return a snapshot
     */
    public List<Flush> flushes() {
        return List.copyOf(flushes);
    }

    /**
     * The device, once loaded. Any thread.
     *
     * @return the device, or null before {@link #init_module}
     */
    public UdpDevice device() {
        return dev;
    }

    /**
     * Runs the aggregator on 127.0.0.1 for a while on a threaded kernel with 2 CPUs, printing each non-empty
     * flush. Try {@code echo -n "hits:1|c" > /dev/udp/127.0.0.1/8125} from a shell.
     *
     * @param args the port (8125 unless given) and the seconds to run (30 unless given)
     * @throws InterruptedException when interrupted while running
     */
    public static void main(String[] args) throws InterruptedException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 8125;
        long seconds = args.length > 1 ? Long.parseLong(args[1]) : 30;
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).build())) {
            StatsdAggregatorModule statsd = new StatsdAggregatorModule(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 40, 2, f -> {
                        if (!f.metrics().isEmpty() || f.badLines() > 0) {
                            System.out.println("flush " + f.seq() + " (lines per CPU "
                                    + java.util.Arrays.toString(f.linesPerCpu()) + ", bad " + f.badLines() + "):");
                            f.metrics().forEach((name, m) -> System.out.println("  " + name + " " + m));
                        }
                    });
            ModuleLoader loader = new ModuleLoader(kernel);
            if (loader.insmod(statsd) != 0) {
                return;
            }
            System.out.println("statsd: listening on " + statsd.device().localAddress() + " for " + seconds + " s");
            Thread.sleep(seconds * 1000);
            loader.rmmod(statsd);
        }
    }
}
