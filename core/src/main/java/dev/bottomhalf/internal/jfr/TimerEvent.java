package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of a timer-wheel callback (the span of {@code timer_expire_entry} to {@code timer_expire_exit}), in
 * the {@code TIMER} softirq. Made, filled and committed by {@link Jfr} on the serving thread.
 */
@Name(TimerEvent.NAME)
@Label("Timer Callback")
@Category({"bottomhalf", "Timer"})
@Description("One timer_list callback run, timer_expire_entry to timer_expire_exit")
@Enabled(false)
@StackTrace(false)
public final class TimerEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.Timer";

    @Label("Function")
    @Description("The timer's function (its name)")
    String function;

    @Label("CPU")
    int cpu;

    @Label("Expires")
    @Description("The timer's expiry, in jiffies")
    long expires;

    @Label("Jiffies")
    @Description("The kernel's jiffies when the callback started")
    long jiffies;
}
