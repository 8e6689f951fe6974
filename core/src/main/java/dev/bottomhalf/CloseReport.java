package dev.bottomhalf;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@link Kernel#close()} (or {@link Kernel#close(java.time.Duration)}, {@link Kernel#shutdownNow()}) did
 * not run: the armed timers, hrtimers and delayed items it cancelled, the accepted work it dropped because
 * the time ran out (or because the kernel had panicked), and the runtime threads that would not stop.
 * Immutable. The same content is reported once through the kernel's reporter when the close ends.
 *
 * @param drained              whether everything that was accepted ran before the close ended
 * @param panicked             whether the kernel had panicked (then nothing more was run)
 * @param cancelledTimers      armed timers ({@code timer_shutdown_sync}), by name
 * @param cancelledHrtimers    queued hrtimers ({@code hrtimer_cancel}), by name
 * @param cancelledDelayedWork delayed items whose delay had not passed ({@code cancel_delayed_work}), by name
 * @param droppedWork          queued work items that never ran ({@code cancel_work}), by name
 * @param droppedTasklets      scheduled tasklets that never ran, by name
 * @param droppedSoftirqs      raised softirqs that never ran: {@code NET_RX on CPU 0}
 * @param droppedIrqs          latched interrupts never delivered: {@code irq 24 (eth0) on CPU 0}
 * @param droppedCalls         cross-CPU function calls that never ran
 * @param threadsNotStopped    runtime threads still alive when close returned (reported with their stacks)
 */
public record CloseReport(boolean drained, boolean panicked, List<String> cancelledTimers,
                          List<String> cancelledHrtimers, List<String> cancelledDelayedWork, List<String> droppedWork,
                          List<String> droppedTasklets, List<String> droppedSoftirqs, List<String> droppedIrqs,
                          int droppedCalls, List<String> threadsNotStopped) {

    /** How many names a report line lists before it says how many more there are. */
    private static final int NAMES_SHOWN = 8;

    /**
     * A report; the lists are copied, so it stays immutable. Any thread.
     *
     * @throws NullPointerException when a list or one of its names is null
     */
    public CloseReport {
        cancelledTimers = List.copyOf(cancelledTimers);
        cancelledHrtimers = List.copyOf(cancelledHrtimers);
        cancelledDelayedWork = List.copyOf(cancelledDelayedWork);
        droppedWork = List.copyOf(droppedWork);
        droppedTasklets = List.copyOf(droppedTasklets);
        droppedSoftirqs = List.copyOf(droppedSoftirqs);
        droppedIrqs = List.copyOf(droppedIrqs);
        threadsNotStopped = List.copyOf(threadsNotStopped);
    }

    /**
     * Whether accepted work (work items, tasklets, softirqs, interrupts, cross-CPU calls) was dropped.
     *
     * @return true when some accepted work never ran
     */
    public boolean droppedAcceptedWork() {
        return !droppedWork.isEmpty() || !droppedTasklets.isEmpty() || !droppedSoftirqs.isEmpty()
                || !droppedIrqs.isEmpty() || droppedCalls > 0;
    }

    /**
     * Whether armed timers, hrtimers or delayed items were cancelled.
     *
     * @return true when something armed was cancelled
     */
    public boolean cancelledArmed() {
        return !cancelledTimers.isEmpty() || !cancelledHrtimers.isEmpty() || !cancelledDelayedWork.isEmpty();
    }

    /** This report with {@code late}'s names added (what calls in flight accepted after the close swept). */
    CloseReport plus(CloseReport late) {
        return new CloseReport(drained && !late.droppedAcceptedWork(), panicked || late.panicked,
                concat(cancelledTimers, late.cancelledTimers), concat(cancelledHrtimers, late.cancelledHrtimers),
                concat(cancelledDelayedWork, late.cancelledDelayedWork), concat(droppedWork, late.droppedWork),
                concat(droppedTasklets, late.droppedTasklets), concat(droppedSoftirqs, late.droppedSoftirqs),
                concat(droppedIrqs, late.droppedIrqs), droppedCalls + late.droppedCalls, threadsNotStopped);
    }

    private static List<String> concat(List<String> a, List<String> b) {
        if (b.isEmpty()) {
            return a;
        }
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** The dropped accepted work, one clause per kind: {@code 193 work items (w0, w1, ... and 185 more)}. */
    String droppedLine() {
        List<String> parts = new ArrayList<>();
        clause(parts, droppedWork, "work item", "work items");
        clause(parts, droppedTasklets, "tasklet", "tasklets");
        clause(parts, droppedSoftirqs, "softirq", "softirqs");
        clause(parts, droppedIrqs, "interrupt", "interrupts");
        if (droppedCalls > 0) {
            parts.add(droppedCalls + (droppedCalls == 1 ? " cross-CPU call" : " cross-CPU calls"));
        }
        return String.join(", ", parts);
    }

    /** The cancelled armed timers, one clause per kind. */
    String cancelledLine() {
        List<String> parts = new ArrayList<>();
        clause(parts, cancelledTimers, "timer", "timers");
        clause(parts, cancelledHrtimers, "hrtimer", "hrtimers");
        clause(parts, cancelledDelayedWork, "delayed work item", "delayed work items");
        return String.join(", ", parts);
    }

    private static void clause(List<String> parts, List<String> names, String one, String many) {
        if (names.isEmpty()) {
            return;
        }
        StringBuilder sb = new StringBuilder().append(names.size()).append(' ').append(names.size() == 1 ? one : many)
                .append(" (");
        for (int i = 0; i < Math.min(names.size(), NAMES_SHOWN); i++) {
            sb.append(i == 0 ? "" : ", ").append(names.get(i));
        }
        if (names.size() > NAMES_SHOWN) {
            sb.append(" and ").append(names.size() - NAMES_SHOWN).append(" more");
        }
        parts.add(sb.append(')').toString());
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("close: ");
        sb.append(panicked ? "the kernel had panicked" : drained ? "every accepted item ran" : "accepted work was dropped");
        if (droppedAcceptedWork()) {
            sb.append("; never ran: ").append(droppedLine());
        }
        if (cancelledArmed()) {
            sb.append("; cancelled: ").append(cancelledLine());
        }
        if (!threadsNotStopped.isEmpty()) {
            sb.append("; threads that did not stop: ").append(threadsNotStopped);
        }
        return sb.toString();
    }
}
