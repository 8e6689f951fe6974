package dev.bottomhalf.locking;

import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * {@code rwlock_t} in stepped mode: readers share, a writer excludes, each lock form's context effects, the
 * trylocks, reader recursion from an interrupt, and the misuse reports of {@code CONFIG_DEBUG_SPINLOCK} (lockdep
 * is off here, so that they report themselves; {@code LockdepTest} covers rwlocks under lockdep).
 */
class RwlockSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).with(b -> b.proveLocking(false));
    private Kernel kernel;
    private Stepper stepper;
    private KernelReports reports;
    private final List<String> seen = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        reports = kernels.reports();
        kernel.bindCurrentThread(0);
    }

    private String pc() {
        return String.format("%08x irqs_disabled=%b", preempt_count(), irqs_disabled());
    }

    @Test
    void readers_share_writerTrylockFails_untilTheLastReaderLeaves() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        read_lock(lock);
        read_lock(lock);                          // recursive read: fine, and no lockdep report
        assertEquals(2, lock.readers());
        assertEquals(2, preempt_count());
        assertEquals(0, write_trylock(lock));
        read_unlock(lock);
        assertEquals(0, write_trylock(lock));
        read_unlock(lock);
        assertEquals(1, write_trylock(lock));
        assertEquals(0, read_trylock(lock), "a writer excludes readers");
        write_unlock(lock);
        assertEquals(1, read_trylock(lock));
        read_unlock(lock);
        assertEquals(0, preempt_count());
        assertFalse(lock.isLocked());
    }

    @Test
    void eachLockForm_hasTheSpinlockContextEffects() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        read_lock_irq(lock);
        assertEquals("00000001 irqs_disabled=true", pc());
        read_unlock_irq(lock);
        long flags = read_lock_irqsave(lock);
        assertEquals("00000001 irqs_disabled=true", pc());
        read_unlock_irqrestore(lock, flags);
        read_lock_bh(lock);
        assertEquals("00000201 irqs_disabled=false", pc());
        read_unlock_bh(lock);
        write_lock(lock);
        assertEquals("00000001 irqs_disabled=false", pc());
        write_unlock(lock);
        write_lock_irq(lock);
        assertEquals("00000001 irqs_disabled=true", pc());
        write_unlock_irq(lock);
        flags = write_lock_irqsave(lock);
        assertEquals("00000001 irqs_disabled=true", pc());
        write_unlock_irqrestore(lock, flags);
        write_lock_bh(lock);
        assertEquals("00000201 irqs_disabled=false", pc());
        write_unlock_bh(lock);
        assertEquals("00000000 irqs_disabled=false", pc());
    }

    @Test
    void writeLockBh_holdsOffSoftirqs_untilWriteUnlockBh() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> seen.add("NET_RX " + pc()));
        kernel.irqs().request(3, (irq, dev) -> {
            raise_softirq(NET_RX_SOFTIRQ);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", "nic");
        kernel.irqs().setAffinity(3, 0);
        write_lock_bh(lock);
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);
        assertEquals(List.of(), seen);
        write_unlock_bh(lock);
        assertEquals(List.of("NET_RX 00000101 irqs_disabled=false"), seen);
    }

    @Test
    void readerInAHardirq_mayTakeALockItsInterruptedTaskReads() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        kernel.irqs().request(3, (irq, dev) -> {
            read_lock(lock);
            seen.add("readers " + lock.readers());
            read_unlock(lock);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", "nic");
        kernel.irqs().setAffinity(3, 0);
        read_lock(lock);
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);
        read_unlock(lock);
        assertEquals(List.of("readers 2"), seen);
    }

    @Test
    void writeLockTwice_isRwlockRecursion() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        write_lock(lock);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> write_lock(lock));
        assertTrue(e.getMessage().startsWith("BUG: rwlock recursion"), e.getMessage());
        assertEquals(1, preempt_count());
        write_unlock(lock);
        reports.expect("BUG: rwlock recursion on CPU#0, ");
    }

    @Test
    void readLockWhileHoldingItForWriting_isRwlockRecursion() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        write_lock(lock);
        assertThrows(IllegalStateException.class, () -> read_lock(lock));
        write_unlock(lock);
        assertEquals(0, preempt_count());
        reports.expect("BUG: rwlock recursion on CPU#0, ");
    }

    @Test
    void readUnlockWithoutReaders_isBadUnlockBalance_andLeavesTheLockFree() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        preempt_disable();
        read_unlock(lock);
        assertFalse(lock.isLocked());
        assertEquals(0, lock.readers());
        reports.expect("WARNING: bad unlock balance detected!");
        assertEquals(1, reports.matching("is trying to release lock (stats_lock) at:").size());
    }

    @Test
    void writeUnlockByANonOwner_isWrongOwner() {
        Rwlock lock = DEFINE_RWLOCK("stats_lock");
        read_lock(lock);
        preempt_disable();                        // the level the bad write_unlock gives back
        write_unlock(lock);                       // not write-locked: reported, and the reader keeps its hold
        assertEquals(1, lock.readers());
        read_unlock(lock);
        assertEquals(0, preempt_count());
        assertFalse(lock.isLocked());
        reports.expect("BUG: rwlock wrong owner on CPU#0, ");
    }
}
