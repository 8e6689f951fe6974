package dev.bottomhalf.tasklet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

/**
 * Tasklets ({@code tasklet_schedule}, {@code tasklet_hi_schedule}, {@code tasklet_disable},
 * {@code tasklet_enable}, {@code tasklet_kill}, {@code tasklet_action}; docs/subsystems/tasklet.md, "Rules"),
 * in stepped mode.
 */
class TaskletSemanticsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private KernelReports reports;
    private final List<String> log = new ArrayList<>();
    private Kernel kernel;
    private Stepper stepper;
    private Tasklets tasklets;
    private ExecutionContext task;

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        reports = kernels.reports();
        stepper = kernel.stepper();
        tasklets = kernel.tasklets();
        task = kernel.bindCurrentThread(0);
    }

    private Tasklet logging(String name) {
        return Tasklet.setup(name, t -> log.add(t.name() + "@" + kernel.context().name()));
    }

    /** Schedules from a BH-disabled section so that the softirq runs at its local_bh_enable. */
    private void inBhSection(Runnable r) {
        task.localBhDisable();
        r.run();
        task.localBhEnable();
    }

    @Test
    void scheduled1000TimesBeforeItRuns_runsOnce() {
        Tasklet t = logging("t");
        inBhSection(() -> {
            for (int i = 0; i < 1000; i++) {
                tasklets.schedule(t);
            }
        });
        assertEquals(1, log.size());
        assertEquals(1, kernel.softirqs().count(0, SoftirqVector.TASKLET));
        assertFalse(t.isScheduled());
    }

    @Test
    void disabledScheduled1000Times_runsOnceAfterEnable() {
        Tasklet t = logging("t");
        tasklets.disable(t);
        inBhSection(() -> {
            for (int i = 0; i < 1000; i++) {
                tasklets.schedule(t);
            }
        });
        assertTrue(log.isEmpty());
        stepper.runUntilIdleOrRounds(50);
        assertTrue(log.isEmpty(), "still disabled");
        tasklets.enable(t);
        stepper.runUntilIdleOrRounds(50);
        assertEquals(1, log.size());
    }

    @Test
    void disabledScheduledTasklet_keepsItsSoftirqRaisedEveryPass() {
        Tasklet t = logging("t");
        tasklets.disableNosync(t);
        inBhSection(() -> tasklets.schedule(t));
        // the local_bh_enable invocation ran 10 passes, each re-queueing and re-raising TASKLET
        assertEquals(10, kernel.softirqs().count(0, SoftirqVector.TASKLET));
        assertTrue(kernel.softirqs().ksoftirqdWoken(0), "the 10-pass budget handed the spinning to ksoftirqd");
        stepper.run("ksoftirqd/0");
        assertEquals(20, kernel.softirqs().count(0, SoftirqVector.TASKLET));
        assertTrue(t.isScheduled(), "SCHED stays set the whole time");
        assertTrue(log.isEmpty());
        tasklets.enable(t);
        stepper.run("ksoftirqd/0");
        assertEquals(1, log.size());
        assertFalse(t.isScheduled());
    }

    @Test
    void callbackReschedulingItself_runsExactlyOnceMore() {
        int[] runs = {0};
        Tasklet t = Tasklet.setup("self", me -> {
            if (++runs[0] == 1) {
                tasklets.schedule(me);
            }
        });
        inBhSection(() -> tasklets.schedule(t));
        assertEquals(2, runs[0], "SCHED was cleared before the callback, so the reschedule queued it again");
    }

    @Test
    void scheduledOnAnotherCpuWhileRunning_runsThereAfterwards_neverConcurrently() {
        List<String> order = new ArrayList<>();
        Tasklet[] holder = new Tasklet[1];
        kernel.irqs().request(5, (irq, dev) -> {
            tasklets.schedule(holder[0]);                  // CPU 1 schedules it while CPU 0 runs it
            return IrqReturn.HANDLED;
        }, Set.of(), "cpu1dev", "d");
        kernel.irqs().setAffinity(5, 1);
        holder[0] = Tasklet.setup("t", me -> {
            order.add("start@" + kernel.context().cpuId());
            if (order.size() == 1) {
                kernel.irqs().assertIrq(5);
                stepper.hardirq(1);                         // CPU 1: its irq_exit finds the tasklet RUN on CPU 0
                order.add("cpu1 pass done, running elsewhere: " + me.isRunning());
            }
            order.add("end@" + kernel.context().cpuId());
        });
        inBhSection(() -> tasklets.schedule(holder[0]));
        assertEquals(List.of("start@0", "cpu1 pass done, running elsewhere: true", "end@0"), order);
        assertTrue(holder[0].isScheduled(), "re-queued on CPU 1");
        stepper.runUntilIdleOrRounds(50);
        assertEquals(List.of("start@0", "cpu1 pass done, running elsewhere: true", "end@0", "start@1", "end@1"), order);
    }

    @Test
    void scheduledFromAnotherCpuWhileQueued_isANoop_runsOnceOnTheFirstCpu() {
        Tasklet t = logging("t");
        task.localBhDisable();
        tasklets.schedule(t);                               // queued on CPU 0
        kernel.bindCurrentThread(0);
        ExecutionContext other = kernel.context();
        assertEquals(0, other.cpuId());
        kernel.smpCallFunctionSingle(1, () -> tasklets.schedule(t), true);   // CPU 1 tries: no-op
        assertTrue(kernel.tasklets().listEmpty(1, false));
        task.localBhEnable();
        stepper.runUntilIdleOrRounds(50);
        assertEquals(List.of("t@" + Thread.currentThread().getName()), log);
    }

    @Test
    void declaredDisabled_needsOneEnable() {
        Tasklet t = Tasklet.setupDisabled("d", me -> log.add("ran"));
        inBhSection(() -> tasklets.schedule(t));
        assertTrue(log.isEmpty());
        tasklets.enable(t);
        stepper.runUntilIdleOrRounds(50);
        assertEquals(List.of("ran"), log);
    }

    @Test
    void twoDisablesOneEnable_staysDisabled() {
        Tasklet t = logging("t");
        tasklets.disable(t);
        tasklets.disable(t);
        tasklets.enable(t);
        assertEquals(1, t.disableCount());
        inBhSection(() -> tasklets.schedule(t));
        assertTrue(log.isEmpty());
        tasklets.enable(t);
        stepper.runUntilIdleOrRounds(50);
        assertEquals(1, log.size());
    }

    @Test
    void disableFromOwnCallback_isReported_disableNosyncIsNot() {
        Tasklet t = Tasklet.setup("t", me -> tasklets.disable(me));
        inBhSection(() -> tasklets.schedule(t));
        assertEquals(1, reports.matching("BUG: tasklet_disable(t) called from the tasklet's own callback").size());
        assertEquals(1, t.disableCount());
    }

    @Test
    void killOfAScheduledEnabledTasklet_returnsAfterItRan_andItCanBeScheduledAgain() {
        Tasklet t = logging("t");
        kernel.bindCurrentThread(1);
        tasklets.schedule(t);                       // queued on CPU 1; ksoftirqd/1 woken, not yet run
        kernel.bindCurrentThread(0);
        assertTrue(t.isScheduled());
        tasklets.kill(t);
        assertEquals(List.of("t@ksoftirqd/1"), log, "kill waited for it to run (stepped: it drove CPU 1)");
        assertFalse(t.isScheduled());
        inBhSection(() -> tasklets.schedule(t));
        assertEquals(2, log.size());
    }

    @Test
    void killOfAScheduledDisabledTasklet_isReportedInsteadOfAHang() {
        Tasklet t = logging("t");
        tasklets.disableNosync(t);
        kernel.bindCurrentThread(1);
        tasklets.schedule(t);
        kernel.bindCurrentThread(0);
        tasklets.kill(t);
        assertEquals(1, reports.matching("tasklet_kill(t): the tasklet is scheduled but disabled").size(), reports.toString());
        assertTrue(log.isEmpty());
    }

    @Test
    void killFromInterruptContext_printsTheNotice_andTheSleepReport() {
        Tasklet t = logging("t");
        Tasklet killer = Tasklet.setup("killer", me -> tasklets.kill(t));
        inBhSection(() -> tasklets.schedule(killer));
        List<KernelEvent> notice = reports.matching("Attempt to kill tasklet from interrupt");
        assertEquals(1, notice.size());
        assertEquals(KernelEvent.Kind.NOTICE, notice.get(0).kind());
        assertEquals(1, reports.matching("BUG: sleeping function called from invalid context at tasklet_kill").size());
    }

    @Test
    void hiTaskletRunsBeforeANormalOne() {
        Tasklet normal = logging("normal");
        Tasklet high = logging("high");
        inBhSection(() -> {
            tasklets.schedule(normal);
            tasklets.hiSchedule(high);
        });
        String me = Thread.currentThread().getName();
        assertEquals(List.of("high@" + me, "normal@" + me), log);
        assertEquals(1, kernel.softirqs().count(0, SoftirqVector.HI));
        assertEquals(1, kernel.softirqs().count(0, SoftirqVector.TASKLET));
    }

    @Test
    void scheduleFromTask_runsInKsoftirqdOfThatCpu_inSoftirqContext() {
        List<String> seen = new ArrayList<>();
        Tasklet t = Tasklet.setup("t", me -> seen.add(kernel.context().name() + " serving="
                + kernel.context().inServingSoftirq()));
        kernel.bindCurrentThread(1);
        tasklets.schedule(t);
        stepper.run("ksoftirqd/1");
        assertEquals(List.of("ksoftirqd/1 serving=true"), seen);
    }

    @Test
    void legacyForm_receivesItsData_andTasksRunInScheduleOrder() {
        List<Long> got = new ArrayList<>();
        Tasklet a = Tasklet.init("a", got::add, 7);
        Tasklet b = Tasklet.init("b", got::add, 8);
        Tasklet c = Tasklet.init("c", got::add, 9);
        inBhSection(() -> {
            tasklets.schedule(b);
            tasklets.schedule(a);
            tasklets.schedule(c);
        });
        assertEquals(List.of(8L, 7L, 9L), got);
    }

    @Test
    void throwingCallback_isAnOops_andTheTaskletIsNotLeftRunning() {
        Tasklet t = Tasklet.setup("bad", me -> {
            throw new IllegalStateException("oops");
        });
        inBhSection(() -> tasklets.schedule(t));
        assertEquals(1, reports.matching("Oops: tasklet bad threw java.lang.IllegalStateException: oops").size());
        assertFalse(t.isRunning());
        assertFalse(t.isScheduled());
    }

    @Test
    void enableWithoutDisable_isReported_andTheCountStaysZero() {
        Tasklet t = logging("t");
        tasklets.enable(t);
        assertEquals(0, t.disableCount());
        assertEquals(1, reports.matching("tasklet_enable() of t without tasklet_disable()").size());
    }

    @Test
    void schedulingAnUninitialisedTasklet_isRefused() {
        assertThrows(IllegalStateException.class, () -> tasklets.schedule(new Tasklet()));
    }

    @Test
    void reinitialisedWhileQueued_isWarnedAboutOnce_andItsCallbackSkipped() {
        Tasklet t = logging("t");
        task.localBhDisable();
        tasklets.schedule(t);
        t.initCallback("t", me -> log.add("re-initialised callback"));  // misuse: SCHED cleared while queued
        task.localBhEnable();
        assertEquals(List.of(), log, "the kernel skips a queued tasklet whose SCHED bit is clear");
        assertEquals(1, reports.matching("tasklet SCHED state not set: callback t").size());
        assertFalse(t.isRunning());
        inBhSection(() -> tasklets.schedule(t));
        assertEquals(List.of("re-initialised callback"), log, "scheduled again properly, it runs");
    }
}
