// Raw IP sockets for VRRP (IP protocol 112): the socket options and the ancillary data
// (IPv6 hop limit and destination) that Swift cannot reach well. No logic lives here.
#ifndef CFULCRUM_LINUX_VRRP_H
#define CFULCRUM_LINUX_VRRP_H

#include <stdint.h>
#include <sys/types.h>

// A raw socket for `protocol` on one interface: non-blocking, close-on-exec, bound to the
// device, TTL / hop limit 255 for unicast and multicast (RFC 5798 §5.1.1.3), multicast sent
// out of `ifindex` and not looped back; IPv6 also reports each packet's hop limit and
// destination. -1 with errno set on failure.
int cfl_raw_ip_socket(int family, int protocol, int ifindex, const char *ifname);

// Joins `group` (4 or 16 bytes, by family) on `ifindex`.
int cfl_raw_ip_join(int fd, int family, int ifindex, const uint8_t *group);

// Binds the source address (4 or 16 bytes; IPv6 link-local needs `ifindex` as scope).
int cfl_raw_ip_bind(int fd, int family, const uint8_t *address, int ifindex);

// Receives one packet. IPv4: `buffer` gets the IP header too (the caller reads TTL and
// addresses there); IPv6: the payload only, with `source`, `destination` and `hop_limit`
// filled from the packet and its ancillary data (-1 when the kernel gave none).
ssize_t cfl_raw_ip_receive(int fd, int family, uint8_t *buffer, size_t length, uint8_t source[16],
                           uint8_t destination[16], int *hop_limit);

// Sends `payload` to `destination` (4 or 16 bytes); IPv6 link scope uses `ifindex`.
ssize_t cfl_raw_ip_send(int fd, int family, const uint8_t *payload, size_t length, const uint8_t *destination,
                        int ifindex);

#endif
