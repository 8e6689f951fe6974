package dev.bottomhalf.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Workqueue;
import dev.bottomhalf.web.ReportLog;

/**
 * {@code bottomhalf demo --card=simulated}: a 2-CPU kernel receiving traffic from a simulated two-queue network card
 * (stepless and without sockets; the default card, real UDP, is {@link UdpNetDemo}).
 *
 * <ul>
 * <li>Top half ({@code eth0-rx-N} on line 24+N, routed to CPU N): masks the queue's interrupt on the card
 * and raises NET_RX on its CPU. Nothing else: it runs with interrupts off.</li>
 * <li>Bottom half (the NET_RX softirq of CPU N): drains at most {@link #POLL_BUDGET} packets of queue N
 * per run; if packets remain it raises NET_RX again (the softirq loop's budget hands a flood to
 * {@code ksoftirqd/N}); when the ring is empty it unmasks the queue's interrupt and re-checks the ring,
 * so a packet that arrived meanwhile is never stranded.</li>
 * <li>Statistics: after each poll the NET_RX handler schedules its CPU's {@code eth0-stats-N} tasklet,
 * which rolls the queue's counters up into the device totals. TASKLET is a later vector than NET_RX, so
 * the roll-up runs in the same softirq pass, on the same CPU; schedules made before it runs coalesce.</li>
 * <li>Watchdog: each queue has a pinned kernel timer, {@code eth0-watchdog-N}, that NET_RX pushes
 * {@link #WATCHDOG_MS} ms into the future on every poll ({@code mod_timer}; re-arming to the same jiffy is
 * free). It fires only when its queue has been quiet that long — at the end, when the card stops, the demo
 * sleeps ({@code msleep}) until both have fired, then shuts them down with {@code timer_shutdown_sync}.</li>
 * <li>Slow path: a delayed work item, {@code eth0-summary}, on the {@code eth0_summary} workqueue writes a
 * one-line summary to a file once a second (file I/O may sleep: process context, a kworker) and re-queues
 * itself with {@code queue_delayed_work(..., HZ)}; at the end {@code cancel_delayed_work_sync} stops it and
 * the workqueue monitor is printed. The file is a {@link ScratchFile} in {@link DemoOptions#tempDir()}: it is
 * gone when {@link #run} returns or throws, and when the JVM is stopped mid-run.</li>
 * </ul>
 * Half-way through, a burst of {@link #BURST_PACKETS} packets per queue arrives at once: one softirq
 * invocation (10 passes) cannot drain it, so {@code ksoftirqd/N} finishes the job — visible in the
 * progress lines. Ends by itself after {@code --seconds}, checks that every packet the card accepted was delivered, and
 * prints {@code /proc/interrupts} and {@code /proc/softirqs}.
 */
final class NetDemo {
    /** Packets one NET_RX run may take from one queue, like a NAPI weight. */
    static final int POLL_BUDGET = 64;
    static final int FIRST_IRQ = 24;
    /** Packets per queue in the mid-run burst: more than 10 passes of {@link #POLL_BUDGET} can take. */
    static final int BURST_PACKETS = 3000;
    private static final long DEVICE_PERIOD_NS = TimeUnit.MICROSECONDS.toNanos(100);
    /** A queue with no poll for this long makes its watchdog fire. */
    static final int WATCHDOG_MS = 200;

    private NetDemo() {
    }

    static int run(DemoOptions options, PrintStream out) {
        if (options.card() == DemoOptions.Card.UDP) {
            return UdpNetDemo.run(options, out);
        }
        Reporter.Recording reports = Reporter.recording();
        ReportLog webReports = options.web() != null ? ReportLog.forwardingTo(reports) : null; // the view lists them
        KernelConfig config = KernelConfig.builder().cpus(2).reporter(webReports != null ? webReports : reports).build();
        out.printf("bottomhalf demo: booting a %d-CPU kernel (HZ=%d, idle strategy %s)%n", config.cpus(), config.hz(),
                config.idleStrategy());
        SimulatedNic nic = new SimulatedNic(config.cpus(), FIRST_IRQ);
        AtomicLong topHalves = new AtomicLong();
        int exit;
        try (ScratchFile summaryFile = ScratchFile.create(options.tempDir(), "bottomhalf-eth0-", ".log");
             Kernel kernel = Kernel.boot(config);
             WebDemo web = new WebDemo(options.web(), kernel, webReports, out, System.in)) {
            DemoTraces traces = DemoTraces.attach(kernel, options);
            Tasklet[] stats = new Tasklet[nic.queues.length];
            for (SimulatedNic.RxQueue q : nic.queues) {
                stats[q.index] = Tasklet.setup("eth0-stats-" + q.index, t -> {
                    q.rolledUp.set(q.delivered.get());          // per-CPU counters into the device totals
                    q.rollups.incrementAndGet();
                });
            }
            Workqueue summaryWq = kernel.workqueues().alloc("eth0_summary", 0, 0);
            AtomicLong summaries = new AtomicLong();
            DelayedWork[] summary = new DelayedWork[1];
            summary[0] = new DelayedWork("eth0-summary", w -> {
                writeSummary(summaryFile.path(), kernel, nic, summaries.incrementAndGet());
                kernel.workqueues().queueDelayed(summaryWq, summary[0], kernel.hz()); // again in a second
            });
            kernel.workqueues().queueDelayed(summaryWq, summary[0], 0);
            TimerList[] watchdogs = new TimerList[nic.queues.length];
            AtomicLong[] watchdogFires = new AtomicLong[nic.queues.length];
            for (SimulatedNic.RxQueue q : nic.queues) {
                AtomicLong fires = watchdogFires[q.index] = new AtomicLong();
                watchdogs[q.index] = TimerList.setup("eth0-watchdog-" + q.index, t -> fires.incrementAndGet(),
                        TimerList.TIMER_PINNED);
            }
            kernel.softirqs().open(SoftirqVector.NET_RX, () -> netRxAction(kernel, nic, stats, watchdogs));
            for (SimulatedNic.RxQueue q : nic.queues) {
                kernel.irqs().request(q.irq, (irq, dev) -> {
                    SimulatedNic.RxQueue queue = (SimulatedNic.RxQueue) dev;
                    queue.irqEnabled.set(false);                 // acknowledge: mask this queue on the card
                    topHalves.incrementAndGet();
                    kernel.softirqs().raise(SoftirqVector.NET_RX); // the rest runs at irq_exit, on this CPU
                    return IrqReturn.HANDLED;
                }, Set.of(), "eth0-rx-" + q.index, q);
                kernel.irqs().setAffinity(q.irq, q.index);
            }
            out.printf("eth0: %d receive queues on IRQs %d-%d, %,d packets/s %s%n", nic.queues.length,
                    FIRST_IRQ, FIRST_IRQ + nic.queues.length - 1, options.rate(),
                    web.untilEnter() ? "until Enter" : "for " + options.seconds() + " s");
            web.serve();
            out.println();

            Thread device = Thread.ofPlatform().name("eth0-device").daemon().start(
                    () -> deviceLoop(kernel, nic, options.rate(),
                            web.untilEnter() ? Long.MAX_VALUE : TimeUnit.SECONDS.toNanos(options.seconds()), web));
            long start = System.nanoTime();
            for (int s = 1; web.untilEnter() ? !web.stopped() : s <= options.seconds(); s++) {
                LockSupport.parkNanos(start + TimeUnit.SECONDS.toNanos(s) - System.nanoTime());
                progress(out, kernel, nic, topHalves, s);
            }
            joinQuietly(device);
            boolean drained = waitForDrain(nic, TimeUnit.SECONDS.toNanos(5));
            kernel.bindCurrentThread(0);
            for (Tasklet t : stats) {
                kernel.tasklets().kill(t);                        // the last roll-up has run when this returns
            }
            long quietStart = System.nanoTime();
            kernel.timers().msleep(2L * WATCHDOG_MS);             // the card is quiet: let the watchdogs fire
            long quietMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - quietStart);
            for (TimerList wd : watchdogs) {
                kernel.timers().shutdownSync(wd);                 // not pending, not running, never again
            }
            kernel.workqueues().cancelDelayedSync(summary[0]);    // its self-requeue cannot escape the cancel
            String monitor = kernel.workqueues().monitor();
            kernel.workqueues().destroy(summaryWq);
            kernel.detachCurrentThread();
            out.println();
            out.println("/proc/interrupts:");
            out.print(kernel.proc().interrupts());
            out.println();
            out.println("/proc/softirqs:");
            out.print(kernel.proc().softirqs());
            traces.report(kernel, out);
            StringBuilder fired = new StringBuilder();
            for (int i = 0; i < watchdogs.length; i++) {
                fired.append(i == 0 ? "" : ", ").append(watchdogs[i].name()).append(' ').append(watchdogFires[i].get());
            }
            out.printf("%nwatchdog timers fired (the card went quiet for %d ms at the end): %s%n", quietMs, fired);
            out.printf("%nslow path: %d per-second summaries written by a kworker to a temporary file (deleted at the end);"
                    + " the last one:%n  %s%n", summaries.get(), lastLine(summaryFile.path()));
            out.println();
            out.println("workqueue monitor:");
            out.print(monitor);
            exit = summary(out, kernel, nic, drained, reports);
        }
        printWatchItRun(out);
        return exit;
    }

    /** The demo's last lines: the two commands that show a run as pictures. */
    static void printWatchItRun(PrintStream out) {
        out.println();
        out.println("watch it run:");
        out.println("  ./bottomhalf demo --web                      live view in the browser: rates, ksoftirqd, workqueues,"
                + " a per-CPU timeline (docs/web-view.md)");
        out.println("  ./bottomhalf demo --trace-out=timeline.json  the run's tracepoints as a timeline: open it at"
                + " ui.perfetto.dev or with npx speedscope timeline.json (docs/tracing.md)");
    }

    /** The NET_RX handler: runs on the CPU whose queue interrupted. */
    private static void netRxAction(Kernel kernel, SimulatedNic nic, Tasklet[] stats, TimerList[] watchdogs) {
        SimulatedNic.RxQueue q = nic.queues[kernel.context().cpuId()];
        q.poll(POLL_BUDGET);
        kernel.timers().mod(watchdogs[q.index], kernel.jiffies() + kernel.msecsToJiffies(WATCHDOG_MS));
        kernel.tasklets().schedule(stats[q.index]);              // runs later in this same pass (TASKLET > NET_RX)
        if (!q.isEmpty()) {
            kernel.softirqs().raise(SoftirqVector.NET_RX);       // more to do: poll again in the next pass
            return;
        }
        q.irqEnabled.set(true);                                   // drained: unmask the queue on the card
        if (!q.isEmpty() && q.irqEnabled.compareAndSet(true, false)) {
            kernel.softirqs().raise(SoftirqVector.NET_RX);       // a packet slipped in before the unmask
        }
    }

    static String lastLine(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            return lines.isEmpty() ? "(none)" : lines.getLast();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the demo's summary file", e);
        }
    }

    /** The slow path's work function: one line per call, appended to the summary file (may sleep). */
    private static void writeSummary(Path file, Kernel kernel, SimulatedNic nic, long n) {
        long delivered = 0;
        long dropped = 0;
        for (SimulatedNic.RxQueue q : nic.queues) {
            delivered += q.delivered.get();
            dropped += q.dropped.get();
        }
        String line = String.format("summary %d: jiffies %d, delivered %d packets, dropped %d, on %s%n", n,
                kernel.jiffies(), delivered, dropped, Thread.currentThread().getName());
        try {
            Files.writeString(file, line, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // reported as an oops by the workqueue; the worker goes on
        }
    }

    private static void deviceLoop(Kernel kernel, SimulatedNic nic, int rate, long durationNs, WebDemo web) {
        long start = System.nanoTime();
        long sent = 0;
        int next = 0;
        long burstAtNs = web.untilEnter() ? WebDemo.BURST_PERIOD_NS / 2 : durationNs / 2;
        while (true) {
            long elapsed = System.nanoTime() - start;
            if (elapsed >= durationNs || web.stopped()) {
                return;
            }
            if (elapsed >= burstAtNs) {
                // Half-way, a burst fills most of each ring at once: more than one softirq invocation
                // (10 passes x POLL_BUDGET packets) can drain, so ksoftirqd takes over the rest. Until Enter (--web
                // without --seconds): one every 10 s.
                burstAtNs = web.untilEnter() ? burstAtNs + WebDemo.BURST_PERIOD_NS : Long.MAX_VALUE;
                for (SimulatedNic.RxQueue q : nic.queues) {
                    for (int i = 0; i < BURST_PACKETS; i++) {
                        q.offer(1500);
                    }
                }
            }
            long due = (long) (rate * (elapsed / 1e9));
            for (; sent < due; sent++) {
                SimulatedNic.RxQueue q = nic.queues[next];
                next = (next + 1) % nic.queues.length;            // receive-side scaling, round robin
                q.offer(64 + (sent % 1400));
            }
            for (SimulatedNic.RxQueue q : nic.queues) {
                if (!q.isEmpty() && q.irqEnabled.compareAndSet(true, false)) {
                    kernel.irqs().assertIrq(q.irq);                 // the card raises its interrupt
                }
            }
            LockSupport.parkNanos(DEVICE_PERIOD_NS);
        }
    }

    private static void progress(PrintStream out, Kernel kernel, SimulatedNic nic, AtomicLong topHalves, int second) {
        long delivered = 0;
        long dropped = 0;
        StringBuilder perCpu = new StringBuilder();
        for (SimulatedNic.RxQueue q : nic.queues) {
            delivered += q.delivered.get();
            dropped += q.dropped.get();
            perCpu.append(perCpu.isEmpty() ? "" : " | ").append("CPU").append(q.index).append(' ')
                    .append(String.format("%,d", q.delivered.get()));
        }
        long netRx = 0;
        long ksoftirqd = 0;
        for (int cpu = 0; cpu < kernel.cpus(); cpu++) {
            netRx += kernel.softirqs().count(cpu, SoftirqVector.NET_RX);
            ksoftirqd += kernel.softirqs().ksoftirqdRuns(cpu);
        }
        out.printf("t=%2ds  rx %,11d pkts (%s)  hard IRQs %,9d  NET_RX runs %,10d  ksoftirqd batches %,7d  drops %,d%n",
                second, delivered, perCpu, topHalves.get(), netRx, ksoftirqd, dropped);
    }

    private static boolean waitForDrain(SimulatedNic nic, long timeoutNs) {
        long deadline = System.nanoTime() + timeoutNs;
        while (System.nanoTime() < deadline) {
            boolean empty = true;
            for (SimulatedNic.RxQueue q : nic.queues) {
                empty &= q.isEmpty();
            }
            if (empty) {
                return true;
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        return false;
    }

    private static int summary(PrintStream out, Kernel kernel, SimulatedNic nic, boolean drained,
                               Reporter.Recording reports) {
        long received = 0;
        long delivered = 0;
        long dropped = 0;
        for (SimulatedNic.RxQueue q : nic.queues) {
            received += q.received.get();
            delivered += q.delivered.get();
            dropped += q.dropped.get();
        }
        long rolledUp = 0;
        long rollups = 0;
        for (SimulatedNic.RxQueue q : nic.queues) {
            rolledUp += q.rolledUp.get();
            rollups += q.rollups.get();
        }
        long problems = reports.events().stream().filter(e -> e.kind() == KernelEvent.Kind.OOPS
                || e.kind() == KernelEvent.Kind.BUG || e.kind() == KernelEvent.Kind.WARNING).count();
        out.println();
        out.printf("card accepted %,d packets, driver delivered %,d, card dropped %,d (ring full)%n",
                received, delivered, dropped);
        out.printf("statistics tasklets: %,d roll-ups, device total %,d packets%n", rollups, rolledUp);
        if (!drained || received != delivered || rolledUp != delivered || problems > 0) {
            out.printf("FAILED: %s%s%s%n", received != delivered ? "packets lost; " : "",
                    rolledUp != delivered ? "statistics roll-up incomplete; " : "",
                    problems > 0 ? problems + " kernel reports:\n" + reports : "");
            return 1;
        }
        out.println("every accepted packet was delivered; no kernel warnings.");
        return 0;
    }

    private static void joinQuietly(Thread t) {
        try {
            t.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
