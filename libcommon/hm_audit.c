/*
 * hm_audit.c - sys.audit events: published by services that refuse a
 * request on their own, checked by hm-auth before it writes an audit row.
 */
#include "hm_audit.h"

#include <string.h>

#include "hm_bus.h"
#include "hm_log.h"
#include "hm_proto.h"

#define S_CS_NAME "abcdefghijklmnopqrstuvwxyz0123456789._:-"
#define S_CS_ROLE "abcdefghijklmnopqrstuvwxyz"
#define S_CS_ID "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
#define S_CS_ADDR "0123456789ABCDEFabcdef.:[]"

/* Whether s is 1 to max bytes, all of charset. */
static bool
s_fits(const char *s, size_t max, const char *charset)
{
    if (!s)
        return false;
    size_t n = strnlen(s, max + 1);
    return n > 0 && n <= max && strspn(s, charset) == n;
}

int
hm_audit_denied_ex(zsock_t *pub, const hm_envelope_t *req, const char *service, const char *code,
                   const char *role, int64_t target_user_id, const char *target)
{
    if (!pub || !req)
        return 0;
    hm_envelope_t *ev = hm_envelope_new(HM_EV_AUDIT_DENIED);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "service", service ? service : "-", "action",
                             req->type ? req->type : "-", "result", HM_AUDIT_RESULT_DENIED, "code",
                             code ? code : HM_ERR_FORBIDDEN);
    if (data && target_user_id > 0)
        json_object_set_new(data, "target_user_id", json_integer(target_user_id));
    if (data && s_fits(target, HM_AUDIT_TARGET_MAX, S_CS_ID))
        json_object_set_new(data, "target", json_string(target));
    if (data && s_fits(role, HM_AUDIT_ROLE_MAX, S_CS_ROLE))
        json_object_set_new(data, "role", json_string(role));
    int rc = -1;
    if (ev && data) {
        ev->user_id = req->user_id > 0 ? req->user_id : 0;
        if (s_fits(req->conn_id, HM_ENVELOPE_MAX_STR - 1, S_CS_ID))
            hm_envelope_set_conn_id(ev, req->conn_id);
        if (s_fits(req->edge, HM_ENVELOPE_MAX_STR - 1, S_CS_ID))
            hm_envelope_set_edge(ev, req->edge);
        hm_envelope_set_data(ev, data);
        data = NULL;
        rc = hm_bus_publish(pub, HM_TOPIC_SYS_AUDIT, ev);
    }
    json_decref(data);
    hm_envelope_destroy(&ev);
    if (rc != 0)
        hm_log_error("audit_publish_failed", "service=%s", service ? service : "-");
    return rc;
}

int
hm_audit_denied(zsock_t *pub, const hm_envelope_t *req, const char *service, int64_t target_user_id,
                const char *target)
{
    return hm_audit_denied_ex(pub, req, service, HM_ERR_FORBIDDEN, NULL, target_user_id, target);
}

/* A required string field of data that fits. Returns it or NULL. */
static const char *
s_req_str(const json_t *data, const char *key, size_t max, const char *charset)
{
    const char *v = json_string_value(json_object_get(data, key));
    return v && strlen(v) == json_string_length(json_object_get(data, key)) &&
                   s_fits(v, max, charset)
               ? v
               : NULL;
}

/* An optional string field: 0 with *out (NULL when absent or null), or -1
 * when present and not a fitting string. */
static int
s_opt_str(const json_t *data, const char *key, size_t max, const char *charset, const char **out)
{
    json_t *v = json_object_get(data, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    *out = s_req_str(data, key, max, charset);
    return *out ? 0 : -1;
}

int
hm_audit_parse(const hm_envelope_t *ev, hm_audit_event_t *out, const char **why)
{
    const char *w;
    const char **reason = why ? why : &w;
    memset(out, 0, sizeof *out);
    const json_t *d = ev ? ev->data : NULL;
    *reason = "type";
    if (!ev || !ev->type || strcmp(ev->type, HM_EV_AUDIT_DENIED) != 0)
        return -1;
    *reason = "actor";
    if (ev->user_id < 0)
        return -1;
    *reason = "conn_id";
    if (ev->conn_id && !s_fits(ev->conn_id, HM_ENVELOPE_MAX_STR - 1, S_CS_ID))
        return -1;
    *reason = "edge";
    if (ev->edge && !s_fits(ev->edge, HM_ENVELOPE_MAX_STR - 1, S_CS_ID))
        return -1;
    *reason = "data";
    if (!json_is_object(d))
        return -1;
    *reason = "service";
    if (!(out->service = s_req_str(d, "service", HM_AUDIT_NAME_MAX, S_CS_NAME)))
        return -1;
    *reason = "action";
    if (!(out->action = s_req_str(d, "action", HM_AUDIT_NAME_MAX, S_CS_NAME)))
        return -1;
    *reason = "result";
    out->result = s_req_str(d, "result", HM_AUDIT_NAME_MAX, S_CS_NAME);
    if (!out->result || strcmp(out->result, HM_AUDIT_RESULT_DENIED) != 0)
        return -1;
    *reason = "code";
    if (!(out->code = s_req_str(d, "code", HM_AUDIT_NAME_MAX, S_CS_NAME)))
        return -1;
    *reason = "target_user_id";
    json_t *t = json_object_get(d, "target_user_id");
    if (t && !json_is_null(t)) {
        if (!json_is_integer(t) || json_integer_value(t) <= 0)
            return -1;
        out->target_user_id = json_integer_value(t);
    }
    *reason = "target";
    if (s_opt_str(d, "target", HM_AUDIT_TARGET_MAX, S_CS_ID, &out->target) != 0)
        return -1;
    *reason = "role";
    if (s_opt_str(d, "role", HM_AUDIT_ROLE_MAX, S_CS_ROLE, &out->role) != 0)
        return -1;
    *reason = "remote_addr";
    if (s_opt_str(d, "remote_addr", HM_AUDIT_ADDR_MAX, S_CS_ADDR, &out->remote_addr) != 0)
        return -1;
    out->actor_id = ev->user_id;
    out->conn_id = ev->conn_id;
    out->edge = ev->edge;
    *reason = NULL;
    return 0;
}
