package dev.bottomhalf.web;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

import dev.bottomhalf.trace.TraceSpans;

/**
 * The per-CPU context timeline of the web view: drains the {@link HitRing}, pairs entry and exit hits into spans
 * with {@link TraceSpans} (per emitting thread) and turns the outermost span of each thread into a segment on its
 * CPU's lane for the context that ran it; instants (raises, queueings, timer starts) become ticks on the same lanes.
 * Used by the view's sampler thread only.
 *
 * <p>Implementation notes: nothing here is shared; the ring is the only meeting point with the kernel's threads.
 * What it keeps is bounded: a segment per lane being extended, at most {@link #MAX_SEGMENTS} finished segments
 * waiting for the next frame (older ones are dropped and counted), at most {@link #MAX_DEPTH} open spans per thread
 * and {@link #MAX_THREADS} threads with open spans (beyond either, the thread's open spans are given up and counted
 * as lost). Consecutive spans of a lane less than {@link #MERGE_GAP_NS} apart are merged into one segment that
 * counts them: the page draws 5 s on about a thousand pixels, so a pixel is 5 ms.
 */
final class Timeline {
    /** Who ran a segment, one lane per CPU each. */
    enum Lane {
        /** A hard-IRQ handler or a cross-CPU call on {@code cpu/N}. */
        HARDIRQ("hardirq"),
        /** Softirqs (and the tasklets, timers and BH work in them) run by {@code cpu/N} at irq_exit. */
        SOFTIRQ("softirq"),
        /** Softirqs run by {@code ksoftirqd/N}. */
        KSOFTIRQD("ksoftirqd"),
        /** Work items run by a kworker. */
        KWORKER("kworker"),
        /** What an {@code irq/L-name} thread emitted (softirqs at its local_bh_enable, raises). */
        IRQ_THREAD("irq thread"),
        /** Any other thread of the kernel: a task (softirqs at its local_bh_enable, raises, queueings), a kthread. */
        TASK("task");

        final String label;

        Lane(String label) {
            this.label = label;
        }
    }

    /** Spans of one lane closer than this are drawn as one segment. */
    static final long MERGE_GAP_NS = 1_000_000;
    /** Finished segments kept for the next frame at most. */
    static final int MAX_SEGMENTS = 8_000;
    /** Open spans kept per thread at most. */
    static final int MAX_DEPTH = 64;
    /** Threads with open spans kept at most. */
    static final int MAX_THREADS = 4_096;

    /** A lane's stretch of activity: merged spans (or instants). */
    static final class Segment {
        final int cpu;
        final Lane lane;
        final boolean instant;
        final String name;
        long startNs;
        long endNs;
        int count;

        Segment(int cpu, Lane lane, boolean instant, String name, long startNs, long endNs) {
            this.cpu = cpu;
            this.lane = lane;
            this.instant = instant;
            this.name = name;
            this.startNs = startNs;
            this.endNs = endNs;
            this.count = 1;
        }
    }

    private static final TraceSpans.Closer IGNORE = (key, startNs, endNs, depth, matched) -> { };

    private final HitRing ring;
    private final int cpus;
    private final Map<String, TraceSpans.OpenSpans> threads = new HashMap<>();
    private final Segment[] growing;
    private final ArrayDeque<Segment> finished = new ArrayDeque<>();
    private long spans;
    private long instants;
    private long unmatchedExits;
    private long lostOpenSpans;
    private long segmentsDropped;
    private long outsideHits;

    Timeline(HitRing ring, int cpus) {
        this.ring = ring;
        this.cpus = cpus;
        this.growing = new Segment[cpus * Lane.values().length * 2];
    }

    /** Takes every hit the ring holds. */
    void drain() {
        ring.drain(this::accept);
    }

    private void accept(HitRing.Hit h) {
        int cpu = h.cpu();
        if (cpu < 0 || cpu >= cpus) {
            outsideHits++;                     // a thread outside the kernel: no CPU lane
            return;
        }
        TraceSpans.Mark mark = TraceSpans.classify(h.point(), cpu, h.detail());
        String thread = cpu + "\u0000" + h.comm();
        switch (mark.role()) {
            case ENTRY -> {
                TraceSpans.OpenSpans open = threads.get(thread);
                if (open == null) {
                    if (threads.size() >= MAX_THREADS) {
                        giveUpAll(h.timeNs());
                    }
                    open = new TraceSpans.OpenSpans();
                    threads.put(thread, open);
                }
                if (open.depth() >= MAX_DEPTH) {
                    lostOpenSpans += open.depth();
                    open.closeAll(h.timeNs(), IGNORE);
                }
                open.open(mark.key(), h.timeNs());
            }
            case EXIT -> {
                TraceSpans.OpenSpans open = threads.get(thread);
                boolean closed = open != null && open.close(mark.key(), h.timeNs(), (key, startNs, endNs, depth, matched) -> {
                    if (depth == 0) {
                        spans++;
                        add(cpu, lane(h.comm(), kindOf(key)), false, TraceSpans.nameOf(key), startNs, endNs);
                    }
                });
                if (!closed) {
                    unmatchedExits++;           // its entry was dropped, or came before the view attached
                } else if (open.depth() == 0) {
                    threads.remove(thread);
                }
            }
            case INSTANT -> {
                TraceSpans.OpenSpans open = threads.get(thread);
                String context = open == null ? null : open.outermost();
                instants++;
                String subject = mark.key().substring(mark.key().indexOf(':') + 1);
                add(cpu, lane(h.comm(), context == null ? null : kindOf(context)), true,
                        h.point().eventName() + (subject.isEmpty() ? "" : " " + subject), h.timeNs(), h.timeNs());
            }
            default -> throw new AssertionError(mark.role());
        }
    }

    private void giveUpAll(long nowNs) {
        for (TraceSpans.OpenSpans open : threads.values()) {
            lostOpenSpans += open.depth();
            open.closeAll(nowNs, IGNORE);
        }
        threads.clear();
    }

    private static String kindOf(String key) {
        return key.substring(0, key.indexOf(':'));
    }

    /** The lane of a thread's activity: by the thread's name, and on {@code cpu/N} by its outermost span's kind. */
    static Lane lane(String comm, String outermostKind) {
        if (comm.startsWith("ksoftirqd/")) {
            return Lane.KSOFTIRQD;
        } else if (comm.startsWith("kworker/")) {
            return Lane.KWORKER;
        } else if (comm.startsWith("irq/")) {
            return Lane.IRQ_THREAD;
        } else if (comm.startsWith("cpu/")) {
            return outermostKind == null || outermostKind.equals("irq") || outermostKind.equals("csd")
                    ? Lane.HARDIRQ : Lane.SOFTIRQ;
        }
        return Lane.TASK;
    }

    private void add(int cpu, Lane lane, boolean instant, String name, long startNs, long endNs) {
        int i = (cpu * Lane.values().length + lane.ordinal()) * 2 + (instant ? 1 : 0);
        Segment s = growing[i];
        if (s != null && startNs <= s.endNs + MERGE_GAP_NS && endNs >= s.startNs - MERGE_GAP_NS) {
            s.startNs = Math.min(s.startNs, startNs);
            s.endNs = Math.max(s.endNs, endNs);
            s.count++;
            return;
        }
        if (s != null) {
            finish(s);
        }
        growing[i] = new Segment(cpu, lane, instant, name, startNs, endNs);
    }

    private void finish(Segment s) {
        if (finished.size() >= MAX_SEGMENTS) {
            finished.pollFirst();
            segmentsDropped++;
        }
        finished.addLast(s);
    }

    /**
     * Hands every segment to {@code out} (the growing ones too: a frame cuts them) and forgets them.
     *
     * @param out receives the segments, oldest first per lane
     */
    void takeSegments(java.util.function.Consumer<Segment> out) {
        for (int i = 0; i < growing.length; i++) {
            if (growing[i] != null) {
                finish(growing[i]);
                growing[i] = null;
            }
        }
        while (!finished.isEmpty()) {
            out.accept(finished.pollFirst());
        }
    }

    long spans() {
        return spans;
    }

    long instants() {
        return instants;
    }

    long unmatchedExits() {
        return unmatchedExits;
    }

    long lostOpenSpans() {
        return lostOpenSpans;
    }

    long segmentsDropped() {
        return segmentsDropped;
    }

    long outsideHits() {
        return outsideHits;
    }
}
