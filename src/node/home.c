/*
 * Node home resolution and creation, from a network file or by enrollment;
 * see home.h. Each way checks what it was given before it touches the home,
 * and writes node.key last.
 */
#include "node/home.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "proto/enroll.h"
#include "store/store.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

int home_resolve(const char *flag, char *out, size_t size)
{
	const char *env = getenv("SHOAL_HOME");
	const char *user = getenv("HOME");
	int n;
	if (flag && *flag)
		n = snprintf(out, size, "%s", flag);
	else if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (user && *user)
		n = snprintf(out, size, "%s/.shoal", user);
	else
		return SHOAL_ECONFIG;
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int home_private(const char *home, unsigned *mode)
{
	struct stat st;
	if (stat(home, &st))
		return -errno;
	*mode = st.st_mode & 07777;
	return st.st_mode & 077 ? SHOAL_EEXPOSED : 0;
}

/* Whether dir holds no entry: 1, 0, or -errno. */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	int empty = 1;
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

/* Sets *why (when asked) and returns err. */
static int refuse(const char **why, const char *reason, int err)
{
	ERR_clear_error();
	if (why)
		*why = reason;
	return err;
}

/*
 * Makes home ready for a new node: created 0700 when missing (*created = 1),
 * an existing empty one tightened to 0700; refused when it holds a node or a
 * pending request, or holds something else and others may enter it.
 */
static int home_prepare(const char *home, int *created, const char **why)
{
	struct stat st;
	*created = 0;
	if (stat(home, &st)) {
		if (errno != ENOENT)
			return -errno;
		int err = mkdir_p(home, 0700);
		if (!err)
			*created = 1;
		return err;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	int state = identity_state(home);
	if (state < 0)
		return state;
	if (state == IDENTITY_COMPLETE)
		return refuse(why, "it already holds a node", SHOAL_EEXIST);
	if (state == IDENTITY_PENDING)
		return refuse(why,
			      "it already holds a pending request; complete it with 'shoal init "
			      "--cert CERT'",
			      SHOAL_EEXIST);
	if (st.st_mode & 077) {
		/* An empty directory is the node's to tighten; one holding
		 * something else is the user's to decide about. */
		int empty = dir_empty(home);
		if (empty < 0)
			return empty;
		if (!empty)
			return SHOAL_EEXPOSED;
		if (chmod(home, 0700))
			return -errno;
	}
	return 0;
}

/* Undoes home_prepare() after a failure: a home it created goes when empty. */
static void home_unprepare(const char *home, int created)
{
	if (created && rmdir(home) == 0)
		log_debug("removed %s after failed init", home);
}

/*
 * Completes a node whose key is pending in home: the certificates, the store,
 * and last the pending key renamed to node.key.
 */
static int home_install(const char *home, X509 *node_cert, X509 *ca_cert)
{
	int err = identity_write_certs(home, node_cert, ca_cert);
	if (!err)
		err = store_create(home);
	if (err == SHOAL_EEXIST) {
		/* An earlier attempt stopped before node.key: no node has used this
		 * store yet. Opening it finishes what store_create began. */
		struct store *s;
		err = store_open(&s, home, STORE_NOWAIT);
		if (!err)
			store_close(s);
	}
	if (!err)
		err = identity_pending_commit(home);
	return err;
}

int home_init(const char *home, const char *network_path, const char *nickname,
	      const struct config *cfg, uint8_t id[NODE_ID_LEN], const char **why)
{
	struct network net = {0};
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int created = 0, pending = 0;
	int err = network_load(network_path, &net, why);
	if (!err)
		err = identity_key_new(&key);
	if (!err)
		err = network_issue(&net, key, nickname, NODE_LIFETIME_DAYS, &cert, why);
	if (!err)
		err = node_id_from_pkey(key, id);
	if (!err)
		err = home_prepare(home, &created, why);
	if (!err)
		pending = !(err = identity_pending_write(home, key));
	if (!err)
		err = config_save(home, cfg);
	if (!err)
		err = home_install(home, cert, net.ca_cert);
	if (err) {
		/* A retry starts over: without the pending key the home holds no
		 * node, and what else was written is written again. */
		if (pending)
			identity_pending_remove(home);
		home_unprepare(home, created);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	network_release(&net);
	return err;
}

int home_request(const char *home, const char *nickname, const struct config *cfg,
		 const char *request_path, uint8_t id[NODE_ID_LEN], const char **why)
{
	struct enroll_request req;
	struct buf text = BUF_INIT;
	char dir[PATH_MAX];
	EVP_PKEY *key = NULL;
	int created = 0, wrote_request = 0, pending = 0;
	int err = identity_key_new(&key);
	if (!err)
		err = enroll_request_sign(key, nickname, cfg->listen, (int64_t)time(NULL), &req);
	if (!err)
		err = enroll_request_format(&req, &text);
	if (!err)
		err = node_id_from_pkey(key, id);
	if (!err)
		err = home_prepare(home, &created, why);
	if (!err) {
		path_dirname(request_path, dir, sizeof(dir));
		err = write_file_atomic_in(dir, ".tmp-", request_path, text.data, text.len, 0644,
					   ATOMIC_NOREPLACE);
		if (err == -EEXIST)
			err = refuse(why, "the request file exists already; not replacing it",
				     SHOAL_EEXIST);
		wrote_request = !err;
	}
	if (!err)
		pending = !(err = identity_pending_write(home, key));
	if (!err)
		err = config_save(home, cfg);
	if (!err)
		err = fsync_dir(home);
	if (err) {
		if (pending)
			identity_pending_remove(home);
		if (wrote_request)
			unlink(request_path);
		home_unprepare(home, created);
	}
	buf_release(&text);
	EVP_PKEY_free(key);
	return err;
}

/* Loads home/node.key and home/ca.crt of the complete node in home, and
 * refuses a CA certificate other than ca (another network's). */
static int home_own_key(const char *home, X509 *ca, EVP_PKEY **key, const char **why)
{
	X509 *cert = NULL, *home_ca = NULL;
	int err = identity_load_home(home, &cert, key, &home_ca);
	if (!err && X509_cmp(home_ca, ca)) {
		EVP_PKEY_free(*key);
		*key = NULL;
		err = refuse(why, "the certificate is from another network than this node's",
			     SHOAL_EIDENTITY);
	}
	X509_free(home_ca);
	X509_free(cert);
	return err;
}

int home_enroll(const char *home, const char *cert_path, uint8_t id[NODE_ID_LEN], int *renewed,
		const char **why)
{
	X509 *node_cert = NULL, *ca_cert = NULL;
	EVP_PKEY *key = NULL;
	int state = identity_state(home);
	if (state < 0)
		return state;
	if (state == IDENTITY_NONE)
		return refuse(why,
			      "no pending request here (run 'shoal init --request FILE' first)",
			      -ENOENT);
	int err = identity_bundle_load(cert_path, &node_cert, &ca_cert, why);
	if (err)
		goto out;
	if (state == IDENTITY_PENDING)
		err = identity_pending_load(home, &key);
	else
		err = home_own_key(home, ca_cert, &key, why);
	if (err)
		goto out;
	if (X509_check_private_key(node_cert, key) != 1) {
		err = refuse(
			why,
			state == IDENTITY_PENDING
				? "the certificate is for another key than this home's request"
				: "the certificate is for another key than this node's (a node "
				  "takes only a renewal of its own certificate)",
			SHOAL_EIDENTITY);
		goto out;
	}
	err = identity_check_cert(ca_cert, node_cert, id, why);
	if (err)
		goto out;
	*renewed = state == IDENTITY_COMPLETE;
	if (*renewed)
		err = identity_write_certs(home, node_cert, NULL);
	else
		err = home_install(home, node_cert, ca_cert);
out:
	EVP_PKEY_free(key);
	X509_free(ca_cert);
	X509_free(node_cert);
	return err;
}

int home_renew(const char *home, const struct network *net, int days, X509 **out, const char **why)
{
	X509 *renewed = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *ca = NULL;
	int state = identity_state(home);
	if (state < 0)
		return state;
	if (state != IDENTITY_COMPLETE)
		return refuse(why, "no node here to renew (run 'shoal init' first)", -ENOENT);
	int err = identity_load_home(home, &cert, &key, &ca);
	if (err)
		goto out;
	if (X509_cmp(ca, net->ca_cert)) {
		err = refuse(why, "this node belongs to another network", SHOAL_EIDENTITY);
		goto out;
	}
	err = network_renew(net, cert, days, &renewed, why);
	if (!err)
		err = identity_write_certs(home, renewed, NULL);
	if (!err) {
		*out = renewed;
		renewed = NULL;
	}
out:
	X509_free(renewed);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(key);
	return err;
}
