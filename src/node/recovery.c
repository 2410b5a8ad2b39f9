/*
 * Recovery: the name table uploaded after changes, the record that finds
 * it, the records kept for other members, and `shoal recover`; see
 * recovery.h.
 */
#include "node/recovery.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "net/wire.h"
#include "node/fetch.h"
#include "node/replicate.h"
#include "proto/capability.h"
#include "store/files.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/encoding.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define STATE_MAX 4096

struct held {
	struct recovery_record r;
	double at; /* monotonic seconds it was last replaced */
};

struct recovery {
	struct recovery_env env;
	char home[PATH_MAX];
	EVP_PKEY *key;
	X509 *ca;
	uint8_t *own_der;
	size_t own_der_len;
	uint8_t self[NODE_ID_LEN];
	uint8_t secret[RECOVERY_SECRET_LEN];
	int have_secret; /* 0 until home/recovery.key exists */
	/* the table and record placed last (the writer's job updates them
	 * only through its done callback, on the loop) */
	struct recovery_record own;
	int own_set;
	char cur_cap[CAPABILITY_STR_LEN + 1]; /* "" when none */
	char prev_cap[CAPABILITY_STR_LEN + 1];
	uint64_t entries;
	uint64_t min_seq;		/* the next record's seq is above this */
	uint8_t table_hash[SHA256_LEN]; /* of the table placed last (all zero: none) */
	int dirty, uploading;
	struct event *debounce;
	struct event *push;
	struct held *held; /* kept for other members, by owner */
	size_t nheld;
};

/* ---- the secret ---- */

int recovery_key_load(const char *home, int create, uint8_t secret[RECOVERY_SECRET_LEN])
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", home, RECOVERY_KEY_FILE);
	struct buf b = BUF_INIT;
	int err = read_file(path, &b, 256);
	if (!err) {
		buf_add(&b, "", 1);
		err = recovery_key_parse(buf_str(&b), secret) ? SHOAL_EPROTO : 0;
		OPENSSL_cleanse(b.data, b.len);
		buf_release(&b);
		return err;
	}
	buf_release(&b);
	if (err != -ENOENT || !create)
		return err;
	char text[RECOVERY_KEY_STR_LEN + 2];
	err = random_bytes(secret, RECOVERY_SECRET_LEN);
	if (err)
		return err;
	recovery_key_format(secret, text);
	strcat(text, "\n");
	/* Never over a key made meanwhile (the CLI and the daemon may both
	 * make one): the first stands, and is read back. */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", home);
	err = write_file_atomic_in(dir, ".recovery-key-", path, text, strlen(text), 0600,
				   ATOMIC_NOREPLACE);
	OPENSSL_cleanse(text, sizeof(text));
	if (err == -EEXIST)
		return recovery_key_load(home, 0, secret);
	return err;
}

/* ---- state in the home ---- */

static void home_path(const struct recovery *rc, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", rc->home, name);
}

/* recovery.state: "seq entries cur_cap prev_cap" ("-" for no capability). */
static void state_load(struct recovery *rc)
{
	char path[PATH_MAX + 64];
	struct buf b = BUF_INIT;
	home_path(rc, RECOVERY_STATE_FILE, path, sizeof(path));
	if (read_file(path, &b, STATE_MAX) == 0) {
		buf_add(&b, "", 1);
		unsigned long long seq = 0, entries = 0;
		char cur[CAPABILITY_STR_LEN + 1], prev[CAPABILITY_STR_LEN + 1], hash[65] = "";
		if (sscanf(buf_str(&b), "%llu %llu %111s %111s %64s", &seq, &entries, cur, prev,
			   hash) >= 4) {
			if (strlen(hash) != 2 * SHA256_LEN ||
			    hex_decode(rc->table_hash, SHA256_LEN, hash, 2 * SHA256_LEN))
				memset(rc->table_hash, 0, SHA256_LEN);
			rc->min_seq = seq;
			rc->entries = entries;
			snprintf(rc->cur_cap, sizeof(rc->cur_cap), "%s",
				 strcmp(cur, "-") ? cur : "");
			snprintf(rc->prev_cap, sizeof(rc->prev_cap), "%s",
				 strcmp(prev, "-") ? prev : "");
		}
	}
	buf_reset(&b);
	home_path(rc, RECOVERY_RECORD_FILE, path, sizeof(path));
	if (read_file(path, &b, RECOVERY_RECORD_MAX) == 0 &&
	    recovery_record_unpack((const uint8_t *)b.data, b.len, &rc->own) == 0) {
		rc->own_set = 1;
		if (rc->own.seq > rc->min_seq)
			rc->min_seq = rc->own.seq;
	}
	buf_release(&b);
}

static int state_save(const char *home, uint64_t seq, uint64_t entries, const char *cur,
		      const char *prev, const uint8_t hash[SHA256_LEN],
		      const struct recovery_record *rec)
{
	char path[PATH_MAX + 64], text[STATE_MAX], hex[2 * SHA256_LEN + 1];
	hex_encode(hex, hash, SHA256_LEN);
	snprintf(text, sizeof(text), "%llu %llu %s %s %s\n", (unsigned long long)seq,
		 (unsigned long long)entries, cur[0] ? cur : "-", prev[0] ? prev : "-", hex);
	struct buf b = BUF_INIT;
	int err = recovery_record_pack(rec, &b);
	snprintf(path, sizeof(path), "%s/%s", home, RECOVERY_RECORD_FILE);
	if (!err)
		err = write_file_atomic(path, b.data, b.len, 0600);
	buf_release(&b);
	snprintf(path, sizeof(path), "%s/%s", home, RECOVERY_STATE_FILE);
	if (!err)
		err = write_file_atomic(path, text, strlen(text), 0600);
	return err;
}

/* ---- pushing the record ---- */

static void push_to(struct recovery *rc, struct link *l)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__RecoveryRecord m;
	recovery_record_to_pb(&rc->own, &m);
	env.msg_case = SHOAL__ENVELOPE__MSG_RECOVERY_RECORD;
	env.recovery_record = &m;
	link_send(l, &env);
}

static void push_all(struct recovery *rc)
{
	if (!rc->own_set)
		return;
	uint8_t ids[MESH_MEMBERS_MAX][NODE_ID_LEN];
	size_t n = mesh_up_ids(rc->env.mesh, ids, NULL, MESH_MEMBERS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct link *l = member_link(rc->env.mesh, ids[i]);
		if (l)
			push_to(rc, l);
	}
}

void recovery_on_link_up(struct recovery *rc, struct link *l)
{
	if (rc && rc->own_set)
		push_to(rc, l);
}

static void on_push(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	push_all(arg);
}

/* ---- the table upload, on the writer ---- */

struct upload_job {
	struct ops_job job;
	struct recovery *rc;
	/* taken on the loop */
	uint8_t secret[RECOVERY_SECRET_LEN];
	int have_secret; /* else made here, into made_secret */
	uint8_t made_secret[RECOVERY_SECRET_LEN];
	int made;
	uint8_t (*peers)[NODE_ID_LEN];
	size_t npeers;
	uint64_t min_seq;
	char cur_cap[CAPABILITY_STR_LEN + 1], prev_cap[CAPABILITY_STR_LEN + 1];
	uint8_t hash[SHA256_LEN]; /* of the table placed last; then of this one */
	/* results */
	int err;
	int unchanged; /* the same table as placed last: nothing done */
	char new_cap[CAPABILITY_STR_LEN + 1];
	uint64_t entries;
	struct recovery_record rec;
};

struct entries_acc {
	struct recovery_entry *e;
	size_t n, cap;
	char (*names)[NAME_MAX_LEN + 1];
	size_t nnames, names_cap;
	int err;
};

static int collect_name(const struct index_name *nm, void *arg)
{
	struct entries_acc *a = arg;
	if (a->nnames == a->names_cap) {
		size_t c = a->names_cap ? 2 * a->names_cap : 64;
		void *p = realloc(a->names, c * sizeof(*a->names));
		if (!p)
			return a->err = -ENOMEM;
		a->names = p;
		a->names_cap = c;
	}
	snprintf(a->names[a->nnames++], NAME_MAX_LEN + 1, "%s", nm->name);
	return 0;
}

static int collect_version(const struct index_name *v, void *arg)
{
	struct entries_acc *a = arg;
	if (a->n >= RECOVERY_TABLE_ENTRIES_MAX)
		return a->err = SHOAL_ETOOBIG;
	if (a->n == a->cap) {
		size_t c = a->cap ? 2 * a->cap : 64;
		void *p = realloc(a->e, c * sizeof(*a->e));
		if (!p)
			return a->err = -ENOMEM;
		a->e = p;
		a->cap = c;
	}
	struct recovery_entry *e = &a->e[a->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", v->name);
	snprintf(e->cap, sizeof(e->cap), "%.111s", v->cap);
	e->version = v->version;
	e->size = v->size;
	e->created = v->created;
	return 0;
}

/* Every version of every name, by name, each name's oldest first (so a
 * recovery inserts them in order). */
static int table_collect(struct index *ix, struct entries_acc *a)
{
	int err = index_names_foreach(ix, collect_name, a);
	for (size_t i = 0; !err && i < a->nnames; i++) {
		size_t first = a->n;
		err = index_versions_foreach(ix, a->names[i], collect_version, a);
		/* newest first from the index: reverse this name's run */
		for (size_t lo = first, hi = a->n; !err && hi > lo + 1; lo++, hi--) {
			struct recovery_entry t = a->e[lo];
			a->e[lo] = a->e[hi - 1];
			a->e[hi - 1] = t;
		}
	}
	return err ? err : a->err;
}

/* Releases the table cap_text pinned by self (a table no record needs any
 * more). */
static void table_release(struct store *s, const uint8_t self[NODE_ID_LEN], const char *cap_text)
{
	struct capability cap;
	if (!cap_text[0] || capability_parse(&cap, cap_text))
		return;
	if (index_begin(s->index))
		return;
	if (index_pin_remove(s->index, cap.id, self)) {
		index_rollback(s->index);
		return;
	}
	store_commit_releasing(s);
}

static void upload_work(struct ops_job *oj, struct index *ix)
{
	struct upload_job *j = (struct upload_job *)oj;
	struct recovery *rc = j->rc;
	struct store *s = rc->env.store;
	struct entries_acc a = {0};
	struct buf b = BUF_INIT;
	char path[PATH_MAX + 64];
	int fd = -1;
	int err = table_collect(ix, &a);
	if (!err)
		err = recovery_table_pack(a.e, a.n, &b);
	if (err)
		goto out;
	j->entries = a.n;
	/* A node that never had a name has nothing to recover: no table, no
	 * record, no key made, no disk or network touched. */
	if (a.n == 0 && !j->cur_cap[0]) {
		j->unchanged = 1;
		goto out;
	}
	if (!j->have_secret) {
		err = recovery_key_load(rc->home, 1, j->secret);
		if (err)
			goto out;
		memcpy(j->made_secret, j->secret, RECOVERY_SECRET_LEN);
		j->made = 1;
	}
	/* A daemon start, or changes undone, may give the table placed last:
	 * its record stands. */
	uint8_t hash[SHA256_LEN];
	sha256(b.data, b.len, hash);
	if (j->cur_cap[0] && !memcmp(hash, j->hash, SHA256_LEN)) {
		j->unchanged = 1;
		goto out;
	}
	memcpy(j->hash, hash, SHA256_LEN);
	/* A file of its own for the put: unlinked at once, read through fd. */
	fd = create_temp_file(rc->home, ".recovery-table-", 0600, path, sizeof(path));
	if (fd < 0) {
		err = fd;
		goto out;
	}
	err = write_in_full(fd, b.data, b.len);
	close(fd);
	/* Read back through a descriptor of its own (the temp is write-only),
	 * then gone from the directory: nothing is left if the node stops. */
	fd = err ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (!err && fd < 0)
		err = -errno;
	unlink(path);
	if (err)
		goto out;
	unsigned wanted = INDEX_DEFAULT_REPLICAS;
	unsigned want = wanted > j->npeers + 1 ? (unsigned)j->npeers + 1 : wanted;
	struct replicate rp = {
		.remote = rc->env.remote,
		.s = s,
		.peers = (const uint8_t(*)[NODE_ID_LEN])j->peers,
		.npeers = j->npeers,
		.copies = want - 1,
		.wanted = wanted,
	};
	struct files_replica_ops ops;
	replicate_init(&rp, &ops);
	struct capability cap;
	uint64_t size;
	err = files_put_kept(s, fd, rc->self, NULL, &ops, &cap, &size);
	replicate_release(&rp);
	if (!err)
		err = index_copies_want_refs(s->index, cap.id, wanted);
	if (!err && want < wanted)
		err = index_short_refs(s->index, cap.id, want);
	if (err)
		goto out;
	capability_format(&cap, j->new_cap);
	/* The seal and the signature: the seq grows even if the clock does
	 * not. */
	uint64_t now = (uint64_t)time(NULL) * 1000000u;
	uint64_t seq = now > j->min_seq ? now : j->min_seq + 1;
	uint8_t sealed[RECOVERY_SEALED_LEN(CAPABILITY_STR_LEN)], locator[RECOVERY_LOCATOR_LEN];
	size_t cl = strlen(j->new_cap);
	err = recovery_locator(j->secret, locator);
	if (!err)
		err = recovery_seal(j->secret, seq, (const uint8_t *)j->new_cap, cl, sealed);
	if (!err)
		err = recovery_record_sign(rc->key, rc->self, rc->own_der, rc->own_der_len, seq,
					   locator, sealed, RECOVERY_SEALED_LEN(cl), &j->rec);
	if (err)
		goto out;
	/* The table two back goes; the one before this stays for a record
	 * still held somewhere. */
	const char *prev = strcmp(j->cur_cap, j->new_cap) ? j->cur_cap : j->prev_cap;
	if (j->prev_cap[0] && strcmp(j->prev_cap, j->new_cap) && strcmp(j->prev_cap, prev))
		table_release(s, rc->self, j->prev_cap);
	snprintf(j->prev_cap, sizeof(j->prev_cap), "%s", prev);
	err = state_save(rc->home, seq, a.n, j->new_cap, j->prev_cap, j->hash, &j->rec);
out:
	if (fd >= 0)
		close(fd);
	if (err)
		log_warnx("recovery: cannot place the name table: %s", shoal_strerror(err));
	j->err = err;
	buf_release(&b);
	free(a.e);
	free(a.names);
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
}

static void arm_debounce(struct recovery *rc, double seconds)
{
	struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
	evtimer_add(rc->debounce, &tv);
}

static void upload_done(struct ops_job *oj)
{
	struct upload_job *j = (struct upload_job *)oj;
	struct recovery *rc = j->rc;
	rc->uploading = 0;
	if (j->made && !rc->have_secret) {
		memcpy(rc->secret, j->made_secret, RECOVERY_SECRET_LEN);
		rc->have_secret = 1;
	}
	OPENSSL_cleanse(j->made_secret, sizeof(j->made_secret));
	if (j->unchanged) {
		log_debug("recovery: the name table is the one placed last");
	} else if (!j->err) {
		memcpy(rc->table_hash, j->hash, SHA256_LEN);
		rc->own = j->rec;
		rc->own_set = 1;
		rc->min_seq = j->rec.seq;
		rc->entries = j->entries;
		snprintf(rc->cur_cap, sizeof(rc->cur_cap), "%s", j->new_cap);
		snprintf(rc->prev_cap, sizeof(rc->prev_cap), "%s", j->prev_cap);
		log_info("recovery: name table placed (%llu versions), record pushed",
			 (unsigned long long)j->entries);
		push_all(rc);
	} else {
		/* Try again later: the names still are not on the network. */
		rc->dirty = 1;
		arm_debounce(rc, rc->env.delay * 5);
	}
	if (rc->dirty && !j->err)
		arm_debounce(rc, rc->env.delay);
	free(j->peers);
	free(j);
}

static void on_debounce(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct recovery *rc = arg;
	if (rc->uploading || !rc->dirty)
		return;
	struct upload_job *j = calloc(1, sizeof(*j));
	if (!j) {
		arm_debounce(rc, rc->env.delay);
		return;
	}
	j->rc = rc;
	memcpy(j->secret, rc->secret, RECOVERY_SECRET_LEN);
	j->have_secret = rc->have_secret;
	j->peers = calloc(MESH_MEMBERS_MAX, sizeof(*j->peers));
	if (j->peers)
		j->npeers = mesh_up_ids(rc->env.mesh, j->peers, NULL, MESH_MEMBERS_MAX);
	j->min_seq = rc->min_seq;
	snprintf(j->cur_cap, sizeof(j->cur_cap), "%s", rc->cur_cap);
	snprintf(j->prev_cap, sizeof(j->prev_cap), "%s", rc->prev_cap);
	memcpy(j->hash, rc->table_hash, SHA256_LEN);
	rc->dirty = 0;
	rc->uploading = 1;
	ops_submit(rc->env.ops, OPS_BACKGROUND, &j->job, upload_work, upload_done);
}

void recovery_names_changed(struct recovery *rc)
{
	if (!rc || rc->env.delay <= 0)
		return;
	rc->dirty = 1;
	if (!rc->uploading && !evtimer_pending(rc->debounce, NULL))
		arm_debounce(rc, rc->env.delay);
}

int recovery_info(struct recovery *rc, struct recovery_info *out)
{
	memset(out, 0, sizeof(*out));
	/* The CLI makes the key before it asks (recovery_key_load()); the
	 * daemon reads it then, if its first table has not made it yet. */
	if (!rc->have_secret) {
		int err = recovery_key_load(rc->home, 0, rc->secret);
		if (err)
			return err;
		rc->have_secret = 1;
	}
	recovery_key_format(rc->secret, out->key);
	out->pending = rc->dirty || rc->uploading;
	out->seq = rc->own_set ? rc->own.seq : 0;
	out->entries = rc->entries;
	return 0;
}

/* ---- records held for others ---- */

struct persist_job {
	struct ops_job job;
	char path[PATH_MAX + 200];
	struct buf data;
};

static void persist_work(struct ops_job *oj, struct index *ix)
{
	(void)ix;
	struct persist_job *j = (struct persist_job *)oj;
	int err = write_file_atomic(j->path, j->data.data, j->data.len, 0600);
	if (err)
		log_warnx("recovery: cannot keep a record in %s: %s", j->path, shoal_strerror(err));
}

static void persist_done(struct ops_job *oj)
{
	struct persist_job *j = (struct persist_job *)oj;
	buf_release(&j->data);
	free(j);
}

static struct held *held_find(struct recovery *rc, const uint8_t owner[NODE_ID_LEN])
{
	for (size_t i = 0; i < rc->nheld; i++) {
		if (!memcmp(rc->held[i].r.owner, owner, NODE_ID_LEN))
			return &rc->held[i];
	}
	return NULL;
}

void recovery_on_record(struct recovery *rc, struct link *l, const Shoal__RecoveryRecord *m)
{
	struct recovery_record r;
	const char *why = NULL;
	/* The cheap checks first: the same record pushed again (every
	 * RECOVERY_PUSH_SECONDS), or a member replacing its record more than
	 * once a second, costs no signature check and no disk write. */
	struct held *was = held_find(rc, conn_peer_id(l->c));
	double now = monotonic_seconds();
	if (was && (m->seq <= was->r.seq || now - was->at < RECOVERY_REPLACE_SECONDS))
		return;
	if (recovery_record_from_pb(m, &r) || recovery_record_verify(rc->ca, &r, &why)) {
		log_warnx("%s: recovery record refused: %s", conn_remote(l->c),
			  why ? why : "malformed");
		return;
	}
	/* Each member places only its own record: one per member, and no
	 * member can crowd out another's. */
	if (CRYPTO_memcmp(r.owner, conn_peer_id(l->c), NODE_ID_LEN)) {
		log_warnx("%s: recovery record of another node refused", conn_remote(l->c));
		return;
	}
	struct held *h = held_find(rc, r.owner);
	if (h && h->r.seq >= r.seq)
		return;
	if (!h) {
		if (rc->nheld >= RECOVERY_HELD_MAX) {
			log_warnx("%s: recovery record refused: %d held already", conn_remote(l->c),
				  RECOVERY_HELD_MAX);
			return;
		}
		void *p = realloc(rc->held, (rc->nheld + 1) * sizeof(*rc->held));
		if (!p)
			return;
		rc->held = p;
		h = &rc->held[rc->nheld++];
	}
	h->r = r;
	h->at = now;
	struct persist_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	char hex[2 * NODE_ID_LEN + 1];
	hex_encode(hex, r.owner, NODE_ID_LEN);
	snprintf(j->path, sizeof(j->path), "%s/%s/%s", rc->home, RECOVERY_RECORDS_DIR, hex);
	buf_init(&j->data);
	recovery_record_pack(&r, &j->data);
	ops_submit(rc->env.ops, OPS_BACKGROUND, &j->job, persist_work, persist_done);
}

void recovery_on_query(struct recovery *rc, struct link *l, uint64_t request_id,
		       const Shoal__RecoveryQuery *m)
{
	const struct held *best = NULL;
	for (size_t i = 0; i < rc->nheld; i++) {
		const struct held *h = &rc->held[i];
		if (!CRYPTO_memcmp(h->r.locator, m->locator.data, RECOVERY_LOCATOR_LEN) &&
		    (!best || h->r.seq > best->r.seq))
			best = h;
	}
	if (!best) {
		link_send_error(l, request_id, SHOAL__ERROR__CODE__NOT_FOUND, "no such record");
		return;
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__RecoveryRecord pb;
	recovery_record_to_pb(&best->r, &pb);
	env.request_id = request_id;
	env.msg_case = SHOAL__ENVELOPE__MSG_RECOVERY_RECORD;
	env.recovery_record = &pb;
	link_send(l, &env);
}

/* The records kept in home/records/ as they were written: they were checked
 * when they came, and whoever recovers checks them again. */
static void held_load(struct recovery *rc)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/%s", rc->home, RECOVERY_RECORDS_DIR);
	if (mkdir_p(dir, 0700))
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) && rc->nheld < RECOVERY_HELD_MAX) {
		uint8_t owner[NODE_ID_LEN];
		if (strlen(de->d_name) != 2 * NODE_ID_LEN ||
		    hex_decode(owner, NODE_ID_LEN, de->d_name, 2 * NODE_ID_LEN))
			continue;
		char path[PATH_MAX + 300];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct buf b = BUF_INIT;
		struct recovery_record r;
		if (read_file(path, &b, RECOVERY_RECORD_MAX) == 0 &&
		    recovery_record_unpack((const uint8_t *)b.data, b.len, &r) == 0) {
			void *p = realloc(rc->held, (rc->nheld + 1) * sizeof(*rc->held));
			if (p) {
				rc->held = p;
				memcpy(r.owner, owner, NODE_ID_LEN);
				rc->held[rc->nheld++].r = r;
			}
		}
		buf_release(&b);
	}
	closedir(d);
}

/* ---- start and stop ---- */

int recovery_start(struct recovery **out, const struct recovery_env *env)
{
	struct recovery *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->env = *env;
	snprintf(rc->home, sizeof(rc->home), "%s", env->home);
	memcpy(rc->self, env->self, NODE_ID_LEN);
	X509 *own = NULL;
	/* The key is made with the first table (or by `shoal recovery-key`),
	 * not here: a node without names writes nothing at start. */
	int err = recovery_key_load(rc->home, 0, rc->secret);
	if (err && err != -ENOENT) {
		log_error("cannot read %s/%s: %s", rc->home, RECOVERY_KEY_FILE,
			  shoal_strerror(err));
		goto fail;
	}
	rc->have_secret = !err;
	if ((err = identity_load_home(rc->home, &own, &rc->key, &rc->ca)))
		goto fail;
	int len = i2d_X509(own, &rc->own_der);
	X509_free(own);
	if (len <= 0) {
		err = SHOAL_EIDENTITY;
		goto fail;
	}
	rc->own_der_len = (size_t)len;
	state_load(rc);
	held_load(rc);
	rc->debounce = evtimer_new(env->base, on_debounce, rc);
	rc->push = event_new(env->base, -1, EV_PERSIST, on_push, rc);
	if (!rc->debounce || !rc->push) {
		err = -ENOMEM;
		goto fail;
	}
	struct timeval tv = {(time_t)RECOVERY_PUSH_SECONDS, 0};
	event_add(rc->push, &tv);
	/* At every start: names changed offline (or from before this feature,
	 * or none at all: a record is what proves there is nothing) go on the
	 * network; a table unchanged since the last one costs no upload. */
	recovery_names_changed(rc);
	*out = rc;
	return 0;
fail:
	recovery_free(rc);
	return err;
}

void recovery_free(struct recovery *rc)
{
	if (!rc)
		return;
	if (rc->debounce)
		event_free(rc->debounce);
	if (rc->push)
		event_free(rc->push);
	EVP_PKEY_free(rc->key);
	X509_free(rc->ca);
	OPENSSL_free(rc->own_der);
	free(rc->held);
	OPENSSL_cleanse(rc->secret, sizeof(rc->secret));
	free(rc);
}

void recovery_adopt(struct recovery *rc, const uint8_t secret[RECOVERY_SECRET_LEN], uint64_t seq)
{
	memcpy(rc->secret, secret, RECOVERY_SECRET_LEN);
	rc->have_secret = 1;
	if (seq > rc->min_seq)
		rc->min_seq = seq;
	recovery_names_changed(rc);
}

/* ---- shoal recover, on the writer ---- */

/* Asks every peer for the record of locator; keeps the newest that is
 * signed by a member of this network and opens under secret. */
static int find_record(struct recovery *rc, const uint8_t secret[RECOVERY_SECRET_LEN],
		       const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
		       struct recovery_record *best, char cap[CAPABILITY_STR_LEN + 1],
		       struct recovery_result *res)
{
	uint8_t locator[RECOVERY_LOCATOR_LEN];
	int err = recovery_locator(secret, locator);
	if (err)
		return err;
	struct rcall *calls = calloc(npeers ? npeers : 1, sizeof(*calls));
	if (!calls)
		return -ENOMEM;
	struct rqueue q;
	rqueue_init(&q);
	for (size_t i = 0; i < npeers; i++) {
		calls[i].kind = RCALL_RECOVERY;
		memcpy(calls[i].peer, peers[i], NODE_ID_LEN);
		memcpy(calls[i].id, locator, RECOVERY_LOCATOR_LEN);
		calls[i].timeout = RECOVERY_QUERY_TIMEOUT;
		remote_start(rc->env.remote, &calls[i], &q);
	}
	size_t found = 0, bad_sig = 0, bad_seal = 0;
	int have = 0;
	struct rcall *c;
	while ((c = rqueue_wait(&q))) {
		struct recovery_record r;
		const char *why = NULL;
		if (c->err || !c->data)
			goto next;
		found++;
		if (recovery_record_unpack(c->data, c->len, &r) ||
		    CRYPTO_memcmp(r.locator, locator, RECOVERY_LOCATOR_LEN) ||
		    recovery_record_verify(rc->ca, &r, &why)) {
			char sid[NODE_ID_STR_LEN + 1];
			node_id_format(c->peer, sid);
			log_warnx("recover: the record from %.16s is refused: %s", sid,
				  why ? why : "malformed");
			bad_sig++;
			goto next;
		}
		char text[RECOVERY_SEALED_MAX];
		struct capability parsed;
		size_t tl = r.sealed_len - RECOVERY_SEALED_LEN(0);
		if (r.sealed_len < RECOVERY_SEALED_LEN(0) || tl > CAPABILITY_STR_LEN ||
		    recovery_open(secret, r.seq, r.sealed, r.sealed_len, (uint8_t *)text)) {
			bad_seal++;
			goto next;
		}
		text[tl] = 0;
		if (capability_parse(&parsed, text)) {
			bad_seal++;
			goto next;
		}
		if (!have || r.seq > best->seq) {
			*best = r;
			memcpy(cap, text, tl + 1);
			have = 1;
		}
	next:
		free(c->data);
		c->data = NULL;
	}
	rqueue_destroy(&q);
	free(calls);
	if (have)
		return 0;
	if (npeers == 0)
		snprintf(res->why, sizeof(res->why),
			 "no member is up to ask for the recovery record (start the daemon with "
			 "--bootstrap and wait for its peers)");
	else if (found == 0)
		snprintf(res->why, sizeof(res->why),
			 "none of the %zu members up has a recovery record for this key (a "
			 "wrong key, or another network)",
			 npeers);
	else if (bad_sig)
		snprintf(res->why, sizeof(res->why),
			 "the recovery record's signature is bad (%zu of %zu records refused): "
			 "a member altered or forged it",
			 bad_sig, found);
	else
		snprintf(res->why, sizeof(res->why),
			 "the recovery record does not open with this key (%zu records)", bad_seal);
	return found && bad_sig ? SHOAL_EIDENTITY : SHOAL_ENOTFOUND;
}

/* Fetches the table cap into this store and reads it into out. */
static int fetch_table(struct recovery *rc, struct fetch *f, const struct capability *cap,
		       struct buf *out)
{
	uint8_t token[CHUNK_ID_LEN];
	char path[PATH_MAX + 64];
	fetch_get_token(cap->id, token);
	int err = fetch_into(f, cap, token);
	if (err)
		return err;
	int fd = create_temp_file(rc->home, ".recovery-get-", 0600, path, sizeof(path));
	if (fd < 0) {
		fetch_release(f, token);
		return fd;
	}
	close(fd);
	struct files_restore how = {.mode_keep = 0600, .replace = 1};
	err = files_get(rc->env.store, cap, path, &how, NULL, NULL);
	if (!err)
		err = read_file(path, out, RECOVERY_TABLE_MAX);
	unlink(path);
	fetch_release(f, token);
	return err;
}

/* Takes version e over: its chunks fetched and kept by a ref of its
 * manifest, the version bound, its copies wanted. */
static int take_version(struct fetch *f, struct index *ix, const struct recovery_entry *e)
{
	struct capability cap;
	uint8_t token[CHUNK_ID_LEN];
	int err = capability_parse(&cap, e->cap);
	if (!err)
		err = random_bytes(token, sizeof(token));
	if (!err)
		err = fetch_into(f, &cap, token);
	if (err)
		return err;
	struct index_name n = {.size = e->size, .created = e->created, .version = e->version};
	snprintf(n.name, sizeof(n.name), "%s", e->name);
	snprintf(n.cap, sizeof(n.cap), "%s", e->cap);
	memcpy(n.manifest, cap.id, CHUNK_ID_LEN);
	err = index_begin(ix);
	if (err) {
		fetch_release(f, token);
		return err;
	}
	err = index_refs_move(ix, token, cap.id);
	if (!err)
		err = index_pending_set(ix, token, 0);
	if (!err)
		err = index_version_insert(ix, &n);
	if (!err)
		err = index_commit(ix);
	else
		index_rollback(ix);
	if (err) {
		fetch_release(f, token);
		return err;
	}
	return index_copies_want_refs(ix, cap.id, INDEX_DEFAULT_REPLICAS);
}

int recovery_recover_work(struct recovery *rc, struct index *ix,
			  const uint8_t secret[RECOVERY_SECRET_LEN],
			  const uint8_t (*peers)[NODE_ID_LEN], size_t npeers,
			  struct progress *progress, struct recovery_result *res)
{
	struct recovery_record rec = {0};
	char cap_text[CAPABILITY_STR_LEN + 1];
	struct recovery_entry *e = NULL;
	size_t n = 0;
	struct buf table = BUF_INIT;
	int err = find_record(rc, secret, peers, npeers, &rec, cap_text, res);
	if (err)
		return err;
	res->seq = rec.seq;
	memcpy(res->owner, rec.owner, NODE_ID_LEN);
	struct capability cap;
	capability_parse(&cap, cap_text);
	struct fetch f = {
		.r = rc->env.remote,
		.s = rc->env.store,
		.ix = ix,
		.peers = peers,
		.npeers = npeers,
	};
	err = fetch_table(rc, &f, &cap, &table);
	if (!err)
		err = recovery_table_unpack((const uint8_t *)table.data, table.len, &e, &n);
	if (err) {
		snprintf(res->why, sizeof(res->why), "the name table cannot be fetched: %s%s%s",
			 shoal_strerror(err), f.why[0] ? ": " : "", f.why);
		goto out;
	}
	log_info("recover: record %llu, table of %zu versions", (unsigned long long)rec.seq, n);
	if (progress) {
		progress->total = n;
		progress_add(progress, 0);
	}
	/* Entries come by name, each name's versions together; a name this
	 * node has already is left as it is, all its versions with it, unless
	 * it is one an interrupted recovery began (its newest version is one
	 * of the table's): then the versions still missing are added. */
	const char *name = NULL;
	int skip = 0;
	for (size_t i = 0; i < n; i++) {
		if (!name || strcmp(name, e[i].name)) {
			struct index_name have;
			name = e[i].name;
			skip = index_name_get(ix, name, &have) == 0;
			for (size_t k = i; skip && k < n && !strcmp(e[k].name, name); k++)
				skip = strcmp(e[k].cap, have.cap) != 0;
			if (skip)
				res->skipped++;
			else
				res->names++;
		}
		if (!skip) {
			struct fetch fv = f;
			fv.progress = NULL;
			fv.chunks = fv.fetched = 0;
			fv.why[0] = 0;
			err = take_version(&fv, ix, &e[i]);
			if (err == SHOAL_EEXIST)
				err = 0;
			if (err) {
				snprintf(res->why, sizeof(res->why),
					 "cannot take over version %u of %.255s: %s%s%.200s",
					 e[i].version, e[i].name, shoal_strerror(err),
					 fv.why[0] ? ": " : "", fv.why);
				goto out;
			}
			res->versions++;
			res->chunks += fv.chunks;
			res->fetched += fv.fetched;
		}
		if (progress) {
			progress_add(progress, 1);
			if (progress_cancelled(progress)) {
				err = -EINTR;
				snprintf(res->why, sizeof(res->why), "recover interrupted");
				goto out;
			}
		}
	}
	/* The secret is this node's from now on: the same key finds both
	 * sets of names. */
	char text[RECOVERY_KEY_STR_LEN + 2], path[PATH_MAX + 64];
	recovery_key_format(secret, text);
	strcat(text, "\n");
	snprintf(path, sizeof(path), "%s/%s", rc->home, RECOVERY_KEY_FILE);
	err = write_file_atomic(path, text, strlen(text), 0600);
	OPENSSL_cleanse(text, sizeof(text));
	if (err)
		snprintf(res->why, sizeof(res->why), "cannot write %.400s: %s", path,
			 shoal_strerror(err));
out:
	free(e);
	buf_release(&table);
	return err;
}
