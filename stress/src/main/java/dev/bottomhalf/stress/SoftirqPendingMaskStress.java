package dev.bottomhalf.stress;

import dev.bottomhalf.internal.Internals;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.I_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.softirq.SoftirqVector;

/**
 * The softirq pending mask never loses a raise: a raiser sets NET_RX on a CPU whose mask already holds
 * TIMER while the BH owner takes the mask. Every bit ends up either in what the owner took or still
 * pending. (Two actors: jcstress cannot schedule three on a 2-CPU machine. Checked by splitting
 * {@code Cpu.takeSoftirqPending} into a read, a yield and a store of 0: {@code -m quick} then reports this
 * test FAILED with forbidden outcomes.)
 */
@JCStressTest
@Outcome(id = "10", expect = Expect.ACCEPTABLE, desc = "TIMER and NET_RX both accounted for")
@Outcome(expect = Expect.FORBIDDEN, desc = "a raise was lost")
@State
public class SoftirqPendingMaskStress {
    private final Cpu cpu = Internals.machine(Kernel.boot(KernelConfig.builder().cpus(1).irqLines(1).stepped()
            .reporter(Reporter.silent()).build())).cpu(0);
    private int taken;

    public SoftirqPendingMaskStress() {
        cpu.markSoftirqPending(SoftirqVector.TIMER.bit());
    }

    @Actor
    public void raiseNetRx() {
        cpu.markSoftirqPending(SoftirqVector.NET_RX.bit());
    }

    @Actor
    public void bhOwnerTakes() {
        taken = cpu.takeSoftirqPending();
    }

    @Arbiter
    public void account(I_Result r) {
        r.r1 = taken | cpu.softirqPending();
    }
}
