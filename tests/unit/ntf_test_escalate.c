/*
 * ntf_test_escalate.c - escalation jobs against a real webhook thread and
 * a tiny HTTP receiver (a ZeroMQ STREAM socket): one POST per notification,
 * retries after failures, cancellation by an ack, and the state kept across
 * a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_db.h"
#include "ntf_escalate.h"
#include "ntf_store.h"

typedef struct {
    char dir[64];           /* temporary directory */
    sqlite3 *db;            /* open handle */
    zsock_t *stream;        /* the HTTP receiver */
    ntf_webhook_t *webhook; /* the POSTing thread */
    ntf_presence_t *presence;
    ntf_escalate_t *esc; /* under test */
} fixture_t;

static ntf_escalate_t *
new_escalate(fixture_t *f)
{
    ntf_escalate_cfg_t cfg = {f->db, f->webhook,        NULL, f->presence, NULL,
                              NULL,  {50, 2.0, 400, 3}, 4};
    return ntf_escalate_new(&cfg);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ntf_test_escalate_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char path[128], url[64];
    snprintf(path, sizeof path, "%s/notify.db", f->dir);
    f->db = ntf_store_open(path);
    f->stream = zsock_new(ZMQ_STREAM);
    int port = zsock_bind(f->stream, "tcp://127.0.0.1:*");
    zsock_set_rcvtimeo(f->stream, 100);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    ntf_webhook_cfg_t wcfg = {url, "k3y", 3000};
    f->webhook = ntf_webhook_new(&wcfg);
    f->presence = ntf_presence_new();
    f->esc = new_escalate(f);
    *state = f;
    return f->esc ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    ntf_escalate_destroy(&f->esc);
    ntf_presence_destroy(&f->presence);
    ntf_webhook_destroy(&f->webhook);
    zsock_destroy(&f->stream);
    hm_db_close(&f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A stored critical notification for user 5. */
static void
stored(fixture_t *f, const char *key, ntf_row_t *row)
{
    ntf_new_t n = {5,
                   NTF_TYPE_HEALTH_ALERT,
                   NTF_PRIO_CRITICAL,
                   "Heart rate critical",
                   "",
                   NULL,
                   key,
                   NTF_ST_PENDING,
                   false,
                   1767225600000LL,
                   0,
                   0};
    assert_int_equal(ntf_store_insert(f->db, &n, row), 0);
}

/* Whether text holds a whole HTTP request (headers and Content-Length
 * bytes of body). */
static bool
whole(const char *text, size_t len)
{
    const char *end = strstr(text, "\r\n\r\n");
    const char *cl = strcasestr(text, "Content-Length:");
    return end && cl && len >= (size_t)(end + 4 - text) + (size_t)atol(cl + 15);
}

/* Answers the peer id with status and closes its connection. */
static void
answer(fixture_t *f, zframe_t *id, int status)
{
    char resp[96];
    snprintf(resp, sizeof resp, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", status);
    zframe_t *to = zframe_dup(id);
    zframe_send(&to, f->stream, ZFRAME_MORE);
    zstr_send(f->stream, resp);
    to = zframe_dup(id);
    zframe_send(&to, f->stream, ZFRAME_MORE);
    zmq_send(zsock_resolve(f->stream), "", 0, 0);
}

/* Ticks the escalations until the receiver gets a whole request, answers
 * it with status, then waits for the result to be recorded. Returns the
 * request text (caller frees) or NULL when none came within ms. */
static char *
serve(fixture_t *f, int status, int ms)
{
    char *req = NULL;
    size_t len = 0;
    int64_t until = zclock_mono() + ms;
    while (zclock_mono() < until && !(req && whole(req, len))) {
        ntf_escalate_tick(f->esc);
        zmsg_t *msg = zmsg_recv(f->stream);
        if (!msg)
            continue;
        zframe_t *id = zmsg_pop(msg), *data = zmsg_pop(msg);
        if (data && zframe_size(data) > 0) {
            req = realloc(req, len + zframe_size(data) + 1);
            memcpy(req + len, zframe_data(data), zframe_size(data));
            len += zframe_size(data);
            req[len] = '\0';
            if (whole(req, len))
                answer(f, id, status);
        }
        zframe_destroy(&id);
        zframe_destroy(&data);
        zmsg_destroy(&msg);
    }
    if (req) {
        assert_true(whole(req, len));
        zpoller_t *p = zpoller_new(ntf_webhook_sock(f->webhook), NULL);
        assert_non_null(zpoller_wait(p, 5000));
        zpoller_destroy(&p);
        ntf_escalate_drain(f->esc);
    }
    return req;
}

static void
test_offline_critical_is_posted_once(void **state)
{
    fixture_t *f = *state;
    ntf_row_t row;
    stored(f, "a", &row);
    assert_true(ntf_escalate_enabled(f->esc));
    assert_int_equal(ntf_escalate_add(f->esc, &row, "offline"), 0);
    assert_int_equal(ntf_escalate_state(f->esc, row.nid),
                     NTF_ESC_PENDING); /* no auth: no confirm */
    char *req = serve(f, 200, 3000);
    assert_non_null(req);
    assert_non_null(strstr(req, "\"reason\":\"offline\""));
    assert_non_null(strstr(req, row.id));
    assert_non_null(strstr(req, "Heart rate critical"));
    free(req);
    assert_int_equal(ntf_escalate_state(f->esc, row.nid), NTF_ESC_DONE);
    assert_int_equal(ntf_escalate_add(f->esc, &row, "unacked"), 0); /* once per notification */
    assert_null(serve(f, 200, 500));
    ntf_row_clear(&row);
}

static void
test_failures_are_retried_then_given_up(void **state)
{
    fixture_t *f = *state;
    ntf_row_t row;
    stored(f, "b", &row);
    ntf_escalate_add(f->esc, &row, "unacked");
    for (int i = 0; i < 3; i++) {
        char *req = serve(f, 503, 3000);
        assert_non_null(req);
        char want[32];
        snprintf(want, sizeof want, "\"attempt\":%d", i + 1);
        assert_non_null(strstr(req, want));
        free(req);
    }
    assert_int_equal(ntf_escalate_state(f->esc, row.nid), NTF_ESC_FAILED);
    assert_null(serve(f, 200, 600));
    ntf_row_clear(&row);
}

static void
test_ack_cancels_and_restart_resumes(void **state)
{
    fixture_t *f = *state;
    ntf_row_t a, b;
    stored(f, "c", &a);
    stored(f, "d", &b);
    ntf_escalate_add(f->esc, &a, "offline");
    ntf_escalate_add(f->esc, &b, "offline");
    assert_int_equal(ntf_escalate_cancel(f->esc, a.nid), 0);
    assert_int_equal(ntf_escalate_state(f->esc, a.nid), NTF_ESC_CANCELLED);
    /* A restart before anything was sent: b is still owed, a is not. */
    ntf_escalate_destroy(&f->esc);
    f->esc = new_escalate(f);
    assert_int_equal(ntf_escalate_load(f->esc), 1);
    char *req = serve(f, 200, 3000);
    assert_non_null(req);
    assert_non_null(strstr(req, b.id));
    free(req);
    assert_null(serve(f, 200, 500));
    assert_int_equal(ntf_escalate_state(f->esc, b.nid), NTF_ESC_DONE);
    ntf_row_clear(&a);
    ntf_row_clear(&b);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offline_critical_is_posted_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_are_retried_then_given_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_cancels_and_restart_resumes, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
