from __future__ import annotations

from typing import Any

import pytest
import requests
from mutuality_adapters.retry import RetriesExhaustedError, RetryPolicy
from mutuality_adapters.salesforce import client as client_module
from mutuality_adapters.salesforce.settings import SalesforceSettings
from mutuality_adapters.salesforce.transport import ApiBudget, SalesforceSession, loopback_netloc
from requests.adapters import BaseAdapter

from mutuality_core.errors import ConfigError, CrmUnavailableError, MissingDependencyError


def test_credential_sets_and_precedence() -> None:
    session = SalesforceSettings.from_mapping(
        {}, {"SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com", "SALESFORCE_SESSION_ID": "s"}
    )
    assert session.auth_mode == "session"
    password = SalesforceSettings.from_mapping(
        {"sandbox": "true"},
        {"SALESFORCE_USERNAME": "u", "SALESFORCE_PASSWORD": "p", "SALESFORCE_SECURITY_TOKEN": ""},
    )
    assert password.auth_mode == "password" and password.security_token == ""
    assert password.login_domain == "test"
    jwt = SalesforceSettings.from_mapping(
        {
            "username": "u",
            "jwt": {"consumer_key": "ck", "private_key_file": "k.pem"},
            "domain": "acme",
        },
        {"SALESFORCE_USERNAME": "ignored"},
    )
    assert (jwt.auth_mode, jwt.username, jwt.login_domain) == ("jwt", "u", "acme")
    with pytest.raises(ConfigError, match="SALESFORCE_SESSION_ID"):
        SalesforceSettings.from_mapping({}, {"SALESFORCE_USERNAME": "u"})
    with pytest.raises(ConfigError, match="unknown salesforce setting"):
        SalesforceSettings.from_mapping({"pasword": "x"}, {})
    with pytest.raises(ConfigError, match="max_share_per_run"):
        SalesforceSettings.from_mapping(
            {"max_share_per_run": 2, "session_id": "s", "instance_url": "https://a"}, {}
        )


def test_secrets_are_redacted() -> None:
    settings = SalesforceSettings.from_mapping(
        {},
        {
            "SALESFORCE_USERNAME": "u",
            "SALESFORCE_PASSWORD": "hunter2",
            "SALESFORCE_SECURITY_TOKEN": "s3cr3tTOKEN",
        },
    )
    text = repr(settings) + repr(settings.redacted())
    assert "hunter2" not in text and "s3cr3tTOKEN" not in text


def test_plain_http_only_for_this_machine() -> None:
    assert loopback_netloc("http://127.0.0.1:8765") == "127.0.0.1:8765"
    assert loopback_netloc("http://localhost:9") == "localhost:9"
    assert loopback_netloc("https://127.0.0.1:8765") is None
    assert loopback_netloc("http://example.my.salesforce.com") is None
    settings = SalesforceSettings.from_mapping(
        {},
        {
            "SALESFORCE_INSTANCE_URL": "http://example.my.salesforce.com",
            "SALESFORCE_SESSION_ID": "s",
        },
    )
    with pytest.raises(ConfigError, match="https"):
        client_module.open_client(settings)


class Recorder(BaseAdapter):
    """A transport that records what would be sent (no network)."""

    def __init__(self, fail: int = 0) -> None:
        super().__init__()
        self.sent: list[tuple[str, Any]] = []
        self.fail = fail

    def send(self, request: Any, **kwargs: Any) -> requests.Response:
        self.sent.append((request.url, kwargs.get("timeout")))
        if self.fail:
            self.fail -= 1
            raise requests.ConnectionError("refused")
        response = requests.Response()
        response.status_code = 200
        response.headers["Sforce-Limit-Info"] = "api-usage=7/1000"
        response._content = b"{}"
        response.url = request.url
        return response

    def close(self) -> None:
        return None


def test_session_rewrites_only_the_loopback_host_and_sets_timeouts() -> None:
    sleeps: list[float] = []
    session = SalesforceSession(
        budget=ApiBudget(),
        timeout_seconds=12,
        policy=RetryPolicy(base_seconds=1.0, jitter=False),
        loopback="127.0.0.1:8765",
        sleep=sleeps.append,
    )
    recorder = Recorder(fail=1)
    session.mount("http://", recorder)
    session.mount("https://", recorder)
    session.get("https://127.0.0.1:8765/services/data/v59.0/limits/")
    session.get("https://example.my.salesforce.com/services/data/v59.0/limits/")
    session.get("https://127.0.0.1:9999/services/data/v59.0/limits/")
    urls = [u for u, _t in recorder.sent]
    assert urls[0] == urls[1] == "http://127.0.0.1:8765/services/data/v59.0/limits/"  # retried once
    assert urls[2].startswith("https://example.my.salesforce.com/")
    assert urls[3].startswith("https://127.0.0.1:9999/")
    assert {t for _u, t in recorder.sent} == {12}
    assert sleeps == [1.0]
    assert (session.budget.used, session.budget.limit, session.budget.calls) == (7, 1000, 4)


def test_connection_errors_end_as_crm_unavailable() -> None:
    session = SalesforceSession(
        budget=ApiBudget(), policy=RetryPolicy(max_retries=2), sleep=lambda s: None
    )
    session.mount("https://", Recorder(fail=5))
    with pytest.raises(RetriesExhaustedError, match="3 attempts") as error:
        session.get("https://example.my.salesforce.com/services/data/v59.0/limits/")
    assert isinstance(error.value, CrmUnavailableError)
    assert (error.value.attempts, error.value.status) == (3, 0)


def test_missing_client_library_is_a_one_line_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "simple_salesforce":
            raise ImportError("no simple_salesforce")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"pip install 'mutuality\[salesforce\]'"):
        client_module.import_simple_salesforce()


def test_package_imports_without_simple_salesforce() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['simple_salesforce'] = None\n"
        "import mutuality_adapters.salesforce as s\n"
        "from mutuality_core.errors import MissingDependencyError\n"
        "env = {'SALESFORCE_INSTANCE_URL': 'https://a', 'SALESFORCE_SESSION_ID': 'x'}\n"
        "try:\n    s.plugin.connect({}, environ=env)\n"
        "except MissingDependencyError as e:\n    print('missing:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "missing: simple-salesforce is not installed" in out.stdout


def test_budget_summary_names_calls_and_share() -> None:
    budget = ApiBudget()
    assert budget.summary() == "0 Salesforce API calls"
    budget.observe("api-usage=510/2000")
    budget.calls = 10
    assert budget.summary().startswith(
        "10 Salesforce API calls (0.50% of the daily allowance of 2000)"
    )


@pytest.mark.parametrize(
    ("environ", "settings", "expected"),
    [
        (
            {"SALESFORCE_USERNAME": "u", "SALESFORCE_PASSWORD": "pw-SECRET",
             "SALESFORCE_SECURITY_TOKEN": "tok-SECRET"},
            {"sandbox": True},
            {"username": "u", "password": "pw-SECRET", "security_token": "tok-SECRET",
             "domain": "test"},
        ),
        (
            {"SALESFORCE_USERNAME": "u", "SALESFORCE_CONSUMER_KEY": "ck",
             "SALESFORCE_PRIVATE_KEY_FILE": "/k.pem"},
            {"domain": "acme.my"},
            {"username": "u", "consumer_key": "ck", "privatekey_file": "/k.pem",
             "domain": "acme.my"},
        ),
    ],
)  # fmt: skip
def test_login_flows_reach_the_client_and_failures_are_typed(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], settings: dict[str, Any],
    expected: dict[str, Any],
) -> None:  # fmt: skip
    import simple_salesforce

    from mutuality_core.errors import AuthenticationError

    seen: dict[str, Any] = {}

    def refuse(**kwargs: Any) -> Any:
        seen.update(kwargs)
        raise simple_salesforce.SalesforceAuthenticationFailed("INVALID_LOGIN", "bad")

    monkeypatch.setattr(simple_salesforce, "Salesforce", refuse)
    parsed = SalesforceSettings.from_mapping(settings, environ)
    with pytest.raises(AuthenticationError, match="INVALID_LOGIN") as error:
        client_module.open_client(parsed)
    assert "SECRET" not in str(error.value)
    assert {k: seen[k] for k in expected} == expected
    assert isinstance(seen["session"], SalesforceSession) and seen["version"] == "59.0"


def test_activity_field_settings() -> None:
    env = {"SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com", "SALESFORCE_SESSION_ID": "s"}
    default = SalesforceSettings.from_mapping({}, env)
    assert default.tags_field == "Mutuality_Tags__c"
    assert default.meeting_outcome_field == "Mutuality_Meeting_Outcome__c"
    assert default.booking_users == frozenset()
    custom = SalesforceSettings.from_mapping(
        {
            "tags_field": "",
            "meeting_outcome_field": "Meeting_Outcome__c",
            "booking_user_ids": "005xx000001Sv6AAAC, 005xx000001Sv6B",
        },
        env,
    )
    assert custom.tags_field is None and custom.meeting_outcome_field == "Meeting_Outcome__c"
    assert custom.booking_users == {"005xx000001Sv6A", "005xx000001Sv6B"}
    listed = SalesforceSettings.from_mapping({"booking_user_ids": ["005xx000001Sv6A"]}, env)
    assert listed.booking_user_ids == ("005xx000001Sv6A",)
    with pytest.raises(ConfigError, match="tags_field must be a field API name"):
        SalesforceSettings.from_mapping({"tags_field": "Tags__c; DROP"}, env)
    with pytest.raises(ConfigError, match="booking_user_ids must list 15- or 18-character"):
        SalesforceSettings.from_mapping({"booking_user_ids": "calendly"}, env)
