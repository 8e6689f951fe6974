package dev.bottomhalf.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.EnumSet;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.softirq.SoftirqVector;

/** The exact text of the /proc files, in the kernel's formats. */
class ProcFormatTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    @Test
    void procInterrupts_matchesTheKernelsLayout() {
        Kernel k = kernels.kernel();
        Stepper s = k.stepper();
        k.bindCurrentThread(0);
        k.irqs().request(9, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.SHARED), "eth0", "a");
        k.irqs().request(9, (i, d) -> IrqReturn.NONE, EnumSet.of(IrqFlag.SHARED), "eth1", "b");
        k.irqs().request(12, (i, d) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.TRIGGER_HIGH), "i8042", "c");
        k.irqs().setAffinity(9, 0);
        k.irqs().setAffinity(12, 0);
        for (int n = 0; n < 3; n++) {
            k.irqs().assertIrq(9);
            s.hardirq(0);
        }
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        s.hardirq(1);
        k.smpCallFunctionSingle(1, () -> { }, true);
        TimerList t = TimerList.setup("tick-me", x -> { }, 0);
        k.timers().mod(t, k.jiffies() + 1);
        s.advanceJiffies(2);
        s.hardirq(0);
        assertEquals(""
                + "           CPU0       CPU1       \n"
                + "  9:          3          1   BH-INTC   9-edge      eth0, eth1\n"
                + " 12:          0          0   BH-INTC  12-level     i8042\n"
                + "LOC:          1          0   Local timer interrupts\n"
                + "CAL:          0          1   Function call interrupts\n", k.proc().interrupts());
    }

    @Test
    void procSoftirqs_matchesTheKernelsLayout() {
        Kernel k = kernels.kernel();
        var task = k.bindCurrentThread(1);
        k.softirqs().open(SoftirqVector.NET_RX, () -> { });
        k.softirqs().open(SoftirqVector.HI, () -> { });
        for (int n = 0; n < 12; n++) {
            task.localBhDisable();
            k.softirqs().raise(SoftirqVector.NET_RX);
            if (n % 4 == 0) {
                k.softirqs().raise(SoftirqVector.HI);
            }
            task.localBhEnable();
        }
        assertEquals(""
                + "                    CPU0       CPU1       \n"
                + "          HI:          0          3\n"
                + "       TIMER:          0          0\n"
                + "      NET_TX:          0          0\n"
                + "      NET_RX:          0         12\n"
                + "       BLOCK:          0          0\n"
                + "    IRQ_POLL:          0          0\n"
                + "     TASKLET:          0          0\n"
                + "       SCHED:          0          0\n"
                + "     HRTIMER:          0          0\n"
                + "         RCU:          0          0\n", k.proc().softirqs());
    }

    @Test
    void procIrqSpurious_showsTheUnhandledCounters() {
        Kernel k = kernels.boot(b -> b.cpus(1));
        Stepper s = k.stepper();
        k.irqs().request(5, (i, d) -> IrqReturn.NONE, Set.of(), "deaf", "d");
        for (int n = 0; n < 3; n++) {
            k.irqs().assertIrq(5);
            s.hardirq(0);
        }
        long ms = k.jiffies();    // HZ=1000: one jiffy per ms
        assertEquals("count 3\nunhandled 3\nlast_unhandled " + ms + " ms\n", k.proc().irqSpurious(5));
    }
}
