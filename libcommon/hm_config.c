/*
 * hm_config.c - one option table; defaults < ZPL file < HM_* environment <
 * flags. Every layer's value goes through the same parser (s_apply), so a
 * bad value is reported with the layer it came from.
 */
#include "hm_config.h"
#include "hm_bus.h"
#include "hm_log.h"

#include <assert.h>
#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_WHERE_MAX 512          /* "file PATH (key broker/name)" and the like */
#define S_KEY_MAX 256            /* env var names and file keys */
#define S_FILE_MAX (1024 * 1024) /* config files are read whole; larger is an error */

/* A parsed value; which member is live depends on the option's type. */
typedef union {
    long long i; /* HM_CFG_INT */
    double d;    /* HM_CFG_DOUBLE */
    bool b;      /* HM_CFG_BOOL */
} s_value_t;

/* One option given on the command line, applied after file and env. */
typedef struct {
    int opt;           /* index in the table */
    const char *value; /* borrowed from argv, or "true"/"false" */
    const char *arg;   /* the argv word naming it, for messages */
} s_flag_t;

struct hm_config_t {
    const char *section;      /* file section, e.g. "broker" (borrowed) */
    const char *usage;        /* synopsis for --help (borrowed) */
    const hm_cfg_opt_t *opts; /* the table (borrowed) */
    int nopts;                /* entries before the NULL name */
    char **text;              /* per option: current value as text (owned) */
    s_value_t *value;         /* per option: current parsed value */
};

static const char *const s_type_names[] = {"STR", "INT", "BOOL", "DOUBLE"};

/* Parses a bool spelling. Returns 0 or -1. */
static int
s_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1", "on"};
    static const char *const no[] = {"false", "no", "0", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *out = strcasecmp(text, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* Parses and bounds-checks a number. Returns NULL, or why it is bad. */
static const char *
s_parse_number(const hm_cfg_opt_t *opt, const char *text, s_value_t *out)
{
    if (*text == '\0' || isspace((unsigned char)*text))
        return opt->type == HM_CFG_INT ? "not an integer" : "not a number";
    char *end;
    errno = 0;
    double as_double;
    if (opt->type == HM_CFG_INT) {
        out->i = strtoll(text, &end, 10);
        as_double = (double)out->i;
    } else {
        out->d = strtod(text, &end);
        as_double = out->d;
    }
    if (*end != '\0')
        return opt->type == HM_CFG_INT ? "not an integer" : "not a number";
    if (errno == ERANGE || !isfinite(as_double))
        return "out of range";
    if (opt->min != opt->max && (as_double < opt->min || as_double > opt->max))
        return "out of bounds";
    return NULL;
}

/* Parses text for opt. Returns NULL, or why it is bad. */
static const char *
s_parse(const hm_cfg_opt_t *opt, const char *text, s_value_t *out)
{
    switch (opt->type) {
    case HM_CFG_STR:
        return NULL;
    case HM_CFG_BOOL:
        return s_parse_bool(text, &out->b) < 0 ? "not a boolean (true/false, yes/no, 1/0, on/off)"
                                               : NULL;
    case HM_CFG_INT:
    case HM_CFG_DOUBLE:
        return s_parse_number(opt, text, out);
    }
    return "unknown option type";
}

/* Validates text and makes it option i's value. where names the layer for
 * the message ("environment HM_X"); NULL keeps quiet. Returns 0 or -1. */
static int
s_apply(hm_config_t *self, int i, const char *text, const char *where)
{
    const hm_cfg_opt_t *opt = &self->opts[i];
    s_value_t value = {0};
    const char *why = s_parse(opt, text, &value);
    if (why) {
        if (where) {
            fprintf(stderr, "%s: option %s from %s: bad value \"%s\": %s",
                    program_invocation_short_name, opt->name, where, text, why);
            if (opt->min != opt->max && strcmp(why, "out of bounds") == 0)
                fprintf(stderr, " (allowed %.15g to %.15g)", opt->min, opt->max);
            fprintf(stderr, "\n");
        }
        return -1;
    }
    char *copy = strdup(text);
    if (!copy) {
        fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
        return -1;
    }
    free(self->text[i]);
    self->text[i] = copy;
    self->value[i] = value;
    return 0;
}

/* The default text of an option (NULL in the table: "" or 0 or false). */
static const char *
s_default(const hm_cfg_opt_t *opt)
{
    if (opt->def)
        return opt->def;
    return opt->type == HM_CFG_STR ? "" : opt->type == HM_CFG_BOOL ? "false" : "0";
}

static int
s_load_defaults(hm_config_t *self, bool quiet)
{
    for (int i = 0; i < self->nopts; i++)
        if (s_apply(self, i, s_default(&self->opts[i]), quiet ? NULL : "the default") < 0)
            return -1;
    return 0;
}

hm_config_t *
hm_config_new(const char *section, const char *usage, const hm_cfg_opt_t *opts)
{
    assert(section && opts);
    hm_config_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->section = section;
    self->usage = usage;
    self->opts = opts;
    while (opts[self->nopts].name)
        self->nopts++;
    self->text = calloc((size_t)self->nopts + 1, sizeof *self->text);
    self->value = calloc((size_t)self->nopts + 1, sizeof *self->value);
    if (!self->text || !self->value)
        goto err;
    s_load_defaults(self, true); /* getters work before load; load reports */
    return self;
err:
    hm_config_destroy(&self);
    return NULL;
}

void
hm_config_destroy(hm_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_config_t *self = *self_p;
    for (int i = 0; self->text && i < self->nopts; i++)
        free(self->text[i]);
    free(self->text);
    free(self->value);
    free(self);
    *self_p = NULL;
}

/* Finds the option called name[0..len), '-' matching '_'. Returns its index
 * or -1. */
static int
s_find(const hm_config_t *self, const char *name, size_t len)
{
    for (int i = 0; i < self->nopts; i++) {
        const char *o = self->opts[i].name;
        if (strlen(o) != len)
            continue;
        size_t j = 0;
        while (j < len && (name[j] == '-' ? '_' : name[j]) == o[j])
            j++;
        if (j == len)
            return i;
    }
    return -1;
}

/* Reads the file layer: "<section>/<name>", else "common/<name>". */
static int
s_load_file_values(hm_config_t *self, zconfig_t *root, const char *path)
{
    for (int i = 0; i < self->nopts; i++) {
        char key[S_KEY_MAX], where[S_WHERE_MAX];
        snprintf(key, sizeof key, "%s/%s", self->section, self->opts[i].name);
        const char *value = zconfig_get(root, key, NULL);
        if (!value) {
            snprintf(key, sizeof key, "common/%s", self->opts[i].name);
            value = zconfig_get(root, key, NULL);
        }
        if (!value)
            continue;
        snprintf(where, sizeof where, "file %s (key %s)", path, key);
        if (s_apply(self, i, value, where) < 0)
            return -1;
    }
    return 0;
}

/* Warns about keys in our section that no option reads (likely typos). */
static void
s_warn_unknown_keys(hm_config_t *self, zconfig_t *root, const char *path)
{
    zconfig_t *section = zconfig_locate(root, self->section);
    for (zconfig_t *item = section ? zconfig_child(section) : NULL; item;
         item = zconfig_next(item)) {
        const char *name = zconfig_name(item);
        if (name && s_find(self, name, strlen(name)) < 0)
            fprintf(stderr, "%s: warning: file %s: unknown key %s/%s ignored\n",
                    program_invocation_short_name, path, self->section, name);
    }
}

/* Reads a whole file of at most S_FILE_MAX bytes. Returns the text (caller
 * frees) or NULL with why set. */
static char *
s_read_file(const char *path, const char **why)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *why = strerror(errno);
        return NULL;
    }
    char *text = malloc(S_FILE_MAX + 1);
    size_t len = 0;
    *why = NULL;
    if (!text)
        *why = "out of memory";
    else if ((len = fread(text, 1, S_FILE_MAX + 1, f)) > S_FILE_MAX)
        *why = "larger than 1 MiB";
    else if (ferror(f))
        *why = strerror(errno);
    fclose(f);
    if (*why) {
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* Reads the file layer from path. chosen_by names who chose the file. */
static int
s_load_file(hm_config_t *self, const char *path, const char *chosen_by)
{
    /* Read it ourselves: czmq 4.2.1's zconfig_load leaks on a syntax error
     * and cannot say why a file is unreadable. */
    const char *why = NULL;
    char *text = s_read_file(path, &why);
    zconfig_t *root = text ? zconfig_str_load(text) : NULL;
    free(text);
    if (!root) {
        fprintf(stderr, "%s: cannot read config file %s (from %s): %s\n",
                program_invocation_short_name, path, chosen_by,
                why ? why : "not valid ZPL (czmq's message above says where)");
        return -1;
    }
    int rc = s_load_file_values(self, root, path);
    if (rc == 0)
        s_warn_unknown_keys(self, root, path);
    zconfig_destroy(&root);
    return rc;
}

/* Writes "HM_<NAME>" for option i into buf. */
static void
s_env_name(const hm_config_t *self, int i, char *buf, size_t len)
{
    int n = snprintf(buf, len, "HM_%s", self->opts[i].name);
    for (int j = 3; j < n && (size_t)j < len; j++)
        buf[j] = (char)toupper((unsigned char)buf[j]);
}

/* Reads the environment layer; an empty variable counts as unset. */
static int
s_load_env(hm_config_t *self)
{
    for (int i = 0; i < self->nopts; i++) {
        char var[S_KEY_MAX], where[S_WHERE_MAX];
        s_env_name(self, i, var, sizeof var);
        const char *value = getenv(var);
        if (!value || !*value)
            continue;
        snprintf(where, sizeof where, "environment %s", var);
        if (s_apply(self, i, value, where) < 0)
            return -1;
    }
    return 0;
}

/* Takes the value after argv[*i] for a "--name VALUE" flag. NULL when
 * missing (reported). */
static const char *
s_next_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: option %s needs a value\n", program_invocation_short_name, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Reads one "--..." word at argv[*i] (and its value). Returns 0 for an
 * option (in *flag), 2 for --config (in *config), -1 on error (reported). */
static int
s_scan_one(hm_config_t *self, int argc, char **argv, int *i, s_flag_t *flag, const char **config)
{
    const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const char *value = eq ? eq + 1 : NULL;
    if (arg[1] != '-' || len == 0)
        goto unknown;
    if (len == 6 && strncmp(name, "config", 6) == 0) {
        *config = value ? value : s_next_value(argc, argv, i);
        return *config ? 2 : -1;
    }
    int opt = s_find(self, name, len);
    bool negated = false;
    if (opt < 0 && len > 3 && strncmp(name, "no-", 3) == 0) {
        opt = s_find(self, name + 3, len - 3);
        negated = true;
        if (opt >= 0 && self->opts[opt].type != HM_CFG_BOOL)
            goto unknown;
    }
    if (opt < 0)
        goto unknown;
    if (negated && value) {
        fprintf(stderr, "%s: option %.*s takes no value\n", program_invocation_short_name,
                (int)(len + 2), arg);
        return -1;
    }
    if (!value && self->opts[opt].type == HM_CFG_BOOL)
        value = negated ? "false" : "true";
    if (!value && !(value = s_next_value(argc, argv, i)))
        return -1;
    *flag = (s_flag_t){opt, value, arg};
    return 0;
unknown:
    fprintf(stderr, "%s: unknown option %.*s (try --help)\n", program_invocation_short_name,
            (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
    return -1;
}

/* Walks the options in argv up to the first operand or "--". Returns 0, 1
 * for --help, -1 on error (reported). */
static int
s_scan_argv(hm_config_t *self, int argc, char **argv, s_flag_t *flags, int *nflags,
            const char **config, int *first_arg)
{
    int i = 1;
    int rc = 0;
    for (; i < argc && rc >= 0; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* first operand ("-" alone is one too) */
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            rc = 1;
            break;
        }
        rc = s_scan_one(self, argc, argv, &i, &flags[*nflags], config);
        if (rc == 0)
            (*nflags)++;
    }
    *first_arg = i < argc ? i : argc;
    return rc < 0 ? -1 : rc == 1 ? 1 : 0;
}

/* Applies the layers once argv has been scanned. */
static int
s_load_layers(hm_config_t *self, const s_flag_t *flags, int nflags, const char *config)
{
    if (s_load_defaults(self, false) < 0)
        return -1;
    const char *chosen_by = "--config";
    if (!config) {
        config = getenv("HM_CONFIG");
        chosen_by = "environment HM_CONFIG";
    }
    if (config && *config && s_load_file(self, config, chosen_by) < 0)
        return -1;
    if (s_load_env(self) < 0)
        return -1;
    for (int f = 0; f < nflags; f++) {
        char where[S_WHERE_MAX];
        const char *eq = strchr(flags[f].arg, '=');
        int n = eq ? (int)(eq - flags[f].arg) : (int)strlen(flags[f].arg);
        snprintf(where, sizeof where, "flag %.*s", n, flags[f].arg);
        if (s_apply(self, flags[f].opt, flags[f].value, where) < 0)
            return -1;
    }
    return 0;
}

int
hm_config_load(hm_config_t *self, int argc, char **argv, int *first_arg)
{
    int unused;
    if (!first_arg)
        first_arg = &unused;
    if (!argv)
        argc = 0;
    s_flag_t *flags = calloc(argc > 0 ? (size_t)argc : 1, sizeof *flags);
    if (!flags) {
        fprintf(stderr, "%s: out of memory\n", program_invocation_short_name);
        return -1;
    }
    int nflags = 0;
    const char *config = NULL;
    int rc = s_scan_argv(self, argc, argv, flags, &nflags, &config, first_arg);
    if (rc == 1)
        hm_config_print_help(self, stdout);
    else if (rc == 0)
        rc = s_load_layers(self, flags, nflags, config);
    free(flags);
    return rc;
}

/* Prints one option's two help lines. */
static void
s_print_option(const hm_config_t *self, int i, FILE *f)
{
    const hm_cfg_opt_t *opt = &self->opts[i];
    char flag[S_KEY_MAX], env[S_KEY_MAX];
    int n =
        snprintf(flag, sizeof flag, "--%s%s", opt->type == HM_CFG_BOOL ? "[no-]" : "", opt->name);
    for (int j = 2; j < n && (size_t)j < sizeof flag; j++)
        if (flag[j] == '_')
            flag[j] = '-';
    s_env_name(self, i, env, sizeof env);
    fprintf(f, "  %-28s %-6s  env %-24s default \"%s\"", flag, s_type_names[opt->type], env,
            s_default(opt));
    if (opt->type != HM_CFG_STR && opt->type != HM_CFG_BOOL && opt->min != opt->max)
        fprintf(f, ", %.15g to %.15g", opt->min, opt->max);
    fprintf(f, "\n      %s\n", opt->help ? opt->help : "");
}

void
hm_config_print_help(hm_config_t *self, FILE *f)
{
    fprintf(f, "Usage: %s\n\n", self->usage ? self->usage : program_invocation_short_name);
    fprintf(f, "Options: default < config file [%s], then [common] < HM_* environment < flag.\n",
            self->section);
    fprintf(f, "  %-28s %-6s  env %s\n      ZPL configuration file\n", "--config FILE", "STR",
            "HM_CONFIG");
    fprintf(f, "  -h, --help\n      print this help and exit\n");
    for (int i = 0; i < self->nopts; i++)
        s_print_option(self, i, f);
}

/* The index of name, which must be in the table with that type (any type
 * when type is -1). A miss is a programmer error: it aborts, NDEBUG or not. */
static int
s_index(const hm_config_t *self, const char *name, int type)
{
    int i = name ? s_find(self, name, strlen(name)) : -1;
    if (i < 0 || (type >= 0 && (int)self->opts[i].type != type)) {
        fprintf(stderr, "%s: config option %s %s\n", program_invocation_short_name,
                name ? name : "(null)", i < 0 ? "is not in the table" : "has another type");
        abort();
    }
    return i;
}

const char *
hm_config_str(hm_config_t *self, const char *name)
{
    return self->text[s_index(self, name, -1)];
}

long long
hm_config_int(hm_config_t *self, const char *name)
{
    return self->value[s_index(self, name, HM_CFG_INT)].i;
}

bool
hm_config_bool(hm_config_t *self, const char *name)
{
    return self->value[s_index(self, name, HM_CFG_BOOL)].b;
}

double
hm_config_double(hm_config_t *self, const char *name)
{
    return self->value[s_index(self, name, HM_CFG_DOUBLE)].d;
}

bool
hm_config_has(hm_config_t *self, const char *name)
{
    return name && s_find(self, name, strlen(name)) >= 0;
}

int
hm_config_set(hm_config_t *self, const char *name, const char *value)
{
    int i = name ? s_find(self, name, strlen(name)) : -1;
    if (i < 0) {
        fprintf(stderr, "%s: hm_config_set: unknown option %s\n", program_invocation_short_name,
                name ? name : "(null)");
        return -1;
    }
    return s_apply(self, i, value ? value : "", "hm_config_set");
}

int
hm_config_start(hm_config_t *self, int argc, char **argv, const char *ident, int *first)
{
    int at = argc;
    int rc = self ? hm_config_load(self, argc, argv, &at) : -1;
    if (rc != 0)
        return rc;
    if (!first && at < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", ident, argv[at]);
        return -1;
    }
    if (first)
        *first = at;
    if (hm_config_has(self, "curve_cert") && hm_bus_curve_configure(self) != 0)
        return -1;
    int level = hm_log_level_parse(hm_config_str(self, "log_level"));
    hm_log_init(ident, level < 0 ? HM_LOG_INFO : (hm_log_level_t) level);
    return 0;
}
