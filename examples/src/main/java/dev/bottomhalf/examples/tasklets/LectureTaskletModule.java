package dev.bottomhalf.examples.tasklets;

import static dev.bottomhalf.linux.Linux.DECLARE_TASKLET;
import static dev.bottomhalf.linux.Linux.DECLARE_TASKLET_DISABLED;
import static dev.bottomhalf.linux.Linux.KERN_INFO;
import static dev.bottomhalf.linux.Linux.in_serving_softirq;
import static dev.bottomhalf.linux.Linux.printk;
import static dev.bottomhalf.linux.Linux.smp_processor_id;
import static dev.bottomhalf.linux.Linux.tasklet_disable;
import static dev.bottomhalf.linux.Linux.tasklet_enable;
import static dev.bottomhalf.linux.Linux.tasklet_hi_schedule;
import static dev.bottomhalf.linux.Linux.tasklet_init;
import static dev.bottomhalf.linux.Linux.tasklet_kill;
import static dev.bottomhalf.linux.Linux.tasklet_schedule;

import dev.bottomhalf.examples.KernelModule;
import dev.bottomhalf.tasklet.Tasklet;

/**
 * The lecture's tasklet section ("Linux kernel programming") as a module: a statically declared
 * tasklet (enabled), one declared disabled, one initialised at run time with {@code tasklet_init}, a
 * high-priority schedule, and disable/enable around a schedule. Each handler prints which tasklet ran,
 * its argument, its CPU and that it runs in softirq context.
 */
public final class LectureTaskletModule implements KernelModule {

    /* tasklet handler: runs with interrupts enabled and cannot sleep */
    static void handler_func(String handler_arg) {
        printk(KERN_INFO + "%s: cpu %d, in softirq %b\n", handler_arg, smp_processor_id(), in_serving_softirq());
    }

    /* Static declaration of a tasklet with initially enabled */
    final Tasklet tasklet_enabled = DECLARE_TASKLET("tasklet_enabled", LectureTaskletModule::handler_func,
            "static, enabled");

    /* Static declaration of a tasklet with initially disabled */
    final Tasklet tasklet_disabled = DECLARE_TASKLET_DISABLED("tasklet_disabled", LectureTaskletModule::handler_func,
            "static, disabled until enabled");

    /* Dynamic initialization of a tasklet */
    final Tasklet tasklet_dynamic = new Tasklet();

    @Override
    public int init_module() {
        tasklet_init(tasklet_dynamic, data -> printk(KERN_INFO + "dynamic: data %d\n", data), 42);

        tasklet_schedule(tasklet_enabled);
        tasklet_schedule(tasklet_disabled);       /* stays queued: its disable counter is 1 */
        tasklet_hi_schedule(tasklet_dynamic);     /* HI_SOFTIRQ: runs before the TASKLET_SOFTIRQ ones */

        tasklet_disable(tasklet_enabled);         /* increase the disable counter ... */
        tasklet_enable(tasklet_enabled);          /* ... and decrease it again */
        return 0;
    }

    /** Lets the disabled tasklet run (the lecture: "tasklet_enable ... decreasing the disable counter"). */
    public void enable_disabled_tasklet() {
        tasklet_enable(tasklet_disabled);
    }

    @Override
    public void cleanup_module() {
        tasklet_kill(tasklet_enabled);
        tasklet_kill(tasklet_disabled);
        tasklet_kill(tasklet_dynamic);
    }
}
