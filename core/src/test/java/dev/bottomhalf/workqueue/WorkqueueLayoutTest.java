package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.openjdk.jol.info.ClassLayout;
import org.openjdk.jol.info.FieldLayout;

/**
 * The layout that keeps what a lock-free producer reads on every {@code queue_work} off the cache lines the worker
 * writes (the "Layout" notes of {@link PoolWorkqueue} and {@link WorkerPool}): the identity fields start at least a
 * cache line into the object, so no line holding them reaches back into the object allocated just before, and at
 * least a cache line separates them from the first field of the class proper. Field offsets as this JVM lays them
 * out (JOL); a field that HotSpot moved into a hole of the padding, or padding that shrank, fails here.
 */
class WorkqueueLayoutTest {
    private static final int CACHE_LINE = 64;

    private static void assertIsolated(Class<?> type, Class<?> identity, Class<?> padBefore, Class<?> padAfter) {
        List<FieldLayout> fields = List.copyOf(ClassLayout.parseClass(type).fields());
        long identityStart = Long.MAX_VALUE;
        long identityEnd = 0;
        long ownStart = Long.MAX_VALUE;
        for (FieldLayout f : fields) {
            if (f.hostClass().equals(identity.getName())) {
                identityStart = Math.min(identityStart, f.offset());
                identityEnd = Math.max(identityEnd, f.offset() + f.size());
            } else if (f.hostClass().equals(type.getName())) {
                ownStart = Math.min(ownStart, f.offset());
            } else {
                assertTrue(f.hostClass().equals(padBefore.getName()) || f.hostClass().equals(padAfter.getName()),
                        "a field of an unexpected class: " + f);
            }
        }
        assertFalse(identityStart == Long.MAX_VALUE || ownStart == Long.MAX_VALUE, "fields found: " + fields);
        String layout = ClassLayout.parseClass(type).toPrintable();
        assertTrue(identityStart >= CACHE_LINE, type.getSimpleName() + ": the identity starts at " + identityStart
                + ", within a cache line of the object allocated before\n" + layout);
        assertTrue(ownStart - identityEnd >= CACHE_LINE, type.getSimpleName() + ": the identity ends at " + identityEnd
                + " and the first mutable field is at " + ownStart + "\n" + layout);
        for (FieldLayout f : fields) {
            boolean own = f.hostClass().equals(type.getName());
            assertFalse(own && f.offset() < identityEnd, "a field of " + type.getSimpleName() + " in a hole before"
                    + " or among the identity's: " + f + "\n" + layout);
        }
    }

    @Test
    void aPoolWorkqueuesIdentity_isACacheLineAwayFromItsCountersAndFromThePreviousObject() {
        assertIsolated(PoolWorkqueue.class, PoolWorkqueueIdentity.class, CacheLinePad.class,
                PoolWorkqueuePadAfter.class);
    }

    @Test
    void aPoolsIdentity_isACacheLineAwayFromItsLockedStateAndFromThePreviousObject() {
        assertIsolated(WorkerPool.class, WorkerPoolIdentity.class, CacheLinePad.class, WorkerPoolPadAfter.class);
    }
}
