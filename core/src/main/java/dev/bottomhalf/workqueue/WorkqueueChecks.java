package dev.bottomhalf.workqueue;

import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.runtime.Reports;

/**
 * The sanity checks of {@code kernel/workqueue.c} that only report and change nothing the caller asked for:
 * the name length of {@code alloc_workqueue} and {@code check_flush_dependency}. Stateless; called from any
 * context by {@link Workqueues} and {@link WorkqueueFlush}. Their once-flags are the kernel's, per call site
 * (kept by {@link Reports}).
 */
final class WorkqueueChecks {
    private WorkqueueChecks() {
    }

    /**
     * {@code alloc_workqueue}'s {@code vsnprintf} into {@code wq->name[WQ_NAME_LEN]}: a name of
     * {@link Workqueue#WQ_NAME_LEN} characters or more keeps its first {@code WQ_NAME_LEN - 1}, and the first
     * such name of a boot is reported ({@code pr_warn_once}). Characters stand for the kernel's bytes.
     */
    static String truncatedName(Reports reports, String name) {
        if (name.length() < Workqueue.WQ_NAME_LEN) {
            return name;
        }
        String kept = name.substring(0, Workqueue.WQ_NAME_LEN - 1);
        reports.once("alloc_workqueue_name_len", KernelEvent.Kind.WARN,
                "workqueue: name exceeds WQ_NAME_LEN. Truncating to: " + kept, null);
        return kept;
    }

    /**
     * {@code check_flush_dependency(target_wq, target_work, from_cancel)}: a worker running an item of a
     * {@code WQ_MEM_RECLAIM} workqueue (not a legacy {@code create*_workqueue} one) that flushes a workqueue
     * without {@code WQ_MEM_RECLAIM} — or an item on one — may deadlock under memory pressure: the flushed
     * workqueue has no rescuer to guarantee progress. Reported once per boot ({@code WARN_ONCE}) with the
     * kernel's text; {@code %ps} of the target is the item's name, or {@code 0x0} for a workqueue flush.
     * Cancels ({@code from_cancel}) are never checked: the caller passes only flushes.
     *
     * @param self        the worker the caller runs on, or null (a task: nothing to check)
     * @param targetWork  the item flushed, or null for {@code flush_workqueue}/{@code drain_workqueue}
     */
    static void checkFlushDependency(Reports reports, Worker self, Workqueue target, Work targetWork) {
        if ((target.flags & Workqueue.WQ_MEM_RECLAIM) != 0 || self == null) {
            return;
        }
        PoolWorkqueue pwq = self.currentPwq;
        Work running = self.currentWork;
        if (pwq == null || running == null
                || (pwq.wq.flags & (Workqueue.WQ_MEM_RECLAIM | Workqueue.WQ_LEGACY)) != Workqueue.WQ_MEM_RECLAIM) {
            return;
        }
        reports.warnOnce("check_flush_dependency", "workqueue: WQ_MEM_RECLAIM " + pwq.wq.name() + ":" + running.name()
                + " is flushing !WQ_MEM_RECLAIM " + target.name() + ":" + (targetWork == null ? "0x0" : targetWork.name()));
    }
}
