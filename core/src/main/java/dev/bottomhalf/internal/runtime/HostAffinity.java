package dev.bottomhalf.internal.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Pins the calling thread to one host core with {@code sched_setaffinity(2)} through the FFM API.
 * Stateless apart from the looked-up function; thread-safe.
 *
 * <p>Where the host has no such call (not Linux), native access is denied, or the call fails, pinning
 * reports why and everything runs unpinned.
 */
@SuppressWarnings("restricted")
final class HostAffinity {
    /** {@code sizeof(cpu_set_t)} in glibc: 1024 bits. */
    private static final int CPU_SET_BYTES = 128;

    private final MethodHandle setAffinity;
    private final String unavailableReason;

    HostAffinity() {
        MethodHandle handle = null;
        String reason = null;
        try {
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> symbol = linker.defaultLookup().find("sched_setaffinity");
            if (symbol.isEmpty()) {
                reason = "sched_setaffinity is not available on this host";
            } else {
                handle = linker.downcallHandle(symbol.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
            }
        } catch (RuntimeException | LinkageError e) {
            reason = "native access unavailable (" + e + "); run with --enable-native-access=ALL-UNNAMED";
        }
        this.setAffinity = handle;
        this.unavailableReason = reason;
    }

    /**
     * Pins the calling thread to {@code hostCore}.
     *
     * @return null on success, else why it did not happen
     */
    String pinCurrentThread(int hostCore) {
        if (setAffinity == null) {
            return unavailableReason;
        }
        if (hostCore < 0 || hostCore >= CPU_SET_BYTES * 8) {
            return "host core " + hostCore + " is outside cpu_set_t";
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(CPU_SET_BYTES);
            int byteIndex = hostCore / 8;
            mask.set(ValueLayout.JAVA_BYTE, byteIndex, (byte) (1 << (hostCore % 8)));
            int rc = (int) setAffinity.invokeExact(0, (long) CPU_SET_BYTES, mask);
            return rc == 0 ? null : "sched_setaffinity returned " + rc;
        } catch (Throwable t) {
            return "sched_setaffinity failed: " + t;
        }
    }
}
