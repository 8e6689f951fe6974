package dev.bottomhalf.softirq;

/**
 * A softirq handler ({@code void (*action)(void)} since Linux 6.12). Runs in softirq context on the
 * CPU that raised the vector, with IRQs enabled and BH disabled for that CPU; it must not sleep. The
 * same action may run concurrently on different CPUs, never on one CPU twice at once.
 */
@FunctionalInterface
public interface SoftirqAction {
    /** Runs the vector's work, in softirq context on the raising CPU. */
    void run();
}
