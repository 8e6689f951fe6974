/**
 * bottomhalf-web: a live view of a running kernel in the browser. Users start at {@code dev.bottomhalf.web.WebView}.
 *
 * <p>It serves one self-contained page and a stream of server-sent events with the JDK's own HTTP server
 * ({@code jdk.httpserver}); it needs nothing but {@code dev.bottomhalf}.
 */
module dev.bottomhalf.web {
    requires transitive dev.bottomhalf;
    requires jdk.httpserver;

    exports dev.bottomhalf.web;
}
