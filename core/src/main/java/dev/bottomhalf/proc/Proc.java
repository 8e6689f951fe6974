package dev.bottomhalf.proc;

import java.util.List;
import java.util.Objects;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.net.Napi;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.Timers;

/**
 * The {@code /proc} files of one kernel, rendered in the kernel's own text formats. Thread-safe; every
 * rendering is a racy snapshot of per-CPU counters, as in the kernel.
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

    static {
        Subsystems.install(Subsystems.ProcAccess.class, new ProcWiring());
    }

    /** Part of the kernel's assembly ({@code Kernel.boot}, through {@code Subsystems}): only the kernel makes one. */
    Proc(Machine machine, IrqController irqs, Softirqs softirqs, Timers timers, HrTimers hrtimers, Napi napi) {
        this.machine = Objects.requireNonNull(machine);
        this.irqs = Objects.requireNonNull(irqs);
        this.softirqs = Objects.requireNonNull(softirqs);
        this.timers = Objects.requireNonNull(timers);
        this.hrtimers = Objects.requireNonNull(hrtimers);
        this.napi = Objects.requireNonNull(napi);
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
        StringBuilder sb = new StringBuilder();
        for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
            long[] cols = {napi.processed(cpu), 0, napi.timeSqueeze(cpu), 0, 0, 0, 0, 0, 0, 0, 0, 0, cpu, 0, 0};
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
        StringBuilder sb = new StringBuilder();
        sb.append("                    ");
        for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
            sb.append(String.format("CPU%-8d", cpu));
        }
        sb.append('\n');
        for (int nr = 0; nr < SoftirqVector.MAX_VECTORS; nr++) {
            if (nr >= SoftirqVector.NR_SOFTIRQS && !softirqs.isOpen(nr)) {
                continue;
            }
            sb.append(String.format("%12s:", softirqs.name(nr)));
            for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
                sb.append(String.format(" %10d", softirqs.count(cpu, nr)));
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
        int lines = irqs.lines();
        int prec = 3;
        for (int j = 1000; prec < 10 && j <= lines; prec++) {
            j *= 10;
        }
        StringBuilder sb = new StringBuilder();
        sb.append(" ".repeat(prec + 8));
        for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
            sb.append(String.format("CPU%-8d", cpu));
        }
        sb.append('\n');
        for (int irq = 0; irq < lines; irq++) {
            List<String> names = irqs.actionNames(irq);
            if (names.isEmpty()) {
                continue;   // no action: left out even when it counted interrupts before free_irq
            }
            sb.append(String.format("%" + prec + "d: ", irq));
            for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
                sb.append(String.format("%10d ", irqs.count(irq, cpu)));
            }
            sb.append(String.format(" %8s", CHIP_NAME));
            sb.append(String.format(" %" + prec + "d", irq));
            sb.append(String.format("-%-8s", irqs.isLevelTriggered(irq) ? "level" : "edge"));
            if (!names.isEmpty()) {
                sb.append("  ").append(String.join(", ", names));
            }
            sb.append('\n');
        }
        sb.append(String.format("%" + prec + "s: ", "LOC"));
        for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
            sb.append(String.format("%10d ", timers.localTimerInterrupts(cpu) + hrtimers.interrupts(cpu)));
        }
        sb.append("  Local timer interrupts\n");
        sb.append(String.format("%" + prec + "s: ", "CAL"));
        for (int cpu = 0; cpu < machine.cpuCount(); cpu++) {
            sb.append(String.format("%10d ", machine.cpu(cpu).functionCallInterrupts()));
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
        IrqController.SpuriousState s = irqs.spurious(irq);
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
