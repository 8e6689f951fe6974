package dev.bottomhalf.web;

import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * Traffic for the web view's tests on a threaded kernel: a device thread asserts IRQ 24 (CPU 0) and IRQ 25 (CPU 1)
 * every 200 µs; each top half raises NET_RX, whose handler schedules a tasklet and, every 16th run, queues a work
 * item on the workqueue {@code web_test}. Started by the test thread; {@link #close()} stops the device thread.
 */
final class Traffic implements AutoCloseable {
    final AtomicLong netRxRuns = new AtomicLong();
    final AtomicLong works = new AtomicLong();
    private final Thread device;
    private volatile boolean stop;

    Traffic(Kernel kernel) {
        Workqueue wq = kernel.workqueues().alloc("web_test", 0, 0);
        Work[] items = {new Work("web-refill-0", w -> works.incrementAndGet()),
                new Work("web-refill-1", w -> works.incrementAndGet())};
        Tasklet[] stats = {Tasklet.setup("web-stats-0", t -> { }), Tasklet.setup("web-stats-1", t -> { })};
        kernel.softirqs().open(SoftirqVector.NET_RX, () -> {
            int cpu = kernel.context().cpuId();
            kernel.tasklets().schedule(stats[cpu]);
            if (netRxRuns.incrementAndGet() % 16 == 0) {
                kernel.workqueues().queue(wq, items[cpu]);
            }
        });
        for (int cpu = 0; cpu < 2; cpu++) {
            kernel.irqs().request(24 + cpu, (irq, dev) -> {
                kernel.softirqs().raise(SoftirqVector.NET_RX);
                return IrqReturn.HANDLED;
            }, Set.of(), "web-eth0-rx-" + cpu, "q" + cpu);
            kernel.irqs().setAffinity(24 + cpu, cpu);
        }
        device = Thread.ofPlatform().name("web-test-device").daemon().start(() -> {
            try {
                while (!stop) {
                    kernel.irqs().assertIrq(24);
                    kernel.irqs().assertIrq(25);
                    LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(200));
                }
            } catch (IllegalStateException kernelClosed) {
                // the test closed the kernel first: the card stops
            }
        });
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        device.join(5_000);
    }
}
