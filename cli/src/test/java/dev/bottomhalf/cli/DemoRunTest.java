package dev.bottomhalf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo run in-process (and once as a child JVM), with short durations: what it prints, and what it leaves behind. */
class DemoRunTest {
    private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(outBytes, true, StandardCharsets.UTF_8);
    private final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);
    @TempDir
    Path tempDir;

    @Test
    void udpCard_receivesRealDatagrams_countsEachAsReceivedOrDropped_printsProcFiles_andLeavesNoFile()
            throws IOException {
        int exit = Main.run(new String[] {"demo", "--seconds", "2", "--rate", "20000", "--size", "100", "--temp-dir",
            tempDir.toString()}, out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.contains("eth0: 2 receive queues (UDP sockets on /127.0.0.1:"), text);
        assertTrue(text.contains("a sender process sends 20,000 datagrams/s of 100 bytes from 16 ports for 2 s"), text);
        assertTrue(text.matches("(?s).*\nt= 1s  rx +[\\d,]+ datagrams \\(CPU0 [\\d,]+ \\| CPU1 [\\d,]+\\)  hard IRQs .*"
                + "  socket drops [\\d,]+\n.*"), text);
        assertTrue(text.contains("\nt= 2s "), text);
        assertTrue(text.matches("(?s).* 24: +[1-9]\\d* +0 +BH-INTC +24-edge +eth0-rx-0\n.*"), text);
        assertTrue(text.matches("(?s).* 25: +0 +[1-9]\\d* +BH-INTC +25-edge +eth0-rx-1\n.*"), text);
        assertTrue(text.matches("(?s).*      NET_RX: +[1-9]\\d* +[1-9]\\d*\n.*"), text);
        assertTrue(text.matches("(?s).*/proc/net/softnet_stat .*:\n[0-9a-f]{8}( [0-9a-f]{8}){14}\n"
                + "[0-9a-f]{8}( [0-9a-f]{8}){14}\n.*"), text);
        Matcher counts = Pattern.compile("sender process sent ([\\d,]+) datagrams; the device took ([\\d,]+) off its"
                + " sockets \\(queue 0: ([\\d,]+), queue 1: ([\\d,]+)\\): ([\\d,]+) handled in NET_RX \\(rx_packets\\),"
                + " 0 refused \\(rx_dropped\\), 0 missed \\(no free buffer\\)\n"
                + "dropped by the host's sockets \\(buffer full\\): ([\\d,]+), computed as sent - taken;"
                + " /proc/net/udp's drops column for the port: ([\\d,]+|not available)\n").matcher(text);
        assertTrue(counts.find(), text);
        long sent = number(counts.group(1));
        long taken = number(counts.group(2));
        assertTrue(sent >= 20_000, "two seconds at 20,000/s and a burst: " + sent);
        assertEquals(taken, number(counts.group(3)) + number(counts.group(4)));
        assertEquals(taken, number(counts.group(5)));
        assertEquals(sent - taken, number(counts.group(6)));
        if (!counts.group(7).equals("not available")) {
            assertEquals(sent - taken, number(counts.group(7)), "the host's own count of the sockets' drops");
        }
        assertTrue(number(counts.group(3)) > 0 && number(counts.group(4)) > 0,
                "the host spreads 16 ports over both queues (all on one: 1 in 32,768)");
        assertTrue(text.matches("(?s).*\ninterrupts [\\d,]+, polls [\\d,]+: [\\d.]+ datagrams per interrupt,"
                + " [\\d.]+ polls per interrupt\n.*"), text);
        assertTrue(text.matches("(?s).*statistics tasklets: [\\d,]+ roll-ups, device total " + counts.group(5)
                + " datagrams\n.*"), text);
        assertTrue(text.matches("(?s).*watchdog timers fired \\(the card went quiet for \\d+ ms at the end\\):"
                + " eth0-watchdog-0 [1-9]\\d*, eth0-watchdog-1 [1-9]\\d*\n.*"), text);
        assertTrue(text.matches("(?s).*slow path: [1-9]\\d* per-second summaries and [1-9]\\d* control-datagram lines"
                + " written by kworkers to a temporary file \\(deleted at the end\\); the last line:\n  .*"), text);
        assertTrue(text.matches("(?s).*workqueue monitor:\n.*\neth0_slow +[1-9]\\d* +0 .*"), text);
        assertTrue(text.contains("every datagram sent was received or counted as dropped; no kernel warnings."), text);
        assertTrue(text.contains("watch it run:\n  ./bottomhalf demo --web ") && text.contains(
                "  ./bottomhalf demo --trace-out=timeline.json  the run's tracepoints as a timeline"), text);
        assertEquals(List.of(), filesIn(tempDir));
        assertEquals("", errBytes.toString(StandardCharsets.UTF_8));
    }

    private static long number(String digits) {
        return Long.parseLong(digits.replace(",", ""));
    }

    @Test
    void simulatedCard_deliversEveryPacket_printsProcFiles_andLeavesNoFile() throws IOException {
        int exit = Main.run(new String[] {"demo", "--card=simulated", "--seconds", "1", "--rate", "50000", "--temp-dir",
            tempDir.toString()}, out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.contains("t= 1s"), text);
        assertTrue(text.contains("/proc/interrupts:"), text);
        assertTrue(text.matches("(?s).* 24: +\\d+ +0 +BH-INTC +24-edge +eth0-rx-0\n.*"), text);
        assertTrue(text.matches("(?s).* 25: +0 +\\d+ +BH-INTC +25-edge +eth0-rx-1\n.*"), text);
        assertTrue(text.contains("      NET_RX:"), text);
        assertTrue(text.matches("(?s).*statistics tasklets: [\\d,]+ roll-ups, device total [\\d,]+ packets\n.*"), text);
        assertTrue(text.matches("(?s).*     TASKLET: +[1-9]\\d* +[1-9]\\d*\n.*"), text);
        assertTrue(text.matches("(?s).*watchdog timers fired \\(the card went quiet for \\d+ ms at the end\\):"
                + " eth0-watchdog-0 [1-9]\\d*, eth0-watchdog-1 [1-9]\\d*\n.*"), text);
        assertTrue(text.matches("(?s).*LOC: +[1-9]\\d* +[1-9]\\d* +Local timer interrupts\n.*"), text);
        assertTrue(text.matches("(?s).*slow path: ([1-9]\\d*) per-second summaries written by a kworker to a temporary"
                + " file \\(deleted at the end\\); the last one:\n  summary \\1: jiffies \\d+, delivered \\d+ packets,"
                + " dropped \\d+, on kworker/\\S+\n.*"), text);
        assertTrue(text.matches("(?s).*workqueue monitor:\n.*\neth0_summary +[1-9]\\d* +0 .*"), text);
        assertTrue(text.contains("every accepted packet was delivered; no kernel warnings."), text);
        assertTrue(text.strip().endsWith("(docs/tracing.md)"), "the demo ends with the two commands that show it: " + text);
        assertEquals(List.of(), filesIn(tempDir));
        assertEquals("", errBytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void demo_withTrace_printsTracepointHits() {
        int exit = Main.run(new String[] {"demo", "--seconds=1", "--rate=10000", "--trace=20", "--temp-dir=" + tempDir},
                out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.contains("trace (last 20 hits):"), text);
        assertTrue(text.contains("timer_expire_entry: timer=process_timeout"), text); // the demo's closing msleep
    }

    @Test
    void demo_withTraceOut_writesAChromeTraceTimeline() throws IOException {
        Path file = tempDir.resolve("timeline.json");
        int exit = Main.run(new String[] {"demo", "--seconds=1", "--rate=10000", "--trace-out=" + file}, out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.matches("(?s).*\ntimeline: [\\d,]+ tracepoint hits written to " + Pattern.quote(file.toString())
                + " \\([\\d,]+ later hits dropped\\); open it at ui\\.perfetto\\.dev \\(Open trace file\\) or in"
                + " chrome://tracing\n.*"), text);
        assertTrue(!text.contains("trace (last"), text);
        String json = Files.readString(file, StandardCharsets.UTF_8);
        assertTrue(json.startsWith("{\"traceEvents\":[\n"), json.substring(0, 200));
        assertTrue(json.contains("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
                + "\"args\":{\"name\":\"CPU 0\"}}"), "CPU 0's process");
        assertTrue(json.contains("\"args\":{\"name\":\"cpu/1\"}"), "cpu/1's thread");
        assertTrue(json.contains("{\"name\":\"irq 24: eth0-rx-0\",\"cat\":\"irq\",\"ph\":\"B\""), "hardirq slices");
        assertTrue(json.contains("{\"name\":\"softirq NET_RX\",\"cat\":\"flow\",\"ph\":\"f\""), "raise arrows");
        assertTrue(json.endsWith("}}\n"), json.substring(json.length() - 200));
    }

    @Test
    void demo_withJfr_writesARecordingOfTheBottomhalfEvents() throws IOException {
        Path file = tempDir.resolve("demo.jfr");
        int exit = Main.run(new String[] {"demo", "--seconds=1", "--rate=10000", "--jfr", file.toString()}, out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.matches("(?s).*\nJFR recording: " + Pattern.quote(file.toString()) + " \\([\\d,]+ KB; open it in"
                + " JDK Mission Control, or: jfr print --categories bottomhalf " + Pattern.quote(file.toString())
                + "\\)\n.*"), text);
        Map<String, Integer> counts = new TreeMap<>();
        Set<String> hardIrqNames = new TreeSet<>();
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            String name = e.getEventType().getName();
            if (name.startsWith("bottomhalf.")) {
                counts.merge(name, 1, Integer::sum);
                if (name.equals("bottomhalf.HardIrq")) {
                    hardIrqNames.add(e.getString("name"));
                }
            }
        }
        for (String name : List.of("bottomhalf.HardIrq", "bottomhalf.Softirq", "bottomhalf.SoftirqRaise",
                "bottomhalf.Tasklet", "bottomhalf.TaskletSchedule", "bottomhalf.Timer", "bottomhalf.Work",
                "bottomhalf.QueueWork")) {
            assertTrue(counts.getOrDefault(name, 0) > 0, name + " in " + counts);
        }
        assertEquals(Set.of("eth0-rx-0", "eth0-rx-1"), hardIrqNames);
        assertEquals("", errBytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void demo_withTraceAndTraceOut_printsTheHitsAndWritesTheTimeline() throws IOException {
        Path file = tempDir.resolve("both.json");
        int exit = Main.run(new String[] {"demo", "--seconds=1", "--rate=10000", "--trace=5", "--trace-out", file.toString()},
                out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.contains("trace (last 5 hits):"), text);
        assertTrue(text.contains("\ntimeline: "), text);
        assertTrue(Files.readString(file, StandardCharsets.UTF_8).contains("\"ph\":\"E\""));
    }

    @Test
    void demo_stoppedByAnError_exitsWith1_andLeavesNoFile() throws IOException {
        PrintStream failing = new PrintStream(outBytes, true, StandardCharsets.UTF_8) {
            @Override
            public void println(String line) {
                if (line.equals("/proc/interrupts:")) {
                    throw new IllegalStateException("output failed (simulated)");
                }
                super.println(line);
            }
        };
        int exit = Main.run(new String[] {"demo", "--seconds", "1", "--rate", "10000", "--temp-dir", tempDir.toString()},
                failing, err);
        String errors = errBytes.toString(StandardCharsets.UTF_8);
        assertEquals(1, exit, outBytes + errors);
        assertTrue(errors.startsWith(
                "bottomhalf demo: failed: java.lang.IllegalStateException: output failed (simulated)\n"), errors);
        assertTrue(outBytes.toString(StandardCharsets.UTF_8).contains("t= 1s"), outBytes::toString); // it did run
        assertEquals(List.of(), filesIn(tempDir));
    }

    /** SIGTERM takes the same path as Ctrl-C's SIGINT: the JVM runs its shutdown hooks, then halts. */
    @Test
    void demo_terminatedMidRun_leavesNoFile() throws Exception {
        Process demo = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "demo", "--seconds", "30", "--rate", "10000", "--temp-dir", tempDir.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (BufferedReader lines = demo.inputReader(StandardCharsets.UTF_8)) {
            List<String> seen = new ArrayList<>();
            String line;
            while ((line = lines.readLine()) != null && !line.startsWith("t= 1s")) {
                seen.add(line);
            }
            assertTrue(line != null, "the demo ended before its first progress line: " + seen);
            List<Path> during = filesIn(tempDir);
            assertEquals(1, during.size(), during::toString);
            assertTrue(during.getFirst().getFileName().toString().matches("bottomhalf-eth0-\\d+\\.log"), during::toString);
            List<ProcessHandle> children = demo.descendants().toList();
            assertEquals(1, children.size(), "the sender process: " + children);
            demo.destroy();
            assertTrue(demo.waitFor(30, TimeUnit.SECONDS), "the demo did not stop on SIGTERM");
            assertTrue(children.getFirst().onExit().get(30, TimeUnit.SECONDS) != null);
            assertTrue(!children.getFirst().isAlive(), "the sender outlived the demo");
        } finally {
            demo.destroyForcibly();
        }
        assertEquals(143, demo.exitValue()); // 128 + SIGTERM: stopped by the signal, not finished
        assertEquals(List.of(), filesIn(tempDir));
    }

    @Test
    void demoWeb_servesTheLiveViewOnLoopback_untilEnter_thenEndsAsUsual() throws Exception {
        webUntilEnter("udp", "eth0: 2 receive queues \\(UDP sockets on /127\\.0\\.0\\.1:\\d+, SO_REUSEPORT \\w+\\) on IRQs"
                + " 24-25; a sender process sends 10,000 datagrams/s of 64 bytes from 16 ports until Enter",
                "every datagram sent was received or counted as dropped; no kernel warnings.");
    }

    @Test
    void demoWeb_withTheSimulatedCard_servesTheLiveViewUntilEnter_thenEndsAsUsual() throws Exception {
        webUntilEnter("simulated", "eth0: 2 receive queues on IRQs 24-25, 10,000 packets/s until Enter",
                "every accepted packet was delivered; no kernel warnings.");
    }

    private void webUntilEnter(String card, String cardLineRegex, String verdict) throws Exception {
        Process demo = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "demo", "--card=" + card, "--web", "--rate", "10000", "--temp-dir",
                tempDir.toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (BufferedReader lines = demo.inputReader(StandardCharsets.UTF_8)) {
            List<String> seen = new ArrayList<>();
            String line;
            while ((line = lines.readLine()) != null && !line.startsWith("web view: ")) {
                seen.add(line);
            }
            assertTrue(line != null, "no web view line: " + seen);
            java.util.regex.Matcher url = Pattern.compile("web view: (http://127\\.0\\.0\\.1:\\d+/) \\(127\\.0\\.0\\.1 only\\);"
                    + " the card receives traffic until you press Enter \\(Ctrl-C stops at once\\)").matcher(line);
            assertTrue(url.matches(), line);
            assertTrue(seen.stream().anyMatch(l -> l.matches(cardLineRegex)), seen::toString);
            while ((line = lines.readLine()) != null && !line.startsWith("t= 2s")) {
                seen.add(line);
            }
            java.net.HttpURLConnection frame = (java.net.HttpURLConnection) java.net.URI.create(url.group(1) + "frame.json")
                    .toURL().openConnection();
            assertEquals(200, frame.getResponseCode());
            String json = new String(frame.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(json.contains("\"cpus\":2") && json.contains("eth0-rx-0"), json);
            demo.outputWriter(StandardCharsets.UTF_8).append('\n').flush();     // Enter
            List<String> rest = new ArrayList<>();
            while ((line = lines.readLine()) != null) {
                rest.add(line);
            }
            assertTrue(demo.waitFor(30, TimeUnit.SECONDS), "the demo did not end after Enter");
            assertEquals(0, demo.exitValue(), String.join("\n", rest));
            assertTrue(rest.contains(verdict), rest::toString);
        } finally {
            demo.destroyForcibly();
        }
    }

    private static List<Path> filesIn(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.toList();
        }
    }
}
