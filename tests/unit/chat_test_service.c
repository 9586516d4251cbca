/*
 * chat_test_service.c - the "chat" service driven in-process with
 * envelopes (no broker): replies, events and their seqs, idempotent
 * retries, care-team checks through a fake transport standing in for
 * hm-auth, history, replay, typing, the assistant with the rules backend
 * (health data, emergencies and care-team alerts), owed replies
 * surviving a restart, and the sys.audit events of refusals decided here
 * (over inproc PUB/SUB).
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

#include "chat_backend.h"
#include "chat_db.h"
#include "chat_service.h"
#include "hm_audit.h"
#include "hm_bus.h"
#include "hm_db.h"
#include "hm_mdp.h"

typedef struct {
    char dir[64];          /* temporary directory */
    char path[128];        /* database file */
    sqlite3 *db;           /* open handle */
    chat_backend_t *rules; /* the rules backend */
    chat_service_t *svc;   /* under test */
    zlist_t *sent;         /* hm_envelope_t * requests to other services */
    zlist_t *replies;      /* hm_envelope_t * replies */
    zlist_t *events;       /* hm_envelope_t * events (topic in conn_id) */
    zsock_t *pub;          /* the service's sys.audit socket */
    zsock_t *sub;          /* bound inproc: sees what it publishes */
    hm_envelope_t *audit;  /* the last sys.audit event read */
} fixture_t;

/* ---- the fakes -------------------------------------------------------------- */

static int
fake_send(void *arg, const char *service, const hm_envelope_t *req)
{
    fixture_t *f = arg;
    hm_envelope_t *copy = hm_envelope_dup(req);
    hm_envelope_set_edge(copy, service); /* remember the service in a spare field */
    zlist_append(f->sent, copy);
    return 0;
}

static void
sink_reply(void *arg, zframe_t **to, const hm_envelope_t *rep)
{
    fixture_t *f = arg;
    zframe_destroy(to);
    zlist_append(f->replies, hm_envelope_dup(rep));
}

static void
sink_publish(void *arg, const char *topic, const hm_envelope_t *ev)
{
    fixture_t *f = arg;
    hm_envelope_t *copy = hm_envelope_dup(ev);
    hm_envelope_set_conn_id(copy, topic); /* remember the topic in a spare field */
    zlist_append(f->events, copy);
}

static void
empty(zlist_t *list)
{
    hm_envelope_t *e;
    while ((e = zlist_pop(list)))
        hm_envelope_destroy(&e);
}

static void
start_service(fixture_t *f)
{
    chat_service_cfg_t cfg = {.db = f->db,
                              .backend = f->rules,
                              .rules = f->rules,
                              .send = fake_send,
                              .send_arg = f,
                              .max_message_bytes = 100,
                              .typing_timeout_ms = 300,
                              .typing_rate = 5,
                              .typing_burst = 10,
                              .context_timeout_ms = 300,
                              .generate_timeout_ms = 1000,
                              .history = 4,
                              .call_timeout_ms = 200,
                              .authz_ttl_ms = 60000,
                              .republish_ms = 0,
                              .pub = f->pub};
    f->svc = chat_service_new(&cfg);
    assert_non_null(f->svc);
    assert_int_equal(chat_service_start(f->svc), 0);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/chat-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/chat.db", f->dir);
    f->db = chat_db_open(f->path);
    assert_non_null(f->db);
    f->rules = chat_backend_rules_new();
    f->sent = zlist_new();
    f->replies = zlist_new();
    f->events = zlist_new();
    static int n;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://chat-test-%d", n++);
    f->sub = zsock_new(ZMQ_SUB);
    assert_int_equal(zsock_bind(f->sub, "%s", endpoint), 0);
    hm_bus_subscribe(f->sub, HM_TOPIC_SYS_AUDIT);
    f->pub = hm_bus_pub_new(endpoint);
    assert_non_null(f->pub);
    zsock_events(f->sub); /* inproc: the subscription reaches the PUB */
    zsock_events(f->pub);
    zsock_set_rcvtimeo(f->sub, 0);
    start_service(f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    chat_service_destroy(&f->svc);
    zsock_destroy(&f->pub);
    zsock_destroy(&f->sub);
    hm_envelope_destroy(&f->audit);
    f->rules->destroy(&f->rules);
    hm_db_close(&f->db);
    empty(f->sent);
    empty(f->replies);
    empty(f->events);
    zlist_destroy(&f->sent);
    zlist_destroy(&f->replies);
    zlist_destroy(&f->events);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void
flush(fixture_t *f)
{
    chat_sink_t sink = {sink_reply, sink_publish, f};
    chat_service_flush(f->svc, &sink);
}

/* Sends verb from user with data (taken) and id (NULL: fresh); flushes. */
static void
send_req(fixture_t *f, const char *verb, int64_t user, json_t *data, const char *id)
{
    hm_envelope_t *req = hm_envelope_new(verb);
    req->user_id = user;
    if (id)
        hm_envelope_set_id(req, id);
    hm_envelope_set_correlation_id(req, "corr");
    hm_envelope_set_conn_id(req, "conn-1");
    hm_envelope_set_data(req, data);
    zframe_t *to = zframe_new("c", 1);
    chat_service_request(f->svc, &req, &to);
    assert_null(req);
    flush(f);
}

/* The oldest reply (caller destroys); fails when there is none. */
static hm_envelope_t *
reply(fixture_t *f)
{
    hm_envelope_t *rep = zlist_pop(f->replies);
    assert_non_null(rep);
    assert_string_equal(rep->correlation_id, "corr");
    return rep;
}

/* The error code of the oldest reply ("" for an ack). */
static const char *
code(fixture_t *f)
{
    static char buf[64];
    hm_envelope_t *rep = reply(f);
    const char *c = json_string_value(json_object_get(rep->data, "code"));
    snprintf(buf, sizeof buf, "%s", strcmp(rep->type, HM_MSG_ERROR) == 0 && c ? c : "");
    hm_envelope_destroy(&rep);
    return buf;
}

/* chat.send of text by user (more data fields may be added to extra,
 * taken, or NULL). Returns the ack (caller destroys). */
static hm_envelope_t *
say(fixture_t *f, int64_t user, const char *text, json_t *extra)
{
    json_t *data = extra ? extra : json_object();
    json_object_set_new(data, "message", json_string(text));
    send_req(f, HM_VERB_CHAT_SEND, user, data, NULL);
    hm_envelope_t *rep = reply(f);
    assert_string_equal(rep->type, HM_MSG_ACK);
    return rep;
}

/* The first event of type for user (removed), or NULL. */
static hm_envelope_t *
event(fixture_t *f, const char *type, int64_t user)
{
    char topic[64];
    snprintf(topic, sizeof topic, "u.%lld.chat", (long long)user);
    for (hm_envelope_t *e = zlist_first(f->events); e; e = zlist_next(f->events))
        if (strcmp(e->type, type) == 0 && strcmp(e->conn_id, topic) == 0) {
            zlist_remove(f->events, e);
            return e;
        }
    return NULL;
}

/* The first assistant message to user (events before it removed), or NULL. */
static hm_envelope_t *
assistant_msg(fixture_t *f, int64_t user)
{
    hm_envelope_t *ev = NULL;
    while ((ev = event(f, HM_MSG_CHAT_MESSAGE, user)) &&
           strcmp(json_string_value(json_object_get(ev->data, "sender")), "ai_assistant") != 0)
        hm_envelope_destroy(&ev);
    return ev;
}

/* The first request sent with verb (removed), or NULL. */
static hm_envelope_t *
sent(fixture_t *f, const char *verb)
{
    for (hm_envelope_t *e = zlist_first(f->sent); e; e = zlist_next(f->sent))
        if (strcmp(e->type, verb) == 0) {
            zlist_remove(f->sent, e);
            return e;
        }
    return NULL;
}

/* Answers request req (destroyed) with type and data (taken); flushes. */
static void
answer(fixture_t *f, hm_envelope_t *req, const char *type, json_t *data)
{
    assert_non_null(req);
    hm_envelope_t *rep = hm_envelope_new(type);
    hm_envelope_set_id(rep, req->id);
    hm_envelope_set_data(rep, data);
    chat_service_on_reply(f->svc, rep);
    hm_envelope_destroy(&rep);
    hm_envelope_destroy(&req);
    flush(f);
}

/* Runs the timers for ms milliseconds. */
static void
run_for(fixture_t *f, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        usleep(10000);
        chat_service_tick(f->svc);
        flush(f);
    }
}

/* A new conversation of user 1 with member 2 (auth asked and allowing).
 * Returns its id (static). */
static const char *
team_conversation(fixture_t *f)
{
    static char conv[64];
    json_t *data = json_pack("{s:s, s:[i]}", "message", "hello team", "participants", 2);
    send_req(f, HM_VERB_CHAT_SEND, 1, data, NULL);
    assert_int_equal(zlist_size(f->replies), 0); /* held for hm-auth */
    hm_envelope_t *q = sent(f, HM_VERB_AUTH_AUTHORIZE);
    assert_non_null(q);
    assert_int_equal(q->user_id, 2);
    assert_int_equal(json_integer_value(json_object_get(q->data, "target_user_id")), 1);
    answer(f, q, HM_MSG_ACK, json_pack("{s:b}", "allowed", 1));
    hm_envelope_t *ack = reply(f);
    assert_string_equal(ack->type, HM_MSG_ACK);
    snprintf(conv, sizeof conv, "%s",
             json_string_value(json_object_get(ack->data, "conversation_id")));
    hm_envelope_destroy(&ack);
    empty(f->events);
    return conv;
}

/* ---- the tests ------------------------------------------------------------------ */

static void
test_send_stores_acks_publishes_and_the_assistant_answers(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *ack = say(f, 1, "hello", NULL);
    assert_int_equal(json_integer_value(json_object_get(ack->data, "seq")), 1);
    assert_true(json_is_true(json_object_get(ack->data, "created")));
    const char *conv = json_string_value(json_object_get(ack->data, "conversation_id"));
    hm_envelope_t *ev = event(f, HM_MSG_CHAT_MESSAGE, 1);
    assert_non_null(ev);
    assert_int_equal(ev->seq, 1); /* the user's chat-stream seq */
    assert_int_equal(ev->user_id, 1);
    assert_string_equal(json_string_value(json_object_get(ev->data, "message")), "hello");
    assert_string_equal(json_string_value(json_object_get(ev->data, "sender")), "user");
    assert_string_equal(json_string_value(json_object_get(ev->data, "conversation_id")), conv);
    hm_envelope_destroy(&ev);
    hm_envelope_t *typing = event(f, HM_MSG_TYPING, 1);
    assert_true(json_is_true(json_object_get(typing->data, "typing")));
    assert_int_equal(typing->seq, -1); /* ephemeral */
    hm_envelope_destroy(&typing);
    typing = event(f, HM_MSG_TYPING, 1);
    assert_true(json_is_false(json_object_get(typing->data, "typing")));
    hm_envelope_destroy(&typing);
    ev = event(f, HM_MSG_CHAT_MESSAGE, 1);
    assert_non_null(ev);
    assert_int_equal(ev->seq, 2);
    assert_string_equal(json_string_value(json_object_get(ev->data, "sender")), "ai_assistant");
    assert_int_equal(json_integer_value(json_object_get(ev->data, "seq")), 2);
    assert_non_null(strstr(json_string_value(json_object_get(ev->data, "message")), "Hello!"));
    hm_envelope_destroy(&ev);
    hm_envelope_destroy(&ack);
}

static void
test_retried_send_is_answered_the_same(void **state)
{
    fixture_t *f = *state;
    send_req(f, HM_VERB_CHAT_SEND, 1, json_pack("{s:s}", "message", "once"), "req-1");
    hm_envelope_t *first = reply(f);
    empty(f->events);
    send_req(f, HM_VERB_CHAT_SEND, 1, json_pack("{s:s}", "message", "once"), "req-1");
    hm_envelope_t *again = reply(f);
    assert_string_equal(json_string_value(json_object_get(again->data, "message_id")),
                        json_string_value(json_object_get(first->data, "message_id")));
    assert_true(json_is_false(json_object_get(again->data, "created")));
    hm_envelope_t *ev = event(f, HM_MSG_CHAT_MESSAGE, 1); /* published again, same seq */
    assert_int_equal(ev->seq, 1);
    hm_envelope_destroy(&ev);
    const char *conv = json_string_value(json_object_get(first->data, "conversation_id"));
    send_req(f, HM_VERB_CHAT_HISTORY, 1, json_pack("{s:s}", "conversation_id", conv), NULL);
    hm_envelope_t *h = reply(f);
    assert_int_equal(json_array_size(json_object_get(h->data, "messages")), 2); /* + reply */
    send_req(f, HM_VERB_CHAT_SEND, 2, json_pack("{s:s}", "message", "once"), "req-1");
    assert_string_equal(code(f), HM_ERR_BAD_REQUEST); /* an id is one user's */
    hm_envelope_destroy(&h);
    hm_envelope_destroy(&first);
    hm_envelope_destroy(&again);
}

static void
test_care_team_membership_is_asked_of_auth(void **state)
{
    fixture_t *f = *state;
    const char *conv = team_conversation(f);
    hm_envelope_t *ack = say(f, 2, "I'm here", json_pack("{s:s}", "conversation_id", conv));
    hm_envelope_destroy(&ack);
    hm_envelope_t *ev1 = event(f, HM_MSG_CHAT_MESSAGE, 1), *ev2 = event(f, HM_MSG_CHAT_MESSAGE, 2);
    assert_non_null(ev1);
    assert_non_null(ev2);
    assert_string_equal(json_string_value(json_object_get(ev1->data, "sender")), "care_team");
    assert_int_equal(ev1->seq, 3); /* user 1: hello, the assistant's reply, this */
    assert_int_equal(ev2->seq, 3);
    hm_envelope_destroy(&ev1);
    hm_envelope_destroy(&ev2);
    assert_null(event(f, HM_MSG_TYPING, 1)); /* no assistant reply to a member */
    /* Joining someone else's conversation: auth says no. */
    send_req(f, HM_VERB_CHAT_SEND, 3,
             json_pack("{s:s, s:s}", "conversation_id", conv, "message", "hi"), NULL);
    answer(f, sent(f, HM_VERB_AUTH_AUTHORIZE), HM_MSG_ERROR,
           json_pack("{s:s, s:s}", "code", HM_ERR_FORBIDDEN, "message", "not allowed"));
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    send_req(f, HM_VERB_CHAT_SEND, 3,
             json_pack("{s:s, s:s}", "conversation_id", conv, "message", "hi"), NULL);
    assert_string_equal(code(f), HM_ERR_FORBIDDEN); /* remembered: auth not asked again */
    assert_null(sent(f, HM_VERB_AUTH_AUTHORIZE));
    /* auth silent: service_unavailable after the call timeout. */
    send_req(f, HM_VERB_CHAT_SEND, 4,
             json_pack("{s:s, s:s}", "conversation_id", conv, "message", "hi"), NULL);
    assert_int_equal(chat_service_held(f->svc), 1);
    run_for(f, 400);
    assert_string_equal(code(f), HM_ERR_SERVICE_UNAVAILABLE);
    assert_int_equal(chat_service_held(f->svc), 0);
}

static void
test_history_pages_and_only_participants_read(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *ack = say(f, 1, "m1", NULL);
    char conv[64];
    snprintf(conv, sizeof conv, "%s",
             json_string_value(json_object_get(ack->data, "conversation_id")));
    hm_envelope_destroy(&ack);
    for (int i = 2; i <= 3; i++) {
        ack = say(f, 1, "m", json_pack("{s:s}", "conversation_id", conv));
        hm_envelope_destroy(&ack);
    }
    send_req(f, HM_VERB_CHAT_HISTORY, 1,
             json_pack("{s:s, s:i}", "conversation_id", conv, "limit", 4), NULL);
    hm_envelope_t *h = reply(f);
    json_t *msgs = json_object_get(h->data, "messages");
    assert_int_equal(json_array_size(msgs), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(msgs, 0), "seq")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(msgs, 3), "seq")), 6);
    assert_true(json_is_true(json_object_get(h->data, "more")));
    assert_int_equal(json_integer_value(json_object_get(h->data, "before_seq")), 3);
    hm_envelope_destroy(&h);
    send_req(f, HM_VERB_CHAT_HISTORY, 1,
             json_pack("{s:s, s:i, s:i}", "conversation_id", conv, "limit", 4, "before_seq", 3),
             NULL);
    h = reply(f);
    assert_int_equal(json_array_size(json_object_get(h->data, "messages")), 2);
    assert_true(json_is_false(json_object_get(h->data, "more")));
    assert_true(json_is_null(json_object_get(h->data, "before_seq")));
    hm_envelope_destroy(&h);
    send_req(f, HM_VERB_CHAT_HISTORY, 9, json_pack("{s:s}", "conversation_id", conv), NULL);
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    send_req(f, HM_VERB_CHAT_HISTORY, 1,
             json_pack("{s:s}", "conversation_id", "00000000-0000-4000-8000-000000000000"), NULL);
    assert_string_equal(code(f), HM_ERR_NOT_FOUND);
    send_req(f, HM_VERB_CHAT_HISTORY, 1, json_object(), NULL);
    h = reply(f);
    assert_int_equal(json_array_size(json_object_get(h->data, "conversations")), 1);
    hm_envelope_destroy(&h);
}

static void
test_replay_returns_the_stream_since_a_seq(void **state)
{
    fixture_t *f = *state;
    const char *conv = team_conversation(f); /* user 2's stream: 1 hello, 2 reply */
    hm_envelope_t *ack = say(f, 1, "more", json_pack("{s:s}", "conversation_id", conv));
    hm_envelope_destroy(&ack);
    send_req(f, HM_VERB_CHAT_REPLAY, 2, json_pack("{s:i, s:i}", "user_id", 2, "since_seq", 1),
             NULL);
    hm_envelope_t *r = reply(f);
    json_t *events = json_object_get(r->data, "events");
    assert_int_equal(json_array_size(events), 3);
    json_t *first = json_array_get(events, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "seq")), 2);
    assert_string_equal(json_string_value(json_object_get(first, "type")), "chat_message");
    assert_int_equal(json_integer_value(json_object_get(first, "user_id")), 2);
    assert_non_null(json_object_get(first, "timestamp"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(first, "data"), "sender")),
        "ai_assistant");
    assert_true(json_is_false(json_object_get(r->data, "more")));
    hm_envelope_destroy(&r);
    /* Another user's stream: auth decides (here: the linked member 2 reads 1's). */
    send_req(f, HM_VERB_CHAT_REPLAY, 2, json_pack("{s:i, s:i}", "user_id", 1, "since_seq", 0),
             NULL);
    r = reply(f); /* allowed from the cache of team_conversation's answer */
    assert_string_equal(r->type, HM_MSG_ACK);
    hm_envelope_destroy(&r);
    send_req(f, HM_VERB_CHAT_REPLAY, 5, json_pack("{s:i, s:i}", "user_id", 1, "since_seq", 0),
             NULL);
    answer(f, sent(f, HM_VERB_AUTH_AUTHORIZE), HM_MSG_ERROR,
           json_pack("{s:s}", "code", HM_ERR_FORBIDDEN));
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
}

static void
test_typing_goes_to_the_others_and_stops_by_itself(void **state)
{
    fixture_t *f = *state;
    const char *conv = team_conversation(f);
    send_req(f, HM_VERB_CHAT_TYPING, 1, json_pack("{s:s}", "conversation_id", conv), NULL);
    hm_envelope_t *r = reply(f);
    assert_true(json_is_true(json_object_get(r->data, "relayed")));
    hm_envelope_destroy(&r);
    assert_null(event(f, HM_MSG_TYPING, 1)); /* not to the typer */
    hm_envelope_t *t = event(f, HM_MSG_TYPING, 2);
    assert_non_null(t);
    assert_int_equal(json_integer_value(json_object_get(t->data, "user_id")), 1);
    assert_true(json_is_true(json_object_get(t->data, "typing")));
    hm_envelope_destroy(&t);
    run_for(f, 500); /* typing_timeout_ms 300 */
    t = event(f, HM_MSG_TYPING, 2);
    assert_non_null(t);
    assert_true(json_is_false(json_object_get(t->data, "typing")));
    hm_envelope_destroy(&t);
    send_req(f, HM_VERB_CHAT_TYPING, 9, json_pack("{s:s}", "conversation_id", conv), NULL);
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    /* A closed connection stops its typing at once. */
    send_req(f, HM_VERB_CHAT_TYPING, 2,
             json_pack("{s:s, s:b}", "conversation_id", conv, "typing", 1), NULL);
    assert_string_equal(code(f), "");
    empty(f->events);
    hm_envelope_t *close = hm_envelope_new(HM_EV_CONN_CLOSE);
    hm_envelope_set_conn_id(close, "conn-1");
    chat_service_on_event(f->svc, HM_TOPIC_SYS_CONN, close);
    hm_envelope_destroy(&close);
    flush(f);
    t = event(f, HM_MSG_TYPING, 1);
    assert_non_null(t);
    assert_true(json_is_false(json_object_get(t->data, "typing")));
    hm_envelope_destroy(&t);
}

static void
test_assistant_reads_only_the_health_data_asked(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *ack = say(f, 1, "What was my latest blood pressure?", NULL);
    hm_envelope_destroy(&ack);
    hm_envelope_t *q = sent(f, HM_VERB_HEALTH_SYNC);
    assert_non_null(q);
    assert_string_equal(q->edge, HM_SVC_HEALTH);
    assert_int_equal(q->user_id, 1);
    assert_string_equal(json_string_value(json_object_get(q->data, "metric")), "blood_pressure");
    assert_null(sent(f, HM_VERB_SCHED_LIST));
    answer(f, q, HM_MSG_ACK,
           json_pack("{s:[{s:s, s:i, s:i, s:i, s:s, s:s, s:i}], s:b}", "readings", "metric",
                     "blood_pressure", "value", 128, "systolic", 128, "diastolic", 84, "unit",
                     "mmHg", "timestamp", "2025-12-31T08:00:00Z", "seq", 1, "more", 0));
    hm_envelope_t *ev = assistant_msg(f, 1);
    assert_non_null(ev);
    assert_non_null(strstr(json_string_value(json_object_get(ev->data, "message")), "128/84"));
    hm_envelope_destroy(&ev);
    /* health silent: the answer says so after context_timeout_ms. */
    ack = say(f, 1, "and my heart rate?", NULL);
    hm_envelope_destroy(&ack);
    empty(f->events);
    run_for(f, 500);
    ev = event(f, HM_MSG_CHAT_MESSAGE, 1);
    assert_non_null(ev);
    assert_non_null(strstr(json_string_value(json_object_get(ev->data, "message")),
                           "can't see your recent readings"));
    hm_envelope_destroy(&ev);
}

static void
test_emergency_safety_answer_and_care_team_alert(void **state)
{
    fixture_t *f = *state;
    const char *conv = team_conversation(f);
    hm_envelope_t *ack =
        say(f, 1, "I have chest pain", json_pack("{s:s}", "conversation_id", conv));
    hm_envelope_destroy(&ack);
    hm_envelope_t *ev = assistant_msg(f, 2);
    assert_non_null(ev);
    assert_non_null(strstr(json_string_value(json_object_get(ev->data, "message")), "emergency"));
    hm_envelope_destroy(&ev);
    hm_envelope_t *q = sent(f, HM_VERB_AUTH_CARE_TEAM);
    assert_non_null(q);
    assert_int_equal(q->user_id, 0); /* as a service */
    answer(f, q, HM_MSG_ACK,
           json_pack("{s:i, s:[{s:i, s:s, s:s}]}", "user_id", 1, "members", "id", 7, "display_name",
                     "Dr Seven", "role", "clinician"));
    hm_envelope_t *n1 = sent(f, HM_VERB_NOTIFY_CREATE), *n2 = sent(f, HM_VERB_NOTIFY_CREATE);
    assert_non_null(n1);
    assert_non_null(n2); /* auth's member 7 and chat's member 2 */
    assert_null(sent(f, HM_VERB_NOTIFY_CREATE));
    assert_int_equal(json_integer_value(json_object_get(n1->data, "user_id")), 7);
    assert_int_equal(json_integer_value(json_object_get(n2->data, "user_id")), 2);
    assert_string_equal(json_string_value(json_object_get(n1->data, "priority")), "high");
    assert_string_equal(json_string_value(json_object_get(n1->data, "type")), "health_alert");
    assert_non_null(json_string_value(json_object_get(n1->data, "idempotency_key")));
    answer(f, n1, HM_MSG_ACK, json_pack("{s:s}", "id", "n1"));
    answer(f, n2, HM_MSG_ACK, json_pack("{s:s}", "id", "n2"));
    json_t *owed = chat_db_alerts(f->db, 10);
    assert_int_equal(json_array_size(owed), 0); /* every notification acknowledged */
    json_decref(owed);
}

static void
test_owed_reply_and_alert_survive_a_restart(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *ack = say(f, 1, "any alerts?", NULL);
    hm_envelope_destroy(&ack);
    hm_envelope_t *q = sent(f, HM_VERB_HEALTH_REPLAY); /* waits for health: then "killed" */
    assert_non_null(q);
    hm_envelope_destroy(&q);
    chat_service_destroy(&f->svc);
    empty(f->sent);
    empty(f->events);
    start_service(f);
    q = sent(f, HM_VERB_HEALTH_REPLAY);
    assert_non_null(q);
    answer(f, q, HM_MSG_ACK, json_pack("{s:[], s:b}", "events", "more", 0));
    hm_envelope_t *ev = assistant_msg(f, 1);
    assert_non_null(ev);
    assert_int_equal(ev->seq, 2);
    assert_non_null(
        strstr(json_string_value(json_object_get(ev->data, "message")), "no active alerts"));
    hm_envelope_destroy(&ev);
    json_t *jobs = chat_db_jobs(f->db, 10);
    assert_int_equal(json_array_size(jobs), 0);
    json_decref(jobs);
}

static void
test_client_chosen_conversation_id(void **state)
{
    fixture_t *f = *state;
    hm_envelope_t *ack = say(f, 1, "Hello", json_pack("{s:s}", "conversation_id", "uuid"));
    assert_string_equal(json_string_value(json_object_get(ack->data, "conversation_id")), "uuid");
    assert_true(json_is_true(json_object_get(ack->data, "created")));
    hm_envelope_destroy(&ack);
    ack = say(f, 1, "again", json_pack("{s:s}", "conversation_id", "uuid"));
    assert_true(json_is_false(json_object_get(ack->data, "created")));
    assert_int_equal(json_integer_value(json_object_get(ack->data, "seq")), 3);
    hm_envelope_destroy(&ack);
    send_req(f, HM_VERB_CHAT_SEND, 2,
             json_pack("{s:s, s:s}", "conversation_id", "uuid", "message", "mine?"), NULL);
    answer(f, sent(f, HM_VERB_AUTH_AUTHORIZE), HM_MSG_ERROR,
           json_pack("{s:s}", "code", HM_ERR_FORBIDDEN));
    assert_string_equal(code(f), HM_ERR_FORBIDDEN); /* taken by someone else */
}

static void
test_bad_requests(void **state)
{
    fixture_t *f = *state;
    send_req(f, HM_VERB_CHAT_SEND, 1, json_object(), NULL);
    assert_string_equal(code(f), HM_ERR_MISSING_FIELD);
    send_req(f, HM_VERB_CHAT_SEND, 1, json_pack("{s:i}", "message", 5), NULL);
    assert_string_equal(code(f), HM_ERR_INVALID_FIELD);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    send_req(f, HM_VERB_CHAT_SEND, 1, json_pack("{s:s}", "message", big), NULL);
    assert_string_equal(code(f), HM_ERR_INVALID_FIELD); /* over max_message_bytes */
    send_req(f, HM_VERB_CHAT_SEND, 1,
             json_pack("{s:s, s:s}", "message", "x", "conversation_id", "no pe!"), NULL);
    assert_string_equal(code(f), HM_ERR_INVALID_FIELD);
    send_req(f, HM_VERB_CHAT_SEND, 1,
             json_pack("{s:s, s:[i, s]}", "message", "x", "participants", 2, "x"), NULL);
    assert_string_equal(code(f), HM_ERR_INVALID_FIELD);
    send_req(f, HM_VERB_CHAT_SEND, 0, json_pack("{s:s}", "message", "x"), NULL);
    assert_string_equal(code(f), HM_ERR_BAD_REQUEST);
    send_req(f, "chat.fly", 1, json_object(), NULL);
    assert_string_equal(code(f), HM_ERR_UNKNOWN_VERB);
    send_req(f, HM_VERB_CHAT_TYPING, 1, json_object(), NULL);
    assert_string_equal(code(f), HM_ERR_MISSING_FIELD);
    send_req(f, HM_VERB_CHAT_HISTORY, 1, json_pack("{s:i}", "limit", 0), NULL);
    assert_string_equal(code(f), HM_ERR_INVALID_FIELD);
    assert_int_equal(zlist_size(f->replies), 0);
}

/* The sys.audit events waiting (checked); *a gets the last one. */
static int
audits(fixture_t *f, hm_audit_event_t *a)
{
    int n = 0;
    char *topic = NULL;
    hm_envelope_t *ev = NULL;
    while (hm_bus_recv(f->sub, &topic, &ev) == 0) {
        assert_string_equal(topic, HM_TOPIC_SYS_AUDIT);
        free(topic);
        assert_int_equal(hm_audit_parse(ev, a, NULL), 0);
        hm_envelope_destroy(&f->audit);
        f->audit = ev; /* a's strings point into it */
        n++;
    }
    return n;
}

static void
test_refusals_decided_here_are_published_for_the_audit(void **state)
{
    fixture_t *f = *state;
    const char *conv = team_conversation(f); /* of user 1, with member 2 */
    char id[64];
    snprintf(id, sizeof id, "%s", conv);
    hm_audit_event_t a;
    assert_int_equal(audits(f, &a), 0);
    /* user 3 reads it, types in it: refused here, one event each */
    send_req(f, HM_VERB_CHAT_HISTORY, 3, json_pack("{s:s}", "conversation_id", id), NULL);
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    assert_int_equal(audits(f, &a), 1);
    assert_int_equal(a.actor_id, 3);
    assert_string_equal(a.action, HM_VERB_CHAT_HISTORY);
    assert_string_equal(a.service, HM_SVC_CHAT);
    assert_string_equal(a.code, HM_ERR_FORBIDDEN);
    assert_int_equal(a.target_user_id, 1);
    assert_string_equal(a.target, id);
    assert_string_equal(a.conn_id, "conn-1");
    send_req(f, HM_VERB_CHAT_TYPING, 3, json_pack("{s:s}", "conversation_id", id), NULL);
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    assert_int_equal(audits(f, &a), 1);
    assert_string_equal(a.action, HM_VERB_CHAT_TYPING);
    assert_int_equal(a.target_user_id, 1);
    /* user 3 joins: hm-auth decides (and audits): nothing published here */
    send_req(f, HM_VERB_CHAT_SEND, 3,
             json_pack("{s:s, s:s}", "message", "hi", "conversation_id", id), NULL);
    answer(f, sent(f, HM_VERB_AUTH_AUTHORIZE), HM_MSG_ERROR,
           json_pack("{s:s}", "code", HM_ERR_FORBIDDEN));
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    assert_int_equal(audits(f, &a), 0);
    /* again: answered from the remembered refusal, so audited from here */
    send_req(f, HM_VERB_CHAT_SEND, 3,
             json_pack("{s:s, s:s}", "message", "hi", "conversation_id", id), NULL);
    assert_null(sent(f, HM_VERB_AUTH_AUTHORIZE));
    assert_string_equal(code(f), HM_ERR_FORBIDDEN);
    assert_int_equal(audits(f, &a), 1);
    assert_string_equal(a.action, HM_VERB_CHAT_SEND);
    assert_int_equal(a.target_user_id, 1);
    assert_string_equal(a.target, id);
    /* a participant is not refused; an unknown conversation is not_found */
    send_req(f, HM_VERB_CHAT_HISTORY, 2, json_pack("{s:s}", "conversation_id", id), NULL);
    assert_string_equal(code(f), "");
    send_req(f, HM_VERB_CHAT_HISTORY, 3, json_pack("{s:s}", "conversation_id", "nope"), NULL);
    assert_string_equal(code(f), HM_ERR_NOT_FOUND);
    assert_int_equal(audits(f, &a), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_stores_acks_publishes_and_the_assistant_answers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retried_send_is_answered_the_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_care_team_membership_is_asked_of_auth, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_history_pages_and_only_participants_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_returns_the_stream_since_a_seq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_typing_goes_to_the_others_and_stops_by_itself, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_assistant_reads_only_the_health_data_asked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_emergency_safety_answer_and_care_team_alert, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_owed_reply_and_alert_survive_a_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_client_chosen_conversation_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_decided_here_are_published_for_the_audit,
                                        setup, teardown),
    };
    setenv("ZSYS_SIGHANDLER", "false", 1);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
