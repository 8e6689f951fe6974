package dev.bottomhalf.stress;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.I_Result;

/** Proves the harness runs here: two actors incrementing a plain int may lose an update. */
@JCStressTest
@Outcome(id = "2", expect = Expect.ACCEPTABLE, desc = "both increments seen")
@Outcome(id = "1", expect = Expect.ACCEPTABLE_INTERESTING, desc = "lost update: the harness does race the actors")
@State
public class HarnessSelfTest {
    int counter;

    @Actor
    public void actor1() {
        counter++;
    }

    @Actor
    public void actor2() {
        counter++;
    }

    @Arbiter
    public void arbiter(I_Result r) {
        r.r1 = counter;
    }
}
