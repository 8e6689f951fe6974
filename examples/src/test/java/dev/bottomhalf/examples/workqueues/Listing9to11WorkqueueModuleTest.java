package dev.bottomhalf.examples.workqueues;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

class Listing9to11WorkqueueModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static List<String> printed(KernelReports rec) {
        return rec.events().stream().filter(e -> e.kind() == KernelEvent.Kind.WARN).map(KernelEvent::message).toList();
    }

    @Test
    void insmodThenRmmod_bothItemsPrintTheirIntegerInOrder_onKworkers_threaded() {
        Kernel kernel = kernels.kernel();
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        Listing9to11WorkqueueModule module = new Listing9to11WorkqueueModule();
        assertEquals(0, loader.insmod(module));
        loader.rmmod(module);                 // flush_workqueue: both handlers have run when it returns
        assertEquals(List.of("my_work.x 1", "my_work.x 2"), printed(rec),
                "create_workqueue is per-CPU with max_active 1: CPU 0's items run one after the other");
        assertTrue(rec.events().stream().allMatch(e -> e.thread().startsWith("kworker/0:")), rec.events().toString());
        assertFalse(kernel.workqueues().workqueues().contains(Listing9to11WorkqueueModule.my_wq), "destroyed");
    }

    @Test
    void insmodThenRmmod_stepped_theFlushRunsTheItems() {
        Kernel kernel = kernels.boot(b -> b.stepped());
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        Listing9to11WorkqueueModule module = new Listing9to11WorkqueueModule();
        loader.insmod(module);
        assertEquals(List.of(), printed(rec), "nothing runs until something steps the kernel");
        loader.rmmod(module);
        assertEquals(List.of("my_work.x 1", "my_work.x 2"), printed(rec));
    }
}
