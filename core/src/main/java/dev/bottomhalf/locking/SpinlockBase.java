package dev.bottomhalf.locking;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * What {@link Spinlock} ({@code spinlock_t}) and {@link RawSpinlock} ({@code raw_spinlock_t}) share — without
 * {@code PREEMPT_RT} the two behave the same: the lock word, the debug owner of {@code CONFIG_DEBUG_SPINLOCK},
 * the lockdep class, and every lock and unlock form. Thread-safe; each operation acts on the calling thread's
 * {@linkplain ExecutionContext#current() execution context}, which must belong to a kernel.
 *
 * <p>Implementation notes.
 * <ul>
 * <li>{@code state} is 0 (free) or 1 (held): taking is a CAS 0 → 1 (the acquire), dropping a release store of
 * 0 that pairs with the next taker's CAS. Uncontended, a lock and an unlock cost the CAS, the store, three plain
 * stores of the debug owner ({@code owner}, {@code owner_cpu} and the owner's thread) and the context's counter
 * updates; with lockdep off nothing is allocated.</li>
 * <li>The debug owner is written by the holder after the CAS and cleared before the release store; other threads
 * read it only to tell a misuse or a deadlock from contention, racily, as the kernel's {@code READ_ONCE} does.
 * A stale read can delay a report, never break the exclusion, which rests on {@code state} alone.</li>
 * <li>The context effects come first, as in the kernel ({@code preempt_disable}, then IRQs or bottom halves
 * off, then the lock): a waiter spins with them in force. A waiter that can never get the lock (it holds it
 * itself; the holder runs on this same thread in stepped mode; the kernel panicked) undoes them and throws
 * {@link IllegalStateException} after the report, instead of hanging.</li>
 * </ul>
 */
public abstract sealed class SpinlockBase permits Spinlock, RawSpinlock {
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(SpinlockBase.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through STATE
    private volatile int state;
    private ExecutionContext owner;
    private int ownerCpu = -1;
    private Thread ownerThread;
    private final String name;
    private Object classKey;

    SpinlockBase(String name, boolean defined) {
        this.name = java.util.Objects.requireNonNull(name, "name");
        this.classKey = defined ? this : InitSite.caller();
    }

    /**
     * The name lockdep and the reports print ({@code &dev->lock}, or a {@code DEFINE_SPINLOCK}'s name).
     *
     * @return the name
     */
    public final String name() {
        return name;
    }

    /**
     * {@code spin_lock_init(lock)}: the lock is free, and its lockdep class is the caller's call site (every
     * lock initialised there shares it, as every lock of one {@code spin_lock_init} in the kernel does). Only on a
     * lock nobody holds; any thread.
     */
    public final void init() {
        classKey = InitSite.caller();
        owner = null;
        ownerCpu = -1;
        ownerThread = null;
        STATE.setRelease(this, 0);
    }

    // ------------------------------------------------------------------------------------------
    // Lock forms (include/linux/spinlock_api_smp.h)
    // ------------------------------------------------------------------------------------------

    /** {@code spin_lock}: disables preemption ({@code preempt_count} + 1), then takes the lock, spinning. */
    public final void lock() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.preemptDisable();
        acquire(ctx, LockDebug.PLAIN, 0);
    }

    /** {@code spin_unlock}: drops the lock, then enables preemption. */
    public final void unlock() {
        ExecutionContext ctx = ExecutionContext.current();
        release(ctx);
        ctx.preemptEnable();
    }

    /** {@code spin_lock_irq}: disables this CPU's IRQs and preemption, then takes the lock. */
    public final void lockIrq() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localIrqDisable();
        ctx.preemptDisable();
        acquire(ctx, LockDebug.IRQ, 0);
    }

    /** {@code spin_unlock_irq}: drops the lock, enables IRQs (an interrupt latched meanwhile is delivered), then preemption. */
    public final void unlockIrq() {
        ExecutionContext ctx = ExecutionContext.current();
        release(ctx);
        ctx.localIrqEnable();
        ctx.preemptEnable();
    }

    /**
     * {@code spin_lock_irqsave(lock, flags)}: saves and disables this CPU's IRQs, disables preemption, takes the
     * lock.
     *
     * @return the flags for {@link #unlockIrqrestore(long)} (the macro's {@code flags} argument)
     */
    public final long lockIrqsave() {
        ExecutionContext ctx = ExecutionContext.current();
        long flags = ctx.localIrqSave();
        ctx.preemptDisable();
        acquire(ctx, LockDebug.IRQSAVE, flags);
        return flags;
    }

    /**
     * {@code spin_unlock_irqrestore(lock, flags)}: drops the lock, restores IRQs as saved, enables preemption.
     *
     * @param flags the flags {@link #lockIrqsave()} returned
     */
    public final void unlockIrqrestore(long flags) {
        ExecutionContext ctx = ExecutionContext.current();
        release(ctx);
        ctx.localIrqRestore(flags);
        ctx.preemptEnable();
    }

    /**
     * {@code spin_lock_bh}: adds {@code SOFTIRQ_LOCK_OFFSET} ({@code SOFTIRQ_DISABLE_OFFSET + PREEMPT_OFFSET}) to
     * the count — bottom halves off, so {@code in_softirq()} is true and this CPU's softirqs wait — then takes
     * the lock.
     */
    public final void lockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localBhDisable();
        ctx.preemptDisable();
        acquire(ctx, LockDebug.BH, 0);
    }

    /**
     * {@code spin_unlock_bh}: drops the lock and removes {@code SOFTIRQ_LOCK_OFFSET} as
     * {@code __local_bh_enable_ip} does: softirqs raised meanwhile run here, on the calling thread.
     */
    public final void unlockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        release(ctx);
        ctx.preemptEnable();
        ctx.localBhEnable();
    }

    /**
     * {@code spin_trylock}: takes the lock if it is free (preemption stays disabled) and returns true; never
     * waits.
     *
     * @return true when taken, false when busy
     */
    public final boolean trylock() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.preemptDisable();
        if (tryAcquire(ctx)) {
            return true;
        }
        ctx.preemptEnable();
        return false;
    }

    /** Flags value {@link #trylockIrqsave()} returns when the lock was busy. */
    public static final long TRYLOCK_FAILED = -1;

    /**
     * {@code spin_trylock_irqsave(lock, flags)}: saves and disables IRQs and takes the lock if it is free; when
     * it is busy, restores IRQs and returns {@link #TRYLOCK_FAILED}.
     *
     * @return the flags for {@link #unlockIrqrestore(long)}, or {@link #TRYLOCK_FAILED}
     */
    public final long trylockIrqsave() {
        ExecutionContext ctx = ExecutionContext.current();
        long flags = ctx.localIrqSave();
        ctx.preemptDisable();
        if (tryAcquire(ctx)) {
            return flags;
        }
        ctx.preemptEnable();
        ctx.localIrqRestore(flags);
        return TRYLOCK_FAILED;
    }

    /**
     * {@code spin_trylock_bh}: disables bottom halves and takes the lock if it is free; when it is busy, enables
     * them again — running pending softirqs, as {@code __local_bh_enable_ip} — and returns false.
     *
     * @return true when taken, false when busy
     */
    public final boolean trylockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localBhDisable();
        ctx.preemptDisable();
        if (tryAcquire(ctx)) {
            return true;
        }
        ctx.preemptEnable();
        ctx.localBhEnable();
        return false;
    }

    /**
     * {@code spin_is_locked}: whether some context holds the lock; a snapshot. Any thread.
     *
     * @return true when held
     */
    public final boolean isLocked() {
        return (int) STATE.getOpaque(this) != 0;
    }

    /**
     * {@code assert_spin_locked}: {@code BUG_ON(!spin_is_locked(lock))} — reported as {@code kernel BUG at
     * assert_spin_locked(name)!} when nobody holds the lock; the caller goes on.
     */
    public final void assertLocked() {
        if (!isLocked()) {
            ExecutionContext ctx = ExecutionContext.current();
            RuntimeAccess.get().machine(ctx).reports().bug("kernel BUG at assert_spin_locked(" + name + ")!",
                    new Throwable("assert_spin_locked"));
        }
    }

    /**
     * {@code lockdep_assert_held(lock)}: a {@code WARNING} when the calling context does not hold the lock — as
     * lockdep knows it when lockdep is on (the kernel checks only then), from the debug owner otherwise.
     */
    public final void lockdepAssertHeld() {
        ExecutionContext ctx = ExecutionContext.current();
        Lockdep ld = Lockdep.active(ctx);
        boolean held = ld != null ? ld.isHeld(ctx, this) : owner == ctx && isLocked();
        if (!held) {
            RuntimeAccess.get().machine(ctx).reports()
                    .warning("WARNING: lockdep_assert_held(" + name + "): not held by " + ctx.name());
        }
    }

    /**
     * Whether the calling context holds this lock (the debug owner); for assertions.
     *
     * @return true when the calling context holds it
     */
    public final boolean heldByCurrentContext() {
        return owner == ExecutionContext.current() && isLocked();
    }

    // ------------------------------------------------------------------------------------------
    // The lock word and the debug checks
    // ------------------------------------------------------------------------------------------

    private void acquire(ExecutionContext ctx, int how, long flags) {
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.acquire(ctx, this, classKey, name, Lockdep.LD_WAIT_SPIN, Lockdep.WRITE, false);
        }
        if (!STATE.compareAndSet(this, 0, 1)) {
            contended(ctx, how, flags);
        }
        owner = ctx;
        ownerCpu = ctx.cpuId();
        ownerThread = Thread.currentThread();
    }

    private boolean tryAcquire(ExecutionContext ctx) {
        if ((int) STATE.getOpaque(this) != 0 || !STATE.compareAndSet(this, 0, 1)) {
            return false;
        }
        owner = ctx;
        ownerCpu = ctx.cpuId();
        ownerThread = Thread.currentThread();
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.acquire(ctx, this, classKey, name, Lockdep.LD_WAIT_SPIN, Lockdep.WRITE, true);
        }
        return true;
    }

    /** {@code debug_spin_lock_before} on a busy lock, then {@code __spin_lock_debug}'s wait. */
    private void contended(ExecutionContext ctx, int how, long flags) {
        ExecutionContext o = owner;
        if (o == ctx) {
            LockDebug.spinBug(ctx, "recursion", this, name, o, ownerPid(), ownerCpu);
            LockDebug.undo(ctx, how, flags);
            throw new IllegalStateException("BUG: spinlock recursion: " + ctx.name() + " takes " + name
                    + ", which it already holds; it would spin forever");
        }
        if (o != null && ownerCpu == ctx.cpuId() && ctx.interruptContextLevel() > o.interruptContextLevel()) {
            // This context interrupted the holder on its CPU: in the kernel the holder cannot run until we return.
            LockDebug.spinBug(ctx, "cpu recursion", this, name, o, ownerPid(), ownerCpu);
        }
        LockDebug.spin(ctx, new Waiter(), how, flags);
    }

    private long ownerPid() {
        Thread t = ownerThread;
        return t == null ? -1 : t.threadId();
    }

    private void release(ExecutionContext ctx) {
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.release(ctx, this, name);
        }
        if (owner != ctx) {
            if (!isLocked()) {
                LockDebug.spinBug(ctx, "already unlocked", this, name, null, -1, -1);
                return;
            }
            LockDebug.spinBug(ctx, "wrong owner", this, name, owner, ownerPid(), ownerCpu);
        }
        owner = null;
        ownerCpu = -1;
        ownerThread = null;
        STATE.setRelease(this, 0);
    }

    /** The waiting loop's view of this lock; made only when a taker has to wait. */
    private final class Waiter implements LockDebug.SpinWaiter {
        @Override
        public boolean tryAcquire() {
            return (int) STATE.getOpaque(SpinlockBase.this) == 0 && STATE.compareAndSet(SpinlockBase.this, 0, 1);
        }

        @Override
        public Thread ownerThread() {
            return ownerThread;
        }

        @Override
        public String ownerName() {
            ExecutionContext o = owner;
            return o == null ? "another context" : o.name();
        }

        @Override
        public String lockName() {
            return name;
        }

        @Override
        public void reportLockup(ExecutionContext ctx) {
            RuntimeAccess.get().machine(ctx).reports()
                    .bug(LockDebug.spinDump(ctx, "lockup suspected", SpinlockBase.this, name, owner,
                    ownerPid(), ownerCpu), new Throwable("BUG: spinlock lockup suspected"));
        }
    }

    @Override
    public String toString() {
        ExecutionContext o = owner;
        return getClass().getSimpleName() + "(" + name + (isLocked() ? ", held by " + (o == null ? "?" : o.name())
                + " on CPU " + ownerCpu : ", free") + ")";
    }
}
