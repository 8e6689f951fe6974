/**
 * Sleeping in atomic context, JDK-wide: an optional BlockHound integration that reports every blocking JDK
 * call — {@code Thread.sleep}, {@code Object.wait}, {@code LockSupport.park*}, blocking file and socket I/O,
 * and (through {@link dev.bottomhalf.blockhound.MonitorProbe}) a {@code synchronized} block whose monitor
 * enter blocks — made where a bottomhalf context may not sleep, as the kernel's
 * {@code BUG: sleeping function called from invalid context at <frame>}, through core's own
 * {@code might_sleep()} ({@link dev.bottomhalf.runtime.ExecutionContext#mightSleep(String, Throwable)}).
 *
 * <p>One line enables it: {@link dev.bottomhalf.blockhound.BottomhalfBlockHound#install()}. The JVM needs
 * {@code -XX:+AllowRedefinitionToAddDeleteMethods}; on JDK 25 {@code -XX:+EnableDynamicAgentLoading},
 * {@code --sun-misc-unsafe-memory-access=allow} and {@code -Xshare:off} silence the JVM's warnings about
 * what BlockHound does, and {@code -Dnet.bytebuddy.experimental=true} is not needed. BlockHound and this
 * module go on the class path (see the module descriptor).
 *
 * <p>Core does not depend on this package or on BlockHound: without the integration installed nothing is
 * instrumented and core's hot paths run the same bytecode.
 */
package dev.bottomhalf.blockhound;
