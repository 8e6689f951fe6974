package example.consumer;

import static dev.bottomhalf.linux.Linux.*;

import java.util.concurrent.TimeUnit;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * A user's first program: a stepped kernel driven with the Java API, then the same kind of work with the
 * kernel's own names. Prints what ran, where and when; the build that runs it checks every line.
 */
public final class Consumer {
    private Consumer() {
    }

    public static void main(String[] args) {
        System.out.println("module: " + describe(Kernel.class.getModule()));
        javaApi();
        facade();
    }

    private static String describe(Module module) {
        return module.isNamed() ? module.getName() : "unnamed";
    }

    /** The Java API: a workqueue item, a tasklet and a timer on a stepped kernel with 2 CPUs. */
    private static void javaApi() {
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().build())) {
            var stepper = kernel.stepper();
            Workqueue wq = kernel.workqueues().alloc("consumer", 0, 0);
            kernel.workqueues().queueOn(1, wq, new Work("hello",
                    w -> System.out.println("work " + w.name() + " ran on " + Thread.currentThread().getName()
                            + ", in_task() = " + in_task())));
            Tasklet tasklet = Tasklet.setup("blink",
                    t -> System.out.println("tasklet " + t.name() + " ran in softirq context: " + in_serving_softirq()));
            kernel.tasklets().schedule(tasklet);
            stepper.runUntilIdle();

            long[] armedAt = new long[1];
            TimerList timer = new TimerList();
            kernel.timers().setup(timer, "watchdog",
                    t -> System.out.println("timer fired " + (kernel.jiffies() - armedAt[0]) + " jiffies after mod"), 0);
            armedAt[0] = kernel.jiffies();
            kernel.timers().mod(timer, armedAt[0] + 10);   // level 0 of the wheel rounds up: 11 jiffies
            stepper.runFor(100, TimeUnit.MILLISECONDS);
        }
        System.out.println("java api: kernel closed");
    }

    /** The kernel's names: the same work with {@code import static dev.bottomhalf.linux.Linux.*}. */
    private static void facade() {
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(1).stepped().build())) {
            kernel.bindCurrentThread(0);
            Tasklet tasklet = DECLARE_TASKLET("rx",
                    t -> System.out.println("tasklet_schedule: " + t.name() + " ran, in_softirq() = " + in_softirq()));
            tasklet_schedule(tasklet);
            Work work = new Work();
            INIT_WORK(work, w -> System.out.println("schedule_work: ran in task context, in_interrupt() = " + in_interrupt()));
            schedule_work(work);
            long armedAt = jiffies();
            TimerList timer = new TimerList();
            timer_setup(timer, t -> System.out.println("mod_timer: fired " + (jiffies() - armedAt) + " jiffies after, HZ = " + HZ()), 0);
            mod_timer(timer, armedAt + msecs_to_jiffies(20));
            kernel.stepper().runFor(100, TimeUnit.MILLISECONDS);
            tasklet_kill(tasklet);
        }
        System.out.println("facade: kernel closed");
    }
}
