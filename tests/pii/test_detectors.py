"""Each PII detector on true and false positives: checksums, neighbours and shapes decide, not the digits alone."""

from __future__ import annotations

from collections import Counter

import pytest

from lynex_box.pii import detectors
from lynex_box.pii.policy import CustomPattern, PiiPolicy
from lynex_box.pii.scanner import Scanner

REDACT = Scanner(PiiPolicy("redact"))


def scan(text: str, scanner: Scanner = REDACT) -> tuple[str, dict[str, int]]:
    counts: Counter[str] = Counter()
    return scanner.text(text, counts), dict(counts)


@pytest.mark.parametrize(
    ("text", "masked", "kind"),
    [
        ("write to jane.doe+tag@mail.example.co.uk today", "write to [EMAIL] today", "email"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok", "card"),
        ("card 5500-0000-0000-0004", "card [CARD]", "card"),
        ("amex 378282246310005.", "amex [CARD].", "card"),
        ("iban GB82 WEST 1234 5698 7654 32", "iban [IBAN]", "iban"),
        ("iban DE89370400440532013000", "iban [IBAN]", "iban"),
        ("from 192.168.1.20:8080", "from [IP]:8080", "ip"),
        ("v6 2001:db8::8a2e:370:7334 end", "v6 [IP] end", "ip"),
        ("loopback ::1 and fe80::1", "loopback [IP] and [IP]", "ip"),
        ("ssn 123-45-6789", "ssn [SSN]", "ssn"),
        ("call +44 20 7946 0958 now", "call [PHONE] now", "phone"),
        ("call (415) 555-0100", "call [PHONE]", "phone"),
        ("call 415.555.0100", "call [PHONE]", "phone"),
        ("key sk-proj-Zq8xT3vNp6Lm2Rk9Wy4Hb7Cd", "key [SECRET]", "secret"),
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwx", "key [SECRET]", "secret"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [SECRET]", "secret"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [SECRET]", "secret"),
        ("slack xoxb-1234567890-abcdefghij", "slack [SECRET]", "secret"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [SECRET]", "secret"),
        ("google AIzaSyA-1234567890abcdefghijklmnopqrstu", "google [SECRET]", "secret"),
        ("Authorization: Bearer abc.def-ghi_jkl~mno123", "Authorization: [SECRET]", "secret"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "jwt [SECRET]",
            "secret",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0B==\n-----END PRIVATE KEY----- x",
            "[SECRET] x",
            "secret",
        ),
        ("token aB3xK9mP2qR7sT1vW4yZ6bD8fH0jL5nQ", "token [SECRET]", "secret"),
    ],
)
def test_each_detector_masks_what_it_finds(text: str, masked: str, kind: str) -> None:
    assert scan(text) == (masked, {kind: masked.count(detectors.MASKS[kind])})


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "order 1701234567890123 is a timestamp-like id",  # starts with 1: no card network
        "iban GB82 WEST 1234 5698 7654 33 fails mod-97",
        "version v1.2.3.4 and 1.2.3.4.5 and 1.2.3 are versions, 999.1.1.1 is no address",
        "time 12:30:45 and std::vector<int> and a:b",
        "ssn 000-12-3456 and 666-12-3456 and 900-12-3456 and 123-00-4567",
        "date 2024-01-15 and 20240115 and the number 4155550100",
        "hex ids 0123456789abcdef0123456789abcdef and 123e4567-e89b-12d3-a456-426614174000",
        "an identifier like get_customer_order_history_by_region_v2",
        "mail me at jane at example dot com",
        "a sentence that is perfectly ordinary",
    ],
)
def test_lookalikes_are_left_alone(text: str) -> None:
    assert scan(text) == (text, {})


def test_detect_counts_without_changing_the_text() -> None:
    detect = Scanner(PiiPolicy("detect"))
    text = "a@b.io and c@d.io, card 4111111111111111"
    assert scan(text, detect) == (text, {"email": 2, "card": 1})


def test_custom_patterns_come_first_and_mask_by_name() -> None:
    scanner = Scanner(PiiPolicy("redact", (CustomPattern("acct", r"ACCT-[0-9]{6}"), CustomPattern("emp", r"E\d{5}"))))
    assert scan("acct ACCT-123456 emp E12345 mail x@y.org", scanner) == (
        "acct [CUSTOM:acct] emp [CUSTOM:emp] mail [EMAIL]",
        {"custom:acct": 1, "custom:emp": 1, "email": 1},
    )


def test_a_mask_never_breaks_a_json_escape() -> None:
    text = '{"m":"line\\nbob@example.com and \\u00e9alice@example.org"}'
    out, counts = scan(text)
    assert out == '{"m":"line\\n[EMAIL] and \\u00e9[EMAIL]"}' and counts == {"email": 2}


def test_masked_keys_mask_any_value_at_any_depth() -> None:
    scanner = Scanner(PiiPolicy("redact", (), ("user.password", "token")))
    counts: Counter[str] = Counter()
    out = scanner.attributes('{"user.password":"hunter2","a":{"token":[1,2]},"b":"x@y.org"}', counts)
    assert out == '{"user.password":"[MASKED]","a":{"token":"[MASKED]"},"b":"[EMAIL]"}'
    assert counts == {"key": 2, "email": 1}


def test_checksums() -> None:
    assert detectors.luhn_ok("4111111111111111") and not detectors.luhn_ok("4111111111111112")
    assert detectors.iban_ok("GB82WEST12345698765432") and not detectors.iban_ok("GB82WEST12345698765433")
    assert detectors.entropy_bits("aaaa") == 0.0 and detectors.entropy_bits("abcd") == 2.0
