package dev.bottomhalf.runtime;

import java.util.Objects;

/**
 * How to build a kernel: CPU count, HZ, clock, mode, idle strategies, pinning, IRQ lines, the rate of
 * rate-limited reports. Immutable; make one with {@link #builder()}.
 *
 * @param cpus             number of virtual CPUs (default: the host's available processors)
 * @param hz               the tick rate: 100, 250, 300 or 1000 (default 1000)
 * @param clock            the time source (default the host clock; a {@link ManualClock} in stepped mode)
 * @param stepped          stepped mode: no runtime threads, the caller drives every CPU through {@link Stepper}
 * @param idleStrategy     how {@code cpu/N} threads wait for work
 * @param daemonIdle       how {@code ksoftirqd/N} and {@code irq/L-name} threads wait for work
 * @param pinning          pin each CPU's runtime threads to host core {@code N mod host cores} (falls back
 *                         silently — with one INFO report — where the host refuses)
 * @param irqLines         number of interrupt lines (default 64)
 * @param forceIrqThreads  the kernel's {@code threadirqs} boot option: softirqs raised by hard IRQs run in
 *                         {@code ksoftirqd}, never at irq_exit
 * @param reporter         where WARN/BUG/oops reports go
 * @param ratelimitIntervalMs the interval of rate-limited reports (oopses of one handler, the kernel's
 *                         {@code printk_ratelimited} sites), in milliseconds of the kernel's clock: the
 *                         kernel's {@code DEFAULT_RATELIMIT_INTERVAL}, {@code 5 * HZ} jiffies (default 5000);
 *                         0: no limit
 * @param ratelimitBurst   how many rate-limited reports of one site (and key) go ahead per interval: the
 *                         kernel's {@code DEFAULT_RATELIMIT_BURST} (default 10); 0: no limit. Suppressed
 *                         reports are still counted ({@link Reports#count})
 */
public record KernelConfig(int cpus, int hz, Clock clock, boolean stepped, IdleStrategy idleStrategy,
                           IdleStrategy daemonIdle, boolean pinning, int irqLines, boolean forceIrqThreads,
                           Reporter reporter, int ratelimitIntervalMs, int ratelimitBurst) {

    /** {@code DEFAULT_RATELIMIT_INTERVAL}: {@code 5 * HZ} jiffies, in milliseconds. */
    public static final int DEFAULT_RATELIMIT_INTERVAL_MS = 5_000;
    /** {@code DEFAULT_RATELIMIT_BURST}. */
    public static final int DEFAULT_RATELIMIT_BURST = 10;

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
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(idleStrategy, "idleStrategy");
        Objects.requireNonNull(daemonIdle, "daemonIdle");
        Objects.requireNonNull(reporter, "reporter");
        if (ratelimitIntervalMs < 0) {
            throw new IllegalArgumentException("ratelimitIntervalMs must be >= 0 (0: no limit): " + ratelimitIntervalMs);
        }
        if (ratelimitBurst < 0) {
            throw new IllegalArgumentException("ratelimitBurst must be >= 0 (0: no limit): " + ratelimitBurst);
        }
    }

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
        private int ratelimitIntervalMs = DEFAULT_RATELIMIT_INTERVAL_MS;
        private int ratelimitBurst = DEFAULT_RATELIMIT_BURST;

        private Builder() {
        }

        public Builder cpus(int n) {
            this.cpus = n;
            return this;
        }

        public Builder hz(int hz) {
            this.hz = hz;
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        /** Stepped mode with a fresh {@link ManualClock} unless a clock was set. */
        public Builder stepped() {
            this.stepped = true;
            return this;
        }

        public Builder idleStrategy(IdleStrategy idle) {
            this.idleStrategy = idle;
            return this;
        }

        public Builder daemonIdleStrategy(IdleStrategy idle) {
            this.daemonIdle = idle;
            return this;
        }

        public Builder pinning(boolean pin) {
            this.pinning = pin;
            return this;
        }

        public Builder irqLines(int n) {
            this.irqLines = n;
            return this;
        }

        public Builder forceIrqThreads(boolean force) {
            this.forceIrqThreads = force;
            return this;
        }

        public Builder reporter(Reporter reporter) {
            this.reporter = reporter;
            return this;
        }

        /**
         * The rate of rate-limited reports: at most {@code burst} per {@code intervalMs} for each site and
         * key (default: the kernel's 10 per 5 s); 0 for either turns the limit off.
         */
        public Builder ratelimit(int intervalMs, int burst) {
            this.ratelimitIntervalMs = intervalMs;
            this.ratelimitBurst = burst;
            return this;
        }

        public KernelConfig build() {
            Clock c = clock != null ? clock : stepped ? Clock.manual() : Clock.system();
            return new KernelConfig(cpus, hz, c, stepped, idleStrategy, daemonIdle, pinning, irqLines,
                    forceIrqThreads, reporter, ratelimitIntervalMs, ratelimitBurst);
        }
    }
}
