/**
 * Time ({@code kernel/time/}): jiffies derived from the kernel's clock, the timer wheel ({@code timer_list},
 * {@code mod_timer}, {@code timer_delete_sync}, {@code timer_shutdown_sync}, deferrable and pinned timers)
 * expired in TIMER_SOFTIRQ, high-resolution timers ({@code hrtimer}, hard and soft), and the sleeping and delay
 * helpers ({@code msleep}, {@code schedule_timeout}, {@code udelay}, {@code usleep_range}).
 *
 * <p>See {@code docs/subsystems/timer.md}.
 */
package dev.bottomhalf.time;
