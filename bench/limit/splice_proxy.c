// Copied unchanged (apart from this header) from ../shared/bench-limit/splice_proxy.c, a file
// shared read-only with this repository's workspace (its README: "the smallest epoll + splice TCP
// proxy that can be written ... the ceiling for a user-space splice proxy on this machine").
// bench/run's harness (bench/benchlib/contenders.py) compiles it with `cc -O2` into the run's temp
// dir and runs it as the "limit-splice" contender: one process per proxied TCP port.
//
// Minimal single-threaded epoll + splice TCP proxy: the "limit" reference for a splice proxy
// on this machine (no timeouts, no balancing). Usage: splice_proxy LISTEN_PORT BACKEND_PORT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct half { int from, to, p[2]; size_t inpipe; int done; } half;
typedef struct conn { half a, b; int fds[2]; int closed; } conn;
static int ep;
#define PIPESZ (1 << 20)

static void pump(half *h) {
  for (;;) {
    if (!h->done && h->inpipe < PIPESZ) {
      ssize_t n = splice(h->from, NULL, h->p[1], NULL, PIPESZ - h->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) h->inpipe += n;
      else if (n == 0) { h->done = 1; }
      else if (errno != EAGAIN) { h->done = 1; }
    }
    if (h->inpipe > 0) {
      ssize_t m = splice(h->p[0], NULL, h->to, NULL, h->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) { h->inpipe -= m; continue; }
      return;
    }
    if (h->done) { shutdown(h->to, SHUT_WR); return; }
    return;
  }
}

int main(int argc, char **argv) {
  int lp = atoi(argv[1]), bp = atoi(argv[2]);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(lp), .sin_addr.s_addr = htonl(0x7f000001)};
  if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096)) { perror("bind"); return 1; }
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {
        int cs;
        while ((cs = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int bs = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
          struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(bp), .sin_addr.s_addr = htonl(0x7f000001)};
          connect(bs, (void *)&b, sizeof b);
          setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(bs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = calloc(1, sizeof *c);
          c->a.from = cs; c->a.to = bs; c->b.from = bs; c->b.to = cs; c->fds[0] = cs; c->fds[1] = bs;
          pipe2(c->a.p, O_NONBLOCK); pipe2(c->b.p, O_NONBLOCK);
          fcntl(c->a.p[1], F_SETPIPE_SZ, PIPESZ); fcntl(c->b.p[1], F_SETPIPE_SZ, PIPESZ);
          struct epoll_event e1 = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, cs, &e1);
          epoll_ctl(ep, EPOLL_CTL_ADD, bs, &e1);
        }
        continue;
      }
      if (c->closed) continue;
      pump(&c->a); pump(&c->b);
      if ((c->a.done && c->a.inpipe == 0 && c->b.done && c->b.inpipe == 0) || (evs[i].events & (EPOLLERR))) {
        c->closed = 1;
        close(c->fds[0]); close(c->fds[1]);
        close(c->a.p[0]); close(c->a.p[1]); close(c->b.p[0]); close(c->b.p[1]);
        // leak c on purpose: stale events may still point at it in this batch
      }
    }
  }
}
