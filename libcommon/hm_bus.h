/*
 * hm_bus.h - the event bus: PUB/SUB sockets on czmq and envelope framing.
 *
 * An event is two frames: [topic][packed envelope]. Publishers connect a PUB
 * socket to the broker's events-in endpoint; subscribers connect a SUB socket
 * to events-out. ZeroMQ reconnects both after a broker restart and replays
 * the subscriptions. Receivers compare topics whole: ZeroMQ matches
 * subscriptions by prefix (ctl.user.1 also matches ctl.user.12; u.1 matches
 * u.12.health).
 */
#ifndef HM_BUS_H
#define HM_BUS_H

#include <czmq.h>
#include <stdbool.h>

#include "hm_envelope.h"

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

/* Called for each event hm_bus_drain reads; topic and env are borrowed for
 * the call (a handler that keeps env takes a hm_envelope_dup). */
typedef void(hm_bus_event_fn)(void *arg, const char *topic, hm_envelope_t *env);

/* Handles what is waiting on sub without blocking, at most max messages:
 * fn(arg, ...) for each event; garbage is dropped, added to *garbage when
 * not NULL and logged once per drain. Returns how many messages were read
 * (max means more may be waiting). */
int hm_bus_drain(zsock_t *sub, int max, hm_bus_event_fn *fn, void *arg, uint64_t *garbage);

#endif /* HM_BUS_H */
