package dev.bottomhalf.proc;

/** Test access to {@link Proc}'s package-private formatting helpers. */
public final class ProcTestAccess {
    private ProcTestAccess() {
    }

    public static String cpumaskHex(int nbits, int cpu) {
        return Proc.cpumaskHex(nbits, cpu);
    }
}
