package dev.bottomhalf.bench.udp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.SingleWriterRecorder;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.net.UdpDevice;
import dev.bottomhalf.net.UdpRxQueue;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.nio.NioDatagramChannel;

/**
 * The UDP receive path against its peers, on real datagrams over 127.0.0.1 from a sender in another process
 * ({@link UdpBurstSender}, started with this JVM's {@code java} and class path): bottomhalf's NAPI receive through a
 * one-queue {@link UdpDevice} on a 1-CPU kernel (default idle strategy; parking; parking with IRQ deferral,
 * {@code napi_defer_hard_irqs} 2 and {@code gro_flush_timeout} 20 µs, 200 µs or 1 ms), Netty's
 * {@code NioDatagramChannel} and native epoll {@code EpollDatagramChannel} on one event loop each, and a plain
 * blocking {@code DatagramChannel.receive} loop on a platform thread and on a virtual thread. Every receiver does
 * the same work per datagram: reads the sequence number and the send time, records send → handler latency in a
 * {@link SingleWriterRecorder} and counts. Used from its own {@code main} thread.
 *
 * <p>For each offered rate (0, "max": as fast as the sender's socket takes them; "max x2": from two sender threads,
 * which on a 2-core host leaves the receiver less than a core) the sender sends for a step's time; the
 * harness then waits until the receiver has been quiet for {@value #QUIET_MS} ms and reports:
 * <ul>
 * <li>received/s: datagrams handed to the handler over the time from the step's start to the last one;</li>
 * <li>loss: sent − received (datagrams the host dropped, almost all because the socket buffer was full);</li>
 * <li>CPU per datagram: {@code ThreadMXBean.getThreadCpuTime} summed over every platform thread but this harness's
 * main thread (the receiving threads: bottomhalf's {@code cpu/0}, {@code ksoftirqd/0} and selector thread, Netty's
 * event loop, the blocking loop's thread or the virtual thread's carrier; idle spinning included) over the step,
 * per datagram received; beside it the process's CPU time ({@code OperatingSystemMXBean.getProcessCpuTime}, GC
 * and JIT included; the sender is another process);</li>
 * <li>allocation per datagram: {@code ThreadMXBean.getThreadAllocatedBytes} summed over every platform thread but
 * this harness's main thread (a virtual thread's allocation is counted on its carrier), per datagram received;</li>
 * <li>send → handler latency p50/p99: the sender stamps its {@link RealtimeClock} (nanoTime plus an offset to the
 * host's real-time clock, calibrated per process) and the handler subtracts it from its own.</li>
 * </ul>
 * The rate {@code drain} measures a receiver with no sender running: the handler waits (parked) at a gate with
 * the first datagram of a burst larger than the socket's buffer, so the buffer fills and the host drops the rest;
 * then the gate opens and the harness times how fast the receiver empties the buffer, cycle after cycle for a
 * step's time ({@link #drain}). Every receiver gets the same burst into the same buffer and so the same loss; on a
 * 2-core host this is the one way to offer a receiver more than it takes, since a sender process on loopback pays
 * for the whole path into the socket and, on one core, offers less than any receiver here takes.
 *
 * <p>The sender ({@code --sender}) writes a datagram per {@code DatagramChannel.write}, or a burst per
 * {@code sendmmsg(2)} ({@link MmsgSocket}); {@code --pin} gives it CPU 0 and this process CPU 1
 * ({@code taskset}), so that a receiver's CPU use no longer decides how much CPU the sender gets.
 *
 * <p>Rounds are interleaved (every receiver at every rate, then again); each cell keeps its round with the most
 * datagrams/s. The bottomhalf rows also give the interrupt-mitigation table: interrupts (its line's
 * {@code /proc/interrupts} count) per datagram, {@code time_squeeze}, polls and NET_RX softirqs per interrupt.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar dev.bottomhalf.bench.udp.ReceiveHarness
 *     [--rounds=3] [--step-ms=1000] [--rates=10000,50000,100000,200000,max,max2,drain] [--size=64] [--only=nio,...]
 *     [--sender=channel|mmsg] [--pin]</pre>
 */
public final class ReceiveHarness {
    /** The receive buffer of every receiver's socket (the host caps it at net.core.rmem_max). */
    static final int RCVBUF = 4 << 20;
    static final long QUIET_MS = 100;
    /** The offered rate that stands for the drain step. */
    static final long DRAIN = Long.MIN_VALUE;
    /** Datagrams per drain cycle: more than the socket's buffer holds at any datagram size this harness sends. */
    static final long DRAIN_FILL = 20_000;
    /** The drain step's quiet time: the buffer is empty, the rest of the burst was dropped by the host. */
    static final long DRAIN_QUIET_MS = 20;
    private static final int LINE = 24;
    private static final long MAX_LATENCY_NS = TimeUnit.SECONDS.toNanos(30);

    private ReceiveHarness() {
    }

    /** What every receiver does per datagram; one writer at a time. */
    static final class Sink {
        final SingleWriterRecorder latency = new SingleWriterRecorder(MAX_LATENCY_NS, 2);
        private final AtomicLong received = new AtomicLong();
        private final AtomicLong lastNs = new AtomicLong();
        private final AtomicLong bytes = new AtomicLong();

        /** Closed: the next datagram's handler waits for {@link #openGate} (the drain steps). */
        private volatile boolean gated;
        /** A handler is waiting at the closed gate. */
        private volatile boolean stalled;
        /** When the waiting handler went on. */
        private volatile long resumedNs;

        void datagram(long seq, long sentNs, int length) {
            if (gated) {
                stall();
            }
            long now = RealtimeClock.nowNs();
            latency.recordValue(Math.min(MAX_LATENCY_NS, Math.max(0, now - sentNs)));
            received.setOpaque(received.getOpaque() + 1);
            bytes.setOpaque(bytes.getOpaque() + length + (seq & 0));
            lastNs.setOpaque(now);
        }

        long received() {
            return received.getOpaque();
        }

        /** Closes the gate: the next datagram's handler waits, and its receiver stops reading. */
        void closeGate() {
            stalled = false;
            gated = true;
        }

        /** Opens the gate. */
        void openGate() {
            gated = false;
        }

        /** Waits up to {@code timeoutNs} for a handler to wait at the closed gate. */
        boolean awaitStalled(long timeoutNs) {
            long end = System.nanoTime() + timeoutNs;
            while (!stalled) {
                if (System.nanoTime() - end >= 0) {
                    return false;
                }
                LockSupport.parkNanos(100_000);
            }
            return true;
        }

        /** Parks (so a receiver on the sender's core does not take its CPU) until the gate opens. */
        private void stall() {
            stalled = true;
            while (gated) {
                LockSupport.parkNanos(20_000);
            }
            resumedNs = RealtimeClock.nowNs();
        }
    }

    /** One receiver under test: bound to 127.0.0.1, feeding {@link #sink}. */
    abstract static class Target implements AutoCloseable {
        final Sink sink;

        Target(Sink sink) {
            this.sink = sink;
        }

        abstract int port();

        /** The NAPI counters: interrupts, polls, time_squeeze, NET_RX softirqs; null for the peers. */
        long[] napiCounters() {
            return null;
        }

        @Override
        public abstract void close();
    }

    /** The bottomhalf rows, which have the NAPI counters. */
    static final List<Kind> BOTTOMHALF_KINDS = List.of(Kind.BOTTOMHALF, Kind.BOTTOMHALF_PARKING,
            Kind.BOTTOMHALF_DEFER_20, Kind.BOTTOMHALF_DEFER_200, Kind.BOTTOMHALF_DEFER_1000);

    /** The receivers, by the name {@code --only} takes. */
    enum Kind {
        BOTTOMHALF("bottomhalf", "bottomhalf NAPI (UdpDevice), default idle"),
        BOTTOMHALF_PARKING("bottomhalf-parking", "bottomhalf NAPI (UdpDevice), parking idle"),
        BOTTOMHALF_DEFER_20("bottomhalf-defer20", "bottomhalf NAPI, parking, defer 2 x 20 us"),
        BOTTOMHALF_DEFER_200("bottomhalf-defer200", "bottomhalf NAPI, parking, defer 2 x 200 us"),
        BOTTOMHALF_DEFER_1000("bottomhalf-defer1000", "bottomhalf NAPI, parking, defer 2 x 1000 us"),
        NIO("nio", "Netty NioDatagramChannel"),
        EPOLL("epoll", "Netty EpollDatagramChannel (native)"),
        BLOCKING("blocking", "blocking DatagramChannel, platform thread"),
        VIRTUAL("virtual", "blocking DatagramChannel, virtual thread");

        final String key;
        final String title;

        Kind(String key, String title) {
            this.key = key;
            this.title = title;
        }
    }

    /**
     * One step's measurement: {@code cpuNsPerDatagram} from the threads' CPU time (every platform thread but the
     * harness's main thread), {@code processCpuNsPerDatagram} from the process's (GC and JIT threads too; its clock
     * may tick in jiffies, so short steps at low rates read 0 or one tick).
     */
    record Result(Kind kind, long offered, long sent, long received, double receivedPerS, double cpuNsPerDatagram,
                  double processCpuNsPerDatagram, double bytesPerDatagram, long p50Ns, long p99Ns, long[] napi) {
        double lossPercent() {
            return sent == 0 ? 0 : 100.0 * (sent - received) / sent;
        }
    }

    /** The sender process: one command at a time. */
    static final class Sender implements AutoCloseable {
        private final Process process;
        private final PrintWriter commands;
        private final BufferedReader replies;

        private final String mode;

        /**
         * Starts the sender process: on CPU {@code cpu} (with {@code taskset}) when it is 0 or more, and sending
         * with {@code sendmmsg} when {@code mmsg}.
         */
        Sender(int cpu, boolean mmsg) throws IOException {
            String java = ProcessHandle.current().info().command().orElse(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString());
            List<String> command = new ArrayList<>();
            if (cpu >= 0) {
                command.addAll(List.of("taskset", "-c", Integer.toString(cpu)));
            }
            command.addAll(List.of(java, "-XX:+UseSerialGC", "-Xmx64m", "--enable-native-access=ALL-UNNAMED", "-cp",
                    System.getProperty("java.class.path"), UdpBurstSender.class.getName()));
            mode = mmsg ? " mmsg" : "";
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            commands = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
            replies = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            expect("ready");
        }

        long send(int port, long rate, int size, long millis) throws IOException {
            commands.println("send " + port + " " + rate + " " + size + " " + millis + mode);
            return Long.parseLong(expect("sent ").substring(5));
        }

        /** Sends {@code count} datagrams as fast as the sender can. */
        long count(int port, long count, int size) throws IOException {
            commands.println("count " + port + " " + count + " " + size + mode);
            return Long.parseLong(expect("sent ").substring(5));
        }

        private String expect(String prefix) throws IOException {
            String line = replies.readLine();
            if (line == null || !line.startsWith(prefix)) {
                throw new IOException("the sender said " + line + ", expected " + prefix);
            }
            return line;
        }

        @Override
        public void close() {
            commands.println("quit");
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroy();
                }
            } catch (InterruptedException e) {
                process.destroy();
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The options, for the help and the error of an unknown one. */
    private static final String OPTIONS = "--rounds=N (3) --step-ms=MS (1000) --warmup-ms=MS (1500)"
            + " --rates=R1,R2,... (10000,50000,100000,200000,max,max2,drain; 0 or max: one unpaced sender thread,"
            + " maxN: N of them; drain: fill the socket while the receiver waits, then time how fast it empties"
            + " it) --size=BYTES (64) --only=K1,K2 (bottomhalf, bottomhalf-parking, bottomhalf-defer20,"
            + " bottomhalf-defer200, bottomhalf-defer1000, nio, epoll, blocking, virtual) --threads (each step's CPU"
            + " time per thread) --sender=channel|mmsg (channel: a DatagramChannel.write per datagram; mmsg: a"
            + " sendmmsg per burst) --pin (the sender process on CPU 0, this one on CPU 1, with taskset)";

    /** Parsed options. */
    record Options(int rounds, long stepMs, long[] rates, int size, List<Kind> kinds, long warmupMs,
                   boolean threads, boolean mmsg, boolean pin) {
        static Options parse(String[] args) {
            int rounds = 3;
            long stepMs = 1000;
            long[] rates = {10_000, 50_000, 100_000, 200_000, 0, -2, DRAIN};
            int size = 64;
            long warmupMs = 1500;
            boolean threads = false;
            boolean mmsg = false;
            boolean pin = false;
            List<Kind> kinds = new ArrayList<>(List.of(Kind.values()));
            for (String a : args) {
                String[] kv = a.split("=", 2);
                String v = kv.length > 1 ? kv[1] : "";
                switch (kv[0]) {
                    case "--rounds" -> rounds = Integer.parseInt(v);
                    case "--step-ms" -> stepMs = Long.parseLong(v);
                    case "--warmup-ms" -> warmupMs = Long.parseLong(v);
                    case "--threads" -> threads = true;
                    case "--pin" -> pin = true;
                    case "--sender" -> mmsg = switch (v) {
                        case "channel" -> false;
                        case "mmsg" -> true;
                        default -> throw new IllegalArgumentException("--sender is channel or mmsg, not " + v);
                    };
                    case "--size" -> size = Math.max(UdpBurstSender.MIN_SIZE, Integer.parseInt(v));
                    case "--rates" -> {
                        String[] r = v.split(",");
                        rates = new long[r.length];
                        for (int i = 0; i < r.length; i++) {
                            rates[i] = r[i].equals("drain") ? DRAIN : r[i].equals("max") ? 0
                                    : r[i].startsWith("max") ? -Long.parseLong(r[i].substring(3))
                                    : Long.parseLong(r[i]);
                        }
                    }
                    case "--only" -> {
                        kinds.clear();
                        for (String k : v.split(",")) {
                            kinds.add(kind(k));
                        }
                    }
                    default -> throw new IllegalArgumentException("unknown option " + a + "; options: " + OPTIONS);
                }
            }
            return new Options(rounds, stepMs, rates, size, kinds, warmupMs, threads, mmsg, pin);
        }

        private static Kind kind(String key) {
            for (Kind k : Kind.values()) {
                if (k.key.equals(key)) {
                    return k;
                }
            }
            throw new IllegalArgumentException("unknown receiver " + key);
        }
    }

    public static void main(String[] args) throws Exception {
        if (List.of(args).contains("--help")) {
            System.out.println("ReceiveHarness: the UDP receive path against Netty and blocking receive loops.\n"
                    + "Options: " + OPTIONS);
            return;
        }
        run(Options.parse(args), System.out);
    }

    /**
     * Runs every receiver at every rate for the given rounds and prints the tables.
     *
     * @return the best result of each receiver at each rate, in the order run
     */
    static Map<Kind, Map<Long, Result>> run(Options o, PrintStream out) throws Exception {
        out.printf(Locale.ROOT, "JDK %s (%s), %d CPUs, %s; datagrams of %d B to 127.0.0.1 from a sender process "
                        + "(bursts of %d); %d ms per step, %d round(s), best round per cell; SO_RCVBUF %d%n",
                System.getProperty("java.version"), System.getProperty("java.vm.name"),
                Runtime.getRuntime().availableProcessors(), hostLine(), o.size(), UdpBurstSender.BURST, o.stepMs(),
                o.rounds(), RCVBUF);
        Map<Kind, String> unavailable = new LinkedHashMap<>();
        if (o.kinds().contains(Kind.EPOLL) && !Epoll.isAvailable()) {
            unavailable.put(Kind.EPOLL, String.valueOf(Epoll.unavailabilityCause()));
        }
        if (o.pin()) {
            pinThisProcess(1);
        }
        out.printf("sender: %s%s%n", o.mmsg() ? "a sendmmsg(2) per burst" : "a DatagramChannel.write per datagram",
                o.pin() ? "; the sender process on CPU 0, the receivers' process on CPU 1 (taskset)"
                        : "; no CPU pinning");
        Map<Kind, Map<Long, Result>> best = new LinkedHashMap<>();
        try (Sender sender = new Sender(o.pin() ? 0 : -1, o.mmsg())) {
            for (int round = 1; round <= o.rounds(); round++) {
                for (Kind kind : o.kinds()) {
                    if (unavailable.containsKey(kind)) {
                        continue;
                    }
                    try (Target t = open(kind)) {
                        sender.send(t.port(), 0, o.size(), o.warmupMs());  // JIT warm-up at full speed
                        awaitQuiet(t.sink, Long.MAX_VALUE);
                        for (long rate : o.rates()) {
                            Result r = rate == DRAIN ? drain(kind, t, sender, o.size(), o.stepMs())
                                    : step(kind, t, sender, rate, o.size(), o.stepMs(), o.threads() ? out : null);
                            best.computeIfAbsent(kind, k -> new LinkedHashMap<>()).merge(rate, r,
                                    (a, b) -> b.receivedPerS() > a.receivedPerS() ? b : a);
                        }
                    }
                }
                out.printf("round %d of %d done%n", round, o.rounds());
            }
        }
        print(out, o, best, unavailable);
        return best;
    }

    /**
     * Pins every thread of this process, and so every thread it starts later, to CPU {@code cpu} with
     * {@code taskset -a -p}: the receivers then share one core and the sender has the other to itself, so how much
     * a receiver takes no longer depends on how much CPU it leaves the sender.
     */
    private static void pinThisProcess(int cpu) throws IOException, InterruptedException {
        if (Runtime.getRuntime().availableProcessors() < 2) {
            throw new IllegalStateException("--pin needs 2 CPUs: the sender on CPU 0, the receivers on CPU 1");
        }
        Process p = new ProcessBuilder("taskset", "-a", "-p", "-c", Integer.toString(cpu),
                Long.toString(ProcessHandle.current().pid())).redirectErrorStream(true).start();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0) {
            throw new IOException("taskset failed (--pin needs util-linux's taskset): " + said);
        }
    }

    private static String hostLine() {
        String model = "unknown CPU";
        try {
            for (String l : java.nio.file.Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (l.startsWith("model name")) {
                    model = l.substring(l.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no model
        }
        return System.getProperty("os.name") + " " + System.getProperty("os.version") + ", " + model;
    }

    private static Result step(Kind kind, Target t, Sender sender, long rate, int size, long stepMs,
                               PrintStream threads) throws IOException {
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long[] napi0 = t.napiCounters();
        t.sink.latency.getIntervalHistogram(); // discards what the warm-up or the previous step recorded
        long received0 = t.sink.received();
        Map<Long, Long> alloc0 = allocated();
        Map<Long, Long> threadCpu0 = threadCpu();
        long cpu0 = os.getProcessCpuTime();
        long startNs = RealtimeClock.nowNs();
        long sent = sender.send(t.port(), rate, size, stepMs);
        awaitQuiet(t.sink, received0 + sent);
        long cpu = os.getProcessCpuTime() - cpu0;
        Map<Long, Long> threadCpu1 = threadCpu();
        long threadCpu = delta(threadCpu0, threadCpu1);
        long allocatedBytes = delta(alloc0, allocated());
        long received = t.sink.received() - received0;
        long lastNs = t.sink.lastNs.getOpaque();
        Histogram h = t.sink.latency.getIntervalHistogram();
        long[] napi = napiSince(t, napi0);
        double seconds = Math.max(1, lastNs - startNs) / 1e9;
        if (threads != null) {
            printThreads(threads, kind, rate, threadCpu0, threadCpu1, received);
        }
        double n = Math.max(1, received);
        return new Result(kind, rate, sent, received, received == 0 ? 0 : received / seconds, threadCpu / n,
                cpu / n, allocatedBytes / n, h.getValueAtPercentile(50), h.getValueAtPercentile(99), napi);
    }

    /**
     * The drain step, for {@code stepMs} of cycles: the sink's gate closes; the sender sends {@link #DRAIN_FILL}
     * datagrams as fast as it can; the receiver's handler waits at the gate with the first, so the socket's buffer
     * fills and the host drops the rest; the gate opens, and the time from then to the last datagram's handler is
     * what the receiver took to empty the buffer, with no sender running. Every receiver is offered the same burst
     * and the same buffer, so they lose the same (the buffer's overflow). Received/s is datagrams ÷ the summed
     * drain times; CPU and allocation count from the gate's opening until the receiver is quiet; no latency (the
     * wait at the gate is in it).
     */
    private static Result drain(Kind kind, Target t, Sender sender, int size, long stepMs) throws IOException {
        long[] napi0 = t.napiCounters();
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(stepMs);
        long sent = 0;
        long received = 0;
        long drainNs = 0;
        long cpuNs = 0;
        long allocatedBytes = 0;
        int cycles = 0;
        while (cycles < 3 || System.nanoTime() - end < 0) {
            Sink s = t.sink;
            long received0 = s.received();
            s.closeGate();
            long n = sender.count(t.port(), DRAIN_FILL, size);
            if (!s.awaitStalled(TimeUnit.SECONDS.toNanos(1))) {
                s.openGate();
                throw new IOException(kind.key + " did not take the first of " + n + " datagrams within a second");
            }
            Map<Long, Long> alloc0 = allocated();
            Map<Long, Long> threadCpu0 = threadCpu();
            s.openGate();
            awaitQuiet(s, received0 + n, DRAIN_QUIET_MS);
            cpuNs += delta(threadCpu0, threadCpu());
            allocatedBytes += delta(alloc0, allocated());
            long got = s.received() - received0;
            sent += n;
            received += got;
            drainNs += Math.max(1, s.lastNs.getOpaque() - s.resumedNs);
            cycles++;
        }
        t.sink.latency.getIntervalHistogram(); // (the waits at the gate: not a latency)
        long[] napi = napiSince(t, napi0);
        double n = Math.max(1, received);
        return new Result(kind, DRAIN, sent, received, received / (drainNs / 1e9), cpuNs / n, Double.NaN,
                allocatedBytes / n, -1, -1, napi);
    }

    /** The target's NAPI counters now minus {@code before}; null for a peer (no counters). */
    private static long[] napiSince(Target t, long[] before) {
        if (before == null) {
            return null;
        }
        long[] now = t.napiCounters();
        long[] d = new long[now.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = now[i] - before[i];
        }
        return d;
    }

    /** Waits until {@code expected} datagrams arrived or none arrived for {@link #QUIET_MS}. */
    private static void awaitQuiet(Sink sink, long expected) {
        awaitQuiet(sink, expected, QUIET_MS);
    }

    /** Waits until {@code expected} datagrams arrived or none arrived for {@code quietMs}. */
    private static void awaitQuiet(Sink sink, long expected, long quietMs) {
        long last = sink.received();
        long quietSince = System.nanoTime();
        while (last < expected && System.nanoTime() - quietSince < TimeUnit.MILLISECONDS.toNanos(quietMs)) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
            long now = sink.received();
            if (now != last) {
                last = now;
                quietSince = System.nanoTime();
            }
        }
    }

    /** Bytes allocated so far by each platform thread but the caller. */
    private static Map<Long, Long> allocated() {
        com.sun.management.ThreadMXBean tm = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] ids = tm.getAllThreadIds();
        return perThread(ids, tm.getThreadAllocatedBytes(ids));
    }

    /** CPU time so far of each platform thread but the caller, in ns. */
    private static Map<Long, Long> threadCpu() {
        com.sun.management.ThreadMXBean tm = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] ids = tm.getAllThreadIds();
        return perThread(ids, tm.getThreadCpuTime(ids));
    }

    private static void printThreads(PrintStream out, Kind kind, long rate, Map<Long, Long> before,
                                     Map<Long, Long> after, long received) {
        StringBuilder sb = new StringBuilder();
        for (ThreadInfo ti : ManagementFactory.getThreadMXBean().getThreadInfo(
                after.keySet().stream().mapToLong(Long::longValue).toArray())) {
            if (ti == null) {
                continue;
            }
            long ns = after.get(ti.getThreadId()) - before.getOrDefault(ti.getThreadId(), 0L);
            if (ns > 1_000_000) {
                sb.append(String.format(Locale.ROOT, " %s %.0f ns/dg;", ti.getThreadName(),
                        ns / Math.max(1.0, received)));
            }
        }
        out.println("  " + kind.key + " at " + rate(rate) + ":" + sb);
    }

    private static Map<Long, Long> perThread(long[] ids, long[] values) {
        Map<Long, Long> m = new HashMap<>();
        long self = Thread.currentThread().threadId();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] != self && values[i] >= 0) {
                m.put(ids[i], values[i]);
            }
        }
        return m;
    }

    private static long delta(Map<Long, Long> before, Map<Long, Long> after) {
        long sum = 0;
        for (Map.Entry<Long, Long> e : after.entrySet()) {
            sum += e.getValue() - before.getOrDefault(e.getKey(), 0L);
        }
        return sum;
    }

    // ------------------------------------------------------------------------------------------
    // The receivers
    // ------------------------------------------------------------------------------------------

    static Target open(Kind kind) throws Exception {
        return switch (kind) {
            case BOTTOMHALF -> bottomhalf(IdleStrategy.defaultStrategy(), 0, 0);
            case BOTTOMHALF_PARKING -> bottomhalf(IdleStrategy.parking(), 0, 0);
            case BOTTOMHALF_DEFER_20 -> bottomhalf(IdleStrategy.parking(), 2, 20_000);
            case BOTTOMHALF_DEFER_200 -> bottomhalf(IdleStrategy.parking(), 2, 200_000);
            case BOTTOMHALF_DEFER_1000 -> bottomhalf(IdleStrategy.parking(), 2, 1_000_000);
            case NIO -> netty(new NioEventLoopGroup(1), NioDatagramChannel.class);
            case EPOLL -> netty(new EpollEventLoopGroup(1), EpollDatagramChannel.class);
            case BLOCKING -> blocking(false);
            case VIRTUAL -> blocking(true);
        };
    }

    private static InetSocketAddress loopback() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    }

    /**
     * bottomhalf's receiver: a 1-CPU kernel with {@code idle}, a one-queue device on CPU 0, IRQ deferral
     * ({@code napi_defer_hard_irqs} {@code defer}, {@code gro_flush_timeout} {@code timeoutNs}) when both are above 0.
     */
    private static Target bottomhalf(IdleStrategy idle, int defer, long timeoutNs) throws IOException {
        Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(1).idleStrategy(idle).reporter(Reporter.silent())
                .build());
        Sink s = new Sink();
        return new Target(s) {
            final UdpDevice dev;

            {
                dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "udp0").bind(loopback()).irq(LINE).cpus(0)
                        .receiveBufferBytes(RCVBUF).deferHardIrqs(defer, Duration.ofNanos(timeoutNs)).receiver(d -> {
                            ByteBuffer b = d.data();
                            s.datagram(b.getLong(0), b.getLong(8), d.length());
                            return true;
                        }).open();
            }

            @Override
            int port() {
                return dev.localAddress().getPort();
            }

            @Override
            long[] napiCounters() {
                UdpRxQueue q = dev.queues().getFirst();
                return new long[] {kernel.irqs().count(LINE, 0), q.polls(), kernel.napi().timeSqueeze(0),
                    kernel.softirqs().count(0, SoftirqVector.NET_RX)};
            }

            @Override
            public void close() {
                dev.close();
                kernel.close();
            }
        };
    }

    /** A peer: its port and how to close it. */
    private static final class PeerTarget extends Target {
        private final int port;
        private final Runnable close;

        PeerTarget(Sink sink, int port, Runnable close) {
            super(sink);
            this.port = port;
            this.close = close;
        }

        @Override
        int port() {
            return port;
        }

        @Override
        public void close() {
            close.run();
        }
    }

    private static Target netty(EventLoopGroup group, Class<? extends Channel> channelType)
            throws InterruptedException {
        Sink s = new Sink();
        Channel ch = new Bootstrap().group(group).channel(channelType)
                .option(ChannelOption.SO_RCVBUF, RCVBUF)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(2048))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket p) {
                        ByteBuf c = p.content();
                        int at = c.readerIndex();
                        s.datagram(c.getLong(at), c.getLong(at + 8), c.readableBytes());
                    }
                }).bind(loopback()).sync().channel();
        return new PeerTarget(s, ((InetSocketAddress) ch.localAddress()).getPort(), () -> {
            ch.close().syncUninterruptibly();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        });
    }

    private static Target blocking(boolean virtual) throws IOException {
        DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET);
        ch.setOption(StandardSocketOptions.SO_RCVBUF, RCVBUF);
        ch.bind(loopback());
        Sink s = new Sink();
        Runnable loop = () -> {
            ByteBuffer b = ByteBuffer.allocateDirect(2048);
            try {
                while (true) {
                    b.clear();
                    if (ch.receive(b) != null) {
                        s.datagram(b.getLong(0), b.getLong(8), b.position());
                    }
                }
            } catch (ClosedChannelException e) {
                // closed: the loop ends
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
        Thread th = virtual ? Thread.ofVirtual().name("udp-receiver-virtual").start(loop)
                : Thread.ofPlatform().name("udp-receiver").daemon().start(loop);
        return new PeerTarget(s, ((InetSocketAddress) ch.getLocalAddress()).getPort(), () -> {
            try {
                ch.close();
                th.join(TimeUnit.SECONDS.toMillis(5));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    // ------------------------------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------------------------------

    private static String rate(long r) {
        return r == DRAIN ? "drain" : r == 0 ? "max" : r < 0 ? "max x" + -r : String.format(Locale.ROOT, "%,d", r);
    }

    private static String micros(long ns) {
        return ns < 0 ? "-" : String.format(Locale.ROOT, "%,.1f", ns / 1e3);
    }

    private static void print(PrintStream out, Options o, Map<Kind, Map<Long, Result>> best,
                              Map<Kind, String> unavailable) {
        out.println();
        out.println("Receive path: datagrams/s received, loss, process CPU per datagram, allocation per datagram,"
                + " send -> handler latency");
        out.printf(Locale.ROOT, "| %-46s | %9s | %11s | %6s | %10s | %10s | %8s | %9s | %9s |%n", "receiver",
                "offered/s", "received/s", "loss %", "CPU ns/dg", "proc ns/dg", "B/dg", "p50 us", "p99 us");
        out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (long rate : o.rates()) {
            for (Map.Entry<Kind, Map<Long, Result>> e : best.entrySet()) {
                Result r = e.getValue().get(rate);
                if (r == null) {
                    continue;
                }
                out.printf(Locale.ROOT, "| %-46s | %9s | %,11.0f | %6.2f | %,10.0f | %10s | %8.2f | %9s | %9s |%n",
                        e.getKey().title, rate(rate), r.receivedPerS(), r.lossPercent(), r.cpuNsPerDatagram(),
                        Double.isNaN(r.processCpuNsPerDatagram()) ? "-"
                                : String.format(Locale.ROOT, "%,.0f", r.processCpuNsPerDatagram()),
                        r.bytesPerDatagram(), micros(r.p50Ns()), micros(r.p99Ns()));
            }
        }
        unavailable.forEach((k, why) -> out.println("| " + k.title + " | not available: " + why + " |"));
        for (Kind k : BOTTOMHALF_KINDS) {
            Map<Long, Result> rows = best.get(k);
            if (rows == null) {
                continue;
            }
            out.println();
            out.println("Interrupt mitigation, " + k.title + " (line " + LINE + " on CPU 0, NAPI weight 64)");
            out.printf(Locale.ROOT, "| %9s | %11s | %12s | %13s | %12s | %12s | %11s |%n", "offered/s", "received/s",
                    "interrupts", "interrupts/dg", "time_squeeze", "polls/intr", "NET_RX/intr");
            out.println("|---:|---:|---:|---:|---:|---:|---:|");
            for (Result r : rows.values()) {
                long irqs = r.napi()[0];
                out.printf(Locale.ROOT, "| %9s | %,11.0f | %,12d | %13.4f | %,12d | %12.1f | %11.1f |%n",
                        rate(r.offered()), r.receivedPerS(), irqs, irqs / Math.max(1.0, r.received()), r.napi()[2],
                        r.napi()[1] / Math.max(1.0, irqs), r.napi()[3] / Math.max(1.0, irqs));
            }
        }
        Map<Long, Result> nio = best.get(Kind.NIO);
        for (Kind k : BOTTOMHALF_KINDS) {
            Map<Long, Result> ours = best.get(k);
            if (ours == null || nio == null) {
                continue;
            }
            out.println();
            out.println(k.title + " against Netty NIO, per offered rate: received/s ratio, CPU ratio (below 1:"
                    + " bottomhalf uses less), loss both");
            for (long rate : o.rates()) {
                Result a = ours.get(rate);
                Result b = nio.get(rate);
                if (a != null && b != null) {
                    out.printf(Locale.ROOT, "  %9s: %.2fx datagrams/s, %.2fx CPU/datagram, loss %.2f %% vs %.2f %%%n",
                            rate(rate), a.receivedPerS() / Math.max(1, b.receivedPerS()),
                            a.cpuNsPerDatagram() / Math.max(1, b.cpuNsPerDatagram()), a.lossPercent(),
                            b.lossPercent());
                }
            }
        }
    }
}
