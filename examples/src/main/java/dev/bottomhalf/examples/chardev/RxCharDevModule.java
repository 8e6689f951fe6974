package dev.bottomhalf.examples.chardev;

import static dev.bottomhalf.linux.Linux.DECLARE_WAIT_QUEUE_HEAD;
import static dev.bottomhalf.linux.Linux.ERESTARTSYS;
import static dev.bottomhalf.linux.Linux.IRQ_HANDLED;
import static dev.bottomhalf.linux.Linux.IRQ_NONE;
import static dev.bottomhalf.linux.Linux.free_irq;
import static dev.bottomhalf.linux.Linux.msecs_to_jiffies;
import static dev.bottomhalf.linux.Linux.pr_info;
import static dev.bottomhalf.linux.Linux.request_irq;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_lock_bh;
import static dev.bottomhalf.linux.Linux.spin_lock_init;
import static dev.bottomhalf.linux.Linux.spin_lock_irqsave;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static dev.bottomhalf.linux.Linux.spin_unlock_bh;
import static dev.bottomhalf.linux.Linux.spin_unlock_irqrestore;
import static dev.bottomhalf.linux.Linux.tasklet_kill;
import static dev.bottomhalf.linux.Linux.tasklet_schedule;
import static dev.bottomhalf.linux.Linux.tasklet_setup;
import static dev.bottomhalf.linux.Linux.wait_event_interruptible;
import static dev.bottomhalf.linux.Linux.wait_event_interruptible_timeout;
import static dev.bottomhalf.linux.Linux.wake_up_interruptible;

import java.nio.charset.StandardCharsets;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.sched.WaitQueueHead;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * A character device whose blocking {@code read()} sleeps on a wait queue until an interrupt's bottom half has
 * put data in its buffer. {@code init_module} and {@code cleanup_module} run in a task (insmod, rmmod);
 * {@link #rxchar_read} and {@link #rxchar_flush} are the file operations, called from task threads; the top
 * half runs in hardirq context and the tasklet in softirq context, on the CPU that took the interrupt.
 *
 * <p>The data path, as a UART or a small network card has it:
 * <ol>
 * <li>the top half ({@link #rxchar_interrupt}) drains the device's FIFO into the staging ring {@code rx_ring}
 * under {@code rx_lock} and schedules the tasklet — a top half does the least it can;</li>
 * <li>the tasklet ({@link #rxchar_rx_tasklet}) moves the staged bytes into the read buffer {@code buf} under
 * {@code buf_lock} and wakes the readers ({@code wake_up_interruptible});</li>
 * <li>{@code read()} sleeps in {@code wait_event_interruptible} (or {@code _timeout} when
 * {@link #read_timeout_ms} is set) until the buffer has data, then copies it out under {@code buf_lock}.</li>
 * </ol>
 *
 * <p>Locking rules (what lockdep checks):
 * <ul>
 * <li>{@code rx_lock} is taken in hardirq context, so everybody else takes it with {@code spin_lock_irqsave}:
 * a holder with IRQs on could be interrupted, on its own CPU, by the top half spinning on it for ever. Even
 * {@code spin_lock_bh} is not enough, because it keeps bottom halves out, not interrupts.</li>
 * <li>{@code buf_lock} is taken in softirq context (the tasklet; a plain {@code spin_lock} there, bottom halves
 * are already off) and never in hardirq context, so task context takes it with {@code spin_lock_bh}.</li>
 * <li>the two are never nested: holding {@code rx_lock} (HARDIRQ-safe) while taking {@code buf_lock}
 * (HARDIRQ-unsafe: {@code read()} holds it with IRQs on) lets a CPU that holds {@code buf_lock} in
 * {@code read()} take the interrupt whose top half spins on {@code rx_lock}, held by another CPU waiting for
 * {@code buf_lock}. Lockdep reports it as {@code HARDIRQ-safe -> HARDIRQ-unsafe lock order detected}, or as
 * {@code possible irq lock inversion dependency detected} when the nesting came before {@code read()}'s
 * first lock. The tasklet copies the staged bytes out first, then takes {@code buf_lock}.</li>
 * </ul>
 *
 * <p>Implementation notes: the ring and the buffer are plain fields guarded by their locks; {@code avail}, the
 * buffer's length, is also published in a volatile field because the wait condition reads it without the lock
 * (the waker writes it before {@code wake_up_interruptible}, the waiter queues itself before it reads it: no
 * wake-up is lost).
 */
public class RxCharDevModule implements KernelModule {
    /** {@code ETIMEDOUT}: what a read that ran out of time returns, negated. */
    public static final int ETIMEDOUT = 110;
    static final int RX_RING_SIZE = 256;
    static final int BUF_SIZE = 4096;

    /** Module parameter {@code read_timeout_ms}: 0 = a read waits for data as long as it takes. */
    public volatile long read_timeout_ms;

    final RxFifoHardware hw;

    /* struct rxchar_dev */
    final Spinlock rx_lock = new Spinlock("&dev->rx_lock");
    final byte[] rx_ring = new byte[RX_RING_SIZE];
    int rx_head;                  // under rx_lock: next byte the tasklet takes
    int rx_count;                 // under rx_lock
    long rx_overruns;             // under rx_lock: bytes dropped because the ring was full
    final Spinlock buf_lock = new Spinlock("&dev->buf_lock");
    final byte[] buf = new byte[BUF_SIZE];
    int buf_len;                  // under buf_lock
    volatile int avail;           // buf_len, published for the wait condition
    WaitQueueHead readq;
    final Tasklet rx_tasklet = new Tasklet();
    long interrupts;              // under rx_lock

    /** The driver for {@code hw}; nothing is registered until {@link #init_module}. */
    public RxCharDevModule(RxFifoHardware hw) {
        this.hw = hw;
    }

    @Override
    public int init_module() {
        spin_lock_init(rx_lock);
        spin_lock_init(buf_lock);
        readq = DECLARE_WAIT_QUEUE_HEAD("rxchar_readq");
        tasklet_setup(rx_tasklet, this::rxchar_rx_tasklet);
        int err = request_irq(hw.irq(), this::rxchar_interrupt, 0, "rxchar", this);
        if (err != 0) {
            pr_info("rxchar: cannot get IRQ %d: %d\n", hw.irq(), err);
            return err;
        }
        pr_info("rxchar: registered on IRQ %d\n", hw.irq());
        return 0;
    }

    @Override
    public void cleanup_module() {
        free_irq(hw.irq(), this);      // no top half runs after this, so nothing schedules the tasklet again
        tasklet_kill(rx_tasklet);      // waits for a scheduled or running tasklet
        long flags = spin_lock_irqsave(rx_lock);
        long irqs = interrupts;
        long overruns = rx_overruns;
        spin_unlock_irqrestore(rx_lock, flags);
        pr_info("rxchar: unloaded after %d interrupts, %d bytes dropped\n", irqs, overruns);
    }

    /** The top half: hardirq context, IRQs off. Drains the FIFO into the staging ring, schedules the tasklet. */
    int rxchar_interrupt(int irq, Object dev_id) {
        int n = 0;
        long flags = spin_lock_irqsave(rx_lock);   // IRQs are off already; _irqsave keeps the code context-proof
        while (hw.rx_ready()) {
            byte b = hw.rx_data();
            if (rx_count == RX_RING_SIZE) {
                rx_overruns++;
            } else {
                rx_ring[(rx_head + rx_count) % RX_RING_SIZE] = b;
                rx_count++;
            }
            n++;
        }
        if (n > 0) {
            interrupts++;
        }
        spin_unlock_irqrestore(rx_lock, flags);
        if (n == 0) {
            return IRQ_NONE;                        // not our device
        }
        pr_info("rxchar: irq %d: %d bytes from the FIFO\n", irq, n);
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
    }

    /** The bottom half: softirq context. Moves the staged bytes into the read buffer and wakes the readers. */
    void rxchar_rx_tasklet(Tasklet t) {
        byte[] chunk;
        long flags = spin_lock_irqsave(rx_lock);   // shared with the top half: keep it out while we hold it
        chunk = new byte[rx_count];
        for (int i = 0; i < chunk.length; i++) {
            chunk[i] = rx_ring[(rx_head + i) % RX_RING_SIZE];
        }
        rx_head = (rx_head + rx_count) % RX_RING_SIZE;
        rx_count = 0;
        spin_unlock_irqrestore(rx_lock, flags);    // released before buf_lock: never nested

        spin_lock(buf_lock);                       // softirq context: bottom halves are off already
        int n = Math.min(chunk.length, BUF_SIZE - buf_len);
        System.arraycopy(chunk, 0, buf, buf_len, n);
        buf_len += n;
        avail = buf_len;
        spin_unlock(buf_lock);

        pr_info("rxchar: tasklet: %d bytes buffered, waking readers\n", n);
        wake_up_interruptible(readq);
    }

    /**
     * {@code read(fd, ubuf, count)}: task context. Sleeps until the buffer has data (at most
     * {@link #read_timeout_ms} when set), then copies up to {@code count} bytes into {@code ubuf}. Returns the
     * number of bytes, {@code -ERESTARTSYS} when a signal ended the wait, {@code -ETIMEDOUT} when the time ran
     * out.
     */
    public int rxchar_read(byte[] ubuf, int count) {
        if (avail == 0) {
            pr_info("rxchar: read: no data, sleeping\n");
        }
        long timeout_ms = read_timeout_ms;
        if (timeout_ms == 0) {
            if (wait_event_interruptible(readq, () -> avail > 0) != 0) {
                pr_info("rxchar: read: interrupted by a signal\n");
                return -ERESTARTSYS;
            }
        } else {
            long left = wait_event_interruptible_timeout(readq, () -> avail > 0, msecs_to_jiffies(timeout_ms));
            if (left < 0) {
                pr_info("rxchar: read: interrupted by a signal\n");
                return (int) left;
            }
            if (left == 0) {
                pr_info("rxchar: read: no data within %d ms\n", timeout_ms);
                return -ETIMEDOUT;
            }
        }
        int n = copy_from_buffer(ubuf, count);
        pr_info("rxchar: read: %d bytes \"%s\"\n", n, new String(ubuf, 0, n, StandardCharsets.US_ASCII));
        return n;
    }

    /** Takes up to {@code count} bytes from the read buffer: task context, so {@code spin_lock_bh}. */
    int copy_from_buffer(byte[] ubuf, int count) {
        spin_lock_bh(buf_lock);
        int n = Math.min(count, buf_len);
        System.arraycopy(buf, 0, ubuf, 0, n);
        System.arraycopy(buf, n, buf, 0, buf_len - n);
        buf_len -= n;
        avail = buf_len;
        spin_unlock_bh(buf_lock);
        return n;
    }

    /**
     * {@code ioctl(fd, RXCHAR_FLUSH)}: task context. Discards what is staged and what is buffered; returns the
     * number of bytes dropped. Takes each lock as its users require, one after the other.
     */
    public int rxchar_flush() {
        int staged = discard_staged();
        spin_lock_bh(buf_lock);
        int buffered = buf_len;
        buf_len = 0;
        avail = 0;
        spin_unlock_bh(buf_lock);
        pr_info("rxchar: flush: dropped %d staged and %d buffered bytes\n", staged, buffered);
        return staged + buffered;
    }

    /** Empties the staging ring: the top half takes {@code rx_lock}, so {@code spin_lock_irqsave}. */
    int discard_staged() {
        long flags = spin_lock_irqsave(rx_lock);
        int n = rx_count;
        rx_head = 0;
        rx_count = 0;
        spin_unlock_irqrestore(rx_lock, flags);
        return n;
    }
}
