package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The repository speaks of itself alone: its sources, tests and docs cite the kernel's function names and
 * the project's own pages, never a numbered list, a tracker or a file kept outside the repository. Runs
 * on the test thread only; reads the checkout the build runs in.
 *
 * <p>Scanned: {@code core/src}, {@code cli/src}, {@code examples/src}, {@code stress/src},
 * {@code bench/src}, {@code blockhound/src}, {@code micrometer/src}, {@code docs}, {@code README.md} and the poms (build output
 * under {@code target/} is skipped). Each rule is a regular expression written so that its own source
 * text does not match it (a character class around one letter, a Unicode escape for the section sign), so
 * this file is scanned like any other and cannot trip over its own rules.
 */
class RepositoryCitesOnlyItselfTest {

    /** One forbidden kind of reference: a name for the failure message and the pattern that finds it. */
    private record Rule(String name, Pattern pattern) {
        boolean matches(String line) {
            return pattern.matcher(line).find();
        }
    }

    private static final List<Rule> RULES = List.of(
            new Rule("a numbered semantics list", Pattern.compile("(?i)semantics\\s*\\u00a7")),
            new Rule("a test method named after a numbered list item", Pattern.compile("void\\s+ite[m]\\d")),
            new Rule("a citation of a numbered list item's test", Pattern.compile("\\bite[m]\\d+[a-z]?_")),
            new Rule("an issue-tracker number", Pattern.compile("(?i)\\bissue[s]?\\s+#?\\d")),
            new Rule("a path on the build host", Pattern.compile("/wor[k]/")),
            new Rule("a shared folder outside the repository", Pattern.compile("(?<![\\w.-])share[d]/")),
            new Rule("a reference folder outside the repository", Pattern.compile("(?<![\\w.-])referenc[e]/")),
            new Rule("a seed-document citation", Pattern.compile("(?i)\\bseed\\s+documen[t]")),
            new Rule("a brief outside the repository",
                    Pattern.compile("(?i)\\bthe\\s+(?:architecture\\s+|performance\\s+)?brie[f]\\b")));

    /** Section sign, as a Unicode escape so that this file's text holds none. */
    private static final char SECTION = '\u00a7';

    /** Roots scanned, relative to the repository root. */
    private static final List<String> ROOTS = List.of(
            "core/src", "cli/src", "examples/src", "stress/src", "bench/src", "blockhound/src", "micrometer/src",
            "web/src", "docs", "README.md", "pom.xml", "core/pom.xml", "cli/pom.xml", "examples/pom.xml",
            "stress/pom.xml", "bench/pom.xml", "blockhound/pom.xml", "micrometer/pom.xml", "web/pom.xml");

    @Test
    void sourcesTestsAndDocs_citeOnlyTheKernelAndTheProjectsOwnPages() throws IOException {
        Path root = repositoryRoot();
        List<String> found = new ArrayList<>();
        int files = 0;
        for (String r : ROOTS) {
            Path start = root.resolve(r);
            if (!Files.exists(start)) {
                continue;
            }
            try (Stream<Path> walk = Files.walk(start)) {
                for (Path p : walk.filter(Files::isRegularFile).filter(p -> isSource(root.relativize(p)))
                        .sorted().toList()) {
                    files++;
                    found.addAll(violations(root.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p)));
                }
            }
        }
        assertTrue(files > 100, "scanned only " + files + " files under " + root + ": wrong root?");
        if (!found.isEmpty()) {
            fail(found.size() + " reference(s) to something outside the repository; cite the kernel's function"
                    + " names or the project's own docs instead:\n  " + String.join("\n  ", found));
        }
    }

    /**
     * The rules catch each kind of reference they are for, and let through the project's own citations:
     * a benchmarks section, a kernel function, an ordinary "item" or "issue" in prose.
     */
    @Test
    void rules_catchEachKindOfOutsideReference_andLetTheProjectsOwnCitationsThrough() {
        String s = String.valueOf(SECTION);
        List<String> bad = List.of(
                "/** Semantics " + s + "10 items 14-26 (tasklets). */",
                "    void ite" + "m17_callbackReschedulingItself_runsOnce() {",
                "the test `ite" + "m40_withMsleep_...` shows",
                "## 8. Workqueues - iss" + "ue 5",
                "Delayed work (Iss" + "ue #5) is a timer",
                "see /wo" + "rk/sha" + "red/semantics.md",
                "copied from shar" + "ed/notes.md",
                "as in referen" + "ce/linux/kernel/softirq.c",
                "the see" + "d document says",
                "The architecture bri" + "ef puts Kernel in runtime",
                "(semantics " + s + "6.3) rounding",
                "an unexplained " + s + "1.2 predicate");
        for (String line : bad) {
            assertFalse(violations("docs/x.md", line.getBytes(StandardCharsets.UTF_8)).isEmpty(), line);
        }
        List<String> good = List.of(
                "[benchmarks " + s + "12](../benchmarks.md)",
                "see " + s + "8.8 of docs/benchmarks.md",
                "    void itemsQueuedBehindARunningItem_areFound() {",
                "pipe-producer: item 1 = 1",
                "/* Queue some work (item 1) */",
                "the waiter spins briefly, then parks",
                "an issue with the host, not the kernel",
                "tasklet_schedule: if SCHED was clear, queue on the calling CPU",
                "TaskletSemanticsTest checks tasklet_kill",
                "ports the kernel's shared-IRQ listing");
        for (String line : good) {
            assertEquals(List.of(), violations("docs/x.md", line.getBytes(StandardCharsets.UTF_8)), line);
        }
        assertEquals(List.of(), violations("docs/benchmarks.md", (s + "8.7 above").getBytes(StandardCharsets.UTF_8)),
                "docs/benchmarks.md numbers its own sections");
    }

    /** Every forbidden reference in one file's text, as {@code path:line: rule: text}. */
    private static List<String> violations(String path, byte[] bytes) {
        List<String> out = new ArrayList<>();
        for (byte b : bytes) {
            if (b == 0) {
                return out;  // binary
            }
        }
        String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\\R", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            for (Rule rule : RULES) {
                if (rule.matches(line)) {
                    out.add(path + ":" + (i + 1) + ": " + rule.name() + ": " + line.strip());
                }
            }
            // A section number is the project's own only when it is a section of docs/benchmarks.md.
            if (line.indexOf(SECTION) >= 0 && !path.equals("docs/benchmarks.md") && !line.contains("benchmarks")
                    && RULES.stream().noneMatch(r -> r.matches(line))) {
                out.add(path + ":" + (i + 1) + ": a section number of a document outside the repository"
                        + " (only docs/benchmarks.md's sections may be cited by number): " + line.strip());
            }
        }
        return out;
    }

    /** Whether a path relative to the root is outside build output. */
    private static boolean isSource(Path relative) {
        for (Path part : relative) {
            if (part.toString().equals("target")) {
                return false;
            }
        }
        return true;
    }

    /** The checkout's root: the nearest directory at or above the working directory with docs and core. */
    private static Path repositoryRoot() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve("docs")) && Files.isDirectory(d.resolve("core/src"))
                    && Files.isRegularFile(d.resolve("README.md"))) {
                return d;
            }
        }
        throw new AssertionError("no repository root (docs/, core/src/, README.md) at or above "
                + Path.of("").toAbsolutePath());
    }
}
