package dev.bottomhalf.bench.udp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The receive benchmark's sender, a process of its own: reads commands on standard input and sends fixed-size
 * datagrams to 127.0.0.1 in bounded bursts. Single-threaded.
 *
 * <ul>
 * <li>{@code send PORT RATE SIZE MILLIS}: sends datagrams of {@code SIZE} bytes (at least 16) to
 * {@code 127.0.0.1:PORT} for {@code MILLIS} ms at {@code RATE} datagrams/s ({@code 0}: as fast as the socket
 * takes them; {@code -N}: as fast as {@code N} threads can, each from its own socket), in bursts of
 * {@link #BURST}; then prints {@code sent N} (N datagrams the host accepted).</li>
 * <li>{@code quit}: exits.</li>
 * </ul>
 * Each datagram starts with its sequence number and its send time on the {@link RealtimeClock} (two big-endian
 * longs); the rest is zeros. Started by {@link ReceiveHarness} with the same {@code java} and class path, it prints
 * {@code ready} once it can take commands. Single-threaded but for {@code -N}, whose threads it starts and joins
 * per command.
 */
public final class UdpBurstSender {
    /** Datagrams per burst: a burst is sent back to back, bursts are spaced to keep the rate. */
    public static final int BURST = 16;
    /** The smallest datagram: the sequence number and the time stamp. */
    public static final int MIN_SIZE = 16;

    private UdpBurstSender() {
    }

    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        RealtimeClock.nowNs(); // calibrates before the first command
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        out.println("ready");
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split("\\s+");
            if (w[0].equals("quit")) {
                return;
            }
            if (!w[0].equals("send") || w.length != 5) {
                out.println("error: unknown command: " + line);
                continue;
            }
            long sent = send(Integer.parseInt(w[1]), Long.parseLong(w[2]), Integer.parseInt(w[3]),
                    Long.parseLong(w[4]));
            out.println("sent " + sent);
        }
    }

    /**
     * Sends for {@code millis} at {@code rate} datagrams/s (0: unpaced; -N: unpaced from N threads) to
     * 127.0.0.1:{@code port}.
     *
     * @return how many datagrams the host accepted
     */
    static long send(int port, long rate, int size, long millis) throws IOException {
        if (rate >= 0) {
            return sendOne(port, rate, size, millis);
        }
        int threads = (int) -rate;
        long[] sent = new long[threads];
        IOException[] failed = new IOException[1];
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            int n = i;
            ts[i] = Thread.ofPlatform().name("sender-" + i).start(() -> {
                try {
                    sent[n] = sendOne(port, 0, size, millis);
                } catch (IOException e) {
                    failed[0] = e;
                }
            });
        }
        long sum = 0;
        for (int i = 0; i < threads; i++) {
            try {
                ts[i].join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            sum += sent[i];
        }
        if (failed[0] != null) {
            throw failed[0];
        }
        return sum;
    }

    private static long sendOne(int port, long rate, int size, long millis) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(Math.max(MIN_SIZE, size));
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            long start = System.nanoTime();
            long end = start + TimeUnit.MILLISECONDS.toNanos(millis);
            long seq = 0;
            while (true) {
                long now = System.nanoTime();
                if (now - end >= 0) {
                    break;
                }
                if (rate > 0) {
                    long due = start + (long) (seq * 1e9 / rate);
                    if (due - now > 0) {
                        if (due - now > 60_000) {
                            LockSupport.parkNanos(due - now - 50_000);
                        } else {
                            Thread.onSpinWait();
                        }
                        continue;
                    }
                }
                for (int i = 0; i < BURST; i++) {
                    buf.clear();
                    buf.putLong(0, seq);
                    buf.putLong(8, RealtimeClock.nowNs());
                    try {
                        ch.write(buf);
                    } catch (java.net.PortUnreachableException e) {
                        continue; // an ICMP error of an earlier datagram (no receiver yet): this one is lost too
                    }
                    seq++;
                }
            }
            return seq;
        }
    }
}
