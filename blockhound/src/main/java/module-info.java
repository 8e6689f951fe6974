/**
 * bottomhalf-blockhound: reports every blocking JDK call made in atomic context of a bottomhalf kernel as the
 * kernel's {@code BUG: sleeping function called from invalid context}, through BlockHound's integration SPI
 * ({@link dev.bottomhalf.blockhound.BottomhalfIntegration}). BlockHound is an automatic module
 * ({@code reactor.blockhound}, from its manifest), so this module requires it by that name; an automatic
 * module reads and may use every service, which is what BlockHound's {@code ServiceLoader} look-up of this
 * module's {@code provides} needs.
 *
 * <p>The descriptor compiles and states the dependencies, but BlockHound 1.0.13 itself does not run from
 * the module path: it injects its runtime class into the boot class path for the instrumented JDK methods,
 * and a named {@code reactor.blockhound} module defines a second copy of that class, which is the one
 * BlockHound configures. At run time BlockHound and this jar go on the class path (where this descriptor is
 * ignored and {@code META-INF/services} registers the integration); bottomhalf's core may stay on the module
 * path ({@code --add-modules dev.bottomhalf}). {@link dev.bottomhalf.blockhound.BottomhalfBlockHound#install()}
 * says so when it finds BlockHound on the module path.
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
