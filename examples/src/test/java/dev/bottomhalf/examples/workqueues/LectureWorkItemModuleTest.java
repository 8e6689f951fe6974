package dev.bottomhalf.examples.workqueues;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

class LectureWorkItemModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    @Test
    void insmodThenRmmod_printsWhatTheLectureSays_andTheKernelWarnsAboutFlushingSystemWorkqueues() {
        Kernel kernel = kernels.kernel();
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        LectureWorkItemModule module = new LectureWorkItemModule();
        assertEquals(0, loader.insmod(module));
        loader.rmmod(module);
        List<String> printed = rec.events().stream()
                .filter(e -> e.kind() == KernelEvent.Kind.WARN || e.kind() == KernelEvent.Kind.INFO)
                .map(KernelEvent::message)
                .filter(m -> !m.startsWith("WARNING: Flushing system-wide workqueues")) // the kernel's pr_warn
                .toList();
        assertEquals("Entering module.", printed.get(0));
        assertEquals("Exiting module.", printed.get(printed.size() - 1));
        List<String> middle = printed.subList(1, printed.size() - 1);
        assertEquals(4, middle.size(), printed.toString());
        // The two items run on different workqueues, possibly at the same time: each prints its pair.
        assertEquals(2, middle.stream().filter("doing some work ..."::equals).count());
        assertTrue(middle.contains("parameter is: 42") && middle.contains("parameter is: -42"), middle.toString());
        assertEquals(1, rec.matching("WARNING: Flushing system-wide workqueues will be prohibited in near future.")
                .size(), "flush_scheduled_work() is deprecated, and the kernel says so at run time");
    }
}
