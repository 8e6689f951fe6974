package dev.bottomhalf.irq;

/**
 * What an {@link IrqResultHandler} returns: the kernel's {@code irqreturn_t} values as a type, so that a Java
 * handler cannot return a value the kernel would call bogus. Immutable; any thread.
 *
 * <p>Each constant carries the kernel's int ({@link #value()}), which the line's flow handler reads exactly as it
 * reads an {@link IrqHandler}'s return: the conversion is a field load and allocates nothing.
 */
public enum IrqResult {
    /** {@code IRQ_NONE}: the interrupt was not from this device. */
    NONE(IrqReturn.NONE),
    /** {@code IRQ_HANDLED}: the interrupt was handled. */
    HANDLED(IrqReturn.HANDLED),
    /** {@code IRQ_WAKE_THREAD}: wake the handler's thread function. */
    WAKE_THREAD(IrqReturn.WAKE_THREAD),
    /**
     * {@code IRQ_HANDLED | IRQ_WAKE_THREAD}: a value the kernel accepts (it is not bogus, and the interrupt counts
     * as handled) but which does <em>not</em> wake the thread function: the kernel's
     * {@code __handle_irq_event_percpu} wakes it only for exactly {@code IRQ_WAKE_THREAD}, and so does this
     * library. Return {@link #WAKE_THREAD} to run the thread function.
     */
    HANDLED_AND_WAKE_THREAD(IrqReturn.HANDLED | IrqReturn.WAKE_THREAD);

    private static final IrqResult[] BY_VALUE = {NONE, HANDLED, WAKE_THREAD, HANDLED_AND_WAKE_THREAD};

    private final int value;

    IrqResult(int value) {
        this.value = value;
    }

    /**
     * The kernel's {@code irqreturn_t} value ({@link IrqReturn#NONE}, {@link IrqReturn#HANDLED},
     * {@link IrqReturn#WAKE_THREAD} or their OR).
     *
     * @return the int an {@link IrqHandler} would return
     */
    public int value() {
        return value;
    }

    /**
     * {@code IRQ_RETVAL(handled)}: {@link #HANDLED} when {@code handled}, else {@link #NONE}.
     *
     * @param handled whether the device raised the interrupt
     * @return HANDLED or NONE
     */
    public static IrqResult of(boolean handled) {
        return handled ? HANDLED : NONE;
    }

    /**
     * The constant for a kernel {@code irqreturn_t} value.
     *
     * @param value 0 to 3
     * @return its constant
     * @throws IllegalArgumentException for any other value (the kernel's bogus return values)
     */
    public static IrqResult of(int value) {
        if (value < 0 || value >= BY_VALUE.length) {
            throw new IllegalArgumentException("not an irqreturn_t value: " + value + " ("
                    + IrqReturn.describe(value) + ")");
        }
        return BY_VALUE[value];
    }
}
