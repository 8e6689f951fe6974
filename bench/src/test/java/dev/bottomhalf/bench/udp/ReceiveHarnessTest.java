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

    @Test
    void theMmsgSender_feedsEveryReceiverItTries_andTheDrainStepOverflowsTheBufferForEach() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ReceiveHarness.Options o = ReceiveHarness.Options.parse(new String[] {"--rounds=1", "--step-ms=100",
                "--warmup-ms=50", "--rates=5000,max,drain", "--only=bottomhalf-defer200,nio", "--sender=mmsg"});
        Map<Kind, Map<Long, Result>> best = ReceiveHarness.run(o, out);
        String text = bytes.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        assertTrue(text.contains("sender: a sendmmsg(2) per burst"), text);
        assertTrue(text.lines().anyMatch(l -> l.contains("|     drain |")), text);
        for (Kind k : new Kind[] {Kind.BOTTOMHALF_DEFER_200, Kind.NIO}) {
            for (long rate : new long[] {5000, 0}) {
                Result r = best.get(k).get(rate);
                assertTrue(r.sent() > 0 && r.received() > 0 && r.received() <= r.sent(), k + " at " + rate + ": " + r);
            }
            Result d = best.get(k).get(ReceiveHarness.DRAIN);
            assertTrue(d.sent() >= 3 * ReceiveHarness.DRAIN_FILL, k + ": at least 3 cycles: " + d);
            assertTrue(d.received() > 0 && d.received() < d.sent(), k + ": the burst overflows the buffer: " + d);
            assertTrue(d.receivedPerS() > 0 && d.p50Ns() == -1, k + ": a rate, no latency: " + d);
        }
    }
}
