package dev.bottomhalf.time;

import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Timers on a threaded kernel: real {@code cpu/N} threads sleep until the first due timer (tickless) and
 * run the expiry in TIMER_SOFTIRQ. Assertions are about order and "never early"; lateness is bounded only
 * by generous timeouts, never asserted as a latency.
 */
class TimerThreadedTest {
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Timers timers;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        timers = kernel.timers();
        kernel.bindCurrentThread(0);
    }

    private static void await(CountDownLatch latch, String what) throws InterruptedException {
        assertTrue(latch.await(TIMEOUT_S, TimeUnit.SECONDS), "timed out waiting for " + what);
    }

    @Test
    void armedTimer_firesOnItsCpuThread_neverBeforeItsExpiry() throws InterruptedException {
        CountDownLatch fired = new CountDownLatch(1);
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicLong firedAt = new AtomicLong();
        TimerList t = TimerList.setup("t", x -> {
            firedAt.set(kernel.jiffies());
            seen.add(Thread.currentThread().getName() + " serving=" + kernel.context().inServingSoftirq());
            fired.countDown();
        }, 0);
        long expires = kernel.jiffies() + 20;
        t.expires(expires);
        timers.addOn(t, 1);
        await(fired, "the timer");
        assertTrue(firedAt.get() >= expires + 1, "fired at " + firedAt.get() + ", expires " + expires);
        assertTrue(List.of("cpu/1 serving=true", "ksoftirqd/1 serving=true").contains(seen.get(0)), seen.get(0));
        assertEquals(1, kernel.softirqs().count(1, SoftirqVector.TIMER));
    }

    /**
     * {@code timer_shutdown_sync} while the callback runs and after it re-armed its timer (due at once): the
     * re-armed timer is taken off its list under the same lock that clears its function, so the expiry pass that
     * follows the callback never finds it without a function; the call reports it was pending (1), and it never
     * runs again.
     */
    @Test
    void shutdownSync_whileTheCallbackRearmsItself_returnsPending_andTheTimerNeverExpiresAgain() throws Exception {
        CountDownLatch inCallback = new CountDownLatch(1);
        AtomicLong runs = new AtomicLong();
        TimerList[] self = new TimerList[1];
        self[0] = TimerList.setup("rearming", x -> {
            if (runs.incrementAndGet() > 1) {
                return;
            }
            timers.mod(x, kernel.jiffies() - 1); // due at once: the expiry pass after this callback may take it
            inCallback.countDown();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (!Internals.machine(kernel).hasWaiters() && System.nanoTime() < deadline) {
                Thread.onSpinWait(); // until timer_shutdown_sync waits for this callback
            }
        }, 0);
        self[0].expires(kernel.jiffies() + 1);
        timers.addOn(self[0], 1);
        await(inCallback, "the callback");
        java.util.concurrent.atomic.AtomicInteger ret = new java.util.concurrent.atomic.AtomicInteger(-9);
        Thread shutter = Thread.ofPlatform().name("shutter").start(() -> {
            kernel.bindCurrentThread(0);
            ret.set(timers.shutdownSync(self[0]));
            kernel.detachCurrentThread();
        });
        shutter.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertEquals(1, ret.get(), "it was pending (re-armed by its callback)");
        assertFalse(timers.pending(self[0]));
        assertEquals(0, timers.mod(self[0], kernel.jiffies() + 1), "a shut-down timer is not re-armed");
        assertFalse(timers.pending(self[0]));
        assertEquals(1, runs.get());
        assertEquals(List.of(), reports.matching("expired without a function"), reports.toString());
    }

    @Test
    void idleKernel_doesNotTick() throws InterruptedException {
        Thread.sleep(100);
        assertEquals(0, timers.localTimerInterrupts(0));
        assertEquals(0, timers.localTimerInterrupts(1));
    }

    @Test
    void msleep_fromATask_sleepsAtLeastTheTime() {
        long start = System.nanoTime();
        timers.msleep(15);
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(15));
        assertFalse(reports.events().stream().anyMatch(e -> e.message().contains("BUG")), reports.events().toString());
    }

    @Test
    void interruptibleSleep_endsEarlyOnInterrupt_withTheJiffiesLeft() throws InterruptedException {
        long[] left = new long[1];
        CountDownLatch asleep = new CountDownLatch(1);
        Thread sleeper = Thread.ofPlatform().name("sleeper").start(() -> {
            kernel.bindCurrentThread(1);
            asleep.countDown();
            left[0] = timers.scheduleTimeoutInterruptible(10_000);
            kernel.detachCurrentThread();
        });
        await(asleep, "the sleeper");
        Thread.sleep(20);
        sleeper.interrupt();
        sleeper.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(sleeper.isAlive());
        assertTrue(left[0] > 5_000 && left[0] <= 10_000, "jiffies left: " + left[0]);
    }

    @Test
    void deleteSync_waitsForTheRunningCallback() throws InterruptedException {
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicLong finished = new AtomicLong();
        TimerList t = TimerList.setup("slow", x -> {
            inside.countDown();
            try {
                release.await(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            finished.set(System.nanoTime());
        }, 0);
        t.expires(kernel.jiffies() + 1);
        timers.addOn(t, 1);
        await(inside, "the callback");
        assertEquals(0, timers.delete(t));
        Thread releaser = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(30);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            release.countDown();
        });
        assertEquals(0, timers.deleteSync(t));
        long returned = System.nanoTime();
        assertTrue(finished.get() != 0 && finished.get() <= returned, "timer_delete_sync returned before the callback ended");
        releaser.join();
    }

    @Test
    void selfRearmingTimer_runsOncePerJiffyOrLater_andStopsAtShutdownSync() throws InterruptedException {
        AtomicLong runs = new AtomicLong();
        AtomicLong last = new AtomicLong(Long.MIN_VALUE);
        AtomicLong early = new AtomicLong();
        CountDownLatch ten = new CountDownLatch(10);
        TimerList t = new TimerList();
        timers.setup(t, "periodic", x -> {
            long j = kernel.jiffies();
            if (last.get() != Long.MIN_VALUE && j <= last.get()) {
                early.incrementAndGet();
            }
            last.set(j);
            runs.incrementAndGet();
            ten.countDown();
            timers.mod(x, j + 1);
        }, 0);
        timers.mod(t, kernel.jiffies() + 1);
        await(ten, "ten periods");
        timers.shutdownSync(t);
        long after = runs.get();
        Thread.sleep(20);
        assertEquals(after, runs.get(), "ran after timer_shutdown_sync returned");
        assertEquals(0, early.get(), "two runs within one jiffy");
        assertFalse(t.isPending());
        assertTrue(timers.localTimerInterrupts(0) + timers.localTimerInterrupts(1) >= 10);
    }
}
