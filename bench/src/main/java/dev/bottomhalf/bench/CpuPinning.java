package dev.bottomhalf.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Pins this JVM's threads ({@code sched_setaffinity(2)} through the C library; Linux only), re-applied every
 * {@value #PERIOD_MS} ms by a daemon thread so that threads started later (a pool's worker, an executor's thread)
 * are moved too: either every thread on CPU 0 ({@code split} false), or the producer — the thread that makes this
 * object — on CPU 0 and every other thread on CPU 1. For the throughput comparisons of one producer and one
 * consumer: on a 2-CPU host the host's scheduler otherwise puts both on one CPU in some rounds and on two in
 * others, and a round's rate depends more on which than on the mechanism (docs/benchmarks.md §22). On one CPU a
 * round measures what an item costs both sides together; split, the hand-off between two CPUs (with the JIT, GC
 * and the runtime's other threads beside the consumer).
 */
final class CpuPinning implements AutoCloseable {
    static final long PERIOD_MS = 5;

    private static final MethodHandle SCHED_SETAFFINITY = affinityCall("sched_setaffinity");
    private static final MethodHandle SCHED_GETAFFINITY = affinityCall("sched_getaffinity");

    private static MethodHandle affinityCall(String name) {
        Linker linker = Linker.nativeLinker();
        return linker.downcallHandle(linker.defaultLookup().find(name).orElseThrow(
                () -> new UnsupportedOperationException("no " + name + ": CPU pinning needs Linux")),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                        ValueLayout.ADDRESS));
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment cpu0 = arena.allocate(128, 8);
    /** The other threads' CPU: CPU 1 when split, else CPU 0. */
    private final MemorySegment cpu1 = arena.allocate(128, 8);
    /** The process's CPUs before: every thread gets them back at {@link #close}. */
    private final MemorySegment before = arena.allocate(128, 8);
    /** The thread that made this object: the producer, kept on CPU 0. */
    private final long mainTid;
    private final Thread pinner;
    private volatile boolean stop;

    /**
     * Starts pinning: with {@code split} the calling thread (the producer) to CPU 0 and every other thread to CPU 1;
     * else every thread to CPU 0.
     *
     * @throws IllegalStateException with {@code split} on a host with fewer than 2 CPUs, or when the producer
     *         cannot be pinned
     */
    CpuPinning(boolean split) throws IOException {
        if (split && Runtime.getRuntime().availableProcessors() < 2) {
            throw new IllegalStateException("split pinning needs 2 CPUs: the producer on CPU 0, the rest on CPU 1");
        }
        // The caller's kernel thread id: /proc/thread-self links to <pid>/task/<tid>. (Not the process id: the
        // launcher runs main() on a thread of its own.)
        mainTid = Long.parseLong(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
        cpu0.set(ValueLayout.JAVA_LONG, 0, 1L);
        cpu1.set(ValueLayout.JAVA_LONG, 0, split ? 2L : 1L); // (the others' CPU)
        try {
            if ((int) SCHED_GETAFFINITY.invokeExact(0, 128L, before) < 0) {
                throw new IllegalStateException("sched_getaffinity failed");
            }
        } catch (Throwable t) {
            throw t instanceof IllegalStateException e ? e : new IllegalStateException(t);
        }
        setAll(false); // before the first measurement; fails loudly if the host refuses
        pinner = Thread.ofPlatform().daemon().name("cpu-pinning").start(this::loop);
    }

    private void loop() {
        while (!stop) {
            try {
                setAll(false);
                Thread.sleep(PERIOD_MS);
            } catch (IOException | RuntimeException e) {
                // a thread that ended between the listing and the call: the next pass goes on
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Sets every thread's CPUs: pinned, or (restore) back to what the process had. */
    private void setAll(boolean restore) throws IOException {
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path p : tasks) {
                int tid = Integer.parseInt(p.getFileName().toString());
                MemorySegment mask = restore ? before : tid == mainTid ? cpu0 : cpu1;
                int rc;
                try {
                    rc = (int) SCHED_SETAFFINITY.invokeExact(tid, 128L, mask);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
                if (rc != 0 && tid == mainTid) {
                    throw new IllegalStateException("sched_setaffinity refused to pin the producer");
                }
            }
        }
    }

    /** Stops pinning and gives every thread back the CPUs the process had. */
    @Override
    public void close() throws InterruptedException, IOException {
        stop = true;
        pinner.join(TimeUnit.SECONDS.toMillis(1));
        try {
            setAll(true);
        } finally {
            arena.close();
        }
    }
}
