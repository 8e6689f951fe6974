package dev.bottomhalf.sched;

import static dev.bottomhalf.linux.Linux.DECLARE_COMPLETION;
import static dev.bottomhalf.linux.Linux.DECLARE_TASKLET;
import static dev.bottomhalf.linux.Linux.DECLARE_WAIT_QUEUE_HEAD;
import static dev.bottomhalf.linux.Linux.ERESTARTSYS;
import static dev.bottomhalf.linux.Linux.IRQ_HANDLED;
import static dev.bottomhalf.linux.Linux.TASK_INTERRUPTIBLE;
import static dev.bottomhalf.linux.Linux.TASK_RUNNING;
import static dev.bottomhalf.linux.Linux.__set_current_state;
import static dev.bottomhalf.linux.Linux.complete;
import static dev.bottomhalf.linux.Linux.current;
import static dev.bottomhalf.linux.Linux.jiffies;
import static dev.bottomhalf.linux.Linux.kthread_run;
import static dev.bottomhalf.linux.Linux.kthread_should_stop;
import static dev.bottomhalf.linux.Linux.kthread_stop;
import static dev.bottomhalf.linux.Linux.request_irq;
import static dev.bottomhalf.linux.Linux.schedule;
import static dev.bottomhalf.linux.Linux.set_current_state;
import static dev.bottomhalf.linux.Linux.signal_pending;
import static dev.bottomhalf.linux.Linux.tasklet_schedule;
import static dev.bottomhalf.linux.Linux.wait_event_interruptible;
import static dev.bottomhalf.linux.Linux.wait_for_completion_timeout;
import static dev.bottomhalf.linux.Linux.wake_up_interruptible;
import static dev.bottomhalf.linux.Linux.wake_up_process;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The facade's scheduler names, with the worked timeline of {@code docs/subsystems/sched.md}: a {@code read()}
 * sleeping on a wait queue, woken by the tasklet an interrupt scheduled.
 */
class SchedFacadeTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);

    /** A character device: the IRQ handler schedules a tasklet that fills the buffer and wakes readers. */
    private final class CharDev {
        final WaitQueueHead readq = DECLARE_WAIT_QUEUE_HEAD("readq");
        final AtomicInteger avail = new AtomicInteger(); // read under the wait queue's protocol: atomic
        final List<String> timeline = new ArrayList<>();
        final Tasklet rxTasklet = DECLARE_TASKLET("rx", t -> {
            timeline.add(stamp("tasklet fills the buffer, wake_up_interruptible(readq), current=" + current().comm()));
            avail.addAndGet(64);
            wake_up_interruptible(readq);
        });
        long origin;

        /** The device: a timer standing in for the hardware asserts the line when it fires. */
        dev.bottomhalf.time.TimerList rxTaskletTimer(Kernel kernel) {
            return dev.bottomhalf.time.TimerList.setup("device", t -> kernel.irqs().assertIrq(30), 0);
        }

        String stamp(String what) {
            return (jiffies() - origin) + " " + what;
        }

        int irq(int irq, Object dev) {
            timeline.add(stamp("hardirq " + irq + ": tasklet_schedule(rx)"));
            tasklet_schedule(rxTasklet);
            return IRQ_HANDLED;
        }

        /** {@code read()}: sleeps until data is there; -ERESTARTSYS on a signal. */
        int read() {
            timeline.add(stamp("read(): wait_event_interruptible(readq, avail > 0)"));
            if (wait_event_interruptible(readq, () -> avail.get() > 0) != 0) {
                return -ERESTARTSYS;
            }
            int n = avail.getAndSet(0);
            timeline.add(stamp("read() returns " + n + " bytes"));
            return n;
        }
    }

    @Test
    void readSleepingOnAWaitQueue_isWokenByTheTaskletAnInterruptScheduled() {
        Kernel kernel = kernels.kernel();
        CharDev dev = new CharDev();
        dev.origin = jiffies();
        assertEquals(0, request_irq(30, dev::irq, 0, "chardev", dev));
        kernel.irqs().setAffinity(30, 1);
        // The device raises its interrupt 4 jiffies from now (a timer stands in for the hardware).
        kernel.timers().mod(dev.rxTaskletTimer(kernel), dev.origin + 3);
        assertEquals(64, dev.read());
        assertEquals(List.of(
                "0 read(): wait_event_interruptible(readq, avail > 0)",
                "4 hardirq 30: tasklet_schedule(rx)",
                "4 tasklet fills the buffer, wake_up_interruptible(readq), current=swapper/1",
                "4 read() returns 64 bytes"), dev.timeline);
    }

    @Test
    void theClassicSleepPattern_withAWakeUpBeforeSchedule_doesNotSleep() {
        kernels.kernel();
        Task me = current();
        long t0 = jiffies();
        set_current_state(TASK_INTERRUPTIBLE);
        assertEquals(1, wake_up_process(me)); // a waker on another CPU, between the test and schedule()
        schedule();
        __set_current_state(TASK_RUNNING);
        assertEquals(t0, jiffies());
        assertFalse(signal_pending(me));
    }

    @Test
    void kthreadWithACompletion_throughTheFacade() {
        Kernel kernel = kernels.kernel();
        Completion ready = DECLARE_COMPLETION("ready");
        Task t = kthread_run(data -> {
            complete(data);
            while (!kthread_should_stop()) {
                Linux.schedule_timeout_interruptible(100);
            }
            return 17;
        }, ready, "facade/%d", 1);
        assertTrue(wait_for_completion_timeout(ready, 10) > 0);
        long before = kernel.jiffies();
        assertEquals(17, kthread_stop(t));
        assertEquals(before, kernel.jiffies(), "kthread_stop woke it out of its sleep at once");
    }

    /** {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} of this thread (through reflection). */
    private static long allocatedBytes() throws ReflectiveOperationException {
        Method m = Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(ManagementFactory.getThreadMXBean(), Thread.currentThread().threadId());
    }

    @Test
    void wakeUp_withNobodyWaiting_allocatesNothing() throws ReflectiveOperationException {
        Kernel kernel = kernels.kernel();
        Sched sched = kernel.sched();
        WaitQueueHead wq = new WaitQueueHead("idle");
        int woken = 0;
        for (int round = 0; round < 5; round++) { // the last round is measured, after the JIT's warm-up
            long before = allocatedBytes();
            for (int i = 0; i < 200_000; i++) {
                woken += sched.wakeUp(wq);
                Linux.wake_up(wq);
                Linux.wake_up_interruptible(wq);
            }
            long allocated = allocatedBytes() - before;
            if (round == 4) {
                assertTrue(allocated < 1024, "600,000 wake-ups with nobody queued allocated " + allocated + " bytes");
            }
        }
        assertEquals(0, woken);
    }

    @Test
    void schedEntryPoints_onAClosedKernel_failWithKernelIsClosed() {
        Kernel kernel = kernels.kernel();
        Sched sched = kernel.sched();
        Kthreads kthreads = kernel.kthreads();
        Task me = sched.current();
        WaitQueueHead wq = new WaitQueueHead("wq");
        sched.addWaitQueue(wq, sched.initWaitqueueFuncEntry((e, m, f, k) -> 1)); // so wake_up is not the fast path
        Completion c = new Completion("c");
        KthreadWorker w = kthreads.createWorker(0, "kw");
        kthreads.destroyWorker(w);
        kernel.close();
        List<Runnable> calls = List.of(
                () -> sched.schedule(),
                () -> sched.scheduleTimeout(1),
                () -> sched.wakeUpProcess(me),
                () -> sched.sendSig(Sched.SIGINT, me),
                () -> sched.waitEvent(wq, () -> true),
                () -> sched.waitEventTimeout(wq, () -> false, 1),
                () -> sched.wakeUp(wq),
                () -> sched.complete(c),
                () -> sched.completeAll(c),
                () -> sched.waitForCompletion(c),
                () -> sched.waitForCompletionTimeout(c, 1),
                () -> sched.prepareToWait(wq, sched.initWaitqueueEntry(me), TASK_INTERRUPTIBLE),
                () -> sched.condResched(),
                () -> kthreads.create(x -> 0, null, "late"),
                () -> kthreads.queueWork(w, new KthreadWork("late", x -> { })),
                () -> kthreads.flushWorker(w));
        for (Runnable call : calls) {
            IllegalStateException e = assertThrows(IllegalStateException.class, call::run);
            assertTrue(e.getMessage().startsWith("kernel is closed"), e.getMessage());
        }
    }
}
