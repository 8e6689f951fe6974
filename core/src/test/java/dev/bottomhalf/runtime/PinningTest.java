package dev.bottomhalf.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.testing.KernelReports;

class PinningTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).with(b -> b.pinning(true));

    @Test
    void pinnedKernel_runsNormally_andReportsAtMostOnceWhenTheHostRefuses() throws Exception {
        Kernel k = kernels.kernel();
        KernelReports rec = kernels.reports();
        CountDownLatch done = new CountDownLatch(2);
        k.irqs().request(3, (irq, dev) -> {
            done.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "a", "a");
        k.irqs().request(4, (irq, dev) -> {
            done.countDown();
            return IrqReturn.HANDLED;
        }, Set.of(), "b", "b");
        k.irqs().assertIrq(3);
        k.irqs().assertIrq(4);
        assertTrue(done.await(10, TimeUnit.SECONDS));
        k.close();          // every runtime thread has pinned itself, or reported why not
        // On Linux with native access the pinning succeeds silently; elsewhere one report explains why not.
        assertTrue(rec.matching("CPU pinning unavailable").size() <= 1, rec.toString());
        assertEquals(rec.events().size(), rec.matching("CPU pinning unavailable").size(), rec.toString());
    }
}
