"""One settings surface: every tunable value of voice-monitor in one typed object.

Sources, later wins: the built-in default < the config file (`$VOICE_MONITOR_CONFIG`, else
`./voice-monitor.toml` when it exists) < the environment (`VOICE_MONITOR_<KEY>`, the key upper-cased
with `.` as `_`, e.g. `VOICE_MONITOR_RETENTION_EVENTS=72h`) < flags and flow parameters. Settings
are read once at the edge (CLI, flows, server) and passed down as arguments; `voice-monitor config
show` prints each effective value and where it came from, secrets masked.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from voice_monitor.health.checks import BOUNDS, MAX_WEBHOOK_TIMEOUT_S, NOT_A_BOOL, AlertConfig
from voice_monitor.lake import DEFAULT_LAKE, LAKE_ENV
from voice_monitor.retention import RetentionConfig

ENV_PREFIX = "VOICE_MONITOR_"
CONFIG_ENV = "VOICE_MONITOR_CONFIG"
CONFIG_FILE = "voice-monitor.toml"
ENV_ONLY = ("ingest_tokens", "staff_tokens")  # secrets never sit in a config file

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION = timedelta(days=36_500)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms])\s*$")


def parse_duration(value: Any) -> timedelta:
    """`48h`, `7d`, `90m`, `30s` (or a timedelta) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; use a number and a unit, e.g. 48h, 7d, 90m")
    seconds = float(match[1]) * _UNITS[match[2]]
    if seconds > MAX_DURATION.total_seconds():  # beyond, a cut-off leaves the calendar
        raise ValueError(f"{value!r} is longer than 36500d (100 years), the most a duration "
                         "takes; use 36500d or less")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """A timedelta as people write it: days from a week up (7d, 90d), else hours (48h), minutes
    (90m) or seconds (45s), whichever divides it."""
    seconds = value.total_seconds()
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0 and (unit != "d" or seconds >= 7 * size):
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?[dhms]$", "examples": ["48h", "7d"]}),
]


def _secret(description: str) -> Any:
    return Field("", description=description, json_schema_extra={"secret": True})


# The library's dataclasses state the defaults; the sections below add bounds and descriptions.
_RETENTION, _ALERTS = RetentionConfig(), AlertConfig()


def _bounds(name: str) -> dict[str, Any]:
    """The field constraints of alerts.<name>: AlertConfig's own bounds (checks.BOUNDS)."""
    return BOUNDS[name][1]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionSettings(_Section):
    """How long each part of the lake is kept (contract §7)."""

    events: Duration = Field(_RETENTION.events,
                             description="Event hour partitions, counted from the hour's end (at "
                                         "least 25h: the rollups read that far back).")
    hourly_snapshots: Duration = Field(_RETENTION.hourly_snapshots,
                                       description="Hourly snapshot partitions (at least 2d: the "
                                                   "daily rollup builds from them).")
    daily_snapshots: Duration = Field(_RETENTION.daily_snapshots,
                                      description="Daily snapshot partitions.")
    quarantine: Duration = Field(_RETENTION.quarantine,
                                 description="Quarantined input, by day of receipt.")
    alerts: Duration = Field(_RETENTION.alerts,
                             description="Alert history.")
    counter_state: Duration = Field(_RETENTION.counter_state,
                                    description="Real-time counter state (at least 1h: the "
                                                "rolling window).")
    tmp_files: Duration = Field(_RETENTION.tmp_files,
                                description="Leftover temporary files of interrupted writes.")

    @model_validator(mode="after")
    def _consistent(self) -> RetentionSettings:
        self.config()  # RetentionConfig's own rules, e.g. events long enough for the rollups
        return self

    def config(self) -> RetentionConfig:
        """The library's RetentionConfig for these values."""
        return RetentionConfig(**{name: getattr(self, name) for name in type(self).model_fields})


class AlertSettings(_Section):
    """Thresholds of the health checks (contract §9)."""

    failure_rate_high: float = Field(_ALERTS.failure_rate_high, **_bounds("failure_rate_high"),
                                     description="high_failure_rate fires above this share of "
                                                 "failed outcomes in the last hour (0.10 = 10 %).")
    failure_rate_critical: float = Field(_ALERTS.failure_rate_critical,
                                         **_bounds("failure_rate_critical"),
                                         description="...and is critical above this share.")
    failure_rate_min_outcomes: int = Field(_ALERTS.failure_rate_min_outcomes,
                                           **_bounds("failure_rate_min_outcomes"),
                                           description="Fewer outcomes in the last hour never "
                                                       "fire high_failure_rate.")
    latency_factor: float = Field(_ALERTS.latency_factor, **_bounds("latency_factor"),
                                  description="high_latency fires when the last hour's e2e p95 is "
                                              "above this many times the baseline.")
    latency_baseline: Duration = Field(_ALERTS.latency_baseline, **_bounds("latency_baseline"),
                                       description="The baseline is the mean hourly e2e p95 over "
                                                   "this long before the hour.")
    latency_min_baseline_hours: int = Field(_ALERTS.latency_min_baseline_hours,
                                            **_bounds("latency_min_baseline_hours"),
                                            description="Hours with completions needed for a "
                                                        "baseline.")
    queue_depth_max: int = Field(_ALERTS.queue_depth_max, **_bounds("queue_depth_max"),
                                 description="queue_depth fires above this many active artifacts.")
    disambiguation_backlog_max: int = Field(_ALERTS.disambiguation_backlog_max,
                                            **_bounds("disambiguation_backlog_max"),
                                            description="disambiguation_backlog fires above this "
                                                        "many unresolved disambiguations.")
    inactivity_window: Duration = Field(_ALERTS.inactivity_window, **_bounds("inactivity_window"),
                                        description="inactivity fires when no artifact_received "
                                                    "landed for this long.")
    webhook_timeout_s: float = Field(_ALERTS.webhook_timeout_s, gt=0, le=MAX_WEBHOOK_TIMEOUT_S,
                                     description="Seconds to wait for the webhook (at most 3600).")
    webhook_attempts: int = Field(_ALERTS.webhook_attempts, **_bounds("webhook_attempts"),
                                  description="Tries per webhook delivery.")
    webhook_retry_for: Duration = Field(_ALERTS.webhook_retry_for, **_bounds("webhook_retry_for"),
                                        description="Later check runs send again a notification "
                                                    "the webhook did not accept, for this long.")

    @field_validator("*", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any, info: Any) -> Any:
        # pydantic takes true as 1 (a config file's `failure_rate_min_outcomes = true`), as
        # AlertConfig refuses it: in its words (checks.NOT_A_BOOL)
        kind = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and kind in (int, float):
            raise ValueError(NOT_A_BOOL[kind.__name__])
        return value

    def config(self, webhook_url: str | None = None,
               event_window: timedelta | None = None) -> AlertConfig:
        """The library's AlertConfig for these values (plus the webhook and the event window)."""
        extra = {"event_window": event_window} if event_window is not None else {}
        return AlertConfig(**{name: getattr(self, name) for name in type(self).model_fields},
                           webhook_url=webhook_url or None, **extra)


class Settings(_Section):
    """Every setting of voice-monitor."""

    lake: str = Field("./data", description="Lake root: a directory or s3://bucket/prefix.")
    counters: str = _secret("Real-time counter store: empty for the embedded store in the lake, "
                            "or redis://host:port/db.")
    dask: str = Field("", description="Dask scheduler for backfills and rebuilds, e.g. "
                      "tcp://scheduler:8786; empty runs them in-process.")
    webhook_url: str = _secret("URL the health checks POST raised, escalated and resolved alerts to, "
                               "and failed flow runs.")
    ingest_tokens: str = _secret("Comma-separated tokens that may post events to the collector "
                                 "(environment only).")
    staff_tokens: str = _secret("Comma-separated tokens that may read and acknowledge "
                                "(environment only).")
    retention: RetentionSettings = RetentionSettings()
    alerts: AlertSettings = AlertSettings()

    @field_validator("dask")
    @classmethod
    def _dask_address(cls, address: str) -> str:
        # checked here, where its source is known: the fan-out named VOICE_MONITOR_DASK for a
        # value from --set or the config file
        if address:
            from voice_monitor.fanout import well_formed

            if not well_formed(address):
                raise ValueError(f"{address!r} is not a Dask scheduler address; expected e.g. "
                                 "tcp://scheduler:8786, or empty to run in-process")
        return address

    @field_validator("alerts")
    @classmethod
    def _alerts_consistent(cls, alerts: AlertSettings) -> AlertSettings:
        # AlertConfig's rules across fields (failure_rate_high <= failure_rate_critical), here
        # and not on AlertSettings: a flow's `alerts` parameter sets only some of the fields.
        # The inactivity window against event retention is the rule below, in the settings' words
        alerts.config(event_window=MAX_DURATION)
        return alerts

    @model_validator(mode="after")
    def _inactivity_within_retention(self) -> Settings:
        # the inactivity check looks for an artifact_received among the retained events only
        window, kept = self.alerts.inactivity_window, self.retention.events
        if window > kept:
            raise ValueError(
                f"alerts.inactivity_window={format_duration(window)} is longer than "
                f"retention.events={format_duration(kept)}: the inactivity check would look for "
                "an artifact_received further back than events are kept; shorten "
                f"alerts.inactivity_window to at most {format_duration(kept)} or keep events at "
                f"least {format_duration(window)} (retention.events)")
        return self

    def retention_config(self) -> RetentionConfig:
        return self.retention.config()

    def alert_config(self) -> AlertConfig:
        # the event-window checks look at what event retention keeps
        return self.alerts.config(self.webhook_url, event_window=self.retention.events)


class SettingsError(ValueError):
    """A setting has a bad value or an unknown name (one line: the value, its source, the fix)."""


def keys() -> dict[str, Any]:
    """Every setting's dotted key -> its pydantic FieldInfo, in display order."""
    out: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        if isinstance(info.default, _Section):
            out.update({f"{name}.{sub}": f for sub, f in type(info.default).model_fields.items()})
        else:
            out[name] = info
    return out


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "_")


def _flatten(table: Mapping, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        flat.update(_flatten(value, key + ".") if isinstance(value, Mapping) else {key: value})
    return flat


def _unknown(key: str, where: str) -> SettingsError:
    return SettingsError(f"unknown setting {key!r} in {where}; expected one of "
                         f"{', '.join(keys())} (see voice-monitor config show)")


def config_path(environ: Mapping[str, str], cwd: str | Path | None = None) -> Path | None:
    """The config file in use: $VOICE_MONITOR_CONFIG (must exist), else ./voice-monitor.toml;
    relative to `cwd` (default: this process's current directory); a leading `~` is the home
    folder, as for the lake."""
    base = Path(cwd) if cwd is not None else Path()
    if environ.get(CONFIG_ENV):
        path = base / os.path.expanduser(environ[CONFIG_ENV])
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV}={str(path)!r} is not a file; point it at a TOML "
                                f"file or unset it")
        return path
    return base / CONFIG_FILE if (base / CONFIG_FILE).is_file() else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is skipped, as TOML intends
        table = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read config file {str(path)!r}: {exc}") from None
    flat = _flatten(table)
    for key in flat:
        if key not in keys():
            raise _unknown(key, str(path))
        if key in ENV_ONLY:
            raise SettingsError(f"{key} in {str(path)!r}: secrets are not read from a config "
                                f"file; set {env_name(key)} instead")
    return flat


def parse_assignment(text: str) -> tuple[str, str]:
    """`KEY=VALUE` from --set as (key, value), the key checked."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep:
        raise SettingsError(f"--set {text!r} is not KEY=VALUE; use e.g. --set retention.events=72h")
    if key not in keys():
        raise _unknown(key, "--set")
    return key, value.strip()


@dataclass(frozen=True)
class Effective:
    """The effective settings and, for each key, where its value came from."""

    settings: Settings
    sources: dict[str, str]
    raw: dict[str, Any]

    def value(self, key: str) -> Any:
        section, _, name = key.partition(".")
        return getattr(getattr(self.settings, section), name) if name else getattr(self.settings, key)

    def rows(self) -> list[dict[str, Any]]:
        """One row per key: key, shown value (secrets masked), source, description."""
        out = []
        for key, info in keys().items():
            value = self.value(key)
            if isinstance(value, timedelta):
                value = format_duration(value)
            if (info.json_schema_extra or {}).get("secret"):
                value = mask(key, value)
            out.append({"key": key, "value": value, "source": self.sources[key],
                        "description": info.description})
        return out


def mask(key: str, value: str) -> str:
    """A secret as shown to people: tokens counted, URLs without credentials, path or query."""
    if not value:
        return ""
    if key.endswith("_tokens"):
        count = len([t for t in value.split(",") if t.strip()])
        return f"**** ({count} token{'s' if count != 1 else ''})"
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname:
        return "****"
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    login = "****@" if parts.username or parts.password else ""
    if key == "webhook_url":  # a webhook's path is its credential (e.g. Slack's)
        rest = "/****" if (parts.path.strip("/") or parts.query) else ""
    else:
        rest = parts.path
    return f"{parts.scheme}://{login}{host}{rest}"


def load_settings(overrides: Mapping[str, Any] | None = None, *, source: str = "flag",
                  environ: Mapping[str, str] | None = None,
                  cwd: str | Path | None = None) -> Effective:
    """The effective settings: defaults < config file < environment < `overrides` (dotted keys).

    The config file is looked for in `cwd` (default: this process's current directory).
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    sources = dict.fromkeys(keys(), "default")
    path = config_path(environ, cwd)
    if path is not None:
        for key, value in _read_file(path).items():
            raw[key], sources[key] = value, f"file {path}"
    for key in keys():
        if environ.get(env_name(key), "") != "":
            raw[key], sources[key] = environ[env_name(key)], f"env {env_name(key)}"
    for key, value in (overrides or {}).items():
        if key not in keys():
            raise _unknown(key, source)
        if value is not None:
            raw[key], sources[key] = value, source
    nested: dict[str, Any] = {}
    for key, value in raw.items():
        section, _, name = key.partition(".")
        if name:
            nested.setdefault(section, {})[name] = value
        else:
            nested[key] = value
    try:
        settings = Settings.model_validate(nested)
    except ValidationError as exc:
        problem = _explain(exc, raw, sources)
    else:
        return Effective(settings, sources, raw)
    # raised once pydantic's error is gone: raised inside `except`, it stayed this error's
    # context, and the frames of its traceback (an `ingest`'s DuckDB connections) were never
    # freed, so at exit nanobind listed them as leaked on stderr (~40 lines after the error)
    raise problem


def one_setting(key: str, environ: Mapping[str, str] | None = None,
                cwd: str | Path | None = None) -> Any:
    """The value of the top-level setting `key` as `load_settings` gives it (environment >
    config file > default), checked alone: a bad value of another key does not stop it. For
    landing (a producer's or `ingest`'s counter store): a bad `dask` or retention value made
    every landing of a producer inside someone's service fail, its events not landed."""
    environ = os.environ if environ is None else environ
    if environ.get(env_name(key), "") != "":
        raw, source = environ[env_name(key)], f"env {env_name(key)}"
    else:
        path = config_path(environ, cwd)
        table = {}
        if path is not None:
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8-sig"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"cannot read config file {str(path)!r}: {exc}") from None
        if key not in table:
            return Settings.model_fields[key].default
        raw, source = table[key], f"file {path}"
    try:
        return getattr(Settings.model_validate({key: raw}), key)
    except ValidationError as exc:
        problem = _explain(exc, {key: raw}, {key: source})
    raise problem  # (outside `except`: see load_settings)


def _explain(exc: ValidationError, raw: dict[str, Any], sources: dict[str, str]) -> SettingsError:
    """The first validation error as one line: key, value, where it came from, the fix."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if key in raw:
        info = keys()[key]
        return SettingsError(f"bad setting {key}={raw[key]!r} (from {sources[key]}): {message} "
                             f"({key}: {info.description})")
    if not key:  # a rule across sections: the settings it names, as given
        given = ", ".join(f"{k}={v!r} (from {sources[k]})" for k, v in raw.items()
                          if f"{k}=" in message) or "defaults"
        return SettingsError(f"bad settings [{given}]: {message}")
    given = ", ".join(f"{k}={v!r} (from {sources[k]})" for k, v in raw.items()
                      if k.startswith(key + ".")) or "defaults"
    return SettingsError(f"bad {key} settings [{given}]: {message}")


def lake_location(environ: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> str:
    """The lake when none is given (the CLI without --lake, the notebooks).

    $VOICE_MONITOR_LAKE, else `lake` in the config file, else ./data. A relative path is
    relative to `cwd`, the current directory of whoever set it (default: this process's, as
    the CLI); a URL (s3://...) and an absolute path are kept as they are, and a leading `~` is
    the home folder, as a shell would have made it (no shell reads an env or config file).
    """
    environ = os.environ if environ is None else environ
    # alone: a bad value of another key is for the commands that use it (an `ingest` lands)
    value = environ.get(LAKE_ENV) or one_setting("lake", environ, cwd)
    value = value or DEFAULT_LAKE
    if "://" in value:
        return value
    value = os.path.expanduser(value)
    return value if cwd is None else str(Path(cwd) / value)
