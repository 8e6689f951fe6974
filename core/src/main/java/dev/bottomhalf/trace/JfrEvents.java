package dev.bottomhalf.trace;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.bottomhalf.internal.jfr.HardIrqEvent;
import dev.bottomhalf.internal.jfr.HrTimerEvent;
import dev.bottomhalf.internal.jfr.KsoftirqdWakeupEvent;
import dev.bottomhalf.internal.jfr.NapiPollEvent;
import dev.bottomhalf.internal.jfr.QueueWorkEvent;
import dev.bottomhalf.internal.jfr.ReportEvent;
import dev.bottomhalf.internal.jfr.SoftirqEvent;
import dev.bottomhalf.internal.jfr.SoftirqRaiseEvent;
import dev.bottomhalf.internal.jfr.TaskletEvent;
import dev.bottomhalf.internal.jfr.TaskletScheduleEvent;
import dev.bottomhalf.internal.jfr.ThreadedIrqEvent;
import dev.bottomhalf.internal.jfr.TimerEvent;
import dev.bottomhalf.internal.jfr.WorkEvent;

/**
 * The names of the JDK Flight Recorder events bottomhalf emits, and the settings that record them all. Any thread;
 * stateless.
 *
 * <p>Every event but {@code bottomhalf.Report} is off by default (they can come by the million per second), so a
 * recording must enable them: {@code recording.setSettings(JfrEvents.settings())}, or
 * {@code JfrEvents.names().forEach(recording::enable)}, or on the command line
 * {@code -XX:StartFlightRecording:+bottomhalf.Softirq#enabled=true,...}. The events are JVM-wide: every kernel of the
 * JVM records into every running recording that enables them. Their fields and costs are in {@code docs/tracing.md},
 * "JFR events".
 */
public final class JfrEvents {
    private static final List<String> NAMES = List.of(
            HardIrqEvent.NAME, ThreadedIrqEvent.NAME, SoftirqEvent.NAME, SoftirqRaiseEvent.NAME,
            KsoftirqdWakeupEvent.NAME, TaskletEvent.NAME, TaskletScheduleEvent.NAME, TimerEvent.NAME,
            HrTimerEvent.NAME, WorkEvent.NAME, QueueWorkEvent.NAME, NapiPollEvent.NAME, ReportEvent.NAME);

    /** The JFR category every event of bottomhalf is under (the first of its categories). */
    public static final String CATEGORY = "bottomhalf";

    private JfrEvents() {
    }

    /**
     * The names of every event: {@code bottomhalf.HardIrq}, {@code bottomhalf.ThreadedIrq},
     * {@code bottomhalf.Softirq}, {@code bottomhalf.SoftirqRaise}, {@code bottomhalf.KsoftirqdWakeup},
     * {@code bottomhalf.Tasklet}, {@code bottomhalf.TaskletSchedule}, {@code bottomhalf.Timer},
     * {@code bottomhalf.HrTimer}, {@code bottomhalf.Work}, {@code bottomhalf.QueueWork}, {@code bottomhalf.NapiPoll},
     * {@code bottomhalf.Report}.
     *
     * @return the names, unmodifiable
     */
    public static List<String> names() {
        return NAMES;
    }

    /**
     * Settings that enable every event, without a threshold and without stack traces (but for a report's, which
     * shows where it was made), for
     * {@code Recording.setSettings} or {@code RecordingStream.setSettings} (which replace the recording's
     * settings: add these to another configuration's, such as {@code Configuration.getConfiguration("default")},
     * to record the JDK's events too).
     *
     * @return a new modifiable map of {@code name#setting} to value
     */
    public static Map<String, String> settings() {
        Map<String, String> settings = new LinkedHashMap<>();
        for (String name : NAMES) {
            settings.put(name + "#enabled", "true");
            settings.put(name + "#stackTrace", String.valueOf(name.equals(ReportEvent.NAME))); // a report's: its site
            settings.put(name + "#threshold", "0 ns");
        }
        return settings;
    }
}
