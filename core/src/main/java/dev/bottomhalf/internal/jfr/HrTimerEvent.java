package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One run of an hrtimer callback (the span of {@code hrtimer_expire_entry} to {@code hrtimer_expire_exit}), in
 * hardirq or the {@code HRTIMER} softirq. Made, filled and committed by {@link Jfr} on the serving thread.
 */
@Name(HrTimerEvent.NAME)
@Label("Hrtimer Callback")
@Category({"bottomhalf", "Timer"})
@Description("One hrtimer callback run, hrtimer_expire_entry to hrtimer_expire_exit")
@Enabled(false)
@StackTrace(false)
public final class HrTimerEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.HrTimer";

    @Label("Function")
    @Description("The hrtimer's function (its name)")
    String function;

    @Label("CPU")
    int cpu;

    @Label("Expires")
    @Description("The hrtimer's hard expiry, in nanoseconds of the kernel's clock")
    long expires;

    @Label("Now")
    @Description("The kernel's clock when the queue was run, in nanoseconds")
    long now;

    @Label("Restart")
    @Description("True when the callback returned HRTIMER_RESTART")
    boolean restart;
}
