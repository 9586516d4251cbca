/*
 * hm_bus.c - event bus sockets and [topic][envelope] framing.
 */
#include "hm_bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hm_log.h"

/* Common socket options: bounded queues, no linger on close, fast reconnect
 * after a broker restart. */
static void
s_tune(zsock_t *sock)
{
    zsock_set_sndhwm(sock, HM_BUS_HWM);
    zsock_set_rcvhwm(sock, HM_BUS_HWM);
    zsock_set_linger(sock, 0);
    zsock_set_reconnect_ivl(sock, 100);
    zsock_set_reconnect_ivl_max(sock, 2000);
}

/* A socket of type connected to endpoint, or NULL (logged). */
static zsock_t *
s_connect(int type, const char *endpoint)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    s_tune(sock);
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        hm_log_error("bus_connect_failed", "endpoint=%s", endpoint);
        zsock_destroy(&sock);
    }
    return sock;
}

zsock_t *
hm_bus_pub_new(const char *events_in)
{
    return s_connect(ZMQ_PUB, events_in);
}

zsock_t *
hm_bus_sub_new(const char *events_out)
{
    return s_connect(ZMQ_SUB, events_out);
}

int
hm_bus_subscribe(zsock_t *sub, const char *topic)
{
    return zmq_setsockopt(zsock_resolve(sub), ZMQ_SUBSCRIBE, topic, strlen(topic)) == 0 ? 0 : -1;
}

int
hm_bus_unsubscribe(zsock_t *sub, const char *topic)
{
    return zmq_setsockopt(zsock_resolve(sub), ZMQ_UNSUBSCRIBE, topic, strlen(topic)) == 0 ? 0
                                                                                          : -1;
}

int
hm_bus_publish(zsock_t *pub, const char *topic, const hm_envelope_t *env)
{
    if (hm_topic_parse(topic, NULL, NULL) == HM_TOPIC_INVALID)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    if (hm_envelope_encode(env, &buf, &len) != 0)
        return -1;
    void *handle = zsock_resolve(pub);
    int rc = -1;
    if (zmq_send(handle, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0
        && zmq_send(handle, buf, len, ZMQ_DONTWAIT) >= 0)
        rc = 0;
    free(buf);
    return rc;
}

/* Reads and discards what is left of a multipart message. */
static void
s_drain(void *handle, zmq_msg_t *msg)
{
    while (zmq_msg_more(msg)) {
        zmq_msg_close(msg);
        zmq_msg_init(msg);
        if (zmq_msg_recv(msg, handle, 0) < 0)
            break;
    }
}

int
hm_bus_recv(zsock_t *sub, char **topic, hm_envelope_t **env)
{
    void *handle = zsock_resolve(sub);
    zmq_msg_t tmsg, bmsg;
    zmq_msg_init(&tmsg);
    if (zmq_msg_recv(&tmsg, handle, 0) < 0) {
        zmq_msg_close(&tmsg);
        return -1;
    }
    int rc = -2;
    zmq_msg_init(&bmsg);
    size_t tlen = zmq_msg_size(&tmsg);
    if (!zmq_msg_more(&tmsg) || tlen == 0 || tlen >= HM_TOPIC_MAX) {
        s_drain(handle, &tmsg);
        goto done;
    }
    if (zmq_msg_recv(&bmsg, handle, 0) < 0)
        goto done;
    if (zmq_msg_more(&bmsg)) {
        s_drain(handle, &bmsg);
        goto done;
    }
    char tbuf[HM_TOPIC_MAX];
    memcpy(tbuf, zmq_msg_data(&tmsg), tlen);
    tbuf[tlen] = '\0';
    if (strlen(tbuf) != tlen || hm_topic_parse(tbuf, NULL, NULL) == HM_TOPIC_INVALID)
        goto done;
    hm_envelope_t *e = NULL;
    if (hm_envelope_decode(zmq_msg_data(&bmsg), zmq_msg_size(&bmsg), &e) != 0)
        goto done;
    *topic = strdup(tbuf);
    if (!*topic) {
        hm_envelope_destroy(&e);
        goto done;
    }
    *env = e;
    rc = 0;
done:
    zmq_msg_close(&tmsg);
    zmq_msg_close(&bmsg);
    return rc;
}

int
hm_bus_drain(zsock_t *sub, int max, hm_bus_event_fn *fn, void *arg, uint64_t *garbage)
{
    int n = 0, dropped = 0;
    while (n < max && (zsock_events(sub) & ZMQ_POLLIN)) {
        char *topic = NULL;
        hm_envelope_t *env = NULL;
        int rc = hm_bus_recv(sub, &topic, &env);
        if (rc == -1)
            break;
        n++;
        if (rc == 0)
            fn(arg, topic, env);
        else
            dropped++;
        free(topic);
        hm_envelope_destroy(&env);
    }
    if (dropped) {
        if (garbage)
            *garbage += (uint64_t) dropped;
        hm_log_warn("bus_garbage", "dropped=%d", dropped);
    }
    return n;
}
