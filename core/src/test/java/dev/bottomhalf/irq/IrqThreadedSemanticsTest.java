package dev.bottomhalf.irq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Threaded-mode versions of the hard-IRQ rules whose outcome involves no timing (shared lines,
 * {@code disable_irq} depth, {@code IRQ_NOAUTOEN}, {@code free_irq}, {@code IRQ_WAKE_THREAD} without a thread
 * function, {@code note_interrupt}; docs/subsystems/irq.md): real {@code cpu/N} and {@code irq/L-name}
 * threads, latches with generous timeouts, no sleeps.
 */
class IrqThreadedSemanticsTest {
    private static final int IRQ = 7;
    private static final long TIMEOUT_S = 10;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private IrqController irqs;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        irqs = kernel.irqs();
    }

    /** Asserts the line and waits until {@code calls} reached {@code expected}. */
    private void fireAndAwait(AtomicInteger calls, int expected) throws InterruptedException {
        irqs.assertIrq(IRQ);
        awaitCalls(calls, expected);
    }

    private static void awaitCalls(AtomicInteger calls, int expected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (calls.get() < expected) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("expected " + expected + " calls, saw " + calls.get());
            }
            Thread.sleep(1);
        }
    }

    /** Runs a cross-CPU call on the line's CPU: when it returns, cpu/N has drained what was latched before. */
    private void drainLineCpu() {
        kernel.smpCallFunctionSingle(irqs.affinity(IRQ), () -> { }, true);
    }

    @Test
    void sharedLine_everyHandlerIsCalled() throws Exception {
        AtomicInteger a = new AtomicInteger();
        AtomicInteger b = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            a.incrementAndGet();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.SHARED), "a", "A");
        irqs.request(IRQ, (i, d) -> {
            b.incrementAndGet();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.SHARED), "b", "B");
        fireAndAwait(b, 1);
        assertEquals(1, a.get());
    }

    @Test
    void depthNests_andAnInterruptWhileDisabledIsReplayedOnce() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            calls.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(), "a", "A");
        irqs.disable(IRQ);
        irqs.disable(IRQ);
        irqs.assertIrq(IRQ);
        irqs.assertIrq(IRQ);
        drainLineCpu();
        assertEquals(0, calls.get(), "disabled: not delivered");
        irqs.enable(IRQ);
        drainLineCpu();
        assertEquals(0, calls.get(), "depth 1: still disabled");
        irqs.enable(IRQ);
        awaitCalls(calls, 1);
        drainLineCpu();
        assertEquals(1, calls.get(), "replayed exactly once");
        irqs.enable(IRQ);
        assertEquals(1, reports.matching("Unbalanced enable for IRQ 7").size());
    }

    @Test
    void disableIrqFromItsOwnHandler_onTheRealCpuThread_doesNotHang() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            irqs.disable(IRQ);
            calls.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(), "self", "S");
        fireAndAwait(calls, 1);
        assertEquals(1, irqs.depth(IRQ));
        assertEquals(1, reports.matching("BUG: disable_irq(7) called from the hard handler of IRQ 7").size());
        assertEquals("cpu/" + irqs.affinity(IRQ), reports.matching("BUG: disable_irq(7)").get(0).thread());
    }

    @Test
    void noAutoen_thenEnable() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            calls.incrementAndGet();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.NO_AUTOEN), "a", "A");
        irqs.assertIrq(IRQ);
        drainLineCpu();
        assertEquals(0, calls.get());
        irqs.enable(IRQ);
        awaitCalls(calls, 1);
    }

    @Test
    void freeAndRequestAgain_andTheWrongDevIdWarns() {
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        irqs.disable(IRQ);
        assertEquals(Errno.EINVAL, assertThrows(KernelException.class, () -> irqs.free(IRQ, "B")).errno());
        assertEquals(1, reports.matching("Trying to free already-free IRQ 7").size());
        assertEquals("a", irqs.free(IRQ, "A"));
        assertTrue(irqs.depth(IRQ) >= 1);
        irqs.request(IRQ, (i, d) -> IrqReturn.HANDLED, Set.of(), "a", "A");
        assertEquals(0, irqs.depth(IRQ));
    }

    @Test
    void wakeThreadWithoutThreadFunction_warnsOnce() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            calls.incrementAndGet();
            return IrqReturn.WAKE_THREAD;
        }, Set.of(), "nothread", "N");
        fireAndAwait(calls, 1);
        fireAndAwait(calls, 2);
        List<KernelEvent> w = reports.matching("IRQ 7 device nothread returned IRQ_WAKE_THREAD but no thread function available.");
        assertEquals(1, w.size());
    }

    @Test
    void unhandledInterruptsAreCountedOnTheTakingCpu() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        irqs.request(IRQ, (i, d) -> {
            calls.incrementAndGet();
            return IrqReturn.NONE;
        }, Set.of(), "none", "N");
        irqs.setAffinity(IRQ, 0);
        fireAndAwait(calls, 1);
        fireAndAwait(calls, 2);
        assertEquals(2, irqs.count(IRQ, 0));
        assertEquals(0, irqs.count(IRQ, 1));
    }

    @Test
    void oneshotThreadedLine_isUnmaskedAfterEveryThreadRun() throws Exception {
        AtomicInteger thread = new AtomicInteger();
        CountDownLatch ran = new CountDownLatch(3);
        irqs.requestThreaded(IRQ, null, (i, d) -> {
            thread.incrementAndGet();
            ran.countDown();
            return IrqReturn.HANDLED;
        }, EnumSet.of(IrqFlag.ONESHOT), "t", "T");
        for (int n = 1; n <= 3; n++) {
            irqs.assertIrq(IRQ);
            awaitCalls(thread, n);
            irqs.synchronize(IRQ);
        }
        assertTrue(ran.await(TIMEOUT_S, TimeUnit.SECONDS));
        assertFalse(irqs.isMasked(IRQ));
    }
}
