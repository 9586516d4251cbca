/*
 * test_mdp.c - the Majordomo client and worker (libcommon/hm_mdp.h) against
 * a test peer that plays the broker: a real ROUTER socket bound on
 * tcp://127.0.0.1:* that speaks MDP/0.1 frames exactly as ZeroMQ RFC 7 (and
 * RFC 8 for mmi.service) says. The peer is a protocol partner, not a mock of
 * our code: what it sends and expects is written out frame by frame here.
 *
 * The worker API does not block, so worker tests run in this thread. The
 * client's request call blocks, so client tests run it in a second thread
 * (s_call_t) while this thread plays the broker and makes every assertion.
 * Every wait has a deadline, so no test can hang.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "hm_log.h"
#include "hm_mdp.h"

#define S_WAIT_MS 2000 /* deadline for a message that must arrive */
#define S_QUIET_MS 100 /* how long the tests watch for "nothing arrives" */
#define S_EP_MAX 64    /* "tcp://127.0.0.1:65535" fits */
#define S_MAX_CALLS 16 /* requests the silent peer records */

/* A client address as a broker's ROUTER makes them: binary, with a NUL. */
static const char s_client_addr[] = {0x00, 0x6b, (char)0x8b, 0x45, 0x67};

/* ---- The peer: a broker's ROUTER socket -------------------------------------- */

typedef struct {
    zsock_t *router;   /* bound; workers and clients connect here */
    char ep[S_EP_MAX]; /* its endpoint */
} s_peer_t;

static void
s_peer_new(s_peer_t *peer)
{
    peer->router = zsock_new(ZMQ_ROUTER);
    assert_non_null(peer->router);
    zsock_set_linger(peer->router, 0);
    zsock_set_rcvtimeo(peer->router, S_WAIT_MS);
    assert_true(zsock_bind(peer->router, "tcp://127.0.0.1:*") > 0);
    const char *bound = zsock_endpoint(peer->router);
    assert_non_null(bound);
    assert_true(strlen(bound) < S_EP_MAX);
    strcpy(peer->ep, bound);
}

static void
s_peer_destroy(s_peer_t *peer)
{
    zsock_destroy(&peer->router);
}

/* The next message for the peer within timeout_ms (caller owns), or NULL. */
static zmsg_t *
s_peer_recv(s_peer_t *peer, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(peer->router), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return NULL;
    return zmsg_recv(peer->router);
}

/* Asserts nothing reaches the peer for S_QUIET_MS. */
static void
s_peer_expect_nothing(s_peer_t *peer)
{
    zmsg_t *msg = s_peer_recv(peer, S_QUIET_MS);
    if (msg) {
        size_t frames = zmsg_size(msg);
        zmsg_destroy(&msg);
        fail_msg("unexpected message of %zu frames", frames);
    }
}

/* Asserts frame holds exactly size bytes of data. */
static void
s_assert_frame(zframe_t *frame, const void *data, size_t size)
{
    assert_non_null(frame);
    assert_int_equal(zframe_size(frame), size);
    assert_memory_equal(zframe_data(frame), data, size);
}

static void
s_assert_frame_str(zframe_t *frame, const char *s)
{
    s_assert_frame(frame, s, strlen(s));
}

/* Pops and checks [identity][""][protocol][command] and returns the
 * identity (caller owns); the frames after the command stay in msg. */
static zframe_t *
s_pop_header(zmsg_t *msg, const char *protocol, const char *command)
{
    assert_non_null(msg);
    zframe_t *identity = zmsg_pop(msg);
    assert_non_null(identity);
    zframe_t *frame = zmsg_pop(msg);
    s_assert_frame_str(frame, "");
    zframe_destroy(&frame);
    frame = zmsg_pop(msg);
    s_assert_frame_str(frame, protocol);
    zframe_destroy(&frame);
    if (command) {
        frame = zmsg_pop(msg);
        s_assert_frame_str(frame, command);
        zframe_destroy(&frame);
    }
    return identity;
}

/* Receives a worker command at the peer: [identity][""]["MDPW01"][command]
 * followed by exactly extra frames. Returns the identity (caller owns) and
 * *rest (caller owns) with the extra frames. */
static zframe_t *
s_peer_expect_cmd(s_peer_t *peer, const char *command, size_t extra, zmsg_t **rest)
{
    zmsg_t *msg = s_peer_recv(peer, S_WAIT_MS);
    if (!msg)
        fail_msg("no worker command 0x%02x within %d ms", command[0], S_WAIT_MS);
    assert_int_equal(zmsg_size(msg), 4 + extra);
    zframe_t *identity = s_pop_header(msg, HM_MDPW, command);
    if (rest)
        *rest = msg;
    else
        zmsg_destroy(&msg);
    return identity;
}

/* Receives READY from a worker and checks the service; returns its identity. */
static zframe_t *
s_peer_expect_ready(s_peer_t *peer, const char *service)
{
    zmsg_t *rest = NULL;
    zframe_t *identity = s_peer_expect_cmd(peer, HM_MDPW_READY, 1, &rest);
    zframe_t *svc = zmsg_first(rest);
    s_assert_frame_str(svc, service);
    zmsg_destroy(&rest);
    return identity;
}

/* Sends [identity][""][protocol][command] then the frames of body (taken,
 * may be NULL) to a connected peer. */
static void
s_peer_send(s_peer_t *peer, zframe_t *identity, const char *protocol, const char *command,
            zmsg_t **body_p)
{
    zmsg_t *msg = zmsg_new();
    assert_non_null(msg);
    zframe_t *to = zframe_dup(identity);
    assert_int_equal(zmsg_append(msg, &to), 0);
    assert_int_equal(zmsg_addstr(msg, ""), 0);
    assert_int_equal(zmsg_addstr(msg, protocol), 0);
    if (command)
        assert_int_equal(zmsg_addstr(msg, command), 0);
    if (body_p && *body_p) {
        zframe_t *frame;
        while ((frame = zmsg_pop(*body_p)) != NULL)
            assert_int_equal(zmsg_append(msg, &frame), 0);
        zmsg_destroy(body_p);
    }
    assert_int_equal(zmsg_send(&msg, peer->router), 0);
}

/* A packed envelope as a frame (caller owns). */
static zframe_t *
s_packed(const hm_envelope_t *env)
{
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(hm_envelope_encode(env, &buf, &len), 0);
    zframe_t *frame = zframe_new(buf, len);
    assert_non_null(frame);
    free(buf);
    return frame;
}

/* Decodes a frame that must hold a packed envelope (caller owns). */
static hm_envelope_t *
s_unpack(zframe_t *frame)
{
    assert_non_null(frame);
    hm_envelope_t *env = NULL;
    assert_int_equal(hm_envelope_decode(zframe_data(frame), zframe_size(frame), &env), 0);
    return env;
}

/* Sends REQUEST [client][""][body] to the worker at identity. */
static void
s_peer_send_request(s_peer_t *peer, zframe_t *identity, zframe_t **body_p)
{
    zmsg_t *body = zmsg_new();
    assert_non_null(body);
    assert_int_equal(zmsg_addmem(body, s_client_addr, sizeof s_client_addr), 0);
    assert_int_equal(zmsg_addstr(body, ""), 0);
    assert_int_equal(zmsg_append(body, body_p), 0);
    s_peer_send(peer, identity, HM_MDPW, HM_MDPW_REQUEST, &body);
}

/* Receives REPLY [client][""][envelope] from the worker at identity and
 * returns the envelope (caller owns). */
static hm_envelope_t *
s_peer_expect_reply(s_peer_t *peer, zframe_t *identity)
{
    zmsg_t *rest = NULL;
    zframe_t *from = s_peer_expect_cmd(peer, HM_MDPW_REPLY, 3, &rest);
    assert_true(zframe_eq(from, identity));
    zframe_destroy(&from);
    zframe_t *client = zmsg_pop(rest);
    s_assert_frame(client, s_client_addr, sizeof s_client_addr);
    zframe_destroy(&client);
    zframe_t *empty = zmsg_pop(rest);
    s_assert_frame_str(empty, "");
    zframe_destroy(&empty);
    zframe_t *body = zmsg_pop(rest);
    hm_envelope_t *env = s_unpack(body);
    zframe_destroy(&body);
    zmsg_destroy(&rest);
    return env;
}

/* True when the worker's socket becomes readable within timeout_ms. */
static bool
s_worker_readable(hm_mdp_worker_t *worker, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(hm_mdp_worker_sock(worker)), 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, timeout_ms) > 0;
}

/* Waits for the worker's next message and returns hm_mdp_worker_recv's
 * result for it. */
static int
s_worker_recv(hm_mdp_worker_t *worker, hm_envelope_t **req, zframe_t **reply_to)
{
    if (!s_worker_readable(worker, S_WAIT_MS))
        fail_msg("nothing reached the worker within %d ms", S_WAIT_MS);
    return hm_mdp_worker_recv(worker, req, reply_to);
}

/* A new worker for service on the peer, and the identity of its READY. */
static hm_mdp_worker_t *
s_worker_new(s_peer_t *peer, const char *service, int heartbeat_ms, zframe_t **identity)
{
    hm_mdp_worker_t *worker = hm_mdp_worker_new(peer->ep, service, heartbeat_ms);
    assert_non_null(worker);
    *identity = s_peer_expect_ready(peer, service);
    return worker;
}

/* Checks a client request as the peer received it:
 * [identity][""]["MDPC01"][service][envelope], exactly. Destroys *msg_p;
 * returns the envelope (caller owns) and *identity (caller owns). */
static hm_envelope_t *
s_parse_request(zmsg_t **msg_p, const char *service, zframe_t **identity)
{
    zmsg_t *msg = *msg_p;
    assert_non_null(msg);
    assert_int_equal(zmsg_size(msg), 5);
    *identity = s_pop_header(msg, HM_MDPC, NULL);
    zframe_t *svc = zmsg_pop(msg);
    s_assert_frame_str(svc, service);
    zframe_destroy(&svc);
    zframe_t *body = zmsg_pop(msg);
    hm_envelope_t *env = s_unpack(body);
    zframe_destroy(&body);
    zmsg_destroy(msg_p);
    return env;
}

/* Receives a client request at the peer (see s_parse_request). */
static hm_envelope_t *
s_peer_expect_request(s_peer_t *peer, const char *service, zframe_t **identity)
{
    zmsg_t *msg = s_peer_recv(peer, S_WAIT_MS);
    if (!msg)
        fail_msg("no client request within %d ms", S_WAIT_MS);
    return s_parse_request(&msg, service, identity);
}

/* Sends a client reply [identity][""]["MDPC01"][service][envelope]. */
static void
s_peer_reply(s_peer_t *peer, zframe_t *identity, const char *service, const hm_envelope_t *env)
{
    zmsg_t *body = zmsg_new();
    assert_non_null(body);
    assert_int_equal(zmsg_addstr(body, service), 0);
    zframe_t *packed = s_packed(env);
    assert_int_equal(zmsg_append(body, &packed), 0);
    s_peer_send(peer, identity, HM_MDPC, NULL, &body);
}

/* An ack with id and data {"which": which} (caller owns). */
static hm_envelope_t *
s_ack(const char *id, const char *which)
{
    hm_envelope_t *ack = hm_envelope_new(HM_MSG_ACK);
    assert_non_null(ack);
    assert_int_equal(hm_envelope_set_id(ack, id), 0);
    assert_int_equal(hm_envelope_set_data(ack, json_pack("{s:s}", "which", which)), 0);
    return ack;
}

/* ---- Blocking client calls, run in a second thread ------------------------- */

typedef enum {
    S_CALL_REQUEST, /* hm_mdp_client_request */
    S_CALL_MMI,     /* hm_mdp_client_mmi_service */
} s_call_kind_t;

/* One blocking client call. The thread owns the client until s_call_join;
 * all assertions stay in the main thread. */
typedef struct {
    hm_mdp_client_t *client;  /* borrowed */
    s_call_kind_t kind;       /* which call */
    const char *service;      /* the service called, or asked about (MMI) */
    const hm_envelope_t *req; /* the request (S_CALL_REQUEST); borrowed */
    int rc;                   /* what the call returned */
    hm_envelope_t *reply;     /* the reply (S_CALL_REQUEST); owned */
    int64_t elapsed_ms;       /* how long the call took */
    atomic_bool done;         /* set when the call has returned */
    pthread_t thread;         /* runs s_call_run */
} s_call_t;

static void *
s_call_run(void *arg)
{
    s_call_t *call = arg;
    int64_t start = zclock_mono();
    if (call->kind == S_CALL_REQUEST)
        call->rc = hm_mdp_client_request(call->client, call->service, call->req, &call->reply);
    else
        call->rc = hm_mdp_client_mmi_service(call->client, call->service);
    call->elapsed_ms = zclock_mono() - start;
    atomic_store(&call->done, true);
    return NULL;
}

static void
s_call_start(s_call_t *call, hm_mdp_client_t *client, s_call_kind_t kind, const char *service,
             const hm_envelope_t *req)
{
    memset(call, 0, sizeof *call);
    call->client = client;
    call->kind = kind;
    call->service = service;
    call->req = req;
    call->rc = -99;
    atomic_init(&call->done, false);
    assert_int_equal(pthread_create(&call->thread, NULL, s_call_run, call), 0);
}

/* Waits for the call to return (the client's own timeouts bound it). */
static void
s_call_join(s_call_t *call)
{
    assert_int_equal(pthread_join(call->thread, NULL), 0);
    assert_true(atomic_load(&call->done));
}

/* Runs an MMI query for service; the peer answers code (NULL: no answer).
 * Returns what hm_mdp_client_mmi_service returned. */
static int
s_mmi(s_peer_t *peer, hm_mdp_client_t *client, const char *service, const char *code)
{
    s_call_t call;
    s_call_start(&call, client, S_CALL_MMI, service, NULL);
    /* RFC 8: [""]["MDPC01"]["mmi.service"][service name] */
    zmsg_t *msg = s_peer_recv(peer, S_WAIT_MS);
    assert_non_null(msg);
    assert_int_equal(zmsg_size(msg), 5);
    zframe_t *identity = s_pop_header(msg, HM_MDPC, HM_MMI_SERVICE);
    s_assert_frame_str(zmsg_first(msg), service);
    zmsg_destroy(&msg);
    if (code) {
        zmsg_t *body = zmsg_new();
        assert_non_null(body);
        assert_int_equal(zmsg_addstr(body, code), 0);
        s_peer_send(peer, identity, HM_MDPC, HM_MMI_SERVICE, &body);
    }
    zframe_destroy(&identity);
    s_call_join(&call);
    return call.rc;
}

/* ---- Worker tests ---------------------------------------------------------- */

/* Normal use: a worker registers, gets a request and replies to the client
 * it came from; the reply carries the request's id. */
static void
test_worker_request_reply(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    zframe_t *identity = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_HEALTH, 0, &identity);

    hm_envelope_t *sent = hm_envelope_new(HM_VERB_HEALTH_READING);
    assert_non_null(sent);
    assert_int_equal(hm_envelope_set_correlation_id(sent, "c-1"), 0);
    sent->user_id = 7;
    assert_int_equal(hm_envelope_set_data(sent, json_pack("{s:i}", "bpm", 64)), 0);
    zframe_t *body = s_packed(sent);
    s_peer_send_request(&peer, identity, &body);

    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    assert_int_equal(s_worker_recv(worker, &req, &reply_to), 1);
    assert_non_null(req);
    assert_string_equal(req->type, HM_VERB_HEALTH_READING);
    assert_string_equal(req->id, sent->id);
    assert_string_equal(req->correlation_id, "c-1");
    assert_int_equal(req->user_id, 7);
    assert_true(json_equal(req->data, sent->data));
    s_assert_frame(reply_to, s_client_addr, sizeof s_client_addr);

    hm_envelope_t *ack = hm_envelope_new(HM_MSG_ACK);
    assert_non_null(ack);
    assert_int_equal(hm_envelope_set_id(ack, req->id), 0);
    assert_int_equal(hm_envelope_set_data(ack, json_pack("{s:b}", "stored", 1)), 0);
    assert_int_equal(hm_mdp_worker_send(worker, &reply_to, ack), 0);
    assert_null(reply_to); /* taken */

    hm_envelope_t *got = s_peer_expect_reply(&peer, identity);
    assert_string_equal(got->type, HM_MSG_ACK);
    assert_string_equal(got->id, sent->id);
    assert_true(json_equal(got->data, ack->data));

    hm_envelope_destroy(&got);
    hm_envelope_destroy(&ack);
    hm_envelope_destroy(&req);
    hm_envelope_destroy(&sent);
    zframe_destroy(&identity);
    hm_mdp_worker_destroy(&worker);
    assert_null(worker);
    s_peer_destroy(&peer);
}

/* On creation the worker sends READY [""]["MDPW01"][0x01][service], and
 * nothing else; hm_mdp_worker_recv returns -1 when nothing is waiting. */
static void
test_worker_sends_ready(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_worker_t *worker = hm_mdp_worker_new(peer.ep, "edge.e-1", 0);
    assert_non_null(worker);
    assert_non_null(hm_mdp_worker_sock(worker));

    zmsg_t *msg = s_peer_recv(&peer, S_WAIT_MS);
    assert_non_null(msg);
    assert_int_equal(zmsg_size(msg), 5);
    zframe_t *identity = zmsg_first(msg);
    assert_true(zframe_size(identity) > 0);
    s_assert_frame_str(zmsg_next(msg), "");
    s_assert_frame_str(zmsg_next(msg), "MDPW01");
    s_assert_frame(zmsg_next(msg), "\x01", 1);
    s_assert_frame_str(zmsg_next(msg), "edge.e-1");
    zmsg_destroy(&msg);
    s_peer_expect_nothing(&peer);

    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    assert_int_equal(hm_mdp_worker_recv(worker, &req, &reply_to), -1);
    assert_null(req);
    assert_null(reply_to);

    hm_mdp_worker_destroy(&worker);
    hm_mdp_worker_destroy(&worker); /* idempotent */
    s_peer_destroy(&peer);
}

/* The worker answers the broker's HEARTBEAT silently, and sends its own
 * [""]["MDPW01"][0x04] from hm_mdp_worker_tick once the interval is up (not
 * before). */
static void
test_worker_heartbeats(void **state)
{
    (void)state;
    const int interval = 200;
    s_peer_t peer;
    s_peer_new(&peer);
    int64_t start = zclock_mono();
    zframe_t *identity = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_CHAT, interval, &identity);

    /* Not due yet: tick sends nothing. */
    int left = hm_mdp_worker_tick_ms(worker);
    assert_true(left > 0 && left <= interval);
    hm_mdp_worker_tick(worker);
    assert_null(s_peer_recv(&peer, 20));

    /* The broker's heartbeat is read and not answered. */
    s_peer_send(&peer, identity, HM_MDPW, HM_MDPW_HEARTBEAT, NULL);
    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    assert_int_equal(s_worker_recv(worker, &req, &reply_to), 0);
    assert_null(req);
    assert_null(reply_to);
    s_peer_expect_nothing(&peer);

    zclock_sleep(hm_mdp_worker_tick_ms(worker));
    hm_mdp_worker_tick(worker);
    zframe_t *from = s_peer_expect_cmd(&peer, HM_MDPW_HEARTBEAT, 0, NULL);
    assert_true(zclock_mono() - start >= interval);
    assert_true(zframe_eq(from, identity)); /* the same connection, no new READY */
    zframe_destroy(&from);

    /* And again one interval later. */
    left = hm_mdp_worker_tick_ms(worker);
    assert_true(left > interval / 2 && left <= interval);
    zclock_sleep(left);
    hm_mdp_worker_tick(worker);
    from = s_peer_expect_cmd(&peer, HM_MDPW_HEARTBEAT, 0, NULL);
    assert_true(zframe_eq(from, identity));
    zframe_destroy(&from);

    zframe_destroy(&identity);
    hm_mdp_worker_destroy(&worker);
    s_peer_destroy(&peer);
}

/* A REQUEST whose body is not an envelope is answered with an error reply
 * (data.code bad_request) to the same client, and recv returns 0. */
static void
test_worker_answers_bad_request(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    zframe_t *identity = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_HEALTH, 0, &identity);

    zframe_t *body = zframe_new("\xc1 not an envelope", 17);
    assert_non_null(body);
    s_peer_send_request(&peer, identity, &body);
    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    assert_int_equal(s_worker_recv(worker, &req, &reply_to), 0);
    assert_null(req);
    assert_null(reply_to);

    hm_envelope_t *err = s_peer_expect_reply(&peer, identity);
    assert_string_equal(err->type, HM_MSG_ERROR);
    assert_non_null(err->data);
    assert_string_equal(json_string_value(json_object_get(err->data, "code")), HM_ERR_BAD_REQUEST);
    assert_non_null(json_string_value(json_object_get(err->data, "message")));

    hm_envelope_destroy(&err);
    zframe_destroy(&identity);
    hm_mdp_worker_destroy(&worker);
    s_peer_destroy(&peer);
}

/* Protocol garbage from the broker is dropped (recv 0) without an answer,
 * and the worker still serves the next request. */
static void
test_worker_drops_garbage(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    zframe_t *identity = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_HEALTH, 0, &identity);

    hm_envelope_t *sent = hm_envelope_new(HM_VERB_ECHO);
    assert_non_null(sent);
    zframe_t *packed = s_packed(sent);

    /* Wrong protocol, unknown command, a REQUEST without the empty frame,
     * and a REQUEST with a frame too many. */
    s_peer_send(&peer, identity, HM_MDPC, HM_MDPW_REQUEST, NULL);
    s_peer_send(&peer, identity, HM_MDPW, "\x09", NULL);
    zmsg_t *body = zmsg_new();
    zmsg_addmem(body, s_client_addr, sizeof s_client_addr);
    zmsg_addmem(body, zframe_data(packed), zframe_size(packed));
    s_peer_send(&peer, identity, HM_MDPW, HM_MDPW_REQUEST, &body);
    body = zmsg_new();
    zmsg_addmem(body, s_client_addr, sizeof s_client_addr);
    zmsg_addstr(body, "");
    zmsg_addmem(body, zframe_data(packed), zframe_size(packed));
    zmsg_addstr(body, "extra");
    s_peer_send(&peer, identity, HM_MDPW, HM_MDPW_REQUEST, &body);
    for (int i = 0; i < 4; i++) {
        hm_envelope_t *req = NULL;
        zframe_t *reply_to = NULL;
        assert_int_equal(s_worker_recv(worker, &req, &reply_to), 0);
        assert_null(req);
        assert_null(reply_to);
    }
    s_peer_expect_nothing(&peer);

    s_peer_send_request(&peer, identity, &packed);
    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    assert_int_equal(s_worker_recv(worker, &req, &reply_to), 1);
    assert_string_equal(req->id, sent->id);

    hm_envelope_destroy(&req);
    zframe_destroy(&reply_to);
    hm_envelope_destroy(&sent);
    zframe_destroy(&identity);
    hm_mdp_worker_destroy(&worker);
    s_peer_destroy(&peer);
}

/* DISCONNECT from the broker (e.g. a restarted broker that does not know the
 * worker) makes the worker register again: READY on a new connection. */
static void
test_worker_reregisters_after_disconnect(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    zframe_t *first = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_NOTIFY, 0, &first);

    s_peer_send(&peer, first, HM_MDPW, HM_MDPW_DISCONNECT, NULL);
    hm_envelope_t *req = NULL;
    zframe_t *reply_to = NULL;
    assert_int_equal(s_worker_recv(worker, &req, &reply_to), 0);
    assert_null(req);

    zframe_t *second = s_peer_expect_ready(&peer, HM_SVC_NOTIFY);
    assert_false(zframe_eq(first, second)); /* a new identity at the broker */

    /* The new registration works: a request on it is served. */
    hm_envelope_t *sent = hm_envelope_new(HM_VERB_NOTIFY_LIST);
    assert_non_null(sent);
    zframe_t *body = s_packed(sent);
    s_peer_send_request(&peer, second, &body);
    assert_int_equal(s_worker_recv(worker, &req, &reply_to), 1);
    assert_string_equal(req->id, sent->id);

    hm_envelope_destroy(&req);
    zframe_destroy(&reply_to);
    hm_envelope_destroy(&sent);
    zframe_destroy(&first);
    zframe_destroy(&second);
    hm_mdp_worker_destroy(&worker);
    s_peer_destroy(&peer);
}

/* A broker silent for HM_MDP_LIVENESS heartbeat intervals is dead: the
 * worker reconnects and sends READY again, from a new identity. Until then
 * it keeps sending heartbeats on the first connection. */
static void
test_worker_reconnects_when_broker_silent(void **state)
{
    (void)state;
    const int interval = 50;
    s_peer_t peer;
    s_peer_new(&peer);
    int64_t start = zclock_mono();
    zframe_t *first = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_SCHEDULER, interval, &first);

    /* The worker's loop as a service writes it; the peer never answers. */
    int heartbeats = 0;
    zframe_t *second = NULL;
    int64_t deadline = zclock_mono() + S_WAIT_MS;
    while (!second && zclock_mono() < deadline) {
        if (s_worker_readable(worker, hm_mdp_worker_tick_ms(worker)))
            fail_msg("the silent peer sent something");
        hm_mdp_worker_tick(worker);
        zmsg_t *msg;
        while (!second && (msg = s_peer_recv(&peer, 0)) != NULL) {
            zframe_t *from = s_pop_header(msg, HM_MDPW, NULL);
            zframe_t *cmd = zmsg_pop(msg);
            assert_non_null(cmd);
            if (zframe_streq(cmd, HM_MDPW_HEARTBEAT)) {
                assert_true(zframe_eq(from, first));
                heartbeats++;
            } else {
                s_assert_frame_str(cmd, HM_MDPW_READY);
                s_assert_frame_str(zmsg_first(msg), HM_SVC_SCHEDULER);
                second = from;
                from = NULL;
            }
            zframe_destroy(&cmd);
            zframe_destroy(&from);
            zmsg_destroy(&msg);
        }
    }
    if (!second)
        fail_msg("no new READY within %d ms", S_WAIT_MS);
    int64_t elapsed = zclock_mono() - start;
    assert_true(elapsed >= HM_MDP_LIVENESS * interval);
    assert_false(zframe_eq(first, second));
    assert_true(heartbeats >= 1 && heartbeats <= HM_MDP_LIVENESS);

    zframe_destroy(&first);
    zframe_destroy(&second);
    hm_mdp_worker_destroy(&worker);
    s_peer_destroy(&peer);
}

/* The counterpart: while the broker heartbeats, the worker keeps its
 * registration well past HM_MDP_LIVENESS intervals (no new READY) and keeps
 * heartbeating on the same connection. */
static void
test_worker_stays_while_broker_heartbeats(void **state)
{
    (void)state;
    const int interval = 100;
    s_peer_t peer;
    s_peer_new(&peer);
    zframe_t *first = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_SCHEDULER, interval, &first);

    int heartbeats = 0;
    int64_t end = zclock_mono() + 2 * HM_MDP_LIVENESS * interval;
    int64_t next_beat = 0;
    while (zclock_mono() < end) {
        if (zclock_mono() >= next_beat) {
            s_peer_send(&peer, first, HM_MDPW, HM_MDPW_HEARTBEAT, NULL);
            next_beat = zclock_mono() + interval;
        }
        int wait = hm_mdp_worker_tick_ms(worker);
        if (s_worker_readable(worker, wait < 10 ? wait : 10)) {
            hm_envelope_t *req = NULL;
            zframe_t *reply_to = NULL;
            assert_int_equal(hm_mdp_worker_recv(worker, &req, &reply_to), 0);
        }
        hm_mdp_worker_tick(worker);
        zmsg_t *msg;
        while ((msg = s_peer_recv(&peer, 0)) != NULL) {
            zframe_t *from = s_pop_header(msg, HM_MDPW, HM_MDPW_HEARTBEAT); /* not READY */
            assert_true(zframe_eq(from, first));
            heartbeats++;
            zframe_destroy(&from);
            zmsg_destroy(&msg);
        }
    }
    assert_true(heartbeats >= HM_MDP_LIVENESS);

    zframe_destroy(&first);
    hm_mdp_worker_destroy(&worker);
    s_peer_destroy(&peer);
}

/* hm_mdp_worker_destroy tells the broker: DISCONNECT [""]["MDPW01"][0x05]. */
static void
test_worker_destroy_sends_disconnect(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    zframe_t *identity = NULL;
    hm_mdp_worker_t *worker = s_worker_new(&peer, HM_SVC_AUTH, 0, &identity);
    hm_mdp_worker_destroy(&worker);
    assert_null(worker);
    zframe_t *from = s_peer_expect_cmd(&peer, HM_MDPW_DISCONNECT, 0, NULL);
    assert_true(zframe_eq(from, identity));

    zframe_destroy(&from);
    zframe_destroy(&identity);
    s_peer_destroy(&peer);
}

/* ---- Client tests ---------------------------------------------------------- */

/* Normal use: hm_mdp_client_request sends [""]["MDPC01"][service][envelope]
 * and returns the broker's reply [""]["MDPC01"][service][envelope]. */
static void
test_client_request_reply(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_client_t *client = hm_mdp_client_new(peer.ep, S_WAIT_MS, 0);
    assert_non_null(client);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_ECHO);
    assert_non_null(req);
    assert_int_equal(hm_envelope_set_correlation_id(req, "c-5"), 0);
    assert_int_equal(hm_envelope_set_data(req, json_pack("{s:s}", "text", "hello")), 0);

    s_call_t call;
    s_call_start(&call, client, S_CALL_REQUEST, HM_SVC_HEALTH, req);
    zframe_t *from = NULL;
    hm_envelope_t *got = s_peer_expect_request(&peer, HM_SVC_HEALTH, &from);
    assert_string_equal(got->type, HM_VERB_ECHO);
    assert_string_equal(got->id, req->id);
    assert_string_equal(got->correlation_id, "c-5");
    assert_true(json_equal(got->data, req->data));
    hm_envelope_t *ack = s_ack(got->id, "the reply");
    s_peer_reply(&peer, from, HM_SVC_HEALTH, ack);
    s_call_join(&call);

    assert_int_equal(call.rc, 0);
    assert_non_null(call.reply);
    assert_string_equal(call.reply->type, HM_MSG_ACK);
    assert_string_equal(call.reply->id, req->id);
    assert_true(json_equal(call.reply->data, ack->data));

    hm_envelope_destroy(&call.reply);
    hm_envelope_destroy(&ack);
    hm_envelope_destroy(&got);
    hm_envelope_destroy(&req);
    zframe_destroy(&from);
    hm_mdp_client_destroy(&client);
    assert_null(client);
    s_peer_destroy(&peer);
}

/* Replies to other ids (stale replies to earlier requests) and garbage are
 * dropped; the reply with the request's id is returned, even when it is an
 * error reply. */
static void
test_client_drops_stale_reply(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_client_t *client = hm_mdp_client_new(peer.ep, S_WAIT_MS, 0);
    assert_non_null(client);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_CHAT_SEND);
    assert_non_null(req);

    s_call_t call;
    s_call_start(&call, client, S_CALL_REQUEST, HM_SVC_CHAT, req);
    zframe_t *from = NULL;
    hm_envelope_t *got = s_peer_expect_request(&peer, HM_SVC_CHAT, &from);

    hm_envelope_t *stale = s_ack("0b5e1c9a-3f2d-4e8b-9a61-7c4d2e1f0a3b", "stale");
    s_peer_reply(&peer, from, HM_SVC_CHAT, stale);
    zmsg_t *body = zmsg_new(); /* undecodable body */
    zmsg_addstr(body, HM_SVC_CHAT);
    zmsg_addstr(body, "not an envelope");
    s_peer_send(&peer, from, HM_MDPC, NULL, &body);
    body = zmsg_new(); /* worker protocol on the client socket */
    zmsg_addstr(body, HM_MDPW_HEARTBEAT);
    s_peer_send(&peer, from, HM_MDPW, NULL, &body);
    hm_envelope_t *right = hm_mdp_error_reply(got, HM_ERR_SERVICE_UNAVAILABLE, "no workers");
    assert_non_null(right);
    s_peer_reply(&peer, from, HM_SVC_CHAT, right);
    s_call_join(&call);

    assert_int_equal(call.rc, 0);
    assert_string_equal(call.reply->id, req->id);
    assert_string_equal(call.reply->type, HM_MSG_ERROR);
    assert_string_equal(json_string_value(json_object_get(call.reply->data, "code")),
                        HM_ERR_SERVICE_UNAVAILABLE);

    hm_envelope_destroy(&call.reply);
    hm_envelope_destroy(&right);
    hm_envelope_destroy(&stale);
    hm_envelope_destroy(&got);
    hm_envelope_destroy(&req);
    zframe_destroy(&from);
    hm_mdp_client_destroy(&client);
    s_peer_destroy(&peer);
}

/* With the broker silent, the call makes retries + 1 attempts, each with
 * the same request id and on a fresh connection, and returns -1 after at
 * least the sum of the per-attempt timeouts (plus backoff) and well within a
 * generous bound. */
static void
test_client_retries_then_gives_up(void **state)
{
    (void)state;
    const int timeout = 100, retries = 2;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_client_t *client = hm_mdp_client_new(peer.ep, timeout, retries);
    assert_non_null(client);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_NOTIFY_CREATE);
    assert_non_null(req);

    s_call_t call;
    s_call_start(&call, client, S_CALL_REQUEST, HM_SVC_NOTIFY, req);
    /* The peer records every attempt until the call has returned, then
     * watches a while longer for stragglers. */
    hm_envelope_t *seen[S_MAX_CALLS];
    zframe_t *froms[S_MAX_CALLS];
    int attempts = 0;
    int64_t deadline = zclock_mono() + 5 * S_WAIT_MS;
    for (;;) {
        bool returned = atomic_load(&call.done);
        zmsg_t *msg = s_peer_recv(&peer, returned ? S_QUIET_MS : 10);
        if (msg) {
            assert_true(attempts < S_MAX_CALLS);
            seen[attempts] = s_parse_request(&msg, HM_SVC_NOTIFY, &froms[attempts]);
            attempts++;
        } else if (returned || zclock_mono() > deadline) {
            break;
        }
    }
    s_call_join(&call);

    assert_int_equal(call.rc, -1);
    assert_null(call.reply);
    assert_int_equal(attempts, retries + 1);
    for (int i = 0; i < attempts; i++) {
        assert_string_equal(seen[i]->id, req->id); /* the same id every time */
        for (int j = 0; j < i; j++)
            assert_false(zframe_eq(froms[i], froms[j])); /* a new socket each time */
    }
    int64_t sum = (int64_t)timeout * (retries + 1);
    if (call.elapsed_ms < sum || call.elapsed_ms > sum + 2000)
        fail_msg("gave up after %lld ms, want %lld ms plus backoff (< %lld)",
                 (long long)call.elapsed_ms, (long long)sum, (long long)(sum + 2000));

    for (int i = 0; i < attempts; i++) {
        hm_envelope_destroy(&seen[i]);
        zframe_destroy(&froms[i]);
    }
    hm_envelope_destroy(&req);
    hm_mdp_client_destroy(&client);
    s_peer_destroy(&peer);
}

/* hm_mdp_client_mmi_service asks [""]["MDPC01"]["mmi.service"][name] and
 * parses the broker's code (RFC 8); -1 when the broker does not answer. */
static void
test_client_mmi_service(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_client_t *client = hm_mdp_client_new(peer.ep, S_WAIT_MS, 0);
    assert_non_null(client);
    assert_int_equal(s_mmi(&peer, client, HM_SVC_HEALTH, "200"), 200);
    assert_int_equal(s_mmi(&peer, client, HM_SVC_CHAT, "404"), 404);
    hm_mdp_client_destroy(&client);

    client = hm_mdp_client_new(peer.ep, 100, 0);
    assert_non_null(client);
    int64_t start = zclock_mono();
    assert_int_equal(s_mmi(&peer, client, HM_SVC_HEALTH, NULL), -1);
    int64_t elapsed = zclock_mono() - start;
    assert_true(elapsed >= 100 && elapsed < S_WAIT_MS);

    hm_mdp_client_destroy(&client);
    s_peer_destroy(&peer);
}

/* Regression: hm_mdp_client_mmi_service once
 * takes the first 4-frame message on the socket as its answer. After a
 * request has timed out on its last attempt the socket is kept, so the late
 * reply to that request is still queued; the MMI call then reads it and
 * returns atoi() of a packed envelope (0) instead of the broker's 200. The
 * same happens to a process using the asynchronous pair that calls
 * mmi_service while a reply is pending (and that reply is lost). */
static void
test_mmi_service_ignores_stale_reply(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_client_t *client = hm_mdp_client_new(peer.ep, 200, 0);
    assert_non_null(client);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_ECHO);
    assert_non_null(req);

    s_call_t call;
    s_call_start(&call, client, S_CALL_REQUEST, HM_SVC_HEALTH, req);
    zframe_t *from = NULL;
    hm_envelope_t *got = s_peer_expect_request(&peer, HM_SVC_HEALTH, &from);
    s_call_join(&call); /* the peer stays silent: -1 */
    assert_int_equal(call.rc, -1);

    hm_envelope_t *late = s_ack(got->id, "late");
    s_peer_reply(&peer, from, HM_SVC_HEALTH, late);
    int code = s_mmi(&peer, client, HM_SVC_HEALTH, "200");

    /* Everything is closed before the verdict, so a failure here is this
     * bug and not a leak report. */
    hm_envelope_destroy(&late);
    hm_envelope_destroy(&got);
    hm_envelope_destroy(&req);
    zframe_destroy(&from);
    hm_mdp_client_destroy(&client);
    s_peer_destroy(&peer);
    if (code != 200)
        fail_msg("regression: mmi_service returned %d, not the broker's 200: it read the stale reply "
                 "to the earlier request as its answer",
                 code);
}

/* The asynchronous pair: send returns at once; recv returns -1 while nothing
 * is ready, -1 for garbage, and 0 with the service and the reply. */
static void
test_client_async_pair(void **state)
{
    (void)state;
    s_peer_t peer;
    s_peer_new(&peer);
    hm_mdp_client_t *client = hm_mdp_client_new(peer.ep, S_WAIT_MS, 0);
    assert_non_null(client);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_EDGE_STATUS);
    assert_non_null(req);

    assert_int_equal(hm_mdp_client_send(client, "edge.e-1", req), 0);
    char *service = NULL;
    hm_envelope_t *reply = NULL;
    assert_int_equal(hm_mdp_client_recv(client, &service, &reply), -1);
    zframe_t *from = NULL;
    hm_envelope_t *got = s_peer_expect_request(&peer, "edge.e-1", &from);
    assert_string_equal(got->id, req->id);

    zmsg_t *body = zmsg_new();
    zmsg_addstr(body, "edge.e-1");
    zmsg_addstr(body, "not an envelope");
    s_peer_send(&peer, from, HM_MDPC, NULL, &body);
    hm_envelope_t *ack = s_ack(got->id, "async");
    s_peer_reply(&peer, from, "edge.e-1", ack);

    zmq_pollitem_t item = {zsock_resolve(hm_mdp_client_sock(client)), 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, S_WAIT_MS), 1);
    assert_int_equal(hm_mdp_client_recv(client, &service, &reply), -1); /* garbage */
    assert_null(service);
    assert_null(reply);
    assert_int_equal(zmq_poll(&item, 1, S_WAIT_MS), 1);
    assert_int_equal(hm_mdp_client_recv(client, &service, &reply), 0);
    assert_string_equal(service, "edge.e-1");
    assert_string_equal(reply->id, req->id);
    assert_true(json_equal(reply->data, ack->data));

    free(service);
    hm_envelope_destroy(&reply);
    hm_envelope_destroy(&ack);
    hm_envelope_destroy(&got);
    hm_envelope_destroy(&req);
    zframe_destroy(&from);
    hm_mdp_client_destroy(&client);
    s_peer_destroy(&peer);
}

/* hm_mdp_error_reply: type "error", the request's id, correlation_id and
 * routing fields, data {code, message}; message defaults to the code. */
static void
test_error_reply(void **state)
{
    (void)state;
    hm_envelope_t *req = hm_envelope_new(HM_VERB_CHAT_SEND);
    assert_non_null(req);
    assert_int_equal(hm_envelope_set_correlation_id(req, "c-77"), 0);
    assert_int_equal(hm_envelope_set_conn_id(req, "conn-3"), 0);
    assert_int_equal(hm_envelope_set_edge(req, "edge-b"), 0);
    req->user_id = 9;

    hm_envelope_t *err = hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not a member");
    assert_non_null(err);
    assert_string_equal(err->type, HM_MSG_ERROR);
    assert_string_equal(err->id, req->id);
    assert_ptr_not_equal(err->id, req->id); /* a copy */
    assert_string_equal(err->correlation_id, "c-77");
    assert_string_equal(err->conn_id, "conn-3");
    assert_string_equal(err->edge, "edge-b");
    assert_int_equal(err->user_id, 9);
    assert_string_equal(json_string_value(json_object_get(err->data, "code")), HM_ERR_FORBIDDEN);
    assert_string_equal(json_string_value(json_object_get(err->data, "message")), "not a member");
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(hm_envelope_encode(err, &buf, &len), 0); /* fit for the wire */
    free(buf);
    hm_envelope_destroy(&err);

    err = hm_mdp_error_reply(req, HM_ERR_TIMEOUT, NULL);
    assert_non_null(err);
    assert_string_equal(json_string_value(json_object_get(err->data, "message")), HM_ERR_TIMEOUT);
    hm_envelope_destroy(&err);

    /* No request (its body did not decode): a fresh id, no correlation. */
    err = hm_mdp_error_reply(NULL, HM_ERR_BAD_REQUEST, "bad body");
    assert_non_null(err);
    assert_non_null(err->id);
    assert_string_not_equal(err->id, req->id);
    assert_null(err->correlation_id);
    assert_string_equal(json_string_value(json_object_get(err->data, "code")), HM_ERR_BAD_REQUEST);
    hm_envelope_destroy(&err);
    hm_envelope_destroy(&req);
}

int
main(void)
{
    /* A hung test must not hang the run: SIGALRM ends the process. */
    alarm(60);
    hm_log_set_level(HM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_request_reply),
        cmocka_unit_test(test_worker_sends_ready),
        cmocka_unit_test(test_worker_heartbeats),
        cmocka_unit_test(test_worker_answers_bad_request),
        cmocka_unit_test(test_worker_drops_garbage),
        cmocka_unit_test(test_worker_reregisters_after_disconnect),
        cmocka_unit_test(test_worker_reconnects_when_broker_silent),
        cmocka_unit_test(test_worker_stays_while_broker_heartbeats),
        cmocka_unit_test(test_worker_destroy_sends_disconnect),
        cmocka_unit_test(test_client_request_reply),
        cmocka_unit_test(test_client_drops_stale_reply),
        cmocka_unit_test(test_client_retries_then_gives_up),
        cmocka_unit_test(test_client_mmi_service),
        cmocka_unit_test(test_client_async_pair),
        cmocka_unit_test(test_error_reply),
        /* Fails until the bug it describes is fixed in hm_mdp.c. */
        cmocka_unit_test(test_mmi_service_ignores_stale_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
