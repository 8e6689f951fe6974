package dev.bottomhalf.time;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The wheel tables of {@code docs/subsystems/timer.md} agree with {@link TimerWheel}. */
class TimerDocTest {
    private static List<String[]> tableRows(String doc, String header) {
        int at = doc.indexOf(header);
        assertTrue(at >= 0, "table with header '" + header + "' not found");
        List<String[]> rows = new ArrayList<>();
        String[] lines = doc.substring(at).split("\n");
        for (int i = 2; i < lines.length && lines[i].startsWith("|"); i++) {
            String[] cells = lines[i].split("\\|");
            String[] trimmed = new String[cells.length - 1];
            for (int c = 1; c < cells.length; c++) {
                trimmed[c - 1] = cells[c].trim();
            }
            rows.add(trimmed);
        }
        return rows;
    }

    private static long num(String s) {
        return Long.parseLong(s.replace(",", "").trim());
    }

    private static String doc() throws IOException {
        Path p = Path.of("..", "docs", "subsystems", "timer.md");
        if (!Files.exists(p)) {
            p = Path.of("docs", "subsystems", "timer.md");
        }
        return Files.readString(p);
    }

    @Test
    void levelTable_matchesTheCode() throws IOException {
        List<String[]> rows = tableRows(doc(), "| level | delta (ticks) | granularity (ticks) | HZ=1000 | HZ=250 |");
        int depth = 9;
        assertEquals(depth, rows.size());
        for (int l = 0; l < depth; l++) {
            String[] r = rows.get(l);
            assertEquals(l, Integer.parseInt(r[0]));
            String[] range = r[1].split("–");
            long lo = l == 0 ? 0 : TimerWheel.levelStart(l);
            long hi = l == depth - 1 ? TimerWheel.timeoutCutoff(depth) - 1 : TimerWheel.levelStart(l + 1) - 1;
            assertEquals(lo, num(range[0]), "level " + l + " low end");
            assertEquals(hi, num(range[1]), "level " + l + " high end");
            assertEquals(TimerWheel.granularity(l), num(r[2]), "level " + l + " granularity");
            assertEquals(l, TimerWheel.level(lo, depth));
            assertEquals(l, TimerWheel.level(hi, depth));
        }
    }

    @Test
    void constantsTable_matchesTheCode() throws IOException {
        List<String[]> rows = tableRows(doc(), "| constant | 9 levels (HZ > 100) | 8 levels (HZ = 100) |");
        assertEquals(List.of("WHEEL_SIZE", "WHEEL_TIMEOUT_CUTOFF", "WHEEL_TIMEOUT_MAX"),
                rows.stream().map(r -> r[0].replace("`", "")).toList());
        for (int col = 1; col <= 2; col++) {
            int depth = col == 1 ? 9 : 8;
            assertEquals(TimerWheel.wheelSize(depth), num(rows.get(0)[col]));
            assertEquals(TimerWheel.timeoutCutoff(depth), num(rows.get(1)[col]));
            assertEquals(TimerWheel.timeoutMax(depth), num(rows.get(2)[col]));
        }
    }

    @Test
    void roundingExamples_matchTheCode() throws IOException {
        List<String[]> rows = tableRows(doc(), "| expires | level | bucket expiry | fires on the tick where jiffies = |");
        assertEquals(5, rows.size());
        for (String[] r : rows) {
            long expires = num(r[0]);
            assertEquals(num(r[1]), TimerWheel.level(expires, 9), "level of " + expires);
            assertEquals(num(r[3]), TimerWheel.firesAt(expires, 0, 9), "fire tick of " + expires);
        }
    }
}
