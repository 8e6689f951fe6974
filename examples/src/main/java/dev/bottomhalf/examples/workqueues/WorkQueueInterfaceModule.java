package dev.bottomhalf.examples.workqueues;

import static dev.bottomhalf.linux.Linux.DECLARE_DELAYED_WORK;
import static dev.bottomhalf.linux.Linux.DECLARE_WORK;
import static dev.bottomhalf.linux.Linux.HZ;
import static dev.bottomhalf.linux.Linux.cancel_delayed_work;
import static dev.bottomhalf.linux.Linux.flush_scheduled_work;
import static dev.bottomhalf.linux.Linux.printk;
import static dev.bottomhalf.linux.Linux.schedule_delayed_work;
import static dev.bottomhalf.linux.Linux.schedule_work;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;

/**
 * "The Work Queue Interface", ported from the 2.6 API to today's: {@code schedule_work} for work to run
 * at the earliest convenience, {@code schedule_delayed_work(&my_work, 5*HZ)} for work that must wait five
 * seconds, and at unload {@code cancel_delayed_work} (the delay may not be up) before
 * {@code flush_scheduled_work}. The 2.6 {@code data} argument is now the object that embeds the work item
 * (here, the module).
 */
public final class WorkQueueInterfaceModule implements KernelModule {

    final Work my_work = DECLARE_WORK("my_work", this::my_workqueue_handler);
    final DelayedWork my_delayed_work = DECLARE_DELAYED_WORK("my_delayed_work", this::my_delayed_handler);
    /** What {@code cancel_delayed_work} returned at unload: nonzero if the delayed work was still waiting. */
    boolean cancelled;

    void my_workqueue_handler(Work work) {
        printk("my_workqueue_handler: running in process context\n");
    }

    void my_delayed_handler(Work work) {
        printk("my_delayed_handler: five seconds later\n");
    }

    @Override
    public int init_module() {
        schedule_work(my_work);
        schedule_delayed_work(my_delayed_work, 5 * HZ());
        return 0;
    }

    @Override
    public void cleanup_module() {
        cancelled = cancel_delayed_work(my_delayed_work);
        flush_scheduled_work();
    }
}
