"""The table of secret formats the redactor knows. Each pattern names its kind and, with a group named `s`, the
part to replace (so `password=`, `https://user:` and the host around a secret survive); without one, the whole
match is the secret. Order is priority: the first pattern to claim a span keeps it, so specific formats come
before the key=value and email catch-alls that would also match them."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SecretPattern:
    kind: str
    regex: re.Pattern[str]
    accept: Callable[[str], bool] | None = None  # a second look at the secret, for formats a regex cannot pin
    # Speed: lowercase strings of which one must be in the (lowercased) text for the pattern to run at all...
    hints: tuple[str, ...] = ()
    # ...and, for patterns that start with one and are slow to scan for (case-insensitive keywords), where
    # in the lowercased text to try them.
    anchor: re.Pattern[str] | None = None
    bounded: bool = False  # the match must not start in the middle of a word


WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")


def _rule(
    kind: str, regex: str, hints: str = "", accept: Callable[[str], bool] | None = None, anchored: bool = False
) -> SecretPattern:
    words = tuple(hints.split())
    anchor = re.compile("|".join(map(re.escape, words))) if anchored else None
    # A leading lookbehind stops `re` from scanning for the literal prefix (ten times slower): check it by hand.
    bounded = regex.startswith(_LEFT_BOUNDARY)
    return SecretPattern(kind, re.compile(regex.removeprefix(_LEFT_BOUNDARY)), accept, words, anchor, bounded)


_PLACEHOLDER = re.compile(
    r"""(?ix)^(?:
        [x*•.#_\-0]+ | <[^>]*> | \[[^\]]*\] | \{[^{}]*\} | \{\{.*\}\} | \$\(?\{?[\w.:-]*\}?\)? | %\(?\w*\)?[sd]?
        | (?:your|my|the|insert|enter|replace|put|add|some|fake|dummy|sample|test|demo)(?:[_ .-][\w .-]*)?
        | .*(?:example|placeholder|change[_-]?me|replace[_-]?me|redacted|xxxx|_here|-here).*
        | none|null|nil|true|false|undefined|empty|todo|tbd|required|optional|default|string|str|bool
        | secret|password|passwd|pass|token|api[_-]?key|bearer|basic|hidden|masked|unset
    )$"""
)


def looks_fake(secret: str) -> bool:
    """Documentation values (`ghp_xxxx...`, `AKIA...EXAMPLE`, `<your-key>`, `sk-...`, `sk-$(openssl ...)`) are
    not secrets, and leaving them keeps tutorials and templates in the training data intact."""
    if any(mark in secret for mark in ("...", "…", "[REDACTED:", "$(", "${")) or _PLACEHOLDER.match(secret):
        return True
    body = secret[-32:]
    return len(body) >= 12 and max(body.count(char) for char in set(body)) * 2 >= len(body)


def _classes(secret: str) -> int:
    return sum(bool(re.search(cls, secret)) for cls in ("[a-z]", "[A-Z]", "[0-9]"))


def _random_looking(secret: str) -> bool:
    """Tokens with no prefix of their own must mix letters and digits: a word, even `NextToken`, is not one."""
    return len(secret) >= 8 and bool(re.search("[0-9]", secret)) and bool(re.search("[A-Za-z]", secret))


def _password_like(secret: str) -> bool:
    return len(secret) >= 3 and " " not in secret and not secret.startswith(("/", "~/", "./", "../"))


_CODE_OR_COUNT = re.compile(
    r"[A-Za-z_]+|[A-Za-z]+(?:_[A-Za-z0-9]+)+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"  # names, snake_case, attributes
    r"|\d{1,7}|\d+(?:[./:,]\d+)+%?|\d+%"  # numbers, scores and ratios (`pass: 3/5`, `pass=98.5%`)
    r"|[\w.-]+(?:/[\w.-]+)+"  # relative paths (`PASS: tests/test_api.py`)
)


def _unquoted_value(secret: str) -> bool:
    """Unquoted, the value may be code (`password = self.pw`, `token = get_token()`, `key: str`) or yaml
    syntax: demand something an identifier or expression would not have."""
    if _CODE_OR_COUNT.fullmatch(secret) or re.search(r"[(\[{$]", secret):
        return False
    if secret.startswith(("!", "|", "*", "&", "-")):  # yaml tags, block scalars, aliases, anchors; cli flags
        return False
    return _password_like(secret)


def _email(secret: str) -> bool:
    """Addresses at reserved domains (example.com, *.test, localhost...) and bot senders are not anyone's."""
    local, _, domain = secret.rpartition("@")
    domain = domain.lower()
    reserved = domain.split(".")[-1] in {"test", "example", "invalid", "localhost", "local", "internal"}
    return not (
        reserved
        or domain.removeprefix("www.") in {"example.com", "example.org", "example.net"}
        or local.lower() in {"git", "noreply", "no-reply", "donotreply"}
    )


_LEFT_BOUNDARY = r"(?<![A-Za-z0-9_])"


def _token(body: str) -> str:
    """A token bounded so it is not the middle of a longer word."""
    return rf"{_LEFT_BOUNDARY}{body}(?![A-Za-z0-9_])"


_ASSIGN = r"""\\?["']?\]?(?:[ \t]*(?:=>|:=|=(?!=))|:(?!:))[ \t]*"""  # `KEY=`, `"key": `, `key => `, `KEY := `
_QUOTED = r"""\\?(?P<q>["'`])(?P<s>[^"'`\n\\]{1,300})\\?(?P=q)"""
_UNQUOTED = r"""(?P<s>[^\s"'`,;&<>)}\]\\]{1,300})"""
_PASSWORD_KEYS = r"(?:passw(?:or)?d|passphrase|pwd|(?<![a-z])pass)(?![a-z])"
# Tokens that only say where a listing goes on (`next_token`, `pageToken`, `NextContinuationToken`): opaque, but
# anyone may hold them. Each word before `token` is its own fixed-width lookbehind (`re` needs that).
_NOT_SECRET_TOKEN = "".join(
    f"(?<!{word}{separator})"
    for word in ("next", "prev", "previous", "page", "continuation", "cursor", "sync", "resume", "pagination", "more")
    for separator in ("", "_", "-")
)
_SECRET_KEYS = (
    r"(?:secret(?:[_-]?(?:access[_-]?)?key)?|(?:api|access|private|auth|client|signing|encryption|master)[_-]?"
    rf"(?:key|secret)|apikey|{_NOT_SECRET_TOKEN}token|credentials?)(?![a-z])"
)
_USER = r"[\w.~%!$&*+,;=-]+"  # userinfo as RFC 3986 allows it, so `(?P<s>...)` in code is not one
# Up to the authority's last `@` (`postgres://u:p@ss@host`: the password is `p@ss`), never past its end (`/`).
_URL_PASSWORD = r"(?P<s>[^\s/'\"()\[\]{}<>\\]+)"
_PASSWORD_HINTS = "pass pwd"
_SECRET_HINTS = "secret api access private auth client signing encryption master token credential"
SECRET_KEY_NAME = re.compile(rf"(?i).*?{_PASSWORD_KEYS}|.*?{_SECRET_KEYS}")
PASSWORD_KEY_NAME = re.compile(rf"(?i).*?{_PASSWORD_KEYS}")
_PEM_END = (  # a base64 body must follow (so prose naming the header is not a key), then the END line or the
    # body's last line when the key was cut short (its lines may be joined by spaces, as in a one-line label)
    r"(?=[\s\S]{0,200}?[A-Za-z0-9+/]{40})"
    r"(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|(?:(?:\\[nr]|[\r\n \t])[A-Za-z0-9+/=:, -]*)*)"
)

PATTERNS: list[SecretPattern] = [
    # Private keys, whole blocks (an unterminated one, as `head` shows it, up to its last base64 line).
    _rule("gcp_service_account_key", r'"private_key"\s*:\s*"(?P<s>-----BEGIN[^"]*)"', "-----begin"),
    _rule("ssh_private_key", rf"-----BEGIN OPENSSH PRIVATE KEY-----{_PEM_END}", "-----begin"),
    _rule("ssh_private_key", r"PuTTY-User-Key-File-\d: [\s\S]*?Private-MAC: [0-9a-f]+", "putty-user-key"),
    _rule("pgp_private_key", rf"-----BEGIN PGP PRIVATE KEY BLOCK-----{_PEM_END}", "-----begin"),
    _rule("private_key", rf"-----BEGIN[ A-Z0-9]*PRIVATE KEY-----{_PEM_END}", "-----begin"),
    _rule("age_secret_key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", "age-secret-key-1"),
    # Prefixed tokens: the prefix is the context.
    _rule("aws_access_key", _token(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}"), "akia asia abia acca a3t"),
    _rule(
        "github_token",
        _token(r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{40,255})"),
        "ghp_ gho_ ghu_ ghs_ ghr_ github_pat_",
    ),
    _rule(
        "gitlab_token",
        _token(r"gl(?:pat|dt|rt|ptt|cbt|soat|ffct|imt|agent)-[A-Za-z0-9_-]{20,}"),
        "glpat- gldt- glrt- glptt- glcbt- glsoat- glffct- glimt- glagent-",
    ),
    _rule("slack_token", _token(r"(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,}"), "xox xapp-"),
    _rule(
        "stripe_key",
        _token(r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{32,}"),
        "k_live_ k_test_ whsec_",
    ),
    _rule("anthropic_api_key", _token(r"sk-ant-[A-Za-z0-9_-]{32,}"), "sk-ant-"),
    _rule(
        "openai_api_key",
        r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])",
        "sk-",
        _random_looking,
    ),
    _rule("huggingface_token", _token(r"hf_[A-Za-z0-9]{30,}"), "hf_", _random_looking),
    _rule("google_api_key", _token(r"AIza[0-9A-Za-z_-]{35}"), "aiza"),
    _rule("google_oauth_client_secret", _token(r"GOCSPX-[A-Za-z0-9_-]{28}"), "gocspx-"),
    _rule("google_oauth_token", _token(r"ya29\.[0-9A-Za-z_-]{30,}"), "ya29."),
    _rule("twilio_key", r"(?:SK|AC)(?<![A-Za-z0-9_]..)[0-9a-f]{32}(?![A-Za-z0-9_])"),
    _rule("sendgrid_api_key", _token(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), "sg."),
    _rule("mailgun_api_key", _token(r"key-[0-9a-zA-Z]{32}"), "key-", _random_looking),
    _rule("npm_token", _token(r"npm_[A-Za-z0-9]{36}"), "npm_"),
    _rule("pypi_token", _token(r"pypi-AgE[A-Za-z0-9_-]{50,}"), "pypi-age"),
    _rule("dockerhub_token", _token(r"dckr_pat_[A-Za-z0-9_-]{20,}"), "dckr_pat_"),
    _rule("shopify_token", _token(r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"), "shpat_ shpss_ shpca_ shppa_"),
    _rule("square_token", _token(r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}"), "sq0atp- sq0csp-"),
    _rule("telegram_bot_token", r"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])", ":aa"),
    _rule(
        "discord_webhook",
        r"discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/(?P<s>[A-Za-z0-9_-]{60,})",
        "/api/webhooks/",
    ),
    _rule(
        "discord_bot_token",
        r"[MNO](?<![A-Za-z0-9_].)[A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}(?![A-Za-z0-9_])",
        "",
        lambda token: _classes(token) == 3,
    ),
    _rule("mapbox_token", _token(r"[sp]k\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"), "k.eyj"),
    _rule("jwt", _token(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "eyj"),
    _rule("heroku_api_key", _token(r"HRKU-[A-Za-z0-9_-]{30,}"), "hrku-"),
    _rule("digitalocean_token", _token(r"do[por]_v1_[a-f0-9]{64}"), "_v1_"),
    _rule("vault_token", _token(r"hv[sbr]\.[A-Za-z0-9_-]{24,}"), "hvs. hvb. hvr."),
    _rule("databricks_token", _token(r"dapi[a-f0-9]{32}(?:-[0-9])?"), "dapi"),
    _rule("linear_api_key", _token(r"lin_(?:api|oauth)_[A-Za-z0-9]{40}"), "lin_api_ lin_oauth_"),
    _rule(
        "atlassian_token",
        _token(r"(?:AT(?:ATT|CTT|OAT)3[A-Za-z0-9_=-]{50,}|ATBB[A-Za-z0-9]{32,})"),
        "atatt3 atctt3 atoat3 atbb",
    ),
    _rule("firebase_fcm_key", _token(r"AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{100,}"), ":apa91b"),
    _rule("newrelic_key", _token(r"NR(?:AK|II|AA)-[A-Z0-9]{27}"), "nrak- nrii- nraa-"),
    _rule("sentry_token", _token(r"sntry[su]_[A-Za-z0-9+/=_]{40,}"), "sntrys_ sntryu_"),
    _rule("grafana_token", _token(r"(?:glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_[A-Za-z0-9+/=]{32,})"), "glsa_ glc_"),
    _rule("postman_api_key", _token(r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"), "pmak-"),
    _rule("terraform_token", _token(r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,}"), ".atlasv1."),
    _rule("doppler_token", _token(r"dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,}"), "dp.pt. dp.st. dp.sa. dp.ct."),
    _rule("pulumi_token", _token(r"pul-[a-f0-9]{40}"), "pul-"),
    _rule("replicate_token", _token(r"r8_[A-Za-z0-9]{37}"), "r8_", _random_looking),
    _rule("groq_api_key", _token(r"gsk_[A-Za-z0-9]{52}"), "gsk_"),
    _rule("perplexity_api_key", _token(r"pplx-[A-Za-z0-9]{48}"), "pplx-"),
    _rule("xai_api_key", _token(r"xai-[A-Za-z0-9]{80}"), "xai-"),
    _rule("notion_token", _token(r"ntn_[A-Za-z0-9]{46}"), "ntn_"),
    _rule("airtable_token", _token(r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"), "pat"),
    _rule("dropbox_token", _token(r"sl\.[A-Za-z0-9_-]{100,}"), "sl."),
    # Secrets inside URLs: only the secret part goes.
    _rule(
        "slack_webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/-]{20,})",
        "hooks.slack.com",
    ),
    _rule("sentry_dsn", r"https?://(?P<s>[0-9a-f]{32})(?::[0-9a-f]{32})?@[\w.-]*sentry\.io", "sentry.io"),
    _rule(
        "database_url_password",
        r"(?i)(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse"
        rf"|cockroachdb|neo4j)(?:\+[a-z0-9]+)?://(?:{_USER})?:{_URL_PASSWORD}@",
        "postgres mysql mariadb mongodb redis amqp mssql sqlserver clickhouse cockroachdb neo4j",
        anchored=True,
    ),
    _rule("url_password", rf"://{_USER}:{_URL_PASSWORD}@[A-Za-z0-9\[]", "://"),
    _rule("azure_sas_signature", r"[?&]sig=(?P<s>[A-Za-z0-9%+/=]{20,})", "sig="),
    # Formats that are bare random strings, so only a keyword beside them says what they are.
    _rule(
        "aws_secret_key",
        rf"(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key){_ASSIGN}\\?[\"']?"
        r"(?P<s>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
        "aws secret",
        anchored=True,
    ),
    _rule(
        "twilio_auth_token",
        rf"(?i)twilio\w*?token{_ASSIGN}\\?[\"']?(?P<s>[0-9a-f]{{32}})(?![0-9a-f])",
        "twilio",
        anchored=True,
    ),
    _rule(
        "heroku_api_key",
        rf"(?i)heroku\w*?(?:key|token){_ASSIGN}\\?[\"']?(?P<s>[0-9a-f]{{8}}-(?:[0-9a-f]{{4}}-){{3}}[0-9a-f]{{12}})",
        "heroku",
        anchored=True,
    ),
    _rule(
        "okta_token",
        r"(?i)(?:SSWS\s+|okta\w*?token[\"']?\s*[:=]\s*[\"']?)(?P<s>00[A-Za-z0-9_-]{40})",
        "ssws okta",
        anchored=True,
    ),
    _rule(
        "azure_storage_key",
        r"(?i)(?:AccountKey|SharedAccessKey)=(?P<s>[A-Za-z0-9+/=]{40,})",
        "accountkey= sharedaccesskey=",
        anchored=True,
    ),
    _rule("kubeconfig_key", r"client-key-data:\s*(?P<s>[A-Za-z0-9+/=]{20,})", "client-key-data"),
    _rule("docker_auth", r'"auth"\s*:\s*"(?P<s>[A-Za-z0-9+/=]{8,})"', '"auth"', _random_looking),
    _rule("netrc_password", r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<s>\S+)", "machine", anchored=True),
    _rule("cli_password", r"\bmysql(?:dump|admin)?\b[^\n|;&]*?\s-p(?P<s>[^\s'\"]{3,})", "mysql", anchored=True),
    _rule(
        "cli_password",
        r"\bcurl\b[^\n|;&]*?\s(?:-u|--user)\s+[\"']?[^\s:'\"]+:(?P<s>[^\s'\"]{3,})",
        "curl",
        anchored=True,
    ),
    _rule(
        "cli_password",
        r"--(?<![\w-]--)(?:password|passwd|token|api-key|secret)(?:=|\s+)[\"']?(?P<s>[^\s'\"]{3,})",
        "--pass --token --api-key --secret",
        _unquoted_value,
    ),
    _rule(
        "authorization_header",
        r"(?i)authorization\\?[\"']?\s*[:=]\s*\\?[\"']?(?:bearer|basic|token|digest|bot|apikey)\s+"
        r"(?P<s>[A-Za-z0-9._~+/=:-]{8,})",
        "authorization",
        _random_looking,
        anchored=True,
    ),
    _rule(
        "authorization_header",
        r"(?<![A-Za-z0-9_])[Bb]earer\s+(?P<s>[A-Za-z0-9._~+/-]{20,}=*)",
        "bearer",
        _random_looking,
        anchored=True,
    ),
    # Catch-alls: `password = "..."`, `API_TOKEN=...`, `"client_secret": "..."` in env, yaml, json, ini, code.
    _rule("password", rf"(?i){_PASSWORD_KEYS}{_ASSIGN}{_QUOTED}", _PASSWORD_HINTS, _password_like, anchored=True),
    _rule("password", rf"(?i){_PASSWORD_KEYS}{_ASSIGN}{_UNQUOTED}", _PASSWORD_HINTS, _unquoted_value, anchored=True),
    _rule("secret", rf"(?i){_SECRET_KEYS}{_ASSIGN}{_QUOTED}", _SECRET_HINTS, _random_looking, anchored=True),
    _rule(
        "secret",
        rf"(?i){_SECRET_KEYS}{_ASSIGN}{_UNQUOTED}",
        _SECRET_HINTS,
        lambda value: _random_looking(value) and _unquoted_value(value),
        anchored=True,
    ),
    _rule(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])",
        "@",
        _email,
    ),
]
KINDS: tuple[str, ...] = tuple(dict.fromkeys(pattern.kind for pattern in PATTERNS))


def accept_password(value: str) -> bool:
    """The check a value under a password-named key must pass (used for dict values, whose key is the context)."""
    return _password_like(value) and not looks_fake(value)


def accept_secret(value: str) -> bool:
    return _random_looking(value) and not looks_fake(value)
