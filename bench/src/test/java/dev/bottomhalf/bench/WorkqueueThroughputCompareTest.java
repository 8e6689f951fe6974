package dev.bottomhalf.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/** The throughput harness's {@code compare} mode: its rows, its pinning, its errors. */
class WorkqueueThroughputCompareTest {
    private static String run(String... args) throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            WorkqueueThroughputHarness.compare(args);
        } finally {
            System.setOut(saved);
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        return text;
    }

    /** The CPUs a task may run on, from /proc/{@code task}/status. */
    private static String cpus(String task) throws java.io.IOException {
        return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc", task, "status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list")).findFirst().orElseThrow();
    }

    @Test
    void pinned_everyNamedRowGetsARateInEveryRound_andTheThreadsGetTheirCpusBack() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "2 CPUs");
        String before = cpus("thread-self") + " / " + cpus("self");
        String text = run("--pin=split", "--rounds=2", "--items=100000", "wq-percpu", "tpe")
                + run("--pin=one", "--rounds=2", "--items=100000", "wq-percpu", "tpe");
        assertTrue(text.contains("producer on CPU 0, every other thread on CPU 1"), text);
        assertTrue(text.contains("every thread on CPU 0"), text);
        assertEquals(before, cpus("thread-self") + " / " + cpus("self"), "this thread and the process leader have"
                + " their CPUs back");
        for (String row : new String[] {"wq-percpu", "tpe"}) {
            assertEquals(2, text.lines().filter(l -> l.trim().startsWith(row + " ") && l.matches(
                    ".*best +\\d+\\.\\d\\d +median +\\d+\\.\\d\\d +\\(rounds: \\d+\\.\\d\\d \\d+\\.\\d\\d\\)")).count(), text);
        }
    }

    @Test
    void theFloorRows_handOverEveryItem_andReportARate() throws Exception {
        String text = run("--rounds=2", "--items=100000", "floor-claim-list", "floor-claim-ring");
        for (String row : new String[] {"floor-claim-list", "floor-claim-ring"}) {
            assertEquals(1, text.lines().filter(l -> l.trim().startsWith(row + " ") && l.matches(
                    ".*best +\\d+\\.\\d\\d +median +\\d+\\.\\d\\d +\\(rounds: \\d+\\.\\d\\d \\d+\\.\\d\\d\\)")).count(), text);
        }
    }

    @Test
    void unknownRowsAndTooFewItemsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> run("--rounds=1", "fjp2"));
        assertThrows(IllegalArgumentException.class, () -> run("--items=10", "tpe"));
        assertThrows(IllegalArgumentException.class, () -> run("--pin=one"));
        assertThrows(IllegalArgumentException.class, () -> run("--pin=all", "tpe"));
    }
}
