package dev.bottomhalf.locking;

import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqHandler;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Spinlocks and rwlocks in stepped mode: every lock form's effect on the execution context ({@code preempt_count},
 * IRQs, bottom halves), interrupts and softirqs held off until the unlock, trylocks, and the
 * {@code CONFIG_DEBUG_SPINLOCK} reports. The test thread is a task on CPU 0 and plays the runtime contexts.
 * These kernels run with lockdep off ({@code proveLocking(false)}), so that the spinlock debug checks report
 * themselves (lockdep would report most misuses first: {@code LockdepTest}).
 */
class SpinlockSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).with(b -> b.proveLocking(false));
    private Kernel kernel;
    private Stepper stepper;
    private KernelReports reports;
    private ExecutionContext task;
    private final List<String> seen = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        reports = kernels.reports();
        task = kernel.bindCurrentThread(0);
    }

    private void line(int irq, int cpu, IrqHandler handler) {
        kernel.irqs().request(irq, handler, Set.of(), "dev" + irq, "cookie" + irq);
        kernel.irqs().setAffinity(irq, cpu);
    }

    private String pc() {
        return String.format("%08x irqs_disabled=%b in_softirq=%b", preempt_count(), irqs_disabled(), in_softirq());
    }

    // ------------------------------------------------------------------------------------------
    // Context effects
    // ------------------------------------------------------------------------------------------

    @Test
    void spinLock_addsOnePreemptionLevel_andUnlockTakesItBack() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        spin_lock(lock);
        assertEquals("00000001 irqs_disabled=false in_softirq=false", pc());
        assertTrue(spin_is_locked(lock));
        assertTrue(in_atomic());
        spin_unlock(lock);
        assertEquals("00000000 irqs_disabled=false in_softirq=false", pc());
        assertFalse(spin_is_locked(lock));
    }

    @Test
    void nestedLocks_countOnePreemptionLevelEach() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        spin_lock(a);
        spin_lock(b);
        assertEquals(2, preempt_count());
        spin_unlock(b);
        spin_unlock(a);
        assertEquals(0, preempt_count());
    }

    @Test
    void spinLockIrq_disablesIrqs_interruptAssertedMeanwhileIsDeliveredAfterUnlock() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        line(3, 0, (irq, dev) -> {
            seen.add("irq 3");
            return IrqReturn.HANDLED;
        });
        spin_lock_irq(lock);
        assertEquals("00000001 irqs_disabled=true in_softirq=false", pc());
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);                      // CPU 0's IRQs are off: the line stays latched
        assertEquals(List.of(), seen);
        spin_unlock_irq(lock);
        assertEquals("00000000 irqs_disabled=false in_softirq=false", pc());
        stepper.hardirq(0);
        assertEquals(List.of("irq 3"), seen);
    }

    @Test
    void spinLockIrqsave_returnsFlags_andRestoreKeepsAnOuterIrqDisable() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        long outer = spin_lock_irqsave(lock);
        assertFalse(irqs_disabled_flags(outer));
        assertEquals("00000001 irqs_disabled=true in_softirq=false", pc());
        spin_unlock_irqrestore(lock, outer);
        assertEquals("00000000 irqs_disabled=false in_softirq=false", pc());

        local_irq_disable();
        long inner = spin_lock_irqsave(lock);
        assertTrue(irqs_disabled_flags(inner));
        spin_unlock_irqrestore(lock, inner);
        assertEquals("00000000 irqs_disabled=true in_softirq=false", pc(), "IRQs stay off: they were off at the save");
        local_irq_enable();
    }

    @Test
    void spinLockIrqsave_interruptOnThatCpuWaits_otherCpuIsNotAffected() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        line(3, 0, (irq, dev) -> {
            seen.add("irq 3 on CPU " + smp_processor_id());
            return IrqReturn.HANDLED;
        });
        line(5, 1, (irq, dev) -> {
            seen.add("irq 5 on CPU " + smp_processor_id());
            return IrqReturn.HANDLED;
        });
        long flags = spin_lock_irqsave(lock);
        kernel.irqs().assertIrq(3);
        kernel.irqs().assertIrq(5);
        stepper.hardirq(0);
        stepper.hardirq(1);
        assertEquals(List.of("irq 5 on CPU 1"), seen);
        spin_unlock_irqrestore(lock, flags);
        stepper.hardirq(0);
        assertEquals(List.of("irq 5 on CPU 1", "irq 3 on CPU 0"), seen);
    }

    @Test
    void spinLockBh_addsSoftirqLockOffset_softirqRaisedMeanwhileRunsInUnlockBh() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> seen.add("NET_RX " + pc() + " serving="
                + in_serving_softirq() + " on " + kernel.context().name()));
        line(3, 0, (irq, dev) -> {
            raise_softirq(NET_RX_SOFTIRQ);
            return IrqReturn.HANDLED;
        });
        spin_lock_bh(lock);
        assertEquals("00000201 irqs_disabled=false in_softirq=true", pc());
        assertTrue(in_interrupt());
        assertTrue(in_task());
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);                      // irq_exit finds BH disabled: NET_RX waits
        assertEquals(List.of(), seen);
        String me = kernel.context().name();
        spin_unlock_bh(lock);
        assertEquals(List.of("NET_RX 00000101 irqs_disabled=false in_softirq=true serving=true on " + me), seen,
                "the unlock runs it on this thread with one preemption level left, as __local_bh_enable_ip");
        assertEquals("00000000 irqs_disabled=false in_softirq=false", pc());
    }

    @Test
    void trylock_takesAFreeLock_andLeavesTheCountAsItWasOnABusyOne() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        assertEquals(1, spin_trylock(lock));
        assertEquals(1, preempt_count());
        assertEquals(0, spin_trylock(lock));      // busy (held by this very context): no recursion report
        assertEquals(1, preempt_count());
        spin_unlock(lock);
        assertEquals(0, preempt_count());
        assertEquals(List.of(), reports.messages());
    }

    @Test
    void trylockIrqsave_onABusyLock_returnsFailed_andRestoresIrqs() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        long flags = spin_trylock_irqsave(lock);
        assertTrue(flags >= 0);
        assertEquals("00000001 irqs_disabled=true in_softirq=false", pc());
        spin_unlock_irqrestore(lock, flags);

        spin_lock(lock);
        assertEquals(Spinlock.TRYLOCK_FAILED, spin_trylock_irqsave(lock));
        assertEquals("00000001 irqs_disabled=false in_softirq=false", pc());
        spin_unlock(lock);
    }

    @Test
    void trylockBh_onABusyLock_enablesBhAgain_andRunsPendingSoftirqs() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        kernel.softirqs().open(SoftirqVector.BLOCK, () -> seen.add("BLOCK " + pc()));
        assertEquals(1, spin_trylock_bh(lock));
        assertEquals("00000201 irqs_disabled=false in_softirq=true", pc());
        spin_unlock_bh(lock);

        spin_lock(lock);
        local_bh_disable();
        raise_softirq(BLOCK_SOFTIRQ);             // BH disabled: waits for the enable
        local_bh_enable_without_running();
        assertEquals(0, spin_trylock_bh(lock));
        assertEquals(List.of("BLOCK 00000102 irqs_disabled=false in_softirq=true"), seen,
                "the failed trylock's bh enable ran it, inside the held lock's preemption level");
        spin_unlock(lock);
        assertEquals(0, preempt_count());
    }

    /** {@code _local_bh_enable()} after a raise: BH back on, the raise still pending. */
    private static void local_bh_enable_without_running() {
        _local_bh_enable();
    }

    @Test
    void rawSpinlock_hasTheSameEffects() {
        RawSpinlock lock = DEFINE_RAW_SPINLOCK("raw");
        raw_spin_lock(lock);
        assertEquals("00000001 irqs_disabled=false in_softirq=false", pc());
        raw_spin_unlock(lock);
        raw_spin_lock_irq(lock);
        assertEquals("00000001 irqs_disabled=true in_softirq=false", pc());
        raw_spin_unlock_irq(lock);
        long flags = raw_spin_lock_irqsave(lock);
        assertEquals("00000001 irqs_disabled=true in_softirq=false", pc());
        raw_spin_unlock_irqrestore(lock, flags);
        raw_spin_lock_bh(lock);
        assertEquals("00000201 irqs_disabled=false in_softirq=true", pc());
        raw_spin_unlock_bh(lock);
        assertEquals(1, raw_spin_trylock(lock));
        assertTrue(raw_spin_is_locked(lock));
        raw_spin_unlock(lock);
        assertTrue(raw_spin_trylock_irqsave(lock) >= 0);
        raw_spin_unlock_irq(lock);
        assertEquals("00000000 irqs_disabled=false in_softirq=false", pc());
    }

    @Test
    void lockTakenInAHardirqHandler_isReleasedThere_andTheHandlerSawHardirqPlusOne() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        line(3, 1, (irq, dev) -> {
            spin_lock(lock);
            seen.add(pc() + " hardirq=" + in_hardirq());
            spin_unlock(lock);
            return IrqReturn.HANDLED;
        });
        kernel.irqs().assertIrq(3);
        stepper.hardirq(1);
        assertEquals(List.of("00010001 irqs_disabled=true in_softirq=false hardirq=true"), seen);
        assertFalse(spin_is_locked(lock));
    }

    @Test
    void sleepingWhileHoldingASpinlock_isReportedByMightSleep() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        spin_lock(lock);
        might_sleep();
        spin_unlock(lock);
        reports.expect("BUG: sleeping function called from invalid context at might_sleep\n"
                + "in_atomic(): 1, irqs_disabled(): 0");
    }

    @Test
    void sleepingWhileHoldingASpinlockIrqsave_reportsIrqsDisabled() {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        long flags = spin_lock_irqsave(lock);
        might_sleep();
        spin_unlock_irqrestore(lock, flags);
        reports.expect("in_atomic(): 1, irqs_disabled(): 1");
        assertTrue(reports.matching("preempt_count: 1, expected: 0").size() == 1);
    }

    private static long allocatedBytes() throws ReflectiveOperationException {
        java.lang.reflect.Method m = Class.forName("com.sun.management.ThreadMXBean")
                .getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(java.lang.management.ManagementFactory.getThreadMXBean(), Thread.currentThread().threadId());
    }

    @Test
    void uncontendedLockForms_withLockdepOff_allocateNothing() throws ReflectiveOperationException {
        Spinlock lock = DEFINE_SPINLOCK("lock");
        Rwlock rw = DEFINE_RWLOCK("rw");
        Runnable forms = () -> {
            for (int i = 0; i < 100_000; i++) {
                spin_lock(lock);
                spin_unlock(lock);
                long flags = spin_lock_irqsave(lock);
                spin_unlock_irqrestore(lock, flags);
                spin_lock_bh(lock);
                spin_unlock_bh(lock);
                read_lock(rw);
                read_unlock(rw);
                write_lock_irq(rw);
                write_unlock_irq(rw);
            }
        };
        for (int round = 0; round < 5; round++) {  // the JIT's warm-up
            forms.run();
            allocatedBytes();
        }
        long before = allocatedBytes();
        forms.run();
        long allocated = allocatedBytes() - before;
        assertTrue(allocated < 4_096, allocated + " bytes for 500,000 lock/unlock pairs (the measuring call itself"
                + " takes about 1 KB)");
    }

    // ------------------------------------------------------------------------------------------
    // Assertions
    // ------------------------------------------------------------------------------------------

    @Test
    void assertSpinLocked_onAFreeLock_isAKernelBug_andOnAHeldOneSaysNothing() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        spin_lock(lock);
        assert_spin_locked(lock);
        spin_unlock(lock);
        assertEquals(List.of(), reports.messages());
        assert_spin_locked(lock);
        reports.expect("kernel BUG at assert_spin_locked(dev_lock)!");
    }

    @Test
    void lockdepAssertHeld_warnsWhenTheCallerDoesNotHoldIt() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        spin_lock(lock);
        lockdep_assert_held(lock);
        spin_unlock(lock);
        assertEquals(List.of(), reports.messages());
        lockdep_assert_held(lock);
        reports.expect("WARNING: lockdep_assert_held(dev_lock): not held by");
    }

    // ------------------------------------------------------------------------------------------
    // CONFIG_DEBUG_SPINLOCK
    // ------------------------------------------------------------------------------------------

    @Test
    void takingALockTwice_isSpinlockRecursion_andThrowsInsteadOfSpinningForever() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        spin_lock(lock);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> spin_lock(lock));
        assertTrue(e.getMessage().startsWith("BUG: spinlock recursion"), e.getMessage());
        assertEquals(1, preempt_count(), "the failed spin_lock gave its preemption level back");
        spin_unlock(lock);
        String me = kernel.context().name() + "/" + Thread.currentThread().threadId();
        reports.expect("BUG: spinlock recursion on CPU#0, " + me + "\n lock: dev_lock+0x0/0x4 [");
        assertTrue(reports.matching(".magic: dead4ead, .owner: " + me + ", .owner_cpu: 0").size() == 1);
        assertEquals(KernelEvent.Kind.BUG, reports.matching("spinlock recursion").get(0).kind());
    }

    @Test
    void spinLockIrqsaveTwice_givesIrqsBackOnTheFailure() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        long flags = spin_lock_irqsave(lock);
        assertThrows(IllegalStateException.class, () -> spin_lock_irqsave(lock));
        assertEquals("00000001 irqs_disabled=true in_softirq=false", pc());
        spin_unlock_irqrestore(lock, flags);
        assertEquals("00000000 irqs_disabled=false in_softirq=false", pc());
        reports.expect("BUG: spinlock recursion on CPU#0");
    }

    @Test
    void unlockingAFreeLock_isAlreadyUnlocked() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        spin_lock(lock);
        spin_unlock(lock);
        preempt_disable();                        // so that the bad unlock's preempt_enable has a level to drop
        spin_unlock(lock);
        assertFalse(spin_is_locked(lock));
        reports.expect("BUG: spinlock already unlocked on CPU#0, " + kernel.context().name() + "/"
                + Thread.currentThread().threadId() + "\n lock: dev_lock+0x0/0x4 [");
        assertTrue(reports.matching(".owner: <none>/-1, .owner_cpu: -1").size() == 1);
    }

    @Test
    void unlockingALockAnotherTaskHolds_isWrongOwner() throws Exception {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        AtomicReference<String> holder = new AtomicReference<>();
        Thread t = new Thread(() -> {
            kernel.bindCurrentThread(1);
            spin_lock(lock);
            holder.set(kernel.context().name() + "/" + Thread.currentThread().threadId());
            spin_unlock(lock);                     // let go, then take it again without a context effect to undo
            spin_lock(lock);
            preempt_enable();                      // leave the thread's count clean; the lock stays held
        }, "holder");
        t.start();
        t.join();
        preempt_disable();
        spin_unlock(lock);
        assertFalse(spin_is_locked(lock), "as the kernel, the lock is dropped after the report");
        reports.expect("BUG: spinlock wrong owner on CPU#0");
        assertTrue(reports.matching(".owner: " + holder.get() + ", .owner_cpu: 1").size() == 1,
                reports.messages().toString());
    }

    @Test
    void hardirqTakingALockItsCpuTaskHolds_isCpuRecursion_andTheHandlerFails() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        line(3, 0, (irq, dev) -> {
            spin_lock(lock);                       // the task it interrupted holds it: a real kernel hangs here
            seen.add("got it");
            spin_unlock(lock);
            return IrqReturn.HANDLED;
        });
        spin_lock(lock);                           // forgot _irqsave
        kernel.irqs().assertIrq(3);
        stepper.hardirq(0);
        spin_unlock(lock);
        assertEquals(List.of(), seen);
        reports.expect("BUG: spinlock cpu recursion on CPU#0, cpu/0/");
        reports.expect("BUG: spinlock lockup suspected on CPU#0, cpu/0/");
        reports.expect("Oops: irq 3 handler dev3 threw java.lang.IllegalStateException: stepped mode: cpu/0 spins on"
                + " dev_lock, which " + task.name() + " holds on this same thread: it would spin forever");
    }

    @Test
    void otherCpuSpinningOnALockThisThreadHolds_isLockupSuspected_inSteppedMode() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        line(5, 1, (irq, dev) -> {
            long flags = spin_lock_irqsave(lock);
            spin_unlock_irqrestore(lock, flags);
            return IrqReturn.HANDLED;
        });
        long flags = spin_lock_irqsave(lock);
        kernel.irqs().assertIrq(5);
        stepper.hardirq(1);
        spin_unlock_irqrestore(lock, flags);
        reports.expect("BUG: spinlock lockup suspected on CPU#1, cpu/1/");
        reports.expect("Oops: irq 5 handler dev5 threw java.lang.IllegalStateException: stepped mode: cpu/1 spins on");
        assertTrue(reports.matching(".owner: " + task.name() + "/" + Thread.currentThread().threadId()
                + ", .owner_cpu: 0").size() == 1);
        assertEquals(List.of(), reports.matching("cpu recursion"), "another CPU's lock holder is no recursion");
    }

    @Test
    void spinBugs_likeLockdep_reportOnlyOncePerBoot() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        preempt_disable();
        spin_unlock(lock);
        preempt_disable();
        spin_unlock(lock);
        assertEquals(1, reports.matching("already unlocked").size(), "debug_locks_off(): the second is not printed");
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.BUG), "but both are counted");
    }
}
