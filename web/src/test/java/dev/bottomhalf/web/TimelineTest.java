package dev.bottomhalf.web;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.runtime.Tracepoint;

class TimelineTest {
    private final HitRing ring = new HitRing(64);
    private final Timeline timeline = new Timeline(ring, 2);

    @Test
    void outermostSpans_goToTheLaneOfTheContextThatRanThem_andInnerOnesAreInsideThem() {
        ring.hit(Tracepoint.IRQ_HANDLER_ENTRY, 1_000, 0, "cpu/0", "irq=24 name=eth0");
        ring.hit(Tracepoint.SOFTIRQ_RAISE, 1_500, 0, "cpu/0", "vec=3 [action=NET_RX]");
        ring.hit(Tracepoint.IRQ_HANDLER_EXIT, 2_000, 0, "cpu/0", "irq=24 ret=handled");
        ring.hit(Tracepoint.SOFTIRQ_ENTRY, 2_000, 0, "cpu/0", "vec=6 [action=TASKLET]");
        ring.hit(Tracepoint.TASKLET_ENTRY, 2_100, 0, "cpu/0", "tasklet=rx-stats");
        ring.hit(Tracepoint.TASKLET_EXIT, 2_900, 0, "cpu/0", "tasklet=rx-stats");
        ring.hit(Tracepoint.SOFTIRQ_EXIT, 3_000, 0, "cpu/0", "vec=6 [action=TASKLET]");
        ring.hit(Tracepoint.SOFTIRQ_ENTRY, 5_000, 1, "ksoftirqd/1", "vec=3 [action=NET_RX]");
        ring.hit(Tracepoint.SOFTIRQ_EXIT, 6_000, 1, "ksoftirqd/1", "vec=3 [action=NET_RX]");
        ring.hit(Tracepoint.WORKQUEUE_EXECUTE_START, 7_000, 1, "kworker/1:0", "work struct refill: function refill");
        ring.hit(Tracepoint.WORKQUEUE_EXECUTE_END, 9_000, 1, "kworker/1:0", "work struct refill: function refill");
        ring.hit(Tracepoint.SOFTIRQ_RAISE, 9_500, 1, "irq/30-slow", "vec=0 [action=HI]");
        ring.hit(Tracepoint.WORKQUEUE_QUEUE_WORK, 9_600, 0, "main", "work struct=w function=w workqueue=events req_cpu=0 cpu=0");
        ring.hit(Tracepoint.SOFTIRQ_RAISE, 9_700, -1, "outsider", "vec=0 [action=HI]");
        timeline.drain();
        assertEquals(List.of(
                "cpu0 hardirq span irq 24: eth0 1000..2000 x1",
                "cpu0 hardirq instant softirq_raise NET_RX 1500..1500 x1",
                "cpu0 softirq span softirq TASKLET 2000..3000 x1",
                "cpu1 ksoftirqd span softirq NET_RX 5000..6000 x1",
                "cpu1 kworker span work refill 7000..9000 x1",
                "cpu1 irq thread instant softirq_raise HI 9500..9500 x1",
                "cpu0 task instant workqueue_queue_work w 9600..9600 x1"), segments());
        assertEquals(4, timeline.spans());
        assertEquals(3, timeline.instants());
        assertEquals(1, timeline.outsideHits());
    }

    @Test
    void spansOfALaneLessThanAMillisecondApart_areOneSegment_andAnExitWithoutItsEntryIsCounted() {
        ring.hit(Tracepoint.SOFTIRQ_EXIT, 500, 0, "cpu/0", "vec=3 [action=NET_RX]");
        for (int i = 0; i < 3; i++) {
            long t = 1_000_000 + i * 900_000L;
            ring.hit(Tracepoint.SOFTIRQ_ENTRY, t, 0, "cpu/0", "vec=3 [action=NET_RX]");
            ring.hit(Tracepoint.SOFTIRQ_EXIT, t + 50_000, 0, "cpu/0", "vec=3 [action=NET_RX]");
        }
        ring.hit(Tracepoint.SOFTIRQ_ENTRY, 10_000_000, 0, "cpu/0", "vec=3 [action=NET_RX]");
        ring.hit(Tracepoint.SOFTIRQ_EXIT, 10_050_000, 0, "cpu/0", "vec=3 [action=NET_RX]");
        timeline.drain();
        assertEquals(List.of("cpu0 softirq span softirq NET_RX 1000000..2850000 x3",
                "cpu0 softirq span softirq NET_RX 10000000..10050000 x1"), segments());
        assertEquals(1, timeline.unmatchedExits());
    }

    @Test
    void aFullRing_dropsAndCountsTheHits_andTakesNewOnesOnceDrained() {
        HitRing small = new HitRing(3);
        assertEquals(4, small.capacity(), "rounded up to a power of two");
        for (int i = 0; i < 6; i++) {
            small.hit(Tracepoint.SOFTIRQ_RAISE, i, 0, "cpu/0", "vec=3 [action=NET_RX]");
        }
        assertEquals(4, small.accepted());
        assertEquals(2, small.dropped());
        List<Long> times = new ArrayList<>();
        assertEquals(4, small.drain(h -> times.add(h.timeNs())));
        assertEquals(List.of(0L, 1L, 2L, 3L), times);
        small.hit(Tracepoint.SOFTIRQ_RAISE, 9, 0, "cpu/0", "vec=3 [action=NET_RX]");
        assertEquals(1, small.drain(h -> times.add(h.timeNs())));
        assertEquals(9L, times.getLast());
        assertEquals(2, small.dropped());
    }

    private List<String> segments() {
        List<String> out = new ArrayList<>();
        timeline.takeSegments(s -> out.add("cpu" + s.cpu + " " + s.lane.label + " " + (s.instant ? "instant " : "span ")
                + s.name + " " + s.startNs + ".." + s.endNs + " x" + s.count));
        out.sort(java.util.Comparator.comparingLong(l -> Long.parseLong(l.replaceAll(".* (\\d+)\\.\\..*", "$1"))));
        return out;
    }
}
