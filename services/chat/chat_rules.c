/*
 * chat_rules.c - keyword intents and the rules assistant's answers.
 */
#include "chat_rules.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_clock.h"

#define S_TEXT_MAX 8192 /* bytes of a message classified */

/* Keyword lists end with NULL. A trailing '*' matches a word prefix. */
static const char *const s_cardiac[] = {
    "chest pain",           "chest pains",     "pain in my chest", "chest hurts",
    "chest is hurting",     "chest tightness", "tight chest",      "tightness in my chest",
    "pressure in my chest", "crushing chest",  "heart attack",     NULL};
static const char *const s_breathing[] = {"cant breathe",
                                          "cannot breathe",
                                          "can not breathe",
                                          "unable to breathe",
                                          "trouble breathing",
                                          "difficulty breathing",
                                          "hard to breathe",
                                          "struggling to breathe",
                                          "short of breath",
                                          "shortness of breath",
                                          "not breathing",
                                          "stopped breathing",
                                          "choking",
                                          "gasping",
                                          NULL};
static const char *const s_stroke[] = {
    "stroke",          "face drooping",    "face is drooping",    "drooping face",
    "face droop",      "slurred speech",   "speech is slurred",   "slurring",
    "arm weakness",    "arm is weak",      "one side of my body", "numb on one side",
    "sudden numbness", "sudden confusion", "worst headache",      NULL};
static const char *const s_crisis[] = {
    "suicid*",         "kill myself",      "killing myself",    "end my life",
    "ending my life",  "take my own life", "want to die",       "wanna die",
    "better off dead", "self harm",        "harm myself",       "hurt myself",
    "hurting myself",  "overdose*",        "no reason to live", NULL};
static const char *const s_other[] = {
    "unconscious",      "passed out",         "fainted",   "unresponsive",
    "not responding",   "seizure*",           "seizing",   "severe bleeding",
    "bleeding heavily", "wont stop bleeding", "anaphyla*", "throat is closing",
    "throat closing",   "emergency",          "911",       NULL};
static const char *const s_greeting[] = {
    "hello",          "hi",           "hey", "hiya", "howdy", "greetings", "good morning",
    "good afternoon", "good evening", NULL};
static const char *const s_help[] = {
    "help", "what can you do", "what do you do", "how do you work", "what can i ask", NULL};
static const char *const s_thanks[] = {"thanks", "thank you", "thx", "cheers", NULL};
static const char *const s_diagnosis[] = {"diagnos*",
                                          "do i have",
                                          "what is wrong with me",
                                          "whats wrong with me",
                                          "am i sick",
                                          "is it serious",
                                          "is this serious",
                                          "is that serious",
                                          "what condition",
                                          "what disease",
                                          "normal",
                                          NULL};
static const char *const s_kw_readings[] = {
    "reading*",       "vitals",    "vital signs", "my numbers", "measurement*",
    "how am i doing", "my health", "my stats",    "latest",     "recent",
    "summary",        "overview",  NULL};
static const char *const s_trend[] = {
    "trend*",     "over time", "lately",         "this week",     "past week", "last week",
    "this month", "improv*",   "getting better", "getting worse", "going up",  "going down",
    "rising",     "falling",   "average",        "history",       "compared",  NULL};
static const char *const s_kw_alerts[] = {"alert*", "warning*", "alarm*", "flagged", NULL};
static const char *const s_kw_reminders[] = {"reminder*",    "medication*", "medicine*",
                                             "meds",         "pill*",       "dose*",
                                             "appointment*", "schedule*",   NULL};

/* Words naming each metric. */
static const char *const *const s_metric_words[CHAT_M_COUNT] = {
    [CHAT_M_BP] = (const char *const[]){"blood pressure", "bp", "systolic", "diastolic",
                                        "hypertension", NULL},
    [CHAT_M_HEART_RATE] =
        (const char *const[]){"heart rate", "pulse", "heartbeat", "bpm", "heart", NULL},
    [CHAT_M_GLUCOSE] = (const char *const[]){"glucose", "blood sugar", "sugar", NULL},
    [CHAT_M_WEIGHT] = (const char *const[]){"weight", "weigh", "kg", "pounds", "lbs", NULL},
    [CHAT_M_TEMPERATURE] = (const char *const[]){"temperature", "fever", "temp", NULL},
    [CHAT_M_OXYGEN] = (const char *const[]){"oxygen", "spo2", "o2", "saturation", "sats", NULL},
    [CHAT_M_STEPS] = (const char *const[]){"steps", "walked", "walking", NULL},
    [CHAT_M_SLEEP] = (const char *const[]){"sleep", "slept", NULL},
    [CHAT_M_RESPIRATORY] = (const char *const[]){"respiratory rate", "breathing rate",
                                                 "breaths per minute", "respiration", NULL},
};

/* Normalizes text into out (size len): " word word ", lowercase ASCII,
 * apostrophes (' and U+2019) dropped, other punctuation as one space. */
static void
s_normalize(const char *text, char *out, size_t len)
{
    size_t n = 0;
    out[n++] = ' ';
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 2 < len; p++) {
        if (*p == '\'' || (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x99)) {
            p += *p == '\'' ? 0 : 2;
            continue;
        }
        bool word = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p >= 0x80;
        if (*p >= 'A' && *p <= 'Z')
            out[n++] = (char)(*p - 'A' + 'a');
        else if (word)
            out[n++] = (char)*p;
        else if (out[n - 1] != ' ')
            out[n++] = ' ';
    }
    if (out[n - 1] != ' ')
        out[n++] = ' ';
    out[n] = '\0';
}

/* Whether normalized text holds kw as whole words (or as a word prefix when
 * kw ends in '*'). */
static bool
s_has(const char *norm, const char *kw)
{
    char pat[96];
    size_t k = strlen(kw);
    bool prefix = k > 0 && kw[k - 1] == '*';
    snprintf(pat, sizeof pat, " %.*s%s", (int)(prefix ? k - 1 : k), kw, prefix ? "" : " ");
    return strstr(norm, pat) != NULL;
}

/* Whether normalized text holds any keyword of list. */
static bool
s_any(const char *norm, const char *const *list)
{
    for (; *list; list++)
        if (s_has(norm, *list))
            return true;
    return false;
}

/* The emergency kind in normalized text, or CHAT_EMERG_NONE. */
static chat_emergency_t
s_emergency(const char *norm)
{
    if (s_any(norm, s_crisis))
        return CHAT_EMERG_CRISIS;
    if (s_any(norm, s_cardiac))
        return CHAT_EMERG_CARDIAC;
    if (s_any(norm, s_breathing))
        return CHAT_EMERG_BREATHING;
    if (s_any(norm, s_stroke))
        return CHAT_EMERG_STROKE;
    return s_any(norm, s_other) ? CHAT_EMERG_OTHER : CHAT_EMERG_NONE;
}

void
chat_rules_classify(const char *text, chat_intent_t *out)
{
    static const struct {
        const char *const *words;
        unsigned flag;
    } table[] = {{s_greeting, CHAT_I_GREETING},    {s_help, CHAT_I_HELP},
                 {s_thanks, CHAT_I_THANKS},        {s_diagnosis, CHAT_I_DIAGNOSIS},
                 {s_kw_readings, CHAT_I_READINGS}, {s_trend, CHAT_I_TREND},
                 {s_kw_alerts, CHAT_I_ALERTS},     {s_kw_reminders, CHAT_I_REMINDERS}};
    char *norm = malloc(S_TEXT_MAX + 4);
    memset(out, 0, sizeof *out);
    if (!norm)
        return;
    s_normalize(text ? text : "", norm, S_TEXT_MAX + 4);
    out->emergency = s_emergency(norm);
    if (out->emergency != CHAT_EMERG_NONE)
        out->flags |= CHAT_I_EMERGENCY;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (s_any(norm, table[i].words))
            out->flags |= table[i].flag;
    for (int m = 0; m < CHAT_M_COUNT; m++)
        if (s_any(norm, s_metric_words[m]))
            out->metrics |= 1u << m;
    if (out->metrics || (out->flags & CHAT_I_TREND))
        out->flags |= CHAT_I_READINGS;
    free(norm);
}

unsigned
chat_rules_needs(const chat_intent_t *in)
{
    if (in->flags & CHAT_I_EMERGENCY)
        return 0;
    unsigned needs = 0;
    if (in->flags & CHAT_I_READINGS)
        needs |= CHAT_NEED_READINGS;
    if (in->flags & CHAT_I_ALERTS)
        needs |= CHAT_NEED_ALERTS;
    if (in->flags & CHAT_I_REMINDERS)
        needs |= CHAT_NEED_REMINDERS;
    return needs;
}

/* ---- answers ------------------------------------------------------------- */

/* " on 2024-01-01 at 08:00 UTC" / " today at 08:00 UTC" / "". */
static void
s_when(int64_t ts_ms, int64_t now_ms, char *out, size_t len)
{
    char iso[40];
    if (ts_ms <= 0) {
        *out = '\0';
        return;
    }
    hm_clock_iso8601(ts_ms, iso, sizeof iso);
    if (ts_ms / 86400000 == now_ms / 86400000)
        snprintf(out, len, " today at %.5s UTC", iso + 11);
    else
        snprintf(out, len, " on %.10s at %.5s UTC", iso, iso + 11);
}

/* The trend sentence of series s: the newest against the average of the
 * readings before it. */
static void
s_trend_sentence(FILE *f, chat_metric_t m, const chat_series_t *s)
{
    if (s->n < 2) {
        fprintf(f, " I need more %s readings to show a trend.", chat_metric_label(m));
        return;
    }
    chat_reading_t avg = s->last;
    avg.value = (s->sum - s->last.value) / (s->n - 1);
    avg.diastolic = (s->sum_dia - s->last.diastolic) / (s->n - 1);
    double diff = avg.value != 0 ? (s->last.value - avg.value) / avg.value : 0;
    const char *how = diff > 0.03    ? "higher than"
                      : diff < -0.03 ? "lower than"
                                     : "about the same as";
    char v[64];
    chat_ctx_format_value(m, &avg, v, sizeof v);
    if (s->n == 2)
        fprintf(f, " That is %s your previous reading of %s.", how, v);
    else
        fprintf(f, " That is %s your average of %s over the %d readings before it (last 30 days).",
                how, v, s->n - 1);
}

/* One metric's sentence. */
static void
s_metric_sentence(FILE *f, const chat_intent_t *in, const chat_ctx_t *ctx, chat_metric_t m,
                  int64_t now_ms)
{
    const chat_series_t *s = &ctx->series[m];
    if (s->n == 0) {
        fprintf(f, " I don't see any %s readings yet.", chat_metric_label(m));
        return;
    }
    char v[64], when[64];
    chat_ctx_format_value(m, &s->last, v, sizeof v);
    s_when(s->last.ts_ms, now_ms, when, sizeof when);
    fprintf(f, " Your latest %s was %s%s%s.", chat_metric_label(m), v, *when ? ", measured" : "",
            when);
    if (in->flags & CHAT_I_TREND)
        s_trend_sentence(f, m, s);
}

/* The readings paragraph. Returns true when data was shown. */
static bool
s_readings(FILE *f, const chat_intent_t *in, const chat_ctx_t *ctx, int64_t now_ms)
{
    if (!(ctx->answered & CHAT_NEED_READINGS)) {
        fprintf(f, " I can't see your recent readings right now, so I can't tell you about "
                   "them. Please try again in a moment.");
        return false;
    }
    bool shown = false;
    for (int m = 0; m < CHAT_M_COUNT; m++) {
        bool asked = in->metrics & (1u << m);
        if (asked || (!in->metrics && ctx->series[m].n > 0)) {
            s_metric_sentence(f, in, ctx, (chat_metric_t)m, now_ms);
            shown = shown || ctx->series[m].n > 0;
        }
    }
    if (!in->metrics && !shown)
        fprintf(f, " I don't see any readings yet. Once you record some, I can tell you about "
                   "them.");
    return shown;
}

/* The alerts paragraph. Returns true when data was shown. */
static bool
s_alerts(FILE *f, const chat_ctx_t *ctx)
{
    if (!(ctx->answered & CHAT_NEED_ALERTS) || !ctx->alerts_known) {
        fprintf(f, " I can't see your alerts right now.");
        return false;
    }
    if (ctx->nalerts == 0) {
        fprintf(f, " You have no active alerts.");
        return false;
    }
    fprintf(f, " You have %d active alert%s:", ctx->nalerts, ctx->nalerts == 1 ? "" : "s");
    for (int i = 0; i < ctx->nalerts; i++) {
        const chat_ctx_alert_t *a = &ctx->alerts[i];
        int m = chat_metric_parse(a->metric);
        fprintf(f, "%s %s%s%s%s", i ? ";" : "",
                *a->message ? a->message
                : m >= 0    ? chat_metric_label((chat_metric_t)m)
                            : a->metric,
                *a->severity ? " (" : "", a->severity, *a->severity ? ")" : "");
    }
    fprintf(f, ".");
    return true;
}

/* The reminders paragraph. */
static void
s_reminders(FILE *f, const chat_ctx_t *ctx)
{
    if (!(ctx->answered & CHAT_NEED_REMINDERS)) {
        fprintf(f, " I can't see your reminders right now.");
        return;
    }
    if (ctx->nreminders == 0) {
        fprintf(f, " You have no reminders for today.");
        return;
    }
    fprintf(f, " Today's reminders:");
    for (int i = 0; i < ctx->nreminders; i++)
        fprintf(f, "%s %s%s%s", i ? ";" : "", ctx->reminders[i].title,
                *ctx->reminders[i].when ? " at " : "", ctx->reminders[i].when);
    fprintf(f, ".");
}

static const char s_capabilities[] =
    "I can tell you your latest readings and how they are trending (for example \"What was my "
    "latest blood pressure?\"), your active alerts and today's reminders.";

/* The parts of an answer that are not about data. */
static void
s_social(FILE *f, const chat_intent_t *in, bool data)
{
    if ((in->flags & CHAT_I_GREETING) && !data)
        fprintf(f, " Hello! I'm your HealthMate assistant. %s", s_capabilities);
    else if (in->flags & CHAT_I_GREETING)
        fprintf(f, " Hello!");
    if ((in->flags & CHAT_I_HELP) && !(in->flags & CHAT_I_GREETING))
        fprintf(f, " %s", s_capabilities);
    if ((in->flags & CHAT_I_THANKS) && !data)
        fprintf(f, " You're welcome! Ask me any time.");
}

char *
chat_rules_answer(const chat_intent_t *in, const chat_ctx_t *ctx, int64_t now_ms, const char *note)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    unsigned asks = in->flags & (CHAT_I_READINGS | CHAT_I_ALERTS | CHAT_I_REMINDERS);
    if (note)
        fprintf(f, " %s", note);
    s_social(f, in, asks != 0);
    bool shown = false;
    if (in->flags & CHAT_I_READINGS)
        shown = s_readings(f, in, ctx, now_ms);
    if (in->flags & CHAT_I_ALERTS)
        shown = s_alerts(f, ctx) || shown;
    if (in->flags & CHAT_I_REMINDERS)
        s_reminders(f, ctx);
    if (in->flags & CHAT_I_DIAGNOSIS)
        fprintf(f, " I can't give a diagnosis or tell you what your numbers mean for your "
                   "health; your care team can.");
    else if (shown)
        fprintf(f, " I can't give a diagnosis; talk to your care team about what these "
                   "numbers mean for you.");
    if (!asks && !(in->flags & (CHAT_I_GREETING | CHAT_I_HELP | CHAT_I_THANKS | CHAT_I_DIAGNOSIS)))
        fprintf(f,
                " I'm not sure I understood. %s I can't give a diagnosis. If you feel "
                "unwell, contact your care team; in an emergency, call your local emergency "
                "number.",
                s_capabilities);
    fclose(f);
    if (buf && buf[0] == ' ')
        memmove(buf, buf + 1, strlen(buf)); /* the leading space of the first part */
    return buf;
}

char *
chat_rules_safety(const chat_intent_t *in)
{
    static const char *const advice[] = {
        [CHAT_EMERG_NONE] = "",
        [CHAT_EMERG_CARDIAC] = " If you have chest pain, stop what you are doing and sit down "
                               "while you wait for help.",
        [CHAT_EMERG_BREATHING] = " Sit upright and stay as calm as you can while help comes.",
        [CHAT_EMERG_STROKE] = " Note the time the symptoms started and tell the emergency team.",
        [CHAT_EMERG_CRISIS] = " If you are thinking about ending your life or hurting yourself, "
                              "please reach out right now: call or text 988 (Suicide & Crisis "
                              "Lifeline, US) or your local crisis line. You are not alone.",
        [CHAT_EMERG_OTHER] = " Stay with the person and follow the dispatcher's instructions.",
    };
    char *text = NULL;
    int kind = in->emergency <= CHAT_EMERG_OTHER ? (int)in->emergency : 0;
    if (asprintf(&text,
                 "This could be a medical emergency. Please call your local emergency number "
                 "now (911 in the US, 112 in Europe, 999 in the UK) or ask someone near you to "
                 "call. Do not wait for a reply here.%s I am sending an urgent notification to "
                 "your care "
                 "team. I am an AI "
                 "assistant: I can't assess or diagnose what is happening.",
                 advice[kind]) < 0)
        return NULL;
    return text;
}
