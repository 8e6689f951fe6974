package dev.bottomhalf;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import static dev.bottomhalf.Faults.TIMEOUT_S;
import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.bottomhalf.Faults.ReportWaiter;
import dev.bottomhalf.Faults.Site;
import dev.bottomhalf.Faults.Where;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.KernelPanic;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Fatal errors in handlers: an {@link OutOfMemoryError} thrown by a handler in any context panics the kernel
 * (the oops, then {@code Kernel panic - not syncing: Fatal exception in interrupt} — or {@code Fatal exception}
 * in process context), after which every entry point fails with {@code kernel panicked: <reason>}, the runtime
 * threads end and {@code close()} still works; an {@link AssertionError} or a {@link StackOverflowError} is an
 * oops the kernel survives. Stepped tests drive the handler on the test thread, so the {@link KernelPanic}
 * surfaces there; threaded tests wait for the reports with generous timeouts.
 */
@Timeout(value = 120)
class FatalErrorTest {
    private final ReportWaiter waiter = new ReportWaiter();

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);

    private enum Mode { STEPPED, THREADED }

    static Stream<Arguments> everyContextInBothModes() {
        return Stream.of(Mode.values()).flatMap(m -> Stream.of(Where.values()).map(w -> Arguments.of(m, w)));
    }

    private Kernel boot(Mode mode) {
        if (mode == Mode.STEPPED) {
            return kernels.boot(b -> b.reporter(waiter));
        }
        return kernels.bootThreaded(b -> b.reporter(waiter));
    }

    // ------------------------------------------------------------------------------------------
    // OutOfMemoryError: the kernel panics
    // ------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("everyContextInBothModes")
    void outOfMemoryError_inAHandler_oopsesThenPanics_andEveryLaterCallFails(Mode mode, Where where) throws Exception {
        Kernel k = boot(mode);
        KernelReports reports = kernels.reports(k);
        OutOfMemoryError oom = new OutOfMemoryError("Java heap space (thrown by the test)");
        AtomicInteger runs = new AtomicInteger();
        Site site = Site.install(k, where, () -> {
            runs.incrementAndGet();
            throw oom;
        });
        site.fire();
        if (mode == Mode.STEPPED) {
            KernelPanic panic = assertThrows(KernelPanic.class, () -> k.stepper().runFor(10, TimeUnit.MILLISECONDS),
                    "the panic surfaces on the thread that stepped the handler");
            assertEquals("Kernel panic - not syncing: " + where.reason(), panic.getMessage());
            assertEquals(where.reason(), panic.reason());
            assertSame(oom, panic.getCause());
        } else {
            waiter.await("Kernel panic - not syncing");
        }
        assertEquals(1, runs.get());

        List<KernelEvent> oopses = reports.ofKind(KernelEvent.Kind.OOPS);
        assertEquals(1, oopses.size(), reports.toString());
        KernelEvent oops = oopses.get(0);
        assertEquals(where.oops(oom), oops.message());
        assertSame(oom, oops.cause());
        assertEquals(where.context, oops.context());
        if (where.thread != null) {
            assertTrue(oops.thread().startsWith(where.thread), oops.thread());
        }
        List<KernelEvent> emerg = reports.ofKind(KernelEvent.Kind.EMERG);
        assertEquals(1, emerg.size(), reports.toString());
        assertEquals("Kernel panic - not syncing: " + where.reason(), emerg.get(0).message());
        assertSame(oom, emerg.get(0).cause());
        List<KernelEvent> all = reports.events();
        assertTrue(all.indexOf(oops) < all.indexOf(emerg.get(0)), "the oops comes before the panic: " + all);
        assertTrue(k.isPanicked());

        String refusal = "kernel panicked: " + where.reason();
        assertRefused(refusal, oom, () -> site.fire());
        assertRefused(refusal, oom, () -> k.workqueues().schedule(new Work("late", w -> { })));
        assertRefused(refusal, oom, () -> k.timers().msleep(1));
        assertRefused(refusal, oom, Kernel::current);
        assertRefused(refusal, oom, () -> raise_softirq(NET_RX_SOFTIRQ));

        if (mode == Mode.THREADED) {
            assertEquals(List.of(), Faults.awaitEnded(KernelExtension.runtimeThreads(k), 10),
                    "runtime threads end when the kernel panics, before any close");
        }
        k.close();
        CloseReport report = k.close(Duration.ZERO); // a second close returns the first one's report
        assertTrue(report.panicked(), report.toString());
        assertEquals(List.of(), report.threadsNotStopped(), report.toString());
        assertEquals(List.of(), KernelExtension.runtimeThreads(k), "no runtime thread outlives close()");
        assertEquals(1, runs.get(), "the handler never ran again");
    }

    private static void assertRefused(String message, Throwable error, Executable call) {
        IllegalStateException e = assertThrows(IllegalStateException.class, call);
        assertEquals(message, e.getMessage());
        KernelPanic panic = assertInstanceOf(KernelPanic.class, e.getCause(), "the refusal is caused by the panic");
        assertSame(error, panic.getCause());
    }

    // ------------------------------------------------------------------------------------------
    // AssertionError, StackOverflowError: an oops, and the kernel goes on
    // ------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("everyContextInBothModes")
    void assertionError_inAHandler_isAnOops_andTheNextRunHappens(Mode mode, Where where) throws Exception {
        AssertionError thrown = new AssertionError("invariant broken (thrown by the test)");
        survives(mode, where, () -> {
            throw thrown;
        }, where.oops(thrown));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("everyContextInBothModes")
    void stackOverflowError_inAHandler_isAnOops_andTheNextRunHappens(Mode mode, Where where) throws Exception {
        survives(mode, where, FatalErrorTest::recurse, where.oops(new StackOverflowError()));
    }

    /** Written by {@link #recurse()} so that each frame does something. */
    private static int depth;

    /** Recurses until the thread's stack is exhausted: a real {@link StackOverflowError}, deep in the handler. */
    private static void recurse() {
        depth++;
        recurse();
    }

    /** The handler runs {@code firstRun} the first time, then returns normally: both runs happen, one oops. */
    private void survives(Mode mode, Where where, Runnable firstRun, String oopsText) throws Exception {
        Kernel k = boot(mode);
        KernelReports reports = kernels.reports(k);
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch second = new CountDownLatch(1);
        Site site = Site.install(k, where, () -> {
            if (runs.incrementAndGet() == 1) {
                firstRun.run();
            }
            second.countDown();
        });
        site.fire();
        settle(k, mode, () -> runs.get() >= 1);
        waitForOops(mode, oopsText);
        site.fire();
        settle(k, mode, () -> second.getCount() == 0);
        assertTrue(second.await(TIMEOUT_S, TimeUnit.SECONDS), "the handler ran again after its oops");
        assertEquals(2, runs.get());
        List<KernelEvent> oopses = reports.ofKind(KernelEvent.Kind.OOPS);
        assertEquals(1, oopses.size(), reports.toString());
        assertEquals(oopsText, oopses.get(0).message());
        assertEquals(where.context, oopses.get(0).context());
        assertEquals(List.of(), reports.ofKind(KernelEvent.Kind.EMERG));
        assertFalse(k.isPanicked());
        CloseReport report = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertFalse(report.panicked());
        assertTrue(report.drained(), report.toString());
    }

    private void waitForOops(Mode mode, String text) throws InterruptedException {
        if (mode == Mode.THREADED) {
            waiter.await(text);
        }
    }

    /**
     * Stepped: lets simulated time pass until {@code done} holds, 10 ms at most (every kind of handler runs
     * within that). Threaded: nothing to do, the runtime threads run the handler.
     */
    private static void settle(Kernel k, Mode mode, BooleanSupplier done) {
        if (mode == Mode.STEPPED) {
            k.stepper().runUntil(done, 10, TimeUnit.MILLISECONDS);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Every entry point of a panicked kernel; waits in progress
    // ------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Mode.class)
    void afterAPanic_everyEntryPoint_failsWithKernelPanicked_andCloseStillWorks(Mode mode) throws Exception {
        Kernel k = boot(mode);
        Tasklet tasklet = Tasklet.setup("t", t -> { });
        TimerList timer = TimerList.setup("timer", t -> { }, 0);
        Work work = new Work("w", w -> { });
        DelayedWork delayed = new DelayedWork("dw", w -> { });
        Workqueue wq = k.workqueues().alloc("wq", 0, 0);
        HrTimer hrtimer = k.hrtimers().create("hr", h -> HrTimer.Restart.NORESTART, HrTimers.mode(HrTimer.Mode.REL));
        k.irqs().request(7, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "dev7", "d7");
        k.softirqs().open(SoftirqVector.NET_RX, () -> { });
        OutOfMemoryError oom = new OutOfMemoryError("thrown by the test");
        Site.install(k, Where.HARDIRQ, () -> {
            throw oom;
        }).fire();
        if (mode == Mode.STEPPED) {
            assertThrows(KernelPanic.class, () -> k.stepper().hardirq(1));
        } else {
            waiter.await("Kernel panic - not syncing: Fatal exception in interrupt");
        }
        kernels.reports(k).expect("Oops: irq 9 handler fault-dev threw").expect("Kernel panic - not syncing");

        List<Executable> failures = new ArrayList<>();
        List<String> names = new ArrayList<>();
        List<Executable> calls = new ArrayList<>();
        // The Java API
        add(names, calls, "Kernel.bindCurrentThread", () -> k.bindCurrentThread(1));
        add(names, calls, "Kernel.context", k::context);
        add(names, calls, "Kernel.smpCallFunctionSingle", () -> k.smpCallFunctionSingle(1, () -> { }, true));
        add(names, calls, "irqs.assertIrq", () -> k.irqs().assertIrq(7));
        add(names, calls, "irqs.request", () -> k.irqs().request(8, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "late", "l"));
        add(names, calls, "irqs.free", () -> k.irqs().free(7, "d7"));
        add(names, calls, "irqs.disable", () -> k.irqs().disable(7));
        add(names, calls, "irqs.disableNosync", () -> k.irqs().disableNosync(7));
        add(names, calls, "irqs.enable", () -> k.irqs().enable(7));
        add(names, calls, "irqs.synchronize", () -> k.irqs().synchronize(7));
        add(names, calls, "irqs.setAffinity", () -> k.irqs().setAffinity(7, 1));
        add(names, calls, "softirqs.open", () -> k.softirqs().open(SoftirqVector.BLOCK, () -> { }));
        add(names, calls, "softirqs.raise", () -> k.softirqs().raise(SoftirqVector.NET_RX));
        add(names, calls, "softirqs.raiseIrqoff", () -> k.softirqs().raiseIrqoff(SoftirqVector.NET_RX.nr()));
        add(names, calls, "softirqs.doSoftirq", () -> k.softirqs().doSoftirq());
        add(names, calls, "tasklets.schedule", () -> k.tasklets().schedule(tasklet));
        add(names, calls, "tasklets.hiSchedule", () -> k.tasklets().hiSchedule(tasklet));
        add(names, calls, "tasklets.disable", () -> k.tasklets().disable(tasklet));
        add(names, calls, "tasklets.enable", () -> k.tasklets().enable(tasklet));
        add(names, calls, "tasklets.kill", () -> k.tasklets().kill(tasklet));
        add(names, calls, "tasklets.unlockWait", () -> k.tasklets().unlockWait(tasklet));
        add(names, calls, "timers.mod", () -> k.timers().mod(timer, k.jiffies() + 10));
        add(names, calls, "timers.modAfter", () -> k.timers().modAfter(timer, 10));
        add(names, calls, "timers.add", () -> {
            timer.expires(1);
            k.timers().add(timer);
        });
        add(names, calls, "timers.addOn", () -> k.timers().addOn(timer, 1));
        add(names, calls, "timers.delete", () -> k.timers().delete(timer));
        add(names, calls, "timers.deleteSync", () -> k.timers().deleteSync(timer));
        add(names, calls, "timers.shutdownSync", () -> k.timers().shutdownSync(timer));
        add(names, calls, "timers.msleep", () -> k.timers().msleep(10));
        add(names, calls, "timers.msleepInterruptible", () -> k.timers().msleepInterruptible(10));
        add(names, calls, "timers.usleepRange", () -> k.timers().usleepRange(10, 20));
        add(names, calls, "timers.scheduleTimeoutUninterruptible", () -> k.timers().scheduleTimeoutUninterruptible(5));
        add(names, calls, "timers.scheduleTimeoutInterruptible", () -> k.timers().scheduleTimeoutInterruptible(5));
        add(names, calls, "timers.mdelay", () -> k.timers().mdelay(1));
        add(names, calls, "hrtimers.setup", () -> k.hrtimers().setup(new HrTimer(), "late",
                h -> HrTimer.Restart.NORESTART, HrTimers.mode(HrTimer.Mode.REL)));
        add(names, calls, "hrtimers.start", () -> k.hrtimers().start(hrtimer, 1_000, HrTimers.mode(HrTimer.Mode.REL)));
        add(names, calls, "hrtimers.cancel", () -> k.hrtimers().cancel(hrtimer));
        add(names, calls, "hrtimers.tryToCancel", () -> k.hrtimers().tryToCancel(hrtimer));
        add(names, calls, "workqueues.alloc", () -> k.workqueues().alloc("late", 0, 0));
        add(names, calls, "workqueues.queue", () -> k.workqueues().queue(wq, work));
        add(names, calls, "workqueues.queueOn", () -> k.workqueues().queueOn(1, wq, work));
        add(names, calls, "workqueues.schedule", () -> k.workqueues().schedule(work));
        add(names, calls, "workqueues.queueDelayed", () -> k.workqueues().queueDelayed(wq, delayed, 10));
        add(names, calls, "workqueues.modDelayed", () -> k.workqueues().modDelayed(wq, delayed, 10));
        add(names, calls, "workqueues.flush", () -> k.workqueues().flush(work));
        add(names, calls, "workqueues.flushWorkqueue", () -> k.workqueues().flushWorkqueue(wq));
        add(names, calls, "workqueues.drainWorkqueue", () -> k.workqueues().drainWorkqueue(wq));
        add(names, calls, "workqueues.destroy", () -> k.workqueues().destroy(wq));
        add(names, calls, "workqueues.cancel", () -> k.workqueues().cancel(work));
        add(names, calls, "workqueues.cancelSync", () -> k.workqueues().cancelSync(work));
        add(names, calls, "workqueues.cancelDelayedSync", () -> k.workqueues().cancelDelayedSync(delayed));
        add(names, calls, "workqueues.disable", () -> k.workqueues().disable(work));
        add(names, calls, "workqueues.enable", () -> k.workqueues().enable(work));
        add(names, calls, "workqueues.setMaxActive", () -> k.workqueues().setMaxActive(wq, 4));
        add(names, calls, "workqueues.freeze", () -> k.workqueues().freeze());
        // The kernel-name facade: the test thread stays bound to the panicked kernel, which refuses it each time
        add(names, calls, "Kernel.current", Kernel::current);
        add(names, calls, "jiffies", () -> jiffies());
        add(names, calls, "smp_processor_id", () -> smp_processor_id());
        add(names, calls, "in_interrupt", () -> in_interrupt());
        add(names, calls, "local_bh_disable", () -> local_bh_disable());
        add(names, calls, "local_irq_save", () -> local_irq_save());
        add(names, calls, "raise_softirq", () -> raise_softirq(NET_RX_SOFTIRQ));
        add(names, calls, "tasklet_schedule", () -> tasklet_schedule(tasklet));
        add(names, calls, "tasklet_kill", () -> tasklet_kill(tasklet));
        add(names, calls, "request_irq", () -> request_irq(9, (irq, dev) -> IRQ_HANDLED, 0, "late", "x"));
        add(names, calls, "free_irq", () -> free_irq(7, "d7"));
        add(names, calls, "mod_timer", () -> mod_timer(timer, 10));
        add(names, calls, "timer_delete_sync", () -> timer_delete_sync(timer));
        add(names, calls, "msleep", () -> msleep(10));
        add(names, calls, "msleep_interruptible", () -> msleep_interruptible(10));
        add(names, calls, "usleep_range", () -> usleep_range(10, 20));
        add(names, calls, "mdelay", () -> mdelay(1));
        add(names, calls, "hrtimer_cancel", () -> hrtimer_cancel(hrtimer));
        add(names, calls, "alloc_workqueue", () -> alloc_workqueue("late", 0, 0));
        add(names, calls, "queue_work", () -> queue_work(wq, work));
        add(names, calls, "schedule_work", () -> schedule_work(work));
        add(names, calls, "schedule_delayed_work", () -> schedule_delayed_work(delayed, 10));
        add(names, calls, "flush_work", () -> flush_work(work));
        add(names, calls, "cancel_work_sync", () -> cancel_work_sync(work));
        add(names, calls, "destroy_workqueue", () -> destroy_workqueue(wq));
        for (int i = 0; i < calls.size(); i++) {
            String name = names.get(i);
            Executable call = calls.get(i);
            failures.add(() -> {
                IllegalStateException e = assertThrows(IllegalStateException.class, call,
                        name + " was accepted by a panicked kernel");
                assertEquals("kernel panicked: Fatal exception in interrupt", e.getMessage(), name);
                KernelPanic panic = assertInstanceOf(KernelPanic.class, e.getCause(), name);
                assertSame(oom, panic.getCause(), name);
            });
        }
        assertAll(failures);
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        assertTrue(ctx != null && RuntimeAccess.get().machine(ctx) == Internals.machine(k), "a panic does not detach the threads bound to the kernel");
        assertFalse(ctx.inAtomic() || ctx.irqsDisabled(), "no refused call changed the caller's context: " + ctx);

        CloseReport report = k.close(Duration.ofSeconds(TIMEOUT_S));
        assertTrue(report.panicked(), report.toString());
        assertTrue(k.isClosed());
        assertEquals(List.of(), KernelExtension.runtimeThreads(k));
    }

    private static void add(List<String> names, List<Executable> calls, String name, Executable call) {
        names.add(name);
        calls.add(call);
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void aFlushInProgress_whenTheItemPanicsTheKernel_failsWithThePanic_insteadOfHanging(Mode mode) throws Exception {
        Kernel k = boot(mode);
        OutOfMemoryError oom = new OutOfMemoryError("thrown by the test");
        CountDownLatch flushing = new CountDownLatch(1);
        Work w = new Work("fault-work", x -> {
            if (mode == Mode.THREADED) {
                try {
                    flushing.await(TIMEOUT_S, TimeUnit.SECONDS); // the flush is about to begin
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                while (!Internals.machine(k).hasWaiters()) {
                    Thread.onSpinWait();
                }
            }
            throw oom;
        });
        k.workqueues().queueOn(0, k.workqueues().systemWq(), w);
        kernels.reports(k).expect("Oops: work fault-work (events) threw").expect("Kernel panic - not syncing: Fatal exception");
        if (mode == Mode.STEPPED) {
            // The flush drives the stepped kernel: the kworker's slice panics, and the flush throws the panic.
            KernelPanic panic = assertThrows(KernelPanic.class, () -> k.workqueues().flush(w));
            assertSame(oom, panic.getCause());
        } else {
            flushing.countDown();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> k.workqueues().flush(w));
            assertEquals("kernel panicked: Fatal exception", e.getMessage());
            assertSame(oom, assertInstanceOf(KernelPanic.class, e.getCause()).getCause());
        }
        assertTrue(k.close(Duration.ofSeconds(TIMEOUT_S)).panicked());
    }

    @Test
    void aMsleepOfAnotherTask_whenAHandlerPanicsTheKernel_endsWithThePanic() throws Exception {
        Kernel k = boot(Mode.THREADED);
        OutOfMemoryError oom = new OutOfMemoryError("thrown by the test");
        Site site = Site.install(k, Where.TASKLET, () -> {
            throw oom;
        });
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        CountDownLatch sleeping = new CountDownLatch(1);
        Thread sleeper = Thread.ofPlatform().name("sleeper").start(() -> {
            k.bindCurrentThread(1);
            sleeping.countDown();
            try {
                k.timers().msleep(3_600_000);
            } catch (Throwable t) {
                thrown.set(t);
            } finally {
                k.detachCurrentThread();
            }
        });
        assertTrue(sleeping.await(TIMEOUT_S, TimeUnit.SECONDS));
        while (sleeper.getState() != Thread.State.TIMED_WAITING && sleeper.isAlive()) {
            Thread.onSpinWait();
        }
        site.fire();
        sleeper.join(TimeUnit.SECONDS.toMillis(TIMEOUT_S));
        assertFalse(sleeper.isAlive(), "msleep still sleeping after the panic");
        IllegalStateException e = assertInstanceOf(IllegalStateException.class, thrown.get());
        assertEquals("kernel panicked: Fatal exception in interrupt", e.getMessage());
        assertSame(oom, assertInstanceOf(KernelPanic.class, e.getCause()).getCause());
        kernels.reports(k).expect("Oops: tasklet fault-tasklet threw").expect("Kernel panic - not syncing");
    }

    // ------------------------------------------------------------------------------------------
    // A reporter that throws
    // ------------------------------------------------------------------------------------------

    @Test
    void aReporterThatThrows_breaksNeitherTheCallerNorAHandler_andAPanicStillSurfaces() {
        AtomicInteger reporterCalls = new AtomicInteger();
        Kernel k = kernels.boot(b -> b.reporter(event -> {
            reporterCalls.incrementAndGet();
            throw new IllegalStateException("the reporter is broken (thrown by the test)");
        }));
        KernelReports reports = kernels.reports(k);
        ExecutionContext ctx = k.context();

        ctx.localBhEnable(); // unbalanced: a WARNING, whose delivery throws
        assertEquals(1, reports.matching("local_bh_enable() without local_bh_disable()").size(), reports.toString());
        assertEquals(0, ctx.preemptCount(), "the caller went on after the report");

        AtomicInteger runs = new AtomicInteger();
        AssertionError bug = new AssertionError("thrown by the test");
        OutOfMemoryError oom = new OutOfMemoryError("thrown by the test");
        Site site = Site.install(k, Where.HARDIRQ, () -> {
            int n = runs.incrementAndGet();
            if (n == 1) {
                throw bug;
            }
            if (n == 3) {
                throw oom;
            }
        });
        site.fire();
        assertEquals(1, k.stepper().hardirq(1), "the interrupt was delivered, and the oops's delivery threw");
        assertEquals(List.of(Where.HARDIRQ.oops(bug)), reports.ofKind(KernelEvent.Kind.OOPS).stream()
                .map(KernelEvent::message).toList());
        site.fire();
        k.stepper().hardirq(1);
        assertEquals(2, runs.get(), "the handler ran again: the CPU went on");

        site.fire();
        KernelPanic panic = assertThrows(KernelPanic.class, () -> k.stepper().hardirq(1),
                "the panic, not the reporter's exception, comes out of the step");
        assertSame(oom, panic.getCause());
        assertEquals(2, reports.ofKind(KernelEvent.Kind.OOPS).size());
        assertEquals(1, reports.ofKind(KernelEvent.Kind.EMERG).size());
        assertEquals(reports.events().size(), reporterCalls.get(), "every report reached the broken reporter");
        assertEquals(1, k.reports().count(KernelEvent.Kind.WARNING));
        assertEquals(2, k.reports().count(KernelEvent.Kind.OOPS));
        assertTrue(k.close(Duration.ofSeconds(TIMEOUT_S)).panicked());
    }
}
