package dev.bottomhalf.examples.timers;

import static dev.bottomhalf.linux.Linux.TASK_INTERRUPTIBLE;
import static dev.bottomhalf.linux.Linux.TASK_RUNNING;
import static dev.bottomhalf.linux.Linux.__set_current_state;
import static dev.bottomhalf.linux.Linux.kthread_run;
import static dev.bottomhalf.linux.Linux.kthread_should_stop;
import static dev.bottomhalf.linux.Linux.kthread_stop;
import static dev.bottomhalf.linux.Linux.msleep;
import static dev.bottomhalf.linux.Linux.schedule;
import static dev.bottomhalf.linux.Linux.set_current_state;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.testing.KernelExtension;

class SensorTimerModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

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

    @Test
    void reader_sleepsUntilTheTimerTakesASample_everyPeriodPlusTheWheelsTick_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        long origin = kernel.jiffies();
        assertEquals(0, loader.insmod(sensor));
        SensorTimerModule.sensor_file f = sensor.sensor_open();
        int[] out = new int[1];
        assertEquals(0, sensor.sensor_read(f, out));
        assertEquals(20_000, out[0]);
        assertEquals(0, sensor.sensor_read(f, out));
        assertEquals(20_250, out[0]);
        loader.rmmod(sensor);
        assertEquals(List.of(
                "0 task sensor: sampling every 10 ms",
                "11 softirq sensor: sample 1: 20000 mC",       // expires at 10, runs at the tick after
                "11 task sensor: read: sample 1: 20000 mC",
                "21 softirq sensor: sample 2: 20250 mC",       // re-armed at expires + 10 = 20: no drift
                "21 task sensor: read: sample 2: 20250 mC",
                "21 task sensor: stopped after 2 samples"), log(origin));
    }

    /** A second reader: a kthread that reads one sample, then waits for {@code kthread_stop} and returns it. */
    private static int loggerFn(SensorTimerModule sensor) {
        int[] out = new int[1];
        int ret = sensor.sensor_read(sensor.sensor_open(), out);
        set_current_state(TASK_INTERRUPTIBLE);
        while (!kthread_should_stop()) {
            schedule();
            set_current_state(TASK_INTERRUPTIBLE);
        }
        __set_current_state(TASK_RUNNING);
        return ret == 0 ? out[0] : ret;
    }

    @Test
    void oneWakeUp_wakesEveryReaderSleepingOnTheQueue_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        String me = Thread.currentThread().getName();
        long origin = kernel.jiffies();
        loader.insmod(sensor);
        Task logger = kthread_run(SensorTimerModuleTest::loggerFn, sensor, "sensor-logger");
        int[] out = new int[1];
        assertEquals(0, sensor.sensor_read(sensor.sensor_open(), out));
        assertEquals(20_000, kthread_stop(logger), "the kthread read the same sample");
        loader.rmmod(sensor);
        List<String> log = kernels.reports().events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO)
                .map(e -> (e.jiffies() - origin) + " " + e.thread() + " " + e.message()).toList();
        assertEquals(List.of(
                "0 " + me + " sensor: sampling every 10 ms",
                "11 cpu/0 sensor: sample 1: 20000 mC",
                "11 sensor-logger sensor: read: sample 1: 20000 mC",
                "11 " + me + " sensor: read: sample 1: 20000 mC",
                "11 " + me + " sensor: stopped after 1 samples"), log);
    }

    @Test
    void oneWakeUp_wakesEveryReaderSleepingOnTheQueue_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        sensor.period_ms = 1_500;                      // time enough for both readers to be queued first, on a loaded host too
        sensor.read_timeout_ms = 5_000;                // longer than the period: the readers wait for sample 1
        loader.insmod(sensor);
        Task logger = kthread_run(SensorTimerModuleTest::loggerFn, sensor, "sensor-logger");
        long giveUp = System.nanoTime() + 10_000_000_000L; // only keeps a broken module from hanging the build
        while (!sensor.sdev.readq.active() && System.nanoTime() - giveUp < 0) {
            Thread.onSpinWait();                       // the kthread sleeps on the queue
        }
        int[] out = new int[1];
        assertEquals(0, sensor.sensor_read(sensor.sensor_open(), out));
        assertEquals(out[0], kthread_stop(logger), "both readers got the same, newest sample");
        loader.rmmod(sensor);
        List<String> log = kernels.reports().events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO)
                .map(e -> e.thread() + " " + e.message()).toList();
        String me = Thread.currentThread().getName();
        String read = "sensor: read: sample 1: 20000 mC";
        assertTrue(log.get(1).endsWith("sensor: sample 1: 20000 mC"), log.toString());
        assertEquals(java.util.Set.of("sensor-logger " + read, me + " " + read), java.util.Set.copyOf(log.subList(2, 4)),
                "the readers run in either order");
        assertEquals(me + " sensor: stopped after 1 samples", log.get(4), log.toString());
        assertEquals(5, log.size(), log.toString());
    }

    @Test
    void reader_withAShortTimeout_runsOutAtTimeoutPlusOne_thenGetsTheNextSample_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        long origin = kernel.jiffies();
        loader.insmod(sensor);
        SensorTimerModule.sensor_file f = sensor.sensor_open();
        int[] out = new int[1];
        sensor.read_timeout_ms = 5;
        assertEquals(-SensorTimerModule.ETIMEDOUT, sensor.sensor_read(f, out));
        sensor.read_timeout_ms = 1000;
        assertEquals(0, sensor.sensor_read(f, out));
        loader.rmmod(sensor);
        assertEquals(List.of(
                "0 task sensor: sampling every 10 ms",
                "6 task sensor: read: no new sample within 5 ms",
                "11 softirq sensor: sample 1: 20000 mC",
                "11 task sensor: read: sample 1: 20000 mC",
                "11 task sensor: stopped after 1 samples"), log(origin));
    }

    @Test
    void aSlowReader_getsTheNewestSampleAtOnce_andIsToldWhatItMissed_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        long origin = kernel.jiffies();
        loader.insmod(sensor);
        SensorTimerModule.sensor_file f = sensor.sensor_open();
        msleep(25);                                    // samples at 11 and 21 meanwhile
        int[] out = new int[1];
        assertEquals(0, sensor.sensor_read(f, out));
        assertEquals(origin + 26, kernel.jiffies(), "the condition held: the read did not sleep");
        loader.rmmod(sensor);
        assertEquals(List.of(
                "0 task sensor: sampling every 10 ms",
                "11 softirq sensor: sample 1: 20000 mC",
                "21 softirq sensor: sample 2: 20250 mC",
                "26 task sensor: read: sample 2: 20250 mC (1 missed)",
                "26 task sensor: stopped after 2 samples"), log(origin));
    }

    @Test
    void rmmod_shutsTheTimerDown_soItNeverSamplesAgain_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        loader.insmod(sensor);
        msleep(15);                                    // one sample, at 11; the timer is armed for 20
        loader.rmmod(sensor);
        assertFalse(sensor.sdev.timer.isPending());
        assertTrue(sensor.sdev.timer.isShutDown());
        assertEquals(0, kernel.timers().mod(sensor.sdev.timer, kernel.jiffies() + 1),
                "mod_timer of a shut-down timer does nothing, as the callback's own re-arm would");
        kernel.stepper().advanceJiffies(100);
        kernel.stepper().runUntilIdle();
        assertEquals(List.of("task sensor: sampling every 10 ms", "softirq sensor: sample 1: 20000 mC",
                "task sensor: stopped after 1 samples"), log());
    }

    @Test
    void reader_getsSamplesInOrder_andRmmodStopsTheTimer_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        loader.insmod(sensor);
        SensorTimerModule.sensor_file f = sensor.sensor_open();
        int[] out = new int[1];
        List<Integer> read = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            assertEquals(0, sensor.sensor_read(f, out));
            read.add(out[0]);
        }
        loader.rmmod(sensor);
        List<String> log = log();
        // The timing decides how many samples the timer took between two reads; the order and content do not
        // depend on it: sample n is 20000 + 250 (n - 1) mC, logged before any read returns it, and every read
        // returns the newest sample, newer than the one before.
        assertEquals("task sensor: sampling every 10 ms", log.get(0));
        int samples = 0;
        int reads = 0;
        long lastRead = 0;
        for (String line : log.subList(1, log.size() - 1)) {
            if (line.startsWith("softirq sensor: sample ")) {
                samples++;
                assertEquals("softirq sensor: sample " + samples + ": " + (20_000 + 250 * (samples - 1)) + " mC", line);
            } else {
                assertTrue(line.startsWith("task sensor: read: sample " + samples + ": "
                        + (20_000 + 250 * (samples - 1)) + " mC"), line + " in " + log);
                assertEquals(20_000 + 250 * (samples - 1), read.get(reads++));
                long missed = samples - lastRead - 1;
                assertEquals(missed > 0, line.endsWith(" (" + missed + " missed)"), line);
                lastRead = samples;
            }
        }
        assertEquals(3, reads);
        assertEquals("task sensor: stopped after " + samples + " samples", log.get(log.size() - 1));
        assertFalse(sensor.sdev.timer.isPending());
    }

    @Test
    void reader_ofASensorSamplingOnceAMinute_timesOut_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        SensorTimerModule sensor = new SensorTimerModule(new SimulatedThermometer(20_000, 250));
        sensor.period_ms = 60_000;
        sensor.read_timeout_ms = 20;
        loader.insmod(sensor);
        assertEquals(-SensorTimerModule.ETIMEDOUT, sensor.sensor_read(sensor.sensor_open(), new int[1]));
        loader.rmmod(sensor);
        assertEquals(List.of(
                "task sensor: sampling every 60000 ms",
                "task sensor: read: no new sample within 20 ms",
                "task sensor: stopped after 0 samples"), log());
    }

    /** A reader that copies the sample under a plain {@code spin_lock}: the timer softirq takes the same lock. */
    static final class ReaderWithPlainSpinLock extends SensorTimerModule {
        ReaderWithPlainSpinLock(SimulatedThermometer adc) {
            super(adc);
        }

        @Override
        long copy_newest(int[] out) {
            spin_lock(sdev.lock);                      // WRONG: bottom halves on, the timer softirq can come in
            long n = sdev.seq;
            out[0] = sdev.samples[(int) ((n - 1) % NR_SAMPLES)];
            spin_unlock(sdev.lock);
            return n;
        }
    }

    @Test
    void readerTakingTheTimersLockWithPlainSpinLock_isReportedByLockdep_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        ReaderWithPlainSpinLock sensor = new ReaderWithPlainSpinLock(new SimulatedThermometer(20_000, 250));
        long origin = kernel.jiffies();
        loader.insmod(sensor);
        assertEquals(0, sensor.sensor_read(sensor.sensor_open(), new int[1]));
        loader.rmmod(sensor);
        List<KernelEvent> found = kernels.reports().matching("WARNING: inconsistent lock state");
        assertEquals(1, found.size(), kernels.reports().toString());
        assertEquals(origin + 11, found.get(0).jiffies(), "at the reader's first spin_lock, after the first sample");
        String text = found.get(0).message();
        assertTrue(text.contains("inconsistent {IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} usage.\n"), text);
        assertTrue(text.contains("[HC0[0]:SC0[0]:HE1:SE1] takes:\n"), text);
        assertTrue(text.contains(" (&sdev->lock){+.-.}-{2:2}, at: "
                + "dev.bottomhalf.examples.timers.SensorTimerModuleTest$ReaderWithPlainSpinLock.copy_newest("), text);
        assertTrue(text.contains("{IN-SOFTIRQ-W} state was registered at:\n"
                + "  dev.bottomhalf.examples.timers.SensorTimerModule.sensor_timer_fn("), text);
        assertTrue(text.contains("  lock(&sdev->lock);\n  <Interrupt>\n    lock(&sdev->lock);\n"), text);
    }
}
