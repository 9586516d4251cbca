/*
 * edge_listen.c - the edge's own listen socket, opened with SO_REUSEPORT so
 * that several hm-edge processes share one port (the kernel spreads new
 * connections between them). Debian's libwebsockets 4.1.6 does not set
 * SO_REUSEPORT itself, so the vhost listens nowhere and every accepted
 * socket is handed to it with lws_adopt_socket_vhost() (TLS included when
 * the vhost has a certificate).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge.h"
#include "hm_log.h"

#define ACCEPT_BATCH 256

int
edge_listen_start(edge_t *e, const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        hm_log_error("listen_failed", "reason=bad_host host=%s", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0
        || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
        hm_log_error("listen_failed", "host=%s port=%d errno=%d", host, port, errno);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *) &sa, &len);
    e->port = ntohs(sa.sin_port);
    lws_sock_file_fd_type u;
    u.filefd = fd;
    e->listen_wsi = lws_adopt_descriptor_vhost(e->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
                                               "hm-listen", NULL);
    return e->listen_wsi ? 0 : -1;
}

/* The listen socket is readable: accept what is waiting. */
void
edge_listen_accept(edge_t *e, struct lws *wsi)
{
    int lfd = (int) lws_get_socket_fd(wsi);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                hm_log_warn("accept_failed", "errno=%d", errno);
            return;
        }
        lws_sock_file_fd_type u;
        u.sockfd = fd;
        /* As lws_adopt_socket_vhost() does, plus TLS when the vhost has it. */
        int type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (e->tls ? LWS_ADOPT_ALLOW_SSL : 0);
        if (!lws_adopt_descriptor_vhost(e->vhost, (lws_adoption_type) type, u, NULL, NULL))
            hm_log_warn("adopt_failed", NULL); /* lws closed fd */
    }
}
