package dev.bottomhalf.locking;

/**
 * Where a lock was initialised: the lockdep class key of a lock made by {@code spin_lock_init} or
 * {@code rwlock_init} (the kernel's {@code static struct lock_class_key __key} of one macro expansion). Two
 * sites are equal when they are the same bytecode instruction of the same method. Immutable.
 *
 * @param className the caller's class
 * @param method    the caller's method
 * @param bci       the call's bytecode index
 */
record InitSite(String className, String method, int bci) {
    private static final StackWalker WALKER = StackWalker.getInstance();

    /** The first frame outside this package and the facade: the code that made or initialised the lock. */
    static InitSite caller() {
        return WALKER.walk(frames -> frames
                .filter(f -> !f.getClassName().startsWith("dev.bottomhalf.locking.")
                        && !f.getClassName().equals("dev.bottomhalf.linux.Linux"))
                .findFirst()
                .map(f -> new InitSite(f.getClassName(), f.getMethodName(), f.getByteCodeIndex()))
                .orElse(new InitSite("?", "?", -1)));
    }
}
