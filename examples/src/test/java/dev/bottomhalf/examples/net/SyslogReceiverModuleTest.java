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
 * 127.0.0.1 in both formats, and over TCP in both RFC 6587 framings. {@code .ci/run} installs it when it is missing
 * (Debian's {@code bsdutils}).
 */
class SyslogReceiverModuleTest {
    private static final long TIMEOUT_S = 30;
    private static final int LINE = 44;
    private static final int TCP_LINE = 45;
    private static final int EACH = 20;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    /** Runs {@code logger} with {@code args}; fails with what to install when it is not there. */
    private static void logger(List<String> args) throws IOException, InterruptedException {
        logger(args, null);
    }

    /**
     * Runs {@code logger} with {@code args}, writing {@code stdin} (each line one message, all over one connection
     * with {@code -T}) to it when not null.
     */
    private static void logger(List<String> args, String stdin) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("logger"));
        cmd.addAll(args);
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("this test needs util-linux's logger (Debian: apt-get install bsdutils): "
                    + e.getMessage(), e);
        }
        try (var in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
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

    /**
     * Over TCP: one {@code logger -T --octet-count} connection carrying {@value #EACH} RFC 5424 messages and one
     * {@code logger -T} (newline framing) connection carrying {@value #EACH} RFC 3164 messages, plus one
     * single-message connection of each: every message is framed, parsed in NET_RX on the TCP queue's CPU and
     * written once.
     */
    @Test
    void messagesFromLoggerOverTcp_inBothFramings_areSplitParsedInSoftirq_andWrittenOnce() throws Exception {
        Kernel kernel = kernels.kernel();
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        SyslogReceiverModule syslog = new SyslogReceiverModule(loopback, LINE, loopback, TCP_LINE, m -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        assertEquals(0, loader.insmod(syslog));
        String port = Integer.toString(syslog.tcpDevice().localAddress().getPort());
        StringBuilder octet = new StringBuilder();
        StringBuilder newline = new StringBuilder();
        for (int i = 0; i < EACH; i++) {
            octet.append("octet 5424 #").append(i).append('\n');
            newline.append("newline 3164 #").append(i).append('\n');
        }
        logger(List.of("-T", "--octet-count", "-n", "127.0.0.1", "-P", port, "--rfc5424", "-p", "local0.warning",
                "-t", "bhtest"), octet.toString());
        logger(List.of("-T", "-n", "127.0.0.1", "-P", port, "--rfc3164", "-p", "user.err", "-t", "bhtest"),
                newline.toString());
        logger(List.of("-T", "--octet-count", "-n", "127.0.0.1", "-P", port, "--rfc5424", "-p", "local0.warning",
                "-t", "bhtest", "octet 5424 #" + EACH));
        logger(List.of("-T", "-n", "127.0.0.1", "-P", port, "--rfc3164", "-p", "user.err", "-t", "bhtest",
                "newline 3164 #" + EACH));
        int total = 2 * (EACH + 1);
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (syslog.log().size() < total || syslog.tcpDevice().connectionsClosed() < 4) {
            assertTrue(System.nanoTime() - giveUp < 0, "only " + syslog.log().size() + " of " + total
                    + " messages written, " + syslog.tcpDevice().connectionsClosed() + " of 4 connections ended; bad "
                    + syslog.bad());
            Thread.onSpinWait();
        }
        loader.rmmod(syslog);

        List<Message> log = syslog.log();
        assertEquals(total, log.size(), "each message written once");
        Set<String> texts = new HashSet<>();
        int tcpCpu = syslog.tcpDevice().queues().get(0).cpu();
        for (Message m : log) {
            assertEquals("bhtest", m.app(), m.toString());
            assertTrue(texts.add(m.text()), "written twice: " + m);
            if (m.rfc5424()) {
                assertEquals(16, m.facility(), "local0: " + m);
                assertEquals(4, m.severity(), "warning: " + m);
                assertTrue(m.text().startsWith("octet 5424 #"), m.toString());
            } else {
                assertEquals(1, m.facility(), "user: " + m);
                assertEquals(3, m.severity(), "err: " + m);
                assertTrue(m.text().startsWith("newline 3164 #"), m.toString());
            }
            assertEquals(tcpCpu, m.cpu(), "parsed on the TCP queue's CPU: " + m);
        }
        for (int i = 0; i <= EACH; i++) {
            assertTrue(texts.contains("octet 5424 #" + i) && texts.contains("newline 3164 #" + i), "message " + i);
        }
        assertArrayEquals(new long[] {0, 0, 0, EACH + 1, EACH + 1, 0, 0, 0}, syslog.bySeverity());
        assertEquals(0, syslog.bad());
        assertEquals(4, syslog.tcpDevice().connectionsAccepted());
        assertEquals(0, syslog.tcpDevice().receiverCloses() + syslog.tcpDevice().receiverOopses());
        assertEquals(0, syslog.device().rxPackets(), "nothing came over UDP");
    }

    @Test
    void tcpFraming_splitsMessagesAcrossReads_andAFramingErrorClosesTheConnection() throws Exception {
        Kernel kernel = kernels.kernel();
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        SyslogReceiverModule syslog = new SyslogReceiverModule(loopback, LINE, loopback, TCP_LINE, m -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        assertEquals(0, loader.insmod(syslog));
        String a = "<14>1 - host app - - - split one";
        String b = "<11>Dec  5 02:12:25 vm bhtest: split two";
        String stream = a.length() + " " + a + "\r\n" + b + "\r\n" + "x";
        try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(
                syslog.tcpDevice().localAddress())) {
            byte[] bytes = stream.getBytes(StandardCharsets.UTF_8);
            for (byte x : bytes) {                       // one byte at a time: frames span many reads
                ch.write(java.nio.ByteBuffer.wrap(new byte[] {x}));
            }
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (syslog.tcpDevice().connectionsClosed() < 1) {
                assertTrue(System.nanoTime() - giveUp < 0, "the framing error closes the connection");
                Thread.onSpinWait();
            }
        }
        loader.rmmod(syslog);
        assertEquals(List.of("split one", "split two"), syslog.log().stream().map(Message::text).toList());
        assertEquals(1, syslog.bad(), "the stray 'x' is a framing error");
        assertEquals(1, syslog.tcpDevice().receiverCloses());
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
