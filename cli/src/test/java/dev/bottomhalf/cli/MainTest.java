package dev.bottomhalf.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class MainTest {
    private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(outBytes, true, StandardCharsets.UTF_8);
    private final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);

    @Test
    void demo_deliversEveryPacket_andPrintsProcFiles() {
        int exit = Main.run(new String[] {"demo", "--seconds", "1", "--rate", "50000"}, out, err);
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
        assertTrue(text.matches("(?s).*slow path: [1-9]\\d* per-second summaries written by a kworker to \\S+\n.*"), text);
        assertTrue(text.matches("(?s).*workqueue monitor:\n.*\neth0_summary +[1-9]\\d* +0 .*"), text);
        assertTrue(text.contains("every accepted packet was delivered; no kernel warnings."), text);
    }

    @Test
    void demo_withTrace_printsTracepointHits() {
        int exit = Main.run(new String[] {"demo", "--seconds", "1", "--rate", "10000", "--trace", "20"}, out, err);
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertEquals(0, exit, text + errBytes);
        assertTrue(text.contains("trace (last 20 hits):"), text);
        assertTrue(text.contains("timer_expire_entry: timer=process_timeout"), text); // the demo's closing msleep
    }

    @Test
    void unknownCommand_exitsWithUsage() {
        assertEquals(2, Main.run(new String[] {"frobnicate"}, out, err));
        assertTrue(errBytes.toString(StandardCharsets.UTF_8).contains("unknown command 'frobnicate'"));
    }

    @Test
    void badOption_isExplained() {
        assertEquals(2, Main.run(new String[] {"demo", "--seconds", "99"}, out, err));
        assertTrue(errBytes.toString(StandardCharsets.UTF_8).contains("--seconds must be 1..30: 99"));
    }

    @Test
    void help_listsTheCommands() {
        assertEquals(0, Main.run(new String[] {"help"}, out, err));
        String text = outBytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("demo") && text.contains("test") && text.contains("bench"), text);
    }
}
