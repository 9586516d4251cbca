/*
 * auth_test_service.c - the "auth" service's handlers, driven in-process
 * with envelopes (no broker): replies, codes, audit rows, sessions, bus
 * events and the token_revoked publication (over inproc PUB/SUB); sys.audit
 * events (refusals other services decided) and the garbage among them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_db.h"
#include "auth_jwt.h"
#include "auth_service.h"
#include "hm_audit.h"
#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_mdp.h"

#define NOW_MS 1767225600000LL
#define SECRET "service-test-secret-0123456789abcdef"

typedef struct {
    char dir[64];        /* temporary directory */
    char path[128];      /* database file */
    sqlite3 *db;         /* open handle */
    auth_jwt_t *jwt;     /* HS256 verifier and signer */
    zsock_t *pub;        /* what the service publishes on */
    zsock_t *sub;        /* bound inproc: sees what it publishes */
    auth_service_t *svc; /* under test */
} fixture_t;

/* A request envelope: verb, data (taken), conn_id and edge (may be NULL). */
static hm_envelope_t *
request(const char *verb, json_t *data, const char *conn_id, const char *edge)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    assert_non_null(req);
    hm_envelope_set_correlation_id(req, "corr-1");
    hm_envelope_set_conn_id(req, conn_id);
    hm_envelope_set_edge(req, edge);
    hm_envelope_set_data(req, data);
    return req;
}

/* Sends req (destroyed) to the service; returns the reply, checking that it
 * carries the request's id and correlation_id. */
static hm_envelope_t *
call(fixture_t *f, hm_envelope_t *req)
{
    hm_envelope_t *rep = auth_service_handle(f->svc, req);
    assert_non_null(rep);
    assert_string_equal(rep->id, req->id);
    assert_string_equal(rep->correlation_id, "corr-1");
    hm_envelope_destroy(&req);
    return rep;
}

/* The error code of rep ("" for an ack); rep destroyed. */
static char *
code_of(hm_envelope_t *rep)
{
    static char code[64];
    snprintf(code, sizeof code, "%s",
             strcmp(rep->type, HM_MSG_ERROR) == 0
                 ? json_string_value(json_object_get(rep->data, "code"))
                 : "");
    hm_envelope_destroy(&rep);
    return code;
}

/* auth.verify of token, with a connection when conn_id is set. */
static char *
verify(fixture_t *f, const char *token, const char *conn_id, const char *edge)
{
    return code_of(
        call(f, request(HM_VERB_AUTH_VERIFY,
                        json_pack("{s:s, s:s}", "token", token, "remote_addr", "192.0.2.7"),
                        conn_id, edge)));
}

static char *
token_for(fixture_t *f, int64_t user_id, char *jti)
{
    char *tok = auth_jwt_sign(f->jwt, user_id, 600, jti);
    assert_non_null(tok);
    return tok;
}

static int64_t
scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, sql);
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static void
test_verify_returns_the_user(void **state)
{
    fixture_t *f = *state;
    char jti[AUTH_JTI_MAX + 1];
    char *tok = token_for(f, 1, jti);
    hm_envelope_t *rep =
        call(f, request(HM_VERB_AUTH_VERIFY, json_pack("{s:s}", "token", tok), NULL, NULL));
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(rep->user_id, 1);
    assert_int_equal(json_integer_value(json_object_get(rep->data, "user_id")), 1);
    assert_string_equal(json_string_value(json_object_get(rep->data, "role")), "patient");
    assert_string_equal(json_string_value(json_object_get(rep->data, "display_name")), "Pat");
    assert_int_equal(json_integer_value(json_object_get(rep->data, "exp")), NOW_MS / 1000 + 600);
    assert_string_equal(json_string_value(json_object_get(rep->data, "jti")), jti);
    hm_envelope_destroy(&rep);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = 'verify' AND "
                                   "result = 'ok' AND user_id = 1"),
                     1);
    /* no conn_id: no session */
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM sessions"), 0);
    /* the token itself is stored nowhere */
    char sql[9000];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE instr(coalesce(detail, ''), '%s') > 0", tok);
    assert_int_equal(scalar(f->db, sql), 0);
    free(tok);
}

static void
test_verify_refusals_are_audited_with_their_code(void **state)
{
    fixture_t *f = *state;
    assert_string_equal(verify(f, "garbage", NULL, NULL), HM_ERR_TOKEN_MALFORMED);
    char *tok = token_for(f, 99, NULL); /* nobody */
    assert_string_equal(verify(f, tok, NULL, NULL), HM_ERR_USER_UNKNOWN);
    free(tok);
    tok = token_for(f, 3, NULL); /* disabled */
    assert_string_equal(verify(f, tok, NULL, NULL), HM_ERR_USER_INACTIVE);
    free(tok);
    hm_clock_set_fake(NOW_MS - 7200 * 1000); /* a token that expired an hour ago */
    tok = token_for(f, 1, NULL);
    hm_clock_set_fake(NOW_MS);
    assert_string_equal(verify(f, tok, NULL, NULL), HM_ERR_TOKEN_EXPIRED);
    free(tok);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = 'verify' AND "
                                   "result = 'denied' AND remote_addr = '192.0.2.7'"),
                     4);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE code = 'token_expired' "
                                   "AND user_id = 1"),
                     1);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE code = 'token_malformed' "
                                   "AND user_id IS NULL"),
                     1);
    /* malformed requests */
    assert_string_equal(code_of(call(f, request(HM_VERB_AUTH_VERIFY, NULL, NULL, NULL))),
                        HM_ERR_BAD_REQUEST);
    assert_string_equal(
        code_of(call(f, request(HM_VERB_AUTH_VERIFY, json_pack("{s:i}", "token", 5), NULL, NULL))),
        HM_ERR_BAD_REQUEST);
    tok = token_for(f, 1, NULL);
    assert_string_equal(verify(f, tok, "c-1", NULL), HM_ERR_BAD_REQUEST); /* conn_id, no edge */
    free(tok);
}

static void
test_sessions_limit_refresh_close(void **state)
{
    fixture_t *f = *state;
    char *tok = token_for(f, 1, NULL);
    const char *conns[] = {"a-1", "a-2", "a-3", "b-1", "b-2"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(verify(f, tok, conns[i], i < 3 ? "a" : "b"), "");
    assert_string_equal(verify(f, tok, "b-3", "b"), HM_ERR_TOO_MANY_CONNECTIONS);
    assert_string_equal(verify(f, tok, "a-1", "a"), ""); /* refresh of a live one */
    char *other = token_for(f, 2, NULL);
    assert_string_equal(verify(f, other, "a-1", "a"), HM_ERR_FORBIDDEN);
    assert_string_equal(code_of(call(f, request(HM_VERB_AUTH_SESSION_CLOSE, NULL, "a-2", "a"))),
                        "");
    assert_string_equal(verify(f, tok, "b-3", "b"), "");
    /* sys.conn conn_close releases one too */
    hm_envelope_t *ev = request("conn_close", NULL, "b-3", "b");
    auth_service_on_event(f->svc, HM_TOPIC_SYS_CONN, ev);
    hm_envelope_destroy(&ev);
    hm_envelope_t *rep =
        call(f, request(HM_VERB_AUTH_SESSIONS, json_pack("{s:i}", "user_id", 1), NULL, NULL));
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(json_integer_value(json_object_get(rep->data, "total")), 4);
    assert_int_equal(json_integer_value(json_object_get(rep->data, "users_online")), 1);
    assert_int_equal(json_array_size(json_object_get(rep->data, "sessions")), 4);
    hm_envelope_destroy(&rep);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = 'session_close'"), 2);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = 'session_open'"), 6);
    assert_string_equal(code_of(call(f, request(HM_VERB_AUTH_SESSION_CLOSE, NULL, NULL, NULL))),
                        HM_ERR_BAD_REQUEST);
    free(tok);
    free(other);
}

/* auth.authorize by actor. target 0: none. */
static char *
authorize(fixture_t *f, int64_t actor, const char *action, int64_t target)
{
    json_t *data = json_pack("{s:s}", "action", action);
    if (target)
        json_object_set_new(data, "target_user_id", json_integer(target));
    hm_envelope_t *req = request(HM_VERB_AUTH_AUTHORIZE, data, NULL, NULL);
    req->user_id = actor;
    return code_of(call(f, req));
}

static void
test_authorize(void **state)
{
    fixture_t *f = *state;
    assert_string_equal(authorize(f, 10, "subscribe:health_updates", 1), ""); /* linked */
    assert_string_equal(authorize(f, 10, "subscribe:health_updates", 2), HM_ERR_FORBIDDEN);
    assert_string_equal(authorize(f, 1, "subscribe:chat", 0), "");
    assert_string_equal(authorize(f, 1, "subscribe:chat", 2), HM_ERR_FORBIDDEN);
    assert_string_equal(authorize(f, 1, "manage", 0), HM_ERR_FORBIDDEN);
    assert_string_equal(authorize(f, 20, "manage", 0), "");
    assert_string_equal(authorize(f, 1, "teleport", 0), HM_ERR_BAD_REQUEST);
    assert_string_equal(authorize(f, 0, "manage", 0), HM_ERR_BAD_REQUEST);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = 'authorize' AND "
                                   "result = 'denied' AND code = 'forbidden'"),
                     3);
}

static void
test_revoke_publishes_and_refuses(void **state)
{
    fixture_t *f = *state;
    char jti[AUTH_JTI_MAX + 1];
    char *tok = token_for(f, 1, jti);
    assert_string_equal(verify(f, tok, "a-1", "a"), "");
    hm_envelope_t *rep =
        call(f, request(HM_VERB_AUTH_REVOKE, json_pack("{s:s}", "jti", jti), NULL, NULL));
    assert_string_equal(rep->type, HM_MSG_ACK);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(rep->data, "users"), 0)), 1);
    hm_envelope_destroy(&rep);
    zsock_set_rcvtimeo(f->sub, 2000);
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    assert_int_equal(hm_bus_recv(f->sub, &topic, &ev), 0);
    assert_string_equal(topic, "ctl.user.1");
    assert_string_equal(ev->type, "token_revoked");
    assert_string_equal(json_string_value(json_object_get(ev->data, "jti")), jti);
    free(topic);
    hm_envelope_destroy(&ev);
    assert_string_equal(verify(f, tok, "a-2", "a"), HM_ERR_TOKEN_REVOKED);
    assert_string_equal(code_of(call(f, request(HM_VERB_AUTH_REVOKE, NULL, NULL, NULL))),
                        HM_ERR_BAD_REQUEST);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = 'revoke'"), 1);
    free(tok);
}

static void
test_batch_shares_one_commit(void **state)
{
    fixture_t *f = *state;
    char *tok = token_for(f, 1, NULL);
    sqlite3 *other = NULL; /* another connection sees only what was committed */
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(auth_service_begin(f->svc), 0);
    assert_int_equal(auth_service_begin(f->svc), 0); /* nested: the same batch */
    assert_string_equal(verify(f, tok, "a-1", "a"), "");
    assert_string_equal(verify(f, tok, "a-2", "a"), "");
    assert_string_equal(verify(f, "garbage", "a-3", "a"), HM_ERR_TOKEN_MALFORMED);
    assert_int_equal(scalar(other, "SELECT count(*) FROM sessions"), 0);
    assert_int_equal(scalar(other, "SELECT count(*) FROM audit"), 0);
    assert_int_equal(auth_service_commit(f->svc), 0);
    assert_int_equal(scalar(other, "SELECT count(*) FROM sessions"), 2);
    assert_int_equal(scalar(other, "SELECT count(*) FROM audit WHERE action = 'verify'"), 3);
    assert_int_equal(auth_service_commit(f->svc), 0); /* nothing open: no-op */
    sqlite3_close(other);
    free(tok);
}

static void
test_unknown_verb(void **state)
{
    fixture_t *f = *state;
    assert_string_equal(code_of(call(f, request("auth.fly", NULL, NULL, NULL))),
                        HM_ERR_UNKNOWN_VERB);
    assert_string_equal(code_of(call(f, request(HM_VERB_AUTH_SESSION_OPEN, NULL, NULL, NULL))),
                        HM_ERR_UNKNOWN_VERB);
}

static void
test_silent_edge_loses_its_sessions(void **state)
{
    fixture_t *f = *state; /* edge timeout 200 ms; the fake clock moves */
    char *tok = token_for(f, 1, NULL);
    assert_string_equal(verify(f, tok, "a-1", "a"), "");
    assert_string_equal(verify(f, tok, "b-1", "b"), "");
    for (int i = 0; i < 8; i++) {
        hm_envelope_t *hb =
            request("edge_heartbeat", json_pack("{s:s}", "edge_id", "b"), NULL, NULL);
        auth_service_on_event(f->svc, HM_TOPIC_SYS_EDGE, hb);
        hm_envelope_destroy(&hb);
        hm_clock_advance(50);
        auth_service_tick(f->svc);
    }
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM sessions WHERE edge = 'a'"), 0);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM sessions WHERE edge = 'b'"), 1);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE action = "
                                   "'session_release' AND conn_id = 'a-1'"),
                     1);
    free(tok);
}

/* A sys.audit event as a service would send it (data taken). */
static hm_envelope_t *
audit_event(int64_t actor, json_t *data)
{
    hm_envelope_t *ev = hm_envelope_new(HM_EV_AUDIT_DENIED);
    assert_non_null(ev);
    ev->user_id = actor;
    hm_envelope_set_conn_id(ev, "c-7");
    hm_envelope_set_edge(ev, "edge-1");
    hm_envelope_set_data(ev, data);
    return ev;
}

/* Hands ev (destroyed) to the service as received on sys.audit. */
static void
on_audit(fixture_t *f, hm_envelope_t *ev)
{
    auth_service_on_event(f->svc, HM_TOPIC_SYS_AUDIT, ev);
    hm_envelope_destroy(&ev);
}

static void
test_audit_event_becomes_a_row(void **state)
{
    fixture_t *f = *state;
    /* the way services send it: hm_audit_denied on a refused request, over the bus */
    hm_bus_subscribe(f->sub, HM_TOPIC_SYS_AUDIT);
    zsock_events(f->sub);
    zsock_events(f->pub);
    hm_envelope_t *req = request(HM_VERB_NOTIFY_ACK, json_pack("{s:s}", "id", "n-1"), "c-7", "e-2");
    req->user_id = 10;
    assert_int_equal(hm_audit_denied(f->pub, req, HM_SVC_NOTIFY, 2, "n-1"), 0);
    hm_envelope_destroy(&req);
    zsock_set_rcvtimeo(f->sub, 2000);
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    assert_int_equal(hm_bus_recv(f->sub, &topic, &ev), 0);
    assert_string_equal(topic, HM_TOPIC_SYS_AUDIT);
    auth_service_on_event(f->svc, topic, ev);
    free(topic);
    hm_envelope_destroy(&ev);
    assert_int_equal(
        scalar(f->db, "SELECT count(*) FROM audit WHERE user_id = 10 AND conn_id = 'c-7' AND "
                      "action = 'notify.ack' AND result = 'denied' AND code = 'forbidden' AND "
                      "detail = 'via=sys.audit service=notify target_user_id=2 target=n-1 "
                      "edge=e-2'"),
        1);
    /* every optional part, and none */
    on_audit(f,
             audit_event(1, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "service", "chat", "action",
                                      "chat.history", "result", "denied", "code", "forbidden",
                                      "role", "patient", "remote_addr", "192.0.2.9")));
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE user_id = 1 AND "
                                   "remote_addr = '192.0.2.9' AND detail = 'via=sys.audit "
                                   "service=chat role=patient edge=edge-1'"),
                     1);
    /* a bus caller (user 0): no user on the row */
    on_audit(f,
             audit_event(0, json_pack("{s:s, s:s, s:s, s:s}", "service", "notify", "action",
                                      "notify.create", "result", "denied", "code", "forbidden")));
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit WHERE user_id IS NULL AND "
                                   "action = 'notify.create'"),
                     1);
    assert_int_equal(auth_service_audit_written(f->svc), 3);
    assert_int_equal(auth_service_audit_dropped(f->svc), 0);
    /* inside a batch it shares the batch's commit */
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(auth_service_begin(f->svc), 0);
    on_audit(f,
             audit_event(2, json_pack("{s:s, s:s, s:s, s:s}", "service", "health", "action",
                                      "health.reading", "result", "denied", "code", "forbidden")));
    assert_int_equal(scalar(other, "SELECT count(*) FROM audit WHERE user_id = 2"), 0);
    assert_int_equal(auth_service_commit(f->svc), 0);
    assert_int_equal(scalar(other, "SELECT count(*) FROM audit WHERE user_id = 2"), 1);
    sqlite3_close(other);
}

static void
test_audit_garbage_is_counted_and_dropped(void **state)
{
    fixture_t *f = *state;
    int64_t before = scalar(f->db, "SELECT count(*) FROM audit");
    char *huge = malloc(100001);
    assert_non_null(huge);
    memset(huge, 'a', 100000);
    huge[100000] = '\0';
    /* a valid event's data with one key replaced (NULL value: removed) */
    struct {
        const char *key;
        json_t *value;
    } bad[] = {
        {"service", NULL},
        {"action", NULL},
        {"result", NULL},
        {"code", NULL},
        {"service", json_integer(5)},
        {"action", json_true()},
        {"action", json_string(huge)},
        {"service", json_string(huge)},
        {"code", json_string(huge)},
        {"target", json_string(huge)},
        {"role", json_string(huge)},
        {"remote_addr", json_string(huge)},
        {"action", json_string("")},
        {"action", json_string("chat history")}, /* a space: not a verb */
        {"service", json_string("Health\n")},    /* a control character */
        {"result", json_string("ok")},           /* only denials come this way */
        {"result", json_string("")},
        {"code", json_array()},
        {"target_user_id", json_string("7")},
        {"target_user_id", json_integer(-7)},
        {"target_user_id", json_integer(0)},
        {"target_user_id", json_real(7.0)},
        {"target_user_id", json_object()},
        {"target", json_integer(1)},
        {"target", json_string("conv 1; DROP")},
        {"role", json_string("Admin")},
        {"remote_addr", json_string("host name")},
    };
    size_t n = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < n; i++) {
        json_t *d =
            json_pack("{s:s, s:s, s:s, s:s, s:i}", "service", "chat", "action", "chat.typing",
                      "result", "denied", "code", "forbidden", "target_user_id", 2);
        if (bad[i].value)
            json_object_set_new(d, bad[i].key, bad[i].value);
        else
            json_object_del(d, bad[i].key);
        on_audit(f, audit_event(1, d));
    }
    /* the envelope around it */
    json_t *ok = json_pack("{s:s, s:s, s:s, s:s}", "service", "chat", "action", "chat.typing",
                           "result", "denied", "code", "forbidden");
    hm_envelope_t *ev = audit_event(1, NULL); /* no data */
    on_audit(f, ev);
    ev = audit_event(1, json_deep_copy(ok));
    hm_envelope_set_type(ev, "conn_open"); /* not the audit event type */
    on_audit(f, ev);
    ev = audit_event(-3, json_deep_copy(ok)); /* negative actor */
    on_audit(f, ev);
    ev = audit_event(1, json_deep_copy(ok));
    hm_envelope_set_conn_id(ev, "c 1\n"); /* not a connection id */
    on_audit(f, ev);
    ev = audit_event(1, json_deep_copy(ok));
    hm_envelope_set_edge(ev, "edge/../1");
    on_audit(f, ev);
    json_decref(ok);
    free(huge);
    assert_int_equal(auth_service_audit_dropped(f->svc), n + 5);
    assert_int_equal(auth_service_audit_written(f->svc), 0);
    assert_int_equal(scalar(f->db, "SELECT count(*) FROM audit"), before);
    /* and the service still works */
    assert_string_equal(authorize(f, 20, "manage", 0), "");
}

static int
setup(void **state)
{
    static int n;
    hm_clock_set_fake(NOW_MS);
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/auth_test_service_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/auth.db", f->dir);
    f->db = auth_db_open(f->path);
    int64_t id;
    auth_db_user_add(f->db, "Pat", "patient", 1, &id);
    auth_db_user_add(f->db, "Pat Two", "patient", 2, &id);
    auth_db_user_add(f->db, "Gone", "patient", 3, &id);
    auth_db_user_set_active(f->db, 3, false);
    auth_db_user_add(f->db, "Doc", "clinician", 10, &id);
    auth_db_user_add(f->db, "Boss", "admin", 20, &id);
    auth_db_link_add(f->db, 10, 1);
    auth_jwt_cfg_t jc = {"HS256",
                         (const unsigned char *)SECRET,
                         strlen(SECRET),
                         NULL,
                         0,
                         "healthmate",
                         "healthmate-realtime",
                         30};
    f->jwt = auth_jwt_new(&jc);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://auth-test-%d", n++);
    f->sub = zsock_new(ZMQ_SUB);
    zsock_bind(f->sub, "%s", endpoint);
    hm_bus_subscribe(f->sub, "ctl.user.");
    f->pub = hm_bus_pub_new(endpoint);
    /* inproc pipes move only when a socket processes its commands: let the
     * SUB send its subscription, then the PUB read it. */
    zsock_events(f->sub);
    zsock_events(f->pub);
    auth_service_cfg_t scfg = {f->db, f->jwt, f->pub, 5, 200};
    f->svc = auth_service_new(&scfg);
    *state = f;
    return f->svc ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    auth_service_destroy(&f->svc);
    zsock_destroy(&f->pub);
    zsock_destroy(&f->sub);
    auth_jwt_destroy(&f->jwt);
    hm_db_close(&f->db);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

int
main(void)
{
    setenv("ZSYS_SIGHANDLER", "false", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_returns_the_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_refusals_are_audited_with_their_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions_limit_refresh_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_publishes_and_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_shares_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_verb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_edge_loses_its_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_event_becomes_a_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_garbage_is_counted_and_dropped, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
