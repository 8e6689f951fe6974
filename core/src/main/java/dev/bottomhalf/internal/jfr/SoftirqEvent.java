package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of one softirq vector's action (the span of {@code softirq_entry} to {@code softirq_exit}) inside
 * {@code handle_softirqs}. Made, filled and committed by {@link Jfr} on the thread that served the softirqs.
 */
@Name(SoftirqEvent.NAME)
@Label("Softirq")
@Category({"bottomhalf", "Softirq"})
@Description("One softirq vector's action run, softirq_entry to softirq_exit")
@Enabled(false)
@StackTrace(false)
public final class SoftirqEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.Softirq";

    @Label("Vector")
    @Description("The vector's name: HI, TIMER, NET_TX, NET_RX, BLOCK, IRQ_POLL, TASKLET, SCHED, HRTIMER, RCU")
    String vector;

    @Label("Vector Number")
    int nr;

    @Label("CPU")
    int cpu;

    @Label("Pass")
    @Description("Which pass of handle_softirqs' restart loop ran it: 1 for the first, up to MAX_SOFTIRQ_RESTART (10)")
    int pass;

    @Label("Invoked From")
    @Description("Who served the softirqs: irq_exit (cpu/N after a hard IRQ), ksoftirqd (ksoftirqd/N), or"
            + " local_bh_enable (a task's outermost local_bh_enable or do_softirq)")
    String invokedFrom;
}
