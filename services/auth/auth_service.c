/*
 * auth_service.c - the "auth" service: one handler per verb, the bus events
 * that release sessions, and the timers.
 */
#include "auth_service.h"

#include <stdio.h>
#include <string.h>

#include "auth_audit.h"
#include "auth_authz.h"
#include "auth_db.h"
#include "auth_session.h"
#include "hm_audit.h"
#include "hm_bus.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"

#define S_SWEEP_MS 1000              /* silent-edge sweep, at most this often */
#define S_PRUNE_MS (3600 * 1000)     /* prune expired revocations hourly */
#define S_PRUNE_MARGIN_S (24 * 3600) /* ... that expired more than a day ago */
#define S_FIELD_MAX 255              /* remote_addr, endpoint, jti bytes */

struct auth_service_t {
    sqlite3 *db;              /* borrowed */
    auth_jwt_t *jwt;          /* borrowed */
    zsock_t *pub;             /* borrowed, may be NULL */
    auth_session_t *sessions; /* the session registry; owned */
    int64_t sweep_every_ms;   /* sweep interval */
    int64_t sweep_at;         /* next sweep (monotonic ms) */
    int64_t prune_at;         /* next revocation prune (monotonic ms) */
    bool in_batch;            /* a group-commit transaction is open */
    uint64_t audit_written;   /* sys.audit events appended to the audit table */
    uint64_t audit_dropped;   /* sys.audit events refused (malformed) */
};

typedef hm_envelope_t *(s_handler_fn)(auth_service_t *self, const hm_envelope_t *req);

static int64_t
s_mono_ms(void)
{
    return hm_clock_mono_ns() / 1000000;
}

auth_service_t *
auth_service_new(const auth_service_cfg_t *cfg)
{
    auth_service_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->db = cfg->db;
    self->jwt = cfg->jwt;
    self->pub = cfg->pub;
    self->sessions = auth_session_new(cfg->db, cfg->max_per_user, cfg->edge_timeout_ms);
    if (!self->sessions) {
        free(self);
        return NULL;
    }
    self->sweep_every_ms = S_SWEEP_MS;
    if (cfg->edge_timeout_ms > 0 && cfg->edge_timeout_ms / 4 < S_SWEEP_MS)
        self->sweep_every_ms = cfg->edge_timeout_ms / 4 > 10 ? cfg->edge_timeout_ms / 4 : 10;
    self->sweep_at = s_mono_ms(); /* first sweep right away: meets the edges on file */
    self->prune_at = s_mono_ms();
    return self;
}

void
auth_service_destroy(auth_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_service_t *self = *self_p;
    auth_session_destroy(&self->sessions);
    free(self);
    *self_p = NULL;
}

/* ---- replies and data fields ------------------------------------------ */

/* An ack for req carrying data (taken). NULL on ENOMEM. */
static hm_envelope_t *
s_ack(const hm_envelope_t *req, json_t *data)
{
    hm_envelope_t *rep = hm_envelope_new(HM_MSG_ACK);
    if (!rep || hm_envelope_set_id(rep, req->id) != 0 ||
        hm_envelope_set_correlation_id(rep, req->correlation_id) != 0 ||
        hm_envelope_set_conn_id(rep, req->conn_id) != 0 ||
        hm_envelope_set_edge(rep, req->edge) != 0 || !data) {
        json_decref(data);
        hm_envelope_destroy(&rep);
        return NULL;
    }
    rep->user_id = req->user_id;
    hm_envelope_set_data(rep, data);
    return rep;
}

/* An optional string field of at most S_FIELD_MAX bytes. Returns 0 with
 * *out (borrowed, NULL when absent or null) or -1 when of another type or
 * too long. */
static int
s_opt_string(const json_t *data, const char *key, const char **out)
{
    json_t *v = json_object_get(data, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > S_FIELD_MAX)
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* An optional user id field (positive integer). Returns 0 with *out (0 when
 * absent or null) or -1. */
static int
s_opt_user_id(const json_t *data, const char *key, int64_t *out)
{
    json_t *v = json_object_get(data, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* ---- auth.verify ------------------------------------------------------- */

/* What one verify request is about, for the audit and the log. */
typedef struct {
    const hm_envelope_t *req; /* the request */
    const char *remote_addr;  /* data.remote_addr or NULL */
    const char *endpoint;     /* data.endpoint or NULL */
    int64_t user_id;          /* the token's user, once the signature verified */
    const char *jti;          /* the token's id, once the signature verified */
} s_verify_t;

/* Audits a verify outcome. code NULL: success. */
static void
s_verify_audit(auth_service_t *self, const s_verify_t *v, const char *result, const char *code)
{
    char detail[S_FIELD_MAX + 1];
    snprintf(detail, sizeof detail, "edge=%s endpoint=%s jti=%s", v->req->edge ? v->req->edge : "-",
             v->endpoint ? v->endpoint : "-", v->jti && *v->jti ? v->jti : "-");
    auth_audit_entry_t e = {v->user_id, v->req->conn_id, v->remote_addr, AUTH_AUDIT_VERIFY, result,
                            code,       detail};
    auth_audit_write(self->db, &e);
}

/* Refuses a verify: audit, log, error reply. */
static hm_envelope_t *
s_verify_fail(auth_service_t *self, const s_verify_t *v, const char *code, const char *message)
{
    bool internal = strcmp(code, HM_ERR_INTERNAL) == 0;
    s_verify_audit(self, v, internal ? AUTH_AUDIT_ERROR : AUTH_AUDIT_DENIED, code);
    char q[S_FIELD_MAX * 4 + 8];
    hm_log_info("verify_denied", "code=%s user_id=%lld conn_id=%s", code, (long long)v->user_id,
                hm_log_quote(v->req->conn_id ? v->req->conn_id : "-", q, sizeof q));
    return hm_mdp_error_reply(v->req, code, message);
}

/* The user behind verified claims: active and known, else a refusal. */
static hm_envelope_t *
s_verify_user(auth_service_t *self, const s_verify_t *v, auth_user_t *user)
{
    int revoked = auth_db_is_revoked(self->db, v->jti);
    if (revoked != 0)
        return revoked > 0 ? s_verify_fail(self, v, HM_ERR_TOKEN_REVOKED, "token revoked")
                           : s_verify_fail(self, v, HM_ERR_INTERNAL, "database error");
    int found = auth_db_user_get(self->db, v->user_id, user);
    if (found < 0)
        return s_verify_fail(self, v, HM_ERR_INTERNAL, "database error");
    if (found == 0)
        return s_verify_fail(self, v, HM_ERR_USER_UNKNOWN, "no such user");
    if (!user->active)
        return s_verify_fail(self, v, HM_ERR_USER_INACTIVE, "user disabled");
    return NULL;
}

/* Opens or refreshes the session of a verified connection. NULL when done,
 * else the refusal. */
static hm_envelope_t *
s_verify_session(auth_service_t *self, const s_verify_t *v, const auth_jwt_claims_t *claims)
{
    const hm_envelope_t *req = v->req;
    auth_session_info_t info = {req->conn_id, claims->user_id, req->edge, claims->jti, claims->exp};
    auth_session_rc_t rc = auth_session_open(self->sessions, &info, s_mono_ms());
    if (rc == AUTH_SESSION_E_LIMIT)
        return s_verify_fail(self, v, HM_ERR_TOO_MANY_CONNECTIONS,
                             "too many connections for this user");
    if (rc == AUTH_SESSION_E_FORBIDDEN)
        return s_verify_fail(self, v, HM_ERR_FORBIDDEN, "connection belongs to another user");
    if (rc == AUTH_SESSION_E_DB)
        return s_verify_fail(self, v, HM_ERR_INTERNAL, "database error");
    auth_audit_entry_t e = {
        claims->user_id,
        req->conn_id,
        v->remote_addr,
        rc == AUTH_SESSION_OPENED ? AUTH_AUDIT_SESSION_OPEN : AUTH_AUDIT_SESSION_REFRESH,
        AUTH_AUDIT_OK,
        NULL,
        req->edge};
    auth_audit_write(self->db, &e);
    return NULL;
}

static hm_envelope_t *
s_verify(auth_service_t *self, const hm_envelope_t *req)
{
    s_verify_t v = {.req = req};
    const char *token = json_string_value(json_object_get(req->data, "token"));
    if (!token || s_opt_string(req->data, "remote_addr", &v.remote_addr) != 0 ||
        s_opt_string(req->data, "endpoint", &v.endpoint) != 0)
        return s_verify_fail(self, &v, HM_ERR_BAD_REQUEST, "data needs a token string");
    if (req->conn_id && !req->edge)
        return s_verify_fail(self, &v, HM_ERR_BAD_REQUEST, "conn_id without edge");
    auth_jwt_claims_t claims;
    auth_jwt_err_t err = auth_jwt_verify(self->jwt, token, &claims);
    v.user_id = claims.user_id;
    v.jti = claims.jti;
    if (err != AUTH_JWT_OK)
        return s_verify_fail(self, &v, auth_jwt_err_code(err), auth_jwt_err_message(err));
    auth_user_t user;
    hm_envelope_t *refusal = s_verify_user(self, &v, &user);
    if (!refusal && req->conn_id)
        refusal = s_verify_session(self, &v, &claims);
    if (refusal)
        return refusal;
    s_verify_audit(self, &v, AUTH_AUDIT_OK, NULL);
    hm_envelope_t *rep =
        s_ack(req, json_pack("{s:I, s:s, s:s, s:I, s:s}", "user_id", (json_int_t)user.id, "role",
                             user.role, "display_name", user.display_name, "exp",
                             (json_int_t)claims.exp, "jti", claims.jti));
    if (rep)
        rep->user_id = user.id;
    return rep;
}

/* ---- auth.authorize ---------------------------------------------------- */

static hm_envelope_t *
s_authorize(auth_service_t *self, const hm_envelope_t *req)
{
    const char *action = json_string_value(json_object_get(req->data, "action"));
    int64_t target = 0;
    if (!action || req->user_id <= 0 || s_opt_user_id(req->data, "target_user_id", &target) != 0)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST,
                                  "needs data.action, optional data.target_user_id and user_id");
    auth_authz_rc_t rc = auth_authz_check(self->db, req->user_id, action, target);
    if (rc == AUTH_AUTHZ_UNKNOWN_ACTION)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "unknown action");
    if (rc == AUTH_AUTHZ_ERROR)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    char detail[S_FIELD_MAX + 1];
    snprintf(detail, sizeof detail, "action=%.64s target_user_id=%lld", action,
             (long long)(target ? target : req->user_id));
    bool allowed = rc == AUTH_AUTHZ_ALLOW;
    auth_audit_entry_t e = {req->user_id,
                            req->conn_id,
                            NULL,
                            AUTH_AUDIT_AUTHORIZE,
                            allowed ? AUTH_AUDIT_OK : AUTH_AUDIT_DENIED,
                            allowed ? NULL : HM_ERR_FORBIDDEN,
                            detail};
    auth_audit_write(self->db, &e);
    if (!allowed) {
        hm_log_info("authorize_denied", "user_id=%lld target_user_id=%lld", (long long)req->user_id,
                    (long long)target);
        return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "not allowed");
    }
    return s_ack(req, json_pack("{s:b}", "allowed", 1));
}

/* ---- auth.session_close, auth.sessions --------------------------------- */

/* Closes conn_id's session and audits it. Returns 1, 0 (none) or -1. */
static int
s_close_session(auth_service_t *self, const char *conn_id, const char *reason)
{
    int64_t user_id = 0;
    int rc = auth_session_close(self->sessions, conn_id, &user_id);
    if (rc == 1) {
        auth_audit_entry_t e = {user_id,       conn_id, NULL,  AUTH_AUDIT_SESSION_CLOSE,
                                AUTH_AUDIT_OK, NULL,    reason};
        auth_audit_write(self->db, &e);
    }
    return rc;
}

static hm_envelope_t *
s_session_close(auth_service_t *self, const hm_envelope_t *req)
{
    if (!req->conn_id)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "needs conn_id");
    if (req->edge)
        auth_session_edge_seen(self->sessions, req->edge, s_mono_ms());
    int rc = s_close_session(self, req->conn_id, "reason=session_close");
    if (rc < 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    return s_ack(req, json_pack("{s:b}", "closed", rc == 1));
}

static hm_envelope_t *
s_sessions(auth_service_t *self, const hm_envelope_t *req)
{
    int64_t user_id = 0;
    if (s_opt_user_id(req->data, "user_id", &user_id) != 0)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "user_id must be a positive integer");
    json_t *list = auth_session_list(self->sessions, user_id);
    if (!list)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    return s_ack(req, list);
}

/* auth.care_team {user_id}: the patient's linked caregivers and clinicians.
 * For services (a caller with no user) and for the patient themself. */
static hm_envelope_t *
s_care_team(auth_service_t *self, const hm_envelope_t *req)
{
    int64_t patient = 0;
    if (s_opt_user_id(req->data, "user_id", &patient) != 0 || patient <= 0)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "needs data.user_id");
    if (req->user_id != 0 && req->user_id != patient)
        return hm_mdp_error_reply(req, HM_ERR_FORBIDDEN, "only the patient or a service");
    json_t *members = auth_db_care_team(self->db, patient);
    if (!members)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    return s_ack(req, json_pack("{s:I, s:o}", "user_id", (json_int_t) patient, "members",
                                members));
}

/* ---- auth.revoke -------------------------------------------------------- */

/* Publishes token_revoked {jti} on ctl.user.<user_id>. */
static void
s_publish_revoked(auth_service_t *self, int64_t user_id, const char *jti)
{
    if (!self->pub)
        return;
    char topic[HM_TOPIC_MAX];
    snprintf(topic, sizeof topic, HM_TOPIC_CTL_USER_FMT, (long long)user_id);
    hm_envelope_t *ev = hm_envelope_new(AUTH_EV_TOKEN_REVOKED);
    if (ev) {
        ev->user_id = user_id;
        hm_envelope_set_data(ev, json_pack("{s:s}", "jti", jti));
    }
    if (!ev || hm_bus_publish(self->pub, topic, ev) != 0)
        hm_log_error("publish_failed", "topic=%s", topic);
    hm_envelope_destroy(&ev);
}

static hm_envelope_t *
s_revoke(auth_service_t *self, const hm_envelope_t *req)
{
    const char *jti = NULL;
    if (s_opt_string(req->data, "jti", &jti) != 0 || !jti || !*jti)
        return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "needs data.jti");
    if (auth_db_revoke(self->db, jti, auth_session_jti_exp(self->sessions, jti)) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    int64_t ids[AUTH_REVOKE_NOTIFY_MAX];
    int n = auth_session_users_of_jti(self->sessions, jti, ids, AUTH_REVOKE_NOTIFY_MAX);
    json_t *users = json_array();
    for (int i = 0; i < n; i++) {
        s_publish_revoked(self, ids[i], jti);
        json_array_append_new(users, json_integer(ids[i]));
    }
    char detail[S_FIELD_MAX + 1], q[S_FIELD_MAX * 4 + 8];
    snprintf(detail, sizeof detail, "jti=%s", jti);
    auth_audit_entry_t e = {n > 0 ? ids[0] : req->user_id,
                            req->conn_id,
                            NULL,
                            AUTH_AUDIT_REVOKE,
                            AUTH_AUDIT_OK,
                            NULL,
                            detail};
    auth_audit_write(self->db, &e);
    hm_log_info("token_revoked", "jti=%s users=%d", hm_log_quote(jti, q, sizeof q), n > 0 ? n : 0);
    return s_ack(req, json_pack("{s:s, s:o}", "jti", jti, "users", users));
}

/* ---- dispatch ----------------------------------------------------------- */

static const struct {
    const char *verb;      /* request type */
    s_handler_fn *handler; /* its handler */
} s_verbs[] = {
    {HM_VERB_AUTH_VERIFY, s_verify},
    {HM_VERB_AUTH_AUTHORIZE, s_authorize},
    {HM_VERB_AUTH_SESSION_CLOSE, s_session_close},
    {HM_VERB_AUTH_REVOKE, s_revoke},
    {HM_VERB_AUTH_SESSIONS, s_sessions},
    {HM_VERB_AUTH_CARE_TEAM, s_care_team},
};

int
auth_service_begin(auth_service_t *self)
{
    if (self->in_batch)
        return 0;
    if (hm_db_exec(self->db, "BEGIN IMMEDIATE") != 0)
        return -1;
    self->in_batch = true;
    return 0;
}

int
auth_service_commit(auth_service_t *self)
{
    if (!self->in_batch)
        return 0;
    self->in_batch = false;
    if (sqlite3_get_autocommit(self->db)) { /* sqlite rolled it back after an error */
        hm_log_error("batch_rolled_back", NULL);
        return -1;
    }
    if (hm_db_exec(self->db, "COMMIT") == 0)
        return 0;
    if (!sqlite3_get_autocommit(self->db))
        hm_db_exec(self->db, "ROLLBACK");
    return -1;
}

/* Runs handler in the open batch, or in a transaction of its own: one
 * commit for the request's writes (session, audit rows). A failed commit
 * turns the reply into internal_error: nothing it reported was stored. */
static hm_envelope_t *
s_run_handler(auth_service_t *self, s_handler_fn *handler, const hm_envelope_t *req)
{
    if (self->in_batch)
        return handler(self, req);
    if (auth_service_begin(self) != 0)
        return hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database busy");
    hm_envelope_t *rep = handler(self, req);
    if (auth_service_commit(self) != 0) {
        hm_envelope_destroy(&rep);
        rep = hm_mdp_error_reply(req, HM_ERR_INTERNAL, "database error");
    }
    return rep;
}

hm_envelope_t *
auth_service_handle(auth_service_t *self, const hm_envelope_t *req)
{
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++) {
        if (strcmp(req->type, s_verbs[i].verb) != 0)
            continue;
        if (req->data && !json_is_object(req->data))
            return hm_mdp_error_reply(req, HM_ERR_BAD_REQUEST, "data must be an object");
        hm_envelope_t *rep = s_run_handler(self, s_verbs[i].handler, req);
        hm_log_debug("request", "verb=%s result=%s", req->type, rep ? rep->type : "nomem");
        return rep;
    }
    char q[S_FIELD_MAX * 4 + 8];
    hm_log_info("unknown_verb", "verb=%s", hm_log_quote(req->type, q, sizeof q));
    return hm_mdp_error_reply(req, HM_ERR_UNKNOWN_VERB, "auth does not know this verb");
}

/* ---- events and timers -------------------------------------------------- */

/* The edge an event comes from: envelope edge, else data.edge_id. */
static const char *
s_event_edge(const hm_envelope_t *ev)
{
    if (ev->edge)
        return ev->edge;
    const char *edge = json_string_value(json_object_get(ev->data, "edge_id"));
    return edge && *edge && strlen(edge) <= S_FIELD_MAX ? edge : NULL;
}

/* A sys.audit event: a service refused a request on its own. Checked,
 * then one audit row (in the open batch, else a transaction of its own);
 * anything malformed is counted and dropped. */
static void
s_on_audit(auth_service_t *self, const hm_envelope_t *ev)
{
    hm_audit_event_t a;
    const char *why = NULL;
    if (hm_audit_parse(ev, &a, &why) != 0) {
        uint64_t n = ++self->audit_dropped;
        if ((n & (n - 1)) == 0) /* the 1st, 2nd, 4th, ...: a flood cannot flood the log */
            hm_log_warn("audit_event_dropped", "reason=%s dropped=%llu", why,
                        (unsigned long long)n);
        return;
    }
    char detail[S_FIELD_MAX + 1];
    char target_user[48] = "", target[HM_AUDIT_TARGET_MAX + 16] = "",
         role[HM_AUDIT_ROLE_MAX + 8] = "";
    if (a.target_user_id > 0)
        snprintf(target_user, sizeof target_user, " target_user_id=%lld",
                 (long long)a.target_user_id);
    if (a.target)
        snprintf(target, sizeof target, " target=%s", a.target);
    if (a.role)
        snprintf(role, sizeof role, " role=%s", a.role);
    int dn = snprintf(detail, sizeof detail, "via=%s service=%s%s%s%s edge=%.64s",
                      HM_TOPIC_SYS_AUDIT, a.service, target_user, target, role,
                      a.edge ? a.edge : "-");
    if (dn < 0)
        detail[0] = '\0'; /* longer than the column's bound: cut, never a failure */
    auth_audit_entry_t e = {a.actor_id, a.conn_id, a.remote_addr, a.action,
                            a.result,   a.code,    detail};
    bool own_tx = !self->in_batch;
    if (own_tx && auth_service_begin(self) != 0)
        return;
    if (auth_audit_write(self->db, &e) == 0)
        self->audit_written++;
    if (own_tx)
        auth_service_commit(self);
}

uint64_t
auth_service_audit_dropped(const auth_service_t *self)
{
    return self->audit_dropped;
}

uint64_t
auth_service_audit_written(const auth_service_t *self)
{
    return self->audit_written;
}

void
auth_service_on_event(auth_service_t *self, const char *topic, const hm_envelope_t *ev)
{
    if (strcmp(topic, HM_TOPIC_SYS_AUDIT) == 0) {
        s_on_audit(self, ev);
        return;
    }
    bool conn = strcmp(topic, HM_TOPIC_SYS_CONN) == 0;
    if (!conn && strcmp(topic, HM_TOPIC_SYS_EDGE) != 0)
        return;
    const char *edge = s_event_edge(ev);
    if (edge)
        auth_session_edge_seen(self->sessions, edge, s_mono_ms());
    if (!conn || strcmp(ev->type, AUTH_EV_CONN_CLOSE) != 0)
        return;
    const char *conn_id = ev->conn_id;
    if (!conn_id)
        conn_id = json_string_value(json_object_get(ev->data, "conn_id"));
    if (!conn_id || strlen(conn_id) > S_FIELD_MAX)
        return;
    bool own_tx = !self->in_batch;
    if (own_tx && auth_service_begin(self) != 0)
        return;
    s_close_session(self, conn_id, "reason=conn_close"); /* and its audit row: one commit */
    if (own_tx)
        auth_service_commit(self);
}

/* Audits one session released because its edge fell silent. */
static void
s_on_release(const char *conn_id, int64_t user_id, const char *edge, void *arg)
{
    auth_service_t *self = arg;
    char detail[S_FIELD_MAX + 1];
    snprintf(detail, sizeof detail, "edge=%s reason=edge_silent", edge);
    auth_audit_entry_t e = {user_id,       conn_id, NULL,  AUTH_AUDIT_SESSION_RELEASE,
                            AUTH_AUDIT_OK, NULL,    detail};
    auth_audit_write(self->db, &e);
}

void
auth_service_tick(auth_service_t *self)
{
    int64_t now = s_mono_ms();
    if (now >= self->sweep_at) {
        auth_session_sweep(self->sessions, now, s_on_release, self);
        self->sweep_at = now + self->sweep_every_ms;
    }
    if (now >= self->prune_at) {
        int n = auth_db_revoked_prune(self->db, hm_clock_wall_ms() / 1000 - S_PRUNE_MARGIN_S);
        if (n > 0)
            hm_log_info("revocations_pruned", "count=%d", n);
        self->prune_at = now + S_PRUNE_MS;
    }
}

int
auth_service_tick_ms(auth_service_t *self)
{
    int64_t left = self->sweep_at - s_mono_ms();
    return left < 0 ? 0 : left > S_SWEEP_MS ? S_SWEEP_MS : (int)left;
}
