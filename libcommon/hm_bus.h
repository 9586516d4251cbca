/*
 * hm_bus.h - the event bus: PUB/SUB sockets on czmq and envelope framing.
 *
 * An event is two frames: [topic][packed envelope]. Publishers connect a PUB
 * socket to the broker's events-in endpoint; subscribers connect a SUB socket
 * to events-out. ZeroMQ reconnects both after a broker restart and replays
 * the subscriptions. Receivers compare topics whole: ZeroMQ matches
 * subscriptions by prefix (ctl.user.1 also matches ctl.user.12; u.1 matches
 * u.12.health).
 *
 * CURVE: when the process's configuration names a certificate (curve_cert,
 * see HM_CFG_BUS_OPTS) every socket made here and in hm_mdp connects as a
 * CURVE client with that key pair to the broker's public key
 * (curve_server_key); hm_config_start() loads them once per process. Both
 * empty: plain ZeroMQ (NULL mechanism), the default. Certificates are czmq
 * zcert files (tools/hm-keys, scripts/keys).
 */
#ifndef HM_BUS_H
#define HM_BUS_H

#include <czmq.h>
#include <stdbool.h>

#include "hm_envelope.h"

typedef struct hm_config_t hm_config_t;

/* The high-water mark set on bus sockets (messages). */
#define HM_BUS_HWM 100000

/* New PUB socket connected to events_in; caller owns (zsock_destroy). */
zsock_t *hm_bus_pub_new(const char *events_in);

/* New SUB socket connected to events_out with no subscriptions; caller owns. */
zsock_t *hm_bus_sub_new(const char *events_out);

/* Subscribes / unsubscribes to topic as a ZeroMQ prefix ("" subscribes to
 * everything; compare what arrives whole).
 * Returns 0 or -1. */
int hm_bus_subscribe(zsock_t *sub, const char *topic);
int hm_bus_unsubscribe(zsock_t *sub, const char *topic);

/* Publishes env on topic. Returns 0, or -1 on an invalid topic or an
 * encoding error. At the high-water mark a PUB socket drops the event
 * silently (and 0 is returned). */
int hm_bus_publish(zsock_t *pub, const char *topic, const hm_envelope_t *env);

/* Receives one event (blocking unless the socket has a receive timeout).
 * On success returns 0, *topic (caller owns, free) and *env (caller owns).
 * Returns -1 when interrupted or timed out (nothing set), and -2 for garbage:
 * wrong frame count, a topic outside the closed set or an envelope that does
 * not decode; the message is consumed and dropped. */
int hm_bus_recv(zsock_t *sub, char **topic, hm_envelope_t **env);

/* The frame level of hm_bus_recv, for a reader that decodes the envelope
 * its own way (the edge frames events straight from msgpack): reads one
 * event without blocking into topic (HM_TOPIC_MAX bytes, NUL-terminated, a
 * topic of the closed set) and body (an initialised zmq_msg_t the caller
 * closes). Returns 0, -1 when nothing was waiting, and -2 for garbage
 * (wrong frame count or topic; the message is consumed and dropped). */
int hm_bus_recv_frames(zsock_t *sub, char *topic, zmq_msg_t *body);

/* Called for each event hm_bus_drain reads; topic and env are borrowed for
 * the call (a handler that keeps env takes a hm_envelope_dup). */
typedef void(hm_bus_event_fn)(void *arg, const char *topic, hm_envelope_t *env);

/* Handles what is waiting on sub without blocking, at most max messages:
 * fn(arg, ...) for each event; garbage is dropped, added to *garbage when
 * not NULL and logged once per drain. Returns how many messages were read
 * (max means more may be waiting). */
int hm_bus_drain(zsock_t *sub, int max, hm_bus_event_fn *fn, void *arg, uint64_t *garbage);

/* ---- CURVE (process-wide) ---------------------------------------------- */

/* Sets this process's bus security. cert: the process's own zcert file with
 * its secret key (czmq also finds "<cert>_secret" when given the public
 * file's name); server_cert: a zcert file holding the broker's public key.
 * Both NULL or "": CURVE off. A cert alone is the broker's case (it only
 * binds); a client socket made then fails. server_cert without cert, a file
 * that does not load, or a cert without a secret key: -1 with a message on
 * stderr naming the option (never a key), and the previous setting kept.
 * Returns 0 or -1. */
int hm_bus_curve_setup(const char *cert, const char *server_cert);

/* hm_bus_curve_setup() from the options curve_cert and curve_server_key of
 * a config whose table holds HM_CFG_BUS_OPTS. curve_cert without
 * curve_server_key is refused unless the table also has curve_clients (the
 * broker, which only binds). Returns 0 or -1 (message on stderr). */
int hm_bus_curve_configure(hm_config_t *cfg);

/* True when this process has a CURVE certificate loaded. */
bool hm_bus_curve_on(void);

/* This process's certificate (borrowed; NULL when CURVE is off). */
zcert_t *hm_bus_curve_cert(void);

/* Makes sock, not yet connected, a CURVE client of the broker when CURVE is
 * on. Returns 0 (also when off), or -1 (logged) when the broker's key is not
 * configured. */
int hm_bus_curve_client(zsock_t *sock);

/* Forgets the setting and frees the certificate (CURVE off). */
void hm_bus_curve_clear(void);

#endif /* HM_BUS_H */
