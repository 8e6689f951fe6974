package dev.bottomhalf.internal.runtime;

import java.lang.invoke.MethodHandles;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelPanic;
import dev.bottomhalf.runtime.ManualClock;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.runtime.Tracing;

/**
 * The members of the exported {@code dev.bottomhalf.runtime} classes that only the runtime's wiring may call —
 * constructors that take a {@link Machine}, the context transitions of {@code irq_enter}/{@code irq_exit} —
 * reached through one bridge that the exported package installs (the pattern of the JDK's
 * {@code SharedSecrets}). Any thread; the bridge is stateless.
 *
 * <p>Implementation notes: {@link ExecutionContext}'s static initializer installs the bridge before anything
 * else; {@link #get()} initializes that class first, so the bridge is set before its first use and the
 * class-initialization lock publishes it.
 */
public final class RuntimeAccess {
    /** What the exported runtime package lends its wiring; implemented there, package-private. */
    public interface Bridge {
        ExecutionContext newContext(Machine machine, ExecutionContext.Role role, String name, Cpu cpu);

        /** Sets (null: removes) the calling task thread's context; returns the one it replaced. */
        ExecutionContext swapThreadContext(ExecutionContext ctx);

        void rebind(ExecutionContext ctx, Cpu cpu);

        void irqEnter(ExecutionContext ctx);

        void irqLeave(ExecutionContext ctx);

        Reports newReports(Machine machine, Reporter reporter);

        void panic(Reports reports, String message, Throwable cause);

        void bugOn(Reports reports, int cpu, String thread, String context, String message, Throwable stack);

        Tracing newTracing(Machine machine);

        KernelPanic newPanic(String reason, Throwable cause);

        IllegalStateException refusal(KernelPanic panic);

        Stepper newStepper(Machine machine);

        boolean drive(Machine machine, BooleanSupplier done, long limitNs, BooleanSupplier mayAdvance);

        /** The machine a context belongs to. */
        Machine machine(ExecutionContext ctx);

        /** The CPU a context runs on. */
        Cpu cpu(ExecutionContext ctx);

        /** The locking layer's per-context state (lockdep's held locks), or null; only the context's thread. */
        Object lockState(ExecutionContext ctx);

        void lockState(ExecutionContext ctx, Object state);

        /** Sets the scheduler hooks of a worker's context ({@code wq_worker_sleeping}/{@code wq_worker_running}). */
        void sleepListener(ExecutionContext ctx, SleepListener listener);

        void sleepStarts(ExecutionContext ctx);

        void sleepEnds(ExecutionContext ctx);

        /** {@code set_current_state(state)}. */
        void setTaskState(ExecutionContext ctx, int state);

        /** {@code try_to_wake_up}'s state check and transition to running; whether it woke the task. */
        boolean wakeUpState(ExecutionContext ctx, int mask);

        void sleepingThread(ExecutionContext ctx, Thread thread);

        /** {@code kthread_bind}: moves a kthread's context to {@code cpu}. */
        void bindKthread(ExecutionContext ctx, Cpu cpu);

        /** The sched layer's task object of a context, or null. */
        Object task(ExecutionContext ctx);

        Object taskIfAbsent(ExecutionContext ctx, Supplier<Object> make);

        /** Sets the count back after a handler leaked a change. */
        void restorePreemptCount(ExecutionContext ctx, int count);

        void enterServingSoftirq(ExecutionContext ctx);

        void leaveServingSoftirq(ExecutionContext ctx);

        boolean forceIrqsEnabled(ExecutionContext ctx);

        boolean forceIrqsDisabled(ExecutionContext ctx);

        void addAdvanceListener(ManualClock clock, LongConsumer listener);

        void removeAdvanceListener(ManualClock clock, LongConsumer listener);
    }

    private static Bridge bridge;

    private RuntimeAccess() {
    }

    /** Called once, by {@link ExecutionContext}'s static initializer. */
    public static synchronized void install(Bridge b) {
        if (bridge != null) {
            throw new IllegalStateException("the runtime bridge is installed already");
        }
        bridge = b;
    }

    /**
     * The bridge; initializes {@link ExecutionContext} (which installs it) on first use. A constant once read:
     * the hot paths (a context's machine and CPU on every call) compile to a direct, inlined call.
     */
    public static Bridge get() {
        return Installed.BRIDGE;
    }

    /**
     * The lazy holder: its {@code static final} field is a constant to the JIT, which a plain static read under
     * a null check (the bridge installed late, by another class's initializer) is not.
     */
    private static final class Installed {
        static final Bridge BRIDGE = load();

        private static Bridge load() {
            try {
                MethodHandles.lookup().ensureInitialized(ExecutionContext.class);
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            }
            synchronized (RuntimeAccess.class) {
                if (bridge == null) {
                    throw new IllegalStateException("the runtime bridge was used before ExecutionContext installed it");
                }
                return bridge;
            }
        }
    }
}
