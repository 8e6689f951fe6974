package dev.bottomhalf.locking;

import dev.bottomhalf.internal.Internals;
import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqHandler;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Lockdep for interrupt code, in stepped mode: each report with a scenario that triggers it and one that must
 * not — inconsistent IRQ usage (hardirq and softirq, both orders), circular dependencies (two and three
 * classes), recursion, bad unlock balance, the workqueue's flush dependencies — and the rules around them
 * (off by default, one report per boot, classes by init site). The test thread is a task on CPU 0.
 */
class LockdepTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
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

    private void line(int irq, int cpu, IrqHandler handler) {
        kernel.irqs().request(irq, handler, Set.of(), "dev" + irq, "cookie" + irq);
        kernel.irqs().setAffinity(irq, cpu);
    }

    private void fire(int irq, int cpu) {
        kernel.irqs().assertIrq(irq);
        stepper.hardirq(cpu);
    }

    private String me() {
        return kernel.context().name() + "/" + Thread.currentThread().threadId();
    }

    private String onlyLockdepReport() {
        List<KernelEvent> found = reports.ofKind(KernelEvent.Kind.WARNING);
        assertEquals(1, found.size(), found.toString());
        return found.get(0).message();
    }

    private static void assertContains(String text, String... parts) {
        for (String p : parts) {
            assertTrue(text.contains(p), "missing [" + p + "] in:\n" + text);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Inconsistent IRQ usage
    // ------------------------------------------------------------------------------------------

    @Test
    void lockTakenInHardirq_thenByATaskWithIrqsOn_isInconsistentInHardirqToHardirqOn() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        line(3, 1, (irq, dev) -> {
            spin_lock(lock);
            spin_unlock(lock);
            return IrqReturn.HANDLED;
        });
        fire(3, 1);
        spin_lock(lock);                          // forgot _irqsave
        spin_unlock(lock);
        String text = onlyLockdepReport();
        assertTrue(text.startsWith("================================\nWARNING: inconsistent lock state\n"
                + "--------------------------------\n"
                + "inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.\n"
                + me() + " [HC0[0]:SC0[0]:HE1:SE1] takes:\n"), text);
        assertContains(text, " (dev_lock){-...}-{2:2}, at: dev.bottomhalf.locking.LockdepTest.",
                "{IN-HARDIRQ-W} state was registered at:\n  dev.bottomhalf.locking.LockdepTest.lambda$",
                "\nother info that might help us debug this:\n Possible unsafe locking scenario:\n\n"
                        + "       CPU0\n       ----\n  lock(dev_lock);\n  <Interrupt>\n    lock(dev_lock);\n\n"
                        + " *** DEADLOCK ***\n\n",
                "no locks held by " + me() + ".\n", "\nstack backtrace:");
        KernelEvent e = reports.matching("inconsistent lock state").get(0);
        assertEquals(1, e.cause().getSuppressed().length, "the handler's acquisition stack rides along");
    }

    @Test
    void lockTakenByATaskWithIrqsOn_thenInHardirq_isInconsistentHardirqOnToInHardirq() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        line(3, 0, (irq, dev) -> {
            spin_lock(lock);
            spin_unlock(lock);
            return IrqReturn.HANDLED;
        });
        spin_lock(lock);
        spin_unlock(lock);
        fire(3, 0);
        String text = onlyLockdepReport();
        assertContains(text, "inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage.\n"
                + "cpu/0/" + Thread.currentThread().threadId() + " [HC1[1]:SC0[0]:HE0:SE1] takes:\n",
                " (dev_lock){+.+.}-{2:2}", "{HARDIRQ-ON-W} state was registered at:");
    }

    @Test
    void lockTakenInASoftirq_thenByATaskWithBhOn_isInconsistentInSoftirqToSoftirqOn() {
        Spinlock lock = DEFINE_SPINLOCK("rx_lock");
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            spin_lock(lock);
            spin_unlock(lock);
        });
        line(3, 1, (irq, dev) -> {
            raise_softirq(NET_RX_SOFTIRQ);
            return IrqReturn.HANDLED;
        });
        fire(3, 1);                               // NET_RX at cpu/1's irq_exit
        spin_lock(lock);                          // forgot _bh
        spin_unlock(lock);
        String text = onlyLockdepReport();
        assertContains(text, "inconsistent {IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} usage.\n" + me()
                + " [HC0[0]:SC0[0]:HE1:SE1] takes:\n", " (rx_lock){+.-.}-{2:2}", "{IN-SOFTIRQ-W} state was registered at:");
    }

    @Test
    void lockTakenByATaskWithBhOn_thenInASoftirq_isInconsistentSoftirqOnToInSoftirq() {
        Spinlock lock = DEFINE_SPINLOCK("rx_lock");
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            spin_lock(lock);
            spin_unlock(lock);
        });
        spin_lock(lock);
        spin_unlock(lock);
        local_bh_disable();
        raise_softirq(NET_RX_SOFTIRQ);
        local_bh_enable();                        // runs NET_RX here: serving softirq in this task's context
        String text = onlyLockdepReport();
        assertContains(text, "inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage.\n" + me()
                + " [HC0[0]:SC1[1]:HE1:SE0] takes:\n");
    }

    @Test
    void lockTakenWithIrqsaveEverywhere_isConsistent() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        line(3, 0, (irq, dev) -> {
            long flags = spin_lock_irqsave(lock);
            spin_unlock_irqrestore(lock, flags);
            return IrqReturn.HANDLED;
        });
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            long flags = spin_lock_irqsave(lock);
            spin_unlock_irqrestore(lock, flags);
        });
        fire(3, 0);
        long flags = spin_lock_irqsave(lock);
        spin_unlock_irqrestore(lock, flags);
        raise_softirq(NET_RX_SOFTIRQ);
        stepper.runUntilIdle();
        spin_lock_irq(lock);
        spin_unlock_irq(lock);
        fire(3, 0);
        assertEquals(List.of(), reports.messages());
        assertTrue(Lockdep.of(Internals.machine(kernel)).debugLocks());
    }

    @Test
    void lockSharedWithASoftirq_takenWithSpinLockBhByTheTask_isConsistent() {
        Spinlock lock = DEFINE_SPINLOCK("rx_lock");
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            spin_lock(lock);                      // softirqs do not nest: plain spin_lock is right here
            spin_unlock(lock);
        });
        spin_lock_bh(lock);
        spin_unlock_bh(lock);
        raise_softirq(NET_RX_SOFTIRQ);
        stepper.runUntilIdle();
        spin_lock_bh(lock);
        spin_unlock_bh(lock);
        assertEquals(List.of(), reports.messages());
    }

    @Test
    void rwlockReadInHardirq_andReadWithIrqsOn_isConsistent_butAWriterWithIrqsOnIsNot() {
        Rwlock lock = DEFINE_RWLOCK("tbl_lock");
        line(3, 0, (irq, dev) -> {
            read_lock(lock);
            read_unlock(lock);
            return IrqReturn.HANDLED;
        });
        fire(3, 0);
        read_lock(lock);                          // readers are recursive: an interrupting reader gets in
        read_unlock(lock);
        assertEquals(List.of(), reports.messages());
        write_lock(lock);                         // a writer with IRQs on: an interrupting reader would spin forever
        write_unlock(lock);
        assertContains(onlyLockdepReport(), "inconsistent {IN-HARDIRQ-R} -> {HARDIRQ-ON-W} usage.");
    }

    @Test
    void hardirqSafeLockTakingAnIrqUnsafeOne_isSafeToUnsafeLockOrder() {
        Spinlock a = DEFINE_SPINLOCK("a");         // shared with the top half
        Spinlock b = DEFINE_SPINLOCK("b");         // task-only, taken with IRQs on
        line(3, 1, (irq, dev) -> {
            spin_lock(a);
            spin_unlock(a);
            return IrqReturn.HANDLED;
        });
        fire(3, 1);
        spin_lock(b);
        spin_unlock(b);
        long flags = spin_lock_irqsave(a);
        spin_lock(b);                             // a -> b: an interrupt-safe lock now waits for an unsafe one
        spin_unlock(b);
        spin_unlock_irqrestore(a, flags);
        String text = onlyLockdepReport();
        assertTrue(text.startsWith("=====================================================\n"
                + "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected\n"
                + "-----------------------------------------------------\n"
                + me() + " [HC0[0]:SC0[0]:HE0:SE1] is trying to acquire:\n"), text);
        assertContains(text, "\nand this task is already holding:\n",
                "which would create a new lock dependency:\n (a){-...}-{2:2} -> (b){+.+.}-{2:2}\n",
                "\nbut this new dependency connects a HARDIRQ-irq-safe lock:\n (a){-...}-{2:2}\n"
                        + "\n... which became HARDIRQ-irq-safe at:\n  dev.bottomhalf.locking.LockdepTest.lambda$",
                "\nto a HARDIRQ-irq-unsafe lock:\n (b){+.+.}-{2:2}\n\n... which became HARDIRQ-irq-unsafe at:\n...\n",
                " Possible interrupt unsafe locking scenario:\n\n"
                        + "       CPU0                    CPU1\n"
                        + "       ----                    ----\n"
                        + "  lock(b);\n"
                        + "                               local_irq_disable();\n"
                        + "                               lock(a);\n"
                        + "                               lock(b);\n"
                        + "  <Interrupt>\n"
                        + "    lock(a);\n"
                        + "\n *** DEADLOCK ***\n\n1 lock held by ",
                "\nthe dependencies between HARDIRQ-irq-safe lock and the holding lock:\n->",
                "\nthe dependencies between the lock to be acquired and HARDIRQ-irq-unsafe lock:\n->");
    }

    @Test
    void hardirqSafeLockTakingALockAlwaysTakenWithIrqsOff_isNoReport() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        line(3, 1, (irq, dev) -> {
            spin_lock(a);
            spin_lock(b);                         // a -> b in hardirq
            spin_unlock(b);
            spin_unlock(a);
            return IrqReturn.HANDLED;
        });
        fire(3, 1);
        long flags = spin_lock_irqsave(b);         // b is never taken with IRQs on: irq-safe too
        spin_unlock_irqrestore(b, flags);
        flags = spin_lock_irqsave(a);
        spin_lock(b);
        spin_unlock(b);
        spin_unlock_irqrestore(a, flags);
        fire(3, 1);
        assertEquals(List.of(), reports.messages());
    }

    @Test
    void lockBecomingHardirqSafe_afterTakingAnUnsafeOne_isIrqLockInversion() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        line(3, 1, (irq, dev) -> {
            spin_lock(a);
            spin_unlock(a);
            return IrqReturn.HANDLED;
        });
        long flags = spin_lock_irqsave(a);
        spin_lock(b);                             // a -> b, IRQs off: no usage problem yet
        spin_unlock(b);
        spin_unlock_irqrestore(a, flags);
        spin_lock(b);                             // b becomes HARDIRQ-unsafe
        spin_unlock(b);
        assertEquals(List.of(), reports.messages());
        fire(3, 1);                               // a becomes HARDIRQ-safe: it took an unsafe lock in the past
        String text = onlyLockdepReport();
        assertTrue(text.startsWith("========================================================\n"
                + "WARNING: possible irq lock inversion dependency detected\n"
                + "--------------------------------------------------------\n"
                + "cpu/1/" + Thread.currentThread().threadId() + " just changed the state of lock:\n"), text);
        assertContains(text, "but this lock took another, HARDIRQ-unsafe lock in the past:\n (b){+.+.}-{2:2}\n"
                        + "\n\nand interrupts could create inverse lock ordering between them.\n\n",
                "  lock(b);\n                               local_irq_disable();\n                               lock(a);\n"
                        + "                               lock(b);\n  <Interrupt>\n    lock(a);\n",
                "\nthe shortest dependencies between 2nd lock and 1st lock:\n");
    }

    @Test
    void lockBecomingHardirqUnsafe_afterAnIrqSafeOneTookIt_isIrqLockInversionBackwards() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        line(3, 1, (irq, dev) -> {
            spin_lock(a);
            spin_unlock(a);
            return IrqReturn.HANDLED;
        });
        fire(3, 1);                               // a is HARDIRQ-safe
        long flags = spin_lock_irqsave(a);
        spin_lock(b);                             // a -> b, b so far only taken with IRQs off
        spin_unlock(b);
        spin_unlock_irqrestore(a, flags);
        assertEquals(List.of(), reports.messages());
        spin_lock(b);                             // b becomes HARDIRQ-unsafe
        spin_unlock(b);
        assertContains(onlyLockdepReport(), "WARNING: possible irq lock inversion dependency detected",
                "but this lock was taken by another, HARDIRQ-safe lock in the past:\n (a){-...}-{2:2}\n");
    }

    // ------------------------------------------------------------------------------------------
    // Circular dependencies
    // ------------------------------------------------------------------------------------------

    @Test
    void abThenBa_isAPossibleCircularLockingDependency_withBothStacks() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        spin_lock(a);
        spin_lock(b);
        spin_unlock(b);
        spin_unlock(a);
        spin_lock(b);
        spin_lock(a);
        spin_unlock(a);
        spin_unlock(b);
        String text = onlyLockdepReport();
        assertTrue(text.startsWith("======================================================\n"
                + "WARNING: possible circular locking dependency detected\n"
                + "------------------------------------------------------\n"
                + me() + " is trying to acquire lock:\n"), text);
        assertContains(text, " (a){+.+.}-{2:2}, at: ", "\nbut task is already holding lock:\n",
                " (b){+.+.}-{2:2}, at: ", "\nwhich lock already depends on the new lock.\n\n",
                "\nthe existing dependency chain (in reverse order) is:\n\n-> #1 (b){+.+.}-{2:2}:\n       ",
                "\n-> #0 (a){+.+.}-{2:2}:\n       ",
                " Possible unsafe locking scenario:\n\n"
                        + "       CPU0                    CPU1\n"
                        + "       ----                    ----\n"
                        + "  lock(b);\n"
                        + "                               lock(a);\n"
                        + "                               lock(b);\n"
                        + "  lock(a);\n"
                        + "\n *** DEADLOCK ***\n\n"
                        + "1 lock held by " + me() + ":\n #0: ");
        assertFalse(text.contains("Chain exists of"), text);
        KernelEvent e = reports.matching("circular").get(0);
        assertEquals(1, e.cause().getSuppressed().length);
    }

    @Test
    void abcThenCa_reportsTheChain() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        Spinlock c = DEFINE_SPINLOCK("c");
        spin_lock(a);
        spin_lock(b);
        spin_unlock(b);
        spin_unlock(a);
        spin_lock(b);
        spin_lock(c);
        spin_unlock(c);
        spin_unlock(b);
        spin_lock(c);
        spin_lock(a);
        spin_unlock(a);
        spin_unlock(c);
        String text = onlyLockdepReport();
        assertContains(text, "-> #2 (c){+.+.}-{2:2}:", "-> #1 (b){+.+.}-{2:2}:", "-> #0 (a){+.+.}-{2:2}:",
                "Chain exists of:\n  a --> b --> c\n\n", "  lock(c);\n                               lock(b);\n"
                        + "                               lock(c);\n  lock(a);\n");
    }

    @Test
    void theSameOrderEverywhere_andATrylockInTheOtherOrder_areNoCycle() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        for (int i = 0; i < 3; i++) {
            spin_lock(a);
            spin_lock(b);
            spin_unlock(b);
            spin_unlock(a);
        }
        spin_lock(b);
        assertEquals(1, spin_trylock(a));         // a trylock cannot deadlock: no dependency b -> a
        spin_unlock(a);
        spin_unlock(b);
        assertEquals(List.of(), reports.messages());
    }

    @Test
    void dependenciesAreKeptPerIrqContext_aHandlerInterruptingAHolderAddsNone() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        line(3, 0, (irq, dev) -> {
            long flags = spin_lock_irqsave(a);
            spin_unlock_irqrestore(a, flags);
            return IrqReturn.HANDLED;
        });
        spin_lock(b);
        spin_lock(a);
        spin_unlock(a);
        spin_unlock(b);
        // a is IRQ-unsafe now (taken with IRQs on) and is taken in hardirq: inconsistent, not circular
        fire(3, 0);
        assertContains(onlyLockdepReport(), "inconsistent {HARDIRQ-ON-W} -> {IN-HARDIRQ-W} usage.");
    }

    // ------------------------------------------------------------------------------------------
    // Recursion, unlock balance
    // ------------------------------------------------------------------------------------------

    @Test
    void twoLocksOfOneInitSite_nested_isPossibleRecursiveLocking() {
        List<Spinlock> devs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            devs.add(new Spinlock("&dev->lock"));  // one init site: one class, as spin_lock_init in a probe
        }
        spin_lock(devs.get(0));
        spin_lock(devs.get(1));
        spin_unlock(devs.get(1));
        spin_unlock(devs.get(0));
        String text = onlyLockdepReport();
        assertTrue(text.startsWith("============================================\n"
                + "WARNING: possible recursive locking detected\n"
                + "--------------------------------------------\n"
                + me() + " is trying to acquire lock:\n"), text);
        assertContains(text, "\nbut task is already holding lock:\n",
                " Possible unsafe locking scenario:\n\n       CPU0\n       ----\n  lock(&dev->lock);\n  lock(&dev->lock);\n"
                        + "\n *** DEADLOCK ***\n\n May be due to missing lock nesting notation\n\n"
                        + "1 lock held by " + me() + ":\n");
    }

    @Test
    void twoDefinedLocksWithOneName_areTwoClasses_andNestWithoutReport() {
        Spinlock x1 = DEFINE_SPINLOCK("x");
        Spinlock x2 = DEFINE_SPINLOCK("x");
        spin_lock(x1);
        spin_lock(x2);
        spin_unlock(x2);
        spin_unlock(x1);
        spin_lock(x2);                            // the other order: a cycle between x and x#2
        spin_lock(x1);
        spin_unlock(x1);
        spin_unlock(x2);
        assertContains(onlyLockdepReport(), "-> #1 (x#2){+.+.}-{2:2}:", "-> #0 (x){+.+.}-{2:2}:");
    }

    @Test
    void writeLockInsideItsOwnReadLock_isRecursiveLocking_andReadInsideReadIsNot() {
        Rwlock lock = DEFINE_RWLOCK("tbl_lock");
        read_lock(lock);
        read_lock(lock);
        read_unlock(lock);
        assertEquals(List.of(), reports.messages());
        assertThrows(IllegalStateException.class, () -> write_lock(lock));
        read_unlock(lock);
        assertContains(onlyLockdepReport(), "WARNING: possible recursive locking detected");
        reports.expect("BUG: write-lock lockup on CPU#0");
    }

    @Test
    void unlockingALockNotHeld_isBadUnlockBalance_beforeTheSpinlockDebugCheck() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        preempt_disable();
        spin_unlock(lock);
        String text = onlyLockdepReport();
        assertTrue(text.startsWith("=====================================\n"
                + "WARNING: bad unlock balance detected!\n"
                + "-------------------------------------\n"
                + me() + " is trying to release lock (dev_lock) at:\n"), text);
        assertContains(text, "but there are no more locks to release!\n\nother info that might help us debug this:\n"
                + "no locks held by " + me() + ".\n");
        assertEquals(List.of(), reports.matching("already unlocked"), "lockdep's report turned debug_locks off");
        assertEquals(2, kernel.reports().count(KernelEvent.Kind.WARNING) + kernel.reports().count(KernelEvent.Kind.BUG));
    }

    @Test
    void lockdepAssertHeld_usesLockdepsHeldLocks() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        spin_lock(lock);
        lockdep_assert_held(lock);
        spin_unlock(lock);
        assertEquals(List.of(), reports.messages());
        lockdep_assert_held(lock);
        reports.expect("WARNING: lockdep_assert_held(dev_lock): not held by");
    }

    @Test
    void lockdepAssertHeld_ofAnRwlock_acceptsAReaderAndTheWriter() {
        Rwlock lock = DEFINE_RWLOCK("tbl_lock");
        read_lock(lock);
        lockdep_assert_held(lock);
        read_unlock(lock);
        write_lock(lock);
        lockdep_assert_held(lock);
        write_unlock(lock);
        assertEquals(List.of(), reports.messages());
        lockdep_assert_held(lock);
        reports.expect("WARNING: lockdep_assert_held(tbl_lock): not held by");
    }

    // ------------------------------------------------------------------------------------------
    // The workqueue's flush dependencies
    // ------------------------------------------------------------------------------------------

    @Test
    void flushWorkWhileHoldingALockTheItemTakes_isACircularDependency() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        boolean[] takeLock = {true};
        Work w = new Work("reset_work", work -> {
            if (takeLock[0]) {
                spin_lock(lock);
                spin_unlock(lock);
            }
            seen.add("ran");
        });
        Workqueue wq = kernel.workqueues().alloc("dev_wq", 0, 0);
        kernel.workqueues().queue(wq, w);
        stepper.runUntilIdle();                   // the item took dev_lock: (work_completion) -> dev_lock
        takeLock[0] = false;                      // (so that this run's flush does not deadlock for real)
        kernel.workqueues().queue(wq, w);
        spin_lock(lock);
        flush_work(w);                            // waits for an item that takes dev_lock, holding dev_lock
        spin_unlock(lock);
        assertEquals(List.of("ran", "ran"), seen);
        String text = onlyLockdepReport();
        assertContains(text, "WARNING: possible circular locking dependency detected",
                "is trying to acquire lock:\n", " ((work_completion)(reset_work)){+.+.}-{0:0}, at: ",
                "but task is already holding lock:\n", " (dev_lock){+.+.}-{2:2}",
                "-> #1 (dev_lock){+.+.}-{2:2}:", "-> #0 ((work_completion)(reset_work)){+.+.}-{0:0}:",
                "  lock(dev_lock);\n                               lock((work_completion)(reset_work));\n"
                        + "                               lock(dev_lock);\n  lock((work_completion)(reset_work));\n");
        reports.expect("BUG: sleeping function called from invalid context at flush_work");
    }

    @Test
    void flushWorkqueueWhileHoldingALockAnItemTakes_isACircularDependency_throughTheWorkqueuesMap() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        Workqueue wq = kernel.workqueues().alloc("dev_wq", 0, 0);
        kernel.workqueues().queue(wq, new Work("stats", work -> {
            spin_lock(lock);
            spin_unlock(lock);
        }));
        stepper.runUntilIdle();
        spin_lock(lock);
        flush_workqueue(wq);
        spin_unlock(lock);
        String text = onlyLockdepReport();
        assertContains(text, "WARNING: possible circular locking dependency detected", " ((wq_completion)dev_wq){+.+.}-{0:0}",
                "Chain exists of:\n  (wq_completion)dev_wq --> (work_completion)(stats) --> dev_lock\n");
        reports.expect("BUG: sleeping function called from invalid context at flush_workqueue");
    }

    @Test
    void flushWorkHoldingNoLock_andAnItemTakingALock_areNoDependencyProblem() {
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        Work w = new Work("reset_work", work -> {
            spin_lock(lock);
            spin_unlock(lock);
        });
        Workqueue wq = kernel.workqueues().alloc("dev_wq", 0, 0);
        for (int i = 0; i < 3; i++) {
            kernel.workqueues().queue(wq, w);
            flush_work(w);
            flush_workqueue(wq);
        }
        assertEquals(List.of(), reports.messages());
    }

    // ------------------------------------------------------------------------------------------
    // The rules around the reports
    // ------------------------------------------------------------------------------------------

    @Test
    void proveLocking_isOffByDefault_andThenNothingIsValidated() {
        assertFalse(KernelConfig.builder().build().proveLocking());
        Kernel plain = kernels.boot(b -> b.proveLocking(false));
        assertNull(Lockdep.of(Internals.machine(plain)));
        plain.bindCurrentThread(0);
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        spin_lock(a);
        spin_lock(b);
        spin_unlock(b);
        spin_unlock(a);
        spin_lock(b);
        spin_lock(a);
        spin_unlock(a);
        spin_unlock(b);
        assertEquals(List.of(), kernels.reports(plain).messages());
        kernel.bindCurrentThread(0);
    }

    @Test
    void theFirstReportTurnsLockdepOff_laterProblemsAreCountedOnlyByTheirOwnChecks() {
        Spinlock a = DEFINE_SPINLOCK("a");
        Spinlock b = DEFINE_SPINLOCK("b");
        spin_lock(a);
        spin_lock(b);
        spin_unlock(b);
        spin_unlock(a);
        spin_lock(b);
        spin_lock(a);
        spin_unlock(a);
        spin_unlock(b);
        assertFalse(Lockdep.of(Internals.machine(kernel)).debugLocks());
        Spinlock c = DEFINE_SPINLOCK("c");
        line(3, 0, (irq, dev) -> {
            spin_lock(c);
            spin_unlock(c);
            return IrqReturn.HANDLED;
        });
        fire(3, 0);
        spin_lock(c);                             // inconsistent, but lockdep is off now
        spin_unlock(c);
        assertEquals(1, reports.matching("").size());
        assertContains(onlyLockdepReport(), "circular");
    }

    @Test
    void locksMadeAtOneSite_shareAClass_andSpinLockInitMovesALockToItsOwnSite() {
        Lockdep ld = Lockdep.of(Internals.machine(kernel));
        List<Spinlock> made = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            made.add(new Spinlock("&dev->lock"));
        }
        for (Spinlock l : made) {
            spin_lock(l);
            spin_unlock(l);
        }
        assertEquals(1, ld.classCount());
        spin_lock_init(made.get(2));
        spin_lock(made.get(2));
        spin_unlock(made.get(2));
        assertEquals(2, ld.classCount());
        spin_lock(made.get(0));
        spin_lock(made.get(2));                   // two classes: nesting is no recursion
        spin_unlock(made.get(2));
        spin_unlock(made.get(0));
        assertEquals(List.of(), reports.messages());
    }
}
