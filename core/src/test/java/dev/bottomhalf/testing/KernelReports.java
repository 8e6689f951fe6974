package dev.bottomhalf.testing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;

/**
 * The reports of one kernel that {@link KernelExtension} supplied, as the test reads them, and which of
 * them the test expected. Thread-safe: the kernel reports from any thread; the test reads from its own.
 *
 * <p>After the test, {@link KernelExtension} fails it for every WARNING, BUG or OOPS report that the test
 * did not account for, and for every {@link #expect expected} report that never came. A test accounts
 * for a report in one of three ways:
 * <ul>
 * <li>it reads it by name — {@link #matching(String)} and {@link #ofKind(KernelEvent.Kind)} acknowledge
 * every report they return (the test named the text or the kind, and asserts on what it got);</li>
 * <li>it declares it — {@link #expect(String)}: at least one report containing the text must come by the
 * end of the test (the kernel's close included), and every report containing it is acknowledged;</li>
 * <li>it tolerates a known library defect — {@link #tolerateKnownDefect(String, String)}, with the reason,
 * for a report the library should not make; such a report need not come.</li>
 * </ul>
 * {@link #events()}, {@link #messages()} and {@link #toString()} acknowledge nothing: a test that scans
 * every report (for printk output, say) must not swallow a warning it never looked at.
 *
 * <p>Implementation notes: the kernel's {@link Reporter.Recording} keeps every report; this view adds,
 * under its own monitor, the acknowledged reports (by identity: two reports with the same text are two
 * reports), the expectations, and the position of the last {@link #clear()}, which hides earlier
 * reports from the queries but not from the check after the test.
 */
public final class KernelReports {
    private static final Set<KernelEvent.Kind> CHECKED =
            Set.of(KernelEvent.Kind.WARNING, KernelEvent.Kind.BUG, KernelEvent.Kind.OOPS);

    private final Reporter.Recording recording;
    private final Set<KernelEvent> acknowledged = Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<String> expected = new ArrayList<>();
    private final Map<String, String> knownDefects = new LinkedHashMap<>();
    private int shownFrom;

    KernelReports(Reporter.Recording recording) {
        this.recording = Objects.requireNonNull(recording, "recording");
    }

    /** The reports since the last {@link #clear()}, in report order. Acknowledges nothing. */
    public synchronized List<KernelEvent> events() {
        List<KernelEvent> all = recording.events();
        return List.copyOf(all.subList(Math.min(shownFrom, all.size()), all.size()));
    }

    /** The messages of {@link #events()}, in report order. Acknowledges nothing. */
    public List<String> messages() {
        return events().stream().map(KernelEvent::message).toList();
    }

    /** The reports since the last {@link #clear()} whose message contains {@code text}; acknowledges them. */
    public synchronized List<KernelEvent> matching(String text) {
        Objects.requireNonNull(text, "text");
        List<KernelEvent> found = events().stream().filter(e -> e.message().contains(text)).toList();
        acknowledged.addAll(found);
        return found;
    }

    /** The reports of {@code kind} since the last {@link #clear()}; acknowledges them. */
    public synchronized List<KernelEvent> ofKind(KernelEvent.Kind kind) {
        Objects.requireNonNull(kind, "kind");
        List<KernelEvent> found = events().stream().filter(e -> e.kind() == kind).toList();
        acknowledged.addAll(found);
        return found;
    }

    /**
     * Hides the reports so far from {@link #events()}, {@link #matching} and {@link #ofKind}. The check
     * after the test still sees them: a warning the test did not account for before clearing still fails it.
     */
    public synchronized void clear() {
        shownFrom = recording.events().size();
    }

    /**
     * Declares that the test provokes a report whose message contains {@code text}: the test fails if none
     * came by its end (the kernel's close included). Every report containing it is acknowledged, of any kind.
     *
     * @return this, to declare several
     */
    public synchronized KernelReports expect(String text) {
        if (Objects.requireNonNull(text, "text").isEmpty()) {
            throw new IllegalArgumentException("an expected report needs a text to match");
        }
        expected.add(text);
        return this;
    }

    /**
     * Acknowledges every report containing {@code text} because the library makes it where it should not:
     * a known defect, named by {@code reason}, that the test is not about. Unlike {@link #expect}, the
     * report need not come. Each use is printed to the standard error after the test, so that it is seen.
     */
    public synchronized KernelReports tolerateKnownDefect(String text, String reason) {
        if (Objects.requireNonNull(text, "text").isEmpty() || Objects.requireNonNull(reason, "reason").isBlank()) {
            throw new IllegalArgumentException("a tolerated report needs a text to match and the reason");
        }
        knownDefects.put(text, reason);
        return this;
    }

    /** The WARNING, BUG and OOPS reports nobody accounted for, in report order. For the check after the test. */
    synchronized List<KernelEvent> unexpected() {
        List<KernelEvent> out = new ArrayList<>();
        for (KernelEvent e : recording.events()) {
            if (CHECKED.contains(e.kind()) && !acknowledged.contains(e) && !declared(e)) {
                out.add(e);
            }
        }
        return out;
    }

    private boolean declared(KernelEvent e) {
        for (String text : expected) {
            if (e.message().contains(text)) {
                return true;
            }
        }
        for (String text : knownDefects.keySet()) {
            if (e.message().contains(text)) {
                return true;
            }
        }
        return false;
    }

    /** The expected texts that no report contains. For the check after the test. */
    synchronized List<String> missing() {
        List<KernelEvent> all = recording.events();
        return expected.stream().distinct()
                .filter(text -> all.stream().noneMatch(e -> e.message().contains(text)))
                .toList();
    }

    /** The tolerated known defects that did occur, each with its reason. For the note after the test. */
    synchronized Map<String, String> toleratedThatOccurred() {
        List<KernelEvent> all = recording.events();
        Map<String, String> out = new LinkedHashMap<>();
        knownDefects.forEach((text, reason) -> {
            if (all.stream().anyMatch(e -> e.message().contains(text))) {
                out.put(text, reason);
            }
        });
        return out;
    }

    /** One report per line, every report since boot ({@link #clear()} does not hide them here). */
    @Override
    public String toString() {
        return recording.toString();
    }
}
