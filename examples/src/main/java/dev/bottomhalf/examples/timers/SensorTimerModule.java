package dev.bottomhalf.examples.timers;

import static dev.bottomhalf.linux.Linux.DECLARE_WAIT_QUEUE_HEAD;
import static dev.bottomhalf.linux.Linux.from_timer;
import static dev.bottomhalf.linux.Linux.jiffies;
import static dev.bottomhalf.linux.Linux.mod_timer;
import static dev.bottomhalf.linux.Linux.msecs_to_jiffies;
import static dev.bottomhalf.linux.Linux.pr_info;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_lock_bh;
import static dev.bottomhalf.linux.Linux.spin_lock_init;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static dev.bottomhalf.linux.Linux.spin_unlock_bh;
import static dev.bottomhalf.linux.Linux.timer_setup;
import static dev.bottomhalf.linux.Linux.timer_shutdown_sync;
import static dev.bottomhalf.linux.Linux.wait_event_timeout;
import static dev.bottomhalf.linux.Linux.wake_up;

import java.util.function.IntSupplier;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.sched.WaitQueueHead;
import dev.bottomhalf.time.TimerList;

/**
 * A timer-driven sensor device: a {@code timer_list} samples a thermometer every {@link #period_ms}, stores the
 * samples in a ring under a spinlock and wakes the readers sleeping on a wait queue; {@code read()} returns the
 * newest sample the reader has not seen, waiting for one at most {@link #read_timeout_ms}. {@code init_module},
 * {@code cleanup_module}, {@link #sensor_open} and {@link #sensor_read} run in a task; the timer callback in
 * softirq context (the timer softirq of the CPU the timer is queued on).
 *
 * <p>What it shows:
 * <ul>
 * <li>the callback finds its device with {@code from_timer} (the {@code timer_list} is embedded in
 * {@code struct sensor_dev}) and re-arms itself from the planned expiry ({@code timer->expires + period}), so
 * the period does not drift by the callback's own lateness; the wheel runs a timer at the tick after its
 * expiry, so samples come at 11, 21, 31, ... jiffies after a load at 0 with a 10-jiffy period;</li>
 * <li>the ring's lock is taken in softirq context by the callback (plain {@code spin_lock}: bottom halves are
 * off there) and in task context by readers with {@code spin_lock_bh} — a plain {@code spin_lock} in the reader
 * could be interrupted on its CPU by the timer softirq spinning on the lock the reader holds;</li>
 * <li>readers sleep in {@code wait_event_timeout} (uninterruptible) on {@code seq != seen}; the callback
 * publishes {@code seq} before {@code wake_up};</li>
 * <li>teardown uses {@code timer_shutdown_sync}: it waits for a running callback and makes the callback's own
 * {@code mod_timer} a no-op, so the timer cannot re-arm itself behind {@code rmmod}'s back (a plain
 * {@code timer_delete_sync} can lose that race).</li>
 * </ul>
 *
 * <p>Implementation notes: the ring is guarded by {@code lock}; {@code seq}, the number of samples taken, is
 * written under the lock and is volatile for the wait condition, which reads it without the lock.
 */
public class SensorTimerModule implements KernelModule {
    /** {@code ETIMEDOUT}: what a read that ran out of time returns, negated. */
    public static final int ETIMEDOUT = 110;
    static final int NR_SAMPLES = 8;

    /** Module parameter {@code period_ms}: the sampling period. */
    public long period_ms = 10;
    /** Module parameter {@code read_timeout_ms}: how long a read waits for a new sample. */
    public long read_timeout_ms = 1000;

    /** {@code struct sensor_dev}: the timer is embedded, so its callback finds the device with {@code from_timer}. */
    static final class sensor_dev {
        final TimerList timer = new TimerList(this);
        final Spinlock lock = new Spinlock("&sdev->lock");
        final int[] samples = new int[NR_SAMPLES];  // under lock: sample n (1-based) at (n - 1) % NR_SAMPLES
        volatile long seq;                          // written under lock: samples taken so far
        WaitQueueHead readq;
        final IntSupplier adc;
        long period;                                // jiffies

        sensor_dev(IntSupplier adc) {
            this.adc = adc;
        }
    }

    /** {@code struct file} of an open sensor: the newest sample this reader has returned. */
    public static final class sensor_file {
        long seen;
    }

    final sensor_dev sdev;

    /** The driver for thermometer {@code adc}; nothing runs until {@link #init_module}. */
    public SensorTimerModule(IntSupplier adc) {
        this.sdev = new sensor_dev(adc);
    }

    @Override
    public int init_module() {
        spin_lock_init(sdev.lock);
        sdev.readq = DECLARE_WAIT_QUEUE_HEAD("sensor_readq");
        sdev.period = msecs_to_jiffies(period_ms);
        timer_setup(sdev.timer, SensorTimerModule::sensor_timer_fn, 0);
        mod_timer(sdev.timer, jiffies() + sdev.period);
        pr_info("sensor: sampling every %d ms\n", period_ms);
        return 0;
    }

    @Override
    public void cleanup_module() {
        timer_shutdown_sync(sdev.timer);
        pr_info("sensor: stopped after %d samples\n", sdev.seq);
    }

    /** The timer callback: softirq context. Takes a sample, stores it, re-arms, wakes the readers. */
    static void sensor_timer_fn(TimerList t) {
        sensor_dev sdev = from_timer(t, sensor_dev.class);
        int milliC = sdev.adc.getAsInt();
        spin_lock(sdev.lock);                       // softirq: BHs are off; readers take it with spin_lock_bh
        long n = sdev.seq + 1;
        sdev.samples[(int) ((n - 1) % NR_SAMPLES)] = milliC;
        sdev.seq = n;
        spin_unlock(sdev.lock);
        pr_info("sensor: sample %d: %d mC\n", n, milliC);
        mod_timer(t, t.expires() + sdev.period);    // from the planned expiry: no drift
        wake_up(sdev.readq);
    }

    /** {@code open()}: a reader that has seen no sample yet. */
    public sensor_file sensor_open() {
        return new sensor_file();
    }

    /**
     * {@code read()}: task context. Waits (uninterruptibly, at most {@link #read_timeout_ms}) for a sample newer
     * than the last one this file returned, then puts the newest sample, in milli-degrees Celsius, in
     * {@code out[0]}. Returns 0, or {@code -ETIMEDOUT}.
     */
    public int sensor_read(sensor_file f, int[] out) {
        long timeout_ms = read_timeout_ms;
        long seen = f.seen;
        if (wait_event_timeout(sdev.readq, () -> sdev.seq != seen, msecs_to_jiffies(timeout_ms)) == 0) {
            pr_info("sensor: read: no new sample within %d ms\n", timeout_ms);
            return -ETIMEDOUT;
        }
        long n = copy_newest(out);
        pr_info("sensor: read: sample %d: %d mC%s\n", n, out[0],
                n - seen > 1 ? " (" + (n - seen - 1) + " missed)" : "");
        f.seen = n;
        return 0;
    }

    /** Copies the newest sample into {@code out[0]} and returns its number: task context, so {@code _bh}. */
    long copy_newest(int[] out) {
        spin_lock_bh(sdev.lock);
        long n = sdev.seq;
        out[0] = sdev.samples[(int) ((n - 1) % NR_SAMPLES)];
        spin_unlock_bh(sdev.lock);
        return n;
    }
}
