package dev.bottomhalf.blockhound;

import java.lang.instrument.Instrumentation;
import java.security.CodeSource;
import java.util.List;
import java.util.Objects;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.Reports;
import reactor.blockhound.BlockingMethod;
import reactor.blockhound.BlockingOperationError;
import reactor.blockhound.shaded.net.bytebuddy.agent.ByteBuddyAgent;

/**
 * The test and the report behind {@link BottomhalfIntegration}: called by BlockHound's instrumentation on
 * the thread that is about to block, from any thread.
 *
 * <p>A blocking call is reported when, and only when, all of these hold:
 * <ol>
 * <li>the calling thread's bottomhalf context may not sleep ({@code preempt_count() != 0} or IRQs disabled:
 * the test of {@code might_sleep()});</li>
 * <li>the call is a sleep: {@code Thread.onSpinWait()} is the kernel's {@code cpu_relax()}, legal in any
 * context, and is let through;</li>
 * <li>the first frame outside the JDK, BlockHound and this module is not in bottomhalf's core: core's own
 * waits are either its sleeping helpers ({@code msleep}, {@code flush_work}, {@code tasklet_kill}, ...),
 * which call {@code might_sleep()} themselves before they block, or legal spins and the runtime's model of
 * one CPU's exclusion (a context waiting for its CPU's BH or IRQ level), which the kernel does not count as
 * sleeping;</li>
 * <li>the call is not made while the kernel delivers a report (a {@link dev.bottomhalf.runtime.Reporter}
 * writing to a log is the kernel's {@code printk}, legal in any context), nor from inside the report this
 * class is making.</li>
 * </ol>
 * The report then goes through {@link ExecutionContext#mightSleep(String, Throwable)}: the same message,
 * fields and rate limit (one report per {@code HZ} jiffies per kernel, shared with core's own
 * {@code might_sleep()} calls) as the kernel's.
 *
 * <p>{@link MonitorProbe} reports a blocked {@code synchronized} block through the same rules
 * ({@link #contendedMonitorEnter}).
 *
 * <p>Implementation notes. No shared mutable state but the {@link #installed} flag (set once, under the
 * class's lock, by the installing thread; volatile) and a per-thread flag marking this module's own work
 * ({@link #inAgent()}); the context is the calling thread's own, read on its own thread, as its confinement
 * requires.
 */
final class SleepInAtomic {
    private static final String BLOCKHOUND_PACKAGE = "reactor.blockhound.";
    /** The frame of BlockHound's check, right above the blocking JDK method. */
    private static final String CHECK_CLASS = "reactor.blockhound.BlockHoundRuntime";
    private static final String CHECK_METHOD = "checkBlocking";
    static final CodeSource SELF_SOURCE = SleepInAtomic.class.getProtectionDomain().getCodeSource();
    private static final Module SELF_MODULE = SleepInAtomic.class.getModule();
    static final Module CORE_MODULE = ExecutionContext.class.getModule();
    static final CodeSource CORE_SOURCE = ExecutionContext.class.getProtectionDomain().getCodeSource();
    private static final StackWalker WALKER = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);
    private static final ThreadLocal<Boolean> AGENT = new ThreadLocal<>();

    private static volatile boolean installed;

    private SleepInAtomic() {
    }

    static boolean installed() {
        return installed;
    }

    /** BlockHound's dynamic-thread predicate: every thread's context can change between two calls. */
    static boolean anyThread(Thread thread) {
        if (!installed) {
            installOnce();
        }
        return true;
    }

    /**
     * BlockHound calls {@link #anyThread} for the first time at the end of its installation, on the installing
     * thread: the integration is installed, and the monitor probe goes in.
     */
    private static synchronized void installOnce() {
        if (installed) {
            return;
        }
        installed = true;
        MonitorProbe.blockedCount(); // initialised here, not on its first use in some handler
        MonitorEnterTransformer.install(instrumentation());
    }

    /** The instrumentation BlockHound installed (its own copy of ByteBuddy's agent keeps it). */
    private static Instrumentation instrumentation() {
        try {
            return ByteBuddyAgent.getInstrumentation();
        } catch (IllegalStateException notByByteBuddy) {
            return ByteBuddyAgent.install(); // BlockHound was given an agent's own instrumentation
        }
    }

    /** BlockHound's non-blocking predicate: {@code thread} is the caller, in a context that may not sleep. */
    static boolean mayNotSleep(Thread thread) {
        if (thread != Thread.currentThread()) {
            return false;
        }
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        return ctx != null && (ctx.inAtomic() || ctx.irqsDisabled());
    }

    /** BlockHound's callback: the calling thread is about to make {@code method}, a blocking call. */
    static void blockingCall(BlockingMethod method) {
        if (!mayNotSleep(Thread.currentThread())) {
            // Another integration's non-blocking thread: BlockHound's own behaviour.
            throw new BlockingOperationError(method);
        }
        if ("java.lang.Thread".equals(method.getClassName()) && "onSpinWait".equals(method.getName())) {
            return; // cpu_relax()
        }
        report(method.toString(), CHECK_CLASS, CHECK_METHOD);
    }

    /**
     * {@link MonitorProbe}'s report: the calling thread, in a context that may not sleep, has just blocked
     * entering {@code monitor} in the method that called {@link MonitorProbe#after()}.
     */
    static void contendedMonitorEnter(Object monitor) {
        report("monitorenter " + monitor.getClass().getName() + "@" + Integer.toHexString(
                System.identityHashCode(monitor)) + " (contended)", MonitorProbe.class.getName(), "after");
    }

    /**
     * Whether the calling thread is inside this module's own work (a report being made, a probe reading its
     * counters): blocking calls made there are the agent's, not the caller's.
     */
    static boolean inAgent() {
        return AGENT.get() != null;
    }

    static void enterAgent() {
        AGENT.set(Boolean.TRUE);
    }

    static void leaveAgent() {
        AGENT.remove();
    }

    /**
     * Reports a sleep of {@code what} at the caller's frame unless the rules of the class comment let it
     * through. {@code startClass.startMethod} is the frame right above the blocking one.
     */
    private static void report(String what, String startClass, String startMethod) {
        if (inAgent()) {
            return;
        }
        List<StackWalker.StackFrame> frames = WALKER.walk(s -> s.toList());
        int blockingFrame = -1;
        StackWalker.StackFrame caller = null;
        for (int i = 0; i < frames.size(); i++) {
            StackWalker.StackFrame f = frames.get(i);
            Class<?> c = f.getDeclaringClass();
            if (c == Reports.class) {
                return; // printk
            }
            if (blockingFrame < 0) {
                if (startClass.equals(f.getClassName()) && startMethod.equals(f.getMethodName())) {
                    blockingFrame = i + 1;
                }
            } else if (caller == null && !isJdk(c) && !isAgent(c)) {
                if (isCore(c)) {
                    return; // the kernel's own wait: see the class comment
                }
                caller = f;
            }
        }
        if (caller == null) {
            return; // no caller outside the JDK to blame
        }
        StackTraceElement[] stack = frames.subList(blockingFrame, frames.size()).stream()
                .map(StackWalker.StackFrame::toStackTraceElement).toArray(StackTraceElement[]::new);
        Throwable trace = new Throwable(what);
        trace.setStackTrace(stack);
        enterAgent();
        try {
            ExecutionContext.currentOrNull().mightSleep(frame(caller), trace);
        } finally {
            leaveAgent();
        }
    }

    /** The frame as the report names it: {@code class.method(File.java:line)}. */
    static String frame(StackWalker.StackFrame f) {
        String file = f.getFileName();
        int line = f.getLineNumber();
        return f.getClassName() + "." + f.getMethodName() + "("
                + (file == null ? "Unknown Source" : line >= 0 ? file + ":" + line : file) + ")";
    }

    private static boolean isJdk(Class<?> c) {
        ClassLoader loader = c.getClassLoader();
        return loader == null || loader == ClassLoader.getPlatformClassLoader();
    }

    /** BlockHound's classes and this module's own (not its tests, which have a code source of their own). */
    static boolean isAgent(Class<?> c) {
        return c.getName().startsWith(BLOCKHOUND_PACKAGE) || isIn(c, SELF_MODULE, SELF_SOURCE);
    }

    /** bottomhalf's core: the module {@code dev.bottomhalf}, or its jar (classes folder) on the class path. */
    static boolean isCore(Class<?> c) {
        return isIn(c, CORE_MODULE, CORE_SOURCE);
    }

    static boolean isIn(Class<?> c, Module module, CodeSource source) {
        if (module.isNamed()) {
            return c.getModule() == module;
        }
        return source != null && Objects.equals(c.getProtectionDomain().getCodeSource(), source);
    }
}
