"""One time format on every screen: `2026-12-04 19:55:26 UTC`, or the operator's zone (D76_TZ, --tz)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook_receiver.settings import SettingsError, load_settings
from webhook_receiver.timefmt import age_seconds, fmt_age, fmt_time, zone

T = datetime(2026, 12, 4, 19, 55, 26, 796_000, tzinfo=UTC)


def test_utc_by_default_to_the_second_and_to_the_millisecond() -> None:
    assert fmt_time(T) == "2026-12-04 19:55:26 UTC"
    assert fmt_time(T, ms=True) == "2026-12-04 19:55:26.796 UTC"
    assert fmt_time(T.astimezone(timezone(timedelta(hours=9)))) == "2026-12-04 19:55:26 UTC"  # any zone in
    assert fmt_time(T.replace(tzinfo=None)) == "2026-12-04 19:55:26 UTC"  # naive: the stores keep UTC
    assert fmt_time(None) == ""


def test_the_operators_zone_is_named_by_its_abbreviation() -> None:
    assert fmt_time(T, zone("Asia/Seoul")) == "2026-12-05 04:55:26 KST"
    assert fmt_time(T, zone("Europe/Berlin")) == "2026-12-04 20:55:26 CET"
    assert fmt_time(T.replace(month=7), zone("Europe/Berlin")) == "2026-07-04 21:55:26 CEST"
    for utc in ("", None, "UTC", "utc", "Etc/UTC"):
        assert zone(utc) is UTC


def test_an_unknown_zone_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'Mars/Base' is not a time zone"):
        zone("Mars/Base")
    with pytest.raises(SettingsError, match="^D76_TZ: "):
        load_settings(env={"D76_TZ": "Mars/Base"})
    assert load_settings(env={"D76_TZ": "Asia/Seoul"}).timezone == "Asia/Seoul"
    assert load_settings(env={}).timezone == "UTC"


def test_ages_in_two_units_at_most() -> None:
    assert [fmt_age(s) for s in (0, 45, 60, 3 * 60 + 59, 3600, 2 * 3600 + 5 * 60, 86400, 4 * 86400 + 3 * 3600 + 59)] \
        == ["0s", "45s", "1m", "3m", "1h", "2h 5m", "1d", "4d 3h"]
    assert fmt_age(None) == ""
    assert age_seconds(T, T + timedelta(seconds=90)) == 90
    assert age_seconds(T + timedelta(seconds=1), T) is None  # a start in the future has no age
    assert age_seconds(None) is None


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)))
def test_every_time_has_the_same_shape_and_reads_back(dt: datetime) -> None:
    text = fmt_time(dt)
    assert len(text) == 23 and text.endswith(" UTC")
    assert datetime.strptime(text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC) == dt.replace(microsecond=0)
