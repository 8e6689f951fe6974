package dev.bottomhalf.irq;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An IRQ work item ({@code struct irq_work}, {@code kernel/irq_work.c}): a function run in hard-IRQ context,
 * with IRQs disabled, on the CPU it was queued for, soon after it was queued — the kernel raises a self-IPI
 * (or a function-call IPI for another CPU). Queue it from any context, also from a hard handler or with
 * IRQs disabled, with {@link IrqController#irqWorkQueue} / {@link IrqController#irqWorkQueueOn}.
 *
 * <p>Implementation notes: {@code flags} holds the kernel's {@code IRQ_WORK_PENDING} and {@code IRQ_WORK_BUSY}
 * bits. Queueing ORs both in ({@code irq_work_claim}: an atomic fetch-or; whoever finds PENDING clear
 * queues it, everyone else gets false). The CPU that runs it clears PENDING (a plain volatile store: only
 * the runner writes while PENDING is set) before calling the function, so the function may queue it
 * again, and clears BUSY afterwards with a compare-and-set that fails if it was queued again meanwhile.
 */
public final class IrqWork {
    /** {@code IRQ_WORK_PENDING}: queued, not yet started. */
    public static final int IRQ_WORK_PENDING = 0x01;
    /** {@code IRQ_WORK_BUSY}: queued or running. */
    public static final int IRQ_WORK_BUSY = 0x02;
    /** {@code IRQ_WORK_LAZY}: accepted; run like any other item here (see irq.md). */
    public static final int IRQ_WORK_LAZY = 0x04;
    /** {@code IRQ_WORK_HARD_IRQ}: accepted; every item runs in hard-IRQ context here. */
    public static final int IRQ_WORK_HARD_IRQ = 0x08;
    /** {@code IRQ_WORK_CLAIMED}. */
    public static final int IRQ_WORK_CLAIMED = IRQ_WORK_PENDING | IRQ_WORK_BUSY;

    /** {@code void (*func)(struct irq_work *)}. */
    @FunctionalInterface
    public interface Func {
        /**
         * Runs the item in hard-IRQ context on the CPU it was queued for.
         *
         * @param work the item being run, for {@link IrqWork#owner(Class)}
         */
        void run(IrqWork work);
    }

    private final AtomicInteger flags = new AtomicInteger();
    private final Object owner;
    private volatile Func func;
    private volatile String name = "irq_work";
    /** The CPU it was last queued for (diagnostics, {@code irq_work_sync} in stepped mode). */
    volatile int cpu = -1;
    /** The context running the function, while it runs (self-wait detection only). */
    volatile dev.bottomhalf.runtime.ExecutionContext runner;

    /** An uninitialised item, for {@code init_irq_work(&w, fn)} style code ({@link #init}). */
    public IrqWork() {
        this.owner = null;
    }

    /**
     * An uninitialised item embedded in {@code owner}, which the function gets back with {@link #owner(Class)}
     * ({@code container_of(work, struct dev, work)}).
     *
     * @param owner the embedding object
     */
    public IrqWork(Object owner) {
        this.owner = Objects.requireNonNull(owner, "owner");
    }

    /**
     * {@code DEFINE_IRQ_WORK(name, func)} / {@code IRQ_WORK_INIT(func)}: an initialised item.
     *
     * @param name the item's name, for reports
     * @param func its function
     * @return the new, idle item
     */
    public static IrqWork create(String name, Func func) {
        IrqWork w = new IrqWork();
        w.init(name, func);
        return w;
    }

    /**
     * {@code init_irq_work(work, func)}: no flags, the given function. Not while it is queued or running.
     *
     * @param name the item's name, for reports
     * @param func its function
     */
    public void init(String name, Func func) {
        this.name = Objects.requireNonNull(name, "name");
        this.func = Objects.requireNonNull(func, "func");
        flags.set(0);
    }

    /**
     * {@code init_irq_work} with {@code IRQ_WORK_LAZY} and/or {@code IRQ_WORK_HARD_IRQ} set.
     *
     * @param name the item's name, for reports
     * @param func its function
     * @param initFlags {@link #IRQ_WORK_LAZY} and/or {@link #IRQ_WORK_HARD_IRQ}
     * @throws IllegalArgumentException for other flag bits
     */
    public void init(String name, Func func, int initFlags) {
        if ((initFlags & ~(IRQ_WORK_LAZY | IRQ_WORK_HARD_IRQ)) != 0) {
            throw new IllegalArgumentException(String.format("init_irq_work(%s): flags %#x are not IRQ_WORK_LAZY or"
                    + " IRQ_WORK_HARD_IRQ", name, initFlags));
        }
        init(name, func);
        flags.set(initFlags);
    }

    /**
     * The item's name, as given to {@code init}, or null before; any thread.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * {@code irq_work_is_pending(work)}: queued and not yet started. Any thread.
     *
     * @return true when pending
     */
    public boolean isPending() {
        return (flags.get() & IRQ_WORK_PENDING) != 0;
    }

    /**
     * {@code irq_work_is_busy(work)}: queued or running. Any thread.
     *
     * @return true when busy
     */
    public boolean isBusy() {
        return (flags.get() & IRQ_WORK_BUSY) != 0;
    }

    /**
     * The {@code IRQ_WORK_*} flags.
     *
     * @return the flag bits
     */
    public int flags() {
        return flags.get();
    }

    boolean initialised() {
        return func != null;
    }

    /**
     * {@code container_of(work, type, field)}: the object this item is embedded in, as {@code type}.
     *
     * @param <T> the owner's type
     * @param type the owner's class
     * @return the owner
     * @throws IllegalStateException when it was made without an owner
     * @throws ClassCastException    when the owner is not a {@code type}
     */
    public <T> T owner(Class<T> type) {
        if (owner == null) {
            throw new IllegalStateException("container_of(" + name + "): the irq_work is embedded in nothing; make it"
                    + " with new IrqWork(owner)");
        }
        return type.cast(owner);
    }

    /** {@code irq_work_claim}: sets PENDING and BUSY; false when it was already pending. */
    boolean claim() {
        int old = flags.getAndAccumulate(IRQ_WORK_CLAIMED, (f, c) -> f | c);
        return (old & IRQ_WORK_PENDING) == 0;
    }

    /**
     * {@code irq_work_single}: clears PENDING, runs the function, then clears BUSY unless it was queued again
     * meanwhile.
     */
    void run() {
        int f = flags.get() & ~IRQ_WORK_PENDING;
        flags.set(f);
        try {
            func.run(this);
        } finally {
            flags.compareAndSet(f, f & ~IRQ_WORK_BUSY);
        }
    }

    /** Forgets a queued run (a closing kernel). */
    void cancelQueued() {
        flags.accumulateAndGet(~IRQ_WORK_CLAIMED, (f, m) -> f & m);
    }

    @Override
    public String toString() {
        return "irq_work[" + name + (isPending() ? " pending" : isBusy() ? " busy" : "") + "]";
    }
}
