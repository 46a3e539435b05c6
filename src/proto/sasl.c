/*
 * sasl.c -- SASL authentication for the binary protocol (see sasl.h).
 */
#include "config.h"
#include "sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

#ifdef HAVE_SASL
#include <sasl/sasl.h>

/* The longest mechanism name memcached accepts. */
#define MECH_MAX 32

static const char *pwdb;            /* $MEMCACHED_SASL_PWDB, or NULL */
static char confdir[4096];          /* where memcached.conf is */

/* Is pass the password of user in the "user:password" file?  A line may
 * carry more fields after a second ':'. */
static bool
pwdb_match(const char *user, const char *pass, unsigned passlen)
{
    FILE *f = fopen(pwdb, "r");
    if (f == NULL)
        return false;
    size_t nu = strlen(user);
    char line[1024];
    bool ok = false;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, user, nu) != 0 || line[nu] != ':')
            continue;
        const char *pw = line + nu + 1;
        size_t np = strcspn(pw, ":\r\n");
        ok = np == passlen && memcmp(pw, pass, passlen) == 0;
        break;                      /* the first line of the user decides */
    }
    fclose(f);
    return ok;
}

static int
cb_checkpass(sasl_conn_t *conn, void *ctx, const char *user, const char *pass,
             unsigned passlen, struct propctx *props)
{
    (void)conn; (void)ctx; (void)props;
    return pwdb_match(user, pass, passlen) ? SASL_OK : SASL_NOUSER;
}

static int
cb_confpath(void *ctx, const char **path)
{
    (void)ctx;
    *path = confdir;
    return confdir[0] != '\0' ? SASL_OK : SASL_FAIL;
}

static sasl_callback_t callbacks[] = {
    { SASL_CB_GETCONFPATH, (int (*)(void))(void (*)(void))cb_confpath, NULL },
    { SASL_CB_SERVER_USERDB_CHECKPASS, NULL, NULL },    /* set with a pwdb */
    { SASL_CB_LIST_END, NULL, NULL },
};

int
proto_sasl_setup(char *err, size_t errlen)
{
    const char *env = getenv("SASL_CONF_PATH");
    if (env != NULL) {
        snprintf(confdir, sizeof(confdir), "%s", env);
    } else {
        static const char *const dirs[] = { "/etc/sasl", "/etc/sasl2" };
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            char f[64];
            snprintf(f, sizeof(f), "%s/memcached.conf", dirs[i]);
            FILE *fp = fopen(f, "r");
            if (fp != NULL) {
                fclose(fp);
                snprintf(confdir, sizeof(confdir), "%s", dirs[i]);
                break;
            }
        }
        if (confdir[0] == '\0') {
            /* memcached too refuses to start ("Error initializing sasl.") */
            snprintf(err, errlen, "SASL: no memcached.conf in /etc/sasl or /etc/sasl2; "
                     "set SASL_CONF_PATH to the directory holding it (doc/security.md)");
            return -1;
        }
    }
    pwdb = getenv("MEMCACHED_SASL_PWDB");
    if (pwdb != NULL)
        callbacks[1].proc = (int (*)(void))(void (*)(void))cb_checkpass;
    else
        callbacks[1].id = SASL_CB_LIST_END;
    int rc = sasl_server_init(callbacks, "memcached");
    if (rc != SASL_OK) {
        snprintf(err, errlen, "SASL initialisation failed: %s", sasl_errstring(rc, NULL, NULL));
        return -1;
    }
    proto_env.sasl = true;
    return 0;
}

void
sasl_conn_free(struct proto_conn *pc)
{
    if (pc->sasl != NULL) {
        sasl_conn_t *c = pc->sasl;
        sasl_dispose(&c);
        pc->sasl = NULL;
    }
}

static sasl_conn_t *
session(struct proto_conn *pc)
{
    if (pc->sasl == NULL) {
        sasl_conn_t *c = NULL;
        if (sasl_server_new("memcached", NULL, NULL, NULL, NULL, NULL, 0, &c) != SASL_OK)
            return NULL;
        pc->sasl = c;
    }
    return pc->sasl;
}

enum proto_action
sasl_packet(struct proto_conn *pc, const struct request *r)
{
    if (!proto_env.sasl) {
        bin_error(pc, BIN_UNKNOWN_COMMAND);
        return PROTO_NEXT;
    }
    /* every SASL command starts over: the connection is no longer
     * authenticated (as memcached) */
    pc->authenticated = false;
    sasl_conn_t *c = session(pc);
    if (r->cmd == CMD_SASL_LIST) {
        const char *list = NULL;
        unsigned n = 0;
        if (c == NULL || sasl_listmech(c, NULL, "", " ", "", &list, &n, NULL) != SASL_OK) {
            bin_error(pc, BIN_AUTH_ERROR);
            return PROTO_NEXT;
        }
        bin_header(pc, BIN_SUCCESS, 0, 0, n, 0);
        obuf_add(pc->out, list, n);
        return PROTO_NEXT;
    }
    if (r->nkey > MECH_MAX) {
        bin_error(pc, BIN_EINVAL);
        return PROTO_NEXT;
    }
    char mech[MECH_MAX + 1];
    memcpy(mech, r->key, r->nkey);
    mech[r->nkey] = '\0';
    const char *out = NULL;
    unsigned nout = 0;
    int rc = SASL_FAIL;
    /* no data: no initial response (PLAIN then asks for it) */
    const char *in = r->bin.ndata > 0 ? r->bin.data : NULL;
    if (c != NULL) {
        if (r->cmd == CMD_SASL_AUTH)
            rc = sasl_server_start(c, mech, in, r->bin.ndata, &out, &nout);
        else if (pc->sasl_started)
            rc = sasl_server_step(c, in, r->bin.ndata, &out, &nout);
        pc->sasl_started = rc == SASL_CONTINUE || (rc == SASL_OK && r->cmd == CMD_SASL_STEP);
    }
    /* auth_cmds counts what ended (success or failure), not a continue */
    if (rc != SASL_CONTINUE)
        STAT_INC(pc->stats, auth_cmds);
    switch (rc) {
    case SASL_OK: {
        static const char ok[] = "Authenticated";
        pc->authenticated = true;
        bin_header(pc, BIN_SUCCESS, 0, 0, sizeof(ok) - 1, 0);
        obuf_add(pc->out, ok, sizeof(ok) - 1);
        break;
    }
    case SASL_CONTINUE:
        bin_header(pc, BIN_AUTH_CONTINUE, 0, 0, nout, 0);
        if (nout > 0)
            obuf_add(pc->out, out, nout);
        break;
    default:
        STAT_INC(pc->stats, auth_errors);
        bin_error(pc, BIN_AUTH_ERROR);
        break;
    }
    return PROTO_NEXT;
}

#else /* !HAVE_SASL */

int
proto_sasl_setup(char *err, size_t errlen)
{
    snprintf(err, errlen, "this build has no SASL support (configure found no libsasl2)");
    return -1;
}

void
sasl_conn_free(struct proto_conn *pc)
{
    (void)pc;
}

enum proto_action
sasl_packet(struct proto_conn *pc, const struct request *r)
{
    (void)r;
    bin_error(pc, BIN_UNKNOWN_COMMAND);
    return PROTO_NEXT;
}

#endif
