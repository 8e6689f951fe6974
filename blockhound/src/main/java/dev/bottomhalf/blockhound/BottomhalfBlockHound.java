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
     *         (BlockHound installs once per JVM, so its checks cannot be added afterwards), or when BlockHound
     *         is on the module path (see {@link #requireClassPath()})
     */
    public static void install() {
        requireClassPath();
        BlockHound.install(new BottomhalfIntegration());
        if (!isInstalled()) {
            throw new IllegalStateException("BlockHound was installed before without the bottomhalf integration:"
                    + " install it with BottomhalfBlockHound.install() or BlockHound.install() (which finds"
                    + " the integration through ServiceLoader) before anything else installs BlockHound");
        }
    }

    /**
     * Fails unless BlockHound is on the class path. BlockHound puts its runtime class into the boot class
     * path, where the instrumented JDK methods find it; from the class path the application loader delegates
     * to the boot loader and sees that same class, but a named {@code reactor.blockhound} module (its jar on
     * the module path) defines its own copy, BlockHound configures that copy, and the JDK's instrumented
     * methods then fail on the unconfigured one. So BlockHound and this module go on the class path; core
     * may be on either.
     *
     * @throws IllegalStateException when BlockHound is loaded as a named module
     */
    static void requireClassPath() {
        if (BlockHound.class.getModule().isNamed()) {
            throw new IllegalStateException("BlockHound is on the module path (module "
                    + BlockHound.class.getModule().getName() + "): it only works from the class path, where its"
                    + " runtime class is the boot loader's; put blockhound and bottomhalf-blockhound on the class"
                    + " path");
        }
    }

    /**
     * Whether BlockHound runs with the bottomhalf integration in this JVM.
     *
     * @return true once installed in this JVM
     */
    public static boolean isInstalled() {
        return SleepInAtomic.installed();
    }
}
