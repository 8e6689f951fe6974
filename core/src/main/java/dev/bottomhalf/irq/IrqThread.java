package dev.bottomhalf.irq;

import dev.bottomhalf.internal.jfr.Jfr;
import dev.bottomhalf.internal.jfr.ThreadedIrqEvent;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.runtime.Agent;
import dev.bottomhalf.internal.runtime.AgentHandle;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelEvent;

/**
 * {@code irq/L-name}: the thread of one threaded handler. Runs the thread function in process context
 * (it may sleep) each time the primary handler returned {@code IRQ_WAKE_THREAD}; wake-ups that arrive
 * before it runs collapse into one run.
 *
 * <p>Implementation notes: {@code runThread} is {@code IRQTF_RUNTHREAD}. The waker (hardirq on any CPU)
 * sets it with a CAS and only the winner counts the line's {@code threads_active}; the thread clears it
 * before calling the function, so a wake-up during the call causes exactly one more run. After the
 * call the thread finalises ONESHOT (unmasking the line when no ONESHOT thread of the line is left)
 * and only then drops {@code threads_active}, which {@code synchronize_irq} waits on.
 */
final class IrqThread implements Agent {
    private final IrqController controller;
    private final IrqDesc desc;
    private final IrqAction action;
    private final ExecutionContext ctx;
    private volatile boolean runThread;
    AgentHandle handle;

    IrqThread(IrqController controller, IrqDesc desc, IrqAction action) {
        this.controller = controller;
        this.desc = desc;
        this.action = action;
        this.ctx = controller.machine().newContext(ExecutionContext.Role.IRQ_THREAD,
                "irq/" + desc.irq + "-" + action.name, controller.machine().cpu(desc.affinity));
    }

    @Override
    public String name() {
        return ctx.name();
    }

    @Override
    public ExecutionContext context() {
        return ctx;
    }

    /**
     * Sets {@code IRQTF_RUNTHREAD}; called by the controller under the descriptor monitor.
     *
     * @return false when the thread was already runnable (the wake-up collapses into the pending run)
     */
    boolean markRunnable() {
        if (runThread) {
            return false;
        }
        runThread = true;
        return true;
    }

    /** Unparks the thread if it may be parked (nothing in stepped mode). */
    void wakeThread() {
        AgentHandle h = handle;
        if (h != null) {
            h.wake();
        }
    }

    /** Drops a pending run (the handler is being freed). */
    void cancelPendingRun() {
        runThread = false;
    }

    boolean runnable() {
        return runThread;
    }

    @Override
    public boolean hasWork() {
        return runThread;
    }

    @Override
    public int doWork() {
        if (!runThread) {
            return 0;
        }
        runThread = false;
        int ret;
        int before = ctx.preemptCount();
        ThreadedIrqEvent jfr = Jfr.threadedIrqBegin();
        try {
            ret = action.threadFn.handle(desc.irq, action.devId);
        } catch (Throwable t) {
            controller.threadOopses.oops(action, action, a -> "irq " + a.irq + " thread function " + a.name, t);
            ret = IrqReturn.NONE;
        }
        if (jfr != null) {
            Jfr.threadedIrqEnd(jfr, desc.irq, action.name, ctx.cpuId(), IrqReturn.describe(ret));
        }
        if (ctx.preemptCount() != before || ctx.irqsDisabled()) {
            if (controller.threadAtomicReturns.allow(action, KernelEvent.Kind.WARNING)) {
                controller.machine().reports().warning(String.format("irq/%d-%s: thread function returned in atomic"
                        + " context (preempt_count %08x, irqs_disabled %b)", desc.irq, action.name, ctx.preemptCount(),
                        ctx.irqsDisabled()));
            }
            RuntimeAccess.get().forceIrqsEnabled(ctx);
            RuntimeAccess.get().restorePreemptCount(ctx, before);
        }
        if (ret == IrqReturn.HANDLED) {
            desc.threadsHandled.incrementAndGet();
        }
        controller.finalizeOneshot(desc, action, this);
        desc.threadsActive.decrementAndGet();
        controller.machine().wakeWaiters(); // synchronize_irq / free_irq waiting for the line's threads
        return 1;
    }

    @Override
    public String toString() {
        return name() + (runThread ? " (runnable)" : " (sleeping)");
    }
}
