package dev.bottomhalf.blockhound;

import reactor.blockhound.BlockHound;

/**
 * The one-line switch: {@code BottomhalfBlockHound.install()} installs BlockHound with
 * {@link BottomhalfIntegration} (and any other integration its {@code ServiceLoader} finds). Any thread;
 * call it once, at start-up, before booting kernels.
 *
 * <p>Nothing in bottomhalf's core refers to BlockHound or to this module: without it installed, no check
 * runs anywhere, and core's hot paths are the same bytecode.
 */
public final class BottomhalfBlockHound {
    private BottomhalfBlockHound() {
    }

    /**
     * Installs BlockHound with the bottomhalf integration. A second call does nothing.
     *
     * @throws IllegalStateException when BlockHound had been installed before without this integration
     *         (BlockHound installs once per JVM, so its checks cannot be added afterwards)
     */
    public static void install() {
        BlockHound.install(new BottomhalfIntegration());
        if (!isInstalled()) {
            throw new IllegalStateException("BlockHound was installed before without the bottomhalf integration:"
                    + " install it with BottomhalfBlockHound.install() or BlockHound.install() (which finds"
                    + " the integration through ServiceLoader) before anything else installs BlockHound");
        }
    }

    /** Whether BlockHound runs with the bottomhalf integration in this JVM. */
    public static boolean isInstalled() {
        return SleepInAtomic.installed();
    }
}
