package dev.bottomhalf.web;

import java.util.ArrayList;
import java.util.List;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Reads the counters the web view shows from one kernel: the {@code /proc/interrupts} and {@code /proc/softirqs}
 * tables, ksoftirqd's batches, the workqueue monitor's statistics and the report counts. Called by the view's
 * sampler thread; every read is a racy snapshot of per-CPU counters, as in the kernel, and works after the kernel
 * closed (the counters stay readable; a read that is refused leaves its part empty).
 *
 * <p>The one place that knows where the counters come from: the two tables are parsed from {@code kernel.proc()}'s
 * renderings (exactly the rows the kernel's files have, {@code LOC} and {@code CAL} included), the rest is read from
 * the subsystems' accessors.
 */
final class KernelCounters {
    /**
     * One row of a per-CPU table.
     *
     * @param label       the row's label ({@code 24}, {@code LOC}, {@code NET_RX})
     * @param perCpu      the count of each CPU
     * @param description the rest of the row ({@code BH-INTC 24-edge eth0-rx-0}); empty for softirqs
     */
    record Row(String label, long[] perCpu, String description) {
    }

    /**
     * One reading of every counter.
     *
     * @param wallNs        when it was read ({@link System#nanoTime()}), for the rates
     * @param uptimeNs      the kernel's uptime
     * @param jiffies       the kernel's jiffies
     * @param closed        whether the kernel is closed
     * @param interrupts    the rows of {@code /proc/interrupts}
     * @param softirqs      the rows of {@code /proc/softirqs}
     * @param ksoftirqdRuns each CPU's ksoftirqd batches since boot
     * @param ksoftirqdWoken whether each CPU's ksoftirqd is woken now
     * @param workqueues    the statistics of each workqueue that ran or holds anything
     * @param reportCounts  the reports made since boot, per {@link KernelEvent.Kind} (by ordinal)
     */
    record Sample(long wallNs, long uptimeNs, long jiffies, boolean closed, List<Row> interrupts, List<Row> softirqs,
                  long[] ksoftirqdRuns, boolean[] ksoftirqdWoken, List<Workqueues.Stats> workqueues,
                  long[] reportCounts) {
    }

    private final Kernel kernel;
    private final int cpus;

    KernelCounters(Kernel kernel) {
        this.kernel = kernel;
        this.cpus = kernel.cpus();
    }

    int cpus() {
        return cpus;
    }

    /** Reads every counter now. */
    Sample read() {
        long wall = System.nanoTime();
        boolean closed = kernel.isClosed();
        List<Row> interrupts = parse(kernel.proc().interrupts(), true);
        List<Row> softirqs = parse(kernel.proc().softirqs(), false);
        long[] runs = new long[cpus];
        boolean[] woken = new boolean[cpus];
        for (int cpu = 0; cpu < cpus; cpu++) {
            runs[cpu] = kernel.softirqs().ksoftirqdRuns(cpu);
            woken[cpu] = kernel.softirqs().ksoftirqdWoken(cpu);
        }
        List<Workqueues.Stats> wqs = new ArrayList<>();
        try {
            for (Workqueue wq : kernel.workqueues().workqueues()) {
                Workqueues.Stats s = kernel.workqueues().stats(wq);
                if (s.total() > 0 || s.inFlight() > 0) {
                    wqs.add(s);
                }
            }
        } catch (IllegalStateException closedMeanwhile) {
            wqs.clear();
        }
        KernelEvent.Kind[] kinds = KernelEvent.Kind.values();
        long[] reports = new long[kinds.length];
        for (KernelEvent.Kind k : kinds) {
            reports[k.ordinal()] = kernel.reports().count(k);
        }
        return new Sample(wall, kernel.uptimeNs(), kernel.jiffies(), closed, interrupts, softirqs, runs, woken, wqs,
                reports);
    }

    /** The rows of a {@code /proc} table: a header of CPU columns, then {@code label: count... [description]}. */
    private List<Row> parse(String text, boolean described) {
        List<Row> rows = new ArrayList<>();
        String[] lines = text.split("\n");
        for (int l = 1; l < lines.length; l++) {
            String line = lines[l];
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String[] cols = line.substring(colon + 1).trim().split("\\s+", cpus + 1);
            if (cols.length < cpus) {
                continue;
            }
            long[] perCpu = new long[cpus];
            for (int c = 0; c < cpus; c++) {
                perCpu[c] = Long.parseLong(cols[c]);
            }
            String description = described && cols.length > cpus ? cols[cpus].trim().replaceAll("\\s+", " ") : "";
            rows.add(new Row(line.substring(0, colon).trim(), perCpu, description));
        }
        return rows;
    }
}
