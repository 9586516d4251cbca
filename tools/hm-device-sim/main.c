/*
 * hm-device-sim - a simulated home device for the demo patient: streams
 * plausible vitals to hm-health through the bus, as a real device gateway
 * does (Majordomo request health.device_reading), with an occasional
 * out-of-range reading that raises an alert.
 */
#include <czmq.h>
#include <math.h>
#include <stdlib.h>

#include "hm_clock.h"
#include "hm_config.h"
#include "hm_log.h"
#include "hm_mdp.h"

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"user", HM_CFG_INT, "0", 0, 9.2e18, "the patient's user id (required)"},
    {"interval_ms", HM_CFG_INT, "1000", 50, 3600000, "time between rounds of readings"},
    {"alert_every", HM_CFG_INT, "30", 0, 1000000,
     "every Nth round has one out-of-range reading (0: never)"},
    {"count", HM_CFG_INT, "0", 0, 1e12, "rounds to send, then exit (0: forever)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

typedef struct {
    const char *metric; /* catalogue name */
    const char *unit;   /* unit sent */
    double mid, spread; /* normal value and its random walk range */
    double alert;       /* an out-of-range value for the occasional alert */
    double value;       /* current value of the walk */
} s_vital_t;

static s_vital_t s_vitals[] = {
    {"heart_rate", "bpm", 72, 8, 138, 0},
    {"spo2", "%", 97, 1.5, 89, 0},
    {"blood_pressure", "mmHg", 118, 6, 168, 0},
    {"temperature", "C", 36.8, 0.3, 39.4, 0},
    {"respiratory_rate", "breaths/min", 15, 2, 28, 0},
};
#define NVITALS (sizeof(s_vitals) / sizeof(s_vitals[0]))

/* A step of a bounded random walk around mid. */
static double
s_step(s_vital_t *v)
{
    double r = (double) random() / RAND_MAX - 0.5;
    v->value += r * v->spread * 0.4;
    if (fabs(v->value - v->mid) > v->spread)
        v->value = v->mid + (v->value > v->mid ? v->spread : -v->spread) * 0.8;
    return round(v->value * 10) / 10;
}

static json_t *
s_reading(int64_t user, s_vital_t *v, bool alert)
{
    char ts[40];
    double value = alert ? v->alert : s_step(v);
    json_t *d = json_pack("{s:I, s:s, s:f, s:s, s:s, s:s}", "user_id", (json_int_t) user, "metric",
                          v->metric, "value", value, "unit", v->unit, "timestamp",
                          hm_clock_iso8601(hm_clock_wall_ms(), ts, sizeof(ts)), "source",
                          "hm-device-sim");
    if (strcmp(v->metric, "blood_pressure") == 0) {
        json_object_set_new(d, "systolic", json_real(value));
        json_object_set_new(d, "diastolic", json_real(round(value * 0.66)));
    }
    return d;
}

/* Sends one round: every vital once; in an alert round one is out of range. */
static void
s_round(hm_mdp_client_t *client, int64_t user, long long n, long long alert_every)
{
    size_t alert_at = alert_every > 0 && n > 0 && n % alert_every == 0
                          ? (size_t) (n / alert_every) % NVITALS
                          : NVITALS;
    for (size_t i = 0; i < NVITALS; i++) {
        hm_envelope_t *req = hm_envelope_new(HM_VERB_HEALTH_DEVICE_READING);
        hm_envelope_set_data(req, s_reading(user, &s_vitals[i], i == alert_at));
        hm_mdp_client_send(client, HM_SVC_HEALTH, req);
        hm_envelope_destroy(&req);
    }
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("device_sim", "hm-device-sim --user ID [options]", s_opts);
    int rc = hm_config_start(cfg, argc, argv, "hm-device-sim", NULL);
    if (rc == 0 && hm_config_int(cfg, "user") <= 0) {
        fprintf(stderr, "hm-device-sim: --user ID is required (see --help)\n");
        rc = -1;
    }
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    srandom((unsigned) getpid());
    for (size_t i = 0; i < NVITALS; i++)
        s_vitals[i].value = s_vitals[i].mid;
    hm_mdp_client_t *client = hm_mdp_client_new(hm_config_str(cfg, "requests"), 2000, 0);
    int64_t user = hm_config_int(cfg, "user");
    long long count = hm_config_int(cfg, "count");
    for (long long n = 0; client && !zsys_interrupted && (count == 0 || n < count); n++) {
        s_round(client, user, n, hm_config_int(cfg, "alert_every"));
        int64_t until = zclock_mono() + hm_config_int(cfg, "interval_ms");
        while (!zsys_interrupted && zclock_mono() < until) {
            zmq_pollitem_t item = {zsock_resolve(hm_mdp_client_sock(client)), 0, ZMQ_POLLIN, 0};
            zmq_poll(&item, 1, (long) (until - zclock_mono()));
            char *svc = NULL;
            hm_envelope_t *rep = NULL;
            while (hm_mdp_client_recv(client, &svc, &rep) == 0) { /* replies: acks or errors */
                if (strcmp(rep->type, HM_MSG_ERROR) == 0)
                    hm_log_warn("reading_refused", "code=%s",
                                json_string_value(json_object_get(rep->data, "code")));
                free(svc);
                hm_envelope_destroy(&rep);
            }
        }
    }
    hm_mdp_client_destroy(&client);
    hm_config_destroy(&cfg);
    return 0;
}
