package dev.bottomhalf.examples.kthreads;

import static dev.bottomhalf.linux.Linux.msleep;
import static dev.bottomhalf.linux.Linux.spin_lock;
import static dev.bottomhalf.linux.Linux.spin_unlock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.examples.ModuleLoader;
import dev.bottomhalf.runtime.KernelEvent;
import dev.bottomhalf.testing.KernelExtension;

class KthreadPipelineModuleTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(2);

    /** The module's log in stepped mode: jiffies since {@code origin}, the reporting thread, the line. */
    private List<String> log(long origin) {
        return kernels.reports().events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO)
                .map(e -> (e.jiffies() - origin) + " " + e.thread() + " " + e.message()).toList();
    }

    /** The module's log in threaded mode: the reporting thread and the line, in the order they were printed. */
    private List<String> log() {
        return kernels.reports().events().stream().filter(e -> e.kind() == KernelEvent.Kind.INFO)
                .map(e -> e.thread() + " " + e.message()).toList();
    }

    @Test
    void pipeline_handsOverEveryItem_thenKthreadStopReturnsTheCounts_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        KthreadPipelineModule pipe = new KthreadPipelineModule();
        String me = Thread.currentThread().getName();
        long origin = kernel.jiffies();
        assertEquals(0, loader.insmod(pipe));
        pipe.pipe_wait_finished();
        assertEquals("produced 5, consumed 5, sum 55", pipe.pipe_stats());
        loader.rmmod(pipe);
        assertEquals(List.of(
                "0 " + me + " pipe: starting, 5 items every 10 ms",
                "0 pipe-producer pipe: pipe-producer: item 1 = 1",
                "0 pipe-consumer pipe: pipe-consumer: took 1, sum 1",
                "11 pipe-producer pipe: pipe-producer: item 2 = 4",
                "11 pipe-consumer pipe: pipe-consumer: took 4, sum 5",
                "22 pipe-producer pipe: pipe-producer: item 3 = 9",
                "22 pipe-consumer pipe: pipe-consumer: took 9, sum 14",
                "33 pipe-producer pipe: pipe-producer: item 4 = 16",
                "33 pipe-consumer pipe: pipe-consumer: took 16, sum 30",
                "44 pipe-producer pipe: pipe-producer: item 5 = 25",
                "44 pipe-consumer pipe: pipe-consumer: took 25, sum 55",
                "44 pipe-producer pipe: pipe-producer: all 5 items handed over",
                "44 " + me + " pipe: pipe-producer exited with 5",
                "44 pipe-consumer pipe: pipe-consumer: stopping after 5 items",
                "44 " + me + " pipe: pipe-consumer exited with 5"), log(origin));
    }

    @Test
    void rmmodInTheMiddle_wakesTheProducerOutOfItsPause_andBothReturnWhatTheyHandled_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        KthreadPipelineModule pipe = new KthreadPipelineModule();
        String me = Thread.currentThread().getName();
        long origin = kernel.jiffies();
        loader.insmod(pipe);
        msleep(25);                                  // items at 0, 11, 22; the producer pauses until 33
        loader.rmmod(pipe);
        assertEquals(List.of(
                "0 " + me + " pipe: starting, 5 items every 10 ms",
                "0 pipe-producer pipe: pipe-producer: item 1 = 1",
                "0 pipe-consumer pipe: pipe-consumer: took 1, sum 1",
                "11 pipe-producer pipe: pipe-producer: item 2 = 4",
                "11 pipe-consumer pipe: pipe-consumer: took 4, sum 5",
                "22 pipe-producer pipe: pipe-producer: item 3 = 9",
                "22 pipe-consumer pipe: pipe-consumer: took 9, sum 14",
                "26 " + me + " pipe: pipe-producer exited with 3",
                "26 pipe-consumer pipe: pipe-consumer: stopping after 3 items",
                "26 " + me + " pipe: pipe-consumer exited with 3"), log(origin));
    }

    @Test
    void rmmodRightAfterInsmod_theProducerNeverRuns_kthreadStopReturnsEintr_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        KthreadPipelineModule pipe = new KthreadPipelineModule();
        String me = Thread.currentThread().getName();
        long origin = kernel.jiffies();
        loader.insmod(pipe);
        // Nothing has stepped the kernel yet: neither kthread has run. kthread_stop(producer) sets
        // KTHREAD_SHOULD_STOP and sleeps until the producer exits; while the task sleeps the stepping thread
        // runs the runnable kthreads in the order they were created: the consumer starts its function and
        // sleeps on filled, the producer finds the stop flag before its function and exits with -EINTR.
        loader.rmmod(pipe);
        assertEquals(List.of(
                "0 " + me + " pipe: starting, 5 items every 10 ms",
                "0 " + me + " pipe: pipe-producer exited with -4",
                "0 pipe-consumer pipe: pipe-consumer: stopping after 0 items",
                "0 " + me + " pipe: pipe-consumer exited with 0"), log(origin));
    }

    @Test
    void pipeline_handsOverEveryItem_thenKthreadStopReturnsTheCounts_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        KthreadPipelineModule pipe = new KthreadPipelineModule();
        String me = Thread.currentThread().getName();
        loader.insmod(pipe);
        pipe.pipe_wait_finished();
        assertEquals("produced 5, consumed 5, sum 55", pipe.pipe_stats());
        loader.rmmod(pipe);
        assertEquals(List.of(
                me + " pipe: starting, 5 items every 10 ms",
                "pipe-producer pipe: pipe-producer: item 1 = 1",
                "pipe-consumer pipe: pipe-consumer: took 1, sum 1",
                "pipe-producer pipe: pipe-producer: item 2 = 4",
                "pipe-consumer pipe: pipe-consumer: took 4, sum 5",
                "pipe-producer pipe: pipe-producer: item 3 = 9",
                "pipe-consumer pipe: pipe-consumer: took 9, sum 14",
                "pipe-producer pipe: pipe-producer: item 4 = 16",
                "pipe-consumer pipe: pipe-consumer: took 16, sum 30",
                "pipe-producer pipe: pipe-producer: item 5 = 25",
                "pipe-consumer pipe: pipe-consumer: took 25, sum 55",
                "pipe-producer pipe: pipe-producer: all 5 items handed over",
                me + " pipe: pipe-producer exited with 5",
                "pipe-consumer pipe: pipe-consumer: stopping after 5 items",
                me + " pipe: pipe-consumer exited with 5"), log());
    }

    @Test
    void rmmodWhileTheProducerPauses_stopsBothStagesCleanly_threaded() {
        Kernel kernel = kernels.bootThreaded(b -> { });
        ModuleLoader loader = new ModuleLoader(kernel);
        KthreadPipelineModule pipe = new KthreadPipelineModule();
        pipe.period_ms = 60_000;                     // the producer pauses a minute after item 1
        loader.insmod(pipe);
        long giveUp = System.nanoTime() + 10_000_000_000L; // only keeps a broken module from hanging the build
        while (!pipe.pipe_stats().startsWith("produced 1,") && System.nanoTime() - giveUp < 0) {
            Thread.onSpinWait();
        }
        loader.rmmod(pipe);                          // kthread_stop ends the pause at once
        List<String> log = log();
        assertEquals(List.of(
                "pipe-producer pipe: pipe-producer: item 1 = 1",
                "pipe-consumer pipe: pipe-consumer: took 1, sum 1"), log.subList(1, 3));
        assertTrue(log.get(3).endsWith(" pipe: pipe-producer exited with 1"), log.toString());
        assertEquals("pipe-consumer pipe: pipe-consumer: stopping after 1 items", log.get(4));
        assertTrue(log.get(5).endsWith(" pipe: pipe-consumer exited with 1"), log.toString());
        assertEquals(6, log.size(), log.toString());
    }

    /** A consumer that also reads the producer's count under its own lock: the opposite of the documented order. */
    static final class ConsumerTakingBothLocks extends KthreadPipelineModule {
        int backlog;

        @Override
        long account(int item) {
            spin_lock(cons_lock);
            consumed++;
            sum += item;
            spin_lock(prod_lock);                    // WRONG: cons_lock -> prod_lock, pipe_stats has the reverse
            backlog = produced - consumed;
            spin_unlock(prod_lock);
            long s = sum;
            spin_unlock(cons_lock);
            return s;
        }
    }

    @Test
    void consumerNestingTheLocksInTheWrongOrder_isReportedByLockdepAsACircularDependency_stepped() {
        Kernel kernel = kernels.kernel();
        ModuleLoader loader = new ModuleLoader(kernel);
        ConsumerTakingBothLocks pipe = new ConsumerTakingBothLocks();
        pipe.nr_items = 2;
        loader.insmod(pipe);
        assertEquals("produced 0, consumed 0, sum 0", pipe.pipe_stats()); // prod_lock -> cons_lock, recorded
        pipe.pipe_wait_finished();                   // the consumer's first item: cons_lock -> prod_lock
        loader.rmmod(pipe);
        List<KernelEvent> found = kernels.reports().matching("WARNING: possible circular locking dependency detected");
        assertEquals(1, found.size(), kernels.reports().toString());
        KernelEvent report = found.get(0);
        assertEquals("pipe-consumer", report.thread(), "no deadlock had to happen: the first wrong nesting is enough");
        String text = report.message();
        assertTrue(text.contains("pipe-consumer/"), text);
        assertTrue(text.contains(" is trying to acquire lock:\n"), text);
        assertTrue(text.contains(" (&pipe->prod_lock){+.+.}-{2:2}, at: "
                + "dev.bottomhalf.examples.kthreads.KthreadPipelineModuleTest$ConsumerTakingBothLocks.account("), text);
        assertTrue(text.contains("but task is already holding lock:\n"), text);
        assertTrue(text.contains(" (&pipe->cons_lock){+.+.}-{2:2}, at: "), text);
        assertTrue(text.contains("dev.bottomhalf.examples.kthreads.KthreadPipelineModule.pipe_stats("), text);
        assertTrue(text.contains("       CPU0                    CPU1\n"), text);
    }
}
