/**
 * bottomhalf-micrometer: every counter of a bottomhalf kernel as Micrometer meters
 * ({@link dev.bottomhalf.micrometer.BottomhalfMetrics}, a {@code MeterBinder}), read from one
 * {@code KernelSnapshot} per scrape. Micrometer's core is an automatic module ({@code micrometer.core}, from its
 * manifest), so this module requires it by that name; both are required transitively, since the binder's API
 * speaks of {@code Kernel}, {@code MeterRegistry} and {@code Tag}.
 */
module dev.bottomhalf.micrometer {
    requires transitive dev.bottomhalf;
    requires transitive micrometer.core;

    exports dev.bottomhalf.micrometer;
}
