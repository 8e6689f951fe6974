package dev.bottomhalf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The command line's parsing, help texts, errors and completion script; nothing here runs the demo. */
class CommandLineTest {
    private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(outBytes, true, StandardCharsets.UTF_8);
    private final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);

    private String out() {
        return outBytes.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return errBytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void topHelp_listsEveryCommand_bothOptions_andTheExitCodes() {
        assertEquals(0, Main.run(new String[] {"--help"}, out, err), err());
        String help = out();
        assertTrue(help.startsWith("\nThe Linux kernel's interrupt"), help);
        assertTrue(help.contains("Usage: bottomhalf [-hV] [COMMAND]"), help);
        assertTrue(help.matches("(?s).*\nCommands:\n  demo +Run the network-card demo.*\n  completion +.*\n  help +.*"
                + "\nRun by the ./bottomhalf script through Maven:\n  test +Run the whole test suite \\(mvn verify\\)\\.\n"
                + "  bench +Build the JMH benchmarks.*"), help);
        assertTrue(help.contains("  -h, --help "), help);
        assertTrue(help.contains("  -V, --version "), help);
        assertExitCodes(help);
        assertEquals("", err());
    }

    @Test
    void helpCommand_andDashH_printTheSameTopHelp() {
        Main.run(new String[] {"--help"}, out, err);
        String expected = out();
        for (String[] args : new String[][] {{"help"}, {"-h"}}) {
            outBytes.reset();
            assertEquals(0, Main.run(args, out, err), err());
            assertEquals(expected, out(), String.join(" ", args));
        }
    }

    /** Every option of every command is in that command's help, by each of its names. */
    @ParameterizedTest
    @ValueSource(strings = {"demo", "completion", "help", "test", "bench"})
    void commandHelp_showsEveryOption_andTheExitCodes(String command) {
        assertEquals(0, Main.run(new String[] {command, "--help"}, out, err), err());
        String help = out();
        assertTrue(help.matches("(?s).*\nUsage: (\\./)?bottomhalf " + command + " .*"), help);
        CommandLine sub = Main.commandLine("bottomhalf", out, err).getSubcommands().get(command);
        List<OptionSpec> options = sub.getCommandSpec().options();
        assertFalse(options.isEmpty());
        for (OptionSpec option : options) {
            for (String name : option.names()) {
                assertTrue(help.matches("(?s).*\n {2,}(-\\w, )?" + name + "[ =,\\[].*"), name + " missing in\n" + help);
            }
        }
        assertExitCodes(help);
    }

    @Test
    void demoHelp_describesEachOption_withItsRangeAndDefault() {
        assertEquals(0, Main.run(new String[] {"help", "demo"}, out, err), err());
        String help = out().replaceAll("\\s+", " ");
        assertTrue(help.contains("--seconds=N How long the card receives traffic: 1..30 seconds (default: 10)."), help);
        assertTrue(help.contains("--rate=PPS Packets per second the card receives: 1..5000000 (default: 50000 with the"
                + " UDP card, 200000 with the simulated one)."), help);
        assertTrue(help.contains("--card=CARD udp: real datagrams on 127.0.0.1 from a sender process, through a"
                + " two-queue UdpDevice; simulated: a device thread filling in-memory rings (default: udp)."), help);
        assertTrue(help.contains("--size=BYTES The UDP card's datagram size: 8..65507 bytes (default: 64)."), help);
        assertTrue(help.contains("--defer=COUNT,US The UDP card's IRQ deferral (napi_defer_hard_irqs COUNT,"
                + " gro_flush_timeout US microseconds; e.g. 2,50)"), help);
        assertTrue(help.contains("--trace=N Print the last N tracepoint hits at the end: 0..10000, 0 = tracing off"
                + " (default: 0)."), help);
        assertTrue(help.contains("--temp-dir=DIR Directory for the summary file the kworker writes; the file is deleted"
                + " when the demo ends, also after an error or Ctrl-C (default: " + System.getProperty("java.io.tmpdir")
                + ")."), help);
        assertTrue(help.contains("--trace-out=FILE Write a timeline of the run's tracepoints (its first 250000 hits) to"
                + " FILE as Chrome Trace Event JSON; open it at ui.perfetto.dev or in chrome://tracing."), help);
    }

    @Test
    void version_printsTheProjectVersion_andTheJdk() {
        assertEquals(0, Main.run(new String[] {"--version"}, out, err), err());
        String jdk = Pattern.quote(Runtime.version().toString());
        assertTrue(out().matches("bottomhalf \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\nJDK " + jdk + " \\(.*\\)\n"), out());
    }

    @Test
    void demoOptions_equalsSignAndSeparateValue_parseTheSame(@TempDir Path dir) {
        DemoOptions separate = parseDemo("--seconds", "2", "--rate", "1000", "--trace", "7", "--temp-dir", dir.toString());
        DemoOptions joined = parseDemo("--seconds=2", "--rate=1000", "--trace=7", "--temp-dir=" + dir);
        assertEquals(new DemoOptions(2, 1000, 7, dir, null, null, DemoOptions.Card.UDP, 64, 0, 0), separate);
        assertEquals(separate, joined);
    }

    @Test
    void demoOptions_defaults() {
        assertEquals(new DemoOptions(10, 50_000, 0, Path.of(System.getProperty("java.io.tmpdir")), null,
                null, DemoOptions.Card.UDP, 64, 0, 0), parseDemo());
    }

    @Test
    void demoCard_simulated_defaultsToItsOwnRate_andAnExplicitRateWinsForEither() {
        DemoOptions simulated = parseDemo("--card=simulated");
        assertEquals(DemoOptions.Card.SIMULATED, simulated.card());
        assertEquals(200_000, simulated.rate());
        assertEquals(1234, parseDemo("--card", "simulated", "--rate", "1234").rate());
        DemoOptions udp = parseDemo("--card=udp", "--rate=1234", "--size=512");
        assertEquals(DemoOptions.Card.UDP, udp.card());
        assertEquals(1234, udp.rate());
        assertEquals(512, udp.size());
    }

    @Test
    void demoCard_unknown_exitsWith2_andNamesTheChoices() {
        assertEquals(2, Main.run(new String[] {"demo", "--card=pcie"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--card': pcie is not udp or simulated\n"),
                err());
    }

    @Test
    void demoDefer_parsesCountAndMicroseconds_forTheUdpCard() {
        DemoOptions d = parseDemo("--defer=2,50");
        assertEquals(2, d.deferHardIrqs());
        assertEquals(50, d.groFlushTimeoutUs());
        assertEquals(d, parseDemo("--defer", "2, 50"));
    }

    @Test
    void demoDefer_malformedOutOfRangeOrOnTheSimulatedCard_exitsWith2_andSaysWhy() {
        assertEquals(2, Main.run(new String[] {"demo", "--defer=2"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--defer': '2' is not COUNT,US"),
                err());
        errBytes.reset();
        assertEquals(2, Main.run(new String[] {"demo", "--defer=0,50"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--defer': 0 is not in 1..1000 (COUNT)"),
                err());
        errBytes.reset();
        assertEquals(2, Main.run(new String[] {"demo", "--card=simulated", "--defer=2,50"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Option '--defer' is for the UDP card's NAPI"), err());
    }

    @Test
    void demoTraceZero_isAccepted_asTracingOff() {
        assertEquals(0, parseDemo("--trace", "0").traceLines());
        assertEquals(0, parseDemo("--trace=0").traceLines());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--seconds|0|1..30",
        "--seconds|31|1..30",
        "--rate|0|1..5000000",
        "--rate|5000001|1..5000000",
        "--size|7|8..65507",
        "--size|65508|8..65507",
        "--trace|-1|0..10000 (0 = tracing off)",
        "--trace|10001|0..10000 (0 = tracing off)"})
    void demoValueOutOfRange_exitsWith2_andNamesTheRange(String option, String value, String range) {
        for (String[] args : new String[][] {{"demo", option, value}, {"demo", option + "=" + value}}) {
            outBytes.reset();
            errBytes.reset();
            assertEquals(2, Main.run(args, out, err), String.join(" ", args));
            assertEquals("bottomhalf demo: Invalid value for option '" + option + "': " + value + " is not in " + range
                    + "\nTry 'bottomhalf demo --help' for more information.\n", err());
            assertEquals("", out());
        }
    }

    @Test
    void demoValueNotANumber_exitsWith2() {
        assertEquals(2, Main.run(new String[] {"demo", "--seconds", "ten"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--seconds': 'ten' is not an int\n"), err());
    }

    @Test
    void demoTempDirThatIsNoDirectory_exitsWith2(@TempDir Path dir) throws IOException {
        Path file = Files.createFile(dir.resolve("plain-file"));
        assertEquals(2, Main.run(new String[] {"demo", "--temp-dir", file.toString()}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--temp-dir': " + file
                + " is not a directory\n"), err());
    }

    @Test
    void demoTraceOut_separateAndJoined_nameTheFile(@TempDir Path dir) {
        Path file = dir.resolve("timeline.json");
        assertEquals(file, parseDemo("--trace-out", file.toString()).traceOut());
        assertEquals(file, parseDemo("--trace-out=" + file).traceOut());
        assertEquals(file, parseDemo("--trace=5", "--trace-out=" + file).traceOut());
        assertEquals(5, parseDemo("--trace=5", "--trace-out=" + file).traceLines());
    }

    @Test
    void demoTraceOutInAMissingDirectory_exitsWith2(@TempDir Path dir) {
        Path file = dir.resolve("missing").resolve("timeline.json");
        assertEquals(2, Main.run(new String[] {"demo", "--trace-out", file.toString()}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--trace-out': " + file.getParent()
                + " is not a directory\n"), err());
        assertEquals("", out());
    }

    @Test
    void demoTraceOutThatIsADirectory_exitsWith2(@TempDir Path dir) {
        assertEquals(2, Main.run(new String[] {"demo", "--trace-out", dir.toString()}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--trace-out': " + dir
                + " is a directory\n"), err());
    }

    @Test
    void demoJfr_isDescribedInTheHelp() {
        assertEquals(0, Main.run(new String[] {"help", "demo"}, out, err), err());
        String help = out().replaceAll("\\s+", " ");
        assertTrue(help.contains("--jfr=FILE Record the run with JDK Flight Recorder (the JDK's default events and every"
                + " bottomhalf event) and write the recording to FILE; open it in JDK Mission Control or read it with"
                + " 'jfr print --categories bottomhalf FILE'."), help);
    }

    @Test
    void demoJfrInAMissingDirectory_exitsWith2(@TempDir Path dir) {
        Path file = dir.resolve("missing").resolve("demo.jfr");
        assertEquals(2, Main.run(new String[] {"demo", "--jfr", file.toString()}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--jfr': " + file.getParent()
                + " is not a directory\n"), err());
        assertEquals("", out());
    }

    @Test
    void demoJfrThatIsADirectory_exitsWith2(@TempDir Path dir) {
        assertEquals(2, Main.run(new String[] {"demo", "--jfr", dir.toString()}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--jfr': " + dir + " is a directory\n"),
                err());
    }

    @Test
    void demoWeb_withoutAPort_takesAnyFreePort_andWithoutSeconds_runsUntilEnter() {
        assertEquals(new DemoOptions.Web(0, true), parseDemo("--web").web());
        assertEquals(new DemoOptions.Web(8123, true), parseDemo("--web", "8123").web());
        assertEquals(new DemoOptions.Web(8123, true), parseDemo("--web=8123").web());
        assertEquals(new DemoOptions.Web(0, false), parseDemo("--web", "--seconds", "3").web());
        assertEquals(new DemoOptions.Web(8123, false), parseDemo("--seconds=10", "--web", "8123").web());
    }

    @Test
    void demoWebPortOutOfRange_exitsWith2() {
        assertEquals(2, Main.run(new String[] {"demo", "--web", "65536"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Invalid value for option '--web': 65536 is not in 0..65535"
                + " (0 or no value = any free port)\n"), err());
    }

    @Test
    void unknownCommand_exitsWith2() {
        assertEquals(2, Main.run(new String[] {"frobnicate"}, out, err));
        assertTrue(err().startsWith("bottomhalf: Unmatched argument at index 0: 'frobnicate'\n"), err());
        assertTrue(err().endsWith("Try 'bottomhalf --help' for more information.\n"), err());
    }

    @Test
    void unknownDemoOption_exitsWith2() {
        assertEquals(2, Main.run(new String[] {"demo", "--speed", "3"}, out, err));
        assertTrue(err().startsWith("bottomhalf demo: Unknown options: '--speed', '3'\n"), err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"test", "bench"})
    void launcherCommand_withoutTheScript_exitsWith2_andSaysHowToRunIt(String command) {
        assertEquals(2, Main.run(new String[] {command, "-Psoak"}, out, err));
        assertTrue(err().startsWith("bottomhalf " + command + ": '" + command
                + "' runs Maven and is handled by the launcher script: ./bottomhalf " + command + "\n"), err());
    }

    @Test
    void commandName_followsTheLauncher() {
        CommandLine cl = Main.commandLine("./bottomhalf", out, err);
        assertEquals(2, cl.execute("demo", "--seconds", "0"));
        cl.getErr().flush();
        assertTrue(err().endsWith("Try './bottomhalf demo --help' for more information.\n"), err());
    }

    @Test
    void completion_printsABashScript_forEveryCommandAndOption() {
        assertEquals(0, Main.run(new String[] {"completion"}, out, err), err());
        String script = out();
        assertTrue(script.startsWith("#!/usr/bin/env bash\n"), script);
        assertTrue(script.contains("\ncomplete -F _complete_bottomhalf -o default bottomhalf "), script);
        for (String command : List.of("demo", "completion", "help", "test", "bench")) {
            assertTrue(script.contains("function _picocli_bottomhalf_" + command + "()"), command);
        }
        for (String option : List.of("--seconds", "--rate", "--trace", "--temp-dir", "--trace-out", "--card", "--size",
                "--version")) {
            assertTrue(script.contains(option), option);
        }
    }

    /** bash itself, given the script, completes commands and the demo's options. */
    @Test
    void completion_completesInBash(@TempDir Path dir) throws Exception {
        assertEquals(0, Main.run(new String[] {"completion"}, out, err), err());
        Path script = Files.writeString(dir.resolve("bottomhalf-completion.bash"), out());
        String probe = """
                source "$1" 2>/dev/null
                t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                      COMPREPLY=(); _complete_bottomhalf 2>/dev/null; echo "$*|${COMPREPLY[*]}"; }
                t ./bottomhalf ''
                t ./bottomhalf de
                t ./bottomhalf demo --se
                t ./bottomhalf demo --t
                complete -p bottomhalf
                """;
        Process bash = new ProcessBuilder("bash", "-c", probe, "probe", script.toString()).redirectErrorStream(true).start();
        String result = new String(bash.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(bash.waitFor(30, TimeUnit.SECONDS));
        // picocli lists a command's options in the order reflection returns its annotated methods, which varies
        // between JVM runs: compare option completions as sets (sorted)
        List<String> lines = new ArrayList<>(result.lines().map(CommandLineTest::sortOptionWords).toList());
        assertEquals(List.of(
                "./bottomhalf |demo completion help test bench",
                "./bottomhalf de|demo",
                "./bottomhalf demo --se|--seconds",
                "./bottomhalf demo --t|--temp-dir --trace --trace-out",
                "complete -o default -F _complete_bottomhalf bottomhalf"), lines, result);
    }

    /** {@code "line|--b --a"} as {@code "line|--a --b"}; a line whose completions are not all options as it is. */
    private static String sortOptionWords(String line) {
        int bar = line.indexOf('|');
        if (bar < 0) {
            return line;
        }
        List<String> words = List.of(line.substring(bar + 1).split(" "));
        if (!words.stream().allMatch(w -> w.startsWith("-"))) {
            return line;
        }
        return line.substring(0, bar + 1) + String.join(" ", words.stream().sorted().toList());
    }

    private DemoOptions parseDemo(String... args) {
        CommandLine cl = Main.commandLine("bottomhalf", out, err);
        String[] all = new String[args.length + 1];
        all[0] = "demo";
        System.arraycopy(args, 0, all, 1, args.length);
        cl.parseArgs(all);
        return ((DemoCommand) cl.getSubcommands().get("demo").getCommand()).options();
    }

    private static void assertExitCodes(String help) {
        String flat = help.replaceAll("\\s+", " ");
        assertTrue(flat.contains(" Exit codes: 0 success 1 "), help);
        assertTrue(flat.contains(" 2 usage error: unknown command or option, missing or invalid value"), help);
    }
}
