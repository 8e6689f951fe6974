/**
 * bottomhalf: the Linux kernel's interrupt and deferred-work machinery — hard-IRQ top halves, softirqs
 * and ksoftirqd, tasklets, timers, workqueues — as a Java library and runtime with the kernel's
 * semantics and observability.
 *
 * <p>Users start at {@code dev.bottomhalf.Kernel}. The packages under {@code dev.bottomhalf.internal} (the
 * runtime's machine, CPUs and threads; the synchronisation primitives; the tests' access to them) are not
 * exported; {@code ModuleExportsTest} fails when one is, and lists the exported packages.
 */
module dev.bottomhalf {
    requires java.management; // worker threads' CPU time and native-code state (the workqueue's concurrency check)
    requires jdk.jfr;         // the execution sites' Flight Recorder events (dev.bottomhalf.internal.jfr), JDK only

    exports dev.bottomhalf;
    exports dev.bottomhalf.runtime;
    exports dev.bottomhalf.irq;
    exports dev.bottomhalf.softirq;
    exports dev.bottomhalf.tasklet;
    exports dev.bottomhalf.time;
    exports dev.bottomhalf.workqueue;
    exports dev.bottomhalf.sched;
    exports dev.bottomhalf.proc;
    exports dev.bottomhalf.trace;
    exports dev.bottomhalf.linux;
    exports dev.bottomhalf.locking;
    exports dev.bottomhalf.net;
}
