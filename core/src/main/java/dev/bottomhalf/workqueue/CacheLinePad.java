package dev.bottomhalf.workqueue;

/**
 * Padding at the front of an object whose next superclass holds what producers on other CPUs read on every
 * {@code queue_work} ({@link PoolWorkqueueIdentity}, {@link WorkerPoolIdentity}): 68 bytes, with an {@code int}
 * first so that no 4-byte hole after the object header is left for a subclass's field. HotSpot lays out a
 * superclass's fields before its subclass's, so those fields start a cache line into the object, off the line of
 * whatever was allocated just before it ({@link PoolWorkqueue}, "Layout"; checked by {@code WorkqueueLayoutTest}).
 * The padding behind them cannot be shared: it must extend the identity it follows.
 */
@SuppressWarnings("unused") // padding only
abstract class CacheLinePad {
    int p00;
    long p01, p02, p03, p04, p05, p06, p07, p08;
}
