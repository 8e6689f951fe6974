package dev.bottomhalf.workqueue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;

/**
 * What the per-tick concurrency check learns about a worker thread from the JVM: its CPU time (the kernel's
 * {@code sum_exec_runtime}, against which {@code wq_worker_tick} measures a CPU hog), and whether a thread
 * that Java reports {@code RUNNABLE} is in fact waiting in native code — a blocking socket or pipe read, which
 * the kernel would see as a sleeping worker.
 *
 * <p>Where the JVM does not measure thread CPU time, {@link #of} returns −1 and the check falls back to the
 * wall clock (a worker the host deschedules then looks busy, and nothing is taken for blocked in native code).
 */
final class WorkerCpuTime {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean SUPPORTED = supported();

    private WorkerCpuTime() {
    }

    private static boolean supported() {
        try {
            return THREADS.isThreadCpuTimeSupported() && THREADS.isThreadCpuTimeEnabled();
        } catch (UnsupportedOperationException e) {
            return false;
        }
    }

    /** The thread's CPU time in ns, or −1 if the JVM does not measure it (or the thread has ended). */
    static long of(Thread thread) {
        return SUPPORTED ? THREADS.getThreadCpuTime(thread.threadId()) : -1;
    }

    /**
     * Whether a {@code RUNNABLE} thread is waiting rather than running: over the last check interval
     * ({@code wallNs}) it got less than an eighth of it on the CPU ({@code cpuNs}), and it is in native code
     * now. (A thread the host merely descheduled is not in native code, or not for long; one that burns CPU
     * in native code makes progress.) Looks at the thread's state only when its CPU time stalled.
     */
    static boolean stalledInNative(Thread thread, long cpuNs, long wallNs) {
        if (!SUPPORTED || cpuNs < 0 || wallNs <= 0 || cpuNs * 8 >= wallNs) {
            return false;
        }
        ThreadInfo info = THREADS.getThreadInfo(thread.threadId());
        return info != null && info.isInNative() && info.getThreadState() == Thread.State.RUNNABLE;
    }
}
