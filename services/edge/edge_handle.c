/*
 * edge_handle.c - what a connection does with client messages and with the
 * replies and control events that answer them.
 */
#include <string.h>

#include "edge.h"
#include "hm_clock.h"
#include "hm_log.h"

static const edge_channel_t s_ep_channel[] = {EDGE_CH_HEALTH, EDGE_CH_CHAT, EDGE_CH_NOTIFY,
                                              EDGE_CH_COUNT};
static const char *s_ch_suffix[] = {"health", "chat", "notify"};
static const char *s_ch_resume_svc[] = {HM_SVC_HEALTH, HM_SVC_CHAT, HM_SVC_NOTIFY};
static const char *s_ch_resume_verb[] = {HM_VERB_HEALTH_REPLAY, HM_VERB_CHAT_REPLAY,
                                         HM_VERB_NOTIFY_REPLAY};
static const char *s_ep_names[] = {"health", "chat", "notifications", "combined"};

static void s_handle_text(edge_t *e, edge_conn_t *c, const char *text, size_t len);

/* ---- receiving ---------------------------------------------------------- */

/* Messages are rare next to idle time: keep no buffer between them. */
static void
s_rx_release(edge_conn_t *c)
{
    free(c->rx);
    c->rx = NULL;
    c->rxcap = c->rxlen = 0;
}

int
edge_conn_receive(edge_t *e, edge_conn_t *c, const void *in, size_t len, bool first, bool final,
                  bool binary)
{
    if (first) {
        c->rxlen = 0;
        c->rx_binary = binary;
    }
    e->stats.bytes_in += len;
    if (c->rx_discard || c->rxlen + len > e->cfg.max_frame) {
        /* Too big: read the rest of the message without keeping it, then
         * close with 1009. Closing mid-message would leave its tail to be
         * parsed as frames during the close handshake. A sender that never
         * ends the message is dropped by the lws timeout. */
        if (!c->rx_discard) {
            c->rx_discard = true;
            edge_stat_error(e, HM_ERR_TOO_BIG);
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
        }
        c->rxlen = 0;
        if (final)
            edge_conn_close(c, HM_CLOSE_TOO_BIG, "message too big");
        return 0;
    }
    if (c->rxlen + len > c->rxcap) {
        size_t ncap = c->rxcap ? c->rxcap : 256;
        while (ncap < c->rxlen + len)
            ncap *= 2;
        unsigned char *nrx = realloc(c->rx, ncap);
        if (!nrx)
            return -1;
        c->rx = nrx;
        c->rxcap = ncap;
    }
    memcpy(c->rx + c->rxlen, in, len);
    c->rxlen += len;
    if (!final)
        return 0;
    e->stats.msgs_in++;
    size_t n = c->rxlen;
    c->rxlen = 0;
    if (c->rx_binary) {
        edge_conn_send_error(c, HM_ERR_BINARY_UNSUPPORTED, "binary frames are not supported",
                             NULL);
        return 0;
    }
    if (!hm_ratelimit_take(&c->rate, hm_clock_mono_ns(), 1)) {
        e->stats.rate_limited++;
        edge_conn_send_error(c, HM_ERR_RATE_LIMITED, "too many messages, slow down", NULL);
        if (++c->rate_strikes >= e->cfg.rate_strikes_close)
            edge_conn_close(c, HM_CLOSE_RATE_LIMITED, "rate limit exceeded");
        return 0;
    }
    c->rate_strikes = 0;
    if (c->authenticating) {
        /* Held until authentication completes, then handled in order. */
        if (c->nheld >= EDGE_MAX_HELD) {
            edge_conn_send_error(c, HM_ERR_RATE_LIMITED,
                                 "too many messages before authentication completed", NULL);
            return 0;
        }
        if (!c->held && !(c->held = calloc(EDGE_MAX_HELD, sizeof(*c->held))))
            return -1;
        c->held[c->nheld].text = malloc(n);
        if (!c->held[c->nheld].text)
            return -1;
        memcpy(c->held[c->nheld].text, c->rx, n);
        c->held[c->nheld++].len = n;
        s_rx_release(c);
        return 0;
    }
    s_handle_text(e, c, (const char *) c->rx, n);
    s_rx_release(c);
    return 0;
}

/* ---- subscriptions ------------------------------------------------------ */

static bool
s_endpoint_allows(edge_conn_t *c, edge_channel_t ch)
{
    return c->endpoint == EDGE_EP_COMBINED || s_ep_channel[c->endpoint] == ch;
}

/* The subscription to user's stream of ch, or NULL. */
static edge_sub_t *
s_find_sub(edge_conn_t *c, edge_channel_t ch, int64_t user)
{
    for (int i = 0; i < c->nsubs; i++)
        if (c->subs[i].ch == ch && c->subs[i].user == user)
            return &c->subs[i];
    return NULL;
}

/* Asks the owning service for the stream since what s delivered last. */
static void
s_replay(edge_t *e, edge_conn_t *c, edge_sub_t *s, const char *cid)
{
    s->resume->rounds++;
    s->resume->overflow = false;
    edge_bus_request(e, c, EDGE_REQ_RESUME, s_ch_resume_svc[s->ch], s_ch_resume_verb[s->ch],
                     json_pack("{s:I, s:I}", "user_id", (json_int_t) s->user, "since_seq",
                               (json_int_t) (s->last_seq < 0 ? 0 : s->last_seq)),
                     cid, s->ch);
}

void
edge_conn_replay_gap(edge_t *e, edge_conn_t *c, edge_sub_t *s, int64_t seq)
{
    if (s->resume)
        return;
    s->resume = calloc(1, sizeof(*s->resume));
    if (!s->resume)
        return;
    e->stats.gap_replays++;
    hm_log_info("stream_gap", "conn=%s channel=%s last_seq=%lld seq=%lld", c->id,
                edge_channel_name(s->ch), (long long) s->last_seq, (long long) seq);
    s_replay(e, c, s, NULL);
}

/* Follows user's stream of ch and answers subscribed (cid may be NULL). */
static void
s_subscribe(edge_t *e, edge_conn_t *c, edge_channel_t ch, int64_t user, int64_t since,
            int max_rate, const char *cid)
{
    char topic[HM_TOPIC_MAX];
    snprintf(topic, sizeof(topic), "u.%lld.%s", (long long) user, s_ch_suffix[ch]);
    if (edge_bus_follow(e, c, topic, ch, user, ch == EDGE_CH_HEALTH ? max_rate : 0) != 0) {
        edge_conn_send_error(c, HM_ERR_INVALID_SUBSCRIPTION, "too many subscriptions", cid);
        return;
    }
    if (ch == EDGE_CH_NOTIFY)
        edge_bus_follow(e, c, HM_TOPIC_ALL_NOTIFY, EDGE_CH_COUNT, 0, 0);
    int64_t seq = -1;
    for (int i = 0; i < c->nsubs; i++)
        if (strcmp(topic, "") != 0 && c->subs[i].ch == ch && c->subs[i].user == user) {
            /* since_seq is where the client stands: replay everything
             * after it, even when a live event already went out after
             * authentication (/ws/health follows from then on); that one
             * may come again, and clients drop seqs they have seen. */
            if (since >= 0 && !c->subs[i].resume)
                c->subs[i].last_seq = since;
            seq = edge_bus_topic_seq(c->subs[i].topic);
        }
    json_t *j = json_pack("{s:s, s:s, s:I, s:{s:s, s:I}}", "type", HM_MSG_SUBSCRIBED,
                          "subscription", edge_channel_name(ch), "user_id", (json_int_t) user,
                          "data", "subscription", edge_channel_name(ch), "user_id",
                          (json_int_t) user);
    if (seq >= 0)
        json_object_set_new(j, "seq", json_integer(seq));
    if (cid)
        json_object_set_new(j, "correlation_id", json_string(cid));
    edge_conn_send_json(c, j);
    edge_sub_t *s = s_find_sub(c, ch, user);
    if (since >= 0 && s && !s->resume) {
        s->resume = calloc(1, sizeof(*s->resume));
        if (s->resume)
            s_replay(e, c, s, cid);
    }
}

static void
s_unsubscribe(edge_t *e, edge_conn_t *c, edge_channel_t ch, int64_t user, const char *cid)
{
    for (int i = c->nsubs - 1; i >= 0; i--)
        if (c->subs[i].ch == ch && c->subs[i].user == user)
            edge_bus_unfollow(e, c, i);
    json_t *j = json_pack("{s:s, s:s, s:I}", "type", HM_MSG_UNSUBSCRIBED, "subscription",
                          edge_channel_name(ch), "user_id", (json_int_t) user);
    if (cid)
        json_object_set_new(j, "correlation_id", json_string(cid));
    edge_conn_send_json(c, j);
}

/* The latest seq of each durable stream the connection follows. */
static json_t *
s_seq_map(edge_conn_t *c)
{
    json_t *m = json_object();
    for (int i = 0; i < c->nsubs; i++) {
        edge_sub_t *s = &c->subs[i];
        if (s->ch >= EDGE_CH_COUNT)
            continue;
        char key[64];
        snprintf(key, sizeof(key), "%s", edge_channel_name(s->ch));
        if (s->user != c->user_id)
            snprintf(key, sizeof(key), "%s:%lld", edge_channel_name(s->ch), (long long) s->user);
        int64_t seq = edge_bus_topic_seq(s->topic);
        json_object_set_new(m, key, seq >= 0 ? json_integer(seq) : json_null());
    }
    return m;
}

static void
s_send_heartbeat(edge_conn_t *c, const char *cid)
{
    json_t *j = json_pack("{s:s, s:{s:o}}", "type", HM_MSG_HEARTBEAT, "data", "seq",
                          s_seq_map(c));
    if (cid)
        json_object_set_new(j, "correlation_id", json_string(cid));
    edge_conn_send_json(c, j);
}

/* ---- client messages ---------------------------------------------------- */

static void
s_authenticate(edge_t *e, edge_conn_t *c, edge_msg_t *m, bool refresh)
{
    json_t *data = json_pack("{s:s, s:s, s:s}", "token", m->token, "remote_addr", c->remote,
                             "endpoint", s_ep_names[c->endpoint]);
    if (refresh)
        c->refreshing = true;
    else
        c->authenticating = true;
    edge_bus_request(e, c, refresh ? EDGE_REQ_REFRESH : EDGE_REQ_AUTH, HM_SVC_AUTH,
                     HM_VERB_AUTH_VERIFY, data, m->correlation_id, 0);
}

static void
s_dispatch(edge_t *e, edge_conn_t *c, edge_msg_t *m)
{
    const char *cid = m->correlation_id;
    if (m->kind == EDGE_MSG_AUTHENTICATE) {
        if (c->state == EDGE_ST_AUTHENTICATED || c->authenticating)
            edge_conn_send_error(c, HM_ERR_ALREADY_AUTHENTICATED, "already authenticated", cid);
        else
            s_authenticate(e, c, m, false);
        return;
    }
    if (m->kind == EDGE_MSG_HEARTBEAT) {
        s_send_heartbeat(c, cid);
        return;
    }
    if (c->state != EDGE_ST_AUTHENTICATED && !(c->state == EDGE_ST_ERROR && c->user_id > 0)) {
        edge_conn_send_error(c, HM_ERR_NOT_AUTHENTICATED, "authenticate first", cid);
        return;
    }
    c->last_activity_ms = hm_clock_wall_ms();
    if (m->kind == EDGE_MSG_REFRESH_TOKEN) {
        s_authenticate(e, c, m, true);
    } else if (m->kind == EDGE_MSG_SUBSCRIBE || m->kind == EDGE_MSG_UNSUBSCRIBE) {
        int64_t user = m->target_user > 0 ? m->target_user : c->user_id;
        if (!s_endpoint_allows(c, m->channel))
            edge_conn_send_error(c, HM_ERR_INVALID_SUBSCRIPTION,
                                 "this endpoint does not carry that subscription", cid);
        else if (m->kind == EDGE_MSG_UNSUBSCRIBE)
            s_unsubscribe(e, c, m->channel, user, cid);
        else if (user == c->user_id)
            s_subscribe(e, c, m->channel, user, m->since_seq, m->max_rate, cid);
        else {
            char action[48];
            snprintf(action, sizeof(action), "subscribe:%s", edge_channel_name(m->channel));
            edge_bus_request(e, c, EDGE_REQ_SUBSCRIBE, HM_SVC_AUTH, HM_VERB_AUTH_AUTHORIZE,
                             json_pack("{s:s, s:I, s:I, s:i, s:i}", "action", action,
                                       "target_user_id", (json_int_t) user, "since_seq",
                                       (json_int_t) m->since_seq, "channel", (int) m->channel,
                                       "max_rate", m->max_rate),
                             cid, 0);
        }
    } else if (m->kind == EDGE_MSG_FORWARD) {
        edge_bus_request(e, c, EDGE_REQ_FORWARD, m->service, m->verb, json_incref(m->data), cid,
                         0);
    }
}

static void
s_handle_text(edge_t *e, edge_conn_t *c, const char *text, size_t len)
{
    edge_msg_t m;
    const char *code = NULL;
    char why[128];
    if (edge_msg_parse(text, len, &m, &code, why, sizeof(why)) != 0) {
        edge_conn_send_error(c, code, why, m.correlation_id);
        /* RFC 6455 8.1: a text message that is not UTF-8 fails the
         * connection (1007); the error frame before says why. */
        if (strcmp(code, HM_ERR_INVALID_UTF8) == 0)
            edge_conn_close(c, HM_CLOSE_INVALID_PAYLOAD, "invalid UTF-8");
    } else
        s_dispatch(e, c, &m);
    edge_msg_clear(&m);
}

/* Handles what arrived while authentication was in flight, in order. */
static void
s_run_held(edge_t *e, edge_conn_t *c)
{
    int n = c->nheld;
    c->nheld = 0;
    struct edge_held *held = c->held;
    c->held = NULL;
    for (int i = 0; i < n; i++) {
        if (!c->close_code)
            s_handle_text(e, c, held[i].text, held[i].len);
        free(held[i].text);
    }
    free(held);
}

/* ---- replies ------------------------------------------------------------ */

static const char *
s_err_code(const hm_envelope_t *rep)
{
    const char *code = json_string_value(json_object_get(rep->data, "code"));
    return code ? code : HM_ERR_INTERNAL;
}

static const char *
s_err_msg(const hm_envelope_t *rep)
{
    const char *msg = json_string_value(json_object_get(rep->data, "message"));
    return msg ? msg : s_err_code(rep);
}

static void
s_auth_ok(edge_t *e, edge_conn_t *c, hm_envelope_t *rep, const char *cid)
{
    json_t *d = rep->data;
    c->user_id = json_integer_value(json_object_get(d, "user_id"));
    snprintf(c->role, sizeof(c->role), "%s", json_string_value(json_object_get(d, "role")) ?: "");
    free(c->jti);
    c->jti = strdup(json_string_value(json_object_get(d, "jti")) ?: "");
    c->token_exp_ms = json_integer_value(json_object_get(d, "exp")) * 1000;
    c->state = EDGE_ST_AUTHENTICATED;
    c->last_activity_ms = hm_clock_wall_ms();
    char topic[HM_TOPIC_MAX];
    snprintf(topic, sizeof(topic), HM_TOPIC_CTL_USER_FMT, (long long) c->user_id);
    edge_bus_follow(e, c, topic, EDGE_CH_COUNT, 0, 0);
    json_t *j = json_pack("{s:s, s:I, s:s, s:{s:I, s:s, s:s, s:I}}", "type",
                          HM_MSG_AUTHENTICATED, "user_id", (json_int_t) c->user_id, "role",
                          c->role, "data", "user_id", (json_int_t) c->user_id, "role", c->role,
                          "connection_id", c->id, "expires_at", (json_int_t) (c->token_exp_ms / 1000));
    if (cid)
        json_object_set_new(j, "correlation_id", json_string(cid));
    edge_conn_send_json(c, j);
    edge_bus_lifecycle(e, c, "conn_auth");
    edge_channel_t ch = s_ep_channel[c->endpoint];
    if (ch < EDGE_CH_COUNT)
        s_subscribe(e, c, ch, c->user_id, -1, 0, NULL);
}

static void
s_on_auth(edge_t *e, edge_conn_t *c, hm_envelope_t *rep, const char *cid)
{
    c->authenticating = false;
    if (strcmp(rep->type, HM_MSG_ERROR) == 0) {
        const char *code = s_err_code(rep);
        e->stats.auth_failures++;
        c->state = EDGE_ST_ERROR;
        edge_conn_send_error(c, code, s_err_msg(rep), cid);
        bool limit = strcmp(code, HM_ERR_TOO_MANY_CONNECTIONS) == 0;
        edge_conn_close(c, limit ? HM_CLOSE_TOO_MANY_CONNECTIONS : HM_CLOSE_AUTH_FAILED,
                        limit ? "too many connections for this user" : "authentication failed");
        return;
    }
    s_auth_ok(e, c, rep, cid);
    s_run_held(e, c);
}

static void
s_on_refresh(edge_t *e, edge_conn_t *c, hm_envelope_t *rep, const char *cid)
{
    c->refreshing = false;
    if (strcmp(rep->type, HM_MSG_ERROR) == 0) {
        edge_conn_send_error(c, s_err_code(rep), s_err_msg(rep), cid);
        return;
    }
    if (json_integer_value(json_object_get(rep->data, "user_id")) != c->user_id) {
        edge_conn_send_error(c, HM_ERR_FORBIDDEN, "the new token is for another user", cid);
        return;
    }
    c->token_exp_ms = json_integer_value(json_object_get(rep->data, "exp")) * 1000;
    free(c->jti);
    c->jti = strdup(json_string_value(json_object_get(rep->data, "jti")) ?: "");
    c->expiring_sent = false;
    json_t *j = json_pack("{s:s, s:{s:I}}", "type", "token_refreshed", "data", "expires_at",
                          (json_int_t) (c->token_exp_ms / 1000));
    if (cid)
        json_object_set_new(j, "correlation_id", json_string(cid));
    edge_conn_send_json(c, j);
    (void) e;
}

/* Ends a replay: delivers the live events held meanwhile (those above what
 * was delivered), or replays again when more came than could be held. */
static void
s_resume_finish(edge_t *e, edge_conn_t *c, edge_sub_t *s, const char *cid, bool failed)
{
    struct edge_resume *r = s->resume;
    if (!failed && r->overflow && r->rounds < EDGE_RESUME_ROUNDS) {
        s_replay(e, c, s, cid); /* the service has them stored */
        return;
    }
    for (int i = 0; i < r->n; i++)
        if (r->held[i].seq > s->last_seq) {
            s->last_seq = r->held[i].seq;
            edge_conn_send(c, r->held[i].f);
        }
    edge_resume_free(&s->resume);
}

/* A replayed page: deliver in seq order what was not delivered; ask for
 * the next page while the service says there is more. */
static void
s_on_resume(edge_t *e, edge_conn_t *c, const hm_envelope_t *req, hm_envelope_t *rep,
            const char *cid, int64_t ch)
{
    int64_t user = json_integer_value(json_object_get(req->data, "user_id"));
    edge_sub_t *s = s_find_sub(c, (edge_channel_t) ch, user);
    if (!s || !s->resume)
        return; /* unsubscribed meanwhile */
    if (strcmp(rep->type, HM_MSG_ERROR) == 0) {
        edge_conn_send_error(c, s_err_code(rep), s_err_msg(rep), cid);
        s_resume_finish(e, c, s, cid, true);
        return;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(rep->data, "events"), i, ev)
    {
        json_t *jseq = json_object_get(ev, "seq");
        int64_t seq = json_is_integer(jseq) ? json_integer_value(jseq) : -1;
        if (seq >= 0 && seq <= s->last_seq)
            continue; /* delivered already */
        if (seq >= 0)
            s->last_seq = seq;
        edge_conn_send_json(c, json_incref(ev)); /* no seq: a re-send, never deduped */
    }
    if (json_is_true(json_object_get(rep->data, "more"))
        && s->resume->rounds < EDGE_RESUME_ROUNDS * 10)
        s_replay(e, c, s, cid);
    else
        s_resume_finish(e, c, s, cid, false);
}

void
edge_conn_on_reply(edge_t *e, edge_conn_t *c, edge_req_kind_t kind, const hm_envelope_t *req,
                   hm_envelope_t *rep, const char *cid, int64_t aux)
{
    if (c->state == EDGE_ST_DISCONNECTED || c->close_code)
        return;
    if (kind == EDGE_REQ_AUTH) {
        s_on_auth(e, c, rep, cid);
    } else if (kind == EDGE_REQ_REFRESH) {
        s_on_refresh(e, c, rep, cid);
    } else if (kind == EDGE_REQ_SUBSCRIBE) {
        if (strcmp(rep->type, HM_MSG_ERROR) == 0) {
            edge_conn_send_error(c, s_err_code(rep), s_err_msg(rep), cid);
            return;
        }
        json_t *d = req->data;
        s_subscribe(e, c, (edge_channel_t) json_integer_value(json_object_get(d, "channel")),
                    json_integer_value(json_object_get(d, "target_user_id")),
                    json_integer_value(json_object_get(d, "since_seq")),
                    (int) json_integer_value(json_object_get(d, "max_rate")), cid);
    } else if (kind == EDGE_REQ_RESUME) {
        s_on_resume(e, c, req, rep, cid, aux);
    } else if (kind == EDGE_REQ_FORWARD) {
        if (strcmp(rep->type, HM_MSG_ERROR) == 0) {
            /* A service that does not answer puts the connection in ERROR
             * until a later request succeeds (the recovery pass watches it). */
            if (strcmp(s_err_code(rep), HM_ERR_SERVICE_UNAVAILABLE) == 0
                && c->state == EDGE_ST_AUTHENTICATED)
                c->state = EDGE_ST_ERROR;
            edge_conn_send_error(c, s_err_code(rep), s_err_msg(rep), cid);
            return;
        }
        if (c->state == EDGE_ST_ERROR) {
            c->state = EDGE_ST_AUTHENTICATED;
            c->recovery_attempts = 0;
        }
        json_t *j = json_pack("{s:s, s:O}", "type", rep->type, "data",
                              rep->data ? rep->data : json_object());
        if (cid)
            json_object_set_new(j, "correlation_id", json_string(cid));
        edge_conn_send_json(c, j);
    }
}

/* ctl.user.<id> events (revocation, disable, reconnect). */
void
edge_conn_on_ctl(edge_t *e, edge_conn_t *c, hm_envelope_t *env)
{
    (void) e;
    if (strcmp(env->type, HM_MSG_RECONNECT) == 0) {
        edge_conn_send_json(c, json_pack("{s:s, s:s}", "type", HM_MSG_RECONNECT, "reason",
                                         "server asked all connections of this user to "
                                         "reconnect"));
        edge_conn_close(c, HM_CLOSE_SERVICE_RESTART, "reconnect and resume");
    } else if (strcmp(env->type, "disconnect") == 0) {
        const char *why = json_string_value(json_object_get(env->data, "reason"));
        if (why && strcmp(why, "user_disabled") == 0)
            edge_conn_close(c, HM_CLOSE_FORBIDDEN, "user disabled");
        else
            edge_conn_close(c, HM_CLOSE_NORMAL, "disconnected by an administrator");
    } else if (strcmp(env->type, "token_revoked") == 0) {
        const char *jti = json_string_value(json_object_get(env->data, "jti"));
        if (!jti || (c->jti && strcmp(jti, c->jti) == 0))
            edge_conn_close(c, HM_CLOSE_TOKEN_REVOKED, "token revoked");
    }
}

/* ---- timers --------------------------------------------------------------- */

void
edge_conn_sweep(edge_t *e, edge_conn_t *c, int64_t now)
{
    if (c->close_code)
        return;
    if (c->state == EDGE_ST_CONNECTED && !c->authenticating
        && now - c->connected_ms >= e->cfg.auth_timeout_ms) {
        edge_conn_send_error(c, HM_ERR_AUTH_TIMEOUT, "no authentication in time", NULL);
        edge_conn_close(c, HM_CLOSE_AUTH_TIMEOUT, "authentication timeout");
        return;
    }
    if (c->state != EDGE_ST_AUTHENTICATED && c->state != EDGE_ST_ERROR)
        return;
    if (now - c->last_activity_ms >= e->cfg.idle_timeout_ms) {
        edge_conn_send_error(c, HM_ERR_IDLE_TIMEOUT, "logged off after inactivity", NULL);
        edge_conn_close(c, HM_CLOSE_IDLE_TIMEOUT, "idle timeout: automatic logoff");
        return;
    }
    if (c->token_exp_ms > 0 && now >= c->token_exp_ms) {
        edge_conn_send_error(c, HM_ERR_TOKEN_EXPIRED, "the token expired", NULL);
        edge_conn_close(c, HM_CLOSE_AUTH_EXPIRED, "token expired");
        return;
    }
    if (c->token_exp_ms > 0 && !c->expiring_sent && c->token_exp_ms - now <= e->cfg.token_warn_ms) {
        c->expiring_sent = true;
        edge_conn_send_json(c, json_pack("{s:s, s:{s:I, s:I}}", "type", HM_MSG_TOKEN_EXPIRING,
                                         "data", "expires_at", (json_int_t) (c->token_exp_ms / 1000),
                                         "seconds_left",
                                         (json_int_t) ((c->token_exp_ms - now) / 1000)));
    }
    if (now >= c->next_heartbeat_ms) {
        c->next_heartbeat_ms = now + e->cfg.heartbeat_ms;
        s_send_heartbeat(c, NULL);
    }
}

/* The recovery pass for a connection in ERROR: a heartbeat checks the
 * socket still takes frames; after max_attempts passes without a service
 * answering, close with 1011 so the client reconnects (and resumes). */
void
edge_conn_recover(edge_t *e, edge_conn_t *c)
{
    if (c->state != EDGE_ST_ERROR || c->close_code || c->user_id == 0)
        return;
    if (++c->recovery_attempts > e->cfg.recovery_max_attempts) {
        edge_conn_close(c, HM_CLOSE_INTERNAL, "services unavailable: reconnect later");
        return;
    }
    s_send_heartbeat(c, NULL);
}

json_t *
edge_conn_health(edge_conn_t *c)
{
    char a[40], b[40];
    json_t *subs = json_array();
    for (int i = 0; i < c->nsubs; i++)
        if (c->subs[i].ch < EDGE_CH_COUNT)
            json_array_append_new(subs, json_string(edge_channel_name(c->subs[i].ch)));
    return json_pack("{s:s, s:I, s:s, s:s, s:i, s:i, s:o, s:b}", "state",
                     edge_state_name(c->state), "user_id", (json_int_t) c->user_id,
                     "connected_at", hm_clock_iso8601(c->connected_ms, a, sizeof(a)),
                     "last_activity", hm_clock_iso8601(c->last_activity_ms, b, sizeof(b)),
                     "retry_count", c->retry_count, "recovery_attempts", c->recovery_attempts,
                     "subscriptions", subs, "is_healthy",
                     c->state == EDGE_ST_AUTHENTICATED && !c->close_code);
}
