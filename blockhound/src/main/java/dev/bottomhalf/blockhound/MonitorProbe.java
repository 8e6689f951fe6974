package dev.bottomhalf.blockhound;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The check around a {@code synchronized} block: {@link MonitorEnterTransformer} puts a call to
 * {@link #before(Object)} right before each {@code monitorenter} of the classes it instruments and a call to
 * {@link #after()} right after it. Not for callers: public only because instrumented classes of any package
 * call it. Any thread.
 *
 * <p>A monitor enter that blocks is not a method call, so BlockHound cannot see it. The JVM counts, per
 * thread, the monitor enters that had to block (after spinning failed): {@code ThreadInfo.getBlockedCount()}.
 * In a context that may not sleep the probe reads that count before and after the enter; when it grew, the
 * enter blocked and {@link SleepInAtomic} reports it at the frame of the {@code synchronized} statement —
 * after the fact (the thread holds the monitor by then) but still in the same context, since a
 * {@code synchronized} block cannot leave its context. In any other context {@link #before} and
 * {@link #after} only test the context and return.
 *
 * <p>Implementation notes. The count before the enter is kept in a per-thread holder: {@code before} and
 * {@code after} of one enter run back to back on one thread with nothing between them but the enter
 * itself, so nested blocks cannot mix them up; an enter that throws ({@code null} monitor) leaves a stale
 * count that the next {@code before} overwrites. Reading the count costs a few microseconds, paid only
 * by a {@code synchronized} block entered in atomic context while the integration is installed.
 */
public final class MonitorProbe {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final ThreadLocal<Pending> PENDING = ThreadLocal.withInitial(Pending::new);

    private static final class Pending {
        long blockedBefore;
        Object monitor;
    }

    private MonitorProbe() {
    }

    /**
     * Right before {@code monitorenter} of {@code monitor}.
     *
     * @param monitor the object whose monitor is about to be entered
     */
    public static void before(Object monitor) {
        if (!SleepInAtomic.mayNotSleep(Thread.currentThread()) || SleepInAtomic.inAgent()) {
            return;
        }
        Pending p = PENDING.get();
        p.blockedBefore = blockedCount();
        p.monitor = monitor;
    }

    /** Right after {@code monitorenter}: the calling method now holds the monitor. */
    public static void after() {
        if (!SleepInAtomic.mayNotSleep(Thread.currentThread()) || SleepInAtomic.inAgent()) {
            return;
        }
        Pending p = PENDING.get();
        Object monitor = p.monitor;
        if (monitor == null) {
            return;
        }
        p.monitor = null;
        if (blockedCount() > p.blockedBefore) {
            SleepInAtomic.contendedMonitorEnter(monitor);
        }
    }

    /** How many times the calling thread has blocked entering a monitor since it started. */
    static long blockedCount() {
        SleepInAtomic.enterAgent();
        try {
            return THREADS.getThreadInfo(Thread.currentThread().threadId()).getBlockedCount();
        } finally {
            SleepInAtomic.leaveAgent();
        }
    }
}
