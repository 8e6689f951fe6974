package dev.bottomhalf.runtime;

/**
 * Receives tracepoint hits while tracing is on. Called on the hot path of the emitting thread
 * (possibly in hardirq context) and concurrently from many threads: implementations must be
 * thread-safe, must not block, and should be cheap.
 */
@FunctionalInterface
public interface TraceSink {
    /**
     * One hit.
     *
     * @param point    which tracepoint
     * @param timeNs   the kernel clock at the hit
     * @param cpu      the CPU of the emitting context
     * @param comm     the emitting thread's name ({@code cpu/0}, {@code ksoftirqd/1}, a task's name)
     * @param detail   the tracepoint's fields, formatted as the kernel prints them ({@code vec=3 [action=NET_RX]})
     */
    void hit(Tracepoint point, long timeNs, int cpu, String comm, String detail);
}
