"""settings.toml + LINKSVC_* environment -> validated settings."""

import dataclasses
from pathlib import Path

import pytest

from linksvc import config
from linksvc.app import create_app
from linksvc.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "settings.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = config.load(environ={})
    assert settings.protected_dir == str(tmp_path / "protected")
    assert settings.default_expiry == 86400
    assert settings.max_expiry == 30 * 86400
    assert settings.database_url == f"sqlite:///{tmp_path}/instance/linksvc.sqlite3"


def test_relative_paths_are_relative_to_the_file(tmp_path):
    path = write(tmp_path, 'protected_dir = "files"\ninstance_dir = "../var"\n')
    settings = config.load(path, environ={})
    assert settings.protected_dir == str(tmp_path / "conf" / "files")
    assert settings.instance_dir == str(tmp_path / "var")


def test_settings_path_from_the_environment(tmp_path):
    path = write(tmp_path, 'default_expiry = "2h"\n')
    settings = config.load(environ={"LINKSVC_SETTINGS": str(path)})
    assert settings.default_expiry == 7200


def test_environment_overrides_every_key(tmp_path):
    path = write(tmp_path, 'protected_dir = "files"\npublic_base_url = "http://a"\n')
    environ = {
        "LINKSVC_PROTECTED_DIR": "/srv/files",
        "LINKSVC_PUBLIC_BASE_URL": "https://files.example.org/",
        "LINKSVC_MAX_EXPIRY": "2w",
        "LINKSVC_TRUSTED_HOSTS": "files.example.org, localhost",
        "LINKSVC_DATABASE_URL": "sqlite:////tmp/x.db",
        "LINKSVC_RESUME_WINDOW": "10m",
        "LINKSVC_LOGIN_LIMIT": "3 per minute",
        "LINKSVC_LOGIN_LIMIT_PER_ADDRESS": "9 per hour",
        "LINKSVC_RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379",
        "LINKSVC_DATABASE_TIMEOUT": "2.5",
        "LINKSVC_LOGIN_LIMIT_PER_NAME": "4 per minute",
        "LINKSVC_API_AUTH_LIMIT": "7 per minute",
        "LINKSVC_REFUSAL_LIMIT": "8 per minute",
        "LINKSVC_TRUSTED_PROXIES": "2",
        "LINKSVC_AUDIT_RETENTION": "30d",
        "LINKSVC_SESSION_IDLE_TIMEOUT": "15m",
        "LINKSVC_SESSION_LIFETIME": "8h",
        "LINKSVC_HEADER_TIMEOUT": "20s",
        "LINKSVC_THREADS": "8",
        "LINKSVC_CONNECTIONS": "500",
        "LINKSVC_ACCESS_LOG": "false",
        "LINKSVC_OFFLOAD": "nginx",
        "LINKSVC_OFFLOAD_PREFIX": "/_files/",
        "LINKSVC_STORAGE": "local",
        "LINKSVC_S3_BUCKET": "files",
        "LINKSVC_S3_PREFIX": "shared",
        "LINKSVC_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "LINKSVC_S3_REGION": "eu-west-1",
        "LINKSVC_S3_ADDRESSING_STYLE": "path",
        "LINKSVC_S3_OFFLOAD": "redirect",
        "LINKSVC_PRESIGN_TTL": "2m",
        "LINKSVC_RECIPIENT_PAGE": "true",
        "LINKSVC_OPAQUE_LINKS": "yes",
        "LINKSVC_PIN": "1",
        "LINKSVC_LINK_PASSWORD_LIMIT": "3 per minute",
        "LINKSVC_UNLOCK_LIFETIME": "30m",
        "LINKSVC_NOTIFY": "true",
        "LINKSVC_SMTP_HOST": "mail.example.org",
        "LINKSVC_SMTP_PORT": "465",
        "LINKSVC_SMTP_SECURITY": "tls",
        "LINKSVC_SMTP_USER": "linksvc",
        "LINKSVC_SMTP_PASSWORD_FILE": "/run/secrets/smtp",
        "LINKSVC_MAIL_FROM": "files@example.org",
        "LINKSVC_REMINDER_BEFORE": "0s",
        "LINKSVC_WEBHOOK_URL": "https://hooks.example.org/x",
        "LINKSVC_WEBHOOK_SECRET_FILE": "/run/secrets/webhook",
        "LINKSVC_WEBHOOK_ALLOW_PRIVATE": "no",
        "LINKSVC_WEBHOOK_CA_FILE": "/etc/ssl/ca.pem",
        "LINKSVC_WEBHOOK_FORMAT": "standard",
        "LINKSVC_CODE_LIMIT": "2 per hour",
        "LINKSVC_CODE_LIFETIME": "5m",
        "LINKSVC_MORE_TIME_LIMIT": "1 per day",
        "LINKSVC_WEBHOOK_ROTATION": "2h",
        "LINKSVC_SEND_LIMIT": "3 per hour",
        "LINKSVC_OUTBOX_INTERVAL": "10s",
        "LINKSVC_REAUTH_LIMIT": "2 per minute",
        "LINKSVC_SEND_TIMEOUT": "5s",
        "LINKSVC_ZIP_SLOTS": "3",
        "LINKSVC_CROSS_ORIGIN_RESOURCE_POLICY": "same-site",
        "LINKSVC_OIDC_ISSUER": "https://login.example.org/realms/staff/",
        "LINKSVC_OIDC_CLIENT_ID": "linksvc",
        "LINKSVC_OIDC_CLIENT_SECRET_FILE": "/run/secrets/oidc",
        "LINKSVC_OIDC_NAME": "Example SSO",
        "LINKSVC_OIDC_SCOPES": "openid email",
        "LINKSVC_OIDC_USERNAME_CLAIM": "email",
        "LINKSVC_OIDC_GROUPS_CLAIM": "roles",
        "LINKSVC_LOCAL_LOGINS": "false",
        "LINKSVC_BREAK_GLASS_ADMIN": "root",
        "LINKSVC_SSO_TOKEN_LIFETIME": "30d",
        "LINKSVC_REQUIRE_SECOND_FACTOR": "admins",
        "LINKSVC_OIDC_GROUP_MAP": "staff=limited, Contractors = outside",
        "LINKSVC_ON_ACCESS_LOST": "revoke",
        "LINKSVC_SCIM_LIMIT": "99 per minute",
        "LINKSVC_LDAP_URL": "ldaps://ldap.example.org:636",
        "LINKSVC_LDAP_STARTTLS": "false",
        "LINKSVC_LDAP_ALLOW_PLAIN": "false",
        "LINKSVC_LDAP_CA_FILE": "/etc/ssl/ldap-ca.pem",
        "LINKSVC_LDAP_BIND_DN": "cn=reader,dc=example,dc=org",
        "LINKSVC_LDAP_BIND_PASSWORD_FILE": "/etc/linksvc/ldap-password",
        "LINKSVC_LDAP_USER_BASE": "ou=people,dc=example,dc=org",
        "LINKSVC_LDAP_USER_FILTER": "(sAMAccountName={username})",
        "LINKSVC_LDAP_USERNAME_ATTRIBUTE": "sAMAccountName",
        "LINKSVC_LDAP_EMAIL_ATTRIBUTE": "userPrincipalName",
        "LINKSVC_LDAP_ID_ATTRIBUTE": "objectGUID",
        "LINKSVC_LDAP_GROUP_BASE": "ou=groups,dc=example,dc=org",
        "LINKSVC_LDAP_GROUP_FILTER": "(member:1.2.840.113556.1.4.1941:={dn})",
        "LINKSVC_LDAP_GROUP_ATTRIBUTE": "name",
        "LINKSVC_LDAP_TIMEOUT": "3",
        "LINKSVC_UPLOAD_MAX_FILE_SIZE": "100M",
        "LINKSVC_UPLOAD_MAX_FILES": "7",
        "LINKSVC_UPLOAD_MAX_BYTES": "1G",
        "LINKSVC_UPLOAD_EXPIRY": "2h",
        "LINKSVC_UPLOAD_FREE_DISK": "10G",
        "LINKSVC_UPLOAD_LIMIT": "5 per minute",
        "LINKSVC_UPLOADS_PER_LINK": "2",
        "LINKSVC_UPLOADS_PER_WORKER": "9",
        "LINKSVC_CLAMD_SOCKET": "/run/clamav/clamd.ctl",
        "LINKSVC_DRAIN_SECONDS": "5s",
        "LINKSVC_METRICS_TOKEN": "scrape-me",
        "LINKSVC_METRICS_NETWORKS": "10.0.0.7, 192.0.2.0/24",
        "LINKSVC_LOG_FORMAT": "json",
    }
    settings = config.load(path, environ=environ)
    assert settings.protected_dir == "/srv/files"
    assert settings.public_base_url == "https://files.example.org"
    assert settings.max_expiry == 14 * 86400
    assert settings.trusted_hosts == ("files.example.org", "localhost")
    assert settings.database_url == "sqlite:////tmp/x.db"
    assert settings.resume_window == 600
    assert settings.login_limit == "3 per minute"
    assert settings.login_limit_per_address == "9 per hour"
    assert settings.ratelimit_storage_url == "redis://127.0.0.1:6379"
    assert settings.database_timeout == 2.5
    assert (settings.s3_bucket, settings.s3_addressing_style) == ("files", "path")
    assert (settings.s3_offload, settings.presign_ttl) == ("redirect", 120)
    assert settings.login_limit_per_name == "4 per minute"
    assert settings.api_auth_limit == "7 per minute"
    assert settings.refusal_limit == "8 per minute"
    assert settings.trusted_proxies == 2
    assert settings.audit_retention == 30 * 86400
    assert settings.session_idle_timeout == 900
    assert settings.session_lifetime == 8 * 3600
    assert settings.header_timeout == 20
    assert (settings.threads, settings.connections) == (8, 500)
    assert settings.access_log is False
    assert (settings.offload, settings.offload_prefix) == ("nginx", "/_files")
    assert settings.recipient_page is True
    assert settings.opaque_links is True and settings.pin is True
    assert settings.link_password_limit == "3 per minute"
    assert settings.unlock_lifetime == 1800
    assert settings.notify is True
    assert (settings.smtp_host, settings.smtp_port) == ("mail.example.org", 465)
    assert (settings.smtp_security, settings.smtp_user) == ("tls", "linksvc")
    assert settings.smtp_password_file == "/run/secrets/smtp"
    assert settings.mail_from == "files@example.org"
    assert settings.reminder_before == 0
    assert settings.webhook_url == "https://hooks.example.org/x"
    assert settings.webhook_secret_file == "/run/secrets/webhook"
    assert settings.webhook_allow_private is False
    assert settings.webhook_ca_file == "/etc/ssl/ca.pem"
    assert (settings.webhook_format, settings.webhook_rotation) == ("standard", 7200)
    assert (settings.code_limit, settings.code_lifetime) == ("2 per hour", 300)
    assert settings.more_time_limit == "1 per day"
    assert settings.send_limit == "3 per hour"
    assert settings.outbox_interval == 10
    assert settings.reauth_limit == "2 per minute"
    assert (settings.send_timeout, settings.zip_slots) == (5, 3)
    assert settings.cross_origin_resource_policy == "same-site"
    assert settings.oidc_issuer == "https://login.example.org/realms/staff"
    assert (settings.oidc_client_id, settings.oidc_name) == ("linksvc", "Example SSO")
    assert settings.oidc_client_secret_file == "/run/secrets/oidc"
    assert settings.oidc_scopes == "openid email"
    assert (settings.oidc_username_claim, settings.oidc_groups_claim) == (
        "email",
        "roles",
    )
    assert settings.local_logins is False and settings.break_glass_admin == "root"
    assert settings.sso_token_lifetime == 30 * 86400
    assert settings.require_second_factor == "admins"
    assert settings.on_access_lost == "revoke"
    assert settings.scim_limit == "99 per minute"
    assert settings.ldap_url == "ldaps://ldap.example.org:636"
    assert settings.upload_max_file_size == 100 << 20
    assert (settings.upload_max_files, settings.upload_max_bytes) == (7, 1 << 30)
    assert (settings.upload_expiry, settings.upload_free_disk) == (7200, 10 << 30)
    assert (settings.uploads_per_link, settings.uploads_per_worker) == (2, 9)
    assert settings.clamd_socket == "/run/clamav/clamd.ctl"
    assert settings.drain_seconds == 5
    assert settings.metrics_token == "scrape-me"
    assert settings.metrics_networks == "10.0.0.7/32 192.0.2.0/24"
    assert settings.log_format == "json"
    assert settings.ldap_id_attribute == "objectGUID" and settings.ldap_timeout == 3
    assert settings.ldap_group_filter == "(member:1.2.840.113556.1.4.1941:={dn})"
    assert settings.oidc_group_map == (("Contractors", "outside"), ("staff", "limited"))
    assert set(config.SCHEMA) == {
        key.removeprefix("LINKSVC_").lower() for key in environ
    } | {"instance_dir", "default_expiry"}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('protected_dirr = "x"\n', "protected_dirr"),
        ("max_expiry = true\n", "max_expiry"),
        ('max_expiry = "forever"\n', "max_expiry"),
        ("protected_dir = 3\n", "protected_dir"),
        ('public_base_url = "ftp://x"\n', "public_base_url"),
        ("trusted_hosts = 5\n", "trusted_hosts"),
        ('login_limit = "lots"\n', "login_limit"),
        ("database_timeout = -1\n", "database_timeout"),
        ('default_expiry = "40d"\n', "default_expiry"),
        ('secret_keys = ["x"]\n', "secret_keys"),
        ("not toml at all [\n", "settings.toml"),
        ('offload = "apache"\n', "offload"),
        ('webhook_format = "svix"\n', "webhook_format"),
        ('offload_prefix = "no-slash"\n', "offload_prefix"),
        ("threads = 0\n", "threads"),
        ('connections = "many"\n', "connections"),
        ('access_log = "perhaps"\n', "access_log"),
        ("trusted_proxies = 11\n", "trusted_proxies"),
        ('header_timeout = "soon"\n', "header_timeout"),
    ],
)
def test_bad_settings_stop_start_up_naming_the_key(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=named):
        config.load(path, environ={})


def test_bad_environment_value_names_the_key(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match="max_expiry"):
        config.load(path, environ={"LINKSVC_MAX_EXPIRY": "lots"})


def test_missing_settings_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml", environ={})


def test_serving_without_a_secret_key_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("LINKSVC_SECRET_KEYS", raising=False)
    with pytest.raises(ConfigError, match="linksvc init"):
        create_app({"instance_dir": str(tmp_path), "protected_dir": str(tmp_path)})


def test_secret_keys_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKSVC_SECRET_KEYS", "env-key-one-0123456789,env-key-two-0123")
    app = create_app({"instance_dir": str(tmp_path), "protected_dir": str(tmp_path)})
    assert app.secret_key == "env-key-one-0123456789"
    assert app.config["SECRET_KEY_FALLBACKS"] == ["env-key-two-0123"]


def test_trusted_hosts_refuse_other_hosts(tmp_path, settings):
    app = create_app({**settings, "trusted_hosts": ["links.example.org"]})
    client = app.test_client()
    assert client.get("/login", base_url="https://evil.example").status_code == 400
    ok = client.get("/login", base_url="https://links.example.org")
    assert ok.status_code == 200


def test_old_setting_names_are_read_for_one_release(tmp_path, caplog):
    path = write(tmp_path, "pin_versions = true\n")
    settings = config.load(path, environ={"LINKSVC_NOTIFY_FIRST_DOWNLOAD": "yes"})
    assert settings.pin is True and settings.notify is True
    assert "'pin_versions' is now called 'pin'" in caplog.text
    assert "'notify_first_download' is now called 'notify'" in caplog.text


def test_old_and_new_name_together_are_refused(tmp_path):
    path = write(tmp_path, "pin_versions = true\npin = false\n")
    with pytest.raises(ConfigError, match="'pin_versions' is the old name of 'pin'"):
        config.load(path, environ={})


def test_settings_are_read_as_attributes_and_cannot_change(tmp_path):
    settings = config.load(write(tmp_path, 'max_expiry = "2d"\n'), environ={})
    assert settings.max_expiry == 2 * 86400
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_expiry = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('oidc_client_secret = "x"\n', "secrets do not belong in the settings file"),
        ('ldap_bind_password = "x"\n', "secrets do not belong in the settings file"),
        ('ldap_url = "http://x"\n', "ldap_url"),
        ('ldap_url = "ldap://x"\n', "ldap_user_base"),
        ('oidc_issuer = "https://idp.example.org"\n', "'oidc_client_id' must go"),
        (
            'oidc_issuer = "https://idp.example.org"\noidc_client_id = "c"\n'
            'oidc_scopes = "email"\n',
            "must include 'openid'",
        ),
    ],
)
def test_single_sign_on_settings_are_checked(tmp_path, text, said):
    with pytest.raises(ConfigError, match=said):
        config.load(write(tmp_path, text), environ={})


def test_the_group_map_is_a_table_in_the_settings_file(tmp_path):
    text = '[oidc_group_map]\nstaff = "limited"\n"Domain Users" = "everyone"\n'
    settings = config.load(write(tmp_path, text), environ={})
    assert settings.oidc_group_map == (
        ("Domain Users", "everyone"),
        ("staff", "limited"),
    )
    with pytest.raises(ConfigError, match="'oidc_group_map'"):
        config.load(write(tmp_path, "oidc_group_map = 5\n"), environ={})
