package dev.bottomhalf.stress;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

import dev.bottomhalf.sched.Completion;

/**
 * {@code complete()} racing with {@code wait_for_completion_timeout()} (10 s): the waiter always gets the
 * completion promptly — either it was already done, or the complete wakes it, so it returns with time left —
 * and consumes exactly one done; on the threaded kernel of {@link WaitQueueWakeStress}.
 */
@JCStressTest
@Outcome(id = "1, 1, 0", expect = Expect.ACCEPTABLE, desc = "completed and consumed")
@Outcome(expect = Expect.FORBIDDEN, desc = "lost wake-up (the waiter slept out its timeout), or the done count went wrong")
@State
public class CompletionStress {
    private final Completion done = new Completion("stress");

    @Actor
    public void waiter(III_Result r) {
        WaitQueueWakeStress.KERNEL.bindCurrentThread(0);
        r.r1 = WaitQueueWakeStress.SCHED.waitForCompletionTimeout(done, WaitQueueWakeStress.TIMEOUT) > 1 ? 1 : 0;
    }

    @Actor
    public void completer(III_Result r) {
        WaitQueueWakeStress.KERNEL.bindCurrentThread(1);
        WaitQueueWakeStress.SCHED.complete(done);
        r.r2 = 1;
    }

    @Arbiter
    public void arbiter(III_Result r) {
        r.r3 = (int) done.done();
    }
}
