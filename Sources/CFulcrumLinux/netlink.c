// rtnetlink and AF_PACKET for FulcrumNetlink; see CFulcrumLinuxNetlink.h.
#include "CFulcrumLinux.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(sizeof(struct cfl_nlmsghdr) == sizeof(struct nlmsghdr), "cfl_nlmsghdr size");
_Static_assert(offsetof(struct cfl_nlmsghdr, nlmsg_type) == offsetof(struct nlmsghdr, nlmsg_type), "nlmsg_type");
_Static_assert(offsetof(struct cfl_nlmsghdr, nlmsg_flags) == offsetof(struct nlmsghdr, nlmsg_flags), "nlmsg_flags");
_Static_assert(offsetof(struct cfl_nlmsghdr, nlmsg_seq) == offsetof(struct nlmsghdr, nlmsg_seq), "nlmsg_seq");
_Static_assert(offsetof(struct cfl_nlmsghdr, nlmsg_pid) == offsetof(struct nlmsghdr, nlmsg_pid), "nlmsg_pid");
_Static_assert(NLMSG_HDRLEN == sizeof(struct cfl_nlmsghdr), "header needs no alignment padding");
_Static_assert(sizeof(struct cfl_nlmsgerr) == sizeof(struct nlmsgerr), "cfl_nlmsgerr size");
_Static_assert(offsetof(struct cfl_nlmsgerr, msg) == offsetof(struct nlmsgerr, msg), "nlmsgerr msg");
_Static_assert(sizeof(struct cfl_ifaddrmsg) == sizeof(struct ifaddrmsg), "cfl_ifaddrmsg size");
_Static_assert(offsetof(struct cfl_ifaddrmsg, ifa_prefixlen) == offsetof(struct ifaddrmsg, ifa_prefixlen), "ifa_prefixlen");
_Static_assert(offsetof(struct cfl_ifaddrmsg, ifa_flags) == offsetof(struct ifaddrmsg, ifa_flags), "ifa_flags");
_Static_assert(offsetof(struct cfl_ifaddrmsg, ifa_scope) == offsetof(struct ifaddrmsg, ifa_scope), "ifa_scope");
_Static_assert(offsetof(struct cfl_ifaddrmsg, ifa_index) == offsetof(struct ifaddrmsg, ifa_index), "ifa_index");
_Static_assert(sizeof(struct cfl_ifinfomsg) == sizeof(struct ifinfomsg), "cfl_ifinfomsg size");
_Static_assert(offsetof(struct cfl_ifinfomsg, ifi_type) == offsetof(struct ifinfomsg, ifi_type), "ifi_type");
_Static_assert(offsetof(struct cfl_ifinfomsg, ifi_index) == offsetof(struct ifinfomsg, ifi_index), "ifi_index");
_Static_assert(offsetof(struct cfl_ifinfomsg, ifi_flags) == offsetof(struct ifinfomsg, ifi_flags), "ifi_flags");
_Static_assert(offsetof(struct cfl_ifinfomsg, ifi_change) == offsetof(struct ifinfomsg, ifi_change), "ifi_change");
_Static_assert(sizeof(struct cfl_rtmsg) == sizeof(struct rtmsg), "cfl_rtmsg size");
_Static_assert(offsetof(struct cfl_rtmsg, rtm_table) == offsetof(struct rtmsg, rtm_table), "rtm_table");
_Static_assert(offsetof(struct cfl_rtmsg, rtm_type) == offsetof(struct rtmsg, rtm_type), "rtm_type");
_Static_assert(offsetof(struct cfl_rtmsg, rtm_flags) == offsetof(struct rtmsg, rtm_flags), "rtm_flags");
_Static_assert(sizeof(struct cfl_ifa_cacheinfo) == sizeof(struct ifa_cacheinfo), "cfl_ifa_cacheinfo size");
_Static_assert(offsetof(struct cfl_ifa_cacheinfo, ifa_valid) == offsetof(struct ifa_cacheinfo, ifa_valid), "ifa_valid");
_Static_assert(sizeof(struct cfl_rtattr) == sizeof(struct rtattr), "cfl_rtattr size");
_Static_assert(offsetof(struct cfl_rtattr, rta_type) == offsetof(struct rtattr, rta_type), "rta_type");
_Static_assert(NLMSG_ALIGNTO == 4 && RTA_ALIGNTO == 4, "Swift aligns messages and attributes to 4 bytes");

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

int cfl_netlink_route_socket(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -1;
    int one = 1;
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    return fd;
}

const uint16_t CFL_NLMSG_ERROR = NLMSG_ERROR;
const uint16_t CFL_NLMSG_DONE = NLMSG_DONE;
const uint16_t CFL_RTM_NEWLINK = RTM_NEWLINK;
const uint16_t CFL_RTM_GETLINK = RTM_GETLINK;
const uint16_t CFL_RTM_NEWADDR = RTM_NEWADDR;
const uint16_t CFL_RTM_DELADDR = RTM_DELADDR;
const uint16_t CFL_RTM_GETADDR = RTM_GETADDR;
const uint16_t CFL_NLM_F_REQUEST = NLM_F_REQUEST;
const uint16_t CFL_NLM_F_ACK = NLM_F_ACK;
const uint16_t CFL_NLM_F_CREATE = NLM_F_CREATE;
const uint16_t CFL_NLM_F_EXCL = NLM_F_EXCL;
const uint16_t CFL_NLM_F_DUMP = NLM_F_DUMP;
const uint16_t CFL_NLM_F_CAPPED = NLM_F_CAPPED;
const uint16_t CFL_NLM_F_ACK_TLVS = NLM_F_ACK_TLVS;
const uint16_t CFL_NLMSGERR_ATTR_MSG = NLMSGERR_ATTR_MSG;
const uint16_t CFL_IFA_ADDRESS = IFA_ADDRESS;
const uint16_t CFL_IFA_LOCAL = IFA_LOCAL;
const uint16_t CFL_IFA_FLAGS = IFA_FLAGS;
const uint32_t CFL_IFA_F_NODAD = IFA_F_NODAD;
const uint16_t CFL_IFLA_ADDRESS = IFLA_ADDRESS;
const uint16_t CFL_IFLA_IFNAME = IFLA_IFNAME;
const uint16_t CFL_ARPHRD_ETHER = ARPHRD_ETHER;
const uint16_t CFL_ARPHRD_LOOPBACK = ARPHRD_LOOPBACK;
const uint16_t CFL_ARPHRD_NONE = ARPHRD_NONE;
const int CFL_RT_SCOPE_UNIVERSE = RT_SCOPE_UNIVERSE;
const uint16_t CFL_RTM_NEWROUTE = RTM_NEWROUTE;
const uint16_t CFL_RTM_DELROUTE = RTM_DELROUTE;
const uint16_t CFL_NLM_F_REPLACE = NLM_F_REPLACE;
const uint16_t CFL_IFA_CACHEINFO = IFA_CACHEINFO;
const uint16_t CFL_IFLA_LINKINFO = IFLA_LINKINFO;
const uint16_t CFL_IFLA_INFO_KIND = IFLA_INFO_KIND;
const uint16_t CFL_RTA_DST = RTA_DST;
const uint16_t CFL_RTA_OIF = RTA_OIF;
const uint16_t CFL_RTA_PRIORITY = RTA_PRIORITY;
const uint8_t CFL_RT_TABLE_LOCAL = RT_TABLE_LOCAL;
const uint8_t CFL_RTN_LOCAL = RTN_LOCAL;
const uint8_t CFL_RT_SCOPE_HOST = RT_SCOPE_HOST;
const uint8_t CFL_RTPROT_STATIC = RTPROT_STATIC;
const uint32_t CFL_IFF_UP = IFF_UP;

int cfl_packet_socket(uint16_t ethertype) {
    return socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ethertype));
}

int cfl_packet_bind(int fd, int ifindex, uint16_t ethertype) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof(address));
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ethertype);
    address.sll_ifindex = ifindex;
    return bind(fd, (struct sockaddr *)&address, sizeof(address));
}

ssize_t cfl_packet_send(int fd, int ifindex, uint16_t ethertype, const void *frame, size_t length) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof(address));
    address.sll_family = AF_PACKET;
    // Tells the kernel the frame's protocol (skb->protocol); the frame's own header says the same.
    address.sll_protocol = htons(ethertype);
    address.sll_ifindex = ifindex;
    return sendto(fd, frame, length, 0, (struct sockaddr *)&address, sizeof(address));
}

const uint16_t CFL_ETH_P_ALL = ETH_P_ALL;

int cfl_enter_network_namespace(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int result = setns(fd, CLONE_NEWNET);
    close(fd);
    return result;
}
