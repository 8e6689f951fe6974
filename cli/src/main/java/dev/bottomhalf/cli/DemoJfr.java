package dev.bottomhalf.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntSupplier;

import dev.bottomhalf.trace.JfrEvents;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

/**
 * {@code demo --jfr FILE}: records the demo with JDK Flight Recorder — the JDK's {@code default} configuration plus
 * every bottomhalf event ({@link JfrEvents#settings()}) — and writes FILE when the demo ends. Used by the thread that
 * runs the command line.
 */
final class DemoJfr {
    private DemoJfr() {
    }

    /**
     * Runs {@code demo} under a recording and writes it to {@code file}, also when the demo failed.
     *
     * @return the demo's exit code, or 1 when the recording could not be made or written
     */
    static int around(Path file, PrintStream out, IntSupplier demo) {
        Map<String, String> settings = new LinkedHashMap<>();
        try {
            settings.putAll(Configuration.getConfiguration("default").getSettings());
        } catch (IOException | ParseException e) {
            out.println("JFR recording: the JDK's default configuration could not be read (" + e.getMessage()
                    + "); recording the bottomhalf events only");
        }
        settings.putAll(JfrEvents.settings());
        int exit;
        try (Recording recording = new Recording(settings)) {
            recording.setName("bottomhalf demo");
            recording.start();
            try {
                exit = demo.getAsInt();
            } finally {
                recording.stop();
            }
            recording.dump(file);
        } catch (IOException e) {
            out.println("JFR recording: could not write " + file + ": " + e.getMessage());
            return 1;
        }
        out.printf("JFR recording: %s (%,d KB; open it in JDK Mission Control, or: jfr print --categories %s %s)%n",
                file, size(file) / 1024, JfrEvents.CATEGORY, file);
        return exit;
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }
}
