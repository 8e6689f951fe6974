package dev.bottomhalf.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.IHelpSectionRenderer;
import picocli.CommandLine.Model.UsageMessageSpec;

/**
 * The {@code bottomhalf} command line (picocli): {@code demo} (the default), {@code completion},
 * {@code help}, and {@code test} and {@code bench}, which the {@code ./bottomhalf} script runs itself. Run
 * from one thread: {@link #run} builds a fresh command tree per call.
 *
 * <p>Exit codes follow picocli's conventions: 0 ok, 1 the run failed, 2 usage error. The launcher script
 * sets the system property {@code bottomhalf.command} to {@code ./bottomhalf} so that usage lines and
 * hints name the script the user typed.
 */
public final class Main {
    /** Exit code of a run that failed: the demo's check found a problem, or an exception stopped it. */
    static final int EXIT_FAILED = CommandLine.ExitCode.SOFTWARE;
    /** Exit code of a usage error: unknown command or option, a missing or invalid value. */
    static final int EXIT_USAGE = CommandLine.ExitCode.USAGE;
    private static final String LAUNCHER_COMMANDS = "launcherCommands";

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Parses {@code args}, runs the command they name and returns its exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cl = commandLine(System.getProperty("bottomhalf.command", "bottomhalf"), out, err);
        try {
            return cl.execute(args);
        } finally {
            cl.getOut().flush();
            cl.getErr().flush();
        }
    }

    /** The command tree, named {@code name}, printing to {@code out} and {@code err}. */
    static CommandLine commandLine(String name, PrintStream out, PrintStream err) {
        CommandLine cl = new CommandLine(new BottomhalfCommand());
        cl.setCommandName(name);
        cl.addSubcommand(new DemoCommand(out));
        cl.addSubcommand(new CompletionCommand());
        cl.addSubcommand(new CommandLine.HelpCommand());
        cl.addSubcommand(new LauncherCommand.Test());
        cl.addSubcommand(new LauncherCommand.Bench());
        exitCodes(cl);
        launcherSection(cl);
        cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        cl.setParameterExceptionHandler((ex, arguments) -> {
            CommandLine failed = ex.getCommandLine();
            PrintWriter w = failed.getErr();
            w.println(failed.getCommandSpec().qualifiedName() + ": " + ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, w);
            w.println("Try '" + failed.getCommandSpec().qualifiedName() + " --help' for more information.");
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((ex, failed, parseResult) -> {
            PrintWriter w = failed.getErr();
            w.println(failed.getCommandSpec().qualifiedName() + ": failed: " + ex);
            ex.printStackTrace(w);
            return EXIT_FAILED;
        });
        return cl;
    }

    /** Every command's help ends with the list of exit codes; what "the run failed" means is the command's. */
    private static void exitCodes(CommandLine cl) {
        Map<String, String> failures = Map.of(
                "bottomhalf", "the run failed: the demo's final check found lost packets or kernel warnings, or an "
                        + "error stopped the command (the script's test and bench: the build, a test or a benchmark "
                        + "failed)",
                "demo", "the run failed: the final check found lost packets or kernel warnings, or an error stopped "
                        + "the demo",
                "test", "the build or a test failed",
                "bench", "the build or a benchmark failed");
        List<CommandLine> all = new ArrayList<>();
        all.add(cl);
        for (int i = 0; i < all.size(); i++) {
            CommandLine c = all.get(i);
            String name = c == cl ? "bottomhalf" : c.getCommandName();
            Map<String, String> codes = new LinkedHashMap<>();
            codes.put(" " + CommandLine.ExitCode.OK, "success");
            codes.put(" " + EXIT_FAILED, failures.getOrDefault(name, "an error stopped the command"));
            codes.put(" " + EXIT_USAGE, "usage error: unknown command or option, missing or invalid value");
            c.getCommandSpec().usageMessage().exitCodeListHeading("%nExit codes:%n").exitCodeList(codes);
            all.addAll(c.getSubcommands().values());
        }
    }

    /**
     * The top help lists the commands the script runs through Maven in a section of their own, after the
     * command line's own commands.
     */
    private static void launcherSection(CommandLine cl) {
        UsageMessageSpec usage = cl.getCommandSpec().usageMessage();
        Map<String, IHelpSectionRenderer> sections = new LinkedHashMap<>(usage.sectionMap());
        sections.put(UsageMessageSpec.SECTION_KEY_COMMAND_LIST, help -> help.commandList(commands(help, false)));
        sections.put(LAUNCHER_COMMANDS, help -> "%nRun by the ./bottomhalf script through Maven:%n".formatted()
                + help.commandList(commands(help, true)));
        List<String> keys = new ArrayList<>(usage.sectionKeys());
        keys.add(keys.indexOf(UsageMessageSpec.SECTION_KEY_COMMAND_LIST) + 1, LAUNCHER_COMMANDS);
        usage.sectionKeys(keys);
        usage.sectionMap(sections);
    }

    private static Map<String, Help> commands(Help help, boolean launcher) {
        Map<String, Help> selected = new LinkedHashMap<>();
        help.subcommands().forEach((name, sub) -> {
            if ((sub.commandSpec().userObject() instanceof LauncherCommand) == launcher) {
                selected.put(name, sub);
            }
        });
        return selected;
    }
}
