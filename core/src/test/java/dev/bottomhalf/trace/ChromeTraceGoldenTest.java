package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * The timeline of a small stepped scenario, compared with the committed golden file. Run with
 * {@code -Dbottomhalf.golden.update=true} to rewrite the golden file after a deliberate change of the format
 * (then review its diff).
 */
class ChromeTraceGoldenTest {
    static final Path GOLDEN = Path.of("src/test/resources/dev/bottomhalf/trace/stepped-timeline.json");

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(1);

    /**
     * IRQ 24's top half (2 µs) raises NET_RX, schedules the tasklet rx-stats and pushes the watchdog timer two
     * jiffies ahead; at irq_exit NET_RX (10 µs) and the tasklet (5 µs) run, and the tasklet queues the work item
     * rx-refill, which a kworker runs (20 µs); two jiffies later the watchdog (3 µs) expires in the TIMER softirq.
     */
    static ChromeTraceExporter steppedScenario(Kernel k) {
        Stepper s = k.stepper();
        ChromeTraceExporter exporter = ChromeTraceExporter.attach(k, 256);
        Workqueue wq = k.workqueues().alloc("eth0_refill", 0, 0);
        Work refill = new Work("rx-refill", w -> s.advance(20, TimeUnit.MICROSECONDS));
        Tasklet stats = Tasklet.setup("rx-stats", t -> {
            s.advance(5, TimeUnit.MICROSECONDS);
            k.workqueues().queue(wq, refill);
        });
        TimerList watchdog = TimerList.setup("eth0-watchdog", t -> s.advance(3, TimeUnit.MICROSECONDS), 0);
        k.softirqs().open(SoftirqVector.NET_RX, () -> s.advance(10, TimeUnit.MICROSECONDS));
        k.irqs().request(24, (irq, dev) -> {
            s.advance(2, TimeUnit.MICROSECONDS);
            k.softirqs().raise(SoftirqVector.NET_RX);
            k.tasklets().schedule(stats);
            k.timers().mod(watchdog, k.jiffies() + 2);
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0", "eth0");
        s.advance(100, TimeUnit.MICROSECONDS);
        k.irqs().assertIrq(24);
        s.hardirq(0);
        s.runUntilIdle();
        s.runFor(3 * TimeUnit.SECONDS.toNanos(1) / k.hz(), TimeUnit.NANOSECONDS); // three ticks
        k.tracing().disable();
        return exporter;
    }

    @Test
    void steppedScenario_exportsTheGoldenTimeline() throws IOException {
        String json = steppedScenario(kernels.kernel()).toJson();
        if (Boolean.getBoolean("bottomhalf.golden.update")) {
            Files.writeString(GOLDEN, json, StandardCharsets.UTF_8);
        }
        assertEquals(Files.readString(GOLDEN, StandardCharsets.UTF_8), json);
    }

    @Test
    void goldenTimeline_followsTheFormat_andLinksEachRunToItsCause() throws IOException {
        List<Map<String, Object>> events = ChromeTraceFormatTest.validate(Files.readString(GOLDEN, StandardCharsets.UTF_8));
        assertEquals(5, ChromeTraceFormatTest.count(events, "f", ""),
                "NET_RX, TASKLET and TIMER from their raises, the work item from its queueing, the timer from its start");
    }
}
