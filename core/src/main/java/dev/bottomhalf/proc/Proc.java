package dev.bottomhalf.proc;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.net.Napi;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * The {@code /proc} files of one kernel, rendered in the kernel's own text formats, and the {@link KernelSnapshot}
 * they are rendered from. Thread-safe; every rendering is a racy snapshot of per-CPU counters, as in the kernel.
 *
 * <p>Implementation notes: one source of truth — {@link #snapshot()} is the only reader of the counters
 * {@code /proc/interrupts}, {@code /proc/softirqs} and {@code /proc/net/softnet_stat} print, and each of those
 * files is rendered by a static method from a snapshot ({@link #interrupts(KernelSnapshot)}, ...), so that texts
 * rendered from one snapshot agree with each other and with the snapshot's figures. The per-line files read the
 * line through the same reader as the snapshot.
 */
public final class Proc {
    /** The chip name shown in {@code /proc/interrupts} for our interrupt controller. */
    public static final String CHIP_NAME = "BH-INTC";

    private final Machine machine;
    private final IrqController irqs;
    private final Softirqs softirqs;
    private final Timers timers;
    private final HrTimers hrtimers;
    private final Napi napi;
    private final Workqueues workqueues;

    static {
        Subsystems.install(Subsystems.ProcAccess.class, new ProcWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Proc(Machine machine, IrqController irqs, Softirqs softirqs, Timers timers, HrTimers hrtimers, Napi napi,
            Workqueues workqueues) {
        this.machine = Objects.requireNonNull(machine);
        this.irqs = Objects.requireNonNull(irqs);
        this.softirqs = Objects.requireNonNull(softirqs);
        this.timers = Objects.requireNonNull(timers);
        this.hrtimers = Objects.requireNonNull(hrtimers);
        this.napi = Objects.requireNonNull(napi);
        this.workqueues = Objects.requireNonNull(workqueues);
    }

    /**
     * Every counter of this kernel, read once now: see {@link KernelSnapshot} for what is consistent across
     * counters and what is not kept. Any thread and context; reads only (no lock is held across the whole read),
     * and works on a closed kernel as the other {@code /proc} reads do.
     *
     * @return the snapshot
     */
    public KernelSnapshot snapshot() {
        long nowNs = machine.clock().nanoTime();
        long uptimeNs = nowNs - machine.bootNanoTime();
        long jiffies = machine.jiffiesAt(nowNs);
        int cpus = machine.cpuCount();
        List<KernelSnapshot.IrqLine> lines = new ArrayList<>(irqs.lines());
        for (int irq = 0; irq < irqs.lines(); irq++) {
            lines.add(readIrqLine(irq));
        }
        List<KernelSnapshot.CpuCounters> cpuCounters = new ArrayList<>(cpus);
        for (int cpu = 0; cpu < cpus; cpu++) {
            cpuCounters.add(new KernelSnapshot.CpuCounters(cpu, timers.localTimerInterrupts(cpu),
                    hrtimers.interrupts(cpu), machine.cpu(cpu).functionCallInterrupts(), irqs.irqWorkInterrupts(cpu),
                    softirqs.ksoftirqdRuns(cpu), softirqs.ksoftirqdWoken(cpu),
                    new KernelSnapshot.SoftnetStat(napi.processed(cpu), napi.timeSqueeze(cpu))));
        }
        List<KernelSnapshot.SoftirqCounts> vectors = new ArrayList<>();
        for (int nr = 0; nr < SoftirqVector.MAX_VECTORS; nr++) {
            boolean open = softirqs.isOpen(nr);
            if (nr >= SoftirqVector.NR_SOFTIRQS && !open) {
                continue;
            }
            long[] counts = new long[cpus];
            for (int cpu = 0; cpu < cpus; cpu++) {
                counts[cpu] = softirqs.count(cpu, nr);
            }
            vectors.add(new KernelSnapshot.SoftirqCounts(nr, softirqs.name(nr), open,
                    new KernelSnapshot.PerCpuCounts(counts)));
        }
        List<Workqueues.Stats> wqStats = new ArrayList<>();
        for (Workqueue wq : workqueues.workqueues()) {
            wqStats.add(workqueues.stats(wq));
        }
        long lockups = workqueues.lockups();
        Map<KernelEvent.Kind, Long> reports = new EnumMap<>(KernelEvent.Kind.class);
        for (KernelEvent.Kind kind : KernelEvent.Kind.values()) {
            reports.put(kind, machine.reports().count(kind));
        }
        return new KernelSnapshot(uptimeNs, jiffies, machine.hz(), cpus, lines, cpuCounters, vectors, wqStats, lockups,
                reports);
    }

    /** One line's record, each of its counters read once; {@code EINVAL} for a line that does not exist. */
    private KernelSnapshot.IrqLine readIrqLine(int irq) {
        List<String> actions = irqs.actionNames(irq);
        long[] counts = new long[machine.cpuCount()];
        for (int cpu = 0; cpu < counts.length; cpu++) {
            counts[cpu] = irqs.count(irq, cpu);
        }
        return new KernelSnapshot.IrqLine(irq, CHIP_NAME, irqs.isLevelTriggered(irq), actions, irqs.threadNames(irq),
                new KernelSnapshot.PerCpuCounts(counts), irqs.affinity(irq), irqs.depth(irq),
                irqs.isSpuriousDisabled(irq), irqs.spurious(irq));
    }

    /**
     * {@code /proc/net/softnet_stat} ({@code softnet_seq_show}): one line per CPU of fifteen {@code %08x} columns —
     * {@code processed}, {@code dropped}, {@code time_squeeze}, five zeros (once {@code fastroute}), a zero (once
     * {@code cpu_collision}), {@code received_rps}, {@code flow_limit_count}, the backlog length (input plus
     * process queue), the CPU's index, the input queue length and the process queue length. There is no backlog
     * ({@code netif_rx}), RPS or flow limit here, so those columns are 0 and {@code dropped}, which counts backlog
     * overflows, is 0 too. Counters are printed as the kernel's unsigned 32-bit values. Any thread; a racy snapshot.
     *
     * @return the file's text
     */
    public String softnetStat() {
        return softnetStat(snapshot());
    }

    /**
     * {@link #softnetStat()} of a snapshot: the text of {@code /proc/net/softnet_stat} at the moment it was taken.
     *
     * @param snapshot a snapshot of a kernel
     * @return the file's text
     */
    public static String softnetStat(KernelSnapshot snapshot) {
        StringBuilder sb = new StringBuilder();
        for (KernelSnapshot.CpuCounters c : snapshot.cpus()) {
            long[] cols = {c.softnet().processed(), 0, c.softnet().timeSqueeze(), 0, 0, 0, 0, 0, 0, 0, 0, 0, c.cpu(), 0,
                0};
            for (int i = 0; i < cols.length; i++) {
                sb.append(i == 0 ? "" : " ").append(String.format("%08x", cols[i] & 0xFFFF_FFFFL));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /**
     * {@code /proc/softirqs} ({@code show_softirqs}): a header of CPU columns, then one row per vector
     * ({@code %12s:} and {@code " %10u"} per CPU) — the ten standard vectors, then any opened user vector.
     *
     * @return the file's text, each row ending in a newline
     */
    public String softirqs() {
        return softirqs(snapshot());
    }

    /**
     * {@link #softirqs()} of a snapshot: the text of {@code /proc/softirqs} at the moment it was taken.
     *
     * @param snapshot a snapshot of a kernel
     * @return the file's text, each row ending in a newline
     */
    public static String softirqs(KernelSnapshot snapshot) {
        StringBuilder sb = new StringBuilder();
        sb.append("                    ");
        for (int cpu = 0; cpu < snapshot.cpuCount(); cpu++) {
            sb.append(String.format("CPU%-8d", cpu));
        }
        sb.append('\n');
        for (KernelSnapshot.SoftirqCounts v : snapshot.softirqs()) {
            sb.append(String.format("%12s:", v.name()));
            for (int cpu = 0; cpu < snapshot.cpuCount(); cpu++) {
                sb.append(String.format(" %10d", v.counts().get(cpu)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /**
     * {@code /proc/interrupts} ({@code show_interrupts}): a header of CPU columns; a row per line that has
     * a handler (a line whose last handler was freed is left out, whatever it counted): {@code %*d: }, {@code "%10u "} per CPU, the chip name, the hardware
     * line number, the trigger ({@code -edge}/{@code -level}) and the handler names; then the
     * architecture rows {@code LOC} (local timer interrupts: the tick and the high-resolution timer
     * interrupt) and {@code CAL} (function-call interrupts).
     *
     * @return the file's text, each row ending in a newline
     */
    public String interrupts() {
        return interrupts(snapshot());
    }

    /**
     * {@link #interrupts()} of a snapshot: the text of {@code /proc/interrupts} at the moment it was taken.
     *
     * @param snapshot a snapshot of a kernel
     * @return the file's text, each row ending in a newline
     */
    public static String interrupts(KernelSnapshot snapshot) {
        int lines = snapshot.irqLines().size();
        int cpus = snapshot.cpuCount();
        int prec = 3;
        for (int j = 1000; prec < 10 && j <= lines; prec++) {
            j *= 10;
        }
        StringBuilder sb = new StringBuilder();
        sb.append(" ".repeat(prec + 8));
        for (int cpu = 0; cpu < cpus; cpu++) {
            sb.append(String.format("CPU%-8d", cpu));
        }
        sb.append('\n');
        for (KernelSnapshot.IrqLine line : snapshot.irqLines()) {
            if (!line.hasAction()) {
                continue;   // no action: left out even when it counted interrupts before free_irq
            }
            sb.append(String.format("%" + prec + "d: ", line.irq()));
            for (int cpu = 0; cpu < cpus; cpu++) {
                sb.append(String.format("%10d ", line.counts().get(cpu)));
            }
            sb.append(String.format(" %8s", line.chip()));
            sb.append(String.format(" %" + prec + "d", line.irq()));
            sb.append(String.format("-%-8s", line.trigger()));
            sb.append("  ").append(line.name());
            sb.append('\n');
        }
        sb.append(String.format("%" + prec + "s: ", "LOC"));
        for (KernelSnapshot.CpuCounters c : snapshot.cpus()) {
            sb.append(String.format("%10d ", c.loc()));
        }
        sb.append("  Local timer interrupts\n");
        sb.append(String.format("%" + prec + "s: ", "CAL"));
        for (KernelSnapshot.CpuCounters c : snapshot.cpus()) {
            sb.append(String.format("%10d ", c.functionCallInterrupts()));
        }
        sb.append("  Function call interrupts\n");
        return sb.toString();
    }

    /**
     * {@code /proc/irq/N/spurious}: {@code count}, {@code unhandled}, {@code last_unhandled ... ms}.
     *
     * @param irq the line
     * @return the file's three lines
     * @throws dev.bottomhalf.runtime.KernelException {@code EINVAL} for a line that does not exist
     */
    public String irqSpurious(int irq) {
        return irqSpurious(readIrqLine(irq));
    }

    /**
     * {@link #irqSpurious(int)} of a line's record: the text of {@code /proc/irq/N/spurious} at the moment it was read.
     *
     * @param line a line of a snapshot ({@link KernelSnapshot#irqLine(int)})
     * @return the file's three lines
     */
    public static String irqSpurious(KernelSnapshot.IrqLine line) {
        IrqController.SpuriousState s = line.spurious();
        return "count " + s.count() + "\nunhandled " + s.unhandled() + "\nlast_unhandled " + s.lastUnhandledMs() + " ms\n";
    }

    /**
     * {@code /proc/irq/N/smp_affinity} ({@code %*pb} of the affinity mask): the mask in hexadecimal,
     * {@code nr_cpu_ids} bits wide, in comma-separated 32-bit groups. Our lines are routed to one CPU.
     *
     * @param irq the line
     * @return the mask and a newline
     * @throws dev.bottomhalf.runtime.KernelException {@code EINVAL} for a line that does not exist
     */
    public String irqSmpAffinity(int irq) {
        return cpumaskHex(machine.cpuCount(), irqs.affinity(irq)) + "\n";
    }

    /**
     * {@code /proc/irq/N/smp_affinity_list} ({@code %*pbl}): the CPUs of the mask as a list ({@code 1}).
     *
     * @param irq the line
     * @return the CPU list and a newline
     * @throws dev.bottomhalf.runtime.KernelException {@code EINVAL} for a line that does not exist
     */
    public String irqSmpAffinityList(int irq) {
        return irqs.affinity(irq) + "\n";
    }

    /** {@code %*pb} of a mask of {@code nbits} with one bit set: zero-padded hex, 32-bit groups joined by commas. */
    static String cpumaskHex(int nbits, int cpu) {
        StringBuilder sb = new StringBuilder();
        int groups = (nbits + 31) / 32;
        for (int g = groups - 1; g >= 0; g--) {
            int bitsInGroup = g == groups - 1 ? nbits - g * 32 : 32;
            int digits = (bitsInGroup + 3) / 4;
            long word = cpu / 32 == g ? 1L << (cpu % 32) : 0;
            String hex = Long.toHexString(word);
            sb.append("0".repeat(Math.max(0, digits - hex.length()))).append(hex);
            if (g > 0) {
                sb.append(',');
            }
        }
        return sb.toString();
    }

    /**
     * {@code /proc/sys/kernel/watchdog_thresh}: the lockup detectors' threshold in seconds (0: off).
     *
     * @return the threshold and a newline
     */
    public String watchdogThresh() {
        return machine.lockupDetector().watchdogThresh() + "\n";
    }
}
