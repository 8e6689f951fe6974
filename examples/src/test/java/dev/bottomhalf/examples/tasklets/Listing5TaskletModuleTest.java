package dev.bottomhalf.examples.tasklets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

class Listing5TaskletModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static List<String> printed(KernelReports rec) {
        return rec.events().stream().filter(e -> e.kind() == KernelEvent.Kind.WARN).map(KernelEvent::message).toList();
    }

    @Test
    void insmodThenRmmod_printsTheTaskletDataOnce_threaded() {
        Kernel kernel = kernels.kernel();
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        Listing5TaskletModule module = new Listing5TaskletModule();
        assertEquals(0, loader.insmod(module));
        loader.rmmod(module);               // tasklet_kill waits until the scheduled tasklet has run
        assertEquals(List.of("my_tasklet_function was called"), printed(rec));
        assertFalse(module.my_tasklet.isScheduled());
        KernelEvent e = rec.events().get(0);
        assertEquals("ksoftirqd/0", e.thread(), "scheduled from process context: run by ksoftirqd/0");
    }

    @Test
    void insmodThenRmmod_stepped_runsTheTaskletBeforeKillReturns() {
        Kernel kernel = kernels.boot(b -> b.stepped());
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        Listing5TaskletModule module = new Listing5TaskletModule();
        loader.insmod(module);
        assertEquals(List.of(), printed(rec), "nothing runs until a CPU is stepped");
        loader.rmmod(module);
        assertEquals(List.of("my_tasklet_function was called"), printed(rec));
    }
}
