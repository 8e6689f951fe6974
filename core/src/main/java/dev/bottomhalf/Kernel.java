package dev.bottomhalf;

import java.util.Objects;

import dev.bottomhalf.irq.IrqController;
import dev.bottomhalf.proc.Proc;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Machine;
import dev.bottomhalf.runtime.Reports;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.runtime.Tracing;
import dev.bottomhalf.softirq.Softirqs;
import dev.bottomhalf.tasklet.Tasklets;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.Timers;
import dev.bottomhalf.workqueue.Workqueues;

/**
 * One simulated machine: N virtual CPUs, an interrupt controller, the softirq vector with ksoftirqd,
 * and (as they land) tasklets, timers and workqueues — with the Linux kernel's semantics. Thread-safe.
 *
 * <pre>{@code
 * try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).build())) {
 *     kernel.softirqs().open(SoftirqVector.NET_RX, () -> pollRing());
 *     kernel.irqs().request(9, (irq, dev) -> { ack(); kernel.softirqs().raise(SoftirqVector.NET_RX);
 *                                              return IrqReturn.HANDLED; }, Set.of(), "eth0", nic);
 *     nic.start(() -> kernel.irqs().assertIrq(9));   // a device thread raising its interrupt
 * }
 * }</pre>
 *
 * <p>Threaded mode (the default) starts {@code cpu/N}, {@code ksoftirqd/N} and {@code irq/L-name} threads.
 * Stepped mode ({@link KernelConfig.Builder#stepped()}) starts none: the caller drives everything through
 * {@link #stepper()} with a manual clock, which makes every timing rule deterministic.
 *
 * <p>Implementation notes: this class only assembles the subsystems in layering order (runtime, then
 * irq and softirq) and closes them in reverse; it lives above the subsystems so that none of them
 * imports it (docs/adr/0001). No static mutable state: kernels are independent.
 */
public final class Kernel implements AutoCloseable {
    private final Machine machine;
    private final Softirqs softirqs;
    private final IrqController irqs;
    private final Tasklets tasklets;
    private final Timers timers;
    private final HrTimers hrtimers;
    private final Workqueues workqueues;
    private final Proc proc;

    private Kernel(KernelConfig config) {
        this.machine = new Machine(config);
        machine.setOwner(this);
        this.softirqs = new Softirqs(machine);
        this.irqs = new IrqController(machine);
        this.tasklets = new Tasklets(machine, softirqs);
        this.timers = new Timers(machine, softirqs);
        this.hrtimers = new HrTimers(machine, softirqs);
        this.workqueues = new Workqueues(machine, softirqs, tasklets, timers);
        this.proc = new Proc(machine, irqs, softirqs, timers, hrtimers);
    }

    /** Builds a kernel and, in threaded mode, starts its runtime threads. */
    public static Kernel boot(KernelConfig config) {
        Kernel k = new Kernel(Objects.requireNonNull(config, "config"));
        k.machine.start();
        return k;
    }

    /** A threaded kernel with default settings and {@code cpus} CPUs. */
    public static Kernel boot(int cpus) {
        return boot(KernelConfig.builder().cpus(cpus).build());
    }

    /**
     * The kernel the calling thread is attached to: a runtime thread's own kernel, or the kernel a task
     * thread last used or bound itself to. The {@code dev.bottomhalf.linux} facade resolves its calls here.
     * Never a closed kernel: a thread still attached to one is detached and gets the exception.
     *
     * @throws IllegalStateException when the thread is attached to none, or its kernel is closed
     *         ({@code kernel is closed}) or panicked
     */
    public static Kernel current() {
        return (Kernel) ExecutionContext.current().machine().owner();
    }

    public Machine machine() {
        return machine;
    }

    public Softirqs softirqs() {
        return softirqs;
    }

    public IrqController irqs() {
        return irqs;
    }

    /** Tasklets: HI and TASKLET softirq lists of every CPU. */
    public Tasklets tasklets() {
        return tasklets;
    }

    /** Kernel timers: the per-CPU timer wheels, {@code mod_timer} and friends, the sleeping helpers. */
    public Timers timers() {
        return timers;
    }

    /** High-resolution timers: nanosecond expiry, hard-IRQ or HRTIMER_SOFTIRQ callbacks. */
    public HrTimers hrtimers() {
        return hrtimers;
    }

    /** Workqueues: worker pools, the system workqueues, work items, delayed work, flush and cancel. */
    public Workqueues workqueues() {
        return workqueues;
    }

    /** The {@code /proc} views. */
    public Proc proc() {
        return proc;
    }

    public Reports reports() {
        return machine.reports();
    }

    public Tracing tracing() {
        return machine.tracing();
    }

    public KernelConfig config() {
        return machine.config();
    }

    public int cpus() {
        return machine.cpuCount();
    }

    public long jiffies() {
        return machine.jiffies();
    }

    /** The stepper of a stepped-mode kernel. */
    public Stepper stepper() {
        return new Stepper(machine);
    }

    /** The calling thread becomes a task on {@code cpu} (like {@code sched_setaffinity} to one CPU). */
    public ExecutionContext bindCurrentThread(int cpu) {
        return machine.bindCurrentThread(cpu);
    }

    /** The calling thread's execution context on this kernel (attaching it as a task if needed). */
    public ExecutionContext context() {
        return machine.current();
    }

    /** {@code smp_call_function_single(cpu, func, NULL, wait)}. */
    public void smpCallFunctionSingle(int cpu, Runnable func, boolean wait) {
        machine.smpCallFunctionSingle(cpu, func, wait);
    }

    /** Stops and joins every runtime thread. Idempotent. */
    @Override
    public void close() {
        machine.close();
    }

    @Override
    public String toString() {
        return "Kernel" + machine;
    }
}
