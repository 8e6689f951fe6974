package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import dev.bottomhalf.irq.IrqFlag;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;

/**
 * What the fault tests share: the contexts a handler runs in ({@link Where}), a handler of each kind installed
 * on a kernel ({@link Site}), and a reporter a threaded test can wait on ({@link ReportWaiter}). Test thread
 * only, except where a member says otherwise.
 */
final class Faults {
    /** How long a threaded test waits for something that takes microseconds when all is well. */
    static final long TIMEOUT_S = 30;
    /** The line of the hard-IRQ handler; routed to CPU 1. */
    static final int HARD_IRQ = 9;
    /** The line of the threaded handler (its primary handler is the default one, which wakes the thread). */
    static final int THREADED_IRQ = 10;

    private Faults() {
    }

    /** Waits until every thread of {@code threads} has ended, or {@code timeoutS} seconds in all; returns those alive. */
    static List<Thread> awaitEnded(List<Thread> threads, long timeoutS) throws InterruptedException {
        long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        for (Thread t : threads) {
            long leftNs = deadlineNs - System.nanoTime();
            if (leftNs > 0) {
                t.join(Duration.ofNanos(leftNs));
            }
        }
        return threads.stream().filter(Thread::isAlive).toList();
    }

    /** The contexts a handler runs in, with how the kernel names the handler in an oops. */
    enum Where {
        /** A primary IRQ handler: {@code cpu/1}, hardirq. */
        HARDIRQ("irq " + HARD_IRQ + " handler fault-dev", "hardirq", "cpu/1", true),
        /** A threaded IRQ handler: {@code irq/10-fault-thread}, process context. */
        IRQ_THREAD("irq " + THREADED_IRQ + " thread function fault-thread", "task",
                "irq/" + THREADED_IRQ + "-fault-thread", false),
        /** A softirq handler (NET_RX raised from a task on CPU 0: {@code ksoftirqd/0}). */
        SOFTIRQ("softirq NET_RX (net_rx_action)", "softirq", "ksoftirqd/0", true),
        /** A tasklet (scheduled from a task on CPU 0: {@code ksoftirqd/0}). */
        TASKLET("tasklet fault-tasklet", "softirq", "ksoftirqd/0", true),
        /** A timer callback (TIMER_SOFTIRQ of CPU 0, at irq_exit or in ksoftirqd). */
        TIMER("timer fault-timer", "softirq", null, true),
        /** A hard hrtimer callback (the hrtimer interrupt of CPU 0). */
        HRTIMER("hrtimer fault-hrtimer", "hardirq", "cpu/0", true),
        /** A soft hrtimer callback (HRTIMER_SOFTIRQ of CPU 0). */
        HRTIMER_SOFT("hrtimer fault-hrtimer-soft", "softirq", null, true),
        /** A work item of a per-CPU workqueue ({@code events}): a kworker of CPU 0, process context. */
        KWORKER("work fault-work (events)", "task", "kworker/0:", false),
        /** A work item of a BH workqueue ({@code events_bh}): TASKLET_SOFTIRQ of CPU 0. */
        BH_WORK("work fault-bh-work (events_bh)", "softirq", null, true);

        /** The handler as the oops names it: {@code Oops: <handler> threw <throwable>}. */
        final String handler;
        /** {@code KernelEvent.context()} of the oops. */
        final String context;
        /** The thread the oops names (a prefix), or null when it depends on where the softirq ran. */
        final String thread;
        /** Whether it runs in interrupt context: the panic is {@code Fatal exception in interrupt}. */
        final boolean inInterrupt;

        Where(String handler, String context, String thread, boolean inInterrupt) {
            this.handler = handler;
            this.context = context;
            this.thread = thread;
            this.inInterrupt = inInterrupt;
        }

        /** The panic's reason, as {@code panic()} gets it from {@code oops_end}. */
        String reason() {
            return inInterrupt ? "Fatal exception in interrupt" : "Fatal exception";
        }

        /** The oops report of {@code thrown} in this context. */
        String oops(Throwable thrown) {
            return "Oops: " + handler + " threw " + thrown;
        }
    }

    /** What a handler does each time it runs. */
    @FunctionalInterface
    interface Body {
        void run() throws InterruptedException;
    }

    /**
     * A handler of one kind, installed on a kernel, that runs {@code body} each time it is fired. Made and
     * fired from a task thread bound to CPU 0 (the test thread); the body runs wherever the kind runs.
     */
    static final class Site {
        final Kernel kernel;
        final Where where;
        private final Runnable fire;

        private Site(Kernel kernel, Where where, Runnable fire) {
            this.kernel = kernel;
            this.where = where;
            this.fire = fire;
        }

        /** Installs a handler of kind {@code where} on {@code k} whose every run is {@code body}. */
        static Site install(Kernel k, Where where, Body body) {
            Runnable run = () -> {
                try {
                    body.run();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            return switch (where) {
                case HARDIRQ -> {
                    k.irqs().request(HARD_IRQ, (irq, dev) -> {
                        run.run();
                        return IrqReturn.HANDLED;
                    }, Set.of(), "fault-dev", "fault-dev-id");
                    k.irqs().setAffinity(HARD_IRQ, 1);
                    yield new Site(k, where, () -> k.irqs().assertIrq(HARD_IRQ));
                }
                case IRQ_THREAD -> {
                    k.irqs().requestThreaded(THREADED_IRQ, null, (irq, dev) -> {
                        run.run();
                        return IrqReturn.HANDLED;
                    }, EnumSet.of(IrqFlag.ONESHOT), "fault-thread", "fault-thread-id");
                    k.irqs().setAffinity(THREADED_IRQ, 1);
                    yield new Site(k, where, () -> k.irqs().assertIrq(THREADED_IRQ));
                }
                case SOFTIRQ -> {
                    k.softirqs().open(SoftirqVector.NET_RX, run::run);
                    yield new Site(k, where, () -> k.softirqs().raise(SoftirqVector.NET_RX));
                }
                case TASKLET -> {
                    Tasklet t = Tasklet.setup("fault-tasklet", x -> run.run());
                    yield new Site(k, where, () -> k.tasklets().schedule(t));
                }
                case TIMER -> {
                    TimerList t = TimerList.setup("fault-timer", x -> run.run(), 0);
                    yield new Site(k, where, () -> k.timers().mod(t, k.jiffies() + 1));
                }
                case HRTIMER, HRTIMER_SOFT -> {
                    boolean soft = where == Where.HRTIMER_SOFT;
                    HrTimer h = k.hrtimers().create(soft ? "fault-hrtimer-soft" : "fault-hrtimer", x -> {
                        run.run();
                        return HrTimer.Restart.NORESTART;
                    }, soft ? HrTimers.mode(HrTimer.Mode.SOFT) : HrTimers.mode(HrTimer.Mode.HARD));
                    Set<HrTimer.Mode> mode = soft ? HrTimers.mode(HrTimer.Mode.REL, HrTimer.Mode.SOFT)
                            : HrTimers.mode(HrTimer.Mode.REL, HrTimer.Mode.HARD);
                    yield new Site(k, where, () -> k.hrtimers().start(h, TimeUnit.MILLISECONDS.toNanos(1), mode));
                }
                case KWORKER -> {
                    Work w = new Work("fault-work", x -> run.run());
                    yield new Site(k, where, () -> k.workqueues().queueOn(0, k.workqueues().systemWq(), w));
                }
                case BH_WORK -> {
                    Work w = new Work("fault-bh-work", x -> run.run());
                    yield new Site(k, where, () -> k.workqueues().queue(k.workqueues().systemBhWq(), w));
                }
            };
        }

        /** Raises, schedules, arms or queues the handler once (from the test thread). */
        void fire() {
            fire.run();
        }
    }

    /**
     * A reporter that keeps every report and lets a test wait for one. Thread-safe: the kernel reports from
     * any thread.
     */
    static final class ReportWaiter implements Reporter {
        private final List<KernelEvent> events = new ArrayList<>();

        @Override
        public synchronized void report(KernelEvent event) {
            events.add(event);
            notifyAll();
        }

        /** Waits up to {@link #TIMEOUT_S} for a report whose message contains {@code text}; returns the first. */
        synchronized KernelEvent await(String text) throws InterruptedException {
            long deadlineNs = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            for (;;) {
                for (KernelEvent e : events) {
                    if (e.message().contains(text)) {
                        return e;
                    }
                }
                long leftNs = deadlineNs - System.nanoTime();
                assertTrue(leftNs > 0, "no report containing '" + text + "' within " + TIMEOUT_S + " s; reports: "
                        + events);
                TimeUnit.NANOSECONDS.timedWait(this, leftNs);
            }
        }
    }
}
