package dev.bottomhalf.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Enabled;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * An instant: {@code wakeup_softirqd} handed a CPU's pending softirqs to its sleeping {@code ksoftirqd/N} (a raise
 * from task context, a softirq loop out of budget, an {@code irq_exit} with forced IRQ threads). Only the wake-up
 * that makes the daemon runnable is recorded, not one that finds it awake. Made and committed by {@link Jfr} on
 * the waking thread.
 */
@Name(KsoftirqdWakeupEvent.NAME)
@Label("Ksoftirqd Wakeup")
@Category({"bottomhalf", "Softirq"})
@Description("wakeup_softirqd: the pending softirqs of a CPU handed to its sleeping ksoftirqd")
@Enabled(false)
@StackTrace(false)
public final class KsoftirqdWakeupEvent extends jdk.jfr.Event {
    /** The event's name in recordings. */
    public static final String NAME = "bottomhalf.KsoftirqdWakeup";

    @Label("CPU")
    int cpu;

    @Label("Pending")
    @Description("The vectors pending on the CPU at the wake-up, e.g. NET_RX|TIMER")
    String pending;

    @Label("Waker")
    @Description("The waking context's name: a task, cpu/N, ksoftirqd/N, kworker/...")
    String waker;

    @Label("Waker Context")
    @Description("The waking context: task, softirq, hardirq, ...")
    String wakerContext;
}
