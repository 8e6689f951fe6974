package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

/**
 * The module's public surface as its descriptor states it: no package under {@code dev.bottomhalf.internal} is
 * exported or opened, a qualified export names only a module of this project, and the exported packages are
 * exactly the listed ones, so that exporting a new package is a conscious change to this test. Reads the
 * descriptor of the built module (the tests run on the class path, where the module is unnamed, so it is
 * found with a {@link ModuleFinder} on the directory or jar that holds {@link Kernel}).
 */
class ModuleExportsTest {
    /** The project's modules: the only ones a qualified export may name. */
    private static final Set<String> PROJECT_MODULES = Set.of("dev.bottomhalf.blockhound");

    private static final List<String> EXPORTED = List.of(
            "dev.bottomhalf",
            "dev.bottomhalf.irq",
            "dev.bottomhalf.linux",
            "dev.bottomhalf.locking",
            "dev.bottomhalf.net",
            "dev.bottomhalf.proc",
            "dev.bottomhalf.runtime",
            "dev.bottomhalf.sched",
            "dev.bottomhalf.softirq",
            "dev.bottomhalf.tasklet",
            "dev.bottomhalf.time",
            "dev.bottomhalf.trace",
            "dev.bottomhalf.workqueue");

    static ModuleDescriptor descriptor() throws URISyntaxException {
        Module m = Kernel.class.getModule();
        if (m.isNamed()) {
            return m.getDescriptor();
        }
        Path where = Path.of(Kernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return ModuleFinder.of(where).find("dev.bottomhalf")
                .orElseThrow(() -> new AssertionError("no module dev.bottomhalf in " + where))
                .descriptor();
    }

    @Test
    void internalPackages_areNeitherExportedNorOpened() throws Exception {
        ModuleDescriptor d = descriptor();
        assertTrue(d.packages().stream().anyMatch(p -> p.startsWith("dev.bottomhalf.internal.")),
                "the module holds internal packages: " + d.packages());
        for (ModuleDescriptor.Exports e : d.exports()) {
            assertTrue(!e.source().startsWith("dev.bottomhalf.internal"), "exports " + e);
        }
        for (ModuleDescriptor.Opens o : d.opens()) {
            assertTrue(!o.source().startsWith("dev.bottomhalf.internal"), "opens " + o);
        }
        assertTrue(!d.isOpen(), "an open module opens its internal packages");
    }

    @Test
    void qualifiedExports_nameOnlyTheProjectsModules() throws Exception {
        for (ModuleDescriptor.Exports e : descriptor().exports()) {
            assertTrue(PROJECT_MODULES.containsAll(e.targets()), "exports " + e + " to a module outside the project");
        }
    }

    @Test
    void exportedPackages_areExactlyTheListedOnes() throws Exception {
        Set<String> exported = new TreeSet<>();
        for (ModuleDescriptor.Exports e : descriptor().exports()) {
            if (!e.isQualified()) {
                exported.add(e.source());
            }
        }
        assertEquals(EXPORTED, List.copyOf(exported), "a new exported package is a change to the public API:"
                + " list it here and in docs/architecture.md");
    }
}
