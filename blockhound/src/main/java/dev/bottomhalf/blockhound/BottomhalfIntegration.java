package dev.bottomhalf.blockhound;

import java.util.Collections;
import java.util.Set;
import java.util.WeakHashMap;

import reactor.blockhound.BlockHound;
import reactor.blockhound.integration.BlockHoundIntegration;

/**
 * The BlockHound integration of bottomhalf: a blocking JDK call ({@code Thread.sleep}, {@code Object.wait},
 * {@code LockSupport.park*}, blocking file and socket I/O, ...) made by a thread whose bottomhalf context
 * may not sleep — hardirq, softirq, tasklet, timer and hrtimer callbacks, BH-disabled, IRQ-disabled and
 * preemption-disabled sections — is reported through the kernel's own {@code might_sleep()} as
 * {@code BUG: sleeping function called from invalid context at <frame>} and then goes on (the call still
 * blocks, as in the kernel). Applied by BlockHound on any thread, once, while it installs.
 *
 * <p>Enable it with one line, before booting kernels: {@link BottomhalfBlockHound#install()}, or
 * {@code BlockHound.install()} (BlockHound finds this class through {@link java.util.ServiceLoader}), or
 * {@code BlockHound.builder().with(new BottomhalfIntegration()).install()}. The JVM needs
 * {@code -XX:+AllowRedefinitionToAddDeleteMethods} (see the module's documentation for the flags on JDK 25).
 *
 * <p>What it sets on the builder:
 * <ul>
 * <li>every thread is a <em>dynamic</em> thread, so BlockHound asks the non-blocking predicate at each
 * blocking call rather than once per thread: a thread's context changes from call to call;</li>
 * <li>the non-blocking predicate is true while the calling thread's context {@linkplain
 * dev.bottomhalf.runtime.ExecutionContext#inAtomic() is atomic} or has IRQs disabled — exactly the
 * test of {@code might_sleep()}, and nothing else (no thread name, no thread class): a runtime thread
 * parked while idle, a kworker, a threaded IRQ handler or a task are in process context and never
 * match;</li>
 * <li>the callback reports and returns instead of throwing; a blocking call that BlockHound flags for
 * another integration's non-blocking thread (not in bottomhalf's atomic context) still gets BlockHound's
 * {@link reactor.blockhound.BlockingOperationError}.</li>
 * </ul>
 *
 * <p>Implementation notes. {@link #applyTo} is idempotent per builder, so the class may be both found by
 * the {@code ServiceLoader} and passed explicitly. State is static ({@link SleepInAtomic}): BlockHound is
 * installed once per JVM.
 */
public final class BottomhalfIntegration implements BlockHoundIntegration {
    private static final Set<BlockHound.Builder> APPLIED = Collections.synchronizedSet(
            Collections.newSetFromMap(new WeakHashMap<>()));

    /** An integration; BlockHound's {@code ServiceLoader} makes one the same way. */
    public BottomhalfIntegration() {
    }

    @Override
    public void applyTo(BlockHound.Builder builder) {
        BottomhalfBlockHound.requireClassPath();
        if (!APPLIED.add(builder)) {
            return;
        }
        builder.addDynamicThreadPredicate(SleepInAtomic::anyThread)
                .nonBlockingThreadPredicate(current -> current.or(SleepInAtomic::mayNotSleep))
                .blockingMethodCallback(SleepInAtomic::blockingCall);
    }
}
