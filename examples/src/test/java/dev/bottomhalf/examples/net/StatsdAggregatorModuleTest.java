package dev.bottomhalf.examples.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.net.UdpDevice;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The StatsD aggregator on a threaded kernel with 2 CPUs and two receive queues on 127.0.0.1, fed by plain
 * {@link DatagramChannel}s from 32 source ports (the host's {@code SO_REUSEPORT} hash spreads them over both
 * queues). Traffic goes in windows that fit the socket buffers; every wait is a condition with a generous bound.
 */
class StatsdAggregatorModuleTest {
    private static final long TIMEOUT_S = 30;
    private static final int LINE = 40;

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static void awaitTrue(BooleanSupplier condition, String what) {
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() - giveUp < 0, "never: " + what);
            Thread.onSpinWait();
        }
    }

    @Test
    void linesCountedPerCpuInSoftirq_flushedPeriodically_andTheTotalsAddUpAfterUnload() throws IOException {
        Kernel kernel = kernels.kernel();
        StatsdAggregatorModule statsd = new StatsdAggregatorModule(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), LINE, 2, f -> { });
        statsd.flush_ms = 20;
        ModuleLoader loader = new ModuleLoader(kernel);
        assertEquals(0, loader.insmod(statsd));
        UdpDevice dev = statsd.device();
        assertEquals(2, dev.queues().size());
        InetSocketAddress to = dev.localAddress();
        List<DatagramChannel> clients = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET);
            ch.bind(new InetSocketAddress("127.0.0.1", 0));
            clients.add(ch);
        }
        List<String> datagrams = new ArrayList<>();
        for (int i = 1; i <= 1000; i++) {
            datagrams.add("req:1|c");
        }
        for (int i = 1; i <= 100; i++) {
            datagrams.add("lat:" + i + "|ms\nsampled:1|c|@0.5");   // two lines in one datagram
        }
        datagrams.add("temp:21|g");
        datagrams.add("garbage");                                   // refused: no valid line
        datagrams.add("ok:2|c\nbad:x|c");                           // accepted: one line valid, one bad
        long sent = 0;
        for (int i = 0; i < datagrams.size(); i++) {
            clients.get(i % clients.size()).send(ByteBuffer.wrap(datagrams.get(i).getBytes(StandardCharsets.US_ASCII)),
                    to);
            sent++;
            if (sent % 100 == 0 || i == datagrams.size() - 1) {
                long want = sent;
                awaitTrue(() -> dev.rxPackets() + dev.rxDropped() == want, "datagrams received: "
                        + (dev.rxPackets() + dev.rxDropped()) + " of " + want);
            }
        }
        awaitTrue(() -> statsd.flushes().stream().anyMatch(f -> !f.metrics().isEmpty()), "a periodic flush");
        loader.rmmod(statsd);
        for (DatagramChannel ch : clients) {
            ch.close();
        }

        Map<String, StatsdAggregatorModule.Metric> total = new HashMap<>();
        long[] linesPerCpu = new long[2];
        long bad = 0;
        for (StatsdAggregatorModule.Flush f : statsd.flushes()) {
            f.metrics().forEach((name, m) -> total.merge(name, m, (a, b) -> {
                a.merge(b);
                return a;
            }));
            linesPerCpu[0] += f.linesPerCpu()[0];
            linesPerCpu[1] += f.linesPerCpu()[1];
            bad += f.badLines();
        }
        assertEquals(1000, total.get("req").sum());
        assertEquals(200, total.get("sampled").sum());         // 100 lines at a sample rate of 0.5
        StatsdAggregatorModule.Metric lat = total.get("lat");
        assertEquals("ms", lat.type());
        assertEquals(100, lat.count());
        assertEquals(5050, lat.sum());
        assertEquals(1, lat.min());
        assertEquals(100, lat.max());
        assertEquals(21, total.get("temp").last());
        assertEquals(2, total.get("ok").sum());
        assertEquals(2, bad);                                    // "garbage" and "bad:x|c"
        assertEquals(1000 + 200 + 1 + 1, linesPerCpu[0] + linesPerCpu[1]);
        assertTrue(linesPerCpu[0] > 0 && linesPerCpu[1] > 0, "both CPUs counted: " + linesPerCpu[0] + ", "
                + linesPerCpu[1]);
        assertEquals(0, dev.queues().get(0).cpu());             // queue i is routed to CPU i
        assertEquals(dev.queues().get(0).rxPackets() > 0, linesPerCpu[0] > 0);
        assertEquals(1, dev.rxDropped());
        assertTrue(statsd.flushes().size() >= 2, "a periodic flush and the one at unload");
        assertTrue(dev.isClosed());
    }
}
