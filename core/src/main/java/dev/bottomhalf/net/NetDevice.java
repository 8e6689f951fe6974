package dev.bottomhalf.net;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A network device ({@code struct net_device}) reduced to what NAPI needs: its name, the NAPI instances added
 * to it ({@code dev->napi_list}) and whether they poll in kthreads ({@code dev->threaded}). Owned by its driver;
 * thread-safe (any thread may read it; {@link Napi} changes it).
 *
 * <p>Implementation notes: the NAPI list is copy-on-write, as the kernel's is RCU-protected: adding and deleting
 * are rare (probe, remove), walking it must not block. {@code threaded} is volatile, written by
 * {@code dev_set_threaded} and read by {@code netif_napi_add} and {@code napi_enable}.
 */
public final class NetDevice {
    private final String name;
    final List<NapiStruct> napis = new CopyOnWriteArrayList<>();
    volatile boolean threaded;

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

    @Override
    public String toString() {
        return "net_device[" + name + (threaded ? " threaded" : "") + "]";
    }
}
