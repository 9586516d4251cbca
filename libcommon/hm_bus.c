/*
 * hm_bus.c - event bus sockets and [topic][envelope] framing.
 */
#include "hm_bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hm_config.h"
#include "hm_log.h"

/* This process's bus security, set once at startup (hm_config_start) and
 * read by every socket constructor. */
static struct {
    zcert_t *cert;          /* own key pair; owned; NULL: CURVE off */
    char server_key[41];    /* broker's public key, Z85; "" when not set */
    bool atexit_registered; /* hm_bus_curve_clear runs at exit */
} s_curve;

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
    if (hm_bus_curve_client(sock) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
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

/* Reads one [topic, body] event; flags 0 or ZMQ_DONTWAIT. See
 * hm_bus_recv_frames for the results. */
static int
s_recv_frames(void *handle, char *topic, zmq_msg_t *body, int flags)
{
    zmq_msg_t tmsg;
    zmq_msg_init(&tmsg);
    if (zmq_msg_recv(&tmsg, handle, flags) < 0) {
        zmq_msg_close(&tmsg);
        return -1;
    }
    size_t tlen = zmq_msg_size(&tmsg);
    if (!zmq_msg_more(&tmsg) || tlen == 0 || tlen >= HM_TOPIC_MAX) {
        s_drain(handle, &tmsg);
        zmq_msg_close(&tmsg);
        return -2;
    }
    memcpy(topic, zmq_msg_data(&tmsg), tlen);
    topic[tlen] = '\0';
    zmq_msg_close(&tmsg);
    if (zmq_msg_recv(body, handle, 0) < 0)
        return -2;
    if (zmq_msg_more(body)) {
        s_drain(handle, body);
        return -2;
    }
    if (strlen(topic) != tlen || hm_topic_parse(topic, NULL, NULL) == HM_TOPIC_INVALID)
        return -2;
    return 0;
}

int
hm_bus_recv_frames(zsock_t *sub, char *topic, zmq_msg_t *body)
{
    return s_recv_frames(zsock_resolve(sub), topic, body, ZMQ_DONTWAIT);
}

int
hm_bus_recv(zsock_t *sub, char **topic, hm_envelope_t **env)
{
    char tbuf[HM_TOPIC_MAX];
    zmq_msg_t bmsg;
    zmq_msg_init(&bmsg);
    int rc = s_recv_frames(zsock_resolve(sub), tbuf, &bmsg, 0);
    hm_envelope_t *e = NULL;
    if (rc == 0 && hm_envelope_decode(zmq_msg_data(&bmsg), zmq_msg_size(&bmsg), &e) != 0)
        rc = -2;
    if (rc == 0 && !(*topic = strdup(tbuf))) {
        hm_envelope_destroy(&e);
        rc = -2;
    }
    if (rc == 0)
        *env = e;
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

/* ---- CURVE -------------------------------------------------------------- */

/* True when the Z85 key text is all zeros (a public-only cert's secret). */
static bool
s_key_is_zero(const char *z85)
{
    return !z85 || strspn(z85, "0") == strlen(z85);
}

/* Loads a zcert file for option name; prints why not. NULL on failure. */
static zcert_t *
s_cert_load(const char *name, const char *file)
{
    zcert_t *cert = zsys_has_curve() ? zcert_load(file) : NULL;
    if (!zsys_has_curve())
        fprintf(stderr, "%s: %s: this libzmq has no CURVE support\n",
                program_invocation_short_name, name);
    else if (!cert)
        fprintf(stderr, "%s: %s: cannot load a certificate from '%s'\n",
                program_invocation_short_name, name, file);
    return cert;
}

int
hm_bus_curve_setup(const char *cert, const char *server_cert)
{
    bool has_cert = cert && *cert, has_server = server_cert && *server_cert;
    if (has_server && !has_cert) {
        fprintf(stderr, "%s: curve_server_key is set but curve_cert is not\n",
                program_invocation_short_name);
        return -1;
    }
    zcert_t *own = has_cert ? s_cert_load("curve_cert", cert) : NULL;
    if (has_cert && !own)
        return -1;
    if (own && s_key_is_zero(zcert_secret_txt(own))) {
        fprintf(stderr, "%s: curve_cert: '%s' holds no secret key (give the _secret file)\n",
                program_invocation_short_name, cert);
        zcert_destroy(&own);
        return -1;
    }
    zcert_t *server = has_server ? s_cert_load("curve_server_key", server_cert) : NULL;
    if (has_server && !server) {
        zcert_destroy(&own);
        return -1;
    }
    hm_bus_curve_clear();
    s_curve.cert = own;
    if (server)
        snprintf(s_curve.server_key, sizeof s_curve.server_key, "%s", zcert_public_txt(server));
    zcert_destroy(&server);
    if (own && !s_curve.atexit_registered) {
        atexit(hm_bus_curve_clear);
        s_curve.atexit_registered = true;
    }
    return 0;
}

int
hm_bus_curve_configure(hm_config_t *cfg)
{
    const char *cert = hm_config_str(cfg, "curve_cert");
    const char *server = hm_config_str(cfg, "curve_server_key");
    if (*cert && !*server && !hm_config_has(cfg, "curve_clients")) {
        fprintf(stderr, "%s: curve_cert is set but curve_server_key (the broker's public cert) "
                        "is not\n",
                program_invocation_short_name);
        return -1;
    }
    return hm_bus_curve_setup(cert, server);
}

bool
hm_bus_curve_on(void)
{
    return s_curve.cert != NULL;
}

zcert_t *
hm_bus_curve_cert(void)
{
    return s_curve.cert;
}

int
hm_bus_curve_client(zsock_t *sock)
{
    if (!s_curve.cert)
        return 0;
    if (!s_curve.server_key[0]) {
        hm_log_error("bus_curve_no_server_key", "hint=\"set curve_server_key\"");
        return -1;
    }
    zcert_apply(s_curve.cert, sock);
    zsock_set_curve_serverkey(sock, s_curve.server_key);
    return 0;
}

void
hm_bus_curve_clear(void)
{
    zcert_destroy(&s_curve.cert);
    s_curve.server_key[0] = '\0';
}
