package dev.bottomhalf.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;

/**
 * Wait queues in threaded mode: the test thread (a task on CPU 0) sleeps for real and is woken from each
 * context by the runtime threads; a helper thread triggers the wake-up only once the sleeper is queued, so
 * every test checks a wake-up that found a sleeper. Bounds are generous and never used to measure timing.
 */
class WaitQueueThreadedTest {
    private static final long LONG_JIFFIES = 20_000; // 20 s at HZ=1000: a bound, never reached when correct

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Sched sched;
    private final WaitQueueHead wq = new WaitQueueHead("wq");
    private final AtomicBoolean cond = new AtomicBoolean();
    private final List<String> wakers = new CopyOnWriteArrayList<>();
    private final List<Thread> helpers = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        sched = kernel.sched();
    }

    @AfterEach
    void joinHelpers() throws InterruptedException {
        for (Thread t : helpers) {
            t.join(10_000);
        }
        Thread.interrupted();
    }

    /** Runs {@code trigger} on a helper thread (a task on CPU 1) once {@code ready} holds. */
    private void when(BooleanSupplier ready, Runnable trigger) {
        Thread t = new Thread(() -> {
            kernel.bindCurrentThread(1);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!ready.getAsBoolean() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            trigger.run();
            kernel.detachCurrentThread();
        }, "helper");
        helpers.add(t);
        t.start();
    }

    private void wakeFrom(String where) {
        wakers.add(where + " current=" + sched.current().comm());
        cond.set(true);
        sched.wakeUp(wq);
    }

    @Test
    void wakeUpFromHardirq_onCpu1_wakesTheSleeper() {
        kernel.irqs().request(24, (irq, dev) -> {
            wakeFrom("hardirq");
            return IrqReturn.HANDLED;
        }, Set.of(), "dev", this);
        kernel.irqs().setAffinity(24, 1);
        when(wq::active, () -> kernel.irqs().assertIrq(24));
        long ret = sched.waitEventTimeout(wq, cond::get, LONG_JIFFIES);
        assertTrue(ret > 0 && ret <= LONG_JIFFIES, "woken before the timeout: " + ret);
        assertEquals(List.of("hardirq current=swapper/1"), wakers);
    }

    @Test
    void wakeUpFromSoftirq_wakesTheSleeper() {
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> wakeFrom("softirq"));
        kernel.irqs().request(25, (irq, dev) -> {
            kernel.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "nic", this);
        kernel.irqs().setAffinity(25, 1);
        when(wq::active, () -> kernel.irqs().assertIrq(25));
        sched.waitEvent(wq, cond::get);
        assertEquals(1, wakers.size());
        assertTrue(wakers.get(0).equals("softirq current=swapper/1") || wakers.get(0).equals("softirq current=ksoftirqd/1"),
                wakers.toString());
    }

    @Test
    void wakeUpFromTasklet_wakesTheSleeper() {
        Tasklet t = Tasklet.setup("tl", x -> wakeFrom("tasklet"));
        when(wq::active, () -> kernel.tasklets().schedule(t));
        assertEquals(0, sched.waitEventInterruptible(wq, cond::get));
        assertEquals(1, wakers.size());
    }

    @Test
    void wakeUpFromTimer_wakesTheSleeper() {
        TimerList timer = TimerList.setup("waker", x -> wakeFrom("timer"), 0);
        when(wq::active, () -> kernel.timers().mod(timer, kernel.jiffies() + 2));
        long ret = sched.waitEventInterruptibleTimeout(wq, cond::get, LONG_JIFFIES);
        assertTrue(ret > 0, "woken by the timer, not the timeout: " + ret);
        assertEquals(List.of("timer current=swapper/1"), wakers);
    }

    @Test
    void wakeUpFromWork_wakesTheSleeper() {
        var events = kernel.workqueues().alloc("events_test", 0, 0);
        when(wq::active, () -> kernel.workqueues().queueOn(1, events, new Work("w", w -> wakeFrom("work"))));
        sched.waitEvent(wq, cond::get);
        assertEquals(1, wakers.size());
        assertTrue(wakers.get(0).startsWith("work current=kworker/1:"), wakers.toString());
    }

    @Test
    void sendSig_fromAnotherThread_endsAnInterruptibleWaitWithRestartsys() {
        Task me = sched.current();
        when(wq::active, () -> sched.sendSig(Sched.SIGINT, me));
        assertEquals(-Sched.ERESTARTSYS, sched.waitEventInterruptible(wq, cond::get));
        assertTrue(Thread.interrupted(), "the pending signal is the thread interrupt");
    }

    @Test
    void wakeUpProcess_fromAnotherThread_endsScheduleTimeoutEarly() {
        Task me = sched.current();
        when(() -> me.state() == Task.TASK_UNINTERRUPTIBLE, () -> sched.wakeUpProcess(me));
        sched.setCurrentState(Task.TASK_UNINTERRUPTIBLE);
        long left = sched.scheduleTimeout(LONG_JIFFIES);
        assertTrue(left > 0, "woken early: " + left);
        assertEquals(Task.TASK_RUNNING, me.state());
    }

    @Test
    void exclusiveWaiters_wakeUpWakesOne_wakeUpAllTheRest() throws InterruptedException {
        AtomicInteger tokens = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        List<Thread> waiters = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Thread t = new Thread(() -> {
                kernel.bindCurrentThread(0);
                assertEquals(0, sched.waitEventInterruptibleExclusive(wq, () -> tokens.get() > 0));
                tokens.decrementAndGet();
                done.incrementAndGet();
                kernel.detachCurrentThread();
            }, "waiter-" + i);
            waiters.add(t);
            t.start();
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (wq.size() < 3 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(3, wq.size());
        tokens.set(1);
        assertEquals(1, sched.wakeUp(wq), "one exclusive waiter woken");
        while (done.get() < 1 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        Thread.sleep(50); // a second waiter, wrongly woken, would finish meanwhile (it cannot make the test pass)
        assertEquals(1, done.get());
        assertEquals(2, wq.size(), "the others still sleep, queued");
        tokens.set(100);
        assertEquals(2, sched.wakeUpAll(wq));
        for (Thread t : waiters) {
            t.join(10_000);
        }
        assertEquals(3, done.get());
        assertFalse(wq.active());
    }
}
