package dev.bottomhalf.irq;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * The state of one interrupt line ({@code struct irq_desc}).
 *
 * <p>Ownership legend (as in the kernel's workqueue.c): <b>[L]</b> guarded by the descriptor's monitor
 * ({@code desc->lock}); <b>[V]</b> written under [L] or by the in-progress owner, read anywhere (volatile);
 * <b>[P]</b> touched only by the context that holds {@code inProgress} (the spurious accounting, which
 * the kernel also runs with the line in progress); <b>[A]</b> atomic.
 */
final class IrqDesc {
    static final IrqAction[] NO_ACTIONS = new IrqAction[0];

    final int irq;
    volatile IrqAction[] actions = NO_ACTIONS;          // [V] copy-on-write under [L]
    int depth = 1;                                      // [L] a never-requested line is disabled
    volatile boolean disabled = true;                   // [V] depth > 0
    volatile boolean masked;                            // [V] ONESHOT: masked until the threads are done
    long threadsOneshot;                                // [L]
    boolean oneshotHardirq;                             // [L] a hard-IRQ run masked the ONESHOT line, not yet unmasked
    volatile boolean everRequested;                     // [V]
    volatile int affinity;                              // [V] the CPU interrupts are routed to
    int trigger;                                        // [L] IRQF_TRIGGER_* of the line (irqd_get_trigger_type)
    volatile boolean percpuDevId;                       // [V] irq_set_percpu_devid: only request_percpu_irq
    final java.util.concurrent.atomic.AtomicIntegerArray percpuEnabled;  // [A] per CPU: enable_percpu_irq
    final java.util.concurrent.atomic.AtomicIntegerArray percpuPending;  // [A] per CPU: arrived while disabled there
    volatile boolean autodetect;                        // [V] IRQS_AUTODETECT: probe_irq_on .. probe_irq_off
    volatile boolean waiting;                           // [V] IRQS_WAITING: no interrupt since it was set
    volatile boolean oneshot;                           // [V] IRQS_ONESHOT
    volatile boolean noDebug;                           // [V] IRQF_NO_DEBUG: no spurious accounting
    final AtomicBoolean inProgress = new AtomicBoolean(); // [A] IRQD_IRQ_INPROGRESS
    volatile ExecutionContext runningOn;                // [V] the cpu/N context running the handlers
    volatile boolean replayPending;                     // [V] IRQS_PENDING: arrived while disabled/masked/busy
    final AtomicInteger threadsActive = new AtomicInteger();  // [A]
    final AtomicInteger threadsHandled = new AtomicInteger(); // [A]
    final AtomicLongArray kstat;                        // [A] per-CPU interrupts taken

    // note_interrupt() state, [P]
    int irqCount;
    int irqsUnhandled;
    long lastUnhandled;
    int threadsHandledLast;
    volatile boolean spuriousDisabled;                  // [V] IRQS_SPURIOUS_DISABLED
    volatile boolean pollInProgress;                    // [V] IRQS_POLL_INPROGRESS

    IrqDesc(int irq, int cpus, int affinity) {
        this.irq = irq;
        this.kstat = new AtomicLongArray(cpus);
        this.percpuEnabled = new java.util.concurrent.atomic.AtomicIntegerArray(cpus);
        this.percpuPending = new java.util.concurrent.atomic.AtomicIntegerArray(cpus);
        this.affinity = affinity;
    }

    long totalCount() {
        long sum = 0;
        for (int i = 0; i < kstat.length(); i++) {
            sum += kstat.get(i);
        }
        return sum;
    }

    /** Whether no hard handler is running and no thread function is active or pending. */
    boolean quiescent() {
        return !inProgress.get() && threadsActive.get() == 0;
    }
}
