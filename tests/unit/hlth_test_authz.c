/*
 * hlth_test_authz.c - requests parked while hm-auth decides: allowed ones
 * come back with their grant (and the allow is cached), denied ones and
 * those auth never answers come back refused; auth.authorize is sent again
 * with the same id after a silence. A ROUTER socket plays the broker; a fake
 * clock drives retries and deadlines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <czmq.h>
#include <string.h>

#include "hlth_authz.h"
#include "hm_clock.h"
#include "hm_mdp.h"

#define NOW_MS 1767225600000LL

typedef struct {
    zsock_t *broker;         /* ROUTER: sees auth.authorize, answers */
    hm_mdp_client_t *client; /* what the authz module sends with */
    hlth_authz_t *authz;     /* under test */
    zframe_t *peer;          /* the client's routing id */
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    static int n;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://hlth-authz-%d", n++);
    hm_clock_set_fake(NOW_MS);
    f->broker = zsock_new_router(ep);
    zsock_set_rcvtimeo(f->broker, 200);
    f->client = hm_mdp_client_new(ep, 1000, 0);
    hlth_authz_cfg_t cfg = {500, 3000, 10000, 2};
    f->authz = hlth_authz_new(f->client, &cfg);
    assert_non_null(f->authz);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    hlth_authz_destroy(&f->authz);
    hm_mdp_client_destroy(&f->client);
    zsock_destroy(&f->broker);
    zframe_destroy(&f->peer);
    hm_clock_set_real();
    free(f);
    return 0;
}

/* Parks a health.sync of patient 1 by user actor, tagged tag. */
static void
park(fixture_t *f, int64_t actor, int tag, int expect)
{
    hm_envelope_t *req = hm_envelope_new("health.sync");
    req->user_id = actor;
    zframe_t *to = zframe_new("client-x", 8);
    hlth_grant_t g = {"subscribe:health_updates", actor, 1};
    assert_int_equal(hlth_authz_park(f->authz, &req, &to, tag, &g), expect);
    if (expect == 0) {
        assert_null(req);
        assert_null(to);
    }
    hm_envelope_destroy(&req);
    zframe_destroy(&to);
}

/* The next auth.authorize the broker sees (NULL when none). */
static hm_envelope_t *
broker_recv(fixture_t *f)
{
    zmsg_t *msg = zmsg_recv(f->broker);
    if (!msg)
        return NULL;
    zframe_destroy(&f->peer);
    f->peer = zmsg_pop(msg);
    zframe_t *empty = zmsg_pop(msg);
    char *proto = zmsg_popstr(msg), *service = zmsg_popstr(msg);
    assert_string_equal(service, "auth");
    zframe_t *body = zmsg_pop(msg);
    hm_envelope_t *req = NULL;
    assert_int_equal(hm_envelope_decode(zframe_data(body), zframe_size(body), &req), 0);
    zframe_destroy(&empty);
    zframe_destroy(&body);
    free(proto);
    free(service);
    zmsg_destroy(&msg);
    return req;
}

/* Answers id (ack, or error code) and lets the module read it. */
static void
broker_reply(fixture_t *f, const char *id, const char *code)
{
    hm_envelope_t *rep = hm_envelope_new(code ? "error" : "ack");
    hm_envelope_set_id(rep, id);
    hm_envelope_set_data(rep, code ? json_pack("{s:s}", "code", code)
                                   : json_pack("{s:b}", "allowed", 1));
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(hm_envelope_encode(rep, &buf, &len), 0);
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, (zframe_t *[]){zframe_dup(f->peer)});
    zmsg_addstr(msg, "");
    zmsg_addstr(msg, "MDPC01");
    zmsg_addstr(msg, "auth");
    zmsg_addmem(msg, buf, len);
    assert_int_equal(zmsg_send(&msg, f->broker), 0);
    free(buf);
    hm_envelope_destroy(&rep);
    hm_envelope_t *got = NULL;
    char *service = NULL;
    for (int i = 0; i < 100 && hm_mdp_client_recv(f->client, &service, &got) != 0; i++)
        zclock_sleep(5);
    assert_non_null(got);
    hlth_authz_on_reply(f->authz, got);
    hm_envelope_destroy(&got);
    free(service);
}

/* Takes the next decided request; returns its result (-1 when none). */
static int
next(fixture_t *f, int *tag, hlth_grant_t *g)
{
    hm_envelope_t *req = NULL;
    zframe_t *to = NULL;
    hlth_authz_result_t res;
    if (hlth_authz_next(f->authz, &req, &to, tag, g, &res) != 1)
        return -1;
    assert_string_equal(req->type, "health.sync");
    assert_int_equal(zframe_size(to), 8);
    hm_envelope_destroy(&req);
    zframe_destroy(&to);
    return (int)res;
}

static void
test_allowed_request_comes_back_with_its_grant(void **state)
{
    fixture_t *f = *state;
    park(f, 2, 7, 0);
    hm_envelope_t *ask = broker_recv(f);
    assert_non_null(ask);
    assert_string_equal(ask->type, "auth.authorize");
    assert_int_equal(ask->user_id, 2);
    assert_string_equal(json_string_value(json_object_get(ask->data, "action")),
                        "subscribe:health_updates");
    assert_int_equal(json_integer_value(json_object_get(ask->data, "target_user_id")), 1);
    int tag = 0;
    hlth_grant_t g;
    assert_int_equal(next(f, &tag, &g), -1); /* undecided */
    broker_reply(f, ask->id, NULL);
    assert_int_equal(hlth_authz_tick_ms(f->authz), 0); /* something to take */
    assert_int_equal(next(f, &tag, &g), HLTH_AUTHZ_ALLOWED);
    assert_int_equal(tag, 7);
    assert_int_equal(g.actor, 2);
    assert_int_equal(g.target, 1);
    assert_true(hlth_authz_cached(f->authz, &g)); /* remembered for cache_ms */
    hm_clock_advance(10001);
    assert_false(hlth_authz_cached(f->authz, &g));
    assert_int_equal(hlth_authz_parked(f->authz), 0);
    hm_envelope_destroy(&ask);
}

static void
test_denied_silent_and_full(void **state)
{
    fixture_t *f = *state;
    park(f, 3, 1, 0);
    hm_envelope_t *ask = broker_recv(f);
    broker_reply(f, ask->id, "forbidden");
    int tag;
    hlth_grant_t g;
    assert_int_equal(next(f, &tag, &g), HLTH_AUTHZ_DENIED);
    assert_false(hlth_authz_cached(f->authz, &g)); /* denials are not cached */
    hm_envelope_destroy(&ask);
    /* auth silent: asked again with the same id, then given up */
    park(f, 4, 2, 0);
    park(f, 5, 3, 0);
    park(f, 6, 4, -1); /* max 2 parked */
    hm_envelope_t *a1 = broker_recv(f), *a2 = broker_recv(f);
    assert_non_null(a1);
    assert_non_null(a2);
    hm_clock_advance(600);
    hlth_authz_tick(f->authz);
    hm_envelope_t *again = broker_recv(f);
    assert_non_null(again);
    assert_true(strcmp(again->id, a1->id) == 0 || strcmp(again->id, a2->id) == 0);
    broker_reply(f, a1->id, "service_unavailable"); /* the broker gave up: we keep trying */
    assert_int_equal(next(f, &tag, &g), -1);
    hm_clock_advance(3000);
    hlth_authz_tick(f->authz);
    assert_int_equal(next(f, &tag, &g), HLTH_AUTHZ_UNAVAILABLE);
    assert_int_equal(next(f, &tag, &g), HLTH_AUTHZ_UNAVAILABLE);
    assert_int_equal(next(f, &tag, &g), -1);
    broker_reply(f, a2->id, NULL); /* too late: ignored */
    assert_int_equal(next(f, &tag, &g), -1);
    hm_envelope_t *rest;
    while ((rest = broker_recv(f)))
        hm_envelope_destroy(&rest);
    hm_envelope_destroy(&a1);
    hm_envelope_destroy(&a2);
    hm_envelope_destroy(&again);
}

static void
test_destroy_frees_what_is_parked(void **state)
{
    fixture_t *f = *state;
    park(f, 2, 0, 0);
    park(f, 3, 0, 0);
    hm_envelope_t *ask = broker_recv(f);
    broker_reply(f, ask->id, NULL); /* one decided, one not: both freed (ASan) */
    hm_envelope_destroy(&ask);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allowed_request_comes_back_with_its_grant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_denied_silent_and_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_frees_what_is_parked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
