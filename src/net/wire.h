/*
 * The wire and control protocol messages (proto/shoal.proto) as they cross a
 * connection: decoding with protobuf-c followed by validation against the
 * schema's rules and Shoal's limits, so that the protocol layer only ever sees
 * well-formed messages; and packing into frames (net/frame.h). Peer frames
 * carry an Envelope and, for Chunk, raw payload bytes; control frames carry a
 * CtlRequest or CtlReply and never a payload. Anything that fails to decode or
 * validate is SHOAL_EPROTO, with nothing left allocated. Strings are checked
 * as protobuf-c hands them over, NUL-terminated: bytes after an embedded NUL
 * are never seen by anyone, so the rules hold for what is used.
 */
#ifndef SHOAL_NET_WIRE_H
#define SHOAL_NET_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <protobuf-c/protobuf-c.h>

#include "proto/shoal.pb-c.h"
#include "net/frame.h"
#include "util/buf.h"

#define WIRE_ID_LEN		 32	/* node ids and chunk ids */
#define WIRE_MEMBERS_MAX	 256	/* Peers.members */
#define WIRE_TEXT_MAX		 256	/* Error.text bytes */
#define WIRE_PATH_MAX		 4096	/* control paths and get targets, bytes */
#define WIRE_CHUNK_MIN		 16	/* smallest Chunk payload: an empty plaintext's GCM tag */
#define WIRE_CTL_TEXT_MAX	 1024	/* CtlReply.text bytes */
#define WIRE_CTL_LIST_MAX	 100000 /* entries of each CtlReply list */
#define WIRE_IDS_MAX		 1024	/* ids in Have and Unpin */
#define WIRE_CATALOG_MAX	 64	/* entries in one CatalogDelta */
#define WIRE_CERT_MAX		 2048	/* CatalogEntry.owner_cert bytes */
#define WIRE_SIG_LEN		 64	/* Ed25519 signature bytes */
#define WIRE_REVOCATIONS_MAX	 128	/* Revocations.list in a frame */
#define WIRE_CTL_REVOCATIONS_MAX 4096	/* ... in a CtlReply (every one kept) */
#define WIRE_REPLICAS_MAX	 16	/* CtlPutRequest.replicas */
#define WIRE_SEALED_MAX		 256	/* RecoveryRecord.sealed_capability bytes */
#define WIRE_FOLDER_ID_LEN	 16	/* FolderHello/FolderBatches.folder_id bytes */
#define WIRE_FOLDER_HAVE_MAX	 1024	/* FolderHello.have */
#define WIRE_FOLDER_BATCHES_MAX	 64	/* FolderBatches.sizes */
#define WIRE_FOLDER_BATCH_MAX	 ((size_t)1024 * 1024) /* one packed FolderBatch */
#define WIRE_FOLDER_PAYLOAD_MAX	 ((size_t)1088 * 1024) /* a FolderBatches payload */
/*
 * Largest CtlReply message: a full `ls` (WIRE_CTL_LIST_MAX names of up to 255
 * bytes with their capabilities) is about 40 MiB. CtlRequests are peer-sized
 * (FRAME_HEADER_MAX), so the daemon reads them with a frame_reader.
 */
#define WIRE_CTL_REPLY_MAX ((size_t)64 * 1024 * 1024)

/*
 * Unpacks and validates an Envelope from p[0..n) (n at most FRAME_HEADER_MAX),
 * allocating through alloc (NULL: protobuf-c's default, malloc). Rules:
 *  - exactly one message set;
 *  - payload_len 0, except for Chunk and PutChunk without pin_only:
 *    WIRE_CHUNK_MIN..OBJECT_SIZE_MAX;
 *  - Hello: node_id WIRE_ID_LEN bytes, listen_addr "" or valid per
 *    addr_check(); the version is not checked here (the protocol layer answers
 *    another version with a VERSION error);
 *  - Peers: at most WIRE_MEMBERS_MAX members, each with a WIRE_ID_LEN node_id,
 *    an addr valid per addr_check() and last_seen >= 0;
 *  - GetChunk, Chunk, PutChunk, PutAck: id WIRE_ID_LEN bytes;
 *  - Have, Unpin: 1..WIRE_IDS_MAX ids of WIRE_ID_LEN bytes; HaveReply: at most
 *    WIRE_IDS_MAX bits; Fetch: manifest_id and key WIRE_ID_LEN bytes, name
 *    empty or valid per name_validate(); FetchDone: fetched <= chunks, name
 *    empty or valid;
 *  - CatalogDelta: 1..WIRE_CATALOG_MAX entries, each with a certificate of
 *    1..WIRE_CERT_MAX bytes, name and capability at most 255 bytes and a
 *    WIRE_SIG_LEN-byte signature (what they say is the catalog's to check);
 *    CatalogDigest: digest WIRE_ID_LEN bytes;
 *  - Error: text at most WIRE_TEXT_MAX bytes (any code: unknown ones mean
 *    UNKNOWN);
 *  - Revocations: at most WIRE_REVOCATIONS_MAX (a CtlReply's, at most
 *    WIRE_CTL_REVOCATIONS_MAX), each with a WIRE_ID_LEN
 *    node_id, a WIRE_SIG_LEN signature, time >= 0 and a reason of at most
 *    WIRE_TEXT_MAX bytes (the signature is the revocation list's to check);
 *    Forget: 1..WIRE_MEMBERS_MAX node ids of WIRE_ID_LEN bytes;
 *  - Ping, Pong, Leave: nothing.
 * Unknown fields are ignored (this holds for every decoder here), but must
 * have a valid field number, 1..2^29-1, in any message. Returns 0 with *out
 * set (free with wire_free() and the same alloc), or SHOAL_EPROTO with *out
 * untouched and nothing allocated. protobuf-c materialises every field before the rules are
 * checked, allocating in total at most 64 * n + 4 KiB (so 4 MiB for the largest header, briefly:
 * fuzz/fuzz_envelope.c checks the bound); a caller that wants less passes an alloc with a budget.
 */
int wire_decode(const uint8_t *p, size_t n, ProtobufCAllocator *alloc, Shoal__Envelope **out);

/* Frees an Envelope from wire_decode() (with the alloc it was decoded with). Accepts NULL. */
void wire_free(Shoal__Envelope *env, ProtobufCAllocator *alloc);

/*
 * frame_decode_fn for peer connections: wire_decode() with the default
 * allocator; *msg is the Shoal__Envelope and *payload_len its payload_len. arg
 * is unused.
 */
int wire_frame_decode(const uint8_t *p, size_t n, void **msg, uint32_t *payload_len, void *arg);
/* frame_free_fn matching wire_frame_decode(). */
void wire_frame_free(void *msg, void *arg);

/*
 * Sets env->payload_len = n, checks env against the rules of wire_decode() (a
 * node never sends what its peers must refuse), packs it and appends the
 * frame (length, Envelope, payload[0..n), payload may be NULL when n is 0) to
 * out, whole or not at all. env and payload are borrowed. Returns 0,
 * SHOAL_EPROTO (env breaks a rule), SHOAL_ETOOBIG (the Envelope packs to more
 * than FRAME_HEADER_MAX bytes) or -ENOMEM.
 */
int wire_send(struct evbuffer *out, Shoal__Envelope *env, const void *payload, size_t n);
/* Like wire_send(), but takes ownership of payload (malloc'd) and queues it
 * without copying (frame_write_owned()); payload is freed on failure too. */
int wire_send_owned(struct evbuffer *out, Shoal__Envelope *env, void *payload, size_t n);
/* Like wire_send(), queueing payload by reference: cleanup (see
 * frame_write_ref()) is called once it is no longer needed, in every case. */
int wire_send_ref(struct evbuffer *out, Shoal__Envelope *env, const void *payload, size_t n,
		  frame_cleanup_fn cleanup, void *arg);

/*
 * Unpacks and validates a CtlRequest from p[0..n) (n at most
 * FRAME_HEADER_MAX). Rules: exactly one request set; Put: path absolute
 * (starts with '/'), at most WIRE_PATH_MAX bytes, name valid per
 * name_validate(), replicas at most WIRE_REPLICAS_MAX; Get: target
 * 1..WIRE_PATH_MAX bytes, out_path absolute, at most WIRE_PATH_MAX bytes;
 * Send: target as for Get, `to` WIRE_ID_LEN bytes; Locate: target as for Get;
 * Rm: name valid per name_validate(); Versions: the same; Prune: name
 * empty or valid, each keep_* at most 1000000; Revoke: a revocation shaped as in
 * Revocations; Forget: node_id WIRE_ID_LEN bytes. Returns 0 with
 * *out set (free with shoal__ctl_request__free_unpacked(*out, NULL)) or
 * SHOAL_EPROTO with *out untouched.
 */
int wire_ctl_request_decode(const uint8_t *p, size_t n, Shoal__CtlRequest **out);

/*
 * Unpacks and validates a CtlReply from p[0..n) (n at most
 * WIRE_CTL_REPLY_MAX). Rules: text and warning at most WIRE_CTL_TEXT_MAX bytes;
 * failed_chunk empty or WIRE_ID_LEN bytes; the peers, names, versions and bad lists at
 * most WIRE_CTL_LIST_MAX entries each; node ids (status, peers, name owners,
 * holders) and chunk ids (bad, located) WIRE_ID_LEN bytes; at most
 * WIRE_MEMBERS_MAX holders per located chunk, no more nicknames than
 * holders; revocations as in Revocations. No reply body is fine (an error, or rm). Returns 0
 * with *out set (free with shoal__ctl_reply__free_unpacked(*out, NULL)) or
 * SHOAL_EPROTO with *out untouched.
 */
int wire_ctl_reply_decode(const uint8_t *p, size_t n, Shoal__CtlReply **out);

/*
 * frame_decode_fn for the daemon's side of the control socket:
 * wire_ctl_request_decode(); *msg is the Shoal__CtlRequest, *payload_len is
 * always 0. arg is unused.
 */
int wire_ctl_request_frame_decode(const uint8_t *p, size_t n, void **msg, uint32_t *payload_len,
				  void *arg);
/* frame_free_fn matching wire_ctl_request_frame_decode(). */
void wire_ctl_request_frame_free(void *msg, void *arg);

/*
 * Check req / rep against the rules of the matching decoder, then append it to
 * out as one frame (4-byte big-endian length, message) for a blocking socket;
 * out is left as it was on failure. Returns 0, SHOAL_EPROTO (the message
 * breaks a rule: the daemon must shorten a long error text itself; or a
 * reply with every field at its default, which packs to an empty message that
 * no frame can carry: give requests non-zero ids) or
 * SHOAL_ETOOBIG (a request over FRAME_HEADER_MAX, a reply over
 * WIRE_CTL_REPLY_MAX bytes).
 */
int wire_ctl_request_pack(const Shoal__CtlRequest *req, struct buf *out);
int wire_ctl_reply_pack(const Shoal__CtlReply *rep, struct buf *out);

#endif
