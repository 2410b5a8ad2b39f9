/*
 * The fixed network of the folder harness and its seeds: the certificate of
 * a CA (its key was thrown away once it had signed), a member's key and its
 * certificate from that CA, both valid until 2126, and a folder id. The
 * harness checks batches against the CA certificate; fuzz/gen_corpus.c signs
 * the seed batches with the member's key, so that they open (and, Ed25519
 * being deterministic, regenerate to the same bytes). Made once with
 * network_create() and identity_issue_cert(..., -3600, 36500L * 86400, ...).
 */
#ifndef SHOAL_FUZZ_FOLDER_NET_H
#define SHOAL_FUZZ_FOLDER_NET_H

#include <stdint.h>

#include "proto/folder.h"

static const char folder_net_ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBVDCCAQagAwIBAgIQXb3EgeegG61XywEzbYnI4DAFBgMrZXAwKTEnMCUGA1UE\n"
	"Awwec2hvYWwgbmV0d29yayBmY3BlZHg0cG5scXVtcGN1MCAXDTI2MTIwNjAyNTky\n"
	"NVoYDzIxMjYxMjA3MDM1OTI1WjApMScwJQYDVQQDDB5zaG9hbCBuZXR3b3JrIGZj\n"
	"cGVkeDRwbmxxdW1wY3UwKjAFBgMrZXADIQDc+N4OlOwM6FeucVcHcGsDIAIW2vPt\n"
	"cylj8/Yk6ev3oKNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw\n"
	"HQYDVR0OBBYEFMHC8gQj2Kl3OymX3g/xuubE7CzQMAUGAytlcANBANWmKxdQc+42\n"
	"CZF5o4mT65fN80SJVseFjiprNUquKX++ne7Nwkj+M3aNDJ5mWK9s/Fu02p5hPrFa\n"
	"28Tz/LwYlw0=\n"
	"-----END CERTIFICATE-----\n";

static const char folder_net_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIJup/olimjTecOW+9zZnAe75S45PhtaaRa928KGdatS4\n"
	"-----END PRIVATE KEY-----\n";

static const char folder_net_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBpzCCAVmgAwIBAgIQZzbVg2VUFp34DWmLOZz9IzAFBgMrZXAwKTEnMCUGA1UE\n"
	"Awwec2hvYWwgbmV0d29yayBmY3BlZHg0cG5scXVtcGN1MCAXDTI2MTIwNjAyNTky\n"
	"NVoYDzIxMjYxMTEyMDM1OTI1WjA/MT0wOwYDVQQDDDRycDIzZjN1ZGkya3JkbXI2\n"
	"YmE1enU1cjdpYzQ0N3d0Z2N5aG5nYjR4cmdhcnJncXp1dW9hMCowBQYDK2VwAyEA\n"
	"BKOGFsOShvzVkXWJ8a08g8YMfc4I87TbcgRKt5N2Vp2jfzB9MAwGA1UdEwEB/wQC\n"
	"MAAwDgYDVR0PAQH/BAQDAgeAMB0GA1UdJQQWMBQGCCsGAQUFBwMBBggrBgEFBQcD\n"
	"AjAdBgNVHQ4EFgQU6dlYOefoayikGWLWdzO70CcNywQwHwYDVR0jBBgwFoAUwcLy\n"
	"BCPYqXc7KZfeD/G65sTsLNAwBQYDK2VwA0EA32FtdR8B6x7ARGEiBDe3ikKo+hVQ\n"
	"BNxu2lxjF9ezbepVZPzqVko/QqFbg2B697RRCL1LSzQ0/cAYFF+jn/PaCA==\n"
	"-----END CERTIFICATE-----\n";

static const uint8_t folder_net_id[FOLDER_ID_LEN] = {
	0x5a, 0x1e, 0x0f, 0x01, 0xde, 0xa1, 0x00, 0x42,
	0x13, 0x37, 0xc0, 0xff, 0xee, 0x00, 0x77, 0x99,
};

#endif
