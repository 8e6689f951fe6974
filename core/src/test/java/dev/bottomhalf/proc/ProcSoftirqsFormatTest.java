package dev.bottomhalf.proc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The exact text of {@code /proc/softirqs} ({@code show_softirqs}): a header of 20 spaces and
 * {@code "CPU%-8d"} per CPU; one row per vector, {@code "%12s:"} then {@code " %10u"} per CPU; the ten
 * standard vectors in bit order, then opened user vectors (a model extension) in bit order.
 */
class ProcSoftirqsFormatTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped();
    private Kernel kernel;

    private void boot(int cpus) {
        kernel = kernels.boot(b -> b.cpus(cpus));
        for (SoftirqVector v : SoftirqVector.values()) {
            kernel.softirqs().open(v, () -> { });
        }
    }

    /** Runs {@code nr} on {@code cpu} exactly {@code times} times: one pass per BH section. */
    private void run(int cpu, int nr, int times) {
        ExecutionContext task = kernel.bindCurrentThread(cpu);
        for (int i = 0; i < times; i++) {
            task.localBhDisable();
            kernel.softirqs().raise(nr);
            task.localBhEnable();
        }
    }

    private void run(int cpu, SoftirqVector v, int times) {
        run(cpu, v.nr(), times);
    }

    @Test
    void freshKernel_showsTheTenStandardRowsInBitOrder_allZero() {
        boot(2);
        assertEquals(""
                + "                    CPU0       CPU1       \n"
                + "          HI:          0          0\n"
                + "       TIMER:          0          0\n"
                + "      NET_TX:          0          0\n"
                + "      NET_RX:          0          0\n"
                + "       BLOCK:          0          0\n"
                + "    IRQ_POLL:          0          0\n"
                + "     TASKLET:          0          0\n"
                + "       SCHED:          0          0\n"
                + "     HRTIMER:          0          0\n"
                + "         RCU:          0          0\n", kernel.proc().softirqs());
    }

    @Test
    void knownCountsOnTwoCpus_areRightAlignedInTenColumns() {
        boot(2);
        run(0, SoftirqVector.HI, 2);
        run(0, SoftirqVector.NET_RX, 5);
        run(0, SoftirqVector.RCU, 1);
        run(1, SoftirqVector.TIMER, 3);
        run(1, SoftirqVector.NET_RX, 17);
        run(1, SoftirqVector.TASKLET, 1234);
        run(0, SoftirqVector.HRTIMER, 10);
        assertEquals(""
                + "                    CPU0       CPU1       \n"
                + "          HI:          2          0\n"
                + "       TIMER:          0          3\n"
                + "      NET_TX:          0          0\n"
                + "      NET_RX:          5         17\n"
                + "       BLOCK:          0          0\n"
                + "    IRQ_POLL:          0          0\n"
                + "     TASKLET:          0       1234\n"
                + "       SCHED:          0          0\n"
                + "     HRTIMER:         10          0\n"
                + "         RCU:          1          0\n", kernel.proc().softirqs());
    }

    @Test
    void openedUserVectors_followRcu_inBitOrder_andUnopenedOnesAreHidden() {
        boot(2);
        kernel.softirqs().open(12, "MYVEC", () -> { });
        kernel.softirqs().open(11, "ABCDEFGHIJKL", () -> { });   // 12 characters: fills the %12s field
        run(1, 12, 4);
        run(0, 11, 1);
        run(0, SoftirqVector.RCU, 2);
        assertEquals(""
                + "                    CPU0       CPU1       \n"
                + "          HI:          0          0\n"
                + "       TIMER:          0          0\n"
                + "      NET_TX:          0          0\n"
                + "      NET_RX:          0          0\n"
                + "       BLOCK:          0          0\n"
                + "    IRQ_POLL:          0          0\n"
                + "     TASKLET:          0          0\n"
                + "       SCHED:          0          0\n"
                + "     HRTIMER:          0          0\n"
                + "         RCU:          2          0\n"
                + "ABCDEFGHIJKL:          1          0\n"
                + "       MYVEC:          0          4\n", kernel.proc().softirqs());
    }

    @Test
    void userVectorNames_mustFitTheTwelveCharacterColumn() {
        boot(1);
        KernelException e = assertThrows(KernelException.class,
                () -> kernel.softirqs().open(12, "THIRTEENCHARS", () -> { }));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals(Errno.EINVAL, assertThrows(KernelException.class,
                () -> kernel.softirqs().open(32, "X", () -> { })).errno());
        assertEquals(Errno.EINVAL, assertThrows(KernelException.class,
                () -> kernel.softirqs().open(10, " ", () -> { })).errno());
        assertEquals(11, kernel.proc().softirqs().split("\n").length, "nothing was added");
    }

    @Test
    void header_hasOneElevenCharacterColumnPerCpu() {
        boot(1);
        assertEquals("                    CPU0       \n", kernel.proc().softirqs().lines().findFirst().orElseThrow() + "\n");
        assertEquals("         RCU:          0\n",
                kernel.proc().softirqs().substring(kernel.proc().softirqs().indexOf("         RCU:")));
        kernel.close();
        boot(4);
        run(3, SoftirqVector.BLOCK, 7);
        String text = kernel.proc().softirqs();
        assertEquals("                    CPU0       CPU1       CPU2       CPU3       ", text.lines().findFirst().orElseThrow());
        assertEquals("       BLOCK:          0          0          0          7", text.lines().toList().get(5));
    }
}
