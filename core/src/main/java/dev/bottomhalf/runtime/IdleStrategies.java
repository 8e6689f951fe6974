package dev.bottomhalf.runtime;

/** The built-in {@link IdleStrategy} implementations. */
final class IdleStrategies {
    static final IdleStrategy BUSY_SPIN = new Fixed(IdleStrategy.Action.SPIN, "busy-spin");
    static final IdleStrategy YIELDING = new Fixed(IdleStrategy.Action.YIELD, "yielding");
    static final IdleStrategy PARKING = new Fixed(IdleStrategy.Action.PARK, "parking");
    /** See {@link IdleStrategy#defaultStrategy()} for where 50 µs comes from. */
    static final IdleStrategy DEFAULT = new SpinThenPark(50_000);

    private IdleStrategies() {
    }

    record Fixed(IdleStrategy.Action action, String name) implements IdleStrategy {
        @Override
        public Action onIdle(int idleRounds, long idleNs) {
            return action;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    record Backoff(int spins, int yields) implements IdleStrategy {
        @Override
        public Action onIdle(int idleRounds, long idleNs) {
            if (idleRounds <= spins) {
                return Action.SPIN;
            }
            return idleRounds <= spins + yields ? Action.YIELD : Action.PARK;
        }

        @Override
        public String toString() {
            return "backoff(spins=" + spins + ", yields=" + yields + ")";
        }
    }

    record SpinThenPark(long spinNs) implements IdleStrategy {
        @Override
        public Action onIdle(int idleRounds, long idleNs) {
            return idleNs < spinNs ? Action.SPIN : Action.PARK;
        }

        @Override
        public String toString() {
            return "spin-then-park(" + spinNs + " ns)";
        }
    }
}
