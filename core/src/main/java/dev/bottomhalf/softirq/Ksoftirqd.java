package dev.bottomhalf.softirq;

import java.util.concurrent.atomic.AtomicLong;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.runtime.AdaptivePoll;
import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.IdleStrategy;

/**
 * {@code ksoftirqd/N}: the per-CPU daemon that runs softirqs raised from task context and the leftovers
 * of a softirq loop whose budget ran out. Thread-safe for {@link #wake()}; the rest runs on its own
 * thread (or the stepping thread).
 *
 * <p>Implementation notes: {@code woken} is the daemon's "runnable" state. A waker sets the pending bit
 * first and then {@code woken} (and unparks the thread if it may be parked). The daemon, finding the
 * mask empty, clears {@code woken} and then re-reads the mask; both sides use volatile accesses, so a
 * raise racing with the daemon going to sleep is seen by one of them. Once woken, the daemon serves
 * whatever is pending — also bits raised from hardirq that did not wake it — until the mask is empty,
 * as the kernel's {@code ksoftirqd_should_run()} does. Between batches it yields the host core
 * ({@code cond_resched()}).
 */
final class Ksoftirqd implements Agent {
    private final Softirqs softirqs;
    private final Cpu cpu;
    private final ExecutionContext ctx;
    private final AtomicLong runs = new AtomicLong();
    private final boolean stepped;
    private volatile boolean woken;
    AgentHandle handle;

    Ksoftirqd(Softirqs softirqs, Cpu cpu) {
        this.softirqs = softirqs;
        this.cpu = cpu;
        this.stepped = cpu.machine().stepped();
        this.ctx = cpu.machine().newContext(ExecutionContext.Role.KSOFTIRQD, "ksoftirqd/" + cpu.id(), cpu);
    }

    @Override
    public String name() {
        return ctx.name();
    }

    /**
     * Under the default idle strategy the spin window adapts to the waits, as a kworker's does
     * ({@link AdaptivePoll}): softirqs raised further apart than 50 µs soon find the daemon parked at once, which
     * the host's scheduler then lets preempt the thread that raised them (docs/benchmarks.md §19, §25). A strategy
     * chosen explicitly is kept.
     */
    @Override
    public IdleStrategy idleStrategy(IdleStrategy configured) {
        return AdaptivePoll.adaptingTheDefault(configured);
    }

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    boolean woken() {
        return woken;
    }

    long runs() {
        return runs.get();
    }

    void wake() {
        if (!woken) {
            woken = true;
            if (Jfr.ksoftirqdWakeupRecorded()) {
                recordWakeup();
            }
            AgentHandle h = handle;
            if (h != null) {
                h.wake();
            }
        }
    }

    /** The JFR event of a wake-up: the CPU, what is pending, and who woke the daemon. */
    private void recordWakeup() {
        ExecutionContext waker = ExecutionContext.currentOrNull();
        Jfr.ksoftirqdWakeup(cpu.id(), softirqs.vectorNames(cpu.softirqPending()),
                waker != null ? waker.name() : Thread.currentThread().getName(),
                waker != null ? waker.describe() : "outside the kernel");
    }

    @Override
    public boolean hasWork() {
        // In stepped mode a daemon whose BH level is held by another context cannot run this step.
        return woken && (!stepped || cpu.bhLevelOwner() == null);
    }

    @Override
    public int doWork() {
        if (!woken) {
            return 0;
        }
        if (cpu.softirqPending() == 0) {
            woken = false;
            if (cpu.softirqPending() == 0) {
                return 0;
            }
            woken = true;
        }
        if (stepped) {
            if (!cpu.tryAcquireBh(ctx)) {
                return 0; // the BH owner (a task in a BH-disabled section) runs them at its local_bh_enable
            }
        } else {
            cpu.acquireBh(ctx);
        }
        softirqs.ksoftirqdBatch(ctx);
        runs.incrementAndGet();
        if (!stepped && cpu.softirqPending() != 0) {
            Thread.yield(); // cond_resched(): a flood must not starve the host's other threads
        }
        return 1;
    }

    @Override
    public String toString() {
        return name() + (woken ? " (woken)" : " (sleeping)");
    }
}
