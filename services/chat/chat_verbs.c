/*
 * chat_verbs.c - chat.send, chat.typing, chat.history and chat.replay.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat_msg.h"
#include "chat_service_int.h"
#include "hm_audit.h"
#include "hm_clock.h"
#include "hm_json.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"

static int64_t
s_now_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

hm_envelope_t *
chat_verb_ack(const hm_envelope_t *req, json_t *data)
{
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ACK);
    if (!rep || !data || hm_envelope_set_id(rep, req->id) != 0 ||
        hm_envelope_set_correlation_id(rep, req->correlation_id) != 0 ||
        hm_envelope_set_conn_id(rep, req->conn_id) != 0 ||
        hm_envelope_set_edge(rep, req->edge) != 0) {
        json_decref(data);
        hm_envelope_destroy(&rep);
        return NULL;
    }
    rep->user_id = req->user_id;
    hm_envelope_set_data(rep, data);
    return rep;
}

void
chat_verb_typing_event(chat_service_t *self, const char *conv, int64_t user_id, const char *sender,
                       bool typing)
{
    chat_msg_broadcast(self->db, self->out, conv, user_id, HM_MSG_TYPING,
                       json_pack("{s:s, s:I, s:s, s:b}", "conversation_id", conv, "user_id",
                                 (json_int_t)user_id, "sender", sender, "typing", typing));
}

/* ---- fields ----------------------------------------------------------------- */

/* An optional conversation id: 1 to 64 of [A-Za-z0-9_-] (a UUID, normally;
 * a client may choose the id of a conversation it starts). Returns 0 with
 * *out (NULL when absent) or -1. */
static int
s_conv_field(const json_t *data, const char **out)
{
    json_t *v = json_object_get(data, "conversation_id");
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    const char *id = json_string_value(v);
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > CHAT_CONV_ID_MAX || len != json_string_length(v) ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != len)
        return -1;
    *out = id;
    return 0;
}

/* An optional integer in [min, max]. Returns 0 with *out (def when absent)
 * or -1. */
static int
s_int_field(const json_t *data, const char *key, int64_t min, int64_t max, int64_t def,
            int64_t *out)
{
    json_t *v = json_object_get(data, key);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* The refusal for an authorization that is not ALLOW (NULL when held). A
 * DENY hm-auth did not audit for this request (a cached answer, a local
 * rule) goes to sys.audit, naming target (owner) and conv. */
static hm_envelope_t *
s_authz_refusal(chat_service_t *self, const hm_envelope_t *req, chat_authz_rc_t rc, bool *held,
                bool audited, int64_t owner, const char *conv)
{
    if (rc == CHAT_AUTHZ_PENDING) {
        *held = true;
        return NULL;
    }
    if (rc == CHAT_AUTHZ_UNAVAILABLE)
        return hm_mdp_error_reply(req, HM_ERR_SERVICE_UNAVAILABLE,
                                  "cannot check the care team right now");
    if (!audited)
        hm_audit_denied(self->cfg.pub, req, HM_SVC_CHAT, owner, conv);
    return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not a participant of this conversation");
}

/* ---- chat.send ---------------------------------------------------------------- */

/* Who takes part in a send. */
typedef struct {
    const char *text;     /* data.message */
    const char *conv;     /* data.conversation_id or NULL */
    bool found;           /* conv exists */
    chat_conv_t existing; /* the conversation, when found */
    int64_t owner;        /* owner of a new conversation */
    int nmembers;         /* care-team members to add */
    int64_t members[CHAT_PARTICIPANTS_NEW_MAX + 1];
    bool join; /* the sender joins as care team */
} s_send_t;

/* Reads data.participants and data.patient_id of a new conversation.
 * Returns NULL, or the refusal. */
static hm_envelope_t *
s_send_people(const hm_envelope_t *req, s_send_t *s)
{
    int64_t patient;
    if (s_int_field(req->data, "patient_id", 1, INT64_MAX, 0, &patient) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, "patient_id must be a user id");
    s->owner = patient ? patient : req->user_id;
    if (s->owner != req->user_id)
        s->members[s->nmembers++] = req->user_id; /* a member starting a patient's conversation */
    json_t *list = json_object_get(req->data, "participants");
    if (list && !json_is_null(list) &&
        (!json_is_array(list) || json_array_size(list) > CHAT_PARTICIPANTS_NEW_MAX))
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "participants must be an array of at most 8 user ids");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                      "participants must be positive user ids");
        int64_t id = json_integer_value(v);
        bool dup = id == s->owner;
        for (int k = 0; k < s->nmembers; k++)
            dup = dup || s->members[k] == id;
        if (!dup)
            s->members[s->nmembers++] = id;
    }
    return NULL;
}

/* Decides who takes part: checks the sender (and new members) with hm-auth.
 * Returns NULL when allowed, else the refusal (or NULL with *held). */
static hm_envelope_t *
s_send_check(chat_service_t *self, const hm_envelope_t *req, s_send_t *s, bool *held)
{
    int64_t now = s_now_ms();
    int found = s->conv ? chat_db_conv_get(self->db, s->conv, &s->existing) : 0;
    if (found < 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    s->found = found == 1;
    if (s->found) {
        int role = chat_db_participant_role(self->db, s->conv, req->user_id);
        if (role < 0)
            return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
        if (role != CHAT_ROLE_NONE)
            return NULL;
        int64_t people[CHAT_MSG_PARTICIPANTS_MAX];
        if (chat_db_participants(self->db, s->conv, people, CHAT_MSG_PARTICIPANTS_MAX) >=
            CHAT_MSG_PARTICIPANTS_MAX) {
            hm_audit_denied(self->cfg.pub, req, HM_SVC_CHAT, s->existing.owner_id, s->conv);
            return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "the conversation is full");
        }
        chat_authz_rc_t rc = chat_authz_check(self->authz, req->user_id, s->existing.owner_id, now);
        s->join = rc == CHAT_AUTHZ_ALLOW;
        return s->join ? NULL
                       : s_authz_refusal(self, req, rc, held, chat_authz_audited(self->authz),
                                         s->existing.owner_id, s->conv);
    }
    hm_envelope_t *refusal = s_send_people(req, s);
    chat_authz_rc_t worst = CHAT_AUTHZ_ALLOW; /* all questions go out at once */
    bool audited = true; /* every DENY was hm-auth's audited answer about the sender */
    for (int i = 0; !refusal && i < s->nmembers; i++) {
        chat_authz_rc_t rc = chat_authz_check(self->authz, s->members[i], s->owner, now);
        if (rc == CHAT_AUTHZ_DENY)
            audited = audited && chat_authz_audited(self->authz) && s->members[i] == req->user_id;
        if (rc == CHAT_AUTHZ_DENY || rc == CHAT_AUTHZ_UNAVAILABLE)
            worst = worst == CHAT_AUTHZ_DENY ? worst : rc;
        else if (rc == CHAT_AUTHZ_PENDING && worst == CHAT_AUTHZ_ALLOW)
            worst = rc;
    }
    return refusal || worst == CHAT_AUTHZ_ALLOW
               ? refusal
               : s_authz_refusal(self, req, worst, held, audited, s->owner, s->conv);
}

/* Writes the send (conversation, membership, message, request id, owed
 * reply) in one unit. Returns 0 or -1. */
static int
s_send_store(chat_service_t *self, const hm_envelope_t *req, s_send_t *s, chat_post_t *p,
             chat_stored_t *res)
{
    sqlite3 *db = self->db;
    if (!s->found) {
        if (chat_db_conv_create(db, p->conversation_id, s->owner, p->ts) != 0)
            return -1;
        for (int i = 0; i < s->nmembers; i++)
            if (chat_db_participant_add(db, p->conversation_id, s->members[i], CHAT_ROLE_CARE_TEAM,
                                        p->ts) != 0)
                return -1;
    } else if (s->join && chat_db_participant_add(db, s->conv, req->user_id, CHAT_ROLE_CARE_TEAM,
                                                  p->ts) != 0) {
        return -1;
    }
    if (chat_msg_post(db, NULL, p, res) != 0 ||
        chat_db_request_put(db, req->id, req->user_id, p->message_id, p->ts) != 0)
        return -1;
    bool owner = s->found ? s->existing.owner_id == req->user_id : s->owner == req->user_id;
    return owner ? chat_assist_owe(self->assist, p->message_id, p->conversation_id, req->user_id,
                                   p->text)
                 : 0;
}

/* The ack of a stored message. */
static hm_envelope_t *
s_send_ack(const hm_envelope_t *req, const chat_stored_t *res, bool created)
{
    char ts[40];
    return chat_verb_ack(
        req, json_pack("{s:s, s:s, s:I, s:s, s:b}", "message_id", res->message_id,
                       "conversation_id", res->conversation_id, "seq", (json_int_t)res->seq,
                       "timestamp", hm_clock_iso8601(res->ts, ts, sizeof ts), "created", created));
}

/* A retried request (same envelope id): the same ack, events again. */
static hm_envelope_t *
s_send_again(chat_service_t *self, const hm_envelope_t *req, const char *msg_id)
{
    chat_stored_t res;
    if (chat_msg_get(self->db, msg_id, &res) != 1)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    chat_msg_republish(self->db, self->out, msg_id);
    return s_send_ack(req, &res, false);
}

/* Reads and checks data.message. Returns NULL or the refusal. */
static hm_envelope_t *
s_send_text(chat_service_t *self, const hm_envelope_t *req, s_send_t *s)
{
    json_t *msg = json_object_get(req->data, "message");
    if (!msg)
        return hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD, "message is required");
    size_t len = json_string_length(msg);
    if (!json_is_string(msg) || len == 0 || len > (size_t)self->cfg.max_message_bytes)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "message must be a non-empty string within the size limit");
    s->text = json_string_value(msg);
    if (strlen(s->text) != len) /* an embedded NUL */
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD, "message must not contain NUL");
    return s_conv_field(req->data, &s->conv) == 0
               ? NULL
               : hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                    "conversation_id must be 1 to 64 of A-Z a-z 0-9 _ -");
}

hm_envelope_t *
chat_verb_send(chat_service_t *self, const hm_envelope_t *req, bool *held)
{
    s_send_t s = {0};
    hm_envelope_t *refusal = s_send_text(self, req, &s);
    if (refusal)
        return refusal;
    char msg_id[HM_UUID_STRLEN], conv_id[HM_UUID_STRLEN];
    int64_t by = 0;
    int seen = chat_db_request_get(self->db, req->id, msg_id, &by);
    if (seen == 1 && by == req->user_id)
        return s_send_again(self, req, msg_id);
    if (seen != 0)
        return hm_mdp_error_reply(req, seen < 0 ? HM_ERR_INTERNAL : HM_ERR_BAD_REQUEST,
                                  seen < 0 ? "database error" : "request id reused");
    if ((refusal = s_send_check(self, req, &s, held)) || *held)
        return refusal;
    if (hm_uuid4(msg_id) != 0 || hm_uuid4(conv_id) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "no randomness");
    bool care_team = s.found ? s.existing.owner_id != req->user_id : s.owner != req->user_id;
    chat_post_t p = {s.conv ? s.conv : conv_id,
                     msg_id,
                     care_team ? HM_CHAT_SENDER_CARE_TEAM : HM_CHAT_SENDER_USER,
                     req->user_id,
                     s.text,
                     hm_clock_wall_ms()};
    chat_stored_t res;
    if (chat_tx_save(&self->tx) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database busy");
    int rc = s_send_store(self, req, &s, &p, &res);
    chat_tx_end(&self->tx, rc == 0);
    if (rc != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    if (chat_typing_clear(self->typing, req->user_id, p.conversation_id))
        chat_verb_typing_event(self, p.conversation_id, req->user_id, p.sender, false);
    chat_msg_republish(self->db, self->out, msg_id);
    hm_log_debug("message_stored", "conversation_id=%s seq=%" PRId64 " sender_id=%" PRId64,
                 p.conversation_id, res.seq, req->user_id);
    return s_send_ack(req, &res, !s.found);
}

/* ---- chat.typing ---------------------------------------------------------------- */

hm_envelope_t *
chat_verb_typing(chat_service_t *self, const hm_envelope_t *req, bool *held)
{
    (void)held;
    const char *conv = NULL;
    json_t *typing = json_object_get(req->data, "typing");
    if (s_conv_field(req->data, &conv) != 0 || (typing && !json_is_boolean(typing)))
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "conversation_id must be an id, typing a boolean");
    if (!conv)
        return hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD, "conversation_id is required");
    int role = chat_db_participant_role(self->db, conv, req->user_id);
    if (role < 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    if (role == CHAT_ROLE_NONE) {
        chat_conv_t c;
        hm_audit_denied(self->cfg.pub, req, HM_SVC_CHAT,
                        chat_db_conv_get(self->db, conv, &c) == 1 ? c.owner_id : 0, conv);
        return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not a participant of this conversation");
    }
    bool on = !typing || json_is_true(typing);
    chat_typing_rc_t rc =
        chat_typing_update(self->typing, req->user_id, conv, req->conn_id, on, s_now_ms());
    if (rc == CHAT_TYPING_LIMITED || rc == CHAT_TYPING_FULL)
        return hm_mdp_error_reply(req, HM_ERR_RATE_LIMITED, "too many typing updates");
    if (rc == CHAT_TYPING_RELAY)
        chat_verb_typing_event(
            self, conv, req->user_id,
            role == CHAT_ROLE_OWNER ? HM_CHAT_SENDER_USER : HM_CHAT_SENDER_CARE_TEAM, on);
    return chat_verb_ack(req, json_pack("{s:s, s:b, s:b}", "conversation_id", conv, "typing", on,
                                        "relayed", rc == CHAT_TYPING_RELAY));
}

/* ---- chat.history --------------------------------------------------------------- */

/* The refusal for a reader of conv who is not a participant. */
static hm_envelope_t *
s_not_participant(chat_service_t *self, const hm_envelope_t *req, const char *conv)
{
    chat_conv_t c;
    int found = chat_db_conv_get(self->db, conv, &c);
    if (found < 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    hm_log_info("history_denied", "user_id=%" PRId64 " found=%d", req->user_id, found);
    if (found)
        hm_audit_denied(self->cfg.pub, req, HM_SVC_CHAT, c.owner_id, conv);
    return found ? hm_mdp_error_reply(req, HM_ERR_FORBIDDEN,
                                      "only participants may read a conversation")
                 : hm_mdp_error_reply(req, HM_ERR_NOT_FOUND, "no such conversation");
}

hm_envelope_t *
chat_verb_history(chat_service_t *self, const hm_envelope_t *req, bool *held)
{
    (void)held;
    const char *conv = NULL;
    int64_t before, limit;
    if (s_conv_field(req->data, &conv) != 0 ||
        s_int_field(req->data, "before_seq", 1, INT64_MAX, 0, &before) != 0 ||
        s_int_field(req->data, "limit", 1, CHAT_HISTORY_MAX, CHAT_HISTORY_DEFAULT, &limit) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "conversation_id must be an id, before_seq a positive "
                                  "integer, limit 1 to 200");
    if (!conv) {
        json_t *list = chat_db_conv_list(self->db, req->user_id, CHAT_CONVERSATIONS_MAX);
        return list ? chat_verb_ack(req, json_pack("{s:o}", "conversations", list))
                    : hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    int role = chat_db_participant_role(self->db, conv, req->user_id);
    if (role <= CHAT_ROLE_NONE)
        return role < 0 ? hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error")
                        : s_not_participant(self, req, conv);
    bool more = false;
    json_t *page = chat_msg_history(self->db, conv, before, (int)limit, &more);
    if (!page)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    json_t *first = json_object_get(json_array_get(page, 0), "seq");
    return chat_verb_ack(req, json_pack("{s:s, s:o, s:b, s:O}", "conversation_id", conv, "messages",
                                        page, "more", more, "before_seq",
                                        more && first ? first : json_null()));
}

/* ---- chat.replay ---------------------------------------------------------------- */

hm_envelope_t *
chat_verb_replay(chat_service_t *self, const hm_envelope_t *req, bool *held)
{
    int64_t owner, since;
    if (s_int_field(req->data, "user_id", 1, INT64_MAX, 0, &owner) != 0 ||
        s_int_field(req->data, "since_seq", 0, INT64_MAX, 0, &since) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INVALID_FIELD,
                                  "user_id must be a user id, since_seq a non-negative integer");
    if (!owner)
        owner = req->user_id;
    if (owner <= 0)
        return hm_mdp_error_reply(req, HM_ERR_MISSING_FIELD, "user_id is required");
    if (req->user_id > 0 && req->user_id != owner) { /* user_id 0: a service */
        chat_authz_rc_t rc = chat_authz_check(self->authz, req->user_id, owner, s_now_ms());
        if (rc != CHAT_AUTHZ_ALLOW)
            return s_authz_refusal(self, req, rc, held, chat_authz_audited(self->authz), owner,
                                   NULL);
    }
    bool more = false;
    json_t *events = chat_msg_replay(self->db, owner, since, &more);
    if (!events)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    return chat_verb_ack(req, json_pack("{s:I, s:o, s:b}", "user_id", (json_int_t)owner, "events",
                                        events, "more", more));
}
