package dev.bottomhalf.irq;

import java.util.Set;

/**
 * Request flags ({@code IRQF_*}) with the kernel's values. The Java API takes {@code Set<IrqFlag>}; the
 * {@code dev.bottomhalf.linux} facade takes the OR-ed ints, as kernel code does.
 */
public enum IrqFlag {
    TRIGGER_RISING(0x1),
    TRIGGER_FALLING(0x2),
    TRIGGER_HIGH(0x4),
    TRIGGER_LOW(0x8),
    PROBE(0x10),
    /** The line may be shared by several handlers; each must pass a distinct {@code dev_id}. */
    SHARED(0x80),
    /** Don't print the flags-mismatch message when sharing fails. */
    PROBE_SHARED(0x100),
    TIMER_INTERNAL(0x200),
    PERCPU(0x400),
    NOBALANCING(0x800),
    IRQPOLL(0x1000),
    /** Keep the line masked after the hard handler until the thread function has returned. */
    ONESHOT(0x2000),
    NO_SUSPEND(0x4000),
    FORCE_RESUME(0x8000),
    NO_THREAD(0x10000),
    EARLY_RESUME(0x20000),
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

    /** The kernel's {@code IRQF_*} value. */
    public int value() {
        return value;
    }

    /** The OR of the flags' values. */
    public static int mask(Set<IrqFlag> flags) {
        int m = 0;
        for (IrqFlag f : flags) {
            m |= f.value;
        }
        return m;
    }

    /** Whether {@code flags} contains this flag's bit. */
    public boolean in(int flags) {
        return (flags & value) != 0;
    }
}
