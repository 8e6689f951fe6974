/**
 * bottomhalf-blockhound: reports every blocking JDK call made in atomic context of a bottomhalf kernel as the
 * kernel's {@code BUG: sleeping function called from invalid context}, through BlockHound's integration SPI
 * ({@link dev.bottomhalf.blockhound.BottomhalfIntegration}). BlockHound is an automatic module
 * ({@code reactor.blockhound}, from its manifest), so this module requires it by that name; an automatic
 * module reads and may use every service, which is what BlockHound's {@code ServiceLoader} look-up of this
 * module's {@code provides} needs.
 */
module dev.bottomhalf.blockhound {
    requires transitive dev.bottomhalf;
    requires transitive reactor.blockhound;
    requires java.instrument; // the monitor probe's class-file transformer
    requires java.management; // ThreadInfo.getBlockedCount(): did a monitor enter block

    exports dev.bottomhalf.blockhound;

    provides reactor.blockhound.integration.BlockHoundIntegration
            with dev.bottomhalf.blockhound.BottomhalfIntegration;
}
