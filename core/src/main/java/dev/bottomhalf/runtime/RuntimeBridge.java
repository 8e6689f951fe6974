package dev.bottomhalf.runtime;

import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

import dev.bottomhalf.internal.runtime.Cpu;
import dev.bottomhalf.internal.runtime.Machine;
import dev.bottomhalf.internal.runtime.RuntimeAccess;
import dev.bottomhalf.internal.runtime.SleepListener;

/** This package's side of {@link RuntimeAccess}: forwards to the package-private members. Stateless. */
final class RuntimeBridge implements RuntimeAccess.Bridge {
    @Override
    public ExecutionContext newContext(Machine machine, ExecutionContext.Role role, String name, Cpu cpu) {
        return new ExecutionContext(machine, role, name, cpu);
    }

    @Override
    public ExecutionContext swapThreadContext(ExecutionContext ctx) {
        return ExecutionContext.swapThreadContext(ctx);
    }

    @Override
    public void rebind(ExecutionContext ctx, Cpu cpu) {
        ctx.rebind(cpu);
    }

    @Override
    public void irqEnter(ExecutionContext ctx) {
        ctx.irqEnter();
    }

    @Override
    public void irqLeave(ExecutionContext ctx) {
        ctx.irqLeave();
    }

    @Override
    public Reports newReports(Machine machine, Reporter reporter) {
        return new Reports(machine, reporter);
    }

    @Override
    public void panic(Reports reports, String message, Throwable cause) {
        reports.panic(message, cause);
    }

    @Override
    public void bugOn(Reports reports, int cpu, String thread, String context, String message, Throwable stack) {
        reports.bugOn(cpu, thread, context, message, stack);
    }

    @Override
    public Tracing newTracing(Machine machine) {
        return new Tracing(machine);
    }

    @Override
    public KernelPanic newPanic(String reason, Throwable cause) {
        return new KernelPanic(reason, cause);
    }

    @Override
    public IllegalStateException refusal(KernelPanic panic) {
        return panic.refusal();
    }

    @Override
    public Stepper newStepper(Machine machine) {
        return new Stepper(machine);
    }

    @Override
    public boolean drive(Machine machine, BooleanSupplier done, long limitNs, BooleanSupplier mayAdvance) {
        return new Stepper(machine).drive(done, limitNs, mayAdvance);
    }

    @Override
    public Machine machine(ExecutionContext ctx) {
        return ctx.machine();
    }

    @Override
    public Cpu cpu(ExecutionContext ctx) {
        return ctx.cpu();
    }

    @Override
    public Object lockState(ExecutionContext ctx) {
        return ctx.lockState();
    }

    @Override
    public void lockState(ExecutionContext ctx, Object state) {
        ctx.lockState(state);
    }

    @Override
    public void sleepListener(ExecutionContext ctx, SleepListener listener) {
        ctx.sleepListener(listener);
    }

    @Override
    public void sleepStarts(ExecutionContext ctx) {
        ctx.sleepStarts();
    }

    @Override
    public void sleepEnds(ExecutionContext ctx) {
        ctx.sleepEnds();
    }

    @Override
    public void setTaskState(ExecutionContext ctx, int state) {
        ctx.setTaskState(state);
    }

    @Override
    public boolean wakeUpState(ExecutionContext ctx, int mask) {
        return ctx.wakeUpState(mask);
    }

    @Override
    public void sleepingThread(ExecutionContext ctx, Thread thread) {
        ctx.sleepingThread(thread);
    }

    @Override
    public void bindKthread(ExecutionContext ctx, Cpu cpu) {
        ctx.bindKthread(cpu);
    }

    @Override
    public Object task(ExecutionContext ctx) {
        return ctx.task();
    }

    @Override
    public Object taskIfAbsent(ExecutionContext ctx, Supplier<Object> make) {
        return ctx.taskIfAbsent(make);
    }

    @Override
    public void restorePreemptCount(ExecutionContext ctx, int count) {
        ctx.restorePreemptCount(count);
    }

    @Override
    public void enterServingSoftirq(ExecutionContext ctx) {
        ctx.enterServingSoftirq();
    }

    @Override
    public void leaveServingSoftirq(ExecutionContext ctx) {
        ctx.leaveServingSoftirq();
    }

    @Override
    public boolean forceIrqsEnabled(ExecutionContext ctx) {
        return ctx.forceIrqsEnabled();
    }

    @Override
    public boolean forceIrqsDisabled(ExecutionContext ctx) {
        return ctx.forceIrqsDisabled();
    }

    @Override
    public void addAdvanceListener(ManualClock clock, LongConsumer listener) {
        clock.addListener(listener);
    }

    @Override
    public void removeAdvanceListener(ManualClock clock, LongConsumer listener) {
        clock.removeListener(listener);
    }
}
