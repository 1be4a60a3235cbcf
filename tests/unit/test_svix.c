/*
 * test_svix.c - the webhook signature checker against Svix's published test
 * vector and every rejection rule, with an injected clock.
 */
#include "harness.h"

#include "bs/error.h"
#include "bs/svix.h"

#include <stdlib.h>
#include <string.h>

#define VECTOR_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VECTOR_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VECTOR_TS     "1614265330"
#define VECTOR_NOW    1614265330
#define VECTOR_BODY   "{\"test\": 2432232314}"
#define VECTOR_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static struct bs_svix_keys *keys;

static int setup(void)
{
    char errstr[256];

    return bs_svix_keys_parse(VECTOR_SECRET, &keys, errstr, sizeof(errstr));
}

static int teardown(void)
{
    bs_svix_keys_free(keys);
    keys = NULL;
    return 0;
}

static enum bs_svix_result verify(const char *id, const char *ts,
                                  const char *sig, const char *body,
                                  int64_t now)
{
    return bs_svix_verify(keys, id, ts, sig, body, body ? strlen(body) : 0,
                          now);
}

static void test_signature_accepts_reference_vector(void)
{
    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, VECTOR_TS, VECTOR_SIG, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_OK);
}

static void test_signature_rejects_one_changed_character(void)
{
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS,
                            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
                            VECTOR_BODY, VECTOR_NOW),
                     BS_SVIX_NO_MATCH);
}

static void test_signature_accepts_one_good_entry_among_bad_ones(void)
{
    const char *header = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                         "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                         "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
                         "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, VECTOR_TS, header, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_OK);
}

static void test_signature_rejects_foreign_version_with_right_mac(void)
{
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS,
                            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                            VECTOR_BODY, VECTOR_NOW),
                     BS_SVIX_NO_MATCH);
}

static void test_signature_rejects_changed_body_id_or_timestamp(void)
{
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS, VECTOR_SIG,
                            "{\"test\":2432232314}", VECTOR_NOW),
                     BS_SVIX_NO_MATCH);
    BS_ASSERT_INT_EQ(verify("msg_p5jXN8AQM9LWM0D4loKWxJeK", VECTOR_TS,
                            VECTOR_SIG, VECTOR_BODY, VECTOR_NOW),
                     BS_SVIX_NO_MATCH);
    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, "1614265331", VECTOR_SIG, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_NO_MATCH);
}

static void test_signature_rejects_missing_headers(void)
{
    BS_ASSERT_INT_EQ(
        verify(NULL, VECTOR_TS, VECTOR_SIG, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_MISSING_HEADER);
    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, NULL, VECTOR_SIG, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_MISSING_HEADER);
    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, VECTOR_TS, NULL, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_MISSING_HEADER);
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS, "", VECTOR_BODY, VECTOR_NOW),
                     BS_SVIX_MISSING_HEADER);
}

static void test_signature_accepts_timestamp_at_both_tolerance_edges(void)
{
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS, VECTOR_SIG, VECTOR_BODY,
                            VECTOR_NOW + BS_SVIX_TOLERANCE_SECONDS),
                     BS_SVIX_OK);
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS, VECTOR_SIG, VECTOR_BODY,
                            VECTOR_NOW - BS_SVIX_TOLERANCE_SECONDS),
                     BS_SVIX_OK);
}

static void test_signature_rejects_timestamp_older_than_tolerance(void)
{
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS, VECTOR_SIG, VECTOR_BODY,
                            VECTOR_NOW + BS_SVIX_TOLERANCE_SECONDS + 1),
                     BS_SVIX_TIMESTAMP_TOO_OLD);
}

static void test_signature_rejects_timestamp_newer_than_tolerance(void)
{
    BS_ASSERT_INT_EQ(verify(VECTOR_ID, VECTOR_TS, VECTOR_SIG, VECTOR_BODY,
                            VECTOR_NOW - BS_SVIX_TOLERANCE_SECONDS - 1),
                     BS_SVIX_TIMESTAMP_TOO_NEW);
}

static void test_signature_rejects_non_numeric_or_negative_timestamp(void)
{
    const char *bad[] = {"-1614265330", "1614265330.5", "16142653a0",
                         " 1614265330", "0x60380b72",   "99999999999999999999"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        BS_ASSERT_INT_EQ(
            verify(VECTOR_ID, bad[i], VECTOR_SIG, VECTOR_BODY, VECTOR_NOW),
            BS_SVIX_BAD_TIMESTAMP);
}

static void test_signature_skips_malformed_entries(void)
{
    const char *header = "v1 , v1, ,,, garbage v1,%%%% " VECTOR_SIG;

    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, VECTOR_TS, header, VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_OK);
    BS_ASSERT_INT_EQ(
        verify(VECTOR_ID, VECTOR_TS, "v1,", VECTOR_BODY, VECTOR_NOW),
        BS_SVIX_NO_MATCH);
}

static void test_signature_sign_reproduces_reference_vector(void)
{
    char signature[BS_SVIX_SIGNATURE_SIZE];

    BS_ASSERT_INT_EQ(bs_svix_sign(keys, 0, VECTOR_ID, VECTOR_TS, VECTOR_BODY,
                                  strlen(VECTOR_BODY), signature,
                                  sizeof(signature)),
                     BS_OK);
    BS_ASSERT_STR_EQ(signature, VECTOR_SIG);
}

static void test_rotation_accepts_either_configured_secret(void)
{
    struct bs_svix_keys *rotated = NULL;
    char errstr[256];

    BS_ASSERT_INT_EQ(
        bs_svix_keys_parse("whsec_c2Vjb25kIHNlY3JldA== " VECTOR_SECRET,
                           &rotated, errstr, sizeof(errstr)),
        BS_OK);
    BS_ASSERT_INT_EQ(bs_svix_keys_count(rotated), 2);
    BS_ASSERT_INT_EQ(bs_svix_verify(rotated, VECTOR_ID, VECTOR_TS, VECTOR_SIG,
                                    VECTOR_BODY, strlen(VECTOR_BODY),
                                    VECTOR_NOW),
                     BS_SVIX_OK);
    bs_svix_keys_free(rotated);
}

static void test_secret_parse_refuses_malformed_secrets(void)
{
    const char *bad[] = {"",
                         "   ",
                         "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                         "whsec_",
                         "whsec_not*base64",
                         "whsec_abc",
                         "whsec_YWJj=A==",
                         VECTOR_SECRET " whsec_%%%%"};
    struct bs_svix_keys *parsed;
    char errstr[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parsed = (struct bs_svix_keys *)1;
        errstr[0] = '\0';
        BS_ASSERT_INT_EQ(
            bs_svix_keys_parse(bad[i], &parsed, errstr, sizeof(errstr)),
            BS_ECONFIG);
        CU_ASSERT_PTR_NULL(parsed);
        CU_ASSERT(strlen(errstr) > 0);
        /* The message never repeats the secret. */
        CU_ASSERT_PTR_NULL(strstr(errstr, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}

static CU_TestInfo signature_tests[] = {
    {"accepts_reference_vector", test_signature_accepts_reference_vector},
    {"rejects_one_changed_character",
     test_signature_rejects_one_changed_character},
    {"accepts_one_good_entry_among_bad_ones",
     test_signature_accepts_one_good_entry_among_bad_ones},
    {"rejects_foreign_version_with_right_mac",
     test_signature_rejects_foreign_version_with_right_mac},
    {"rejects_changed_body_id_or_timestamp",
     test_signature_rejects_changed_body_id_or_timestamp},
    {"rejects_missing_headers", test_signature_rejects_missing_headers},
    {"accepts_timestamp_at_both_tolerance_edges",
     test_signature_accepts_timestamp_at_both_tolerance_edges},
    {"rejects_timestamp_older_than_tolerance",
     test_signature_rejects_timestamp_older_than_tolerance},
    {"rejects_timestamp_newer_than_tolerance",
     test_signature_rejects_timestamp_newer_than_tolerance},
    {"rejects_non_numeric_or_negative_timestamp",
     test_signature_rejects_non_numeric_or_negative_timestamp},
    {"skips_malformed_entries", test_signature_skips_malformed_entries},
    {"sign_reproduces_reference_vector",
     test_signature_sign_reproduces_reference_vector},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo secret_tests[] = {
    {"rotation_accepts_either_configured_secret",
     test_rotation_accepts_either_configured_secret},
    {"parse_refuses_malformed_secrets",
     test_secret_parse_refuses_malformed_secrets},
    CU_TEST_INFO_NULL,
};

static void register_suites(void)
{
    bs_test_add_suite("signature", setup, teardown, signature_tests);
    bs_test_add_suite("secrets", NULL, NULL, secret_tests);
}

int main(void)
{
    return bs_test_main(register_suites);
}
