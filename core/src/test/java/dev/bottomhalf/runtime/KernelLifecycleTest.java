package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.Internals;
import dev.bottomhalf.internal.runtime.KernelThread;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Kernel lifecycle and cross-CPU calls: {@code close()} stops and joins every runtime thread and is
 * idempotent; two kernels live side by side in one JVM; {@code smp_call_function_single}
 * (docs/subsystems/irq.md, "Cross-CPU calls") in threaded and stepped mode. Threaded waits use latches with generous timeouts.
 */
class KernelLifecycleTest {
    private static final long TIMEOUT_S = 10;
    private static final String RUNTIME_NAME = "cpu/\\d+|ksoftirqd/\\d+|irq/\\d+-.+";

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /** Live threads with a runtime thread's name ({@code cpu/N}, {@code ksoftirqd/N}, {@code irq/L-name}). */
    private static Set<Thread> liveRuntimeNamed() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().matches(RUNTIME_NAME))
                .collect(Collectors.toSet());
    }

    /** The live runtime threads of {@code k}'s machine. */
    private static Set<KernelThread> threadsOf(Kernel k) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t instanceof KernelThread kt && kt.isAlive() && kt.context().machine() == Internals.machine(k))
                .map(t -> (KernelThread) t)
                .collect(Collectors.toSet());
    }

    private static Set<String> names(Set<? extends Thread> threads) {
        return threads.stream().map(Thread::getName).collect(Collectors.toCollection(TreeSet::new));
    }

    private static void await(CountDownLatch latch, String what) throws InterruptedException {
        assertTrue(latch.await(TIMEOUT_S, TimeUnit.SECONDS), "timed out waiting for " + what);
    }

    // ------------------------------------------------------------------------------------------
    // close()
    // ------------------------------------------------------------------------------------------

    @Test
    void close_stopsAndJoinsEveryRuntimeThread_cpuKsoftirqdAndIrqThreads() {
        Set<Thread> before = liveRuntimeNamed();   // other kernels' threads, if any leaked: not ours to judge
        Kernel k = kernels.kernel();
        KernelReports rec = kernels.reports();
        k.irqs().requestThreaded(20, null, (irq, dev) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.ONESHOT), "sensor", "s");
        Set<KernelThread> ours = threadsOf(k);
        assertEquals(new TreeSet<>(List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1", "irq/20-sensor")),
                names(ours));
        assertTrue(ours.stream().allMatch(Thread::isDaemon), "runtime threads never keep the JVM alive");

        k.close();

        for (KernelThread t : ours) {
            assertFalse(t.isAlive(), t.getName() + " was joined by close()");
        }
        assertEquals(Set.of(), threadsOf(k));
        Set<Thread> after = liveRuntimeNamed();
        after.removeAll(before);
        assertEquals(Set.of(), names(after), "no live thread named cpu/N, ksoftirqd/N or irq/L-name remains");
        assertTrue(k.isTerminated());
        assertEquals(List.of(), rec.events(), "every thread stopped in time: " + rec);
    }

    @Test
    void close_stopsThreadsThatAreBusy_aSelfReraisingSoftirqAndAFloodedIrqLine() throws Exception {
        Kernel k = kernels.kernel();
        KernelReports rec = kernels.reports();
        CountDownLatch busy = new CountDownLatch(100);
        k.softirqs().open(SoftirqVector.NET_RX, () -> {
            busy.countDown();
            k.softirqs().raise(SoftirqVector.NET_RX);        // forever: ksoftirqd/0 never idles
        });
        k.irqs().request(9, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "flood", "f");
        k.irqs().setAffinity(9, 1);
        k.bindCurrentThread(0);
        k.softirqs().raise(SoftirqVector.NET_RX);
        AtomicBoolean stop = new AtomicBoolean();
        Thread device = Thread.ofPlatform().name("flooding-device").start(() -> {
            try {
                while (!stop.get()) {
                    k.irqs().assertIrq(9);
                }
            } catch (IllegalStateException closed) {
                // the kernel was closed under the device: its next assert fails, as intended
            }
        });
        await(busy, "ksoftirqd/0 spinning on NET_RX");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (k.irqs().count(9, 1) == 0) {                  // and cpu/1 busy with the flood (the device
            assertTrue(System.nanoTime() < deadline, "cpu/1 never took IRQ 9"); // thread may start late)
            Thread.onSpinWait();
        }
        Set<KernelThread> ours = threadsOf(k);
        // NET_RX re-raises itself forever, so the accepted work never drains: the bounded close gives up on it.
        dev.bottomhalf.CloseReport report = k.close(java.time.Duration.ofMillis(200));
        stop.set(true);
        device.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(device.isAlive(), "the device's assertIrq fails once the kernel is closed");
        for (KernelThread t : ours) {
            assertFalse(t.isAlive(), t.getName());
        }
        // The last raise either stayed pending (dropped and reported) or came after the close and was refused.
        assertTrue(report.droppedSoftirqs().contains("NET_RX on CPU 0")
                || !rec.matching("threw java.lang.IllegalStateException: kernel is closed").isEmpty(), rec.toString());
        assertEquals(List.of(), rec.ofKind(KernelEvent.Kind.WARNING), rec.toString());
    }

    @Test
    void close_isIdempotent_andAClosedKernelStartsNoNewThreads() {
        Kernel k = kernels.kernel();
        KernelReports rec = kernels.reports();
        k.close();
        k.close();
        k.close();
        assertTrue(k.isTerminated());
        assertEquals(Set.of(), threadsOf(k));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> k.irqs().requestThreaded(21, null,
                (irq, dev) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.ONESHOT), "late", "l"));
        assertEquals("kernel is closed", e.getMessage());
        assertEquals(Set.of(), threadsOf(k), "no irq/21-late thread");
        assertEquals(List.of(), rec.events());
    }

    @Test
    void steppedKernel_startsNoThreads_andClosesIdempotently() {
        Kernel k = kernels.boot(b -> b.stepped());
        k.irqs().requestThreaded(20, null, (irq, dev) -> IrqReturn.HANDLED, EnumSet.of(IrqFlag.ONESHOT), "t", "t");
        assertEquals(Set.of(), threadsOf(k));
        assertEquals(List.of("cpu/0", "cpu/1", "ksoftirqd/0", "ksoftirqd/1", "irq/20-t"),
                Internals.machine(k).agents().stream().map(h -> h.agent().name()).toList());
        k.close();
        k.close();
        assertTrue(k.isTerminated());
        assertEquals(List.of(), Internals.machine(k).agents());
    }

    // ------------------------------------------------------------------------------------------
    // Two kernels
    // ------------------------------------------------------------------------------------------

    @Test
    void twoKernels_inOneJvm_keepTheirCountsThreadsAndReportsApart() throws Exception {
        Kernel a = kernels.kernel();
        Kernel b = kernels.boot(x -> { });
        KernelReports recA = kernels.reports(a);
        KernelReports recB = kernels.reports(b);
        CountDownLatch doneA = new CountDownLatch(1);
        CountDownLatch firstB = new CountDownLatch(1);
        CountDownLatch doneB = new CountDownLatch(2);
        AtomicReference<Kernel> ranInA = new AtomicReference<>();
        a.softirqs().open(SoftirqVector.NET_RX, () -> {
            ranInA.set(Kernel.current());
            doneA.countDown();
        });
        b.softirqs().open(SoftirqVector.NET_RX, () -> {
            firstB.countDown();
            doneB.countDown();
        });
        a.irqs().request(9, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "a-nic", "a");
        b.irqs().request(9, (irq, dev) -> {
            b.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "b-nic", "b");
        a.irqs().setAffinity(9, 0);
        b.irqs().setAffinity(9, 1);

        a.bindCurrentThread(0);
        assertSame(a, Kernel.current());
        a.softirqs().raise(SoftirqVector.NET_RX);
        b.bindCurrentThread(1);
        assertSame(b, Kernel.current(), "the facade follows the thread's latest binding");
        b.softirqs().raise(SoftirqVector.NET_RX);
        await(firstB, "B's NET_RX from the task");
        b.irqs().assertIrq(9);                        // raised again only after the first run began
        await(doneA, "A's NET_RX");
        await(doneB, "B's two NET_RX runs");
        assertSame(a, ranInA.get(), "A's ksoftirqd resolves to A");

        assertEquals(List.of(1L, 0L), List.of(a.softirqs().count(0, SoftirqVector.NET_RX),
                a.softirqs().count(1, SoftirqVector.NET_RX)));
        assertEquals(0, b.softirqs().count(0, SoftirqVector.NET_RX));
        assertEquals(2, b.softirqs().count(1, SoftirqVector.NET_RX));
        assertEquals(0, a.irqs().count(9, 0) + a.irqs().count(9, 1), "B's interrupt is not A's");
        assertEquals(1, b.irqs().count(9, 1));
        assertTrue(a.proc().interrupts().contains("a-nic") && !a.proc().interrupts().contains("b-nic"));

        Set<KernelThread> threadsA = threadsOf(a);
        Set<KernelThread> threadsB = threadsOf(b);
        assertEquals(names(threadsA), names(threadsB), "both have cpu/0, cpu/1, ksoftirqd/0, ksoftirqd/1");
        assertTrue(threadsA.stream().noneMatch(threadsB::contains));

        b.context().localBhEnable();                  // a misuse on B only
        assertEquals(1, recB.ofKind(KernelEvent.Kind.WARNING).size());
        assertEquals(List.of(), recA.events());
        assertEquals(0, a.reports().count(KernelEvent.Kind.WARNING));

        a.close();
        CountDownLatch stillB = new CountDownLatch(1);
        b.softirqs().open(SoftirqVector.TIMER, stillB::countDown);
        b.softirqs().raise(SoftirqVector.TIMER);
        await(stillB, "B after A closed");
        assertEquals(Set.of(), threadsOf(a));
        assertEquals(names(threadsB), names(threadsOf(b)), "closing A left B running");
    }

    @Test
    void aThreadInAtomicContextOnOneKernel_cannotEnterAnother() {
        Kernel a = kernels.kernel();
        Kernel b = kernels.boot(x -> { });
        ExecutionContext inA = a.bindCurrentThread(0);
        inA.localBhDisable();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.bindCurrentThread(0));
        assertTrue(e.getMessage().contains("is in atomic context on another kernel"), e.getMessage());
        inA.localBhEnable();
        ExecutionContext inB = b.bindCurrentThread(0);
        assertNotSame(inA, inB);
        assertSame(Internals.machine(b), inB.machine());
    }

    // ------------------------------------------------------------------------------------------
    // smp_call_function_single (docs/subsystems/irq.md, "Cross-CPU calls")
    // ------------------------------------------------------------------------------------------

    private static String where(Kernel k, Object info) {
        ExecutionContext c = k.context();
        return String.format("%s on %s (ctx %s, cpu %d) pc=%08x hardirq=%b irqsOff=%b", info,
                Thread.currentThread().getName(), c.name(), c.cpu().id(), c.preemptCount(), c.inHardirq(),
                c.irqsDisabled());
    }

    @Test
    void smpCallFunctionSingle_threaded_runsOnTheTargetCpuThreadInHardirqWithIrqsDisabled() throws Exception {
        Kernel k = kernels.kernel();
        k.bindCurrentThread(0);
        AtomicReference<String> seen = new AtomicReference<>();
        AtomicBoolean finished = new AtomicBoolean();
        int rc = Linux.smp_call_function_single(1, (String info) -> {
            seen.set(where(k, info));
            finished.set(true);
        }, "hello", true);
        assertEquals(0, rc);
        assertTrue(finished.get(), "wait=1: returns only after func finished");
        assertEquals("hello on cpu/1 (ctx cpu/1, cpu 1) pc=00010000 hardirq=true irqsOff=true", seen.get());
        assertEquals(1, Internals.machine(k).cpu(1).functionCallInterrupts());
        assertEquals(0, Internals.machine(k).cpu(0).functionCallInterrupts());

        CountDownLatch async = new CountDownLatch(1);
        AtomicReference<String> seenAsync = new AtomicReference<>();
        assertEquals(0, Linux.smp_call_function_single(1, (Integer info) -> {
            seenAsync.set(where(k, info));
            async.countDown();
        }, 42, false));
        await(async, "the wait=0 call");
        assertEquals("42 on cpu/1 (ctx cpu/1, cpu 1) pc=00010000 hardirq=true irqsOff=true", seenAsync.get());
        // the counter is bumped before func runs, so it is exact once the latch opened
        assertEquals(2, Internals.machine(k).cpu(1).functionCallInterrupts());
        assertEquals(""
                + "           CPU0       CPU1       \n"
                + "LOC:          0          0   Local timer interrupts\n"
                + "CAL:          0          2   Function call interrupts\n", k.proc().interrupts());
    }

    @Test
    void smpCallFunctionSingle_threaded_aSoftirqRaisedByTheCallRunsAtItsIrqExitOnTheTargetCpu() throws Exception {
        Kernel k = kernels.kernel();
        k.bindCurrentThread(0);
        CountDownLatch ran = new CountDownLatch(1);
        AtomicReference<String> seen = new AtomicReference<>();
        k.softirqs().open(SoftirqVector.SCHED, () -> {
            seen.set(Thread.currentThread().getName() + " serving=" + k.context().inServingSoftirq());
            ran.countDown();
        });
        k.smpCallFunctionSingle(1, () -> k.softirqs().raise(SoftirqVector.SCHED), true);
        await(ran, "SCHED");
        assertEquals("cpu/1 serving=true", seen.get());
        assertEquals(1, k.softirqs().count(1, SoftirqVector.SCHED));
    }

    @Test
    void smpCallFunctionSingle_toTheLocalCpu_runsInlineWithIrqsDisabled_andIsNoIpi() {
        Kernel k = kernels.kernel();
        ExecutionContext me = k.bindCurrentThread(1);
        String name = Thread.currentThread().getName();
        AtomicReference<String> seen = new AtomicReference<>();
        assertEquals(0, Linux.smp_call_function_single(1, (String info) -> seen.set(where(k, info)), "local", true));
        assertEquals("local on " + name + " (ctx " + name + ", cpu 1) pc=00000000 hardirq=false irqsOff=true",
                seen.get(), "inline on the caller, IRQs disabled, not a hard IRQ");
        assertFalse(me.irqsDisabled(), "the caller's IRQ state is restored");
        assertEquals(0, Internals.machine(k).cpu(1).functionCallInterrupts(), "no function-call interrupt");
        assertTrue(k.proc().interrupts().contains("CAL:          0          0   Function call interrupts"));
    }

    @Test
    void smpCallFunctionSingle_toAnInvalidCpu_isEnxio_andNothingRuns() {
        Kernel k = kernels.kernel();
        k.bindCurrentThread(0);
        AtomicInteger runs = new AtomicInteger();
        assertEquals(-6, Linux.smp_call_function_single(2, (Object o) -> runs.incrementAndGet(), null, true));
        assertEquals(-6, Linux.smp_call_function_single(-1, (Object o) -> runs.incrementAndGet(), null, false));
        KernelException e = assertThrows(KernelException.class,
                () -> k.smpCallFunctionSingle(64, runs::incrementAndGet, true));
        assertEquals(Errno.ENXIO, e.errno());
        assertEquals(0, runs.get());
        assertEquals(0, Internals.machine(k).cpu(0).functionCallInterrupts() + Internals.machine(k).cpu(1).functionCallInterrupts());
    }

    @Test
    void smpCallFunctionSingle_stepped_waitDrivesTheTargetCpu_noWaitQueuesItForTheStepper() {
        Kernel k = kernels.boot(b -> b.stepped());
        KernelReports rec = kernels.reports(k);
        Stepper stepper = k.stepper();
        ExecutionContext me = k.bindCurrentThread(0);
        String name = Thread.currentThread().getName();
        AtomicReference<String> seen = new AtomicReference<>();

        assertEquals(0, Linux.smp_call_function_single(1, (String info) -> seen.set(where(k, info)), "sync", true));
        assertEquals("sync on " + name + " (ctx cpu/1, cpu 1) pc=00010000 hardirq=true irqsOff=true", seen.get(),
                "the stepping thread plays cpu/1");
        assertEquals(1, Internals.machine(k).cpu(1).functionCallInterrupts());

        seen.set(null);
        k.smpCallFunctionSingle(1, () -> seen.set(where(k, "async")), false);
        assertEquals(null, seen.get(), "wait=0: queued on CPU 1");
        assertTrue(stepper.hasWork("cpu/1"));
        assertFalse(stepper.hasWork("cpu/0"));
        assertEquals(1, stepper.hardirq(1));
        assertEquals("async on " + name + " (ctx cpu/1, cpu 1) pc=00010000 hardirq=true irqsOff=true", seen.get());
        assertEquals(2, Internals.machine(k).cpu(1).functionCallInterrupts());

        k.smpCallFunctionSingle(0, () -> seen.set(where(k, "local")), true);
        assertEquals("local on " + name + " (ctx " + name + ", cpu 0) pc=00000000 hardirq=false irqsOff=true",
                seen.get());
        assertEquals(0, Internals.machine(k).cpu(0).functionCallInterrupts());
        assertEquals(List.of(), rec.events());

        rec.expect("smp_call_function_single() called with IRQs disabled");
        me.localIrqDisable();
        k.smpCallFunctionSingle(1, () -> { }, true);
        k.smpCallFunctionSingle(1, () -> { }, true);
        me.localIrqEnable();
        assertEquals(List.of("smp_call_function_single() called with IRQs disabled "
                        + "(WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled()))"),
                rec.events().stream().map(KernelEvent::message).toList());
        assertEquals(4, Internals.machine(k).cpu(1).functionCallInterrupts());
        assertTrue(k.proc().interrupts().endsWith("CAL:          0          4   Function call interrupts\n"));
    }

    @Test
    void smpCallFunctionSingle_thatThrows_isAnOops_andTheTargetCpuGoesOn() throws Exception {
        Kernel k = kernels.kernel();
        KernelReports rec = kernels.reports();
        k.bindCurrentThread(0);
        k.smpCallFunctionSingle(1, () -> {
            throw new IllegalStateException("ipi failed");
        }, true);
        AtomicReference<String> after = new AtomicReference<>();
        k.smpCallFunctionSingle(1, () -> after.set(Thread.currentThread().getName()), true);
        assertEquals("cpu/1", after.get());
        assertEquals(1, k.reports().count(KernelEvent.Kind.OOPS));
        KernelEvent oops = rec.ofKind(KernelEvent.Kind.OOPS).get(0);
        assertTrue(oops.message().startsWith("Oops: smp_call_function "), oops.message());
        assertTrue(oops.message().endsWith(" threw java.lang.IllegalStateException: ipi failed"), oops.message());
        assertEquals("cpu/1", oops.thread());
        assertEquals("hardirq", oops.context());
    }
}
