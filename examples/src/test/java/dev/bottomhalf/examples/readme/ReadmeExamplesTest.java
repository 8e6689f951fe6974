package dev.bottomhalf.examples.readme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

class ReadmeExamplesTest {
    private static final Path README = Path.of("..", "README.md");
    private static final Path SOURCE = Path.of("src", "main", "java", "dev", "bottomhalf", "examples", "readme",
            "ReadmeExamples.java");
    /** The README's whole program: in the default package, as a user's first file would be. */
    private static final Path HELLO = Path.of("src", "main", "java", "Hello.java");

    /** Runs {@code example} with System.out captured; returns what it printed. */
    private static String printedBy(Runnable example) {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            example.run();
        } finally {
            System.setOut(saved);
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** The ```java blocks of README.md: snippets, whole files (they start with an import) and module declarations. */
    static List<String> readmeJavaBlocks(String readme) {
        List<String> blocks = new ArrayList<>();
        var m = Pattern.compile("(?ms)^```java\\n(.*?)^```$").matcher(readme);
        while (m.find()) {
            blocks.add(m.group(1));
        }
        return blocks;
    }

    /** The regions of ReadmeExamples.java between "// README: name" and "// README: end", de-indented. */
    static List<String> sourceRegions(String source) {
        List<String> regions = new ArrayList<>();
        var m = Pattern.compile("(?ms)^( *)// README: (?!end)\\S+\\n(.*?)^ *// README: end$").matcher(source);
        while (m.find()) {
            String indent = m.group(1);
            String body = m.group(2);
            StringBuilder region = new StringBuilder();
            for (String line : body.substring(0, body.length() - 1).split("\n", -1)) {
                region.append(line.startsWith(indent) ? line.substring(indent.length()) : line).append('\n');
            }
            regions.add(region.toString());
        }
        return regions;
    }

    @Test
    void everyJavaSnippetOfTheReadme_isARegionOfReadmeExamples_inTheSameOrder() throws IOException {
        List<String> readme = readmeJavaBlocks(Files.readString(README)).stream()
                .filter(b -> !b.startsWith("import ") && !b.startsWith("module ")).toList();
        List<String> source = sourceRegions(Files.readString(SOURCE));
        assertEquals(3, source.size(), "regions found");
        assertEquals(source, readme, "README.md's java snippets and ReadmeExamples.java's regions differ");
    }

    @Test
    void shortExample_drainsEveryPacket_andProcInterruptsCountsEveryInterruptOnCpu0() {
        String out = printedBy(ReadmeExamples::shortExample);
        Matcher first = Pattern.compile("^1000 packets, (\\d+) interrupts\n").matcher(out);
        assertTrue(first.find(), out);
        int interrupts = Integer.parseInt(first.group(1));
        // One interrupt per burst of 32, or fewer: a burst that lands while NET_RX still drains the previous one
        // is drained by that pass, and the card's next assert finds the line still latched (edge: one latch).
        assertTrue(interrupts >= 1 && interrupts <= 32, "1..32 interrupts for 32 bursts:\n" + out);
        assertTrue(Pattern.compile("(?m)^ *24: +" + interrupts + " +0 +.*eth0-rx-0$").matcher(out).find(),
                "the " + interrupts + " interrupts of line 24 all on CPU 0:\n" + out);
    }

    @Test
    void facadeExample_requestIrqReturnsZero_andTheSoftirqDrainsThePacketTheInterruptAnnounced() {
        assertEquals("request_irq: 0\ndrained: 1\n", printedBy(ReadmeExamples::facadeExample));
    }

    @Test
    void steppedExample_runsNetRxAtIrqExit_theWatchdogTwoTicksAfterMod_andW0Within50Ms() {
        assertEquals("""
                NET_RX on CPU 0 at jiffy +0
                watchdog: card reset at jiffy +5
                w0 pending after 50 ms: false, jiffy +55
                """, printedBy(ReadmeExamples::steppedExample));
    }

    @Test
    void theReadmesWholeProgram_isHelloJava_andItsModuleDeclarationRequiresDevBottomhalf() throws IOException {
        List<String> blocks = readmeJavaBlocks(Files.readString(README));
        assertEquals(List.of(Files.readString(HELLO)), blocks.stream().filter(b -> b.startsWith("import ")).toList());
        assertEquals(List.of("module com.example.app {\n    requires dev.bottomhalf;\n}\n"),
                blocks.stream().filter(b -> b.startsWith("module ")).toList());
    }

    @Test
    void hello_runsTheTaskletTheWorkAndTheTimer_thenClosesTheKernel_asTheReadmeShows() throws ReflectiveOperationException, IOException {
        Method main = Class.forName("Hello").getMethod("main", String[].class);
        String out = printedBy(() -> {
            try {
                main.invoke(null, (Object) new String[0]);
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        });
        String expected = """
                tasklet ran, in_softirq() = true
                work ran on kworker/1:0
                timer fired after 11 jiffies
                kernel closed
                """;
        assertEquals(expected, out);
        assertTrue(Files.readString(README).contains("It prints:\n\n```\n" + expected + "```\n"),
                "README.md shows what Hello prints");
    }
}
