package dev.bottomhalf.workqueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.function.Consumer;

import dev.bottomhalf.internal.sync.MpscLinkedList;

/**
 * A pool's list of items queued without its lock: the runtime's intrusive multi-producer list
 * ({@link MpscLinkedList}) through {@link Work#next}, drained by whoever holds the pool's lock
 * ({@link WorkerPool#lock()}). Producers: any thread, after claiming the item's PENDING bit.
 *
 * <p>A push reports whether it made the list non-empty: only that producer needs to make sure someone will
 * drain (see {@code Workqueues.queueWithoutLock}); later producers until the next drain ride on its check.
 */
final class IncomingList extends MpscLinkedList<Work> {
    private static final VarHandle NEXT;

    static {
        try {
            NEXT = MethodHandles.lookup().findVarHandle(Work.class, "next", Work.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    IncomingList() {
        super(new Work(), new Work());
    }

    @Override
    protected Work nextAcquire(Work w) {
        return (Work) NEXT.getAcquire(w);
    }

    @Override
    protected void setNextRelease(Work w, Work next) {
        NEXT.setRelease(w, next);
    }

    @Override
    protected void setNextPlain(Work w, Work next) {
        NEXT.set(w, next);
    }

    /**
     * Hands every waiting item to {@code sink}, oldest first, with its link cleared. Only under the pool lock
     * (one drainer at a time).
     *
     * @return how many items were drained
     */
    int drainTo(Consumer<Work> sink) {
        Work w = takeAll();
        int n = 0;
        while (w != null) {
            Work next = successor(w); // before the sink: it may queue w elsewhere, which rewrites its link
            sink.accept(w);
            n++;
            w = next;
        }
        return n;
    }
}
