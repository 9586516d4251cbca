/*
 * auth_cli.h - hm-auth's administrative subcommands, and the pieces of
 * set-up they share with the service (database path, JWT keys from the
 * configuration).
 *
 *   user add --name NAME --role ROLE [--id N]   prints the new id
 *   user list                                   JSON lines
 *   user disable ID | user enable ID
 *   link MEMBER_ID PATIENT_ID                   care-team link
 *   token --user ID [--ttl S]                   prints a signed token
 *   revoke JTI                                  stores the revocation, then asks a
 *                                               running hm-auth (over the bus) to
 *                                               close the token's connections
 *
 * Messages for people go to stderr, results to stdout. Exit codes: 0 done,
 * 1 failed (no such user, database error), 2 bad usage or configuration.
 */
#ifndef AUTH_CLI_H
#define AUTH_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "auth_jwt.h"
#include "hm_config.h"

#define AUTH_CLI_TTL_DEFAULT 3600       /* token lifetime, seconds */
#define AUTH_CLI_TTL_MAX (366 * 86400)  /* at most a year */
#define AUTH_CLI_REVOKE_TIMEOUT_MS 1500 /* how long `revoke` waits for the bus */

/* The database path: the db option, else <data_dir>/auth.db, written into
 * buf (len bytes). Returns buf, or NULL when it does not fit. */
const char *auth_cli_db_path(hm_config_t *cfg, char *buf, size_t len);

/* Builds the JWT verifier (for_signing false: the service) or signer
 * (for_signing true: `token`) from the jwt_* options. Prints a clear reason
 * to stderr and returns NULL when the keys are missing or unusable (exit
 * 2). Caller owns. */
auth_jwt_t *auth_cli_jwt_new(hm_config_t *cfg, bool for_signing);

/* Runs the subcommand argv[0] with argv[1..argc). Returns the exit code. */
int auth_cli_run(hm_config_t *cfg, int argc, char **argv);

#endif /* AUTH_CLI_H */
