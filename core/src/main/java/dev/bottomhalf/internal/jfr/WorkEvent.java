package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of a work item's function (the span of {@code workqueue_execute_start} to
 * {@code workqueue_execute_end}) on a kworker, a rescuer or, for a BH workqueue, in softirq. Made, filled and
 * committed by {@link Jfr} on the worker's thread.
 */
@Name(WorkEvent.NAME)
@Label("Work Item")
@Category({"bottomhalf", "Workqueue"})
@Description("One work item function run, workqueue_execute_start to workqueue_execute_end")
@Enabled(false)
@StackTrace(false)
public final class WorkEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.Work";

    @Label("Workqueue")
    String workqueue;

    @Label("Function")
    @Description("The work item's function (its name)")
    String function;

    @Label("CPU")
    int cpu;

    @Label("Worker")
    @Description("The worker's name: kworker/N:M, kworker/uP:M, a rescuer, or cpu/N for a BH workqueue")
    String worker;
}
