package dev.bottomhalf.examples.timers;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * The simulated sensor behind {@link SensorTimerModule}: each conversion returns a temperature in milli-degrees
 * Celsius, starting at {@code startMilliC} and rising by {@code stepMilliC} per conversion, so a test knows the
 * value of the n-th sample whatever the timing. May be read from any thread (the driver reads it from its timer
 * callback).
 */
public final class SimulatedThermometer implements IntSupplier {
    private final int startMilliC;
    private final int stepMilliC;
    private final AtomicInteger conversions = new AtomicInteger();

    public SimulatedThermometer(int startMilliC, int stepMilliC) {
        this.startMilliC = startMilliC;
        this.stepMilliC = stepMilliC;
    }

    /** One conversion: the next temperature, in milli-degrees Celsius. */
    @Override
    public int getAsInt() {
        return startMilliC + stepMilliC * conversions.getAndIncrement();
    }
}
