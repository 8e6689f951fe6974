package dev.bottomhalf.irq;

import java.util.Set;

/**
 * Request flags ({@code IRQF_*}) with the kernel's values. The Java API takes {@code Set<IrqFlag>}; the
 * {@code dev.bottomhalf.linux} facade takes the OR-ed ints, as kernel code does.
 */
public enum IrqFlag {
    /** {@code IRQF_TRIGGER_RISING}: edge triggered on the rising edge. */
    TRIGGER_RISING(0x1),
    /** {@code IRQF_TRIGGER_FALLING}: edge triggered on the falling edge. */
    TRIGGER_FALLING(0x2),
    /** {@code IRQF_TRIGGER_HIGH}: level triggered while high. */
    TRIGGER_HIGH(0x4),
    /** {@code IRQF_TRIGGER_LOW}: level triggered while low. */
    TRIGGER_LOW(0x8),
    /** {@code IRQF_TRIGGER_PROBE}: the trigger type is being probed. */
    PROBE(0x10),
    /** The line may be shared by several handlers; each must pass a distinct {@code dev_id}. */
    SHARED(0x80),
    /** Don't print the flags-mismatch message when sharing fails. */
    PROBE_SHARED(0x100),
    /** {@code __IRQF_TIMER}: the timer interrupt's flag; part of {@code IRQF_TIMER}. */
    TIMER_INTERNAL(0x200),
    /** {@code IRQF_PERCPU}: a per-CPU interrupt. */
    PERCPU(0x400),
    /** {@code IRQF_NOBALANCING}: excluded from IRQ balancing. */
    NOBALANCING(0x800),
    /** {@code IRQF_IRQPOLL}: the interrupt is used for polling (only the first sharer's flag counts). */
    IRQPOLL(0x1000),
    /** Keep the line masked after the hard handler until the thread function has returned. */
    ONESHOT(0x2000),
    /** {@code IRQF_NO_SUSPEND}: not disabled during suspend. */
    NO_SUSPEND(0x4000),
    /** {@code IRQF_FORCE_RESUME}: enabled on resume even with {@code NO_SUSPEND}. */
    FORCE_RESUME(0x8000),
    /** {@code IRQF_NO_THREAD}: never force-threaded. */
    NO_THREAD(0x10000),
    /** {@code IRQF_EARLY_RESUME}: resumed early, with the syscore operations. */
    EARLY_RESUME(0x20000),
    /** {@code IRQF_COND_SUSPEND}: may share a line with a {@code NO_SUSPEND} user. */
    COND_SUSPEND(0x40000),
    /** Don't enable the line at request time: the driver calls {@code enable_irq}. */
    NO_AUTOEN(0x80000),
    /** Exclude the line from unhandled-interrupt detection. */
    NO_DEBUG(0x100000),
    /** Join a ONESHOT shared line, inheriting ONESHOT (Linux 6.9+). */
    COND_ONESHOT(0x200000);

    /** {@code IRQF_TRIGGER_MASK}. */
    public static final int TRIGGER_MASK = 0xf;

    private final int value;

    IrqFlag(int value) {
        this.value = value;
    }

    /**
     * The kernel's {@code IRQF_*} value.
     *
     * @return the bit value
     */
    public int value() {
        return value;
    }

    /**
     * The OR of the flags' values.
     *
     * @param flags the flags
     * @return their bits OR-ed, 0 for an empty set
     */
    public static int mask(Set<IrqFlag> flags) {
        int m = 0;
        for (IrqFlag f : flags) {
            m |= f.value;
        }
        return m;
    }

    /**
     * Whether {@code flags} contains this flag's bit.
     *
     * @param flags {@code IRQF_*} bits
     * @return true when this flag's bit is set
     */
    public boolean in(int flags) {
        return (flags & value) != 0;
    }
}
