package dev.bottomhalf.proc;

import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * Every counter one kernel keeps, read once at one moment ({@code Kernel.snapshot()}): the clock, each interrupt
 * line's per-CPU counts and state, each CPU's architecture interrupts, ksoftirqd runs and {@code softnet_stat}
 * counters, each softirq vector's per-CPU runs, each workqueue's monitor figures and the report counts. An
 * immutable value: every list and map is unmodifiable and every array is copied in and out; any thread may
 * read it. The {@code /proc} renderers of {@link Proc} print from it, so a snapshot's figures are the figures
 * of the text rendered from it.
 *
 * <p>What is consistent: each counter is read exactly once, and everything rendered or derived from one
 * snapshot (the {@code LOC} row, a line's total) uses that one reading. Each value is the one the kernel's own
 * reader would print: a count read with the same (opaque or volatile) load {@code /proc} uses, a line's disable
 * depth under the line's lock, a workqueue's figures summed over its pool-workqueues each under its pool's
 * lock. What is not: the counters are read one after another while the CPUs go on counting — there is no
 * global lock — so in threaded mode two counters may come from slightly different moments (a line's count on
 * CPU 1 may include an interrupt that CPU 0's count, read before it, does not; the softirq a handler raised
 * may be counted while the handler's interrupt was read before it arrived). Every counter only grows, so
 * each figure lies between the values before and after the call. The clock ({@link #uptimeNs()} and
 * {@link #jiffies()}) is read once, first. In stepped mode, taken from the stepping thread or between steps,
 * nothing moves during the read, and the snapshot is exact.
 *
 * <p>What bottomhalf does not keep, and so is not here: ksoftirqd wake-ups (only its runs and whether it is
 * woken now), softirq raise counts, tasklet counts (a tasklet's runs count in the HI and TASKLET vectors'
 * rows), the {@code softnet_stat} columns for the backlog, RPS and flow limit (no {@code netif_rx} backlog,
 * RPS or flow limit exists here: {@code /proc/net/softnet_stat} prints 0 for them and for {@code dropped}),
 * and the architecture rows other than {@code LOC} and {@code CAL} (no NMI, rescheduling or TLB-shootdown
 * interrupts exist; irq_work interrupts are kept, and here, though {@code /proc/interrupts} does not print
 * an {@code IWI} row). Queue lengths (pending timers, queued hrtimers) are not counters and are left out too.
 *
 * @param uptimeNs   nanoseconds since boot on the kernel's clock, read first
 * @param jiffies    the jiffies at that same clock reading
 * @param hz         {@code HZ}: jiffies per second
 * @param cpuCount   the number of CPUs, numbered from 0; every {@link PerCpuCounts} has this many values
 * @param irqLines   every interrupt line, in line order ({@code irqLines().get(n).irq() == n}), with or without a
 *                   handler
 * @param cpus       each CPU's own counters, in CPU order
 * @param softirqs   the softirq vectors {@code /proc/softirqs} shows: the ten standard ones, then each opened
 *                   user vector, in vector order
 * @param workqueues the workqueue monitor's figures of every workqueue that exists, system ones first
 * @param workqueueLockups the workqueue watchdog's lockup reports since boot
 * @param reports    the reports made since boot, delivered or not, for every kind (in the enum's order)
 */
public record KernelSnapshot(long uptimeNs, long jiffies, int hz, int cpuCount, List<IrqLine> irqLines,
        List<CpuCounters> cpus, List<SoftirqCounts> softirqs, List<Workqueues.Stats> workqueues,
        long workqueueLockups, Map<KernelEvent.Kind, Long> reports) {

    /**
     * Copies the lists and the map, so that the snapshot cannot change.
     *
     * @throws NullPointerException when a list, the map or an element is null
     * @throws IllegalArgumentException when a line or vector has not {@code cpuCount} per-CPU values, or the
     *         CPUs are not {@code cpuCount} in CPU order
     */
    public KernelSnapshot {
        irqLines = List.copyOf(irqLines);
        cpus = List.copyOf(cpus);
        softirqs = List.copyOf(softirqs);
        workqueues = List.copyOf(workqueues);
        EnumMap<KernelEvent.Kind, Long> r = new EnumMap<>(KernelEvent.Kind.class);
        for (Map.Entry<KernelEvent.Kind, Long> e : reports.entrySet()) {
            r.put(Objects.requireNonNull(e.getKey()), Objects.requireNonNull(e.getValue()));
        }
        reports = Collections.unmodifiableMap(r);
        if (cpus.size() != cpuCount) {
            throw new IllegalArgumentException(cpus.size() + " CPU records for " + cpuCount + " CPUs");
        }
        for (int i = 0; i < cpus.size(); i++) {
            if (cpus.get(i).cpu() != i) {
                throw new IllegalArgumentException("CPU record " + i + " is of CPU " + cpus.get(i).cpu());
            }
        }
        for (IrqLine line : irqLines) {
            checkWidth(line.counts(), cpuCount, "irq " + line.irq());
        }
        for (SoftirqCounts v : softirqs) {
            checkWidth(v.counts(), cpuCount, "softirq " + v.name());
        }
    }

    private static void checkWidth(PerCpuCounts counts, int cpuCount, String what) {
        if (counts.size() != cpuCount) {
            throw new IllegalArgumentException(what + " has " + counts.size() + " per-CPU values for " + cpuCount
                    + " CPUs");
        }
    }

    /**
     * Line {@code irq}.
     *
     * @param irq the line number
     * @return the line's record
     * @throws IndexOutOfBoundsException for a line the kernel does not have
     */
    public IrqLine irqLine(int irq) {
        return irqLines.get(irq);
    }

    /**
     * The row of softirq vector {@code nr}, if {@code /proc/softirqs} shows it.
     *
     * @param nr the vector, 0..31
     * @return the vector's counts, or null for a user vector that is not open
     */
    public SoftirqCounts softirq(int nr) {
        for (SoftirqCounts v : softirqs) {
            if (v.nr() == nr) {
                return v;
            }
        }
        return null;
    }

    /**
     * The count of reports of {@code kind}.
     *
     * @param kind the report kind
     * @return the count since boot
     */
    public long reportCount(KernelEvent.Kind kind) {
        return reports.getOrDefault(kind, 0L);
    }

    /**
     * One counter per CPU, indexed by CPU number: an immutable copy (the array is copied in and out).
     *
     * @param values the counts, one per CPU in CPU order
     */
    public record PerCpuCounts(long[] values) {
        /**
         * Copies {@code values}.
         *
         * @throws NullPointerException when {@code values} is null
         */
        public PerCpuCounts {
            values = values.clone();
        }

        /**
         * The counts, one per CPU: a new copy on each call.
         *
         * @return a copy of the counts
         */
        @Override
        public long[] values() {
            return values.clone();
        }

        /**
         * The count of CPU {@code cpu}.
         *
         * @param cpu the CPU
         * @return its count
         * @throws IndexOutOfBoundsException for a CPU outside 0..size()-1
         */
        public long get(int cpu) {
            return values[cpu];
        }

        /**
         * The number of CPUs.
         *
         * @return the number of counts
         */
        public int size() {
            return values.length;
        }

        /**
         * The counts added up over the CPUs.
         *
         * @return the sum
         */
        public long sum() {
            long s = 0;
            for (long v : values) {
                s += v;
            }
            return s;
        }

        /**
         * Whether {@code o} holds the same counts.
         *
         * @param o another object
         * @return true for a {@code PerCpuCounts} with equal values
         */
        @Override
        public boolean equals(Object o) {
            return o instanceof PerCpuCounts p && Arrays.equals(values, p.values);
        }

        /**
         * A hash of the counts.
         *
         * @return the hash
         */
        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }

        /**
         * The counts in brackets.
         *
         * @return for example {@code [3, 0]}
         */
        @Override
        public String toString() {
            return Arrays.toString(values);
        }
    }

    /**
     * One interrupt line ({@code struct irq_desc}) as {@code /proc/interrupts} and {@code /proc/irq/N/} show it.
     *
     * @param irq             the line number
     * @param chip            the interrupt controller's name ({@link Proc#CHIP_NAME})
     * @param levelTriggered  whether the line is level-triggered ({@code level}; else {@code edge})
     * @param actions         the handlers' names in chain order; empty for a line without a handler
     * @param threads         the handler threads' names ({@code irq/L-name})
     * @param counts          the interrupts taken on each CPU ({@code kstat_irqs}), handled or not
     * @param affinity        the CPU the line's interrupts go to
     * @param depth           the disable depth (0: enabled; 1 for a line never requested)
     * @param spuriousDisabled whether unhandled-interrupt detection disabled the line ("nobody cared")
     * @param spurious        {@code /proc/irq/N/spurious}: count and unhandled in the current window, the last
     *                        unhandled interrupt's time
     */
    public record IrqLine(int irq, String chip, boolean levelTriggered, List<String> actions, List<String> threads,
            PerCpuCounts counts, int affinity, int depth, boolean spuriousDisabled,
            IrqController.SpuriousState spurious) {
        /**
         * Copies the name lists.
         *
         * @throws NullPointerException when a component other than the flags and numbers is null
         */
        public IrqLine {
            Objects.requireNonNull(chip, "chip");
            actions = List.copyOf(actions);
            threads = List.copyOf(threads);
            Objects.requireNonNull(counts, "counts");
            Objects.requireNonNull(spurious, "spurious");
        }

        /**
         * Whether the line has a handler: {@code /proc/interrupts} prints a row only for such a line.
         *
         * @return true when {@link #actions()} is not empty
         */
        public boolean hasAction() {
            return !actions.isEmpty();
        }

        /**
         * The trigger as {@code /proc/interrupts} prints it.
         *
         * @return {@code level} or {@code edge}
         */
        public String trigger() {
            return levelTriggered ? "level" : "edge";
        }

        /**
         * The handlers' names as {@code /proc/interrupts} prints them.
         *
         * @return the names joined by {@code ", "}; empty for a line without a handler
         */
        public String name() {
            return String.join(", ", actions);
        }
    }

    /**
     * One CPU's own counters: its architecture interrupts, its ksoftirqd and its {@code softnet_data}.
     *
     * @param cpu                    the CPU number
     * @param localTimerInterrupts   the tick's local timer interrupts
     * @param hrtimerInterrupts      the high-resolution timer interrupts (they count in {@code LOC} too)
     * @param functionCallInterrupts function-call interrupts ({@code CAL}: cross-CPU calls)
     * @param irqWorkInterrupts      irq_work interrupts (the kernel's {@code IWI} row; {@code /proc/interrupts} does
     *                               not print it here)
     * @param ksoftirqdRuns          batches {@code ksoftirqd/N} ran
     * @param ksoftirqdWoken         whether {@code ksoftirqd/N} was woken and not yet back asleep (a state, not a count)
     * @param softnet                the CPU's {@code /proc/net/softnet_stat} counters
     */
    public record CpuCounters(int cpu, long localTimerInterrupts, long hrtimerInterrupts, long functionCallInterrupts,
            long irqWorkInterrupts, long ksoftirqdRuns, boolean ksoftirqdWoken, SoftnetStat softnet) {
        /**
         * Checks the softnet record.
         *
         * @throws NullPointerException when {@code softnet} is null
         */
        public CpuCounters {
            Objects.requireNonNull(softnet, "softnet");
        }

        /**
         * {@code LOC} of {@code /proc/interrupts}: the local timer interrupts, tick and high-resolution timer.
         *
         * @return {@code localTimerInterrupts + hrtimerInterrupts}
         */
        public long loc() {
            return localTimerInterrupts + hrtimerInterrupts;
        }
    }

    /**
     * The counters of one CPU's {@code struct softnet_data} that bottomhalf keeps.
     *
     * @param processed   {@code processed}: the work (packets) the CPU's polls did
     * @param timeSqueeze {@code time_squeeze}: {@code net_rx_action}s that ran out of budget or time with work left
     */
    public record SoftnetStat(long processed, long timeSqueeze) {
    }

    /**
     * One softirq vector's row of {@code /proc/softirqs}.
     *
     * @param nr     the vector number, 0..31
     * @param name   its name ({@code NET_RX}, or the name a user vector was opened with)
     * @param open   whether an action is installed for it ({@code open_softirq})
     * @param counts how many times it ran on each CPU (one per pass, not per raise)
     */
    public record SoftirqCounts(int nr, String name, boolean open, PerCpuCounts counts) {
        /**
         * Checks the components.
         *
         * @throws NullPointerException when {@code name} or {@code counts} is null
         */
        public SoftirqCounts {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(counts, "counts");
        }
    }
}
