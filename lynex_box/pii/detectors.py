"""The PII detectors: one RE2 pattern per kind, the checks a candidate must pass, and the masks.

Every pattern is RE2 syntax, so the same text serves Arrow's `match_substring_regex` (the prefilter over whole
columns, in C++) and `google-re2` (the pass over the candidate values that finds, checks and replaces each match).
RE2 runs in time linear in the text whatever the pattern: no pattern here or of a project can backtrack
catastrophically. Checks run only on candidates: the Luhn sum of card numbers, ISO 13616 mod-97 of IBANs, the
octets and neighbours of IP addresses, the area/group/serial rules of SSNs, and the entropy rule of tokens.

Entropy rule (docs/pii.md): a run of 32..512 characters of `[A-Za-z0-9_+=-]` is a secret when it holds upper- and
lower-case letters and digits and its Shannon entropy is at least `[pii] entropy_min_bits` bits per character
(4.0 by default): random base62/base64 tokens are, hex ids, UUIDs, words and identifiers are not. Longer runs are
data (base64 images), not credentials. Must never do I/O.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Callable
from typing import Final

MASKS: Final = {
    "email": "[EMAIL]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "phone": "[PHONE]",
    "ip": "[IP]",
    "ssn": "[SSN]",
    "secret": "[SECRET]",
}
KEY_MASK: Final = "[MASKED]"  # the value of an attribute key of the project's masked list

# Provider key shapes, bearer tokens, JWTs and PEM private-key blocks (in JSON text, their newlines are `\n`).
_SECRET: Final = "|".join(
    [
        r"-----BEGIN[A-Z ]{0,24}PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\[nr])*(?:-----END[A-Z ]{0,24}PRIVATE KEY-----)?",
        r"\bsk-ant-[A-Za-z0-9_-]{20,}",  # Anthropic
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",  # OpenAI
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",  # AWS access key id
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",  # GitHub
        r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack token
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}",  # Slack webhook
        r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
        r"\bAIza[0-9A-Za-z_-]{35}",  # Google API key
        r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",  # JWT
        r"(?i:\bbearer)\s+[A-Za-z0-9._~+/=-]{16,}",  # Authorization: Bearer ...
    ]
)
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_H: Final = r"[0-9A-Fa-f]{1,4}"
_PHONE: Final = "|".join(
    [
        r"\+[1-9][0-9]{0,2}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,4}\b",  # international
        r"\([0-9]{3}\) ?[0-9]{3}[ .-][0-9]{4}\b",  # (415) 555-0100
        r"\b[0-9]{3}[.-][0-9]{3}[.-][0-9]{4}\b",  # 415-555-0100
    ]
)

# In priority order: at one position, the first kind that matches wins (RE2's leftmost-first alternation).
BUILTIN: Final[tuple[tuple[str, str], ...]] = (
    ("secret", _SECRET),
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"),
    ("iban", r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
    ("card", r"\b[0-9](?:[ -]?[0-9]){12,18}\b"),
    ("ssn", r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"),
    ("ipv4", rf"\b{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}\b"),
    ("ipv6", rf"(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,6}}:(?:{_H}(?::{_H}){{0,5}})?|::{_H}(?::{_H}){{0,6}}"),
    ("phone", _PHONE),
    ("entropy", r"[A-Za-z0-9_+=-]{32,}"),
)
KIND_OF: Final = {"ipv4": "ip", "ipv6": "ip", "entropy": "secret"}  # the pattern's name → the reported kind

# Stricter forms for the prefilter alone, where a check would refuse most of what the pattern finds: the decimals
# of JSON numbers (`"score": 0.6397957146137140`) are not card candidates.
PREFILTER: Final = {"card": r"(?:^|[^0-9.,])[2-6](?:[ -]?[0-9]){12,18}\b"}

ENTROPY_MIN_CHARS: Final = 32
ENTROPY_MAX_CHARS: Final = 512


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(text: str, before: str = "", after: str = "") -> bool:
    """13..19 digits of a card network (2-6) whose Luhn sum checks, not the decimals of a number (0.4111...)."""
    if before in (".", ",") or (after[:1] in (".", ",") and after[1:2].isdigit()):
        return False
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def iban_ok(text: str) -> bool:
    """ISO 13616: 15..34 characters whose rearranged number is 1 modulo 97."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def entropy_bits(text: str) -> float:
    """Shannon entropy of the characters of `text`, in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def entropy_ok(text: str, min_bits: float) -> bool:
    if not ENTROPY_MIN_CHARS <= len(text) <= ENTROPY_MAX_CHARS:
        return False
    if not (any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)):
        return False
    return entropy_bits(text) >= min_bits


def ipv4_ok(before: str, after: str) -> bool:
    """Not a version number: no `v` or dot before it, no `.digit` after it (v1.2.3.4, 1.2.3.4.5)."""
    return before not in ("v", "V", ".") and not (after[:1] == "." and after[1:2].isdigit())


def ipv6_ok(text: str, before: str, after: str) -> bool:
    if (before and (before in ":." or before.isalnum())) or (after and (after in ":" or after.isalnum())):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


Check = Callable[[str, str, str], bool]


def checks(min_bits: float) -> dict[str, Check]:
    """The check of each pattern that has one: (match, the character before, the two after) → is it PII."""
    return {
        "card": card_ok,
        "iban": lambda t, b, a: iban_ok(t),
        "ssn": lambda t, b, a: ssn_ok(t),
        "ipv4": lambda t, b, a: ipv4_ok(b, a),
        "ipv6": ipv6_ok,
        "entropy": lambda t, b, a: entropy_ok(t, min_bits),
    }
