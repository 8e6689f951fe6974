package dev.bottomhalf.irq;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

import dev.bottomhalf.runtime.KernelException;

/**
 * A request for an interrupt line being put together: the Java API's form of {@code request_irq} and
 * {@code request_threaded_irq}, in the style of {@code java.net.http.HttpRequest.newBuilder()}. Made by
 * {@link IrqController#request(int)}; used by one thread, then {@link #register()}ed (process context: it may
 * sleep, as {@code request_irq} may).
 *
 * <pre>{@code
 * IrqRegistration eth0 = kernel.irqs().request(24)
 *         .handler((irq, dev) -> { ack(); return IrqResult.WAKE_THREAD; })
 *         .thread((irq, dev) -> { drainRing(); return IrqResult.HANDLED; })
 *         .flags(IrqFlag.SHARED, IrqFlag.ONESHOT)
 *         .name("eth0")
 *         .dev(nic)
 *         .register();
 * ...
 * eth0.free();                               // free_irq(24, nic)
 * }</pre>
 *
 * <p>Required: a name, and a handler or a thread function (a thread function alone gets the kernel's default
 * primary handler, which needs {@link IrqFlag#ONESHOT}). Without a thread function the request is
 * {@code request_irq} (which adds {@link IrqFlag#COND_ONESHOT}); with one it is {@code request_threaded_irq}.
 * Handlers come typed ({@link #handler(IrqResultHandler)}, {@link #thread(IrqResultHandler)}) or in the kernel's
 * int form ({@link #rawHandler(IrqHandler)}, {@link #rawThread(IrqHandler)}: a bogus return value is reported as
 * the kernel reports it). Not thread-safe; a request may be registered more than once (with another dev_id on a
 * shared line, say).
 */
public final class IrqRequest {
    private final IrqController controller;
    private final int irq;
    private IrqHandler handler;
    private IrqHandler threadFn;
    private final Set<IrqFlag> flags = EnumSet.noneOf(IrqFlag.class);
    private String name;
    private Object devId;

    IrqRequest(IrqController controller, int irq) {
        this.controller = controller;
        this.irq = irq;
    }

    /**
     * The primary handler, typed: it runs in hardirq context and returns {@link IrqResult#WAKE_THREAD} to run the
     * thread function. Replaces an earlier primary handler.
     *
     * @param handler the primary handler
     * @return this request
     * @throws NullPointerException when {@code handler} is null
     */
    public IrqRequest handler(IrqResultHandler handler) {
        this.handler = Objects.requireNonNull(handler, "handler").asIrqHandler();
        return this;
    }

    /**
     * The thread function, typed: it runs on the line's {@code irq/L-name} thread in process context and may
     * sleep. Replaces an earlier thread function.
     *
     * @param threadFn the thread function
     * @return this request
     * @throws NullPointerException when {@code threadFn} is null
     */
    public IrqRequest thread(IrqResultHandler threadFn) {
        this.threadFn = Objects.requireNonNull(threadFn, "threadFn").asIrqHandler();
        return this;
    }

    /**
     * The primary handler in the kernel's {@code irq_handler_t} form, returning an {@link IrqReturn} int. Replaces
     * an earlier primary handler.
     *
     * @param handler the primary handler
     * @return this request
     * @throws NullPointerException when {@code handler} is null
     */
    public IrqRequest rawHandler(IrqHandler handler) {
        this.handler = Objects.requireNonNull(handler, "handler");
        return this;
    }

    /**
     * The thread function in the kernel's {@code irq_handler_t} form. Replaces an earlier thread function.
     *
     * @param threadFn the thread function
     * @return this request
     * @throws NullPointerException when {@code threadFn} is null
     */
    public IrqRequest rawThread(IrqHandler threadFn) {
        this.threadFn = Objects.requireNonNull(threadFn, "threadFn");
        return this;
    }

    /**
     * Adds request flags ({@code IRQF_*}).
     *
     * @param first the first flag
     * @param rest  more flags
     * @return this request
     * @throws NullPointerException when a flag is null
     */
    public IrqRequest flags(IrqFlag first, IrqFlag... rest) {
        flags.add(Objects.requireNonNull(first, "flag"));
        for (IrqFlag f : rest) {
            flags.add(Objects.requireNonNull(f, "flag"));
        }
        return this;
    }

    /**
     * Adds request flags ({@code IRQF_*}).
     *
     * @param more the flags
     * @return this request
     * @throws NullPointerException when {@code more} or one of its flags is null
     */
    public IrqRequest flags(Set<IrqFlag> more) {
        for (IrqFlag f : Objects.requireNonNull(more, "flags")) {
            flags.add(Objects.requireNonNull(f, "flag"));
        }
        return this;
    }

    /**
     * The handler's name, as {@code /proc/interrupts} shows it and as the thread's name {@code irq/L-name} uses it.
     *
     * @param name a non-empty name
     * @return this request
     * @throws NullPointerException when {@code name} is null
     * @throws IllegalArgumentException when {@code name} is empty
     */
    public IrqRequest name(String name) {
        if (Objects.requireNonNull(name, "name").isEmpty()) {
            throw new IllegalArgumentException("request_irq(" + irq + "): the name is empty");
        }
        this.name = name;
        return this;
    }

    /**
     * The {@code dev_id} cookie: passed to the handlers, and what {@code free_irq} finds this handler by among the
     * sharers of a line (by identity). Required with {@link IrqFlag#SHARED}; null (the default) otherwise allowed.
     *
     * @param devId the cookie, or null
     * @return this request
     */
    public IrqRequest dev(Object devId) {
        this.devId = devId;
        return this;
    }

    /**
     * Installs the handler on the line: {@code request_irq} without a thread function, {@code request_threaded_irq}
     * with one. Process context (it may sleep).
     *
     * @return the registration, whose {@link IrqRegistration#free()} is {@code free_irq(irq, dev_id)}
     * @throws IllegalStateException when no name, or neither a handler nor a thread function, was given; or when
     *         the kernel is closed
     * @throws KernelException with the kernel's errno and the rule broken: {@code EINVAL} for a line that does not
     *         exist, {@link IrqFlag#SHARED} without a dev_id, a thread function alone without {@link IrqFlag#ONESHOT},
     *         a per-CPU line, or bad suspend flags; {@code EBUSY} when the line cannot be shared with its current
     *         handlers (after the kernel's {@code genirq: Flags mismatch} message)
     */
    public IrqRegistration register() {
        if (name == null) {
            throw new IllegalStateException("request_irq(" + irq + "): no name: call name(...) before register()");
        }
        if (handler == null && threadFn == null) {
            throw new IllegalStateException("request_irq(" + irq + ", " + name + "): no handler: call handler(...)"
                    + " or thread(...) before register()");
        }
        int mask = IrqFlag.mask(flags);
        if (threadFn == null) {
            mask |= IrqFlag.COND_ONESHOT.value();    // request_irq()
        }
        controller.requestThreaded(irq, handler, threadFn, mask, name, devId);
        return new IrqRegistration(controller, irq, name, devId);
    }

    @Override
    public String toString() {
        return "IrqRequest[irq " + irq + (name != null ? " " + name : "") + " " + flags + "]";
    }
}
