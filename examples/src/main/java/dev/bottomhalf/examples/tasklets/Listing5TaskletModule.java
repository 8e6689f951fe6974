package dev.bottomhalf.examples.tasklets;

import static dev.bottomhalf.linux.Linux.DECLARE_TASKLET;
import static dev.bottomhalf.linux.Linux.printk;
import static dev.bottomhalf.linux.Linux.tasklet_kill;
import static dev.bottomhalf.linux.Linux.tasklet_schedule;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * "Kernel APIs, Part 2", Listing 5: a simple tasklet in the context of a kernel module. The tasklet is
 * scheduled when the module is inserted and killed when it is removed; its function prints its data.
 */
public final class Listing5TaskletModule implements KernelModule {

    static final String my_tasklet_data = "my_tasklet_function was called";

    /* Bottom Half Function */
    static void my_tasklet_function(String data) {
        printk("%s\n", data);
    }

    final Tasklet my_tasklet = DECLARE_TASKLET("my_tasklet", Listing5TaskletModule::my_tasklet_function,
            my_tasklet_data);

    @Override
    public int init_module() {
        /* Schedule the Bottom Half */
        tasklet_schedule(my_tasklet);

        return 0;
    }

    @Override
    public void cleanup_module() {
        /* Stop the tasklet before we exit */
        tasklet_kill(my_tasklet);
    }
}
