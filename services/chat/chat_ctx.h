/*
 * chat_ctx.h - the slice of a user's own data that one question needs:
 * latest readings and their trend per metric, active alerts, today's
 * reminders. Filled from other services' replies (parsed defensively: their
 * shapes are read leniently and anything unexpected is skipped), then read
 * by the rules answers and, as text, by an external model.
 *
 * Only what was asked is kept: readings of other metrics are skipped when
 * the question named metrics.
 */
#ifndef CHAT_CTX_H
#define CHAT_CTX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What a question needs (chat_ctx_t.asked / .answered). */
#define CHAT_NEED_READINGS 0x1               /* health.sync */
#define CHAT_NEED_ALERTS 0x2                 /* health.replay (the health_alert events) */
#define CHAT_NEED_REMINDERS 0x4              /* scheduler.list */
#define CHAT_CTX_WINDOW_MS (30LL * 86400000) /* readings looked at: the last 30 days */

typedef enum {
    CHAT_M_BP = 0,
    CHAT_M_HEART_RATE,
    CHAT_M_GLUCOSE,
    CHAT_M_WEIGHT,
    CHAT_M_TEMPERATURE,
    CHAT_M_OXYGEN,
    CHAT_M_STEPS,
    CHAT_M_SLEEP,
    CHAT_M_RESPIRATORY,
    CHAT_M_COUNT
} chat_metric_t;

#define CHAT_CTX_ALERTS_MAX 8
#define CHAT_CTX_REMINDERS_MAX 8
#define CHAT_CTX_TEXT_MAX 200 /* bytes kept of an alert message or reminder title */

typedef struct {
    double value;     /* the value (systolic for blood pressure) */
    double diastolic; /* blood pressure only */
    bool has_bp;      /* systolic/diastolic known */
    char unit[16];    /* as stored */
    int64_t ts_ms;    /* when measured (unix ms, 0 unknown) */
} chat_reading_t;

typedef struct {
    int n;               /* readings seen */
    chat_reading_t last; /* the newest */
    double sum;          /* sum of values, for the average */
    double sum_dia;      /* sum of diastolic values */
} chat_series_t;

typedef struct {
    char metric[32];                 /* metric name as stored */
    char severity[16];               /* e.g. warning, critical */
    char message[CHAT_CTX_TEXT_MAX]; /* the alert's text */
} chat_ctx_alert_t;

typedef struct {
    char title[CHAT_CTX_TEXT_MAX]; /* what to take or attend */
    char when[48];                 /* "08:00 UTC", "08:00, 20:00" or "" */
} chat_ctx_reminder_t;

typedef struct {
    unsigned asked;                     /* CHAT_NEED_* requested */
    unsigned answered;                  /* CHAT_NEED_* whose service answered */
    unsigned metrics;                   /* 1 << chat_metric_t kept; 0: all */
    chat_series_t series[CHAT_M_COUNT]; /* per metric */
    bool alerts_known;                  /* a health reply told the alerts */
    int nalerts;                        /* active alerts */
    chat_ctx_alert_t alerts[CHAT_CTX_ALERTS_MAX];
    int nreminders; /* today's reminders */
    chat_ctx_reminder_t reminders[CHAT_CTX_REMINDERS_MAX];
} chat_ctx_t;

/* Human name of a metric ("blood pressure"). */
const char *chat_metric_label(chat_metric_t m);

/* The metric a stored name denotes ("blood_pressure", "pulse", ...), or -1. */
int chat_metric_parse(const char *name);

/* hm-health's name of a metric ("blood_pressure", "spo2", ...). */
const char *chat_metric_name(chat_metric_t m);

void chat_ctx_init(chat_ctx_t *self, unsigned asked, unsigned metrics);

/* Adds a health.sync or health.replay reply's data: readings
 * (data.readings, data.events or data.items; plain readings or {type, data,
 * seq} events) and alerts (data.alerts, or health_alert events: the last
 * state per metric wins, "normal" clears). Returns the since_seq for the
 * next page when data.more is true and one can be told (data.next_seq, or
 * the highest seq seen), else -1. take says what to keep: CHAT_NEED_READINGS
 * and/or CHAT_NEED_ALERTS. */
int64_t chat_ctx_add_health(chat_ctx_t *self, const json_t *data, unsigned take);

/* Adds a scheduler.list reply's data: the reminders due on now_ms's UTC
 * day (or of unknown time). */
void chat_ctx_add_reminders(chat_ctx_t *self, const json_t *data, int64_t now_ms);

/* Formats a reading's value ("128/84 mmHg", "72 bpm") into out. */
void chat_ctx_format_value(chat_metric_t m, const chat_reading_t *r, char *out, size_t len);

/* The context as short plain text lines for a language model, only what was
 * asked; "" when nothing was. Caller frees. NULL on ENOMEM. */
char *chat_ctx_describe(const chat_ctx_t *self);

#endif /* CHAT_CTX_H */
