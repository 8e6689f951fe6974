package dev.bottomhalf.examples.chardev;

import static dev.bottomhalf.linux.Linux.ERESTARTSYS;
import static dev.bottomhalf.linux.Linux.SIGINT;
import static dev.bottomhalf.linux.Linux.current;
import static dev.bottomhalf.linux.Linux.flush_signals;
import static dev.bottomhalf.linux.Linux.send_sig;
import static dev.bottomhalf.linux.Linux.signal_pending;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_lock_bh;
import static dev.bottomhalf.linux.Linux.spin_lock_irqsave;
import static dev.bottomhalf.linux.Linux.spin_unlock_irqrestore;
import static dev.bottomhalf.linux.Linux.wake_up_interruptible;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static dev.bottomhalf.linux.Linux.spin_unlock_bh;
import static dev.bottomhalf.linux.Linux.tasklet_disable;
import static dev.bottomhalf.linux.Linux.tasklet_enable;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.TimerList;

class RxCharDevModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    private static final int IRQ = 30;

    /** The driver's log in stepped mode: jiffies since {@code origin}, the context, the line. */
    private List<String> log(long origin) {
        return kernels.reports().events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO)
                .map(e -> (e.jiffies() - origin) + " " + e.context() + " " + e.message()).toList();
    }

    /** The driver's log in threaded mode: the context and the line, in the order they were printed. */
    private List<String> log() {
        return kernels.reports().events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO)
                .map(e -> e.context() + " " + e.message()).toList();
    }

    /**
     * A thread standing in for the remote end: waits until the driver's reader sleeps on its wait queue, then
     * does {@code what}. (The bound only keeps a broken driver from hanging the build: after 10 s it acts anyway
     * and the test fails on what was printed.)
     */
    private static Thread whenReaderSleeps(RxCharDevModule dev, Runnable what) {
        return Thread.ofPlatform().name("wire").start(() -> {
            long giveUp = System.nanoTime() + 10_000_000_000L;
            while (!dev.readq.active() && System.nanoTime() - giveUp < 0) {
                Thread.onSpinWait();
            }
            what.run();
        });
    }

    @Test
    void read_sleepsUntilTheTaskletHasBufferedData_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        RxCharDevModule dev = new RxCharDevModule(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        long origin = kernel.jiffies();
        assertEquals(0, loader.insmod(dev));
        hw.receiveAt(origin + 3, "hello");           // level 0 of the wheel: runs at the tick after, 4
        byte[] ubuf = new byte[64];
        assertEquals(5, dev.rxchar_read(ubuf, ubuf.length));
        loader.rmmod(dev);
        assertEquals(List.of(
                "0 task rxchar: registered on IRQ 30",
                "0 task rxchar: read: no data, sleeping",
                "4 hardirq rxchar: irq 30: 5 bytes from the FIFO",
                "4 softirq rxchar: tasklet: 5 bytes buffered, waking readers",
                "4 task rxchar: read: 5 bytes \"hello\"",
                "4 task rxchar: unloaded after 1 interrupts, 0 bytes dropped"), log(origin));
    }

    @Test
    void read_returnsAtOnceWhenDataIsBuffered_andTakesAtMostCount_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        RxCharDevModule dev = new RxCharDevModule(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        long origin = kernel.jiffies();
        loader.insmod(dev);
        hw.receive("abcdef");
        kernel.stepper().runUntilIdle();            // CPU 0 takes the interrupt; the tasklet runs at its irq_exit
        byte[] ubuf = new byte[4];
        assertEquals(4, dev.rxchar_read(ubuf, 4));
        assertEquals(2, dev.rxchar_read(ubuf, 4));
        loader.rmmod(dev);
        assertEquals(List.of(
                "0 task rxchar: registered on IRQ 30",
                "0 hardirq rxchar: irq 30: 6 bytes from the FIFO",
                "0 softirq rxchar: tasklet: 6 bytes buffered, waking readers",
                "0 task rxchar: read: 4 bytes \"abcd\"",
                "0 task rxchar: read: 2 bytes \"ef\"",
                "0 task rxchar: unloaded after 1 interrupts, 0 bytes dropped"), log(origin));
    }

    @Test
    void readWithTimeout_runsOutAfterTimeoutPlusOneJiffy_thenAReadGetsLateData_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        RxCharDevModule dev = new RxCharDevModule(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        long origin = kernel.jiffies();
        loader.insmod(dev);
        dev.read_timeout_ms = 50;                   // HZ = 1000: 50 jiffies
        hw.receiveAt(origin + 60, "late");
        byte[] ubuf = new byte[64];
        assertEquals(-RxCharDevModule.ETIMEDOUT, dev.rxchar_read(ubuf, ubuf.length));
        assertEquals(origin + 51, kernel.jiffies(), "the timeout's timer runs at the tick after it expires");
        assertEquals(4, dev.rxchar_read(ubuf, ubuf.length));
        loader.rmmod(dev);
        assertEquals(List.of(
                "0 task rxchar: registered on IRQ 30",
                "0 task rxchar: read: no data, sleeping",
                "51 task rxchar: read: no data within 50 ms",
                "51 task rxchar: read: no data, sleeping",
                "61 hardirq rxchar: irq 30: 4 bytes from the FIFO",
                "61 softirq rxchar: tasklet: 4 bytes buffered, waking readers",
                "61 task rxchar: read: 4 bytes \"late\"",
                "61 task rxchar: unloaded after 1 interrupts, 0 bytes dropped"), log(origin));
    }

    @Test
    void read_endedBySignal_returnsRestartsys_andTheSignalStaysPending_stepped() {
        Kernel kernel = kernels.kernel();
        RxCharDevModule dev = new RxCharDevModule(new RxFifoHardware(kernel, IRQ));
        ModuleLoader loader = new ModuleLoader(kernel);
        long origin = kernel.jiffies();
        loader.insmod(dev);
        Task reader = current();
        TimerList ctrlC = TimerList.setup("ctrl-c", t -> send_sig(SIGINT, reader, 0), 0);
        kernel.timers().mod(ctrlC, origin + 7);
        assertEquals(-ERESTARTSYS, dev.rxchar_read(new byte[64], 64));
        assertTrue(signal_pending(reader), "the signal is delivered on the way out of the system call");
        flush_signals(reader);
        loader.rmmod(dev);
        assertEquals(List.of(
                "0 task rxchar: registered on IRQ 30",
                "0 task rxchar: read: no data, sleeping",
                "8 task rxchar: read: interrupted by a signal",
                "8 task rxchar: unloaded after 0 interrupts, 0 bytes dropped"), log(origin));
    }

    @Test
    void flush_dropsStagedAndBufferedBytes_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        RxCharDevModule dev = new RxCharDevModule(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        long origin = kernel.jiffies();
        loader.insmod(dev);
        hw.receive("12345");
        kernel.stepper().runUntilIdle();            // buffered
        tasklet_disable(dev.rx_tasklet);            // holds the bottom half back: the next bytes stay staged
        hw.receive("678");
        kernel.stepper().hardirq(0);                // (runUntilIdle would spin: ksoftirqd keeps re-raising it)
        assertEquals(8, dev.rxchar_flush());
        tasklet_enable(dev.rx_tasklet);
        kernel.stepper().runUntilIdle();            // the scheduled tasklet finds nothing staged any more
        loader.rmmod(dev);
        assertEquals(List.of(
                "0 task rxchar: registered on IRQ 30",
                "0 hardirq rxchar: irq 30: 5 bytes from the FIFO",
                "0 softirq rxchar: tasklet: 5 bytes buffered, waking readers",
                "0 hardirq rxchar: irq 30: 3 bytes from the FIFO",
                "0 task rxchar: flush: dropped 3 staged and 5 buffered bytes",
                "0 softirq rxchar: tasklet: 0 bytes buffered, waking readers",
                "0 task rxchar: unloaded after 2 interrupts, 0 bytes dropped"), log(origin));
    }

    @Test
    void read_sleepsUntilTheTaskletHasBufferedData_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        RxCharDevModule dev = new RxCharDevModule(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        assertEquals(0, loader.insmod(dev));
        Thread wire = whenReaderSleeps(dev, () -> hw.receive("hello"));
        byte[] ubuf = new byte[64];
        assertEquals(5, dev.rxchar_read(ubuf, ubuf.length));
        loader.rmmod(dev);
        join(wire);
        assertEquals(List.of(
                "task rxchar: registered on IRQ 30",
                "task rxchar: read: no data, sleeping",
                "hardirq rxchar: irq 30: 5 bytes from the FIFO",
                "softirq rxchar: tasklet: 5 bytes buffered, waking readers",
                "task rxchar: read: 5 bytes \"hello\"",
                "task rxchar: unloaded after 1 interrupts, 0 bytes dropped"), log());
    }

    @Test
    void readWithTimeout_runsOut_thenReadsWhatArrives_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        RxCharDevModule dev = new RxCharDevModule(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        loader.insmod(dev);
        dev.read_timeout_ms = 20;
        byte[] ubuf = new byte[64];
        assertEquals(-RxCharDevModule.ETIMEDOUT, dev.rxchar_read(ubuf, ubuf.length));
        dev.read_timeout_ms = 60_000;               // long enough: the wire delivers once the reader sleeps
        Thread wire = whenReaderSleeps(dev, () -> hw.receive("late"));
        assertEquals(4, dev.rxchar_read(ubuf, ubuf.length));
        loader.rmmod(dev);
        join(wire);
        assertEquals(List.of(
                "task rxchar: registered on IRQ 30",
                "task rxchar: read: no data, sleeping",
                "task rxchar: read: no data within 20 ms",
                "task rxchar: read: no data, sleeping",
                "hardirq rxchar: irq 30: 4 bytes from the FIFO",
                "softirq rxchar: tasklet: 4 bytes buffered, waking readers",
                "task rxchar: read: 4 bytes \"late\"",
                "task rxchar: unloaded after 1 interrupts, 0 bytes dropped"), log());
    }

    @Test
    void read_endedBySignalFromAnotherThread_returnsRestartsys_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        RxCharDevModule dev = new RxCharDevModule(new RxFifoHardware(kernel, IRQ));
        ModuleLoader loader = new ModuleLoader(kernel);
        loader.insmod(dev);
        Task reader = current();
        AtomicReference<Integer> sent = new AtomicReference<>();
        Thread shell = whenReaderSleeps(dev, () -> {
            kernel.sched().sendSig(SIGINT, reader);     // the Java API: void, throws on a bad signal number
            sent.set(0);
        });
        assertEquals(-ERESTARTSYS, dev.rxchar_read(new byte[64], 64));
        assertTrue(signal_pending(reader));
        flush_signals(reader);
        assertFalse(Thread.currentThread().isInterrupted(), "flush_signals cleared the thread interrupt");
        join(shell);                                // after flush_signals: a pending signal would end join at once
        assertEquals(0, sent.get());
        loader.rmmod(dev);
        assertEquals(List.of(
                "task rxchar: registered on IRQ 30",
                "task rxchar: read: no data, sleeping",
                "task rxchar: read: interrupted by a signal",
                "task rxchar: unloaded after 0 interrupts, 0 bytes dropped"), log());
    }

    @Test
    void read_endedByAPlainThreadInterrupt_returnsRestartsys_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        RxCharDevModule dev = new RxCharDevModule(new RxFifoHardware(kernel, IRQ));
        ModuleLoader loader = new ModuleLoader(kernel);
        loader.insmod(dev);
        Thread readerThread = Thread.currentThread();
        Thread shell = whenReaderSleeps(dev, readerThread::interrupt); // a pending signal is the thread interrupt
        assertEquals(-ERESTARTSYS, dev.rxchar_read(new byte[64], 64));
        flush_signals(current());
        join(shell);
        loader.rmmod(dev);
        assertEquals(List.of(
                "task rxchar: registered on IRQ 30",
                "task rxchar: read: no data, sleeping",
                "task rxchar: read: interrupted by a signal",
                "task rxchar: unloaded after 0 interrupts, 0 bytes dropped"), log());
    }

    /** The classic mistake: a task-side path takes the top half's lock with plain {@code spin_lock}. */
    static final class FlushWithPlainSpinLock extends RxCharDevModule {
        FlushWithPlainSpinLock(RxFifoHardware hw) {
            super(hw);
        }

        @Override
        int discard_staged() {
            spin_lock(rx_lock);                     // WRONG: IRQs stay on; the top half can interrupt us here
            int n = rx_count;
            rx_head = 0;
            rx_count = 0;
            spin_unlock(rx_lock);
            return n;
        }
    }

    /** The subtler one: {@code spin_lock_bh} keeps the tasklet out, but not the top half that also takes the lock. */
    static final class FlushWithSpinLockBh extends RxCharDevModule {
        FlushWithSpinLockBh(RxFifoHardware hw) {
            super(hw);
        }

        @Override
        int discard_staged() {
            spin_lock_bh(rx_lock);                  // WRONG: bottom halves off, hard IRQs still on
            int n = rx_count;
            rx_head = 0;
            rx_count = 0;
            spin_unlock_bh(rx_lock);
            return n;
        }
    }

    /** A tasklet that takes {@code buf_lock} while it still holds {@code rx_lock}: the locks nested. */
    static final class TaskletNestingTheLocks extends RxCharDevModule {
        TaskletNestingTheLocks(RxFifoHardware hw) {
            super(hw);
        }

        @Override
        void rxchar_rx_tasklet(dev.bottomhalf.tasklet.Tasklet t) {
            long flags = spin_lock_irqsave(rx_lock);
            spin_lock(buf_lock);                    // WRONG: HARDIRQ-safe rx_lock -> buf_lock, which read() holds with IRQs on
            for (int i = 0; i < rx_count; i++) {
                buf[buf_len++] = rx_ring[(rx_head + i) % RX_RING_SIZE];
            }
            rx_head = (rx_head + rx_count) % RX_RING_SIZE;
            rx_count = 0;
            avail = buf_len;
            spin_unlock(buf_lock);
            spin_unlock_irqrestore(rx_lock, flags);
            wake_up_interruptible(readq);
        }
    }

    @Test
    void taskletNestingTheTopHalfsLockAroundTheReadersLock_isReportedByLockdep_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        TaskletNestingTheLocks dev = new TaskletNestingTheLocks(hw);
        ModuleLoader loader = new ModuleLoader(kernel);
        loader.insmod(dev);
        hw.receive("ab");
        kernel.stepper().runUntilIdle();            // rx_lock -> buf_lock recorded; buf_lock not yet HARDIRQ-unsafe
        assertEquals(List.of(), kernels.reports().ofKind(KernelEvent.Kind.WARNING));
        assertEquals(2, dev.rxchar_read(new byte[64], 64)); // spin_lock_bh(buf_lock), IRQs on: HARDIRQ-unsafe now
        loader.rmmod(dev);
        List<KernelEvent> found = kernels.reports().matching("WARNING: possible irq lock inversion dependency detected");
        assertEquals(1, found.size(), kernels.reports().toString());
        String text = found.get(0).message();
        assertTrue(text.contains("(&dev->buf_lock)"), text);
        assertTrue(text.contains("but this lock was taken by another, HARDIRQ-safe lock in the past:\n"), text);
        assertTrue(text.contains("(&dev->rx_lock)"), text);
    }

    private String lockdepReportOfFlushAfterAnInterrupt(RxCharDevModule dev, Kernel kernel, RxFifoHardware hw) {
        ModuleLoader loader = new ModuleLoader(kernel);
        loader.insmod(dev);
        hw.receive("x");
        kernel.stepper().runUntilIdle();            // the top half took rx_lock in hardirq: {IN-HARDIRQ-W}
        assertEquals(List.of(), kernels.reports().ofKind(KernelEvent.Kind.WARNING));
        dev.rxchar_flush();                         // the task takes it with IRQs on: {HARDIRQ-ON-W}
        loader.rmmod(dev);
        List<KernelEvent> found = kernels.reports().matching("WARNING: inconsistent lock state");
        assertEquals(1, found.size(), kernels.reports().toString());
        return found.get(0).message();
    }

    @Test
    void flushTakingTheTopHalfsLockWithPlainSpinLock_isReportedByLockdep_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        String text = lockdepReportOfFlushAfterAnInterrupt(new FlushWithPlainSpinLock(hw), kernel, hw);
        assertTrue(text.contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.\n"), text);
        assertTrue(text.contains("[HC0[0]:SC0[0]:HE1:SE1] takes:\n"), text);
        assertTrue(text.contains(" (&dev->rx_lock){-.-.}-{2:2}, at: "
                + "dev.bottomhalf.examples.chardev.RxCharDevModuleTest$FlushWithPlainSpinLock.discard_staged("), text);
        assertTrue(text.contains("{IN-HARDIRQ-W} state was registered at:\n"
                + "  dev.bottomhalf.examples.chardev.RxCharDevModule.rxchar_interrupt("), text);
        assertTrue(text.contains("  lock(&dev->rx_lock);\n  <Interrupt>\n    lock(&dev->rx_lock);\n"), text);
    }

    @Test
    void flushTakingTheTopHalfsLockWithSpinLockBh_isReportedByLockdep_stepped() {
        Kernel kernel = kernels.kernel();
        RxFifoHardware hw = new RxFifoHardware(kernel, IRQ);
        String text = lockdepReportOfFlushAfterAnInterrupt(new FlushWithSpinLockBh(hw), kernel, hw);
        assertTrue(text.contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.\n"), text);
        assertTrue(text.contains("[HC0[0]:SC0[2]:HE1:SE0] takes:\n"), "bottom halves off, IRQs on: " + text);
        assertTrue(text.contains("RxCharDevModuleTest$FlushWithSpinLockBh.discard_staged("), text);
    }

    private static void join(Thread t) {
        try {
            t.join();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
