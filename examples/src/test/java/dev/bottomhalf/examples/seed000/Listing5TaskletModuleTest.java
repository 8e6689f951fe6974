package dev.bottomhalf.examples.seed000;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;

class Listing5TaskletModuleTest {

    private static List<String> printed(Reporter.Recording rec) {
        return rec.events().stream().filter(e -> e.kind() == KernelEvent.Kind.WARN).map(KernelEvent::message).toList();
    }

    @Test
    void insmodThenRmmod_printsTheTaskletDataOnce_threaded() {
        Reporter.Recording rec = Reporter.recording();
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).reporter(rec).build())) {
            ModuleLoader loader = new ModuleLoader(kernel);
            Listing5TaskletModule module = new Listing5TaskletModule();
            assertEquals(0, loader.insmod(module));
            loader.rmmod(module);               // tasklet_kill waits until the scheduled tasklet has run
            assertEquals(List.of("my_tasklet_function was called"), printed(rec));
            assertFalse(module.my_tasklet.isScheduled());
            KernelEvent e = rec.events().get(0);
            assertEquals("ksoftirqd/0", e.thread(), "scheduled from process context: run by ksoftirqd/0");
            kernel.machine().detachCurrentThread();
        }
    }

    @Test
    void insmodThenRmmod_stepped_runsTheTaskletBeforeKillReturns() {
        Reporter.Recording rec = Reporter.recording();
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(rec).build())) {
            ModuleLoader loader = new ModuleLoader(kernel);
            Listing5TaskletModule module = new Listing5TaskletModule();
            loader.insmod(module);
            assertEquals(List.of(), printed(rec), "nothing runs until a CPU is stepped");
            loader.rmmod(module);
            assertEquals(List.of("my_tasklet_function was called"), printed(rec));
            kernel.machine().detachCurrentThread();
        }
    }
}
