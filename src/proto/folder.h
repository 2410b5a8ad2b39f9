/*
 * Collaborative folders: the rules, nothing of the disk or the network.
 *
 * A folder is a 16-byte id and a 32-byte secret, carried together (with a
 * label) in an invite, "shoal-folder:" followed by base32. From the secret
 * HKDF derives the folder's convergence secret (so every member encrypts the
 * same content into the same chunk ids) and its index key, under which a
 * member proves to another that it holds the secret (folder_proof()).
 *
 * Each member keeps rows (struct folder_entry), one per (member, path). A
 * row carries a version vector: one counter per member that changed the
 * path, set to max(previous + 1, now in seconds) by the member changing it,
 * so a member whose index was wiped conflicts with what it lost instead of
 * silently losing to it. Two rows' vectors are equal, ordered, or
 * concurrent; folder_decide() says what a member does with an incoming row
 * against its own, and folder_conflict_name() names the copy a conflict's
 * loser is kept as: computed from the rows alone, so every member picks the
 * same winner and the same name.
 *
 * A member announces its own rows in batches (FolderBatch) in sequence
 * order, signed with its node key and chained: each batch names the hash of
 * the one before it. The signed bytes are
 *
 *   "shoal folder batch v1" 0x00 || SHA-256(the FolderBatch packed with an
 *   empty signature)
 *
 * and a batch's hash (what the next one's prev_hash names) is that
 * SHA-256. A receiver checks the certificate against the network's CA, the
 * signature, the chain and every row (folder_batch_open()) before it keeps
 * anything; a batch that fails is refused whole.
 */
#ifndef SHOAL_PROTO_FOLDER_H
#define SHOAL_PROTO_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "crypto/identity.h"
#include "crypto/seal.h"
#include "proto/capability.h"
#include "proto/manifest.h"
#include "proto/shoal.pb-c.h"
#include "util/buf.h"

#define FOLDER_ID_LEN		 16
#define FOLDER_SECRET_LEN	 32
#define FOLDER_KEY_LEN		 32
#define FOLDER_LABEL_MAX	 64 /* bytes of a label: printable ASCII, no '/' */
#define FOLDER_REPLICAS_MAX	 16
#define FOLDER_INVITE_PREFIX	 "shoal-folder:"
#define FOLDER_INVITE_MAX	 256 /* an invite's text, NUL included */
#define FOLDER_ID_STR_LEN	 26  /* base32 of FOLDER_ID_LEN bytes, no padding */
#define FOLDER_VV_MAX		 64  /* counters in one version vector */
#define FOLDER_BATCH_ENTRIES_MAX 1000
#define FOLDER_BATCH_MAX	 ((size_t)1024 * 1024) /* a packed batch's bytes */
#define FOLDER_HAVE_MAX		 1024		       /* authors in one FolderHello */
#define FOLDER_BATCHES_MAX	 64		       /* batches in one FolderBatches frame */
#define FOLDER_DOMAIN		 "shoal folder batch v1"
#define FOLDER_PATH_MAX		 MANIFEST_PATH_MAX
#define FOLDER_CONFLICT_MARK	 ".conflict-"

/* ---- invites and keys ---- */

struct folder_invite {
	uint8_t id[FOLDER_ID_LEN];
	uint8_t secret[FOLDER_SECRET_LEN];
	char label[FOLDER_LABEL_MAX + 1]; /* may be "" */
	unsigned replicas;		  /* copies on storage nodes (folderjournal.h); 0: none */
};

/* A new folder: random id and secret, the given label (NULL: ""). Returns 0,
 * SHOAL_EUSAGE for a label that is not FOLDER_LABEL_MAX printable ASCII bytes
 * without '/', or an error of the random source. */
int folder_invite_new(struct folder_invite *out, const char *label);
/* The invite's text: FOLDER_INVITE_PREFIX and the base32 (lowercase, no
 * padding) of id || secret || label. out holds FOLDER_INVITE_MAX bytes. */
void folder_invite_format(const struct folder_invite *inv, char out[FOLDER_INVITE_MAX]);
/* Parses an invite (either case of base32; no surrounding space). Returns 0
 * or SHOAL_EPROTO. */
int folder_invite_parse(const char *s, struct folder_invite *out);
/* The folder id as text (base32, lowercase): how the CLI and logs name it. */
void folder_id_format(const uint8_t id[FOLDER_ID_LEN], char out[FOLDER_ID_STR_LEN + 1]);
/* Parses folder_id_format()'s text. 0 or SHOAL_EPROTO. */
int folder_id_parse(const char *s, uint8_t id[FOLDER_ID_LEN]);

/* What a folder's secret gives. */
struct folder_keys {
	uint8_t convergence[CONVERGENCE_SECRET_LEN]; /* chunk keys of the folder's content */
	uint8_t index[FOLDER_KEY_LEN];		     /* the proofs */
	uint8_t journal[FOLDER_KEY_LEN];	     /* journals' names and pointers */
};
/* HKDF-SHA256 of the secret, salted by nothing, info "shoal folder
 * convergence v1" / "shoal folder index v1" / "shoal folder journal v1"
 * (proto/folderjournal.h) followed by a space and the id as
 * text (folder_id_format(): HKDF's info is a C string here). */
void folder_keys_derive(const struct folder_invite *inv, struct folder_keys *out);
/* HMAC-SHA256 under keys->index of "shoal folder proof v1" (no NUL) ||
 * folder id || from || to: what member from shows member to on their link. */
void folder_proof(const struct folder_keys *keys, const uint8_t id[FOLDER_ID_LEN],
		  const uint8_t from[NODE_ID_LEN], const uint8_t to[NODE_ID_LEN],
		  uint8_t out[SHA256_LEN]);
/* 1 when proof (len bytes) is folder_proof(keys, id, from, to), compared in
 * constant time; 0 otherwise. */
int folder_proof_check(const struct folder_keys *keys, const uint8_t id[FOLDER_ID_LEN],
		       const uint8_t from[NODE_ID_LEN], const uint8_t to[NODE_ID_LEN],
		       const uint8_t *proof, size_t len);

/* ---- version vectors ---- */

struct folder_counter {
	uint64_t id;	/* a member's short id */
	uint64_t value; /* > 0 */
};
/* Counters sorted by id ascending, no id twice, no value 0. */
struct folder_vv {
	size_t n;
	struct folder_counter c[FOLDER_VV_MAX];
};

enum folder_order {
	FOLDER_EQUAL,	   /* the same counters */
	FOLDER_BEFORE,	   /* a happened before b: every counter of a <= b's */
	FOLDER_AFTER,	   /* b happened before a */
	FOLDER_CONCURRENT, /* neither */
};

/* A member's short id: the first 8 bytes of its node id, big-endian. */
uint64_t folder_short_id(const uint8_t node_id[NODE_ID_LEN]);
/* How a relates to b (a missing counter counts as 0). */
enum folder_order folder_vv_compare(const struct folder_vv *a, const struct folder_vv *b);
/* out = the counter-wise maximum of a and b (out may be a or b). Returns 0,
 * or SHOAL_ETOOBIG when the union has more than FOLDER_VV_MAX ids (out is
 * then unchanged). */
int folder_vv_merge(struct folder_vv *out, const struct folder_vv *a, const struct folder_vv *b);
/* Member self changes the row at now (Unix seconds): its counter becomes
 * max(counter + 1, now). 0 or SHOAL_ETOOBIG (no room for a new id). */
int folder_vv_bump(struct folder_vv *vv, uint64_t self, uint64_t now);
/* 1 when vv keeps the rules above (sorted, unique ids, values > 0), else 0. */
int folder_vv_valid(const struct folder_vv *vv);
/* The vector as bytes (16 per counter: id, value, both big-endian) and back:
 * how the index stores it. encode returns the length written (out must hold
 * 16 * FOLDER_VV_MAX); decode returns 0 or SHOAL_EPROTO (a length not a
 * multiple of 16, too many counters, or a vector breaking the rules). */
size_t folder_vv_encode(const struct folder_vv *vv, uint8_t *out);
int folder_vv_decode(struct folder_vv *vv, const uint8_t *p, size_t len);

/* ---- rows ---- */

enum folder_kind {
	FOLDER_FILE = SHOAL__ENTRY_KIND__ENTRY_KIND_FILE,
	FOLDER_DIR = SHOAL__ENTRY_KIND__ENTRY_KIND_DIRECTORY,
	FOLDER_SYMLINK = SHOAL__ENTRY_KIND__ENTRY_KIND_SYMLINK,
};

/* One (member, path) row; self-contained (no pointers). */
struct folder_entry {
	char path[FOLDER_PATH_MAX + 1];
	enum folder_kind kind;
	struct folder_vv vv;
	uint64_t modified_by; /* short id of the member whose change this is */
	int has_content;      /* FILE (and a FILE's tombstone): content_id, cap set */
	uint8_t content_id[SHA256_LEN];
	struct capability cap; /* the content's manifest */
	uint64_t size;
	uint32_t mode;	  /* 0777 at most */
	int64_t mtime_ns; /* since the epoch */
	int deleted;
	int has_prev;
	uint8_t prev_content_id[SHA256_LEN];
	uint64_t seq;
	char target[FOLDER_PATH_MAX + 1]; /* SYMLINK: its target ("" otherwise) */
};

/*
 * Checks one row's own rules: the path valid (each component a valid name,
 * proto/name.h, no "." or "..", not starting or ending with '/', at most
 * FOLDER_PATH_MAX bytes, not in or named ".shoal" at the top), the kind one of
 * the three, the vector valid and not empty, modified_by one of its ids, a
 * live FILE with content, a DIR or SYMLINK without, a live SYMLINK's target
 * 1..FOLDER_PATH_MAX bytes (a tombstone's at most that), no target on any
 * other kind, mode within 0777, seq > 0. Returns 0 or SHOAL_EPROTO
 * (*why, when not NULL, says which rule).
 */
int folder_entry_check(const struct folder_entry *e, const char **why);
/* A row from / to its message. from returns 0 or SHOAL_EPROTO (a field of the
 * wrong length, a vector breaking the rules, then folder_entry_check()). to
 * fills m with pointers into e and into store (FOLDER_VV_MAX counters and
 * their pointers), valid while e and store are. */
struct folder_entry_pb {
	Shoal__FolderCounter counters[FOLDER_VV_MAX];
	Shoal__FolderCounter *counter_ptrs[FOLDER_VV_MAX];
};
int folder_entry_from_pb(struct folder_entry *e, const Shoal__FolderEntry *m, const char **why);
void folder_entry_to_pb(const struct folder_entry *e, Shoal__FolderEntry *m,
			struct folder_entry_pb *store);

/* ---- conflicts ---- */

enum folder_decision {
	FOLDER_KEEP,	       /* ours is newer or the same: nothing to do */
	FOLDER_TAKE,	       /* theirs is newer: apply it */
	FOLDER_MERGE,	       /* concurrent, same outcome: keep ours, merge the vectors */
	FOLDER_CONFLICT_OURS,  /* concurrent and different: ours wins, theirs kept as a copy */
	FOLDER_CONFLICT_THEIRS /* concurrent and different: theirs wins, ours kept as a copy */
};

/*
 * What a member holding ours does with theirs, for the same path:
 *  1. vectors ordered or equal: the later one (FOLDER_KEEP or FOLDER_TAKE);
 *  2. concurrent, and both deleted, or both live with the same kind and
 *     content (same content_id for files, same target for links, always
 *     for directories): FOLDER_MERGE;
 *  3. concurrent, and theirs was based on exactly our content
 *     (theirs.prev_content_id == ours.content_id, ours live): FOLDER_TAKE;
 *     and the other way round FOLDER_KEEP (when both hold, neither: rule 4,
 *     or the two members would each take the other's row);
 *  4. otherwise a conflict: a live row beats a tombstone (modify beats
 *     delete), then the later mtime_ns, then the higher modified_by, then
 *     the larger content_id (zeros without content), then the larger kind,
 *     then the larger target; the loser is kept as a copy, except that a
 *     tombstone loser leaves no copy (the caller applies the winner only).
 * The answer depends on the two rows only, so every member decides alike.
 */
enum folder_decision folder_decide(const struct folder_entry *ours,
				   const struct folder_entry *theirs);

/*
 * The name the losing row of a conflict is kept under, the same on every
 * member: "dir/name.conflict-YYYYMMDD-HHMMSS-<modified_by, 8 hex>-<content_id,
 * 6 hex>.ext" with the loser's mtime in UTC, the first 4 bytes of its
 * modified_by (the top 32 bits) and of its content_id 3 bytes (zeros without
 * content), in lowercase hex, the extension being the part
 * of the last component from its last '.' (not a leading one). Returns 0 or
 * SHOAL_ETOOBIG when the result would pass FOLDER_PATH_MAX or a component
 * NAME_MAX_LEN.
 */
int folder_conflict_name(const struct folder_entry *loser, char out[FOLDER_PATH_MAX + 1]);
/* 1 when path's last component is a conflict copy's name (FOLDER_CONFLICT_MARK
 * and the stamp above, then its end or a '.'), else 0: no copy is made of a
 * copy. */
int folder_is_conflict_name(const char *path);

/* ---- batches ---- */

/*
 * Signs and packs a batch of n rows (seq strictly increasing) by the
 * holder of key and cert (DER, cert_len bytes), chained to prev_hash (zeros
 * for the first), at time us. Fills out with the packed FolderBatch and hash
 * with its hash (out is reset first). Returns 0, SHOAL_ETOOBIG (more than
 * FOLDER_BATCH_ENTRIES_MAX rows or FOLDER_BATCH_MAX bytes), SHOAL_EUSAGE (no
 * rows, rows out of order or failing folder_entry_check(), no certificate or
 * one over 2048 bytes) or an error of signing or memory.
 */
int folder_batch_sign(const uint8_t folder_id[FOLDER_ID_LEN], EVP_PKEY *key, const uint8_t *cert,
		      size_t cert_len, uint64_t index_id, const uint8_t prev_hash[SHA256_LEN],
		      int64_t time_us, const struct folder_entry *rows, size_t n, struct buf *out,
		      uint8_t hash[SHA256_LEN]);

/* FolderBatch.flags: the author's user accepted the deletes the batch
 * holds (`folder accept-deletes`), so members do not hold them again. */
#define FOLDER_BATCH_DELETES_ACCEPTED 1u

/* folder_batch_sign() with flags (FOLDER_BATCH_*) set in the batch. */
int folder_batch_sign_flags(const uint8_t folder_id[FOLDER_ID_LEN], EVP_PKEY *key,
			    const uint8_t *cert, size_t cert_len, uint64_t index_id,
			    const uint8_t prev_hash[SHA256_LEN], int64_t time_us, uint32_t flags,
			    const struct folder_entry *rows, size_t n, struct buf *out,
			    uint8_t hash[SHA256_LEN]);

/* A batch opened and checked. */
struct folder_batch {
	Shoal__FolderBatch *msg; /* the unpacked message (folder_batch_free()) */
	uint8_t author[NODE_ID_LEN];
	uint8_t hash[SHA256_LEN];
	uint8_t prev_hash[SHA256_LEN];
	uint64_t index_id;
	uint64_t first_seq, last_seq;
	int64_t time_us;
	uint32_t flags; /* FOLDER_BATCH_* */
};
/*
 * Unpacks data (len bytes, at most FOLDER_BATCH_MAX) and checks it: the
 * folder id is folder_id; the certificate is of the network of ca (and not
 * expired); the signature is the certificate key's over the signed bytes;
 * 1..FOLDER_BATCH_ENTRIES_MAX rows, each passing folder_entry_from_pb(),
 * whose seqs strictly increase (gaps are fine); prev_hash 32 bytes. Returns 0 with *out
 * filled, or SHOAL_EPROTO / SHOAL_ETOOBIG / SHOAL_EIDENTITY (a bad certificate or
 * signature) with *why (may be NULL) saying what.
 */
int folder_batch_open(const uint8_t *data, size_t len, const uint8_t folder_id[FOLDER_ID_LEN],
		      X509 *ca, struct folder_batch *out, const char **why);
/* Row i of an opened batch (0 <= i < msg->n_entries); 0 or
 * SHOAL_EPROTO (cannot happen after folder_batch_open()). */
int folder_batch_row(const struct folder_batch *b, size_t i, struct folder_entry *e);
void folder_batch_free(struct folder_batch *b);

#endif
