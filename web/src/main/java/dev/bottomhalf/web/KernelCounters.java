package dev.bottomhalf.web;

import java.util.ArrayList;
import java.util.List;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.proc.KernelSnapshot;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Reads the counters the web view shows from one kernel: the {@code /proc/interrupts} and {@code /proc/softirqs}
 * tables, ksoftirqd's batches, the workqueue monitor's statistics and the report counts. Called by the view's
 * sampler thread; each reading is one {@link KernelSnapshot} ({@code kernel.snapshot()}), a racy snapshot of per-CPU
 * counters as in the kernel, which also works after the kernel closed.
 *
 * <p>The one place that knows where the counters come from: it turns the snapshot into the rows the page shows,
 * exactly the rows of the kernel's files ({@code Proc.interrupts(snapshot)} renders the same snapshot as text):
 * a row per IRQ line with a handler, then {@code LOC} and {@code CAL}; the ten standard softirq vectors and any
 * opened user vector.
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
        KernelSnapshot snap = kernel.snapshot();
        List<Row> interrupts = new ArrayList<>();
        for (KernelSnapshot.IrqLine line : snap.irqLines()) {
            if (line.hasAction()) {
                interrupts.add(new Row(Integer.toString(line.irq()), line.counts().values(),
                        line.chip() + " " + line.irq() + "-" + line.trigger() + " " + line.name()));
            }
        }
        long[] loc = new long[cpus];
        long[] cal = new long[cpus];
        long[] runs = new long[cpus];
        boolean[] woken = new boolean[cpus];
        for (KernelSnapshot.CpuCounters c : snap.cpus()) {
            loc[c.cpu()] = c.loc();
            cal[c.cpu()] = c.functionCallInterrupts();
            runs[c.cpu()] = c.ksoftirqdRuns();
            woken[c.cpu()] = c.ksoftirqdWoken();
        }
        interrupts.add(new Row("LOC", loc, "Local timer interrupts"));
        interrupts.add(new Row("CAL", cal, "Function call interrupts"));
        List<Row> softirqs = new ArrayList<>();
        for (KernelSnapshot.SoftirqCounts v : snap.softirqs()) {
            softirqs.add(new Row(v.name(), v.counts().values(), ""));
        }
        List<Workqueues.Stats> wqs = new ArrayList<>();
        for (Workqueues.Stats s : snap.workqueues()) {
            if (s.total() > 0 || s.inFlight() > 0) {
                wqs.add(s);
            }
        }
        KernelEvent.Kind[] kinds = KernelEvent.Kind.values();
        long[] reports = new long[kinds.length];
        for (KernelEvent.Kind k : kinds) {
            reports[k.ordinal()] = snap.reportCount(k);
        }
        return new Sample(wall, snap.uptimeNs(), snap.jiffies(), closed, interrupts, softirqs, runs, woken, wqs,
                reports);
    }
}
