package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * {@link WorkqueueExecutor}'s {@code ExecutorService} contract in stepped mode — what the JSR-166 TCK checks for
 * {@code AbstractExecutorService} and {@code ThreadPoolExecutor}: values and exceptions through futures,
 * {@code invokeAll} and {@code invokeAny} with and without timeouts, cancellation states, rejection after
 * shutdown, {@code shutdownNow}'s never-run tasks, termination — plus what the workqueue underneath decides:
 * {@code cancel_work}, the worker's pending signal, {@code max_active}, BH context, the oops of an
 * {@code execute}d task, a closed kernel. Every wait drives the kernel on the manual clock; timeouts are exact.
 */
class WorkqueueExecutorTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);

    private Kernel kernel;
    private Stepper stepper;
    private KernelReports reports;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        reports = kernels.reports();
    }

    private long nowMs() {
        return TimeUnit.NANOSECONDS.toMillis(kernel.uptimeNs());
    }

    // ------------------------------------------------------------------------------------------
    // submit, execute, get
    // ------------------------------------------------------------------------------------------

    @Test
    void submitCallable_runsOnAKworkerOfTheWorkqueue_andGetReturnsItsValue() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Future<String> f = ex.submit(() -> kernel.context().name() + " " + kernel.workqueues().currentWork().name());
        assertFalse(f.isDone(), "nothing ran: the stepper has not run the kworker");
        String ran = f.get();
        assertTrue(ran.startsWith("kworker/0:"), ran);
        assertTrue(ran.endsWith("WorkqueueExecutorTest$$Lambda" + ran.substring(ran.indexOf("$$Lambda") + 8)), ran);
        assertTrue(f.isDone());
        assertFalse(f.isCancelled());
        assertEquals(Future.State.SUCCESS, f.state());
        assertEquals(1, ex.completedTaskCount());
        assertEquals(0, ex.failedTaskCount());
    }

    @Test
    void submitRunnable_getReturnsNull_andSubmitRunnableWithResult_returnsTheResult() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.on(kernel, kernel.workqueues().systemWq());
        AtomicInteger runs = new AtomicInteger();
        Runnable increment = runs::incrementAndGet;
        Future<?> plain = ex.submit(increment);
        Future<String> withResult = ex.submit(increment, "done");
        assertNull(plain.get());
        assertEquals("done", withResult.get());
        assertEquals(2, runs.get());
    }

    @Test
    void aTaskThatThrows_failsItsFuture_withTheExceptionAsCause_isCounted_andIsNoOops() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        IllegalStateException boom = new IllegalStateException("boom");
        Future<Object> f = ex.submit(() -> {
            throw boom;
        });
        ExecutionException e = assertThrows(ExecutionException.class, f::get);
        assertSame(boom, e.getCause());
        assertEquals(Future.State.FAILED, f.state());
        assertSame(boom, f.exceptionNow());
        assertEquals(1, ex.failedTaskCount());
        assertEquals(1, ex.completedTaskCount());
        assertEquals(List.of(), reports.ofKind(KernelEvent.Kind.OOPS), "the future is where the failure went");
    }

    @Test
    void aCheckedExceptionOfACallable_isTheCauseToo() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Exception checked = new java.io.IOException("no device");
        Future<Object> f = ex.submit(() -> {
            throw checked;
        });
        assertSame(checked, assertThrows(ExecutionException.class, f::get).getCause());
    }

    @Test
    void execute_runsTheCommandAsAWorkItem() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        List<String> ran = new ArrayList<>();
        ex.execute(() -> ran.add(kernel.context().name()));
        assertEquals(List.of(), ran);
        stepper.runUntilIdle();
        assertEquals(1, ran.size());
        assertTrue(ran.get(0).startsWith("kworker/0:"), ran.toString());
        assertEquals(1, ex.completedTaskCount());
    }

    @Test
    void executeOfACommandThatThrows_isReportedAsTheWorkqueuesOops_andCountedAsFailed() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Runnable command = () -> {
            throw new IllegalStateException("boom");
        };
        ex.execute(command);
        stepper.runUntilIdle();
        List<KernelEvent> oopses = reports.matching("Oops: work " + command.getClass().getName() + " (exec) threw"
                + " java.lang.IllegalStateException: boom");
        assertEquals(1, oopses.size(), reports.messages().toString());
        assertEquals(1, ex.failedTaskCount());
        ex.execute(() -> { });
        stepper.runUntilIdle();
        assertEquals(2, ex.completedTaskCount(), "the kworker went on");
    }

    @Test
    void execute_reusesOneItem_forTaskAfterTask_namedAfterEachTasksClass() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        List<Work> items = new ArrayList<>();
        List<String> names = new ArrayList<>();
        Runnable first = () -> {
            items.add(kernel.workqueues().currentWork());
            names.add(kernel.workqueues().currentWork().name());
        };
        Runnable second = () -> {
            items.add(kernel.workqueues().currentWork());
            names.add(kernel.workqueues().currentWork().name());
        };
        for (Runnable task : List.of(first, second, first)) {
            ex.execute(task);
            stepper.runUntilIdle();
        }
        assertEquals(3, items.size());
        assertSame(items.get(0), items.get(1), "the item of a task that ran carries the next task");
        assertSame(items.get(0), items.get(2));
        assertEquals(List.of(first.getClass().getName(), second.getClass().getName(), first.getClass().getName()),
                names);
        assertFalse(items.get(0).isPending());
        assertEquals(3, ex.completedTaskCount());
    }

    @Test
    void execute_keepsABoundedNumberOfItems_afterABurst() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        int burst = ExecuteCarriers.MAX_KEPT + 100;
        java.util.Set<Work> firstBurst = Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        java.util.Set<Work> secondBurst = Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (java.util.Set<Work> seen : List.of(firstBurst, secondBurst)) {
            for (int i = 0; i < burst; i++) {
                ex.execute(() -> seen.add(kernel.workqueues().currentWork()));
            }
            stepper.runUntilIdle();
            assertEquals(burst, seen.size(), "every task of a burst waits on an item of its own");
        }
        firstBurst.retainAll(secondBurst);
        assertEquals(ExecuteCarriers.MAX_KEPT, firstBurst.size(),
                "the kept items carry the second burst; the rest of the first burst's were left to the GC");
        assertEquals(2L * burst, ex.completedTaskCount());
    }

    @Test
    void executeOfACommandThatThrows_givesUpItsItem_theNextTaskRidesAnother() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        List<Work> items = new ArrayList<>();
        ex.execute(() -> {
            items.add(kernel.workqueues().currentWork());
            throw new IllegalStateException("boom");
        });
        stepper.runUntilIdle();
        ex.execute(() -> items.add(kernel.workqueues().currentWork()));
        stepper.runUntilIdle();
        assertEquals(2, items.size());
        assertTrue(items.get(0) != items.get(1), "the oops report names the first item after its task returned");
        assertEquals(1, reports.matching("Oops: work").size());
        assertEquals(1, ex.failedTaskCount());
        assertEquals(2, ex.completedTaskCount());
    }

    @Test
    void nullTasks_throwNullPointerException() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        assertThrows(NullPointerException.class, () -> ex.execute(null));
        assertThrows(NullPointerException.class, () -> ex.submit((Runnable) null));
        assertThrows(NullPointerException.class, () -> ex.submit((Callable<?>) null));
        assertThrows(NullPointerException.class, () -> ex.invokeAll(null));
        assertThrows(NullPointerException.class, () -> ex.invokeAny(null));
        List<Callable<String>> withNull = Arrays.asList(() -> "a", null);
        assertThrows(NullPointerException.class, () -> ex.invokeAll(withNull));
        assertThrows(NullPointerException.class, () -> ex.invokeAny(withNull));
    }

    @Test
    void tasksOnAnOrderedWorkqueue_runOneAtATime_inSubmissionOrder() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.allocOrdered(kernel, "ordered", 0);
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String name = "t" + i;
            fs.add(ex.submit(() -> {
                log.add(name + " start " + nowMs());
                kernel.timers().msleep(10); // 11 jiffies at HZ 1000 (the wheel's level-0 round-up)
                log.add(name + " end " + nowMs());
            }));
        }
        fs.get(2).get();
        assertEquals(List.of("t0 start 0", "t0 end 11", "t1 start 11", "t1 end 22", "t2 start 22", "t2 end 33"), log);
    }

    @Test
    void maxActiveOne_onAPerCpuWorkqueue_letsOneTaskSleepAtATime() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "one", 0, 1);
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        Future<?> a = ex.submit(() -> {
            log.add("a " + nowMs());
            kernel.timers().msleep(5);
        });
        Future<?> b = ex.submit(() -> log.add("b " + nowMs()));
        b.get();
        a.get();
        assertEquals(List.of("a 0", "b 6"), log, "b waited on the inactive list while a slept");
    }

    @Test
    void aTaskWaitingForAnotherOnTheSameCpuPool_sleeps_soTheOtherStartsOnASecondKworker() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "pair", 0, 0);
        Future<String> outer = ex.submit(() -> {
            Future<String> inner = ex.submit(() -> kernel.context().name());
            return kernel.context().name() + " waited for " + inner.get();
        });
        String result = outer.get();
        assertTrue(result.matches("kworker/0:\\d+ waited for kworker/0:\\d+"), result);
        String[] names = result.split(" waited for ");
        assertFalse(names[0].equals(names[1]), "a second worker ran the inner task: " + result);
    }

    // ------------------------------------------------------------------------------------------
    // Timeouts on the manual clock
    // ------------------------------------------------------------------------------------------

    @Test
    void timedGet_ofATaskThatSleeps_timesOutExactlyAtItsTimeout_thenReturnsItsValue() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Future<String> f = ex.submit(() -> {
            kernel.timers().msleep(50);
            return "slept";
        });
        assertThrows(TimeoutException.class, () -> f.get(10, TimeUnit.MILLISECONDS));
        assertEquals(10, nowMs(), "the clock ran to the timeout, not beyond");
        assertEquals("slept", f.get(1, TimeUnit.SECONDS));
        assertEquals(51, nowMs(), "and the second get returned when the task did (msleep(50): 51 jiffies)");
    }

    @Test
    void timedGet_withZeroTimeout_runsWhatIsRunnableNow_butLetsNoTimePass() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Future<String> now = ex.submit(() -> "v");
        Future<String> later = ex.submit(() -> {
            kernel.timers().msleep(1);
            return "later";
        });
        assertEquals("v", now.get(0, TimeUnit.MILLISECONDS), "the stepper ran what was runnable at this instant");
        assertThrows(TimeoutException.class, () -> later.get(0, TimeUnit.MILLISECONDS));
        assertEquals(0, nowMs());
    }

    // ------------------------------------------------------------------------------------------
    // invokeAll, invokeAny
    // ------------------------------------------------------------------------------------------

    @Test
    void invokeAll_returnsOneDoneFuturePerTask_inTaskOrder_withEachOutcome() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        IllegalArgumentException bad = new IllegalArgumentException("bad");
        List<Callable<String>> tasks = List.of(() -> "a", () -> {
            throw bad;
        }, () -> {
            kernel.timers().msleep(3);
            return "c";
        });
        List<Future<String>> fs = ex.invokeAll(tasks);
        assertEquals(3, fs.size());
        for (Future<String> f : fs) {
            assertTrue(f.isDone());
        }
        assertEquals("a", fs.get(0).get());
        assertSame(bad, assertThrows(ExecutionException.class, () -> fs.get(1).get()).getCause());
        assertEquals("c", fs.get(2).get());
        assertEquals(List.of(), ex.invokeAll(List.of()), "no tasks: an empty list");
    }

    @Test
    void timedInvokeAll_cancelsTheTasksNotDoneAtTheTimeout_andReturnsThemAllDone() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        AtomicBoolean slowFinished = new AtomicBoolean();
        List<Callable<String>> tasks = List.of(() -> "fast", () -> {
            kernel.timers().msleep(100);
            slowFinished.set(true);
            return "slow";
        });
        List<Future<String>> fs = ex.invokeAll(tasks, 20, TimeUnit.MILLISECONDS);
        assertEquals(20, nowMs());
        assertEquals("fast", fs.get(0).get());
        assertTrue(fs.get(1).isCancelled());
        assertThrows(CancellationException.class, () -> fs.get(1).get());
        stepper.runFor(200, TimeUnit.MILLISECONDS);
        assertTrue(slowFinished.get(), "cancel(true) interrupted its worker; msleep is uninterruptible, so it finished");
    }

    @Test
    void invokeAny_returnsTheResultOfATaskThatSucceeded_andCancelsTheRest() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        AtomicBoolean interrupted = new AtomicBoolean();
        List<Callable<String>> tasks = List.of(() -> {
            throw new IllegalStateException("first fails");
        }, () -> "second", () -> {
            for (int i = 0; i < 1000 && !Thread.currentThread().isInterrupted(); i++) {
                kernel.timers().msleep(1);
            }
            interrupted.set(Thread.currentThread().isInterrupted());
            return "third";
        });
        assertEquals("second", ex.invokeAny(tasks));
        stepper.runFor(10, TimeUnit.MILLISECONDS);
        assertTrue(interrupted.get(), "the third task, still running, was cancelled with an interrupt");
    }

    @Test
    void invokeAny_whenEveryTaskFails_throwsExecutionException() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        List<Callable<String>> tasks = List.of(() -> {
            throw new IllegalStateException("one");
        }, () -> {
            throw new IllegalStateException("two");
        });
        ExecutionException e = assertThrows(ExecutionException.class, () -> ex.invokeAny(tasks));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertThrows(IllegalArgumentException.class, () -> ex.invokeAny(List.of()));
    }

    @Test
    void timedInvokeAny_whenNoTaskEndsInTime_throwsTimeoutException_andCancelsThemAll() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        List<Callable<String>> tasks = List.of(() -> {
            kernel.timers().msleep(50);
            return "late";
        });
        assertThrows(TimeoutException.class, () -> ex.invokeAny(tasks, 5, TimeUnit.MILLISECONDS));
        assertEquals(5, nowMs());
        ex.shutdown();
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertEquals(0, ex.completedTaskCount(), "the task was cancelled: its run ended without completing it");
    }

    // ------------------------------------------------------------------------------------------
    // Cancellation
    // ------------------------------------------------------------------------------------------

    @Test
    void cancelOfAQueuedTask_isCancelWork_theItemNeverRuns() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        AtomicInteger runs = new AtomicInteger();
        ExecutorTask<?> f = (ExecutorTask<?>) ex.submit(runs::incrementAndGet);
        assertTrue(f.work.isPending());
        assertTrue(f.cancel(false));
        assertFalse(f.work.isPending(), "cancel_work took the item off the worklist");
        assertTrue(f.isCancelled());
        assertTrue(f.isDone());
        assertEquals(Future.State.CANCELLED, f.state());
        assertThrows(CancellationException.class, f::get);
        assertFalse(f.cancel(false), "a second cancel changes nothing");
        stepper.runUntilIdle();
        assertEquals(0, runs.get());
        assertEquals(0, ex.completedTaskCount());
    }

    @Test
    void cancelTrue_ofARunningTask_interruptsItsKworker_andTheNextItemOnThatKworkerSeesNoSignal() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.allocOrdered(kernel, "ordered", 0);
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        Future<?> loop = ex.submit(() -> {
            log.add("loop on " + kernel.context().name());
            for (int i = 0; i < 1000 && !Thread.currentThread().isInterrupted(); i++) {
                kernel.timers().msleep(1);
            }
            log.add(Thread.currentThread().isInterrupted() ? "loop saw its signal" : "loop ran out");
        });
        Future<String> next = ex.submit(() -> kernel.context().name() + " interrupted=" + Thread.currentThread().isInterrupted());
        stepper.runFor(5, TimeUnit.MILLISECONDS);
        assertEquals(1, log.size(), log.toString());
        assertTrue(loop.cancel(true));
        assertTrue(loop.isCancelled());
        String worker = log.get(0).substring("loop on ".length());
        assertEquals(worker + " interrupted=false", next.get());
        assertEquals("loop saw its signal", log.get(1));
    }

    @Test
    void cancelFalse_ofARunningTask_doesNotInterruptIt_andTerminationWaitsForItsBody() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        AtomicBoolean sawSignal = new AtomicBoolean();
        AtomicBoolean finished = new AtomicBoolean();
        Future<?> f = ex.submit(() -> {
            kernel.timers().msleep(10);
            sawSignal.set(Thread.currentThread().isInterrupted());
            finished.set(true);
        });
        stepper.runFor(2, TimeUnit.MILLISECONDS);
        assertTrue(f.cancel(false));
        ex.shutdown();
        assertFalse(ex.isTerminated(), "the cancelled task's body still runs");
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertTrue(finished.get());
        assertFalse(sawSignal.get());
        assertEquals(11, nowMs(), "terminated when the body ended");
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle
    // ------------------------------------------------------------------------------------------

    @Test
    void shutdown_refusesNewTasks_letsQueuedOnesRun_andTerminates() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.on(kernel, kernel.workqueues().systemWq());
        AtomicInteger runs = new AtomicInteger();
        ex.execute(runs::incrementAndGet);
        Future<?> f = ex.submit(runs::incrementAndGet);
        ex.shutdown();
        assertTrue(ex.isShutdown());
        assertFalse(ex.isTerminated());
        RejectedExecutionException r = assertThrows(RejectedExecutionException.class, () -> ex.submit(() -> 1));
        assertTrue(r.getMessage().contains("has been shut down"), r.getMessage());
        assertThrows(RejectedExecutionException.class, () -> ex.execute(() -> { }));
        assertThrows(RejectedExecutionException.class, () -> ex.invokeAll(List.of(() -> 1)));
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertTrue(f.isDone());
        assertEquals(2, runs.get());
        assertTrue(ex.isTerminated());
        assertTrue(kernel.workqueues().workqueues().contains(kernel.workqueues().systemWq()));
        ex.shutdown();
        assertTrue(ex.isTerminated(), "shutdown again changes nothing");
    }

    @Test
    void anExecutorThatOwnsItsWorkqueue_destroysItOnTermination_fromTheTaskThreadThatTerminatesIt() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "owned", 0, 0);
        Workqueue wq = ex.workqueue();
        assertTrue(ex.ownsWorkqueue());
        ex.shutdown();
        assertTrue(ex.isTerminated(), "nothing was queued: terminated by shutdown itself");
        assertFalse(kernel.workqueues().workqueues().contains(wq), "destroy_workqueue ran");
    }

    @Test
    void anExecutorThatOwnsItsWorkqueue_whoseLastTaskEndsOnAKworker_destroysItFromSystemUnboundWq() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "owned", 0, 0);
        Workqueue wq = ex.workqueue();
        ex.execute(() -> kernel.timers().msleep(1));
        ex.shutdown();
        assertFalse(ex.isTerminated());
        stepper.runFor(5, TimeUnit.MILLISECONDS);
        assertTrue(ex.isTerminated());
        assertFalse(kernel.workqueues().workqueues().contains(wq));
    }

    @Test
    void anExecutorOnAGivenWorkqueue_leavesItAliveWhenItTerminates() {
        Workqueue wq = kernel.workqueues().alloc("mine", 0, 0);
        WorkqueueExecutor ex = WorkqueueExecutor.on(kernel, wq);
        assertFalse(ex.ownsWorkqueue());
        ex.close();
        assertTrue(ex.isTerminated());
        assertTrue(kernel.workqueues().workqueues().contains(wq));
    }

    @Test
    void shutdownNow_returnsTheTasksThatNeverRan_inSubmissionOrder_andInterruptsTheRunningOne() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.allocOrdered(kernel, "ordered", 0);
        AtomicBoolean runningSawSignal = new AtomicBoolean();
        Future<?> running = ex.submit(() -> {
            for (int i = 0; i < 1000 && !Thread.currentThread().isInterrupted(); i++) {
                kernel.timers().msleep(1);
            }
            runningSawSignal.set(Thread.currentThread().isInterrupted());
        });
        Runnable command = () -> { };
        Future<String> queued1 = ex.submit(() -> "q1");
        ex.execute(command);
        Future<String> queued3 = ex.submit(() -> "q3");
        stepper.runFor(3, TimeUnit.MILLISECONDS);
        List<Runnable> neverRan = ex.shutdownNow();
        assertEquals(List.of(queued1, command, queued3), neverRan);
        assertFalse(queued1.isDone(), "as ThreadPoolExecutor: the futures of never-run tasks stay not done");
        assertTrue(ex.isShutdown());
        assertThrows(RejectedExecutionException.class, () -> ex.submit(() -> 1));
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertTrue(runningSawSignal.get());
        assertTrue(running.isDone());
        assertFalse(kernel.workqueues().workqueues().contains(ex.workqueue()));
        ((Runnable) queued1).run(); // the caller may run a returned task itself
        assertEquals("q1", queued1.get());
    }

    @Test
    void shutdownNow_interruptsARunningExecutedTask_andTheSignalEndsWithIt() throws Exception {
        Workqueue wq = kernel.workqueues().allocOrdered("ordered", 0);
        WorkqueueExecutor ex = WorkqueueExecutor.on(kernel, wq);
        AtomicBoolean taskSawSignal = new AtomicBoolean();
        ex.execute(() -> {
            for (int i = 0; i < 1000 && !Thread.currentThread().isInterrupted(); i++) {
                kernel.timers().msleep(1);
            }
            taskSawSignal.set(Thread.currentThread().isInterrupted());
        });
        List<Boolean> nextSawSignal = new ArrayList<>();
        List<String> runners = new ArrayList<>();
        Work next = new Work("next", w -> {
            nextSawSignal.add(Thread.currentThread().isInterrupted());
            runners.add(kernel.context().name());
        });
        kernel.workqueues().queue(wq, next); // an item of the same workqueue that is not the executor's
        stepper.runFor(3, TimeUnit.MILLISECONDS);
        assertEquals(List.of(), ex.shutdownNow(), "only the running task is the executor's, and it is running");
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertTrue(taskSawSignal.get());
        stepper.runUntilIdle();
        assertEquals(List.of(false), nextSawSignal, "the interrupt ended with the task it was sent to");
        assertEquals(1, ex.completedTaskCount());
    }

    @Test
    void shutdownNow_handsBackTheExecutedTasks_queuedInEveryCpusPool_inSubmissionOrder() {
        Workqueue wq = kernel.workqueues().alloc("shared", 0, 0);
        WorkqueueExecutor ex = WorkqueueExecutor.on(kernel, wq); // (an owned one would be destroyed, drained, at once)
        Runnable onCpu0 = () -> { };
        Runnable onCpu1 = () -> { };
        Runnable onCpu0Again = () -> { };
        ex.execute(onCpu0);
        kernel.bindCurrentThread(1);
        ex.execute(onCpu1);
        kernel.bindCurrentThread(0);
        ex.execute(onCpu0Again);
        Work notTheExecutors = new Work("not the executor's", w -> { });
        kernel.workqueues().queue(wq, notTheExecutors);
        assertEquals(List.of(onCpu0, onCpu1, onCpu0Again), ex.shutdownNow());
        assertTrue(ex.isTerminated());
        assertTrue(notTheExecutors.isPending(), "an item of the workqueue that is not the executor's stays queued");
        stepper.runUntilIdle();
        assertFalse(notTheExecutors.isPending());
        assertEquals(0, ex.completedTaskCount());
    }

    @Test
    void aFutureHandedBackByShutdownNow_thenCancelledByItsCaller_isCountedOnce_andTheExecutorStillTerminates()
            throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.allocOrdered(kernel, "ordered", 0);
        ex.execute(() -> kernel.timers().msleep(5)); // runs while the rest happens; msleep ignores the interrupt
        Future<String> queued = ex.submit(() -> "never");
        stepper.runFor(1, TimeUnit.MILLISECONDS);
        assertEquals(List.of(queued), ex.shutdownNow());
        assertTrue(queued.cancel(false), "handed back not done: its caller may still cancel it");
        assertFalse(ex.isTerminated(), "the first task still runs");
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS),
                "the withdrawn task left once, not once by shutdownNow and again by its cancel");
        assertEquals(1, ex.completedTaskCount());
    }

    @Test
    void awaitTermination_timesOutOnTheManualClock_whenATaskOutlastsIt() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        ex.execute(() -> kernel.timers().msleep(100));
        ex.shutdown();
        assertFalse(ex.awaitTermination(30, TimeUnit.MILLISECONDS));
        assertEquals(30, nowMs());
        assertTrue(ex.awaitTermination(1, TimeUnit.SECONDS));
        assertEquals(104, nowMs(), "msleep(100): 101 jiffies, on the wheel's level 1 (8-jiffy granularity)");
    }

    @Test
    void anInterruptedWaiter_getsInterruptedException_andTheTaskGoesOn() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Future<String> f = ex.submit(() -> "v");
        Thread.currentThread().interrupt();
        assertThrows(InterruptedException.class, f::get);
        assertFalse(Thread.currentThread().isInterrupted(), "cleared, as the JDK's waits do");
        Thread.currentThread().interrupt();
        assertThrows(InterruptedException.class, () -> ex.awaitTermination(1, TimeUnit.SECONDS));
        assertEquals("v", f.get());
    }

    @Test
    void closedKernel_everySubmitIsRejected_withTheKernelsRefusalAsCause_andTheExecutorIsTerminated() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        kernel.close();
        RejectedExecutionException r = assertThrows(RejectedExecutionException.class, () -> ex.submit(() -> 1));
        assertInstanceOf(IllegalStateException.class, r.getCause());
        assertEquals("kernel is closed", r.getCause().getMessage());
        RejectedExecutionException e = assertThrows(RejectedExecutionException.class, () -> ex.execute(() -> { }));
        assertEquals("kernel is closed", e.getCause().getMessage());
        assertTrue(ex.isShutdown());
        assertTrue(ex.isTerminated());
    }

    @Test
    void kernelClose_runsTheQueuedTasks_andTheirFuturesComplete() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        Future<String> f = ex.submit(() -> "ran in the close's drain");
        kernel.close();
        assertEquals("ran in the close's drain", f.get());
        assertTrue(ex.isTerminated());
    }

    // ------------------------------------------------------------------------------------------
    // BH workqueues and atomic context
    // ------------------------------------------------------------------------------------------

    @Test
    void onABhWorkqueue_tasksRunInSoftirqContext_onTheSubmittingCpu() throws Exception {
        WorkqueueExecutor ex = WorkqueueExecutor.on(kernel, kernel.workqueues().systemBhWq());
        Future<String> f = ex.submit(() -> kernel.context().describe() + " on CPU " + kernel.context().cpuId());
        assertEquals("softirq on CPU 0", f.get());
    }

    @Test
    void getInAtomicContext_ofATaskNotDone_isReportedAndRefused() {
        WorkqueueExecutor bh = WorkqueueExecutor.on(kernel, kernel.workqueues().systemBhWq());
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        reports.expect("BUG: sleeping function called from invalid context at Future.get");
        Future<String> slow = ex.submit(() -> {
            kernel.timers().msleep(5);
            return "slow";
        });
        Future<String> waiter = bh.submit((Callable<String>) slow::get);
        ExecutionException e = assertThrows(ExecutionException.class, waiter::get);
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertTrue(e.getCause().getMessage().startsWith("Future.get in atomic context"), e.getCause().getMessage());
    }

    @Test
    void cancelTrue_onABhWorkqueue_interruptsNothing_theThreadRunningSoftirqsIsNotTheTasks() throws Exception {
        WorkqueueExecutor bh = WorkqueueExecutor.on(kernel, kernel.workqueues().systemBhWq());
        Future<?>[] self = new Future<?>[1];
        List<Boolean> cancelled = new ArrayList<>();
        self[0] = bh.submit(() -> cancelled.add(self[0].cancel(true)));
        stepper.runUntilIdle(); // the stepping thread serves CPU 0's softirqs, so it runs the BH task
        assertEquals(List.of(true), cancelled);
        assertTrue(self[0].isCancelled());
        assertFalse(Thread.currentThread().isInterrupted(), "the thread that ran the softirq was not interrupted");
    }

    @Test
    void aFatalErrorInATask_failsItsFuture_andPanicsTheKernel() {
        WorkqueueExecutor ex = WorkqueueExecutor.alloc(kernel, "exec", 0, 0);
        OutOfMemoryError oom = new OutOfMemoryError("task ran out of memory");
        reports.expect("Oops: work").expect("Kernel panic - not syncing: Fatal exception");
        Future<Object> f = ex.submit(() -> {
            throw oom;
        });
        dev.bottomhalf.runtime.KernelPanic panic = assertThrows(dev.bottomhalf.runtime.KernelPanic.class, f::get,
                "the wait drives the stepped kernel: the kworker's slice panics, and the wait throws the panic");
        assertSame(oom, panic.getCause());
        assertEquals(Future.State.FAILED, f.state());
        assertSame(oom, f.exceptionNow());
    }

    @Test
    void aWorkqueueOfAnotherKernel_orADestroyedOne_isRefused() {
        Kernel other = kernels.boot(b -> { });
        Workqueue foreign = other.workqueues().alloc("foreign", 0, 0);
        assertThrows(IllegalArgumentException.class, () -> WorkqueueExecutor.on(kernel, foreign));
        Workqueue gone = kernel.workqueues().alloc("gone", 0, 0);
        kernel.workqueues().destroy(gone);
        assertThrows(IllegalArgumentException.class, () -> WorkqueueExecutor.on(kernel, gone));
        assertThrows(IllegalArgumentException.class, () -> WorkqueueExecutor.alloc(kernel, "bad", Workqueue.WQ_BH, 4),
                "alloc_workqueue refuses a BH workqueue with max_active (after its WARN)");
        reports.expect("WARNING: alloc_workqueue(bad): a BH workqueue takes only WQ_HIGHPRI and max_active 0");
    }
}
