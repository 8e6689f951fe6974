package dev.bottomhalf.cli;

import java.util.concurrent.Callable;

import picocli.AutoComplete;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code bottomhalf completion}: prints a bash completion script for every command and option, generated
 * by picocli's {@link AutoComplete} from the command tree it belongs to. Used by the thread that runs the
 * command line.
 */
@Command(name = "completion",
        headerHeading = "%n",
        header = "Print a bash completion script for bottomhalf.",
        descriptionHeading = "%n",
        description = {
            "Completes commands and options for ./bottomhalf and for bottomhalf on the PATH. To enable it in "
                    + "the current shell:",
            "  source <(./bottomhalf completion)",
            "and for every new shell:",
            "  mkdir -p ~/.local/share/bash-completion/completions",
            "  ./bottomhalf completion > ~/.local/share/bash-completion/completions/bottomhalf"},
        optionListHeading = "%nOptions:%n")
final class CompletionCommand implements Callable<Integer> {
    /** The command name the script completes; bash also uses it for {@code ./bottomhalf}. */
    static final String COMPLETED_NAME = "bottomhalf";

    @Spec
    private CommandSpec spec;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
    private boolean help;

    @Override
    public Integer call() {
        spec.commandLine().getOut().print(AutoComplete.bash(COMPLETED_NAME, spec.root().commandLine()));
        spec.commandLine().getOut().flush();
        return 0;
    }
}
