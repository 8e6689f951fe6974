import static dev.bottomhalf.linux.Linux.*;

import java.util.concurrent.TimeUnit;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.KernelConfig;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/** A first program: a work item, a timer and a tasklet on a stepped kernel, then the kernel is closed. */
public class Hello {
    public static void main(String[] args) {
        try (Kernel kernel = Kernel.boot(KernelConfig.builder().cpus(2).stepped().build())) {
            Workqueue wq = kernel.workqueues().alloc("hello", 0, 0);
            kernel.workqueues().queueOn(1, wq, new Work("greet",
                    w -> System.out.println("work ran on " + Thread.currentThread().getName())));

            long start = kernel.jiffies();
            TimerList timer = new TimerList();
            kernel.timers().setup(timer, "tick",
                    t -> System.out.println("timer fired after " + (kernel.jiffies() - start) + " jiffies"), 0);
            kernel.timers().mod(timer, start + 10);

            kernel.bindCurrentThread(0);              // the kernel's own names from here on
            Tasklet tasklet = DECLARE_TASKLET("blink",
                    t -> System.out.println("tasklet ran, in_softirq() = " + in_softirq()));
            tasklet_schedule(tasklet);

            kernel.stepper().runFor(20, TimeUnit.MILLISECONDS);   // stepped: the caller moves the clock
        }
        System.out.println("kernel closed");
    }
}
