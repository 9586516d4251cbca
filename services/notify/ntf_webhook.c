/*
 * ntf_webhook.c - the webhook actor: one libcurl easy handle, one POST at a
 * time, results back over the pipe.
 */
#include "ntf_webhook.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "hm_clock.h"
#include "hm_log.h"

struct ntf_webhook_t {
    zactor_t *actor;  /* the thread and its pipe; owned */
    char *url;        /* owned */
    char *secret;     /* owned */
    int timeout_ms;   /* per POST */
    atomic_bool stop; /* set before the actor is told to end: aborts a POST */
};

int
ntf_webhook_sign(const char *secret, const char *body, size_t len, char out[NTF_SIG_LEN])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
              &maclen) ||
        maclen != 32)
        return -1;
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < maclen; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* curl's progress callback: non-zero aborts the transfer. */
static int
s_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    ntf_webhook_t *self = arg;
    return atomic_load(&self->stop) ? 1 : 0;
}

/* Discards the response body. */
static size_t
s_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    return size * nmemb;
}

/* POSTs body; returns the HTTP status or 0. */
static int
s_post(ntf_webhook_t *self, CURL *curl, const char *key, const char *body)
{
    char sig[NTF_SIG_LEN], h_sig[NTF_SIG_LEN + 32], h_ts[64], h_key[300];
    if (ntf_webhook_sign(self->secret, body, strlen(body), sig) != 0)
        return 0;
    snprintf(h_sig, sizeof h_sig, "X-HM-Signature: %s", sig);
    snprintf(h_ts, sizeof h_ts, "X-HM-Timestamp: %lld", (long long)(hm_clock_wall_ms() / 1000));
    snprintf(h_key, sizeof h_key, "X-HM-Delivery: %s", key);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, h_sig);
    hdrs = curl_slist_append(hdrs, h_ts);
    hdrs = curl_slist_append(hdrs, h_key);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, self->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)self->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        hm_log_warn("webhook_error", "curl=%d", (int)rc);
    curl_slist_free_all(hdrs);
    return (int)status;
}

/* The actor: "POST" job key body -> "RESULT" job status, until $TERM. */
static void
s_actor(zsock_t *pipe, void *arg)
{
    ntf_webhook_t *self = arg;
    CURL *curl = curl_easy_init();
    zsock_signal(pipe, 0);
    while (curl && !atomic_load(&self->stop)) {
        zmsg_t *msg = zmsg_recv(pipe);
        if (!msg)
            break;
        char *cmd = zmsg_popstr(msg);
        bool term = !cmd || strcmp(cmd, "$TERM") == 0;
        if (!term && strcmp(cmd, "POST") == 0 && zmsg_size(msg) == 3) {
            char *job = zmsg_popstr(msg), *key = zmsg_popstr(msg), *body = zmsg_popstr(msg);
            char status[16];
            snprintf(status, sizeof status, "%d", s_post(self, curl, key, body));
            zstr_sendx(pipe, "RESULT", job, status, NULL);
            zstr_free(&job);
            zstr_free(&key);
            zstr_free(&body);
        }
        zstr_free(&cmd);
        zmsg_destroy(&msg);
        if (term)
            break;
    }
    if (curl)
        curl_easy_cleanup(curl);
}

ntf_webhook_t *
ntf_webhook_new(const ntf_webhook_cfg_t *cfg)
{
    ntf_webhook_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->url = strdup(cfg->url);
    self->secret = strdup(cfg->secret);
    self->timeout_ms = cfg->timeout_ms;
    atomic_init(&self->stop, false);
    if (self->url && self->secret)
        self->actor = zactor_new(s_actor, self);
    if (!self->actor) {
        ntf_webhook_destroy(&self);
        return NULL;
    }
    zsock_set_sndtimeo(zactor_sock(self->actor), 0);
    return self;
}

void
ntf_webhook_destroy(ntf_webhook_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ntf_webhook_t *self = *self_p;
    atomic_store(&self->stop, true);
    zactor_destroy(&self->actor);
    free(self->url);
    free(self->secret);
    free(self);
    *self_p = NULL;
}

int
ntf_webhook_post(ntf_webhook_t *self, int64_t job, const char *key, const char *body)
{
    char jobtxt[24];
    snprintf(jobtxt, sizeof jobtxt, "%lld", (long long)job);
    return zstr_sendx(zactor_sock(self->actor), "POST", jobtxt, key, body, NULL) == 0 ? 0 : -1;
}

int
ntf_webhook_result(ntf_webhook_t *self, int64_t *job, int *status)
{
    zsock_t *sock = zactor_sock(self->actor);
    if (!(zsock_events(sock) & ZMQ_POLLIN))
        return -1;
    char *cmd = NULL, *jobtxt = NULL, *st = NULL;
    if (zstr_recvx(sock, &cmd, &jobtxt, &st, NULL) < 0)
        return -1;
    int rc = -1;
    if (cmd && jobtxt && st && strcmp(cmd, "RESULT") == 0) {
        *job = strtoll(jobtxt, NULL, 10);
        *status = atoi(st);
        rc = 0;
    }
    zstr_free(&cmd);
    zstr_free(&jobtxt);
    zstr_free(&st);
    return rc;
}

zsock_t *
ntf_webhook_sock(ntf_webhook_t *self)
{
    return zactor_sock(self->actor);
}
