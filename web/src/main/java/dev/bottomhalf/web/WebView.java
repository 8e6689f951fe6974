package dev.bottomhalf.web;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Clock;
import dev.bottomhalf.runtime.TraceSink;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.runtime.Tracing;

/**
 * A live view of a running kernel in the browser: a small HTTP server (the JDK's {@code com.sun.net.httpserver})
 * serving one self-contained page and a stream of server-sent events that refreshes it — the per-CPU rates of
 * {@code /proc/interrupts} and {@code /proc/softirqs}, ksoftirqd, the workqueue monitor, the recent reports and a
 * scrolling per-CPU context timeline fed by the kernel's tracepoints. Start it from any thread with
 * {@link #start(Kernel, int)} or {@link #builder(Kernel)}; close it from any thread.
 *
 * <p>It binds 127.0.0.1 unless told otherwise, and it refuses any other address unless the caller also calls
 * {@link Builder#allowRemoteAccess()}: the view has no authentication and shows the names of the kernel's handlers,
 * work items and reports. While bound to a loopback address it answers only requests whose {@code Host} header names
 * a loopback host and its port, so a web page from elsewhere cannot read it through a DNS name that points at
 * 127.0.0.1. It only answers {@code GET} and {@code HEAD}.
 *
 * <p>The timeline: while the view is open it is the kernel's trace sink (every tracepoint is on). A sink that was
 * there before keeps receiving the hits of the tracepoints it had on, and gets tracing back when the view closes
 * (unless another sink replaced the view's meanwhile, which is then left alone). Hits go to a bounded ring
 * ({@link Builder#traceCapacity(int)}); when the view's sampler falls behind, hits are dropped and counted (the page
 * shows the count). {@link Builder#timeline(boolean) timeline(false)} leaves tracing alone.
 *
 * <p>Implementation notes: the view's threads are its own daemon threads — {@code bottomhalf-web-sampler-PORT},
 * which drains the trace ring every 100 ms and reads the counters and writes a frame every refresh, and up to
 * {@link #HTTP_THREADS} {@code bottomhalf-web-http-PORT-N}, which serve requests (each open event stream holds one;
 * at most {@link #MAX_STREAMS} streams). None of them is a runtime thread of the kernel or binds to it, and none
 * waits for the kernel: closing the kernel while a view is attached does not wait for the view, and the view then
 * shows the kernel closed with its last counters. The latest frame is published through a volatile field and handed
 * to each stream through a small queue that drops the oldest frame for a slow reader.
 */
public final class WebView implements AutoCloseable {
    /** The default refresh period of the page. */
    public static final Duration DEFAULT_REFRESH = Duration.ofMillis(500);
    /** The default size of the trace ring, in hits. */
    public static final int DEFAULT_TRACE_CAPACITY = 1 << 16;
    /** The most event streams served at once; a further one is answered 503. */
    public static final int MAX_STREAMS = 8;
    /** The most threads serving requests. */
    public static final int HTTP_THREADS = MAX_STREAMS + 2;

    private static final long DRAIN_PERIOD_NS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long KEEPALIVE_NS = TimeUnit.SECONDS.toNanos(15);
    private static final String END = new String("end of stream");

    private final Kernel kernel;
    private final HttpServer server;
    private final ExecutorService httpThreads;
    private final Thread sampler;
    private final InetSocketAddress address;
    private final boolean loopbackOnly;
    private final long refreshNs;
    private final ReportLog reports;
    private final KernelCounters counters;
    private final HitRing ring;
    private final Timeline timeline;
    private final TraceSink sink;
    private final TraceSink previousSink;
    private final Set<Tracepoint> previousPoints;
    private final Clock clock;
    private final long baseNs;
    private final byte[] page;
    private final Set<BlockingQueue<String>> streams = new CopyOnWriteArraySet<>();
    private volatile String latestFrame;
    private volatile boolean closed;

    /**
     * Starts a view of {@code kernel} on 127.0.0.1. Any thread.
     *
     * @param kernel the kernel to show
     * @param port   the TCP port; 0 for any free port ({@link #address()} says which)
     * @return the view, serving
     * @throws UncheckedIOException when the port cannot be bound
     */
    public static WebView start(Kernel kernel, int port) {
        return builder(kernel).port(port).start();
    }

    /**
     * A builder of a view of {@code kernel}. Any thread.
     *
     * @param kernel the kernel to show
     * @return a builder: 127.0.0.1, any free port, refresh every 500 ms, the timeline on, no report log
     */
    public static Builder builder(Kernel kernel) {
        return new Builder(kernel);
    }

    /** Settings of a {@link WebView}; used by one thread. */
    public static final class Builder {
        private final Kernel kernel;
        private int port;
        private InetAddress bindAddress = InetAddress.getLoopbackAddress();
        private boolean allowRemote;
        private Duration refresh = DEFAULT_REFRESH;
        private boolean timelineOn = true;
        private int traceCapacity = DEFAULT_TRACE_CAPACITY;
        private ReportLog reports;

        private Builder(Kernel kernel) {
            this.kernel = Objects.requireNonNull(kernel, "kernel");
        }

        /**
         * The TCP port to listen on.
         *
         * @param port 0..65535; 0 for any free port
         * @return this builder
         */
        public Builder port(int port) {
            if (port < 0 || port > 65_535) {
                throw new IllegalArgumentException("port must be in 0..65535: " + port);
            }
            this.port = port;
            return this;
        }

        /**
         * The address to listen on; 127.0.0.1 by default. Any address that is not a loopback address (a host's
         * interface, or 0.0.0.0 for all of them) is refused by {@link #start()} unless {@link #allowRemoteAccess()}
         * is called too.
         *
         * @param address the local address
         * @return this builder
         */
        public Builder bindAddress(InetAddress address) {
            this.bindAddress = Objects.requireNonNull(address, "address");
            return this;
        }

        /**
         * Lets {@link #bindAddress(InetAddress)} name an address other hosts can reach. The view has no
         * authentication: anyone who reaches the port sees the kernel's counters, its handlers' and work items'
         * names and its reports. The {@code Host} header check of a loopback view is off then.
         *
         * @return this builder
         */
        public Builder allowRemoteAccess() {
            this.allowRemote = true;
            return this;
        }

        /**
         * How often the page is refreshed (a frame is sent).
         *
         * @param period 50 ms .. 10 s
         * @return this builder
         */
        public Builder refresh(Duration period) {
            if (period.compareTo(Duration.ofMillis(50)) < 0 || period.compareTo(Duration.ofSeconds(10)) > 0) {
                throw new IllegalArgumentException("refresh must be in 50 ms .. 10 s: " + period);
            }
            this.refresh = period;
            return this;
        }

        /**
         * Whether the view traces the kernel for its timeline (default true); false leaves tracing alone.
         *
         * @param on true to draw the timeline
         * @return this builder
         */
        public Builder timeline(boolean on) {
            this.timelineOn = on;
            return this;
        }

        /**
         * The size of the ring the tracepoint hits wait in for the view's sampler; when it is full, hits are dropped
         * and counted.
         *
         * @param hits 1 .. 16,777,216 (rounded up to a power of two)
         * @return this builder
         */
        public Builder traceCapacity(int hits) {
            if (hits < 1 || hits > 1 << 24) {
                throw new IllegalArgumentException("trace capacity must be in 1..16777216: " + hits);
            }
            this.traceCapacity = hits;
            return this;
        }

        /**
         * The report log the kernel was booted with ({@code KernelConfig.builder().reporter(log)}), whose recent
         * reports the page lists; without one the page shows the report counts only.
         *
         * @param log the kernel's reporter
         * @return this builder
         */
        public Builder reports(ReportLog log) {
            this.reports = Objects.requireNonNull(log, "log");
            return this;
        }

        /**
         * Binds the port, attaches the view to the kernel and starts serving.
         *
         * @return the view
         * @throws IllegalArgumentException when the bind address is not a loopback address and
         *                                  {@link #allowRemoteAccess()} was not called
         * @throws IllegalStateException    when the kernel is closed
         * @throws UncheckedIOException     when the port cannot be bound
         */
        public WebView start() {
            if (!bindAddress.isLoopbackAddress() && !allowRemote) {
                throw new IllegalArgumentException("refusing to serve the web view on " + bindAddress.getHostAddress()
                        + ": it is not a loopback address, and the view has no authentication; call "
                        + "allowRemoteAccess() as well to serve it there");
            }
            if (kernel.isClosed()) {
                throw new IllegalStateException("kernel is closed");
            }
            return new WebView(this);
        }
    }

    private WebView(Builder b) {
        this.kernel = b.kernel;
        this.loopbackOnly = b.bindAddress.isLoopbackAddress();
        this.refreshNs = b.refresh.toNanos();
        this.reports = b.reports;
        this.counters = new KernelCounters(kernel);
        this.clock = kernel.config().clock();
        this.baseNs = clock.nanoTime();
        this.page = loadPage();
        try {
            this.server = HttpServer.create(new InetSocketAddress(b.bindAddress, b.port), 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve the web view on " + b.bindAddress.getHostAddress() + ":"
                    + b.port + ": " + e.getMessage(), e);
        }
        this.address = server.getAddress();
        int port = address.getPort();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(HTTP_THREADS, HTTP_THREADS, 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), daemons("bottomhalf-web-http-" + port + "-"));
        pool.allowCoreThreadTimeOut(true);
        this.httpThreads = pool;
        server.setExecutor(pool);
        server.createContext("/", this::handle);

        if (b.timelineOn) {
            this.ring = new HitRing(b.traceCapacity);
            this.timeline = new Timeline(ring, counters.cpus());
            Tracing tracing = kernel.tracing();
            TraceSink before;
            Set<Tracepoint> pointsBefore;
            TraceSink mine;
            do {
                before = tracing.sink();
                pointsBefore = tracing.enabled();
                mine = before == null ? ring : forwarding(ring, before, pointsBefore);
            } while (!tracing.replace(before, mine, Set.of()));
            this.sink = mine;
            this.previousSink = before;
            this.previousPoints = pointsBefore;
        } else {
            this.ring = null;
            this.timeline = null;
            this.sink = null;
            this.previousSink = null;
            this.previousPoints = Set.of();
        }
        this.latestFrame = frame(0, null, counters.read());
        this.sampler = daemons("bottomhalf-web-sampler-" + port).newThread(this::sample);
        sampler.start();
        server.start();
    }

    /** A sink that feeds the ring and passes the hits of {@code points} on to {@code next}. */
    private static TraceSink forwarding(HitRing ring, TraceSink next, Set<Tracepoint> points) {
        long mask = 0;
        for (Tracepoint p : points) {
            mask |= p.bit();
        }
        long nextMask = mask;
        return (point, timeNs, cpu, comm, detail) -> {
            ring.hit(point, timeNs, cpu, comm, detail);
            if ((nextMask & point.bit()) != 0) {
                next.hit(point, timeNs, cpu, comm, detail);
            }
        };
    }

    private static ThreadFactory daemons(String prefix) {
        AtomicInteger n = new AtomicInteger();
        boolean numbered = prefix.endsWith("-");
        return r -> Thread.ofPlatform().name(numbered ? prefix + n.incrementAndGet() : prefix).daemon().unstarted(r);
    }

    private static byte[] loadPage() {
        try (InputStream in = WebView.class.getResourceAsStream("index.html")) {
            if (in == null) {
                throw new IllegalStateException("dev/bottomhalf/web/index.html is missing from the module");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The address the view listens on (its port, when 0 was asked for, is the one chosen). Any thread.
     *
     * @return the bound address
     */
    public InetSocketAddress address() {
        return address;
    }

    /**
     * The page's address, {@code http://127.0.0.1:PORT/} for a view on the default address. Any thread.
     *
     * @return the URI to open in a browser
     */
    public URI uri() {
        InetAddress a = address.getAddress();
        String host = a.isAnyLocalAddress() ? "127.0.0.1"
                : a instanceof java.net.Inet6Address ? "[" + a.getHostAddress() + "]" : a.getHostAddress();
        return URI.create("http://" + host + ":" + address.getPort() + "/");
    }

    /**
     * Whether {@link #close()} was called. Any thread.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return closed;
    }

    /**
     * The latest frame the page received or would receive: a JSON object (also served at {@code /frame.json}).
     * Any thread.
     *
     * @return the frame's JSON text
     */
    public String latestFrame() {
        return latestFrame;
    }

    /**
     * Stops serving: ends the event streams, stops the server and the view's threads (waiting up to 5 s for them)
     * and gives the kernel's tracing back to the sink it had before (or turns it off). Any thread; idempotent.
     * The kernel is not touched otherwise, and may be open or closed.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (sink != null) {
            kernel.tracing().replace(sink, previousSink, previousPoints);
        }
        sampler.interrupt();
        for (BlockingQueue<String> q : streams) {
            offerLatest(q, END);
        }
        server.stop(0);
        httpThreads.shutdownNow();
        try {
            sampler.join(TimeUnit.SECONDS.toMillis(5));
            httpThreads.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------------------------------
    // The sampler thread
    // ------------------------------------------------------------------------------------------

    private void sample() {
        long seq = 1;
        KernelCounters.Sample prev = counters.read();
        long nextFrame = System.nanoTime() + refreshNs;
        while (!closed) {
            long now = System.nanoTime();
            LockSupport.parkNanos(Math.min(DRAIN_PERIOD_NS, Math.max(0, nextFrame - now)));
            if (closed || Thread.currentThread().isInterrupted()) {
                return;
            }
            try {
                if (timeline != null) {
                    timeline.drain();
                }
                if (System.nanoTime() >= nextFrame) {
                    nextFrame += refreshNs;
                    if (nextFrame < System.nanoTime()) {
                        nextFrame = System.nanoTime() + refreshNs;     // fell behind: no burst of frames
                    }
                    KernelCounters.Sample cur = counters.read();
                    String frame = frame(seq++, prev, cur);
                    prev = cur;
                    latestFrame = frame;
                    for (BlockingQueue<String> q : streams) {
                        offerLatest(q, frame);
                    }
                }
            } catch (RuntimeException e) {
                // a reading that failed (the kernel closing under it): the next tick tries again
                System.getLogger(WebView.class.getName()).log(System.Logger.Level.DEBUG, "web view sample failed", e);
            }
        }
    }

    private String frame(long seq, KernelCounters.Sample prev, KernelCounters.Sample cur) {
        Frames.Meta meta = new Frames.Meta(seq, counters.cpus(), kernel.hz(), refreshNs / 1_000_000,
                (clock.nanoTime() - baseNs) / 1_000, timeline != null);
        return Frames.write(meta, prev, cur, prev == null ? null : timeline, ring, baseNs, reports);
    }

    private static void offerLatest(BlockingQueue<String> q, String frame) {
        while (!q.offer(frame)) {
            q.poll();                       // a slow reader misses a frame, never the newest
        }
    }

    // ------------------------------------------------------------------------------------------
    // HTTP (the view's http threads)
    // ------------------------------------------------------------------------------------------

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            Headers h = ex.getResponseHeaders();
            h.set("X-Content-Type-Options", "nosniff");
            h.set("Cache-Control", "no-store");
            h.set("Referrer-Policy", "no-referrer");
            if (loopbackOnly && !hostAllowed(ex.getRequestHeaders().getFirst("Host"))) {
                send(ex, 403, "text/plain; charset=utf-8", "403: this view answers only to a loopback host name\n");
                return;
            }
            String method = ex.getRequestMethod();
            if (!method.equals("GET") && !method.equals("HEAD")) {
                h.set("Allow", "GET, HEAD");
                send(ex, 405, "text/plain; charset=utf-8", "405: read-only\n");
                return;
            }
            switch (ex.getRequestURI().getPath()) {
                case "/", "/index.html" -> {
                    h.set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                            + "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
                    h.set("X-Frame-Options", "DENY");
                    send(ex, 200, "text/html; charset=utf-8", page, method);
                }
                case "/frame.json" -> send(ex, 200, "application/json; charset=utf-8",
                        latestFrame.getBytes(StandardCharsets.UTF_8), method);
                case "/events" -> {
                    if (method.equals("HEAD")) {
                        send(ex, 200, "text/event-stream; charset=utf-8", new byte[0], method);
                    } else {
                        stream(ex);
                    }
                }
                default -> send(ex, 404, "text/plain; charset=utf-8", "404: the view serves /, /events and /frame.json\n");
            }
        }
    }

    /** {@code Host}: a loopback name or address with this view's port (or no port, as some clients send). */
    private boolean hostAllowed(String host) {
        if (host == null) {
            return false;
        }
        String name = host.toLowerCase(Locale.ROOT);
        String port = ":" + address.getPort();
        if (name.endsWith(port)) {
            name = name.substring(0, name.length() - port.length());
        }
        return name.equals("localhost") || name.equals("[::1]") || name.equals("127.0.0.1");
    }

    /** An event stream: the latest frame at once, then each new one, until the client leaves or the view closes. */
    private void stream(HttpExchange ex) throws IOException {
        BlockingQueue<String> q = new ArrayBlockingQueue<>(4);
        if (closed) {
            send(ex, 503, "text/plain; charset=utf-8", "503: the view is closing\n");
            return;
        }
        synchronized (streams) {
            if (streams.size() >= MAX_STREAMS) {
                send(ex, 503, "text/plain; charset=utf-8", "503: too many event streams (at most " + MAX_STREAMS + ")\n");
                return;
            }
            streams.add(q);
        }
        try {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            out.write(("retry: 1000\n\ndata: " + latestFrame + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (!closed) {
                String frame;
                try {
                    frame = q.poll(KEEPALIVE_NS, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    return;                         // the view is closing
                }
                if (frame == END) {
                    return;
                }
                out.write((frame == null ? ": keep-alive\n\n" : "data: " + frame + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        } catch (IOException gone) {
            // the client left
        } finally {
            streams.remove(q);
        }
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        send(ex, status, type, body.getBytes(StandardCharsets.UTF_8), ex.getRequestMethod());
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body, String method) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        if (method.equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            ex.getResponseBody().write(body);
        }
    }

    @Override
    public String toString() {
        return "WebView[" + uri() + (closed ? ", closed" : "") + "]";
    }
}
