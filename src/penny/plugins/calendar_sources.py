"""Calendar sources: local .ics files or folders, ICS URLs, CalDAV servers. Blocking; call in a thread.

Source strings in `plugins.calendar.sources`:
  ~/cal/home.ics, ~/cal/              a local file (readable and writable) or a folder of .ics files
  https://host/x.ics, webcal://...    an ICS subscription (read-only); prefix "ics+" to force it
  https://host/dav/user/calendar/     a CalDAV calendar or account (prefix "caldav+" to force it)
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from penny.errors import PluginError
from penny.plugins.store import atomic_write

if TYPE_CHECKING:
    import icalendar

log = logging.getLogger("penny.plugins.calendar")


class CalendarError(PluginError):
    code = "calendar-failed"


@dataclass(frozen=True)
class Event:
    summary: str
    start: datetime  # aware, in the user's zone; all-day events start at local midnight
    end: datetime
    all_day: bool = False
    location: str = ""
    uid: str = ""
    source: str = ""


def _as_local(value, tz: tzinfo) -> tuple[datetime, bool]:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)), False
    return datetime.combine(value, time(0, 0), tzinfo=tz), True  # a date: all day


def events_from_ical(cal, start: datetime, end: datetime, tz: tzinfo, source: str) -> list[Event]:
    """Expand recurrences of one parsed VCALENDAR and return the events overlapping [start, end)."""
    import recurring_ical_events

    out = []
    for comp in recurring_ical_events.of(cal).between(start, end):
        if comp.name != "VEVENT" or "DTSTART" not in comp:
            continue
        s, all_day = _as_local(comp.decoded("DTSTART"), tz)
        if "DTEND" in comp:
            e, _ = _as_local(comp.decoded("DTEND"), tz)
        elif "DURATION" in comp:
            e = s + comp.decoded("DURATION")
        else:
            e = s + (timedelta(days=1) if all_day else timedelta(0))
        out.append(Event(str(comp.get("SUMMARY", "an event")).strip() or "an event", s, e, all_day,
                         str(comp.get("LOCATION", "")), str(comp.get("UID", "")), source))
    return out


def new_vevent(summary: str, start: datetime, end: datetime | None, all_day: bool):
    import icalendar

    ev = icalendar.Event()
    ev.add("uid", f"{uuid.uuid4()}@penny")
    ev.add("dtstamp", datetime.now(timezone.utc))
    ev.add("summary", summary)
    if all_day:
        ev.add("dtstart", start.date())
        ev.add("dtend", (end.date() if end and end.date() > start.date() else start.date() + timedelta(days=1)))
    else:
        ev.add("dtstart", start)
        ev.add("dtend", end or start + timedelta(hours=1))
    return ev


def _wrap(vevent):
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", "-//Penny//penny voice assistant//EN")
    cal.add("version", "2.0")
    cal.add_component(vevent)
    _add_timezones(cal)
    return cal


def _add_timezones(cal: icalendar.Calendar) -> None:
    """VTIMEZONEs for the TZIDs used; without them (an unknown zone) most clients still read the TZID."""
    try:
        cal.add_missing_timezones()
    except (ValueError, KeyError) as exc:
        log.warning("calendar: no VTIMEZONE added (%s); events keep their TZID", exc)


class Source:
    name = "calendar"
    writable = False

    def events(self, start: datetime, end: datetime, tz: tzinfo) -> list[Event]:
        raise NotImplementedError

    def add(self, vevent) -> None:
        raise CalendarError(f"{self.name} is read-only", spoken=f"I can't write to {self.name}.")


class IcsFileSource(Source):
    def __init__(self, path: str):
        self.path = Path(path).expanduser()
        self.name = self.path.name or str(self.path)
        self.writable = not self.path.is_dir()

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(self.path.glob("*.ics"))
        if not self.path.exists():  # an empty answer here would state "nothing on" as a fact
            raise CalendarError(f"{self.path} does not exist", spoken=f"I can't find the calendar file {self.name}.")
        return [self.path]

    def _read(self, file: Path):
        import icalendar

        try:
            return icalendar.Calendar.from_ical(file.read_bytes())
        except OSError as exc:
            raise CalendarError(f"{file}: {exc}", spoken=f"I couldn't open the calendar file {file.name}.") from exc
        except Exception as exc:  # icalendar raises ValueError and friends on bad content
            raise CalendarError(f"{file}: not a valid ICS file ({exc})",
                                spoken=f"The calendar file {file.name} looks damaged, so I couldn't read it.") from exc

    def events(self, start, end, tz):
        out = []
        for f in self._files():
            out += events_from_ical(self._read(f), start, end, tz, f.name)
        return out

    def add(self, vevent) -> None:
        if not self.writable:
            return super().add(vevent)
        if self.path.exists():
            cal = self._read(self.path)
            cal.add_component(vevent)
            _add_timezones(cal)
        else:
            cal = _wrap(vevent)
        atomic_write(self.path, cal.to_ical())


class IcsUrlSource(Source):
    def __init__(self, url: str, username: str | None = None, password: str | None = None):
        self.url = "https://" + url[len("webcal://"):] if url.startswith("webcal://") else url
        self.name = urlsplit(self.url).hostname or "your calendar feed"
        self.auth = (username, password) if username else None

    def events(self, start, end, tz):
        import httpx
        import icalendar

        try:
            resp = httpx.get(self.url, auth=self.auth, timeout=10.0, follow_redirects=True)
            resp.raise_for_status()
            cal = icalendar.Calendar.from_ical(resp.content)
        except httpx.HTTPStatusError as exc:
            code = exc.response.status_code
            spoken = (f"The calendar feed at {self.name} refused my sign-in." if code in (401, 403)
                      else f"The calendar feed at {self.name} answered with an error, so I couldn't read it.")
            raise CalendarError(f"{self.url}: HTTP {code}", spoken=spoken) from exc
        except httpx.HTTPError as exc:
            raise CalendarError(f"{self.url}: {exc}", spoken=f"I can't reach the calendar at {self.name}.") from exc
        except Exception as exc:
            raise CalendarError(f"{self.url}: not a valid ICS feed ({exc})",
                                spoken=f"The calendar feed from {self.name} didn't make sense to me.") from exc
        return events_from_ical(cal, start, end, tz, self.name)


class CalDAVSource(Source):
    writable = True

    def __init__(self, url: str, username: str | None = None, password: str | None = None):
        parts = urlsplit(url)
        if parts.username:  # credentials inside the URL win, and are kept out of names and logs
            username, password = parts.username, parts.password
            parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
        self.url = urlunsplit(parts)
        self.username, self.password = username, password
        self.name = parts.hostname or "your CalDAV server"
        self._cached: list | None = None

    def _calendars(self):
        if self._cached is None:
            self._cached = self._discover()
        return self._cached

    def _discover(self):
        import caldav
        from caldav.lib import error as caldav_error

        try:
            client = caldav.DAVClient(url=self.url, username=self.username, password=self.password,
                                      timeout=10, enable_rfc6764=False)
            calendars = client.principal().calendars()
        except caldav_error.AuthorizationError as exc:
            raise CalendarError(f"{self.url}: sign-in refused ({exc})",
                                spoken=f"The calendar server at {self.name} didn't accept my username and "
                                       f"password. Please check them in the calendar settings.") from exc
        except Exception as exc:
            raise CalendarError(f"{self.url}: {type(exc).__name__}: {exc}",
                                spoken=f"I can't reach the calendar server at {self.name}.") from exc
        want = self.url.rstrip("/") + "/"
        picked = [c for c in calendars if str(c.url).rstrip("/") + "/" == want]
        picked = picked or [c for c in calendars if (str(c.url).rstrip("/") + "/").startswith(want)]
        if not picked:
            picked = [client.calendar(url=self.url)]
        return picked

    def events(self, start, end, tz):
        out = []
        for cal in self._calendars():
            try:
                found = cal.search(start=start, end=end, event=True)
            except Exception as exc:
                self._cached = None  # discover again next time (password changed, calendar moved, ...)
                raise CalendarError(f"{cal.url}: search failed: {exc}",
                                    spoken=f"The calendar server at {self.name} couldn't answer my question.") from exc
            for obj in found:
                out += events_from_ical(obj.icalendar_instance, start, end, tz, self.name)
        return out

    def add(self, vevent) -> None:
        cal = self._calendars()[0]
        try:
            cal.add_event(_wrap(vevent).to_ical().decode("utf-8"))
        except Exception as exc:
            self._cached = None
            raise CalendarError(f"{cal.url}: saving failed: {exc}",
                                spoken=f"The calendar server at {self.name} wouldn't save the event.") from exc


def make_source(spec: str, username: str | None = None, password: str | None = None) -> Source:
    s = spec.strip()
    low = s.lower()
    if low.startswith("caldav+"):
        return CalDAVSource(s[len("caldav+"):], username, password)
    if low.startswith("ics+"):
        return IcsUrlSource(s[len("ics+"):], username, password)
    if low.startswith("webcal://"):
        return IcsUrlSource(s, username, password)
    if low.startswith(("http://", "https://")):
        if urlsplit(low).path.endswith(".ics") or "format=ics" in low:
            return IcsUrlSource(s, username, password)
        return CalDAVSource(s, username, password)
    return IcsFileSource(s)

