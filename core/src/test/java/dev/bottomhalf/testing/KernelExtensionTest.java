package dev.bottomhalf.testing;

import dev.bottomhalf.internal.Internals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * {@link KernelExtension} itself: each check fails a test that leaks (a thread binding, an unexpected
 * report, an expected report that never came, a runtime thread that outlives close) and passes one that
 * does not. The leaking tests are the nested fixture classes, run through the JUnit Platform launcher on
 * the test thread; they are enabled only while this class runs them.
 */
class KernelExtensionTest {
    private static volatile boolean launching;
    /** What a fixture left for the outer test to inspect. */
    private static volatile Kernel lastKernel;
    private static volatile CountDownLatch blocker;

    static boolean launching() {
        return launching;
    }

    /** Runs the tests of {@code fixture}; the result of each, by method name. */
    private static Map<String, TestExecutionResult> run(Class<?> fixture) {
        return run(DiscoverySelectors.selectClass(fixture));
    }

    /** Runs one test method of {@code fixture}. */
    private static TestExecutionResult run(Class<?> fixture, String method) {
        return only(run(DiscoverySelectors.selectMethod(fixture, method)));
    }

    private static Map<String, TestExecutionResult> run(DiscoverySelector selector) {
        Map<String, TestExecutionResult> results = new LinkedHashMap<>();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selector).build();
        Launcher launcher = LauncherFactory.create();
        launching = true;
        try {
            launcher.execute(request, new TestExecutionListener() {
                @Override
                public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                    if (id.isTest()) {
                        results.put(id.getDisplayName().replace("()", ""), result);
                    }
                }
            });
        } finally {
            launching = false;
        }
        return results;
    }

    private static TestExecutionResult only(Map<String, TestExecutionResult> results) {
        assertEquals(1, results.size(), results.toString());
        return results.values().iterator().next();
    }

    private static String failure(TestExecutionResult result) {
        assertEquals(TestExecutionResult.Status.FAILED, result.getStatus(), "the test should have failed");
        return result.getThrowable().orElseThrow().getMessage();
    }

    private static void assertPassed(TestExecutionResult result) {
        assertEquals(TestExecutionResult.Status.SUCCESSFUL, result.getStatus(),
                () -> "the test should have passed: " + result.getThrowable().map(Throwable::toString).orElse(""));
    }

    // ------------------------------------------------------------------------------------------
    // Fixtures: tests that leak, and tests that do not
    // ------------------------------------------------------------------------------------------

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    static class ProvokesAWarning {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);

        @Test
        void unread() {
            kernels.kernel().context().localBhEnable();
        }

        @Test
        void readByText() {
            kernels.kernel().context().localBhEnable();
            assertEquals(1, kernels.reports().matching("local_bh_enable() without local_bh_disable()").size());
        }

        @Test
        void readByKind() {
            kernels.kernel().context().localBhEnable();
            assertEquals(1, kernels.reports().ofKind(KernelEvent.Kind.WARNING).size());
        }

        @Test
        void declaredBefore() {
            kernels.reports().expect("local_bh_enable() without local_bh_disable()");
            kernels.kernel().context().localBhEnable();
        }

        @Test
        void onlyScannedThroughEvents() {
            kernels.kernel().context().localBhEnable();
            assertEquals(1, kernels.reports().events().size());
        }

        @Test
        void readThenCleared() {
            kernels.kernel().context().localBhEnable();
            kernels.reports().clear();
            kernels.kernel().irqs().enable(7); // not a lockdep report: those share one once-flag per kernel
            assertEquals(1, kernels.reports().matching("enable_irq before setup/request_irq: irq 7").size());
            assertEquals(List.of(), kernels.reports().matching("local_bh_enable()"), "hidden by clear()");
        }

        @Test
        void toleratedAsAKnownDefect() {
            kernels.reports().tolerateKnownDefect("local_bh_enable() without", "the fixture's stand-in for a defect");
            kernels.kernel().context().localBhEnable();
        }
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    static class ExpectsAReportThatNeverComes {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.stepped();

        @Test
        void expectsIt() {
            kernels.reports().expect("Unbalanced enable for IRQ 7");
            kernels.kernel().irqs().disable(7);
            kernels.kernel().irqs().enable(7);       // balanced: no report
        }
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    static class LeavesTheTestThreadBound {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.stepped();

        @Test
        void toAKernelAnotherThreadClosed() throws InterruptedException {
            kernels.kernel();
            Kernel own = Kernel.boot(KernelConfig.builder().cpus(1).stepped().reporter(Reporter.silent()).build());
            own.bindCurrentThread(0);
            Thread closer = Thread.ofPlatform().start(own::close); // close() detaches only its own caller
            closer.join();
            lastKernel = own;
        }

        @Test
        void inAtomicContext() {
            Kernel k = kernels.kernel();
            k.bindCurrentThread(1).localBhDisable();
            lastKernel = k;
        }

        @Test
        void quiescent_isReleasedByTheExtension() {
            Kernel k = kernels.kernel();
            k.bindCurrentThread(1);
            lastKernel = k;
        }
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    static class FailsItself {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.threaded().cpus(1);

        @Test
        void withAnUnreadWarningToo() {
            lastKernel = kernels.kernel();
            kernels.kernel().context().preemptEnable();
            assertEquals("expected", "actual");
        }
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    static class LeaksAWorkerThread {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.stepped().cpus(1).threadGracePeriod(Duration.ofMillis(500))
                .with(b -> b.closeTimeout(Duration.ofMillis(200)));

        @Test
        void blockedOutsideTheKernel() {
            startBlockedWorker(kernels);
        }
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    @KnownThreadLeak("the fixture leaks a kworker on purpose")
    static class LeaksAWorkerThreadKnowingly {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.stepped().cpus(1).threadGracePeriod(Duration.ofMillis(500))
                .with(b -> b.closeTimeout(Duration.ofMillis(200)));

        @Test
        void blockedOutsideTheKernel() {
            startBlockedWorker(kernels);
        }
    }

    /** A kworker blocked on a latch outside the kernel's primitives: it outlives close() until released. */
    private static void startBlockedWorker(KernelExtension kernels) {
        Kernel k = kernels.kernel();
        lastKernel = k;
        CountDownLatch latch = blocker;
        Workqueue wq = k.workqueues().alloc("blocky", 0, 0);
        k.workqueues().queueOn(0, wq, new Work("blocker", w -> {
            try {
                latch.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        kernels.stepper().runFor(1, TimeUnit.MILLISECONDS);
        kernels.reports().expect("blocked (WAITING) outside the kernel's sleeping primitives");
        kernels.reports().expect("did not stop after close() and is left running"); // close() reports it too
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    @ExtendWith(KernelExtension.class)
    static class TakesParameters {
        @Test
        void kernelStepperAndReports(Kernel kernel, Stepper stepper, KernelReports reports) {
            lastKernel = kernel;
            assertTrue(kernel.config().stepped());
            assertEquals(2, kernel.cpus());
            assertNotNull(stepper.clock());
            kernel.context().preemptEnable();
            assertEquals(1, reports.ofKind(KernelEvent.Kind.WARNING).size());
        }
    }

    @EnabledIf("dev.bottomhalf.testing.KernelExtensionTest#launching")
    static class BootsSeveralKernels {
        @RegisterExtension
        final KernelExtension kernels = KernelExtension.threaded().cpus(1).hz(250).with(b -> b.irqLines(8));

        @Test
        void andWarnsOnTheSecond() {
            Reporter.Recording alsoTo = Reporter.recording();
            Kernel first = kernels.boot(b -> b.cpus(2));
            Kernel second = kernels.boot(b -> b.stepped().reporter(alsoTo));
            assertSame(first, kernels.kernel(), "the first kernel booted is the test's kernel");
            assertEquals(List.of(2, 250, 8, false), List.of(first.cpus(), first.config().hz(), first.config().irqLines(),
                    first.config().stepped()));
            assertEquals(List.of(1, 250, 8, true), List.of(second.cpus(), second.config().hz(),
                    second.config().irqLines(), second.config().stepped()));
            assertThrows(IllegalStateException.class, () -> kernels.cpus(3), "settings are fixed during a test");
            second.context().preemptEnable();
            assertEquals(1, kernels.reports(second).matching("preempt_enable() without").size());
            assertEquals(1, alsoTo.events().size(), "a reporter set in the changes receives the reports too");
            assertEquals(List.of(), kernels.reports(first).events());
            lastKernel = second;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Reports
    // ------------------------------------------------------------------------------------------

    @Test
    void aWarningTheTestNeverRead_failsIt_withTheReportAndWhereItWasMade() {
        String message = failure(run(ProvokesAWarning.class, "unread"));
        assertTrue(message.contains("kernel #1 (machine[2 CPUs, HZ=1000, stepped]) made 1 report(s) the test did not"
                + " expect"), message);
        assertTrue(message.contains("\n  WARNING [" + Thread.currentThread().getName() + " cpu=0 task j=4294667296]"
                + " DEBUG_LOCKS_WARN_ON(val > preempt_count()): local_bh_enable() without local_bh_disable()"), message);
        assertTrue(message.contains("at dev.bottomhalf.runtime.ExecutionContext.localBhEnable"),
                "the warning's stack: " + message);
    }

    @Test
    void aWarningReadByTextOrKind_orDeclaredBeforehand_isExpected() {
        assertPassed(run(ProvokesAWarning.class, "readByText"));
        assertPassed(run(ProvokesAWarning.class, "readByKind"));
        assertPassed(run(ProvokesAWarning.class, "declaredBefore"));
        assertPassed(run(ProvokesAWarning.class, "toleratedAsAKnownDefect"));
    }

    @Test
    void scanningEveryEvent_orClearingThem_acknowledgesNothing() {
        assertTrue(failure(run(ProvokesAWarning.class, "onlyScannedThroughEvents")).contains("local_bh_enable() without"));
        String cleared = failure(run(ProvokesAWarning.class, "readThenCleared"));
        assertTrue(cleared.contains("made 1 report(s) the test did not expect"), cleared);
        assertTrue(cleared.contains("local_bh_enable() without"), cleared);
        assertFalse(cleared.contains("enable_irq before setup"), "that one was read: " + cleared);
    }

    @Test
    void anExpectedReportThatNeverCame_failsTheTest() {
        String message = failure(only(run(ExpectsAReportThatNeverComes.class)));
        assertTrue(message.contains("the test expected report(s) that never came:\n  \"Unbalanced enable for IRQ 7\""),
                message);
    }

    // ------------------------------------------------------------------------------------------
    // The test thread's binding
    // ------------------------------------------------------------------------------------------

    @Test
    void aTestThreadLeftBoundToAClosedKernel_failsTheTest_andIsDetached() {
        String message = failure(run(LeavesTheTestThreadBound.class, "toAKernelAnotherThreadClosed"));
        assertTrue(message.contains("the test thread is still bound to a closed kernel (machine[1 CPUs, HZ=1000,"
                + " stepped])"), message);
        assertTrue(message.contains("detached now"), message);
        assertNull(ExecutionContext.currentOrNull(), "the next test starts unbound");
    }

    @Test
    void aTestThreadLeftInAtomicContext_failsTheTest_andIsResetAndDetached() {
        String message = failure(run(LeavesTheTestThreadBound.class, "inAtomicContext"));
        assertTrue(message.contains("the test thread left its context on kernel #1 (machine[2 CPUs, HZ=1000, stepped])"
                + " in atomic context: " + Thread.currentThread().getName()
                + " on CPU 1 [task, BH disabled, preempt_count 00000200]"), message);
        assertNull(ExecutionContext.currentOrNull());
        assertNull(Internals.machine(lastKernel).cpu(1).bhLevelOwner(), "the BH level was given back");
        assertTrue(lastKernel.isTerminated());
    }

    @Test
    void aQuiescentBindingToTheExtensionsKernel_isReleased() {
        assertPassed(run(LeavesTheTestThreadBound.class, "quiescent_isReleasedByTheExtension"));
        assertNull(ExecutionContext.currentOrNull());
        assertTrue(lastKernel.isTerminated());
    }

    // ------------------------------------------------------------------------------------------
    // Closing, runtime threads
    // ------------------------------------------------------------------------------------------

    @Test
    void aFailedTest_isClosedAndChecked_theChecksJoinTheFailure() {
        TestExecutionResult result = only(run(FailsItself.class));
        assertEquals(TestExecutionResult.Status.FAILED, result.getStatus());
        Throwable thrown = result.getThrowable().orElseThrow();
        assertTrue(thrown.getMessage().startsWith("expected: <expected> but was: <actual>"), thrown.getMessage());
        assertEquals(1, thrown.getSuppressed().length, "the extension's findings ride along");
        assertTrue(thrown.getSuppressed()[0].getMessage().contains("preempt_enable() without preempt_disable()"));
        assertTrue(lastKernel.isTerminated());
        assertEquals(List.of(), KernelExtension.runtimeThreadsOf(Internals.machine(lastKernel)));
    }

    @Test
    void aRuntimeThreadAliveAfterClose_failsTheTest_listingItWithItsStack() {
        blocker = new CountDownLatch(1);
        try {
            String message = failure(only(run(LeaksAWorkerThread.class)));
            assertTrue(message.contains("1 runtime thread(s) of kernel #1 (machine[1 CPUs, HZ=1000, stepped]) still"
                    + " alive 500 ms after close() returned:\n  \"kworker/0:0\" WAITING"), message);
            assertTrue(message.contains("at java.base/java.util.concurrent.CountDownLatch.await"), message);
            assertFalse(message.contains("did not expect"), "the BUG report was expected: " + message);
        } finally {
            blocker.countDown();
        }
        assertEquals(List.of(), KernelExtension.awaitRuntimeThreads(Internals.machine(lastKernel),
                System.nanoTime() + TimeUnit.SECONDS.toNanos(10)), "released, the worker ends");
    }

    @Test
    void aKnownThreadLeak_isToleratedWhenMarked() {
        blocker = new CountDownLatch(1);
        try {
            assertPassed(only(run(LeaksAWorkerThreadKnowingly.class)));
        } finally {
            blocker.countDown();
        }
        assertEquals(List.of(), KernelExtension.awaitRuntimeThreads(Internals.machine(lastKernel),
                System.nanoTime() + TimeUnit.SECONDS.toNanos(10)));
    }

    @Test
    void runtimeThreadsOf_findsTheKernelThreadsAndTheSteppedSchedulersThreads_ofOneMachineOnly() {
        try (Kernel threaded = Kernel.boot(KernelConfig.builder().cpus(1).reporter(Reporter.silent()).build());
             Kernel stepped = Kernel.boot(KernelConfig.builder().cpus(1).stepped().reporter(Reporter.silent()).build());
             Kernel other = Kernel.boot(KernelConfig.builder().cpus(1).reporter(Reporter.silent()).build())) {
            assertEquals(List.of("cpu/0", "ksoftirqd/0"),
                    KernelExtension.runtimeThreadsOf(Internals.machine(threaded)).stream().map(Thread::getName).toList());
            assertEquals(List.of(), KernelExtension.runtimeThreadsOf(Internals.machine(stepped)), "no thread before a kworker");
            stepped.workqueues().queueOn(0, stepped.workqueues().systemWq(), new Work("w", w -> { }));
            stepped.stepper().runUntilIdle();
            assertEquals(List.of("kworker/0:0"),
                    KernelExtension.runtimeThreadsOf(Internals.machine(stepped)).stream().map(Thread::getName).toList());
            assertEquals(2, KernelExtension.runtimeThreadsOf(Internals.machine(other)).size());
            stepped.detachCurrentThread();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Supplying kernels
    // ------------------------------------------------------------------------------------------

    @Test
    void parameters_areTheTestsKernelItsStepperAndItsReports() {
        assertPassed(only(run(TakesParameters.class)));
        assertTrue(lastKernel.isTerminated());
    }

    @Test
    void bootWithChanges_keepsTheExtensionsSettings_whichAreFixedDuringATest_andEveryKernelIsClosed() {
        assertPassed(only(run(BootsSeveralKernels.class)));
        assertTrue(lastKernel.isTerminated());
    }

    @Test
    void outsideATest_theExtensionRefusesToBoot() {
        KernelExtension kernels = KernelExtension.stepped();
        IllegalStateException e = assertThrows(IllegalStateException.class, kernels::kernel);
        assertTrue(e.getMessage().startsWith("no test is running"), e.getMessage());
    }
}
