/*
 * chat_authz.h - "may this care-team member take part in this patient's
 * chat?", answered by hm-auth (auth.authorize, action subscribe:chat,
 * target_user_id the patient) and remembered for a while.
 *
 * chat_authz_check never blocks: it answers from the cache, or starts the
 * question (a chat_call of kind CHAT_CALL_AUTHZ) and says "ask again"; the
 * service holds the request and runs it again when chat_authz_on_reply
 * reports that an answer arrived. Allowed answers are kept ttl_ms, denials
 * a tenth of that, an unreachable auth a few seconds (requests then get
 * service_unavailable).
 *
 * Bound: CHAT_AUTHZ_CACHE_MAX entries; at the bound the cache is cleared.
 */
#ifndef CHAT_AUTHZ_H
#define CHAT_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "chat_call.h"
#include "hm_envelope.h"

#define CHAT_AUTHZ_CACHE_MAX 10000
#define CHAT_CALL_AUTHZ 1 /* chat_call kind of the questions */

typedef enum {
    CHAT_AUTHZ_ALLOW = 1,       /* linked: may take part */
    CHAT_AUTHZ_DENY = 0,        /* not allowed */
    CHAT_AUTHZ_PENDING = -1,    /* asked; run the request again on an answer */
    CHAT_AUTHZ_UNAVAILABLE = -2 /* auth did not answer */
} chat_authz_rc_t;

typedef struct chat_authz_t chat_authz_t;

/* call is borrowed. NULL on ENOMEM. */
chat_authz_t *chat_authz_new(chat_call_t *call, int64_t ttl_ms, int timeout_ms);
void chat_authz_destroy(chat_authz_t **self_p);

/* May actor take part in target's conversations? (actor == target: yes.) */
chat_authz_rc_t chat_authz_check(chat_authz_t *self, int64_t actor, int64_t target, int64_t now_ms);

/* Whether the last chat_authz_check's answer came from hm-auth's reply to
 * the question asked for it (which hm-auth audited), rather than from the
 * cache or from a local rule: a DENY that is not is audited by the caller
 * (sys.audit). */
bool chat_authz_audited(const chat_authz_t *self);

/* The answer to a question (rep NULL: timed out), from the call's done
 * callback with its tag. */
void chat_authz_on_reply(chat_authz_t *self, const char *tag, const hm_envelope_t *rep,
                         int64_t now_ms);

#endif /* CHAT_AUTHZ_H */
