package dev.bottomhalf.locking;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.runtime.RateLimiter;
import dev.bottomhalf.runtime.Reports;

/**
 * The kernel's {@code CONFIG_DEBUG_SPINLOCK} checks ({@code kernel/locking/spinlock_debug.c}) and the waiting
 * of a contended spinning lock, shared by {@link Spinlock}, {@link RawSpinlock} and {@link Rwlock}. Called on the
 * waiting or misusing context's thread.
 *
 * <p>Implementation notes. {@code spin_bug} and {@code rwlock_bug} go through {@code debug_locks_off()} in the
 * kernel: only the first of a boot prints, and lockdep is off after it — here
 * {@link Reports#lockdep}, which shares that once-flag with lockdep. {@code lockup suspected} is printed by
 * {@code spin_dump} directly, every time in the kernel; here rate-limited per kernel (site
 * {@code __spin_lock_debug}), because a Java holder that never lets go would make every waiter report once a
 * second.
 */
final class LockDebug {
    /** The kernel's {@code loops_per_jiffy * HZ} loop: about one second of spinning before {@code lockup suspected}. */
    static final long LOCKUP_NS = 1_000_000_000L;
    /** Busy re-reads of a held lock before the waiter starts yielding its host core. */
    private static final int SPINS_BEFORE_YIELD = 128;
    /** The kernel's {@code SPINLOCK_MAGIC}. */
    static final int SPINLOCK_MAGIC = 0xdead4ead;

    private LockDebug() {
    }

    /** How the lock was taken, so that a waiter that must give up can undo what the lock call did. */
    static final int PLAIN = 0;
    static final int IRQ = 1;
    static final int IRQSAVE = 2;
    static final int BH = 3;

    /** Undoes the context effects of a lock call of kind {@code how} (the lock was not taken). */
    static void undo(ExecutionContext ctx, int how, long flags) {
        switch (how) {
            case IRQ -> {
                ctx.preemptEnable();
                ctx.localIrqEnable();
            }
            case IRQSAVE -> {
                ctx.preemptEnable();
                ctx.localIrqRestore(flags);
            }
            case BH -> {
                ctx.preemptEnable();
                ctx.localBhEnableNoRun();
            }
            default -> ctx.preemptEnable();
        }
    }

    /** {@code spin_dump}'s text: {@code BUG: spinlock <msg> on CPU#n, comm/pid} and the lock's line. */
    static String spinDump(ExecutionContext ctx, String msg, Object lock, String name, ExecutionContext owner,
                           long ownerPid, int ownerCpu) {
        return "BUG: spinlock " + msg + " on CPU#" + ctx.cpuId() + ", " + ctx.name() + "/"
                + Thread.currentThread().threadId() + "\n"
                + " lock: " + name + "+0x0/0x4 [" + Lockdep.address(lock) + "], .magic: "
                + Integer.toHexString(SPINLOCK_MAGIC) + ", .owner: "
                + (owner == null ? "<none>/-1" : owner.name() + "/" + ownerPid) + ", .owner_cpu: " + ownerCpu;
    }

    /** {@code spin_bug}: a misuse, reported only if it is the boot's first lockdep-type report. */
    static void spinBug(ExecutionContext ctx, String msg, Object lock, String name, ExecutionContext owner,
                        long ownerPid, int ownerCpu) {
        String text = spinDump(ctx, msg, lock, name, owner, ownerPid, ownerCpu);
        RuntimeAccess.get().machine(ctx).reports()
                .lockdep(KernelEvent.Kind.BUG, text, new Throwable("BUG: spinlock " + msg));
    }

    /** {@code rwlock_bug}: {@code BUG: rwlock <msg> on CPU#n, comm/pid, <lock>}. */
    static void rwlockBug(ExecutionContext ctx, String msg, Object lock, String name) {
        String text = "BUG: rwlock " + msg + " on CPU#" + ctx.cpuId() + ", " + ctx.name() + "/"
                + Thread.currentThread().threadId() + ", " + Lockdep.address(lock) + " (" + name + ")";
        RuntimeAccess.get().machine(ctx).reports()
                .lockdep(KernelEvent.Kind.BUG, text, new Throwable("BUG: rwlock " + msg));
    }

    /** The per-kernel rate of {@code lockup suspected} reports. */
    static RateLimiter lockupLimiter(Machine machine) {
        return LockingState.of(machine).lockup;
    }

    /**
     * Waits for a lock whose fast path failed, by spinning and then yielding, as {@code __spin_lock_debug}:
     * after {@link #LOCKUP_NS} of waiting it reports {@code lockup suspected} (rate-limited) and goes on
     * waiting. Gives up with {@link IllegalStateException} — after undoing the lock call's context effects —
     * where waiting could never end: the kernel panicked, or (stepped mode) the holder runs on this very thread,
     * or a stepped waiter has waited {@link #LOCKUP_NS} of host time.
     */
    static void spin(ExecutionContext ctx, SpinWaiter lock, int how, long flags) {
        Machine machine = RuntimeAccess.get().machine(ctx);
        boolean stepped = machine.stepped();
        long startNs = System.nanoTime();
        boolean reported = false;
        Thread me = Thread.currentThread();
        for (int i = 1;; i++) {
            if (lock.tryAcquire()) {
                return;
            }
            if (lock.ownerThread() == me) {
                // The holder is another context borrowed by this thread (stepped mode): it cannot run again.
                if (lockupLimiter(machine).allow(KernelEvent.Kind.BUG)) {
                    lock.reportLockup(ctx);
                }
                undo(ctx, how, flags);
                throw new IllegalStateException("stepped mode: " + ctx.name() + " spins on " + lock.lockName()
                        + ", which " + lock.ownerName() + " holds on this same thread: it would spin forever");
            }
            if (i < SPINS_BEFORE_YIELD) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
            if ((i & 255) == 0) {
                if (machine.panicked()) {
                    undo(ctx, how, flags);
                    throw new IllegalStateException("kernel panicked: " + ctx.name() + " gave up spinning on "
                            + lock.lockName());
                }
                if (!reported && System.nanoTime() - startNs > LOCKUP_NS) {
                    reported = true;
                    if (lockupLimiter(machine).allow(KernelEvent.Kind.BUG)) {
                        lock.reportLockup(ctx);
                    }
                    if (stepped) {
                        undo(ctx, how, flags);
                        throw new IllegalStateException("stepped mode: " + ctx.name() + " spun on " + lock.lockName()
                                + " for " + (LOCKUP_NS / 1_000_000) + " ms of host time; " + lock.ownerName()
                                + " holds it and nothing lets it run");
                    }
                }
            }
        }
    }

    /** What {@link #spin} needs of a lock. */
    interface SpinWaiter {
        boolean tryAcquire();

        Thread ownerThread();

        String ownerName();

        String lockName();

        void reportLockup(ExecutionContext ctx);
    }
}
