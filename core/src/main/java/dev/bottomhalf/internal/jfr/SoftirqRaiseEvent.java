package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * An instant: a softirq vector raised ({@code raise_softirq}, the {@code softirq_raise} tracepoint), also when it
 * was already pending. Made and committed by {@link Jfr} on the raising thread.
 */
@Name(SoftirqRaiseEvent.NAME)
@Label("Softirq Raise")
@Category({"bottomhalf", "Softirq"})
@Description("A softirq vector raised on a CPU (raise_softirq, softirq_raise)")
@Enabled(false)
@StackTrace(false)
public final class SoftirqRaiseEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.SoftirqRaise";

    @Label("Vector")
    String vector;

    @Label("Vector Number")
    int nr;

    @Label("CPU")
    @Description("The CPU whose pending mask got the bit")
    int cpu;
}
