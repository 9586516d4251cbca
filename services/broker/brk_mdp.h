/*
 * brk_mdp.h - the Majordomo request broker (MDP/0.1, ZeroMQ RFC 7, with the
 * RFC 8 service-discovery request mmi.service and our mmi.stats).
 *
 * Workers register per service and heartbeat; dead workers are dropped.
 * Requests wait in a bounded queue per service while no worker is free; past
 * the bound, or past their deadline, the client gets a service_unavailable
 * error reply instead of silence. Free workers are used least recently used
 * first.
 */
#ifndef BRK_MDP_H
#define BRK_MDP_H

#include <czmq.h>
#include <jansson.h>

typedef struct {
    int heartbeat_ms;        /* heartbeat interval both ways */
    int queue_max;           /* queued requests per service before refusing */
    int request_deadline_ms; /* how long a request may wait for a worker */
    const uint64_t *events;  /* borrowed: events forwarded, for stats; may be NULL */
    const uint64_t *subscriptions; /* borrowed: subscription changes, for stats */
    const uint64_t *curve_denied;  /* borrowed: CURVE handshakes refused; NULL: off */
} brk_mdp_cfg_t;

typedef struct brk_mdp_t brk_mdp_t;

/* router is borrowed (the ROUTER socket the broker bound). NULL on failure. */
brk_mdp_t *brk_mdp_new(zsock_t *router, const brk_mdp_cfg_t *cfg);
void brk_mdp_destroy(brk_mdp_t **self_p);

/* Handles one message read from the router; takes ownership of *msg_p. */
void brk_mdp_handle(brk_mdp_t *self, zmsg_t **msg_p);

/* Sends heartbeats, drops expired workers and requests past their deadline.
 * Call whenever brk_mdp_tick_ms() has elapsed. */
void brk_mdp_tick(brk_mdp_t *self);
int brk_mdp_tick_ms(brk_mdp_t *self);

/* Statistics as a JSON object (caller owns): requests, replies, unavailable,
 * garbage, queued, events, subscriptions, curve_denied (when CURVE is on) and
 * per-service workers/waiting/queued. */
json_t *brk_mdp_stats(brk_mdp_t *self);

#endif /* BRK_MDP_H */
