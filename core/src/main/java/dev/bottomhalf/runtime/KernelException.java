package dev.bottomhalf.runtime;

import java.util.Objects;

/**
 * A call the kernel would refuse with an error code ({@code -EINVAL}, {@code -EBUSY}, ...). The message
 * names the rule that was broken; {@link #errno()} is the code the kernel function would return, and
 * the {@code dev.bottomhalf.linux} facade returns {@code -errno().code()} instead of throwing, as kernel
 * code expects.
 */
public class KernelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The error code; serialised with the exception. */
    private final Errno errno;

    /**
     * A refusal with error code {@code errno}; the message is prefixed with the code's name.
     *
     * @param errno the error code
     * @param message the rule that was broken
     */
    public KernelException(Errno errno, String message) {
        super(Objects.requireNonNull(errno, "errno") + ": " + message);
        this.errno = errno;
    }

    /**
     * The error code the kernel would return (negated).
     *
     * @return the error code
     */
    public Errno errno() {
        return errno;
    }
}
