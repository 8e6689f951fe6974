package dev.bottomhalf.blockhound;

import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassHierarchyResolver;
import java.lang.classfile.ClassModel;
import java.lang.classfile.ClassTransform;
import java.lang.classfile.CodeElement;
import java.lang.classfile.CodeModel;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.MonitorInstruction;
import java.lang.constant.ClassDesc;
import java.lang.constant.ConstantDescs;
import java.lang.constant.MethodTypeDesc;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.lang.instrument.UnmodifiableClassException;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Puts {@link MonitorProbe}'s calls around every {@code monitorenter} (every {@code synchronized} block) of
 * the classes outside the JDK, BlockHound, this module and bottomhalf's core: the classes loaded from now
 * on, and, once at installation, those already loaded. Called by the JVM's instrumentation on the thread
 * that loads or retransforms a class.
 *
 * <p>Not instrumented, and so not reported: {@code synchronized} methods (the JVM enters their monitor
 * before the first instruction; there is no instruction to put a probe before), and the JDK's own
 * monitors. A class that cannot be rewritten (its class hierarchy cannot be resolved for the stack maps,
 * for one) is left as it is.
 *
 * <p>Implementation notes. Stateless apart from the instrumentation it was installed with; the JVM may
 * call {@link #transform} from several threads at once.
 */
final class MonitorEnterTransformer implements ClassFileTransformer {
    private static final ClassDesc PROBE = ClassDesc.of(MonitorProbe.class.getName());
    private static final MethodTypeDesc BEFORE = MethodTypeDesc.of(ConstantDescs.CD_void, ConstantDescs.CD_Object);
    private static final MethodTypeDesc AFTER = MethodTypeDesc.of(ConstantDescs.CD_void);
    private static final Module SELF = MonitorProbe.class.getModule();

    private final Instrumentation instrumentation;

    private MonitorEnterTransformer(Instrumentation instrumentation) {
        this.instrumentation = instrumentation;
    }

    /**
     * Adds the transformer and rewrites the classes already loaded.
     *
     * @return how many loaded classes had {@code synchronized} blocks and were handed to the transformer
     */
    static int install(Instrumentation instrumentation) {
        MonitorEnterTransformer transformer = new MonitorEnterTransformer(instrumentation);
        instrumentation.addTransformer(transformer, true);
        List<Class<?>> loaded = new ArrayList<>();
        for (Class<?> c : instrumentation.getAllLoadedClasses()) {
            if (instrumentation.isModifiableClass(c) && !c.isHidden() && !c.isArray() && !c.isPrimitive()
                    && candidate(c.getClassLoader(), c.getName().replace('.', '/'), c.getProtectionDomain())
                    && !(c.getModule().isNamed() && (c.getModule() == SleepInAtomic.CORE_MODULE || c.getModule() == SELF))
                    && entersMonitors(c)) {
                loaded.add(c);
            }
        }
        for (Class<?> c : loaded) {
            try {
                instrumentation.retransformClasses(c);
            } catch (UnmodifiableClassException | InternalError | LinkageError e) {
                // left as it is: see the class comment
            }
        }
        return loaded.size();
    }

    /** Whether a class of {@code loader} named {@code internalName} is one this transformer rewrites. */
    private static boolean candidate(ClassLoader loader, String internalName, ProtectionDomain domain) {
        if (loader == null || loader == ClassLoader.getPlatformClassLoader() || internalName == null) {
            return false;
        }
        if (internalName.startsWith("reactor/blockhound/")) {
            return false;
        }
        var source = domain == null ? null : domain.getCodeSource();
        return source == null
                || !Objects.equals(source, SleepInAtomic.CORE_SOURCE) && !Objects.equals(source, SleepInAtomic.SELF_SOURCE);
    }

    @Override
    public byte[] transform(Module module, ClassLoader loader, String className, Class<?> classBeingRedefined,
                            ProtectionDomain protectionDomain, byte[] classfileBuffer) {
        if (!candidate(loader, className, protectionDomain)
                || module != null && module.isNamed() && (module == SleepInAtomic.CORE_MODULE || module == SELF)) {
            return null;
        }
        try {
            ClassFile files = ClassFile.of(ClassFile.ClassHierarchyResolverOption.of(
                    ClassHierarchyResolver.defaultResolver().orElse(ClassHierarchyResolver.ofResourceParsing(loader))));
            ClassModel model = files.parse(classfileBuffer);
            if (!entersMonitors(model)) {
                return null;
            }
            if (module != null && module.isNamed() && !module.canRead(SELF)) {
                instrumentation.redefineModule(module, Set.of(SELF), Map.of(), Map.of(), Set.of(), Map.of());
            }
            return files.transformClass(model, ClassTransform.transformingMethodBodies((code, element) -> {
                if (element instanceof MonitorInstruction m && m.opcode() == Opcode.MONITORENTER) {
                    code.dup()
                            .invokestatic(PROBE, "before", BEFORE)
                            .monitorenter()
                            .invokestatic(PROBE, "after", AFTER);
                } else {
                    code.with(element);
                }
            }));
        } catch (RuntimeException | LinkageError e) {
            return null; // left as it is: see the class comment
        }
    }

    /**
     * Whether a loaded class has a {@code synchronized} block, read from its class file (not retransformed
     * for nothing: every retransformation also runs BlockHound's own transformers over the class).
     */
    private static boolean entersMonitors(Class<?> c) {
        try (InputStream in = c.getResourceAsStream("/" + c.getName().replace('.', '/') + ".class")) {
            return in != null && entersMonitors(ClassFile.of().parse(in.readAllBytes()));
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static boolean entersMonitors(ClassModel model) {
        for (MethodModel method : model.methods()) {
            CodeModel code = method.code().orElse(null);
            if (code == null) {
                continue;
            }
            for (CodeElement e : code) {
                if (e instanceof MonitorInstruction m && m.opcode() == Opcode.MONITORENTER) {
                    return true;
                }
            }
        }
        return false;
    }
}
