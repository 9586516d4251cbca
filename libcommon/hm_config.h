/*
 * hm_config.h - declarative configuration: defaults < ZPL file < HM_* env <
 * command-line flags, each overriding the one before.
 *
 * A process describes its options in one table (name, type, default, bounds,
 * help). An option named "events_in" is read from the file as
 * "<section>/events_in" (falling back to "common/events_in"), from the
 * environment as HM_EVENTS_IN, and from the command line as
 * --events-in VALUE or --events-in=VALUE (--events_in also works). A BOOL
 * option is also a bare --tls (true) or --no-tls (false). The file comes from
 * --config FILE or HM_CONFIG (at most 1 MiB); a key in our section that no
 * option reads draws a warning on stderr. An empty HM_* variable counts as
 * unset. -h / --help prints usage generated from the same table.
 * Every layer's value is validated when it is applied, even if a later layer
 * overrides it; messages go to stderr and name the option and its source
 * ("flag --max-conns", "environment HM_MAX_CONNS", "file F (key edge/x)").
 */
#ifndef HM_CONFIG_H
#define HM_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    HM_CFG_STR,
    HM_CFG_INT,    /* long long within [min, max] */
    HM_CFG_BOOL,   /* true/false, yes/no, 1/0, on/off; a bare --flag sets true */
    HM_CFG_DOUBLE, /* within [min, max] */
} hm_cfg_type_t;

typedef struct {
    const char *name; /* snake_case key; NULL name ends the table */
    hm_cfg_type_t type;
    const char *def;  /* default as text (NULL: empty string / 0) */
    double min, max;  /* bounds for INT and DOUBLE (ignored when min == max) */
    const char *help; /* one line */
} hm_cfg_opt_t;

typedef struct hm_config_t hm_config_t;

/* Creates a config for section (e.g. "broker"). opts is borrowed and must
 * outlive the config. usage is the synopsis line printed by --help (e.g.
 * "hm-bus [options] pub TOPIC JSON"), borrowed. NULL on allocation failure. */
hm_config_t *hm_config_new(const char *section, const char *usage, const hm_cfg_opt_t *opts);
void hm_config_destroy(hm_config_t **self_p);

/* Loads defaults, the file, the environment, then argv (argv[0] skipped).
 * Stops at the first argument that is not an option ("-" alone is one) or
 * after "--"; *first_arg (may be NULL) is set to its index (argc when none).
 * Each call starts again from the defaults.
 * Returns 0 when loaded, 1 when --help was printed to stdout (caller exits
 * 0; nothing else is checked), -1 on a bad value, unknown flag, missing value
 * or unreadable file (a message was printed to stderr; caller exits 2). */
int hm_config_load(hm_config_t *self, int argc, char **argv, int *first_arg);

/* What every process's main() does first: hm_config_load, then (when first
 * is NULL) refuses positional arguments with a message naming ident, then
 * starts logging as ident at the option log_level (info when unknown) and,
 * when the table holds HM_CFG_BUS_OPTS, loads the bus's CURVE settings
 * (hm_bus_curve_configure: a certificate that does not load is a bad value).
 * Returns 0 to run (*first set when not NULL), 1 when --help was printed
 * (exit 0), -1 on a bad value or argument (message printed; exit 2). */
int hm_config_start(hm_config_t *self, int argc, char **argv, const char *ident, int *first);

/* True when name is an option of this config's table. */
bool hm_config_has(hm_config_t *self, const char *name);

/* Prints the generated usage and option table to f. */
void hm_config_print_help(hm_config_t *self, FILE *f);

/* Typed getters; before hm_config_load they return the defaults. The name
 * must be in the table with that type (otherwise a message and abort(),
 * NDEBUG or not). hm_config_str works for every type (the value's text) and
 * returns a borrowed string valid until the config is destroyed, loaded or
 * the option set again. */
const char *hm_config_str(hm_config_t *self, const char *name);
long long hm_config_int(hm_config_t *self, const char *name);
bool hm_config_bool(hm_config_t *self, const char *name);
double hm_config_double(hm_config_t *self, const char *name);

/* Sets a value as if it came from a flag (validated). Returns 0, or -1
 * (message on stderr) for a bad value or a name not in the table. */
int hm_config_set(hm_config_t *self, const char *name, const char *value);

/* The options every bus process shares: events_in, events_out, requests,
 * log_level, and CURVE (curve_cert, curve_server_key: see hm_bus.h; both
 * empty means plain ZeroMQ). Put HM_CFG_BUS_OPTS at the head of a table. */
/* clang-format off */
#define HM_CFG_BUS_OPTS                                                                         \
    {"events_in", HM_CFG_STR, "tcp://127.0.0.1:5550", 0, 0, "bus events-in endpoint (PUB side)"}, \
    {"events_out", HM_CFG_STR, "tcp://127.0.0.1:5551", 0, 0,                                    \
     "bus events-out endpoint (SUB side)"},                                                     \
    {"requests", HM_CFG_STR, "tcp://127.0.0.1:5555", 0, 0, "bus Majordomo requests endpoint"},  \
    {"curve_cert", HM_CFG_STR, "", 0, 0,                                                        \
     "CURVE: this process's secret zcert file (empty: CURVE off)"},                             \
    {"curve_server_key", HM_CFG_STR, "", 0, 0,                                                  \
     "CURVE: the broker's public zcert file (clients; needs curve_cert)"},                      \
    {"log_level", HM_CFG_STR, "info", 0, 0, "error, warn, info or debug"}
/* clang-format on */

#endif /* HM_CONFIG_H */
