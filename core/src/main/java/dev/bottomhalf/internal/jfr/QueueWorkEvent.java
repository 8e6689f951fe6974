package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * An instant: a work item queued on a workqueue's pool (the {@code workqueue_queue_work} tracepoint of
 * {@code __queue_work}). Made and committed by {@link Jfr} on the queueing thread.
 */
@Name(QueueWorkEvent.NAME)
@Label("Queue Work")
@Category({"bottomhalf", "Workqueue"})
@Description("A work item queued on a workqueue (queue_work, workqueue_queue_work)")
@Enabled(false)
@StackTrace(false)
public final class QueueWorkEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.QueueWork";

    @Label("Workqueue")
    String workqueue;

    @Label("Function")
    @Description("The work item's function (its name)")
    String function;

    @Label("Requested CPU")
    @Description("The CPU the caller asked for; -1 for WORK_CPU_UNBOUND (the tracepoint prints 8192)")
    int reqCpu;

    @Label("CPU")
    @Description("The CPU of the pool the item went to; -1 for an unbound pool")
    int cpu;
}
