package dev.bottomhalf.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.util.concurrent.TimeUnit;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.web.ReportLog;
import dev.bottomhalf.web.WebView;

/**
 * {@code bottomhalf demo --web}: the live view of the demo's kernel, and when {@code --seconds} was not given, the
 * Enter key that ends the traffic. Made and closed by the demo's thread; {@link #stopped()} is read by the demo's
 * device thread too.
 *
 * <p>Implementation notes: a daemon thread ({@code demo-enter}) reads standard input and sets the volatile
 * {@code stopped} flag at the first line; at the end of input (standard input closed or not a terminal) it sets
 * nothing, so the demo runs until Ctrl-C.
 */
final class WebDemo implements AutoCloseable {
    /** With {@code --web} and no {@code --seconds}, a burst arrives this often, so the view shows ksoftirqd taking over. */
    static final long BURST_PERIOD_NS = TimeUnit.SECONDS.toNanos(10);

    private final DemoOptions.Web options;
    private final Kernel kernel;
    private final ReportLog reports;
    private final PrintStream out;
    private final InputStream in;
    private WebView view;
    private volatile boolean stopped;

    /**
     * The view of {@code kernel} that {@link #serve()} starts; nothing happens when {@code options} is null.
     *
     * @param options {@code --web}'s settings, or null
     * @param kernel  the demo's kernel
     * @param reports the kernel's reporter (a report log), or null
     * @param out     where the URL is printed
     * @param in      where Enter is read
     */
    WebDemo(DemoOptions.Web options, Kernel kernel, ReportLog reports, PrintStream out, InputStream in) {
        this.options = options;
        this.kernel = kernel;
        this.reports = reports;
        this.out = out;
        this.in = in;
    }

    /** Starts the view (after the demo has set its own trace sinks, which the view forwards to) and prints its URL. */
    void serve() {
        if (options == null) {
            return;
        }
        WebView.Builder b = WebView.builder(kernel).port(options.port());
        if (reports != null) {
            b.reports(reports);
        }
        try {
            view = b.start();
        } catch (UncheckedIOException e) {
            throw new UncheckedIOException("--web: " + e.getMessage(), e.getCause());
        }
        out.printf("web view: %s (127.0.0.1 only)%s%n", view.uri(), options.untilEnter()
                ? "; the card receives traffic until you press Enter (Ctrl-C stops at once)" : "");
        if (options.untilEnter()) {
            Thread.ofPlatform().name("demo-enter").daemon().start(this::awaitEnter);
        }
    }

    private void awaitEnter() {
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(in, Charset.defaultCharset()));
            if (r.readLine() != null) {
                stopped = true;
            }
        } catch (IOException e) {
            // standard input is unreadable: Ctrl-C ends the demo
        }
    }

    /** True when the traffic runs until Enter rather than for {@code --seconds}. */
    boolean untilEnter() {
        return options != null && options.untilEnter();
    }

    /** True once Enter was pressed. Any thread. */
    boolean stopped() {
        return stopped;
    }

    @Override
    public void close() {
        if (view != null) {
            view.close();
        }
    }
}
