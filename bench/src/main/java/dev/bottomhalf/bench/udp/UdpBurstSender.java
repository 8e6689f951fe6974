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
 * <li>{@code send PORT RATE SIZE MILLIS [mmsg]}: sends datagrams of {@code SIZE} bytes (at least 16) to
 * {@code 127.0.0.1:PORT} for {@code MILLIS} ms at {@code RATE} datagrams/s ({@code 0}: as fast as the socket
 * takes them; {@code -N}: as fast as {@code N} threads can, each from its own socket), in bursts of
 * {@link #BURST}; then prints {@code sent N} (N datagrams the host accepted). Each datagram is a
 * {@code DatagramChannel.write}, or with {@code mmsg} each burst is one {@code sendmmsg(2)} ({@link MmsgSocket}:
 * a system call per burst instead of per datagram, so one sender thread offers more).</li>
 * <li>{@code count PORT COUNT SIZE [mmsg]}: sends {@code COUNT} datagrams (in whole bursts) as fast as it can,
 * for at most {@link #COUNT_LIMIT_MS} ms; then prints {@code sent N}.</li>
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
    /** How long a {@code count} command may take at most. */
    static final long COUNT_LIMIT_MS = 10_000;
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
            if (w[0].equals("count") && w.length >= 4 && w.length <= 5 && (w.length == 4 || w[4].equals("mmsg"))) {
                int port = Integer.parseInt(w[1]);
                long count = Long.parseLong(w[2]);
                int size = Integer.parseInt(w[3]);
                long sent = w.length == 5 ? sendMmsg(port, 0, size, COUNT_LIMIT_MS, count)
                        : sendOne(port, 0, size, COUNT_LIMIT_MS, count);
                out.println("sent " + sent);
                continue;
            }
            if (!w[0].equals("send") || w.length < 5 || w.length > 6 || w.length == 6 && !w[5].equals("mmsg")) {
                out.println("error: unknown command: " + line);
                continue;
            }
            long sent = send(Integer.parseInt(w[1]), Long.parseLong(w[2]), Integer.parseInt(w[3]),
                    Long.parseLong(w[4]), w.length == 6);
            out.println("sent " + sent);
        }
    }

    /**
     * Sends for {@code millis} at {@code rate} datagrams/s (0: unpaced; -N: unpaced from N threads) to
     * 127.0.0.1:{@code port}; with {@code mmsg}, a {@code sendmmsg} per burst.
     *
     * @return how many datagrams the host accepted
     */
    static long send(int port, long rate, int size, long millis, boolean mmsg) throws IOException {
        if (rate >= 0) {
            return mmsg ? sendMmsg(port, rate, size, millis, Long.MAX_VALUE)
                    : sendOne(port, rate, size, millis, Long.MAX_VALUE);
        }
        int threads = (int) -rate;
        long[] sent = new long[threads];
        IOException[] failed = new IOException[1];
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            int n = i;
            ts[i] = Thread.ofPlatform().name("sender-" + i).start(() -> {
                try {
                    sent[n] = mmsg ? sendMmsg(port, 0, size, millis, Long.MAX_VALUE)
                            : sendOne(port, 0, size, millis, Long.MAX_VALUE);
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

    /** Sends one burst of datagrams numbered from {@code seq}; returns how many the host accepted. */
    private interface Burst {
        int send(long seq) throws IOException;
    }

    private static long sendOne(int port, long rate, int size, long millis, long count) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(Math.max(MIN_SIZE, size));
        try (DatagramChannel ch = DatagramChannel.open()) {
            ch.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return paced(rate, millis, count, seq -> {
                int sent = 0;
                for (int i = 0; i < BURST; i++) {
                    buf.clear();
                    buf.putLong(0, seq + sent);
                    buf.putLong(8, RealtimeClock.nowNs());
                    try {
                        ch.write(buf);
                    } catch (java.net.PortUnreachableException e) {
                        continue; // an ICMP error of an earlier datagram (no receiver yet): this one is lost too
                    }
                    sent++;
                }
                return sent;
            });
        }
    }

    private static long sendMmsg(int port, long rate, int size, long millis, long count) throws IOException {
        try (MmsgSocket socket = new MmsgSocket(port, BURST, Math.max(MIN_SIZE, size))) {
            return paced(rate, millis, count, seq -> {
                long t = RealtimeClock.nowNs();
                for (int i = 0; i < BURST; i++) {
                    socket.stamp(i, seq + i, t);
                }
                // (One stamp per burst: the datagrams of a burst leave in one system call. A datagram refused
                // with an earlier one's ICMP error, and those after it in the burst, were not sent: their numbers
                // are used again, as with a refused write.)
                return socket.send(BURST);
            });
        }
    }

    /**
     * Sends bursts for {@code millis} or until {@code count} datagrams were accepted, at {@code rate} datagrams/s
     * (0: as fast as the bursts go): a burst is due when the datagrams accepted so far are due.
     *
     * @return how many datagrams the host accepted
     */
    private static long paced(long rate, long millis, long count, Burst burst) throws IOException {
        long start = System.nanoTime();
        long end = start + TimeUnit.MILLISECONDS.toNanos(millis);
        long seq = 0;
        while (true) {
            long now = System.nanoTime();
            if (now - end >= 0 || seq >= count) {
                return seq;
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
            seq += burst.send(seq);
        }
    }
}
