package dev.bottomhalf.locking;

import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The worked timeline of {@code docs/subsystems/locking.md}, row by row: a NIC driver's RX ring lock shared by
 * the top half (CPU 1) and a task (CPU 0) that forgot {@code _irqsave}; lockdep reports the inconsistent usage
 * at the task's first {@code spin_lock}, before any deadlock happens; the fixed driver reports nothing.
 */
class LockingDocTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    /** The driver: one ring, its lock, the top half and the task-side refill. */
    static final class NicDriver {
        final Spinlock ringLock = new Spinlock("&ring->lock");
        final ArrayDeque<Integer> ring = new ArrayDeque<>();

        int rxInterrupt(int irq, Object dev) {
            spin_lock(ringLock);                   // hardirq: IRQs are already off here
            ring.add(irq);
            spin_unlock(ringLock);
            return IrqReturn.HANDLED;
        }

        int drainBuggy() {
            spin_lock(ringLock);                   // task, IRQs on: the top half can interrupt us here
            int n = ring.size();
            ring.clear();
            spin_unlock(ringLock);
            return n;
        }

        int drainFixed() {
            long flags = spin_lock_irqsave(ringLock);
            int n = ring.size();
            ring.clear();
            spin_unlock_irqrestore(ringLock, flags);
            return n;
        }
    }

    private static NicDriver probe(Kernel k) {
        NicDriver nic = new NicDriver();
        k.irqs().request(24, nic::rxInterrupt, Set.of(), "eth0", nic);
        k.irqs().setAffinity(24, 1);
        k.bindCurrentThread(0);
        return nic;
    }

    @Test
    void docTimeline_topHalfAndATaskThatForgotIrqsave() {
        Kernel k = kernels.kernel();
        Stepper s = k.stepper();
        NicDriver nic = probe(k);
        k.irqs().assertIrq(24);
        s.hardirq(1);                              // row 1: cpu/1 takes &ring->lock in hardirq: {IN-HARDIRQ-W}
        assertEquals(List.of(), kernels.reports().messages());
        assertEquals(1, nic.drainBuggy());          // row 2: the task takes it with IRQs on: {HARDIRQ-ON-W}
        List<KernelEvent> found = kernels.reports().matching("WARNING: inconsistent lock state");
        assertEquals(1, found.size());
        String text = found.get(0).message();
        String me = k.context().name() + "/" + Thread.currentThread().threadId();
        assertTrue(text.contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.\n" + me
                + " [HC0[0]:SC0[0]:HE1:SE1] takes:\n"), text);
        assertTrue(text.contains(" (&ring->lock){-...}-{2:2}, at: dev.bottomhalf.locking.LockingDocTest$NicDriver.drainBuggy("),
                text);
        assertTrue(text.contains("{IN-HARDIRQ-W} state was registered at:\n"
                + "  dev.bottomhalf.locking.LockingDocTest$NicDriver.rxInterrupt("), text);
        k.irqs().assertIrq(24);
        s.hardirq(1);                              // row 3: lockdep is off now (debug_locks_off); nothing more
        assertEquals(1, nic.drainBuggy());
        assertEquals(1, kernels.reports().matching("inconsistent").size());
    }

    @Test
    void docTimeline_fixedDriver_isConsistent() {
        Kernel k = kernels.kernel();
        Stepper s = k.stepper();
        NicDriver nic = probe(k);
        for (int i = 0; i < 3; i++) {
            k.irqs().assertIrq(24);
            s.hardirq(1);
            assertEquals(1, nic.drainFixed());
        }
        assertEquals(List.of(), kernels.reports().messages());
    }
}
