package dev.bottomhalf.examples.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.examples.net.SyslogReceiverModule.Message;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The syslog receiver fed by a client the project did not write: util-linux's {@code logger}, over UDP to
 * 127.0.0.1, in both formats. {@code .ci/run} installs it when it is missing (Debian's {@code bsdutils}).
 */
class SyslogReceiverModuleTest {
    private static final long TIMEOUT_S = 30;
    private static final int LINE = 44;
    private static final int EACH = 20;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /** Runs {@code logger} with {@code args}; fails with what to install when it is not there. */
    private static void logger(List<String> args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("logger"));
        cmd.addAll(args);
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("this test needs util-linux's logger (Debian: apt-get install bsdutils): "
                    + e.getMessage(), e);
        }
        assertTrue(p.waitFor(TIMEOUT_S, TimeUnit.SECONDS), "logger " + args + " did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "logger " + args + ": " + out);
    }

    @Test
    void messagesFromLogger_inBothFormats_areParsedInSoftirq_countedBySeverity_andWrittenByTheWorkItem()
            throws Exception {
        Kernel kernel = kernels.kernel();
        SyslogReceiverModule syslog = new SyslogReceiverModule(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), LINE, m -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        assertEquals(0, loader.insmod(syslog));
        String port = Integer.toString(syslog.device().localAddress().getPort());
        for (int i = 0; i < EACH; i++) {
            logger(List.of("-d", "-n", "127.0.0.1", "-P", port, "--rfc5424", "-p", "local0.warning", "-t", "bhtest",
                    "hello 5424 #" + i));
            logger(List.of("-d", "-n", "127.0.0.1", "-P", port, "--rfc3164", "-p", "user.err", "-t", "bhtest",
                    "hello 3164 #" + i));
        }
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (syslog.log().size() < 2 * EACH) {
            assertTrue(System.nanoTime() - giveUp < 0, "only " + syslog.log().size() + " of " + 2 * EACH
                    + " messages written; rx_dropped " + syslog.device().rxDropped());
            Thread.onSpinWait();
        }
        loader.rmmod(syslog);

        List<Message> log = syslog.log();
        assertEquals(2 * EACH, log.size(), "each message written once");
        Set<String> texts = new HashSet<>();
        for (Message m : log) {
            assertEquals("bhtest", m.app(), m.toString());
            assertTrue(texts.add(m.text()), "written twice: " + m);
            if (m.rfc5424()) {
                assertEquals(16, m.facility(), "local0: " + m);
                assertEquals(4, m.severity(), "warning: " + m);
                assertTrue(m.text().startsWith("hello 5424 #"), m.toString());
            } else {
                assertEquals(1, m.facility(), "user: " + m);
                assertEquals(3, m.severity(), "err: " + m);
                assertTrue(m.text().startsWith("hello 3164 #"), m.toString());
            }
            assertEquals(syslog.device().queues().get(0).cpu(), m.cpu(), "parsed on the queue's CPU: " + m);
        }
        for (int i = 0; i < EACH; i++) {
            assertTrue(texts.contains("hello 5424 #" + i) && texts.contains("hello 3164 #" + i), "message " + i);
        }
        assertArrayEquals(new long[] {0, 0, 0, EACH, EACH, 0, 0, 0}, syslog.bySeverity());
        assertEquals(0, syslog.device().rxDropped());
    }

    @Test
    void parse_readsBothFormats_andRefusesWhatIsNotSyslog() {
        Message a = SyslogReceiverModule.parse(bytes("<132>1 2026-12-05T02:12:25.725364+00:00 vm bhtest - - "
                + "[timeQuality tzKnown=\"1\" isSynced=\"0\"] hello 1"), len("<132>1 2026-12-05T02:12:25.725364+00:00 "
                + "vm bhtest - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello 1"), 1);
        assertEquals(new Message(16, 4, true, "vm", "bhtest", "hello 1", 1), a);
        Message b = SyslogReceiverModule.parse(bytes("<11>Dec  5 02:12:25 vm bhtest: hello 2"),
                len("<11>Dec  5 02:12:25 vm bhtest: hello 2"), 0);
        assertEquals(new Message(1, 3, false, "vm", "bhtest", "hello 2", 0), b);
        Message c = SyslogReceiverModule.parse(bytes("<14>1 - host app 42 ID7 [a b=\"x\\]y\"][c] text"),
                len("<14>1 - host app 42 ID7 [a b=\"x\\]y\"][c] text"), 0);
        assertEquals(new Message(1, 6, true, "host", "app", "text", 0), c);
        assertNull(SyslogReceiverModule.parse(bytes("hits:1|c"), len("hits:1|c"), 0), "StatsD is not syslog");
        assertNull(SyslogReceiverModule.parse(bytes("<999>1 - h a - - - x"), len("<999>1 - h a - - - x"), 0),
                "PRI above 191");
        assertNull(SyslogReceiverModule.parse(bytes("<13>1 - h a - - [unterminated"), len("<13>1 - h a - - [unterminated"),
                0), "structured data never closed");
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static int len(String s) {
        return bytes(s).length;
    }
}
