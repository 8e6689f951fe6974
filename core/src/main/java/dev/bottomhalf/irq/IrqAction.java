package dev.bottomhalf.irq;

/**
 * One handler installed on a line ({@code struct irqaction}). Immutable apart from the thread state.
 */
final class IrqAction {
    final int irq;
    final IrqHandler handler;
    final IrqHandler threadFn;
    final int flags;
    final String name;
    final Object devId;
    /** This action's bit in the line's {@code threads_oneshot} mask (0 when not ONESHOT-threaded). */
    final long threadMask;
    /** True when the primary handler is the default one installed for {@code handler == NULL}. */
    final boolean defaultPrimary;
    IrqThread thread;
    /** A per-CPU line's {@code percpu_dev_id} ({@code request_percpu_irq}): the dev_id of each CPU. */
    java.util.function.IntFunction<?> percpuDevId;
    /** {@code IRQTF_WARNED}: the missing-thread-function warning was printed for this action. */
    volatile boolean warnedNoThread;

    IrqAction(int irq, IrqHandler handler, IrqHandler threadFn, int flags, String name, Object devId,
              long threadMask, boolean defaultPrimary) {
        this.irq = irq;
        this.handler = handler;
        this.threadFn = threadFn;
        this.flags = flags;
        this.name = name;
        this.devId = devId;
        this.threadMask = threadMask;
        this.defaultPrimary = defaultPrimary;
    }

    /** The handler as {@code %ps} would print it in a handler list. */
    String describe() {
        String primary = defaultPrimary ? "irq_default_primary_handler" : name;
        return threadFn == null ? "[<" + primary + ">]" : "[<" + primary + ">] threaded [<" + name + " thread_fn>]";
    }

    @Override
    public String toString() {
        return "irqaction[irq " + irq + " " + name + "]";
    }
}
