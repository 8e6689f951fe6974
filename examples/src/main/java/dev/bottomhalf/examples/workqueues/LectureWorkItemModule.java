package dev.bottomhalf.examples.workqueues;

import static dev.bottomhalf.linux.Linux.INIT_WORK;
import static dev.bottomhalf.linux.Linux.KERN_INFO;
import static dev.bottomhalf.linux.Linux.container_of;
import static dev.bottomhalf.linux.Linux.create_workqueue;
import static dev.bottomhalf.linux.Linux.destroy_workqueue;
import static dev.bottomhalf.linux.Linux.flush_scheduled_work;
import static dev.bottomhalf.linux.Linux.flush_workqueue;
import static dev.bottomhalf.linux.Linux.printk;
import static dev.bottomhalf.linux.Linux.queue_work;
import static dev.bottomhalf.linux.Linux.schedule_work;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * The lecture's "Workqueue Example": two {@code work_item}s with a parameter, one on the default
 * workqueue ({@code schedule_work}), one on the module's own ({@code queue_work}); at exit both are flushed
 * and the workqueue destroyed.
 */
public final class LectureWorkItemModule implements KernelModule {

    static final class work_item {
        final Work ws = new Work().container(this);
        int parameter;
    }

    work_item wi, wi2;
    Workqueue my_wq;

    static void handler(Work work) {
        int parameter = container_of(work, work_item.class).parameter;
        printk("doing some work ...\n");
        printk("parameter is: %d\n", parameter);
    }

    @Override
    public int init_module() {
        printk("Entering module.\n");

        my_wq = create_workqueue("lkp_wq");
        wi = new work_item();
        wi2 = new work_item();

        INIT_WORK(wi.ws, LectureWorkItemModule::handler);
        wi.parameter = 42;
        INIT_WORK(wi2.ws, LectureWorkItemModule::handler);
        wi2.parameter = -42;

        schedule_work(wi.ws);
        queue_work(my_wq, wi2.ws);

        return 0;
    }

    @Override
    public void cleanup_module() {
        flush_scheduled_work();
        flush_workqueue(my_wq);
        wi = null;            /* kfree(wi) */
        wi2 = null;           /* kfree(wi2) */
        destroy_workqueue(my_wq);
        printk(KERN_INFO + "Exiting module.\n");
    }
}
