/*
 * Envelope and control message codecs; see wire.h. protobuf-c does the wire
 * parsing; one validator per message then checks what it produced, and the
 * same validators guard the packers, so a node refuses to send what its peers
 * would refuse to receive. Validators take const messages and treat NULL
 * strings and submessages (possible in hand-built messages, never in decoded
 * ones) as empty and missing.
 */
#include "net/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "net/frame.h"
#include "proto/manifest.h"
#include "proto/name.h"
#include "util/error.h"

/* Field numbers protobuf allows: 1 .. 2^29 - 1. */
#define FIELD_NUMBER_MAX 0x1fffffffu

/*
 * Checks the field numbers of the unknown fields kept in m and in every
 * submessage it holds. protobuf-c 1.4.1 refuses field number 0 only when the
 * tag is one byte: an overlong tag such as 0x85 0x00 (field 0, fixed32) gets
 * through and is kept as an unknown field, which would re-pack into bytes
 * protobuf-c itself refuses. Walks the descriptors, so fields added to the
 * schema are covered; the schema has no recursion, so neither has this.
 */
static int field_numbers_ok(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const uint8_t *base = (const uint8_t *)m;

	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		uint32_t tag = m->unknown_fields[i].tag;
		if (tag == 0 || tag > FIELD_NUMBER_MAX)
			return 0;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n;
			ProtobufCMessage *const *items;
			memcpy(&n, base + f->quantifier_offset, sizeof(n));
			memcpy(&items, base + f->offset, sizeof(items));
			for (size_t j = 0; j < n; j++) {
				if (items[j] && !field_numbers_ok(items[j]))
					return 0;
			}
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which;
			memcpy(&which, base + f->quantifier_offset, sizeof(which));
			if (which != f->id)
				continue;
		}
		const ProtobufCMessage *sub;
		memcpy(&sub, base + f->offset, sizeof(sub));
		if (sub && !field_numbers_ok(sub))
			return 0;
	}
	return 1;
}

static size_t str_len(const char *s)
{
	return s ? strlen(s) : 0;
}

static int id_ok(const ProtobufCBinaryData *id)
{
	return id->len == WIRE_ID_LEN && id->data;
}

static int addr_ok(const char *addr)
{
	return addr && addr_check(addr) == 0;
}

static int name_ok(const char *name)
{
	return name && name_validate(name, strlen(name)) == 0;
}

/* A name, or "" where a message may leave it out. */
static int name_empty_ok(const char *name)
{
	return name && (!name[0] || name_ok(name));
}

static int abs_path_ok(const char *path)
{
	return path && path[0] == '/' && strlen(path) <= WIRE_PATH_MAX;
}

static int hello_ok(const Shoal__Hello *m)
{
	if (!id_ok(&m->node_id))
		return 0;
	return str_len(m->listen_addr) == 0 || addr_ok(m->listen_addr);
}

static int peers_ok(const Shoal__Peers *m)
{
	if (m->n_members > WIRE_MEMBERS_MAX)
		return 0;
	for (size_t i = 0; i < m->n_members; i++) {
		const Shoal__Member *member = m->members[i];
		if (!member || !id_ok(&member->node_id) || !addr_ok(member->addr) ||
		    member->last_seen < 0)
			return 0;
	}
	return 1;
}

static int ids_ok(size_t n, const ProtobufCBinaryData *ids)
{
	if (n == 0 || n > WIRE_IDS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!id_ok(&ids[i]))
			return 0;
	}
	return 1;
}

static int chunk_payload_ok(uint32_t len)
{
	return len >= WIRE_CHUNK_MIN && len <= OBJECT_SIZE_MAX;
}

static int put_chunk_ok(const Shoal__PutChunk *m, uint32_t payload_len)
{
	if (!id_ok(&m->id))
		return 0;
	return m->pin_only ? payload_len == 0 : chunk_payload_ok(payload_len);
}

/* Shape only: names, capabilities and signatures are checked by the catalog
 * (src/node/catalog.c), which drops a bad entry without dropping the peer. */
static int catalog_delta_ok(const Shoal__CatalogDelta *m)
{
	if (m->n_entries == 0 || m->n_entries > WIRE_CATALOG_MAX)
		return 0;
	for (size_t i = 0; i < m->n_entries; i++) {
		const Shoal__CatalogEntry *e = m->entries[i];
		if (!e || e->owner_cert.len == 0 || e->owner_cert.len > WIRE_CERT_MAX ||
		    str_len(e->name) > 255 || str_len(e->capability) > 255 ||
		    e->signature.len != WIRE_SIG_LEN)
			return 0;
	}
	return 1;
}

/* Shape only: signatures are checked against the CA by the revocation list
 * (src/node/revoke.c). */
static int revocation_ok(const Shoal__Revocation *r)
{
	return r && id_ok(&r->node_id) && r->signature.len == WIRE_SIG_LEN && r->time >= 0 &&
	       str_len(r->reason) <= WIRE_TEXT_MAX;
}

static int revocations_ok(const Shoal__Revocations *m, size_t max)
{
	if (m->n_list > max)
		return 0;
	for (size_t i = 0; i < m->n_list; i++) {
		if (!revocation_ok(m->list[i]))
			return 0;
	}
	return 1;
}

static int forget_ok(const Shoal__Forget *m)
{
	if (m->n_node_ids == 0 || m->n_node_ids > WIRE_MEMBERS_MAX)
		return 0;
	for (size_t i = 0; i < m->n_node_ids; i++) {
		if (!id_ok(&m->node_ids[i]))
			return 0;
	}
	return 1;
}

/* Shape only: the certificate and signature are checked by the recovery
 * module (src/node/recovery.c) and by whoever recovers with the record. */
static int recovery_record_ok(const Shoal__RecoveryRecord *m)
{
	return m->owner_cert.len > 0 && m->owner_cert.len <= WIRE_CERT_MAX && id_ok(&m->locator) &&
	       m->sealed_capability.len > 0 && m->sealed_capability.len <= WIRE_SEALED_MAX &&
	       m->signature.len == WIRE_SIG_LEN;
}

static int folder_id_ok(const ProtobufCBinaryData *b)
{
	return b->len == WIRE_FOLDER_ID_LEN;
}

/* Shape only: the proof is checked by the folder module (src/node/folder.c). */
static int folder_hello_ok(const Shoal__FolderHello *m)
{
	/* Without a folder id it is a probe, which says nothing more. */
	if (!m->folder_id.len && m->n_have)
		return 0;
	if ((m->folder_id.len && !folder_id_ok(&m->folder_id)) || !id_ok(&m->proof) ||
	    m->n_have > WIRE_FOLDER_HAVE_MAX)
		return 0;
	for (size_t i = 0; i < m->n_have; i++) {
		if (!m->have[i] || !id_ok(&m->have[i]->author))
			return 0;
	}
	return 1;
}

/* The batches' sizes must add up to the payload; their signatures and rows
 * are the folder module's to check. */
static int folder_batches_ok(const Shoal__FolderBatches *m, uint32_t payload_len)
{
	if (!folder_id_ok(&m->folder_id) || !id_ok(&m->proof) || m->n_sizes == 0 ||
	    m->n_sizes > WIRE_FOLDER_BATCHES_MAX)
		return 0;
	uint64_t sum = 0;
	for (size_t i = 0; i < m->n_sizes; i++) {
		if (m->sizes[i] == 0 || m->sizes[i] > WIRE_FOLDER_BATCH_MAX)
			return 0;
		sum += m->sizes[i];
	}
	return sum == payload_len && sum <= WIRE_FOLDER_PAYLOAD_MAX;
}

static int envelope_ok(const Shoal__Envelope *env)
{
	if (!field_numbers_ok(&env->base))
		return 0;
	/* Only Chunk, PutChunk and FolderBatches carry a payload. */
	if (env->msg_case != SHOAL__ENVELOPE__MSG_CHUNK &&
	    env->msg_case != SHOAL__ENVELOPE__MSG_PUT_CHUNK &&
	    env->msg_case != SHOAL__ENVELOPE__MSG_FOLDER_BATCHES && env->payload_len != 0)
		return 0;
	switch (env->msg_case) {
	case SHOAL__ENVELOPE__MSG_HELLO:
		return env->hello && hello_ok(env->hello);
	case SHOAL__ENVELOPE__MSG_PING:
		return env->ping != NULL;
	case SHOAL__ENVELOPE__MSG_PONG:
		return env->pong != NULL;
	case SHOAL__ENVELOPE__MSG_PEERS:
		return env->peers && peers_ok(env->peers);
	case SHOAL__ENVELOPE__MSG_GET_CHUNK:
		return env->get_chunk && id_ok(&env->get_chunk->id);
	case SHOAL__ENVELOPE__MSG_CHUNK:
		return env->chunk && id_ok(&env->chunk->id) && chunk_payload_ok(env->payload_len);
	case SHOAL__ENVELOPE__MSG_ERROR:
		return env->error && str_len(env->error->text) <= WIRE_TEXT_MAX;
	case SHOAL__ENVELOPE__MSG_PUT_CHUNK:
		return env->put_chunk && put_chunk_ok(env->put_chunk, env->payload_len);
	case SHOAL__ENVELOPE__MSG_PUT_ACK:
		return env->put_ack && id_ok(&env->put_ack->id);
	case SHOAL__ENVELOPE__MSG_HAVE:
		return env->have && ids_ok(env->have->n_ids, env->have->ids);
	case SHOAL__ENVELOPE__MSG_HAVE_REPLY:
		return env->have_reply && env->have_reply->have.len <= (WIRE_IDS_MAX + 7) / 8 &&
		       env->have_reply->own.len <= (WIRE_IDS_MAX + 7) / 8;
	case SHOAL__ENVELOPE__MSG_UNPIN:
		return env->unpin && ids_ok(env->unpin->n_ids, env->unpin->ids);
	case SHOAL__ENVELOPE__MSG_FETCH:
		return env->fetch && id_ok(&env->fetch->manifest_id) && id_ok(&env->fetch->key) &&
		       name_empty_ok(env->fetch->name);
	case SHOAL__ENVELOPE__MSG_FETCH_DONE:
		return env->fetch_done && env->fetch_done->fetched <= env->fetch_done->chunks &&
		       name_empty_ok(env->fetch_done->name);
	case SHOAL__ENVELOPE__MSG_CATALOG_DELTA:
		return env->catalog_delta && catalog_delta_ok(env->catalog_delta);
	case SHOAL__ENVELOPE__MSG_CATALOG_DIGEST:
		return env->catalog_digest && id_ok(&env->catalog_digest->digest);
	case SHOAL__ENVELOPE__MSG_CATALOG_REQUEST:
		return env->catalog_request != NULL;
	case SHOAL__ENVELOPE__MSG_REVOCATIONS:
		return env->revocations && revocations_ok(env->revocations, WIRE_REVOCATIONS_MAX);
	case SHOAL__ENVELOPE__MSG_LEAVE:
		return env->leave != NULL;
	case SHOAL__ENVELOPE__MSG_FORGET:
		return env->forget && forget_ok(env->forget);
	case SHOAL__ENVELOPE__MSG_RECOVERY_RECORD:
		return env->recovery_record && recovery_record_ok(env->recovery_record);
	case SHOAL__ENVELOPE__MSG_RECOVERY_QUERY:
		return env->recovery_query && id_ok(&env->recovery_query->locator);
	case SHOAL__ENVELOPE__MSG_FOLDER_HELLO:
		return env->folder_hello && folder_hello_ok(env->folder_hello);
	case SHOAL__ENVELOPE__MSG_FOLDER_BATCHES:
		return env->folder_batches &&
		       folder_batches_ok(env->folder_batches, env->payload_len);
	default:
		/* Nothing set (or a case this build does not know). */
		return 0;
	}
}

static int target_ok(const char *target)
{
	size_t len = str_len(target);
	return len > 0 && len <= WIRE_PATH_MAX;
}

/* CtlPruneRequest: the most versions one rule keeps. */
#define KEEP_MAX 1000000

static int ctl_request_ok(const Shoal__CtlRequest *req)
{
	if (!field_numbers_ok(&req->base))
		return 0;
	switch (req->req_case) {
	case SHOAL__CTL_REQUEST__REQ_STATUS:
		return req->status != NULL;
	case SHOAL__CTL_REQUEST__REQ_PEERS:
		return req->peers != NULL;
	case SHOAL__CTL_REQUEST__REQ_LS:
		return req->ls != NULL;
	case SHOAL__CTL_REQUEST__REQ_VERIFY:
		return req->verify != NULL;
	case SHOAL__CTL_REQUEST__REQ_PUT:
		return req->put && abs_path_ok(req->put->path) && name_ok(req->put->name) &&
		       req->put->replicas <= WIRE_REPLICAS_MAX;
	case SHOAL__CTL_REQUEST__REQ_GET:
		return req->get && target_ok(req->get->target) && abs_path_ok(req->get->out_path);
	case SHOAL__CTL_REQUEST__REQ_SEND:
		return req->send && target_ok(req->send->target) && id_ok(&req->send->to);
	case SHOAL__CTL_REQUEST__REQ_LOCATE:
		return req->locate && target_ok(req->locate->target);
	case SHOAL__CTL_REQUEST__REQ_RM:
		return req->rm && name_ok(req->rm->name);
	case SHOAL__CTL_REQUEST__REQ_REVOKE:
		return req->revoke && revocation_ok(req->revoke->revocation);
	case SHOAL__CTL_REQUEST__REQ_REVOCATIONS:
		return req->revocations != NULL;
	case SHOAL__CTL_REQUEST__REQ_FORGET:
		return req->forget && id_ok(&req->forget->node_id);
	case SHOAL__CTL_REQUEST__REQ_DRAIN:
		return req->drain != NULL;
	case SHOAL__CTL_REQUEST__REQ_VERSIONS:
		return req->versions && name_ok(req->versions->name);
	case SHOAL__CTL_REQUEST__REQ_PRUNE:
		return req->prune && (!str_len(req->prune->name) || name_ok(req->prune->name)) &&
		       req->prune->keep_last <= KEEP_MAX && req->prune->keep_daily <= KEEP_MAX &&
		       req->prune->keep_weekly <= KEEP_MAX && req->prune->keep_monthly <= KEEP_MAX;
	case SHOAL__CTL_REQUEST__REQ_RECOVERY_KEY:
		return req->recovery_key != NULL;
	case SHOAL__CTL_REQUEST__REQ_RECOVER:
		return req->recover && str_len(req->recover->key) <= WIRE_TEXT_MAX;
	case SHOAL__CTL_REQUEST__REQ_FOLDER:
		return req->folder &&
		       (!str_len(req->folder->path) || abs_path_ok(req->folder->path)) &&
		       str_len(req->folder->invite) <= WIRE_TEXT_MAX &&
		       str_len(req->folder->label) <= WIRE_TEXT_MAX &&
		       str_len(req->folder->keep) <= WIRE_TEXT_MAX &&
		       req->folder->replicas <= WIRE_REPLICAS_MAX;
	default:
		return 0;
	}
}

static int ctl_peers_ok(const Shoal__CtlPeersReply *m)
{
	if (m->n_peers > WIRE_CTL_LIST_MAX)
		return 0;
	for (size_t i = 0; i < m->n_peers; i++) {
		if (!m->peers[i] || !id_ok(&m->peers[i]->node_id))
			return 0;
	}
	return 1;
}

static int ctl_names_ok(const Shoal__CtlNames *m)
{
	if (m->n_names > WIRE_CTL_LIST_MAX)
		return 0;
	for (size_t i = 0; i < m->n_names; i++) {
		if (!m->names[i] || (m->names[i]->owner.len && !id_ok(&m->names[i]->owner)))
			return 0;
	}
	return 1;
}

static int ctl_versions_ok(const Shoal__CtlVersions *m)
{
	if (m->n_versions > WIRE_CTL_LIST_MAX)
		return 0;
	for (size_t i = 0; i < m->n_versions; i++) {
		if (!m->versions[i])
			return 0;
	}
	return 1;
}

static int ctl_verify_ok(const Shoal__CtlVerify *m)
{
	if (m->n_bad > WIRE_CTL_LIST_MAX)
		return 0;
	for (size_t i = 0; i < m->n_bad; i++) {
		if (!m->bad[i] || !id_ok(&m->bad[i]->id))
			return 0;
	}
	return 1;
}

static int ctl_locate_ok(const Shoal__CtlLocate *m)
{
	if (m->n_chunks > WIRE_CTL_LIST_MAX)
		return 0;
	for (size_t i = 0; i < m->n_chunks; i++) {
		const Shoal__CtlChunkHolders *c = m->chunks[i];
		if (!c || !id_ok(&c->id) || c->n_holders > WIRE_MEMBERS_MAX ||
		    c->n_nicknames > c->n_holders)
			return 0;
		for (size_t j = 0; j < c->n_holders; j++) {
			if (!id_ok(&c->holders[j]))
				return 0;
		}
	}
	return 1;
}

static int ctl_reply_ok(const Shoal__CtlReply *rep)
{
	if (!field_numbers_ok(&rep->base))
		return 0;
	if (str_len(rep->text) > WIRE_CTL_TEXT_MAX || str_len(rep->warning) > WIRE_CTL_TEXT_MAX)
		return 0;
	if (rep->failed_chunk.len != 0 && !id_ok(&rep->failed_chunk))
		return 0;
	switch (rep->reply_case) {
	case SHOAL__CTL_REPLY__REPLY__NOT_SET:
		return 1;
	case SHOAL__CTL_REPLY__REPLY_STATUS:
		return rep->status && id_ok(&rep->status->node_id);
	case SHOAL__CTL_REPLY__REPLY_PEERS:
		return rep->peers && ctl_peers_ok(rep->peers);
	case SHOAL__CTL_REPLY__REPLY_CAPABILITY:
		return rep->capability != NULL;
	case SHOAL__CTL_REPLY__REPLY_NAMES:
		return rep->names && ctl_names_ok(rep->names);
	case SHOAL__CTL_REPLY__REPLY_VERIFY:
		return rep->verify && ctl_verify_ok(rep->verify);
	case SHOAL__CTL_REPLY__REPLY_PROGRESS:
		return rep->progress != NULL;
	case SHOAL__CTL_REPLY__REPLY_FOLDER:
		return rep->folder != NULL;
	case SHOAL__CTL_REPLY__REPLY_LOCATE:
		return rep->locate && ctl_locate_ok(rep->locate);
	case SHOAL__CTL_REPLY__REPLY_REVOCATIONS:
		return rep->revocations &&
		       revocations_ok(rep->revocations, WIRE_CTL_REVOCATIONS_MAX);
	case SHOAL__CTL_REPLY__REPLY_VERSIONS:
		return rep->versions && ctl_versions_ok(rep->versions);
	case SHOAL__CTL_REPLY__REPLY_PRUNED:
		return rep->pruned && ctl_versions_ok(rep->pruned);
	case SHOAL__CTL_REPLY__REPLY_RECOVERY_KEY:
		return rep->recovery_key && str_len(rep->recovery_key->key) <= WIRE_TEXT_MAX;
	case SHOAL__CTL_REPLY__REPLY_RECOVERED:
		return rep->recovered &&
		       (rep->recovered->owner.len == 0 || id_ok(&rep->recovered->owner));
	default:
		return 0;
	}
}

int wire_decode(const uint8_t *p, size_t n, ProtobufCAllocator *alloc, Shoal__Envelope **out)
{
	Shoal__Envelope *env;

	if (n > FRAME_HEADER_MAX)
		return SHOAL_EPROTO;
	env = shoal__envelope__unpack(alloc, n, p);
	if (!env)
		return SHOAL_EPROTO;
	if (!envelope_ok(env)) {
		shoal__envelope__free_unpacked(env, alloc);
		return SHOAL_EPROTO;
	}
	*out = env;
	return 0;
}

void wire_free(Shoal__Envelope *env, ProtobufCAllocator *alloc)
{
	if (env)
		shoal__envelope__free_unpacked(env, alloc);
}

int wire_frame_decode(const uint8_t *p, size_t n, void **msg, uint32_t *payload_len, void *arg)
{
	Shoal__Envelope *env = NULL;
	(void)arg;

	int err = wire_decode(p, n, NULL, &env);
	if (err)
		return err;
	*msg = env;
	*payload_len = env->payload_len;
	return 0;
}

void wire_frame_free(void *msg, void *arg)
{
	(void)arg;
	wire_free(msg, NULL);
}

/* Validates env (with payload_len = n) and packs it into a new buffer. */
static int pack_envelope(Shoal__Envelope *env, size_t n, uint8_t **hdr, size_t *hdr_len)
{
	*hdr = NULL;
	if (n > UINT32_MAX)
		return SHOAL_EPROTO;
	env->payload_len = (uint32_t)n;
	if (!envelope_ok(env))
		return SHOAL_EPROTO;
	*hdr_len = protobuf_c_message_get_packed_size(&env->base);
	if (*hdr_len == 0 || *hdr_len > FRAME_HEADER_MAX)
		return SHOAL_ETOOBIG;
	*hdr = malloc(*hdr_len);
	if (!*hdr)
		return -ENOMEM;
	if (protobuf_c_message_pack(&env->base, *hdr) != *hdr_len) {
		free(*hdr);
		*hdr = NULL;
		return SHOAL_EPROTO;
	}
	return 0;
}

int wire_send(struct evbuffer *out, Shoal__Envelope *env, const void *payload, size_t n)
{
	uint8_t *hdr;
	size_t hdr_len;
	int err = pack_envelope(env, n, &hdr, &hdr_len);
	if (!err)
		err = frame_write(out, hdr, hdr_len, payload, n);
	free(hdr);
	return err;
}

int wire_send_ref(struct evbuffer *out, Shoal__Envelope *env, const void *payload, size_t n,
		  frame_cleanup_fn cleanup, void *arg)
{
	uint8_t *hdr;
	size_t hdr_len;
	int err = pack_envelope(env, n, &hdr, &hdr_len);
	if (err)
		cleanup(payload, n, arg);
	else
		err = frame_write_ref(out, hdr, hdr_len, payload, n, cleanup, arg);
	free(hdr);
	return err;
}

int wire_send_owned(struct evbuffer *out, Shoal__Envelope *env, void *payload, size_t n)
{
	uint8_t *hdr;
	size_t hdr_len;
	int err = pack_envelope(env, n, &hdr, &hdr_len);
	if (err)
		free(payload);
	else
		err = frame_write_owned(out, hdr, hdr_len, payload, n);
	free(hdr);
	return err;
}

int wire_ctl_request_decode(const uint8_t *p, size_t n, Shoal__CtlRequest **out)
{
	Shoal__CtlRequest *req;

	if (n > FRAME_HEADER_MAX)
		return SHOAL_EPROTO;
	req = shoal__ctl_request__unpack(NULL, n, p);
	if (!req)
		return SHOAL_EPROTO;
	if (!ctl_request_ok(req)) {
		shoal__ctl_request__free_unpacked(req, NULL);
		return SHOAL_EPROTO;
	}
	*out = req;
	return 0;
}

int wire_ctl_reply_decode(const uint8_t *p, size_t n, Shoal__CtlReply **out)
{
	Shoal__CtlReply *rep;

	if (n > WIRE_CTL_REPLY_MAX)
		return SHOAL_EPROTO;
	rep = shoal__ctl_reply__unpack(NULL, n, p);
	if (!rep)
		return SHOAL_EPROTO;
	if (!ctl_reply_ok(rep)) {
		shoal__ctl_reply__free_unpacked(rep, NULL);
		return SHOAL_EPROTO;
	}
	*out = rep;
	return 0;
}

int wire_ctl_request_frame_decode(const uint8_t *p, size_t n, void **msg, uint32_t *payload_len,
				  void *arg)
{
	Shoal__CtlRequest *req = NULL;
	(void)arg;

	int err = wire_ctl_request_decode(p, n, &req);
	if (err)
		return err;
	*msg = req;
	*payload_len = 0;
	return 0;
}

void wire_ctl_request_frame_free(void *msg, void *arg)
{
	(void)arg;
	if (msg)
		shoal__ctl_request__free_unpacked(msg, NULL);
}

/* Appends msg to out as a frame of at most max bytes of message. */
static int pack_frame(const ProtobufCMessage *msg, size_t max, struct buf *out)
{
	size_t len = protobuf_c_message_get_packed_size(msg);

	/* A frame is never empty: only a reply with every field at its default packs to nothing. */
	if (len == 0)
		return SHOAL_EPROTO;
	if (len > max || len > UINT32_MAX)
		return SHOAL_ETOOBIG;
	buf_grow(out, 4 + len);
	size_t start = out->len;
	buf_add_be32(out, (uint32_t)len);
	if (protobuf_c_message_pack(msg, out->data + out->len) != len) {
		buf_setlen(out, start);
		return SHOAL_EPROTO;
	}
	buf_setlen(out, out->len + len);
	return 0;
}

int wire_ctl_request_pack(const Shoal__CtlRequest *req, struct buf *out)
{
	if (!ctl_request_ok(req))
		return SHOAL_EPROTO;
	return pack_frame(&req->base, FRAME_HEADER_MAX, out);
}

int wire_ctl_reply_pack(const Shoal__CtlReply *rep, struct buf *out)
{
	if (!ctl_reply_ok(rep))
		return SHOAL_EPROTO;
	return pack_frame(&rep->base, WIRE_CTL_REPLY_MAX, out);
}
