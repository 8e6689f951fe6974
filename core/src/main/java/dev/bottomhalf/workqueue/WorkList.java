package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * An intrusive FIFO of work items through {@link Work#next}/{@link Work#prev}: a pool's worklist, a
 * pool-workqueue's inactive list, a worker's scheduled list. Not thread-safe: guarded by the owning pool's
 * lock, except {@link #isEmptySnapshot()}.
 */
final class WorkList {
    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(WorkList.class, "head", Work.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private Work head;
    private Work tail;
    private int size;

    void addTail(Work w) {
        w.list = this;
        w.next = null;
        w.prev = tail;
        if (tail == null) {
            head = w;
        } else {
            tail.next = w;
        }
        tail = w;
        size++;
    }

    void remove(Work w) {
        if (w.prev == null) {
            head = w.next;
        } else {
            w.prev.next = w.next;
        }
        if (w.next == null) {
            tail = w.prev;
        } else {
            w.next.prev = w.prev;
        }
        w.next = null;
        w.prev = null;
        w.list = null;
        size--;
    }

    Work first() {
        return head;
    }

    Work pollFirst() {
        Work w = head;
        if (w != null) {
            remove(w);
        }
        return w;
    }

    /** Adds every item, head to tail, to {@code out}. Under the lock. */
    void copyTo(java.util.List<Work> out) {
        for (Work w = head; w != null; w = w.next) {
            out.add(w);
        }
    }

    /** Adds every item queued on {@code pwq}, head to tail, to {@code out}. Under the lock. */
    void copyTo(java.util.List<Work> out, PoolWorkqueue pwq) {
        for (Work w = head; w != null; w = w.next) {
            if (w.pwq == pwq) {
                out.add(w);
            }
        }
    }

    boolean isEmpty() {
        return head == null;
    }

    /**
     * Whether the list looked empty, read without the lock (an opaque read: it eventually sees a change, and
     * orders nothing). Only a hint for an idle worker's poll, which takes the lock before acting.
     */
    boolean isEmptySnapshot() {
        return HEAD.getOpaque(this) == null;
    }

    int size() {
        return size;
    }
}
