package dev.bottomhalf.examples.net;

import static dev.bottomhalf.linux.Linux.DECLARE_WORK;
import static dev.bottomhalf.linux.Linux.flush_work;
import static dev.bottomhalf.linux.Linux.per_cpu_ptr;
import static dev.bottomhalf.linux.Linux.pr_err;
import static dev.bottomhalf.linux.Linux.pr_info;
import static dev.bottomhalf.linux.Linux.schedule_work;
import static dev.bottomhalf.linux.Linux.smp_processor_id;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_lock_bh;
import static dev.bottomhalf.linux.Linux.spin_lock_init;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static dev.bottomhalf.linux.Linux.spin_unlock_bh;
import static dev.bottomhalf.linux.Linux.this_cpu_ptr;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.PerCpu;
import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.net.TcpConnection;
import dev.bottomhalf.net.TcpDevice;
import dev.bottomhalf.net.UdpDatagram;
import dev.bottomhalf.net.UdpDevice;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.workqueue.Work;

/**
 * A syslog receiver on a socket-backed NAPI device: datagrams in the syslog protocol (RFC 5424, {@code <PRI>1
 * TIMESTAMP HOST APP PROCID MSGID SD MSG}) or the older BSD format (RFC 3164, {@code <PRI>Mmm dd hh:mm:ss HOST
 * TAG: MSG}) arrive on a {@link UdpDevice}; the receiver parses each in NET_RX softirq context, counts it by
 * severity in its CPU's table and puts the parsed message on its CPU's backlog; a work item (process context, the
 * system workqueue) takes the backlogs and "writes the log" — hands each message to a sink, as syslogd would write
 * it to a file. The bottom half does the parsing and counting, the slow path may sleep. Any syslog client can send
 * to it: {@code logger -d -n 127.0.0.1 -P PORT -p local0.warning "text"} from util-linux.
 *
 * <p>Optionally it also listens on TCP through a {@link TcpDevice} (syslog over TCP, RFC 6587): a connection carries
 * a stream of messages, each framed either by octet counting ({@code MSG-LEN SP SYSLOG-MSG}, {@code logger -T
 * --octet-count}) or by a trailing newline (non-transparent framing, {@code logger -T}); the framing is told per
 * message by its first byte (a digit or {@code <}), as RFC 6587 suggests. The receiver splits the stream into
 * messages in NET_RX, with a per-connection {@code syslog_conn} (the framing state and a message buffer) attached to
 * the connection, and each message goes down the same path as a datagram. A framing error closes the connection.
 *
 * <p>Implementation notes: each CPU's {@code syslog_cpu} is written in softirq context on that CPU under its lock
 * (plain {@code spin_lock}: bottom halves are off there), and drained by the work item under the same lock taken
 * with {@code spin_lock_bh} (so NET_RX on that CPU never spins on a lock the work item holds). The work item runs
 * one instance at a time ({@code schedule_work} of a pending item is a no-op, and a queued run drains what came
 * after the previous one). {@code log} is a copy-on-write list read by any thread.
 */
public final class SyslogReceiverModule implements KernelModule {
    /** The severities' names, 0..7 ({@code LOG_EMERG} .. {@code LOG_DEBUG}). */
    public static final List<String> SEVERITIES = List.of("emerg", "alert", "crit", "err", "warning", "notice",
            "info", "debug");

    /**
     * One parsed message.
     *
     * @param facility the facility, 0..23 ({@code PRI / 8}: 1 user, 16..23 local0..local7)
     * @param severity the severity, 0..7 ({@code PRI % 8})
     * @param rfc5424  whether it came in the syslog protocol (else the BSD format)
     * @param host     the sender's host name field
     * @param app      the application: RFC 5424's APP-NAME, RFC 3164's TAG
     * @param text     the message
     * @param cpu      the CPU whose NET_RX parsed it
     */
    public record Message(int facility, int severity, boolean rfc5424, String host, String app, String text,
            int cpu) {
    }

    /** {@code struct syslog_cpu}: one CPU's backlog and counters, written in softirq context on that CPU. */
    static final class syslog_cpu {
        final Spinlock lock = new Spinlock("&sc->lock");
        ArrayDeque<Message> backlog = new ArrayDeque<>(); // under lock
        final long[] bySeverity = new long[8];            // under lock
        long bad;                                         // under lock
        final byte[] scratch = new byte[UdpDevice.DEFAULT_MAX_DATAGRAM]; // softirq on this CPU only
    }

    /** The longest message taken over TCP; a longer one is a framing error (octet counting) or cut (newline). */
    static final int MAX_TCP_MESSAGE = 8192;

    /** RFC 6587 framing states of a {@code syslog_conn}. */
    static final int FRAME_START = 0;
    static final int FRAME_COUNT = 1;
    static final int FRAME_OCTETS = 2;
    static final int FRAME_LINE = 3;
    static final int FRAME_SKIP = 4;

    /**
     * {@code struct syslog_conn}: one TCP connection's framing state, attached to the connection when it is accepted
     * and used only by its queue's NET_RX (one call at a time).
     */
    static final class syslog_conn {
        int state = FRAME_START;
        int want;  // FRAME_COUNT, FRAME_OCTETS: the message's length
        int len;   // bytes of the message so far
        final byte[] msg = new byte[MAX_TCP_MESSAGE];
    }

    private final InetSocketAddress bind;
    private final int irq;
    private final InetSocketAddress tcpBind;
    private final int tcpIrq;
    private final Consumer<Message> sink;
    private final List<Message> log = new CopyOnWriteArrayList<>();
    private final Work write_work = DECLARE_WORK("syslog_write", this::syslog_write);
    private PerCpu<syslog_cpu> stats;
    private UdpDevice dev;
    private TcpDevice tcp;

    /**
     * The receiver for {@code bind} on line {@code irq}; every message goes to {@code sink} from the work item (in
     * process context) and is kept for {@link #log()}. Nothing runs until {@link #init_module}.
     *
     * @param bind where clients send (port 514 by convention; 0 lets the host choose)
     * @param irq  the device's line
     * @param sink what each message is handed to
     */
    public SyslogReceiverModule(InetSocketAddress bind, int irq, Consumer<Message> sink) {
        this(bind, irq, null, -1, sink);
    }

    /**
     * The receiver for {@code bind} on line {@code irq} (UDP) and for {@code tcpBind} on line {@code tcpIrq} (TCP,
     * RFC 6587 framing); every message goes to {@code sink} from the work item (in process context) and is kept for
     * {@link #log()}. Nothing runs until {@link #init_module}.
     *
     * @param bind    where clients send datagrams (port 514 by convention; 0 lets the host choose)
     * @param irq     the UDP device's line
     * @param tcpBind where clients connect (port 514 or 601 by convention; 0 lets the host choose); null for none
     * @param tcpIrq  the TCP device's line
     * @param sink    what each message is handed to
     */
    public SyslogReceiverModule(InetSocketAddress bind, int irq, InetSocketAddress tcpBind, int tcpIrq,
            Consumer<Message> sink) {
        this.bind = bind;
        this.irq = irq;
        this.tcpBind = tcpBind;
        this.tcpIrq = tcpIrq;
        this.sink = sink;
    }

    @Override
    public int init_module() {
        Kernel kernel = Kernel.current();
        stats = kernel.perCpu(cpu -> new syslog_cpu());
        for (syslog_cpu sc : stats) {
            spin_lock_init(sc.lock);
        }
        try {
            dev = UdpDevice.builder(kernel.napi(), kernel.irqs(), "syslog0").bind(bind).irq(irq)
                    .receiver(this::syslog_rcv).open();
        } catch (IOException e) {
            pr_err("syslog: cannot bind %s: %s\n", bind, e.getMessage());
            return -98; // -EADDRINUSE
        }
        pr_info("syslog: listening on %s\n", dev.localAddress());
        if (tcpBind != null) {
            try {
                tcp = TcpDevice.builder(kernel.napi(), kernel.irqs(), "syslogtcp0").bind(tcpBind).irq(tcpIrq)
                        .receiver(new TcpDevice.Receiver() {
                            @Override
                            public void connected(TcpConnection c) {
                                c.attach(new syslog_conn());
                            }

                            @Override
                            public boolean receive(TcpConnection c, ByteBuffer data) {
                                return syslog_tcp_rcv(c, data);
                            }

                            @Override
                            public void disconnected(TcpConnection c) {
                                syslog_tcp_end(c);
                            }
                        }).open();
            } catch (IOException e) {
                dev.close();
                pr_err("syslog: cannot listen on %s: %s\n", tcpBind, e.getMessage());
                return -98; // -EADDRINUSE
            }
            pr_info("syslog: listening on %s (TCP)\n", tcp.localAddress());
        }
        return 0;
    }

    @Override
    public void cleanup_module() {
        dev.close();              // no more datagrams: napi_disable, free_irq, close the socket
        if (tcp != null) {
            tcp.close();          // no more connections: napi_disable, free_irq, close the listener and connections
        }
        flush_work(write_work);   // a queued or running write finishes
        syslog_write(write_work); // and what the last datagrams left on the backlogs is written too
        pr_info("syslog: stopped; %d messages, rx_dropped %d\n", log.size(), dev.rxDropped());
    }

    /** The device's receiver: NET_RX softirq context on the queue's CPU. False (rx_dropped) when it does not parse. */
    boolean syslog_rcv(UdpDatagram d) {
        syslog_cpu sc = this_cpu_ptr(stats);
        int len = d.length();
        byte[] b = sc.scratch;
        d.data().get(0, b, 0, len);
        return syslog_msg(sc, b, len);
    }

    /**
     * The TCP device's receiver: NET_RX softirq context on the connection's queue's CPU. Splits the bytes of one
     * read into messages by RFC 6587 framing (a message may span reads: the state is the connection's
     * {@code syslog_conn}) and takes each complete one. False — close the connection — on a framing error.
     */
    boolean syslog_tcp_rcv(TcpConnection c, ByteBuffer data) {
        syslog_cpu sc = this_cpu_ptr(stats);
        syslog_conn f = (syslog_conn) c.attachment();
        for (int i = 0, n = data.limit(); i < n; i++) {
            byte b = data.get(i);
            switch (f.state) {
                case FRAME_START -> {
                    if (b >= '1' && b <= '9') {
                        f.state = FRAME_COUNT;            // octet counting: MSG-LEN SP SYSLOG-MSG
                        f.want = b - '0';
                    } else if (b == '<') {
                        f.state = FRAME_LINE;             // non-transparent framing: SYSLOG-MSG LF
                        f.msg[0] = b;
                        f.len = 1;
                    } else if (b != '\n' && b != '\r' && b != 0) {
                        return framingError(sc);          // stray trailers between frames are skipped
                    }
                }
                case FRAME_COUNT -> {
                    if (b >= '0' && b <= '9' && f.want <= MAX_TCP_MESSAGE / 10) {
                        f.want = f.want * 10 + (b - '0');
                    } else if (b == ' ' && f.want <= MAX_TCP_MESSAGE) {
                        f.state = FRAME_OCTETS;
                        f.len = 0;
                    } else {
                        return framingError(sc);          // not a length, or longer than we take
                    }
                }
                case FRAME_OCTETS -> {
                    int take = Math.min(f.want - f.len, n - i);
                    data.get(i, f.msg, f.len, take);
                    f.len += take;
                    i += take - 1;
                    if (f.len == f.want) {
                        syslog_msg(sc, f.msg, f.len);
                        f.state = FRAME_START;
                    }
                }
                case FRAME_LINE -> {
                    if (b == '\n' || b == 0) {
                        int len = f.len > 0 && f.msg[f.len - 1] == '\r' ? f.len - 1 : f.len;
                        syslog_msg(sc, f.msg, len);
                        f.state = FRAME_START;
                    } else if (f.len < f.msg.length) {
                        f.msg[f.len++] = b;
                    } else {
                        syslog_msg(sc, f.msg, f.len);    // too long: what fits is the message, the rest skipped
                        f.state = FRAME_SKIP;
                    }
                }
                default -> {
                    if (b == '\n' || b == 0) {
                        f.state = FRAME_START;
                    }
                }
            }
        }
        return true;
    }

    /** The connection ended: a last newline-framed message without its newline is taken; a cut octet frame is bad. */
    void syslog_tcp_end(TcpConnection c) {
        syslog_conn f = (syslog_conn) c.attachment();
        if (f == null) {
            return;
        }
        syslog_cpu sc = this_cpu_ptr(stats);
        if (f.state == FRAME_LINE) {
            syslog_msg(sc, f.msg, f.len);
        } else if (f.state == FRAME_COUNT || f.state == FRAME_OCTETS) {
            framingError(sc);
        }
        f.state = FRAME_START;
    }

    private boolean framingError(syslog_cpu sc) {
        spin_lock(sc.lock);
        try {
            sc.bad++;
        } finally {
            spin_unlock(sc.lock);
        }
        return false;
    }

    /**
     * One message of either transport: parsed, counted and put on this CPU's backlog, the write work scheduled.
     * NET_RX softirq context. False when it does not parse (counted as bad).
     */
    private boolean syslog_msg(syslog_cpu sc, byte[] b, int len) {
        Message m = parse(b, len, smp_processor_id());
        spin_lock(sc.lock);
        try {
            if (m == null) {
                sc.bad++;
                return false;
            }
            sc.backlog.addLast(m);
            sc.bySeverity[m.severity()]++;
        } finally {
            spin_unlock(sc.lock);
        }
        schedule_work(write_work); // a no-op while it is pending: one write drains many messages
        return true;
    }

    /**
     * Parses one datagram of either format; null when it is not syslog. Allocates the message's strings (an
     * example's parser; the device itself receives without allocating).
     */
    static Message parse(byte[] b, int len, int cpu) {
        if (len < 4 || b[0] != '<') {
            return null;
        }
        int i = 1;
        int pri = 0;
        while (i < len && i <= 4 && b[i] >= '0' && b[i] <= '9') {
            pri = pri * 10 + (b[i] - '0');
            i++;
        }
        if (i == 1 || i >= len || b[i] != '>' || pri > 191) {
            return null;
        }
        i++;
        if (i + 1 < len && b[i] == '1' && b[i + 1] == ' ') {
            // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
            int[] at = {i + 2};
            String timestamp = field(b, len, at);
            String host = field(b, len, at);
            String app = field(b, len, at);
            String procId = field(b, len, at);
            String msgId = field(b, len, at);
            if (timestamp == null || host == null || app == null || procId == null || msgId == null
                    || !skipStructuredData(b, len, at)) {
                return null;
            }
            int start = at[0] < len && b[at[0]] == ' ' ? at[0] + 1 : at[0];
            if (start + 2 < len && (b[start] & 0xff) == 0xEF && (b[start + 1] & 0xff) == 0xBB
                    && (b[start + 2] & 0xff) == 0xBF) {
                start += 3; // the UTF-8 BOM RFC 5424 allows before MSG
            }
            return new Message(pri / 8, pri % 8, true, host, app, text(b, start, len), cpu);
        }
        // RFC 3164: "Mmm dd hh:mm:ss" SP HOSTNAME SP TAG ":" SP MSG
        if (i + 16 > len || b[i + 3] != ' ' || b[i + 6] != ' ' || b[i + 15] != ' ') {
            return null;
        }
        int[] at = {i + 16};
        String host = field(b, len, at);
        if (host == null) {
            return null;
        }
        int tagStart = at[0];
        int tagEnd = tagStart;
        while (tagEnd < len && b[tagEnd] != ':' && b[tagEnd] != '[' && b[tagEnd] != ' ') {
            tagEnd++;
        }
        int msg = tagEnd;
        while (msg < len && b[msg] != ':') {
            msg++;
        }
        if (tagEnd == tagStart || msg >= len) {
            return null;
        }
        msg++;
        if (msg < len && b[msg] == ' ') {
            msg++;
        }
        return new Message(pri / 8, pri % 8, false, host, text(b, tagStart, tagEnd), text(b, msg, len), cpu);
    }

    /** The next space-terminated field from {@code at[0]}; advances past the space. Null at the end. */
    private static String field(byte[] b, int len, int[] at) {
        int start = at[0];
        int end = start;
        while (end < len && b[end] != ' ') {
            end++;
        }
        if (end == start || end >= len) {
            return null;
        }
        at[0] = end + 1;
        return text(b, start, end);
    }

    /** RFC 5424's STRUCTURED-DATA: "-" or elements {@code [id name="value" ...]}, with \" \] \\ escapes in values. */
    private static boolean skipStructuredData(byte[] b, int len, int[] at) {
        int i = at[0];
        if (i < len && b[i] == '-') {
            at[0] = i + 1;
            return true;
        }
        if (i >= len || b[i] != '[') {
            return false;
        }
        while (i < len && b[i] == '[') {
            boolean quoted = false;
            i++;
            while (i < len && (quoted || b[i] != ']')) {
                if (quoted && b[i] == '\\') {
                    i++;
                } else if (b[i] == '"') {
                    quoted = !quoted;
                }
                i++;
            }
            if (i >= len) {
                return false;
            }
            i++; // past ']'
        }
        at[0] = i;
        return true;
    }

    private static String text(byte[] b, int start, int end) {
        return new String(b, start, Math.max(0, end - start), StandardCharsets.UTF_8);
    }

    /** The write work: process context on the system workqueue. Takes every CPU's backlog and writes it. */
    void syslog_write(Work w) {
        for (int cpu = 0; cpu < stats.cpus(); cpu++) {
            syslog_cpu sc = per_cpu_ptr(stats, cpu);
            ArrayDeque<Message> taken;
            spin_lock_bh(sc.lock);                 // NET_RX on this CPU must not spin on a lock we hold
            try {
                taken = sc.backlog;
                sc.backlog = new ArrayDeque<>();
            } finally {
                spin_unlock_bh(sc.lock);
            }
            for (Message m : taken) {
                log.add(m);
                sink.accept(m);
            }
        }
    }

    /**
     * The messages written so far, in the order the work item wrote them. Any thread.
     *
     * @return a snapshot
     */
    public List<Message> log() {
        return List.copyOf(log);
    }

    /**
     * How many messages of each severity the receivers counted (index 0 emerg .. 7 debug), all CPUs together.
     * Any thread; exact once the device is closed.
     *
     * @return the counts
     */
    public long[] bySeverity() {
        long[] total = new long[8];
        for (syslog_cpu sc : stats) {
            spin_lock_bh(sc.lock);
            try {
                for (int s = 0; s < 8; s++) {
                    total[s] += sc.bySeverity[s];
                }
            } finally {
                spin_unlock_bh(sc.lock);
            }
        }
        return total;
    }

    /**
     * How many messages did not parse, and TCP framing errors, all CPUs together. Any thread.
     *
     * @return the count
     */
    public long bad() {
        long n = 0;
        for (syslog_cpu sc : stats) {
            spin_lock_bh(sc.lock);
            try {
                n += sc.bad;
            } finally {
                spin_unlock_bh(sc.lock);
            }
        }
        return n;
    }

    /**
     * The device, once loaded. Any thread.
     *
     * @return the device, or null before {@link #init_module}
     */
    public UdpDevice device() {
        return dev;
    }

    /**
     * The TCP device, once loaded with a TCP address. Any thread.
     *
     * @return the device, or null before {@link #init_module} or without TCP
     */
    public TcpDevice tcpDevice() {
        return tcp;
    }

    /**
     * Runs the receiver on 127.0.0.1 (UDP and TCP, the same port number) for a while on a threaded kernel with 2
     * CPUs, printing each message. Try {@code logger -d -n 127.0.0.1 -P 5514 -p local0.warning "hello"} (UDP) or
     * {@code logger -T -n 127.0.0.1 -P 5514 "hello"} (TCP) from a shell.
     *
     * @param args the port (5514 unless given) and the seconds to run (30 unless given)
     * @throws InterruptedException when interrupted while running
     */
    public static void main(String[] args) throws InterruptedException {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 5514;
        long seconds = args.length > 1 ? Long.parseLong(args[1]) : 30;
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).build())) {
            SyslogReceiverModule syslog = new SyslogReceiverModule(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 44,
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 45, m -> System.out.println(
                            SEVERITIES.get(m.severity()) + " facility " + m.facility() + " " + m.host() + " "
                                    + m.app() + ": " + m.text() + " (parsed on CPU " + m.cpu() + ")"));
            ModuleLoader loader = new ModuleLoader(kernel);
            if (loader.insmod(syslog) != 0) {
                return;
            }
            System.out.println("syslog: listening on " + syslog.device().localAddress() + " (UDP and TCP) for "
                    + seconds + " s");
            Thread.sleep(seconds * 1000);
            loader.rmmod(syslog);
        }
    }
}
