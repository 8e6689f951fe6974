package dev.bottomhalf.examples.kthreads;

import static dev.bottomhalf.linux.Linux.TASK_INTERRUPTIBLE;
import static dev.bottomhalf.linux.Linux.TASK_RUNNING;
import static dev.bottomhalf.linux.Linux.__set_current_state;
import static dev.bottomhalf.linux.Linux.complete;
import static dev.bottomhalf.linux.Linux.current;
import static dev.bottomhalf.linux.Linux.init_completion;
import static dev.bottomhalf.linux.Linux.kthread_run;
import static dev.bottomhalf.linux.Linux.kthread_should_stop;
import static dev.bottomhalf.linux.Linux.kthread_stop;
import static dev.bottomhalf.linux.Linux.msecs_to_jiffies;
import static dev.bottomhalf.linux.Linux.pr_info;
import static dev.bottomhalf.linux.Linux.reinit_completion;
import static dev.bottomhalf.linux.Linux.schedule;
import static dev.bottomhalf.linux.Linux.schedule_timeout_interruptible;
import static dev.bottomhalf.linux.Linux.set_current_state;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_lock_init;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static dev.bottomhalf.linux.Linux.wait_for_completion;
import static dev.bottomhalf.linux.Linux.wait_for_completion_interruptible;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.locking.Spinlock;
import dev.bottomhalf.sched.Completion;
import dev.bottomhalf.sched.Task;

/**
 * A two-stage kthread pipeline: a producer kthread makes items and hands each to a consumer kthread through a
 * one-item slot and two completions; {@code rmmod} stops both with {@code kthread_stop} and logs their exit
 * codes. {@code init_module}, {@code cleanup_module}, {@link #pipe_stats} and {@link #pipe_wait_finished} run
 * in a task; {@link #producer_fn} and {@link #consumer_fn} are the kthreads' functions.
 *
 * <p>The hand-over, item by item:
 * <ol>
 * <li>the producer re-arms {@code taken} ({@code reinit_completion}: a done left from an earlier round must
 * not count for this one), fills the slot and {@code complete(&filled)};</li>
 * <li>the consumer, asleep in {@code wait_for_completion_interruptible(&filled)}, takes the item and
 * {@code complete(&taken)};</li>
 * <li>the producer, asleep in {@code wait_for_completion_interruptible(&taken)}, may now reuse the slot; it
 * paces itself with {@code schedule_timeout_interruptible(period)} before the next item.</li>
 * </ol>
 * After {@link #nr_items} items the producer completes {@code finished} and, as every kthread that ends on its
 * own must, waits for {@code kthread_stop} before it returns (a kthread that returned early would leave
 * {@code kthread_stop} a task that is gone). Both stages loop on {@code kthread_should_stop()}; their sleeps are
 * interruptible because {@code kthread_stop} ends those ({@code TIF_NOTIFY_SIGNAL}), so a stop in the middle of
 * a hand-over does not hang. Each returns the number of items it handled: {@code kthread_stop}'s result.
 *
 * <p>Statistics live under two locks, {@code prod_lock} (the producer's count) and {@code cons_lock} (the
 * consumer's count and sum), each taken in kthread or task context only, so plain {@code spin_lock}. The lock
 * order is {@code prod_lock} before {@code cons_lock} ({@link #pipe_stats} takes both for a consistent
 * snapshot); taking them the other way round anywhere is the circular dependency lockdep reports.
 *
 * <p>Implementation notes: the slot is a plain field; {@code complete} and the wait that returns are ordered by
 * the completion's lock, so the consumer reads what the producer wrote (and the producer writes the next item
 * only after the consumer's {@code complete(&taken)}).
 */
public class KthreadPipelineModule implements KernelModule {
    /** Module parameter {@code nr_items}: how many items the producer makes. */
    public int nr_items = 5;
    /** Module parameter {@code period_ms}: the producer's pause between two items. */
    public long period_ms = 10;

    /* struct pipeline */
    int slot;                               // written by the producer before filled, read by the consumer after it
    Completion filled;
    Completion taken;
    Completion finished;
    final Spinlock prod_lock = new Spinlock("&pipe->prod_lock");
    int produced;                           // under prod_lock
    final Spinlock cons_lock = new Spinlock("&pipe->cons_lock");
    int consumed;                           // under cons_lock
    long sum;                               // under cons_lock
    Task producer;
    Task consumer;

    @Override
    public int init_module() {
        spin_lock_init(prod_lock);
        spin_lock_init(cons_lock);
        filled = init_completion("filled");
        taken = init_completion("taken");
        finished = init_completion("finished");
        pr_info("pipe: starting, %d items every %d ms\n", nr_items, period_ms);
        consumer = kthread_run(KthreadPipelineModule::consumer_fn, this, "pipe-consumer");
        producer = kthread_run(KthreadPipelineModule::producer_fn, this, "pipe-producer");
        return 0;
    }

    @Override
    public void cleanup_module() {
        int ret = kthread_stop(producer);       // first: it may wait for the consumer, never the other way round
        pr_info("pipe: %s exited with %d\n", producer.comm(), ret);
        ret = kthread_stop(consumer);
        pr_info("pipe: %s exited with %d\n", consumer.comm(), ret);
    }

    /** Waits until the producer has handed over all {@link #nr_items} items and they were taken. Task context. */
    public void pipe_wait_finished() {
        wait_for_completion(finished);
    }

    /** {@code cat /sys/.../stats}: a consistent snapshot, taking both locks in the documented order. */
    public String pipe_stats() {
        spin_lock(prod_lock);
        spin_lock(cons_lock);
        String s = "produced " + produced + ", consumed " + consumed + ", sum " + sum;
        spin_unlock(cons_lock);
        spin_unlock(prod_lock);
        return s;
    }

    /** The producer stage (kthread {@code pipe-producer}): returns the number of items it handed over. */
    static int producer_fn(KthreadPipelineModule pipe) {
        int n = 0;
        while (n < pipe.nr_items && !kthread_should_stop()) {
            int item = (n + 1) * (n + 1);
            reinit_completion(pipe.taken);
            pipe.slot = item;
            pr_info("pipe: %s: item %d = %d\n", current().comm(), n + 1, item);
            complete(pipe.filled);
            if (wait_for_completion_interruptible(pipe.taken) != 0) {
                break;                          // kthread_stop in the middle of a hand-over
            }
            n++;
            spin_lock(pipe.prod_lock);
            pipe.produced = n;
            spin_unlock(pipe.prod_lock);
            if (n < pipe.nr_items) {
                schedule_timeout_interruptible(msecs_to_jiffies(pipe.period_ms));
            }
        }
        if (n == pipe.nr_items) {
            pr_info("pipe: %s: all %d items handed over\n", current().comm(), n);
            complete(pipe.finished);
        }
        /* A kthread must not return before kthread_stop(): sleep until it comes. */
        set_current_state(TASK_INTERRUPTIBLE);
        while (!kthread_should_stop()) {
            schedule();
            set_current_state(TASK_INTERRUPTIBLE);
        }
        __set_current_state(TASK_RUNNING);
        return n;
    }

    /** The consumer stage (kthread {@code pipe-consumer}): returns the number of items it took. */
    static int consumer_fn(KthreadPipelineModule pipe) {
        int n = 0;
        while (!kthread_should_stop()) {
            if (wait_for_completion_interruptible(pipe.filled) != 0) {
                continue;                       // kthread_stop: the loop condition ends it
            }
            int item = pipe.slot;
            n++;
            long sum = pipe.account(item);
            pr_info("pipe: %s: took %d, sum %d\n", current().comm(), item, sum);
            complete(pipe.taken);
        }
        pr_info("pipe: %s: stopping after %d items\n", current().comm(), n);
        return n;
    }

    /** The consumer's bookkeeping: its own lock only. Returns the new sum. */
    long account(int item) {
        spin_lock(cons_lock);
        consumed++;
        sum += item;
        long s = sum;
        spin_unlock(cons_lock);
        return s;
    }
}
