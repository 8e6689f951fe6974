package dev.bottomhalf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./bottomhalf} script at the repository root, run with this test's class path
 * ({@code BOTTOMHALF_CLI_CLASSPATH}) and a fake {@code mvn} first on the PATH that records its arguments,
 * prints escape codes the way Maven 3.8.7 does, and fails: nothing here starts a real Maven build.
 */
class LauncherScriptTest {
    private static final Path SCRIPT = Path.of("..", "bottomhalf").toAbsolutePath().normalize();
    private static final char ESC = '\u001b';

    @TempDir
    Path fakeBin;
    private Path mvnCalls;

    record Result(int exit, String out, String err) {
    }

    @BeforeEach
    void fakeMaven() throws IOException {
        mvnCalls = fakeBin.resolve("mvn-calls");
        Path mvn = fakeBin.resolve("mvn");
        Files.writeString(mvn, """
                #!/usr/bin/env bash
                echo "$*" >> "%s"
                printf '\\033[0m\\033[0m[INFO] Scanning for projects...\\n[ERROR] fake maven failed\\033[m\\n'
                exit 3
                """.formatted(mvnCalls));
        Files.setPosixFilePermissions(mvn, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private Result run(Path script, boolean withClasspath, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", script.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        Map<String, String> env = pb.environment();
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.put("PATH", fakeBin + ":/usr/bin:/bin");
        env.remove("MAVEN_OPTS");
        if (withClasspath) {
            env.put("BOTTOMHALF_CLI_CLASSPATH", System.getProperty("java.class.path"));
        } else {
            env.remove("BOTTOMHALF_CLI_CLASSPATH");
        }
        Path outFile = fakeBin.resolve("out");
        Path errFile = fakeBin.resolve("err");
        Process p = pb.redirectOutput(outFile.toFile()).redirectError(errFile.toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the script did not finish");
        return new Result(p.exitValue(), Files.readString(outFile), Files.readString(errFile));
    }

    private List<String> mvnCalls() throws IOException {
        return Files.exists(mvnCalls) ? Files.readAllLines(mvnCalls) : List.of();
    }

    @Test
    void help_isTheCommandLinesHelp_namedAfterTheScript_withTheLauncherCommands() throws Exception {
        Result r = run(SCRIPT, true, "--help");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("\nUsage: ./bottomhalf [-hV] [COMMAND]\n"), r.out());
        assertTrue(r.out().matches("(?s).*\nRun by the ./bottomhalf script through Maven:\n  test .*\n  bench .*"), r.out());
        assertTrue(r.out().contains("\nExit codes:\n"), r.out());
        assertEquals("", r.err());
        assertEquals(List.of(), mvnCalls());
        assertEquals(r, run(SCRIPT, true, "help"));
    }

    @Test
    void testAndBench_help_isTheCommandLinesHelp_andRunsNoMaven() throws Exception {
        Result test = run(SCRIPT, true, "test", "--help");
        assertEquals(0, test.exit(), test.err());
        assertTrue(test.out().contains("\nUsage: ./bottomhalf test [--help] [MAVEN_ARG...]\n"), test.out());
        Result bench = run(SCRIPT, true, "bench", "--help");
        assertEquals(0, bench.exit(), bench.err());
        assertTrue(bench.out().contains("\nUsage: ./bottomhalf bench [--help] [JMH_ARG...]\n"), bench.out());
        assertEquals(List.of(), mvnCalls());
    }

    @Test
    void demoUsageError_exitsWith2_namingTheScript() throws Exception {
        Result r = run(SCRIPT, true, "demo", "--trace=-1");
        assertEquals(2, r.exit());
        assertEquals("./bottomhalf demo: Invalid value for option '--trace': -1 is not in 0..10000 (0 = tracing off)\n"
                + "Try './bottomhalf demo --help' for more information.\n", r.err());
        assertEquals("", r.out());
    }

    @Test
    void test_runsMavenVerifyInBatchModeWithoutColour_passesItsExitCode_andStripsEscapes() throws Exception {
        Result r = run(SCRIPT, true, "test", "-pl", "core");
        assertEquals(3, r.exit());
        assertEquals(List.of("-B -ntp -Dstyle.color=never verify -pl core"), mvnCalls());
        assertEquals("[INFO] Scanning for projects...\n[ERROR] fake maven failed\n", r.out());
        assertEquals("", r.err());
    }

    /** A copy of the script in an empty directory: nothing is built, so it builds — and the fake build fails. */
    @Test
    void build_printsOneLine_sendsMavensOutputToTheLog_andShowsItsEndOnFailure(@TempDir Path root) throws Exception {
        Path script = Files.copy(SCRIPT, root.resolve("bottomhalf"));
        Result r = run(script, false, "demo");
        assertEquals(1, r.exit());
        assertEquals(List.of("-B -ntp -Dstyle.color=never -pl cli -am -Dmaven.test.skip=true package"), mvnCalls());
        assertEquals("""
                building bottomhalf (first run, ~1 min; log: target/bottomhalf-build.log)...
                bottomhalf: the build failed; the end of target/bottomhalf-build.log:
                [INFO] Scanning for projects...
                [ERROR] fake maven failed
                """, r.err());
        assertEquals("", r.out());
        assertEquals("[INFO] Scanning for projects...\n[ERROR] fake maven failed\n",
                Files.readString(root.resolve("target/bottomhalf-build.log")));
        assertFalse(Files.exists(root.resolve(".bottomhalf-build-stamp")));
    }

    @Test
    void noOutput_containsAnEscapeCharacter() throws Exception {
        for (String[] args : new String[][] {{"--help"}, {"test"}, {"demo", "--seconds=0"}}) {
            Result r = run(SCRIPT, true, args);
            assertEquals(-1, (r.out() + r.err()).indexOf(ESC), String.join(" ", args));
        }
        assertTrue(new String(Files.readAllBytes(fakeBin.resolve("mvn")), StandardCharsets.UTF_8).contains("\\033[0m"));
    }
}
