package dev.bottomhalf.tasklet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * The tasklet rules whose outcome involves no timing ({@code tasklet_schedule} while scheduled or running,
 * a callback that reschedules itself, {@code tasklet_disable}/{@code tasklet_enable}, {@code tasklet_kill};
 * docs/subsystems/tasklet.md) on a threaded kernel: real {@code cpu/N} threads run the callbacks. Waits use latches with generous timeouts, never sleeps.
 */
class TaskletThreadedTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private KernelReports reports;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private Kernel kernel;
    private Tasklets tasklets;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        tasklets = kernel.tasklets();
    }

    private static void await(CountDownLatch latch, String what) throws InterruptedException {
        assertTrue(latch.await(TIMEOUT_S, TimeUnit.SECONDS), "timed out waiting for " + what);
    }

    /** Line {@code irq}, routed to {@code cpu}, whose top half schedules {@code t}. */
    private void schedulingLine(int irq, int cpu, Tasklet t) {
        kernel.irqs().request(irq, (i, d) -> {
            tasklets.schedule(t);
            return IrqReturn.HANDLED;
        }, Set.of(), "line" + irq, "dev" + irq);
        kernel.irqs().setAffinity(irq, cpu);
    }

    @Test
    void scheduledManyTimesWhileQueued_runsOnce() throws InterruptedException {
        CountDownLatch ran = new CountDownLatch(1);
        AtomicInteger runs = new AtomicInteger();
        Tasklet t = Tasklet.setup("t", me -> {
            runs.incrementAndGet();
            ran.countDown();
        });
        kernel.irqs().request(3, (i, d) -> {
            for (int n = 0; n < 1000; n++) {
                tasklets.schedule(t);
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "burst", "dev");
        kernel.irqs().setAffinity(3, 1);
        kernel.irqs().assertIrq(3);
        await(ran, "the tasklet");
        ExecutionContext task = kernel.bindCurrentThread(0);
        tasklets.unlockWait(t);
        kernel.detachCurrentThread();
        assertEquals(1, runs.get());
        assertEquals(1, kernel.softirqs().count(1, SoftirqVector.TASKLET));
        assertFalse(t.isScheduled());
        assertTrue(task.inTask());
    }

    @Test
    void callbackReschedulingItselfOnce_runsExactlyOnceMoreOnItsCpu() throws InterruptedException {
        CountDownLatch twice = new CountDownLatch(2);
        AtomicInteger runs = new AtomicInteger();
        Tasklet t = Tasklet.setup("again", me -> {
            log.add(Thread.currentThread().getName());
            if (runs.incrementAndGet() == 1) {
                tasklets.schedule(me);
            }
            twice.countDown();
        });
        schedulingLine(4, 1, t);
        kernel.irqs().assertIrq(4);
        await(twice, "both runs");
        assertEquals("cpu/1", log.get(0), "the first run is at cpu/1's irq_exit");
        // The second run is on CPU 1 too: in the same __do_softirq restart loop at cpu/1's irq_exit, or in
        // ksoftirqd/1 when the first pass ran past the 2 ms budget on a loaded host and handed the rest over.
        assertTrue(Set.of("cpu/1", "ksoftirqd/1").contains(log.get(1)), log.toString());
        assertEquals(2, log.size(), log.toString());
    }

    @Test
    void scheduledOnAnotherCpuWhileRunning_runsThereAfterwards_neverConcurrently()
            throws InterruptedException {
        CountDownLatch firstRunInside = new CountDownLatch(1);
        CountDownLatch releaseFirstRun = new CountDownLatch(1);
        CountDownLatch secondRunDone = new CountDownLatch(1);
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        AtomicInteger runs = new AtomicInteger();
        Tasklet t = Tasklet.setup("t", me -> {
            if (inside.incrementAndGet() != 1) {
                overlaps.incrementAndGet();
            }
            int run = runs.incrementAndGet();
            log.add(run + "@CPU" + kernel.context().cpuId());
            if (run == 1) {
                firstRunInside.countDown();
                try {
                    releaseFirstRun.await(TIMEOUT_S, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            inside.decrementAndGet();
            if (run == 2) {
                secondRunDone.countDown();
            }
        });
        schedulingLine(5, 0, t);
        schedulingLine(6, 1, t);
        kernel.irqs().assertIrq(5);
        await(firstRunInside, "the first run on CPU 0");
        kernel.irqs().assertIrq(6);
        // CPU 1 has queued it (SCHED was clear) and keeps finding RUN set: the tasklet waits on its list.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!t.isScheduled() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertTrue(t.isScheduled(), "queued on CPU 1 while running on CPU 0");
        assertEquals(1, runs.get(), "never started a second time while the first run is inside");
        releaseFirstRun.countDown();
        await(secondRunDone, "the second run on CPU 1");
        // On CPU 1 — by cpu/1 or, after CPU 1's softirq loop re-raised TASKLET for too long, by ksoftirqd/1.
        assertEquals(List.of("1@CPU0", "2@CPU1"), log);
        assertEquals(0, overlaps.get());
    }

    @Test
    void disableFromOwnCallback_isReportedAndReturns_disableNosyncIsNot() throws InterruptedException {
        CountDownLatch ran = new CountDownLatch(1);
        Tasklet t = Tasklet.setup("self", me -> {
            tasklets.disableNosync(me);
            tasklets.disable(me);
            log.add("returned, count " + me.disableCount());
            ran.countDown();
        });
        schedulingLine(7, 0, t);
        kernel.irqs().assertIrq(7);
        await(ran, "the callback");
        assertEquals(List.of("returned, count 2"), log);
        assertEquals(1, reports.matching("BUG: tasklet_disable(self) called from the tasklet's own callback").size());
    }

    @Test
    void killFromATask_waitsForTheScheduledRun_thenItCanBeScheduledAgain() throws InterruptedException {
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger runs = new AtomicInteger();
        Tasklet t = Tasklet.setup("k", me -> {
            runs.incrementAndGet();
            inside.countDown();
            try {
                release.await(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        schedulingLine(8, 1, t);
        kernel.irqs().assertIrq(8);
        await(inside, "the callback");
        CountDownLatch killed = new CountDownLatch(1);
        Thread killer = Thread.ofPlatform().name("killer").start(() -> {
            kernel.bindCurrentThread(0);
            tasklets.kill(t);
            killed.countDown();
            kernel.detachCurrentThread();
        });
        assertFalse(killed.await(50, TimeUnit.MILLISECONDS), "tasklet_kill returned while the callback ran");
        release.countDown();
        await(killed, "tasklet_kill");
        killer.join();
        assertFalse(t.isRunning());
        assertFalse(t.isScheduled());
        kernel.irqs().assertIrq(8);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (runs.get() < 2 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(2, runs.get(), "after tasklet_kill it can be scheduled again");
    }
}
