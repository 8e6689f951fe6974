/**
 * The runtime's one set of synchronisation primitives, used by every subsystem: a raw spinlock
 * ({@link dev.bottomhalf.internal.sync.RawSpinLock}), an intrusive multi-producer list drained by one
 * consumer ({@link dev.bottomhalf.internal.sync.MpscLinkedList}) and the waiting loop every sleeping call
 * goes through ({@link dev.bottomhalf.internal.sync.WaitQueue}). Not exported: users never see these
 * types, and a subsystem that needs a lock, a hand-off list or a wait takes it from here instead of writing
 * its own.
 *
 * <p>This package is the bottom of the layering: it imports nothing of the library. What a wait needs to
 * know about its kernel (stepped mode, shutdown) the caller passes in; {@code Machine.waitUntil} is the one
 * place that does so.
 */
package dev.bottomhalf.internal.sync;
