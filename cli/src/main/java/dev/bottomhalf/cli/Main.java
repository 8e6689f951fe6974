package dev.bottomhalf.cli;

import java.io.PrintStream;
import java.util.Arrays;

/**
 * The {@code bottomhalf} command line. {@code ./bottomhalf demo} (the default) runs the network-device
 * demo; {@code ./bottomhalf help} lists the commands.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        String command = args.length == 0 ? "demo" : args[0];
        String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
        try {
            return switch (command) {
                case "demo" -> NetDemo.run(DemoOptions.parse(rest), out);
                case "help", "-h", "--help" -> {
                    usage(out);
                    yield 0;
                }
                default -> {
                    err.println("bottomhalf: unknown command '" + command + "'");
                    usage(err);
                    yield 2;
                }
            };
        } catch (IllegalArgumentException e) {
            err.println("bottomhalf: " + e.getMessage());
            return 2;
        }
    }

    static void usage(PrintStream out) {
        out.println("""
                usage: ./bottomhalf <command> [options]

                commands:
                  demo      boot a 2-CPU kernel with a simulated network card: its interrupt's top half
                            acknowledges the card and raises NET_RX; the softirq drains a per-CPU receive
                            ring and schedules a per-CPU statistics tasklet; half-way a burst arrives
                            that ksoftirqd finishes. Prints progress, then /proc/interrupts and
                            /proc/softirqs.
                              --seconds N   how long to run (default 10, at most 30)
                              --rate N      packets per second the card receives (default 200000)
                              --trace N     also print the last N tracepoint hits
                  test      run the whole test suite (mvn verify)
                  bench     build and run the JMH benchmarks (JMH options pass through)
                  help      this text""");
    }
}
