/*
 * WebSocket load generator for bench/websocket/run.sh: CONNS connections to
 * ws://127.0.0.1:PORT/PATH, each keeping WINDOW text messages in flight (a
 * new one goes out for every answer that comes back), for SECONDS after a
 * one-second warm-up; prints the answers per second and the connections
 * that completed the handshake. One thread, epoll, masked client frames,
 * no compression offered: it must outrun the server it measures, so it
 * does nothing else.
 *
 *   ws_load PORT PATH CONNS WINDOW SECONDS MESSAGE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    int open; /* the 101 came */
    unsigned char in[65536];
    size_t in_len;
} conn_t;

static unsigned char frame[256];
static size_t frame_len;
static uint64_t answered, counting;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void build_frame(const char *msg)
{
    size_t n = strlen(msg);
    if (n > 125) {
        fprintf(stderr, "message too long\n");
        exit(2);
    }
    static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    frame[0] = 0x81;
    frame[1] = (unsigned char)(0x80 | n);
    memcpy(frame + 2, key, 4);
    for (size_t i = 0; i < n; i++)
        frame[6 + i] = (unsigned char)msg[i] ^ key[i % 4];
    frame_len = 6 + n;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Consumes whole server frames from c->in; returns how many data frames. */
static int frames(conn_t *c)
{
    int got = 0;
    size_t off = 0;
    for (;;) {
        if (c->in_len - off < 2)
            break;
        unsigned char *p = c->in + off;
        size_t len = p[1] & 0x7f, hdr = 2;
        if (len == 126) {
            if (c->in_len - off < 4)
                break;
            len = ((size_t)p[2] << 8) | p[3];
            hdr = 4;
        } else if (len == 127) {
            fprintf(stderr, "unexpected 64-bit frame\n");
            exit(1);
        }
        if (c->in_len - off < hdr + len)
            break;
        int op = p[0] & 0x0f;
        if (op == 1 || op == 2)
            got++;
        else if (op == 8) {
            fprintf(stderr, "server closed a connection\n");
            exit(1);
        }
        off += hdr + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return got;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: ws_load PORT PATH CONNS WINDOW SECONDS MESSAGE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    int nconn = atoi(argv[3]), window = atoi(argv[4]);
    double secs = atof(argv[5]);
    build_frame(argv[6]);
    char req[512];
    int rl = snprintf(req, sizeof(req),
                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: "
                      "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                      "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
                      "13\r\n\r\n",
                      path, port);
    int ep = epoll_create1(0);
    conn_t *cs = calloc((size_t)nconn, sizeof(*cs));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            send_all(fd, req, (size_t)rl) < 0) {
            perror("connect");
            return 1;
        }
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    int opened = 0;
    double start = now(), t_count = start + 1.0, t_end = t_count + secs;
    struct epoll_event evs[256];
    while (now() < t_end) {
        if (!counting && now() >= t_count) {
            counting = 1;
            answered = 0;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            conn_t *c = evs[k].data.ptr;
            ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
            if (r <= 0) {
                fprintf(stderr, "connection lost\n");
                return 1;
            }
            c->in_len += (size_t)r;
            if (!c->open) {
                unsigned char *e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
                if (e == NULL)
                    continue;
                if (memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
                    fprintf(stderr, "handshake refused: %.*s\n", 60, c->in);
                    return 1;
                }
                size_t h = (size_t)(e + 4 - c->in);
                memmove(c->in, c->in + h, c->in_len - h);
                c->in_len -= h;
                c->open = 1;
                opened++;
                for (int w = 0; w < window; w++)
                    if (send_all(c->fd, frame, frame_len) < 0)
                        return 1;
            }
            int got = frames(c);
            if (counting)
                answered += (uint64_t)got;
            for (int g = 0; g < got; g++)
                if (send_all(c->fd, frame, frame_len) < 0)
                    return 1;
        }
    }
    printf("%.0f %d\n", (double)answered / secs, opened);
    return 0;
}
