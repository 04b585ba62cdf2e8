#include "CFulcrumLinuxVRRP.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}

int cfl_raw_ip_socket(int family, int protocol, int ifindex, const char *ifname) {
    int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -1;
    int ok = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) == 0;
    if (family == AF_INET) {
        struct ip_mreqn out = {.imr_ifindex = ifindex};
        ok = ok && set_int(fd, IPPROTO_IP, IP_TTL, 255) == 0
            && set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, 255) == 0
            && set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0) == 0
            && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &out, sizeof out) == 0;
    } else {
        ok = ok && set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255) == 0
            && set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255) == 0
            && set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0) == 0
            && set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex) == 0
            && set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1) == 0
            && set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) == 0;
    }
    if (!ok) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int cfl_raw_ip_join(int fd, int family, int ifindex, const uint8_t *group) {
    if (family == AF_INET) {
        struct ip_mreqn request = {.imr_ifindex = ifindex};
        memcpy(&request.imr_multiaddr, group, 4);
        return setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request);
    }
    struct ipv6_mreq request = {.ipv6mr_interface = (unsigned)ifindex};
    memcpy(&request.ipv6mr_multiaddr, group, 16);
    return setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &request, sizeof request);
}

int cfl_raw_ip_bind(int fd, int family, const uint8_t *address, int ifindex) {
    if (family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        memcpy(&sin.sin_addr, address, 4);
        return bind(fd, (struct sockaddr *)&sin, sizeof sin);
    }
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)ifindex};
    memcpy(&sin6.sin6_addr, address, 16);
    return bind(fd, (struct sockaddr *)&sin6, sizeof sin6);
}

ssize_t cfl_raw_ip_receive(int fd, int family, uint8_t *buffer, size_t length, uint8_t source[16],
                           uint8_t destination[16], int *hop_limit) {
    struct sockaddr_storage from;
    char control[256];
    struct iovec iov = {.iov_base = buffer, .iov_len = length};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) return n;
    *hop_limit = -1;
    memset(source, 0, 16);
    memset(destination, 0, 16);
    if (family == AF_INET) {
        memcpy(source, &((struct sockaddr_in *)&from)->sin_addr, 4);
        return n;
    }
    memcpy(source, &((struct sockaddr_in6 *)&from)->sin6_addr, 16);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_IPV6) continue;
        if (c->cmsg_type == IPV6_HOPLIMIT) {
            memcpy(hop_limit, CMSG_DATA(c), sizeof *hop_limit);
        } else if (c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            memcpy(destination, &info.ipi6_addr, 16);
        }
    }
    return n;
}

ssize_t cfl_raw_ip_send(int fd, int family, const uint8_t *payload, size_t length, const uint8_t *destination,
                        int ifindex) {
    if (family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        memcpy(&sin.sin_addr, destination, 4);
        return sendto(fd, payload, length, MSG_NOSIGNAL, (struct sockaddr *)&sin, sizeof sin);
    }
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)ifindex};
    memcpy(&sin6.sin6_addr, destination, 16);
    return sendto(fd, payload, length, MSG_NOSIGNAL, (struct sockaddr *)&sin6, sizeof sin6);
}
