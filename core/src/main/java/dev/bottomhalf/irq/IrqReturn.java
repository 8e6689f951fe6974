package dev.bottomhalf.irq;

/**
 * The values an {@link IrqHandler} returns ({@code irqreturn_t}). Plain ints, as in the kernel, so that a
 * handler can also return a bogus value and be reported for it ({@code irq event N: bogus return value}).
 */
public final class IrqReturn {
    /** {@code IRQ_NONE}: the interrupt was not from this device. */
    public static final int NONE = 0;
    /** {@code IRQ_HANDLED}: the interrupt was handled. */
    public static final int HANDLED = 1;
    /** {@code IRQ_WAKE_THREAD}: wake the handler's thread function. */
    public static final int WAKE_THREAD = 2;

    private IrqReturn() {
    }

    /**
     * {@code IRQ_RETVAL(x)}: HANDLED when {@code handled}, else NONE.
     *
     * @param handled whether the handler served the interrupt
     * @return {@link #HANDLED} or {@link #NONE}
     */
    public static int retval(boolean handled) {
        return handled ? HANDLED : NONE;
    }

    /**
     * The kernel's name of a return value: {@code handled}, {@code unhandled}, ... (as the tracepoint prints it).
     *
     * @param ret a handler's return value
     * @return its name
     */
    public static String describe(int ret) {
        return switch (ret) {
            case NONE -> "unhandled";
            case HANDLED -> "handled";
            case WAKE_THREAD -> "wake_thread";
            case HANDLED | WAKE_THREAD -> "handled|wake_thread";
            default -> "bogus(" + Integer.toHexString(ret) + ")";
        };
    }
}
