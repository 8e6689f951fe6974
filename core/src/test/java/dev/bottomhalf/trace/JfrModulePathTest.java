package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.bottomhalf.Kernel;

/**
 * JFR registers and records the events of the named module {@code dev.bottomhalf}, whose event classes live in a
 * package it does not export ({@code dev.bottomhalf.internal.jfr}): core's tests run on the class path, so this one
 * starts a JVM with the built module on the module path, running a small program (Java's source-file mode) that
 * records a stepped interrupt, and reads the recording it wrote. Runs on the test thread; about 3 s.
 */
class JfrModulePathTest {
    @TempDir
    Path tmp;

    private static final String PROGRAM = """
            import java.nio.file.Path;
            import java.util.Set;
            import dev.bottomhalf.Kernel;
            import dev.bottomhalf.irq.IrqReturn;
            import dev.bottomhalf.runtime.KernelConfig;
            import dev.bottomhalf.softirq.SoftirqVector;
            import dev.bottomhalf.trace.JfrEvents;
            import jdk.jfr.Recording;

            public class RecordOnTheModulePath {
                public static void main(String[] args) throws Exception {
                    System.out.println(Kernel.class.getModule());
                    try (Recording r = new Recording(JfrEvents.settings())) {
                        r.start();
                        try (Kernel k = Kernel.boot(KernelConfig.builder().cpus(1).stepped().build())) {
                            k.softirqs().open(SoftirqVector.NET_RX, () -> { });
                            k.irqs().request(24, (irq, dev) -> {
                                k.softirqs().raise(SoftirqVector.NET_RX);
                                return IrqReturn.HANDLED;
                            }, Set.of(), "eth0", "eth0");
                            k.irqs().enable(24);
                            k.irqs().assertIrq(24);
                            k.stepper().hardirq(0);
                        }
                        r.stop();
                        r.dump(Path.of(args[0]));
                    }
                }
            }
            """;

    @Test
    void namedModule_recordsTheEventsOfItsUnexportedPackage() throws Exception {
        Path module = Path.of(Kernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path source = Files.writeString(tmp.resolve("RecordOnTheModulePath.java"), PROGRAM);
        Path recording = tmp.resolve("module-path.jfr");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "--module-path", module.toString(), "--add-modules",
                "dev.bottomhalf", source.toString(), recording.toString())
                .redirectErrorStream(true).start();
        boolean ended = p.waitFor(120, TimeUnit.SECONDS);
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(ended, "the program did not end: " + output);
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.startsWith("module dev.bottomhalf"), "the kernel ran from the named module: " + output);

        TreeSet<String> names = new TreeSet<>();
        String report = null;
        for (RecordedEvent e : RecordingFile.readAllEvents(recording)) {
            if (e.getEventType().getName().startsWith("bottomhalf.")) {
                names.add(e.getEventType().getName());
                if (e.getEventType().getName().equals("bottomhalf.Report")) {
                    report = e.getString("message");
                }
            }
        }
        assertEquals(new TreeSet<>(List.of("bottomhalf.HardIrq", "bottomhalf.Report", "bottomhalf.Softirq",
                "bottomhalf.SoftirqRaise")), names, output);
        assertEquals("Unbalanced enable for IRQ 24", report);
    }
}
