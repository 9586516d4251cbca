/*
 * ntf_test_webhook.c - the escalation webhook: the HMAC signature, and real
 * POSTs from the webhook thread to a tiny HTTP server made of a ZeroMQ
 * STREAM socket in the test thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <czmq.h>
#include <string.h>

#include "ntf_webhook.h"

static void
test_signature_is_hmac_sha256_hex(void **state)
{
    /* RFC 4231, test case 2. */
    char sig[NTF_SIG_LEN];
    const char *body = "what do ya want for nothing?";
    assert_int_equal(ntf_webhook_sign("Jefe", body, strlen(body), sig), 0);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* Reads one HTTP request from the STREAM socket (headers and a body of
 * Content-Length bytes), answers status and closes. Returns the request
 * text (caller frees) or NULL on timeout. */
static char *
serve_one(zsock_t *stream, int status)
{
    char *req = NULL;
    size_t len = 0;
    zframe_t *peer = NULL;
    int64_t deadline = zclock_mono() + 10000;
    while (zclock_mono() < deadline) {
        zmsg_t *msg = zmsg_recv(stream);
        if (!msg)
            continue; /* receive timeout */
        zframe_t *id = zmsg_pop(msg), *data = zmsg_pop(msg);
        if (data && zframe_size(data) > 0) {
            req = realloc(req, len + zframe_size(data) + 1);
            memcpy(req + len, zframe_data(data), zframe_size(data));
            len += zframe_size(data);
            req[len] = '\0';
            zframe_destroy(&peer);
            peer = zframe_dup(id);
        }
        zframe_destroy(&id);
        zframe_destroy(&data);
        zmsg_destroy(&msg);
        char *end = req ? strstr(req, "\r\n\r\n") : NULL;
        char *cl = req ? strcasestr(req, "Content-Length:") : NULL;
        if (end && cl && len >= (size_t)(end + 4 - req) + (size_t)atol(cl + 15))
            break;
    }
    if (peer) {
        char resp[128];
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
        zframe_t *to = zframe_dup(peer);
        zframe_send(&to, stream, ZFRAME_MORE);
        zstr_send(stream, resp);
        zframe_send(&peer, stream, ZFRAME_MORE);
        zmq_send(zsock_resolve(stream), "", 0, 0); /* close */
    }
    return req;
}

/* Waits for one result from the webhook thread. */
static void
wait_result(ntf_webhook_t *wh, int64_t *job, int *status)
{
    zpoller_t *p = zpoller_new(ntf_webhook_sock(wh), NULL);
    assert_non_null(zpoller_wait(p, 15000));
    zpoller_destroy(&p);
    assert_int_equal(ntf_webhook_result(wh, job, status), 0);
}

/* A header's value in an HTTP request (copied into out). */
static const char *
header(const char *req, const char *name, char *out, size_t len)
{
    const char *h = strcasestr(req, name);
    assert_non_null(h);
    h += strlen(name);
    while (*h == ' ' || *h == ':')
        h++;
    size_t n = strcspn(h, "\r\n");
    snprintf(out, len, "%.*s", (int)n, h);
    return out;
}

static void
test_post_is_signed_and_reports_the_status(void **state)
{
    zsock_t *stream = zsock_new(ZMQ_STREAM);
    int port = zsock_bind(stream, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    zsock_set_rcvtimeo(stream, 200);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/escalate", port);
    ntf_webhook_cfg_t cfg = {url, "s3cret", 5000};
    ntf_webhook_t *wh = ntf_webhook_new(&cfg);
    assert_non_null(wh);
    const char *body = "{\"event\":\"notification.escalated\",\"reason\":\"offline\"}";
    assert_int_equal(ntf_webhook_post(wh, 17, "0b5f1c1e-0000-4000-8000-000000000017", body), 0);
    char *req = serve_one(stream, 200);
    assert_non_null(req);
    assert_true(strncmp(req, "POST /escalate HTTP/1.1", 23) == 0);
    assert_non_null(strstr(req, body));
    char want[NTF_SIG_LEN], got[128];
    ntf_webhook_sign("s3cret", body, strlen(body), want);
    assert_string_equal(header(req, "X-HM-Signature", got, sizeof got), want);
    assert_true(atoll(header(req, "X-HM-Timestamp", got, sizeof got)) > 1600000000LL);
    assert_string_equal(header(req, "X-HM-Delivery", got, sizeof got),
                        "0b5f1c1e-0000-4000-8000-000000000017");
    assert_string_equal(header(req, "Content-Type", got, sizeof got), "application/json");
    free(req);
    int64_t job = 0;
    int status = 0;
    wait_result(wh, &job, &status);
    assert_int_equal(job, 17);
    assert_int_equal(status, 200);
    /* A failing receiver: its status comes back for the caller to retry. */
    assert_int_equal(ntf_webhook_post(wh, 18, "k", "{}"), 0);
    req = serve_one(stream, 503);
    free(req);
    wait_result(wh, &job, &status);
    assert_int_equal(job, 18);
    assert_int_equal(status, 503);
    assert_int_equal(ntf_webhook_result(wh, &job, &status), -1);
    ntf_webhook_destroy(&wh);
    assert_null(wh);
    zsock_destroy(&stream);
}

static void
test_unreachable_receiver_gives_status_0(void **state)
{
    zsock_t *probe = zsock_new(ZMQ_STREAM);
    int port = zsock_bind(probe, "tcp://127.0.0.1:*");
    zsock_destroy(&probe); /* the port is closed now */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    ntf_webhook_cfg_t cfg = {url, "k", 2000};
    ntf_webhook_t *wh = ntf_webhook_new(&cfg);
    assert_int_equal(ntf_webhook_post(wh, 1, "k", "{}"), 0);
    int64_t job;
    int status = -1;
    wait_result(wh, &job, &status);
    assert_int_equal(status, 0);
    ntf_webhook_destroy(&wh);
    ntf_webhook_destroy(&wh); /* idempotent */
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_is_hmac_sha256_hex),
        cmocka_unit_test(test_post_is_signed_and_reports_the_status),
        cmocka_unit_test(test_unreachable_receiver_gives_status_0),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
