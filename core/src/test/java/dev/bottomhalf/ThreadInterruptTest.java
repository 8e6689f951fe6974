package dev.bottomhalf;

import static dev.bottomhalf.Faults.TIMEOUT_S;
import static dev.bottomhalf.linux.Linux.cancel_work_sync;
import static dev.bottomhalf.linux.Linux.flush_work;
import static dev.bottomhalf.linux.Linux.msleep;
import static dev.bottomhalf.linux.Linux.msleep_interruptible;
import static dev.bottomhalf.linux.Linux.schedule_timeout_interruptible;
import static dev.bottomhalf.linux.Linux.tasklet_kill;
import static dev.bottomhalf.linux.Linux.timer_delete_sync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.internal.runtime.LockupDetector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;

/**
 * Thread interrupts, the model of the kernel's pending signals: runtime threads ignore them (an interrupted
 * idle kernel stays idle, measured in CPU time), a kworker's interrupt is its running item's signal and ends
 * with it, the interruptible sleeps end early with what was left, and the uninterruptible sleeps and waits
 * ({@code msleep}, {@code flush_work}, {@code cancel_work_sync}, {@code timer_delete_sync}, {@code tasklet_kill})
 * wait until done and give the interrupt back. Threaded tests assert the order of events, never how long
 * anything took; the stepped tests are exact.
 */
@Timeout(value = 120)
class ThreadInterruptTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).bindTestThread(0);

    private static final int THREADED_IRQ = 11;
    /** Long enough that a sleep this long never ends by itself within a test. */
    private static final long LONG_MS = TimeUnit.HOURS.toMillis(1);

    @AfterEach
    void clearTheTestThreadsInterrupt() {
        Thread.interrupted(); // a test that left it set must not disturb the extension's checks
    }

    // ------------------------------------------------------------------------------------------
    // (a) An interrupted idle kernel stays idle
    // ------------------------------------------------------------------------------------------

    @Test
    void interruptingEveryRuntimeThreadOfAnIdleKernel_costsNoCpuAfterwards_andTheThreadsStillWork() throws Exception {
        Set<Thread> before = new HashSet<>(Thread.getAllStackTraces().keySet());
        Kernel k = kernels.kernel();
        Thread watchdog = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals(LockupDetector.THREAD_NAME) && !before.contains(t)).findFirst()
                .orElseThrow(() -> new AssertionError("the kernel's watchdog thread"));
        // Bring up the threads that start on demand: a kworker per CPU, an IRQ thread.
        CountDownLatch warm = new CountDownLatch(3);
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("warm0", w -> warm.countDown()));
        k.workqueues().queueOn(1, k.workqueues().systemWq(), new Work("warm1", w -> warm.countDown()));
        k.irqs().requestThreaded(THREADED_IRQ, null, (irq, dev) -> {
            warm.countDown();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.ONESHOT), "idle-dev", "idle-dev-id");
        k.irqs().assertIrq(THREADED_IRQ);
        assertTrue(warm.await(TIMEOUT_S, TimeUnit.SECONDS));

        List<Thread> threads = new ArrayList<>(KernelExtension.runtimeThreads(k));
        List<String> names = threads.stream().map(Thread::getName).toList();
        for (String expected : List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1",
                "irq/" + THREADED_IRQ + "-idle-dev")) {
            assertTrue(names.contains(expected), expected + " among " + names);
        }
        assertTrue(names.stream().anyMatch(n -> n.startsWith("kworker/0:")), names.toString());
        assertTrue(names.stream().anyMatch(n -> n.startsWith("kworker/1:")), names.toString());
        threads.add(watchdog);

        // Interrupt every thread, over and over, for 200 ms of wall time.
        long stormEndNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
        long rounds = 0;
        while (System.nanoTime() - stormEndNs < 0) {
            for (Thread t : threads) {
                t.interrupt();
            }
            rounds++;
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(200));
        }
        for (Thread t : threads) {
            t.interrupt(); // and leave every thread with its interrupt set
        }
        for (Thread t : threads) {
            if (t instanceof KernelThread kt) {
                assertTrue(kt.interruptsIgnored() > 0, t.getName() + " never cleared an interrupt (" + rounds
                        + " rounds)");
            }
        }

        // Their CPU time over the next 500 ms: the kernel is idle, so (almost) none.
        idleCpu(threads, "an idle threaded kernel whose " + threads.size() + " runtime threads were interrupted "
                + (rounds + 1) + " times each");

        // The threads still work: a tasklet, a work item on each CPU, an interrupt of the threaded handler.
        CountDownLatch works = new CountDownLatch(4);
        k.tasklets().schedule(Tasklet.setup("after", t -> works.countDown()));
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("after0", w -> works.countDown()));
        k.workqueues().queueOn(1, k.workqueues().systemWq(), new Work("after1", w -> works.countDown()));
        k.irqs().free(THREADED_IRQ, "idle-dev-id");
        k.irqs().request(THREADED_IRQ, (irq, dev) -> {
            works.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "after-dev", "after-dev-id");
        k.irqs().assertIrq(THREADED_IRQ);
        assertTrue(works.await(TIMEOUT_S, TimeUnit.SECONDS), works.getCount() + " of 4 did not run");
        assertTrue(watchdog.isAlive(), "the watchdog thread still runs");
    }

    @Test
    void interruptingTheIdleKworkerThreadsOfASteppedKernel_costsNoCpuAfterwards_andTheNextItemSeesNoSignal()
            throws Exception {
        Kernel k = kernels.boot(b -> b.stepped());
        AtomicBoolean sawSignal = new AtomicBoolean(true);
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("warm0", w -> { }));
        k.workqueues().queueOn(1, k.workqueues().systemWq(), new Work("warm1", w -> { }));
        k.stepper().runUntilIdle();
        List<Thread> threads = KernelExtension.runtimeThreads(k);
        assertEquals(List.of("kworker/0:0", "kworker/1:0"), threads.stream().map(Thread::getName).toList());
        for (int i = 0; i < 100; i++) {
            for (Thread t : threads) {
                t.interrupt();
            }
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(200));
        }
        long totalNs = idleCpu(threads, "an idle stepped kernel whose kworker threads were interrupted");
        assertTrue(totalNs >= 0);
        k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("after", w ->
                sawSignal.set(Thread.currentThread().isInterrupted())));
        k.stepper().runUntilIdle();
        assertFalse(sawSignal.get(), "an interrupt of an idle kworker is no signal for the item it runs next");
    }

    /**
     * Measures the CPU time {@code threads} use over the next 500 ms of wall time, prints it, and fails when it is
     * 1 % of a core or more.
     */
    private static long idleCpu(List<Thread> threads, String what) {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        assertTrue(mx.isThreadCpuTimeSupported() && mx.isThreadCpuTimeEnabled(), "this JVM measures thread CPU time");
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20)); // let the last interrupts be cleared
        long[] startNs = cpuTimes(mx, threads);
        long wallStartNs = System.nanoTime();
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
        long wallNs = System.nanoTime() - wallStartNs;
        long[] endNs = cpuTimes(mx, threads);
        long totalNs = 0;
        StringBuilder each = new StringBuilder();
        for (int i = 0; i < threads.size(); i++) {
            long used = endNs[i] - startNs[i];
            totalNs += used;
            each.append(String.format("%n  %-20s %8.3f ms", threads.get(i).getName(), used / 1e6));
        }
        System.out.printf("ThreadInterruptTest: %s: %d threads used %.3f ms of CPU in %.0f ms (%.3f %% of a core):%s%n",
                what, threads.size(), totalNs / 1e6, wallNs / 1e6, 100.0 * totalNs / wallNs, each);
        assertTrue(totalNs * 100 < wallNs, String.format("%s used %.3f ms of CPU in %.0f ms (at most 1 %% of a core is"
                + " allowed):%s", what, totalNs / 1e6, wallNs / 1e6, each));
        return totalNs;
    }

    private static long[] cpuTimes(ThreadMXBean mx, List<Thread> threads) {
        long[] out = new long[threads.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = mx.getThreadCpuTime(threads.get(i).threadId());
            assertTrue(out[i] >= 0, threads.get(i).getName() + " has ended");
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------
    // (b) The sleeping helpers on an interrupted task
    // ------------------------------------------------------------------------------------------

    /** Waits until {@code t} is parked inside the kernel's wait loop (so it is asleep, not about to sleep). */
    private static void awaitParkedInKernelWait(Thread t) {
        long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!(t.getState() == Thread.State.TIMED_WAITING && Arrays.stream(t.getStackTrace()).anyMatch(f ->
                f.getClassName().equals("dev.bottomhalf.internal.sync.WaitQueue") && f.getMethodName().equals("await")))) {
            assertTrue(t.isAlive(), t.getName() + " ended before it slept");
            assertTrue(System.nanoTime() - deadlineNs < 0, t.getName() + " never slept in the kernel's wait: "
                    + Arrays.toString(t.getStackTrace()));
            Thread.onSpinWait();
        }
    }

    /** A task thread bound to CPU 1 of {@code k} that runs {@code body} and records what it returns. */
    private static Thread task(Kernel k, String name, AtomicReference<Object> result, AtomicBoolean interruptedAfter,
            ThrowingSupplier body) {
        return Thread.ofPlatform().name(name).start(() -> {
            k.bindCurrentThread(1);
            try {
                result.set(body.get());
            } catch (Throwable t) {
                result.set(t);
            } finally {
                interruptedAfter.set(Thread.currentThread().isInterrupted());
                k.detachCurrentThread();
            }
        });
    }

    @FunctionalInterface
    private interface ThrowingSupplier {
        Object get() throws Exception;
    }

    @Test
    void msleepInterruptible_interruptedMidSleep_returnsEarlyWithTheMsLeft_andTheInterruptSet() throws Exception {
        Kernel k = kernels.kernel();
        AtomicReference<Object> left = new AtomicReference<>();
        AtomicBoolean interrupted = new AtomicBoolean();
        Thread sleeper = task(k, "sleeper", left, interrupted, () -> msleep_interruptible(LONG_MS));
        awaitParkedInKernelWait(sleeper);
        sleeper.interrupt();
        sleeper.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(sleeper.isAlive(), "the interrupt did not end the sleep");
        long ms = (Long) left.get();
        assertTrue(ms > 0 && ms <= LONG_MS, "msleep_interruptible returned " + ms);
        assertTrue(interrupted.get(), "the interrupt (the pending signal) is left set");
    }

    @Test
    void scheduleTimeoutInterruptible_interruptedMidSleep_returnsTheJiffiesLeft() throws Exception {
        Kernel k = kernels.kernel();
        long timeout = k.msecsToJiffies(LONG_MS);
        AtomicReference<Object> left = new AtomicReference<>();
        AtomicBoolean interrupted = new AtomicBoolean();
        AtomicLong startJiffies = new AtomicLong();
        Thread sleeper = task(k, "sleeper", left, interrupted, () -> {
            startJiffies.set(k.jiffies());
            return schedule_timeout_interruptible(timeout);
        });
        awaitParkedInKernelWait(sleeper);
        sleeper.interrupt();
        sleeper.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        long returned = (Long) left.get();
        long elapsed = k.jiffies() - startJiffies.get();
        assertTrue(returned > 0 && returned <= timeout, "schedule_timeout_interruptible returned " + returned);
        assertTrue(returned >= timeout - elapsed - 1, "it returned the jiffies left (" + returned + ", " + elapsed
                + " of " + timeout + " elapsed)");
        assertTrue(interrupted.get());
    }

    @Test
    void msleep_interruptedBeforeAndDuringTheSleep_sleepsItsFullTime_andReturnsWithTheInterruptSet() throws Exception {
        Kernel k = kernels.kernel();
        long ms = 300;
        AtomicReference<Object> jiffiesSlept = new AtomicReference<>();
        AtomicBoolean interrupted = new AtomicBoolean();
        CountDownLatch interruptedDuringSleep = new CountDownLatch(1);
        Thread sleeper = task(k, "sleeper", jiffiesSlept, interrupted, () -> {
            Thread.currentThread().interrupt(); // a signal pending before the sleep
            long start = k.jiffies();
            msleep(ms);
            boolean afterSecondInterrupt = interruptedDuringSleep.getCount() == 0;
            return afterSecondInterrupt ? k.jiffies() - start : -1L;
        });
        awaitParkedInKernelWait(sleeper);
        sleeper.interrupt(); // and one during it
        interruptedDuringSleep.countDown();
        sleeper.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        long slept = (Long) jiffiesSlept.get();
        assertTrue(slept >= k.msecsToJiffies(ms), "msleep(" + ms + ") returned after " + slept
                + " jiffies (-1: before the second interrupt was sent)");
        assertTrue(interrupted.get(), "msleep gives the interrupt back");
    }

    @Test
    void stepped_sleepsOfAThreadWithAnInterruptPending_interruptibleReturnAtOnce_uninterruptibleSleepTheirTime() {
        Kernel k = kernels.boot(b -> b.stepped());
        k.bindCurrentThread(0);
        Thread.currentThread().interrupt();
        long start = k.jiffies();
        assertEquals(100, k.timers().msleepInterruptible(100), "all 100 ms left: the signal was already pending");
        assertEquals(25, k.timers().scheduleTimeoutInterruptible(25), "all 25 jiffies left");
        assertEquals(start, k.jiffies(), "no time passed");
        assertTrue(Thread.currentThread().isInterrupted());

        k.timers().msleep(10);
        long interruptedSleep = k.jiffies() - start;
        assertTrue(Thread.interrupted(), "msleep left the interrupt set");
        long start2 = k.jiffies();
        k.timers().msleep(10);
        long plainSleep = k.jiffies() - start2;
        assertTrue(interruptedSleep >= 10, "msleep(10) slept " + interruptedSleep + " jiffies");
        assertEquals(plainSleep, interruptedSleep, "the pending interrupt did not shorten msleep");
        k.detachCurrentThread();
    }

    // ------------------------------------------------------------------------------------------
    // (c) A kworker's interrupt is its running item's signal
    // ------------------------------------------------------------------------------------------

    @Test
    void interruptedKworker_itsItemSeesTheSignal_andItsSleepEndsEarly_theNextItemOnTheSameWorkerDoesNot()
            throws Exception {
        Kernel k = kernels.kernel();
        AtomicReference<Thread> firstWorker = new AtomicReference<>();
        AtomicLong firstLeftMs = new AtomicLong(-1);
        AtomicBoolean firstSawSignal = new AtomicBoolean();
        AtomicReference<Thread> secondWorker = new AtomicReference<>();
        AtomicBoolean secondSawSignal = new AtomicBoolean(true);
        CountDownLatch secondDone = new CountDownLatch(1);
        Work second = new Work("second", w -> {
            secondWorker.set(Thread.currentThread());
            secondSawSignal.set(Thread.currentThread().isInterrupted());
            secondDone.countDown();
        });
        Work first = new Work("first", w -> {
            firstWorker.set(Thread.currentThread());
            firstLeftMs.set(msleep_interruptible(LONG_MS));
            firstSawSignal.set(Thread.currentThread().isInterrupted());
            // Queued while this item runs (and counts as running): the same worker takes it when this returns.
            k.workqueues().queueOn(0, k.workqueues().systemWq(), second);
        });
        k.workqueues().queueOn(0, k.workqueues().systemWq(), first);
        long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (firstWorker.get() == null) {
            assertTrue(System.nanoTime() - deadlineNs < 0, "the first item never ran");
            Thread.onSpinWait();
        }
        Thread worker = firstWorker.get();
        awaitParkedInKernelWait(worker);
        worker.interrupt();
        assertTrue(secondDone.await(TIMEOUT_S, TimeUnit.SECONDS), "the interrupt did not end the item's sleep");
        assertTrue(firstLeftMs.get() > 0 && firstLeftMs.get() <= LONG_MS, "msleep_interruptible returned "
                + firstLeftMs.get());
        assertTrue(firstSawSignal.get(), "the item sees its worker's interrupt as its pending signal");
        assertSame(worker, secondWorker.get(), "the next item ran on the same worker");
        assertFalse(secondSawSignal.get(), "the signal ended with the item it was sent to");
    }

    // ------------------------------------------------------------------------------------------
    // (d) The uninterruptible waits of an interrupted task
    // ------------------------------------------------------------------------------------------

    /** What a wait waits for: a handler blocked on {@code gate}, which sets {@code done} when it returns. */
    private static final class Blocked {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch gate = new CountDownLatch(1);
        final AtomicBoolean done = new AtomicBoolean();

        void run() {
            entered.countDown();
            try {
                assertTrue(gate.await(TIMEOUT_S, TimeUnit.SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            done.set(true);
        }
    }

    /**
     * A task thread with an interrupt pending calls {@code wait} while the handler is blocked; it is interrupted
     * again once it sleeps in the kernel's wait; only then is the handler let go. The wait returns after the
     * handler finished, with the interrupt still set.
     */
    private static void interruptedTaskWaits(Kernel k, Blocked h, ThrowingSupplier wait, Object expected)
            throws Exception {
        assertTrue(h.entered.await(TIMEOUT_S, TimeUnit.SECONDS), "the handler never ran");
        AtomicReference<Object> result = new AtomicReference<>();
        AtomicBoolean interrupted = new AtomicBoolean();
        AtomicBoolean doneWhenItReturned = new AtomicBoolean();
        Thread waiter = task(k, "waiter", result, interrupted, () -> {
            Thread.currentThread().interrupt();
            Object r = wait.get();
            doneWhenItReturned.set(h.done.get());
            return r;
        });
        awaitParkedInKernelWait(waiter);
        waiter.interrupt();
        assertTrue(waiter.isAlive(), "the wait ended before the handler returned");
        h.gate.countDown();
        waiter.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(waiter.isAlive());
        assertTrue(doneWhenItReturned.get(), "the wait returned before the handler finished: " + result.get());
        assertEquals(expected, result.get());
        assertTrue(interrupted.get(), "the wait gives the interrupt back");
    }

    @Test
    void flushWork_byAnInterruptedTask_waitsForTheItem_andKeepsTheInterrupt() throws Exception {
        Kernel k = kernels.kernel();
        Blocked h = new Blocked();
        Work w = new Work("blocked", x -> h.run());
        k.workqueues().queueOn(0, k.workqueues().systemWq(), w);
        interruptedTaskWaits(k, h, () -> flush_work(w), true);
    }

    @Test
    void cancelWorkSync_byAnInterruptedTask_waitsForTheRunningItem_andKeepsTheInterrupt() throws Exception {
        Kernel k = kernels.kernel();
        Blocked h = new Blocked();
        Work w = new Work("blocked", x -> h.run());
        k.workqueues().queueOn(0, k.workqueues().systemWq(), w);
        interruptedTaskWaits(k, h, () -> cancel_work_sync(w), false); // running, not pending
    }

    @Test
    void timerDeleteSync_byAnInterruptedTask_waitsForTheRunningCallback_andKeepsTheInterrupt() throws Exception {
        Kernel k = kernels.kernel();
        Blocked h = new Blocked();
        TimerList t = TimerList.setup("blocked", x -> h.run(), 0);
        k.timers().mod(t, k.jiffies() + 1);
        interruptedTaskWaits(k, h, () -> timer_delete_sync(t), 0); // running, not pending
    }

    @Test
    void taskletKill_byAnInterruptedTask_waitsForTheRunningTasklet_andKeepsTheInterrupt() throws Exception {
        Kernel k = kernels.kernel();
        Blocked h = new Blocked();
        Tasklet t = Tasklet.setup("blocked", x -> h.run());
        k.tasklets().schedule(t);
        interruptedTaskWaits(k, h, () -> {
            tasklet_kill(t);
            return null;
        }, null);
        assertFalse(t.isRunning());
        assertFalse(t.isScheduled());
    }
}
