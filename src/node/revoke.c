/*
 * The revocation list; see revoke.h.
 */
#include "node/revoke.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#include "net/wire.h"

_Static_assert(REVOCATIONS_PER_FRAME <= WIRE_REVOCATIONS_MAX, "a frame of revocations passes");
_Static_assert(REVOKE_MAX <= WIRE_CTL_REVOCATIONS_MAX, "the whole list fits a CtlReply");

/* The file holds at most REVOKE_MAX revocations of ~400 bytes. */
#define REVOKE_FILE_MAX (REVOKE_MAX * 512)

const struct revocation *revocations_find(const struct revocations *rv,
					  const uint8_t node[NODE_ID_LEN])
{
	for (size_t i = 0; i < rv->count; i++)
		if (!memcmp(rv->list[i].node, node, NODE_ID_LEN))
			return &rv->list[i];
	return NULL;
}

static int append(struct revocations *rv, const struct revocation *r)
{
	if (rv->count >= REVOKE_MAX)
		return SHOAL_ETOOBIG;
	if (rv->count == rv->cap) {
		size_t cap = rv->cap ? rv->cap * 2 : 16;
		struct revocation *l = realloc(rv->list, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		rv->list = l;
		rv->cap = cap;
	}
	rv->list[rv->count++] = *r;
	return 0;
}

static int save(const struct revocations *rv)
{
	Shoal__Revocations msg = SHOAL__REVOCATIONS__INIT;
	Shoal__Revocation *pbs = calloc(rv->count ? rv->count : 1, sizeof(*pbs));
	Shoal__Revocation **ptrs = calloc(rv->count ? rv->count : 1, sizeof(*ptrs));
	uint8_t *data = NULL;
	int err = -ENOMEM;
	if (!pbs || !ptrs)
		goto out;
	for (size_t i = 0; i < rv->count; i++) {
		revocation_to_pb(&rv->list[i], &pbs[i]);
		ptrs[i] = &pbs[i];
	}
	msg.n_list = rv->count;
	msg.list = ptrs;
	size_t len = shoal__revocations__get_packed_size(&msg);
	data = malloc(len ? len : 1);
	if (!data)
		goto out;
	shoal__revocations__pack(&msg, data);
	err = write_file_atomic(rv->path, data, len, 0600);
out:
	free(data);
	free(ptrs);
	free(pbs);
	return err;
}

int revocations_add(struct revocations *rv, const struct revocation *r)
{
	if (revocations_find(rv, r->node))
		return 0;
	if (revocation_verify(rv->ca, r))
		return SHOAL_EIDENTITY;
	int err = append(rv, r);
	if (err)
		return err;
	err = save(rv);
	if (err) {
		rv->count--;
		return err;
	}
	return 1;
}

static int load(struct revocations *rv)
{
	struct buf b = BUF_INIT;
	int err = read_file(rv->path, &b, REVOKE_FILE_MAX);
	if (err == -ENOENT)
		return 0;
	if (err) {
		log_warnx("cannot read %s: %s", rv->path, shoal_strerror(err));
		return err;
	}
	Shoal__Revocations *msg = shoal__revocations__unpack(NULL, b.len, b.data);
	buf_release(&b);
	if (!msg) {
		log_warnx("%s is damaged; starting with no revocations (members send theirs)",
			  rv->path);
		return 0;
	}
	size_t bad = 0;
	for (size_t i = 0; i < msg->n_list; i++) {
		struct revocation r;
		if (revocation_from_pb(msg->list[i], &r) || revocation_verify(rv->ca, &r)) {
			bad++;
			continue;
		}
		if (!revocations_find(rv, r.node) && (err = append(rv, &r)))
			break;
	}
	shoal__revocations__free_unpacked(msg, NULL);
	if (bad)
		log_warnx("%s: %zu revocations not signed by this network's CA skipped", rv->path,
			  bad);
	return err == SHOAL_ETOOBIG ? 0 : err;
}

int revocations_open(struct revocations *rv, const char *home)
{
	char ca_path[PATH_MAX];
	memset(rv, 0, sizeof(*rv));
	if ((size_t)snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", home) >= sizeof(ca_path) ||
	    (size_t)snprintf(rv->path, sizeof(rv->path), "%s/revocations", home) >=
		    sizeof(rv->path))
		return -ENAMETOOLONG;
	int err = identity_load_cert(ca_path, &rv->ca);
	if (!err)
		err = load(rv);
	if (err)
		revocations_close(rv);
	return err;
}

void revocations_close(struct revocations *rv)
{
	X509_free(rv->ca);
	free(rv->list);
	memset(rv, 0, sizeof(*rv));
}

size_t revocations_frame(const struct revocations *rv, size_t from, Shoal__Envelope *env,
			 Shoal__Revocations *msg, Shoal__Revocation *pbs, Shoal__Revocation **ptrs)
{
	size_t n = 0;
	for (size_t i = from; i < rv->count && n < REVOCATIONS_PER_FRAME; i++, n++) {
		revocation_to_pb(&rv->list[i], &pbs[n]);
		ptrs[n] = &pbs[n];
	}
	shoal__revocations__init(msg);
	msg->n_list = n;
	msg->list = ptrs;
	env->msg_case = SHOAL__ENVELOPE__MSG_REVOCATIONS;
	env->revocations = msg;
	return n;
}
