package dev.bottomhalf.blockhound;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.linux.Linux;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;

/**
 * Every blocking JDK call the integration knows, made from every kind of context, in stepped and threaded
 * mode: reported as {@code BUG: sleeping function called from invalid context at <frame>} with the context's
 * fields exactly where the context may not sleep, and not at all where it may.
 */
class SleepInAtomicContextTest {
    static final int LINE = 24;

    @RegisterExtension
    final KernelExtension stepped = KernelExtension.stepped().cpus(1).bindTestThread(0);
    @RegisterExtension
    final KernelExtension threaded = KernelExtension.threaded().cpus(1).bindTestThread(0);

    enum Mode { STEPPED, THREADED }

    /** Where the call is made, and what the count of a context there looks like. */
    enum Where {
        HARDIRQ(true, true, pc -> (pc & ExecutionContext.HARDIRQ_MASK) != 0),
        SOFTIRQ(true, false, pc -> (pc & ExecutionContext.SOFTIRQ_OFFSET) != 0),
        TASKLET(true, false, pc -> (pc & ExecutionContext.SOFTIRQ_OFFSET) != 0),
        TIMER_CALLBACK(true, false, pc -> (pc & ExecutionContext.SOFTIRQ_OFFSET) != 0),
        HRTIMER_CALLBACK(true, true, pc -> (pc & ExecutionContext.HARDIRQ_MASK) != 0), // hard expiry, as the kernel's default
        TASK_WITH_BH_DISABLED(true, false, pc -> pc == ExecutionContext.SOFTIRQ_DISABLE_OFFSET),
        TASK_WITH_IRQS_DISABLED(true, true, pc -> pc == 0),
        TASK_WITH_PREEMPTION_DISABLED(true, false, pc -> pc == ExecutionContext.PREEMPT_OFFSET),
        WORK_ITEM(false, false, pc -> pc == 0),
        THREADED_IRQ_HANDLER(false, false, pc -> pc == 0),
        TASK(false, false, pc -> pc == 0);

        final boolean atomic;
        final boolean irqsDisabled;
        final IntPredicate count;

        Where(boolean atomic, boolean irqsDisabled, IntPredicate count) {
            this.atomic = atomic;
            this.irqsDisabled = irqsDisabled;
            this.count = count;
        }
    }

    enum Call { THREAD_SLEEP, OBJECT_WAIT, PARK_NANOS, CONTENDED_SYNCHRONIZED, SOCKET_READ }

    private Sleepers.SocketPair socket;
    private Sleepers.Contention contention;

    @BeforeAll
    static void installBlockHound() {
        BottomhalfBlockHound.install();
    }

    @BeforeEach
    void clearCalls() {
        Sleepers.calls.clear();
    }

    static Stream<Arguments> cases(boolean atomic) {
        List<Arguments> out = new ArrayList<>();
        for (Mode m : Mode.values()) {
            for (Where w : Where.values()) {
                if (w.atomic == atomic) {
                    for (Call c : Call.values()) {
                        out.add(Arguments.of(m, w, c));
                    }
                }
            }
        }
        return out.stream();
    }

    static Stream<Arguments> atomicCases() {
        return cases(true);
    }

    static Stream<Arguments> processCases() {
        return cases(false);
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("atomicCases")
    void blockingCall_inAtomicContext_isReportedAtItsFrame_withTheContextsFields(Mode mode, Where where, Call call)
            throws Exception {
        KernelExtension kernels = mode == Mode.STEPPED ? stepped : threaded;
        runIn(kernels, mode, where, call);

        assertEquals(1, Sleepers.calls.size(), "the call was made once");
        Sleepers.Call made = Sleepers.calls.get(0);
        assertTrue(made.mayNotSleep(), "the call was made in a context that may not sleep");
        assertTrue(where.count.test(made.preemptCount()), where + " ran with preempt_count "
                + Integer.toHexString(made.preemptCount()));
        assertEquals(where.irqsDisabled, made.irqsDisabled(), "irqs_disabled() of " + where);
        List<KernelEvent> bugs = kernels.reports().matching("BUG: sleeping function called from invalid context");
        assertEquals(1, bugs.size(), () -> "one report: " + bugs);
        assertEquals(made.expectedReport(), bugs.get(0).message());
        assertEquals(KernelEvent.Kind.BUG, bugs.get(0).kind());
        assertTrue(made.frame().startsWith("dev.bottomhalf.blockhound.Sleepers."), made.frame());
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("processCases")
    void blockingCall_inProcessContext_isNotReported(Mode mode, Where where, Call call) throws Exception {
        KernelExtension kernels = mode == Mode.STEPPED ? stepped : threaded;
        runIn(kernels, mode, where, call);

        assertEquals(1, Sleepers.calls.size(), "the call was made once");
        assertTrue(!Sleepers.calls.get(0).mayNotSleep(), "the call was made in a context that may sleep");
        assertTrue(where.count.test(Sleepers.calls.get(0).preemptCount()), where + " ran with preempt_count 0");
        assertEquals(List.of(), kernels.reports().events(), "no report");
    }

    /** Makes {@code call} in {@code where} on CPU 0 of the test's kernel and returns once it has been made. */
    private void runIn(KernelExtension kernels, Mode mode, Where where, Call call) throws Exception {
        Kernel k = kernels.kernel();
        if (call == Call.CONTENDED_SYNCHRONIZED) {
            contention = new Sleepers.Contention().start(); // held before the context runs
        }
        CountDownLatch made = new CountDownLatch(1);
        Runnable body = () -> {
            make(call);
            made.countDown();
        };
        boolean steppedMode = mode == Mode.STEPPED;
        switch (where) {
            case HARDIRQ -> {
                k.irqs().request(LINE, (irq, dev) -> {
                    body.run();
                    return IrqReturn.HANDLED;
                }, Set.of(), "bh-test", "dev");
                interrupt(kernels, k, steppedMode);
            }
            case SOFTIRQ -> {
                k.softirqs().open(SoftirqVector.NET_RX, body::run);
                k.irqs().request(LINE, (irq, dev) -> {
                    k.softirqs().raise(SoftirqVector.NET_RX);
                    return IrqReturn.HANDLED;
                }, Set.of(), "bh-test", "dev");
                interrupt(kernels, k, steppedMode);
            }
            case TASKLET -> {
                k.tasklets().schedule(Tasklet.setup("bh-test", t -> body.run()));
                if (steppedMode) {
                    kernels.stepper().runUntilIdle();
                }
            }
            case TIMER_CALLBACK -> {
                k.timers().mod(TimerList.setup("bh-test", t -> body.run(), 0), k.jiffies() + 1);
                if (steppedMode) {
                    kernels.stepper().runFor(10, TimeUnit.MILLISECONDS);
                }
            }
            case HRTIMER_CALLBACK -> {
                HrTimer t = k.hrtimers().create("bh-test", h -> {
                    body.run();
                    return HrTimer.Restart.NORESTART;
                }, HrTimers.mode(HrTimer.Mode.REL));
                k.hrtimers().start(t, 1_000_000, HrTimers.mode(HrTimer.Mode.REL));
                if (steppedMode) {
                    kernels.stepper().runFor(5, TimeUnit.MILLISECONDS);
                }
            }
            case TASK_WITH_BH_DISABLED -> {
                k.context().localBhDisable();
                body.run();
                k.context().localBhEnable();
            }
            case TASK_WITH_IRQS_DISABLED -> {
                k.context().localIrqDisable();
                body.run();
                k.context().localIrqEnable();
            }
            case TASK_WITH_PREEMPTION_DISABLED -> {
                Linux.preempt_disable();
                body.run();
                Linux.preempt_enable();
            }
            case WORK_ITEM -> {
                k.workqueues().queueOn(0, k.workqueues().systemWq(), new Work("bh-test", w -> body.run()));
                if (steppedMode) {
                    kernels.stepper().runFor(10, TimeUnit.MILLISECONDS);
                }
            }
            case THREADED_IRQ_HANDLER -> {
                k.irqs().requestThreaded(LINE, null, (irq, dev) -> {
                    body.run();
                    return IrqReturn.HANDLED;
                }, Set.of(IrqFlag.ONESHOT), "bh-test", "dev");
                interrupt(kernels, k, steppedMode);
                if (steppedMode) {
                    kernels.stepper().runUntilIdle();
                }
            }
            case TASK -> body.run();
        }
        assertTrue(made.await(10, TimeUnit.SECONDS), where + " ran the call");
    }

    private static void interrupt(KernelExtension kernels, Kernel k, boolean steppedMode) {
        k.irqs().setAffinity(LINE, 0);
        k.irqs().assertIrq(LINE);
        if (steppedMode) {
            kernels.stepper().hardirq(0);
        }
    }

    private void make(Call call) {
        switch (call) {
            case THREAD_SLEEP -> Sleepers.threadSleep();
            case OBJECT_WAIT -> Sleepers.objectWait();
            case PARK_NANOS -> Sleepers.parkNanos();
            case CONTENDED_SYNCHRONIZED -> Sleepers.contendedMonitor(contention);
            case SOCKET_READ -> {
                try {
                    Sleepers.socketRead(socket.in());
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        }
    }

    @BeforeEach
    void openSocket() throws IOException {
        socket = new Sleepers.SocketPair();
    }

    @AfterEach
    void closeSocketAndMonitor() throws IOException, InterruptedException {
        socket.close();
        if (contention != null) {
            contention.close();
        }
    }
}
