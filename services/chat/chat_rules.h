/*
 * chat_rules.h - the offline, deterministic assistant: what a message asks
 * for (intent), what data that needs, and the answer.
 *
 * Classification is keyword matching on a normalized copy of the text
 * (lowercase, punctuation to spaces, apostrophes dropped) at word
 * boundaries. The emergency check is deliberately broad: a false alarm
 * costs a notification, a miss could cost much more. Answers never
 * diagnose and say so; they quote only the user's own data from chat_ctx.
 */
#ifndef CHAT_RULES_H
#define CHAT_RULES_H

#include <stdint.h>

#include "chat_ctx.h"

/* chat_intent_t.flags */
#define CHAT_I_EMERGENCY 0x001 /* emergency symptoms or crisis: safety path */
#define CHAT_I_GREETING 0x002
#define CHAT_I_HELP 0x004
#define CHAT_I_THANKS 0x008
#define CHAT_I_DIAGNOSIS 0x010 /* asks for a diagnosis or "is it normal" */
#define CHAT_I_READINGS 0x020  /* readings (metrics says which; 0: all) */
#define CHAT_I_TREND 0x040     /* ... and how they are trending */
#define CHAT_I_ALERTS 0x080    /* active alerts */
#define CHAT_I_REMINDERS 0x100 /* today's reminders */

typedef enum {
    CHAT_EMERG_NONE = 0,
    CHAT_EMERG_CARDIAC,   /* chest pain, heart attack */
    CHAT_EMERG_BREATHING, /* trouble breathing, choking */
    CHAT_EMERG_STROKE,    /* stroke signs */
    CHAT_EMERG_CRISIS,    /* suicidal thoughts, self-harm, overdose */
    CHAT_EMERG_OTHER,     /* unconscious, seizure, severe bleeding, ... */
} chat_emergency_t;

typedef struct {
    unsigned flags;             /* CHAT_I_* */
    unsigned metrics;           /* 1 << chat_metric_t named in the text */
    chat_emergency_t emergency; /* the first kind found */
} chat_intent_t;

/* Classifies text (UTF-8, any length; only the first 8 KiB are read). */
void chat_rules_classify(const char *text, chat_intent_t *out);

/* The CHAT_NEED_* data an intent needs (0 for an emergency: the safety
 * answer waits for nothing). */
unsigned chat_rules_needs(const chat_intent_t *in);

/* The answer to a non-emergency intent from the data in ctx, at now_ms
 * (wall clock). note (may be NULL) is put first. Caller frees; NULL on
 * ENOMEM. */
char *chat_rules_answer(const chat_intent_t *in, const chat_ctx_t *ctx, int64_t now_ms,
                        const char *note);

/* The urgent safety answer for an emergency intent. Caller frees. */
char *chat_rules_safety(const chat_intent_t *in);

/* The note put before a rules answer when an external model failed. */
#define CHAT_RULES_FALLBACK_NOTE                                                                   \
    "(The AI assistant is not available right now, so here is a basic answer.)"

#endif /* CHAT_RULES_H */
