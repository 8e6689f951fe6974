/**
 * The process side of the kernel's sleeping: tasks and their state ({@code current},
 * {@code set_current_state}, {@code schedule}, {@code wake_up_process}), wait queues ({@code wait_event*},
 * {@code wake_up*}), completions and kthreads with their workers — what driver code sleeps with, with the
 * kernel's return values and message texts, in threaded and stepped mode. See {@code docs/subsystems/sched.md}.
 */
package dev.bottomhalf.sched;
