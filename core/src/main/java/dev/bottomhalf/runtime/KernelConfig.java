package dev.bottomhalf.runtime;

import dev.bottomhalf.internal.runtime.LockupDetector;
import java.util.Objects;

/**
 * How to build a kernel: CPU count, HZ, clock, mode, idle strategies, pinning, IRQ lines, the default CPU
 * of unbound threads, the close timeout, the lockup detectors' threshold, the rate of rate-limited reports.
 * Immutable; make one with {@link #builder()}.
 *
 * @param cpus             number of virtual CPUs (default: the host's available processors)
 * @param hz               the tick rate: 100, 250, 300 or 1000 (default 1000)
 * @param clock            the time source (default the host clock; a {@link ManualClock} in stepped mode)
 * @param stepped          stepped mode: no runtime threads, the caller drives every CPU through {@link Stepper}
 * @param idleStrategy     how {@code cpu/N} threads wait for work
 * @param daemonIdle       how {@code ksoftirqd/N}, {@code irq/L-name} and {@code kworker} threads wait for work
 * @param pinning          pin each CPU's runtime threads to host core {@code N mod host cores} (falls back
 *                         silently — with one INFO report — where the host refuses)
 * @param irqLines         number of interrupt lines (default 64)
 * @param forceIrqThreads  the kernel's {@code threadirqs} boot option: softirqs raised by hard IRQs run in
 *                         {@code ksoftirqd}, never at irq_exit
 * @param reporter         where WARN/BUG/oops reports go
 * @param defaultTaskCpu   the CPU a thread is a task on until it binds itself elsewhere
 *                         ({@code Kernel.bindCurrentThread}); default 0
 * @param closeTimeout     how long {@code Kernel.close()} lets accepted work run before it cancels the rest
 *                         (default 30 s; the work that did not run is reported)
 * @param watchdogThresh   the kernel's {@code watchdog_thresh} in seconds, 0..60 (default 10): a CPU level held
 *                         for more than this is a hard lockup, for more than twice this a soft lockup
 *                         ({@link LockupDetector}); 0 turns both detectors off
 * @param ratelimitIntervalMs the interval of rate-limited reports (oopses of one handler, the kernel's
 *                         {@code printk_ratelimited} sites), in milliseconds of the kernel's clock: the
 *                         kernel's {@code DEFAULT_RATELIMIT_INTERVAL}, {@code 5 * HZ} jiffies (default 5000);
 *                         0: no limit
 * @param ratelimitBurst   how many rate-limited reports of one site (and key) go ahead per interval: the
 *                         kernel's {@code DEFAULT_RATELIMIT_BURST} (default 10); 0: no limit. Suppressed
 *                         reports are still counted ({@link Reports#count})
 * @param proveLocking     the kernel's {@code CONFIG_PROVE_LOCKING}: lockdep validates every spinlock, rwlock and
 *                         workqueue flush dependency ({@code dev.bottomhalf.locking}); off by default (each lock
 *                         operation then costs only its atomic), on in the tests' {@code KernelExtension}
 */
public record KernelConfig(int cpus, int hz, Clock clock, boolean stepped, IdleStrategy idleStrategy,
                           IdleStrategy daemonIdle, boolean pinning, int irqLines, boolean forceIrqThreads,
                           Reporter reporter, int defaultTaskCpu, java.time.Duration closeTimeout,
                           int watchdogThresh, int ratelimitIntervalMs, int ratelimitBurst, boolean proveLocking) {

    /** {@code DEFAULT_RATELIMIT_INTERVAL}: {@code 5 * HZ} jiffies, in milliseconds. */
    public static final int DEFAULT_RATELIMIT_INTERVAL_MS = 5_000;
    /** {@code DEFAULT_RATELIMIT_BURST}. */
    public static final int DEFAULT_RATELIMIT_BURST = 10;

    /**
     * Checks the settings; {@link Builder#build()} calls this with its defaults filled in.
     *
     * @throws IllegalArgumentException for {@code cpus} outside 1..64, an {@code hz} not 100, 250, 300 or 1000,
     *   {@code irqLines} outside 1..4096, {@code watchdogThresh} outside 0..60, a {@code defaultTaskCpu} that is not
     *   one of the CPUs, a negative {@code closeTimeout}, or a negative rate limit
     *
     * @throws NullPointerException for a null clock, idle strategy, reporter or close timeout
     */
    public KernelConfig {
        if (cpus < 1 || cpus > 64) {
            throw new IllegalArgumentException("cpus must be 1..64: " + cpus);
        }
        if (hz != 100 && hz != 250 && hz != 300 && hz != 1000) {
            throw new IllegalArgumentException("HZ must be 100, 250, 300 or 1000 (the kernel's choices): " + hz);
        }
        if (irqLines < 1 || irqLines > 4096) {
            throw new IllegalArgumentException("irqLines must be 1..4096: " + irqLines);
        }
        if (watchdogThresh < 0 || watchdogThresh > LockupDetector.MAX_WATCHDOG_THRESH) {
            throw new IllegalArgumentException("watchdog_thresh must be 0.." + LockupDetector.MAX_WATCHDOG_THRESH
                    + " seconds (0 disables the lockup detectors): " + watchdogThresh);
        }
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(idleStrategy, "idleStrategy");
        Objects.requireNonNull(daemonIdle, "daemonIdle");
        Objects.requireNonNull(reporter, "reporter");
        if (defaultTaskCpu < 0 || defaultTaskCpu >= cpus) {
            throw new IllegalArgumentException("defaultTaskCpu must be a CPU of this kernel (0.." + (cpus - 1) + "): "
                    + defaultTaskCpu);
        }
        Objects.requireNonNull(closeTimeout, "closeTimeout");
        if (closeTimeout.isNegative()) {
            throw new IllegalArgumentException("closeTimeout cannot be negative: " + closeTimeout);
        }
        if (ratelimitIntervalMs < 0) {
            throw new IllegalArgumentException("ratelimitIntervalMs must be >= 0 (0: no limit): " + ratelimitIntervalMs);
        }
        if (ratelimitBurst < 0) {
            throw new IllegalArgumentException("ratelimitBurst must be >= 0 (0: no limit): " + ratelimitBurst);
        }
    }

    /**
     * A builder with every setting at its default; any thread, one thread at a time.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder; every setting has the default given in {@link KernelConfig}. */
    public static final class Builder {
        private int cpus = Runtime.getRuntime().availableProcessors();
        private int hz = 1000;
        private Clock clock;
        private boolean stepped;
        private IdleStrategy idleStrategy = IdleStrategy.defaultStrategy();
        private IdleStrategy daemonIdle = IdleStrategy.defaultStrategy();
        private boolean pinning;
        private int irqLines = 64;
        private boolean forceIrqThreads;
        private Reporter reporter = Reporter.systemLogger();
        private int defaultTaskCpu;
        private java.time.Duration closeTimeout = java.time.Duration.ofSeconds(30);
        private int watchdogThresh = LockupDetector.DEFAULT_WATCHDOG_THRESH;
        private int ratelimitIntervalMs = DEFAULT_RATELIMIT_INTERVAL_MS;
        private int ratelimitBurst = DEFAULT_RATELIMIT_BURST;
        private boolean proveLocking;

        private Builder() {
        }

        /**
         * The number of virtual CPUs, 1..64 (default: the host's available processors).
         *
         * @param n the CPU count
         * @return this builder
         */
        public Builder cpus(int n) {
            this.cpus = n;
            return this;
        }

        /**
         * The tick rate {@code HZ}: 100, 250, 300 or 1000 (default 1000).
         *
         * @param hz the tick rate
         * @return this builder
         */
        public Builder hz(int hz) {
            this.hz = hz;
            return this;
        }

        /**
         * The time source (default: the host clock, or a fresh {@link ManualClock} in stepped mode).
         *
         * @param clock the clock
         * @return this builder
         */
        public Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        /**
         * Stepped mode with a fresh {@link ManualClock} unless a clock was set.
         *
         * @return this builder
         */
        public Builder stepped() {
            this.stepped = true;
            return this;
        }

        /**
         * How the {@code cpu/N} threads wait for work (default {@link IdleStrategy#defaultStrategy()}).
         *
         * @param idle the strategy
         * @return this builder
         */
        public Builder idleStrategy(IdleStrategy idle) {
            this.idleStrategy = idle;
            return this;
        }

        /**
         * How the {@code ksoftirqd/N}, {@code irq/L-name} and {@code kworker} threads wait for work (default {@link
         * IdleStrategy#defaultStrategy()}; under it a {@code kworker} adapts its spin window to its waits, see
         * docs/subsystems/workqueue.md, "Waking an idle worker").
         *
         * @param idle the strategy
         * @return this builder
         */
        public Builder daemonIdleStrategy(IdleStrategy idle) {
            this.daemonIdle = idle;
            return this;
        }

        /**
         * Whether to pin each CPU's runtime threads to a host core (default off).
         *
         * @param pin true to pin
         * @return this builder
         */
        public Builder pinning(boolean pin) {
            this.pinning = pin;
            return this;
        }

        /**
         * The number of interrupt lines, 1..4096 (default 64).
         *
         * @param n the line count
         * @return this builder
         */
        public Builder irqLines(int n) {
            this.irqLines = n;
            return this;
        }

        /**
         * The kernel's {@code threadirqs} boot option: softirqs raised by hard IRQs always run in {@code
         * ksoftirqd} (default off).
         *
         * @param force true to force the threads
         * @return this builder
         */
        public Builder forceIrqThreads(boolean force) {
            this.forceIrqThreads = force;
            return this;
        }

        /**
         * Where WARN/BUG/oops reports go (default {@link Reporter#systemLogger()}).
         *
         * @param reporter the reporter
         * @return this builder
         */
        public Builder reporter(Reporter reporter) {
            this.reporter = reporter;
            return this;
        }

        /**
         * The CPU a thread is a task on until it calls {@code Kernel.bindCurrentThread} (default 0). Every
         * thread that touches the kernel without binding itself is on this CPU: what "the local CPU" means
         * for its raise, schedule, queue and timer calls.
         *
         * @param cpu the CPU, one of this kernel's
         * @return this builder
         */
        public Builder defaultTaskCpu(int cpu) {
            this.defaultTaskCpu = cpu;
            return this;
        }

        /**
         * How long {@code Kernel.close()} lets accepted work run before it cancels what is left (default 30 s).
         *
         * @param timeout the time, not negative
         * @return this builder
         */
        public Builder closeTimeout(java.time.Duration timeout) {
            this.closeTimeout = timeout;
            return this;
        }

        /**
         * {@code watchdog_thresh} in seconds (0..60; 0 disables the soft and hard lockup detectors).
         *
         * @param seconds the threshold, 0..60
         * @return this builder
         */
        public Builder watchdogThresh(int seconds) {
            this.watchdogThresh = seconds;
            return this;
        }

        /**
         * The rate of rate-limited reports: at most {@code burst} per {@code intervalMs} for each site and
         * key (default: the kernel's 10 per 5 s); 0 for either turns the limit off.
         *
         * @param intervalMs the interval in milliseconds, or 0
         * @param burst reports per interval, or 0
         * @return this builder
         */
        public Builder ratelimit(int intervalMs, int burst) {
            this.ratelimitIntervalMs = intervalMs;
            this.ratelimitBurst = burst;
            return this;
        }

        /**
         * {@code CONFIG_PROVE_LOCKING}: lockdep checks lock usage in interrupt contexts, lock order and
         * recursion, and reports the first problem of the kernel's lifetime (default off).
         *
         * @param on true to turn lockdep on
         * @return this builder
         */
        public Builder proveLocking(boolean on) {
            this.proveLocking = on;
            return this;
        }

        /**
         * The configuration; the builder may be reused.
         *
         * @return the configuration
         * @throws IllegalArgumentException for a setting out of range (see {@link KernelConfig})
         */
        public KernelConfig build() {
            Clock c = clock != null ? clock : stepped ? Clock.manual() : Clock.system();
            return new KernelConfig(cpus, hz, c, stepped, idleStrategy, daemonIdle, pinning, irqLines,
                    forceIrqThreads, reporter, defaultTaskCpu, closeTimeout, watchdogThresh, ratelimitIntervalMs, ratelimitBurst,
                    proveLocking);
        }
    }
}
