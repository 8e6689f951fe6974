package dev.bottomhalf.testing;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.Internals;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;
import org.opentest4j.AssertionFailedError;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.KernelThread;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.internal.runtime.SteppedScheduler;
import dev.bottomhalf.runtime.Stepper;

/**
 * A JUnit 5 extension that supplies kernels to a test and, after it, closes them and checks that nothing
 * leaked. Its configuration methods are called where it is registered; its kernel methods from the test
 * thread, during a test (its {@code @BeforeEach}, test and {@code @AfterEach} methods).
 *
 * <pre>{@code
 * @RegisterExtension
 * final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
 *
 * @Test
 * void unbalancedBhEnable_warns() {
 *     Kernel kernel = kernels.kernel();          // booted on first use, with a recording reporter
 *     kernel.context().localBhEnable();
 *     assertEquals(1, kernels.reports().matching("local_bh_enable() without local_bh_disable()").size());
 * }
 * }</pre>
 * With {@code @ExtendWith(KernelExtension.class)} it supplies a stepped kernel with 2 CPUs as a
 * parameter: test and lifecycle methods may declare {@link Kernel}, {@link Stepper} and
 * {@link KernelReports} parameters (those of the test's first kernel).
 *
 * <p>Every kernel it boots reports to a fresh {@link Reporter#recording()}, which the test reads through
 * {@link #reports()} ({@link KernelReports} says how a test declares the reports it expects). A test may
 * boot more kernels with {@link #boot(Consumer)} (or {@link #bootThreaded(Consumer)}); the first kernel
 * booted, by {@link #kernel()} or by {@code boot}, is the test's kernel. After each test — passed or failed — the extension, for
 * every kernel it booted, newest first:
 * <ol>
 * <li>releases the test thread's task context on that kernel (the library attaches a thread that calls it
 * implicitly; a context left in atomic context — BH or IRQs disabled, preemption disabled — is a failure,
 * and it is reset first);</li>
 * <li>closes the kernel (a test may have closed it already: close is idempotent);</li>
 * <li>fails the test if a runtime thread of the kernel — a {@link KernelThread} of its machine, or a
 * thread of its {@link SteppedScheduler} — is still alive {@link #threadGracePeriod a grace period} after
 * close returned, listing the threads with their stacks (unless the test is marked
 * {@link KnownThreadLeak});</li>
 * <li>fails the test if the test thread is still bound to a closed kernel (for example one the test
 * booted itself), and detaches it so that the next test starts clean;</li>
 * <li>fails the test for every WARNING, BUG or OOPS report it did not account for, and for every expected
 * report that never came.</li>
 * </ol>
 * All the failures of one test are collected into one {@link AssertionFailedError}; when the test itself
 * failed, JUnit attaches it to the test's failure as a suppressed exception.
 *
 * <p>Implementation notes: JUnit calls {@link #beforeEach} and {@link #afterEach} on the test thread; the
 * state of the running test (its kernels) lives in a {@link Session} created by the former and dropped by
 * the latter, so one instance serves one test at a time (a per-method or per-class test instance, but not
 * concurrent tests). The stepped scheduler's threads are recognised by reflection: they are instances of a
 * private {@link Thread} subclass of {@link SteppedScheduler} whose {@link Agent} field gives the machine.
 */
public final class KernelExtension implements BeforeEachCallback, AfterEachCallback, ParameterResolver {
    /** How long the runtime threads of a closed kernel may take to end before they count as leaked. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(2);

    private final boolean stepped;
    private int cpus = 2;
    private int hz = -1;
    private final List<Consumer<KernelConfig.Builder>> options = new ArrayList<>();
    private int testThreadCpu = -1;
    private Duration grace = DEFAULT_GRACE;
    private Session session;

    /** For {@code @ExtendWith(KernelExtension.class)}: stepped kernels with 2 CPUs, supplied as parameters. */
    public KernelExtension() {
        this(true);
    }

    private KernelExtension(boolean stepped) {
        this.stepped = stepped;
    }

    /** Stepped kernels: a {@link dev.bottomhalf.runtime.ManualClock}, no runtime threads, 2 CPUs. */
    public static KernelExtension stepped() {
        return new KernelExtension(true);
    }

    /** Threaded kernels: runtime threads {@code cpu/N}, {@code ksoftirqd/N}, ...; 2 CPUs. */
    public static KernelExtension threaded() {
        return new KernelExtension(false);
    }

    // ------------------------------------------------------------------------------------------
    // Configuration (where the extension is registered)
    // ------------------------------------------------------------------------------------------

    /** The number of CPUs of every kernel (default 2). */
    public KernelExtension cpus(int n) {
        configuring();
        this.cpus = n;
        return this;
    }

    /** The tick rate of every kernel (default: {@link KernelConfig}'s, 1000). */
    public KernelExtension hz(int hz) {
        configuring();
        this.hz = hz;
        return this;
    }

    /**
     * Any other setting of every kernel ({@code irqLines}, {@code forceIrqThreads}, idle strategies, ...),
     * applied after {@link #cpus} and {@link #hz}. A reporter set here receives every report as well, after
     * the recording that the checks read.
     */
    public KernelExtension with(Consumer<KernelConfig.Builder> option) {
        configuring();
        options.add(Objects.requireNonNull(option, "option"));
        return this;
    }

    /**
     * Binds the test thread, as a task, to {@code cpu} of the test's kernel as soon as it boots (the
     * extension releases it after the test, as it releases every binding to its kernels).
     */
    public KernelExtension bindTestThread(int cpu) {
        configuring();
        if (cpu < 0) {
            throw new IllegalArgumentException("cpu must be >= 0: " + cpu);
        }
        this.testThreadCpu = cpu;
        return this;
    }

    /** How long the runtime threads of closed kernels may take to end (default {@link #DEFAULT_GRACE}). */
    public KernelExtension threadGracePeriod(Duration grace) {
        configuring();
        if (grace.isNegative()) {
            throw new IllegalArgumentException("a grace period cannot be negative: " + grace);
        }
        this.grace = grace;
        return this;
    }

    private void configuring() {
        if (session != null) {
            throw new IllegalStateException("configure the extension where it is registered; inside a test, boot a"
                    + " kernel with other settings through boot(changes)");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Kernels (during a test)
    // ------------------------------------------------------------------------------------------

    /** The test's kernel: the first kernel booted in this test, booted now with the defaults if none was. */
    public Kernel kernel() {
        Session s = running();
        return s.kernels.isEmpty() ? boot(stepped, b -> { }) : s.kernels.get(0).kernel();
    }

    /** The stepper of the test's kernel (stepped mode). */
    public Stepper stepper() {
        return kernel().stepper();
    }

    /** The reports of the test's kernel. */
    public KernelReports reports() {
        return reports(kernel());
    }

    /** The reports of {@code kernel}, which this extension booted during the test. */
    public KernelReports reports(Kernel kernel) {
        for (Managed m : running().kernels) {
            if (m.kernel() == kernel) {
                return m.reports();
            }
        }
        throw new IllegalArgumentException(kernel + " was not booted by this extension in this test");
    }

    /**
     * Boots another kernel with the extension's settings changed by {@code changes}; it is closed and
     * checked after the test like the test's kernel (the test may close it earlier). The first kernel of
     * a test becomes the test's kernel, and the test thread is bound to it if so configured.
     */
    public Kernel boot(Consumer<KernelConfig.Builder> changes) {
        return boot(stepped, changes);
    }

    /**
     * Like {@link #boot(Consumer)}, but a threaded kernel whatever the extension's mode (a stepped
     * extension's changes cannot undo {@link KernelConfig.Builder#stepped()}).
     */
    public Kernel bootThreaded(Consumer<KernelConfig.Builder> changes) {
        return boot(false, changes);
    }

    private Kernel boot(boolean inSteppedMode, Consumer<KernelConfig.Builder> changes) {
        Objects.requireNonNull(changes, "changes");
        Session s = running();
        Reporter.Recording recording = Reporter.recording();
        KernelConfig.Builder b = KernelConfig.builder().cpus(cpus).proveLocking(true); // CONFIG_PROVE_LOCKING in tests
        if (hz > 0) {
            b.hz(hz);
        }
        if (inSteppedMode) {
            b.stepped();
        }
        options.forEach(o -> o.accept(b));
        changes.accept(b);
        Reporter alsoTo = b.build().reporter();
        b.reporter(alsoTo == Reporter.systemLogger() ? recording : event -> {
            recording.report(event);
            alsoTo.report(event);
        });
        Kernel kernel = Kernel.boot(b.build());
        boolean first = s.kernels.isEmpty();
        s.kernels.add(new Managed(kernel, new KernelReports(recording), s.kernels.size() + 1));
        if (first && testThreadCpu >= 0) {
            kernel.bindCurrentThread(testThreadCpu);
        }
        return kernel;
    }

    private Session running() {
        Session s = session;
        if (s == null) {
            throw new IllegalStateException("no test is running: use the kernels from a test or its @BeforeEach and"
                    + " @AfterEach methods, not from a field initializer, a constructor or @BeforeAll");
        }
        return s;
    }

    // ------------------------------------------------------------------------------------------
    // JUnit callbacks
    // ------------------------------------------------------------------------------------------

    @Override
    public void beforeEach(ExtensionContext context) {
        if (session != null) {
            throw new ExtensionConfigurationException("KernelExtension serves one test at a time; "
                    + context.getDisplayName() + " started while another test was running");
        }
        session = new Session();
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Session s = session;
        session = null;
        if (s == null) {
            return;
        }
        Optional<String> knownLeak = knownLeak(context);
        List<String> problems = new ArrayList<>();
        List<Managed> newestFirst = new ArrayList<>(s.kernels.reversed());
        for (Managed m : newestFirst) {
            releaseTestThread(m, problems);
            try {
                m.kernel().close();
            } catch (Throwable t) {
                problems.add(m.label() + ": close() threw\n" + stack(t, Integer.MAX_VALUE));
            }
        }
        long deadlineNs = System.nanoTime() + grace.toNanos();
        for (Managed m : s.kernels) {
            List<Thread> leaked = awaitRuntimeThreads(Internals.machine(m.kernel()), deadlineNs);
            if (!leaked.isEmpty()) {
                String text = leaked.size() + " runtime thread(s) of " + m.label() + " still alive " + grace.toMillis()
                        + " ms after close() returned:\n" + describe(leaked);
                if (knownLeak.isPresent()) {
                    System.err.println("KernelExtension: " + context.getDisplayName() + " is marked @KnownThreadLeak(\""
                            + knownLeak.get() + "\"): " + text);
                } else {
                    problems.add(text);
                }
            }
        }
        checkTestThreadBinding(problems);
        for (Managed m : s.kernels) {
            checkReports(context, m, problems);
        }
        if (!problems.isEmpty()) {
            throw new AssertionFailedError("KernelExtension found after " + context.getDisplayName() + ":\n\n"
                    + String.join("\n\n", problems));
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        Class<?> type = parameter.getParameter().getType();
        return parameter.getDeclaringExecutable() instanceof Method
                && (type == Kernel.class || type == Stepper.class || type == KernelReports.class);
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        Class<?> type = parameter.getParameter().getType();
        if (type == Kernel.class) {
            return kernel();
        }
        return type == Stepper.class ? stepper() : reports();
    }

    // ------------------------------------------------------------------------------------------
    // The checks
    // ------------------------------------------------------------------------------------------

    /** Detaches the test thread from {@code m}'s kernel if bound to it; a context left atomic is a problem. */
    private static void releaseTestThread(Managed m, List<String> problems) {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx == null || RuntimeAccess.get().machine(ctx) != Internals.machine(m.kernel())) {
            return;
        }
        if (ctx.inAtomic() || ctx.irqsDisabled()) {
            problems.add("the test thread left its context on " + m.label() + " in atomic context: " + ctx
                    + " (an unbalanced local_bh_disable, local_irq_disable/save or preempt_disable; reset before"
                    + " close)");
            reset(ctx);
        }
        m.kernel().detachCurrentThread();
    }

    /** Check (b): after close the test thread must not be bound to any closed kernel. */
    private static void checkTestThreadBinding(List<String> problems) {
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        if (ctx == null || !RuntimeAccess.get().machine(ctx).closed()) {
            return;
        }
        problems.add("the test thread is still bound to a closed kernel (" + RuntimeAccess.get().machine(ctx) + ") as " + ctx
                + ": detach it (machine().detachCurrentThread()) before closing a kernel the test booted itself;"
                + " detached now");
        reset(ctx);
        RuntimeAccess.get().machine(ctx).detachCurrentThread();
    }

    private static void reset(ExecutionContext ctx) {
        RuntimeAccess.get().restorePreemptCount(ctx, 0);
        RuntimeAccess.get().forceIrqsEnabled(ctx);
    }

    private static void checkReports(ExtensionContext context, Managed m, List<String> problems) {
        List<KernelEvent> unexpected = m.reports().unexpected();
        if (!unexpected.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            sb.append(m.label()).append(" made ").append(unexpected.size()).append(" report(s) the test did not"
                    + " expect (read them with reports().matching(text) or ofKind(kind), or declare them with"
                    + " reports().expect(text)):");
            for (KernelEvent e : unexpected) {
                sb.append("\n  ").append(e.toString().replace("\n", "\n    "));
                if (e.cause() != null) {
                    sb.append('\n').append(indent(stack(e.cause(), 12), "      "));
                }
            }
            problems.add(sb.toString());
        }
        List<String> missing = m.reports().missing();
        if (!missing.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            sb.append(m.label()).append(": the test expected report(s) that never came:");
            for (String text : missing) {
                sb.append("\n  \"").append(text).append('"');
            }
            sb.append("\nreports made:\n").append(indent(m.reports().toString(), "  "));
            problems.add(sb.toString());
        }
        for (Map.Entry<String, String> d : m.reports().toleratedThatOccurred().entrySet()) {
            System.err.println("KernelExtension: " + context.getDisplayName() + " tolerated the known defect report \""
                    + d.getKey() + "\" of " + m.label() + ": " + d.getValue());
        }
    }

    private static Optional<String> knownLeak(ExtensionContext context) {
        Optional<KnownThreadLeak> onMethod = context.getTestMethod()
                .flatMap(m -> AnnotationSupport.findAnnotation(m, KnownThreadLeak.class));
        Optional<KnownThreadLeak> found = onMethod.isPresent() ? onMethod : context.getTestClass()
                .flatMap(c -> AnnotationSupport.findAnnotation(c, KnownThreadLeak.class));
        return found.map(KnownThreadLeak::value);
    }

    // ------------------------------------------------------------------------------------------
    // Runtime threads of a machine
    // ------------------------------------------------------------------------------------------

    /**
     * The live runtime threads of {@code kernel} ({@code cpu/N}, {@code ksoftirqd/N}, {@code irq/L-name},
     * kworkers: its {@link KernelThread}s, and its stepped scheduler's threads), sorted by name. Any thread;
     * for tests that look at the threads themselves (interrupt them, measure their CPU time).
     */
    public static List<Thread> runtimeThreads(Kernel kernel) {
        return runtimeThreadsOf(Internals.machine(kernel));
    }

    /**
     * The live runtime threads of {@code machine}: its {@link KernelThread}s and its stepped scheduler's
     * threads. Any thread.
     */
    static List<Thread> runtimeThreadsOf(Machine machine) {
        List<Thread> out = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && machineOf(t) == machine) {
                out.add(t);
            }
        }
        out.sort(Comparator.comparing(Thread::getName));
        return out;
    }

    /** Waits until {@code deadlineNs} for the runtime threads of {@code machine} to end; returns those alive. */
    static List<Thread> awaitRuntimeThreads(Machine machine, long deadlineNs) {
        for (Thread t : runtimeThreadsOf(machine)) {
            long leftNs = deadlineNs - System.nanoTime();
            if (leftNs <= 0) {
                break;
            }
            try {
                t.join(Duration.ofNanos(leftNs));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return runtimeThreadsOf(machine);
    }

    private static Machine machineOf(Thread t) {
        if (t instanceof KernelThread kt) {
            return RuntimeAccess.get().machine(kt.context());
        }
        Field agent = SchedulerThreads.agentField(t.getClass());
        if (agent == null) {
            return null;
        }
        try {
            Agent a = (Agent) agent.get(t);
            return a == null ? null : RuntimeAccess.get().machine(a.context());
        } catch (IllegalAccessException e) {
            throw new ExtensionConfigurationException("KernelExtension cannot read " + agent + " of " + t, e);
        }
    }

    /** The thread classes of {@link SteppedScheduler} and their {@link Agent} fields, found once. */
    private static final class SchedulerThreads {
        private static final List<Class<?>> CLASSES = new ArrayList<>();
        private static final List<Field> AGENTS = new ArrayList<>();

        static {
            for (Class<?> c : SteppedScheduler.class.getDeclaredClasses()) {
                if (Thread.class.isAssignableFrom(c)) {
                    Field agent = null;
                    for (Field f : c.getDeclaredFields()) {
                        if (f.getType() == Agent.class) {
                            agent = f;
                        }
                    }
                    if (agent == null) {
                        throw new ExtensionConfigurationException("KernelExtension cannot tell which machine a thread"
                                + " of " + c.getName() + " belongs to: it has no field of type Agent any more;"
                                + " update KernelExtension.machineOf");
                    }
                    agent.setAccessible(true);
                    CLASSES.add(c);
                    AGENTS.add(agent);
                }
            }
            if (CLASSES.isEmpty()) {
                throw new ExtensionConfigurationException("KernelExtension found no thread class in SteppedScheduler;"
                        + " update KernelExtension.machineOf to recognise the stepped scheduler's threads");
            }
        }

        static Field agentField(Class<?> threadClass) {
            int i = CLASSES.indexOf(threadClass);
            return i < 0 ? null : AGENTS.get(i);
        }
    }

    private static String describe(List<Thread> threads) {
        StringBuilder sb = new StringBuilder();
        for (Thread t : threads) {
            sb.append("  \"").append(t.getName()).append("\" ").append(t.getState()).append('\n');
            for (StackTraceElement f : t.getStackTrace()) {
                sb.append("      at ").append(f).append('\n');
            }
        }
        return sb.toString().stripTrailing();
    }

    private static String stack(Throwable t, int maxFrames) {
        StringBuilder sb = new StringBuilder(t.toString());
        StackTraceElement[] frames = t.getStackTrace();
        for (int i = 0; i < Math.min(frames.length, maxFrames); i++) {
            sb.append("\n  at ").append(frames[i]);
        }
        if (frames.length > maxFrames) {
            sb.append("\n  ... ").append(frames.length - maxFrames).append(" more");
        }
        return sb.toString();
    }

    private static String indent(String text, String prefix) {
        return text.stripTrailing().lines().map(l -> prefix + l).reduce((a, b) -> a + "\n" + b).orElse("");
    }

    // ------------------------------------------------------------------------------------------
    // State of the running test
    // ------------------------------------------------------------------------------------------

    /** The kernels one test booted, in boot order. Test thread only. */
    private static final class Session {
        final List<Managed> kernels = new ArrayList<>();
    }

    /** A kernel the extension booted, with its reports and its place among the test's kernels. */
    private record Managed(Kernel kernel, KernelReports reports, int index) {
        String label() {
            return "kernel #" + index + " (" + Internals.machine(kernel) + ")";
        }
    }
}
