/*
 * The network catalog on the loop thread: the entries, the gossip that
 * replicates them and home/catalog; see catalog.h.
 *
 * Entries live in records allocated one by one and listed, in order of
 * arrival, in an array that only grows (an entry replaced by a newer one for
 * the same owner and name keeps its record), so an index into it is a stable
 * cursor for a whole-catalog send in progress. A hash table on the name finds
 * a record by (owner, name) and the entries of a name. Owner certificates are
 * shared by their entries and remembered once verified (for CERT_RECHECK
 * seconds), so an entry we already hold costs a SHA-256 and a lookup, not a
 * certificate and signature verification: whole-catalog exchanges between
 * members that agree stay cheap.
 */
#include "node/catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "crypto/hash.h"
#include "net/frame.h"
#include "net/wire.h"
#include "proto/catalog.h"
#include "proto/catlog.h"
#include "proto/name.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"

_Static_assert(CATALOG_CERT_MAX == WIRE_CERT_MAX, "catalog and wire certificate limits agree");
_Static_assert(CATALOG_SIG_LEN == WIRE_SIG_LEN, "catalog and wire signature lengths agree");
_Static_assert(NAME_MAX_LEN <= 255 && CAPABILITY_STR_LEN <= 255, "entries fit the wire limits");

#define SAVE_INTERVAL 2.0
/* A remembered certificate is verified against the CA again after this long
 * (it may have expired meanwhile). */
#define CERT_RECHECK 600.0
/* A whole-catalog send queues frames only while the connection holds less
 * than this: well below CONN_OUT_HIGH, where the connection would stop
 * reading (two members sending each other their catalogs must never both
 * stop reading). */
#define SYNC_OUT_BUDGET ((size_t)2 * 1024 * 1024)
/* Bytes of entries per CatalogDelta frame: well under FRAME_HEADER_MAX. */
#define DELTA_BYTES_MAX (FRAME_HEADER_MAX / 2)
/* After asking a member for everything, wait this long (doubling while our
 * digests keep differing) before asking it again. */
#define REQUEST_BACKOFF_MAX 300.0
/* Lines about dropped entries per second; the rest are counted. */
#define BAD_LINES_PER_SECOND 10
#define FULL_LOG_INTERVAL    60.0
/* The old home/catalog at its largest: every entry with the largest
 * certificate, name and capability, with room for protobuf's tags. */
#define CATALOG_FILE_MAX \
	((size_t)65536 * (CATALOG_CERT_MAX + NAME_MAX_LEN + CAPABILITY_STR_LEN + 128))
/* home/catalog.log at its largest: compaction keeps it under three records
 * per entry (see log_maybe()). */
#define CATALOG_LOG_MAX ((size_t)CATALOG_ENTRIES_MAX * 3 * CATLOG_RECORD_MAX)
/* Rewrite the log once it holds this many records more than twice the
 * catalog's. */
#define COMPACT_SLACK 1024
/* How often removals past CATALOG_TOMBSTONE_DAYS are looked for. */
#define PURGE_INTERVAL 60.0
#define DAY_US	       ((int64_t)86400 * 1000000)
#define BUCKETS_MIN    1024
/* A name quoted in a log line: at most this many bytes of it. */
#define LOG_NAME_MAX 64

/* An owner certificate, shared by the entries that carry it. */
struct cat_cert {
	uint8_t key[SHA256_LEN]; /* SHA-256 of der: the table's order */
	uint8_t *der;
	size_t len;
	X509 *x509;
	uint8_t owner[NODE_ID_LEN];
	char nickname[NICKNAME_MAX + 1]; /* the owner's, from the certificate */
	double checked_at;		 /* monotonic_seconds() of its last verification */
	size_t refs;			 /* records using it; 0 only while an entry is checked */
};

struct cat_rec {
	struct catalog_entry e; /* e.name owned; e.cert borrowed from cert->der */
	struct cat_cert *cert;
	struct cat_rec *hnext; /* hash chain */
};

/* Entries an owner has in the catalog, removals included (cat->owners,
 * sorted by id), and when its budget was last logged. */
struct cat_owner {
	uint8_t id[NODE_ID_LEN];
	size_t count;
	double log_at;
	unsigned quiet;
};

/* Where an entry comes from: it decides the checks it gets. */
enum intake {
	FROM_WIRE, /* a member sent it: every check, and the clock's */
	FROM_FILE, /* our own log: checked when it arrived, its certificate again */
	FROM_SELF, /* we signed it */
};

/* What the catalog knows of a member, kept by node id (in cat->peers, one
 * for every member that has had an established link). */
struct cat_peer {
	uint8_t id[NODE_ID_LEN];
	uint64_t sync_serial; /* link receiving our whole catalog, 0 when none */
	size_t sync_next;     /* index in recs of the next entry to send it */
	double next_request;  /* earliest time to send it a CatalogRequest */
	double request_backoff;
};

/* A write of home/catalog.log on a worker: records appended, or (rewrite)
 * the whole log written anew. */
struct save_job {
	struct lw_job lw;
	struct catalog *cat; /* NULL once the catalog closed without it */
	char path[PATH_MAX + 16];
	uint8_t *data;
	size_t len;
	int rewrite;
	size_t records; /* in data */
	int err;
	atomic_int finished; /* set by the worker once err is final */
};

struct catalog {
	struct mesh *mesh;
	const struct revocations *rv; /* (may be NULL) owners whose entries are refused */
	const struct config *cfg;
	struct loopwork *lw;
	struct pool *pool;
	X509 *ca;
	EVP_PKEY *key;
	uint8_t *own_der; /* our certificate, DER (OPENSSL_malloc) */
	size_t own_der_len;
	uint8_t self[NODE_ID_LEN];
	char path[PATH_MAX + 16];     /* home/catalog.log */
	char old_path[PATH_MAX + 16]; /* home/catalog, the whole-file format before it */

	struct cat_rec **recs; /* every record, in order of arrival */
	size_t count, recs_cap;
	size_t live; /* records that are not removals */
	struct cat_rec **buckets;
	size_t nbuckets; /* a power of two */
	uint64_t seed;
	struct cat_cert **certs; /* sorted by key */
	size_t ncerts, certs_cap;
	uint8_t digest[SHA256_LEN]; /* XOR of every record's hash */
	struct cat_owner *owners;   /* sorted by id */
	size_t nowners, owners_cap;

	struct cat_peer *peers;
	size_t npeers, peers_cap;
	double last_digest;
	struct buf pending;	/* records not yet appended to the log */
	size_t pending_records; /* in pending */
	size_t log_records;	/* in the log on disk (appended or rewritten) */
	int rewrite;		/* the log must be written anew */
	double last_save, last_purge;
	struct save_job *saving;
	double bad_window; /* start of the current second of bad-entry lines */
	unsigned bad_lines, bad_quiet;
	double full_log_at;
	unsigned full_quiet;
};

/* ---- small helpers ---- */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The name's hash: FNV-1a from a random seed, then a final mix, so that
 * members cannot choose names that collide on purpose. */
static uint64_t name_hash(const struct catalog *cat, const char *name)
{
	uint64_t h = cat->seed ^ 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static void digest_xor(struct catalog *cat, const struct catalog_entry *e)
{
	uint8_t h[SHA256_LEN];
	catalog_entry_hash(e, h);
	for (size_t i = 0; i < SHA256_LEN; i++)
		cat->digest[i] ^= h[i];
}

/* A name from the wire, fit for a log line: printable ASCII, bounded. */
static void log_name(const char *name, char out[LOG_NAME_MAX + 4])
{
	size_t i = 0;
	for (; name && name[i] && i < LOG_NAME_MAX; i++) {
		unsigned char ch = (unsigned char)name[i];
		out[i] = ch >= 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '?';
	}
	if (name && name[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = 0;
}

static void log_bad(struct catalog *cat, struct link *l, const char *name, const char *why)
{
	char shown[LOG_NAME_MAX + 4];
	double now = monotonic_seconds();
	if (now - cat->bad_window >= 1.0) {
		cat->bad_window = now;
		cat->bad_lines = 0;
	}
	if (cat->bad_lines >= BAD_LINES_PER_SECOND) {
		cat->bad_quiet++;
		return;
	}
	cat->bad_lines++;
	log_name(name, shown);
	if (cat->bad_quiet) {
		log_warnx("%s: dropped catalog entry \"%s\": %s (and %u more dropped before)",
			  conn_remote(l->c), shown, why, cat->bad_quiet);
		cat->bad_quiet = 0;
	} else {
		log_warnx("%s: dropped catalog entry \"%s\": %s", conn_remote(l->c), shown, why);
	}
}

static void log_full(struct catalog *cat)
{
	double now = monotonic_seconds();
	if (cat->full_log_at > 0 && now - cat->full_log_at < FULL_LOG_INTERVAL) {
		cat->full_quiet++;
		return;
	}
	if (cat->full_quiet)
		log_warnx("catalog full (%d entries): refusing new entries (%u more refused "
			  "since the last line)",
			  CATALOG_ENTRIES_MAX, cat->full_quiet);
	else
		log_warnx("catalog full (%d entries): refusing new entries", CATALOG_ENTRIES_MAX);
	cat->full_log_at = now;
	cat->full_quiet = 0;
}

/* ---- certificates ---- */

/* Finds the certificate with key; *pos is where it is or would go. */
static struct cat_cert *cert_find(struct catalog *cat, const uint8_t key[SHA256_LEN], size_t *pos)
{
	size_t lo = 0, hi = cat->ncerts;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(cat->certs[mid]->key, key, SHA256_LEN);
		if (c == 0) {
			*pos = mid;
			return cat->certs[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

static void cert_free(struct cat_cert *c)
{
	if (!c)
		return;
	X509_free(c->x509);
	free(c->der);
	free(c);
}

/* Forgets c if no record uses it. NULL is fine. */
static void cert_drop_unused(struct catalog *cat, struct cat_cert *c)
{
	size_t pos;
	if (!c || c->refs || cert_find(cat, c->key, &pos) != c)
		return;
	memmove(cat->certs + pos, cat->certs + pos + 1,
		(cat->ncerts - pos - 1) * sizeof(cat->certs[0]));
	cat->ncerts--;
	cert_free(c);
}

/*
 * The verified certificate der[0..len): remembered, or checked against the CA
 * now and remembered (with no record using it yet: the caller drops it with
 * cert_drop_unused() when it stays unused). Returns 0 with *out set, or the
 * error of catalog_cert_check() (or -ENOMEM).
 */
static int cert_get(struct catalog *cat, const uint8_t *der, size_t len, double now,
		    struct cat_cert **out)
{
	uint8_t key[SHA256_LEN], owner[NODE_ID_LEN];
	size_t pos;
	X509 *x = NULL;
	int err;

	sha256(der, len, key);
	struct cat_cert *c = cert_find(cat, key, &pos);
	if (c && now - c->checked_at < CERT_RECHECK) {
		*out = c;
		return 0;
	}
	err = catalog_cert_check(cat->ca, der, len, &x, owner);
	if (err)
		return err;
	if (c) {
		/* Same bytes, same certificate: only its standing was rechecked. */
		X509_free(x);
		c->checked_at = now;
		*out = c;
		return 0;
	}
	if (cat->ncerts == cat->certs_cap) {
		size_t cap = cat->certs_cap ? cat->certs_cap * 2 : 16;
		struct cat_cert **grown = realloc(cat->certs, cap * sizeof(*grown));
		if (!grown)
			goto nomem;
		cat->certs = grown;
		cat->certs_cap = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->der = malloc(len))) {
		free(c);
		goto nomem;
	}
	memcpy(c->key, key, SHA256_LEN);
	memcpy(c->der, der, len);
	c->len = len;
	c->x509 = x;
	memcpy(c->owner, owner, NODE_ID_LEN);
	identity_cert_nickname(x, c->nickname);
	c->checked_at = now;
	memmove(cat->certs + pos + 1, cat->certs + pos,
		(cat->ncerts - pos) * sizeof(cat->certs[0]));
	cat->certs[pos] = c;
	cat->ncerts++;
	*out = c;
	return 0;
nomem:
	X509_free(x);
	return -ENOMEM;
}

/* ---- owners ---- */

/* The owner id, or where it would go (*pos), in cat->owners. */
static struct cat_owner *owner_find(struct catalog *cat, const uint8_t id[NODE_ID_LEN], size_t *pos)
{
	size_t lo = 0, hi = cat->nowners;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(cat->owners[mid].id, id, NODE_ID_LEN);
		if (c == 0) {
			*pos = mid;
			return &cat->owners[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

/* The owner id's slot, made with a count of 0 when new; NULL without memory. */
static struct cat_owner *owner_get(struct catalog *cat, const uint8_t id[NODE_ID_LEN])
{
	size_t pos;
	struct cat_owner *o = owner_find(cat, id, &pos);
	if (o)
		return o;
	if (cat->nowners == cat->owners_cap) {
		size_t cap = cat->owners_cap ? cat->owners_cap * 2 : 16;
		struct cat_owner *grown = realloc(cat->owners, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		cat->owners = grown;
		cat->owners_cap = cap;
	}
	memmove(cat->owners + pos + 1, cat->owners + pos,
		(cat->nowners - pos) * sizeof(cat->owners[0]));
	o = &cat->owners[pos];
	memset(o, 0, sizeof(*o));
	memcpy(o->id, id, NODE_ID_LEN);
	cat->nowners++;
	return o;
}

/* One line per owner a minute when its budget refuses entries. */
static void log_budget(struct cat_owner *o)
{
	double now = monotonic_seconds();
	char id[NODE_ID_STR_LEN + 1];
	if (o->log_at > 0 && now - o->log_at < FULL_LOG_INTERVAL) {
		o->quiet++;
		return;
	}
	node_id_format(o->id, id);
	log_warnx("catalog: member %.16s has %zu entries, its limit (catalog_per_member): "
		  "refusing more (%u refused since the last line)",
		  id, o->count, o->quiet + 1);
	o->log_at = now;
	o->quiet = 0;
}

/* ---- records ---- */

static struct cat_rec *rec_find(struct catalog *cat, const uint8_t owner[NODE_ID_LEN],
				const char *name)
{
	struct cat_rec *r = cat->buckets[name_hash(cat, name) & (cat->nbuckets - 1)];
	for (; r; r = r->hnext) {
		if (!memcmp(r->e.owner, owner, NODE_ID_LEN) && !strcmp(r->e.name, name))
			return r;
	}
	return NULL;
}

static void rec_link(struct catalog *cat, struct cat_rec *r)
{
	struct cat_rec **b = &cat->buckets[name_hash(cat, r->e.name) & (cat->nbuckets - 1)];
	r->hnext = *b;
	*b = r;
}

/* Keeps the chains short: one bucket per record at least. Failing to grow
 * only makes the chains longer. */
static void buckets_grow(struct catalog *cat)
{
	if (cat->count < cat->nbuckets)
		return;
	size_t nb = cat->nbuckets * 2;
	struct cat_rec **b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	free(cat->buckets);
	cat->buckets = b;
	cat->nbuckets = nb;
	for (size_t i = 0; i < cat->count; i++)
		rec_link(cat, cat->recs[i]);
}

/* Queues r's entry for the log (an entry too large for a record, which the
 * wire's limits rule out, waits for the next rewrite). */
static void log_record(struct catalog *cat, const struct cat_rec *r)
{
	Shoal__CatalogEntry m;
	uint8_t packed[CATLOG_PAYLOAD_MAX];
	catalog_entry_to_pb(&r->e, &m);
	size_t len = shoal__catalog_entry__get_packed_size(&m);
	if (len > sizeof(packed)) {
		cat->rewrite = 1;
		return;
	}
	shoal__catalog_entry__pack(&m, packed);
	if (catlog_append(&cat->pending, packed, len) == 0)
		cat->pending_records++;
}

/*
 * Stores the checked entry e (whose owner is set) as carried by cert: over
 * old, the record for the same (owner, name), or as a new record of owner o.
 * Takes e->name for a new record (e stays the caller's to release). Queues
 * the entry for the log unless it came from there (logged 0). Returns the
 * record, or NULL when memory ran out (nothing changed).
 */
static struct cat_rec *rec_store(struct catalog *cat, struct cat_rec *old, struct catalog_entry *e,
				 struct cat_cert *cert, struct cat_owner *o, int logged)
{
	struct cat_rec *r = old;
	if (!r) {
		if (cat->count == cat->recs_cap) {
			size_t cap = cat->recs_cap ? cat->recs_cap * 2 : 64;
			struct cat_rec **grown = realloc(cat->recs, cap * sizeof(*grown));
			if (!grown)
				return NULL;
			cat->recs = grown;
			cat->recs_cap = cap;
		}
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		r->e.name = e->name;
		e->name = NULL;
		memcpy(r->e.owner, e->owner, NODE_ID_LEN);
		cat->recs[cat->count++] = r;
		rec_link(cat, r);
		buckets_grow(cat);
		o->count++;
	} else {
		digest_xor(cat, &r->e);
		if (!r->e.removed)
			cat->live--;
	}
	if (r->cert != cert) {
		struct cat_cert *prev = r->cert;
		cert->refs++;
		r->cert = cert;
		if (prev) {
			prev->refs--;
			cert_drop_unused(cat, prev);
		}
	}
	r->e.size = e->size;
	memcpy(r->e.cap, e->cap, sizeof(r->e.cap));
	r->e.time_us = e->time_us;
	r->e.removed = e->removed ? 1 : 0;
	memcpy(r->e.sig, e->sig, CATALOG_SIG_LEN);
	r->e.cert = cert->der;
	r->e.cert_len = cert->len;
	digest_xor(cat, &r->e);
	if (!r->e.removed)
		cat->live++;
	if (!logged)
		log_record(cat, r);
	return r;
}

static void rec_free(struct cat_rec *r)
{
	free(r->e.name);
	free(r);
}

/*
 * Takes in an entry from where (released here in every case). An entry no
 * newer than the one we hold for its (owner, name) changes nothing and is not
 * checked further. Entries from the wire dated more than CATALOG_FUTURE_SECONDS
 * past our clock are refused, and so are removals from it older than
 * CATALOG_TOMBSTONE_DAYS that remove nothing here (we may have forgotten them
 * already); entries from our own log are not signature-checked again (their
 * certificates are). Returns
 * 0 with *out = the record when the catalog changed, 0 with *out = NULL when
 * it did not, SHOAL_ETOOBIG when the catalog or the owner's budget is full
 * (*budget, when not NULL, set to the owner's slot for the latter), or the
 * error that refused the entry with *why set.
 */
static int entry_take(struct catalog *cat, struct catalog_entry *e, enum intake where, double now,
		      const char **why, struct cat_rec **out, struct cat_owner **budget)
{
	struct cat_cert *cert = NULL;
	struct cat_rec *old;
	struct cat_owner *o = NULL;
	int err = 0;

	*out = NULL;
	if (budget)
		*budget = NULL;
	if (where == FROM_WIRE &&
	    e->time_us > now_us() + (int64_t)CATALOG_FUTURE_SECONDS * 1000000) {
		*why = "dated in the future";
		err = SHOAL_EPROTO;
		goto out;
	}
	err = cert_get(cat, e->cert, e->cert_len, now, &cert);
	if (err) {
		*why = err == -ENOMEM ? "out of memory"
				      : "certificate not issued by this network (or expired)";
		goto out;
	}
	memcpy(e->owner, cert->owner, NODE_ID_LEN);
	if (cat->rv && revocations_find(cat->rv, e->owner)) {
		*why = "its owner was revoked";
		err = SHOAL_EIDENTITY;
		goto out;
	}
	old = rec_find(cat, e->owner, e->name);
	/* Ties keep the entry we have. */
	if (old && old->e.time_us >= e->time_us)
		goto out;
	/* A removal past its retention is news only when it removes something
	 * (and is then forgotten at the next purge). */
	if (where == FROM_WIRE && e->removed && !old &&
	    e->time_us < now_us() - CATALOG_TOMBSTONE_DAYS * DAY_US)
		goto out;
	if (!old) {
		if (cat->count >= CATALOG_ENTRIES_MAX) {
			*why = "catalog full";
			err = SHOAL_ETOOBIG;
			goto out;
		}
		o = owner_get(cat, e->owner);
		if (!o) {
			*why = "out of memory";
			err = -ENOMEM;
			goto out;
		}
		if (o->count >= cat->cfg->catalog_per_member) {
			*why = "the member's budget of entries is spent";
			if (budget)
				*budget = o;
			err = SHOAL_ETOOBIG;
			goto out;
		}
	}
	if (where != FROM_FILE) {
		err = catalog_entry_check_signed(cert->x509, e, why);
		if (err)
			goto out;
	}
	*out = rec_store(cat, old, e, cert, o, where == FROM_FILE);
	if (!*out) {
		*why = "out of memory";
		err = -ENOMEM;
	}
out:
	cert_drop_unused(cat, cert);
	catalog_entry_release(e);
	return err;
}

/* Forgets r (a removal past its retention, about to leave cat->recs): hash
 * chain, digest, owner count and certificate. */
static void rec_forget(struct catalog *cat, struct cat_rec *r)
{
	struct cat_rec **b = &cat->buckets[name_hash(cat, r->e.name) & (cat->nbuckets - 1)];
	while (*b != r)
		b = &(*b)->hnext;
	*b = r->hnext;
	digest_xor(cat, &r->e);
	if (!r->e.removed)
		cat->live--;
	size_t pos;
	struct cat_owner *o = owner_find(cat, r->e.owner, &pos);
	if (o && o->count)
		o->count--;
	r->cert->refs--;
	cert_drop_unused(cat, r->cert);
	free(r->e.name);
	free(r);
}

/* Drops the records gone() says go (removals past their retention, the
 * entries of a revoked owner) in one pass over cat->recs, moving the
 * cursors of whole-catalog sends in progress with the records; the log is
 * then rewritten without them. Returns how many went. */
static size_t purge(struct catalog *cat, int (*gone)(const struct cat_rec *r, const void *arg),
		    const void *arg)
{
	size_t kept = 0;
	for (size_t i = 0; i < cat->count; i++) {
		struct cat_rec *r = cat->recs[i];
		if (gone(r, arg)) {
			/* A send whose cursor was past this record steps back over
			 * it: the cursor, less the i - kept records gone before,
			 * was greater than i. */
			for (size_t k = 0; k < cat->npeers; k++) {
				struct cat_peer *p = &cat->peers[k];
				if (p->sync_serial && p->sync_next + (i - kept) > i)
					p->sync_next--;
			}
			rec_forget(cat, r);
		} else {
			cat->recs[kept++] = r;
		}
	}
	size_t purged = cat->count - kept;
	cat->count = kept;
	if (purged)
		cat->rewrite = 1;
	return purged;
}

static int removal_expired(const struct cat_rec *r, const void *before)
{
	return r->e.removed && r->e.time_us < *(const int64_t *)before;
}

/* Drops the removals older than CATALOG_TOMBSTONE_DAYS. */
static size_t purge_removals(struct catalog *cat)
{
	int64_t before = now_us() - CATALOG_TOMBSTONE_DAYS * DAY_US;
	size_t purged = purge(cat, removal_expired, &before);
	if (purged)
		log_info("catalog: forgot %zu removals older than %d days", purged,
			 CATALOG_TOMBSTONE_DAYS);
	return purged;
}

static int owned_by(const struct cat_rec *r, const void *owner)
{
	return !memcmp(r->e.owner, owner, NODE_ID_LEN);
}

size_t catalog_drop_owner(struct catalog *cat, const uint8_t owner[NODE_ID_LEN])
{
	size_t dropped = purge(cat, owned_by, owner);
	if (dropped) {
		char sid[17];
		log_info("catalog: dropped %zu entries of revoked node %s", dropped,
			 short_node_id(owner, sid));
	}
	return dropped;
}

/* ---- sending ---- */

/* Sends one CatalogDelta with the first of recs[0..count) (count >= 1) that
 * fit in a frame; returns how many it took (at least one). */
static size_t send_batch(struct link *l, struct cat_rec *const *recs, size_t count)
{
	Shoal__CatalogEntry items[WIRE_CATALOG_MAX];
	Shoal__CatalogEntry *ptrs[WIRE_CATALOG_MAX];
	size_t k = 0, bytes = 0;
	while (k < count && k < WIRE_CATALOG_MAX) {
		catalog_entry_to_pb(&recs[k]->e, &items[k]);
		/* The entry, and its tag and length in the delta. */
		size_t size = shoal__catalog_entry__get_packed_size(&items[k]) + 8;
		if (k > 0 && bytes + size > DELTA_BYTES_MAX)
			break;
		bytes += size;
		ptrs[k] = &items[k];
		k++;
	}
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__CatalogDelta d = SHOAL__CATALOG_DELTA__INIT;
	d.n_entries = k;
	d.entries = ptrs;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_DELTA;
	env.catalog_delta = &d;
	link_send(l, &env);
	return k;
}

static void send_all(struct link *l, struct cat_rec *const *recs, size_t count)
{
	for (size_t i = 0; i < count;)
		i += send_batch(l, recs + i, count - i);
}

/* Sends recs[0..count) to every up member but except (may be NULL). */
static void flood(struct catalog *cat, struct cat_rec *const *recs, size_t count,
		  const struct member *except)
{
	struct mesh *mesh = cat->mesh;
	if (!count)
		return;
	for (unsigned i = 0; i < mesh->nmembers; i++) {
		struct member *m = &mesh->members[i];
		if (m != except && m->state == MEMBER_UP && link_usable(m->link))
			send_all(m->link, recs, count);
	}
}

/* What we keep for l's member (created on first use); NULL when l is no
 * member's link or out of memory. */
static struct cat_peer *peer_of(struct catalog *cat, const struct link *l)
{
	if (!l->member)
		return NULL;
	for (size_t i = 0; i < cat->npeers; i++) {
		if (!memcmp(cat->peers[i].id, l->member->id, NODE_ID_LEN))
			return &cat->peers[i];
	}
	if (cat->npeers == cat->peers_cap) {
		size_t cap = cat->peers_cap ? 2 * cat->peers_cap : 16;
		void *p = realloc(cat->peers, cap * sizeof(*cat->peers));
		if (!p)
			return NULL;
		cat->peers = p;
		cat->peers_cap = cap;
	}
	struct cat_peer *p = &cat->peers[cat->npeers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->id, l->member->id, NODE_ID_LEN);
	return p;
}

/* Sends the next part of a whole-catalog send to p, as much as the
 * connection takes without filling up; forgets the send once it is done or
 * its link is gone. */
static void sync_pump(struct catalog *cat, struct cat_peer *p)
{
	if (!p->sync_serial)
		return;
	struct link *l = link_find(cat->mesh, p->sync_serial);
	if (!link_usable(l) || memcmp(l->member->id, p->id, NODE_ID_LEN)) {
		p->sync_serial = 0;
		return;
	}
	while (p->sync_next < cat->count) {
		if (conn_congested(l->c) || conn_output_len(l->c) >= SYNC_OUT_BUDGET)
			return;
		p->sync_next += send_batch(l, cat->recs + p->sync_next, cat->count - p->sync_next);
	}
	p->sync_serial = 0;
}

static void sync_start(struct catalog *cat, struct link *l)
{
	struct cat_peer *p = peer_of(cat, l);
	if (!p)
		return;
	p->sync_serial = l->serial;
	p->sync_next = 0;
	sync_pump(cat, p);
}

static void send_digest(struct catalog *cat, struct link *l)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__CatalogDigest d = SHOAL__CATALOG_DIGEST__INIT;
	d.count = (uint32_t)cat->count;
	d.digest.data = cat->digest;
	d.digest.len = SHA256_LEN;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_DIGEST;
	env.catalog_digest = &d;
	link_send(l, &env);
}

static void send_request(struct link *l)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__CatalogRequest r = SHOAL__CATALOG_REQUEST__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_REQUEST;
	env.catalog_request = &r;
	link_send(l, &env);
}

/* ---- incoming ---- */

static void on_delta(struct catalog *cat, struct link *l, const Shoal__CatalogDelta *d)
{
	struct cat_rec *changed[WIRE_CATALOG_MAX];
	size_t nchanged = 0;
	double now = monotonic_seconds();
	for (size_t i = 0; i < d->n_entries && i < WIRE_CATALOG_MAX; i++) {
		const Shoal__CatalogEntry *m = d->entries[i];
		struct catalog_entry e;
		struct cat_rec *r = NULL;
		struct cat_owner *budget = NULL;
		const char *why = "malformed";
		if (!m)
			continue;
		int err = catalog_entry_from_pb(m, &e, &why);
		if (!err)
			err = entry_take(cat, &e, FROM_WIRE, now, &why, &r, &budget);
		if (err == SHOAL_ETOOBIG && budget)
			log_budget(budget);
		else if (err == SHOAL_ETOOBIG)
			log_full(cat);
		else if (err)
			log_bad(cat, l, m->name, why);
		else if (r)
			changed[nchanged++] = r;
	}
	flood(cat, changed, nchanged, l->member);
}

static void on_digest(struct catalog *cat, struct link *l, const Shoal__CatalogDigest *d)
{
	struct cat_peer *p = peer_of(cat, l);
	double now = monotonic_seconds();
	if (!p)
		return;
	if (d->count == cat->count && d->digest.len == SHA256_LEN &&
	    !memcmp(d->digest.data, cat->digest, SHA256_LEN)) {
		p->request_backoff = 0;
		return;
	}
	/* While we are still sending it everything, its digest cannot match;
	 * what it has that we lack shows once that is done. */
	if (p->sync_serial == l->serial || now < p->next_request)
		return;
	send_request(l);
	double base = 2 * cat->cfg->gossip_interval;
	p->request_backoff = p->request_backoff > 0 ? p->request_backoff * 2 : base;
	if (p->request_backoff > REQUEST_BACKOFF_MAX)
		p->request_backoff = REQUEST_BACKOFF_MAX;
	p->next_request = now + p->request_backoff;
}

static void on_request(struct catalog *cat, struct link *l)
{
	struct cat_peer *p = peer_of(cat, l);
	/* A send already under way to this link covers the request. */
	if (!p || p->sync_serial == l->serial)
		return;
	sync_start(cat, l);
}

void catalog_on_frame(struct catalog *cat, struct link *l, const Shoal__Envelope *env)
{
	if (!cat || !l || !env || !link_usable(l))
		return;
	switch (env->msg_case) {
	case SHOAL__ENVELOPE__MSG_CATALOG_DELTA:
		if (env->catalog_delta)
			on_delta(cat, l, env->catalog_delta);
		break;
	case SHOAL__ENVELOPE__MSG_CATALOG_DIGEST:
		if (env->catalog_digest)
			on_digest(cat, l, env->catalog_digest);
		break;
	case SHOAL__ENVELOPE__MSG_CATALOG_REQUEST:
		on_request(cat, l);
		break;
	default:
		break;
	}
}

void catalog_on_link_up(struct catalog *cat, struct link *l)
{
	if (!cat || !link_usable(l))
		return;
	struct cat_peer *p = peer_of(cat, l);
	if (!p)
		return;
	p->request_backoff = 0;
	p->next_request = 0;
	sync_start(cat, l);
}

/* ---- publishing ---- */

/* Signs and stores an entry of ours, then floods it. */
static int publish_entry(struct catalog *cat, const char *name, uint64_t size, const char *cap,
			 int64_t time_us, int removed)
{
	struct catalog_entry e;
	struct cat_rec *r;
	const char *why = NULL;
	int err = catalog_entry_sign(cat->key, cat->own_der, cat->own_der_len, name, size, cap,
				     time_us, removed, &e);
	if (err)
		return err;
	/* Through the same checks as anyone's: an entry of ours that peers
	 * would refuse (our certificate expired, say) is refused here. */
	err = entry_take(cat, &e, FROM_SELF, monotonic_seconds(), &why, &r, NULL);
	if (err) {
		/* The caller reports the failure; the detail is for debugging. */
		log_debug("cannot publish \"%s\": %s", name, why ? why : shoal_strerror(err));
		return err == SHOAL_ETOOBIG || err == -ENOMEM ? err : SHOAL_EIDENTITY;
	}
	if (r)
		flood(cat, &r, 1, NULL);
	return 0;
}

/* A time for a new entry of ours replacing old (may be NULL): now, or just
 * after old when our clock is behind it. */
static int64_t next_time(const struct cat_rec *old)
{
	int64_t t = now_us();
	return old && old->e.time_us >= t ? old->e.time_us + 1 : t;
}

int catalog_publish(struct catalog *cat, const char *name, uint64_t size, const char *cap)
{
	struct capability parsed;
	if (!cat)
		return SHOAL_EIDENTITY;
	if (!name || name_validate(name, strlen(name)))
		return SHOAL_EBADNAME;
	if (!cap || capability_parse(&parsed, cap))
		return SHOAL_EBADCAP;
	struct cat_rec *old = rec_find(cat, cat->self, name);
	if (!old) {
		if (cat->count >= CATALOG_ENTRIES_MAX)
			return SHOAL_ETOOBIG;
		size_t pos;
		struct cat_owner *o = owner_find(cat, cat->self, &pos);
		if (o && o->count >= cat->cfg->catalog_per_member)
			return SHOAL_ETOOBIG;
	}
	return publish_entry(cat, name, size, cap, next_time(old), 0);
}

int catalog_unpublish(struct catalog *cat, const char *name)
{
	if (!cat || !name)
		return SHOAL_ENOTFOUND;
	struct cat_rec *old = rec_find(cat, cat->self, name);
	if (!old || old->e.removed)
		return SHOAL_ENOTFOUND;
	return publish_entry(cat, name, 0, NULL, next_time(old), 1);
}

/* ---- reading ---- */

/* Whether owner's id in text starts with prefix (either case). */
/* Whether the owner of r is the one `owner` names: its nickname, or
 * CATALOG_OWNER_PREFIX_MIN or more first characters of its id. */
static int owner_matches(const struct cat_rec *r, const char *owner)
{
	char text[NODE_ID_STR_LEN + 1];
	size_t n = strlen(owner);
	if (r->cert->nickname[0] && !strcmp(r->cert->nickname, owner))
		return 1;
	node_id_format(r->e.owner, text);
	return n >= CATALOG_OWNER_PREFIX_MIN && n <= NODE_ID_STR_LEN &&
	       !strncasecmp(text, owner, n);
}

int catalog_lookup(struct catalog *cat, const char *name, const char *owner,
		   char cap[CAPABILITY_STR_LEN + 1], uint64_t *size, struct catalog_owners *owners)
{
	const struct cat_rec *found = NULL;
	struct catalog_owners seen = {0};
	if (!cat || !name)
		return SHOAL_ENOTFOUND;
	struct cat_rec *r = cat->buckets[name_hash(cat, name) & (cat->nbuckets - 1)];
	for (; r; r = r->hnext) {
		if (r->e.removed || strcmp(r->e.name, name))
			continue;
		if (owner && !owner_matches(r, owner))
			continue;
		found = r;
		/* The owners shown are the first by id. */
		size_t at = seen.n < CATALOG_OWNERS_SHOWN ? seen.n : CATALOG_OWNERS_SHOWN;
		while (at > 0 && memcmp(seen.ids[at - 1], r->e.owner, NODE_ID_LEN) > 0) {
			if (at < CATALOG_OWNERS_SHOWN)
				memcpy(seen.ids[at], seen.ids[at - 1], NODE_ID_LEN);
			at--;
		}
		if (at < CATALOG_OWNERS_SHOWN)
			memcpy(seen.ids[at], r->e.owner, NODE_ID_LEN);
		seen.n++;
	}
	if (owners)
		*owners = seen;
	if (!found)
		return SHOAL_ENOTFOUND;
	if (seen.n > 1)
		return SHOAL_EAMBIGUOUS;
	if (cap)
		memcpy(cap, found->e.cap, sizeof(found->e.cap));
	if (size)
		*size = found->e.size;
	return 0;
}

static int rec_order(const void *a, const void *b)
{
	const struct cat_rec *x = *(const struct cat_rec *const *)a;
	const struct cat_rec *y = *(const struct cat_rec *const *)b;
	int c = strcmp(x->e.name, y->e.name);
	return c ? c : memcmp(x->e.owner, y->e.owner, NODE_ID_LEN);
}

int catalog_foreach(struct catalog *cat, catalog_fn fn, void *arg)
{
	if (!cat || !cat->live)
		return 0;
	struct cat_rec **list = malloc(cat->live * sizeof(*list));
	if (!list)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < cat->count; i++) {
		if (!cat->recs[i]->e.removed)
			list[k++] = cat->recs[i];
	}
	qsort(list, k, sizeof(*list), rec_order);
	int ret = 0;
	for (size_t i = 0; i < k && !ret; i++) {
		const struct catalog_entry *e = &list[i]->e;
		struct catalog_item it = {
			.name = e->name,
			.size = e->size,
			.cap = e->cap,
			.owner = e->owner,
			.owner_nickname = list[i]->cert->nickname,
			.time_us = e->time_us,
		};
		ret = fn(&it, arg);
	}
	free(list);
	return ret;
}

/* ---- persistence ---- */

/* The whole log: the magic and one record per entry. Returns the records. */
static size_t pack_log(struct catalog *cat, struct buf *out)
{
	size_t n = 0;
	buf_add(out, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	struct buf one = BUF_INIT;
	for (size_t i = 0; i < cat->count; i++) {
		Shoal__CatalogEntry m;
		catalog_entry_to_pb(&cat->recs[i]->e, &m);
		size_t len = shoal__catalog_entry__get_packed_size(&m);
		if (len > CATLOG_PAYLOAD_MAX)
			continue; /* no entry of the wire's limits is */
		buf_reset(&one);
		buf_grow(&one, len);
		shoal__catalog_entry__pack(&m, (uint8_t *)one.data);
		if (catlog_append(out, (const uint8_t *)one.data, len) == 0)
			n++;
	}
	buf_release(&one);
	return n;
}

/* Appends data[0..len) to the log at path and makes it durable. */
static int append_log(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = write_in_full(fd, data, len);
	if (!err && fdatasync(fd))
		err = -errno;
	close(fd);
	return err;
}

static int save_run(struct save_job *j)
{
	return j->rewrite ? write_file_atomic(j->path, j->data, j->len, 0600)
			  : append_log(j->path, j->data, j->len);
}

static void save_work(struct pool_job *pj)
{
	struct save_job *j = (struct save_job *)lw_job_of(pj);
	j->err = save_run(j);
	atomic_store(&j->finished, 1);
}

/* What a finished write means for the catalog: the log holds its records,
 * or (failed) must be written anew. */
static void save_settle(struct catalog *cat, struct save_job *j)
{
	if (j->err) {
		log_warnx("cannot save the catalog to %s: %s", j->path, shoal_strerror(j->err));
		cat->rewrite = 1; /* from memory, at the next interval */
	} else if (j->rewrite) {
		cat->log_records = j->records;
	} else {
		cat->log_records += j->records;
	}
}

static void save_done(struct lw_msg *msg)
{
	struct save_job *j = (struct save_job *)lw_job_of_msg(msg);
	if (j->cat) {
		j->cat->saving = NULL;
		save_settle(j->cat, j);
	}
	free(j->data);
	free(j);
}

/* The next write of the log, or NULL when there is nothing to write: the
 * whole log when it must be rewritten, holds no record yet (it may not exist)
 * or has grown past twice the catalog (compaction), else the records
 * pending. */
static struct save_job *save_next(struct catalog *cat)
{
	if (!cat->rewrite && !cat->pending.len)
		return NULL;
	struct save_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->cat = cat;
	snprintf(j->path, sizeof(j->path), "%s", cat->path);
	atomic_init(&j->finished, 0);
	if (cat->rewrite || cat->log_records == 0 ||
	    cat->log_records + cat->pending_records > 2 * cat->count + COMPACT_SLACK) {
		struct buf all = BUF_INIT;
		j->rewrite = 1;
		j->records = pack_log(cat, &all);
		j->data = buf_detach(&all, &j->len);
		cat->rewrite = 0;
	} else {
		j->records = cat->pending_records;
		j->data = buf_detach(&cat->pending, &j->len);
	}
	/* Either way what is pending is now in the job. */
	buf_reset(&cat->pending);
	cat->pending_records = 0;
	return j;
}

static void save_maybe(struct catalog *cat, double now)
{
	if (cat->saving || now - cat->last_save < SAVE_INTERVAL)
		return;
	struct save_job *j = save_next(cat);
	if (!j)
		return;
	cat->saving = j;
	cat->last_save = now;
	loopwork_submit(cat->lw, &j->lw, save_work, save_done);
}

/* Writes what is pending now, on the calling thread (at close). */
static void save_now(struct catalog *cat)
{
	struct save_job *j = save_next(cat);
	if (!j)
		return;
	j->err = save_run(j);
	save_settle(cat, j);
	free(j->data);
	free(j);
}

struct load_ctx {
	struct catalog *cat;
	double now;
	size_t dropped, full;
};

static int load_one(const uint8_t *payload, size_t len, void *arg)
{
	struct load_ctx *c = arg;
	Shoal__CatalogEntry *m = shoal__catalog_entry__unpack(NULL, len, payload);
	struct catalog_entry e;
	struct cat_rec *r;
	const char *why;
	int err = m ? catalog_entry_from_pb(m, &e, &why) : SHOAL_EPROTO;
	if (!err)
		err = entry_take(c->cat, &e, FROM_FILE, c->now, &why, &r, NULL);
	if (err == SHOAL_ETOOBIG)
		c->full++;
	else if (err)
		c->dropped++;
	shoal__catalog_entry__free_unpacked(m, NULL);
	return 0;
}

/* Loads home/catalog.log. Returns 0, or -ENOENT when there is none. */
static int load_log(struct catalog *cat)
{
	struct buf raw = BUF_INIT;
	struct load_ctx c = {.cat = cat, .now = monotonic_seconds()};
	struct catlog_scan scan = {0};
	int err = read_file(cat->path, &raw, CATALOG_LOG_MAX);
	if (err == -ENOENT) {
		buf_release(&raw);
		return err;
	}
	if (!err)
		err = catlog_parse((const uint8_t *)raw.data, raw.len, load_one, &c, &scan);
	if (err) {
		log_warnx("cannot read %s: %s; starting from what the network sends", cat->path,
			  err == SHOAL_EVERSION ? "not a catalog log" : shoal_strerror(err));
		cat->rewrite = 1;
	} else if (scan.intact < raw.len || scan.skipped) {
		log_warnx("%s: %zu bytes torn at the end and %zu damaged records dropped",
			  cat->path, raw.len - scan.intact, scan.skipped);
		cat->rewrite = 1;
	}
	if (c.dropped || c.full) {
		log_warnx("%s: dropped %zu entries that no longer check out and %zu past a limit",
			  cat->path, c.dropped, c.full);
		cat->rewrite = 1;
	}
	cat->log_records = scan.records + scan.skipped;
	buf_release(&raw);
	return 0;
}

/* Loads the whole-file home/catalog of earlier versions (every entry checked
 * again, signatures included), to be written as the log and removed. Returns
 * -ENOENT when there is none, else 0. */
static int load_old_file(struct catalog *cat)
{
	struct buf raw = BUF_INIT;
	Shoal__CatalogFile *f = NULL;
	size_t dropped = 0, full = 0;
	int err = read_file(cat->old_path, &raw, CATALOG_FILE_MAX), ret = err == -ENOENT ? err : 0;
	if (err == -ENOENT)
		goto out;
	if (!err && !(f = shoal__catalog_file__unpack(NULL, raw.len, raw.data)))
		err = SHOAL_EPROTO;
	if (err) {
		log_warnx("cannot read %s: %s; starting from what the network sends", cat->old_path,
			  shoal_strerror(err));
		goto out;
	}
	double now = monotonic_seconds();
	for (size_t i = 0; i < f->n_entries; i++) {
		struct catalog_entry e;
		struct cat_rec *r;
		const char *why;
		err = catalog_entry_from_pb(f->entries[i], &e, &why);
		if (!err)
			err = entry_take(cat, &e, FROM_SELF, now, &why, &r, NULL);
		if (err == SHOAL_ETOOBIG)
			full++;
		else if (err)
			dropped++;
	}
	if (dropped || full)
		log_warnx("%s: dropped %zu entries that no longer check out and %zu past a limit",
			  cat->old_path, dropped, full);
out:
	shoal__catalog_file__free_unpacked(f, NULL);
	buf_release(&raw);
	return ret;
}

/* At open: the log, or (none yet) the old file turned into it. */
static void load(struct catalog *cat)
{
	/* Without either file, the first save writes the log whole (save_next:
	 * no records yet), and a node that never hears of the catalog writes
	 * nothing. */
	if (load_log(cat) == -ENOENT && load_old_file(cat) != -ENOENT) {
		/* Written now, so that the appends that follow have a log. */
		cat->rewrite = 1;
		save_now(cat);
		if (!cat->rewrite && unlink(cat->old_path) && errno != ENOENT)
			log_warnx("cannot remove %s: %s", cat->old_path, strerror(errno));
	}
	/* What was loaded is in the log already. */
	buf_reset(&cat->pending);
	cat->pending_records = 0;
	purge_removals(cat);
	cat->last_purge = monotonic_seconds();
}

/* ---- life ---- */

static void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->count; i++)
		rec_free(cat->recs[i]);
	for (size_t i = 0; i < cat->ncerts; i++)
		cert_free(cat->certs[i]);
	free(cat->recs);
	free(cat->certs);
	free(cat->owners);
	free(cat->peers);
	buf_release(&cat->pending);
	free(cat->buckets);
	X509_free(cat->ca);
	EVP_PKEY_free(cat->key);
	OPENSSL_free(cat->own_der);
	free(cat);
}

static int load_identity(struct catalog *cat, const char *home)
{
	char path[PATH_MAX + 16];
	X509 *own = NULL;
	unsigned char *der = NULL;
	uint8_t owner[NODE_ID_LEN];
	int len, err;

	snprintf(path, sizeof(path), "%s/ca.crt", home);
	if ((err = identity_load_cert(path, &cat->ca)))
		goto out;
	snprintf(path, sizeof(path), "%s/node.key", home);
	if ((err = identity_load_key(path, &cat->key)))
		goto out;
	snprintf(path, sizeof(path), "%s/node.crt", home);
	if ((err = identity_load_cert(path, &own)))
		goto out;
	if (X509_check_private_key(own, cat->key) != 1 || node_id_from_pkey(cat->key, cat->self)) {
		ERR_clear_error();
		err = SHOAL_EIDENTITY;
		goto out;
	}
	len = i2d_X509(own, &der);
	if (len <= 0 || (size_t)len > CATALOG_CERT_MAX) {
		err = SHOAL_EIDENTITY;
		goto out;
	}
	cat->own_der = der;
	cat->own_der_len = (size_t)len;
	der = NULL;
	/* Peers will check our entries against the CA; say now if they will
	 * refuse them, rather than at every publication. */
	if (catalog_cert_check(cat->ca, cat->own_der, cat->own_der_len, NULL, owner) ||
	    memcmp(owner, cat->self, NODE_ID_LEN))
		log_warnx("%s does not check out against %s/ca.crt: members will refuse what "
			  "this node publishes",
			  path, home);
out:
	if (err)
		log_error("catalog: cannot load the identity in %s: %s", home, shoal_strerror(err));
	OPENSSL_free(der);
	X509_free(own);
	return err;
}

int catalog_open(struct catalog **out, const char *home, struct mesh *mesh,
		 const struct config *cfg, const struct revocations *rv, struct loopwork *lw,
		 struct pool *pool)
{
	struct catalog *cat = calloc(1, sizeof(*cat));
	int err;
	*out = NULL;
	if (!cat)
		return -ENOMEM;
	cat->mesh = mesh;
	cat->rv = rv;
	cat->cfg = cfg;
	cat->lw = lw;
	cat->pool = pool;
	buf_init(&cat->pending);
	snprintf(cat->path, sizeof(cat->path), "%s/catalog.log", home);
	snprintf(cat->old_path, sizeof(cat->old_path), "%s/catalog", home);
	err = load_identity(cat, home);
	if (err)
		goto fail;
	cat->nbuckets = BUCKETS_MIN;
	cat->buckets = calloc(cat->nbuckets, sizeof(*cat->buckets));
	if (!cat->buckets) {
		err = -ENOMEM;
		goto fail;
	}
	if (random_bytes(&cat->seed, sizeof(cat->seed)))
		cat->seed = (uint64_t)now_us();
	load(cat);
	*out = cat;
	log_info("catalog: %zu entries (%zu published files)", cat->count, cat->live);
	return 0;
fail:
	catalog_free(cat);
	return err;
}

void catalog_close(struct catalog *cat)
{
	if (!cat)
		return;
	if (cat->saving) {
		struct save_job *j = cat->saving;
		/* Unfinished means the pool still runs it (pool_free waits for
		 * every job), so it can be waited for. */
		if (!atomic_load(&j->finished))
			pool_wait(cat->pool, &j->lw.job);
		save_settle(cat, j);
		/* Its completion still runs on the loop, and frees it there. */
		j->cat = NULL;
		cat->saving = NULL;
	}
	save_now(cat);
	catalog_free(cat);
}

void catalog_tick(struct catalog *cat, double now)
{
	if (!cat)
		return;
	struct mesh *mesh = cat->mesh;
	if (now - cat->last_digest >= cat->cfg->gossip_interval) {
		cat->last_digest = now;
		for (unsigned i = 0; i < mesh->nmembers; i++) {
			struct member *m = &mesh->members[i];
			if (m->state != MEMBER_UP || !link_usable(m->link))
				continue;
			/* A member still receiving everything has no use for it. */
			struct cat_peer *p = peer_of(cat, m->link);
			if (!p || p->sync_serial != m->link->serial)
				send_digest(cat, m->link);
		}
	}
	for (size_t i = 0; i < cat->npeers; i++)
		sync_pump(cat, &cat->peers[i]);
	if (now - cat->last_purge >= PURGE_INTERVAL) {
		cat->last_purge = now;
		purge_removals(cat);
	}
	save_maybe(cat, now);
}
