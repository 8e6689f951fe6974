package dev.bottomhalf.runtime;

import java.io.Serial;

/**
 * The kernel has panicked ({@code panic()}): a handler threw an error after which nothing in the runtime
 * can be trusted (a {@link VirtualMachineError} other than {@link StackOverflowError}: out of memory, an
 * internal JVM error). Thrown out of the call that panicked and, as {@link #refusal()}, by every later call
 * into that kernel; the error the handler threw is the cause. Only {@code Kernel.close()} still works.
 */
public final class KernelPanic extends IllegalStateException {
    @Serial
    private static final long serialVersionUID = 1L;

    /** The kernel's reason for the panic; serialised with the exception. */
    private final String reason;

    KernelPanic(String reason, Throwable cause) {
        super("Kernel panic - not syncing: " + reason, cause);
        this.reason = reason;
    }

    /**
     * The kernel's reason: {@code Fatal exception in interrupt} or {@code Fatal exception}.
     *
     * @return the reason
     */
    public String reason() {
        return reason;
    }

    /** What a call into the panicked kernel throws: {@code kernel panicked: <reason>}, caused by the panic. */
    IllegalStateException refusal() {
        return new IllegalStateException("kernel panicked: " + reason, this);
    }
}
