package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Where the kernel answers NULL or {@code -errno}, the Java API throws a {@link KernelException} carrying the
 * {@link Errno} (after the same report), and the {@code Linux} facade still answers NULL or {@code -errno}.
 */
class JavaApiRefusalsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private KernelReports reports;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
    }

    private static KernelException refused(Errno errno, Runnable call) {
        KernelException e = assertThrows(KernelException.class, call::run);
        assertEquals(errno, e.errno());
        return e;
    }

    @Test
    void allocOfABhWorkqueueWithMaxActive_throwsEinval_whileTheFacadeReturnsNull() {
        KernelException e = refused(Errno.EINVAL, () -> kernel.workqueues().alloc("bh", Workqueue.WQ_BH, 4));
        assertEquals("EINVAL: alloc_workqueue(bh): a BH workqueue takes only WQ_HIGHPRI and max_active 0 (flags 0x"
                + Integer.toHexString(Workqueue.WQ_BH) + ", max_active 4)", e.getMessage());
        assertNull(Linux.alloc_workqueue("bh2", Workqueue.WQ_BH, 4));
        assertEquals(1, reports.matching("WARNING: alloc_workqueue(bh)").size(), "WARN_ON_ONCE: the first only");
    }

    @Test
    void allocOfAnOrderedWorkqueueWithSysfs_throwsEinval_whileTheFacadeReturnsNull() {
        refused(Errno.EINVAL, () -> kernel.workqueues().allocOrdered("o", Workqueue.WQ_SYSFS));
        assertNull(Linux.alloc_ordered_workqueue("o2", Workqueue.WQ_SYSFS));
        assertEquals(2, reports.matching("WQ_SYSFS is not allowed on an ordered workqueue").size());
    }

    @Test
    void freeOfAnAlreadyFreeIrq_throwsEinval_whileTheFacadeReturnsNull() {
        kernel.irqs().request(7, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        KernelException e = refused(Errno.EINVAL, () -> kernel.irqs().free(7, "wrong"));
        assertEquals("EINVAL: Trying to free already-free IRQ 7", e.getMessage());
        assertNull(Linux.free_irq(7, "wrong"));
        assertEquals(2, reports.matching("Trying to free already-free IRQ 7").size());
        assertEquals("a", Linux.free_irq(7, "A"));
        refused(Errno.EINVAL, () -> Linux.free_irq(kernel.irqs().lines(), "A")); // a missing line: as before
    }

    @Test
    void kthreadStopOfATaskThatIsNoKthread_throwsEinval_whileTheFacadeReturnsMinusEinval() {
        Task me = kernel.sched().current();
        refused(Errno.EINVAL, () -> kernel.kthreads().stop(me));
        assertEquals(-Errno.EINVAL.code(), Linux.kthread_stop(me));
        assertEquals(2, reports.matching("the task is not a kthread").size());
    }

    @Test
    void sendSigOfAnInvalidSignal_throwsEinval_whileTheFacadeReturnsMinusEinval() {
        Task me = kernel.sched().current();
        KernelException e = refused(Errno.EINVAL, () -> kernel.sched().sendSig(65, me));
        assertEquals("EINVAL: send_sig(65): signals are numbered 1..64", e.getMessage());
        assertEquals(-Errno.EINVAL.code(), Linux.send_sig(0, me, 0));
        assertEquals(0, Linux.send_sig(Sched.SIGUSR1, me, 0));
        Thread.interrupted(); // the signal just sent
    }
}
