package dev.bottomhalf.examples.tasklets;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

class LectureTaskletModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2);

    private static List<String> printed(KernelReports rec) {
        return rec.events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO).map(KernelEvent::message).toList();
    }

    @Test
    void stepped_hiFirst_thenTheEnabledOne_theDisabledOneOnlyAfterEnable() {
        Kernel kernel = kernels.boot(b -> b.stepped());
        KernelReports rec = kernels.reports();
        Stepper stepper = kernel.stepper();
        ModuleLoader loader = new ModuleLoader(kernel);
        LectureTaskletModule module = new LectureTaskletModule();
        assertEquals(0, loader.insmod(module));
        stepper.run("ksoftirqd/0");          // scheduled from process context: ksoftirqd/0 runs them
        assertEquals(List.of("dynamic: data 42", "static, enabled: cpu 0, in softirq true"), printed(rec));
        module.enable_disabled_tasklet();
        stepper.runUntilIdleOrRounds(20);
        assertEquals(List.of("dynamic: data 42", "static, enabled: cpu 0, in softirq true",
                "static, disabled until enabled: cpu 0, in softirq true"), printed(rec));
        loader.rmmod(module);
        assertEquals(3, printed(rec).size(), "kill does not run anything again");
    }

    @Test
    void threaded_everyTaskletRunsOnce_afterEnableAndKill() {
        Kernel kernel = kernels.kernel();
        KernelReports rec = kernels.reports();
        ModuleLoader loader = new ModuleLoader(kernel);
        LectureTaskletModule module = new LectureTaskletModule();
        loader.insmod(module);
        module.enable_disabled_tasklet();
        loader.rmmod(module);                 // each kill waits for its scheduled tasklet to have run
        List<String> out = printed(rec);
        assertEquals(3, out.size(), out.toString());
        assertEquals(true, out.contains("dynamic: data 42"));
        assertEquals(true, out.contains("static, enabled: cpu 0, in softirq true"));
        assertEquals(true, out.contains("static, disabled until enabled: cpu 0, in softirq true"));
    }
}
