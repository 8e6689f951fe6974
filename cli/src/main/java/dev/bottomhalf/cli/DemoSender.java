package dev.bottomhalf.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.PortUnreachableException;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The UDP demo's traffic: a process of its own that sends datagrams to 127.0.0.1 at a paced rate, from several
 * source ports (so that the host's {@code SO_REUSEPORT} hash spreads them over the device's queues), with a burst
 * half-way. Single-threaded; started by {@link UdpNetDemo} with the same {@code java} and class path.
 *
 * <p>Arguments: {@code PORT RATE SIZE SECONDS SOCKETS BURST}. Prints {@code ready} once its sockets are open, then
 * sends for {@code SECONDS} at {@code RATE} datagrams/s (in bursts of {@link #PACE_BURST}); half-way it sends
 * {@code BURST} more back to back. Each datagram of {@code SIZE} bytes starts with its sequence number (a
 * big-endian long). Ends with {@code sent N}: the datagrams the host accepted — also early, when a line
 * {@code stop} comes on its standard input (the demo's Enter under {@code --web}). Exits at once when its standard
 * input ends (the demo stopped: Ctrl-C or an error), so that it never outlives the demo.
 */
final class DemoSender {
    /** Datagrams sent back to back per pacing step. */
    static final int PACE_BURST = 8;
    /** A line {@code stop} on standard input (the demo's Enter under {@code --web}): stop sending, then report. */
    private static volatile boolean stopRequested;

    private DemoSender() {
    }

    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        int port = Integer.parseInt(args[0]);
        long rate = Long.parseLong(args[1]);
        int size = Integer.parseInt(args[2]);
        long seconds = Long.parseLong(args[3]);
        int sockets = Integer.parseInt(args[4]);
        int burst = Integer.parseInt(args[5]);
        InetSocketAddress to = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        DatagramChannel[] chs = new DatagramChannel[sockets];
        for (int i = 0; i < sockets; i++) {
            chs[i] = DatagramChannel.open();
            chs[i].connect(to);
        }
        Thread.ofPlatform().daemon().name("parent-watch").start(() -> {
            try {
                java.io.BufferedReader in = new java.io.BufferedReader(
                        new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.equals("stop")) {
                        stopRequested = true;      // the demo's Enter: end now and report, as at the end
                    }
                }
            } catch (IOException e) {
                // the pipe broke: the demo is gone too
            }
            System.exit(0);
        });
        out.println("ready");
        ByteBuffer buf = ByteBuffer.allocateDirect(size);
        long start = System.nanoTime();
        long durationNs = TimeUnit.SECONDS.toNanos(seconds);
        long seq = 0;
        long paced = 0;
        long sent = 0;
        boolean burstDone = burst == 0;
        while (true) {
            long elapsed = System.nanoTime() - start;
            if (elapsed >= durationNs || stopRequested) {
                break;
            }
            int n = PACE_BURST;
            if (!burstDone && elapsed >= durationNs / 2) {
                burstDone = true;
                n += burst;                       // half-way: a burst on top of the rate
            } else {
                long due = (long) (paced * 1e9 / rate);
                if (due > elapsed) {
                    if (due - elapsed > 60_000) {
                        LockSupport.parkNanos(due - elapsed - 50_000);
                    } else {
                        Thread.onSpinWait();
                    }
                    continue;
                }
                paced += PACE_BURST;
            }
            for (int i = 0; i < n; i++) {
                buf.clear();
                buf.putLong(0, seq);
                try {
                    chs[(int) (seq % sockets)].write(buf);
                    sent++;
                } catch (PortUnreachableException e) {
                    // an ICMP error for an earlier datagram: this one was not sent
                }
                seq++;
            }
        }
        for (DatagramChannel ch : chs) {
            ch.close();
        }
        out.println("sent " + sent);
    }
}
