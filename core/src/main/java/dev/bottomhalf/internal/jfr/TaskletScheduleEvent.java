package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * An instant: a tasklet queued on a CPU's list by {@code tasklet_schedule} or {@code tasklet_hi_schedule} (not a
 * schedule that found it already scheduled). Made and committed by {@link Jfr} on the scheduling thread.
 */
@Name(TaskletScheduleEvent.NAME)
@Label("Tasklet Schedule")
@Category({"bottomhalf", "Tasklet"})
@Description("A tasklet queued on a CPU's tasklet list (tasklet_schedule, tasklet_hi_schedule)")
@Enabled(false)
@StackTrace(false)
public final class TaskletScheduleEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.TaskletSchedule";

    @Label("Tasklet")
    String tasklet;

    @Label("CPU")
    int cpu;

    @Label("High Priority")
    @Description("True for tasklet_hi_schedule (HI_SOFTIRQ)")
    boolean hi;
}
