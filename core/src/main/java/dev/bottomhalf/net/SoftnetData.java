package dev.bottomhalf.net;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import dev.bottomhalf.internal.sync.RawSpinLock;

/**
 * One CPU's {@code struct softnet_data}, the NAPI part: the poll list, the {@code in_net_rx_action} flag and the
 * counters of {@code /proc/net/softnet_stat}.
 *
 * <p>Implementation notes. The kernel touches {@code poll_list} only on its own CPU with IRQs disabled; here a
 * hard IRQ on {@code cpu/N} can run in parallel with ksoftirqd or a task serving CPU N's softirqs, so the lists
 * are guarded by {@link #lock} (a raw spin lock, held for a few link updates). {@link #work} and {@link #repoll}
 * are {@code net_rx_action}'s local lists, kept here so that a pass allocates nothing; only the CPU's BH owner
 * uses them, under the same lock. The counters have one writer (the CPU's BH owner, or the polling kthread or
 * busy poller, each under BH disabled on this CPU, which makes them exclusive) and are read racily with opaque
 * loads, as {@code softnet_seq_show} reads them.
 */
final class SoftnetData {
    private static final VarHandle PROCESSED;
    private static final VarHandle TIME_SQUEEZE;
    private static final VarHandle DROPPED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            PROCESSED = l.findVarHandle(SoftnetData.class, "processed", long.class);
            TIME_SQUEEZE = l.findVarHandle(SoftnetData.class, "timeSqueeze", long.class);
            DROPPED = l.findVarHandle(SoftnetData.class, "dropped", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** An intrusive doubly linked list of NAPI instances (the kernel's {@code list_head}). */
    static final class PollList {
        NapiStruct head;
        NapiStruct tail;

        boolean isEmpty() {
            return head == null;
        }

        void addTail(NapiStruct n) {
            n.list = this;
            n.next = null;
            n.prev = tail;
            if (tail == null) {
                head = n;
            } else {
                tail.next = n;
            }
            tail = n;
        }

        void remove(NapiStruct n) {
            if (n.prev == null) {
                head = n.next;
            } else {
                n.prev.next = n.next;
            }
            if (n.next == null) {
                tail = n.prev;
            } else {
                n.next.prev = n.prev;
            }
            n.prev = null;
            n.next = null;
            n.list = null;
        }

        /** {@code list_splice_tail_init(from, this)}: moves every element of {@code from} to this list's tail. */
        void spliceTailFrom(PollList from) {
            for (NapiStruct n = from.head; n != null; n = n.next) {
                n.list = this;
            }
            if (from.head == null) {
                return;
            }
            if (tail == null) {
                head = from.head;
            } else {
                tail.next = from.head;
                from.head.prev = tail;
            }
            tail = from.tail;
            from.head = null;
            from.tail = null;
        }
    }

    final int cpu;
    final RawSpinLock lock = new RawSpinLock();
    /** {@code sd->poll_list}: what {@code __napi_schedule} queued on this CPU. */
    final PollList pollList = new PollList();
    /** {@code net_rx_action}'s local {@code list}. */
    final PollList work = new PollList();
    /** {@code net_rx_action}'s local {@code repoll}. */
    final PollList repoll = new PollList();
    /** {@code sd->in_net_rx_action}: a schedule need not raise NET_RX, the running action looks again. */
    volatile boolean inNetRxAction;
    @SuppressWarnings("unused") // through PROCESSED
    private long processed;
    @SuppressWarnings("unused") // through TIME_SQUEEZE
    private long timeSqueeze;
    @SuppressWarnings("unused") // through DROPPED
    private long dropped;

    SoftnetData(int cpu) {
        this.cpu = cpu;
    }

    void addProcessed(int work) {
        PROCESSED.setOpaque(this, (long) PROCESSED.getOpaque(this) + work);
    }

    void incrementTimeSqueeze() {
        TIME_SQUEEZE.setOpaque(this, (long) TIME_SQUEEZE.getOpaque(this) + 1);
    }

    void addDropped(int n) {
        DROPPED.getAndAdd(this, (long) n);
    }

    long processed() {
        return (long) PROCESSED.getOpaque(this);
    }

    long timeSqueeze() {
        return (long) TIME_SQUEEZE.getOpaque(this);
    }

    long dropped() {
        return (long) DROPPED.getOpaque(this);
    }
}
