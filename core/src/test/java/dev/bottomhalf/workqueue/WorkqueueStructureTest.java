package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/**
 * The ownership rules of docs/subsystems/workqueue.md ("Structure: who owns what"), read from the compiled
 * classes: nothing below {@link Workqueues} calls back into it but the idle cull's public {@code queue_work},
 * and a pool's, a pool-workqueue's and a worker's fields are written only by the classes that own them.
 */
class WorkqueueStructureTest {
    /** The classes below the public routing. */
    private static final List<Class<?>> INTERNALS = List.of(WorkerPools.class, WorkerPool.class,
            PoolWorkqueue.class, Worker.class, WorkqueueFlush.class, WorkqueueWatchdog.class, Rescuer.class);

    private static ClassModel model(Class<?> c) throws IOException {
        try (InputStream in = c.getResourceAsStream(c.getSimpleName() + ".class")) {
            return ClassFile.of().parse(in.readAllBytes());
        }
    }

    private static String internalName(Class<?> c) {
        return c.getName().replace('.', '/');
    }

    /** "Caller.method -> Owner.member" for every instruction of {@code c} that matches. */
    private static List<String> uses(Class<?> c, Class<?> target, boolean writesOnly) throws IOException {
        List<String> found = new ArrayList<>();
        String owner = internalName(target);
        for (MethodModel m : model(c).methods()) {
            m.code().ifPresent(code -> {
                for (CodeElement e : code) {
                    if (!writesOnly && e instanceof InvokeInstruction i && i.owner().asInternalName().equals(owner)) {
                        found.add(c.getSimpleName() + "." + m.methodName().stringValue() + " -> " + i.name().stringValue());
                    } else if (writesOnly && e instanceof FieldInstruction f && f.opcode() == Opcode.PUTFIELD
                            && f.owner().asInternalName().equals(owner)) {
                        found.add(c.getSimpleName() + "." + m.methodName().stringValue() + " -> " + f.name().stringValue());
                    }
                }
            });
        }
        return found;
    }

    @Test
    void internals_callBackIntoWorkqueues_onlyForTheIdleCullsPublicQueueWork() throws IOException {
        List<String> calls = new ArrayList<>();
        for (Class<?> c : INTERNALS) {
            calls.addAll(uses(c, Workqueues.class, false));
        }
        Set<String> allowed = Set.of("WorkerPools.idleWorkerTimeout -> queue", "WorkerPools.idleWorkerTimeout -> queueOn",
                "WorkerPools.idleWorkerTimeout -> systemUnboundWq", "WorkerPools.idleWorkerTimeout -> systemWq");
        calls.removeIf(allowed::contains);
        assertEquals(List.of(), calls);
    }

    @Test
    void poolFields_areWrittenOnlyByWorkerPool() throws IOException {
        assertEquals(List.of(), writersOutside(WorkerPool.class, Set.of(WorkerPool.class)));
    }

    @Test
    void poolWorkqueueFields_areWrittenOnlyByPoolWorkqueueAndItsPool() throws IOException {
        // (The pool counts its items' run statistics and concurrency-management wake-ups under its lock.)
        assertEquals(List.of(), writersOutside(PoolWorkqueue.class, Set.of(PoolWorkqueue.class, WorkerPool.class)));
    }

    @Test
    void workerFields_areWrittenOnlyByWorkerAndItsPool() throws IOException {
        assertEquals(List.of(), writersOutside(Worker.class, Set.of(Worker.class, WorkerPool.class)));
    }

    @Test
    void theCheck_seesWrites() throws IOException {
        // The rule can fail: the pool itself writes its fields, and a write is seen as one.
        assertTrue(uses(WorkerPool.class, WorkerPool.class, true).stream().anyMatch(u -> u.endsWith("-> nrRunning")));
    }

    /** Writes to {@code target}'s fields by package classes other than {@code owners} (constructors included). */
    private static List<String> writersOutside(Class<?> target, Set<Class<?>> owners) throws IOException {
        List<String> writes = new ArrayList<>();
        for (Class<?> c : List.of(WorkerPools.class, WorkerPool.class, PoolWorkqueue.class, Worker.class,
                WorkqueueFlush.class, WorkqueueWatchdog.class, WorkqueueHelpers.class, Rescuer.class, Workqueues.class,
                Workqueue.class, Work.class)) {
            if (!owners.contains(c)) {
                writes.addAll(uses(c, target, true));
            }
        }
        return writes;
    }
}
