package dev.bottomhalf;

import static dev.bottomhalf.linux.Linux.*;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;

import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.net.NapiStruct;
import dev.bottomhalf.net.NetDevice;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.tasklet.Tasklet;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.time.HrTimer;
import dev.bottomhalf.time.HrTimers;
import dev.bottomhalf.time.TimerList;
import dev.bottomhalf.workqueue.DelayedWork;
import dev.bottomhalf.workqueue.Work;
import dev.bottomhalf.workqueue.Workqueue;

/**
 * After {@link Kernel#close()}, every entry point — the Java API and the kernel-name facade, the waits and
 * sleeps included — fails at once with {@code IllegalStateException("kernel is closed")}: nothing is
 * accepted and silently dropped, nothing hangs. One dynamic test per entry point, on a stepped and on a
 * threaded kernel; the objects they act on were set up (and some armed) while the kernel ran.
 *
 * <p>The kernels come from {@link KernelExtension}, whose session spans a {@code @TestFactory} method and the
 * dynamic tests it returns: JUnit runs them, on the test thread, after the factory method returns and before
 * the extension's after-test check. That check (no runtime thread alive, no binding left, no unexpected
 * report) therefore covers every dynamic test of the factory, and a failure of it is the factory's.
 */
class ClosedKernelEntryPointsTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    /** A closed kernel and the objects the entry points act on. */
    private static final class Closed {
        final Kernel k;
        final Tasklet tasklet = Tasklet.setup("t", t -> { });
        final TimerList timer = TimerList.setup("timer", t -> { }, 0);
        final HrTimer hrtimer;
        final Work work = new Work("w", w -> { });
        final DelayedWork delayed = new DelayedWork("dw", w -> { });
        final Workqueue wq;
        final NetDevice dev = new NetDevice("eth0");
        final NapiStruct napi = new NapiStruct();

        /** Sets the objects up on {@code k}, a running kernel, then closes it. */
        Closed(Kernel k) {
            this.k = k;
            k.bindCurrentThread(0);
            wq = k.workqueues().alloc("wq", 0, 0);
            hrtimer = k.hrtimers().create("hr", h -> HrTimer.Restart.NORESTART, HrTimers.mode(HrTimer.Mode.REL));
            k.irqs().request(7, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "dev7", "d7");
            k.napi().add(dev, napi, (n, budget) -> 0);
            k.napi().enable(napi);
            k.softirqs().open(SoftirqVector.NET_RX, () -> { });
            k.close();
        }
    }

    private static List<DynamicTest> cases(Closed c) {
        Kernel k = c.k;
        List<Object[]> calls = new ArrayList<>();
        // The Java API
        add(calls, "Kernel.bindCurrentThread", () -> k.bindCurrentThread(1));
        add(calls, "Kernel.context", k::context);
        add(calls, "Kernel.smpCallFunctionSingle", () -> k.smpCallFunctionSingle(1, () -> { }, true));
        add(calls, "irqs.assertIrq", () -> k.irqs().assertIrq(7));
        add(calls, "irqs.request", () -> k.irqs().request(8, (irq, dev) -> IrqReturn.HANDLED, Set.of(), "late", "l"));
        add(calls, "irqs.free", () -> k.irqs().free(7, "d7"));
        add(calls, "irqs.disable", () -> k.irqs().disable(7));
        add(calls, "irqs.disableNosync", () -> k.irqs().disableNosync(7));
        add(calls, "irqs.enable", () -> k.irqs().enable(7));
        add(calls, "irqs.synchronize", () -> k.irqs().synchronize(7));
        add(calls, "irqs.setAffinity", () -> k.irqs().setAffinity(7, 1));
        add(calls, "softirqs.open", () -> k.softirqs().open(SoftirqVector.BLOCK, () -> { }));
        add(calls, "softirqs.raise", () -> k.softirqs().raise(SoftirqVector.NET_RX));
        add(calls, "softirqs.raiseIrqoff", () -> k.softirqs().raiseIrqoff(SoftirqVector.NET_RX.nr()));
        add(calls, "softirqs.doSoftirq", () -> k.softirqs().doSoftirq());
        add(calls, "tasklets.schedule", () -> k.tasklets().schedule(c.tasklet));
        add(calls, "tasklets.hiSchedule", () -> k.tasklets().hiSchedule(c.tasklet));
        add(calls, "tasklets.disable", () -> k.tasklets().disable(c.tasklet));
        add(calls, "tasklets.enable", () -> k.tasklets().enable(c.tasklet));
        add(calls, "tasklets.kill", () -> k.tasklets().kill(c.tasklet));
        add(calls, "tasklets.unlockWait", () -> k.tasklets().unlockWait(c.tasklet));
        add(calls, "timers.mod", () -> k.timers().mod(c.timer, k.jiffies() + 10));
        add(calls, "timers.modAfter", () -> k.timers().modAfter(c.timer, 10));
        add(calls, "timers.add", () -> {
            c.timer.expires(1);
            k.timers().add(c.timer);
        });
        add(calls, "timers.addOn", () -> k.timers().addOn(c.timer, 1));
        add(calls, "timers.delete", () -> k.timers().delete(c.timer));
        add(calls, "timers.deleteSync", () -> k.timers().deleteSync(c.timer));
        add(calls, "timers.shutdownSync", () -> k.timers().shutdownSync(c.timer));
        add(calls, "timers.msleep", () -> k.timers().msleep(10));
        add(calls, "timers.msleepInterruptible", () -> k.timers().msleepInterruptible(10));
        add(calls, "timers.usleepRange", () -> k.timers().usleepRange(10, 20));
        add(calls, "timers.scheduleTimeoutUninterruptible", () -> k.timers().scheduleTimeoutUninterruptible(5));
        add(calls, "timers.mdelay", () -> k.timers().mdelay(1));
        add(calls, "hrtimers.setup", () -> k.hrtimers().setup(new HrTimer(), "late", h -> HrTimer.Restart.NORESTART,
                HrTimers.mode(HrTimer.Mode.REL)));
        add(calls, "hrtimers.start", () -> k.hrtimers().start(c.hrtimer, 1_000, HrTimers.mode(HrTimer.Mode.REL)));
        add(calls, "hrtimers.cancel", () -> k.hrtimers().cancel(c.hrtimer));
        add(calls, "hrtimers.tryToCancel", () -> k.hrtimers().tryToCancel(c.hrtimer));
        add(calls, "workqueues.alloc", () -> k.workqueues().alloc("late", 0, 0));
        add(calls, "workqueues.queue", () -> k.workqueues().queue(c.wq, c.work));
        add(calls, "workqueues.queueOn", () -> k.workqueues().queueOn(1, c.wq, c.work));
        add(calls, "workqueues.schedule", () -> k.workqueues().schedule(c.work));
        add(calls, "workqueues.queueDelayed", () -> k.workqueues().queueDelayed(c.wq, c.delayed, 10));
        add(calls, "workqueues.modDelayed", () -> k.workqueues().modDelayed(c.wq, c.delayed, 10));
        add(calls, "workqueues.flush", () -> k.workqueues().flush(c.work));
        add(calls, "workqueues.flushWorkqueue", () -> k.workqueues().flushWorkqueue(c.wq));
        add(calls, "workqueues.drainWorkqueue", () -> k.workqueues().drainWorkqueue(c.wq));
        add(calls, "workqueues.destroy", () -> k.workqueues().destroy(c.wq));
        add(calls, "workqueues.cancel", () -> k.workqueues().cancel(c.work));
        add(calls, "workqueues.cancelSync", () -> k.workqueues().cancelSync(c.work));
        add(calls, "workqueues.cancelDelayedSync", () -> k.workqueues().cancelDelayedSync(c.delayed));
        add(calls, "workqueues.disable", () -> k.workqueues().disable(c.work));
        add(calls, "workqueues.enable", () -> k.workqueues().enable(c.work));
        add(calls, "workqueues.setMaxActive", () -> k.workqueues().setMaxActive(c.wq, 4));
        add(calls, "workqueues.freeze", () -> k.workqueues().freeze());
        add(calls, "workqueues.initWork", () -> k.workqueues().initWork(c.work, "w", x -> { }));
        add(calls, "workqueues.initDelayedWork", () -> k.workqueues().initDelayedWork(c.delayed, "d", x -> { }));
        add(calls, "workqueues.workBusy", () -> k.workqueues().workBusy(c.work));
        add(calls, "napi.add", () -> k.napi().add(c.dev, new NapiStruct(), (n, budget) -> 0));
        add(calls, "napi.schedulePrep", () -> k.napi().schedulePrep(c.napi));
        add(calls, "napi.schedule", () -> k.napi().schedule(c.napi));
        add(calls, "napi.disable", () -> k.napi().disable(c.napi));
        add(calls, "napi.enable", () -> k.napi().enable(c.napi));
        add(calls, "napi.del", () -> k.napi().del(c.napi));
        add(calls, "napi.setThreaded", () -> k.napi().setThreaded(c.dev, true));
        add(calls, "napi.busyLoop", () -> k.napi().busyLoop(c.napi.napiId(), null, 8));
        add(calls, "workqueues.workqueueCongested", () -> k.workqueues().workqueueCongested(0, c.wq));
        add(calls, "workqueues.scheduleOnEachCpu", () -> k.workqueues().scheduleOnEachCpu("each", x -> { }));
        add(calls, "workqueues.queueWorkNode", () -> k.workqueues().queueWorkNode(0, c.wq, c.work));
        add(calls, "workqueues.currentIsWorkqueueRescuer", () -> k.workqueues().currentIsWorkqueueRescuer());
        // The kernel-name facade (this thread was bound to the kernel before it closed; the first of these calls
        // detaches it)
        add(calls, "Kernel.current", Kernel::current);
        add(calls, "jiffies", () -> jiffies());
        add(calls, "smp_processor_id", () -> smp_processor_id());
        add(calls, "local_bh_disable", () -> local_bh_disable());
        add(calls, "raise_softirq", () -> raise_softirq(NET_RX_SOFTIRQ));
        add(calls, "tasklet_schedule", () -> tasklet_schedule(c.tasklet));
        add(calls, "tasklet_kill", () -> tasklet_kill(c.tasklet));
        add(calls, "napi_schedule", () -> napi_schedule(c.napi));
        add(calls, "napi_disable", () -> napi_disable(c.napi));
        add(calls, "request_irq", () -> request_irq(9, (irq, dev) -> IRQ_HANDLED, 0, "late", "x"));
        add(calls, "free_irq", () -> free_irq(7, "d7"));
        add(calls, "mod_timer", () -> mod_timer(c.timer, 10));
        add(calls, "timer_delete_sync", () -> timer_delete_sync(c.timer));
        add(calls, "msleep", () -> msleep(10));
        add(calls, "usleep_range", () -> usleep_range(10, 20));
        add(calls, "hrtimer_cancel", () -> hrtimer_cancel(c.hrtimer));
        add(calls, "alloc_workqueue", () -> alloc_workqueue("late", 0, 0));
        add(calls, "queue_work", () -> queue_work(c.wq, c.work));
        add(calls, "schedule_work", () -> schedule_work(c.work));
        add(calls, "schedule_delayed_work", () -> schedule_delayed_work(c.delayed, 10));
        add(calls, "flush_work", () -> flush_work(c.work));
        add(calls, "cancel_work_sync", () -> cancel_work_sync(c.work));
        add(calls, "destroy_workqueue", () -> destroy_workqueue(c.wq));
        List<DynamicTest> tests = new ArrayList<>();
        for (Object[] call : calls) {
            String name = (String) call[0];
            Executable body = (Executable) call[1];
            tests.add(DynamicTest.dynamicTest(name, () -> {
                IllegalStateException e = assertThrows(IllegalStateException.class, body,
                        name + " was accepted by a closed kernel");
                // The first call that finds the thread bound to the closed kernel detaches it (Kernel.current never
                // hands out a closed kernel); from then on the facade finds the thread attached to no kernel.
                boolean facade = name.indexOf('.') < 0 || name.equals("Kernel.current");
                assertTrue(e.getMessage().startsWith("kernel is closed")
                        || (facade && e.getMessage().contains("is not attached to a kernel")), name + ": " + e.getMessage());
            }));
        }
        return tests;
    }

    private static void add(List<Object[]> calls, String name, Executable body) {
        calls.add(new Object[] {name, body});
    }

    @TestFactory
    Stream<DynamicTest> steppedKernel_everyEntryPointFailsAtOnce() {
        return cases(new Closed(kernels.kernel())).stream();
    }

    @TestFactory
    Stream<DynamicTest> threadedKernel_everyEntryPointFailsAtOnce() {
        return cases(new Closed(kernels.bootThreaded(b -> { }))).stream();
    }
}
