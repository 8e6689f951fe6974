package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * One call of a NAPI instance's poll function (the kernel's {@code napi_poll} tracepoint comes after it, with the
 * work done), in NET_RX, a threaded NAPI kthread or a busy poll. Made, filled and committed by {@link Jfr} on the
 * polling thread.
 */
@Name(NapiPollEvent.NAME)
@Label("NAPI Poll")
@Category({"bottomhalf", "NAPI"})
@Description("One NAPI poll function call, with the work it did and its budget")
@Enabled(false)
@StackTrace(false)
public final class NapiPollEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.NapiPoll";

    @Label("Device")
    String device;

    @Label("NAPI")
    @Description("The NAPI instance, as the napi_poll tracepoint names it")
    String napi;

    @Label("Work")
    @Description("How many packets the poll processed")
    int work;

    @Label("Budget")
    int budget;

    @Label("CPU")
    int cpu;
}
