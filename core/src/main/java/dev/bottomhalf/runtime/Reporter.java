package dev.bottomhalf.runtime;

import java.util.ArrayList;
import java.util.List;

/**
 * Receives the kernel's reports ({@link KernelEvent}). Called from any runtime or task thread,
 * concurrently: implementations must be thread-safe and should return quickly (a report is made on
 * the path that found the problem, possibly in hardirq context).
 */
@FunctionalInterface
public interface Reporter {
    /**
     * Receives one report; from any thread, concurrently, possibly in hardirq context.
     *
     * @param event the report
     */
    void report(KernelEvent event);

    /**
     * The default reporter: each event goes to the {@link System.Logger} named
     * {@code dev.bottomhalf.kernel}, WARNING/BUG/OOPS/EMERG/ERR at level ERROR, WARN at WARNING,
     * NOTICE/INFO at INFO.
     *
     * @return the reporter, shared
     */
    static Reporter systemLogger() {
        return LoggerReporter.INSTANCE;
    }

    /**
     * A reporter that keeps every event in memory, for tests and the CLI.
     *
     * @return a new, empty recording
     */
    static Recording recording() {
        return new Recording();
    }

    /**
     * Discards everything (counters in {@link Reports} still count).
     *
     * @return the reporter
     */
    static Reporter silent() {
        return event -> { };
    }

    /** Keeps every event; thread-safe. */
    final class Recording implements Reporter {
        private final List<KernelEvent> events = new ArrayList<>();

        Recording() {
        }

        @Override
        public synchronized void report(KernelEvent event) {
            events.add(event);
        }

        /**
         * A snapshot of the events so far, in report order.
         *
         * @return the events, a copy
         */
        public synchronized List<KernelEvent> events() {
            return List.copyOf(events);
        }

        /**
         * The events whose message contains {@code text}.
         *
         * @param text the text to look for
         * @return the matching events, in report order
         */
        public synchronized List<KernelEvent> matching(String text) {
            return events.stream().filter(e -> e.message().contains(text)).toList();
        }

        /**
         * The events of one kind.
         *
         * @param kind the kind
         * @return the events of that kind, in report order
         */
        public synchronized List<KernelEvent> ofKind(KernelEvent.Kind kind) {
            return events.stream().filter(e -> e.kind() == kind).toList();
        }

        /** Forgets the events recorded so far. */
        public synchronized void clear() {
            events.clear();
        }

        @Override
        public synchronized String toString() {
            StringBuilder sb = new StringBuilder();
            for (KernelEvent e : events) {
                sb.append(e).append('\n');
            }
            return sb.toString();
        }
    }
}

/** See {@link Reporter#systemLogger()}. */
final class LoggerReporter implements Reporter {
    static final LoggerReporter INSTANCE = new LoggerReporter();
    private final System.Logger logger = System.getLogger("dev.bottomhalf.kernel");

    private LoggerReporter() {
    }

    @Override
    public void report(KernelEvent e) {
        System.Logger.Level level = switch (e.kind()) {
            case WARNING, BUG, OOPS, EMERG, ERR -> System.Logger.Level.ERROR;
            case WARN -> System.Logger.Level.WARNING;
            case NOTICE, INFO -> System.Logger.Level.INFO;
        };
        if (e.cause() != null && e.kind() == KernelEvent.Kind.OOPS) {
            logger.log(level, e.toString(), e.cause());
        } else {
            logger.log(level, e.toString());
        }
    }
}
