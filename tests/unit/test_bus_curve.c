/*
 * test_bus_curve.c - CURVE on bus sockets (libcommon/hm_bus.h,
 * hm_bus_curve_*): a Majordomo client made with a certificate reaches a
 * CURVE server that checks its key through ZAP (czmq's zauth); the same
 * client without the right key does not; bad settings are refused and keep
 * the previous ones.
 *
 * Certificates are written to a temporary directory with czmq's zcert;
 * everything runs on tcp://127.0.0.1 ephemeral ports with a deadline on
 * every receive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "hm_bus.h"
#include "hm_log.h"
#include "hm_mdp.h"

#define S_WAIT_MS 2000 /* deadline for a message that must arrive */
#define S_QUIET_MS 300 /* how long to watch for "nothing arrives" */

typedef struct {
    char dir[64];      /* temporary directory; "clients" inside is the allow-list */
    char path[192];    /* scratch for s_file() */
    zactor_t *auth;    /* ZAP handler */
    zsock_t *router;   /* the CURVE server */
    char endpoint[64]; /* its endpoint */
} s_fixture_t;

/* dir/name into f->path. */
static const char *
s_file(s_fixture_t *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

/* Writes a new key pair as dir/name (and dir/clients/name when allowed). */
static void
s_make_cert(s_fixture_t *f, const char *name, bool allowed)
{
    zcert_t *cert = zcert_new();
    assert_int_equal(zcert_save(cert, s_file(f, name)), 0);
    if (allowed) {
        char allow[96];
        snprintf(allow, sizeof allow, "clients/%s", name);
        assert_int_equal(zcert_save_public(cert, s_file(f, allow)), 0);
    }
    zcert_destroy(&cert);
}

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof f->dir, "/tmp/hm-curve-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(zsys_dir_create("%s/clients", f->dir), 0);
    s_make_cert(f, "server", false);
    s_make_cert(f, "good", true);
    s_make_cert(f, "stranger", false);

    f->auth = zactor_new(zauth, NULL);
    assert_non_null(f->auth);
    zstr_sendx(f->auth, "CURVE", s_file(f, "clients"), NULL);
    assert_int_equal(zsock_wait(f->auth), 0);
    zcert_t *server = zcert_load(s_file(f, "server"));
    assert_non_null(server);
    f->router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(f->router, 0);
    zsock_set_rcvtimeo(f->router, S_WAIT_MS);
    zcert_apply(server, f->router);
    zsock_set_curve_server(f->router, 1);
    zcert_destroy(&server);
    assert_true(zsock_bind(f->router, "tcp://127.0.0.1:*") > 0);
    snprintf(f->endpoint, sizeof f->endpoint, "%s", zsock_endpoint(f->router));
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    hm_bus_curve_clear();
    zsock_destroy(&f->router);
    zactor_destroy(&f->auth);
    zdir_t *dir = zdir_new(f->dir, NULL);
    if (dir)
        zdir_remove(dir, true);
    zdir_destroy(&dir);
    free(f);
    return 0;
}

/* Sends one request with a fresh client; true when the server got it
 * (waiting up to wait_ms). */
static bool
s_request_arrives(s_fixture_t *f, int wait_ms)
{
    hm_mdp_client_t *client = hm_mdp_client_new(f->endpoint, 500, 0);
    assert_non_null(client);
    hm_envelope_t *req = hm_envelope_new("echo");
    hm_envelope_set_id(req, "r-1");
    hm_mdp_client_send(client, "echo", req); /* may fail at once when refused */
    hm_envelope_destroy(&req);
    zsock_set_rcvtimeo(f->router, wait_ms);
    zmsg_t *msg = zmsg_recv(f->router);
    bool got = msg != NULL;
    zmsg_destroy(&msg);
    hm_mdp_client_destroy(&client);
    return got;
}

/* Normal use: a process with an authorized key and the server's key. */
static void
test_authorized_client_reaches_server(void **state)
{
    s_fixture_t *f = *state;
    char cert[192], server[192];
    snprintf(cert, sizeof cert, "%s", s_file(f, "good"));
    snprintf(server, sizeof server, "%s", s_file(f, "server"));
    assert_int_equal(hm_bus_curve_setup(cert, server), 0);
    assert_true(hm_bus_curve_on());
    assert_non_null(hm_bus_curve_cert());
    assert_true(s_request_arrives(f, S_WAIT_MS));
}

static void
test_without_the_right_keys_nothing_arrives(void **state)
{
    s_fixture_t *f = *state;
    char stranger[192], good[192], server[192];
    snprintf(stranger, sizeof stranger, "%s", s_file(f, "stranger"));
    snprintf(good, sizeof good, "%s", s_file(f, "good"));
    snprintf(server, sizeof server, "%s", s_file(f, "server"));

    hm_bus_curve_clear(); /* no key: plaintext against a CURVE server */
    assert_false(s_request_arrives(f, S_QUIET_MS));
    assert_int_equal(hm_bus_curve_setup(stranger, server), 0); /* not in the allow-list */
    assert_false(s_request_arrives(f, S_QUIET_MS));
    assert_int_equal(hm_bus_curve_setup(good, stranger), 0); /* wrong server key */
    assert_false(s_request_arrives(f, S_QUIET_MS));
    assert_int_equal(hm_bus_curve_setup(good, server), 0); /* and the control */
    assert_true(s_request_arrives(f, S_WAIT_MS));
}

static void
test_bad_settings_are_refused(void **state)
{
    s_fixture_t *f = *state;
    char good[192], server[192], pub[192];
    snprintf(good, sizeof good, "%s", s_file(f, "good"));
    snprintf(server, sizeof server, "%s", s_file(f, "server"));
    snprintf(pub, sizeof pub, "%s", s_file(f, "clients/good"));
    assert_int_equal(hm_bus_curve_setup(good, server), 0);
    zcert_t *before = hm_bus_curve_cert();

    assert_int_equal(hm_bus_curve_setup("", server), -1); /* server key alone */
    assert_int_equal(hm_bus_curve_setup("/nonexistent", server), -1);
    assert_int_equal(hm_bus_curve_setup(pub, server), -1); /* no secret key */
    assert_int_equal(hm_bus_curve_setup(good, "/nonexistent"), -1);
    assert_ptr_equal(hm_bus_curve_cert(), before); /* the previous setting stands */

    /* A cert alone is the broker's case: client sockets are refused. */
    assert_int_equal(hm_bus_curve_setup(good, NULL), 0);
    assert_null(hm_bus_pub_new(f->endpoint));
    assert_null(hm_mdp_client_new(f->endpoint, 100, 0));

    assert_int_equal(hm_bus_curve_setup(NULL, ""), 0); /* both empty: off */
    assert_false(hm_bus_curve_on());
    zsock_t *pub_sock = hm_bus_pub_new(f->endpoint);
    assert_non_null(pub_sock);
    zsock_destroy(&pub_sock);
}

int
main(void)
{
    hm_log_init("test_bus_curve", HM_LOG_ERROR);
    if (!zsys_has_curve()) {
        fprintf(stderr, "libzmq without CURVE: skipped\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_authorized_client_reaches_server, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_without_the_right_keys_nothing_arrives, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_settings_are_refused, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
