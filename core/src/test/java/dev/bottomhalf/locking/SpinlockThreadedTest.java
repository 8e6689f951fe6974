package dev.bottomhalf.locking;

import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Spinlocks in threaded mode: real mutual exclusion between task threads and the runtime threads' handlers,
 * interrupts and softirqs of the holder's CPU held off until the unlock, sleeping under a lock reported, and a
 * lock held too long reported by its waiter ({@code lockup suspected}). Latches with generous timeouts; the
 * only waits on the host clock are "nothing happened while the lock was held" windows, which cannot fail a
 * correct implementation by being slow.
 */
class SpinlockThreadedTest {
    private static final long TIMEOUT_S = 20;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static void waitFor(AtomicBoolean flag) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!flag.get()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out");
            }
            Thread.onSpinWait();
        }
    }

    @Test
    void tasksOnTwoCpusAndAHardirqHandler_neverOverlapInsideSpinLockIrqsave() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = new Spinlock("&dev->lock");
        int[] counter = {0};                      // guarded by lock, deliberately not atomic
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger handlerRuns = new AtomicInteger();
        Runnable critical = () -> {
            if (inside.incrementAndGet() != 1) {
                overlaps.incrementAndGet();
            }
            counter[0]++;
            inside.decrementAndGet();
        };
        k.irqs().request(7, (irq, dev) -> {
            long flags = spin_lock_irqsave(lock);
            critical.run();
            handlerRuns.incrementAndGet();
            spin_unlock_irqrestore(lock, flags);
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "dev");
        k.irqs().setAffinity(7, 1);
        int perTask = 20_000;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> tasks = new ArrayList<>();
        for (int cpu = 0; cpu < 2; cpu++) {
            int c = cpu;
            tasks.add(Thread.ofPlatform().name("task" + cpu).start(() -> {
                k.bindCurrentThread(c);
                try {
                    start.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                for (int i = 0; i < perTask; i++) {
                    long flags = spin_lock_irqsave(lock);
                    critical.run();
                    spin_unlock_irqrestore(lock, flags);
                    if ((i & 63) == 0) {
                        k.irqs().assertIrq(7);     // interrupts for CPU 1 while its task takes the lock too
                    }
                }
                k.detachCurrentThread();
            }));
        }
        start.countDown();
        for (Thread t : tasks) {
            t.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
            assertFalse(t.isAlive());
        }
        k.irqs().assertIrq(7);                   // at least one handler run, however the host scheduled the tasks
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (handlerRuns.get() == 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        k.bindCurrentThread(0);
        long flags = spin_lock_irqsave(lock);
        int total = counter[0];
        int runs = handlerRuns.get();
        spin_unlock_irqrestore(lock, flags);
        assertEquals(0, overlaps.get());
        assertTrue(runs > 0, "the handler ran: " + runs);
        assertEquals(2 * perTask + runs, total, "every increment counted");
    }

    @Test
    void spinLockIrq_holdsOffItsCpusInterrupt_untilUnlock() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = DEFINE_SPINLOCK("lock");
        AtomicReference<String> ran = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        k.irqs().request(3, (irq, dev) -> {
            ran.set(Thread.currentThread().getName());
            done.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "dev");
        k.irqs().setAffinity(3, 0);
        k.bindCurrentThread(0);
        spin_lock_irq(lock);
        k.irqs().assertIrq(3);
        assertFalse(done.await(100, TimeUnit.MILLISECONDS), "delivered while CPU 0's IRQs were off");
        spin_unlock_irq(lock);
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals("cpu/0", ran.get());
    }

    @Test
    void spinLockBh_holdsOffItsCpusSoftirqs_andUnlockBhRunsThemOnTheCallingThread() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = DEFINE_SPINLOCK("lock");
        AtomicReference<String> ran = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        AtomicBoolean raised = new AtomicBoolean();
        k.softirqs().open(SoftirqVector.NET_RX, () -> {
            ran.set(Thread.currentThread().getName() + " serving=" + in_serving_softirq());
            done.countDown();
        });
        k.irqs().request(3, (irq, dev) -> {
            raise_softirq(NET_RX_SOFTIRQ);
            raised.set(true);
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", "dev");
        k.irqs().setAffinity(3, 0);
        k.bindCurrentThread(0);
        spin_lock_bh(lock);
        assertEquals(0x201, preempt_count());
        k.irqs().assertIrq(3);
        waitFor(raised);
        assertFalse(done.await(100, TimeUnit.MILLISECONDS), "NET_RX ran while CPU 0's bottom halves were off");
        spin_unlock_bh(lock);
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(Thread.currentThread().getName() + " serving=true", ran.get(),
                "the unlock found NET_RX pending and ran it itself");
        assertEquals(0, preempt_count());
    }

    @Test
    void sleepingUnderASpinlockInAWorkItem_isReported() throws Exception {
        Kernel k = kernels.kernel();
        Spinlock lock = DEFINE_SPINLOCK("lock");
        CountDownLatch done = new CountDownLatch(1);
        k.workqueues().schedule(new dev.bottomhalf.workqueue.Work("sleeper", w -> {
            spin_lock(lock);
            might_sleep();
            spin_unlock(lock);
            done.countDown();
        }));
        assertTrue(done.await(TIMEOUT_S, TimeUnit.SECONDS));
        kernels.reports().expect("BUG: sleeping function called from invalid context at might_sleep\n"
                + "in_atomic(): 1, irqs_disabled(): 0");
    }

    @Test
    void lockHeldTooLong_isLockupSuspectedByItsWaiter_whichThenGetsIt() throws Exception {
        Kernel k = kernels.kernel();
        KernelReports reports = kernels.reports();
        Spinlock lock = DEFINE_SPINLOCK("slow_lock");
        k.bindCurrentThread(0);
        spin_lock(lock);
        AtomicBoolean got = new AtomicBoolean();
        Thread waiter = Thread.ofPlatform().name("waiter").start(() -> {
            k.bindCurrentThread(1);
            spin_lock(lock);
            got.set(true);
            spin_unlock(lock);
            k.detachCurrentThread();
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (reports.matching("BUG: spinlock lockup suspected on CPU#1, waiter/").isEmpty()) {
            assertTrue(System.nanoTime() < deadline, "no lockup report");
            assertFalse(got.get(), "the waiter got a held lock");
            Thread.onSpinWait();
        }
        spin_unlock(lock);
        waiter.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertTrue(got.get());
        String text = reports.matching("lockup suspected").get(0).message();
        assertTrue(text.contains(" lock: slow_lock+0x0/0x4 [") && text.contains(".owner: " + Thread.currentThread().getName()
                + "/" + Thread.currentThread().threadId() + ", .owner_cpu: 0"), text);
    }
}
