package dev.bottomhalf.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A temporary file that is deleted when it is closed, or by a shutdown hook when the JVM ends first
 * (Ctrl-C, SIGTERM, {@code System.exit} from another thread). Created and closed by one thread; the file
 * itself may be written from any thread while it is open.
 *
 * <p>Implementation notes: the shutdown hook is registered after the file exists, so the hook never misses
 * it; when the JVM is already shutting down the registration fails and the file is deleted at once. After
 * the hook or {@link #close()} deleted the file, a writer that appends without {@code CREATE} fails instead
 * of bringing the file back.
 */
final class ScratchFile implements AutoCloseable {
    private final Path path;
    private final Thread deleteAtExit;

    private ScratchFile(Path path, Thread deleteAtExit) {
        this.path = path;
        this.deleteAtExit = deleteAtExit;
    }

    /** Creates an empty file named {@code prefix<random>suffix} in {@code dir}. */
    static ScratchFile create(Path dir, String prefix, String suffix) {
        Path path;
        try {
            path = Files.createTempFile(dir, prefix, suffix);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary file in " + dir, e);
        }
        Thread hook = Thread.ofPlatform().name("bottomhalf-scratch-cleanup").unstarted(() -> deleteQuietly(path));
        try {
            Runtime.getRuntime().addShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            deleteQuietly(path);
            throw shuttingDown;
        }
        return new ScratchFile(path, hook);
    }

    Path path() {
        return path;
    }

    /** Deletes the file and unregisters the shutdown hook; a second call does nothing. */
    @Override
    public void close() {
        deleteQuietly(path);
        try {
            Runtime.getRuntime().removeShutdownHook(deleteAtExit);
        } catch (IllegalStateException shuttingDown) {
            // the JVM is exiting: the hook runs (or ran) and deletes the file as well
        }
    }

    private static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            System.err.println("bottomhalf: cannot delete " + path + ": " + e.getMessage());
        }
    }
}
