package dev.bottomhalf.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.net.UdpDatagram;
import dev.bottomhalf.net.UdpDevice;
import dev.bottomhalf.net.UdpRxQueue;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.web.ReportLog;

/**
 * {@code bottomhalf demo} with the UDP card (the default): a 2-CPU kernel receiving real datagrams on 127.0.0.1 from
 * a sender process ({@link DemoSender}, started with this JVM's {@code java} and class path). Used by the thread
 * that runs the command line.
 *
 * <ul>
 * <li>The card: a two-queue {@link UdpDevice} {@code eth0} — two sockets sharing a port through
 * {@code SO_REUSEPORT}, so the host spreads the sender's {@value #SENDER_SOCKETS} source ports over them. The device
 * requests lines 24 and 25 ({@code eth0-rx-0/1}, routed to CPUs 0 and 1); its selector thread asserts a queue's
 * line when the socket is readable, the top half masks it and schedules NAPI, {@code net_rx_action} polls the queue
 * (64 datagrams a poll) and keeps polling with the interrupt masked while datagrams keep coming.</li>
 * <li>The protocol handler (the device's receiver, NET_RX softirq on the queue's CPU): reads the datagram's
 * sequence number, counts it, schedules its CPU's {@code eth0-stats-N} tasklet (the roll-up, later in the same
 * softirq pass), pushes the queue's watchdog timer {@value NetDemo#WATCHDOG_MS} ms ahead, and hands every
 * {@value #CONTROL_EVERY}th datagram (a "control" datagram) to the slow path: {@code queue_work} of the queue's
 * work item on {@code eth0_slow}, whose kworker appends a line to the summary file (file I/O may sleep).
 * Datagrams shorter than a sequence number are refused ({@code rx_dropped}).</li>
 * <li>Half-way, the sender adds a burst of {@value #BURST_DATAGRAMS} datagrams: polls use their whole budget,
 * {@code net_rx_action} runs out of {@code netdev_budget} ({@code time_squeeze}) and {@code ksoftirqd} takes
 * over; datagrams the sockets cannot hold are dropped by the host.</li>
 * <li>A kworker writes a summary line to a temporary file once a second, as with the simulated card.</li>
 * </ul>
 * At the end: {@code /proc/interrupts}, {@code /proc/softirqs}, {@code /proc/net/softnet_stat}, the watchdogs, the
 * slow path, the workqueue monitor, and the count of every datagram: sent by the sender, taken off the sockets by
 * the device (handled or refused), dropped by the host's sockets — computed as sent − taken and checked against
 * {@code /proc/net/udp}'s drops column for the port where the host has that file.
 */
final class UdpNetDemo {
    /** The sender's source ports: the host's SO_REUSEPORT hash spreads them over the two queues. */
    static final int SENDER_SOCKETS = 16;
    /** Datagrams the sender adds at once half-way. */
    static final int BURST_DATAGRAMS = 5000;
    /** Every this many datagrams (by sequence number), one is a control datagram for the slow path. */
    static final int CONTROL_EVERY = 10_000;
    /** Each socket's receive buffer (the host caps it at net.core.rmem_max). */
    static final int RECEIVE_BUFFER_BYTES = 4 << 20;
    /** The default offered rate with the UDP card. */
    static final int DEFAULT_RATE = 50_000;
    private static final long DRAIN_QUIET_MS = 200;

    private UdpNetDemo() {
    }

    /** One queue's driver state: counters, tasklet, watchdog and slow-path work. */
    private static final class Rx {
        final int index;
        final AtomicLong handled = new AtomicLong();
        final AtomicLong rolledUp = new AtomicLong();
        final AtomicLong rollups = new AtomicLong();
        final AtomicLong watchdogFires = new AtomicLong();
        final AtomicLong lastControlSeq = new AtomicLong(-1);
        final AtomicLong controlRuns = new AtomicLong();
        Tasklet stats;
        TimerList watchdog;
        Work slowWork;

        Rx(int index) {
            this.index = index;
        }
    }

    static int run(DemoOptions options, PrintStream out) {
        Reporter.Recording reports = Reporter.recording();
        ReportLog webReports = options.web() != null ? ReportLog.forwardingTo(reports) : null; // the view lists them
        KernelConfig config = KernelConfig.builder().cpus(2).reporter(webReports != null ? webReports : reports)
                .build();
        out.printf("bottomhalf demo: booting a %d-CPU kernel (HZ=%d, idle strategy %s)%n", config.cpus(), config.hz(),
                config.idleStrategy());
        int exit;
        try (ScratchFile summaryFile = ScratchFile.create(options.tempDir(), "bottomhalf-eth0-", ".log");
             Kernel kernel = Kernel.boot(config);
             WebDemo web = new WebDemo(options.web(), kernel, webReports, out, System.in)) {
            DemoTraces traces = DemoTraces.attach(kernel, options);
            Rx[] rxs = {new Rx(0), new Rx(1)};
            Workqueue slowWq = kernel.workqueues().alloc("eth0_slow", 0, 0);
            for (Rx rx : rxs) {
                rx.stats = Tasklet.setup("eth0-stats-" + rx.index, t -> {
                    rx.rolledUp.set(rx.handled.get());         // per-CPU counters into the device totals
                    rx.rollups.incrementAndGet();
                });
                rx.watchdog = TimerList.setup("eth0-watchdog-" + rx.index, t -> rx.watchdogFires.incrementAndGet(),
                        TimerList.TIMER_PINNED);
                rx.slowWork = new Work("eth0-control-" + rx.index, w -> {
                    appendLine(summaryFile.path(), String.format(Locale.ROOT,
                            "control datagram %d from eth0-rx-%d, handled on %s%n", rx.lastControlSeq.get(),
                            rx.index, Thread.currentThread().getName()));
                    rx.controlRuns.incrementAndGet();
                });
            }
            UdpDevice eth0;
            try {
                eth0 = UdpDevice.builder(kernel.napi(), kernel.irqs(), "eth0")
                        .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).queues(rxs.length)
                        .irq(NetDemo.FIRST_IRQ).cpus(0, 1).receiveBufferBytes(RECEIVE_BUFFER_BYTES)
                        .maxDatagram(Math.max(UdpDevice.DEFAULT_MAX_DATAGRAM, options.size()))
                        .deferHardIrqs(options.deferHardIrqs(), Duration.ofNanos(options.groFlushTimeoutUs() * 1000L))
                        .receiver(d -> handle(kernel, rxs, slowWq, d)).open();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open the UDP device on 127.0.0.1: " + e.getMessage(), e);
            }
            AtomicLong summaries = new AtomicLong();
            DelayedWork[] summary = new DelayedWork[1];
            summary[0] = new DelayedWork("eth0-summary", w -> {
                appendLine(summaryFile.path(), String.format(Locale.ROOT,
                        "summary %d: jiffies %d, delivered %d datagrams, refused %d, on %s%n",
                        summaries.incrementAndGet(), kernel.jiffies(), eth0.rxPackets(), eth0.rxDropped(),
                        Thread.currentThread().getName()));
                kernel.workqueues().queueDelayed(slowWq, summary[0], kernel.hz()); // again in a second
            });
            kernel.workqueues().queueDelayed(slowWq, summary[0], 0);
            int port = eth0.localAddress().getPort();
            out.printf("eth0: %d receive queues (UDP sockets on %s, SO_REUSEPORT %s) on IRQs %d-%d; a sender process"
                            + " sends %,d datagrams/s of %d bytes from %d ports %s%n%n",
                    eth0.queues().size(), eth0.localAddress(), eth0.reusePort() ? "on" : "off", NetDemo.FIRST_IRQ,
                    NetDemo.FIRST_IRQ + eth0.queues().size() - 1, options.rate(), options.size(), SENDER_SOCKETS,
                    web.untilEnter() ? "until Enter" : String.format(Locale.ROOT, "for %d s, %,d more at once half-way",
                            options.seconds(), BURST_DATAGRAMS));
            if (options.deferHardIrqs() > 0) {
                out.printf("IRQ deferral: napi_defer_hard_irqs %d, gro_flush_timeout %d us (after a poll that found"
                        + " datagrams the queue's interrupt stays masked and a timer polls again)%n%n",
                        options.deferHardIrqs(), options.groFlushTimeoutUs());
            }

            web.serve();
            long sent;
            long hostDrops;
            Process sender = startSender(port, options, web.untilEnter());
            try (BufferedReader replies = sender.inputReader(StandardCharsets.UTF_8)) {
                expect(replies.readLine(), "ready");
                long start = System.nanoTime();
                for (int s = 1; web.untilEnter() ? !web.stopped() : s <= options.seconds(); s++) {
                    LockSupport.parkNanos(start + TimeUnit.SECONDS.toNanos(s) - System.nanoTime());
                    progress(out, kernel, eth0, port, s);
                }
                if (web.untilEnter()) {
                    sender.outputWriter(StandardCharsets.UTF_8).append("stop\n").flush(); // it reports, as at its end
                }
                String last = replies.readLine();
                expect(last, "sent ");
                sent = Long.parseLong(last.substring(5));
                awaitQuiet(eth0);
                hostDrops = ProcNetUdp.drops(port);
            } catch (IOException e) {
                throw new UncheckedIOException("the sender process failed: " + e.getMessage(), e);
            } finally {
                sender.destroy();
            }
            long[] perQueue = new long[eth0.queues().size()];
            long taken = 0;
            for (UdpRxQueue q : eth0.queues()) {
                perQueue[q.index()] = q.rxPackets() + q.rxDropped() + q.rxMissedErrors() + q.rxLengthErrors();
                taken += perQueue[q.index()];
            }
            long interrupts = eth0.interrupts();
            long polls = 0;
            for (UdpRxQueue q : eth0.queues()) {
                polls += q.polls();
            }
            kernel.bindCurrentThread(0);
            for (Rx rx : rxs) {
                kernel.tasklets().kill(rx.stats);                  // the last roll-up has run when this returns
            }
            long quietStart = System.nanoTime();
            kernel.timers().msleep(2L * NetDemo.WATCHDOG_MS);     // the card is quiet: let the watchdogs fire
            long quietMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - quietStart);
            for (Rx rx : rxs) {
                kernel.timers().shutdownSync(rx.watchdog);        // not pending, not running, never again
                kernel.workqueues().flush(rx.slowWork);       // a control datagram's line is written
            }
            kernel.workqueues().cancelDelayedSync(summary[0]);    // its self-requeue cannot escape the cancel
            String monitor = kernel.workqueues().monitor();
            kernel.workqueues().destroy(slowWq);
            kernel.detachCurrentThread();
            out.println();
            out.println("/proc/interrupts:");
            out.print(kernel.proc().interrupts());
            out.println();
            out.println("/proc/softirqs:");
            out.print(kernel.proc().softirqs());
            out.println();
            out.println("/proc/net/softnet_stat (per CPU, hex: processed, dropped, time_squeeze, ..., cpu index, ...):");
            out.print(kernel.proc().softnetStat());
            eth0.close();                                          // free_irq, netif_napi_del, sockets closed
            traces.report(kernel, out);
            StringBuilder fired = new StringBuilder();
            long controls = 0;
            for (Rx rx : rxs) {
                fired.append(rx.index == 0 ? "" : ", ").append(rx.watchdog.name()).append(' ')
                        .append(rx.watchdogFires.get());
                controls += rx.controlRuns.get();
            }
            out.printf("%nwatchdog timers fired (the card went quiet for %d ms at the end): %s%n", quietMs, fired);
            out.printf("%nslow path: %d per-second summaries and %d control-datagram lines written by kworkers to a"
                            + " temporary file (deleted at the end); the last line:%n  %s%n", summaries.get(), controls,
                    NetDemo.lastLine(summaryFile.path()));
            out.println();
            out.println("workqueue monitor:");
            out.print(monitor);
            exit = summary(out, eth0, rxs, sent, taken, perQueue, hostDrops, interrupts, polls, reports);
        }
        NetDemo.printWatchItRun(out);
        return exit;
    }

    /** The protocol handler: NET_RX softirq context on the queue's CPU. */
    private static boolean handle(Kernel kernel, Rx[] rxs, Workqueue slowWq, UdpDatagram d) {
        if (d.length() < Long.BYTES) {
            return false;                                        // not ours: rx_dropped
        }
        long seq = d.data().getLong(0);
        Rx rx = rxs[d.queue().index()];
        rx.handled.lazySet(rx.handled.get() + 1);               // one writer: this queue's poll
        kernel.timers().mod(rx.watchdog, kernel.jiffies() + kernel.msecsToJiffies(NetDemo.WATCHDOG_MS));
        kernel.tasklets().schedule(rx.stats);                   // runs later in this same pass (TASKLET > NET_RX)
        if (seq % CONTROL_EVERY == 0) {
            rx.lastControlSeq.set(seq);
            kernel.workqueues().queue(slowWq, rx.slowWork);     // the slow path, in process context
        }
        return true;
    }

    /** The sender's duration while the demo runs until Enter ({@code --web} without {@code --seconds}). */
    private static final long UNTIL_STOPPED_S = TimeUnit.DAYS.toSeconds(1);

    private static Process startSender(int port, DemoOptions options, boolean untilEnter) {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        try {
            return new ProcessBuilder(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx32m", "-cp",
                    System.getProperty("java.class.path"), DemoSender.class.getName(), Integer.toString(port),
                    Integer.toString(options.rate()), Integer.toString(options.size()),
                    Long.toString(untilEnter ? UNTIL_STOPPED_S : options.seconds()), Integer.toString(SENDER_SOCKETS),
                    Integer.toString(untilEnter ? 0 : BURST_DATAGRAMS)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the sender process: " + e.getMessage(), e);
        }
    }

    private static void expect(String line, String prefix) throws IOException {
        if (line == null || !line.startsWith(prefix)) {
            throw new IOException("it said " + line + ", expected " + prefix.trim());
        }
    }

    /** Waits until the device has taken nothing off its sockets for {@link #DRAIN_QUIET_MS}. */
    private static void awaitQuiet(UdpDevice dev) {
        long last = -1;
        long quietSince = System.nanoTime();
        while (System.nanoTime() - quietSince < TimeUnit.MILLISECONDS.toNanos(DRAIN_QUIET_MS)) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
            long now = dev.rxPackets() + dev.rxDropped() + dev.rxMissedErrors();
            if (now != last) {
                last = now;
                quietSince = System.nanoTime();
            }
        }
    }

    private static void appendLine(Path file, String line) {
        try {
            Files.writeString(file, line, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // reported as an oops by the workqueue; the worker goes on
        }
    }

    private static void progress(PrintStream out, Kernel kernel, UdpDevice dev, int port, int second) {
        StringBuilder perCpu = new StringBuilder();
        for (UdpRxQueue q : dev.queues()) {
            perCpu.append(perCpu.isEmpty() ? "" : " | ").append("CPU").append(q.cpu()).append(' ')
                    .append(String.format("%,d", q.rxPackets()));
        }
        long netRx = 0;
        long ksoftirqd = 0;
        long squeeze = 0;
        for (int cpu = 0; cpu < kernel.cpus(); cpu++) {
            netRx += kernel.softirqs().count(cpu, SoftirqVector.NET_RX);
            ksoftirqd += kernel.softirqs().ksoftirqdRuns(cpu);
            squeeze += kernel.napi().timeSqueeze(cpu);
        }
        long drops = ProcNetUdp.drops(port);
        out.printf("t=%2ds  rx %,11d datagrams (%s)  hard IRQs %,9d  NET_RX runs %,10d  ksoftirqd batches %,7d"
                        + "  time_squeeze %,d  socket drops %s%n", second, dev.rxPackets(), perCpu, dev.interrupts(),
                netRx, ksoftirqd, squeeze, drops < 0 ? "n/a" : String.format("%,d", drops));
    }

    private static int summary(PrintStream out, UdpDevice dev, Rx[] rxs, long sent, long taken, long[] perQueue,
                               long hostDrops, long interrupts, long polls, Reporter.Recording reports) {
        long rolledUp = 0;
        long rollups = 0;
        long handled = 0;
        for (Rx rx : rxs) {
            rolledUp += rx.rolledUp.get();
            rollups += rx.rollups.get();
            handled += rx.handled.get();
        }
        long computedDrops = sent - taken;
        long problems = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).count();
        out.println();
        out.printf("sender process sent %,d datagrams; the device took %,d off its sockets (queue 0: %,d, queue 1:"
                        + " %,d): %,d handled in NET_RX (rx_packets), %,d refused (rx_dropped), %,d missed (no free"
                        + " buffer)%n", sent, taken, perQueue[0], perQueue.length > 1 ? perQueue[1] : 0,
                dev.rxPackets(), dev.rxDropped(), dev.rxMissedErrors());
        out.printf("dropped by the host's sockets (buffer full): %,d, computed as sent - taken; /proc/net/udp's drops"
                + " column for the port: %s%n", computedDrops, hostDrops < 0 ? "not available" : String.format("%,d",
                hostDrops));
        out.printf("interrupts %,d, polls %,d: %.1f datagrams per interrupt, %.1f polls per interrupt%n", interrupts,
                polls, taken / Math.max(1.0, interrupts), polls / Math.max(1.0, interrupts));
        out.printf("statistics tasklets: %,d roll-ups, device total %,d datagrams%n", rollups, rolledUp);
        boolean accounted = hostDrops < 0 || computedDrops == hostDrops;
        if (!accounted || rolledUp != handled || handled != dev.rxPackets() || problems > 0) {
            out.printf("FAILED: %s%s%s%n", accounted ? "" : "datagrams unaccounted for (sent - taken != the host's"
                            + " drops); ", rolledUp != handled || handled != dev.rxPackets()
                            ? "statistics roll-up incomplete; " : "",
                    problems > 0 ? problems + " kernel reports:\n" + reports : "");
            return 1;
        }
        out.println("every datagram sent was received or counted as dropped; no kernel warnings.");
        return 0;
    }

    /** The host's {@code /proc/net/udp}: the drops of the IPv4 sockets bound to a port. */
    static final class ProcNetUdp {
        private static final Path FILE = Path.of("/proc/net/udp");

        private ProcNetUdp() {
        }

        /**
         * Sums the {@code drops} column of the sockets whose local port is {@code port}.
         *
         * @return the sum, or -1 when the host has no such file
         */
        static long drops(int port) {
            List<String> lines;
            try {
                lines = Files.readAllLines(FILE);
            } catch (IOException | UncheckedIOException e) {
                return -1;
            }
            String suffix = String.format(":%04X", port);
            long sum = 0;
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 2 && f[1].endsWith(suffix)) {
                    sum += Long.parseLong(f[f.length - 1]);
                }
            }
            return sum;
        }
    }
}
