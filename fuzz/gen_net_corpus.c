/*
 * Writes the seed corpora of the network harnesses: `gen_net_corpus
 * FRAME_DIR ENVELOPE_DIR REVOCATION_DIR` (run by hand; its output is
 * committed in fuzz/corpus/frame/, fuzz/corpus/envelope/ and
 * fuzz/corpus/revocation/: Revocations messages, well formed and not). Envelope seeds are valid
 * Envelopes of each message type and control requests and replies of each
 * kind, packed by protobuf-c, then messages with one rule broken, cut short,
 * and garbage. Frame seeds are streams made by wire_send() (one frame of each
 * type, several in a row, chunks with payloads) under the split prefix that
 * fuzz/fuzz_frame.c reads (one read, byte by byte, a few read sizes), plus bad
 * lengths, payloads over the cap, streams cut mid-frame and garbage. Folder
 * seeds: FolderHello and FolderBatches (its sizes adding up to the payload),
 * and each with one rule of src/net/wire.c broken.
 * Everything is deterministic. Build, from the repo root:
 *   cc -std=c17 -D_GNU_SOURCE -Isrc -Ibuild/gen fuzz/gen_net_corpus.c \
 *      build/libshoal.a $(pkg-config --libs libevent libprotobuf-c openssl sqlite3 jansson) \
 *      -lpthread
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/frame.h"
#include "net/wire.h"
#include "proto/manifest.h"
#include "util/buf.h"
#include "util/error.h"

static const char *out_dir;
static int failures;

static void emit(const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_net_corpus: cannot write %s: %s\n", path, strerror(errno));
		failures++;
	}
}

static void emit_msg(const char *name, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		abort();
	protobuf_c_message_pack(m, p);
	emit(name, p, n);
	free(p);
}

/* The first n bytes of m's encoding. */
static void emit_msg_cut(const char *name, const ProtobufCMessage *m, size_t n)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		abort();
	protobuf_c_message_pack(m, p);
	emit(name, p, n < len ? n : len);
	free(p);
}

/* Field `field` (length-delimited) holding count empty entries of its field 1. */
static void emit_empties(const char *name, unsigned field, size_t count)
{
	struct buf b = BUF_INIT;
	size_t len = 2 * count;
	uint8_t byte = (uint8_t)(field << 3 | 2);

	buf_add(&b, &byte, 1);
	do {
		byte = (uint8_t)(len & 0x7f) | (len > 0x7f ? 0x80 : 0);
		buf_add(&b, &byte, 1);
		len >>= 7;
	} while (len);
	for (size_t i = 0; i < count; i++)
		buf_add(&b, "\x0a\x00", 2);
	emit(name, b.data, b.len);
	buf_release(&b);
}

static uint8_t id_a[WIRE_ID_LEN], id_b[WIRE_ID_LEN];
static uint8_t payload[8192];

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = {n, (uint8_t *)p};
	return b;
}

/* One message of each type, reused by both corpora. */
static Shoal__Hello hello = SHOAL__HELLO__INIT;
static Shoal__Ping ping = SHOAL__PING__INIT;
static Shoal__Pong pong = SHOAL__PONG__INIT;
static Shoal__Member members[3];
static Shoal__Member *member_ptrs[3];
static Shoal__Peers peers = SHOAL__PEERS__INIT;
static Shoal__GetChunk get_chunk = SHOAL__GET_CHUNK__INIT;
static Shoal__Chunk chunk = SHOAL__CHUNK__INIT;
static Shoal__Error error = SHOAL__ERROR__INIT;
static uint8_t sig[WIRE_SIG_LEN];
static Shoal__Revocation revs[2];
static Shoal__Revocation *rev_ptrs[2];
static Shoal__Revocations revocations = SHOAL__REVOCATIONS__INIT;
static Shoal__Leave leave = SHOAL__LEAVE__INIT;
static ProtobufCBinaryData forget_ids[2];
static Shoal__Forget forget = SHOAL__FORGET__INIT;
static Shoal__Fetch fetch = SHOAL__FETCH__INIT;
static Shoal__FetchDone fetch_done = SHOAL__FETCH_DONE__INIT;
static uint8_t cert_der[600], sealed[140];
static Shoal__RecoveryRecord record = SHOAL__RECOVERY_RECORD__INIT;
static Shoal__RecoveryQuery query = SHOAL__RECOVERY_QUERY__INIT;
static uint8_t folder_id[WIRE_FOLDER_ID_LEN];
static Shoal__FolderHave haves[2];
static Shoal__FolderHave *have_ptrs[2];
static Shoal__FolderHello folder_hello = SHOAL__FOLDER_HELLO__INIT;
static uint32_t batch_sizes[WIRE_FOLDER_BATCHES_MAX + 1];
static Shoal__FolderBatches folder_batches = SHOAL__FOLDER_BATCHES__INIT;
/* What folder_batches' sizes add up to, as its Envelope's payload_len. */
#define FOLDER_PAYLOAD (1000 + 2000)

static void messages_init(void)
{
	static const char *addrs[3] = {"10.0.0.2:7400", "[fe80::1]:7401", "node-c.example:7402"};
	for (size_t i = 0; i < WIRE_ID_LEN; i++) {
		id_a[i] = (uint8_t)(i * 3 + 1);
		id_b[i] = (uint8_t)(0xC0 ^ (i * 5));
	}
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 + (i >> 8));
	hello.version = SHOAL__PROTOCOL_VERSION__PROTOCOL_VERSION_1;
	hello.node_id = bin(id_a, WIRE_ID_LEN);
	hello.listen_addr = "10.0.0.1:7400";
	ping.nonce = 42;
	pong.nonce = 42;
	for (size_t i = 0; i < 3; i++) {
		shoal__member__init(&members[i]);
		members[i].node_id = bin(i % 2 ? id_b : id_a, WIRE_ID_LEN);
		members[i].addr = (char *)addrs[i];
		members[i].last_seen = 1700000000 + (int64_t)i;
		member_ptrs[i] = &members[i];
	}
	peers.members = member_ptrs;
	peers.n_members = 3;
	get_chunk.id = bin(id_b, WIRE_ID_LEN);
	chunk.id = bin(id_b, WIRE_ID_LEN);
	error.code = SHOAL__ERROR__CODE__NOT_FOUND;
	error.text = "chunk not stored here";
	for (size_t i = 0; i < WIRE_SIG_LEN; i++)
		sig[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < 2; i++) {
		shoal__revocation__init(&revs[i]);
		revs[i].node_id = bin(i ? id_b : id_a, WIRE_ID_LEN);
		revs[i].time = 1790000000 + (int64_t)i;
		revs[i].reason = i ? "" : "laptop stolen";
		revs[i].signature = bin(sig, WIRE_SIG_LEN);
		rev_ptrs[i] = &revs[i];
	}
	revocations.list = rev_ptrs;
	revocations.n_list = 2;
	forget_ids[0] = bin(id_a, WIRE_ID_LEN);
	forget_ids[1] = bin(id_b, WIRE_ID_LEN);
	forget.node_ids = forget_ids;
	forget.n_node_ids = 2;
	fetch.manifest_id = bin(id_a, WIRE_ID_LEN);
	fetch.key = bin(id_b, WIRE_ID_LEN);
	fetch.name = "report.pdf";
	fetch_done.chunks = 5;
	fetch_done.fetched = 2;
	fetch_done.name = "report.pdf (from alpha)";
	for (size_t i = 0; i < sizeof(cert_der); i++)
		cert_der[i] = (uint8_t)(i * 17 + 9);
	for (size_t i = 0; i < sizeof(sealed); i++)
		sealed[i] = (uint8_t)(i * 29 + 4);
	record.owner_cert = bin(cert_der, sizeof(cert_der));
	record.seq = 1796513743000000;
	record.locator = bin(id_b, WIRE_ID_LEN);
	record.sealed_capability = bin(sealed, sizeof(sealed));
	record.signature = bin(sig, WIRE_SIG_LEN);
	query.locator = bin(id_b, WIRE_ID_LEN);
	for (size_t i = 0; i < WIRE_FOLDER_ID_LEN; i++)
		folder_id[i] = (uint8_t)(0x5A ^ (i * 11));
	for (size_t i = 0; i < 2; i++) {
		shoal__folder_have__init(&haves[i]);
		haves[i].author = bin(i ? id_b : id_a, WIRE_ID_LEN);
		haves[i].index_id = 0x1122334455667788ULL + i;
		haves[i].seq = 40 + i;
		have_ptrs[i] = &haves[i];
	}
	folder_hello.folder_id = bin(folder_id, WIRE_FOLDER_ID_LEN);
	folder_hello.proof = bin(id_b, WIRE_ID_LEN);
	folder_hello.have = have_ptrs;
	folder_hello.n_have = 2;
	for (size_t i = 0; i < sizeof(batch_sizes) / sizeof(batch_sizes[0]); i++)
		batch_sizes[i] = 1;
	batch_sizes[0] = 1000;
	batch_sizes[1] = 2000;
	folder_batches.folder_id = bin(folder_id, WIRE_FOLDER_ID_LEN);
	folder_batches.proof = bin(id_a, WIRE_ID_LEN);
	folder_batches.sizes = batch_sizes;
	folder_batches.n_sizes = 2;
}

static Shoal__Envelope envelope(Shoal__Envelope__MsgCase which, uint64_t request_id)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	env.request_id = request_id;
	env.msg_case = which;
	switch (which) {
	case SHOAL__ENVELOPE__MSG_HELLO:
		env.hello = &hello;
		break;
	case SHOAL__ENVELOPE__MSG_PING:
		env.ping = &ping;
		break;
	case SHOAL__ENVELOPE__MSG_PONG:
		env.pong = &pong;
		break;
	case SHOAL__ENVELOPE__MSG_PEERS:
		env.peers = &peers;
		break;
	case SHOAL__ENVELOPE__MSG_GET_CHUNK:
		env.get_chunk = &get_chunk;
		break;
	case SHOAL__ENVELOPE__MSG_CHUNK:
		env.chunk = &chunk;
		break;
	case SHOAL__ENVELOPE__MSG_ERROR:
		env.error = &error;
		break;
	case SHOAL__ENVELOPE__MSG_REVOCATIONS:
		env.revocations = &revocations;
		break;
	case SHOAL__ENVELOPE__MSG_LEAVE:
		env.leave = &leave;
		break;
	case SHOAL__ENVELOPE__MSG_FORGET:
		env.forget = &forget;
		break;
	case SHOAL__ENVELOPE__MSG_FETCH:
		env.fetch = &fetch;
		break;
	case SHOAL__ENVELOPE__MSG_FETCH_DONE:
		env.fetch_done = &fetch_done;
		break;
	case SHOAL__ENVELOPE__MSG_RECOVERY_RECORD:
		env.recovery_record = &record;
		break;
	case SHOAL__ENVELOPE__MSG_RECOVERY_QUERY:
		env.recovery_query = &query;
		break;
	case SHOAL__ENVELOPE__MSG_FOLDER_HELLO:
		env.folder_hello = &folder_hello;
		break;
	case SHOAL__ENVELOPE__MSG_FOLDER_BATCHES:
		env.folder_batches = &folder_batches;
		env.payload_len = FOLDER_PAYLOAD;
		break;
	default:
		break;
	}
	return env;
}

/* Collaborative folders' messages (the wire's rules; proofs and batches are
 * the folder module's to check). */
static void folder_seeds(void)
{
	Shoal__Envelope env = envelope(SHOAL__ENVELOPE__MSG_FOLDER_HELLO, 0);
	emit_msg("valid-folder-hello", &env.base);
	folder_hello.n_have = 0;
	emit_msg("valid-folder-hello-no-haves", &env.base);
	folder_hello.n_have = 2;
	folder_hello.folder_id = bin(folder_id, WIRE_FOLDER_ID_LEN - 1);
	emit_msg("bad-folder-hello-short-id", &env.base);
	folder_hello.folder_id = bin(folder_id, WIRE_FOLDER_ID_LEN);
	folder_hello.proof = bin(id_b, WIRE_ID_LEN - 1);
	emit_msg("bad-folder-hello-short-proof", &env.base);
	folder_hello.proof = bin(id_b, WIRE_ID_LEN);
	haves[1].author = bin(id_b, WIRE_ID_LEN + 1);
	emit_msg("bad-folder-hello-long-author", &env.base);
	haves[1].author = bin(id_b, WIRE_ID_LEN);
	env.payload_len = 16;
	emit_msg("bad-folder-hello-payload", &env.base);
	env.payload_len = 0;
	{
		/* One have more than the most. */
		static Shoal__FolderHave *many[WIRE_FOLDER_HAVE_MAX + 1];
		for (size_t i = 0; i < WIRE_FOLDER_HAVE_MAX + 1; i++)
			many[i] = &haves[i % 2];
		folder_hello.have = many;
		folder_hello.n_have = WIRE_FOLDER_HAVE_MAX;
		emit_msg("valid-folder-hello-most-haves", &env.base);
		folder_hello.n_have = WIRE_FOLDER_HAVE_MAX + 1;
		emit_msg("bad-folder-hello-too-many-haves", &env.base);
		folder_hello.have = have_ptrs;
		folder_hello.n_have = 2;
	}
	emit_msg_cut("bad-folder-hello-truncated", &env.base, 30);

	env = envelope(SHOAL__ENVELOPE__MSG_FOLDER_BATCHES, 0);
	emit_msg("valid-folder-batches", &env.base);
	env.payload_len = FOLDER_PAYLOAD + 1;
	emit_msg("bad-folder-batches-sizes-short", &env.base);
	env.payload_len = FOLDER_PAYLOAD - 1;
	emit_msg("bad-folder-batches-sizes-over", &env.base);
	env.payload_len = 0;
	emit_msg("bad-folder-batches-no-payload", &env.base);
	env.payload_len = FOLDER_PAYLOAD;
	folder_batches.n_sizes = 0;
	emit_msg("bad-folder-batches-no-sizes", &env.base);
	folder_batches.n_sizes = WIRE_FOLDER_BATCHES_MAX + 1;
	env.payload_len = FOLDER_PAYLOAD + WIRE_FOLDER_BATCHES_MAX - 1;
	emit_msg("bad-folder-batches-too-many", &env.base);
	folder_batches.n_sizes = 2;
	batch_sizes[1] = 0;
	env.payload_len = 1000;
	emit_msg("bad-folder-batches-size-zero", &env.base);
	batch_sizes[1] = (uint32_t)WIRE_FOLDER_BATCH_MAX + 1;
	env.payload_len = (uint32_t)WIRE_FOLDER_BATCH_MAX + 1001;
	emit_msg("bad-folder-batches-size-over", &env.base);
	batch_sizes[0] = (uint32_t)WIRE_FOLDER_BATCH_MAX;
	batch_sizes[1] = (uint32_t)WIRE_FOLDER_BATCH_MAX;
	env.payload_len = 2 * (uint32_t)WIRE_FOLDER_BATCH_MAX;
	emit_msg("bad-folder-batches-payload-over", &env.base);
	batch_sizes[0] = 1000;
	batch_sizes[1] = 2000;
	env.payload_len = FOLDER_PAYLOAD;
	folder_batches.proof = bin(id_a, 0);
	emit_msg("bad-folder-batches-no-proof", &env.base);
	folder_batches.proof = bin(id_a, WIRE_ID_LEN);
}

static void envelope_seeds(void)
{
	Shoal__Envelope env;

	env = envelope(SHOAL__ENVELOPE__MSG_HELLO, 0);
	emit_msg("valid-hello", &env.base);
	hello.listen_addr = "";
	emit_msg("valid-hello-no-addr", &env.base);
	hello.listen_addr = "10.0.0.1:7400";
	env = envelope(SHOAL__ENVELOPE__MSG_PING, 7);
	emit_msg("valid-ping", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_PONG, 7);
	emit_msg("valid-pong", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_PEERS, 0);
	emit_msg("valid-peers", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_GET_CHUNK, 1000);
	emit_msg("valid-get-chunk", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_CHUNK, 1000);
	env.payload_len = 1 << 20;
	emit_msg("valid-chunk", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_ERROR, 1000);
	emit_msg("valid-error", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_REVOCATIONS, 0);
	emit_msg("valid-revocations", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_LEAVE, 0);
	emit_msg("valid-leave", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_FORGET, 0);
	emit_msg("valid-forget", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_FETCH, 9);
	emit_msg("valid-fetch-named", &env.base);
	fetch.name = "";
	emit_msg("valid-fetch-unnamed", &env.base);
	fetch.name = "report.pdf";
	env = envelope(SHOAL__ENVELOPE__MSG_FETCH_DONE, 9);
	emit_msg("valid-fetch-done-named", &env.base);

	/* One rule broken each. */
	env = envelope(SHOAL__ENVELOPE__MSG__NOT_SET, 5);
	emit_msg("bad-envelope-empty", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_HELLO, 0);
	hello.node_id = bin(id_a, WIRE_ID_LEN - 1);
	emit_msg("bad-hello-short-id", &env.base);
	hello.node_id = bin(id_a, WIRE_ID_LEN);
	hello.listen_addr = "10.0.0.1:99999";
	emit_msg("bad-hello-port", &env.base);
	hello.listen_addr = "10.0.0.1:7400";
	env = envelope(SHOAL__ENVELOPE__MSG_PEERS, 0);
	members[1].last_seen = -1;
	emit_msg("bad-peers-last-seen", &env.base);
	members[1].last_seen = 1700000001;
	members[2].addr = "no port";
	emit_msg("bad-peers-addr", &env.base);
	members[2].addr = "node-c.example:7402";
	env = envelope(SHOAL__ENVELOPE__MSG_PING, 7);
	env.payload_len = 16;
	emit_msg("bad-ping-payload", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_CHUNK, 1000);
	env.payload_len = OBJECT_SIZE_MAX + 1;
	emit_msg("bad-chunk-payload-over", &env.base);
	env.payload_len = WIRE_CHUNK_MIN - 1;
	emit_msg("bad-chunk-payload-short", &env.base);
	char long_text[WIRE_TEXT_MAX + 2];
	memset(long_text, 'e', WIRE_TEXT_MAX + 1);
	long_text[WIRE_TEXT_MAX + 1] = '\0';
	env = envelope(SHOAL__ENVELOPE__MSG_ERROR, 1);
	error.text = long_text;
	emit_msg("bad-error-text", &env.base);
	error.text = "chunk not stored here";
	env = envelope(SHOAL__ENVELOPE__MSG_HELLO, 0);
	emit_msg_cut("bad-hello-truncated", &env.base, 20);
	env = envelope(SHOAL__ENVELOPE__MSG_REVOCATIONS, 0);
	revs[1].signature = bin(sig, WIRE_SIG_LEN - 1);
	emit_msg("bad-revocation-short-signature", &env.base);
	revs[1].signature = bin(sig, WIRE_SIG_LEN);
	revs[1].time = -1;
	emit_msg("bad-revocation-time", &env.base);
	revs[1].time = 1790000001;
	revs[1].reason = long_text;
	emit_msg("bad-revocation-reason", &env.base);
	revs[1].reason = "";
	env = envelope(SHOAL__ENVELOPE__MSG_LEAVE, 0);
	env.payload_len = 8;
	emit_msg("bad-leave-payload", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_FORGET, 0);
	forget.n_node_ids = 0;
	emit_msg("bad-forget-empty", &env.base);
	forget.n_node_ids = 2;
	forget_ids[1] = bin(id_b, WIRE_ID_LEN + 1);
	emit_msg("bad-forget-long-id", &env.base);
	forget_ids[1] = bin(id_b, WIRE_ID_LEN);
	env = envelope(SHOAL__ENVELOPE__MSG_FETCH, 9);
	fetch.name = "../etc";
	emit_msg("bad-fetch-name", &env.base);
	fetch.name = "report.pdf";
	env = envelope(SHOAL__ENVELOPE__MSG_FETCH_DONE, 9);
	fetch_done.name = "a/b";
	emit_msg("bad-fetch-done-name", &env.base);
	fetch_done.name = "report.pdf (from alpha)";
	env = envelope(SHOAL__ENVELOPE__MSG_RECOVERY_RECORD, 0);
	emit_msg("valid-recovery-record", &env.base);
	env.request_id = 12;
	emit_msg("valid-recovery-record-reply", &env.base);
	env = envelope(SHOAL__ENVELOPE__MSG_RECOVERY_QUERY, 12);
	emit_msg("valid-recovery-query", &env.base);
	query.locator = bin(id_b, WIRE_ID_LEN - 1);
	emit_msg("bad-recovery-query-short-locator", &env.base);
	query.locator = bin(id_b, WIRE_ID_LEN);
	env = envelope(SHOAL__ENVELOPE__MSG_RECOVERY_RECORD, 0);
	record.signature = bin(sig, WIRE_SIG_LEN - 1);
	emit_msg("bad-recovery-record-signature", &env.base);
	record.signature = bin(sig, WIRE_SIG_LEN);
	record.sealed_capability = bin(payload, WIRE_SEALED_MAX + 1);
	emit_msg("bad-recovery-record-sealed-long", &env.base);
	record.sealed_capability = bin(sealed, 0);
	emit_msg("bad-recovery-record-sealed-empty", &env.base);
	record.sealed_capability = bin(sealed, sizeof(sealed));
	record.owner_cert = bin(payload, WIRE_CERT_MAX + 1);
	emit_msg("bad-recovery-record-cert-long", &env.base);
	record.owner_cert = bin(cert_der, sizeof(cert_der));
	record.locator = bin(id_b, 0);
	emit_msg("bad-recovery-record-no-locator", &env.base);
	record.locator = bin(id_b, WIRE_ID_LEN);
	emit_msg_cut("bad-recovery-record-truncated", &env.base, 40);
	folder_seeds();

	/* Control requests. */
	Shoal__CtlRequest req = SHOAL__CTL_REQUEST__INIT;
	Shoal__CtlStatusRequest status_req = SHOAL__CTL_STATUS_REQUEST__INIT;
	Shoal__CtlPutRequest put = SHOAL__CTL_PUT_REQUEST__INIT;
	Shoal__CtlGetRequest get = SHOAL__CTL_GET_REQUEST__INIT;
	Shoal__CtlRmRequest rm = SHOAL__CTL_RM_REQUEST__INIT;
	Shoal__CtlVersionsRequest versions_req = SHOAL__CTL_VERSIONS_REQUEST__INIT;
	Shoal__CtlPruneRequest prune = SHOAL__CTL_PRUNE_REQUEST__INIT;
	req.request_id = 1;
	req.req_case = SHOAL__CTL_REQUEST__REQ_STATUS;
	req.status = &status_req;
	emit_msg("valid-ctl-status", &req.base);
	put.path = "/home/user/report.pdf";
	put.name = "report.pdf";
	req.req_case = SHOAL__CTL_REQUEST__REQ_PUT;
	req.put = &put;
	emit_msg("valid-ctl-put", &req.base);
	put.path = "home/user/report.pdf";
	emit_msg("bad-ctl-put-relative", &req.base);
	put.path = "/home/user/report.pdf";
	put.name = "../etc";
	emit_msg("bad-ctl-put-name", &req.base);
	get.target = "report.pdf";
	get.out_path = "/tmp/report.pdf";
	req.req_case = SHOAL__CTL_REQUEST__REQ_GET;
	req.get = &get;
	emit_msg("valid-ctl-get", &req.base);
	rm.name = "report.pdf";
	req.req_case = SHOAL__CTL_REQUEST__REQ_RM;
	req.rm = &rm;
	emit_msg("valid-ctl-rm", &req.base);
	rm.version = 3;
	emit_msg("valid-ctl-rm-version", &req.base);
	get.version = 2;
	req.req_case = SHOAL__CTL_REQUEST__REQ_GET;
	emit_msg("valid-ctl-get-version", &req.base);
	versions_req.name = "report.pdf";
	req.req_case = SHOAL__CTL_REQUEST__REQ_VERSIONS;
	req.versions = &versions_req;
	emit_msg("valid-ctl-versions", &req.base);
	versions_req.name = "";
	emit_msg("bad-ctl-versions-no-name", &req.base);
	prune.name = "";
	prune.keep_last = 2;
	prune.keep_daily = 7;
	prune.dry_run = 1;
	req.req_case = SHOAL__CTL_REQUEST__REQ_PRUNE;
	req.prune = &prune;
	emit_msg("valid-ctl-prune", &req.base);
	prune.keep_weekly = 2000000;
	emit_msg("bad-ctl-prune-keep", &req.base);
	Shoal__CtlRecoveryKeyRequest key_req = SHOAL__CTL_RECOVERY_KEY_REQUEST__INIT;
	Shoal__CtlRecoverRequest recover = SHOAL__CTL_RECOVER_REQUEST__INIT;
	req.req_case = SHOAL__CTL_REQUEST__REQ_RECOVERY_KEY;
	req.recovery_key = &key_req;
	emit_msg("valid-ctl-recovery-key", &req.base);
	recover.key = "shoal-recovery:aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmm";
	req.req_case = SHOAL__CTL_REQUEST__REQ_RECOVER;
	req.recover = &recover;
	emit_msg("valid-ctl-recover", &req.base);
	recover.key = long_text;
	emit_msg("bad-ctl-recover-long-key", &req.base);

	/* Control replies. */
	Shoal__CtlReply rep = SHOAL__CTL_REPLY__INIT;
	Shoal__CtlStatus status = SHOAL__CTL_STATUS__INIT;
	Shoal__CtlPeer peer = SHOAL__CTL_PEER__INIT;
	Shoal__CtlPeer *peer_ptrs[1] = {&peer};
	Shoal__CtlPeersReply peers_rep = SHOAL__CTL_PEERS_REPLY__INIT;
	Shoal__CtlName name = SHOAL__CTL_NAME__INIT;
	Shoal__CtlName *name_ptrs[1] = {&name};
	Shoal__CtlNames names = SHOAL__CTL_NAMES__INIT;
	Shoal__CtlBadChunk bad = SHOAL__CTL_BAD_CHUNK__INIT;
	Shoal__CtlBadChunk *bad_ptrs[1] = {&bad};
	Shoal__CtlVerify verify = SHOAL__CTL_VERIFY__INIT;
	Shoal__CtlVersion version = SHOAL__CTL_VERSION__INIT;
	Shoal__CtlVersion *version_ptrs[1] = {&version};
	Shoal__CtlVersions versions = SHOAL__CTL_VERSIONS__INIT;
	rep.request_id = 1;
	status.node_id = bin(id_a, WIRE_ID_LEN);
	status.listen_addr = "0.0.0.0:7400";
	status.peers_up = 2;
	status.chunks = 17;
	status.bytes = 1 << 24;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_STATUS;
	rep.status = &status;
	emit_msg("valid-ctl-reply-status", &rep.base);
	peer.node_id = bin(id_b, WIRE_ID_LEN);
	peer.addr = "10.0.0.2:7400";
	peer.up = 1;
	peer.rtt_us = 300;
	peers_rep.peers = peer_ptrs;
	peers_rep.n_peers = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PEERS;
	rep.peers = &peers_rep;
	emit_msg("valid-ctl-reply-peers", &rep.base);
	name.name = "report.pdf";
	name.size = 123456;
	name.capability = "shoal:aaaa:bbbb";
	names.names = name_ptrs;
	names.n_names = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_NAMES;
	rep.names = &names;
	emit_msg("valid-ctl-reply-names", &rep.base);
	name.sender = bin(id_b, WIRE_ID_LEN);
	name.sender_nickname = "alpha";
	emit_msg("valid-ctl-reply-names-received", &rep.base);
	name.sender = bin(id_b, 0);
	name.sender_nickname = "";
	bad.id = bin(id_b, WIRE_ID_LEN);
	bad.err = SHOAL_ECORRUPT;
	verify.checked = 3;
	verify.corrupt = 1;
	verify.bad = bad_ptrs;
	verify.n_bad = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERIFY;
	rep.verify = &verify;
	emit_msg("valid-ctl-reply-verify", &rep.base);
	version.name = "report.pdf";
	version.version = 2;
	version.size = 123456;
	version.capability = "shoal:aaaa:bbbb";
	version.copies = 3;
	version.wanted = 3;
	versions.versions = version_ptrs;
	versions.n_versions = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_VERSIONS;
	rep.versions = &versions;
	emit_msg("valid-ctl-reply-versions", &rep.base);
	versions.removed = 1;
	rep.reply_case = SHOAL__CTL_REPLY__REPLY_PRUNED;
	rep.pruned = &versions;
	emit_msg("valid-ctl-reply-pruned", &rep.base);
	rep.reply_case = SHOAL__CTL_REPLY__REPLY__NOT_SET;
	rep.err = SHOAL_ENOTFOUND;
	rep.text = "no file named 'x'";
	rep.failed_chunk = bin(id_b, WIRE_ID_LEN);
	emit_msg("valid-ctl-reply-error", &rep.base);
	rep.failed_chunk = bin(id_b, 5);
	emit_msg("bad-ctl-reply-failed-chunk", &rep.base);

	/*
	 * What makes protobuf-c allocate the most per input byte (see
	 * fuzz/fuzz_envelope.c): 2-byte empty submessages, many of them.
	 */
	emit_empties("bad-peers-empty-members", 13, 2046);
	emit_empties("bad-ctl-reply-empty-peers", 11, 2046);
	{
		struct buf b = BUF_INIT;
		for (int i = 0; i < 2048; i++)
			buf_add(&b, "\x52\x00", 2); /* hello {}, again and again */
		emit("bad-hello-repeated-empty", b.data, b.len);
		buf_reset(&b);
		for (int i = 0; i < 2048; i++)
			buf_add(&b, "\x62\x00", 2); /* put {}, the largest CtlRequest body */
		emit("bad-ctl-put-repeated-empty", b.data, b.len);
		buf_release(&b);
	}

	/* Garbage. */
	emit("garbage-empty", "", 0);
	emit("garbage-ff", "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	emit("garbage-varint-overlong", "\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12);
	emit("garbage-wire-type-7", "\x0f\x00", 2);
	emit("garbage-length-huge", "\x52\xff\xff\xff\xff\x0f", 6);
}

static void stream_send(struct evbuffer *frames, Shoal__Envelope__MsgCase which, size_t n)
{
	Shoal__Envelope env = envelope(which, 3);
	int err = wire_send(frames, &env, n ? payload : NULL, n);
	if (err) {
		fprintf(stderr, "gen_net_corpus: wire_send: %s\n", shoal_strerror(err));
		failures++;
	}
}

/* Writes splits (count then sizes) followed by the contents of frames, which it empties. */
static void emit_stream(const char *name, const uint8_t *splits, size_t nsplits,
			struct evbuffer *frames)
{
	struct buf b = BUF_INIT;
	uint8_t k = (uint8_t)nsplits;
	buf_add(&b, &k, 1);
	buf_add(&b, splits, nsplits);
	size_t n = evbuffer_get_length(frames);
	buf_grow(&b, n);
	evbuffer_remove(frames, b.data + b.len, n);
	buf_setlen(&b, b.len + n);
	emit(name, b.data, b.len);
	buf_release(&b);
}

static void frame_seeds(void)
{
	static const uint8_t bytewise[1] = {0};
	static const uint8_t mixed[3] = {2, 40, 255};
	struct evbuffer *frames = evbuffer_new();
	if (!frames)
		abort();

	stream_send(frames, SHOAL__ENVELOPE__MSG_HELLO, 0);
	emit_stream("valid-hello", NULL, 0, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_HELLO, 0);
	emit_stream("valid-hello-bytewise", bytewise, 1, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PING, 0);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PONG, 0);
	emit_stream("valid-ping-pong", mixed, 3, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PEERS, 0);
	emit_stream("valid-peers", mixed, 3, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_GET_CHUNK, 0);
	stream_send(frames, SHOAL__ENVELOPE__MSG_ERROR, 0);
	emit_stream("valid-get-chunk-error", NULL, 0, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_CHUNK, WIRE_CHUNK_MIN);
	emit_stream("valid-chunk-min", bytewise, 1, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_CHUNK, 5000);
	emit_stream("valid-chunk-5000", mixed, 3, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_HELLO, 0);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PEERS, 0);
	stream_send(frames, SHOAL__ENVELOPE__MSG_GET_CHUNK, 0);
	stream_send(frames, SHOAL__ENVELOPE__MSG_CHUNK, 4096);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PING, 0);
	emit_stream("valid-session", mixed, 3, frames);
	stream_send(frames, SHOAL__ENVELOPE__MSG_FOLDER_HELLO, 0);
	stream_send(frames, SHOAL__ENVELOPE__MSG_FOLDER_BATCHES, FOLDER_PAYLOAD);
	emit_stream("valid-folder-exchange", mixed, 3, frames);

	/* Bad lengths, each followed by a valid frame the reader must never reach. */
	static const uint8_t zero_len[4] = {0, 0, 0, 0};
	static const uint8_t huge_len[4] = {0xff, 0xff, 0xff, 0xff};
	static const uint8_t over_len[4] = {0, 1, 0, 1}; /* FRAME_HEADER_MAX + 1 */
	evbuffer_add(frames, zero_len, 4);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PING, 0);
	emit_stream("bad-length-zero", NULL, 0, frames);
	evbuffer_add(frames, huge_len, 4);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PING, 0);
	emit_stream("bad-length-huge", NULL, 0, frames);
	evbuffer_add(frames, over_len, 4);
	stream_send(frames, SHOAL__ENVELOPE__MSG_PING, 0);
	emit_stream("bad-length-over-max", mixed, 3, frames);

	/* A Chunk header naming more than OBJECT_SIZE_MAX, packed by hand. */
	Shoal__Envelope env = envelope(SHOAL__ENVELOPE__MSG_CHUNK, 3);
	env.payload_len = OBJECT_SIZE_MAX + 1;
	uint8_t hdr[128];
	size_t hdr_len = protobuf_c_message_pack(&env.base, hdr);
	frame_write(frames, hdr, hdr_len, NULL, 0);
	emit_stream("bad-chunk-payload-over", NULL, 0, frames);
	/* A Ping header claiming a payload. */
	env = envelope(SHOAL__ENVELOPE__MSG_PING, 3);
	env.payload_len = 8;
	hdr_len = protobuf_c_message_pack(&env.base, hdr);
	frame_write(frames, hdr, hdr_len, payload, 8);
	emit_stream("bad-ping-payload", NULL, 0, frames);
	/* A header that is not an Envelope. */
	frame_write(frames, (const uint8_t *)"\xff\xff\xff\xff", 4, NULL, 0);
	emit_stream("bad-header-garbage", NULL, 0, frames);

	/* Streams that stop mid-frame: in the header, and in the payload. */
	stream_send(frames, SHOAL__ENVELOPE__MSG_HELLO, 0);
	{
		struct evbuffer *cut = evbuffer_new();
		evbuffer_remove_buffer(frames, cut, 20);
		evbuffer_drain(frames, evbuffer_get_length(frames));
		emit_stream("cut-in-header", NULL, 0, cut);
		stream_send(cut, SHOAL__ENVELOPE__MSG_CHUNK, 5000);
		evbuffer_remove_buffer(cut, frames, evbuffer_get_length(cut) - 100);
		evbuffer_free(cut);
		emit_stream("cut-in-payload", mixed, 3, frames);
	}

	emit("garbage-empty", "", 0);
	emit("garbage-splits-only", "\x0f\x01\x02\x03", 4);
	evbuffer_free(frames);
}

/* Revocations messages as fuzz/fuzz_revocation.c reads them. */
static void revocation_seeds(void)
{
	emit_msg("valid-two", &revocations.base);
	revocations.n_list = 1;
	emit_msg("valid-one", &revocations.base);
	revocations.n_list = 2;
	revs[0].node_id = bin(id_a, WIRE_ID_LEN - 1);
	emit_msg("bad-short-id", &revocations.base);
	revs[0].node_id = bin(id_a, WIRE_ID_LEN);
	revs[0].time = -5;
	emit_msg("bad-time", &revocations.base);
	revs[0].time = 1790000000;
	char long_reason[300];
	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	revs[0].reason = long_reason;
	emit_msg("bad-reason", &revocations.base);
	revs[0].reason = "laptop stolen";
	emit_msg_cut("bad-truncated", &revocations.base, 50);
	emit_empties("bad-empties", 1, 64);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s FRAME_DIR ENVELOPE_DIR REVOCATION_DIR\n", argv[0]);
		return 2;
	}
	messages_init();
	out_dir = argv[1];
	frame_seeds();
	out_dir = argv[2];
	envelope_seeds();
	out_dir = argv[3];
	revocation_seeds();
	return failures ? 1 : 0;
}
