package dev.bottomhalf;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A per-CPU {@code long} ({@code DEFINE_PER_CPU(long, v)}) with the kernel's {@code this_cpu_*} operations: each CPU
 * updates its own slot ({@link #add}, {@link #inc()}, {@link #set(long)}), a reader sums every slot
 * ({@link #sum()}) — the kernel's per-CPU counters. Any thread may read ({@link #get(int)}, {@link #sum()}); the
 * {@code this_cpu} operations need a thread that runs on a CPU of this kernel (the context rules of
 * {@link PerCpu}).
 *
 * <pre>{@code
 * PerCpuLong rxPackets = kernel.perCpuLong();
 * ... in the top half:  rxPackets.inc();          // this_cpu_inc: this CPU's slot, atomic, no allocation
 * ... in a reader:      long total = rxPackets.sum();
 * }</pre>
 *
 * <p>Each update is atomic on its slot, so the slot needs no lock even when tasks bound to the same CPU or that
 * CPU's handlers (on other Java threads) update it at once — the guarantee the kernel's {@code this_cpu_add} gives
 * against interrupts on the same CPU. {@link #sum()} reads the slots one after another while they may change, as
 * the kernel's per-CPU counter sum does: it is exact once the writers are quiet.
 *
 * <p>Implementation notes: the slots live in one {@link AtomicLongArray}, 16 longs (128 bytes) apart so that two
 * CPUs never write the same cache line; every operation is one volatile read or one atomic read-modify-write and
 * allocates nothing.
 */
public final class PerCpuLong {
    /** Longs between two CPUs' slots: 128 bytes, two cache lines of 64 bytes (adjacent-line prefetch). */
    private static final int STRIDE = 16;

    private final Kernel kernel;
    private final AtomicLongArray slots;
    private final int cpus;

    PerCpuLong(Kernel kernel) {
        this.kernel = Objects.requireNonNull(kernel, "kernel");
        this.cpus = kernel.cpus();
        this.slots = new AtomicLongArray(cpus * STRIDE);
    }

    /**
     * A per-CPU {@code long} of {@code kernel}, 0 on every CPU. Same as {@link Kernel#perCpuLong()}.
     *
     * @param kernel the kernel whose CPUs it has slots for
     * @return the per-CPU long
     */
    public static PerCpuLong of(Kernel kernel) {
        return new PerCpuLong(kernel);
    }

    private int thisSlot(String call) {
        return kernel.thisCpu(call) * STRIDE;
    }

    /**
     * {@code this_cpu_read(v)}: the calling thread's CPU's value.
     *
     * @return this CPU's value
     * @throws IllegalStateException when the calling thread has no CPU on this kernel
     */
    public long get() {
        return slots.get(thisSlot("this_cpu_read"));
    }

    /**
     * {@code this_cpu_write(v, value)}: sets the calling thread's CPU's value.
     *
     * @param value the new value
     * @throws IllegalStateException when the calling thread has no CPU on this kernel
     */
    public void set(long value) {
        slots.set(thisSlot("this_cpu_write"), value);
    }

    /**
     * {@code this_cpu_add(v, delta)}: adds to the calling thread's CPU's value, atomically.
     *
     * @param delta what to add (negative to subtract)
     * @throws IllegalStateException when the calling thread has no CPU on this kernel
     */
    public void add(long delta) {
        slots.getAndAdd(thisSlot("this_cpu_add"), delta);
    }

    /**
     * {@code this_cpu_inc(v)}: adds 1 to the calling thread's CPU's value, atomically.
     *
     * @throws IllegalStateException when the calling thread has no CPU on this kernel
     */
    public void inc() {
        slots.getAndIncrement(thisSlot("this_cpu_inc"));
    }

    /**
     * {@code this_cpu_dec(v)}: subtracts 1 from the calling thread's CPU's value, atomically.
     *
     * @throws IllegalStateException when the calling thread has no CPU on this kernel
     */
    public void dec() {
        slots.getAndDecrement(thisSlot("this_cpu_dec"));
    }

    /**
     * {@code per_cpu(v, cpu)}: {@code cpu}'s value. Any thread.
     *
     * @param cpu a CPU number, 0 to {@link #cpus()} - 1
     * @return that CPU's value
     * @throws IllegalArgumentException when this kernel has no such CPU
     */
    public long get(int cpu) {
        return slots.get(PerCpu.checkCpu(cpu, cpus) * STRIDE);
    }

    /**
     * {@code per_cpu(v, cpu) = value}: sets {@code cpu}'s value (to reset a counter, say). Any thread.
     *
     * @param cpu   a CPU number, 0 to {@link #cpus()} - 1
     * @param value the new value
     * @throws IllegalArgumentException when this kernel has no such CPU
     */
    public void set(int cpu, long value) {
        slots.set(PerCpu.checkCpu(cpu, cpus) * STRIDE, value);
    }

    /**
     * The sum over every CPU, as a reader of a per-CPU counter computes it. Any thread; allocates nothing.
     *
     * @return the sum of the CPUs' values (wrapping as {@code long} arithmetic does)
     */
    public long sum() {
        long s = 0;
        for (int cpu = 0; cpu < cpus; cpu++) {
            s += slots.get(cpu * STRIDE);
        }
        return s;
    }

    /**
     * The number of CPUs, each with a slot.
     *
     * @return the kernel's CPU count
     */
    public int cpus() {
        return cpus;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("PerCpuLong[");
        for (int cpu = 0; cpu < cpus; cpu++) {
            sb.append(cpu == 0 ? "" : ", ").append(slots.get(cpu * STRIDE));
        }
        return sb.append(']').toString();
    }
}
