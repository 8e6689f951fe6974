package dev.bottomhalf.irq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Errno;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelException;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * The Java API's request builder ({@link IrqController#request(int)}) and typed handler returns ({@link IrqResult},
 * {@link IrqResultHandler}), stepped: typed handlers run as their int forms do, missing parts and the kernel's
 * refusals are exceptions, the int form keeps reporting bogus values.
 */
class IrqRequestBuilderTest {
    private static final int IRQ = 7;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private Kernel kernel;
    private Stepper stepper;
    private IrqController irqs;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        irqs = kernel.irqs();
        kernel.bindCurrentThread(0);
    }

    private void fire() {
        irqs.assertIrq(IRQ);
        stepper.hardirq(irqs.affinity(IRQ));
        stepper.runUntilIdle();
    }

    @Test
    void irqResult_carriesTheKernelsIrqreturnValues() {
        assertEquals(IrqReturn.NONE, IrqResult.NONE.value());
        assertEquals(IrqReturn.HANDLED, IrqResult.HANDLED.value());
        assertEquals(IrqReturn.WAKE_THREAD, IrqResult.WAKE_THREAD.value());
        assertEquals(IrqReturn.HANDLED | IrqReturn.WAKE_THREAD, IrqResult.HANDLED_AND_WAKE_THREAD.value());
        for (IrqResult r : IrqResult.values()) {
            assertEquals(r, IrqResult.of(r.value()));
        }
        assertEquals(IrqResult.HANDLED, IrqResult.of(true));
        assertEquals(IrqResult.NONE, IrqResult.of(false));
        assertThrows(IllegalArgumentException.class, () -> IrqResult.of(4));
    }

    @Test
    void aTypedHandler_isCountedAsHandled_andLeavesNoUnhandledInterrupt() {
        IrqRegistration r = irqs.request(IRQ).handler((irq, dev) -> {
            log.add("hard " + irq + " " + dev);
            return IrqResult.HANDLED;
        }).name("typed").dev("cookie").register();
        fire();
        assertEquals(List.of("hard 7 cookie"), log);
        assertEquals(1, irqs.totalCount(IRQ));
        assertEquals(0, irqs.spurious(IRQ).unhandled());
        assertEquals(List.of("typed"), irqs.actionNames(IRQ));
        assertEquals("typed", r.free());
        assertTrue(irqs.actionNames(IRQ).isEmpty());
    }

    @Test
    void aTypedHandler_returningNone_isAnUnhandledInterrupt() {
        irqs.request(IRQ).handler((irq, dev) -> IrqResult.NONE).name("not-mine").register();
        fire();
        assertEquals(1, irqs.spurious(IRQ).unhandled());
    }

    @Test
    void wakeThread_runsTheTypedThreadFunction_onItsIrqThread() {
        irqs.request(IRQ)
                .handler((irq, dev) -> IrqResult.WAKE_THREAD)
                .thread((irq, dev) -> {
                    log.add("thread " + kernel.sched().current().comm() + " in_task=" + kernel.context().inTask());
                    return IrqResult.HANDLED;
                })
                .flags(IrqFlag.ONESHOT)
                .name("eth0")
                .register();
        fire();
        assertEquals(List.of("thread irq/7-eth0 in_task=true"), log);
        assertEquals(0, irqs.spurious(IRQ).unhandled());
        assertTrue(!irqs.isMasked(IRQ), "ONESHOT unmasked the line after the thread function");
    }

    @Test
    void handledAndWakeThread_countsAsHandled_butWakesNoThread_asInTheKernel() {
        irqs.request(IRQ)
                .handler((irq, dev) -> IrqResult.HANDLED_AND_WAKE_THREAD)
                .thread((irq, dev) -> {
                    log.add("thread");
                    return IrqResult.HANDLED;
                })
                .name("both")
                .register();
        fire();
        assertEquals(List.of(), log, "the kernel wakes the thread only for exactly IRQ_WAKE_THREAD");
        assertEquals(0, irqs.spurious(IRQ).unhandled());
        assertTrue(reports.matching("bogus").isEmpty(), reports.toString());
    }

    @Test
    void aThreadFunctionAlone_withOneshot_getsTheDefaultPrimary() {
        irqs.request(IRQ).thread((irq, dev) -> {
            log.add("threaded");
            return IrqResult.HANDLED;
        }).flags(Set.of(IrqFlag.ONESHOT)).name("only-thread").register();
        fire();
        assertEquals(List.of("threaded"), log);
    }

    @Test
    void aTypedHandler_returningNull_isReportedAsAnOops_andCountsAsUnhandled() {
        irqs.request(IRQ).handler((irq, dev) -> null).name("null").register();
        fire();
        assertEquals(1, reports.ofKind(KernelEvent.Kind.OOPS).size(), reports.toString());
        assertEquals(1, irqs.spurious(IRQ).unhandled());
    }

    @Test
    void theRawIntForm_stillReportsABogusReturnValue() {
        irqs.request(IRQ).rawHandler((irq, dev) -> 42).name("bogus").register();
        fire();
        assertEquals(1, reports.matching("irq event 7: bogus return value 2a").size(), reports.toString());
    }

    @Test
    void register_withoutAName_isIllegalState() {
        IrqRequest r = irqs.request(IRQ).handler((irq, dev) -> IrqResult.HANDLED);
        IllegalStateException e = assertThrows(IllegalStateException.class, r::register);
        assertEquals("request_irq(7): no name: call name(...) before register()", e.getMessage());
        assertTrue(irqs.actionNames(IRQ).isEmpty());
    }

    @Test
    void register_withoutAHandler_isIllegalState() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> irqs.request(IRQ).name("x").register());
        assertEquals("request_irq(7, x): no handler: call handler(...) or thread(...) before register()",
                e.getMessage());
    }

    @Test
    void nullParts_areRefusedWhereTheyAreGiven() {
        IrqRequest r = irqs.request(IRQ);
        assertThrows(NullPointerException.class, () -> r.handler(null));
        assertThrows(NullPointerException.class, () -> r.rawThread(null));
        assertThrows(NullPointerException.class, () -> r.name(null));
        assertThrows(IllegalArgumentException.class, () -> r.name(""));
        assertThrows(NullPointerException.class, () -> r.flags(IrqFlag.SHARED, (IrqFlag) null));
    }

    @Test
    void sharedWithoutADevId_isEinvalWithTheRule() {
        KernelException e = assertThrows(KernelException.class, () -> irqs.request(IRQ)
                .handler((irq, dev) -> IrqResult.HANDLED).flags(IrqFlag.SHARED).name("eth0").register());
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().startsWith("EINVAL: request_irq(7, eth0): IRQF_SHARED requires a dev_id"),
                e.getMessage());
    }

    @Test
    void aThreadAloneWithoutOneshot_isEinvalCarryingTheKernelsMessage() {
        KernelException e = assertThrows(KernelException.class, () -> irqs.request(IRQ)
                .thread((irq, dev) -> IrqResult.HANDLED).name("t").register());
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().endsWith(
                "(genirq: Threaded irq requested with handler=NULL and !ONESHOT for t (irq 7))"), e.getMessage());
        reports.expect("genirq: Threaded irq requested with handler=NULL and !ONESHOT for t (irq 7)");
    }

    @Test
    void aSharerWhoseOneshotDiffers_isEbusyCarryingTheKernelsMessage() {
        irqs.request(IRQ).thread((irq, dev) -> IrqResult.HANDLED).flags(IrqFlag.SHARED, IrqFlag.ONESHOT)
                .name("a").dev("A").register();
        KernelException e = assertThrows(KernelException.class, () -> irqs.request(IRQ)
                .handler((irq, dev) -> IrqResult.HANDLED).thread((irq, dev) -> IrqResult.HANDLED)
                .flags(IrqFlag.SHARED).name("b").dev("B").register());
        assertEquals(Errno.EBUSY, e.errno());
        assertTrue(e.getMessage().endsWith("(genirq: Flags mismatch irq 7. 00000080 (b) vs. 00002080 (a))"),
                e.getMessage());
        reports.expect("genirq: Flags mismatch irq 7. 00000080 (b) vs. 00002080 (a)");
        assertEquals(List.of("a"), irqs.actionNames(IRQ));
    }

    @Test
    void aPlainSharer_ofAOneshotLine_joinsIt_asRequestIrqDoes() {
        irqs.request(IRQ).thread((irq, dev) -> IrqResult.HANDLED).flags(IrqFlag.SHARED, IrqFlag.ONESHOT)
                .name("a").dev("A").register();
        irqs.request(IRQ).handler((irq, dev) -> IrqResult.HANDLED).flags(IrqFlag.SHARED).name("b").dev("B")
                .register();
        assertEquals(List.of("a", "b"), irqs.actionNames(IRQ), "no thread: request_irq adds IRQF_COND_ONESHOT");
    }

    @Test
    void aRegistration_freesOnce_andCloseAfterFreeDoesNothing() {
        IrqRegistration r = irqs.request(IRQ).handler((irq, dev) -> IrqResult.HANDLED).name("once").dev("d")
                .register();
        assertEquals(IRQ, r.irq());
        assertEquals("d", r.devId());
        try (r) {
            assertEquals("once", r.name());
        }
        assertTrue(irqs.actionNames(IRQ).isEmpty(), "close freed it");
        assertThrows(IllegalStateException.class, r::free);
        r.close();
        assertTrue(reports.ofKind(KernelEvent.Kind.WARNING).isEmpty(), reports.toString());
    }

    /**
     * {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} of this thread (through reflection, the
     * method looked up once so that the measurement itself allocates little).
     */
    private static long allocatedBytes() throws ReflectiveOperationException {
        if (allocatedBytes == null) {
            allocatedBytes = Class.forName("com.sun.management.ThreadMXBean")
                    .getMethod("getThreadAllocatedBytes", long.class);
        }
        return (long) allocatedBytes.invoke(ManagementFactory.getThreadMXBean(), Thread.currentThread().threadId());
    }

    private static Method allocatedBytes;

    @Test
    void theTypedToIntConversion_allocatesNothing() throws ReflectiveOperationException {
        IrqResult[] results = IrqResult.values();
        IrqResultHandler typed = (irq, dev) -> results[irq & 3];
        IrqHandler asInt = typed.asIrqHandler();
        long sum = 0;
        for (int round = 0; round < 5; round++) { // the last round is measured, after the JIT's warm-up
            long before = allocatedBytes();
            for (int i = 0; i < 200_000; i++) {
                sum += asInt.handle(i, "dev");
            }
            long allocated = allocatedBytes() - before;
            if (round == 4) {
                // One allocation per call would be at least 16 bytes each, 3.2 MB in all; what the JIT or the
                // measurement allocates once stays far below 64 KB.
                assertTrue(allocated < 64 * 1024, "200,000 conversions allocated " + allocated + " bytes");
            }
        }
        assertEquals(5L * 50_000 * (0 + 1 + 2 + 3), sum);
    }
}
