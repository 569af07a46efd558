"""Vietnamese working days: legal processing times are counted in them."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta

import holidays


class WorkingCalendar:
    """Working days (Monday to Friday, less Vietnamese public holidays) over a range of years."""

    def __init__(self, first_year: int, last_year: int) -> None:
        public_holidays = holidays.country_holidays("VN", years=range(first_year, last_year + 1))
        day = date(first_year, 1, 1)
        self._days: list[date] = []
        while day.year <= last_year:
            if day.weekday() < 5 and day not in public_holidays:
                self._days.append(day)
            day += timedelta(days=1)

    def is_working_day(self, day: date) -> bool:
        index = bisect_right(self._days, day) - 1
        return index >= 0 and self._days[index] == day

    def add_working_days(self, start: date, count: int) -> date:
        """The working day ``count`` working days after ``start`` (start itself not counted)."""
        index = bisect_right(self._days, start) - 1 + count
        if index >= len(self._days):
            raise ValueError(f"{start} + {count} working days is beyond the calendar")
        return self._days[index]

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the next one."""
        index = bisect_right(self._days, day - timedelta(days=1))
        return self._days[index]


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second))
