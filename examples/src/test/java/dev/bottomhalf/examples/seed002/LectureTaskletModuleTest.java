package dev.bottomhalf.examples.seed002;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Stepper;

class LectureTaskletModuleTest {

    private static List<String> printed(Reporter.Recording rec) {
        return rec.events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO).map(KernelEvent::message).toList();
    }

    @Test
    void stepped_hiFirst_thenTheEnabledOne_theDisabledOneOnlyAfterEnable() {
        Reporter.Recording rec = Reporter.recording();
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(rec).build())) {
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
            kernel.machine().detachCurrentThread();
        }
    }

    @Test
    void threaded_everyTaskletRunsOnce_afterEnableAndKill() {
        Reporter.Recording rec = Reporter.recording();
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).reporter(rec).build())) {
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
            kernel.machine().detachCurrentThread();
        }
    }
}
