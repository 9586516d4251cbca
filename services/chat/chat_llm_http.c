/*
 * chat_llm_http.c - one request thread of the openai backend: POSTs the
 * body with libcurl, reads the event stream, sends each content piece to
 * the main thread as it arrives.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "chat_llm.h"
#include "chat_sse.h"
#include "hm_clock.h"
#include "hm_log.h"

#define S_EVENT_MAX (256 * 1024) /* bytes of one event-stream line or event */
#define S_ERROR_BODY_MAX 4096    /* bytes of a non-200 body read (and dropped) */

/* One transfer. */
typedef struct {
    zsock_t *pipe;                     /* to the main thread; borrowed */
    const char *job;                   /* job id text; borrowed */
    CURL *curl;                        /* borrowed */
    chat_sse_t *sse;                   /* the stream parser; owned */
    char text[CHAT_LLM_REPLY_MAX + 1]; /* the reply so far */
    size_t ntext;                      /* its length */
    int index;                         /* next delta index */
    long status;                       /* HTTP status once known */
    bool done;                         /* [DONE] or finish_reason seen, or reply cut */
    bool bad_stream;                   /* an error chunk or unparseable data */
    bool idle;                         /* silent for idle_ms */
    bool term;                         /* $TERM from the main thread */
    int64_t last_byte_ms;              /* monotonic ms of the last byte */
    int idle_ms;                       /* allowed silence */
} s_xfer_t;

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

/* One event of the stream. Returns non-zero to stop reading. */
static int
s_on_event(void *arg, const char *data, size_t len)
{
    s_xfer_t *x = arg;
    char *content = NULL;
    bool finished = false;
    chat_chunk_rc_t rc = chat_sse_chunk(data, len, &content, &finished);
    if (rc == CHAT_CHUNK_DONE) {
        x->done = true;
        return 1;
    }
    if (rc == CHAT_CHUNK_ERROR) {
        x->bad_stream = true;
        return 1;
    }
    size_t n = strlen(content);
    if (x->ntext + n > CHAT_LLM_REPLY_MAX) { /* cut at the bound, on a UTF-8 boundary */
        n = CHAT_LLM_REPLY_MAX - x->ntext;
        while (n > 0 && ((unsigned char)content[n] & 0xC0) == 0x80)
            n--;
        content[n] = '\0';
        x->done = true;
    }
    if (n > 0) {
        memcpy(x->text + x->ntext, content, n);
        x->ntext += n;
        x->text[x->ntext] = '\0';
        char index[16];
        snprintf(index, sizeof index, "%d", x->index++);
        zstr_sendx(x->pipe, "DELTA", x->job, index, content, NULL);
    }
    free(content);
    x->done = x->done || finished;
    return x->done && x->ntext >= CHAT_LLM_REPLY_MAX ? 1 : 0;
}

static size_t
s_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_xfer_t *x = arg;
    size_t n = size * nmemb;
    x->last_byte_ms = s_now_ms();
    if (!x->status)
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status != 200)
        return n; /* an error body: read and dropped */
    if (x->done || x->bad_stream)
        return 0;
    return chat_sse_feed(x->sse, ptr, n, s_on_event, x) == 0 || x->done ? n : 0;
}

static int
s_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    s_xfer_t *x = arg;
    if (zsock_events(x->pipe) & ZMQ_POLLIN) {
        x->term = true; /* the main thread only sends $TERM to a busy thread */
        return 1;
    }
    if (s_now_ms() - x->last_byte_ms > x->idle_ms) {
        x->idle = true;
        return 1;
    }
    return 0;
}

/* Sets the request up on curl. Returns the header list (caller frees). */
static struct curl_slist *
s_setup(CURL *curl, const chat_llm_http_cfg_t *cfg, const char *body, s_xfer_t *x)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: text/event-stream");
    if (cfg->key && *cfg->key) {
        char auth[1024];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->key);
        h = curl_slist_append(h, auth);
        OPENSSL_cleanse(auth, sizeof auth);
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, cfg->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->idle_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

/* The reason a transfer failed, or NULL when it produced a reply. */
static const char *
s_verdict(s_xfer_t *x, CURLcode res, char *buf, size_t len)
{
    if (x->idle || res == CURLE_OPERATION_TIMEDOUT)
        return "timeout";
    if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST)
        return "connect";
    if (x->status && x->status != 200) {
        snprintf(buf, len, "http_%ld", x->status);
        return buf;
    }
    if (x->bad_stream)
        return "bad_stream";
    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && x->done))
        return "transfer";
    if (res == CURLE_OK && chat_sse_finish(x->sse, s_on_event, x) != 0 && x->bad_stream)
        return "bad_stream";
    return x->ntext > 0 ? NULL : "empty";
}

/* Runs one job and reports DONE or FAIL (nothing after $TERM). */
static void
s_perform(zsock_t *pipe, CURL *curl, const chat_llm_http_cfg_t *cfg, const char *job,
          const char *body)
{
    s_xfer_t *x = calloc(1, sizeof *x);
    if (!x || !(x->sse = chat_sse_new(S_EVENT_MAX))) {
        free(x);
        zstr_sendx(pipe, "FAIL", job, "nomem", NULL);
        return;
    }
    *x = (s_xfer_t){.pipe = pipe,
                    .job = job,
                    .curl = curl,
                    .sse = x->sse,
                    .last_byte_ms = s_now_ms(),
                    .idle_ms = cfg->idle_ms};
    struct curl_slist *h = s_setup(curl, cfg, body, x);
    int64_t t0 = s_now_ms();
    CURLcode res = curl_easy_perform(curl);
    curl_slist_free_all(h);
    char buf[32];
    const char *why = x->term ? "term" : s_verdict(x, res, buf, sizeof buf);
    hm_log_info("llm_request", "job=%s result=%s status=%ld curl=%d deltas=%d ms=%" PRId64, job,
                why ? why : "done", x->status, (int)res, x->index, s_now_ms() - t0);
    if (!x->term && why)
        zstr_sendx(pipe, "FAIL", job, why, NULL);
    else if (!x->term)
        zstr_sendx(pipe, "DONE", job, x->text, NULL);
    chat_sse_destroy(&x->sse);
    free(x);
}

void
chat_llm_http_actor(zsock_t *pipe, void *args)
{
    const chat_llm_http_cfg_t *cfg = args;
    CURL *curl = curl_easy_init();
    if (!curl)
        hm_log_error("llm_curl_init_failed", NULL);
    zsock_signal(pipe, 0);
    while (true) {
        zmsg_t *msg = zmsg_recv(pipe);
        if (!msg)
            break;
        char *cmd = zmsg_popstr(msg);
        bool term = !cmd || strcmp(cmd, "$TERM") == 0;
        if (!term && strcmp(cmd, "JOB") == 0) {
            char *job = zmsg_popstr(msg), *body = zmsg_popstr(msg);
            if (job && body && curl)
                s_perform(pipe, curl, cfg, job, body);
            else if (job)
                zstr_sendx(pipe, "FAIL", job, "nomem", NULL);
            free(job);
            free(body);
        }
        free(cmd);
        zmsg_destroy(&msg);
        if (term)
            break;
    }
    if (curl)
        curl_easy_cleanup(curl); /* the actor shim signals the end to zactor_destroy */
}
