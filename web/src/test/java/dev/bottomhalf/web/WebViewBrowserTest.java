package dev.bottomhalf.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.support.ui.WebDriverWait;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.runtime.Reporter;
import dev.bottomhalf.testing.KernelExtension;

/**
 * The live view in a real browser: headless Chromium loads the page of a view attached to a threaded kernel with
 * interrupt, softirq and workqueue traffic. Skipped when Chromium is not installed ({@link Chromium}).
 */
class WebViewBrowserTest {
    static final String WARN_TEXT = "web view test: a WARN for the page to list";

    private final ReportLog log = ReportLog.forwardingTo(Reporter.silent());

    @RegisterExtension
    final KernelExtension kernels = KernelExtension.threaded().cpus(2).with(b -> b.reporter(log));

    @BeforeEach
    void needsChromium() {
        Chromium.assumeInstalled();
    }

    @Test
    void thePage_fillsTheTables_whoseNumbersChange_drawsTheTimeline_andListsAWarn() throws Exception {
        Kernel kernel = kernels.kernel();
        kernels.reports().expect(WARN_TEXT);
        try (Traffic traffic = new Traffic(kernel);
             WebView view = WebView.builder(kernel).reports(log).start();
             Chromium chromium = new Chromium(1400, 1040)) {
            JavascriptExecutor js = chromium.driver;
            WebDriverWait wait = new WebDriverWait(chromium.driver, Duration.ofSeconds(15), Duration.ofMillis(50));
            chromium.driver.get(view.uri().toString());
            assertEquals("bottomhalf — live view", chromium.driver.getTitle());
            wait.until(d -> frames(js) >= 2);

            String interrupts = text(chromium, "#interrupts tbody");
            String softirqs = text(chromium, "#softirqs tbody");
            assertTrue(interrupts.contains("web-eth0-rx-0") && interrupts.contains("LOC"), interrupts);
            assertTrue(softirqs.contains("NET_RX") && softirqs.contains("TASKLET"), softirqs);
            assertTrue(text(chromium, "#workqueues tbody").contains("web_test"), text(chromium, "#workqueues tbody"));
            assertTrue(text(chromium, "#ksoftirqd tbody").contains("ksoftirqd/1"));
            long seen = frames(js);
            wait.until(d -> frames(js) >= seen + 2);
            assertNotEquals(interrupts, text(chromium, "#interrupts tbody"), "the interrupt rates and totals move on");
            assertNotEquals(softirqs, text(chromium, "#softirqs tbody"), "the softirq rates and totals move on");

            kernel.reports().warning(WARN_TEXT);
            wait.until(d -> text(chromium, "#reports").contains(WARN_TEXT));
            assertTrue(text(chromium, "#reports").startsWith("WARNING"), text(chromium, "#reports"));
            assertTrue(text(chromium, "#reportCounts").contains("WARNING 1"), text(chromium, "#reportCounts"));

            wait.until(d -> ((Number) js.executeScript("return window.bhView.spansDrawn")).longValue() > 0);
            long painted = ((Number) js.executeScript(PAINTED_PIXELS)).longValue();
            assertTrue(painted > 100, "pixels of the lanes' colours on the canvas: " + painted);

            wait.until(d -> frames(js) >= seen + 9);   // five seconds of timeline for the picture
            // The picture docs/images/web-view.png is this screenshot: written there only when asked
            // (-Dbottomhalf.screenshots=true), so a test run leaves the working tree as it was.
            Path png = Boolean.getBoolean("bottomhalf.screenshots")
                    ? Path.of(System.getProperty("bottomhalf.root", ".."), "docs", "images", "web-view.png")
                    : Path.of("target", "web-view.png");
            Files.createDirectories(png.getParent());
            Files.write(png, chromium.driver.getScreenshotAs(OutputType.BYTES));
            assertTrue(Files.size(png) > 10_000, png + " is " + Files.size(png) + " bytes");
        }
    }

    /** Counts the canvas pixels painted in one of the six lane colours (the lanes' background is near black). */
    static final String PAINTED_PIXELS = """
            const c = document.getElementById('timeline');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
              if (d[i] + d[i + 1] + d[i + 2] > 200 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
            }
            return n;
            """;

    private static long frames(JavascriptExecutor js) {
        return ((Number) js.executeScript("return window.bhView ? window.bhView.frames : 0")).longValue();
    }

    private static String text(Chromium chromium, String css) {
        return chromium.driver.findElement(By.cssSelector(css)).getText();
    }
}
