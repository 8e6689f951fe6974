package dev.bottomhalf.examples.workqueues;

import static dev.bottomhalf.linux.Linux.INIT_WORK;
import static dev.bottomhalf.linux.Linux.container_of;
import static dev.bottomhalf.linux.Linux.create_workqueue;
import static dev.bottomhalf.linux.Linux.destroy_workqueue;
import static dev.bottomhalf.linux.Linux.flush_workqueue;
import static dev.bottomhalf.linux.Linux.printk;
import static dev.bottomhalf.linux.Linux.queue_work;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * "Kernel APIs, Part 2", Listings 9–11: a module that creates a workqueue, queues two work items that
 * carry an integer, and at unload flushes and destroys the workqueue. The handler gets from the
 * {@code work_struct} back to its {@code my_work_t} ({@code container_of}) and prints the integer.
 */
public final class Listing9to11WorkqueueModule implements KernelModule {

    /* Listing 9: work structure and bottom-half handler */
    static Workqueue my_wq;

    static final class my_work_t {
        final Work my_work = new Work().container(this);
        int x;
    }

    my_work_t work, work2;

    static void my_wq_function(Work work) {
        my_work_t my_work = container_of(work, my_work_t.class);

        printk("my_work.x %d\n", my_work.x);

        /* kfree(work): the garbage collector frees it once nobody refers to it */
    }

    /* Listing 10: work queue and work creation */
    @Override
    public int init_module() {
        boolean ret;

        my_wq = create_workqueue("my_queue");
        if (my_wq != null) {

            /* Queue some work (item 1) */
            work = new my_work_t();

            INIT_WORK(work.my_work, Listing9to11WorkqueueModule::my_wq_function);

            work.x = 1;

            ret = queue_work(my_wq, work.my_work);

            /* Queue some additional work (item 2) */
            work2 = new my_work_t();

            INIT_WORK(work2.my_work, Listing9to11WorkqueueModule::my_wq_function);

            work2.x = 2;

            ret = queue_work(my_wq, work2.my_work);
            assert ret;
        }

        return 0;
    }

    /* Listing 11: work queue flush and destruction */
    @Override
    public void cleanup_module() {
        flush_workqueue(my_wq);

        destroy_workqueue(my_wq);
    }
}
