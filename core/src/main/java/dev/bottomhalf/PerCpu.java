package dev.bottomhalf;

import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.function.IntFunction;
import java.util.function.ObjIntConsumer;
import java.util.stream.Stream;

/**
 * A per-CPU variable ({@code DEFINE_PER_CPU}, {@code alloc_percpu}): one value of type {@code T} for each CPU of a
 * kernel, made once by an initialiser, reached for the calling thread's CPU ({@link #get()},
 * {@code this_cpu_ptr}) or for a given CPU ({@link #get(int)}, {@code per_cpu_ptr}). Any thread may call
 * {@link #get(int)}, {@link #forEachCpu} and {@link #stream()}; {@link #get()} needs a thread that runs on a CPU
 * of this kernel.
 *
 * <pre>{@code
 * PerCpu<RxStats> stats = kernel.perCpu(cpu -> new RxStats());
 * kernel.irqs().request(24).handler((irq, dev) -> {
 *     stats.get().packets++;                 // this CPU's: its hard IRQs run one at a time
 *     return IrqResult.HANDLED;
 * }).name("eth0").register();
 * long all = stats.stream().mapToLong(s -> s.packets).sum();   // a reader sums every CPU's
 * }</pre>
 *
 * <p>Context rules. The kernel lets {@code this_cpu_ptr} be used where the task cannot move to another CPU:
 * with preemption or interrupts disabled, or in a thread bound to one CPU. Here:
 * <ul>
 * <li>Runtime threads never migrate: {@code cpu/N} (hard IRQs, softirqs at irq_exit), {@code ksoftirqd/N}, the
 * per-CPU kworkers, and a kthread while it runs ({@code kthread_bind} moves only one that is not running) always
 * get their CPU's value. In stepped mode the stepping thread borrows these contexts, with their CPUs.</li>
 * <li>A task thread bound with {@link Kernel#bindCurrentThread(int)} stays on that CPU until it binds itself again
 * (refused in atomic context) or detaches: like a task whose affinity is one CPU, it gets the same CPU's value
 * each time. A thread that never bound itself but was attached by an earlier call is a task on the default CPU
 * ({@code KernelConfig.defaultTaskCpu}).</li>
 * <li>A thread with no context on this kernel (never attached, detached, or a runtime thread of another kernel)
 * has no CPU: {@link #get()} fails with an {@link IllegalStateException}.</li>
 * </ul>
 * Owning a CPU's value is not exclusive access to it: that CPU's hard IRQ and softirq contexts run on other Java
 * threads, and so may other tasks bound to the same CPU. Exclude the CPU's handlers as the kernel does
 * ({@code local_irq_save} or {@code local_bh_disable} around the update: the CPU's IRQ and BH levels keep its
 * handlers out, docs/adr/0002) and synchronise tasks that share a CPU yourself, or use {@link PerCpuLong}, whose
 * updates are atomic.
 *
 * <p>Implementation notes: the values live in a final array filled by the constructor (safely published to every
 * thread); {@link #get()} is the calling thread's context look-up (a field of a runtime thread, a thread-local
 * of a task) and an array load: nothing is allocated.
 *
 * @param <T> the type of each CPU's value
 */
public final class PerCpu<T> implements Iterable<T> {
    private final Kernel kernel;
    private final Object[] values;

    PerCpu(Kernel kernel, IntFunction<? extends T> init) {
        this.kernel = Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(init, "init");
        this.values = new Object[kernel.cpus()];
        for (int cpu = 0; cpu < values.length; cpu++) {
            values[cpu] = Objects.requireNonNull(init.apply(cpu), "the initialiser returned null for CPU " + cpu);
        }
    }

    /**
     * A per-CPU variable of {@code kernel}: {@code init} is called once for each CPU, in order, on the calling
     * thread. Same as {@link Kernel#perCpu(IntFunction)}.
     *
     * @param <T>    the type of each CPU's value
     * @param kernel the kernel whose CPUs it has values for
     * @param init   the value of each CPU, from its number; never null
     * @return the per-CPU variable
     * @throws NullPointerException when {@code kernel}, {@code init} or one of the values is null
     */
    public static <T> PerCpu<T> of(Kernel kernel, IntFunction<? extends T> init) {
        return new PerCpu<>(kernel, init);
    }

    /**
     * {@code this_cpu_ptr(v)}: the calling thread's CPU's value (see the context rules above).
     *
     * @return this CPU's value
     * @throws IllegalStateException when the calling thread has no CPU on this kernel
     */
    @SuppressWarnings("unchecked")
    public T get() {
        return (T) values[kernel.thisCpu("this_cpu_ptr")];
    }

    /**
     * {@code per_cpu_ptr(v, cpu)}: {@code cpu}'s value. Any thread.
     *
     * @param cpu a CPU number, 0 to {@link #cpus()} - 1
     * @return that CPU's value
     * @throws IllegalArgumentException when this kernel has no such CPU
     */
    @SuppressWarnings("unchecked")
    public T get(int cpu) {
        return (T) values[checkCpu(cpu, values.length)];
    }

    /**
     * The number of CPUs, each with a value.
     *
     * @return the kernel's CPU count
     */
    public int cpus() {
        return values.length;
    }

    /**
     * {@code for_each_possible_cpu(cpu)}: calls {@code action} with each CPU's value and number, in CPU order, on
     * the calling thread. Any thread.
     *
     * @param action what to do with each value and its CPU
     */
    public void forEachCpu(ObjIntConsumer<? super T> action) {
        Objects.requireNonNull(action, "action");
        for (int cpu = 0; cpu < values.length; cpu++) {
            action.accept(get(cpu), cpu);
        }
    }

    /**
     * Every CPU's value in CPU order, for a reader that sums or inspects them. Any thread.
     *
     * @return a sequential stream of the values
     */
    public Stream<T> stream() {
        return asList().stream();
    }

    /**
     * Every CPU's value in CPU order. Any thread.
     *
     * @return an iterator over the values (it does not support removal)
     */
    @Override
    public Iterator<T> iterator() {
        return asList().iterator();
    }

    @SuppressWarnings("unchecked")
    private List<T> asList() {
        return (List<T>) Arrays.asList(values.clone());
    }

    static int checkCpu(int cpu, int cpus) {
        if (cpu < 0 || cpu >= cpus) {
            throw new IllegalArgumentException("no CPU " + cpu + ": this kernel has CPUs 0.." + (cpus - 1));
        }
        return cpu;
    }

    @Override
    public String toString() {
        return "PerCpu" + Arrays.toString(values);
    }
}
