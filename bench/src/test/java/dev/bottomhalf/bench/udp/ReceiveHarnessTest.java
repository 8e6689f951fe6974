package dev.bottomhalf.bench.udp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.bench.udp.ReceiveHarness.Kind;
import dev.bottomhalf.bench.udp.ReceiveHarness.Result;

/** A smoke run of the receive harness with tiny counts: every receiver gets datagrams from the sender process. */
class ReceiveHarnessTest {
    @Test
    void smokeRun_everyReceiverReceives_andTheTablesArePrinted() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ReceiveHarness.Options o = ReceiveHarness.Options.parse(
                new String[] {"--rounds=1", "--step-ms=100", "--warmup-ms=50", "--rates=2000", "--size=32"});
        Map<Kind, Map<Long, Result>> best = ReceiveHarness.run(o, out);
        String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        for (Kind k : Kind.values()) {
            if (k == Kind.EPOLL && text.contains(k.title + " | not available")) {
                continue; // not Linux x86-64: the row says why
            }
            Result r = best.get(k).get(2000L);
            assertTrue(r.sent() > 0, k + " sent nothing");
            assertTrue(r.received() > 0, k + " received nothing of " + r.sent());
            assertTrue(r.received() <= r.sent(), k + " received more than was sent");
        }
        Result ours = best.get(Kind.BOTTOMHALF).get(2000L);
        assertTrue(ours.napi()[0] >= 1, "the line took at least one interrupt");
        assertTrue(ours.napi()[1] >= ours.napi()[0], "each interrupt polls at least once");
        assertTrue(text.contains("Interrupt mitigation, " + Kind.BOTTOMHALF.title), text);
        assertEquals(1, text.lines().filter(l -> l.startsWith("| " + Kind.NIO.title)).count(), text);
    }
}
