/*
 * brk_curve.c - CURVE server sockets, ZAP allow-list and handshake monitors.
 */
#include "brk_curve.h"

#include <string.h>
#include <sys/stat.h>

#include "hm_log.h"

#define S_EVENTS                                                                                   \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

typedef struct {
    const char *name; /* socket label for logs; borrowed (a literal) */
    zsock_t *monitor; /* PAIR reading the socket's monitor events; owned */
} s_watch_t;

struct brk_curve_t {
    zcert_t *cert;                    /* broker key pair; borrowed */
    zactor_t *auth;                   /* zauth: the ZAP handler; owned */
    s_watch_t watch[BRK_CURVE_SOCKS]; /* one per served socket */
    int nwatch;                       /* watch entries in use */
    uint64_t denied;                  /* handshakes refused */
};

/* How many files in dir look like public certificates ("*_secret" is not
 * one); -1 when dir is not a readable directory. */
static int
s_count_certs(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    zdir_t *zdir = zdir_new(dir, "-");
    if (!zdir)
        return -1;
    zlist_t *files = zdir_list(zdir);
    int n = 0;
    for (zfile_t *f = zlist_first(files); f; f = zlist_next(files)) {
        const char *path = zfile_filename(f, NULL);
        size_t len = strlen(path);
        if (len < 7 || strcmp(path + len - 7, "_secret") != 0)
            n++;
    }
    zlist_destroy(&files);
    zdir_destroy(&zdir);
    return n;
}

brk_curve_t *
brk_curve_new(zcert_t *cert, const char *clients)
{
    int keys = strcmp(clients, CURVE_ALLOW_ANY) == 0 ? 0 : s_count_certs(clients);
    if (keys < 0) {
        hm_log_error("curve_clients_unreadable", "dir=%s", clients);
        return NULL;
    }
    brk_curve_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->cert = cert;
    self->auth = zactor_new(zauth, NULL);
    if (!self->auth || zstr_sendx(self->auth, "CURVE", clients, NULL) != 0 ||
        zsock_wait(self->auth) != 0) {
        hm_log_error("curve_zap_failed", NULL);
        brk_curve_destroy(&self);
        return NULL;
    }
    if (keys == 0 && strcmp(clients, CURVE_ALLOW_ANY) != 0)
        hm_log_warn("curve_clients_empty", "dir=%s note=\"every client is refused\"", clients);
    hm_log_info("curve_on", "clients=%s keys=%d", clients, keys);
    return self;
}

void
brk_curve_destroy(brk_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    brk_curve_t *self = *self_p;
    for (int i = 0; i < self->nwatch; i++)
        zsock_destroy(&self->watch[i].monitor);
    zactor_destroy(&self->auth);
    free(self);
    *self_p = NULL;
}

int
brk_curve_serve(brk_curve_t *self, zsock_t *sock, const char *name)
{
    if (!self)
        return 0;
    if (self->nwatch >= BRK_CURVE_SOCKS)
        return -1;
    zcert_apply(self->cert, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, "hm-bus");
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://brk-curve-%p-%d", (void *)self, self->nwatch);
    zsock_t *mon = NULL;
    if (zmq_socket_monitor(zsock_resolve(sock), ep, S_EVENTS) == 0)
        mon = zsock_new_pair(ep);
    if (!mon) {
        hm_log_error("curve_monitor_failed", "socket=%s", name);
        return -1;
    }
    self->watch[self->nwatch].name = name;
    self->watch[self->nwatch].monitor = mon;
    self->nwatch++;
    return 0;
}

int
brk_curve_pollitems(brk_curve_t *self, zmq_pollitem_t *items, int max)
{
    int n = 0;
    for (int i = 0; self && i < self->nwatch && n < max; i++, n++)
        items[n] = (zmq_pollitem_t){zsock_resolve(self->watch[i].monitor), 0, ZMQ_POLLIN, 0};
    return n;
}

/* Why a handshake failed, from a monitor event and its value. */
static const char *
s_reason(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return "not_authorized";
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            return "not_curve";
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
            return "bad_key";
        return "protocol";
    }
    return "handshake";
}

/* Handles one monitor event: [uint16 event, uint32 value][endpoint]. */
static void
s_event(brk_curve_t *self, const char *name, zmsg_t *msg)
{
    zframe_t *head = zmsg_first(msg);
    if (!head || zframe_size(head) != 6)
        return;
    uint16_t event;
    uint32_t value;
    memcpy(&event, zframe_data(head), 2);
    memcpy(&value, zframe_data(head) + 2, 4);
    if (!(event & S_EVENTS))
        return;
    self->denied++;
    uint64_t n = self->denied;
    if (n <= 10 || (n & (n - 1)) == 0)
        hm_log_warn("curve_denied", "socket=%s reason=%s denied_total=%llu", name,
                    s_reason(event, value), (unsigned long long)n);
}

void
brk_curve_drain(brk_curve_t *self)
{
    for (int i = 0; self && i < self->nwatch; i++) {
        zsock_t *mon = self->watch[i].monitor;
        while (zsock_events(mon) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv(mon);
            if (!msg)
                break;
            s_event(self, self->watch[i].name, msg);
            zmsg_destroy(&msg);
        }
    }
}

const uint64_t *
brk_curve_denied(brk_curve_t *self)
{
    return &self->denied;
}
