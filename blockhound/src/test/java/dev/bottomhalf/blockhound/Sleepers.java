package dev.bottomhalf.blockhound;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import dev.bottomhalf.runtime.ExecutionContext;

/**
 * The blocking JDK calls the tests make, each from a method of its own so that the report's frame names it.
 * Each call first records, on the same source line, the frame and the calling context's state, which is
 * what the report must show. Any thread; {@link #calls} is thread-safe.
 */
final class Sleepers {
    /** A call as it was made: its frame and the report the kernel would print for it in this context. */
    record Call(String frame, String expectedReport, boolean mayNotSleep, int preemptCount, boolean irqsDisabled) {
    }

    static final List<Call> calls = new CopyOnWriteArrayList<>();

    private Sleepers() {
    }

    /** Thread.sleep (the JDK's sleepNanos0). */
    static void threadSleep() {
        try {
            mark(); Thread.sleep(1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Object.wait with a timeout, on a monitor the caller holds (uncontended). */
    static void objectWait() {
        Object monitor = new Object();
        synchronized (monitor) {
            try {
                mark(); monitor.wait(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** LockSupport.parkNanos (the JDK's Unsafe.park). */
    static void parkNanos() {
        mark(); LockSupport.parkNanos(1_000);
    }

    /** A blocking read of one byte from a connected loopback socket (the byte is already there). */
    static void socketRead(InputStream in) {
        try {
            mark(); in.read();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A synchronized block whose monitor another thread holds until this one is blocked on it. */
    static void contendedMonitor(Contention contention) {
        mark(); contention.arm(); synchronized (contention.lock) {
            contention.entered = true;
        }
    }

    /** Thread.onSpinWait: the kernel's cpu_relax(), not a sleep. */
    static void spinWait() {
        mark(); Thread.onSpinWait();
    }

    /** Records the caller's frame and context; the blocking call must follow on the same source line. */
    static void mark() {
        StackWalker.StackFrame f = StackWalker.getInstance().walk(s -> s.skip(1).findFirst()).orElseThrow();
        String frame = f.getClassName() + "." + f.getMethodName() + "(" + f.getFileName() + ":" + f.getLineNumber()
                + ")";
        ExecutionContext ctx = ExecutionContext.currentOrNull();
        boolean mayNotSleep = ctx != null && (ctx.inAtomic() || ctx.irqsDisabled());
        String report = ctx == null ? null
                : "BUG: sleeping function called from invalid context at " + frame + "\n"
                + "in_atomic(): " + (ctx.inAtomic() ? 1 : 0) + ", irqs_disabled(): " + (ctx.irqsDisabled() ? 1 : 0)
                + ", non_block: 0, pid: " + Thread.currentThread().threadId() + ", name: " + ctx.name() + "\n"
                + "preempt_count: " + Integer.toHexString(ctx.preemptCount()) + ", expected: 0";
        calls.add(new Call(frame, report, mayNotSleep, ctx == null ? 0 : ctx.preemptCount(),
                ctx != null && ctx.irqsDisabled()));
    }

    /**
     * A monitor held by a thread of its own from {@link #start()} until the thread that {@linkplain #arm()
     * armed} it is blocked entering it, or until it is closed (or 10 s have passed).
     */
    static final class Contention implements AutoCloseable {
        final Object lock = new Object();
        private final CountDownLatch held = new CountDownLatch(1);
        private volatile Thread contender;
        private volatile boolean released;
        volatile boolean entered;
        private final Thread holder = new Thread(this::hold, "monitor-holder");

        Contention start() throws InterruptedException {
            holder.start();
            held.await();
            return this;
        }

        void arm() {
            contender = Thread.currentThread();
        }

        private void hold() {
            synchronized (lock) {
                held.countDown();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (System.nanoTime() < deadline) {
                    Thread t = contender;
                    if (released || t != null && t.getState() == Thread.State.BLOCKED) {
                        return;
                    }
                    LockSupport.parkNanos(10_000);
                }
            }
        }

        @Override
        public void close() throws InterruptedException {
            released = true;
            holder.join(TimeUnit.SECONDS.toMillis(20));
        }
    }

    /** A connected loopback socket pair with one byte waiting to be read on the client side. */
    static final class SocketPair implements AutoCloseable {
        private final ServerSocket server;
        private final Socket client;
        private final Socket accepted;

        SocketPair() throws IOException {
            server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            client = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
            accepted = server.accept();
            OutputStream out = accepted.getOutputStream();
            out.write(42);
            out.flush();
        }

        InputStream in() throws IOException {
            return client.getInputStream();
        }

        @Override
        public void close() throws IOException {
            try (server; client; accepted) {
                // closes all three
            }
        }
    }
}
