package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of a tasklet's function (the span of {@code tasklet_entry} to {@code tasklet_exit}), inside the
 * {@code TASKLET} or {@code HI} softirq. Made, filled and committed by {@link Jfr} on the serving thread.
 */
@Name(TaskletEvent.NAME)
@Label("Tasklet")
@Category({"bottomhalf", "Tasklet"})
@Description("One tasklet function run, tasklet_entry to tasklet_exit")
@Enabled(false)
@StackTrace(false)
public final class TaskletEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.Tasklet";

    @Label("Tasklet")
    @Description("The tasklet's function (its name)")
    String tasklet;

    @Label("CPU")
    int cpu;

    @Label("High Priority")
    @Description("True for a tasklet of tasklet_hi_schedule (HI_SOFTIRQ), false for TASKLET_SOFTIRQ")
    boolean hi;
}
