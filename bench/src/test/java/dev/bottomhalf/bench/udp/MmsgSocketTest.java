package dev.bottomhalf.bench.udp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;

import org.junit.jupiter.api.Test;

/** The receive benchmark's {@code sendmmsg} sender, against a plain {@code DatagramChannel} receiver. */
class MmsgSocketTest {
    @Test
    void aBurstArrivesAsSeparateDatagrams_eachWithItsOwnNumberAndStamp() throws Exception {
        try (DatagramChannel rx = DatagramChannel.open()) {
            rx.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
            rx.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = ((InetSocketAddress) rx.getLocalAddress()).getPort();
            try (MmsgSocket tx = new MmsgSocket(port, 16, 40)) {
                for (int i = 0; i < 16; i++) {
                    tx.stamp(i, 100 + i, 5_000 + i);
                }
                assertEquals(16, tx.send(16));
                for (int i = 0; i < 4; i++) {
                    tx.stamp(i, 200 + i, 7_000);
                }
                assertEquals(4, tx.send(4), "a part of the batch");
            }
            ByteBuffer b = ByteBuffer.allocate(100);
            for (int i = 0; i < 20; i++) {
                b.clear();
                rx.receive(b);
                b.flip();
                assertEquals(40, b.remaining(), "datagram " + i + "'s size");
                long seq = i < 16 ? 100 + i : 200 + i - 16;
                assertEquals(seq, b.getLong(0), "datagram " + i + "'s number");
                assertEquals(i < 16 ? 5_000 + i : 7_000, b.getLong(8), "datagram " + i + "'s stamp");
            }
        }
    }

    @Test
    void toAPortNobodyListensOn_burstsAreCutShort_notThrown() throws Exception {
        int port;
        try (DatagramChannel probe = DatagramChannel.open()) {
            probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            port = ((InetSocketAddress) probe.getLocalAddress()).getPort();
        }
        try (MmsgSocket tx = new MmsgSocket(port, 4, 16)) {
            int cut = 0;
            for (int i = 0; i < 50; i++) {
                int n = tx.send(4);
                assertTrue(n >= 0 && n <= 4, "sent " + n);
                if (n < 4) {
                    cut++;
                }
            }
            // The first datagram's ICMP error is the socket's pending error; the next datagram that meets it is
            // refused, and sendmmsg returns how many went before it.
            assertTrue(cut > 0, "the ICMP error of an earlier datagram stops a later burst");
        }
    }

    @Test
    void aBatchLargerThanTheSocketsIsRefused() throws Exception {
        try (MmsgSocket tx = new MmsgSocket(9, 4, 16)) {
            assertThrows(IllegalArgumentException.class, () -> tx.send(5));
            assertThrows(IllegalArgumentException.class, () -> tx.send(0));
        }
        assertThrows(IllegalArgumentException.class, () -> new MmsgSocket(9, 4, 15));
    }
}
