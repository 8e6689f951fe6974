package dev.bottomhalf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReader;
import java.lang.module.ModuleReference;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

import dev.bottomhalf.internal.wiring.Subsystems;
import dev.bottomhalf.proc.Proc;
import dev.bottomhalf.sched.Kthreads;
import dev.bottomhalf.softirq.Softirqs;

/**
 * The module's public surface as its descriptor states it: no package under {@code dev.bottomhalf.internal} is
 * exported or opened, a qualified export names only a module of this project, and the exported packages are
 * exactly the listed ones, so that exporting a new package is a conscious change to this test. Reads the
 * descriptor of the built module (the tests run on the class path, where the module is unnamed, so it is
 * found with a {@link ModuleFinder} on the directory or jar that holds {@link Kernel}).
 *
 * <p>And the public surface of the exported packages, read from the built classes: no public or protected
 * constructor, method or field of a class a user can name (nor its supertypes) mentions a type of a package the
 * module does not export; no such method is named for the close, a benchmark or a test ({@code ...ForClose},
 * {@code ...ForBenchmark}, {@code ...ForTest}); the objects a {@link Kernel} hands out have no public
 * constructor; and what {@code dev.bottomhalf.internal.wiring.Subsystems} lends the wiring is not public as well.
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

    /** The method-name endings of the runtime's own wiring, which never belong on the public surface. */
    private static final List<String> WIRING_SUFFIXES = List.of("ForClose", "ForBenchmark", "ForTest");

    /**
     * No public or protected constructor, method (own or inherited from the module's classes) or field of a class
     * a user can name, nor the class's supertypes and type parameters, mentions a type of an unexported package, at
     * any depth of its generic signature ({@code List<? extends Machine>}, {@code WaitQueue[]}): the compiler's
     * {@code [exports]} lint, which {@code @SuppressWarnings("exports")} silences, checked without exception.
     */
    @Test
    void exportedSignatures_nameNoTypeOfAnUnexportedPackage() throws Exception {
        ModuleDescriptor d = descriptor();
        Set<String> exported = exportedPackages(d);
        List<String> leaks = new ArrayList<>();
        for (Class<?> c : accessibleExportedClasses(d, exported)) {
            List<Type> classSignature = new ArrayList<>();
            if (c.getGenericSuperclass() != null) {
                classSignature.add(c.getGenericSuperclass());
            }
            classSignature.addAll(List.of(c.getGenericInterfaces()));
            classSignature.addAll(List.of(c.getTypeParameters()));
            leaks.addAll(unexportedIn(c.getName(), classSignature, d, exported));
            for (Member m : publicSurface(c)) {
                leaks.addAll(unexportedIn(describe(c, m), signature(m), d, exported));
            }
        }
        assertEquals(List.of(), leaks, "public or protected signatures in exported packages that name a type of a"
                + " package the module does not export (lend such members through dev.bottomhalf.internal.wiring"
                + " instead)");
    }

    /** No public or protected method of an exported class is named for the close, a benchmark or a test. */
    @Test
    void exportedMethods_areNotNamedForTheClose_aBenchmarkOrATest() throws Exception {
        ModuleDescriptor d = descriptor();
        List<String> wiring = new ArrayList<>();
        for (Class<?> c : accessibleExportedClasses(d, exportedPackages(d))) {
            for (Member m : publicSurface(c)) {
                if (m instanceof Method && WIRING_SUFFIXES.stream().anyMatch(m.getName()::endsWith)) {
                    wiring.add(describe(c, m));
                }
            }
        }
        assertEquals(List.of(), wiring, "public or protected methods in exported packages that exist for the"
                + " kernel's wiring, a benchmark or a test");
    }

    /**
     * The objects a {@link Kernel} hands out — its subsystems ({@code irqs()}, {@code kthreads()}, ...), reports,
     * tracing, stepper — are made by the kernel alone: none has a public or protected constructor (a user who
     * made a {@code Kthreads} of a {@code Sched} would have one the kernel neither closes nor knows).
     */
    @Test
    void theObjectsAKernelHandsOut_haveNoPublicConstructor() {
        Set<Class<?>> handedOut = new TreeSet<>(Comparator.comparing(Class::getName));
        for (Method m : Kernel.class.getMethods()) {
            Class<?> t = m.getReturnType();
            if (m.getParameterCount() == 0 && !Modifier.isStatic(m.getModifiers())
                    && t.getModule() == Kernel.class.getModule() && !t.isRecord() && !t.isEnum() && !t.isInterface()) {
                handedOut.add(t);
            }
        }
        assertTrue(handedOut.containsAll(Set.of(Softirqs.class, Kthreads.class, Proc.class)), "found " + handedOut);
        List<String> constructible = new ArrayList<>();
        for (Class<?> t : handedOut) {
            for (Constructor<?> c : t.getDeclaredConstructors()) {
                if (Modifier.isPublic(c.getModifiers()) || Modifier.isProtected(c.getModifiers())) {
                    constructible.add(describe(t, c));
                }
            }
        }
        assertEquals(List.of(), constructible, "objects of a Kernel that a user can construct");
    }

    /**
     * What {@code Subsystems} lends the wiring (the close steps, {@code raiseOn}, {@code setupInternal},
     * {@code installBhWork}, lockdep's workqueue maps, ...) is not public as well: no public or protected method of
     * an exported class of the package that implements an access interface has the signature of one of that
     * interface's methods (other than the constructors' {@code new...}) — the same name and parameters, less the
     * first when that is the class the method is called on. Overloads that are the user's API
     * ({@code Timers.scheduleTimeout(long)} beside the lent {@code scheduleTimeout(long, String)}) are not taken
     * for the lent ones.
     */
    @Test
    void whatTheWiringIsLent_isNotPublicOnTheExportedClasses() throws Exception {
        Map<String, Set<String>> lentByPackage = new TreeMap<>();
        for (Method getter : Subsystems.class.getDeclaredMethods()) {
            if (Modifier.isPublic(getter.getModifiers()) && getter.getParameterCount() == 0
                    && getter.getReturnType().getSimpleName().endsWith("Access")) {
                String pkg = getter.invoke(null).getClass().getPackageName(); // the installed implementation's
                Set<String> lent = lentByPackage.computeIfAbsent(pkg, k -> new TreeSet<>());
                for (Method m : getter.getReturnType().getDeclaredMethods()) {
                    if (m.getName().startsWith("new")) {
                        continue;
                    }
                    List<Class<?>> params = List.of(m.getParameterTypes());
                    lent.add(m.getName() + params);
                    if (!params.isEmpty() && params.getFirst().getPackageName().equals(pkg)) {
                        lent.add(params.getFirst().getName() + "." + m.getName() + params.subList(1, params.size()));
                    }
                }
            }
        }
        assertTrue(lentByPackage.getOrDefault("dev.bottomhalf.softirq", Set.of()).stream()
                        .anyMatch(l -> l.startsWith("dev.bottomhalf.softirq.Softirqs.raiseOn["))
                && lentByPackage.getOrDefault("dev.bottomhalf.locking", Set.of()).stream()
                        .anyMatch(l -> l.startsWith("workStarts["))
                && lentByPackage.keySet().containsAll(Set.of("dev.bottomhalf.irq", "dev.bottomhalf.tasklet",
                        "dev.bottomhalf.time", "dev.bottomhalf.workqueue", "dev.bottomhalf.sched")),
                "found " + lentByPackage);
        ModuleDescriptor d = descriptor();
        List<String> alsoPublic = new ArrayList<>();
        for (Class<?> c : accessibleExportedClasses(d, exportedPackages(d))) {
            Set<String> lent = lentByPackage.getOrDefault(c.getPackageName(), Set.of());
            for (Member m : publicSurface(c)) {
                if (m instanceof Method method) {
                    String params = List.of(method.getParameterTypes()).toString();
                    if (lent.contains(m.getName() + params)
                            || lent.contains(c.getName() + "." + m.getName() + params)) {
                        alsoPublic.add(describe(c, m));
                    }
                }
            }
        }
        assertEquals(List.of(), alsoPublic, "members lent through Subsystems that are public as well");
    }

    private static Set<String> exportedPackages(ModuleDescriptor d) {
        Set<String> exported = new HashSet<>();
        for (ModuleDescriptor.Exports e : d.exports()) {
            if (!e.isQualified()) {
                exported.add(e.source());
            }
        }
        return exported;
    }

    /**
     * The classes of the exported packages that code outside the module can name: public top-level classes and
     * the public or protected classes nested in them, at any depth. Loaded without initializing them.
     */
    private static List<Class<?>> accessibleExportedClasses(ModuleDescriptor d, Set<String> exported)
            throws IOException, URISyntaxException, ClassNotFoundException {
        Path where = Path.of(Kernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        ModuleReference ref = ModuleFinder.of(where).find(d.name()).orElseThrow();
        List<String> names;
        try (ModuleReader reader = ref.open(); Stream<String> entries = reader.list()) {
            names = entries.filter(e -> e.endsWith(".class") && !e.endsWith("module-info.class")
                            && !e.endsWith("package-info.class"))
                    .map(e -> e.substring(0, e.length() - ".class".length()).replace('/', '.'))
                    .filter(n -> exported.contains(n.substring(0, n.lastIndexOf('.'))))
                    .sorted()
                    .toList();
        }
        assertTrue(names.contains(Kernel.class.getName()), "found the module's classes in " + where);
        List<Class<?>> accessible = new ArrayList<>();
        for (String name : names) {
            Class<?> c = Class.forName(name, false, Kernel.class.getClassLoader());
            if (accessibleOutsideTheModule(c)) {
                accessible.add(c);
            }
        }
        return accessible;
    }

    private static boolean accessibleOutsideTheModule(Class<?> c) {
        if (c.isSynthetic() || c.isAnonymousClass() || c.isLocalClass() || c.isHidden()) {
            return false;
        }
        Class<?> enclosing = c.getDeclaringClass();
        if (enclosing == null) {
            return Modifier.isPublic(c.getModifiers());
        }
        return (Modifier.isPublic(c.getModifiers()) || Modifier.isProtected(c.getModifiers()))
                && accessibleOutsideTheModule(enclosing);
    }

    /**
     * The public and protected constructors, methods and fields a user reaches through {@code c}: its own and
     * those it inherits from the module's classes (a public method of a package-private superclass is public
     * API of the subclass), without compiler-generated ones.
     */
    private static List<Member> publicSurface(Class<?> c) {
        Set<Member> members = new LinkedHashSet<>();
        for (Class<?> k = c; k != null && k.getModule() == Kernel.class.getModule(); k = k.getSuperclass()) {
            if (k == c) {
                members.addAll(List.of(k.getDeclaredConstructors()));
            }
            members.addAll(List.of(k.getDeclaredMethods()));
            members.addAll(List.of(k.getDeclaredFields()));
        }
        for (Method m : c.getMethods()) {
            if (m.getDeclaringClass().getModule() == Kernel.class.getModule()) {
                members.add(m); // also those of the module's interfaces
            }
        }
        List<Member> surface = new ArrayList<>();
        for (Member m : members) {
            int mod = m.getModifiers();
            if ((Modifier.isPublic(mod) || Modifier.isProtected(mod)) && !m.isSynthetic()
                    && !(m instanceof Method method && method.isBridge())) {
                surface.add(m);
            }
        }
        return surface;
    }

    private static List<Type> signature(Member m) {
        List<Type> types = new ArrayList<>();
        switch (m) {
            case Constructor<?> c -> {
                types.addAll(List.of(c.getGenericParameterTypes()));
                types.addAll(List.of(c.getGenericExceptionTypes()));
                types.addAll(List.of(c.getTypeParameters()));
            }
            case Method method -> {
                types.add(method.getGenericReturnType());
                types.addAll(List.of(method.getGenericParameterTypes()));
                types.addAll(List.of(method.getGenericExceptionTypes()));
                types.addAll(List.of(method.getTypeParameters()));
            }
            case Field f -> types.add(f.getGenericType());
            default -> throw new AssertionError(m);
        }
        return types;
    }

    /** The types of the module's unexported packages that {@code types} mention, at any depth, as lines. */
    private static List<String> unexportedIn(String where, List<Type> types, ModuleDescriptor d,
            Set<String> exported) {
        Set<Class<?>> classes = new LinkedHashSet<>();
        Set<Type> seen = new HashSet<>();
        for (Type t : types) {
            collect(t, classes, seen);
        }
        List<String> leaks = new ArrayList<>();
        for (Class<?> k : classes) {
            String pkg = k.getPackageName();
            if (d.packages().contains(pkg) && !exported.contains(pkg)) {
                leaks.add(where + " names " + k.getName());
            }
        }
        return leaks;
    }

    private static void collect(Type t, Set<Class<?>> classes, Set<Type> seen) {
        if (!seen.add(t)) {
            return;
        }
        switch (t) {
            case Class<?> k -> {
                Class<?> e = k;
                while (e.isArray()) {
                    e = e.getComponentType();
                }
                classes.add(e);
                if (e.getDeclaringClass() != null) {
                    collect(e.getDeclaringClass(), classes, seen); // Outer.Inner names Outer
                }
            }
            case ParameterizedType p -> {
                collect(p.getRawType(), classes, seen);
                if (p.getOwnerType() != null) {
                    collect(p.getOwnerType(), classes, seen);
                }
                for (Type a : p.getActualTypeArguments()) {
                    collect(a, classes, seen);
                }
            }
            case WildcardType w -> {
                for (Type b : w.getUpperBounds()) {
                    collect(b, classes, seen);
                }
                for (Type b : w.getLowerBounds()) {
                    collect(b, classes, seen);
                }
            }
            case TypeVariable<?> v -> {
                for (Type b : v.getBounds()) {
                    collect(b, classes, seen);
                }
            }
            case GenericArrayType a -> collect(a.getGenericComponentType(), classes, seen);
            default -> throw new AssertionError("a type of an unknown kind: " + t);
        }
    }

    private static String describe(Class<?> c, Member m) {
        String kind = m instanceof Constructor ? "constructor" : m instanceof Method ? "method" : "field";
        String name = m instanceof Constructor<?> k ? c.getSimpleName() + Stream.of(k.getParameterTypes())
                .map(Class::getSimpleName).toList().toString().replace('[', '(').replace(']', ')')
                : m instanceof Method method ? m.getName() + Stream.of(method.getParameterTypes())
                        .map(Class::getSimpleName).toList().toString().replace('[', '(').replace(']', ')')
                        : m.getName();
        String owner = m.getDeclaringClass() == c ? c.getName() : c.getName() + " (from "
                + m.getDeclaringClass().getName() + ")";
        return owner + " " + kind + " " + name;
    }
}
