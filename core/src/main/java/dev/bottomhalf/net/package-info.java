/**
 * NAPI, the kernel's network receive polling ({@code net/core/dev.c}): {@link dev.bottomhalf.net.NetDevice},
 * {@link dev.bottomhalf.net.NapiStruct} and the {@link dev.bottomhalf.net.Napi} subsystem
 * ({@code Kernel.napi()}) — scheduling onto per-CPU poll lists, {@code net_rx_action} on NET_RX_SOFTIRQ with
 * {@code netdev_budget} and {@code netdev_budget_usecs}, threaded NAPI kthreads and busy polling — and
 * {@link dev.bottomhalf.net.UdpDevice}, real UDP sockets as NAPI devices (a selector thread as the card, one
 * interrupt line and NAPI instance per receive queue), and {@link dev.bottomhalf.net.TcpDevice}, a TCP listener as
 * one (accepted connections spread over the receive queues, each queue polling its connections in turn). See
 * docs/subsystems/net.md.
 */
package dev.bottomhalf.net;
