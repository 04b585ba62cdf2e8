#include <pthread.h>
#include "CFulcrumLinux.h"

#include <fcntl.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#if !defined(__linux__)
#error "Fulcrum's data plane is Linux-only"
#endif

const unsigned int CFL_SPLICE_F_MOVE = SPLICE_F_MOVE;
const unsigned int CFL_SPLICE_F_NONBLOCK = SPLICE_F_NONBLOCK;

ssize_t cfl_splice(int fd_in, int fd_out, size_t len, unsigned int flags) {
    return splice(fd_in, NULL, fd_out, NULL, len, flags);
}

int cfl_pipe_nonblocking(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

int cfl_pipe_set_size(int fd, int size) {
    return fcntl(fd, F_SETPIPE_SZ, size);
}

int cfl_pipe_get_size(int fd) {
    return fcntl(fd, F_GETPIPE_SZ);
}

int cfl_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cfl_socket_nonblocking(int domain, int type) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int cfl_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int cfl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = { .events = events, .data = { .u64 = data } };
    return epoll_ctl(epfd, op, fd, &ev);
}

int cfl_epoll_wait(int epfd, void *events, int maxevents, int timeout_ms) {
    return epoll_wait(epfd, (struct epoll_event *)events, maxevents, timeout_ms);
}

size_t cfl_epoll_event_size(void) {
    return sizeof(struct epoll_event);
}

uint32_t cfl_epoll_event_events(const void *events, int index) {
    return ((const struct epoll_event *)events)[index].events;
}

uint64_t cfl_epoll_event_data(const void *events, int index) {
    return ((const struct epoll_event *)events)[index].data.u64;
}

const int CFL_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CFL_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CFL_EPOLL_CTL_DEL = EPOLL_CTL_DEL;
const uint32_t CFL_EPOLLIN = EPOLLIN;
const uint32_t CFL_EPOLLOUT = EPOLLOUT;
const uint32_t CFL_EPOLLERR = EPOLLERR;
const uint32_t CFL_EPOLLHUP = EPOLLHUP;
const uint32_t CFL_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t CFL_EPOLLET = EPOLLET;

int cfl_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

const int CFL_SO_REUSEPORT = SO_REUSEPORT;
const int CFL_IP_FREEBIND = IP_FREEBIND;
const int CFL_IPV6_FREEBIND = IPV6_FREEBIND;
const int CFL_IPV6_V6ONLY = IPV6_V6ONLY;
const int CFL_TCP_NODELAY = TCP_NODELAY;
const int CFL_SOL_TCP = SOL_TCP;

int64_t cfl_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cfl_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

_Static_assert(sizeof(struct cfl_mmsghdr) == sizeof(struct mmsghdr), "cfl_mmsghdr size");
_Static_assert(offsetof(struct cfl_mmsghdr, msg_hdr) == offsetof(struct mmsghdr, msg_hdr), "msg_hdr offset");
_Static_assert(offsetof(struct cfl_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "msg_len offset");

int cfl_recvmmsg(int fd, struct cfl_mmsghdr *msgs, unsigned int count) {
    return recvmmsg(fd, (struct mmsghdr *)msgs, count, MSG_DONTWAIT, NULL);
}

int cfl_sendmmsg(int fd, struct cfl_mmsghdr *msgs, unsigned int count) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, count, MSG_DONTWAIT | MSG_NOSIGNAL);
}

const int CFL_MSG_TRUNC = MSG_TRUNC;

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

size_t cfl_udp_segment_space(void) {
    return CMSG_SPACE(sizeof(uint16_t));
}

size_t cfl_udp_segment_cmsg(void *buffer, uint16_t segment_size) {
    memset(buffer, 0, CMSG_SPACE(sizeof(uint16_t)));
    struct cmsghdr *cm = (struct cmsghdr *)buffer;
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cm), &segment_size, sizeof(uint16_t));
    return CMSG_SPACE(sizeof(uint16_t));
}

int cfl_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

int cfl_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t length = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}
