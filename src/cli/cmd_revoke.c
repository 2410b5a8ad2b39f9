/*
 * network revoke and network revocations: the CA's word that a node is no
 * member any more, signed here with the network file's CA key and handed to
 * the home's daemon, which spreads it (src/node/trust.h).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "node/revoke.h"
#include "proto/revocation.h"
#include "util/error.h"

/* Whether the network file's CA is the one the home's node trusts. */
static int same_network(const char *home, X509 *ca)
{
	char path[PATH_MAX + 16];
	X509 *mine = NULL;
	snprintf(path, sizeof(path), "%s/ca.crt", home);
	if (identity_load_cert(path, &mine))
		return 0;
	int same = X509_cmp(mine, ca) == 0;
	X509_free(mine);
	return same;
}

int cmd_network_revoke(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"network", required_argument, NULL, 'n'},
		{"reason", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_subcommand("network", "revoke");
	const char *network = NULL, *reason = "";
	int c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		switch (c) {
		case 'n':
			network = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if (argc - optind != 1)
		return cli_usage(cmd, "expected one NODE (its id, 8 or more of its first "
				      "characters, or its nickname)");
	if (!network)
		return cli_usage(cmd, "--network NET is required (its CA key signs)");
	if (strlen(reason) > REVOCATION_REASON_MAX)
		return cli_usage(cmd, "--reason: at most %d bytes", REVOCATION_REASON_MAX);
	int ret = cli_home(cli);
	if (ret)
		return ret;
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	uint8_t id[NODE_ID_LEN];
	char sid[NODE_ID_STR_LEN + 1];
	int err = identity_load_key(network, &key);
	if (!err)
		err = identity_load_cert(network, &ca);
	if (err) {
		ret = cli_fail(err, "%s is not a network file (needs the CA key and certificate)",
			       network);
		goto out;
	}
	if (X509_check_private_key(ca, key) != 1) {
		ret = cli_failx("%s: the CA key does not match the CA certificate", network);
		goto out;
	}
	if (!same_network(cli->home, ca)) {
		ret = cli_failx("%s is not the network of the node in %s", network, cli->home);
		goto out;
	}
	if ((ret = cli_resolve_node(cli, argv[optind], id)))
		goto out;
	struct revocation r;
	err = revocation_sign(key, id, (int64_t)time(NULL), reason, &r);
	if (err) {
		ret = cli_fail(err, "cannot sign the revocation");
		goto out;
	}
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlRevokeRequest rr = SHOAL__CTL_REVOKE_REQUEST__INIT;
	Shoal__Revocation pb;
	revocation_to_pb(&r, &pb);
	rr.revocation = &pb;
	req.req_case = SHOAL__CTL_REQUEST__REQ_REVOKE;
	req.revoke = &rr;
	Shoal__CtlReply *rep;
	if ((ret = cli_ask(cli, &req, &rep)))
		goto out;
	shoal__ctl_reply__free_unpacked(rep, NULL);
	node_id_format(id, sid);
	printf("revoked %s; every member refuses it from now on\n", sid);
out:
	X509_free(ca);
	EVP_PKEY_free(key);
	return ret;
}

static void print_one(const struct revocation *r, json_t *list)
{
	char sid[NODE_ID_STR_LEN + 1], date[32];
	time_t t = (time_t)r->time;
	struct tm tm;
	node_id_format(r->node, sid);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (list)
		json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "node_id", sid, "time",
						      (json_int_t)r->time, "reason", r->reason));
	else
		printf("%s\t%s\t%s\n", sid, date, r->reason[0] ? r->reason : "-");
}

int cmd_network_revocations(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const struct command *cmd = cli_subcommand("network", "revocations");
	int json = 0, c;
	optind = 0;
	while ((c = cli_getopt(cmd, argc, argv, "", opts)) != -1) {
		if (c == 'j')
			json = 1;
		else
			return cli_opt_exit(c);
	}
	if (argc != optind)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int ret = cli_home(cli);
	if (ret)
		return ret;
	/* What the node keeps, read directly: the daemon need not run. */
	struct revocations rv;
	int err = revocations_open(&rv, cli->home);
	if (err == -ENOENT)
		return cli_failx("%s is not a shoal node home (run 'shoal init' first)", cli->home);
	if (err)
		return cli_fail(err, "cannot read the revocations of %s", cli->home);
	json_t *list = json ? json_array() : NULL;
	for (size_t i = 0; i < rv.count; i++)
		print_one(&rv.list[i], list);
	revocations_close(&rv);
	if (list) {
		ret = cli_print_json(list) ? cli_fail(-ENOMEM, "cannot format JSON") : EXIT_OK;
		json_decref(list);
		return ret;
	}
	return EXIT_OK;
}
