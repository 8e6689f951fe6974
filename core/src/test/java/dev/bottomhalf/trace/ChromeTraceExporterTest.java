package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.bottomhalf.runtime.Tracepoint;

/** The exporter fed hits directly: its bounded buffer, and the trace it writes for a trace started mid-way. */
class ChromeTraceExporterTest {

    @SuppressWarnings("unchecked")
    private static Map<String, Object> otherData(String json) {
        return (Map<String, Object>) ((Map<String, Object>) MiniJson.parse(json)).get("otherData");
    }

    private static List<String> phasesAndNames(List<Map<String, Object>> events) {
        return events.stream().filter(e -> !"M".equals(e.get("ph")))
                .map(e -> e.get("ph") + " " + e.get("name") + " @" + e.get("ts")).toList();
    }

    @Test
    void fullBuffer_dropsTheLaterHits_andCountsThemInTheMetadata() {
        ChromeTraceExporter exporter = new ChromeTraceExporter(4);
        for (int i = 0; i < 10; i++) {
            exporter.hit(Tracepoint.SOFTIRQ_RAISE, 1_000L * i, 0, "cpu/0", "vec=" + i + " [action=V" + i + "]");
        }
        assertEquals(4, exporter.recorded());
        assertEquals(6, exporter.dropped());
        String json = exporter.toJson();
        List<Map<String, Object>> events = ChromeTraceFormatTest.validate(json);
        assertEquals(List.of("i softirq_raise V0 @0.0", "C softirq pending @0.0", "i softirq_raise V1 @1.0",
                "C softirq pending @1.0", "i softirq_raise V2 @2.0", "C softirq pending @2.0",
                "i softirq_raise V3 @3.0", "C softirq pending @3.0"), phasesAndNames(events));
        Map<String, Object> meta = otherData(json);
        assertEquals(6.0, meta.get("dropped"));
        assertEquals(4.0, meta.get("recorded"));
        assertEquals(4.0, meta.get("capacity"));
    }

    @Test
    void concurrentHits_fillTheBufferExactly_andDropTheRest() throws Exception {
        ChromeTraceExporter exporter = new ChromeTraceExporter(2_500);
        CyclicBarrier start = new CyclicBarrier(4);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            String comm = "task-" + t;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                for (int i = 0; i < 1_000; i++) {
                    exporter.hit(Tracepoint.TASKLET_ENTRY, i, 0, comm, "tasklet=t");
                    exporter.hit(Tracepoint.TASKLET_EXIT, i, 0, comm, "tasklet=t");
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(2_500, exporter.recorded());
        assertEquals(5_500, exporter.dropped());
        String json = exporter.toJson();
        ChromeTraceFormatTest.validate(json);
        Map<String, Object> meta = otherData(json);
        assertEquals(2_500.0, meta.get("recorded"));
        assertEquals(0.0, meta.get("skippedInFlight"));
    }

    @Test
    void exitWithoutItsEntry_isDropped_andCountedInTheMetadata() {
        ChromeTraceExporter exporter = new ChromeTraceExporter(16);
        exporter.hit(Tracepoint.SOFTIRQ_EXIT, 1_000, 0, "cpu/0", "vec=3 [action=NET_RX]"); // began before the trace
        exporter.hit(Tracepoint.TASKLET_ENTRY, 2_000, 0, "cpu/0", "tasklet=t");
        exporter.hit(Tracepoint.TASKLET_EXIT, 3_000, 0, "cpu/0", "tasklet=t");
        String json = exporter.toJson();
        assertEquals(List.of("B tasklet t @2.0", "E tasklet t @3.0"),
                phasesAndNames(ChromeTraceFormatTest.validate(json)));
        assertEquals(1.0, otherData(json).get("unmatchedExitsDropped"));
    }

    @Test
    void entryStillOpen_isClosedAtTheTraceEnd() {
        ChromeTraceExporter exporter = new ChromeTraceExporter(16);
        exporter.hit(Tracepoint.WORKQUEUE_EXECUTE_START, 1_000, 1, "kworker/1:0", "work struct w: function w");
        exporter.hit(Tracepoint.SOFTIRQ_RAISE, 5_500, 0, "cpu/0", "vec=1 [action=TIMER]");
        String json = exporter.toJson();
        List<Map<String, Object>> events = ChromeTraceFormatTest.validate(json);
        assertEquals(List.of("B work w @1.0", "i softirq_raise TIMER @5.5", "C softirq pending @5.5", "E work w @5.5"),
                phasesAndNames(events));
        assertEquals(Map.of("closed", "at trace end"), events.getLast().get("args"));
        assertEquals(1.0, otherData(json).get("closedAtTraceEnd"));
    }

    @Test
    void innerEntryLeftOpen_isClosedByTheOuterExit() {
        ChromeTraceExporter exporter = new ChromeTraceExporter(16);
        exporter.hit(Tracepoint.SOFTIRQ_ENTRY, 1_000, 0, "cpu/0", "vec=6 [action=TASKLET]");
        exporter.hit(Tracepoint.TASKLET_ENTRY, 2_000, 0, "cpu/0", "tasklet=lost-exit");
        exporter.hit(Tracepoint.SOFTIRQ_EXIT, 3_000, 0, "cpu/0", "vec=6 [action=TASKLET]");
        String json = exporter.toJson();
        assertEquals(List.of("B softirq TASKLET @1.0", "B tasklet lost-exit @2.0",
                "E tasklet lost-exit @3.0", "E softirq TASKLET @3.0"),
                phasesAndNames(ChromeTraceFormatTest.validate(json)));
        assertEquals(1.0, otherData(json).get("closedByOuterExit"));
    }

    @Test
    void namesWithQuotesAndControlCharacters_areEscaped() {
        ChromeTraceExporter exporter = new ChromeTraceExporter(4);
        String comm = "task \"q\"\\\n\u0001";
        exporter.hit(Tracepoint.TASKLET_ENTRY, 0, -1, comm, "tasklet=a\"b");
        exporter.hit(Tracepoint.TASKLET_EXIT, 1, -1, comm, "tasklet=a\"b");
        List<Map<String, Object>> events = ChromeTraceFormatTest.validate(exporter.toJson());
        assertEquals(List.of("outside the kernel", comm, "tasklet a\"b"), events.stream()
                .filter(e -> List.of("process_name", "thread_name").contains(e.get("name")) || "B".equals(e.get("ph")))
                .map(e -> "B".equals(e.get("ph")) ? e.get("name") : ((Map<?, ?>) e.get("args")).get("name")).toList());
    }

    @Test
    void timestamps_areExactMicroseconds() {
        assertEquals("0", ChromeTraceExporter.micros(0));
        assertEquals("1.5", ChromeTraceExporter.micros(1_500));
        assertEquals("2.001", ChromeTraceExporter.micros(2_001));
        assertEquals("123456789", ChromeTraceExporter.micros(123_456_789_000L));
        assertEquals("-0.25", ChromeTraceExporter.micros(-250));
    }

    @Test
    void writeTo_path_writesWhatToJsonReturns(@TempDir Path dir) throws IOException {
        ChromeTraceExporter exporter = new ChromeTraceExporter(4);
        exporter.hit(Tracepoint.NAPI_POLL, 7_000, 0, "ksoftirqd/0",
                "napi poll on napi struct eth0/0 for device eth0 work 3 budget 64");
        Path file = dir.resolve("trace.json");
        exporter.writeTo(file);
        assertEquals(exporter.toJson(), Files.readString(file, StandardCharsets.UTF_8));
        assertEquals(List.of("i napi_poll eth0 @7.0"), phasesAndNames(ChromeTraceFormatTest.validate(exporter.toJson())));
    }

    @Test
    void capacityBelowOne_isRefused() {
        assertThrows(IllegalArgumentException.class, () -> new ChromeTraceExporter(0));
    }
}
