/*
 * hm_mdp.h - Majordomo Protocol MDP/0.1 (ZeroMQ RFC 7) client and worker.
 *
 * Request and reply bodies are one frame each: a packed hm_envelope_t.
 *
 * Client: a DEALER socket. hm_mdp_client_request() is the synchronous call
 * (timeout per attempt, retries with exponential backoff and jitter; the
 * socket is recreated after each timeout so a restarted broker is reached
 * afresh; stale replies are matched by envelope id and dropped).
 * hm_mdp_client_send()/recv() are the asynchronous pair for processes that
 * keep their own loop (the edge). A reply carries its request's `id`, so
 * callers match replies to requests by id.
 *
 * Worker: a DEALER socket that sends READY, answers HEARTBEATs, detects a
 * dead broker after `liveness` missed heartbeats and reconnects (new socket,
 * READY again). Replies may be sent later than the request arrived: keep the
 * reply_to frame.
 */
#ifndef HM_MDP_H
#define HM_MDP_H

#include <czmq.h>
#include <stdbool.h>

#include "hm_envelope.h"

#define HM_MDP_HEARTBEAT_MS 1000 /* default heartbeat interval */
#define HM_MDP_LIVENESS 3        /* missed heartbeats before a peer is dead */

/* ---- client ---------------------------------------------------------- */

typedef struct hm_mdp_client_t hm_mdp_client_t;

/* Connects to the broker's request endpoint. timeout_ms is per attempt,
 * retries the number of attempts after the first. NULL on failure. */
hm_mdp_client_t *hm_mdp_client_new(const char *broker, int timeout_ms, int retries);
void hm_mdp_client_destroy(hm_mdp_client_t **self_p);

/* Sends req to service and waits for its reply. Returns 0 and *reply (caller
 * owns) or -1 when every attempt timed out or zsys was interrupted. A reply
 * with type "error" is still a reply (0). req->id must be set; it is kept
 * across retries so services can deduplicate. */
int hm_mdp_client_request(hm_mdp_client_t *self, const char *service, const hm_envelope_t *req,
                          hm_envelope_t **reply);

/* Asynchronous pair. send: 0 or -1. recv: 0 with *service (caller owns) and
 * *reply (caller owns); -1 when nothing is ready or the frame was garbage.
 * Use hm_mdp_client_sock() in a poller. */
int hm_mdp_client_send(hm_mdp_client_t *self, const char *service, const hm_envelope_t *req);
int hm_mdp_client_recv(hm_mdp_client_t *self, char **service, hm_envelope_t **reply);
zsock_t *hm_mdp_client_sock(hm_mdp_client_t *self);

/* Drops and recreates the socket (after a long silence). Returns 0 or -1. */
int hm_mdp_client_reconnect(hm_mdp_client_t *self);

/* Raw MMI query (RFC 8): asks the broker whether service has workers.
 * Returns 200, 404, 501, or -1 on timeout. Do not call it while replies of
 * the asynchronous pair are pending: it drops messages that are not its
 * answer. */
int hm_mdp_client_mmi_service(hm_mdp_client_t *self, const char *service);

/* ---- worker ---------------------------------------------------------- */

typedef struct hm_mdp_worker_t hm_mdp_worker_t;

/* Registers for service with the broker. heartbeat_ms 0 means the default.
 * NULL on failure. */
hm_mdp_worker_t *hm_mdp_worker_new(const char *broker, const char *service, int heartbeat_ms);
void hm_mdp_worker_destroy(hm_mdp_worker_t **self_p);

/* The socket to poll for input. Changes after a reconnect: fetch it again
 * each loop iteration. */
zsock_t *hm_mdp_worker_sock(hm_mdp_worker_t *self);

/* Reads one message from the broker. Returns 1 with *req and *reply_to
 * (caller owns both) for a request; 0 when the message was protocol traffic
 * (heartbeat) or garbage (dropped); -1 when nothing could be read. A request
 * whose body does not decode is answered with an error reply and 0 is
 * returned. */
int hm_mdp_worker_recv(hm_mdp_worker_t *self, hm_envelope_t **req, zframe_t **reply_to);

/* Sends reply to the client in *reply_to; takes ownership of *reply_to.
 * Returns 0 or -1. */
int hm_mdp_worker_send(hm_mdp_worker_t *self, zframe_t **reply_to, const hm_envelope_t *reply);

/* Call at least every heartbeat interval: sends heartbeats and reconnects
 * when the broker has been silent for liveness intervals. */
void hm_mdp_worker_tick(hm_mdp_worker_t *self);

/* Milliseconds until the next tick is due (for poll timeouts). */
int hm_mdp_worker_tick_ms(hm_mdp_worker_t *self);

/* Builds the standard error reply for req: type "error", same id and
 * correlation_id, data {code, message}. Caller owns. */
hm_envelope_t *hm_mdp_error_reply(const hm_envelope_t *req, const char *code, const char *message);

#endif /* HM_MDP_H */
