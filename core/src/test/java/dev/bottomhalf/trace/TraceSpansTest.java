package dev.bottomhalf.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.TraceSink;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.trace.TraceSpans.Mark;
import dev.bottomhalf.trace.TraceSpans.Role;

class TraceSpansTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(1);

    @Test
    void classify_namesEachEntryExitAndInstant_withItsSpanKeyAndFlowKey() {
        assertEquals(new Mark(Role.ENTRY, "irq:24: eth0", null),
                TraceSpans.classify(Tracepoint.IRQ_HANDLER_ENTRY, 0, "irq=24 name=eth0"));
        assertEquals(new Mark(Role.EXIT, "irq:24: ", null),
                TraceSpans.classify(Tracepoint.IRQ_HANDLER_EXIT, 0, "irq=24 ret=handled"));
        assertEquals(new Mark(Role.INSTANT, "softirq:NET_RX", "softirq:1:3"),
                TraceSpans.classify(Tracepoint.SOFTIRQ_RAISE, 1, "vec=3 [action=NET_RX]"));
        assertEquals(new Mark(Role.ENTRY, "softirq:NET_RX", "softirq:1:3"),
                TraceSpans.classify(Tracepoint.SOFTIRQ_ENTRY, 1, "vec=3 [action=NET_RX]"));
        assertEquals(new Mark(Role.ENTRY, "work:rx-refill", "work:rx-refill"),
                TraceSpans.classify(Tracepoint.WORKQUEUE_EXECUTE_START, 0, "work struct rx-refill: function rx-refill"));
        assertEquals(new Mark(Role.INSTANT, "napi:eth0", null),
                TraceSpans.classify(Tracepoint.NAPI_POLL, 0, "napi poll on napi struct n0 for device eth0 work 3 budget 64"));
        Mark m = TraceSpans.classify(Tracepoint.TASKLET_ENTRY, 0, "tasklet=rx-stats");
        assertEquals("tasklet", m.kind());
        assertEquals("tasklet rx-stats", m.name());
        assertEquals("irq", TraceSpans.categoryOf(m.key()));
        assertEquals("workqueue", TraceSpans.categoryOf("work:w"));
    }

    @Test
    void close_anIrqExit_closesTheInnermostSpanOfItsLine_andTheOnesStillOpenInsideIt() {
        TraceSpans.OpenSpans open = new TraceSpans.OpenSpans();
        List<String> closed = new ArrayList<>();
        TraceSpans.Closer c = (key, startNs, endNs, depth, matched) ->
                closed.add(key + " " + startNs + ".." + endNs + " depth " + depth + (matched ? "" : " (by outer exit)"));
        open.open("irq:24: eth0", 10);
        open.open("softirq:NET_RX", 20);
        assertEquals(2, open.depth());
        assertEquals("softirq:NET_RX", open.innermost());
        assertEquals("irq:24: eth0", open.outermost());
        assertFalse(open.close("tasklet:t", 25, c), "no open span of that key: nothing closes");
        assertTrue(open.close("irq:24: ", 30, c));
        assertEquals(List.of("softirq:NET_RX 20..30 depth 1 (by outer exit)", "irq:24: eth0 10..30 depth 0"), closed);
        assertEquals(0, open.depth());
        assertNull(open.innermost());
        open.open("work:w", 40);
        closed.clear();
        open.closeAll(50, c);
        assertEquals(List.of("work:w 40..50 depth 0 (by outer exit)"), closed);
    }

    @Test
    void replace_givesTracingBackToTheSinkBefore_onlyWhileItsOwnSinkIsCurrent() {
        Kernel k = kernels.kernel();
        TraceSink first = (point, timeNs, cpu, comm, detail) -> { };
        TraceSink second = (point, timeNs, cpu, comm, detail) -> { };
        assertNull(k.tracing().sink());
        assertEquals(Set.of(), k.tracing().enabled());
        k.tracing().enable(first, Set.of(Tracepoint.SOFTIRQ_ENTRY));
        assertEquals(first, k.tracing().sink());
        assertEquals(Set.of(Tracepoint.SOFTIRQ_ENTRY), k.tracing().enabled());
        k.tracing().enableAll(second);
        assertFalse(k.tracing().replace(first, null, Set.of()), "second is current: left alone");
        assertEquals(second, k.tracing().sink());
        assertTrue(k.tracing().replace(second, first, Set.of(Tracepoint.SOFTIRQ_ENTRY)));
        assertEquals(first, k.tracing().sink());
        assertEquals(Set.of(Tracepoint.SOFTIRQ_ENTRY), k.tracing().enabled());
        assertTrue(k.tracing().replace(first, null, Set.of()));
        assertNull(k.tracing().sink());
    }
}
