package dev.bottomhalf.cli;

import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * The commands the {@code ./bottomhalf} script runs itself, through Maven: {@code test} and {@code bench}.
 * The command line knows them so that its help and the bash completion list them; the script passes only
 * {@code --help} on to it. Invoked without the script, they say how to run them. Used by the thread that
 * runs the command line.
 */
sealed abstract class LauncherCommand implements Callable<Integer> permits LauncherCommand.Test, LauncherCommand.Bench {
    @Spec
    private CommandSpec spec;

    @Option(names = "--help", usageHelp = true,
            description = "Show this help message and exit (every other argument goes to the tool).")
    private boolean help;

    @Unmatched
    private List<String> passedThrough;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "'" + spec.name()
                + "' runs Maven and is handled by the launcher script: ./bottomhalf " + spec.name());
    }

    /** {@code ./bottomhalf test}: the whole test suite. */
    @Command(name = "test",
            headerHeading = "%n",
            header = "Run the whole test suite (mvn verify).",
            customSynopsis = "./bottomhalf test [--help] [MAVEN_ARG...]",
            descriptionHeading = "%n",
            description = {
                "Runs mvn -B -ntp verify in the repository with the given Maven arguments: unit and conformance "
                        + "tests, the jcstress proofs in their sanity mode and 10-second soaks. Maven's output is "
                        + "shown as it runs.",
                "",
                "  ./bottomhalf test -Psoak          the soak for 10 minutes",
                "  ./bottomhalf test -Pstress-long   jcstress in its default mode",
                "  ./bottomhalf test -pl core        one module"},
            optionListHeading = "%nOptions:%n")
    static final class Test extends LauncherCommand {
    }

    /** {@code ./bottomhalf bench}: the JMH benchmarks. */
    @Command(name = "bench",
            headerHeading = "%n",
            header = "Build the JMH benchmarks if needed and run them.",
            customSynopsis = {"./bottomhalf bench [--help] [JMH_ARG...]",
                "./bottomhalf bench --quick [--compare[=FILE]] [--write-baseline] [--rows=REGEX] [--list] ...",
                "./bottomhalf bench --receive [--rounds=N] [--rates=PPS|max|drain,...] [--size=BYTES] [--only=RECEIVER,...]"
                        + " [--sender=channel|mmsg] [--pin]"},
            descriptionHeading = "%n",
            description = {
                "Builds bench/target/benchmarks.jar when it is missing or older than its sources (Maven's output "
                        + "goes to target/bottomhalf-bench-build.log) and runs it with the given JMH arguments; "
                        + "./bottomhalf bench -h lists JMH's own options.",
                "",
                "--quick runs the headline row of every section of docs/benchmarks.md with its peers in a few "
                        + "minutes and writes target/bench-quick/quick-<time>.json and .md: each row's speed-up "
                        + "against its peer (above 1: bottomhalf is faster). --compare compares the ratios with "
                        + "the committed baseline bench/baseline/quick.json and exits with 3 when one is more than "
                        + "10 %% worse; ./bottomhalf bench --quick --help lists every option.",
                "",
                "--receive runs the UDP receive harness: real datagrams over 127.0.0.1 from a sender process, "
                        + "received by bottomhalf's NAPI UdpDevice, Netty's NIO and native epoll datagram channels and "
                        + "blocking DatagramChannel loops on a platform and a virtual thread, at offered rates up to "
                        + "saturation; datagrams/s, loss, CPU, allocation and latency per datagram, and the interrupt "
                        + "mitigation table (docs/benchmarks.md). The rate drain fills each receiver's socket while it "
                        + "waits and times how fast it empties it, with no sender running; --sender=mmsg sends a "
                        + "sendmmsg(2) per burst; --pin puts the sender on CPU 0 and the receivers on CPU 1."},
            optionListHeading = "%nOptions:%n")
    static final class Bench extends LauncherCommand {
    }
}
