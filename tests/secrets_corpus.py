"""Fake secrets in the places real ones turn up (.env lines, curl commands, configs, code, tool output), and
near-misses that must survive. Values are generated from a fixed seed, so the tree holds no secret-shaped
literals for scanners to flag and the corpus is the same on every run."""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

_rng = random.Random(20261125)
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"


def fake(length: int, alphabet: str = ALNUM) -> str:
    """Random characters, with every class of the alphabet present, as a real random token would have."""
    classes = [c for c in (string.ascii_lowercase, string.ascii_uppercase, string.digits) if set(c) & set(alphabet)]
    while True:
        value = "".join(_rng.choice(alphabet) for _ in range(length))
        if all(set(value) & set(c) for c in classes):
            return value


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def pem(label: str, lines: int = 6, newline: str = "\n") -> str:
    body = newline.join(fake(64, B64) for _ in range(lines))
    return f"-----BEGIN {label}-----{newline}{body}{newline}{fake(20, B64)}=={newline}-----END {label}-----"


@dataclass(frozen=True)
class Case:
    """`text` with `§` where `secret` goes; redacted, the `§` must read `[REDACTED:kind]` and nothing else change."""

    name: str
    kind: str
    secret: str
    template: str

    @property
    def text(self) -> str:
        return self.template.replace("§", self.secret)

    @property
    def expected(self) -> str:
        return self.template.replace("§", f"[REDACTED:{self.kind}]")


_JWT = f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url({'sub': '4242', 'name': 'A', 'iat': 1700000000})}."
_DISCORD_ID = base64.b64encode(str(_rng.randrange(10**17, 10**18)).encode()).decode().rstrip("=")
_AGE = "".join(_rng.choice("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L") for _ in range(58))
_PUTTY = (
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n"
    f"{fake(64, B64)}\n{fake(20, B64)}\nPrivate-Lines: 1\n{fake(44, B64)}\nPrivate-MAC: {fake(64, HEX)}"
)

SECRETS: list[Case] = [
    Case(
        "aws access key id", "aws_access_key", "AKIA" + fake(16, UPPER), "AWS_ACCESS_KEY_ID=§\nAWS_REGION=eu-west-1\n"
    ),
    Case(
        "aws secret key",
        "aws_secret_key",
        fake(40, B64),
        "[default]\nregion = us-east-1\naws_secret_access_key = §\noutput = json\n",
    ),
    Case(
        "aws secret key in sts json",
        "aws_secret_key",
        fake(40, B64),
        '{"Credentials": {"SecretAccessKey": "§", "Expiration": "2026-01-01T00:00:00Z"}}',
    ),
    Case(
        "github classic pat",
        "github_token",
        "ghp_" + fake(36),
        'curl -H "Authorization: token §" https://api.github.com/user',
    ),
    Case("github oauth token", "github_token", "gho_" + fake(36), '{"oauth_token": "§", "scope": "repo"}'),
    Case("github user-to-server", "github_token", "ghu_" + fake(36), "gh auth status\n  ✓ Token: §\n"),
    Case(
        "github app installation token",
        "github_token",
        "ghs_" + fake(36),
        "git remote set-url origin https://x-access-token:§@github.com/acme/api.git",
    ),
    Case("github refresh token", "github_token", "ghr_" + fake(76), "refresh = '§'  # rotated hourly\n"),
    Case("github fine-grained pat", "github_token", f"github_pat_{fake(22)}_{fake(59)}", "export GH_TOKEN=§\n"),
    Case(
        "gitlab pat",
        "gitlab_token",
        "glpat-" + fake(20, URLSAFE),
        "git clone https://oauth2:§@gitlab.com/acme/infra.git",
    ),
    Case(
        "slack bot token",
        "slack_token",
        f"xoxb-{fake(12, string.digits)}-{fake(13, string.digits)}-{fake(24)}",
        'client = WebClient(token="§")\n',
    ),
    Case(
        "slack user token",
        "slack_token",
        f"xoxp-{fake(12, string.digits)}-{fake(12, string.digits)}-{fake(32, HEX)}",
        "SLACK_USER_TOKEN=§\n",
    ),
    Case(
        "slack app token",
        "slack_token",
        f"xapp-1-A{fake(10, UPPER)}-{fake(13, string.digits)}-{fake(64, HEX)}",
        "slack:\n  app_token: §\n",
    ),
    Case(
        "slack webhook",
        "slack_webhook",
        f"T{fake(8, UPPER)}/B{fake(10, UPPER)}/{fake(24)}",
        "curl -X POST -H 'Content-type: application/json' --data '{\"text\":\"deployed\"}' "
        "https://hooks.slack.com/services/§",
    ),
    Case("stripe live secret key", "stripe_key", "sk_live_" + fake(99), 'stripe.api_key = "§"\n'),
    Case("stripe restricted key", "stripe_key", "rk_live_" + fake(99), "STRIPE_RESTRICTED_KEY=§"),
    Case("stripe test publishable key", "stripe_key", "pk_test_" + fake(99), "const stripe = await loadStripe('§');"),
    Case("stripe webhook secret", "stripe_key", "whsec_" + fake(32), "STRIPE_WEBHOOK_SECRET=§\n"),
    Case("openai project key", "openai_api_key", "sk-proj-" + fake(156, URLSAFE), "export OPENAI_API_KEY=§\n"),
    Case("openai legacy key", "openai_api_key", "sk-" + fake(48), "openai.api_key = '§'\n"),
    Case(
        "anthropic key",
        "anthropic_api_key",
        f"sk-ant-api03-{fake(93, URLSAFE)}AA",
        'curl https://api.anthropic.com/v1/messages -H "x-api-key: §" -H "anthropic-version: 2023-06-01"',
    ),
    Case(
        "hugging face token",
        "huggingface_token",
        "hf_" + fake(34),
        "$ huggingface-cli login --token §\nLogin successful",
    ),
    Case(
        "google api key", "google_api_key", "AIza" + fake(35, URLSAFE), 'const firebaseConfig = {\n  apiKey: "§",\n};'
    ),
    Case(
        "google oauth client secret",
        "google_oauth_client_secret",
        "GOCSPX-" + fake(28, URLSAFE),
        '{"installed": {"client_id": "1234-abc.apps.googleusercontent.com", "client_secret": "§"}}',
    ),
    Case(
        "google oauth access token",
        "google_oauth_token",
        "ya29." + fake(120, URLSAFE),
        "$ gcloud auth print-access-token\n§\n",
    ),
    Case(
        "gcp service account key",
        "gcp_service_account_key",
        pem("PRIVATE KEY", newline="\\n") + "\\n",
        '{\n  "type": "service_account",\n  "project_id": "acme-prod",\n  "private_key": "§",\n  "token_uri": "x"\n}',
    ),
    Case(
        "azure storage connection string",
        "azure_storage_key",
        fake(86, B64) + "==",
        "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey=§;"
        "EndpointSuffix=core.windows.net",
    ),
    Case(
        "azure sas signature",
        "azure_sas_signature",
        fake(43, ALNUM + "%") + "%3D",
        "https://acme.blob.core.windows.net/logs/a.txt?sv=2022-11-02&sp=r&se=2026-01-01T00:00:00Z&sig=§",
    ),
    Case("twilio api key sid", "twilio_key", "SK" + fake(32, HEX), 'client = Client("§", api_secret, account_sid)'),
    Case("twilio account sid", "twilio_key", "AC" + fake(32, HEX), "TWILIO_ACCOUNT_SID=§"),
    Case("twilio auth token", "twilio_auth_token", fake(32, HEX), "TWILIO_AUTH_TOKEN=§\n"),
    Case(
        "sendgrid key", "sendgrid_api_key", f"SG.{fake(22, URLSAFE)}.{fake(43, URLSAFE)}", 'sg = SendGridAPIClient("§")'
    ),
    Case(
        "mailgun key",
        "mailgun_api_key",
        "key-" + fake(32, HEX),
        "curl -s --user 'api:§' https://api.mailgun.net/v3/mg.acme.io/messages",
    ),
    Case("npm token", "npm_token", "npm_" + fake(36), "//registry.npmjs.org/:_authToken=§\n"),
    Case(
        "pypi token",
        "pypi_token",
        "pypi-AgEIcHlwaS5vcmc" + fake(120, URLSAFE),
        "[pypi]\nusername = __token__\npassword = §\n",
    ),
    Case(
        "docker hub pat",
        "dockerhub_token",
        "dckr_pat_" + fake(27, URLSAFE),
        "echo § | docker login -u acmebot --password-stdin",
    ),
    Case(
        "shopify access token",
        "shopify_token",
        "shpat_" + fake(32, HEX),
        "curl -H 'X-Shopify-Access-Token: §' https://acme.myshopify.com/admin/api/2024-01/shop.json",
    ),
    Case("shopify shared secret", "shopify_token", "shpss_" + fake(32, HEX), "SHOPIFY_API_SECRET=§"),
    Case("square access token", "square_token", "sq0atp-" + fake(22, URLSAFE), "SQUARE_ACCESS_TOKEN=§\n"),
    Case("square oauth secret", "square_token", "sq0csp-" + fake(43, URLSAFE), "square:\n  oauth_secret: §\n"),
    Case(
        "telegram bot token",
        "telegram_bot_token",
        f"{_rng.randrange(10**8, 10**9)}:AA{fake(33, URLSAFE)}",
        "curl https://api.telegram.org/bot§/getMe",
    ),
    Case(
        "discord bot token",
        "discord_bot_token",
        f"{_DISCORD_ID}.{fake(6, URLSAFE)}.{fake(38, URLSAFE)}",
        'bot.run("§")\n',
    ),
    Case(
        "discord webhook",
        "discord_webhook",
        fake(68, URLSAFE),
        f"DISCORD_WEBHOOK=https://discord.com/api/webhooks/{_rng.randrange(10**17, 10**18)}/§\n",
    ),
    Case("jwt", "jwt", _JWT + fake(43, URLSAFE), "> GET /v1/me HTTP/1.1\n> Authorization: Bearer §\n> Accept: */*\n"),
    Case("rsa private key", "private_key", pem("RSA PRIVATE KEY"), "$ cat deploy.pem\n§\n$ ls\n"),
    Case("ec private key", "private_key", pem("EC PRIVATE KEY", 3), 'KEY = """§"""\n'),
    Case("dsa private key", "private_key", pem("DSA PRIVATE KEY", 4, "\\n"), '{"key": "§"}'),
    Case("encrypted private key", "private_key", pem("ENCRYPTED PRIVATE KEY"), "tls:\n  key: |\n§\n"),
    Case("openssh private key", "ssh_private_key", pem("OPENSSH PRIVATE KEY"), "$ cat ~/.ssh/id_ed25519\n§\n"),
    Case("putty private key", "ssh_private_key", _PUTTY, "$ cat deploy.ppk\n§\n$ "),
    Case("pgp private key", "pgp_private_key", pem("PGP PRIVATE KEY BLOCK", 8), "$ gpg --export-secret-keys -a\n§\n"),
    Case("age secret key", "age_secret_key", "AGE-SECRET-KEY-1" + _AGE, "# created: 2026-01-01\n§\n"),
    Case("password in url", "url_password", fake(14), "git clone https://alice:§@git.acme.dev/tools.git"),
    Case("postgres url", "database_url_password", fake(20), "DATABASE_URL=postgres://app:§@db.internal:5432/app\n"),
    Case(
        "mysql url",
        "database_url_password",
        fake(16),
        'engine = create_engine("mysql+pymysql://root:§@127.0.0.1:3306/shop")',
    ),
    Case(
        "mongodb srv url",
        "database_url_password",
        fake(24),
        'MONGO_URI="mongodb+srv://admin:§@cluster0.ab1cd.mongodb.net/?retryWrites=true"',
    ),
    Case("redis url", "database_url_password", fake(32), "CELERY_BROKER_URL=redis://:§@cache:6379/0"),
    Case("amqp url", "database_url_password", fake(18), "broker_url = 'amqps://worker:§@mq.acme.dev:5671/'"),
    Case("env password", "password", fake(12, ALNUM + "!#%"), "DB_PASSWORD=§\nDB_HOST=db\n"),
    Case("yaml password", "password", fake(12), 'database:\n  user: app\n  password: "§"\n'),
    Case("json password", "password", "hunter2-" + fake(6), '{"username": "admin", "password": "§"}'),
    Case("ini password", "password", fake(10), "[client]\nuser = root\npassword = §\nhost = db\n"),
    Case("python password", "password", "Tr0ub4dor&3", "SMTP_PASSWORD = '§'\n"),
    Case("yaml passwd", "password", fake(10), "ldap:\n  bind_passwd: §\n"),
    Case("django secret key", "secret", "django-insecure-" + fake(50, ALNUM + "!@#%^&*(-_=+)"), "SECRET_KEY = '§'\n"),
    Case("yaml api key", "secret", fake(32, HEX), "weather:\n  api_key: §\n"),
    Case("json client secret", "secret", fake(40, URLSAFE), '{"client_id": "0oa1b2c3", "client_secret": "§"}'),
    Case("token in query string", "secret", fake(40), "GET /api/v1/items?access_token=§&page=2 200 OK"),
    Case(
        "basic auth header",
        "authorization_header",
        base64.b64encode(f"admin:{fake(12)}".encode()).decode(),
        'curl -H "Authorization: Basic §" https://ci.acme.dev/api/json',
    ),
    Case("opaque bearer token", "authorization_header", fake(40), "Authorization: Bearer §\n"),
    Case("bearer in python", "authorization_header", fake(48, URLSAFE), 'headers = {"Authorization": "Bearer §"}'),
    Case("email in git log", "email", "jane.doe@acme-corp.com", "commit 3f78\nAuthor: Jane Doe <§>\nDate: today\n"),
    Case("email in json", "email", "r.kumar+billing@mail.acme.io", '{"name": "Ravi", "email": "§"}'),
    Case(
        "heroku api key",
        "heroku_api_key",
        f"{fake(8, HEX)}-{fake(4, HEX)}-{fake(4, HEX)}-{fake(4, HEX)}-{fake(12, HEX)}",
        "HEROKU_API_KEY=§\n",
    ),
    Case("heroku new token", "heroku_api_key", "HRKU-AA" + fake(58, URLSAFE), "heroku:\n  token: §"),
    Case("digitalocean token", "digitalocean_token", "dop_v1_" + fake(64, HEX), "$ doctl auth init -t §\n"),
    Case("vault token", "vault_token", "hvs.CAESI" + fake(86, URLSAFE), "export VAULT_TOKEN=§\n"),
    Case("databricks token", "databricks_token", "dapi" + fake(32, HEX), "DATABRICKS_TOKEN=§\n"),
    Case("linear api key", "linear_api_key", "lin_api_" + fake(40), "LINEAR_API_KEY=§"),
    Case(
        "atlassian api token",
        "atlassian_token",
        "ATATT3xFfGF0" + fake(180, URLSAFE) + "=" + fake(8, HEX.upper()),
        "JIRA_API_TOKEN=§\n",
    ),
    Case("bitbucket app password", "atlassian_token", "ATBB" + fake(32), "bitbucket_app_password: §"),
    Case(
        "okta api token",
        "okta_token",
        "00" + fake(40, URLSAFE),
        "curl -H 'Authorization: SSWS §' https://acme.okta.com/api/v1/users",
    ),
    Case(
        "firebase fcm server key",
        "firebase_fcm_key",
        f"AAAA{fake(7, URLSAFE)}:APA91b{fake(134, URLSAFE)}",
        "'Authorization': 'key=§'",
    ),
    Case("new relic key", "newrelic_key", "NRAK-" + fake(27, UPPER), "NEW_RELIC_API_KEY=§"),
    Case(
        "sentry dsn", "sentry_dsn", fake(32, HEX), 'sentry_sdk.init(dsn="https://§@o450123.ingest.sentry.io/5512345")'
    ),
    Case("sentry auth token", "sentry_token", "sntrys_" + fake(120, ALNUM), "SENTRY_AUTH_TOKEN=§"),
    Case("grafana service account token", "grafana_token", f"glsa_{fake(32)}_{fake(8, HEX)}", "GRAFANA_TOKEN=§"),
    Case("postman api key", "postman_api_key", f"PMAK-{fake(24, HEX)}-{fake(34, HEX)}", "x-api-key: §"),
    Case(
        "terraform cloud token",
        "terraform_token",
        f"{fake(14)}.atlasv1.{fake(67, URLSAFE)}",
        '{"credentials": {"app.terraform.io": {"token": "§"}}}',
    ),
    Case("doppler token", "doppler_token", "dp.pt." + fake(43), "DOPPLER_TOKEN=§"),
    Case("pulumi token", "pulumi_token", "pul-" + fake(40, HEX), "PULUMI_ACCESS_TOKEN=§"),
    Case("replicate token", "replicate_token", "r8_" + fake(37), "REPLICATE_API_TOKEN=§"),
    Case("groq key", "groq_api_key", "gsk_" + fake(52), 'client = Groq(api_key="§")'),
    Case("perplexity key", "perplexity_api_key", "pplx-" + fake(48), "PPLX_API_KEY=§"),
    Case("xai key", "xai_api_key", "xai-" + fake(80), "XAI_API_KEY=§"),
    Case("notion token", "notion_token", "ntn_" + fake(46), "NOTION_TOKEN=§"),
    Case("airtable pat", "airtable_token", f"pat{fake(14)}.{fake(64, HEX)}", "AIRTABLE_PAT=§"),
    Case("dropbox token", "dropbox_token", "sl." + fake(138, URLSAFE), "dbx = dropbox.Dropbox('§')"),
    Case(
        "mapbox secret token",
        "mapbox_token",
        f"sk.eyJ1Ijoi{fake(40, URLSAFE)}.{fake(22, URLSAFE)}",
        "MAPBOX_DOWNLOADS_TOKEN=§",
    ),
    Case(
        "kubeconfig client key",
        "kubeconfig_key",
        "LS0tLS1CRUdJTi" + fake(200, B64) + "=",
        "users:\n- name: admin\n  user:\n    client-key-data: §\n",
    ),
    Case(
        "docker config auth",
        "docker_auth",
        base64.b64encode(f"bob:{fake(14)}".encode()).decode(),
        '{"auths": {"registry.acme.io": {"auth": "§"}}}',
    ),
    Case("netrc password", "netrc_password", fake(16), "machine api.acme.io login bob password §\n"),
    Case("mysql -p", "cli_password", fake(12), "$ mysql -h db -u root -p§ shop < dump.sql"),
    Case("curl -u", "cli_password", fake(12), "curl -u admin:§ https://jenkins.acme.dev/api/json"),
    Case("--password flag", "cli_password", fake(12), "docker login registry.acme.io --username bob --password §"),
    # Passwords with `@` in URLs: the host follows the authority's last `@`.
    Case("postgres url, @ in password", "database_url_password", "p@" + fake(12), "postgres://user:§@host/db"),
    Case(
        "mysql url, two @ in password",
        "database_url_password",
        f"{fake(5)}@{fake(6)}@{fake(3)}",
        'DSN="mysql://app:§@db.acme.dev:3306/shop?charset=utf8"',
    ),
    Case("redis url, @ and : in password", "database_url_password", f"{fake(6)}:@{fake(8)}", "redis://:§@cache:6379/0"),
    Case(
        "https url, @ in password",
        "url_password",
        f"{fake(7)}@{fake(7)}",
        "pip install git+https://ci:§@git.acme.dev/x",
    ),
    Case(
        "json access token beside a page token",
        "secret",
        fake(40, URLSAFE),
        '{"access_token": "§", "next_page_token": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3"}',
    ),
    Case("env password after pass counts", "password", fake(14), "tests pass: 3/5\nDB_PASSWORD=§\n"),
]

# Must come out unchanged: code, hashes, ids, placeholders and docs that look like the secrets above.
NEAR_MISSES: list[str] = [
    # Pagination and listing tokens: opaque strings, but nobody's secret (and the API's shape is training data).
    '{"items": [], "next_token": "page2"}',
    '{"next_token": "eyJvZmZzZXQiOjIwfQ", "count": 20}',
    "GET /v1/items?page_token=abc&limit=50",
    "GET /v1/items?page_token=CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3&limit=50",
    'nextPageToken: "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3"',
    '"NextToken": "AYADeLh1X2tqY2N0bXZ2cnZ5dnE3NjY2"',
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>",
    "continuation_token=c2VjdGlvbj0zJm9mZnNldD0xMDA",
    '"prev_page_token": "Q0FFU0FCZ0NJZ0lJQVE"',
    '"sync_token": "s72594_4483_1934"',
    "resume-token: 8a7b6c5d4e3f2a1b9c8d",
    # Test results: `pass` is a verdict here, not a password.
    "pass: 3/5",
    "tests pass: 10/12 (83%), fail: 2",
    "PASS: tests/test_api.py",
    "pass=98.5% fail=1.5%",
    "Pass: 3  Fail: 0  Skip: 1",
    # URLs with `@` that hold no password.
    "postgres://app@db.internal:5432/app",
    "mongodb://db1.acme.dev:27017,db2.acme.dev:27017/app?replicaSet=rs0",
    "https://github.com/acme/api/commit/3f78?author=jane@acme.test",
    "ssh://git@github.com:22/acme/api.git",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b\nMerge: 1a2b3c4 5d6e7f8",
    'request_id = "550e8400-e29b-41d4-a716-446655440000"',
    'data = base64.b64decode("SGVsbG8sIHdvcmxkLCB0aGlzIGlzIGp1c3QgdGV4dA==")',
    "password = getpass.getpass()",
    "token = get_token()",
    'api_key = os.environ["API_KEY"]',
    'aws_secret_access_key = os.getenv("AWS_SECRET_ACCESS_KEY")',
    "OPENAI_API_KEY=<your-api-key>",
    "export GITHUB_TOKEN=${GITHUB_TOKEN}",
    "API_KEY=xxx",
    "password=********",
    "def login(self, password: str, token: str | None = None) -> bool:",
    "    api_key: SecretStr = Field(default=None)",
    "if not password:\n    raise ValueError('password required')",
    "password_hash = bcrypt.hashpw(password, salt)",
    "--hash=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    'checksum = "3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a"',
    '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXGOAM9nOLGHy6+Xs+ZRGwGQ3Q=="',
    "open('/home/user/.ssh/id_rsa').read()",
    "ssh user@localhost",
    "git clone git@github.com:acme/api.git",
    "npm install lodash@4.17.21 @types/node@20.1.0",
    "max_tokens=4096, temperature=0.2",
    'tokenizer = AutoTokenizer.from_pretrained("gpt2")',
    '{"token": "world", "logprob": -0.25}',
    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "OPENAI_API_KEY=sk-...",
    "DATABASE_URL=postgres://user:password@localhost:5432/db",
    "see https://github.com/acme/api/blob/main/app.py#L10 and http://localhost:8080/api",
    'pad_token = "<pad>"',
    '{"secret": false, "token_type": "bearer", "expires_in": 3600}',
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop.local",
    "FROM python@sha256:4d9b8f0e1c2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4",
    "@media (max-width: 600px) { .card { margin: 0 } }",
    "    @property\n    def token(self) -> str:",
    'headers = {"Authorization": f"Bearer {token}"}',
    'headers = {"Authorization": "Bearer " + access_token}',
    'secret_name = "prod/db"',
    "PWD=/home/user/project\nOLDPWD=/home/user",
    "      GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    '"resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz"',
    "pip install scikit-learn",
    "mongodb://localhost:27017/test",
    "$ mysql -u root -p\nEnter password:",
    "Contact jane.doe@example.com or ops@acme.test",
    "Co-authored-by: bot <noreply@github.com>",
    'cache_key = "user:123:profile"',
    'hf_hub_download(repo_id="gpt2", filename="config.json")',
    "from ..auth import token_required",
    "ENCRYPTION_KEY_LENGTH = 32",
    'password_label = "Enter your password"',
    "password: !vault |",
    "token=$(cat ~/.config/token)",
    'curl -H "Authorization: Bearer $TOKEN" https://api.acme.dev',
    "docker run -u 1000:1000 -p 8080:80 nginx",
    "task-list-item-checkbox-container-wrapper-element",
    "xoxb-your-token-here",
    '"output_token": "NextToken",',
    "best_token = candidate_0",
    'export LITELLM_MASTER_KEY="sk-$(openssl rand -hex 32)"',
    "Pass :meth:`peek` a default value",
    '{"Authorization": "Bearer os.environ/COHERE_API_KEY"}',
    r'_rule("sentry_dsn", r"https?://(?P<s>[0-9a-f]{32})(?::[0-9a-f]{32})?@[\w.-]*sentry\.io")',
    'hints = "--pass --token --api-key --secret"',
    "Keys start with -----BEGIN OPENSSH PRIVATE KEY----- and end with the END line.",
]
