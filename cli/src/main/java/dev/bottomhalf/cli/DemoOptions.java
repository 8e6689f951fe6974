package dev.bottomhalf.cli;

/**
 * Options of {@code ./bottomhalf demo}.
 *
 * @param seconds    how long the card receives traffic
 * @param rate       packets per second
 * @param traceLines how many tracepoint hits to print at the end (0: tracing off)
 */
record DemoOptions(int seconds, int rate, int traceLines) {
    static DemoOptions parse(String[] args) {
        int seconds = 10;
        int rate = 200_000;
        int trace = 0;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--seconds" -> seconds = intArg(args, ++i, a, 1, 30);
                case "--rate" -> rate = intArg(args, ++i, a, 1, 5_000_000);
                case "--trace" -> trace = intArg(args, ++i, a, 1, 10_000);
                default -> throw new IllegalArgumentException("unknown demo option '" + a + "' (see ./bottomhalf help)");
            }
        }
        return new DemoOptions(seconds, rate, trace);
    }

    private static int intArg(String[] args, int i, String name, int min, int max) {
        if (i >= args.length) {
            throw new IllegalArgumentException(name + " needs a number");
        }
        try {
            int v = Integer.parseInt(args[i]);
            if (v < min || v > max) {
                throw new IllegalArgumentException(name + " must be " + min + ".." + max + ": " + v);
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " needs a number: '" + args[i] + "'");
        }
    }
}
