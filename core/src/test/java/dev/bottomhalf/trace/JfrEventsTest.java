package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.SoftirqEvent;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * The JDK Flight Recorder events of the execution sites ({@code bottomhalf.HardIrq}, {@code bottomhalf.Softirq},
 * ...): a stepped scenario recorded with every event enabled gives one event per execution with its fields, nested
 * as the kernel runs them, and the same executions as the tracepoints; with the events disabled, or with no
 * recording running, nothing is recorded; a threaded kernel records from its own threads. Each test records into a
 * {@link Recording} dumped to a temporary file and read back with {@link RecordingFile}.
 */
class JfrEventsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(1);

    @TempDir
    Path tmp;

    /** Runs {@code scenario} under a recording with {@code settings}; returns its bottomhalf events by start time. */
    private List<RecordedEvent> record(Map<String, String> settings, Runnable scenario) throws IOException {
        Path file = tmp.resolve("recording-" + System.nanoTime() + ".jfr");
        try (Recording r = new Recording(settings)) {
            r.start();
            scenario.run();
            r.stop();
            r.dump(file);
        }
        List<RecordedEvent> events = new ArrayList<>();
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            if (e.getEventType().getCategoryNames().getFirst().equals(JfrEvents.CATEGORY)) {
                events.add(e);
            }
        }
        events.sort(Comparator.comparing(RecordedEvent::getStartTime)); // stable: ties keep the file's order
        return events;
    }

    /**
     * IRQ 24's top half (eth0) raises NET_RX, schedules the tasklet rx-stats and pushes the timer eth0-watchdog two
     * jiffies ahead; at irq_exit NET_RX and the tasklet run, and the tasklet queues the work item rx-refill, which a
     * kworker runs and which enables IRQ 24 once too often (a WARN). Then the hrtimer pacer fires, IRQ 30's primary
     * handler wakes its thread (slowdev), and two jiffies later the watchdog expires.
     */
    private static void scenario(Kernel k) {
        Stepper s = k.stepper();
        Workqueue wq = k.workqueues().alloc("eth0_refill", 0, 0);
        Work refill = new Work("rx-refill", w -> {
            s.advance(20, TimeUnit.MICROSECONDS);
            k.irqs().enable(24);
        });
        Tasklet stats = Tasklet.setup("rx-stats", t -> {
            s.advance(5, TimeUnit.MICROSECONDS);
            k.workqueues().queue(wq, refill);
        });
        TimerList watchdog = TimerList.setup("eth0-watchdog", t -> s.advance(3, TimeUnit.MICROSECONDS), 0);
        HrTimer pacer = k.hrtimers().create("pacer", t -> HrTimer.Restart.NORESTART, Set.of(HrTimer.Mode.REL));
        k.softirqs().open(SoftirqVector.NET_RX, () -> s.advance(10, TimeUnit.MICROSECONDS));
        k.irqs().request(24, (irq, dev) -> {
            s.advance(2, TimeUnit.MICROSECONDS);
            k.softirqs().raise(SoftirqVector.NET_RX);
            k.tasklets().schedule(stats);
            k.timers().mod(watchdog, k.jiffies() + 2);
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0", "eth0");
        k.irqs().requestThreaded(30, (irq, dev) -> IrqReturn.WAKE_THREAD, (irq, dev) -> IrqReturn.HANDLED, Set.of(),
                "slowdev", "slowdev");
        s.advance(100, TimeUnit.MICROSECONDS);
        k.irqs().assertIrq(24);
        s.hardirq(0);
        s.runUntilIdle();
        k.hrtimers().start(pacer, 50_000, Set.of(HrTimer.Mode.REL));
        s.advance(60, TimeUnit.MICROSECONDS);
        s.runUntilIdle();
        k.irqs().assertIrq(30);
        s.hardirq(0);
        s.runUntilIdle();
        s.runFor(3 * TimeUnit.SECONDS.toNanos(1) / k.hz(), TimeUnit.NANOSECONDS); // three ticks
    }

    private static String str(RecordedEvent e, String field) {
        return e.getString(field);
    }

    private static String shortName(RecordedEvent e) {
        return e.getEventType().getName().substring("bottomhalf.".length());
    }

    /** The scenario's own executions (not the runtime's timers and work), as {@code Kind key}. */
    private static List<String> userVisible(List<RecordedEvent> events) {
        List<String> out = new ArrayList<>();
        for (RecordedEvent e : events) {
            String key = switch (shortName(e)) {
                case "HardIrq", "ThreadedIrq" -> e.getInt("irq") + " " + str(e, "name");
                case "Softirq", "SoftirqRaise" -> str(e, "vector");
                case "Tasklet", "TaskletSchedule" -> str(e, "tasklet");
                case "Timer", "HrTimer", "Work", "QueueWork" -> str(e, "function");
                case "Report" -> str(e, "message");
                default -> "";
            };
            if (!key.startsWith("pool") && !key.startsWith("wq_watchdog") && !key.equals("")) {
                out.add(shortName(e) + " " + key);
            }
        }
        return out;
    }

    @Test
    void steppedScenario_recordsOneEventPerExecution_withItsFields_nestedAsTheKernelRunsThem() throws IOException {
        Kernel k = kernels.kernel();
        kernels.reports().expect("Unbalanced enable for IRQ 24");
        List<RecordedEvent> events = record(JfrEvents.settings(), () -> scenario(k));

        assertEquals(List.of(
                "HardIrq 24 eth0",
                "SoftirqRaise NET_RX",
                "TaskletSchedule rx-stats",
                "SoftirqRaise TASKLET",
                "Softirq NET_RX",
                "Softirq TASKLET",
                "Tasklet rx-stats",
                "QueueWork rx-refill",
                "Work rx-refill",
                "Report Unbalanced enable for IRQ 24",
                "HrTimer pacer",
                "HardIrq 30 slowdev",
                "ThreadedIrq 30 slowdev",
                "SoftirqRaise TIMER",
                "Softirq TIMER",
                "Timer eth0-watchdog"), userVisible(events));

        RecordedEvent hardirq = only(events, "HardIrq", "irq", 24);
        assertEquals("eth0", str(hardirq, "name"));
        assertEquals(0, hardirq.getInt("cpu"));
        assertEquals(IrqReturn.HANDLED, hardirq.getInt("ret"));
        assertEquals("handled", str(hardirq, "result"));
        RecordedEvent primary = only(events, "HardIrq", "irq", 30);
        assertEquals(IrqReturn.WAKE_THREAD, primary.getInt("ret"));
        assertEquals("wake_thread", str(primary, "result"));
        RecordedEvent threaded = only(events, "ThreadedIrq", "irq", 30);
        assertEquals("slowdev", str(threaded, "name"));
        assertEquals("handled", str(threaded, "result"));
        assertEquals(0, threaded.getInt("cpu"));

        RecordedEvent netRx = only(events, "Softirq", "vector", "NET_RX");
        assertEquals(SoftirqVector.NET_RX.nr(), netRx.getInt("nr"));
        assertEquals(0, netRx.getInt("cpu"));
        assertEquals(1, netRx.getInt("pass"));
        assertEquals("irq_exit", str(netRx, "invokedFrom"));
        RecordedEvent raise = only(events, "SoftirqRaise", "vector", "NET_RX");
        assertEquals(0, raise.getInt("cpu"));
        // the raise happens inside the top half; NET_RX runs at its irq_exit, after the handler returned
        assertTrue(within(raise.getStartTime(), hardirq), "raise inside the hardirq");
        assertFalse(netRx.getStartTime().isBefore(hardirq.getEndTime()), "NET_RX starts after the handler ended");

        RecordedEvent taskletSoftirq = only(events, "Softirq", "vector", "TASKLET");
        RecordedEvent tasklet = only(events, "Tasklet", "tasklet", "rx-stats");
        assertEquals(0, tasklet.getInt("cpu"));
        assertFalse(tasklet.getBoolean("hi"));
        assertTrue(within(tasklet.getStartTime(), taskletSoftirq) && within(tasklet.getEndTime(), taskletSoftirq),
                "the tasklet runs inside TASKLET_SOFTIRQ");
        RecordedEvent scheduled = only(events, "TaskletSchedule", "tasklet", "rx-stats");
        assertEquals(0, scheduled.getInt("cpu"));
        assertFalse(scheduled.getBoolean("hi"));

        RecordedEvent queued = only(events, "QueueWork", "function", "rx-refill");
        assertEquals("eth0_refill", str(queued, "workqueue"));
        assertEquals(-1, queued.getInt("reqCpu"));
        assertEquals(0, queued.getInt("cpu"));
        assertTrue(within(queued.getStartTime(), tasklet), "queue_work from the tasklet");
        RecordedEvent work = only(events, "Work", "function", "rx-refill");
        assertEquals("eth0_refill", str(work, "workqueue"));
        assertEquals(0, work.getInt("cpu"));
        assertTrue(str(work, "worker").startsWith("kworker/0:"), str(work, "worker"));

        RecordedEvent report = only(events, "Report", "message", "Unbalanced enable for IRQ 24");
        assertEquals("WARNING", str(report, "kind"));
        assertEquals(0, report.getInt("cpu"));
        assertEquals(str(work, "worker"), str(report, "comm"));
        assertTrue(within(report.getStartTime(), work), "reported from inside the work item");
        assertEquals(kernels.reports().matching("Unbalanced enable for IRQ 24").getFirst().jiffies(),
                report.getLong("jiffies"));

        RecordedEvent hrtimer = only(events, "HrTimer", "function", "pacer");
        assertEquals(0, hrtimer.getInt("cpu"));
        assertTrue(hrtimer.getLong("now") >= hrtimer.getLong("expires"), "expired at or after its expiry");
        assertFalse(hrtimer.getBoolean("restart"));

        RecordedEvent timer = only(events, "Timer", "function", "eth0-watchdog");
        assertEquals(0, timer.getInt("cpu"));
        assertTrue(timer.getLong("jiffies") - timer.getLong("expires") >= 0, "ran at or after its expiry");
        RecordedEvent timerSoftirq = events.stream().filter(e -> shortName(e).equals("Softirq")
                && str(e, "vector").equals("TIMER") && within(timer.getStartTime(), e)).findFirst().orElseThrow();
        assertEquals("irq_exit", str(timerSoftirq, "invokedFrom"));
    }

    @Test
    void steppedScenario_recordsTheSameExecutionsAsTheTracepoints() throws IOException {
        Kernel k = kernels.kernel();
        kernels.reports().expect("Unbalanced enable for IRQ 24");
        TraceBuffer trace = new TraceBuffer(10_000);
        k.tracing().enableAll(trace);
        List<RecordedEvent> events = record(JfrEvents.settings(), () -> scenario(k));
        k.tracing().disable();

        Map<String, Integer> fromJfr = new TreeMap<>();
        for (RecordedEvent e : events) {
            String key = switch (shortName(e)) {
                case "HardIrq" -> "irq " + e.getInt("irq");
                case "Softirq" -> "softirq " + str(e, "vector");
                case "SoftirqRaise" -> "raise " + str(e, "vector");
                case "Tasklet" -> "tasklet " + str(e, "tasklet");
                case "Timer" -> "timer " + str(e, "function");
                case "HrTimer" -> "hrtimer " + str(e, "function");
                case "Work" -> "work " + str(e, "function");
                case "QueueWork" -> "queue " + str(e, "function");
                default -> null;
            };
            if (key != null) {
                fromJfr.merge(key, 1, Integer::sum);
            }
        }
        Map<String, Integer> fromTrace = new TreeMap<>();
        Pattern first = Pattern.compile("^(?:irq=|vec=\\d+ \\[action=|tasklet=|timer=|hrtimer=|work struct=?\\s?)([^ \\]:]+)");
        Map<String, String> prefix = new HashMap<>(Map.of("IRQ_HANDLER_ENTRY", "irq ", "SOFTIRQ_ENTRY", "softirq ",
                "SOFTIRQ_RAISE", "raise ", "TASKLET_ENTRY", "tasklet ", "TIMER_EXPIRE_ENTRY", "timer ",
                "HRTIMER_EXPIRE_ENTRY", "hrtimer ", "WORKQUEUE_EXECUTE_START", "work ",
                "WORKQUEUE_QUEUE_WORK", "queue "));
        for (TraceBuffer.Entry hit : trace.entries()) {
            String p = prefix.get(hit.point().name());
            if (p != null) {
                Matcher m = first.matcher(hit.detail());
                assertTrue(m.find(), hit.detail());
                fromTrace.merge(p + m.group(1), 1, Integer::sum);
            }
        }
        assertEquals(fromTrace, fromJfr);
        assertTrue(fromJfr.size() >= 8, "every kind of execution: " + fromJfr);
    }

    @Test
    void eventsDisabledInTheRecording_recordNothing() throws IOException {
        Kernel k = kernels.kernel();
        kernels.reports().expect("Unbalanced enable for IRQ 24");
        Map<String, String> off = new HashMap<>();
        for (String name : JfrEvents.names()) {
            off.put(name + "#enabled", "false");
        }
        off.put("jdk.ThreadSleep#enabled", "true"); // a recording that runs, with other events
        assertEquals(List.of(), record(off, () -> scenario(k)));
    }

    @Test
    void gate_isOpenOnlyWhileARecordingRuns() {
        assertFalse(Jfr.on(), "no recording runs before the test");
        try (Recording r = new Recording()) {
            r.start();
            assertTrue(Jfr.on(), "open while a recording runs, whatever it records");
            r.stop();
            assertFalse(Jfr.on(), "closed once it stopped");
        }
        assertFalse(Jfr.on());
    }

    /** {@code com.sun.management.ThreadMXBean.getThreadAllocatedBytes} of this thread (through reflection). */
    private static long allocatedBytes() throws ReflectiveOperationException {
        Method m = Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class);
        return (long) m.invoke(ManagementFactory.getThreadMXBean(), Thread.currentThread().threadId());
    }

    /**
     * Bytes allocated by 100,000 rounds of a task on CPU 0 that, with BH disabled, raises NET_RX and schedules a
     * tasklet, then runs both softirqs (and the tasklet) at its local_bh_enable, after a warm-up: the sites of a
     * raise, a tasklet schedule, a softirq run and a tasklet run each pass their event's gate 100,000 times. (A
     * hard IRQ is not in the loop: {@code Stepper.hardirq} itself may allocate a lambda, depending on the JIT's
     * inlining.)
     */
    /**
     * Less than one byte a round: an object made per round (an event is at least 24 bytes) fails it by far, while the
     * JVM's one-off allocations on this thread (the measuring call, ~1 KB; rarely a few KB more after JFR changed the
     * gate and the JIT recompiled) pass.
     */
    private static final long ONE_BYTE_A_ROUND = 100_000;

    private long bytesFor100000Rounds(Kernel k) throws ReflectiveOperationException {
        Tasklet t = Tasklet.setup("t", tasklet -> { });
        k.softirqs().open(SoftirqVector.NET_RX, () -> { });
        ExecutionContext task = k.bindCurrentThread(0);
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < 100_000; i++) {
                task.localBhDisable();
                k.softirqs().raise(SoftirqVector.NET_RX);
                k.tasklets().schedule(t);
                task.localBhEnable();
            }
            allocatedBytes();
        }
        long before = allocatedBytes();
        for (int i = 0; i < 100_000; i++) {
            task.localBhDisable();
            k.softirqs().raise(SoftirqVector.NET_RX);
            k.tasklets().schedule(t);
            task.localBhEnable();
        }
        long allocated = allocatedBytes() - before;
        assertEquals(500_000, k.softirqs().count(0, SoftirqVector.TASKLET), "every round ran the tasklet softirq");
        return allocated;
    }

    @Test
    void executionSites_withNoRecordingRunning_allocateNothing() throws ReflectiveOperationException {
        assertFalse(Jfr.on());
        long allocated = bytesFor100000Rounds(kernels.kernel());
        assertTrue(allocated < ONE_BYTE_A_ROUND, allocated + " bytes for 100,000 rounds");
    }

    @Test
    void executionSites_underARecordingWithoutTheirEvents_allocateNothing() throws ReflectiveOperationException {
        try (Recording r = new Recording(Map.of("jdk.ThreadSleep#enabled", "true"))) {
            r.start();
            assertTrue(Jfr.on());
            long allocated = bytesFor100000Rounds(kernels.kernel());
            assertTrue(allocated < ONE_BYTE_A_ROUND, allocated + " bytes for 100,000 rounds: an event object was made"
                    + " although the recording does not record it");
        }
    }

    /** Every begin helper, as a site calls it: true for each that returned an event to fill. */
    private static List<Boolean> beginHelpersReturnAnEvent() {
        return List.of(Jfr.hardIrqBegin() != null, Jfr.threadedIrqBegin() != null, Jfr.softirqBegin() != null,
                Jfr.taskletBegin() != null, Jfr.timerBegin() != null, Jfr.hrTimerBegin() != null,
                Jfr.workBegin() != null, Jfr.napiPollBegin() != null, Jfr.ksoftirqdWakeupRecorded());
    }

    @Test
    void beginHelpers_makeAnEventOnlyWhenARunningRecordingRecordsIt() {
        List<Boolean> none = List.of(false, false, false, false, false, false, false, false, false);
        assertEquals(none, beginHelpersReturnAnEvent(), "no recording");
        try (Recording r = new Recording(Map.of("jdk.ThreadSleep#enabled", "true"))) {
            r.start();
            assertEquals(none, beginHelpersReturnAnEvent(), "a recording without bottomhalf's events");
        }
        try (Recording r = new Recording(JfrEvents.settings())) {
            r.start();
            assertEquals(List.of(true, true, true, true, true, true, true, true, true), beginHelpersReturnAnEvent(),
                    "a recording of every event");
            r.disable(SoftirqEvent.NAME);
            assertEquals(List.of(true, true, false, true, true, true, true, true, true), beginHelpersReturnAnEvent(),
                    "a setting changed while the recording runs takes effect at once");
        }
        assertEquals(none, beginHelpersReturnAnEvent(), "after the recording");
    }

    @Test
    void napiPoll_isRecordedWithTheWorkDoneAndTheBudget() throws IOException {
        Kernel k = kernels.kernel();
        NetDevice eth0 = new NetDevice("eth0");
        NapiStruct n = new NapiStruct();
        int[] pending = {10};
        k.napi().add(eth0, n, (napi, budget) -> {
            int work = Math.min(pending[0], budget);
            pending[0] -= work;
            if (work < budget) {
                k.napi().completeDone(napi, work);
            }
            return work;
        }, 64);
        k.napi().enable(n);
        k.irqs().request(24, (irq, dev) -> {
            k.napi().schedule(n);
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0", "eth0");
        List<RecordedEvent> events = record(JfrEvents.settings(), () -> {
            k.irqs().assertIrq(24);
            k.stepper().hardirq(0);
            k.stepper().runUntilIdle();
        });
        RecordedEvent poll = only(events, "NapiPoll", "device", "eth0");
        assertEquals(10, poll.getInt("work"));
        assertEquals(64, poll.getInt("budget"));
        assertEquals(0, poll.getInt("cpu"));
        assertFalse(str(poll, "napi").isEmpty());
        RecordedEvent netRx = only(events, "Softirq", "vector", "NET_RX");
        assertTrue(within(poll.getStartTime(), netRx) && within(poll.getEndTime(), netRx), "polled in NET_RX");
    }

    @Test
    void ksoftirqdWakeup_isRecordedWhenATaskRaises_andKsoftirqdRunsTheVector() throws IOException {
        Kernel k = kernels.kernel();
        k.softirqs().open(SoftirqVector.NET_RX, () -> { });
        k.bindCurrentThread(0);
        List<RecordedEvent> events = record(JfrEvents.settings(), () -> {
            k.softirqs().raise(SoftirqVector.NET_RX);         // task context: wakeup_softirqd
            k.softirqs().raise(SoftirqVector.NET_RX);         // already woken: no second hand-off
            k.stepper().run("ksoftirqd/0");
        });
        RecordedEvent wakeup = only(events, "KsoftirqdWakeup", "cpu", 0);
        assertEquals("NET_RX", str(wakeup, "pending"));
        assertEquals(Thread.currentThread().getName(), str(wakeup, "waker"));
        assertEquals("task", str(wakeup, "wakerContext"));
        RecordedEvent netRx = only(events, "Softirq", "vector", "NET_RX");
        assertEquals("ksoftirqd", str(netRx, "invokedFrom"));
        assertEquals(2, events.stream().filter(e -> shortName(e).equals("SoftirqRaise")).count());
    }

    @Test
    void threadedKernel_recordsFromItsOwnThreads() throws Exception {
        Kernel k = Kernel.boot(KernelConfig.builder().cpus(2).build());
        try {
            CountDownLatch workDone = new CountDownLatch(1);
            CountDownLatch threadDone = new CountDownLatch(1);
            Workqueue wq = k.workqueues().alloc("smoke", 0, 0);
            Work item = new Work("smoke-work", w -> workDone.countDown());
            k.softirqs().open(SoftirqVector.NET_RX, () -> k.workqueues().queueOn(1, wq, item));
            k.irqs().requestThreaded(24, (irq, dev) -> {
                k.softirqs().raise(SoftirqVector.NET_RX);
                return IrqReturn.WAKE_THREAD;
            }, (irq, dev) -> {
                threadDone.countDown();
                return IrqReturn.HANDLED;
            }, Set.of(), "smoke", "smoke");
            k.irqs().setAffinity(24, 1);
            List<RecordedEvent> events = record(JfrEvents.settings(), () -> {
                k.irqs().assertIrq(24);
                try {
                    assertTrue(workDone.await(10, TimeUnit.SECONDS) && threadDone.await(10, TimeUnit.SECONDS));
                    // each event is committed after its function returned: wait for the ends, as the recording
                    // stops next (cpu/1 takes the cross-CPU call after its irq_exit's softirqs)
                    k.workqueues().flush(item);
                    k.irqs().synchronize(24);
                    k.smpCallFunctionSingle(1, () -> { }, true);
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
            RecordedEvent hardirq = only(events, "HardIrq", "irq", 24);
            assertEquals("cpu/1", hardirq.getThread().getJavaName());
            assertEquals(1, hardirq.getInt("cpu"));
            assertEquals("cpu/1", only(events, "Softirq", "vector", "NET_RX").getThread().getJavaName());
            assertEquals("irq/24-smoke", only(events, "ThreadedIrq", "irq", 24).getThread().getJavaName());
            RecordedEvent work = only(events, "Work", "function", "smoke-work");
            assertEquals(str(work, "worker"), work.getThread().getJavaName());
            assertTrue(str(work, "worker").startsWith("kworker/1:"), str(work, "worker"));
        } finally {
            k.close(Duration.ofSeconds(10));
        }
    }

    private static boolean within(Instant t, RecordedEvent span) {
        return !t.isBefore(span.getStartTime()) && !t.isAfter(span.getEndTime());
    }

    private static RecordedEvent only(List<RecordedEvent> events, String kind, String field, Object value) {
        List<RecordedEvent> found = events.stream().filter(e -> shortName(e).equals(kind)
                && String.valueOf((Object) e.getValue(field)).equals(String.valueOf(value))).toList();
        assertEquals(1, found.size(), () -> "one " + kind + " with " + field + "=" + value + " among " + events);
        return found.getFirst();
    }
}
