package dev.bottomhalf.stress;

import java.util.concurrent.atomic.AtomicBoolean;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.IdleStrategy;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.sched.Sched;
import dev.bottomhalf.sched.Task;
import dev.bottomhalf.sched.WaitQueueEntry;
import dev.bottomhalf.sched.WaitQueueHead;

/**
 * A wake-up racing with a sleeper's condition check is never lost: {@code wait_event_timeout} against
 * "condition = true; {@code wake_up}", and the open-coded {@code prepare_to_wait}/{@code schedule_timeout}/
 * {@code finish_wait} loop against the same, on one threaded kernel shared by all samples. The sleeper waits
 * at most {@link #TIMEOUT} jiffies (10 s); a lost wake-up shows as a sleep that ran out its timeout although
 * the condition was set at once — the wait then returns 1 (the condition held when the time ran out) instead
 * of the many jiffies left after a prompt wake-up. (A host stall of 10 s would look the same; a stall of one
 * second was seen once with a 1-s bound.)
 *
 * <p>How it was checked: with the condition tested before {@code prepare_to_wait_event} queues the entry and
 * sets the task state (the classic lost wake-up, in {@code Sched.waitEventCommon}), {@code -m quick} reports
 * "0, 1" for {@link WaitEvent}.
 */
public class WaitQueueWakeStress {
    static final Kernel KERNEL = Kernel.boot(KernelConfig.builder().cpus(2).irqLines(1)
            .idleStrategy(IdleStrategy.parking()).daemonIdleStrategy(IdleStrategy.parking())
            .reporter(Reporter.silent()).build());
    static final Sched SCHED = KERNEL.sched();
    static final long HZ = KERNEL.config().hz();
    /** The sleepers' bound: 10 s. Woken promptly, a sleeper returns with almost all of it left. */
    static final long TIMEOUT = 10 * HZ;

    /** {@code wait_event_timeout} vs {@code cond = true; wake_up()}. Outcome: (returned with time left, waker ran). */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "the sleeper saw the condition or was woken")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost wake-up: the sleeper waited out its timeout")
    @State
    public static class WaitEvent {
        private final WaitQueueHead wq = new WaitQueueHead("stress");
        private final AtomicBoolean cond = new AtomicBoolean();

        @Actor
        public void sleeper(II_Result r) {
            KERNEL.bindCurrentThread(0);
            r.r1 = SCHED.waitEventTimeout(wq, cond::get, TIMEOUT) > 1 ? 1 : 0;
        }

        @Actor
        public void waker(II_Result r) {
            KERNEL.bindCurrentThread(1);
            cond.set(true);
            SCHED.wakeUp(wq);
            r.r2 = 1;
        }
    }

    /**
     * The open-coded loop: {@code prepare_to_wait(TASK_INTERRUPTIBLE); if (!cond) schedule_timeout(TIMEOUT);
     * finish_wait()} vs {@code cond = true; wake_up_interruptible()}. Outcome: (condition seen, waker ran).
     */
    @JCStressTest
    @Outcome(id = "1, 1", expect = Expect.ACCEPTABLE, desc = "the sleeper saw the condition after at most one sleep")
    @Outcome(expect = Expect.FORBIDDEN, desc = "lost wake-up: the sleeper slept its whole timeout")
    @State
    public static class PrepareToWait {
        private final WaitQueueHead wq = new WaitQueueHead("stress");
        private final AtomicBoolean cond = new AtomicBoolean();

        @Actor
        public void sleeper(II_Result r) {
            KERNEL.bindCurrentThread(0);
            WaitQueueEntry wait = SCHED.defineWait();
            long left = TIMEOUT;
            SCHED.prepareToWait(wq, wait, Task.TASK_INTERRUPTIBLE);
            if (!cond.get()) {
                left = SCHED.scheduleTimeout(TIMEOUT);
            }
            SCHED.finishWait(wq, wait);
            r.r1 = left > 1 && cond.get() ? 1 : 0;
        }

        @Actor
        public void waker(II_Result r) {
            KERNEL.bindCurrentThread(1);
            cond.set(true);
            SCHED.wakeUpInterruptible(wq);
            r.r2 = 1;
        }
    }
}
