package dev.bottomhalf.runtime;

/**
 * The kernel tracepoints this library emits, named as in the kernel's {@code include/trace/events/}
 * headers. Each subsystem adds its own constants here; the {@code dev.bottomhalf.trace} package
 * records and renders them.
 */
public enum Tracepoint {
    /** {@code irq:irq_handler_entry} — {@code irq=%d name=%s} */
    IRQ_HANDLER_ENTRY("irq", "irq_handler_entry"),
    /** {@code irq:irq_handler_exit} — {@code irq=%d ret=handled|unhandled} */
    IRQ_HANDLER_EXIT("irq", "irq_handler_exit"),
    /** {@code irq:softirq_raise} — {@code vec=%u [action=%s]} */
    SOFTIRQ_RAISE("irq", "softirq_raise"),
    /** {@code irq:softirq_entry} — {@code vec=%u [action=%s]} */
    SOFTIRQ_ENTRY("irq", "softirq_entry"),
    /** {@code irq:softirq_exit} — {@code vec=%u [action=%s]} */
    SOFTIRQ_EXIT("irq", "softirq_exit"),
    /** {@code irq:tasklet_entry} — {@code tasklet=%ps} */
    TASKLET_ENTRY("irq", "tasklet_entry"),
    /** {@code irq:tasklet_exit} — {@code tasklet=%ps} */
    TASKLET_EXIT("irq", "tasklet_exit"),
    /** {@code csd:csd_function_entry} — {@code func=%ps} (a cross-CPU function call starting) */
    CSD_FUNCTION_ENTRY("csd", "csd_function_entry"),
    /** {@code csd:csd_function_exit} — {@code func=%ps} */
    CSD_FUNCTION_EXIT("csd", "csd_function_exit"),
    /** {@code timer:timer_start} — {@code timer=%p function=%ps expires=%lu [timeout=%ld] bucket_expiry=%lu cpu=%u idx=%u flags=%s} */
    TIMER_START("timer", "timer_start"),
    /** {@code timer:timer_expire_entry} — {@code timer=%p function=%ps now=%lu baseclk=%lu} */
    TIMER_EXPIRE_ENTRY("timer", "timer_expire_entry"),
    /** {@code timer:timer_expire_exit} — {@code timer=%p} */
    TIMER_EXPIRE_EXIT("timer", "timer_expire_exit"),
    /** {@code timer:timer_cancel} — {@code timer=%p} (also emitted when an expiring timer is unlinked) */
    TIMER_CANCEL("timer", "timer_cancel"),
    /** {@code timer:hrtimer_start} — {@code hrtimer=%p function=%ps expires=%llu softexpires=%llu mode=%s} */
    HRTIMER_START("timer", "hrtimer_start"),
    /** {@code timer:hrtimer_expire_entry} — {@code hrtimer=%p now=%llu function=%ps} */
    HRTIMER_EXPIRE_ENTRY("timer", "hrtimer_expire_entry"),
    /** {@code timer:hrtimer_expire_exit} — {@code hrtimer=%p} */
    HRTIMER_EXPIRE_EXIT("timer", "hrtimer_expire_exit"),
    /** {@code timer:hrtimer_cancel} — {@code hrtimer=%p} */
    HRTIMER_CANCEL("timer", "hrtimer_cancel"),
    /** {@code workqueue:workqueue_queue_work} — {@code work struct=%p function=%ps workqueue=%s req_cpu=%d cpu=%d} */
    WORKQUEUE_QUEUE_WORK("workqueue", "workqueue_queue_work"),
    /** {@code workqueue:workqueue_activate_work} — {@code work struct %p} */
    WORKQUEUE_ACTIVATE_WORK("workqueue", "workqueue_activate_work"),
    /** {@code workqueue:workqueue_execute_start} — {@code work struct %p: function %ps} */
    WORKQUEUE_EXECUTE_START("workqueue", "workqueue_execute_start"),
    /** {@code workqueue:workqueue_execute_end} — {@code work struct %p: function %ps} */
    WORKQUEUE_EXECUTE_END("workqueue", "workqueue_execute_end"),
    /** {@code napi:napi_poll} — {@code napi poll on napi struct %p for device %s work %d budget %d} */
    NAPI_POLL("napi", "napi_poll");

    private final String system;
    private final String eventName;

    Tracepoint(String system, String eventName) {
        this.system = system;
        this.eventName = eventName;
    }

    /**
     * The trace system (directory under {@code events/}), e.g. {@code irq}.
     *
     * @return the system's name
     */
    public String system() {
        return system;
    }

    /**
     * The event name as the kernel spells it, e.g. {@code softirq_entry}.
     *
     * @return the event's name
     */
    public String eventName() {
        return eventName;
    }

    /**
     * The bit of this tracepoint in an enable mask.
     *
     * @return {@code 1L << ordinal()}
     */
    public long bit() {
        return 1L << ordinal();
    }
}
