package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;

/** The exporter's output against the Trace Event Format's rules, and its buffer's bound. */
class ChromeTraceFormatTest {
    static final long TIMEOUT_S = 30;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /**
     * Parses {@code json} and checks every event: the fields each phase requires, args objects, B/E balanced per
     * thread in order and with the same name, ts never going backwards per thread, every flow start with one end.
     *
     * @return the trace's events
     */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> validate(String json) {
        Map<String, Object> doc = (Map<String, Object>) MiniJson.parse(json);
        assertInstanceOf(Map.class, doc.get("otherData"), "the metadata dictionary");
        List<Map<String, Object>> events = (List<Map<String, Object>>) doc.get("traceEvents");
        assertNotNull(events, "traceEvents");
        Map<Double, Deque<String>> open = new HashMap<>();
        Map<Double, Double> lastTs = new HashMap<>();
        Map<Double, Map<String, Object>> flowStarts = new HashMap<>();
        Set<Double> flowEnds = new HashSet<>();
        for (Map<String, Object> e : events) {
            String ph = (String) e.get("ph");
            assertNotNull(ph, () -> "ph of " + e);
            assertInstanceOf(Double.class, e.get("pid"), () -> "pid of " + e);
            assertInstanceOf(Double.class, e.get("tid"), () -> "tid of " + e);
            if (e.containsKey("args")) {
                assertInstanceOf(Map.class, e.get("args"), () -> "args of " + e);
            }
            if (ph.equals("M")) {
                assertTrue(Set.of("process_name", "process_sort_index", "thread_name", "thread_sort_index")
                        .contains(e.get("name")), () -> "metadata " + e);
                assertInstanceOf(Map.class, e.get("args"), () -> "args of " + e);
                continue;
            }
            Double tid = (Double) e.get("tid");
            Double ts = assertInstanceOf(Double.class, e.get("ts"), () -> "ts of " + e);
            Double before = lastTs.put(tid, ts);
            assertTrue(before == null || before <= ts, () -> "ts went backwards on tid " + tid + " at " + e);
            switch (ph) {
                case "B" -> {
                    assertInstanceOf(String.class, e.get("name"), () -> "name of " + e);
                    assertInstanceOf(Map.class, e.get("args"), () -> "args of " + e);
                    open.computeIfAbsent(tid, t -> new ArrayDeque<>()).push((String) e.get("name"));
                }
                case "E" -> {
                    Deque<String> stack = open.get(tid);
                    assertTrue(stack != null && !stack.isEmpty(), () -> "E without B: " + e);
                    assertEquals(stack.pop(), e.get("name"), () -> "E closes another slice: " + e);
                }
                case "X" -> {
                    assertInstanceOf(String.class, e.get("name"), () -> "name of " + e);
                    assertInstanceOf(Double.class, e.get("dur"), () -> "dur of " + e);
                }
                case "i" -> {
                    assertInstanceOf(String.class, e.get("name"), () -> "name of " + e);
                    assertTrue(Set.of("t", "p", "g").contains(e.get("s")), () -> "scope of " + e);
                    assertInstanceOf(Map.class, e.get("args"), () -> "args of " + e);
                }
                case "C" -> {
                    assertInstanceOf(String.class, e.get("name"), () -> "name of " + e);
                    Map<String, Object> args = assertInstanceOf(Map.class, e.get("args"), () -> "args of " + e);
                    assertFalse(args.isEmpty(), () -> "a counter without values: " + e);
                    args.values().forEach(v -> assertInstanceOf(Double.class, v, () -> "counter value of " + e));
                }
                case "s" -> {
                    Double id = assertInstanceOf(Double.class, e.get("id"), () -> "id of " + e);
                    assertTrue(flowStarts.put(id, e) == null, () -> "flow id used twice: " + e);
                }
                case "f" -> {
                    Double id = assertInstanceOf(Double.class, e.get("id"), () -> "id of " + e);
                    Map<String, Object> start = flowStarts.get(id);
                    assertNotNull(start, () -> "flow end before its start: " + e);
                    assertEquals(start.get("name"), e.get("name"), () -> "flow name " + e);
                    assertEquals(start.get("cat"), e.get("cat"), () -> "flow cat " + e);
                    assertTrue((Double) start.get("ts") <= ts, () -> "flow ends before it starts: " + e);
                    assertEquals("e", e.get("bp"), () -> "flow end binds to its enclosing slice: " + e);
                    Deque<String> stack = open.get(tid);
                    assertTrue(stack != null && stack.peek().equals(e.get("name")),
                            () -> "flow end outside its slice: " + e);
                    assertTrue(flowEnds.add(id), () -> "flow id ended twice: " + e);
                }
                default -> fail("unexpected phase " + ph + ": " + e);
            }
        }
        open.forEach((tid, stack) -> assertTrue(stack.isEmpty(), () -> "unclosed slices on tid " + tid + ": " + stack));
        assertEquals(flowStarts.keySet(), flowEnds, "every flow has its end");
        return events;
    }

    static long count(List<Map<String, Object>> events, String ph, String namePrefix) {
        return events.stream().filter(e -> ph.equals(e.get("ph")) && ((String) e.get("name")).startsWith(namePrefix))
                .count();
    }

    @Test
    void threadedScenario_everyEventFollowsTheFormat() throws Exception {
        Kernel k = kernels.kernel();
        ChromeTraceExporter exporter = ChromeTraceExporter.attach(k);
        int rounds = 50;
        AtomicInteger[] refilled = {new AtomicInteger(), new AtomicInteger()};
        AtomicInteger threadedRuns = new AtomicInteger();
        AtomicInteger hrtimerRuns = new AtomicInteger();
        Tasklet[] stats = new Tasklet[2];
        TimerList[] watchdogs = new TimerList[2];
        Work[] refills = new Work[2];
        for (int cpu = 0; cpu < 2; cpu++) {
            AtomicInteger runs = refilled[cpu];
            stats[cpu] = Tasklet.setup("stats-" + cpu, t -> { });
            watchdogs[cpu] = TimerList.setup("watchdog-" + cpu, t -> { }, TimerList.TIMER_PINNED);
            refills[cpu] = new Work("refill-" + cpu, w -> runs.incrementAndGet());
        }
        HrTimer pacer = k.hrtimers().create("pacer", t -> {
            if (hrtimerRuns.incrementAndGet() >= 5) {
                return HrTimer.Restart.NORESTART;
            }
            k.hrtimers().forwardNow(t, Duration.ofMillis(1));
            return HrTimer.Restart.RESTART;
        }, EnumSet.of(HrTimer.Mode.REL));
        k.softirqs().open(SoftirqVector.NET_RX, () -> {
            int cpu = k.smpProcessorId();
            k.tasklets().schedule(stats[cpu]);
            k.workqueues().schedule(refills[cpu]);
        });
        for (int cpu = 0; cpu < 2; cpu++) {
            int me = cpu;
            k.irqs().request(24 + cpu, (irq, dev) -> {
                k.softirqs().raise(SoftirqVector.NET_RX);
                k.timers().mod(watchdogs[me], k.jiffies() + 1);
                return IrqReturn.HANDLED;
            }, Set.of(), "eth0-" + cpu, "eth0-" + cpu);
            k.irqs().setAffinity(24 + cpu, cpu);
        }
        k.irqs().requestThreaded(30, null, (irq, dev) -> {
            k.tasklets().schedule(stats[k.smpProcessorId()]);
            threadedRuns.incrementAndGet();
            return IrqReturn.HANDLED;
        }, Set.of(IrqFlag.ONESHOT), "slowdev", "slowdev");
        k.hrtimers().start(pacer, Duration.ofMillis(1), EnumSet.of(HrTimer.Mode.REL));
        for (int i = 1; i <= rounds; i++) {
            k.irqs().assertIrq(24);
            k.irqs().assertIrq(25);
            k.irqs().assertIrq(30);
            int round = i;
            awaitProgress(() -> refilled[0].get() >= round && refilled[1].get() >= round && threadedRuns.get() >= round);
        }
        awaitProgress(() -> hrtimerRuns.get() >= 5);
        k.tracing().disable();

        List<Map<String, Object>> events = validate(exporter.toJson());
        assertTrue(count(events, "B", "irq 24: eth0-0") > 0, "hardirq slices");
        assertTrue(count(events, "B", "softirq NET_RX") > 0, "softirq slices");
        assertTrue(count(events, "B", "tasklet stats-") > 0, "tasklet slices");
        assertTrue(count(events, "B", "work refill-") > 0, "work slices");
        assertTrue(count(events, "i", "softirq_raise") > 0, "raise instants");
        assertTrue(count(events, "s", "work refill-") > 0, "work flows");
        assertTrue(count(events, "C", "softirq pending") > 0, "counters");
        assertTrue(events.stream().anyMatch(e -> "M".equals(e.get("ph")) && "thread_name".equals(e.get("name"))
                && "irq/30-slowdev".equals(((Map<?, ?>) e.get("args")).get("name"))), "the IRQ thread's track");
        assertEquals(0, exporter.dropped());
    }

    /** Waits for the runtime threads to make progress (not a timing check): fails after TIMEOUT_S. */
    private static void awaitProgress(BooleanSupplier done) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("no progress in " + TIMEOUT_S + " s");
            }
            Thread.onSpinWait();
            Thread.yield();
        }
    }
}
