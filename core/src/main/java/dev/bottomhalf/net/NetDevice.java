package dev.bottomhalf.net;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A network device ({@code struct net_device}) reduced to what NAPI needs: its name, the NAPI instances added
 * to it ({@code dev->napi_list}), whether they poll in kthreads ({@code dev->threaded}), and the two settings of
 * IRQ deferral ({@code napi_defer_hard_irqs}, {@code gro_flush_timeout}, the files of that name under
 * {@code /sys/class/net/<dev>/}). Owned by its driver; thread-safe (any thread may read it; {@link Napi} changes
 * its list and mode, any thread its deferral settings).
 *
 * <p>Implementation notes: the NAPI list is copy-on-write, as the kernel's is RCU-protected: adding and deleting
 * are rare (probe, remove), walking it must not block. {@code threaded} is volatile, written by
 * {@code dev_set_threaded} and read by {@code netif_napi_add} and {@code napi_enable}. The deferral settings are
 * volatile ({@code WRITE_ONCE} in the sysfs store, {@code READ_ONCE} in {@code napi_complete_done}): a change takes
 * effect at the next completion of each instance.
 */
public final class NetDevice {
    private final String name;
    final List<NapiStruct> napis = new CopyOnWriteArrayList<>();
    volatile boolean threaded;
    private volatile int napiDeferHardIrqs;
    private volatile long groFlushTimeoutNs;

    /**
     * A device named {@code name} ({@code eth0}), as {@code alloc_netdev} leaves it: no NAPI instances, not
     * threaded. Any thread.
     *
     * @param name the interface name, 1 to 15 characters ({@code IFNAMSIZ} less the terminator)
     * @throws IllegalArgumentException for an empty name or one longer than 15 characters
     */
    public NetDevice(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isEmpty() || name.length() > 15) {
            throw new IllegalArgumentException("a device name has 1 to 15 characters (IFNAMSIZ): '" + name + "'");
        }
        this.name = name;
    }

    /**
     * The interface name ({@code dev->name}). Any thread.
     *
     * @return the name given at construction
     */
    public String name() {
        return name;
    }

    /**
     * The NAPI instances added to this device and not deleted, in the order they were added. Any thread; a
     * snapshot.
     *
     * @return an unmodifiable copy of {@code dev->napi_list}
     */
    public List<NapiStruct> napis() {
        return List.copyOf(napis);
    }

    /**
     * Whether the device's NAPI instances poll in their own kthreads ({@code dev->threaded}, set by
     * {@code dev_set_threaded}). Any thread.
     *
     * @return {@code dev->threaded}
     */
    public boolean threaded() {
        return threaded;
    }

    /**
     * {@code napi_defer_hard_irqs}: how many times in a row an instance of this device that completes a poll keeps
     * the device's interrupt masked and lets the {@code gro_flush_timeout} timer schedule its next poll instead; a
     * poll that did work starts the count again. Has an effect only while {@link #groFlushTimeoutNs()} is above 0.
     * Any thread.
     *
     * @return the count, 0 (no deferral) unless set
     */
    public int napiDeferHardIrqs() {
        return napiDeferHardIrqs;
    }

    /**
     * Sets {@code napi_defer_hard_irqs} (the store of {@code /sys/class/net/<dev>/napi_defer_hard_irqs}). Any thread;
     * each instance reads it at its next {@code napi_complete_done} after a poll that did work.
     *
     * @param count 0 (off) or more
     * @throws IllegalArgumentException for a negative count (the kernel's store answers {@code -ERANGE})
     */
    public void setNapiDeferHardIrqs(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("napi_defer_hard_irqs must be 0 to " + Integer.MAX_VALUE + " (ERANGE): "
                    + count);
        }
        napiDeferHardIrqs = count;
    }

    /**
     * {@code gro_flush_timeout}: in nanoseconds, how long after a deferred completion the instance's timer
     * ({@code napi_watchdog}) schedules its next poll. Any thread.
     *
     * @return the timeout in ns, 0 (no timer: every completion unmasks the interrupt) unless set
     */
    public long groFlushTimeoutNs() {
        return groFlushTimeoutNs;
    }

    /**
     * Sets {@code gro_flush_timeout} (the store of {@code /sys/class/net/<dev>/gro_flush_timeout}). Any thread; read
     * by each instance's next {@code napi_complete_done}.
     *
     * @param timeoutNs nanoseconds, 0 (off) or more
     * @throws IllegalArgumentException for a negative timeout
     */
    public void setGroFlushTimeoutNs(long timeoutNs) {
        if (timeoutNs < 0) {
            throw new IllegalArgumentException("gro_flush_timeout must not be negative: " + timeoutNs + " ns");
        }
        groFlushTimeoutNs = timeoutNs;
    }

    @Override
    public String toString() {
        return "net_device[" + name + (threaded ? " threaded" : "") + "]";
    }
}
