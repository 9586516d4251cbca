/*
 * hm_proto.h - the wire contracts of HealthMate Realtime as C constants.
 *
 * The single source of names for all C code; proto/SPEC.md explains each one.
 * Anything that crosses a process boundary (bus topic, service name, request
 * verb, client message type, error code, close code) is named here and nowhere
 * else.
 */
#ifndef HM_PROTO_H
#define HM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Envelope ---------------------------------------------------------- */

#define HM_ENVELOPE_VERSION 1
/* Hard limits the decoder enforces on hostile input. */
#define HM_ENVELOPE_MAX_BYTES (1024 * 1024) /* whole packed envelope */
#define HM_ENVELOPE_MAX_DEPTH 32            /* nesting inside data */
#define HM_ENVELOPE_MAX_STR 256             /* type, id, correlation_id, conn_id, edge */

/* ---- Bus endpoints (defaults) ------------------------------------------ */

#define HM_DEFAULT_EVENTS_IN "tcp://127.0.0.1:5550"
#define HM_DEFAULT_EVENTS_OUT "tcp://127.0.0.1:5551"
#define HM_DEFAULT_REQUESTS "tcp://127.0.0.1:5555"

/* ---- Event topics (closed set, compared whole) -------------------------- */

#define HM_TOPIC_MAX 128
/* Per-user streams: printf formats taking an int64 user id. */
#define HM_TOPIC_USER_HEALTH_FMT "u.%lld.health"
#define HM_TOPIC_USER_CHAT_FMT "u.%lld.chat"
#define HM_TOPIC_USER_NOTIFY_FMT "u.%lld.notify"
#define HM_TOPIC_CTL_USER_FMT "ctl.user.%lld"
#define HM_TOPIC_CTL_CONN_FMT "ctl.conn.%s"
#define HM_TOPIC_ALL_NOTIFY "all.notify"
#define HM_TOPIC_SYS_CONN "sys.conn"
#define HM_TOPIC_SYS_EDGE "sys.edge"
#define HM_TOPIC_SYS_AUDIT "sys.audit"
/* sys.conn event types (published by hm-edge, envelope user_id/conn_id/edge). */
#define HM_EV_CONN_OPEN "conn_open"
#define HM_EV_CONN_AUTH "conn_auth"
#define HM_EV_CONN_CLOSE "conn_close"
/* sys.audit event type: a service refused a request on its own (SPEC 2.1);
 * hm-auth appends it to its audit table. */
#define HM_EV_AUDIT_DENIED "denied"

typedef enum {
    HM_TOPIC_INVALID = 0,
    HM_TOPIC_USER_HEALTH,
    HM_TOPIC_USER_CHAT,
    HM_TOPIC_USER_NOTIFY,
    HM_TOPIC_ALL_NOTIFY_KIND,
    HM_TOPIC_CTL_USER,
    HM_TOPIC_CTL_CONN,
    HM_TOPIC_SYS_CONN_KIND,
    HM_TOPIC_SYS_EDGE_KIND,
    HM_TOPIC_SYS_AUDIT_KIND,
} hm_topic_kind_t;

/* Parses a topic against the closed set. Returns its kind (HM_TOPIC_INVALID
 * for anything else). For user topics *user_id is set; for ctl.conn topics
 * the connection id is copied into conn_id (size HM_ENVELOPE_MAX_STR) when
 * conn_id is not NULL. */
hm_topic_kind_t hm_topic_parse(const char *topic, int64_t *user_id, char *conn_id);

/* ---- Majordomo (MDP/0.1, ZeroMQ RFC 7 and 8) ---------------------------- */

#define HM_MDPC "MDPC01"
#define HM_MDPW "MDPW01"
#define HM_MDPW_READY "\001"
#define HM_MDPW_REQUEST "\002"
#define HM_MDPW_REPLY "\003"
#define HM_MDPW_HEARTBEAT "\004"
#define HM_MDPW_DISCONNECT "\005"
#define HM_MMI_SERVICE "mmi.service"
#define HM_MMI_STATS "mmi.stats"

/* Service names. Edges register as "edge.<edge_id>". */
#define HM_SVC_AUTH "auth"
#define HM_SVC_HEALTH "health"
#define HM_SVC_CHAT "chat"
#define HM_SVC_NOTIFY "notify"
#define HM_SVC_SCHEDULER "scheduler"
#define HM_SVC_EDGE_PREFIX "edge."
#define HM_SVC_NAME_MAX 64

/* Request verbs: the envelope `type` of a request. A reply has type
 * HM_MSG_ACK / a verb-specific result type, or HM_MSG_ERROR with data.code. */
#define HM_VERB_AUTH_VERIFY "auth.verify"
#define HM_VERB_AUTH_AUTHORIZE "auth.authorize"
#define HM_VERB_AUTH_SESSION_OPEN "auth.session_open"
#define HM_VERB_AUTH_SESSION_CLOSE "auth.session_close"
#define HM_VERB_AUTH_REVOKE "auth.revoke"
#define HM_VERB_AUTH_SESSIONS "auth.sessions"
#define HM_VERB_HEALTH_READING "health.reading"
#define HM_VERB_HEALTH_SYNC "health.sync"
#define HM_VERB_HEALTH_REPLAY "health.replay"
#define HM_VERB_CHAT_REPLAY "chat.replay"
#define HM_VERB_HEALTH_THRESHOLD "health.threshold"
#define HM_VERB_HEALTH_DEVICE_READING "health.device_reading" /* device gateways, bus tools */
#define HM_VERB_CHAT_SEND "chat.send"
#define HM_VERB_CHAT_TYPING "chat.typing"
#define HM_VERB_CHAT_HISTORY "chat.history"
#define HM_VERB_NOTIFY_CREATE "notify.create"
#define HM_VERB_NOTIFY_ACK "notify.ack"
#define HM_VERB_NOTIFY_LIST "notify.list"
#define HM_VERB_NOTIFY_PREFS_GET "notify.prefs_get"
#define HM_VERB_NOTIFY_PREFS_SET "notify.prefs_set"
#define HM_VERB_NOTIFY_REPLAY "notify.replay"
#define HM_VERB_NOTIFY_MARK_READ "notify.mark_read"
#define HM_VERB_SCHED_CREATE "scheduler.create"
#define HM_VERB_SCHED_LIST "scheduler.list"
#define HM_VERB_SCHED_UPDATE "scheduler.update"
#define HM_VERB_SCHED_DELETE "scheduler.delete"
#define HM_VERB_SCHED_ANSWER "scheduler.answer"
#define HM_VERB_SCHED_HISTORY "scheduler.history" /* fired/missed occurrences and answers */
#define HM_VERB_SCHED_IMPORT "scheduler.import"   /* a reminder from an iCalendar VEVENT/VTODO */
#define HM_VERB_EDGE_STATUS "edge.status"
#define HM_VERB_EDGE_CONN_HEALTH "edge.conn_health"
#define HM_VERB_EDGE_DISCONNECT "edge.disconnect"
#define HM_VERB_EDGE_RECONNECT_USER "edge.reconnect_user"
#define HM_VERB_ECHO "echo" /* test workers answer it with the request's data */

/* ---- Client protocol: message types ------------------------------------- */

/* client -> server */
#define HM_MSG_AUTHENTICATE "authenticate"
#define HM_MSG_SUBSCRIBE "subscribe"
#define HM_MSG_UNSUBSCRIBE "unsubscribe"
#define HM_MSG_HEALTH_UPDATE "health_update"
#define HM_MSG_HEALTH_SYNC "health_sync"
#define HM_MSG_CHAT_MESSAGE "chat_message"
#define HM_MSG_TYPING "typing"
#define HM_MSG_CHAT_HISTORY "chat_history"
#define HM_MSG_ACK "ack"
#define HM_MSG_HEARTBEAT "heartbeat"
#define HM_MSG_REFRESH_TOKEN "refresh_token"
#define HM_MSG_GET_PREFERENCES "get_preferences"
#define HM_MSG_UPDATE_PREFERENCES "update_preferences"
#define HM_MSG_LIST_NOTIFICATIONS "list_notifications"
#define HM_MSG_MARK_READ "mark_read"
#define HM_MSG_REMINDER_CREATE "reminder_create"
#define HM_MSG_REMINDER_LIST "reminder_list"
#define HM_MSG_REMINDER_UPDATE "reminder_update"
#define HM_MSG_REMINDER_DELETE "reminder_delete"
#define HM_MSG_REMINDER_ANSWER "reminder_answer"
#define HM_MSG_REMINDER_IMPORT "reminder_import"   /* -> scheduler.import */
#define HM_MSG_REMINDER_HISTORY "reminder_history" /* -> scheduler.history */
#define HM_MSG_SET_THRESHOLD "set_threshold" /* -> health.threshold (SPEC 8, 9) */
/* server -> client */
#define HM_MSG_WELCOME "welcome"
#define HM_MSG_AUTHENTICATED "authenticated"
#define HM_MSG_SUBSCRIBED "subscribed"
#define HM_MSG_UNSUBSCRIBED "unsubscribed"
#define HM_MSG_ERROR "error"
#define HM_MSG_NOTIFICATION "notification"
#define HM_MSG_HEALTH_ALERT "health_alert"
#define HM_MSG_CHAT_MESSAGE_DELTA "chat_message_delta"
#define HM_MSG_TOKEN_EXPIRING "token_expiring"
#define HM_MSG_RECONNECT "reconnect"

/* Subscription names (the `subscription` field). */
#define HM_SUB_HEALTH "health_updates"
#define HM_SUB_CHAT "chat"
#define HM_SUB_NOTIFICATIONS "notifications"

/* ---- Error codes (stable strings) --------------------------------------- */

#define HM_ERR_INVALID_JSON "invalid_json"
#define HM_ERR_NOT_OBJECT "not_an_object"
#define HM_ERR_UNKNOWN_TYPE "unknown_type"
#define HM_ERR_MISSING_FIELD "missing_field"
#define HM_ERR_INVALID_FIELD "invalid_field"
#define HM_ERR_INVALID_UTF8 "invalid_utf8"
#define HM_ERR_BINARY_UNSUPPORTED "binary_not_supported"
#define HM_ERR_TOO_BIG "message_too_big"
#define HM_ERR_NOT_AUTHENTICATED "not_authenticated"
#define HM_ERR_ALREADY_AUTHENTICATED "already_authenticated"
#define HM_ERR_AUTH_FAILED "auth_failed"
#define HM_ERR_TOKEN_MALFORMED "token_malformed"
#define HM_ERR_TOKEN_ALG "token_bad_algorithm"
#define HM_ERR_TOKEN_SIGNATURE "token_bad_signature"
#define HM_ERR_TOKEN_EXPIRED "token_expired"
#define HM_ERR_TOKEN_NOT_YET_VALID "token_not_yet_valid"
#define HM_ERR_TOKEN_ISSUER "token_bad_issuer"
#define HM_ERR_TOKEN_AUDIENCE "token_bad_audience"
#define HM_ERR_TOKEN_REVOKED "token_revoked"
#define HM_ERR_USER_UNKNOWN "user_unknown"
#define HM_ERR_USER_INACTIVE "user_inactive"
#define HM_ERR_FORBIDDEN "forbidden"
#define HM_ERR_RATE_LIMITED "rate_limited"
#define HM_ERR_TOO_MANY_CONNECTIONS "too_many_connections"
#define HM_ERR_INVALID_SUBSCRIPTION "invalid_subscription"
#define HM_ERR_SERVICE_UNAVAILABLE "service_unavailable"
#define HM_ERR_TIMEOUT "timeout"
#define HM_ERR_NOT_FOUND "not_found"
#define HM_ERR_INTERNAL "internal_error"
#define HM_ERR_BAD_REQUEST "bad_request"
#define HM_ERR_UNKNOWN_VERB "unknown_verb"
#define HM_ERR_AUTH_TIMEOUT "auth_timeout"
#define HM_ERR_IDLE_TIMEOUT "idle_timeout"
#define HM_ERR_SLOW_CONSUMER "slow_consumer"
/* hm-health reading validation (SPEC 9) */
#define HM_ERR_UNKNOWN_METRIC "unknown_metric"
#define HM_ERR_INVALID_UNIT "invalid_unit"
#define HM_ERR_OUT_OF_RANGE "out_of_range"
#define HM_ERR_FUTURE_TIMESTAMP "future_timestamp"

/* ---- hm-chat (SPEC section 10) ------------------------------------------ */

#define HM_ACTION_SUBSCRIBE_CHAT "subscribe:chat" /* auth.authorize: care-team access */
#define HM_VERB_AUTH_CARE_TEAM "auth.care_team"   /* a patient's care team (SPEC 7) */
/* chat_message data.sender */
#define HM_CHAT_SENDER_USER "user"              /* the conversation's owner (patient) */
#define HM_CHAT_SENDER_CARE_TEAM "care_team"    /* a linked caregiver or clinician */
#define HM_CHAT_SENDER_ASSISTANT "ai_assistant" /* the AI health assistant (sender_id 0) */
/* notify.create values used by services */
#define HM_NOTIFY_TYPE_HEALTH_ALERT "health_alert"
#define HM_NOTIFY_PRIORITY_HIGH "high"

/* ---- WebSocket close codes ---------------------------------------------- */

#define HM_CLOSE_NORMAL 1000
#define HM_CLOSE_GOING_AWAY 1001
#define HM_CLOSE_PROTOCOL_ERROR 1002
#define HM_CLOSE_INVALID_PAYLOAD 1007
#define HM_CLOSE_POLICY 1008
#define HM_CLOSE_TOO_BIG 1009
#define HM_CLOSE_INTERNAL 1011
#define HM_CLOSE_SERVICE_RESTART 1012 /* reconnect and resume */
#define HM_CLOSE_TRY_AGAIN_LATER 1013 /* overloaded: max connections */
#define HM_CLOSE_AUTH_TIMEOUT 4001
#define HM_CLOSE_AUTH_FAILED 4002
#define HM_CLOSE_AUTH_EXPIRED 4003
#define HM_CLOSE_FORBIDDEN 4004
#define HM_CLOSE_RATE_LIMITED 4008
#define HM_CLOSE_IDLE_TIMEOUT 4009
#define HM_CLOSE_SLOW_CONSUMER 4010 /* send queue overflow: reconnect, resume */
#define HM_CLOSE_TOKEN_REVOKED 4011
#define HM_CLOSE_TOO_MANY_CONNECTIONS 4029

#endif /* HM_PROTO_H */
