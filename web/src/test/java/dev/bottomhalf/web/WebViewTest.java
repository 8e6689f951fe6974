package dev.bottomhalf.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.HttpURLConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.irq.IrqReturn;
import dev.bottomhalf.softirq.SoftirqVector;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.runtime.Tracepoint;
import dev.bottomhalf.testing.KernelExtension;
import dev.bottomhalf.trace.TraceBuffer;

class WebViewTest {
    private final ReportLog log = ReportLog.forwardingTo(Reporter.silent());

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).with(b -> b.reporter(log));

    @Test
    void start_bindsTheLoopbackAddressOnly_byDefault() {
        try (WebView view = WebView.start(kernels.kernel(), 0)) {
            assertTrue(view.address().getAddress().isLoopbackAddress(), view.address().toString());
            assertTrue(view.address().getPort() > 0);
            assertEquals("http://127.0.0.1:" + view.address().getPort() + "/", view.uri().toString());
        }
    }

    @Test
    void start_refusesAnAddressOtherHostsCanReach_unlessRemoteAccessIsAllowedExplicitly() throws IOException {
        InetAddress any = InetAddress.getByName("0.0.0.0");
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> WebView.builder(kernels.kernel()).bindAddress(any).start());
        assertTrue(refused.getMessage().startsWith("refusing to serve the web view on 0.0.0.0: it is not a loopback"
                + " address"), refused.getMessage());
        assertNull(kernels.kernel().tracing().sink(), "a refused view attached nothing");
        try (WebView view = WebView.builder(kernels.kernel()).bindAddress(any).allowRemoteAccess().start()) {
            assertTrue(view.address().getAddress().isAnyLocalAddress());
            assertEquals(200, rawGet(view, "/frame.json", "example.com").status());
        }
    }

    @Test
    void aLoopbackView_answersOnlyLoopbackHostNames_andOnlyReads() throws IOException {
        try (WebView view = WebView.start(kernels.kernel(), 0)) {
            int port = view.address().getPort();
            assertEquals(200, rawGet(view, "/", "127.0.0.1:" + port).status());
            assertEquals(200, rawGet(view, "/", "localhost:" + port).status());
            assertEquals(403, rawGet(view, "/", "attacker.example:" + port).status(), "a rebound DNS name is refused");
            assertEquals(403, rawGet(view, "/frame.json", "127.0.0.1.attacker.example").status());
            Raw post = raw(view, "POST /frame.json HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nContent-Length: 0\r\n"
                    + "Connection: close\r\n\r\n");
            assertEquals(405, post.status());
            assertEquals(404, rawGet(view, "/etc/passwd", "127.0.0.1:" + port).status());
            Raw page = rawGet(view, "/", "127.0.0.1:" + port);
            assertTrue(page.head().toLowerCase(java.util.Locale.ROOT).contains("content-security-policy: default-src 'none'"),
                    page.head());
            assertTrue(page.body().contains("<canvas id=\"timeline\""), "the page is served");
            assertFalse(page.body().contains("<script src"), "no script is loaded from anywhere");
        }
    }

    @Test
    void theEventStream_sendsFramesWhoseCountersChange_andTheTimelinesSegments() throws Exception {
        Kernel kernel = kernels.kernel();
        try (Traffic traffic = new Traffic(kernel);
             WebView view = WebView.builder(kernel).reports(log).refresh(Duration.ofMillis(100)).start()) {
            HttpURLConnection c = open(view.uri().resolve("events"));
            assertEquals(200, c.getResponseCode());
            assertEquals("text/event-stream; charset=utf-8", c.getContentType());
            List<String> frames = dataLines(c, 6);
            long first = irq24OnCpu0(frames.get(1));
            long last = irq24OnCpu0(frames.getLast());
            assertTrue(last > first, "IRQ 24 counted on: " + first + " then " + last);
            assertTrue(frames.getLast().contains("\"label\":\"NET_RX\""), frames.getLast());
            assertTrue(frames.getLast().contains("\"name\":\"web_test\""), "the workqueue monitor lists web_test");
            assertTrue(frames.stream().skip(1).anyMatch(f -> f.contains("\"softirq NET_RX\"")),
                    "a segment of NET_RX runs");
            assertTrue(frames.stream().skip(1).anyMatch(f -> f.matches(".*\\[0,0,0,\\d+,\\d+,\\d+,\"irq 24: web-eth0-rx-0\"\\].*")),
                    "IRQ 24's top half on CPU 0's hardirq lane");
        }
    }

    @Test
    void closingTheKernel_whileAViewStreamsIt_doesNotWaitForTheView_andTheViewShowsItClosed() throws Exception {
        Kernel kernel = kernels.kernel();
        WebView view;
        try (Traffic traffic = new Traffic(kernel)) {
            view = WebView.builder(kernel).reports(log).refresh(Duration.ofMillis(100)).start();
            HttpURLConnection c = open(view.uri().resolve("events"));
            assertEquals(2, dataLines(c, 2).size(), "a stream is open");
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> kernel.close(), "close() must not wait for the view");
            c.disconnect();
        }
        try (view) {
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                while (!view.latestFrame().contains("\"closed\":true")) {
                    Thread.onSpinWait();
                }
            });
            assertEquals(200, open(view.uri().resolve("frame.json")).getResponseCode(), "it still serves the last counters");
        }
        assertTrue(view.isClosed());
        assertEquals(List.of(), viewThreads(view), "close() ended the view's threads");
    }

    @Test
    void theViewsThreads_areItsOwn_notTheKernelsRuntimeThreads() throws IOException, InterruptedException {
        Kernel kernel = kernels.kernel();
        try (WebView view = WebView.start(kernel, 0)) {
            assertEquals(200, open(view.uri()).getResponseCode());
            List<Thread> mine = viewThreads(view);
            assertTrue(mine.stream().anyMatch(t -> t.getName().startsWith("bottomhalf-web-sampler-")), mine.toString());
            assertTrue(mine.stream().anyMatch(t -> t.getName().startsWith("bottomhalf-web-http-")), mine.toString());
            assertTrue(mine.stream().allMatch(Thread::isDaemon));
            List<Thread> runtime = KernelExtension.runtimeThreads(kernel);
            for (Thread t : mine) {
                assertFalse(runtime.contains(t), t + " is a runtime thread of the kernel");
            }
        }
    }

    @Test
    void theView_forwardsToTheSinkBeforeIt_andGivesTracingBackWhenItCloses() {
        Kernel kernel = kernels.kernel();
        TraceBuffer before = new TraceBuffer(100_000);
        kernel.tracing().enable(before, Set.of(Tracepoint.SOFTIRQ_ENTRY));
        try (WebView view = WebView.start(kernel, 0)) {
            assertNotEquals(before, kernel.tracing().sink());
            assertEquals(Set.of(Tracepoint.values()), kernel.tracing().enabled());
            kernel.irqs().request(26, (irq, dev) -> {
                kernel.softirqs().raise(SoftirqVector.HI);
                return IrqReturn.HANDLED;
            }, Set.of(), "web-fwd", "d");
            kernel.softirqs().open(SoftirqVector.HI, () -> { });
            kernel.irqs().assertIrq(26);
            assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
                while (before.entries().isEmpty()) {
                    Thread.onSpinWait();
                }
            });
            assertTrue(before.entries().stream().allMatch(e -> e.point() == Tracepoint.SOFTIRQ_ENTRY),
                    "only the tracepoints the sink had on: " + before.render());
        }
        assertEquals(before, kernel.tracing().sink());
        assertEquals(Set.of(Tracepoint.SOFTIRQ_ENTRY), kernel.tracing().enabled());
    }

    @Test
    void close_turnsTracingOff_whenNoSinkWasThereBefore() {
        Kernel kernel = kernels.kernel();
        WebView view = WebView.start(kernel, 0);
        assertTrue(kernel.tracing().on(Tracepoint.IRQ_HANDLER_ENTRY));
        view.close();
        view.close();
        assertNull(kernel.tracing().sink());
        try (WebView untraced = WebView.builder(kernel).timeline(false).start()) {
            assertNull(kernel.tracing().sink(), "timeline(false) leaves tracing alone");
            assertTrue(untraced.latestFrame().contains("\"timeline\":{\"on\":false"), untraced.latestFrame());
        }
    }

    private static List<Thread> viewThreads(WebView view) throws InterruptedException {
        String port = "-" + view.address().getPort();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        List<Thread> found;
        do {
            found = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.isAlive() && t.getName().startsWith("bottomhalf-web-")
                            && (t.getName().endsWith(port) || t.getName().contains(port + "-")))
                    .toList();
            if (!view.isClosed() || found.isEmpty()) {
                return found;
            }
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
        return found;
    }

    private static HttpURLConnection open(URI uri) throws IOException {
        HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
        c.setReadTimeout(10_000);
        return c;
    }

    /** The first {@code n} {@code data:} lines of an event stream, without the prefix. */
    private static List<String> dataLines(HttpURLConnection c, int n) throws IOException {
        List<String> frames = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(c.getInputStream(), StandardCharsets.UTF_8));
        while (frames.size() < n) {
            String l = in.readLine();
            if (l == null) {
                break;
            }
            if (l.startsWith("data: ")) {
                frames.add(l.substring(6));
            }
        }
        return frames;
    }

    private static final Pattern IRQ24 = Pattern.compile("\\{\"label\":\"24\",\"desc\":\"[^\"]*\",\"counts\":\\[(\\d+),");

    private static long irq24OnCpu0(String frame) {
        Matcher m = IRQ24.matcher(frame);
        assertTrue(m.find(), frame);
        return Long.parseLong(m.group(1));
    }

    record Raw(int status, String head, String body) {
    }

    private static Raw rawGet(WebView view, String path, String host) throws IOException {
        return raw(view, "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    }

    /** One request over a plain socket: java.net.http does not let a test set the Host header. */
    private static Raw raw(WebView view, String request) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), view.address().getPort())) {
            s.setSoTimeout(5_000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            String status = in.readLine();
            StringBuilder head = new StringBuilder();
            for (String l = in.readLine(); l != null && !l.isEmpty(); l = in.readLine()) {
                head.append(l).append('\n');
            }
            StringBuilder body = new StringBuilder();
            char[] buf = new char[8192];
            for (int n; (n = in.read(buf)) > 0; ) {
                body.append(buf, 0, n);
            }
            return new Raw(Integer.parseInt(status.split(" ")[1]), head.toString(), body.toString());
        }
    }
}
