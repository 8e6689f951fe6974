package dev.bottomhalf.cli;

import java.nio.file.Path;

/**
 * Options of {@code bottomhalf demo}, already validated by {@link DemoCommand}.
 *
 * @param seconds    how long the card receives traffic
 * @param rate       packets per second
 * @param traceLines how many tracepoint hits to print at the end (0: tracing off)
 * @param tempDir    the directory that holds the slow path's summary file while the demo runs
 * @param traceOut   where to write the Chrome Trace Event timeline of the run's tracepoints; null for none
 * @param web        {@code --web}: serve the live view during the run; null for no view
 * @param card       the card: real UDP sockets fed by a sender process, or the simulated one
 * @param size       the UDP card's datagram size in bytes
 * @param deferHardIrqs     the UDP card's {@code napi_defer_hard_irqs}; 0 for no IRQ deferral
 * @param groFlushTimeoutUs the UDP card's {@code gro_flush_timeout} in microseconds; 0 with no deferral
 */
record DemoOptions(int seconds, int rate, int traceLines, Path tempDir, Path traceOut, Web web, Card card,
                   int size, int deferHardIrqs, int groFlushTimeoutUs) {
    /**
     * {@code --web [PORT]}.
     *
     * @param port       the port on 127.0.0.1; 0 for any free port
     * @param untilEnter true when {@code --seconds} was not given: the card receives traffic until Enter is pressed
     */
    record Web(int port, boolean untilEnter) {
    }

    /** The demo's network card. */
    enum Card {
        /** A {@code UdpDevice} receiving real datagrams on 127.0.0.1 from a sender process. */
        UDP,
        /** The simulated card: a device thread fills in-memory rings. */
        SIMULATED
    }
}
