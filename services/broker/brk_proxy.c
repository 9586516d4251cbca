/*
 * brk_proxy.c - XSUB to XPUB event forwarding.
 */
#include "brk_proxy.h"

#include "hm_bus.h"
#include "hm_log.h"

static zsock_t *
s_bind(int type, const char *endpoint, brk_curve_t *curve, const char *name)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    zsock_set_sndhwm(sock, HM_BUS_HWM);
    zsock_set_rcvhwm(sock, HM_BUS_HWM);
    zsock_set_linger(sock, 0);
    if (brk_curve_serve(curve, sock, name) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        hm_log_error("bind_failed", "endpoint=%s error=\"%s\"", endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
    }
    return sock;
}

int
brk_proxy_bind(brk_proxy_t *self, const char *events_in, const char *events_out,
               brk_curve_t *curve)
{
    self->xsub = s_bind(ZMQ_XSUB, events_in, curve, "events_in");
    self->xpub = s_bind(ZMQ_XPUB, events_out, curve, "events_out");
    if (!self->xsub || !self->xpub) {
        brk_proxy_close(self);
        return -1;
    }
    return 0;
}

void
brk_proxy_close(brk_proxy_t *self)
{
    zsock_destroy(&self->xsub);
    zsock_destroy(&self->xpub);
}

/* Moves up to batch whole multipart messages from one socket to another
 * without blocking. Returns how many were moved. */
static int
s_pump(zsock_t *from, zsock_t *to, int batch)
{
    void *src = zsock_resolve(from);
    void *dst = zsock_resolve(to);
    int moved = 0;
    zmq_msg_t msg;
    while (moved < batch) {
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, src, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        int more = zmq_msg_more(&msg);
        while (1) {
            zmq_msg_send(&msg, dst, more ? ZMQ_SNDMORE : 0);
            zmq_msg_close(&msg);
            if (!more)
                break;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, src, 0) < 0) {
                zmq_msg_close(&msg);
                break;
            }
            more = zmq_msg_more(&msg);
        }
        moved++;
    }
    return moved;
}

void
brk_proxy_pump_down(brk_proxy_t *self, int batch)
{
    self->events += (uint64_t) s_pump(self->xsub, self->xpub, batch);
}

void
brk_proxy_pump_up(brk_proxy_t *self, int batch)
{
    self->subscriptions += (uint64_t) s_pump(self->xpub, self->xsub, batch);
}
