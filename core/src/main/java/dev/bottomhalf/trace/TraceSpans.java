package dev.bottomhalf.trace;

import java.util.ArrayDeque;
import java.util.Deque;

import dev.bottomhalf.runtime.Tracepoint;

/**
 * How tracepoint hits pair into spans, for every reader of the hits that draws a timeline: which hit opens a span,
 * which closes one and which is an instant ({@link #classify}), the span's key and display name, and the open
 * spans of one emitting thread that match an exit to its entry ({@link OpenSpans}). {@link ChromeTraceExporter}
 * and the live web view ({@code bottomhalf-web}) pair hits with it. The static methods may be called from any
 * thread; an {@link OpenSpans} belongs to one reader thread.
 *
 * <p>A span's key is {@code <kind>:<subject>}: {@code irq:24: eth0} (a hard-IRQ handler: line and handler name),
 * {@code softirq:NET_RX}, {@code tasklet:rx-stats}, {@code timer:eth0-watchdog}, {@code hrtimer:pacer},
 * {@code work:rx-refill}, {@code csd:<func>}. An IRQ handler's exit names the line but not the handler, so its key
 * is {@code irq:24: } and it closes the innermost open span whose key starts with it.
 */
public final class TraceSpans {
    private TraceSpans() {
    }

    /** What a hit is to a timeline. */
    public enum Role {
        /** It opens a span: a handler, vector, tasklet, callback, work item or cross-CPU call begins. */
        ENTRY,
        /** It closes the innermost open span of its key on its thread. */
        EXIT,
        /** It has no duration: a raise, a timer start or cancel, a queued or activated work item, a NAPI poll. */
        INSTANT
    }

    /**
     * What one hit is to a timeline.
     *
     * @param role whether it opens a span, closes one or is an instant
     * @param key  the span's key ({@code <kind>:<subject>}); for an instant, the key of the span it concerns
     *             ({@code softirq:NET_RX} for a raise) or {@code <event name>:} when it concerns none
     * @param flow for an instant that causes a later run (a raise, a queueing, a timer start), the key that run's
     *             entry carries, so a reader can draw an arrow from one to the other; for that entry, the same key;
     *             null otherwise ({@code softirq:<cpu>:<vec>}, {@code work:<name>}, {@code timer:<name>},
     *             {@code hrtimer:<name>})
     */
    public record Mark(Role role, String key, String flow) {
        /**
         * The span's kind: {@code irq}, {@code softirq}, {@code tasklet}, {@code timer}, {@code hrtimer},
         * {@code work}, {@code csd}, {@code napi}, or an instant's event name.
         *
         * @return the part of the key before its first colon
         */
        public String kind() {
            return key.substring(0, key.indexOf(':'));
        }

        /**
         * The span's display name: {@code irq 24: eth0}, {@code softirq NET_RX}, {@code work rx-refill}.
         *
         * @return the name
         */
        public String name() {
            return nameOf(key);
        }
    }

    /**
     * What a hit of {@code point} with the fields {@code detail} is to a timeline. Any thread.
     *
     * @param point  the tracepoint
     * @param cpu    the CPU of the emitting context (a softirq's flow key is per CPU)
     * @param detail the hit's fields, as the tracepoint formats them
     * @return its role, span key and flow key
     */
    public static Mark classify(Tracepoint point, int cpu, String detail) {
        String d = detail;
        return switch (point) {
            case IRQ_HANDLER_ENTRY -> new Mark(Role.ENTRY,
                    "irq:" + between(d, "irq=", " name=") + ": " + after(d, " name="), null);
            case IRQ_HANDLER_EXIT -> new Mark(Role.EXIT, "irq:" + between(d, "irq=", " ret=") + ": ", null);
            case SOFTIRQ_RAISE, SOFTIRQ_ENTRY, SOFTIRQ_EXIT -> {
                String vec = between(d, "vec=", " ");
                Role role = point == Tracepoint.SOFTIRQ_RAISE ? Role.INSTANT
                        : point == Tracepoint.SOFTIRQ_ENTRY ? Role.ENTRY : Role.EXIT;
                yield new Mark(role, "softirq:" + between(d, "[action=", "]"),
                        vec == null ? null : "softirq:" + cpu + ":" + vec);
            }
            case TASKLET_ENTRY, TASKLET_EXIT -> new Mark(
                    point == Tracepoint.TASKLET_ENTRY ? Role.ENTRY : Role.EXIT, "tasklet:" + after(d, "tasklet="), null);
            case CSD_FUNCTION_ENTRY, CSD_FUNCTION_EXIT -> new Mark(
                    point == Tracepoint.CSD_FUNCTION_ENTRY ? Role.ENTRY : Role.EXIT, "csd:" + after(d, "func="), null);
            case TIMER_START, TIMER_EXPIRE_ENTRY -> {
                String name = between(d, "timer=", " function=");
                String key = "timer:" + name;
                yield new Mark(point == Tracepoint.TIMER_START ? Role.INSTANT : Role.ENTRY, key,
                        name == null ? null : key);
            }
            case TIMER_EXPIRE_EXIT, TIMER_CANCEL -> new Mark(
                    point == Tracepoint.TIMER_EXPIRE_EXIT ? Role.EXIT : Role.INSTANT, "timer:" + after(d, "timer="), null);
            case HRTIMER_START, HRTIMER_EXPIRE_ENTRY -> {
                String name = between(d, "hrtimer=", " function=");
                String key = "hrtimer:" + name;
                yield new Mark(point == Tracepoint.HRTIMER_START ? Role.INSTANT : Role.ENTRY, key,
                        name == null ? null : key);
            }
            case HRTIMER_EXPIRE_EXIT, HRTIMER_CANCEL -> new Mark(
                    point == Tracepoint.HRTIMER_EXPIRE_EXIT ? Role.EXIT : Role.INSTANT,
                    "hrtimer:" + after(d, "hrtimer="), null);
            case WORKQUEUE_QUEUE_WORK -> {
                String name = between(d, "work struct=", " function=");
                String key = "work:" + name;
                yield new Mark(Role.INSTANT, key, name == null ? null : key);
            }
            case WORKQUEUE_ACTIVATE_WORK -> new Mark(Role.INSTANT, "work:" + after(d, "work struct "), null);
            case WORKQUEUE_EXECUTE_START, WORKQUEUE_EXECUTE_END -> {
                String name = between(d, "work struct ", ": function ");
                String key = "work:" + name;
                yield new Mark(point == Tracepoint.WORKQUEUE_EXECUTE_START ? Role.ENTRY : Role.EXIT, key,
                        name == null ? null : key);
            }
            case NAPI_POLL -> new Mark(Role.INSTANT, "napi:" + between(d, " for device ", " work "), null);
            default -> new Mark(Role.INSTANT, point.eventName() + ":", null);
        };
    }

    /**
     * A span key's display name: {@code irq:24: eth0} → {@code irq 24: eth0}. Any thread.
     *
     * @param key a span key
     * @return the key with its first colon turned into a space
     */
    public static String nameOf(String key) {
        int colon = key.indexOf(':');
        return key.substring(0, colon) + " " + key.substring(colon + 1);
    }

    /**
     * The tracepoint system a span key's kind belongs to: {@code irq} (hard IRQs, softirqs, tasklets),
     * {@code timer} (timers and hrtimers), {@code workqueue}, or the kind itself. Any thread.
     *
     * @param key a span key
     * @return the category
     */
    public static String categoryOf(String key) {
        String kind = key.substring(0, key.indexOf(':'));
        return switch (kind) {
            case "irq", "softirq", "tasklet" -> "irq";
            case "timer", "hrtimer" -> "timer";
            case "work" -> "workqueue";
            default -> kind;
        };
    }

    /** Receives the spans an {@link OpenSpans} closes. */
    @FunctionalInterface
    public interface Closer {
        /**
         * One span closed.
         *
         * @param key     the span's key (the entry's)
         * @param startNs when it opened
         * @param endNs   when it closed
         * @param depth   how many spans enclosed it on its thread (0: outermost)
         * @param matched true when its own exit closed it; false when an enclosing span's exit did, or
         *                {@link OpenSpans#closeAll}
         */
        void closed(String key, long startNs, long endNs, int depth, boolean matched);
    }

    /**
     * The open spans of one emitting thread (one CPU and thread name), innermost first. Used by one reader thread;
     * not thread-safe.
     */
    public static final class OpenSpans {
        private final Deque<String> keys = new ArrayDeque<>();
        private final Deque<Long> starts = new ArrayDeque<>();

        /** An empty stack. */
        public OpenSpans() {
        }

        /**
         * Opens a span inside the ones open.
         *
         * @param key     the entry's span key
         * @param startNs when it opened
         */
        public void open(String key, long startNs) {
            keys.push(key);
            starts.push(startNs);
        }

        /**
         * How many spans are open.
         *
         * @return the depth; 0 when none is open
         */
        public int depth() {
            return keys.size();
        }

        /**
         * The key of the innermost open span.
         *
         * @return the key, or null when none is open
         */
        public String innermost() {
            return keys.peek();
        }

        /**
         * The key of the outermost open span.
         *
         * @return the key, or null when none is open
         */
        public String outermost() {
            return keys.peekLast();
        }

        /**
         * An exit: closes the innermost open span of {@code exitKey} (for an IRQ handler's exit, the innermost
         * whose key starts with it) and, first, every span still open inside it (closed by this outer exit).
         * Nothing happens when no open span matches (the entry was not seen: tracing began mid-way).
         *
         * @param exitKey the exit's span key
         * @param endNs   when it closed
         * @param closer  receives each closed span, innermost first
         * @return false when no open span matched
         */
        public boolean close(String exitKey, long endNs, Closer closer) {
            boolean irq = exitKey.startsWith("irq:");
            int inside = 0;
            boolean found = false;
            for (String open : keys) {
                if (irq ? open.startsWith(exitKey) : open.equals(exitKey)) {
                    found = true;
                    break;
                }
                inside++;
            }
            if (!found) {
                return false;
            }
            for (int i = 0; i <= inside; i++) {
                String key = keys.pop();
                long start = starts.pop();
                closer.closed(key, start, endNs, keys.size(), i == inside);
            }
            return true;
        }

        /**
         * Closes every open span, innermost first, as not matched (the trace ends, or the reader gives the
         * thread's spans up).
         *
         * @param endNs  when they close
         * @param closer receives each closed span
         */
        public void closeAll(long endNs, Closer closer) {
            while (!keys.isEmpty()) {
                String key = keys.pop();
                long start = starts.pop();
                closer.closed(key, start, endNs, keys.size(), false);
            }
        }
    }

    /** The text between {@code start} and the first {@code end} after it; null when either is missing. */
    private static String between(String s, String start, String end) {
        int a = s.indexOf(start);
        if (a < 0) {
            return null;
        }
        a += start.length();
        int b = s.indexOf(end, a);
        return b < 0 ? null : s.substring(a, b);
    }

    private static String after(String s, String start) {
        int a = s.indexOf(start);
        return a < 0 ? null : s.substring(a + start.length());
    }
}
