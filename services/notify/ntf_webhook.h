/*
 * ntf_webhook.h - POSTs to the escalation webhook (the bridge to a mobile
 * push gateway or a pager), off the service's loop: a czmq actor thread
 * runs libcurl, jobs and results travel over the actor's inproc pipe, so a
 * slow receiver never stalls delivery.
 *
 * Each POST sends the JSON body with
 *   Content-Type: application/json
 *   X-HM-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>
 *   X-HM-Timestamp: <unix seconds when sent>
 *   X-HM-Delivery: <job key, the notification id: receivers deduplicate>
 * The body itself carries the escalation time, so the signature covers it.
 * A 2xx status is success; anything else (or no answer within timeout_ms)
 * is a failure that the caller retries. Call curl_global_init() once in
 * main() before the first ntf_webhook_new().
 */
#ifndef NTF_WEBHOOK_H
#define NTF_WEBHOOK_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#define NTF_SIG_LEN 72 /* "sha256=" + 64 hex + NUL */

typedef struct {
    const char *url;    /* http(s) URL; copied */
    const char *secret; /* HMAC key; copied */
    int timeout_ms;     /* per POST, connect included */
} ntf_webhook_cfg_t;

typedef struct ntf_webhook_t ntf_webhook_t;

/* Starts the thread. NULL on failure. */
ntf_webhook_t *ntf_webhook_new(const ntf_webhook_cfg_t *cfg);

/* Aborts a POST in progress and stops the thread; NULL-safe. */
void ntf_webhook_destroy(ntf_webhook_t **self_p);

/* Queues a POST of body (copied) tagged job and key (the delivery id).
 * Returns 0, or -1 when the pipe is full (retry later). */
int ntf_webhook_post(ntf_webhook_t *self, int64_t job, const char *key, const char *body);

/* Reads one finished POST: *job and *status (the HTTP status, 0 when no
 * response came). Returns 0, or -1 when none is waiting. */
int ntf_webhook_result(ntf_webhook_t *self, int64_t *job, int *status);

/* The socket to poll for results. */
zsock_t *ntf_webhook_sock(ntf_webhook_t *self);

/* Writes "sha256=<hex HMAC-SHA256(secret, body)>" into out. Returns 0 or
 * -1. */
int ntf_webhook_sign(const char *secret, const char *body, size_t len, char out[NTF_SIG_LEN]);

#endif /* NTF_WEBHOOK_H */
