package dev.bottomhalf.examples.readme;

import static dev.bottomhalf.linux.Linux.*;

import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * The code snippets of README.md, each between a {@code // README: name} line and a {@code // README: end} line
 * and quoted there exactly (ReadmeExamplesTest compares them and checks what each prints on {@code System.out}).
 * Each method boots its own kernel and is called from a plain thread, which it may bind to a CPU of its kernel.
 */
public final class ReadmeExamples {
    private ReadmeExamples() {
    }

    /**
     * A network card's receive ring as the examples' driver sees it: packets the card has put in it and the
     * bottom half has not taken yet. Thread-safe.
     */
    public static final class NicRing {
        private final AtomicLong arrived = new AtomicLong();
        private final AtomicLong drained = new AtomicLong();
        private final AtomicLong acknowledged = new AtomicLong();

        /** The card put one packet in the ring; called from the card's thread. */
        void packetArrived() {
            arrived.incrementAndGet();
        }

        /** Acknowledges the card's interrupt (the top half's only register access). */
        public void maskInterrupt() {
            acknowledged.incrementAndGet();
        }

        /** Takes up to {@code budget} packets out of the ring; returns how many it took. */
        public int drain(int budget) {
            int n = 0;
            while (n < budget && drained.get() < arrived.get()) {
                drained.incrementAndGet();
                n++;
            }
            return n;
        }

        /** The packets taken out of the ring so far. */
        public long drained() {
            return drained.get();
        }

        /** The interrupts the top half acknowledged so far. */
        public long acknowledged() {
            return acknowledged.get();
        }
    }

    /**
     * A network card receiving traffic on a thread of its own: puts bursts of up to 32 packets in its ring,
     * raises its interrupt after each burst and waits until the driver has drained the ring.
     */
    public static final class NetworkCard {
        /** Packets the card puts in the ring before it raises its interrupt. */
        public static final int BURST = 32;

        private final NicRing ring;
        private volatile Runnable interruptLine = () -> { };

        /** A card that receives into {@code ring}. */
        public NetworkCard(NicRing ring) {
            this.ring = ring;
        }

        /** Wires the card's interrupt line: the card calls {@code line} on its own thread after each burst. */
        public void onPacket(Runnable line) {
            interruptLine = line;
        }

        /** Receives {@code packets} packets on a new thread and returns when the driver has drained them all. */
        public void receive(int packets) {
            Thread device = Thread.ofPlatform().name("nic").start(() -> {
                for (int sent = 0; sent < packets; ) {
                    int burst = Math.min(BURST, packets - sent);
                    for (int i = 0; i < burst; i++) {
                        ring.packetArrived();
                    }
                    sent += burst;
                    interruptLine.run();
                    while (ring.drained() < sent) {
                        Thread.onSpinWait();
                    }
                }
            });
            try {
                device.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the card received", e);
            }
        }
    }

    /** README "A short example": a threaded kernel, a top half that raises NET_RX, 1000 packets. */
    public static void shortExample() {
        // README: short-example
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).build())) {
            NicRing ring = new NicRing();
            NetworkCard device = new NetworkCard(ring);
            kernel.softirqs().open(SoftirqVector.NET_RX, () -> ring.drain(64));     // bottom half
            kernel.irqs().request(24, (irq, dev) -> {                               // top half, hardirq context
                ring.maskInterrupt();                                                // acknowledge the card
                kernel.softirqs().raise(SoftirqVector.NET_RX);                       // runs at irq_exit, same CPU
                return IrqReturn.HANDLED;
            }, Set.of(), "eth0-rx-0", ring);
            kernel.irqs().setAffinity(24, 0);
            device.onPacket(() -> kernel.irqs().assertIrq(24));                     // a device thread
            device.receive(1000);                    // returns when the bottom half has drained every packet
            System.out.println(ring.drained() + " packets, " + ring.acknowledged() + " interrupts");
            System.out.print(kernel.proc().interrupts());
        }
        // README: end
    }

    /** README: the same driver with the kernel's own names, on a stepped kernel. */
    public static void facadeExample() {
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().build())) {
            NicRing ring = new NicRing();
            // README: facade
            kernel.bindCurrentThread(0);
            open_softirq(NET_RX_SOFTIRQ, () -> ring.drain(64));
            int err = request_irq(24, (irq, dev) -> { raise_softirq(NET_RX_SOFTIRQ); return IRQ_HANDLED; }, 0, "eth0", ring);
            // README: end
            System.out.println("request_irq: " + err);
            ring.packetArrived();
            kernel.irqs().assertIrq(24);
            kernel.stepper().runUntilIdle();
            System.out.println("drained: " + ring.drained());
        }
    }

    /** The jiffies of the kernel {@link #steppedExample()} booted, when it booted; read by its callbacks. */
    private static volatile long bootJiffies;

    /** The stepped example's watchdog callback: prints the jiffy it runs at, counted from boot. */
    private static void resetCard() {
        System.out.println("watchdog: card reset at jiffy +" + (jiffies() - bootJiffies));
    }

    /** README: stepped mode — an interrupt, a timer and a work item on the manual clock. */
    public static void steppedExample() {
        try (Kernel k = Kernel.boot(KernelConfig.builder().cpus(2).stepped().build())) {
            bootJiffies = k.jiffies();
            k.softirqs().open(SoftirqVector.NET_RX,
                    () -> System.out.println("NET_RX on CPU " + smp_processor_id() + " at jiffy +" + (jiffies() - bootJiffies)));
            k.irqs().request(24, (irq, dev) -> {
                k.softirqs().raise(SoftirqVector.NET_RX);
                return IrqReturn.HANDLED;
            }, Set.of(), "eth0", k);
            // README: stepped
            var s = k.stepper();
            k.irqs().assertIrq(24);
            s.hardirq(0);                 // cpu/0 takes the interrupt; NET_RX runs at its irq_exit
            s.advanceJiffies(3);          // the manual clock moves jiffies

            TimerList watchdog = new TimerList();
            k.timers().setup(watchdog, "watchdog", t -> resetCard(), 0);
            k.timers().mod(watchdog, k.jiffies() + 1);   // mod_timer: level 0 rounds up, so it fires 2 ticks later
            s.advanceJiffies(2);
            s.hardirq(0);                 // the tick of CPU 0: TIMER_SOFTIRQ runs the watchdog at irq_exit
            s.runUntilIdle();             // ksoftirqd/N, irq/L-name threads, ...

            Workqueue wq = k.workqueues().alloc("events", 0, 0);
            Work w0 = new Work("w0", w -> { mdelay(5); usleep_range(10_000, 10_000); });
            k.workqueues().queueOn(0, wq, w0);
            s.runFor(50, TimeUnit.MILLISECONDS); // kworkers run one at a time on the manual clock: a burn or a sleep
                                                 // takes simulated time, and another worker starts while w0 sleeps
            // README: end
            System.out.println("w0 pending after 50 ms: " + w0.isPending() + ", jiffy +" + (k.jiffies() - bootJiffies));
        }
    }
}
