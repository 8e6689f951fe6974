package dev.bottomhalf.locking;

import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.workqueue.Work;

/**
 * Lockdep in threaded mode: the same reports when the contexts are real threads — a hard-IRQ handler on
 * {@code cpu/1} and a task that forgot {@code _irqsave}; a kworker's item and a task flushing it under a lock the
 * item takes — and none for a lock used consistently by a handler, a softirq and two tasks.
 */
class LockdepThreadedTest {
    private static final long TIMEOUT_S = 20;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    @Test
    void hardirqOnCpu1_thenATaskWithIrqsOn_isInconsistentLockState() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        CountDownLatch handled = new CountDownLatch(1);
        k.irqs().request(9, (irq, dev) -> {
            spin_lock(lock);
            spin_unlock(lock);
            handled.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "dev");
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        assertTrue(handled.await(TIMEOUT_S, TimeUnit.SECONDS));
        k.bindCurrentThread(0);
        spin_lock(lock);
        spin_unlock(lock);
        List<KernelEvent> found = kernels.reports().matching("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.");
        assertEquals(1, found.size());
        String text = found.get(0).message();
        assertTrue(text.contains("{IN-HARDIRQ-W} state was registered at:\n  dev.bottomhalf.locking.LockdepThreadedTest.lambda$"),
                text);
        assertEquals(1, found.get(0).cause().getSuppressed().length, "the handler's stack (cpu/1's) rides with the task's");
    }

    @Test
    void flushWorkUnderALockTheItemTakes_onAKworker_isCircular() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = DEFINE_SPINLOCK("dev_lock");
        boolean[] takeLock = {true};
        CountDownLatch gate = new CountDownLatch(1);
        Work w = new Work("reset_work", work -> {
            if (takeLock[0]) {
                spin_lock(lock);
                spin_unlock(lock);
            } else {
                try {
                    gate.await();                  // still running when flush_work looks: it waits for it
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        k.workqueues().schedule(w);
        k.workqueues().flush(w);                  // first run done: (work_completion)(reset_work) -> dev_lock
        takeLock[0] = false;
        k.bindCurrentThread(0);
        k.workqueues().schedule(w);
        Thread opener = Thread.ofPlatform().start(() -> {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (k.reports().count(KernelEvent.Kind.WARNING) == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            gate.countDown();                      // the flush has reported: let the item finish
        });
        spin_lock(lock);
        flush_work(w);
        spin_unlock(lock);
        other(opener);
        kernels.reports().expect("BUG: sleeping function called from invalid context at flush_work");
        String text = kernels.reports().matching("WARNING: possible circular locking dependency detected").get(0).message();
        assertTrue(text.contains("-> #1 (dev_lock){+.+.}-{2:2}:") && text.contains("((work_completion)(reset_work))"), text);
    }

    private static void other(Thread t) throws InterruptedException {
        t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
    }

    @Test
    void aLockUsedWithIrqsaveByAHandlerAndTwoTasks_isNeverReported() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = new Spinlock("&ring->lock");
        CountDownLatch handled = new CountDownLatch(1);    // a line asserted while latched is delivered once
        k.irqs().request(9, (irq, dev) -> {
            long flags = spin_lock_irqsave(lock);
            spin_unlock_irqrestore(lock, flags);
            handled.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "dev");
        k.irqs().setAffinity(9, 1);
        Thread other = Thread.ofPlatform().start(() -> {
            k.bindCurrentThread(1);
            for (int i = 0; i < 1000; i++) {
                long flags = spin_lock_irqsave(lock);
                spin_unlock_irqrestore(lock, flags);
            }
            k.detachCurrentThread();
        });
        k.bindCurrentThread(0);
        for (int i = 0; i < 20; i++) {
            k.irqs().assertIrq(9);
            spin_lock_irq(lock);
            spin_unlock_irq(lock);
        }
        other.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertTrue(handled.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(List.of(), kernels.reports().messages());
    }
}
