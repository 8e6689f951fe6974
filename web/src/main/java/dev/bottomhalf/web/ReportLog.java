package dev.bottomhalf.web;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;

/**
 * A {@link Reporter} that keeps the kernel's most recent reports for a {@link WebView} and passes every report on
 * to another reporter. A kernel's reporter is fixed when it boots, so to see the reports' texts in the view, boot
 * the kernel with one and hand it to the view's builder ({@link WebView.Builder#reports(ReportLog)}); without it the
 * view shows the report counts only. {@link #report} may be called from any thread and any context, concurrently;
 * the other methods from any thread.
 *
 * <p>Implementation notes: {@link #report} is a short synchronized append to a bounded deque (the oldest report
 * goes when it is full), then the call to the next reporter outside the lock.
 */
public final class ReportLog implements Reporter {
    /** How many reports {@link #forwardingTo(Reporter)} keeps. */
    public static final int DEFAULT_CAPACITY = 100;

    /**
     * One kept report.
     *
     * @param seq   its number: 1 for the first report the log received
     * @param event the report
     */
    public record Entry(long seq, KernelEvent event) {
    }

    private final Reporter next;
    private final int capacity;
    private final ArrayDeque<Entry> entries;
    private long seq;

    private ReportLog(Reporter next, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1: " + capacity);
        }
        this.next = Objects.requireNonNull(next, "next");
        this.capacity = capacity;
        this.entries = new ArrayDeque<>(capacity);
    }

    /**
     * A log of the last {@link #DEFAULT_CAPACITY} reports that passes every report on to {@code next}
     * ({@link Reporter#systemLogger()}, a {@link Reporter.Recording}, ...). Any thread.
     *
     * @param next the reporter that receives every report too
     * @return the log, empty
     */
    public static ReportLog forwardingTo(Reporter next) {
        return new ReportLog(next, DEFAULT_CAPACITY);
    }

    /**
     * A log of the last {@code capacity} reports that passes every report on to {@code next}. Any thread.
     *
     * @param next     the reporter that receives every report too
     * @param capacity how many reports to keep, at least 1
     * @return the log, empty
     * @throws IllegalArgumentException when {@code capacity} is below 1
     */
    public static ReportLog forwardingTo(Reporter next, int capacity) {
        return new ReportLog(next, capacity);
    }

    @Override
    public void report(KernelEvent event) {
        synchronized (this) {
            if (entries.size() == capacity) {
                entries.pollFirst();
            }
            entries.addLast(new Entry(++seq, event));
        }
        next.report(event);
    }

    /**
     * The kept reports, oldest first. Any thread.
     *
     * @return a copy
     */
    public synchronized List<Entry> entries() {
        return new ArrayList<>(entries);
    }

    /**
     * How many reports the log has received. Any thread.
     *
     * @return the count, kept or not
     */
    public synchronized long received() {
        return seq;
    }
}
