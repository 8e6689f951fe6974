package dev.bottomhalf.runtime;

/** The kernel error codes this library's calls can fail with (the positive values of {@code -errno}). */
public enum Errno {
    /** Operation not permitted. */
    EPERM(1),
    /** No such device or address (for example an offline or invalid CPU). */
    ENXIO(6),
    /** Out of memory (for example a worker thread could not be created). */
    ENOMEM(12),
    /** Device or resource busy (for example an IRQ line that cannot be shared). */
    EBUSY(16),
    /** No such device. */
    ENODEV(19),
    /** Invalid argument. */
    EINVAL(22),
    /** Function not implemented (for example a line with no interrupt controller). */
    ENOSYS(38);

    private final int code;

    Errno(int code) {
        this.code = code;
    }

    /**
     * The positive errno value; kernel functions return its negation.
     *
     * @return the errno value, e.g. 22 for {@code EINVAL}
     */
    public int code() {
        return code;
    }
}
