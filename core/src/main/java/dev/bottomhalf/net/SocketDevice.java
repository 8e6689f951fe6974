package dev.bottomhalf.net;

/**
 * What the kernel's close does to a socket-backed device ({@link UdpDevice}, {@link TcpDevice}) that its owner did
 * not close: stop its card thread when the kernel starts refusing work, join it before the close's last sweep, and
 * close its channels once the runtime threads have stopped. {@link Napi} keeps the open devices' hooks in a set
 * from {@code attachDevice} to {@code detachDevice}; each device makes its own (a private object, so these calls
 * stay out of the devices' public API).
 */
interface SocketDevice {
    /** Tells the card thread to stop (no more interrupts); any thread, does not wait. */
    void stopCardForClose();

    /**
     * Stops the card thread and waits for it to end; the closing thread, before the close's last sweep (never while
     * the close holds its sweep lock: the card may be inside an {@code assertIrq} that finishes only once it may run
     * its own late sweep).
     */
    void stopAndJoinCardForClose();

    /** Marks the device closed, stops and joins the card and closes the channels, once the runtime threads stopped. */
    void releaseForClose();
}
