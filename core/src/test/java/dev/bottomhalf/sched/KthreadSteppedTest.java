package dev.bottomhalf.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.TimerList;

/**
 * kthreads in stepped mode: they run on threads of the stepped scheduler one slice at a time, so what they do
 * and when (on the manual clock) is the same on every run.
 */
class KthreadSteppedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Stepper stepper;
    private Sched sched;
    private Kthreads kthreads;
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private long origin;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        sched = kernel.sched();
        kthreads = kernel.kthreads();
        reports = kernels.reports();
        origin = kernel.jiffies();
    }

    private long now() {
        return kernel.jiffies() - origin;
    }

    @Test
    void kthreadCreate_doesNotRunUntilWakeUpProcess() {
        Task t = kthreads.create(x -> {
            log.add("ran as " + sched.current().comm() + " on CPU " + kernel.context().cpuId());
            return 3;
        }, null, "mydrv/%d", 7);
        assertEquals("mydrv/7", t.comm());
        assertTrue(t.pid() > 0);
        assertTrue(t.isKthread());
        assertEquals(Task.TASK_UNINTERRUPTIBLE, t.state());
        stepper.runFor(5, TimeUnit.MILLISECONDS);
        assertEquals(List.of(), log, "created stopped");
        assertTrue(sched.wakeUpProcess(t));
        stepper.runUntilIdle();
        assertEquals(List.of("ran as mydrv/7 on CPU 0"), log);
        assertEquals(Kthread.TASK_DEAD, t.state(), "it returned: exited");
        assertFalse(sched.wakeUpProcess(t));
    }

    @Test
    void comm_isCutTo15Characters() {
        Task t = kthreads.create(x -> 0, null, "a-very-long-kthread-name");
        assertEquals("a-very-long-kth", t.comm());
        assertEquals(-Sched.EINTR, kthreads.stop(t));
    }

    @Test
    void kthreadStop_ofALoopingKthread_returnsItsResult_andItSawTheStopAtAKnownJiffy() {
        AtomicInteger rounds = new AtomicInteger();
        Task t = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                rounds.incrementAndGet();
                kernel.timers().scheduleTimeoutInterruptible(10);
            }
            log.add("stopped@" + now());
            return 42;
        }, null, "poller");
        stepper.runFor(25, TimeUnit.MILLISECONDS); // sleeps 0..11, 11..22, 22..33
        assertEquals(3, rounds.get());
        assertEquals(42, kthreads.stop(t));
        assertEquals(List.of("stopped@25"), log, "kthread_stop woke it at once out of its interruptible sleep");
    }

    @Test
    void kthreadStop_beforeItEverRan_returnsEintr_andTheFunctionNeverRuns() {
        AtomicBoolean ran = new AtomicBoolean();
        Task t = kthreads.create(x -> {
            ran.set(true);
            return 0;
        }, null, "never");
        assertEquals(-Sched.EINTR, kthreads.stop(t));
        assertFalse(ran.get());
    }

    @Test
    void kthreadStop_makesASignalPendingInTheKthread() {
        AtomicBoolean pending = new AtomicBoolean();
        Task t = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                sched.setCurrentState(Task.TASK_INTERRUPTIBLE);
                sched.schedule();
            }
            pending.set(sched.signalPending(sched.current()));
            return 0;
        }, null, "sig");
        stepper.runUntilIdle();
        assertEquals(0, kthreads.stop(t));
        assertTrue(pending.get(), "TIF_NOTIFY_SIGNAL: signal_pending() in a kthread being stopped");
    }

    @Test
    void kthreadRun_waitingOnAWaitQueue_isWokenByATimerAtAKnownJiffy() {
        WaitQueueHead wq = new WaitQueueHead("rx");
        AtomicBoolean data = new AtomicBoolean();
        Task t = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                long left = sched.waitEventInterruptibleTimeout(wq, () -> data.get() || kthreads.shouldStop(), 100);
                if (data.getAndSet(false)) {
                    log.add("data@" + now() + " left=" + left);
                }
            }
            return 0;
        }, null, "rxd");
        stepper.runUntilIdle();
        assertTrue(wq.active(), "the kthread sleeps on the queue");
        TimerList timer = TimerList.setup("irq", x -> {
            data.set(true);
            sched.wakeUpInterruptible(wq);
        }, 0);
        kernel.timers().mod(timer, origin + 6); // runs at 7
        stepper.runFor(10, TimeUnit.MILLISECONDS);
        assertEquals(List.of("data@7 left=93"), log);
        assertEquals(0, kthreads.stop(t));
    }

    @Test
    void parkAndUnpark_theKthreadParksInParkmeAndResumes() {
        Task t = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                if (kthreads.shouldPark()) {
                    log.add("parking@" + now());
                    kthreads.parkme();
                    log.add("unparked@" + now());
                }
                kernel.timers().scheduleTimeoutInterruptible(5);
            }
            return 1;
        }, null, "parkable");
        stepper.runFor(2, TimeUnit.MILLISECONDS);
        kthreads.park(t); // its wake_up_process ends the kthread's sleep at once
        assertEquals(Task.TASK_PARKED, t.state());
        assertEquals(List.of("parking@2"), log);
        stepper.runFor(20, TimeUnit.MILLISECONDS);
        assertEquals(List.of("parking@2"), log, "parked");
        assertFalse(sched.wakeUpProcess(t));
        kthreads.unpark(t);
        stepper.runUntilIdle();
        assertEquals(List.of("parking@2", "unparked@22"), log);
        assertEquals(1, kthreads.stop(t));
    }

    @Test
    void park_beforeTheKthreadRan_parksItBeforeItsFunction_andStopUnparksIt() {
        AtomicBoolean ran = new AtomicBoolean();
        Task t = kthreads.create(x -> {
            ran.set(true);
            return 5;
        }, null, "early");
        kthreads.park(t);
        assertFalse(ran.get());
        assertEquals(Task.TASK_PARKED, t.state());
        assertEquals(5, kthreads.stop(t), "unparked, it runs its function: should_stop is only seen by it");
        assertTrue(ran.get());
    }

    @Test
    void bind_beforeTheFirstWakeUp_movesTheKthreadToThatCpu() {
        Task t = kthreads.create(x -> {
            log.add("cpu " + kernel.context().cpuId());
            return 0;
        }, null, "percpu/1");
        kthreads.bind(t, 1);
        sched.wakeUpProcess(t);
        stepper.runUntilIdle();
        assertEquals(List.of("cpu 1"), log);
    }

    @Test
    void bind_ofARunningKthread_warnsAndChangesNothing() {
        reports.expect("WARNING: kthread_bind(busy, 1) of a kthread that is not inactive in TASK_UNINTERRUPTIBLE");
        AtomicInteger cpu = new AtomicInteger(-1);
        Task t = kthreads.run(x -> {
            sched.setCurrentState(Task.TASK_INTERRUPTIBLE);
            sched.schedule();
            cpu.set(kernel.context().cpuId());
            return 0;
        }, null, "busy");
        stepper.runUntilIdle();
        kthreads.bind(t, 1); // asleep, but in TASK_INTERRUPTIBLE
        sched.wakeUpProcess(t);
        stepper.runUntilIdle();
        assertEquals(0, cpu.get());
    }

    @Test
    void kthreadStop_ofATaskThatIsNotAKthread_warnsAndThrowsEinval() {
        reports.expect("the task is not a kthread (WARN_ON(!(k->flags & PF_KTHREAD)) in to_kthread())");
        assertEquals(Errno.EINVAL, assertThrows(KernelException.class, () -> kthreads.stop(sched.current())).errno());
        assertEquals(-Sched.EINVAL, Linux.kthread_stop(sched.current()), "the facade returns the kernel's -EINVAL");
    }

    @Test
    void kthreadShouldStop_fromATask_warns() {
        reports.expect("WARNING: kthread_should_stop(");
        assertFalse(kthreads.shouldStop());
    }

    @Test
    void park_ofAKthreadThatExited_warnsAndThrowsEnosys() {
        reports.expect("WARNING: kthread_park(done) of an exiting kthread (WARN_ON(k->flags & PF_EXITING))");
        Task t = kthreads.run(x -> 0, null, "done");
        stepper.runUntilIdle();
        assertEquals(Errno.ENOSYS, assertThrows(KernelException.class, () -> kthreads.park(t)).errno());
        assertEquals(-Kthreads.ENOSYS, Linux.kthread_park(t), "the facade returns the kernel's -ENOSYS");
        assertEquals(0, kthreads.stop(t), "an exited kthread's result");
    }

    @Test
    void park_twice_warnsOnceAndThrowsEbusy() {
        reports.expect("WARNING: kthread_park(twice) of a kthread already asked to park");
        Task t = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                kthreads.parkme();
                kernel.timers().scheduleTimeoutInterruptible(5);
            }
            return 0;
        }, null, "twice");
        kthreads.park(t);
        assertEquals(Errno.EBUSY, assertThrows(KernelException.class, () -> kthreads.park(t)).errno());
        assertEquals(-Kthreads.EBUSY, Linux.kthread_park(t), "the facade returns the kernel's -EBUSY");
        assertEquals(0, kthreads.stop(t));
    }

    @Test
    void close_withAKthreadStillRunning_reportsItByName() {
        reports.expect("INFO: kthread forgotten had not exited when the kernel closed (kthread_stop was never called)");
        kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                kernel.timers().scheduleTimeoutInterruptible(100);
            }
            return 0;
        }, null, "forgotten");
        stepper.runUntilIdle();
        kernel.close();
    }

    @Test
    void kthreadThrowing_isAnOops_andKthreadStopStillReturns() {
        reports.expect("boom");
        Task t = kthreads.run(x -> {
            throw new IllegalArgumentException("boom");
        }, null, "thrower");
        stepper.runUntilIdle();
        assertEquals(0, kthreads.stop(t));
    }
}
