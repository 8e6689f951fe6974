package dev.bottomhalf.bench;

import dev.bottomhalf.internal.Internals;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

import org.jctools.queues.MpscArrayQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.ExecutionContext;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * Question: what does {@code tasklet_schedule} cost the caller on a busy CPU — when the tasklet is
 * already scheduled (target ≤ 10 ns), and when it has to be queued (target ≤ a JCTools MPSC offer, 0 B)?
 *
 * <p>Stepped kernel, caller bound to CPU 0 inside a BH-disabled section: nothing runs the list, so the
 * "already scheduled" case stays scheduled; the "queue" case takes the list back and clears SCHED after
 * each op, exactly what the CPU's softirq would do before running it, and the peer does offer then poll.
 *
 * <p>Two reference rows say what bounds the "queue" row. {@code jctools_offerThenPoll_coalescing} is the
 * peer doing what a tasklet must: an item that is already queued is not queued again, so the producer
 * claims the item with an atomic exchange before its offer and the consumer releases it with one after its
 * poll. {@code floor_claimAppendTakeClear} is the atomics of the tasklet path alone, on bare objects: claim
 * (exchange), append (tail swap and release store), detach (tail swap), clear (exchange) — no context,
 * no softirq raise, no kernel.
 *
 * <pre>./bottomhalf bench TaskletScheduleBench -prof gc</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class TaskletScheduleBench {
    private Kernel kernel;
    /** Looked up once: the loop pays for the drain, not for reaching it. */
    private java.util.function.IntConsumer drain;
    private ExecutionContext task;
    private final Tasklet pending = Tasklet.setup("pending", t -> { });
    private final Tasklet[] fresh = new Tasklet[1024];
    private int next;
    private final MpscArrayQueue<Object> queue = new MpscArrayQueue<>(1024);
    private final Object item = new Object();
    private final MpscArrayQueue<Node> nodeQueue = new MpscArrayQueue<>(1024);
    private final Node[] nodes = new Node[1024];
    private final Node anchorA = new Node();
    private final Node anchorB = new Node();
    private Node anchor = anchorA;
    private volatile Node tail = anchorA;

    private static final VarHandle SCHED;
    private static final VarHandle NEXT;
    private static final VarHandle TAIL;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SCHED = l.findVarHandle(Node.class, "sched", int.class);
            NEXT = l.findVarHandle(Node.class, "next", Node.class);
            TAIL = l.findVarHandle(TaskletScheduleBench.class, "tail", Node.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A bare stand-in for a tasklet: a SCHED word and a link. */
    static final class Node {
        volatile int sched;
        Node next;
    }

    @Setup(Level.Trial)
    public void boot() {
        kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().reporter(Reporter.silent()).build());
        drain = Internals.taskletDrainForBenchmark(kernel);
        task = kernel.bindCurrentThread(0);
        task.localBhDisable();
        kernel.tasklets().schedule(pending);
        for (int i = 0; i < fresh.length; i++) {
            fresh[i] = Tasklet.setup("t" + i, t -> { });
            nodes[i] = new Node();
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        kernel.tasklets().disableNosync(pending);
        Internals.machine(kernel).cpu(0).takeSoftirqPending();
        task.localBhEnableNoRun();
        kernel.detachCurrentThread();
        kernel.close();
    }

    @Benchmark
    public void schedule_alreadyScheduled() {
        kernel.tasklets().schedule(pending);
    }

    @Benchmark
    public void schedule_queueOntoTheCpuList() {
        Tasklet t = fresh[next++ & (fresh.length - 1)];
        kernel.tasklets().schedule(t);
        drain.accept(0);
    }

    @Benchmark
    public Object jctools_offerThenPoll() {
        queue.offer(item);
        return queue.poll();
    }

    @Benchmark
    public Object jctools_offerThenPoll_coalescing() {
        Node n = nodes[next++ & (nodes.length - 1)];
        if ((int) SCHED.getAndSet(n, 1) == 0) {
            nodeQueue.offer(n);
        }
        Node p = nodeQueue.poll();
        SCHED.getAndSet(p, 0);
        return p;
    }

    @Benchmark
    public Object floor_claimAppendTakeClear() {
        Node n = nodes[next++ & (nodes.length - 1)];
        if ((int) SCHED.getAndSet(n, 1) == 0) {
            n.next = null;
            Node prev = (Node) TAIL.getAndSet(this, n);
            NEXT.setRelease(prev, n);
        }
        // the consumer: detach onto the other anchor, walk, clear
        Node head = anchor;
        Node spare = head == anchorA ? anchorB : anchorA;
        spare.next = null;
        Node last = (Node) TAIL.getAndSet(this, spare);
        anchor = spare;
        Node t = (Node) NEXT.getAcquire(head);
        while (true) {
            Node succ = t == last ? null : (Node) NEXT.getAcquire(t);
            SCHED.getAndSet(t, 0);
            if (succ == null) {
                return t;
            }
            t = succ;
        }
    }
}
