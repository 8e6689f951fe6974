package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.TimerList;

/**
 * An interrupt that becomes pending for CPU 0 while {@code cpu/0} serves a softirq pass or a tasklet batch
 * is taken at the next handler boundary ({@link Cpu#serviceInterruptsBetweenHandlers}), for every kind of
 * interrupt source: a line asserted from another thread, a cross-CPU call from CPU 1, a hard hrtimer and
 * a timer-wheel tick, each armed in the middle of the batch and made due by the clock one step later.
 *
 * <p>Each batch has four steps, {@code s0} to {@code s3}: four softirq handlers (NET_TX, NET_RX, BLOCK,
 * IRQ_POLL, raised by one hard IRQ of CPU 0) or four tasklets (scheduled by one hard IRQ of CPU 0). Step
 * {@code s0} lets a first boundary poll the sources, so what follows depends on the signals and
 * deadlines of the interrupt hint, not on the hard IRQ that started the batch. Stepped mode.
 */
class InterruptsBetweenHandlersTest {
    private static final int START_IRQ = 1;
    private static final int DEVICE_IRQ = 6;
    private static final SoftirqVector[] STEP_VECTORS = {
            SoftirqVector.NET_TX, SoftirqVector.NET_RX, SoftirqVector.BLOCK, SoftirqVector.IRQ_POLL};

    /** Where the four steps run. */
    enum Batch { SOFTIRQ_HANDLERS, TASKLETS }

    private final List<String> log = new ArrayList<>();
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;
    private Stepper stepper;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        kernel.bindCurrentThread(0);
    }

    private String where() {
        ExecutionContext c = kernel.context();
        return c.name() + (c.inHardirq() ? " hardirq" : "") + (c.inServingSoftirq() ? " serving" : "");
    }

    /**
     * Runs steps {@code s0..s3} on {@code cpu/0} as {@code batch}: step {@code i} logs {@code "s<i>"} and
     * then runs {@code actions[i]} (null: nothing).
     */
    private void runBatch(Batch batch, Runnable... actions) {
        Runnable[] steps = new Runnable[STEP_VECTORS.length];
        for (int i = 0; i < steps.length; i++) {
            int n = i;
            steps[i] = () -> {
                log.add("s" + n + "@" + where());
                if (n < actions.length && actions[n] != null) {
                    actions[n].run();
                }
            };
        }
        if (batch == Batch.SOFTIRQ_HANDLERS) {
            for (int i = 0; i < steps.length; i++) {
                Runnable step = steps[i];
                kernel.softirqs().open(STEP_VECTORS[i], step::run);
            }
        }
        Tasklet[] tasklets = new Tasklet[steps.length];
        for (int i = 0; i < steps.length; i++) {
            Runnable step = steps[i];
            tasklets[i] = Tasklet.setup("s" + i, t -> step.run());
        }
        kernel.irqs().request(START_IRQ, (irq, dev) -> {
            for (int i = 0; i < steps.length; i++) {
                if (batch == Batch.SOFTIRQ_HANDLERS) {
                    kernel.softirqs().raise(STEP_VECTORS[i]);
                } else {
                    kernel.tasklets().schedule(tasklets[i]);
                }
            }
            return IrqReturn.HANDLED;
        }, Set.of(), "start", "start");
        kernel.irqs().setAffinity(START_IRQ, 0);
        kernel.irqs().assertIrq(START_IRQ);
        stepper.hardirq(0);
    }

    /** Runs {@code body} on a fresh thread and waits for it: a device or another CPU acting meanwhile. */
    private static void onAnotherThread(Runnable body) {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "another-thread");
        thread.start();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        if (failure.get() != null) {
            throw new AssertionError("the other thread failed", failure.get());
        }
    }

    private static String step(int n) {
        return "s" + n + "@cpu/0 serving";
    }

    @ParameterizedTest
    @EnumSource(Batch.class)
    void lineAssertedByAnotherThread_isTakenAtTheNextBoundary(Batch batch) {
        kernel.irqs().request(DEVICE_IRQ, (irq, dev) -> {
            log.add("irq6@" + where());
            return IrqReturn.HANDLED;
        }, Set.of(), "device", "device");
        kernel.irqs().setAffinity(DEVICE_IRQ, 0);

        runBatch(batch, null, () -> onAnotherThread(() -> kernel.irqs().assertIrq(DEVICE_IRQ)));

        assertEquals(List.of(step(0), step(1), "irq6@cpu/0 hardirq serving", step(2), step(3)), log);
        assertEquals(1, kernel.irqs().count(DEVICE_IRQ, 0));
    }

    @ParameterizedTest
    @EnumSource(Batch.class)
    void callQueuedFromCpu1_isTakenAtTheNextBoundary(Batch batch) {
        Runnable call = () -> log.add("call@" + where());

        runBatch(batch, null, () -> onAnotherThread(() -> {
            kernel.bindCurrentThread(1);
            try {
                kernel.smpCallFunctionSingle(0, call, false);
            } finally {
                kernel.detachCurrentThread();
            }
        }));

        assertEquals(List.of(step(0), step(1), "call@cpu/0 hardirq serving", step(2), step(3)), log);
        assertEquals(1, Internals.machine(kernel).cpu(0).functionCallInterrupts());
    }

    @ParameterizedTest
    @EnumSource(Batch.class)
    void hardHrtimerArmedInTheBatch_firesAtTheBoundaryAfterTheClockPassesItsExpiry(Batch batch) {
        HrTimer timer = kernel.hrtimers().create("h", t -> {
            log.add("hrtimer@" + where());
            return HrTimer.Restart.NORESTART;
        }, EnumSet.of(HrTimer.Mode.HARD));

        runBatch(batch,
                null,
                () -> kernel.hrtimers().start(timer, 1_000, EnumSet.of(HrTimer.Mode.REL)),
                () -> stepper.clock().advanceNanos(1_000));

        assertEquals(List.of(step(0), step(1), step(2), "hrtimer@cpu/0 hardirq serving", step(3)), log);
        assertEquals(1, kernel.hrtimers().interrupts(0));
    }

    @ParameterizedTest
    @EnumSource(Batch.class)
    void hardHrtimerArmedBeforeTheBatch_firesAtTheBoundaryAfterTheClockPassesItsExpiry(Batch batch) {
        HrTimer timer = kernel.hrtimers().create("h", t -> {
            log.add("hrtimer@" + where());
            return HrTimer.Restart.NORESTART;
        }, EnumSet.of(HrTimer.Mode.HARD));
        kernel.hrtimers().start(timer, 1_000, EnumSet.of(HrTimer.Mode.REL));

        runBatch(batch, null, () -> stepper.clock().advanceNanos(1_000));

        assertEquals(List.of(step(0), step(1), "hrtimer@cpu/0 hardirq serving", step(2), step(3)), log);
    }

    @ParameterizedTest
    @EnumSource(Batch.class)
    void wheelTimerArmedInTheBatch_itsTickIsTakenAtTheBoundaryAfterItsJiffy(Batch batch) {
        TimerList timer = TimerList.setup("w", t -> log.add("timer@" + where()), 0);

        runBatch(batch,
                null,
                () -> kernel.timers().modAfter(timer, 1),
                () -> stepper.advanceJiffies(2),      // the wheel's bucket for jiffies + 1 is due one jiffy later
                () -> log.add("ticks before s3: " + kernel.timers().localTimerInterrupts(0)));

        assertEquals(List.of(step(0), step(1), step(2), step(3), "ticks before s3: 1", "timer@cpu/0 serving"), log,
                "the tick was taken between s2 and s3; its TIMER_SOFTIRQ runs in the next pass");
    }
}
