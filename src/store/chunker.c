/*
 * FastCDC-style content-defined chunking (see chunker.h for the contract). A gear hash
 * fp = (fp << 1) + gear[byte] rolls over the bytes of the current chunk from CHUNK_MIN on; a
 * byte whose fingerprint has none of the mask bits set ends the chunk. Before CHUNK_AVG the
 * mask has 22 bits (a byte cuts with probability 2^-22, 4x less than 1 / CHUNK_AVG), from
 * CHUNK_AVG on it has 18 (4x more), which pulls chunk sizes towards CHUNK_AVG (FastCDC's
 * normalized chunking, level 2); CHUNK_MAX cuts unconditionally. The masks are contiguous
 * high bits ending at bit 62: bit k of a gear hash depends on the last k + 1 bytes, so every
 * tested bit mixes 42 to 63 bytes, and a cut depends on the last 63 bytes rather than the
 * last few. This runs on the reader thread at several GB/s: the inner loop compiles to two
 * loads, an lea, a test and a branch per byte. FastCDC's two-bytes-per-iteration variant
 * measured only a few percent faster here, not worth its extra code.
 */
#include "store/chunker.h"

#include <assert.h>

/*
 * Mask bits tested before and after CHUNK_AVG; CHUNK_AVG is 2^20, so 20 +- 2 bits. Like the
 * gear table, these must never change: they decide where every chunk ends.
 */
#define MASK_STRICT (((UINT64_C(1) << 22) - 1) << 41)
#define MASK_LOOSE  (((UINT64_C(1) << 18) - 1) << 45)

/*
 * The gear table: 256 fixed pseudo-random 64-bit constants, generated once with SplitMix64
 * (Steele, Lea and Flood's constants 0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9,
 * 0x94d049bb133111eb) from the seed 0x73686f616c636463 ("shoalcdc" in ASCII), entry i being
 * the (i + 1)th output. Written out so that no code can change it: boundaries, and with them
 * deduplication between every node and every version, depend on each bit.
 */
static const uint64_t gear[256] = {
	0x015df8793198fd20ULL, 0xcef529a6ab37c331ULL, 0xfce42a2cd58f7862ULL, 0x613d233e8d9ed0d8ULL,
	0x8b858eee782b6b14ULL, 0xc178e446ce2890c5ULL, 0xd1cffc67f261a014ULL, 0xe6a664aa4c5b2183ULL,
	0xc73fc3a7943c9992ULL, 0x42025b630642e392ULL, 0x24c9b0bf163df7ccULL, 0x2850fcab92ffc1daULL,
	0xd17061ab828be87cULL, 0x843d4922933451bfULL, 0xdbef66095ab0295cULL, 0x4e5f9e6909a7a92cULL,
	0x9f53b9cbab32e8ceULL, 0x3b76f1c3ee79eadfULL, 0x8ae3124632706bf8ULL, 0x68bf4d3b61470a94ULL,
	0x1c1aed5c8ea28998ULL, 0xd6246a510eb15941ULL, 0x3304ecd2d9b243d8ULL, 0x6588458066dca8efULL,
	0xaffe79559af5ccf0ULL, 0x7c2489411813bfbdULL, 0x5ee2ac41e8c94125ULL, 0x99818a506a716b4bULL,
	0xec9e8937033a3da9ULL, 0xdc8fbd25645a63ecULL, 0x40c25332ede1ecabULL, 0x37a5fe44ab3ba83cULL,
	0xeb71f89bb55cfa9aULL, 0xd43142331fea599bULL, 0xc153687830006b2eULL, 0x7298cae26f819284ULL,
	0xe65fa7f67cea97d1ULL, 0x66e63e8df880604cULL, 0x90a0f2df9106870dULL, 0x8a8c2caf75e753faULL,
	0x593a541d197b97ebULL, 0xf7cf6a3e8af53da6ULL, 0xd01efe5bfae4f6f7ULL, 0x9400459923011ab6ULL,
	0xc0e7dc695c3509b9ULL, 0x0ebd0fcfaeec3d56ULL, 0x8b2bc58175eb1f07ULL, 0x6e0ff89354d24143ULL,
	0x9b48b2d81919888dULL, 0xaffd74b6ec3faa27ULL, 0x018fd246e3ce2737ULL, 0x6c78d1c87f763668ULL,
	0x746518284d033d41ULL, 0x6d21bab77946e883ULL, 0x9f4d21a691a6cec7ULL, 0x2bba86de0d896f72ULL,
	0xc5af96902025def7ULL, 0x4a57ac0518abd759ULL, 0x335df1c1d7a8e68eULL, 0x0cd924674a93715bULL,
	0x7d8ca2c1ded6ee84ULL, 0xf4877e8e5c34c13dULL, 0x2fc1369eb8ff23dfULL, 0xd9e68af49f7b194fULL,
	0x73d746defc012557ULL, 0xc2103226625be131ULL, 0xa4024f11dbe6c91eULL, 0x405a325942628d5fULL,
	0x43f0c4f40c261782ULL, 0x36b9e977b935911eULL, 0xf58db7dc07fcedf9ULL, 0x11ce2c3f38169694ULL,
	0x3cb176d9c92d0227ULL, 0xa93a4df91fde600eULL, 0xff6233d1fc696419ULL, 0x66ae57b1c3ef246cULL,
	0x3271e1d577cb3d39ULL, 0xab3633a054fb8859ULL, 0xae9cefae5d0350a7ULL, 0x62bb9eb9b66602d9ULL,
	0xaf4e44addbc82bdeULL, 0x2b0ef2e7d19ce98eULL, 0xba6c693a2eaf8489ULL, 0x2a4e21b915c12e2aULL,
	0xed21c9ebc790f963ULL, 0x6ecb0d73f1053bd8ULL, 0x2d94b8e4c750f091ULL, 0xace6f1e716786c2cULL,
	0x7a5717ee5ae6bcd0ULL, 0xa996d6686b03109cULL, 0xe87b343b4f2d2f4dULL, 0x2416f3326e1b410dULL,
	0x41c2fa721973fa5dULL, 0xd6292eae9d85fcb8ULL, 0xa23707d0f768c2cbULL, 0x32f47dee1a6fa0f4ULL,
	0x89e7edd49d7c98c9ULL, 0xb56dc924ebfb9ac6ULL, 0x578468002e85c93aULL, 0xfdc2ffd6bd749f5fULL,
	0xe4533eb3c659a73eULL, 0x2226ca19c626493fULL, 0x07c353d9a02508b4ULL, 0x4612d46ca288dfc1ULL,
	0x929fa604bb4bb766ULL, 0x5284e3b6c657c85fULL, 0x20859bef2c996ab8ULL, 0xb9813009cd4070c1ULL,
	0x4314ee62a5789df0ULL, 0xcafc6c5e4b1e2f2cULL, 0xf2c41dc40230ebb7ULL, 0x988a9f2a859dc091ULL,
	0xf2673470332e4975ULL, 0xb593dd9de0c8cf5eULL, 0x2ca98f37b1755edaULL, 0x760f161f2384d5aaULL,
	0xe937661ae158a28eULL, 0x74359942a973106aULL, 0x9637aadde5cb298aULL, 0xc2f1afc50ec50027ULL,
	0x70219a0c59b1a613ULL, 0x90b04fd0a31abd6eULL, 0xd3265e85f0000859ULL, 0x4d6369038b5e149cULL,
	0xdf56657f91169c52ULL, 0x1c85a0967dfb5011ULL, 0xbb6bbd67c4c7897aULL, 0x8f1535c4d8d29b17ULL,
	0x92b30e659bfc5301ULL, 0xe3adc9751da6c382ULL, 0x76fab8919a636229ULL, 0xc864b8b9ff55aac0ULL,
	0x629db24d0af17081ULL, 0xd219cca902ce96d6ULL, 0xf608361c1ef8e745ULL, 0x9ca91fa7519321ceULL,
	0x25c6ddfa5c0c3c39ULL, 0xdcdf482f043ac5fcULL, 0x0c74787859d31ff4ULL, 0x3f5e5f596dfd0117ULL,
	0xd7bd28981b96f74fULL, 0x6d156b78b3902e9eULL, 0x209e2159b05b14caULL, 0x19a1b53c5fc2d13fULL,
	0x591fa6802035f937ULL, 0x99108fccaa29370fULL, 0x42555b4d8a7a0bdcULL, 0x7f25654c96494f3fULL,
	0xc99e33280bca57d1ULL, 0xa2881481d6e2ed0eULL, 0x09e19ea4947cc339ULL, 0x17dc547f87279a22ULL,
	0x9b74e462d88a1f1eULL, 0xa7be4e264e9c9cfaULL, 0x5e1271118e99c370ULL, 0x9924c32c1edb9d38ULL,
	0x74a61a870d28db72ULL, 0x28d4d57ea0b21bc6ULL, 0xa41b0f6869e09d50ULL, 0x8c1258952c1cf707ULL,
	0x27c3084c2a626118ULL, 0xc7cd1f248c5c2040ULL, 0x6b0b29cd241e5e08ULL, 0x4ac7f353453de6b7ULL,
	0xd575f5a2f6fe56ccULL, 0x8c69841b28992367ULL, 0x218b4160b1a9dc41ULL, 0xaecd65f132182564ULL,
	0x94b8ce1ed09c0b90ULL, 0x131b50818970d37fULL, 0x0feb2ac0d9893e4bULL, 0x56813216f7a3c462ULL,
	0xae3d37aeaa7b4d3bULL, 0xf1f381201b4c5d1aULL, 0x47b5e6c66f41d82cULL, 0x761be3b43fdb4648ULL,
	0x29992c7cc7f9379bULL, 0xc7c448a5eb818c00ULL, 0x31bd468af18fb674ULL, 0xc0b5170d91101f6eULL,
	0x0e89f2b67a8d823aULL, 0x5663e24b08409c43ULL, 0x41e979c9f7ee95c3ULL, 0xcbd6e89fd2a4daa3ULL,
	0x690433187f6d1e25ULL, 0x0819d1904dc0db2dULL, 0x4d3cd6eb332b075eULL, 0x697c9630608be1e6ULL,
	0x619b3ed449b2dad3ULL, 0xb5589b912d458f9cULL, 0xfd6633c5368b18b9ULL, 0x4284a7c79d32e0a4ULL,
	0xd56ef943d103d73dULL, 0xaa8e85ce3154723dULL, 0x5285c75ffd21d792ULL, 0xa05883dd1ed73e9dULL,
	0x217f0e5eafb41753ULL, 0xb6e000aa173dbf2cULL, 0x59b503c0b038160bULL, 0x3d8b2d21d44ac2beULL,
	0x73de39c8c6c080ebULL, 0x991f884957f27eabULL, 0x19cbc2d127f5b200ULL, 0x373816948e452abbULL,
	0xa2a638dda46048a0ULL, 0xd6c138eef840eb61ULL, 0x63beef071c0163f7ULL, 0x9043cfb8b8fb22c5ULL,
	0x7d63b76206a674aeULL, 0x1be4e2fa36078859ULL, 0xaa9487e2b221ad40ULL, 0x29a7360fabbcf5f2ULL,
	0xf31ab327c12110baULL, 0x9f2e83c4df40b5dcULL, 0x54d3032df005fa8dULL, 0xe686a2c36848f29aULL,
	0x4ed4d4ab9318fbeaULL, 0x5fd41d3bc6908551ULL, 0x185857e0b58fb5aeULL, 0x4a086efc50fe3e21ULL,
	0x7805bb237d577bdaULL, 0x26fa184e3677ad4cULL, 0x7e0dd9bf60563fdfULL, 0x8adba30c7307f8c6ULL,
	0x1a9502c36f3cbd04ULL, 0xf56333a4217dd37aULL, 0x0decb3eef39a3959ULL, 0xaf949dc13d2cef74ULL,
	0xb15d015bf2572382ULL, 0x8603c9639712be18ULL, 0x42d2c20743195225ULL, 0x2a5f574ddf0e1f4aULL,
	0x2a607a6a9616a686ULL, 0x766a0f2d39090a1cULL, 0xe01eaa0deb395d48ULL, 0xf46b2377164c75acULL,
	0xc2010dd98e5cbc85ULL, 0x7056a980888d7fa1ULL, 0xb8e4d2d811bb8c45ULL, 0xceb5f5e8f4b02712ULL,
	0xe97efa383f5d86b2ULL, 0xfb60275b550ed8eaULL, 0xfb077198e8088f50ULL, 0xca19ba37aca9d3e2ULL,
	0x42ae8f95f523de95ULL, 0x2c38ce39d7958d90ULL, 0xbbef42c741d3c744ULL, 0xe5194fa3254f7da8ULL,
	0x5131c7849fe0bd59ULL, 0xbb6ad8694a7fb25bULL, 0x92f5b72b1095cbd5ULL, 0x4a5ddda700c438ccULL,
	0xeaadc99182bd7b4bULL, 0xa657676061208599ULL, 0x95f2ed6f66d2943cULL, 0x1502288d5b9c280bULL,
};

void chunker_reset(struct chunker *c)
{
	c->scanned = 0;
	c->fp = 0;
}

/*
 * Rolls p[i..end) into *fp. Returns the chunk length ending at the first byte whose
 * fingerprint has no bit of mask set (that byte's index + 1), or 0 if there is none; *fp is
 * the fingerprint after the last byte hashed. 0 is free as "none" because i >= CHUNK_MIN.
 */
static size_t gear_scan(const uint8_t *p, size_t i, size_t end, uint64_t mask, uint64_t *fp)
{
	uint64_t h = *fp;

	for (; i < end; i++) {
		h = (h << 1) + gear[p[i]];
		if (!(h & mask)) {
			*fp = h;
			return i + 1;
		}
	}
	*fp = h;
	return 0;
}

size_t chunker_find(struct chunker *c, const uint8_t *p, size_t n, int eof)
{
	size_t limit = n < CHUNK_MAX ? n : CHUNK_MAX;
	size_t i = c->scanned < CHUNK_MIN ? CHUNK_MIN : c->scanned;
	size_t cut;

	/* n never shrinks for one chunk; a smaller n means the caller skipped a reset. */
	assert(n >= c->scanned);

	if (i < limit && i < CHUNK_AVG) {
		size_t end = limit < CHUNK_AVG ? limit : CHUNK_AVG;

		cut = gear_scan(p, i, end, MASK_STRICT, &c->fp);
		if (cut)
			goto out;
		i = end;
	}
	if (i < limit) {
		cut = gear_scan(p, i, limit, MASK_LOOSE, &c->fp);
		if (cut)
			goto out;
	}
	/* Bytes before CHUNK_MIN count as examined: they are skipped, never hashed. */
	if (c->scanned < limit)
		c->scanned = limit;
	if (n >= CHUNK_MAX)
		return CHUNK_MAX;
	return eof ? n : 0;
out:
	c->scanned = cut;
	return cut;
}
