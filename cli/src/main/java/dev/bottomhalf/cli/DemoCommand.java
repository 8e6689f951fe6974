package dev.bottomhalf.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code bottomhalf demo}: parses and checks the demo's options, then runs {@link NetDemo}. Used by the
 * thread that runs the command line.
 */
@Command(name = "demo", sortOptions = false,
        headerHeading = "%n",
        header = "Run the network-card demo (the default command).",
        descriptionHeading = "%n",
        description = {
            "Boots a 2-CPU kernel with a two-queue network card: by default a UdpDevice, two UDP sockets on "
                    + "127.0.0.1 sharing a port, fed real datagrams by a sender process (--rate, --size). The card "
                    + "asserts a queue's interrupt when its socket is readable; the top half masks it and schedules "
                    + "NAPI; net_rx_action polls the queue (64 datagrams a poll) and keeps polling while traffic "
                    + "lasts; the protocol handler in NET_RX counts each datagram, schedules the CPU's statistics "
                    + "tasklet, pushes the queue's watchdog timer forward and hands every 10,000th datagram to a "
                    + "workqueue (the slow path); a kworker writes a summary line to a temporary file once a second. "
                    + "Half-way a burst arrives that the softirq loop hands to ksoftirqd.",
            "",
            "--card=simulated runs the same driver on a simulated card (a device thread filling in-memory rings, "
                    + "no sockets).",
            "",
            "Prints a progress line a second, then /proc/interrupts, /proc/softirqs, /proc/net/softnet_stat, the "
                    + "watchdog and workqueue results, and checks that every datagram sent was received or counted "
                    + "as dropped (the simulated card: that every packet it accepted was delivered)."},
        optionListHeading = "%nOptions:%n")
final class DemoCommand implements Callable<Integer> {
    static final int MIN_SECONDS = 1;
    static final int MAX_SECONDS = 30;
    static final int MIN_RATE = 1;
    static final int MAX_RATE = 5_000_000;
    static final int MAX_TRACE = 10_000;
    /** The timeline of {@code --trace-out} keeps the run's first this many tracepoint hits. */
    static final int TRACE_OUT_HITS = 250_000;

    private final PrintStream out;
    @Spec
    private CommandSpec spec;
    private int seconds;
    private int rate;
    private int traceLines;
    private Path tempDir;
    private Path traceOut;
    private Integer webPort;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    DemoCommand(PrintStream out) {
        this.out = out;
    }

    @Option(names = "--seconds", paramLabel = "N", defaultValue = "10", order = 1,
            description = "How long the card receives traffic: " + MIN_SECONDS + ".." + MAX_SECONDS
                    + " seconds (default: ${DEFAULT-VALUE}).")
    void seconds(int value) {
        seconds = inRange("--seconds", value, MIN_SECONDS, MAX_SECONDS, "");
    }

    @Option(names = "--rate", paramLabel = "PPS", order = 2,
            description = "Packets per second the card receives: " + MIN_RATE + ".." + MAX_RATE
                    + " (default: " + UdpNetDemo.DEFAULT_RATE + " with the UDP card, " + SIMULATED_RATE
                    + " with the simulated one).")
    void rate(int value) {
        rate = inRange("--rate", value, MIN_RATE, MAX_RATE, "");
    }

    @Option(names = "--trace", paramLabel = "N", defaultValue = "0", order = 3,
            description = "Print the last N tracepoint hits at the end: 0.." + MAX_TRACE
                    + ", 0 = tracing off (default: ${DEFAULT-VALUE}).")
    void trace(int value) {
        traceLines = inRange("--trace", value, 0, MAX_TRACE, " (0 = tracing off)");
    }

    @Option(names = "--temp-dir", paramLabel = "DIR", defaultValue = "${sys:java.io.tmpdir}", order = 4,
            description = "Directory for the summary file the kworker writes; the file is deleted when the demo "
                    + "ends, also after an error or Ctrl-C (default: ${DEFAULT-VALUE}).")
    void tempDir(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ParameterException(spec.commandLine(),
                    "Invalid value for option '--temp-dir': " + dir + " is not a directory");
        }
        tempDir = dir;
    }

    @Option(names = "--trace-out", paramLabel = "FILE", order = 5,
            description = "Write a timeline of the run's tracepoints (its first " + TRACE_OUT_HITS + " hits) to FILE "
                    + "as Chrome Trace Event JSON; open it at ui.perfetto.dev or in chrome://tracing.")
    void traceOut(Path file) {
        Path dir = file.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ParameterException(spec.commandLine(),
                    "Invalid value for option '--trace-out': " + dir + " is not a directory");
        }
        if (Files.isDirectory(file)) {
            throw new ParameterException(spec.commandLine(),
                    "Invalid value for option '--trace-out': " + file + " is a directory");
        }
        traceOut = file;
    }

    // --jfr: a JFR recording of the run, made around the demo (DemoJfr)
    private Path jfrOut;

    @Option(names = "--jfr", paramLabel = "FILE", order = 20,
            description = "Record the run with JDK Flight Recorder (the JDK's default events and every bottomhalf "
                    + "event) and write the recording to FILE; open it in JDK Mission Control or read it with "
                    + "'jfr print --categories bottomhalf FILE'.")
    void jfr(Path file) {
        Path dir = file.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ParameterException(spec.commandLine(),
                    "Invalid value for option '--jfr': " + dir + " is not a directory");
        }
        if (Files.isDirectory(file)) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--jfr': " + file
                    + " is a directory");
        }
        jfrOut = file;
    }

    /** Where {@code --jfr} writes its recording; null without the option. */
    Path jfrOut() {
        return jfrOut;
    }

    @Option(names = "--web", paramLabel = "PORT", arity = "0..1", fallbackValue = "0", order = 6,
            description = "Serve a live view of the kernel in the browser on 127.0.0.1 while the demo runs: PORT "
                    + "1..65535, or without PORT any free port; the URL is printed. Without --seconds the card then "
                    + "receives traffic until you press Enter (Ctrl-C stops at once).")
    void web(int port) {
        webPort = inRange("--web", port, 0, 65_535, " (0 or no value = any free port)");
    }

    // --- the card (UDP or simulated) and the UDP card's datagram size ---

    static final int MIN_SIZE = 8;
    /** The simulated card's default rate. */
    static final int SIMULATED_RATE = 200_000;
    private DemoOptions.Card card = DemoOptions.Card.UDP;
    private int size;

    @Option(names = "--card", paramLabel = "CARD", defaultValue = "udp", order = 20,
            description = "udp: real datagrams on 127.0.0.1 from a sender process, through a two-queue UdpDevice; "
                    + "simulated: a device thread filling in-memory rings (default: ${DEFAULT-VALUE}).")
    void card(String value) {
        card = switch (value) {
            case "udp" -> DemoOptions.Card.UDP;
            case "simulated" -> DemoOptions.Card.SIMULATED;
            default -> throw new ParameterException(spec.commandLine(),
                    "Invalid value for option '--card': " + value + " is not udp or simulated");
        };
    }

    @Option(names = "--size", paramLabel = "BYTES", defaultValue = "64", order = 21,
            description = "The UDP card's datagram size: " + MIN_SIZE + ".." + 65_507 + " bytes (default: "
                    + "${DEFAULT-VALUE}).")
    void size(int value) {
        size = inRange("--size", value, MIN_SIZE, 65_507, "");
    }

    private int deferHardIrqs;
    private int groFlushTimeoutUs;

    @Option(names = "--defer", paramLabel = "COUNT,US", order = 22,
            description = "The UDP card's IRQ deferral (napi_defer_hard_irqs COUNT, gro_flush_timeout US "
                    + "microseconds; e.g. 2,50): after a poll that found datagrams the queue's interrupt stays masked "
                    + "and a timer polls again, up to COUNT times, US apart (default: off).")
    void defer(String value) {
        String[] parts = value.split(",", -1);
        try {
            if (parts.length != 2) {
                throw new NumberFormatException();
            }
            deferHardIrqs = inRange("--defer", Integer.parseInt(parts[0].strip()), 1, 1000, " (COUNT)");
            groFlushTimeoutUs = inRange("--defer", Integer.parseInt(parts[1].strip()), 1, 1_000_000, " (US)");
        } catch (NumberFormatException e) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '--defer': '" + value
                    + "' is not COUNT,US (two integers, e.g. 2,50)");
        }
    }

    // --- end of the card options ---

    @Override
    public Integer call() {
        if (jfrOut != null) {
            return DemoJfr.around(jfrOut, out, () -> NetDemo.run(options(), out));
        }
        return NetDemo.run(options(), out);
    }

    /** The options as parsed (defaults where none was given). */
    DemoOptions options() {
        int pps = rate != 0 ? rate : card == DemoOptions.Card.UDP ? UdpNetDemo.DEFAULT_RATE : SIMULATED_RATE;
        if (deferHardIrqs > 0 && card != DemoOptions.Card.UDP) {
            throw new ParameterException(spec.commandLine(), "Option '--defer' is for the UDP card's NAPI: the "
                    + "simulated card does not use NAPI (drop --card=simulated or --defer)");
        }
        return new DemoOptions(seconds, pps, traceLines, tempDir, traceOut, webPort == null ? null
                : new DemoOptions.Web(webPort, !spec.commandLine().getParseResult().hasMatchedOption("--seconds")),
                card, size, deferHardIrqs, groFlushTimeoutUs);
    }

    private int inRange(String option, int value, int min, int max, String note) {
        if (value < min || value > max) {
            throw new ParameterException(spec.commandLine(), "Invalid value for option '" + option + "': " + value
                    + " is not in " + min + ".." + max + note);
        }
        return value;
    }
}
