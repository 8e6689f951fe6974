package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A pool's lock ({@code pool->lock}, a raw spinlock in the kernel): one CAS to take, one release store to
 * drop; a contended taker spins briefly, then yields. Not reentrant. Critical sections never run user code,
 * so holders are short; a spinning waiter stays runnable, so the concurrency check never mistakes a worker
 * waiting for this lock for one that blocked.
 */
final class PoolLock {
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(PoolLock.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through STATE
    private volatile int state;

    void lock() {
        if (!STATE.compareAndSet(this, 0, 1)) {
            lockSlow();
        }
    }

    private void lockSlow() {
        int spins = 0;
        do {
            if (++spins < 128) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        } while ((int) STATE.getOpaque(this) != 0 || !STATE.compareAndSet(this, 0, 1));
    }

    void unlock() {
        STATE.setRelease(this, 0);
    }
}
