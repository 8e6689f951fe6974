package dev.bottomhalf.bench.quick;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The rows of the quick run: for each headline measurement of docs/benchmarks.md, what bottomhalf is measured
 * by and what it is compared with (a peer a user would pick instead, or the floor of the atomics the operation
 * needs), in the same run.
 */
public final class QuickRows {
    private QuickRows() {
    }

    /** Which way is better for a metric. */
    public enum Better {
        /** A cost (ns per operation): lower is better. */
        LOWER,
        /** A rate (items per second): higher is better. */
        HIGHER
    }

    /** What a reference is: a peer a user would pick instead, or the bare floor of the operation's atomics. */
    public enum Kind {
        /** Another library or the JDK, doing the same job. */
        PEER,
        /** The atomics the operation needs, on bare objects: what no implementation can beat. */
        FLOOR
    }

    /**
     * A measured quantity. {@code key} names it: {@code jmh:Class.method} (optionally {@code @param=value} for a
     * benchmark with a parameter) or {@code harness:wq-throughput:<mechanism>}.
     *
     * @param key the metric's unique name, as above
     * @param label what the Markdown table shows
     */
    public record Metric(String key, String label) {
        /** A JMH benchmark of this module, by simple class name and method, with an optional parameter. */
        static Metric jmh(String classAndMethod, String label) {
            return new Metric("jmh:" + classAndMethod, label);
        }

        /** A mechanism of {@code WorkqueueThroughputHarness}'s throughput part. */
        static Metric throughput(String mechanism, String label) {
            return new Metric("harness:wq-throughput:" + mechanism, label);
        }

        /** Whether JMH measures it. */
        public boolean isJmh() {
            return key.startsWith("jmh:");
        }

        /** {@code Class.method} of a JMH metric. */
        public String benchmark() {
            String s = key.substring("jmh:".length());
            int at = s.indexOf('@');
            return at < 0 ? s : s.substring(0, at);
        }

        /** The {@code name=value} parameter of a JMH metric, or null. */
        public String param() {
            int at = key.indexOf('@');
            return at < 0 ? null : key.substring(at + 1);
        }

        /** The mechanism of a harness metric. */
        public String mechanism() {
            return key.substring(key.lastIndexOf(':') + 1);
        }
    }

    /**
     * One row: bottomhalf's metric against a reference, and the section of docs/benchmarks.md it summarises.
     *
     * @param id a stable name, the key of the baseline
     * @param section the number of the section of docs/benchmarks.md it summarises
     * @param title what is measured
     * @param ours bottomhalf's metric
     * @param reference the peer's or the floor's metric
     * @param kind whether the reference is a peer or a floor
     * @param better which way is better, for both metrics
     */
    public record Row(String id, String section, String title, Metric ours, Metric reference, Kind kind,
            Better better) {
    }

    /** The per-CPU workqueue's throughput: bottomhalf's side of every throughput row. */
    private static final Metric WQ_PERCPU = Metric.throughput("wq-percpu", "per-CPU workqueue");

    /** Every row, in the order of docs/benchmarks.md. */
    public static final List<Row> ROWS = List.of(
            new Row("raise.pending", "1", "raise a softirq whose bit is already pending",
                    Metric.jmh("RaiseSoftirqBench.raiseSoftirq_bitAlreadyPending", "raise(NET_RX), bit pending"),
                    Metric.jmh("RaiseSoftirqBench.floor_bitOr", "getAndBitwiseOr"), Kind.FLOOR, Better.LOWER),
            new Row("raise.set", "1", "raise a softirq, then the owner takes the bits",
                    Metric.jmh("RaiseSoftirqBench.raiseSoftirq_bitClearThenOwnerSwap", "raise then owner swap"),
                    Metric.jmh("RaiseSoftirqBench.floor_bitOrThenOwnerSwap", "bit-OR then owner swap"), Kind.FLOOR,
                    Better.LOWER),
            new Row("raise.vs-jctools", "1", "raise a softirq against a queue hand-off",
                    Metric.jmh("RaiseSoftirqBench.raiseSoftirq_bitClearThenOwnerSwap", "raise then owner swap"),
                    Metric.jmh("RaiseSoftirqBench.jctools_offerThenPoll", "JCTools MPSC offer + poll"), Kind.PEER,
                    Better.LOWER),
            new Row("irq.latched", "1", "assert an IRQ line already latched",
                    Metric.jmh("RaiseSoftirqBench.assertIrq_lineAlreadyLatched", "assertIrq(9), latched"),
                    Metric.jmh("RaiseSoftirqBench.floor_bitOr", "getAndBitwiseOr"), Kind.FLOOR, Better.LOWER),
            new Row("tasklet.scheduled", "5", "tasklet_schedule of a tasklet already scheduled",
                    Metric.jmh("TaskletScheduleBench.schedule_alreadyScheduled", "tasklet_schedule, scheduled"),
                    Metric.jmh("TaskletScheduleBench.jctools_offerThenPoll", "JCTools MPSC offer + poll"),
                    Kind.PEER, Better.LOWER),
            new Row("tasklet.queue", "5", "tasklet_schedule onto the CPU list, then take it back",
                    Metric.jmh("TaskletScheduleBench.schedule_queueOntoTheCpuList", "tasklet_schedule, queued"),
                    Metric.jmh("TaskletScheduleBench.jctools_offerThenPoll_coalescing",
                            "JCTools offer + poll, coalescing"), Kind.PEER, Better.LOWER),
            new Row("tasklet.queue-floor", "5", "tasklet_schedule onto the CPU list against its atomics",
                    Metric.jmh("TaskletScheduleBench.schedule_queueOntoTheCpuList", "tasklet_schedule, queued"),
                    Metric.jmh("TaskletScheduleBench.floor_claimAppendTakeClear", "claim, append, take, clear"),
                    Kind.FLOOR, Better.LOWER),
            new Row("timer.arm-cancel", "10", "arm then cancel a timer (threaded kernel, modAfter)",
                    Metric.jmh("TimerArmCancelBench.bottomhalf_threaded_modAfter", "mod_timer + del_timer"),
                    Metric.jmh("TimerArmCancelBench.netty_hashedWheelTimer", "Netty HashedWheelTimer"), Kind.PEER,
                    Better.LOWER),
            new Row("timer.arm-cancel-agrona", "10", "arm then cancel a timer against Agrona's wheel",
                    Metric.jmh("TimerArmCancelBench.bottomhalf_threaded_modAfter", "mod_timer + del_timer"),
                    Metric.jmh("TimerArmCancelBench.agrona_deadlineTimerWheel_16kSpokes",
                            "Agrona DeadlineTimerWheel 16k"), Kind.PEER, Better.LOWER),
            new Row("timer.expiry", "10", "expire 65,536 timers due on one tick",
                    Metric.jmh("TimerExpiryBench.bottomhalf_oneTick_64k", "timer wheel, one tick"),
                    Metric.jmh("TimerExpiryBench.agrona_oneTick_64k", "Agrona, one tick"), Kind.PEER, Better.LOWER),
            new Row("timer.expiry-floor", "10", "expire 65,536 timers due on one tick against the lock-drop floor",
                    Metric.jmh("TimerExpiryBench.bottomhalf_oneTick_64k", "timer wheel, one tick"),
                    Metric.jmh("TimerExpiryBench.floor_lockDroppedPerCallback_64k",
                            "unlink, unlock, call, CAS per timer"), Kind.FLOOR, Better.LOWER),
            new Row("wq.pending", "8.1", "queue_work of an item already pending",
                    Metric.jmh("WorkqueueBench.stepped_queue_alreadyPending", "queue_work, pending"),
                    Metric.jmh("WorkqueueBench.jctools_offerThenPoll", "JCTools MPSC offer + poll"), Kind.PEER,
                    Better.LOWER),
            new Row("wq.queue-alone", "8.1", "queue_work of a distinct item, alone (batches of 1,024)",
                    Metric.jmh("WorkqueueBench.stepped_queueDistinct_batch", "queue_work, distinct item"),
                    Metric.jmh("WorkqueueBench.jctools_offer_batch", "JCTools MPSC offer"), Kind.PEER,
                    Better.LOWER),
            new Row("wq.queue-alone-floor", "8.1", "queue_work of a distinct item, alone, against its atomics",
                    Metric.jmh("WorkqueueBench.stepped_queueDistinct_batch", "queue_work, distinct item"),
                    Metric.jmh("WorkqueueBench.floor_claimLockLinkUnlock_batch", "claim CAS, lock, link, unlock"),
                    Kind.FLOOR, Better.LOWER),
            new Row("wq.queue-alone-threaded", "8.1",
                    "queue_work of a distinct item, alone, on a threaded kernel's busy pool (batches of 1,024)",
                    Metric.jmh("WorkqueueBench.busy_queueDistinct_batch", "queue_work, distinct item, threaded"),
                    Metric.jmh("WorkqueueBench.jctools_offer_batch", "JCTools MPSC offer"), Kind.PEER,
                    Better.LOWER),
            new Row("wq.queue-alone-threaded-floor", "8.1",
                    "queue_work of a distinct item, alone, threaded, against its atomics",
                    Metric.jmh("WorkqueueBench.busy_queueDistinct_batch", "queue_work, distinct item, threaded"),
                    Metric.jmh("WorkqueueBench.floor_claimPush_batch", "claim CAS, push exchange"),
                    Kind.FLOOR, Better.LOWER),
            new Row("wq.queue-cancel", "8.1", "queue_work then cancel_work of a distinct item",
                    Metric.jmh("WorkqueueBench.stepped_queueThenCancel", "queue_work + cancel_work"),
                    Metric.jmh("WorkqueueBench.jctools_offerThenPoll", "JCTools MPSC offer + poll"), Kind.PEER,
                    Better.LOWER),
            new Row("wq.throughput-fjp1", "8.2", "per-CPU workqueue throughput, one producer",
                    WQ_PERCPU,
                    Metric.throughput("fjp1", "ForkJoinPool(1)"), Kind.PEER, Better.HIGHER),
            new Row("wq.throughput-common", "8.2", "per-CPU workqueue throughput, one producer",
                    WQ_PERCPU,
                    Metric.throughput("fjp-common", "ForkJoinPool.commonPool()"), Kind.PEER, Better.HIGHER),
            new Row("wq.throughput-tpe", "8.2", "per-CPU workqueue throughput, one producer",
                    WQ_PERCPU,
                    Metric.throughput("tpe", "ThreadPoolExecutor(1)"), Kind.PEER, Better.HIGHER),
            new Row("wq.throughput-vthread", "8.2", "per-CPU workqueue throughput, one producer",
                    WQ_PERCPU,
                    Metric.throughput("vthread", "virtual thread per task"), Kind.PEER, Better.HIGHER),
            new Row("wq.throughput-netty", "8.2", "per-CPU workqueue throughput, one producer",
                    WQ_PERCPU,
                    Metric.throughput("netty-eventloop", "Netty DefaultEventLoop"), Kind.PEER, Better.HIGHER),
            new Row("spinlock", "12", "uncontended spin_lock + spin_unlock",
                    Metric.jmh("SpinlockBench.spinLock_unlock", "spin_lock + spin_unlock"),
                    Metric.jmh("SpinlockBench.reentrantLock_lockUnlock", "ReentrantLock"), Kind.PEER, Better.LOWER),
            new Row("executor.execute", "13", "WorkqueueExecutor execute, per task in a batch of 1,000",
                    Metric.jmh("WorkqueueExecutorBench.executeBatch@executor=wq-percpu", "WorkqueueExecutor"),
                    Metric.jmh("WorkqueueExecutorBench.executeBatch@executor=fjp", "ForkJoinPool(2)"), Kind.PEER,
                    Better.LOWER),
            new Row("waitqueue.wake-nobody", "14", "wake_up with nobody waiting",
                    Metric.jmh("WaitQueueBench.wakeUp_noWaiter", "wake_up, no waiter"),
                    Metric.jmh("WaitQueueBench.floor_volatileRead", "a volatile read"), Kind.FLOOR, Better.LOWER));

    /** Every distinct metric of {@code rows}, in order of first use. */
    public static Set<Metric> metrics(List<Row> rows) {
        java.util.Map<String, Metric> byKey = new java.util.LinkedHashMap<>();
        for (Row r : rows) {
            byKey.putIfAbsent(r.ours().key(), r.ours());
            byKey.putIfAbsent(r.reference().key(), r.reference());
        }
        return new LinkedHashSet<>(byKey.values());
    }
}
