package dev.bottomhalf.web;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;

class KernelCountersTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    @Test
    void read_givesTheRowsOfProcInterruptsAndProcSoftirqs_labelForLabelAndCountForCount() {
        Kernel k = kernels.kernel();
        k.softirqs().open(SoftirqVector.NET_RX, () -> { });
        k.irqs().request(24, (irq, dev) -> {
            k.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0-rx-0", "q0");
        k.irqs().setAffinity(24, 1);
        for (int i = 0; i < 3; i++) {
            k.irqs().assertIrq(24);
            k.stepper().hardirq(1);
        }
        KernelCounters.Sample s = new KernelCounters(k).read();
        assertEquals(procRows(k.proc().interrupts(), true), text(s.interrupts()));
        assertEquals(procRows(k.proc().softirqs(), false), text(s.softirqs()));
        KernelCounters.Row irq24 = s.interrupts().getFirst();
        assertEquals("24", irq24.label());
        assertArrayEquals(new long[] {0, 3}, irq24.perCpu());
        assertEquals("BH-INTC 24-edge eth0-rx-0", irq24.description());
    }

    private static List<String> text(List<KernelCounters.Row> rows) {
        List<String> out = new ArrayList<>();
        for (KernelCounters.Row r : rows) {
            StringBuilder b = new StringBuilder(r.label()).append(':');
            for (long v : r.perCpu()) {
                b.append(' ').append(v);
            }
            out.add(b.append(r.description().isEmpty() ? "" : " " + r.description()).toString());
        }
        return out;
    }

    /** The kernel's text, one row a line with its runs of spaces collapsed. */
    private static List<String> procRows(String text, boolean described) {
        List<String> out = new ArrayList<>();
        String[] lines = text.split("\n");
        for (int i = 1; i < lines.length; i++) {
            String l = lines[i].trim().replaceAll("\\s+", " ");
            out.add(l);
        }
        return out;
    }
}
