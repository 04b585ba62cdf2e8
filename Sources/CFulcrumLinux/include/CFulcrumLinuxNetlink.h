// rtnetlink and AF_PACKET for FulcrumNetlink, the one room that changes interfaces. The kernel's
// netlink structs are mirrored as plain prefixed structs (netlink.c proves the layouts with
// _Static_assert), so Swift builds and reads messages by MemoryLayout and <linux/*.h> stays out
// of every other module's namespace. Constants come from the kernel's own headers.
#ifndef CFULCRUM_LINUX_NETLINK_H
#define CFULCRUM_LINUX_NETLINK_H

#include <stdint.h>
#include <sys/types.h>

struct cfl_nlmsghdr {
    uint32_t nlmsg_len;
    uint16_t nlmsg_type;
    uint16_t nlmsg_flags;
    uint32_t nlmsg_seq;
    uint32_t nlmsg_pid;
};

// The payload of NLMSG_ERROR: a negative errno (0 = acknowledgement) and the request's header.
struct cfl_nlmsgerr {
    int32_t error;
    struct cfl_nlmsghdr msg;
};

struct cfl_ifaddrmsg {
    uint8_t ifa_family;
    uint8_t ifa_prefixlen;
    uint8_t ifa_flags;
    uint8_t ifa_scope;
    uint32_t ifa_index;
};

struct cfl_ifinfomsg {
    uint8_t ifi_family;
    uint8_t ifi_pad;
    uint16_t ifi_type;
    int32_t ifi_index;
    uint32_t ifi_flags;
    uint32_t ifi_change;
};

struct cfl_rtmsg {
    uint8_t rtm_family;
    uint8_t rtm_dst_len;
    uint8_t rtm_src_len;
    uint8_t rtm_tos;
    uint8_t rtm_table;
    uint8_t rtm_protocol;
    uint8_t rtm_scope;
    uint8_t rtm_type;
    uint32_t rtm_flags;
};

// IFA_CACHEINFO: an address's lifetimes in seconds (0xFFFFFFFF = forever); the timestamps are
// the kernel's and ignored when sent.
struct cfl_ifa_cacheinfo {
    uint32_t ifa_prefered;
    uint32_t ifa_valid;
    uint32_t cstamp;
    uint32_t tstamp;
};

struct cfl_rtattr {
    uint16_t rta_len;
    uint16_t rta_type;
};

// socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE), with extended acks on (a refusal
// carries the kernel's own words) and capped acks (the request is not echoed back). Both
// options are best effort: an old kernel without them still answers with a plain errno.
int cfl_netlink_route_socket(void);

extern const uint16_t CFL_NLMSG_ERROR;
extern const uint16_t CFL_NLMSG_DONE;
extern const uint16_t CFL_RTM_NEWLINK;
extern const uint16_t CFL_RTM_GETLINK;
extern const uint16_t CFL_RTM_NEWADDR;
extern const uint16_t CFL_RTM_DELADDR;
extern const uint16_t CFL_RTM_GETADDR;
extern const uint16_t CFL_NLM_F_REQUEST;
extern const uint16_t CFL_NLM_F_ACK;
extern const uint16_t CFL_NLM_F_CREATE;
extern const uint16_t CFL_NLM_F_EXCL;
extern const uint16_t CFL_NLM_F_DUMP;
extern const uint16_t CFL_NLM_F_CAPPED;
extern const uint16_t CFL_NLM_F_ACK_TLVS;
extern const uint16_t CFL_NLMSGERR_ATTR_MSG;
extern const uint16_t CFL_IFA_ADDRESS;
extern const uint16_t CFL_IFA_LOCAL;
extern const uint16_t CFL_IFA_FLAGS;
extern const uint32_t CFL_IFA_F_NODAD;
extern const uint16_t CFL_IFLA_ADDRESS;
extern const uint16_t CFL_IFLA_IFNAME;
extern const uint16_t CFL_ARPHRD_ETHER;
extern const uint16_t CFL_ARPHRD_LOOPBACK;
extern const uint16_t CFL_ARPHRD_NONE;
extern const int CFL_RT_SCOPE_UNIVERSE;
extern const uint16_t CFL_RTM_NEWROUTE;
extern const uint16_t CFL_RTM_DELROUTE;
extern const uint16_t CFL_NLM_F_REPLACE;
extern const uint16_t CFL_IFA_CACHEINFO;
extern const uint16_t CFL_IFLA_LINKINFO;
extern const uint16_t CFL_IFLA_INFO_KIND;
extern const uint16_t CFL_RTA_DST;
extern const uint16_t CFL_RTA_OIF;
extern const uint16_t CFL_RTA_PRIORITY;
extern const uint8_t CFL_RT_TABLE_LOCAL;
extern const uint8_t CFL_RTN_LOCAL;
extern const uint8_t CFL_RT_SCOPE_HOST;
extern const uint8_t CFL_RTPROT_STATIC;
extern const uint32_t CFL_IFF_UP;

// AF_PACKET SOCK_RAW (CLOEXEC) for whole Ethernet frames. `ethertype` is what it receives, in
// host order: 0 receives nothing (a send-only socket), CFL_ETH_P_ALL everything.
int cfl_packet_socket(uint16_t ethertype);
// Binds a packet socket to one interface, so it receives only that interface's frames.
int cfl_packet_bind(int fd, int ifindex, uint16_t ethertype);
// sendto with a sockaddr_ll naming the interface; the frame carries its own Ethernet header.
ssize_t cfl_packet_send(int fd, int ifindex, uint16_t ethertype, const void *frame, size_t length);
extern const uint16_t CFL_ETH_P_ALL;

// setns(CLONE_NEWNET) for the calling thread only, from a namespace file such as
// /run/netns/NAME: tests run the real room inside a namespace they made on a thread of their own.
int cfl_enter_network_namespace(const char *path);

#endif
