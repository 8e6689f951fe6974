package dev.bottomhalf.locking;

import dev.bottomhalf.internal.runtime.RuntimeAccess;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.wiring.Subsystems;

/**
 * The kernel's lock validator ({@code kernel/locking/lockdep.c}, {@code CONFIG_PROVE_LOCKING}) for one kernel,
 * the part that matters for interrupt code: lock classes, the IRQ-usage state of each class
 * ({@code inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.}), the dependency graph between classes
 * ({@code possible circular locking dependency detected}, {@code HARDIRQ-safe -> HARDIRQ-unsafe lock order
 * detected}, {@code possible irq lock inversion dependency detected}), recursion ({@code possible recursive locking
 * detected}), unlocks of locks not held ({@code bad unlock balance detected!}) and the workqueue's flush
 * dependencies (lockdep maps for work items and workqueues). Called from every context, on the context's own
 * thread; on only when {@link dev.bottomhalf.runtime.KernelConfig#proveLocking()} is.
 *
 * <p>As in the kernel, a class is what a lock was declared or initialised as, not the lock object: every
 * lock made by one {@code new Spinlock(name)} (or {@code spin_lock_init}) call site shares one class, a
 * {@code DEFINE_SPINLOCK} lock is a class of its own; a workqueue's map is a class of its own (the kernel
 * registers a key per workqueue), named {@code (wq_completion)name}, and work items share the class of their
 * function (one per lambda or method, as the kernel's is one per {@code INIT_WORK} site), named
 * {@code (work_completion)(name)} after the first item seen with it. The first report of a kernel
 * turns lockdep off ({@code debug_locks_off()}), as in the kernel: it goes through
 * {@link dev.bottomhalf.runtime.Reports#lockdep}, which delivers only the first lockdep-type report of a
 * kernel.
 *
 * <p>Implementation notes. Each context keeps its held locks in its own {@code ExecutionContext.lockState()}
 * (confined, like the kernel's {@code current->held_locks}); classes, their usage bits and the graph are shared
 * and guarded by this object's monitor (the kernel's {@code graph_lock}). A dependency {@code prev -> next} is
 * added between the lock being taken and the topmost held lock of the same IRQ context (and further down past
 * trylocks), and checked for a path {@code next -> ... -> prev} (breadth-first, as {@code check_noncircular})
 * only when it is new, and for an IRQ-safe class coming to wait for an IRQ-unsafe one ({@code check_irq_usage});
 * a new usage bit is checked against the graph too ({@code possible irq lock inversion dependency detected}).
 * Every acquisition of a lock captures its stack (a {@link Throwable}): lockdep is for tests, and the reports
 * print where each side took its lock. Where we differ from the kernel: recursive read acquisitions
 * ({@code read_lock}) add no dependency of their own (the kernel's pre-5.10 rule; the 6.12 kernel tracks read
 * dependencies in the graph); locks still held when IRQs or bottom halves are enabled again are not marked
 * ({@code mark_held_locks}); the IRQ-safe/unsafe checks do not refine read usage; lock chains are not
 * modelled.
 */
public final class Lockdep {
    /** The kernel's {@code MAX_LOCKDEP_KEYS}: more classes than this turn lockdep off with a report. */
    public static final int MAX_LOCKDEP_KEYS = 8192;

    static {
        Subsystems.install(Subsystems.LockingAccess.class, new LockdepWiring());
    }

    /** Not a read acquisition. */
    static final int WRITE = 0;
    /** A recursive read acquisition ({@code read_lock} of an {@code rwlock_t}). */
    static final int READ_RECURSIVE = 2;

    // The kernel's enum lock_usage_bit: bit 0 read, bit 1 direction (0 used in irq, 1 irq enabled), bits 2..
    // the state (0 HARDIRQ, 1 SOFTIRQ); then LOCK_USED, LOCK_USED_READ.
    static final int USED_IN_HARDIRQ = 0;
    static final int ENABLED_HARDIRQ = 2;
    static final int USED_IN_SOFTIRQ = 4;
    static final int ENABLED_SOFTIRQ = 6;
    private static final int READ_BIT = 1;
    private static final int DIR_BIT = 2;
    static final String[] USAGE_STR = {"IN-HARDIRQ-W", "IN-HARDIRQ-R", "HARDIRQ-ON-W", "HARDIRQ-ON-R",
        "IN-SOFTIRQ-W", "IN-SOFTIRQ-R", "SOFTIRQ-ON-W", "SOFTIRQ-ON-R", "INITIAL USE", "INITIAL READ USE"};
    private static final int LOCK_USED = 8;

    /** The kernel's {@code LD_WAIT_SPIN}: spinlocks and rwlocks print {@code {2:2}}, lockdep maps {@code {0:0}}. */
    static final int LD_WAIT_SPIN = 2;
    static final int LD_WAIT_INV = 0;

    private final Machine machine;
    private final Map<Object, LockClass> classes = new HashMap<>();
    private final Map<String, Integer> nameVersions = new HashMap<>();
    private volatile boolean debugLocks = true;

    Lockdep(Machine machine) {
        this.machine = machine;
    }

    /** This kernel's lockdep, or null when {@code proveLocking} is off. Any thread. */
    static Lockdep of(Machine machine) {
        if (!machine.config().proveLocking()) {
            return null;
        }
        return LockingState.of(machine).lockdep;
    }

    /** The lockdep of {@code ctx}'s kernel while it still validates ({@code debug_locks}), else null. */
    static Lockdep active(ExecutionContext ctx) {
        Machine m = RuntimeAccess.get().machine(ctx);
        if (!m.config().proveLocking()) {
            return null;
        }
        Lockdep ld = LockingState.of(m).lockdep;
        return ld.debugLocks ? ld : null;
    }

    /**
     * {@code debug_locks}: true until lockdep's first report turned it off. Any thread.
     *
     * @return false once lockdep has reported
     */
    public boolean debugLocks() {
        return debugLocks;
    }

    /**
     * How many lock classes this kernel has registered. Any thread.
     *
     * @return the class count
     */
    public synchronized int classCount() {
        return classes.size();
    }

    // ------------------------------------------------------------------------------------------
    // Lockdep maps: the workqueue's flush dependencies (lock_map_acquire / lock_map_release)
    // ------------------------------------------------------------------------------------------

    /**
     * {@code process_one_work}'s {@code lock_map_acquire(wq->lockdep_map); lock_map_acquire(work->lockdep_map)}:
     * {@code ctx} starts running work item {@code work} of workqueue {@code wq}; locks the item takes depend on
     * both maps. The workqueue's class is the workqueue itself (the kernel registers a key per workqueue); the
     * item's class is its function's class ({@code workKey}: one per lambda or method reference, as the kernel's
     * is one per {@code INIT_WORK} site), named after the first item seen with it. Allocates nothing when lockdep
     * is off. Items of BH workqueues (run in softirq context) are not tracked: a flush's acquire-and-release of
     * their map from a task would otherwise read as a softirq-unsafe use of a softirq-used map. Only
     * {@code ctx}'s thread. For the workqueue machinery, through {@code Subsystems}.
     *
     * @param ctx the worker's context, the calling thread's
     * @param wq the workqueue, its map's identity and class
     * @param wqName the workqueue's name, for the class name
     * @param workKey the item's class key (its function)
     * @param work the item, its map's identity
     * @param workName the item's name, for the class name
     */
    static void workStarts(ExecutionContext ctx, Object wq, String wqName, Object workKey, Object work,
                                  String workName) {
        Lockdep ld = active(ctx);
        if (ld != null && !ctx.inServingSoftirq()
                && ld.acquire(ctx, wq, wq, WQ_COMPLETION, wqName, LD_WAIT_INV, WRITE, false, "process_one_work")) {
            ld.acquire(ctx, work, workKey, WORK_COMPLETION, workName, LD_WAIT_INV, WRITE, false, "process_one_work");
        }
    }

    /**
     * The end of {@link #workStarts}: {@code lock_map_release} of both maps. Only {@code ctx}'s thread.
     *
     * @param ctx the worker's context, the calling thread's
     * @param wq the workqueue passed to {@link #workStarts}
     * @param work the item passed to {@link #workStarts}
     */
    static void workEnds(ExecutionContext ctx, Object wq, Object work) {
        Lockdep ld = active(ctx);
        if (ld != null) {
            ld.releaseIfHeld(ctx, work);
            ld.releaseIfHeld(ctx, wq);
        }
    }

    /**
     * {@code flush_work}'s {@code touch_work_lockdep_map}: {@code ctx} is about to wait for {@code work}, so every
     * lock it holds comes before the item's map (and so before every lock the item takes). Only {@code ctx}'s
     * thread.
     *
     * @param ctx the flushing context, the calling thread's
     * @param workKey the item's class key (its function)
     * @param work the item, its map's identity
     * @param workName the item's name, for the class name
     */
    static void flushWork(ExecutionContext ctx, Object workKey, Object work, String workName) {
        Lockdep ld = active(ctx);
        if (ld != null && ld.acquire(ctx, work, workKey, WORK_COMPLETION, workName, LD_WAIT_INV, WRITE, false,
                "__flush_work")) {
            ld.release(ctx, work, null);
        }
    }

    /**
     * {@code __flush_workqueue}'s {@code touch_wq_lockdep_map}. Only {@code ctx}'s thread.
     *
     * @param ctx the flushing context, the calling thread's
     * @param wq the workqueue, its map's identity and class
     * @param wqName the workqueue's name, for the class name
     */
    static void flushWorkqueue(ExecutionContext ctx, Object wq, String wqName) {
        Lockdep ld = active(ctx);
        if (ld != null && ld.acquire(ctx, wq, wq, WQ_COMPLETION, wqName, LD_WAIT_INV, WRITE, false,
                "__flush_workqueue")) {
            ld.release(ctx, wq, null);
        }
    }

    /** Class names: a plain lock's name, {@code (wq_completion)name}, {@code (work_completion)(name)}. */
    static final int PLAIN_NAME = 0;
    static final int WQ_COMPLETION = 1;
    static final int WORK_COMPLETION = 2;

    private static String className(int kind, String name) {
        return switch (kind) {
            case WQ_COMPLETION -> "(wq_completion)" + name;
            case WORK_COMPLETION -> "(work_completion)(" + name + ")";
            default -> name;
        };
    }

    private void releaseIfHeld(ExecutionContext ctx, Object instance) {
        if (debugLocks && isHeld(ctx, instance)) {
            release(ctx, instance, null);
        }
    }

    // ------------------------------------------------------------------------------------------
    // The validator
    // ------------------------------------------------------------------------------------------

    /** A lock class: the kernel's {@code struct lock_class}. Guarded by the Lockdep's monitor. */
    static final class LockClass {
        final String name;
        final int nameVersion;
        final int waitType;
        int usageMask;
        final Throwable[] usageTraces = new Throwable[USAGE_STR.length];
        /** Forward dependencies: this class was held when the key was taken; the value is where. */
        final Map<LockClass, Throwable> after = new LinkedHashMap<>();
        /** Backward dependencies: the key was held when this class was taken; the value is where. */
        final Map<LockClass, Throwable> before = new LinkedHashMap<>();

        LockClass(String name, int nameVersion, int waitType) {
            this.name = name;
            this.nameVersion = nameVersion;
            this.waitType = waitType;
        }

        /** {@code __print_lock_name}. */
        String printName() {
            return nameVersion > 1 ? name + "#" + nameVersion : name;
        }

        /** {@code print_lock_name}: {@code  (name){+.-.}-{2:2}}. */
        String printNameWithUsage() {
            StringBuilder sb = new StringBuilder(" (").append(printName()).append("){");
            for (int state = 0; state < 2; state++) {
                sb.append(usageChar(state * 4)).append(usageChar(state * 4 + READ_BIT));
            }
            return sb.append("}-{").append(waitType).append(':').append(waitType).append('}').toString();
        }

        /** {@code get_usage_char}: '+' enabled, '-' used in irq, '?' both, '.' neither. */
        private char usageChar(int usedInBit) {
            boolean enabled = (usageMask & (1 << (usedInBit + DIR_BIT))) != 0;
            boolean usedIn = (usageMask & (1 << usedInBit)) != 0;
            return enabled ? (usedIn ? '?' : '+') : usedIn ? '-' : '.';
        }
    }

    /** One held lock: the kernel's {@code struct held_lock}. Confined to its context. */
    static final class HeldLock {
        private final Object instance;
        private final LockClass cls;
        private final int read;
        private final boolean trylock;
        private final int irqContext;
        private final boolean hardirqsOff;
        /** The kernel's {@code acquire_ip} for lockdep maps, whose acquisition sites are fixed; else null. */
        private final String ip;
        /** The acquisition's stack: taken at once for locks; for maps only when lockdep records or reports it. */
        private Throwable acquired;

        HeldLock(Object instance, LockClass cls, int read, boolean trylock, int irqContext, boolean hardirqsOff,
                 String ip, Throwable acquired) {
            this.instance = instance;
            this.cls = cls;
            this.read = read;
            this.trylock = trylock;
            this.irqContext = irqContext;
            this.hardirqsOff = hardirqsOff;
            this.ip = ip;
            this.acquired = acquired;
        }

        Object instance() {
            return instance;
        }

        LockClass cls() {
            return cls;
        }

        int read() {
            return read;
        }

        boolean trylock() {
            return trylock;
        }

        int irqContext() {
            return irqContext;
        }

        boolean hardirqsOff() {
            return hardirqsOff;
        }

        /** The acquisition stack, captured now if it was not (only on the acquiring thread, while acquiring). */
        Throwable acquired() {
            if (acquired == null) {
                acquired = new Throwable("lock_acquire " + cls.name);
            }
            return acquired;
        }

        /** {@code acquire_ip}: the first frame of the caller's code, or the map's fixed site. */
        String at() {
            return ip != null ? ip : firstFrame(acquired());
        }
    }

    /** A context's held locks ({@code current->held_locks}). Confined to its context. */
    static final class HeldLocks {
        final ArrayList<HeldLock> stack = new ArrayList<>(4);
    }

    static HeldLocks heldOf(ExecutionContext ctx) {
        Object s = RuntimeAccess.get().lockState(ctx);
        if (s instanceof HeldLocks h) {
            return h;
        }
        HeldLocks h = new HeldLocks();
        RuntimeAccess.get().lockState(ctx, h);
        return h;
    }

    /** Whether {@code ctx} holds {@code instance} as far as lockdep knows ({@code lockdep_is_held}). */
    boolean isHeld(ExecutionContext ctx, Object instance) {
        for (HeldLock h : heldOf(ctx).stack) {
            if (h.instance() == instance) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@code lock_acquire}: validates taking {@code instance} (of class {@code key}) in {@code ctx} and pushes
     * it on the context's held locks. Reports the first problem and turns lockdep off.
     *
     * @return whether the lock is now tracked (false once lockdep is off)
     */
    boolean acquire(ExecutionContext ctx, Object instance, Object key, String name, int waitType, int read,
                    boolean trylock) {
        return acquire(ctx, instance, key, PLAIN_NAME, name, waitType, read, trylock, null);
    }

    private boolean acquire(ExecutionContext ctx, Object instance, Object key, int kind, String rawName, int waitType,
                            int read, boolean trylock, String ip) {
        if (!debugLocks) {
            return false;
        }
        String name = className(kind, rawName);
        // Maps (work items, workqueues) are taken on every item a worker runs: their stack is captured only when
        // lockdep records something new or reports. A lock's is captured at once: its site is the user's code.
        Throwable here = kind == PLAIN_NAME ? new Throwable("lock_acquire " + name) : null;
        HeldLocks held = heldOf(ctx);
        int irqContext = (ctx.inHardirq() ? 2 : 0) + (ctx.inServingSoftirq() ? 1 : 0);
        String report;
        Throwable other = null;
        HeldLock h;
        synchronized (this) {
            LockClass cls = classes.get(key);
            if (cls == null) {
                if (classes.size() >= MAX_LOCKDEP_KEYS) {
                    debugLocks = false;
                    report = "BUG: MAX_LOCKDEP_KEYS too low!\nturning off the locking correctness validator.";
                    h = null;
                    cls = null;
                } else {
                    int version = nameVersions.merge(name, 1, Integer::sum);
                    cls = new LockClass(name, version, waitType);
                    classes.put(key, cls);
                    report = null;
                    h = null;
                }
            } else {
                report = null;
                h = null;
            }
            if (cls != null) {
                h = new HeldLock(instance, cls, read, trylock, irqContext, ctx.irqsDisabled(),
                        ip, here);
                Problem p = markUsage(ctx, held, h);
                if (p == null && !trylock) {
                    p = checkDeadlock(ctx, held, h);
                    if (p == null && read != READ_RECURSIVE) {
                        p = addDependencies(ctx, held, h);
                    }
                }
                if (p != null) {
                    debugLocks = false;
                    report = p.text;
                    other = p.otherStack;
                }
            }
        }
        if (report != null) {
            emit(report, h != null ? h.acquired() : new Throwable("lock_acquire"), other);
            return false;
        }
        held.stack.add(h);
        return true;
    }

    /**
     * {@code lock_release}: pops {@code instance} from {@code ctx}'s held locks (the topmost entry of it: locks
     * may be released out of order). An instance the context does not hold is {@code bad unlock balance
     * detected!}.
     *
     * @param name the lock's name for the report (null: the class name of a lockdep map is not needed)
     */
    void release(ExecutionContext ctx, Object instance, String name) {
        if (!debugLocks) {
            return;
        }
        ArrayList<HeldLock> stack = heldOf(ctx).stack;
        for (int i = stack.size() - 1; i >= 0; i--) {
            if (stack.get(i).instance() == instance) {
                stack.remove(i);
                return;
            }
        }
        debugLocks = false;
        emit(unlockImbalance(ctx, name != null ? name : String.valueOf(instance), stack), new Throwable("lock_release"),
                null);
    }

    /** {@code print_unlock_imbalance_bug}'s text, without the leading newline's blank line. */
    static String unlockImbalance(ExecutionContext ctx, String lockName, List<HeldLock> held) {
        Throwable here = new Throwable("lock_release");
        return "\n=====================================\n"
                + "WARNING: bad unlock balance detected!\n"
                + "-------------------------------------\n"
                + comm(ctx) + " is trying to release lock (" + lockName + ") at:\n"
                + firstFrame(here) + "\n"
                + "but there are no more locks to release!\n"
                + "\nother info that might help us debug this:\n"
                + heldLocks(ctx, held)
                + "\nstack backtrace:";
    }

    /**
     * A {@code bad unlock balance detected!} found without lockdep (an {@code rwlock_t} read-unlocked with no
     * reader): reported as lockdep's first report would be.
     */
    static void reportUnlockImbalance(ExecutionContext ctx, String lockName) {
        RuntimeAccess.get().machine(ctx).reports()
                .lockdep(KernelEvent.Kind.WARNING, unlockImbalance(ctx, lockName, List.of()).substring(1),
                new Throwable("stack backtrace"));
    }


    private record Problem(String text, Throwable otherStack) {
    }

    /** {@code mark_usage}: sets the class's usage bits for this acquisition and checks each new one. */
    private Problem markUsage(ExecutionContext ctx, HeldLocks held, HeldLock h) {
        int r = h.read() != WRITE ? READ_BIT : 0;
        boolean hardirqContext = ctx.inHardirq();
        boolean softirqContext = ctx.inServingSoftirq();
        Problem p = null;
        if (hardirqContext) {
            p = mark(ctx, held, h, USED_IN_HARDIRQ + r);
        }
        if (p == null && softirqContext) {
            p = mark(ctx, held, h, USED_IN_SOFTIRQ + r);
        }
        if (p == null && !h.hardirqsOff()) {
            p = mark(ctx, held, h, ENABLED_HARDIRQ + r);
            if (p == null && (ctx.preemptCount() & ExecutionContext.SOFTIRQ_MASK) == 0) {
                p = mark(ctx, held, h, ENABLED_SOFTIRQ + r);
            }
        }
        if (p == null) {
            mark(ctx, held, h, LOCK_USED + r);
        }
        return p;
    }

    /** {@code mark_lock} and {@code mark_lock_irq}'s {@code valid_state} checks for one new bit. */
    private Problem mark(ExecutionContext ctx, HeldLocks held, HeldLock h, int newBit) {
        LockClass cls = h.cls();
        if ((cls.usageMask & (1 << newBit)) != 0) {
            return null;
        }
        if (newBit < LOCK_USED) {
            // exclusive_bit(): same state, the other direction, write; a write also conflicts with the read bit.
            int excl = (newBit & ~(DIR_BIT | READ_BIT)) | ((newBit & DIR_BIT) ^ DIR_BIT);
            int bad = -1;
            if ((cls.usageMask & (1 << excl)) != 0) {
                bad = excl;
            } else if ((newBit & READ_BIT) == 0 && (cls.usageMask & (1 << (excl + READ_BIT))) != 0) {
                bad = excl + READ_BIT;
            }
            if (bad >= 0) {
                return new Problem(usageBug(ctx, held, h, bad, newBit), cls.usageTraces[bad]);
            }
            Problem p = checkUsageInversion(ctx, held, h, newBit);
            if (p != null) {
                return p;
            }
        }
        cls.usageMask |= 1 << newBit;
        cls.usageTraces[newBit] = h.acquired();
        return null;
    }

    /** The usage bits a class reached through the graph must not have, given a new bit of this class. */
    private static int conflictMask(int newBit) {
        int state = newBit & ~(DIR_BIT | READ_BIT);
        if ((newBit & DIR_BIT) == 0) {
            return 1 << (state + DIR_BIT);                     // used in irq: a later lock enabled (W) there
        }
        return (newBit & READ_BIT) == 0 ? (1 << state) | (1 << (state + READ_BIT)) : 1 << state;
    }

    /**
     * {@code check_usage_forwards} / {@code check_usage_backwards}: a class that becomes IRQ-safe must not lead
     * to an IRQ-unsafe class through the graph, nor an IRQ-unsafe one be reached from an IRQ-safe one:
     * {@code possible irq lock inversion dependency detected}.
     */
    private Problem checkUsageInversion(ExecutionContext ctx, HeldLocks held, HeldLock h, int newBit) {
        boolean forwards = (newBit & DIR_BIT) == 0;
        int mask = conflictMask(newBit);
        Path other = search(h.cls(), forwards, c -> (c.usageMask & mask) != 0);
        if (other == null) {
            return null;
        }
        String irqclass = STATE_NAMES[newBit >> 2];
        LockClass otherCls = other.cls();
        Path middle = other;                       // the first step from this class on the path to the other
        while (middle.parent() != null && middle.parent().parent() != null) {
            middle = middle.parent();
        }
        String scenario = forwards
                ? irqScenario(h.cls(), otherCls, middle.cls(), otherCls)
                : irqScenario(otherCls, h.cls(), middle.cls(), h.cls());
        String text = "\n========================================================\n"
                + "WARNING: possible irq lock inversion dependency detected\n"
                + "--------------------------------------------------------\n"
                + comm(ctx) + " just changed the state of lock:\n"
                + printLock(h) + "\n"
                + (forwards ? "but this lock took another, " + irqclass + "-unsafe lock in the past:\n"
                        : "but this lock was taken by another, " + irqclass + "-safe lock in the past:\n")
                + otherCls.printNameWithUsage() + "\n"
                + "\n\nand interrupts could create inverse lock ordering between them.\n\n"
                + "\nother info that might help us debug this:\n"
                + scenario
                + heldLocks(ctx, held.stack)
                + "\nthe shortest dependencies between 2nd lock and 1st lock:\n"
                + shortestDependencies(other)
                + "\nstack backtrace:";
        int otherBit = Integer.numberOfTrailingZeros(otherCls.usageMask & mask);
        return new Problem(text, otherCls.usageTraces[otherBit]);
    }

    /**
     * {@code check_irq_usage} for a new dependency {@code prev -> next}: an IRQ-safe class at or behind
     * {@code prev} must not come to depend on an IRQ-unsafe class at or after {@code next}:
     * {@code HARDIRQ-safe -> HARDIRQ-unsafe lock order detected} (or {@code SOFTIRQ-}).
     */
    private Problem checkIrqUsage(ExecutionContext ctx, HeldLocks held, HeldLock prev, HeldLock next) {
        for (int state = 0; state < 2; state++) {
            int usedIn = (1 << (state * 4)) | (1 << (state * 4 + READ_BIT));
            int enabled = 1 << (state * 4 + DIR_BIT);
            Path safe = searchFrom(prev.cls(), false, c -> (c.usageMask & usedIn) != 0);
            if (safe == null) {
                continue;
            }
            Path unsafe = searchFrom(next.cls(), true, c -> (c.usageMask & enabled) != 0);
            if (unsafe == null) {
                continue;
            }
            String irqclass = STATE_NAMES[state];
            LockClass safeCls = safe.cls();
            LockClass unsafeCls = unsafe.cls();
            int safeBit = Integer.numberOfTrailingZeros(safeCls.usageMask & usedIn);
            int unsafeBit = state * 4 + DIR_BIT;
            String text = "\n=====================================================\n"
                    + "WARNING: " + irqclass + "-safe -> " + irqclass + "-unsafe lock order detected\n"
                    + "-----------------------------------------------------\n"
                    + comm(ctx) + " " + contextFlags(ctx) + " is trying to acquire:\n"
                    + printLock(next) + "\n"
                    + "\nand this task is already holding:\n"
                    + printLock(prev) + "\n"
                    + "which would create a new lock dependency:\n"
                    + prev.cls().printNameWithUsage() + " ->" + next.cls().printNameWithUsage() + "\n"
                    + "\nbut this new dependency connects a " + irqclass + "-irq-safe lock:\n"
                    + safeCls.printNameWithUsage() + "\n"
                    + "\n... which became " + irqclass + "-irq-safe at:\n"
                    + trace(safeCls.usageTraces[safeBit], "  ", 8)
                    + "\nto a " + irqclass + "-irq-unsafe lock:\n"
                    + unsafeCls.printNameWithUsage() + "\n"
                    + "\n... which became " + irqclass + "-irq-unsafe at:\n"
                    + "...\n"
                    + trace(unsafeCls.usageTraces[unsafeBit], "  ", 8)
                    + "\nother info that might help us debug this:\n\n"
                    + irqScenario(safeCls, unsafeCls, prev.cls(), next.cls())
                    + heldLocks(ctx, held.stack)
                    + "\nthe dependencies between " + irqclass + "-irq-safe lock and the holding lock:\n"
                    + shortestDependencies(safe)
                    + "\nthe dependencies between the lock to be acquired and " + irqclass + "-irq-unsafe lock:\n"
                    + shortestDependencies(unsafe)
                    + "\nstack backtrace:";
            return new Problem(text, unsafeCls.usageTraces[unsafeBit]);
        }
        return null;
    }

    /** The kernel's state names ({@code lockdep_states.h}). */
    private static final String[] STATE_NAMES = {"HARDIRQ", "SOFTIRQ"};

    /** {@code [HC0[0]:SC0[0]:HE1:SE1]}. */
    private static String contextFlags(ExecutionContext ctx) {
        int pc = ctx.preemptCount();
        return "[HC" + (ctx.inHardirq() ? 1 : 0) + "[" + ((pc & ExecutionContext.HARDIRQ_MASK) >> 16)
                + "]:SC" + (ctx.inServingSoftirq() ? 1 : 0) + "[" + ((pc & ExecutionContext.SOFTIRQ_MASK) >> 8)
                + "]:HE" + (ctx.irqsDisabled() ? 0 : 1) + ":SE" + ((pc & ExecutionContext.SOFTIRQ_MASK) == 0 ? 1 : 0)
                + "]";
    }

    /** {@code print_irq_lock_scenario}. */
    private static String irqScenario(LockClass safe, LockClass unsafe, LockClass prevClass, LockClass nextClass) {
        LockClass middle = prevClass == safe ? nextClass : prevClass;
        StringBuilder sb = new StringBuilder();
        if (middle != unsafe) {
            sb.append("Chain exists of:\n  ").append(safe.printName()).append(" --> ").append(middle.printName())
                    .append(" --> ").append(unsafe.printName()).append("\n\n");
        }
        return sb.append(" Possible interrupt unsafe locking scenario:\n\n")
                .append("       CPU0                    CPU1\n")
                .append("       ----                    ----\n")
                .append("  lock(").append(unsafe.printName()).append(");\n")
                .append("                               local_irq_disable();\n")
                .append("                               lock(").append(safe.printName()).append(");\n")
                .append("                               lock(").append(middle.printName()).append(");\n")
                .append("  <Interrupt>\n")
                .append("    lock(").append(safe.printName()).append(");\n")
                .append("\n *** DEADLOCK ***\n\n").toString();
    }

    /** {@code print_shortest_lock_dependencies}: each class of the path, its usage, where the dependency was made. */
    private static String shortestDependencies(Path end) {
        StringBuilder sb = new StringBuilder();
        for (Path p = end; p != null; p = p.parent()) {
            String pad = " ".repeat(p.depth());
            sb.append(pad).append("->").append(p.cls().printNameWithUsage()).append(" {\n");
            for (int bit = 0; bit < LOCK_USED; bit++) {
                if ((p.cls().usageMask & (1 << bit)) != 0) {
                    sb.append(pad).append("   ").append(USAGE_STR[bit]).append(" at:\n")
                            .append(trace(p.cls().usageTraces[bit], pad + "     ", 2));
                }
            }
            sb.append(pad).append(" }\n");
            if (p.trace() != null) {
                sb.append(pad).append(" ... acquired at:\n").append(trace(p.trace(), pad + "   ", 2));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** Breadth-first from {@code root}'s neighbours (not {@code root} itself) for a class that {@code match}es. */
    private static Path search(LockClass root, boolean forwards, java.util.function.Predicate<LockClass> match) {
        Path start = new Path(root, null, null, 0);
        return bfs(start, forwards, match, false);
    }

    /** Breadth-first from {@code root} itself for a class that {@code match}es. */
    private static Path searchFrom(LockClass root, boolean forwards, java.util.function.Predicate<LockClass> match) {
        return bfs(new Path(root, null, null, 0), forwards, match, true);
    }

    private static Path bfs(Path start, boolean forwards, java.util.function.Predicate<LockClass> match,
                            boolean includeStart) {
        if (includeStart && match.test(start.cls())) {
            return start;
        }
        ArrayDeque<Path> queue = new ArrayDeque<>();
        Map<LockClass, Boolean> seen = new HashMap<>();
        queue.add(start);
        seen.put(start.cls(), Boolean.TRUE);
        while (!queue.isEmpty()) {
            Path p = queue.poll();
            for (Map.Entry<LockClass, Throwable> e : (forwards ? p.cls().after : p.cls().before).entrySet()) {
                LockClass c = e.getKey();
                if (seen.put(c, Boolean.TRUE) != null) {
                    continue;
                }
                Path q = new Path(c, p, e.getValue(), p.depth() + 1);
                if (match.test(c)) {
                    return q;
                }
                queue.add(q);
            }
        }
        return null;
    }

    /** {@code print_usage_bug}. */
    private String usageBug(ExecutionContext ctx, HeldLocks held, HeldLock h, int prevBit, int newBit) {
        int pc = ctx.preemptCount();
        boolean softirqsEnabled = (pc & ExecutionContext.SOFTIRQ_MASK) == 0;
        String lock = h.cls().printName();
        return "\n================================\n"
                + "WARNING: inconsistent lock state\n"
                + "--------------------------------\n"
                + "inconsistent {" + USAGE_STR[prevBit] + "} -> {" + USAGE_STR[newBit] + "} usage.\n"
                + comm(ctx) + " [HC" + (ctx.inHardirq() ? 1 : 0) + "[" + ((pc & ExecutionContext.HARDIRQ_MASK) >> 16)
                + "]:SC" + (ctx.inServingSoftirq() ? 1 : 0) + "[" + ((pc & ExecutionContext.SOFTIRQ_MASK) >> 8)
                + "]:HE" + (ctx.irqsDisabled() ? 0 : 1) + ":SE" + (softirqsEnabled ? 1 : 0) + "] takes:\n"
                + printLock(h) + "\n"
                + "{" + USAGE_STR[prevBit] + "} state was registered at:\n"
                + trace(h.cls().usageTraces[prevBit], "  ", 8)
                + "\nother info that might help us debug this:\n"
                + " Possible unsafe locking scenario:\n\n"
                + "       CPU0\n"
                + "       ----\n"
                + "  lock(" + lock + ");\n"
                + "  <Interrupt>\n"
                + "    lock(" + lock + ");\n"
                + "\n *** DEADLOCK ***\n\n"
                + heldLocks(ctx, held.stack)
                + "\nstack backtrace:";
    }

    /** {@code check_deadlock}: taking a class this context already holds. */
    private Problem checkDeadlock(ExecutionContext ctx, HeldLocks held, HeldLock next) {
        for (HeldLock prev : held.stack) {
            if (prev.cls() != next.cls()) {
                continue;
            }
            if (next.read() == READ_RECURSIVE && prev.read() != WRITE) {
                continue;
            }
            String lock = next.cls().printName();
            String text = "\n============================================\n"
                    + "WARNING: possible recursive locking detected\n"
                    + "--------------------------------------------\n"
                    + comm(ctx) + " is trying to acquire lock:\n"
                    + printLock(next) + "\n"
                    + "\nbut task is already holding lock:\n"
                    + printLock(prev) + "\n"
                    + "\nother info that might help us debug this:\n"
                    + " Possible unsafe locking scenario:\n\n"
                    + "       CPU0\n"
                    + "       ----\n"
                    + "  lock(" + lock + ");\n"
                    + "  lock(" + lock + ");\n"
                    + "\n *** DEADLOCK ***\n\n"
                    + " May be due to missing lock nesting notation\n\n"
                    + heldLocks(ctx, held.stack)
                    + "\nstack backtrace:";
            return new Problem(text, prev.acquired());
        }
        return null;
    }

    /**
     * {@code check_prevs_add}: a dependency from the topmost held lock of the same IRQ context to {@code next},
     * and from the ones below it while the ones above were trylocks; each new one is checked for a cycle.
     */
    private Problem addDependencies(ExecutionContext ctx, HeldLocks held, HeldLock next) {
        ArrayList<HeldLock> stack = held.stack;
        for (int i = stack.size() - 1; i >= 0; i--) {
            HeldLock prev = stack.get(i);
            if (prev.irqContext() != next.irqContext()) {
                break;
            }
            if (prev.cls() != next.cls() && !prev.cls().after.containsKey(next.cls())) {
                Problem p = checkNoncircular(ctx, held, prev, next);
                if (p == null) {
                    p = checkIrqUsage(ctx, held, prev, next);
                }
                if (p != null) {
                    return p;
                }
                prev.cls().after.put(next.cls(), next.acquired());
                next.cls().before.put(prev.cls(), next.acquired());
            }
            if (!prev.trylock()) {
                break;
            }
        }
        return null;
    }

    /** A node of the breadth-first search: the kernel's {@code struct lock_list}. */
    private record Path(LockClass cls, Path parent, Throwable trace, int depth) {
    }

    /** {@code check_noncircular}: is there a path {@code next -> ... -> prev}? */
    private Problem checkNoncircular(ExecutionContext ctx, HeldLocks held, HeldLock prev, HeldLock next) {
        ArrayDeque<Path> queue = new ArrayDeque<>();
        Map<LockClass, Boolean> seen = new HashMap<>();
        queue.add(new Path(next.cls(), null, null, 0));
        seen.put(next.cls(), Boolean.TRUE);
        while (!queue.isEmpty()) {
            Path p = queue.poll();
            for (Map.Entry<LockClass, Throwable> e : p.cls().after.entrySet()) {
                LockClass c = e.getKey();
                Path q = new Path(c, p, e.getValue(), p.depth() + 1);
                if (c == prev.cls()) {
                    return new Problem(circularBug(ctx, held, q, next, prev), e.getValue());
                }
                if (seen.put(c, Boolean.TRUE) == null) {
                    queue.add(q);
                }
            }
        }
        return null;
    }

    /** {@code print_circular_bug}: {@code target} is the path's end (prev's class), its root next's class. */
    private String circularBug(ExecutionContext ctx, HeldLocks held, Path target, HeldLock src, HeldLock tgt) {
        StringBuilder sb = new StringBuilder()
                .append("\n======================================================\n")
                .append("WARNING: possible circular locking dependency detected\n")
                .append("------------------------------------------------------\n")
                .append(comm(ctx)).append(" is trying to acquire lock:\n")
                .append(printLock(src)).append('\n')
                .append("\nbut task is already holding lock:\n")
                .append(printLock(tgt)).append('\n')
                .append("\nwhich lock already depends on the new lock.\n\n")
                .append("\nthe existing dependency chain (in reverse order) is:\n");
        Path firstParent = target.parent();
        for (Path p = target; p != null; p = p.parent()) {
            sb.append("\n-> #").append(p.depth()).append(p.cls().printNameWithUsage()).append(":\n");
            sb.append(trace(p.parent() == null ? src.acquired() : p.trace(), "       ", 6));
        }
        sb.append("\nother info that might help us debug this:\n\n");
        String source = src.cls().printName();
        String targetName = tgt.cls().printName();
        String parent = firstParent.cls().printName();
        if (firstParent.cls() != src.cls()) {
            sb.append("Chain exists of:\n  ").append(source).append(" --> ").append(parent).append(" --> ")
                    .append(targetName).append("\n\n");
        }
        sb.append(" Possible unsafe locking scenario:\n\n")
                .append("       CPU0                    CPU1\n")
                .append("       ----                    ----\n")
                .append("  lock(").append(targetName).append(");\n")
                .append("                               lock(").append(parent).append(");\n")
                .append("                               lock(").append(targetName).append(");\n")
                .append("  lock(").append(source).append(");\n")
                .append("\n *** DEADLOCK ***\n\n")
                .append(heldLocks(ctx, held.stack))
                .append("\nstack backtrace:");
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------
    // Printing
    // ------------------------------------------------------------------------------------------

    private void emit(String text, Throwable here, Throwable other) {
        Throwable stack = new Throwable("stack backtrace");
        stack.setStackTrace(here.getStackTrace());
        if (other != null) {
            Throwable o = new Throwable("the other side's acquisition");
            o.setStackTrace(other.getStackTrace());
            stack.addSuppressed(o);
        }
        machine.reports().lockdep(KernelEvent.Kind.WARNING, text.startsWith("\n") ? text.substring(1) : text, stack);
    }

    private static String comm(ExecutionContext ctx) {
        return ctx.name() + "/" + Thread.currentThread().threadId();
    }

    /** {@code print_lock}: {@code <address> (name){usage}-{n:n}, at: <frame>}. */
    static String printLock(HeldLock h) {
        return address(h.instance()) + h.cls().printNameWithUsage() + ", at: " + h.at();
    }

    /** {@code lockdep_print_held_locks}. */
    private static String heldLocks(ExecutionContext ctx, List<HeldLock> stack) {
        if (stack.isEmpty()) {
            return "no locks held by " + comm(ctx) + ".\n";
        }
        StringBuilder sb = new StringBuilder().append(stack.size()).append(stack.size() > 1 ? " locks" : " lock")
                .append(" held by ").append(comm(ctx)).append(":\n");
        for (int i = 0; i < stack.size(); i++) {
            sb.append(" #").append(i).append(": ").append(printLock(stack.get(i))).append('\n');
        }
        return sb.toString();
    }

    /** A stand-in for the kernel's {@code %px} of a lock: stable for the object, unique enough to tell locks apart. */
    static String address(Object instance) {
        return String.format("ffff8880%08x", System.identityHashCode(instance));
    }

    private static boolean ours(StackTraceElement e) {
        return InitSite.isLockingCode(e.getClassName());
    }

    /** The first frame of the caller's code: the kernel's acquire {@code ip}. */
    static String firstFrame(Throwable t) {
        for (StackTraceElement e : t.getStackTrace()) {
            if (!ours(e)) {
                return e.toString();
            }
        }
        return "?";
    }

    /** {@code print_lock_trace}: the caller's frames, at most {@code max}. */
    private static String trace(Throwable t, String indent, int max) {
        if (t == null) {
            return indent + "(no trace)\n";
        }
        StringBuilder sb = new StringBuilder();
        int n = 0;
        boolean skipping = true;
        for (StackTraceElement e : t.getStackTrace()) {
            if (skipping && ours(e)) {
                continue;
            }
            skipping = false;
            if (n++ == max) {
                break;
            }
            sb.append(indent).append(e).append('\n');
        }
        return sb.toString();
    }
}
