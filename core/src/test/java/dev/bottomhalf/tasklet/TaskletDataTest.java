package dev.bottomhalf.tasklet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import dev.bottomhalf.Kernel;
import dev.bottomhalf.testing.KernelExtension;

/** The typed-data form of {@code tasklet_init(t, func, data)}: an object instead of a cast pointer. */
class TaskletDataTest {
    @RegisterExtension
    final KernelExtension kernels = KernelExtension.stepped().cpus(1);

    record Port(String name) { }

    @Test
    void initData_handsTheObjectToEveryRun_andDataReadsItBack() {
        Kernel k = kernels.kernel();
        k.bindCurrentThread(0);
        List<String> log = new ArrayList<>();
        Port port = new Port("ttyS0");
        Tasklet t = Tasklet.initData("rx", (Port p) -> log.add(p.name()), port);
        k.tasklets().schedule(t);
        k.stepper().runUntilIdle();
        k.tasklets().schedule(t);
        k.stepper().runUntilIdle();
        assertEquals(List.of("ttyS0", "ttyS0"), log);
        assertEquals(port, t.data(Port.class));
        assertThrows(ClassCastException.class, () -> t.data(String.class));
    }

    @Test
    void facadeTaskletInit_withAnObject_handsItToTheRun() {
        Kernel k = kernels.kernel();
        k.bindCurrentThread(0);
        List<String> log = new ArrayList<>();
        Tasklet t = dev.bottomhalf.linux.Linux.DECLARE_TASKLET_OLD("tx", d -> log.add("old " + d));
        dev.bottomhalf.linux.Linux.tasklet_init(t, (Port p) -> log.add(p.name()), new Port("ttyS1"));
        dev.bottomhalf.linux.Linux.tasklet_schedule(t);
        k.stepper().runUntilIdle();
        assertEquals(List.of("ttyS1"), log);
        assertEquals(new Port("ttyS1"), t.data(Port.class));
    }

    @Test
    void reinitialising_inAnotherForm_dropsTheObject() {
        Tasklet t = Tasklet.initData("rx", (String s) -> { }, "x");
        t.initFunc("rx", d -> { }, 42);
        assertThrows(IllegalStateException.class, () -> t.data(String.class));
        assertEquals(42, t.data());
        t.initWithData("rx", (Integer i) -> { }, 7);
        assertEquals(7, t.data(Integer.class));
    }
}
