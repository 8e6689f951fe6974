package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.testing.KernelExtension;

class TracingTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    @Test
    void irqAndSoftirqTracepoints_recordInOrder_withTheKernelsFields() {
        Kernel k = kernels.kernel();
        Stepper s = k.stepper();
        TraceBuffer buf = new TraceBuffer(64);
        k.tracing().enableAll(buf);
        k.softirqs().open(SoftirqVector.NET_RX, () -> { });
        k.irqs().request(9, (irq, dev) -> {
            k.softirqs().raise(SoftirqVector.NET_RX);
            return IrqReturn.HANDLED;
        }, Set.of(), "eth0", "e");
        k.irqs().setAffinity(9, 1);
        k.irqs().assertIrq(9);
        s.hardirq(1);
        List<String> lines = buf.entries().stream()
                .map(e -> e.comm() + " [" + e.cpu() + "] " + e.point().eventName() + ": " + e.detail()).toList();
        assertEquals(List.of(
                "cpu/1 [1] irq_handler_entry: irq=9 name=eth0",
                "cpu/1 [1] softirq_raise: vec=3 [action=NET_RX]",
                "cpu/1 [1] irq_handler_exit: irq=9 ret=handled",
                "cpu/1 [1] softirq_entry: vec=3 [action=NET_RX]",
                "cpu/1 [1] softirq_exit: vec=3 [action=NET_RX]"), lines);
        assertTrue(buf.render().contains("           cpu/1 [001]      0.000000: softirq_entry: vec=3 [action=NET_RX]"),
                buf.render());
    }

    @Test
    void disabledTracepoints_recordNothing_andSelectedOnesOnlyThemselves() {
        Kernel k = kernels.boot(b -> b.cpus(1));
        TraceBuffer buf = new TraceBuffer(8);
        k.softirqs().open(SoftirqVector.TIMER, () -> { });
        var task = k.bindCurrentThread(0);
        k.tracing().enable(buf, Set.of(Tracepoint.SOFTIRQ_ENTRY));
        task.localBhDisable();
        k.softirqs().raise(SoftirqVector.TIMER);
        task.localBhEnable();
        assertEquals(List.of(Tracepoint.SOFTIRQ_ENTRY), buf.entries().stream().map(TraceBuffer.Entry::point).toList());
        k.tracing().disable();
        task.localBhDisable();
        k.softirqs().raise(SoftirqVector.TIMER);
        task.localBhEnable();
        assertEquals(1, buf.entries().size());
    }

    @Test
    void taskletTracepoints_bracketTheCallback() {
        Kernel k = kernels.boot(b -> b.cpus(1));
        TraceBuffer buf = new TraceBuffer(16);
        var task = k.bindCurrentThread(0);
        k.tracing().enable(buf, Set.of(Tracepoint.TASKLET_ENTRY, Tracepoint.TASKLET_EXIT));
        var t = dev.bottomhalf.tasklet.Tasklet.setup("rollup", me -> { });
        task.localBhDisable();
        k.tasklets().schedule(t);
        task.localBhEnable();
        assertEquals(List.of("tasklet_entry: tasklet=rollup", "tasklet_exit: tasklet=rollup"),
                buf.entries().stream().map(e -> e.point().eventName() + ": " + e.detail()).toList());
    }

    @Test
    void ring_keepsTheNewestEntries() {
        TraceBuffer buf = new TraceBuffer(2);
        for (int i = 0; i < 5; i++) {
            buf.hit(Tracepoint.SOFTIRQ_RAISE, i, 0, "t", "n=" + i);
        }
        assertEquals(List.of("n=3", "n=4"), buf.entries().stream().map(TraceBuffer.Entry::detail).toList());
        assertEquals(3, buf.overwritten());
    }
}
