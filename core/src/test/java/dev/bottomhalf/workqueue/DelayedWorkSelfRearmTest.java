package dev.bottomhalf.workqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Stepper;
import dev.bottomhalf.testing.KernelExtension;

/**
 * A delayed item reaches itself from its own function — given directly ({@link DelayedWork#create}) or by the
 * one-liner {@code DelayedWork.of(work)} — and re-arms itself, stepped at HZ 1000 on the manual clock.
 */
class DelayedWorkSelfRearmTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2).bindTestThread(0);
    private Kernel kernel;
    private Stepper stepper;
    private Workqueue wq;
    private long origin;
    private final List<String> log = new ArrayList<>();

    @BeforeEach
    void boot() {
        kernel = kernels.kernel();
        stepper = kernel.stepper();
        wq = kernel.workqueues().alloc("rearm", 0, 0);
        origin = kernel.jiffies();
    }

    private long now() {
        return kernel.jiffies() - origin;
    }

    @Test
    void create_givesTheFunctionItsDelayedItem_whichReArmsItselfThreeTimes() {
        DelayedWork[] seen = new DelayedWork[1];
        DelayedWork poll = DelayedWork.create("poll", dw -> {
            seen[0] = dw;
            log.add("run@" + now() + " pending=" + dw.isPending());
            if (log.size() <= 3) {
                kernel.workqueues().queueDelayed(wq, dw, Duration.ofMillis(10));
            }
        });
        kernel.workqueues().queueDelayed(wq, poll, Duration.ofMillis(10));
        stepper.runFor(Duration.ofMillis(100));
        assertSame(poll, seen[0]);
        assertEquals(List.of("run@11 pending=false", "run@22 pending=false", "run@33 pending=false",
                "run@44 pending=false"), log, "each run re-arms for 10 jiffies; level 0 runs the timer a tick after");
        assertFalse(poll.isPending(), "the fourth run did not re-arm");
    }

    @Test
    void aWorkFunction_reachesItsDelayedItem_withDelayedWorkOf() {
        DelayedWork poll = new DelayedWork("poll", w -> {
            DelayedWork self = DelayedWork.of(w);
            log.add("run@" + now());
            if (log.size() <= 3) {
                kernel.workqueues().modDelayed(wq, self, Duration.ofMillis(5));
            }
        });
        kernel.workqueues().queueDelayed(wq, poll, Duration.ZERO);
        stepper.runFor(Duration.ofMillis(100));
        assertEquals(List.of("run@0", "run@6", "run@12", "run@18"), log);
    }
}
