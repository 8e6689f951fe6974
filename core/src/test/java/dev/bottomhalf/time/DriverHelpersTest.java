package dev.bottomhalf.time;

import static dev.bottomhalf.linux.Linux.HZ;
import static dev.bottomhalf.linux.Linux.container_of;
import static dev.bottomhalf.linux.Linux.from_timer;
import static dev.bottomhalf.linux.Linux.get_jiffies_64;
import static dev.bottomhalf.linux.Linux.hrtimer_setup;
import static dev.bottomhalf.linux.Linux.hrtimer_start;
import static dev.bottomhalf.linux.Linux.jiffies;
import static dev.bottomhalf.linux.Linux.ktime_get;
import static dev.bottomhalf.linux.Linux.ktime_get_ns;
import static dev.bottomhalf.linux.Linux.ktime_get_real;
import static dev.bottomhalf.linux.Linux.ktime_get_real_ts64;
import static dev.bottomhalf.linux.Linux.ktime_get_ts64;
import static dev.bottomhalf.linux.Linux.mod_timer;
import static dev.bottomhalf.linux.Linux.timer_setup;
import static dev.bottomhalf.linux.Linux.HRTIMER_MODE_REL;
import static dev.bottomhalf.linux.Linux.HRTIMER_NORESTART;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/** {@code from_timer}, {@code container_of}, {@code get_jiffies_64}, the ktime getters and {@code HZ}. Stepped. */
class DriverHelpersTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);
    private Kernel kernel;
    private Stepper stepper;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        kernel.bindCurrentThread(0);
    }

    /** A driver object embedding its timers, as {@code struct my_dev { struct timer_list t; ... }}. */
    final class MyDev {
        final String name;
        final TimerList watchdog = new TimerList(this);
        final HrTimer poll = new HrTimer(this);

        MyDev(String name) {
            this.name = name;
        }
    }

    @Test
    void fromTimer_andContainerOf_giveTheEmbeddingDriverObject() {
        MyDev dev = new MyDev("eth0");
        timer_setup(dev.watchdog, t -> log.add("watchdog of " + from_timer(t, MyDev.class).name), 0);
        hrtimer_setup(dev.poll, t -> {
            log.add("poll of " + container_of(t, MyDev.class).name);
            return HRTIMER_NORESTART;
        }, HRTIMER_MODE_REL);
        mod_timer(dev.watchdog, jiffies() + 1);
        hrtimer_start(dev.poll, 500_000, HRTIMER_MODE_REL);
        stepper.runFor(3, TimeUnit.MILLISECONDS);
        assertEquals(List.of("poll of eth0", "watchdog of eth0"), log);
        assertEquals(dev, container_of(dev.watchdog, MyDev.class));
    }

    @Test
    void fromTimer_ofATimerEmbeddedInNothing_orAsTheWrongType_fails() {
        TimerList bare = TimerList.setup("bare", t -> { }, 0);
        assertThrows(IllegalStateException.class, () -> from_timer(bare, MyDev.class));
        TimerList owned = TimerList.setup("x", "owned", t -> { }, 0);
        assertThrows(ClassCastException.class, () -> from_timer(owned, MyDev.class));
        assertEquals("x", from_timer(owned, String.class));
    }

    @Test
    void getJiffies64_isJiffies() {
        stepper.advanceJiffies(7);
        assertEquals(jiffies(), get_jiffies_64());
        assertEquals(dev.bottomhalf.internal.runtime.Machine.initialJiffies(kernel.config().hz()) + 7, get_jiffies_64());
    }

    @Test
    void ktimeGetters_areDeterministicInSteppedMode() {
        stepper.advance(1_500_000_123L, TimeUnit.NANOSECONDS);
        assertEquals(1_500_000_123L, ktime_get());
        assertEquals(ktime_get(), ktime_get_ns());
        assertEquals(new Timespec64(1, 500_000_123), ktime_get_ts64());
        assertEquals(HrTimers.STEPPED_BOOT_REALTIME_NS + 1_500_000_123L, ktime_get_real());
        assertEquals(new Timespec64(1_731_801_601L, 500_000_123), ktime_get_real_ts64());
    }

    @Test
    void theHzConstant_isTheDefaultConfigsRate_andHzMethodTheKernels() {
        assertEquals(KernelConfig.builder().build().hz(), HZ);
        assertEquals(kernel.config().hz(), dev.bottomhalf.linux.Linux.HZ());
    }

    @Test
    void timespec64_ofNanos_keepsTvNsecNonNegative() {
        assertEquals(new Timespec64(-1, 999_999_999), Timespec64.ofNanos(-1));
        assertEquals(-1, Timespec64.ofNanos(-1).toNanos());
    }
}
