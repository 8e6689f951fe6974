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
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

class WorkQueueInterfaceModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static final String FLUSH_WARNING = "WARNING: Flushing system-wide workqueues will be prohibited in near"
            + " future.";

    /** The module's printk lines (KERN_WARNING, the default level), without the kernel's own flush warning. */
    private static List<String> printed(KernelReports rec) {
        return rec.events().stream().filter(e -> e.kind() == KernelEvent.Kind.WARN)
                .map(KernelEvent::message).filter(m -> !m.equals(FLUSH_WARNING)).toList();
    }

    @Test
    void delayedWorkRunsFiveSecondsLater_thenUnloadHasNothingToCancel_stepped() {
        Kernel kernel = kernels.boot(b -> b.cpus(1).stepped());
        KernelReports rec = kernels.reports();
        rec.expect("WARNING: Flushing system-wide workqueues will be prohibited");   // rmmod's flush_scheduled_work()
        Stepper s = kernel.stepper();
        ModuleLoader loader = new ModuleLoader(kernel);
        WorkQueueInterfaceModule module = new WorkQueueInterfaceModule();
        loader.insmod(module);
        s.runUntilIdle();
        assertEquals(List.of("my_workqueue_handler: running in process context"), printed(rec));
        s.advanceJiffies(5L * kernel.hz());
        s.runUntilIdle();
        assertEquals(List.of("my_workqueue_handler: running in process context"), printed(rec),
                "5*HZ lands on level 3 of the wheel: it fires on the next 512-jiffy boundary, not before");
        s.advanceJiffies(512);
        s.runUntilIdle();
        assertEquals(List.of("my_workqueue_handler: running in process context",
                "my_delayed_handler: five seconds later"), printed(rec));
        loader.rmmod(module);
        assertFalse(module.cancelled, "nothing was waiting any more: cancel_delayed_work returns 0");
    }

    @Test
    void unloadBeforeTheDelayIsUp_cancelsTheDelayedWork_whichNeverRuns_threaded() throws InterruptedException {
        Kernel kernel = kernels.kernel();
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        WorkQueueInterfaceModule module = new WorkQueueInterfaceModule();
        loader.insmod(module);
        loader.rmmod(module);
        assertTrue(module.cancelled, "the delay was not up: cancel_delayed_work returns nonzero");
        assertEquals(List.of("my_workqueue_handler: running in process context"), printed(rec));
        assertEquals(1, rec.matching(FLUSH_WARNING).size(), "flush_scheduled_work() at unload: pr_warn, as 6.12");
        assertFalse(module.my_delayed_work.isPending());
    }
}
