package dev.bottomhalf.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The top command, {@code bottomhalf}: {@code --help}, {@code --version} and the subcommands {@link Main}
 * adds; with no command it runs {@code demo} with its defaults. Used by the thread that runs the command line.
 */
@Command(name = "bottomhalf", mixinStandardHelpOptions = true, versionProvider = BottomhalfCommand.Version.class,
        headerHeading = "%n",
        header = "The Linux kernel's interrupt and deferred-work machinery in Java: demos and tools.",
        synopsisHeading = "%nUsage: ",
        descriptionHeading = "%n",
        description = "With no command, runs demo with its defaults. Every command takes --help.",
        optionListHeading = "%nOptions:%n",
        commandListHeading = "%nCommands:%n",
        footerHeading = "%nExamples:%n",
        footer = {
            "  ./bottomhalf demo --seconds=3 --trace 40",
            "  ./bottomhalf help demo",
            "  source <(./bottomhalf completion)      bash completion in this shell"})
final class BottomhalfCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() {
        return spec.subcommands().get("demo").execute();
    }

    /** {@code --version}: the project's version (filled in by the build) and the JDK running it. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            Properties p = new Properties();
            try (InputStream in = BottomhalfCommand.class.getResourceAsStream("version.properties")) {
                if (in == null) {
                    throw new IllegalStateException("version.properties is missing from the class path");
                }
                p.load(in);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new String[] {
                "bottomhalf " + p.getProperty("version"),
                "JDK " + Runtime.version() + " (" + System.getProperty("java.vendor") + ", " + System.getProperty("os.name")
                        + " " + System.getProperty("os.arch") + ")"};
        }
    }
}
