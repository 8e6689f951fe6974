package dev.bottomhalf.locking;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * The kernel's {@code rwlock_t}: a spinning reader-writer lock — any number of readers or one writer — with the
 * kernel's lock forms ({@code read_lock}, {@code write_lock} and their {@code _irq}, {@code _irqsave} and
 * {@code _bh} forms, trylocks) and their effects on the calling context, which are those of {@link Spinlock}.
 * Thread-safe; every operation acts on the calling thread's execution context, in any context of any kernel.
 *
 * <p>Readers are recursive, as the kernel's: a reader in an interrupt may take the lock while a reader it
 * interrupted holds it, and lockdep does not count read-after-read as recursion.
 *
 * <p>Implementation notes. {@code state} is the number of readers, or -1 while a writer holds the lock; every
 * change is a CAS (acquire) or, for the writer's unlock, a release store. A reader waits only while a writer
 * holds the lock (no writer preference: the kernel's queued rwlock lets waiting writers go first except for
 * readers in interrupt context; here writers can starve under a stream of readers). The debug owner is the
 * writer's, as in the kernel's {@code CONFIG_DEBUG_SPINLOCK}; the last reader's thread is kept too, so that
 * a stepped writer waiting for readers on its own thread is told from contention.
 */
public final class Rwlock {
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Rwlock.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final int WRITER = -1;

    @SuppressWarnings("unused") // through STATE
    private volatile int state;
    private ExecutionContext owner;
    private int ownerCpu = -1;
    private Thread ownerThread;
    private Thread lastReaderThread;
    private final String name;
    private Object classKey;

    /**
     * A lock initialised here ({@code rwlock_init}): its lockdep class is this call site.
     *
     * @param name the name reports print ({@code &dev->stats_lock})
     */
    public Rwlock(String name) {
        this(name, false);
    }

    private Rwlock(String name, boolean defined) {
        this.name = Objects.requireNonNull(name, "name");
        this.classKey = defined ? this : InitSite.caller();
    }

    /**
     * {@code DEFINE_RWLOCK(name)}: a lock that is a lockdep class of its own.
     *
     * @param name the lock's name, shown in reports
     * @return a new unlocked lock
     */
    public static Rwlock define(String name) {
        return new Rwlock(name, true);
    }

    /** {@code rwlock_init(lock)}: free again, its lockdep class the caller's call site. Only on a free lock. */
    public void init() {
        classKey = InitSite.caller();
        owner = null;
        ownerCpu = -1;
        ownerThread = null;
        lastReaderThread = null;
        STATE.setRelease(this, 0);
    }

    /**
     * The name reports print.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * Whether a writer or any reader holds the lock; a snapshot. Any thread.
     *
     * @return true when held
     */
    public boolean isLocked() {
        return (int) STATE.getOpaque(this) != 0;
    }

    /**
     * How many readers hold the lock (0 also while a writer does); a snapshot. Any thread.
     *
     * @return the reader count
     */
    public int readers() {
        return Math.max(0, (int) STATE.getOpaque(this));
    }

    /**
     * {@code lockdep_assert_held(lock)}: a {@code WARNING} when the calling context holds the lock neither for
     * reading nor for writing — as lockdep knows it when lockdep is on; with lockdep off, when no reader holds it
     * and the writer (if any) is another context.
     */
    public void lockdepAssertHeld() {
        ExecutionContext ctx = ExecutionContext.current();
        Lockdep ld = Lockdep.active(ctx);
        int s = (int) STATE.getOpaque(this);
        boolean held = ld != null ? ld.isHeld(ctx, this) : s > 0 || (s == WRITER && owner == ctx);
        if (!held) {
            RuntimeAccess.get().machine(ctx).reports()
                    .warning("WARNING: lockdep_assert_held(" + name + "): not held by " + ctx.name());
        }
    }

    // ------------------------------------------------------------------------------------------
    // Readers
    // ------------------------------------------------------------------------------------------

    /** {@code read_lock}: disables preemption, then takes the lock shared, spinning while a writer holds it. */
    public void readLock() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.preemptDisable();
        acquireRead(ctx, LockDebug.PLAIN, 0);
    }

    /** {@code read_unlock}. */
    public void readUnlock() {
        ExecutionContext ctx = ExecutionContext.current();
        releaseRead(ctx);
        ctx.preemptEnable();
    }

    /** {@code read_lock_irq}. */
    public void readLockIrq() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localIrqDisable();
        ctx.preemptDisable();
        acquireRead(ctx, LockDebug.IRQ, 0);
    }

    /** {@code read_unlock_irq}. */
    public void readUnlockIrq() {
        ExecutionContext ctx = ExecutionContext.current();
        releaseRead(ctx);
        ctx.localIrqEnable();
        ctx.preemptEnable();
    }

    /**
     * {@code read_lock_irqsave(lock, flags)}: returns the flags for {@link #readUnlockIrqrestore(long)}.
     *
     * @return the saved interrupt flags
     */
    public long readLockIrqsave() {
        ExecutionContext ctx = ExecutionContext.current();
        long flags = ctx.localIrqSave();
        ctx.preemptDisable();
        acquireRead(ctx, LockDebug.IRQSAVE, flags);
        return flags;
    }

    /**
     * {@code read_unlock_irqrestore(lock, flags)}.
     *
     * @param flags the flags {@link #readLockIrqsave()} returned
     */
    public void readUnlockIrqrestore(long flags) {
        ExecutionContext ctx = ExecutionContext.current();
        releaseRead(ctx);
        ctx.localIrqRestore(flags);
        ctx.preemptEnable();
    }

    /** {@code read_lock_bh}: {@code SOFTIRQ_LOCK_OFFSET}, as {@link Spinlock#lockBh()}. */
    public void readLockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localBhDisable();
        ctx.preemptDisable();
        acquireRead(ctx, LockDebug.BH, 0);
    }

    /** {@code read_unlock_bh}: pending softirqs run here, as {@link Spinlock#unlockBh()}. */
    public void readUnlockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        releaseRead(ctx);
        ctx.preemptEnable();
        ctx.localBhEnable();
    }

    /**
     * {@code read_trylock}: takes the lock shared if no writer holds it; never waits.
     *
     * @return true when taken
     */
    public boolean readTrylock() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.preemptDisable();
        if (tryRead()) {
            lastReaderThread = Thread.currentThread();
            Lockdep ld = Lockdep.active(ctx);
            if (ld != null) {
                ld.acquire(ctx, this, classKey, name, Lockdep.LD_WAIT_SPIN, Lockdep.READ_RECURSIVE, true);
            }
            return true;
        }
        ctx.preemptEnable();
        return false;
    }

    // ------------------------------------------------------------------------------------------
    // Writers
    // ------------------------------------------------------------------------------------------

    /** {@code write_lock}: disables preemption, then takes the lock exclusively, spinning while anyone holds it. */
    public void writeLock() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.preemptDisable();
        acquireWrite(ctx, LockDebug.PLAIN, 0);
    }

    /** {@code write_unlock}. */
    public void writeUnlock() {
        ExecutionContext ctx = ExecutionContext.current();
        releaseWrite(ctx);
        ctx.preemptEnable();
    }

    /** {@code write_lock_irq}. */
    public void writeLockIrq() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localIrqDisable();
        ctx.preemptDisable();
        acquireWrite(ctx, LockDebug.IRQ, 0);
    }

    /** {@code write_unlock_irq}. */
    public void writeUnlockIrq() {
        ExecutionContext ctx = ExecutionContext.current();
        releaseWrite(ctx);
        ctx.localIrqEnable();
        ctx.preemptEnable();
    }

    /**
     * {@code write_lock_irqsave(lock, flags)}: returns the flags for {@link #writeUnlockIrqrestore(long)}.
     *
     * @return the saved interrupt flags
     */
    public long writeLockIrqsave() {
        ExecutionContext ctx = ExecutionContext.current();
        long flags = ctx.localIrqSave();
        ctx.preemptDisable();
        acquireWrite(ctx, LockDebug.IRQSAVE, flags);
        return flags;
    }

    /**
     * {@code write_unlock_irqrestore(lock, flags)}.
     *
     * @param flags the flags {@link #writeLockIrqsave()} returned
     */
    public void writeUnlockIrqrestore(long flags) {
        ExecutionContext ctx = ExecutionContext.current();
        releaseWrite(ctx);
        ctx.localIrqRestore(flags);
        ctx.preemptEnable();
    }

    /** {@code write_lock_bh}. */
    public void writeLockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.localBhDisable();
        ctx.preemptDisable();
        acquireWrite(ctx, LockDebug.BH, 0);
    }

    /** {@code write_unlock_bh}: pending softirqs run here. */
    public void writeUnlockBh() {
        ExecutionContext ctx = ExecutionContext.current();
        releaseWrite(ctx);
        ctx.preemptEnable();
        ctx.localBhEnable();
    }

    /**
     * {@code write_trylock}: takes the lock exclusively if nobody holds it; never waits.
     *
     * @return true when taken
     */
    public boolean writeTrylock() {
        ExecutionContext ctx = ExecutionContext.current();
        ctx.preemptDisable();
        if (tryWrite()) {
            setOwner(ctx);
            Lockdep ld = Lockdep.active(ctx);
            if (ld != null) {
                ld.acquire(ctx, this, classKey, name, Lockdep.LD_WAIT_SPIN, Lockdep.WRITE, true);
            }
            return true;
        }
        ctx.preemptEnable();
        return false;
    }

    // ------------------------------------------------------------------------------------------
    // The lock word and the debug checks
    // ------------------------------------------------------------------------------------------

    private boolean tryRead() {
        int s;
        while ((s = (int) STATE.getOpaque(this)) >= 0) {
            if (STATE.compareAndSet(this, s, s + 1)) {
                return true;
            }
        }
        return false;
    }

    private boolean tryWrite() {
        return (int) STATE.getOpaque(this) == 0 && STATE.compareAndSet(this, 0, WRITER);
    }

    private void setOwner(ExecutionContext ctx) {
        owner = ctx;
        ownerCpu = ctx.cpuId();
        ownerThread = Thread.currentThread();
    }

    private void acquireRead(ExecutionContext ctx, int how, long flags) {
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.acquire(ctx, this, classKey, name, Lockdep.LD_WAIT_SPIN, Lockdep.READ_RECURSIVE, false);
        }
        if (!tryRead()) {
            if (owner == ctx) {
                LockDebug.rwlockBug(ctx, "recursion", this, name);
                LockDebug.undo(ctx, how, flags);
                throw new IllegalStateException("BUG: rwlock recursion: " + ctx.name() + " read-locks " + name
                        + ", which it holds for writing; it would spin forever");
            }
            LockDebug.spin(ctx, new Waiter(true), how, flags);
        }
        lastReaderThread = Thread.currentThread();
    }

    private void releaseRead(ExecutionContext ctx) {
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.release(ctx, this, name);
        }
        int s;
        while ((s = (int) STATE.getOpaque(this)) > 0) {
            if (STATE.compareAndSet(this, s, s - 1)) {
                return;
            }
        }
        if (ld == null) {
            Lockdep.reportUnlockImbalance(ctx, name);
        }
    }

    private void acquireWrite(ExecutionContext ctx, int how, long flags) {
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.acquire(ctx, this, classKey, name, Lockdep.LD_WAIT_SPIN, Lockdep.WRITE, false);
        }
        if (!tryWrite()) {
            ExecutionContext o = owner;
            if (o == ctx) {
                LockDebug.rwlockBug(ctx, "recursion", this, name);
                LockDebug.undo(ctx, how, flags);
                throw new IllegalStateException("BUG: rwlock recursion: " + ctx.name() + " write-locks " + name
                        + ", which it already holds; it would spin forever");
            }
            if (o != null && ownerCpu == ctx.cpuId() && ctx.interruptContextLevel() > o.interruptContextLevel()) {
                LockDebug.rwlockBug(ctx, "cpu recursion", this, name);
            }
            LockDebug.spin(ctx, new Waiter(false), how, flags);
        }
        setOwner(ctx);
    }

    private void releaseWrite(ExecutionContext ctx) {
        Lockdep ld = Lockdep.active(ctx);
        if (ld != null) {
            ld.release(ctx, this, name);
        }
        if (owner != ctx) {
            LockDebug.rwlockBug(ctx, "wrong owner", this, name);
            if ((int) STATE.getOpaque(this) != WRITER) {
                return; // not write-locked: dropping a writer here would corrupt the readers' count
            }
        }
        owner = null;
        ownerCpu = -1;
        ownerThread = null;
        STATE.setRelease(this, 0);
    }

    /** The waiting loop's view of this lock, for a reader or a writer; made only when a taker has to wait. */
    private final class Waiter implements LockDebug.SpinWaiter {
        private final boolean read;

        Waiter(boolean read) {
            this.read = read;
        }

        @Override
        public boolean tryAcquire() {
            return read ? tryRead() : tryWrite();
        }

        @Override
        public Thread ownerThread() {
            int s = (int) STATE.getOpaque(Rwlock.this);
            return s == WRITER ? ownerThread : s > 0 && ctxStepped() ? lastReaderThread : null;
        }

        private boolean ctxStepped() {
            ExecutionContext c = ExecutionContext.currentOrNull();
            return c != null && RuntimeAccess.get().machine(c).stepped();
        }

        @Override
        public String ownerName() {
            ExecutionContext o = owner;
            return o != null ? o.name() : "a reader";
        }

        @Override
        public String lockName() {
            return name;
        }

        @Override
        public void reportLockup(ExecutionContext ctx) {
            RuntimeAccess.get().machine(ctx).reports()
                    .bug("BUG: " + (read ? "read" : "write") + "-lock lockup on CPU#" + ctx.cpuId()
                    + ", " + ctx.name() + "/" + Thread.currentThread().threadId() + ", " + Lockdep.address(Rwlock.this)
                    + " (" + name + ")", new Throwable("BUG: " + (read ? "read" : "write") + "-lock lockup"));
        }
    }

    @Override
    public String toString() {
        int s = (int) STATE.getOpaque(this);
        ExecutionContext o = owner;
        return "Rwlock(" + name + (s == WRITER ? ", write-held by " + (o == null ? "?" : o.name())
                : s > 0 ? ", " + s + " reader(s)" : ", free") + ")";
    }
}
