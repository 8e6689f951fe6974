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

    /** This package's classes and the facade: frames that are not the caller's code. */
    private static final java.util.Set<String> LOCKING_CODE = java.util.Set.of(
            "dev.bottomhalf.linux.Linux", InitSite.class.getName(), Lockdep.class.getName(),
            LockDebug.class.getName(), LockingState.class.getName(), SpinlockBase.class.getName(),
            Spinlock.class.getName(), RawSpinlock.class.getName(), Rwlock.class.getName());

    /** Whether {@code className} (of a stack frame) is this package's code or the facade's, or nested in it. */
    static boolean isLockingCode(String className) {
        int nested = className.indexOf('$');
        return LOCKING_CODE.contains(nested < 0 ? className : className.substring(0, nested));
    }

    /** The first frame outside this package and the facade: the code that made or initialised the lock. */
    static InitSite caller() {
        return WALKER.walk(frames -> frames
                .filter(f -> !isLockingCode(f.getClassName()))
                .findFirst()
                .map(f -> new InitSite(f.getClassName(), f.getMethodName(), f.getByteCodeIndex()))
                .orElse(new InitSite("?", "?", -1)));
    }
}
