package dev.bottomhalf.bench.udp;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * A connected UDP socket to 127.0.0.1 that sends a batch of datagrams in one {@code sendmmsg(2)} call, through
 * the C library (the foreign function API; Linux on a 64-bit CPU). The receive benchmark's fast sender: a
 * {@code DatagramChannel.write} per datagram costs the sender a system call and the channel's bookkeeping each
 * time, and on a 2-core host the sender's CPU caps what any receiver can be offered. Every datagram of a batch has
 * its own buffer, so each carries its own sequence number and time stamp.
 *
 * <p>Single-threaded: one thread owns an instance. Closing it closes the descriptor and frees the native memory.
 */
final class MmsgSocket implements AutoCloseable {
    private static final int AF_INET = 2;
    private static final int SOCK_DGRAM = 2;
    /** {@code struct sockaddr_in}: family, port (network order), address (network order), 8 bytes of zero. */
    private static final int SOCKADDR_IN_SIZE = 16;
    /** {@code struct iovec}: base pointer, length. */
    private static final int IOVEC_SIZE = 16;
    /**
     * {@code struct mmsghdr} on LP64: a {@code struct msghdr} (name, namelen + pad, iov, iovlen, control,
     * controllen, flags + pad: 56 bytes) and {@code msg_len} + pad.
     */
    private static final int MMSGHDR_SIZE = 64;
    private static final int MSG_IOV = 16;
    private static final int MSG_IOVLEN = 24;
    private static final int ECONNREFUSED = 111;
    private static final int EINTR = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MemoryLayout ERRNO_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = ERRNO_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET = handle("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT));
    private static final MethodHandle CONNECT = handle("connect",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_INT));
    private static final MethodHandle SENDMMSG = handle("sendmmsg",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), Linker.Option.captureCallState("errno"));
    private static final MethodHandle CLOSE = handle("close",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private final Arena arena = Arena.ofConfined();
    private final int fd;
    private final int batch;
    private final int size;
    private final MemorySegment headers;
    private final MemorySegment buffers;
    private final MemorySegment errno;

    /**
     * Opens a socket connected to {@code 127.0.0.1:port} for batches of up to {@code batch} datagrams of
     * {@code size} bytes.
     */
    MmsgSocket(int port, int batch, int size) throws IOException {
        if (batch < 1 || size < UdpBurstSender.MIN_SIZE) {
            throw new IllegalArgumentException("batch " + batch + ", size " + size);
        }
        this.batch = batch;
        this.size = size;
        errno = arena.allocate(ERRNO_STATE);
        int s = (int) invoke(SOCKET, AF_INET, SOCK_DGRAM, 0);
        if (s < 0) {
            arena.close();
            throw new IOException("socket(AF_INET, SOCK_DGRAM) failed");
        }
        fd = s;
        MemorySegment addr = arena.allocate(SOCKADDR_IN_SIZE);
        addr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
        addr.set(ValueLayout.JAVA_BYTE, 2, (byte) (port >>> 8));  // sin_port, network byte order
        addr.set(ValueLayout.JAVA_BYTE, 3, (byte) port);
        addr.set(ValueLayout.JAVA_BYTE, 4, (byte) 127);           // sin_addr 127.0.0.1
        addr.set(ValueLayout.JAVA_BYTE, 7, (byte) 1);
        if ((int) invoke(CONNECT, fd, addr, SOCKADDR_IN_SIZE) != 0) {
            close();
            throw new IOException("connect(127.0.0.1:" + port + ") failed");
        }
        headers = arena.allocate((long) MMSGHDR_SIZE * batch, 8);
        MemorySegment iovecs = arena.allocate((long) IOVEC_SIZE * batch, 8);
        buffers = arena.allocate((long) size * batch, 8);
        for (int i = 0; i < batch; i++) {
            MemorySegment iov = iovecs.asSlice((long) IOVEC_SIZE * i, IOVEC_SIZE);
            iov.set(ValueLayout.ADDRESS, 0, buffers.asSlice((long) size * i, size));
            iov.set(ValueLayout.JAVA_LONG, 8, size);
            MemorySegment h = headers.asSlice((long) MMSGHDR_SIZE * i, MMSGHDR_SIZE);
            h.set(ValueLayout.ADDRESS, MSG_IOV, iov);
            h.set(ValueLayout.JAVA_LONG, MSG_IOVLEN, 1);
        }
    }

    /** Datagram {@code i}'s first two longs, big-endian like {@code ByteBuffer}'s: sequence number and time stamp. */
    void stamp(int i, long seq, long timeNs) {
        long base = (long) size * i;
        buffers.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), base, seq);
        buffers.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), base + 8, timeNs);
    }

    /**
     * Sends datagrams {@code 0..n-1} in one {@code sendmmsg}.
     *
     * @return how many the host accepted, from the first: all of them, or fewer when one met the ICMP error of an
     *         earlier datagram (no receiver on the port yet; the error is then cleared) or an interrupt
     * @throws IOException for any other failure
     */
    int send(int n) throws IOException {
        if (n < 1 || n > batch) {
            throw new IllegalArgumentException("n " + n + " of a batch of " + batch);
        }
        int sent = sendmmsg(n);
        if (sent >= 0) {
            return sent;
        }
        int e = (int) ERRNO.get(errno, 0L);
        if (e == ECONNREFUSED || e == EINTR) {
            return 0;
        }
        throw new IOException("sendmmsg failed: errno " + e);
    }

    @Override
    public void close() {
        invoke(CLOSE, fd);
        arena.close();
    }

    private static MethodHandle handle(String name, FunctionDescriptor d, Linker.Option... options) {
        MemorySegment f = LIBC.find(name).orElseThrow(() -> new UnsupportedOperationException(
                "the C library has no " + name + ": the mmsg sender needs Linux"));
        return LINKER.downcallHandle(f, d, options);
    }

    private static Object invoke(MethodHandle h, Object... args) {
        try {
            return h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code sendmmsg(fd, headers, n, 0)}, its {@code errno} captured in {@link #errno}. */
    private int sendmmsg(int n) {
        try {
            return (int) SENDMMSG.invokeExact(errno, fd, headers, n, 0);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
