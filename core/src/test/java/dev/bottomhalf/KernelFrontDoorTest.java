package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.Jiffies;

/**
 * The {@link Kernel} front door: the clock conversions at the kernel's HZ, the calling thread's CPU, detaching a
 * task thread, and the close and panic states — what users call instead of reaching into the runtime.
 */
class KernelFrontDoorTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    @Test
    void conversions_atHz250_roundUpAsTheKernelDoes() {
        Kernel k = kernels.boot(b -> b.hz(250));
        assertEquals(250, k.hz());
        assertEquals(1, k.msecsToJiffies(1), "1 ms is a quarter tick: rounds up");
        assertEquals(3, k.msecsToJiffies(10), "10 ms is 2.5 ticks: rounds up");
        assertEquals(25, k.msecsToJiffies(100));
        assertEquals(1, k.usecsToJiffies(1));
        assertEquals(12, k.jiffiesToMsecs(3));
        assertEquals(4_000, k.jiffiesToUsecs(1));
        assertEquals(Jiffies.MAX_JIFFY_OFFSET, k.msecsToJiffies(-1), "a negative time is the longest offset");
    }

    @Test
    void durations_convertBothWays_roundingUpToTheNextTick() {
        Kernel k = kernels.boot(b -> b.hz(250));
        assertEquals(25, k.toJiffies(Duration.ofMillis(100)));
        assertEquals(1, k.toJiffies(Duration.ofNanos(1)), "any part of a tick is a tick");
        assertEquals(0, k.toJiffies(Duration.ZERO));
        assertEquals(250 * 3 + 1, k.toJiffies(Duration.ofSeconds(3, 1)));
        assertEquals(Jiffies.MAX_JIFFY_OFFSET, k.toJiffies(Duration.ofMillis(-1)));
        assertEquals(Jiffies.MAX_JIFFY_OFFSET, k.toJiffies(Duration.ofSeconds(Long.MAX_VALUE)), "saturates");
        assertEquals(Duration.ofMillis(12), k.jiffiesToDuration(3));
        assertEquals(Duration.ofSeconds(2), k.jiffiesToDuration(500));
    }

    @Test
    void uptime_followsTheManualClock() {
        Kernel k = kernels.kernel();
        long before = k.uptimeNs();
        k.stepper().advanceJiffies(5);
        assertEquals(5_000_000L, k.uptimeNs() - before, "5 jiffies at HZ 1000");
    }

    @Test
    void smpProcessorId_isTheBoundCpu_andTheDefaultCpuForAStranger() throws Exception {
        Kernel k = kernels.kernel();
        AtomicInteger stranger = new AtomicInteger(-1);
        Thread t = new Thread(() -> {
            stranger.set(k.smpProcessorId());
            k.detachCurrentThread();
        });
        t.start();
        t.join();
        assertEquals(0, stranger.get(), "a thread that never bound itself is a task on CPU 0");
        k.bindCurrentThread(1);
        assertEquals(1, k.smpProcessorId());
    }

    @Test
    void detachCurrentThread_forgetsTheTask_andTheNextCallAttachesAnew() {
        Kernel k = kernels.kernel();
        ExecutionContext bound = k.bindCurrentThread(1);
        k.detachCurrentThread();
        ExecutionContext again = k.context();
        assertNotSame(bound, again);
        assertEquals(0, again.cpuId(), "attached anew on the default CPU");
        assertSame(again, k.context());
    }

    @Test
    void detachCurrentThread_inAtomicContext_isRefused() {
        Kernel k = kernels.kernel();
        ExecutionContext ctx = k.bindCurrentThread(0);
        ctx.localBhDisable();
        assertThrows(IllegalStateException.class, k::detachCurrentThread);
        ctx.localBhEnable();
    }

    @Test
    void closeStates_closedWhenTheCloseBegins_terminatedWhenItEnds() {
        Kernel k = kernels.kernel();
        assertFalse(k.isClosed());
        assertFalse(k.isTerminated());
        assertFalse(k.isPanicked());
        k.close();
        assertTrue(k.isClosed());
        assertTrue(k.isTerminated());
        assertFalse(k.isPanicked());
        assertThrows(IllegalStateException.class, k::smpProcessorId);
    }
}
