package dev.bottomhalf.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/** kthreads in threaded mode: runtime threads named by their comm, woken across threads, stopped and reported. */
class KthreadThreadedTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Sched sched;
    private Kthreads kthreads;
    private KernelReports reports;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        sched = kernel.sched();
        kthreads = kernel.kthreads();
        reports = kernels.reports();
    }

    @Test
    void kthreadRun_isARuntimeThreadNamedByItsComm_andKthreadStopReturnsItsResult() {
        WaitQueueHead wq = new WaitQueueHead("events");
        AtomicInteger events = new AtomicInteger();
        List<String> seen = new CopyOnWriteArrayList<>();
        Completion started = new Completion("started");
        Task t = kthreads.run(x -> {
            seen.add(sched.current().comm() + " " + (Thread.currentThread() instanceof KernelThread) + " "
                    + Thread.currentThread().getName());
            sched.complete(started);
            int handled = 0;
            while (!kthreads.shouldStop()) {
                sched.waitEventInterruptible(wq, () -> events.get() > 0 || kthreads.shouldStop());
                handled += events.getAndSet(0);
            }
            // The stop may come before the loop ever waited (the events were posted while it was on its way
            // there): what was posted is still handled, once.
            return handled + events.getAndSet(0);
        }, null, "evd/%d", 0);
        sched.waitForCompletion(started); // a kthread stopped before it ran never runs its function (-EINTR)
        for (int i = 0; i < 5; i++) {
            events.incrementAndGet();
            sched.wakeUpInterruptible(wq);
        }
        int handled = kthreads.stop(t);
        assertEquals(5, handled);
        assertEquals(List.of("evd/0 true evd/0"), seen);
    }

    @Test
    void kthreadStop_ofAKthreadThatNeverRan_returnsEintr() {
        AtomicBoolean ran = new AtomicBoolean();
        Task t = kthreads.create(x -> {
            ran.set(true);
            return 0;
        }, null, "idle");
        assertEquals(-Sched.EINTR, kthreads.stop(t));
        assertTrue(!ran.get());
    }

    @Test
    void workerInThreadedMode_runsItemsAndIsDestroyed() {
        KthreadWorker w = kthreads.createWorker(0, "kw");
        AtomicInteger ran = new AtomicInteger();
        for (int i = 0; i < 100; i++) {
            kthreads.queueWork(w, new KthreadWork("w" + i, x -> ran.incrementAndGet()));
        }
        kthreads.flushWorker(w);
        assertEquals(100, ran.get());
        kthreads.destroyWorker(w);
    }

    @Test
    void parkAndUnpark_acrossThreads() {
        AtomicInteger loops = new AtomicInteger();
        Task t = kthreads.run(x -> {
            while (!kthreads.shouldStop()) {
                if (kthreads.shouldPark()) {
                    kthreads.parkme();
                }
                loops.incrementAndGet();
                kernel.timers().scheduleTimeoutInterruptible(1);
            }
            return 9;
        }, null, "parker");
        kthreads.park(t);
        assertEquals(Task.TASK_PARKED, t.state());
        int parkedAt = loops.get();
        kernel.timers().msleep(5);
        assertEquals(parkedAt, loops.get(), "a parked kthread does not loop");
        kthreads.unpark(t);
        assertEquals(9, kthreads.stop(t));
    }

    @Test
    void close_withAKthreadStillSleeping_reportsIt() {
        reports.expect("INFO: kthread sleeper had not exited when the kernel closed (kthread_stop was never called)");
        AtomicBoolean sleeping = new AtomicBoolean();
        kthreads.run(x -> {
            sleeping.set(true);
            sched.setCurrentState(Task.TASK_UNINTERRUPTIBLE);
            sched.schedule();
            return 0;
        }, null, "sleeper");
        while (!sleeping.get()) {
            Thread.onSpinWait();
        }
        kernel.close();
    }
}
