"""The province's reporting system: periodic indicator reports, with deadlines.

Units report under *reporting regimes* (chế độ báo cáo): each regime has a frequency, the kinds
of agency that must report, a deadline rule and a list of indicators from the province's
indicator bank. The catalogue is written to ``reports/regimes.json``.

Periods follow Decree 09/2019/NĐ-CP (Art. 12, thời gian chốt số liệu): a monthly report covers
the 15th of the previous month to the 14th of the month (the July report: 15 June-14 July); a
quarterly one the 15th of the month before the quarter to the 14th of its last month (Q3:
15 June-14 September); the 6-month report 15 December of the previous year to 14 June; the
annual report 15 December of the previous year to 14 December. Semi-annual regimes file the
6-month report and the annual report. Deadlines fall a few days after the cut-off: a fixed day of
the cut-off month (16th for communes, 18th for departments, 20th for reports to the centre),
moved to the next working day, or a number of working days after the cut-off.

A period is reported by the agencies in force on its cut-off day (a period straddling the
1 July 2025 merger is reported by the new units); an old unit's late report that would arrive
after 30 June 2025 never arrives. Reports are late (more at communes, improving over time,
with a dip after the merger), missing, or resubmitted (a later version replaces an earlier
one); reports not received by the export time (``end`` 23:59:59) show as not submitted.

Scale 1 is the whole catalogue (about 50 regimes) for every unit: some 40,000 reports a year
after the merger (about 200,000 rows), three times as many before it, when the old provinces
had some 420 commune and district committees. Below 1 each regime is required of a sample of
the units (at least one of each kind, the same ones every period); above 1, thematic regimes
cloned from the catalogue are added. Output is streamed one cut-off month at a time.

Layout, one folder per cut-off month (the month of the 14th that closes the period; June and
December also hold the quarterly, 6-month and annual periods)::

    reports/regimes.json                           regimes, indicators, columns, conventions
    reports/period=YYYY-MM/bao_cao_YYYY-MM.csv     UTF-8 with BOM, comma-separated, CRLF
    reports/period=YYYY-MM/bao_cao_YYYY-MM.xlsx    the same rows, as an Excel workbook

Both files hold one row per (regime, period, unit, version, indicator), in the same order,
with the columns of ``COLUMNS``. Dates are ``dd/mm/yyyy`` and times ``dd/mm/yyyy HH:MM:SS``
(local time) in the CSV, Excel dates in the workbook; values are plain numbers (``.`` as the
decimal point). ``Trạng thái`` is ``Đã nộp`` (the current version), ``Đã thay thế`` (an
earlier version, replaced) or ``Chưa nộp`` (not submitted: ``Giá trị``, ``Thời điểm nộp`` and
``Lần nộp`` are empty). On time or late is computed, not a status: a report is on time when
``Thời điểm nộp`` falls on or before the ``Thời hạn nộp`` day. The workbook's sheet ``Dữ liệu``
starts with a title block (rows 1-5, merged cells), its header is row 7 and row ``r`` holds the
CSV's line ``r - 6``; past Excel's row limit the rows go on in ``Dữ liệu (2)`` and so on.

Faults (source ``reports.submissions``, one record per CSV row, at most one fault each) are
drawn once per row and carried by both files: the manifest names the CSV and gives the record
key ``regime|period label|unit|indicator|version`` (version 0 when not submitted) and, in its
detail, the CSV line and the workbook row. A row is valid when it decodes as UTF-8, has every
required field, dates in the formats above, ``Thời điểm nộp`` between ``Từ ngày`` and the export
time, ``Thời hạn nộp`` within 62 days after ``Đến ngày``, a known regime, a period label that
matches its dates and the regime's frequency, a unit in force at the cut-off (of a kind the
regime requires, under its own name), an indicator of the regime (with its name and unit), a
value within the indicator's ``min``..``max`` (whole for counts and money), and does not
repeat the row before it. In the workbook a wrongly encoded row's text is UTF-8 read as
Latin-1 (``BÃ¡o cÃ¡o``), and a bad date is a text cell (or a date far out of range).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from simulator import faults as fault_kinds
from simulator.agencies import Agency
from simulator.calendar import WorkingCalendar, at
from simulator.counts import MonthlyCounts
from simulator.faults import FaultInjector
from simulator.units import MERGER_DATE, Region

SOURCE = "reports.submissions"
FAULT_KINDS = (
    fault_kinds.MALFORMED_DATE,
    fault_kinds.IMPOSSIBLE_DATE,
    fault_kinds.UNKNOWN_UNIT,
    fault_kinds.UNKNOWN_INDICATOR,
    fault_kinds.DUPLICATE,
    fault_kinds.MISSING_FIELD,
    fault_kinds.ABSURD_VALUE,
    fault_kinds.WRONG_ENCODING,
)
NOT_SUBMITTED_FAULT_KINDS = tuple(k for k in FAULT_KINDS if k != fault_kinds.ABSURD_VALUE)

COLUMNS = (
    "Mã báo cáo",  # regime code
    "Tên báo cáo",  # regime name
    "Kỳ báo cáo",  # period label: Tháng 07/2025, Quý III/2025, 6 tháng/2025, Năm 2025
    "Từ ngày",  # first day of the period (dd/mm/yyyy)
    "Đến ngày",  # cut-off: last day of the period (dd/mm/yyyy)
    "Mã đơn vị",  # agency's electronic identifier code
    "Tên đơn vị",
    "Mã chỉ tiêu",  # indicator code
    "Tên chỉ tiêu",
    "Đơn vị tính",  # unit of measure
    "Giá trị",  # value; empty when not submitted
    "Thời hạn nộp",  # deadline day (dd/mm/yyyy), inclusive
    "Thời điểm nộp",  # submission time (dd/mm/yyyy HH:MM:SS); empty when not submitted
    "Lần nộp",  # version: 1, 2, ...; empty when not submitted
    "Trạng thái",  # Đã nộp, Đã thay thế, Chưa nộp
)
(
    C_REGIME,
    C_REGIME_NAME,
    C_PERIOD,
    C_FROM,
    C_TO,
    C_UNIT,
    C_UNIT_NAME,
    C_INDICATOR,
    C_INDICATOR_NAME,
    C_MEASURE,
    C_VALUE,
    C_DEADLINE,
    C_SUBMITTED,
    C_VERSION,
    C_STATUS,
) = range(len(COLUMNS))
REQUIRED = (
    C_REGIME,
    C_REGIME_NAME,
    C_PERIOD,
    C_FROM,
    C_TO,
    C_UNIT,
    C_UNIT_NAME,
    C_INDICATOR,
    C_INDICATOR_NAME,
    C_MEASURE,
    C_DEADLINE,
    C_STATUS,
)
REQUIRED_WHEN_SUBMITTED = (C_VALUE, C_SUBMITTED, C_VERSION)

SUBMITTED, REPLACED, NOT_SUBMITTED = "Đã nộp", "Đã thay thế", "Chưa nộp"
DATE_FORMAT, DATETIME_FORMAT = "%d/%m/%Y", "%d/%m/%Y %H:%M:%S"
DEADLINE_WINDOW_DAYS = 62  # a valid deadline falls within this many days after the cut-off

MONTHLY, QUARTERLY, SEMI_ANNUAL, ANNUAL = "monthly", "quarterly", "semi_annual", "annual"
INTEGER, MONEY, PERCENTAGE = "integer", "money_vnd", "percentage"
RANGES = {INTEGER: (0, 10**9), MONEY: (0, 10**15), PERCENTAGE: (0, 100)}  # inclusive bounds

COMMUNE, DISTRICT = "commune_committee", "district_committee"
DEPARTMENT, SERVICE_CENTRE, PROVINCE = "department", "service_centre", "province_committee"

# -- the indicator bank ----------------------------------------------------------------------
# name, unit of measure, type, typical value, behaviour. For counts and money the typical value
# is per month for a pre-merger commune; "flow" values grow with the period's length and the
# unit's size, "stock" values with its size only, "ratio" values with neither. Percentages give
# their mean (and a spread).

F, S, R = "flow", "stock", "ratio"
# fmt: off
_BANK: tuple[tuple, ...] = (
    # budget, investment, economy
    ("Tổng thu ngân sách nhà nước trên địa bàn", "đồng", MONEY, 2.0e9, F),
    ("Thu nội địa", "đồng", MONEY, 1.6e9, F),
    ("Thu tiền sử dụng đất", "đồng", MONEY, 5.0e8, F),
    ("Tổng chi ngân sách địa phương", "đồng", MONEY, 1.8e9, F),
    ("Chi đầu tư phát triển", "đồng", MONEY, 6.0e8, F),
    ("Chi thường xuyên", "đồng", MONEY, 1.1e9, F),
    ("Tỷ lệ thực hiện dự toán thu", "%", PERCENTAGE, 62, 15),
    ("Tổng thu ngân sách xã", "đồng", MONEY, 1.2e9, F),
    ("Thu thuế, phí, lệ phí", "đồng", MONEY, 3.0e8, F),
    ("Thu bổ sung từ ngân sách cấp trên", "đồng", MONEY, 8.0e8, F),
    ("Tổng chi ngân sách xã", "đồng", MONEY, 1.1e9, F),
    ("Tổng thu quyết toán", "đồng", MONEY, 1.2e9, F),
    ("Tổng chi quyết toán", "đồng", MONEY, 1.1e9, F),
    ("Kết dư ngân sách", "đồng", MONEY, 8.0e7, F),
    ("Kế hoạch vốn đầu tư công được giao", "đồng", MONEY, 9.0e9, S),
    ("Giá trị giải ngân vốn đầu tư công", "đồng", MONEY, 4.5e8, F),
    ("Tỷ lệ giải ngân vốn đầu tư công", "%", PERCENTAGE, 55, 15),
    ("Số dự án đầu tư công đang triển khai", "dự án", INTEGER, 3, S),
    ("Tổng sản phẩm trên địa bàn (GRDP) ước tính", "đồng", MONEY, 3.0e10, F),
    ("Vốn đầu tư thực hiện trên địa bàn", "đồng", MONEY, 8.0e9, F),
    ("Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ", "đồng", MONEY, 1.2e10, F),
    ("Kim ngạch xuất khẩu", "đồng", MONEY, 6.0e9, F),
    ("Số vụ buôn lậu, gian lận thương mại bị xử lý", "vụ", INTEGER, 0.3, F),
    ("Số doanh nghiệp đăng ký thành lập mới", "doanh nghiệp", INTEGER, 0.6, F),
    ("Vốn đăng ký của doanh nghiệp thành lập mới", "đồng", MONEY, 6.0e9, F),
    ("Số doanh nghiệp quay trở lại hoạt động", "doanh nghiệp", INTEGER, 0.3, F),
    ("Số doanh nghiệp tạm ngừng kinh doanh", "doanh nghiệp", INTEGER, 0.4, F),
    ("Số doanh nghiệp giải thể", "doanh nghiệp", INTEGER, 0.1, F),
    ("Số hộ kinh doanh đăng ký mới", "hộ", INTEGER, 4, F),
    ("Số doanh nghiệp đang hoạt động", "doanh nghiệp", INTEGER, 25, S),
    ("Thu nhập bình quân đầu người", "đồng/người", MONEY, 7.0e7, R),
    # labour
    ("Số lao động được tạo việc làm mới", "người", INTEGER, 12, F),
    ("Số người đi làm việc ở nước ngoài theo hợp đồng", "người", INTEGER, 1.5, F),
    ("Số người đăng ký hưởng trợ cấp thất nghiệp", "người", INTEGER, 3, F),
    ("Số lao động được đào tạo nghề", "người", INTEGER, 6, F),
    ("Tỷ lệ lao động qua đào tạo", "%", PERCENTAGE, 70, 6),
    # administrative procedures and digital government
    ("Số hồ sơ thủ tục hành chính tiếp nhận", "hồ sơ", INTEGER, 120, F),
    ("Số hồ sơ tiếp nhận trực tuyến", "hồ sơ", INTEGER, 55, F),
    ("Số hồ sơ đã giải quyết", "hồ sơ", INTEGER, 112, F),
    ("Số hồ sơ giải quyết đúng hạn", "hồ sơ", INTEGER, 105, F),
    ("Số hồ sơ giải quyết quá hạn", "hồ sơ", INTEGER, 4, F),
    ("Tỷ lệ hồ sơ giải quyết đúng hạn", "%", PERCENTAGE, 95, 3),
    ("Tỷ lệ hồ sơ tiếp nhận trực tuyến", "%", PERCENTAGE, 45, 12),
    ("Số hồ sơ được số hóa", "hồ sơ", INTEGER, 80, F),
    ("Tỷ lệ hồ sơ được số hóa kết quả", "%", PERCENTAGE, 75, 10),
    ("Số giao dịch thanh toán trực tuyến", "giao dịch", INTEGER, 25, F),
    ("Tỷ lệ dịch vụ công trực tuyến toàn trình", "%", PERCENTAGE, 55, 10),
    ("Tỷ lệ thanh toán trực tuyến", "%", PERCENTAGE, 40, 12),
    ("Tỷ lệ người dân, doanh nghiệp hài lòng", "%", PERCENTAGE, 92, 4),
    ("Số tài khoản định danh điện tử được kích hoạt", "tài khoản", INTEGER, 90, F),
    ("Số thủ tục hành chính được rà soát", "thủ tục", INTEGER, 2, F),
    ("Số hệ thống thông tin được kết nối, chia sẻ dữ liệu", "hệ thống", INTEGER, 0.05, S),
    ("Tỷ lệ văn bản điện tử được ký số", "%", PERCENTAGE, 90, 5),
    ("Số sự cố an toàn thông tin mạng", "sự cố", INTEGER, 0.02, F),
    # civil status and certification
    ("Số trường hợp đăng ký khai sinh", "trường hợp", INTEGER, 13, F),
    ("Số trường hợp đăng ký khai sinh đúng hạn", "trường hợp", INTEGER, 12, F),
    ("Số trường hợp đăng ký khai tử", "trường hợp", INTEGER, 6, F),
    ("Số cặp đăng ký kết hôn", "cặp", INTEGER, 7, F),
    ("Số bản sao trích lục hộ tịch được cấp", "bản", INTEGER, 20, F),
    ("Tỷ lệ trẻ em dưới 1 tuổi được đăng ký khai sinh", "%", PERCENTAGE, 97, 2),
    ("Số việc chứng thực bản sao từ bản chính", "việc", INTEGER, 150, F),
    ("Số việc chứng thực chữ ký", "việc", INTEGER, 25, F),
    ("Số hợp đồng, giao dịch được chứng thực", "việc", INTEGER, 8, F),
    ("Lệ phí chứng thực thu được", "đồng", MONEY, 1.2e6, F),
    # records management
    ("Số văn bản đến", "văn bản", INTEGER, 180, F),
    ("Số văn bản đi", "văn bản", INTEGER, 70, F),
    ("Số văn bản đi được ký số", "văn bản", INTEGER, 62, F),
    ("Tỷ lệ văn bản điện tử", "%", PERCENTAGE, 88, 6),
    ("Số hồ sơ lưu trữ được chỉnh lý", "hồ sơ", INTEGER, 40, F),
    ("Số trang tài liệu được số hóa", "trang", INTEGER, 1500, F),
    ("Tỷ lệ hồ sơ lưu trữ được số hóa", "%", PERCENTAGE, 45, 15),
    ("Số lượt khai thác tài liệu lưu trữ", "lượt", INTEGER, 8, F),
    # citizens' reception, complaints, inspection
    ("Số lượt tiếp công dân", "lượt", INTEGER, 6, F),
    ("Số đơn khiếu nại tiếp nhận", "đơn", INTEGER, 1.2, F),
    ("Số đơn tố cáo tiếp nhận", "đơn", INTEGER, 0.4, F),
    ("Số đơn kiến nghị, phản ánh tiếp nhận", "đơn", INTEGER, 3, F),
    ("Số vụ việc khiếu nại, tố cáo đã giải quyết", "vụ việc", INTEGER, 1.2, F),
    ("Tỷ lệ giải quyết khiếu nại, tố cáo", "%", PERCENTAGE, 85, 8),
    ("Số cuộc thanh tra, kiểm tra", "cuộc", INTEGER, 0.4, F),
    ("Số vụ việc tham nhũng được phát hiện", "vụ việc", INTEGER, 0.01, F),
    ("Số tiền sai phạm phát hiện", "đồng", MONEY, 3.0e7, F),
    ("Số tiền kiến nghị thu hồi", "đồng", MONEY, 2.0e7, F),
    ("Số người kê khai tài sản, thu nhập", "người", INTEGER, 15, S),
    ("Số tổ chức, cá nhân bị xử phạt", "tổ chức, cá nhân", INTEGER, 1, F),
    # population and health
    ("Số trẻ sinh ra", "trẻ", INTEGER, 13, F),
    ("Số trẻ sinh ra là con thứ ba trở lên", "trẻ", INTEGER, 2, F),
    ("Số người chết", "người", INTEGER, 6, F),
    ("Số phụ nữ mang thai được quản lý", "người", INTEGER, 18, S),
    ("Số lượt khám, chữa bệnh", "lượt", INTEGER, 450, F),
    ("Số lượt khám, chữa bệnh bảo hiểm y tế", "lượt", INTEGER, 360, F),
    ("Số trẻ em dưới 1 tuổi được tiêm chủng đầy đủ", "trẻ", INTEGER, 12, F),
    ("Tỷ lệ trẻ em được tiêm chủng đầy đủ", "%", PERCENTAGE, 96, 3),
    ("Số ca mắc sốt xuất huyết", "ca", INTEGER, 0.8, F),
    ("Số ca mắc bệnh truyền nhiễm", "ca", INTEGER, 4, F),
    ("Số giường bệnh", "giường", INTEGER, 8, S),
    ("Công suất sử dụng giường bệnh", "%", PERCENTAGE, 85, 8),
    ("Dân số trung bình", "người", INTEGER, 11000, S),
    ("Số hộ gia đình", "hộ", INTEGER, 3000, S),
    ("Tỷ lệ tăng dân số tự nhiên", "%", PERCENTAGE, 0.7, 0.2),
    # social protection
    ("Số đối tượng bảo trợ xã hội hưởng trợ cấp hằng tháng", "người", INTEGER, 180, S),
    ("Kinh phí chi trả trợ cấp xã hội", "đồng", MONEY, 1.1e8, F),
    ("Số người cao tuổi hưởng trợ cấp", "người", INTEGER, 110, S),
    ("Số người khuyết tật hưởng trợ cấp", "người", INTEGER, 55, S),
    ("Số trẻ em có hoàn cảnh đặc biệt được hỗ trợ", "trẻ", INTEGER, 4, F),
    ("Số vụ xâm hại trẻ em", "vụ", INTEGER, 0.05, F),
    ("Số hộ thoát nghèo", "hộ", INTEGER, 2, F),
    ("Số hộ nghèo phát sinh", "hộ", INTEGER, 0.5, F),
    ("Kinh phí hỗ trợ giảm nghèo", "đồng", MONEY, 1.5e8, F),
    ("Số hộ nghèo", "hộ", INTEGER, 60, S),
    ("Tỷ lệ hộ nghèo", "%", PERCENTAGE, 2.5, 1),
    ("Số người tham gia bảo hiểm xã hội tự nguyện", "người", INTEGER, 220, S),
    ("Số người có thẻ bảo hiểm y tế", "người", INTEGER, 10000, S),
    ("Tỷ lệ bao phủ bảo hiểm y tế", "%", PERCENTAGE, 93, 3),
    # agriculture, land, environment, disasters
    ("Diện tích gieo trồng", "ha", INTEGER, 120, F),
    ("Diện tích lúa thu hoạch", "ha", INTEGER, 90, F),
    ("Sản lượng thủy sản", "tấn", INTEGER, 35, F),
    ("Số gia súc, gia cầm được tiêm phòng", "con", INTEGER, 2500, F),
    ("Số ổ dịch bệnh động vật", "ổ dịch", INTEGER, 0.1, F),
    ("Số vụ vi phạm pháp luật đất đai được phát hiện", "vụ", INTEGER, 0.6, F),
    ("Số vụ vi phạm đất đai đã xử lý", "vụ", INTEGER, 0.5, F),
    ("Số giấy chứng nhận quyền sử dụng đất được cấp", "giấy", INTEGER, 15, F),
    ("Tỷ lệ chất thải rắn sinh hoạt được thu gom", "%", PERCENTAGE, 90, 6),
    ("Số vụ vi phạm môi trường bị xử lý", "vụ", INTEGER, 0.2, F),
    ("Tiền phạt vi phạm hành chính về môi trường", "đồng", MONEY, 1.5e7, F),
    ("Số đợt thiên tai", "đợt", INTEGER, 0.15, F),
    ("Thiệt hại do thiên tai", "đồng", MONEY, 5.0e7, F),
    ("Số người chết, mất tích do thiên tai", "người", INTEGER, 0.01, F),
    ("Số hộ phải di dời khẩn cấp", "hộ", INTEGER, 0.3, F),
    ("Số tiêu chí nông thôn mới đạt", "tiêu chí", INTEGER, 17, R),
    ("Kinh phí huy động xây dựng nông thôn mới", "đồng", MONEY, 4.0e8, F),
    ("Tỷ lệ hộ dân sử dụng nước sạch", "%", PERCENTAGE, 88, 7),
    ("Chiều dài đường giao thông nông thôn được cứng hóa", "km", INTEGER, 0.8, F),
    # construction and housing
    ("Số giấy phép xây dựng được cấp", "giấy phép", INTEGER, 6, F),
    ("Số công trình vi phạm trật tự xây dựng", "công trình", INTEGER, 0.8, F),
    ("Số công trình vi phạm đã xử lý", "công trình", INTEGER, 0.6, F),
    ("Tiền phạt vi phạm hành chính", "đồng", MONEY, 2.5e7, F),
    ("Số nhà ở xây dựng mới", "căn", INTEGER, 10, F),
    ("Diện tích sàn nhà ở xây dựng mới", "m²", INTEGER, 1300, F),
    ("Số hộ được hỗ trợ xóa nhà tạm, nhà dột nát", "hộ", INTEGER, 0.4, F),
    # public order
    ("Số vụ phạm pháp hình sự", "vụ", INTEGER, 0.6, F),
    ("Số vụ tai nạn giao thông", "vụ", INTEGER, 0.3, F),
    ("Số người chết do tai nạn giao thông", "người", INTEGER, 0.2, F),
    ("Số vụ cháy, nổ", "vụ", INTEGER, 0.1, F),
    ("Thiệt hại do cháy, nổ", "đồng", MONEY, 2.0e7, F),
    ("Số thanh niên đăng ký nghĩa vụ quân sự", "người", INTEGER, 8, F),
    ("Số dân quân tự vệ", "người", INTEGER, 60, S),
    ("Kinh phí quốc phòng địa phương", "đồng", MONEY, 4.0e7, F),
    # culture, tourism, religion
    ("Số lượt khách du lịch", "lượt", INTEGER, 2500, F),
    ("Số lượt khách du lịch quốc tế", "lượt", INTEGER, 250, F),
    ("Doanh thu du lịch", "đồng", MONEY, 1.5e9, F),
    ("Công suất sử dụng phòng lưu trú", "%", PERCENTAGE, 55, 12),
    ("Số lễ hội được tổ chức", "lễ hội", INTEGER, 0.4, F),
    ("Số cơ sở kinh doanh dịch vụ văn hóa được kiểm tra", "cơ sở", INTEGER, 1, F),
    ("Số cơ sở tôn giáo", "cơ sở", INTEGER, 6, S),
    ("Số hoạt động tôn giáo được đăng ký", "hoạt động", INTEGER, 1, F),
    ("Số hộ đồng bào dân tộc thiểu số được hỗ trợ", "hộ", INTEGER, 2, F),
    ("Kinh phí hỗ trợ đồng bào dân tộc thiểu số", "đồng", MONEY, 3.0e7, F),
    # justice
    ("Số cuộc tuyên truyền, phổ biến pháp luật", "cuộc", INTEGER, 3, F),
    ("Số lượt người tham dự tuyên truyền pháp luật", "lượt", INTEGER, 250, F),
    ("Số vụ việc hòa giải ở cơ sở", "vụ việc", INTEGER, 1.5, F),
    ("Số vụ việc hòa giải thành", "vụ việc", INTEGER, 1.2, F),
    ("Tỷ lệ hòa giải thành", "%", PERCENTAGE, 82, 10),
    ("Số văn bản quy phạm pháp luật được tự kiểm tra", "văn bản", INTEGER, 1.5, F),
    ("Số văn bản phát hiện trái pháp luật", "văn bản", INTEGER, 0.05, F),
    ("Số văn bản trái pháp luật đã xử lý", "văn bản", INTEGER, 0.04, F),
    ("Số văn bản quy phạm pháp luật được thẩm định", "văn bản", INTEGER, 0.3, F),
    ("Số vụ việc trợ giúp pháp lý", "vụ việc", INTEGER, 1, F),
    ("Số phiếu lý lịch tư pháp được cấp", "phiếu", INTEGER, 12, F),
    # administration, staff, emulation, direction
    ("Số văn bản quy phạm pháp luật được ban hành", "văn bản", INTEGER, 0.4, F),
    ("Số cuộc kiểm tra cải cách hành chính", "cuộc", INTEGER, 0.3, F),
    ("Số cán bộ, công chức", "người", INTEGER, 22, S),
    ("Số người hoạt động không chuyên trách", "người", INTEGER, 12, S),
    ("Số lượt công chức được đào tạo, bồi dưỡng", "lượt", INTEGER, 4, F),
    ("Số cán bộ, công chức bị kỷ luật", "người", INTEGER, 0.05, F),
    ("Quỹ lương chi trả", "đồng", MONEY, 1.6e8, F),
    ("Số biên chế được giao", "biên chế", INTEGER, 25, S),
    ("Số biên chế có mặt", "người", INTEGER, 23, S),
    ("Số người tinh giản biên chế", "người", INTEGER, 0.3, F),
    ("Số tập thể được khen thưởng", "tập thể", INTEGER, 0.5, F),
    ("Số cá nhân được khen thưởng", "người", INTEGER, 3, F),
    ("Số phong trào thi đua được phát động", "phong trào", INTEGER, 0.3, F),
    ("Số văn bản chỉ đạo, điều hành được ban hành", "văn bản", INTEGER, 2, F),
    ("Số nhiệm vụ được giao", "nhiệm vụ", INTEGER, 1.5, F),
    ("Số nhiệm vụ hoàn thành đúng hạn", "nhiệm vụ", INTEGER, 1.3, F),
    ("Số nhiệm vụ quá hạn", "nhiệm vụ", INTEGER, 0.1, F),
    ("Tỷ lệ nhiệm vụ hoàn thành đúng hạn", "%", PERCENTAGE, 90, 6),
    # education
    ("Số trường học", "trường", INTEGER, 3, S),
    ("Số học sinh", "học sinh", INTEGER, 1800, S),
    ("Số giáo viên", "người", INTEGER, 95, S),
    ("Tỷ lệ trường đạt chuẩn quốc gia", "%", PERCENTAGE, 78, 10),
    ("Tỷ lệ học sinh bỏ học", "%", PERCENTAGE, 0.6, 0.4),
)

# -- the regimes -------------------------------------------------------------------------------
# code, name, issuing body, frequency, kinds that report, departments (name prefixes) or None,
# deadline rule (("day", d): day d of the cut-off month, next working day if it is not one;
# ("wd", n): n working days after the cut-off), aggregate (True: province-level agencies report
# province totals; False: their own activity), indicator names.

LOCAL = (COMMUNE, DISTRICT)
LOCAL_AND_DEPARTMENTS = (COMMUNE, DISTRICT, DEPARTMENT)
EVERY_OFFICE = (COMMUNE, DISTRICT, DEPARTMENT, SERVICE_CENTRE)
UBND, VPCP = "Ủy ban nhân dân tỉnh", "Văn phòng Chính phủ"
BNV, BTC, BTP, BYT = "Bộ Nội vụ", "Bộ Tài chính", "Bộ Tư pháp", "Bộ Y tế"
BNNMT, BXD, BKHCN = "Bộ Nông nghiệp và Môi trường", "Bộ Xây dựng", "Bộ Khoa học và Công nghệ"
BVHTTDL, BCT, TTCP = "Bộ Văn hóa, Thể thao và Du lịch", "Bộ Công Thương", "Thanh tra Chính phủ"
BGDDT, BCA, BQP = "Bộ Giáo dục và Đào tạo", "Bộ Công an", "Bộ Quốc phòng"
BDTTG = "Bộ Dân tộc và Tôn giáo"

_REGIMES: tuple[tuple, ...] = (
    # communes (and, before the merger, districts), monthly
    ("BC-XA-01", "Báo cáo tình hình kinh tế - xã hội tháng", UBND, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Tổng thu ngân sách nhà nước trên địa bàn", "Tổng chi ngân sách địa phương",
      "Số hộ kinh doanh đăng ký mới", "Số lao động được tạo việc làm mới",
      "Tỷ lệ giải ngân vốn đầu tư công", "Số vụ tai nạn giao thông")),
    ("BC-XA-02", "Báo cáo kết quả giải quyết thủ tục hành chính", VPCP, MONTHLY, EVERY_OFFICE,
     None, ("day", 18), False,
     ("Số hồ sơ thủ tục hành chính tiếp nhận", "Số hồ sơ tiếp nhận trực tuyến",
      "Số hồ sơ đã giải quyết", "Số hồ sơ giải quyết đúng hạn", "Số hồ sơ giải quyết quá hạn",
      "Tỷ lệ hồ sơ giải quyết đúng hạn", "Tỷ lệ hồ sơ tiếp nhận trực tuyến")),
    ("BC-XA-03", "Báo cáo thu, chi ngân sách xã", BTC, MONTHLY, LOCAL, None, ("wd", 2), False,
     ("Tổng thu ngân sách xã", "Thu thuế, phí, lệ phí", "Thu bổ sung từ ngân sách cấp trên",
      "Tổng chi ngân sách xã", "Chi đầu tư phát triển", "Chi thường xuyên",
      "Tỷ lệ thực hiện dự toán thu")),
    ("BC-XA-04", "Báo cáo kết quả đăng ký hộ tịch", BTP, MONTHLY, LOCAL, None, ("day", 16), False,
     ("Số trường hợp đăng ký khai sinh", "Số trường hợp đăng ký khai sinh đúng hạn",
      "Số trường hợp đăng ký khai tử", "Số cặp đăng ký kết hôn",
      "Số bản sao trích lục hộ tịch được cấp", "Tỷ lệ trẻ em dưới 1 tuổi được đăng ký khai sinh")),
    ("BC-XA-05", "Báo cáo công tác chứng thực", BTP, MONTHLY, LOCAL, None, ("day", 16), False,
     ("Số việc chứng thực bản sao từ bản chính", "Số việc chứng thực chữ ký",
      "Số hợp đồng, giao dịch được chứng thực", "Lệ phí chứng thực thu được")),
    ("BC-XA-06", "Báo cáo công tác văn thư và văn bản điện tử", BNV, MONTHLY, EVERY_OFFICE, None,
     ("day", 18), False,
     ("Số văn bản đến", "Số văn bản đi", "Số văn bản đi được ký số", "Tỷ lệ văn bản điện tử")),
    ("BC-XA-07", "Báo cáo công tác tiếp công dân, giải quyết khiếu nại, tố cáo", TTCP, MONTHLY,
     LOCAL_AND_DEPARTMENTS, None, ("day", 18), False,
     ("Số lượt tiếp công dân", "Số đơn khiếu nại tiếp nhận", "Số đơn tố cáo tiếp nhận",
      "Số đơn kiến nghị, phản ánh tiếp nhận", "Số vụ việc khiếu nại, tố cáo đã giải quyết",
      "Tỷ lệ giải quyết khiếu nại, tố cáo")),
    ("BC-XA-08", "Báo cáo công tác dân số", BYT, MONTHLY, LOCAL, None, ("day", 16), False,
     ("Số trẻ sinh ra", "Số trẻ sinh ra là con thứ ba trở lên", "Số người chết",
      "Số phụ nữ mang thai được quản lý")),
    ("BC-XA-09", "Báo cáo hoạt động y tế cơ sở", BYT, MONTHLY, LOCAL, None, ("wd", 2), False,
     ("Số lượt khám, chữa bệnh", "Số lượt khám, chữa bệnh bảo hiểm y tế",
      "Số trẻ em dưới 1 tuổi được tiêm chủng đầy đủ", "Tỷ lệ trẻ em được tiêm chủng đầy đủ",
      "Số ca mắc sốt xuất huyết")),
    ("BC-XA-10", "Báo cáo thực hiện chính sách trợ giúp xã hội", BYT, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Số đối tượng bảo trợ xã hội hưởng trợ cấp hằng tháng", "Kinh phí chi trả trợ cấp xã hội",
      "Số người cao tuổi hưởng trợ cấp", "Số người khuyết tật hưởng trợ cấp")),
    ("BC-XA-11", "Báo cáo tình hình sản xuất nông nghiệp", BNNMT, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Diện tích gieo trồng", "Diện tích lúa thu hoạch", "Sản lượng thủy sản",
      "Số gia súc, gia cầm được tiêm phòng", "Số ổ dịch bệnh động vật")),
    ("BC-XA-12", "Báo cáo công tác quản lý đất đai và môi trường", BNNMT, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Số vụ vi phạm pháp luật đất đai được phát hiện", "Số vụ vi phạm đất đai đã xử lý",
      "Số giấy chứng nhận quyền sử dụng đất được cấp",
      "Tỷ lệ chất thải rắn sinh hoạt được thu gom")),
    ("BC-XA-13", "Báo cáo công tác quản lý trật tự xây dựng", BXD, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Số giấy phép xây dựng được cấp", "Số công trình vi phạm trật tự xây dựng",
      "Số công trình vi phạm đã xử lý", "Tiền phạt vi phạm hành chính")),
    ("BC-XA-14", "Báo cáo kết quả chuyển đổi số", BKHCN, MONTHLY, LOCAL, None, ("day", 18), False,
     ("Số tài khoản định danh điện tử được kích hoạt", "Số hồ sơ được số hóa",
      "Tỷ lệ hồ sơ được số hóa kết quả", "Số giao dịch thanh toán trực tuyến",
      "Tỷ lệ dịch vụ công trực tuyến toàn trình")),
    ("BC-XA-15", "Báo cáo tình hình an ninh, trật tự", UBND, MONTHLY, LOCAL, None, ("wd", 1), False,
     ("Số vụ phạm pháp hình sự", "Số vụ tai nạn giao thông", "Số người chết do tai nạn giao thông",
      "Số vụ cháy, nổ", "Thiệt hại do cháy, nổ")),
    ("BC-XA-16", "Báo cáo tình hình lao động, việc làm", BNV, MONTHLY, LOCAL, None, ("day", 16),
     False,
     ("Số lao động được tạo việc làm mới", "Số người đi làm việc ở nước ngoài theo hợp đồng",
      "Số người đăng ký hưởng trợ cấp thất nghiệp", "Số lao động được đào tạo nghề")),
    ("BC-XA-17", "Báo cáo công tác bảo vệ, chăm sóc trẻ em", BYT, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Số trẻ em có hoàn cảnh đặc biệt được hỗ trợ", "Số vụ xâm hại trẻ em",
      "Số trẻ em dưới 1 tuổi được tiêm chủng đầy đủ")),
    ("BC-XA-18", "Báo cáo hoạt động văn hóa, thể thao và du lịch", BVHTTDL, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Số lượt khách du lịch", "Doanh thu du lịch", "Số lễ hội được tổ chức",
      "Số cơ sở kinh doanh dịch vụ văn hóa được kiểm tra")),
    ("BC-XA-19", "Báo cáo công tác phòng, chống thiên tai", BNNMT, MONTHLY, LOCAL, None,
     ("wd", 1), False,
     ("Số đợt thiên tai", "Thiệt hại do thiên tai", "Số người chết, mất tích do thiên tai",
      "Số hộ phải di dời khẩn cấp")),
    ("BC-XA-20", "Báo cáo tình hình giải ngân vốn đầu tư công", BTC, MONTHLY, LOCAL, None,
     ("day", 16), False,
     ("Kế hoạch vốn đầu tư công được giao", "Giá trị giải ngân vốn đầu tư công",
      "Tỷ lệ giải ngân vốn đầu tư công", "Số dự án đầu tư công đang triển khai")),
    ("BC-XA-21", "Báo cáo công tác dân tộc, tôn giáo", BDTTG, MONTHLY, LOCAL, None, ("day", 16),
     False,
     ("Số cơ sở tôn giáo", "Số hoạt động tôn giáo được đăng ký",
      "Số hộ đồng bào dân tộc thiểu số được hỗ trợ", "Kinh phí hỗ trợ đồng bào dân tộc thiểu số")),
    ("BC-XA-22", "Báo cáo công tác phổ biến, giáo dục pháp luật và hòa giải ở cơ sở", BTP,
     MONTHLY, LOCAL, None, ("day", 16), False,
     ("Số cuộc tuyên truyền, phổ biến pháp luật", "Số lượt người tham dự tuyên truyền pháp luật",
      "Số vụ việc hòa giải ở cơ sở", "Số vụ việc hòa giải thành", "Tỷ lệ hòa giải thành")),
    # quarterly, communes and often departments
    ("BC-XA-23", "Báo cáo công tác cải cách hành chính", BNV, QUARTERLY, LOCAL_AND_DEPARTMENTS,
     None, ("day", 18), False,
     ("Số thủ tục hành chính được rà soát", "Số văn bản quy phạm pháp luật được ban hành",
      "Số cuộc kiểm tra cải cách hành chính", "Tỷ lệ hồ sơ giải quyết đúng hạn",
      "Tỷ lệ người dân, doanh nghiệp hài lòng")),
    ("BC-XA-24", "Báo cáo tình hình đội ngũ cán bộ, công chức cấp xã", BNV, QUARTERLY, LOCAL,
     None, ("day", 18), False,
     ("Số cán bộ, công chức", "Số người hoạt động không chuyên trách",
      "Số lượt công chức được đào tạo, bồi dưỡng", "Số cán bộ, công chức bị kỷ luật",
      "Quỹ lương chi trả")),
    ("BC-XA-25", "Báo cáo công tác phòng, chống tham nhũng, tiêu cực", TTCP, QUARTERLY,
     LOCAL_AND_DEPARTMENTS, None, ("day", 18), False,
     ("Số cuộc thanh tra, kiểm tra", "Số vụ việc tham nhũng được phát hiện",
      "Số tiền kiến nghị thu hồi", "Số người kê khai tài sản, thu nhập")),
    ("BC-XA-26", "Báo cáo kết quả xây dựng nông thôn mới", BNNMT, QUARTERLY, LOCAL, None,
     ("day", 18), False,
     ("Số tiêu chí nông thôn mới đạt", "Kinh phí huy động xây dựng nông thôn mới",
      "Tỷ lệ hộ dân sử dụng nước sạch", "Chiều dài đường giao thông nông thôn được cứng hóa")),
    ("BC-XA-27", "Báo cáo thực hiện chính sách bảo hiểm xã hội, bảo hiểm y tế", BTC, QUARTERLY,
     LOCAL, None, ("day", 18), False,
     ("Số người tham gia bảo hiểm xã hội tự nguyện", "Số người có thẻ bảo hiểm y tế",
      "Tỷ lệ bao phủ bảo hiểm y tế")),
    ("BC-XA-28", "Báo cáo công tác kiểm tra, xử lý văn bản quy phạm pháp luật", BTP, QUARTERLY,
     LOCAL_AND_DEPARTMENTS, None, ("day", 18), False,
     ("Số văn bản quy phạm pháp luật được tự kiểm tra", "Số văn bản phát hiện trái pháp luật",
      "Số văn bản trái pháp luật đã xử lý")),
    ("BC-XA-29", "Báo cáo kết quả thực hiện công tác giảm nghèo", BNNMT, QUARTERLY, LOCAL, None,
     ("day", 18), False,
     ("Số hộ thoát nghèo", "Số hộ nghèo phát sinh", "Kinh phí hỗ trợ giảm nghèo",
      "Số lao động được tạo việc làm mới")),
    ("BC-XA-30", "Báo cáo công tác thi đua, khen thưởng", BNV, QUARTERLY, LOCAL_AND_DEPARTMENTS,
     None, ("day", 18), False,
     ("Số tập thể được khen thưởng", "Số cá nhân được khen thưởng",
      "Số phong trào thi đua được phát động")),
    # semi-annual (6-month and annual reports)
    ("BC-XA-31", "Báo cáo công tác lưu trữ", BNV, SEMI_ANNUAL, EVERY_OFFICE, None, ("day", 18),
     False,
     ("Số hồ sơ lưu trữ được chỉnh lý", "Số trang tài liệu được số hóa",
      "Tỷ lệ hồ sơ lưu trữ được số hóa", "Số lượt khai thác tài liệu lưu trữ")),
    ("BC-XA-32", "Báo cáo công tác quốc phòng, quân sự địa phương", BQP, SEMI_ANNUAL, LOCAL, None,
     ("day", 18), False,
     ("Số thanh niên đăng ký nghĩa vụ quân sự", "Số dân quân tự vệ",
      "Kinh phí quốc phòng địa phương")),
    ("BC-XA-33", "Báo cáo tình hình phát triển nhà ở", BXD, SEMI_ANNUAL, LOCAL, None, ("day", 18),
     False,
     ("Số nhà ở xây dựng mới", "Diện tích sàn nhà ở xây dựng mới",
      "Số hộ được hỗ trợ xóa nhà tạm, nhà dột nát")),
    # annual
    ("BC-XA-34", "Báo cáo thống kê dân số, hộ gia đình", BTC, ANNUAL, LOCAL, None, ("day", 18),
     False,
     ("Dân số trung bình", "Số hộ gia đình", "Số hộ nghèo", "Tỷ lệ hộ nghèo",
      "Tỷ lệ tăng dân số tự nhiên")),
    ("BC-XA-35", "Báo cáo ước thực hiện thu, chi ngân sách năm", BTC, ANNUAL, LOCAL, None,
     ("day", 18), False,
     ("Tổng thu quyết toán", "Tổng chi quyết toán", "Kết dư ngân sách")),
    ("BC-XA-36", "Báo cáo kết quả thực hiện các chỉ tiêu phát triển kinh tế - xã hội năm", UBND,
     ANNUAL, LOCAL, None, ("day", 18), False,
     ("Thu nhập bình quân đầu người", "Tỷ lệ lao động qua đào tạo",
      "Tỷ lệ hộ dân sử dụng nước sạch", "Số doanh nghiệp đang hoạt động")),
    # departments, by sector
    ("BC-SO-01", "Báo cáo tình hình thu, chi ngân sách nhà nước", BTC, MONTHLY, (DEPARTMENT,),
     ("Sở Tài chính",), ("day", 18), True,
     ("Tổng thu ngân sách nhà nước trên địa bàn", "Thu nội địa", "Thu tiền sử dụng đất",
      "Tổng chi ngân sách địa phương", "Chi đầu tư phát triển", "Chi thường xuyên",
      "Tỷ lệ thực hiện dự toán thu")),
    ("BC-SO-02", "Báo cáo tình hình đăng ký doanh nghiệp", BTC, MONTHLY, (DEPARTMENT,),
     ("Sở Tài chính",), ("day", 18), True,
     ("Số doanh nghiệp đăng ký thành lập mới", "Vốn đăng ký của doanh nghiệp thành lập mới",
      "Số doanh nghiệp quay trở lại hoạt động", "Số doanh nghiệp tạm ngừng kinh doanh",
      "Số doanh nghiệp giải thể")),
    ("BC-SO-03", "Báo cáo tình hình giải ngân vốn đầu tư công", BTC, MONTHLY, (DEPARTMENT,),
     ("Sở Tài chính", "Sở Xây dựng", "Sở Nông nghiệp"), ("day", 18), True,
     ("Kế hoạch vốn đầu tư công được giao", "Giá trị giải ngân vốn đầu tư công",
      "Tỷ lệ giải ngân vốn đầu tư công", "Số dự án đầu tư công đang triển khai")),
    ("BC-SO-04", "Báo cáo tình hình sản xuất công nghiệp, thương mại", BCT, MONTHLY,
     (DEPARTMENT,), ("Sở Công Thương",), ("day", 18), True,
     ("Tổng mức bán lẻ hàng hóa và doanh thu dịch vụ", "Kim ngạch xuất khẩu",
      "Số vụ buôn lậu, gian lận thương mại bị xử lý")),
    ("BC-SO-05", "Báo cáo hoạt động khám, chữa bệnh", BYT, MONTHLY, (DEPARTMENT,), ("Sở Y tế",),
     ("day", 18), True,
     ("Số lượt khám, chữa bệnh", "Số ca mắc bệnh truyền nhiễm", "Số giường bệnh",
      "Công suất sử dụng giường bệnh")),
    ("BC-SO-06", "Báo cáo tình hình hoạt động du lịch", BVHTTDL, MONTHLY, (DEPARTMENT,),
     ("Sở Văn hóa",), ("day", 18), True,
     ("Số lượt khách du lịch", "Số lượt khách du lịch quốc tế", "Doanh thu du lịch",
      "Công suất sử dụng phòng lưu trú")),
    ("BC-SO-07", "Báo cáo tình hình sản xuất nông nghiệp và môi trường", BNNMT, MONTHLY,
     (DEPARTMENT,), ("Sở Nông nghiệp",), ("day", 18), True,
     ("Diện tích gieo trồng", "Sản lượng thủy sản", "Số vụ vi phạm môi trường bị xử lý",
      "Tiền phạt vi phạm hành chính về môi trường")),
    ("BC-SO-08", "Báo cáo công tác thanh tra", TTCP, QUARTERLY, (DEPARTMENT,), ("Thanh tra",),
     ("day", 18), True,
     ("Số cuộc thanh tra, kiểm tra", "Số tiền sai phạm phát hiện", "Số tiền kiến nghị thu hồi",
      "Số tổ chức, cá nhân bị xử phạt")),
    ("BC-SO-09", "Báo cáo kết quả chuyển đổi số và an toàn thông tin", BKHCN, QUARTERLY,
     (DEPARTMENT,), ("Sở Khoa học",), ("day", 18), True,
     ("Số hệ thống thông tin được kết nối, chia sẻ dữ liệu", "Tỷ lệ văn bản điện tử được ký số",
      "Số sự cố an toàn thông tin mạng", "Tỷ lệ dịch vụ công trực tuyến toàn trình")),
    ("BC-SO-10", "Báo cáo thống kê ngành giáo dục", BGDDT, SEMI_ANNUAL, (DEPARTMENT,),
     ("Sở Giáo dục",), ("day", 18), True,
     ("Số trường học", "Số học sinh", "Số giáo viên", "Tỷ lệ trường đạt chuẩn quốc gia",
      "Tỷ lệ học sinh bỏ học")),
    ("BC-SO-11", "Báo cáo công tác tư pháp", BTP, SEMI_ANNUAL, (DEPARTMENT,), ("Sở Tư pháp",),
     ("day", 18), True,
     ("Số văn bản quy phạm pháp luật được thẩm định", "Số vụ việc trợ giúp pháp lý",
      "Số phiếu lý lịch tư pháp được cấp")),
    ("BC-SO-12", "Báo cáo tổ chức bộ máy, biên chế", BNV, SEMI_ANNUAL, (DEPARTMENT,),
     ("Sở Nội vụ",), ("day", 18), True,
     ("Số biên chế được giao", "Số biên chế có mặt", "Số người tinh giản biên chế",
      "Quỹ lương chi trả")),
    # the province committee, to the centre
    ("BC-TINH-01", "Báo cáo tình hình kinh tế - xã hội tháng gửi Chính phủ", VPCP, MONTHLY,
     (PROVINCE,), None, ("day", 20), True,
     ("Tổng sản phẩm trên địa bàn (GRDP) ước tính", "Tổng thu ngân sách nhà nước trên địa bàn",
      "Vốn đầu tư thực hiện trên địa bàn", "Số doanh nghiệp đăng ký thành lập mới",
      "Số lao động được tạo việc làm mới", "Tỷ lệ giải ngân vốn đầu tư công")),
    ("BC-TINH-02", "Báo cáo kết quả thực hiện nhiệm vụ Chính phủ, Thủ tướng Chính phủ giao", VPCP,
     QUARTERLY, (PROVINCE,), None, ("day", 20), True,
     ("Số văn bản chỉ đạo, điều hành được ban hành", "Số nhiệm vụ được giao",
      "Số nhiệm vụ hoàn thành đúng hạn", "Số nhiệm vụ quá hạn",
      "Tỷ lệ nhiệm vụ hoàn thành đúng hạn")),
    ("BC-TINH-03", "Báo cáo Bộ chỉ số phục vụ người dân, doanh nghiệp", VPCP, MONTHLY,
     (PROVINCE,), None, ("day", 20), True,
     ("Tỷ lệ hồ sơ giải quyết đúng hạn", "Tỷ lệ dịch vụ công trực tuyến toàn trình",
      "Tỷ lệ hồ sơ tiếp nhận trực tuyến", "Tỷ lệ thanh toán trực tuyến",
      "Tỷ lệ hồ sơ được số hóa kết quả", "Tỷ lệ người dân, doanh nghiệp hài lòng")),
    ("BC-TINH-04", "Báo cáo kết quả triển khai Đề án 06", BCA, MONTHLY, (PROVINCE,), None,
     ("day", 20), True,
     ("Số tài khoản định danh điện tử được kích hoạt", "Số hồ sơ tiếp nhận trực tuyến",
      "Số giao dịch thanh toán trực tuyến")),
)
# fmt: on


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    name: str
    unit: str  # unit of measure (đơn vị tính)
    type: str  # integer, money_vnd or percentage
    base: float
    behaviour: str  # flow, stock or ratio (percentages: ratio)
    spread: float  # percentages: standard deviation

    @property
    def bounds(self) -> tuple[int, int]:
        return RANGES[self.type]


@dataclass(frozen=True, slots=True)
class Regime:
    code: str
    name: str
    issuing_body: str
    frequency: str
    kinds: tuple[str, ...]
    departments: tuple[str, ...] | None
    deadline: tuple[str, int]
    aggregate: bool
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True, slots=True)
class Period:
    frequency: str  # monthly, quarterly, six_months or annual
    label: str
    start: date
    end: date  # the cut-off day, a 14th
    months: int


ROMAN = ("I", "II", "III", "IV")


def _fifteenth_before(year: int, month: int, months: int) -> date:
    """The 15th of the month ``months`` before (year, month)."""
    index = year * 12 + month - 1 - months
    return date(index // 12, index % 12 + 1, 15)


def periods_closing(year: int, month: int) -> dict[str, Period]:
    """The periods whose cut-off is the 14th of (year, month), by frequency (Decree 09/2019)."""
    end = date(year, month, 14)
    periods = {
        MONTHLY: Period(
            MONTHLY, f"Tháng {month:02d}/{year}", _fifteenth_before(year, month, 1), end, 1
        )
    }
    if month % 3 == 0:
        periods[QUARTERLY] = Period(
            QUARTERLY,
            f"Quý {ROMAN[month // 3 - 1]}/{year}",
            _fifteenth_before(year, month, 3),
            end,
            3,
        )
    if month == 6:
        periods["six_months"] = Period(
            "six_months", f"6 tháng/{year}", date(year - 1, 12, 15), end, 6
        )
    if month == 12:
        periods[ANNUAL] = Period(ANNUAL, f"Năm {year}", date(year - 1, 12, 15), end, 12)
    return periods


def regime_period(regime: Regime, periods: dict[str, Period]) -> Period | None:
    """The period ``regime`` reports on at this cut-off, if any."""
    if regime.frequency == SEMI_ANNUAL:
        return periods.get("six_months") or periods.get(ANNUAL)
    return periods.get(regime.frequency)


def cutoff_months(start: date, end: date) -> Iterator[tuple[int, int]]:
    """(year, month) of every cut-off day (the 14th) between ``start`` and ``end``."""
    year, month = start.year, start.month
    while date(year, month, 1) <= end:
        if start <= date(year, month, 14) <= end:
            yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def deadline(regime: Regime, period: Period, calendar: WorkingCalendar) -> date:
    rule, n = regime.deadline
    if rule == "day":
        return calendar.next_working_day(period.end.replace(day=n))
    return calendar.add_working_days(period.end, n)


def build_indicators() -> dict[str, Indicator]:
    """The indicator bank, by name, with codes CT001, CT002, ..."""
    bank = {}
    for number, (name, unit, kind, base, extra) in enumerate(_BANK, start=1):
        behaviour = R if kind == PERCENTAGE else extra
        spread = float(extra) if kind == PERCENTAGE else 0.0
        bank[name] = Indicator(f"CT{number:03d}", name, unit, kind, float(base), behaviour, spread)
    return bank


def build_regimes(scale: float = 1.0) -> list[Regime]:
    """The catalogue: ~50 regimes; above scale 1, thematic regimes cloned from them."""
    bank = build_indicators()
    base = [Regime(*row[:-1], tuple(bank[name] for name in row[-1])) for row in _REGIMES]
    clones = []
    for k in range(max(0, math.ceil((scale - 1) * len(base)))):
        regime, edition = base[k % len(base)], k // len(base) + 2
        clones.append(
            replace(regime, code=f"{regime.code}.{edition}",
                    name=f"{regime.name} (chuyên đề {edition})")
        )  # fmt: skip
    return base + clones


def catalogue_document(regimes: list[Regime]) -> dict[str, object]:
    """What ``reports/regimes.json`` holds."""
    indicators = {i.code: i for r in regimes for i in r.indicators}
    return {
        "period_rule": {
            "legal_basis": "Nghị định 09/2019/NĐ-CP, Điều 12 (thời gian chốt số liệu)",
            "monthly": "15th of the previous month to the 14th of the month",
            "quarterly": "15th of the month before the quarter to the 14th of its last month",
            "six_months": "15 December of the previous year to 14 June",
            "annual": "15 December of the previous year to 14 December",
            "semi_annual_regimes": "file the 6-month report and the annual report",
            "deadline_rules": {
                "day": "that day of the cut-off month, or the next working day",
                "wd": "that many working days after the cut-off day",
            },
        },
        "csv": {
            "encoding": "utf-8-sig",
            "delimiter": ",",
            "line_terminator": "\r\n",
            "columns": list(COLUMNS),
            "date_format": "dd/mm/yyyy",
            "datetime_format": "dd/mm/yyyy HH:MM:SS",
            "statuses": {
                SUBMITTED: "submitted, current version",
                REPLACED: "submitted, replaced by a later version",
                NOT_SUBMITTED: "not submitted by the export time",
            },
        },
        "regimes": [
            {
                "code": r.code,
                "name": r.name,
                "issuing_body": r.issuing_body,
                "frequency": r.frequency,
                "reporting_kinds": list(r.kinds),
                "departments": list(r.departments) if r.departments else None,
                "deadline": {"rule": r.deadline[0], "value": r.deadline[1]},
                "indicators": [i.code for i in r.indicators],
            }
            for r in regimes
        ],
        "indicators": [
            {
                "code": i.code,
                "name": i.name,
                "unit": i.unit,
                "type": i.type,
                "min": i.bounds[0],
                "max": i.bounds[1],
            }
            for i in sorted(indicators.values(), key=lambda i: i.code)
        ],
    }


# -- rendering -------------------------------------------------------------------------------

EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_EPOCH_1900 = date(1899, 12, 31)  # before 1 March 1900
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
(
    STYLE_DEFAULT,
    STYLE_DATE,
    STYLE_DATETIME,
    STYLE_TITLE,
    STYLE_HEADER,
    STYLE_INTEGER,
    STYLE_DECIMAL,
) = range(7)


def format_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def format_datetime(moment: datetime) -> str:
    return (
        f"{moment.day:02d}/{moment.month:02d}/{moment.year} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def csv_field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        if any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def encode_cp1258(text: str) -> bytes:
    """``text`` in Windows-1258, whose Vietnamese letters take a separate tone mark."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            letter = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
            tones = "".join(c for c in parts if c in TONE_MARKS)
            out += (letter + tones).encode("cp1258", errors="replace")
    return bytes(out)


def mojibake(text: str) -> str:
    """UTF-8 read as Latin-1: what a wrongly decoded Vietnamese text looks like."""
    return text.encode("utf-8").decode("latin-1")


def excel_serial(value: date) -> float | int:
    """Excel's day number (its 1900 system counts a 29 February 1900 that never was)."""
    day = value.date() if isinstance(value, datetime) else value
    days = (day - (EXCEL_EPOCH if day >= date(1900, 3, 1) else EXCEL_EPOCH_1900)).days
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return days + seconds / 86400 if seconds else days
    return days


class CsvWriter:
    """Buffered CSV lines, UTF-8 with a BOM; a line can also go out as raw bytes."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("wb")
        self.handle.write(b"\xef\xbb\xbf")
        self.buffer: list[str] = []
        self.line = 0

    def write(self, text: str) -> int:
        self.buffer.append(text)
        self.line += 1
        if len(self.buffer) >= 4096:
            self.flush()
        return self.line

    def write_bytes(self, data: bytes) -> int:
        self.flush()
        self.handle.write(data)
        self.line += 1
        return self.line

    def flush(self) -> None:
        if self.buffer:
            self.handle.write("".join(self.buffer).encode("utf-8"))
            self.buffer.clear()

    def close(self) -> None:
        self.flush()
        self.handle.close()


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"
_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet {_NS}>'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="dd/mm/yyyy hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Times New Roman"/><family val="1"/></font>'
    '<font><b/><sz val="11"/><name val="Times New Roman"/><family val="1"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFD9E1F2"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"/><right style="thin"/><top style="thin"/><bottom style="thin"/>'
    "<diagonal/></border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="7"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment horizontal="center" vertical="center"/></xf>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" '
    'applyBorder="1" applyAlignment="1"><alignment horizontal="center" vertical="center" '
    'wrapText="1"/></xf>'
    '<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)
_WIDTHS = (12, 48, 14, 12, 12, 16, 40, 10, 48, 12, 18, 13, 20, 8, 12)
_LAST_COLUMN = chr(ord("A") + len(COLUMNS) - 1)


class WorkbookWriter:
    """A streamed .xlsx: one sheet of rows after a title block, shared strings, fixed dates.

    Cells carry no reference (they are positional, which the format allows), so a row's XML
    can be assembled from fragments prepared once per report. The zip entries carry the
    zipfile module's fixed 1980 timestamp and ``docProps/core.xml`` the export time, so the same
    rows give the same bytes.
    """

    MAX_ROWS = 1_048_576
    HEADER_ROW = 7

    def __init__(self, path: Path, title: Sequence[tuple[str, str]], created: datetime) -> None:
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self.title = title  # (left block, right block) lines
        self.created = created
        self.strings: dict[str, int] = {}
        self.sheets = 0
        self.row = 0
        self.handle = None
        self.buffer: list[str] = []
        self._open_sheet()

    def string(self, text: str) -> str:
        """The cell XML of a (shared) string."""
        index = self.strings.get(text)
        if index is None:
            index = self.strings[text] = len(self.strings)
        return f'<c t="s"><v>{index}</v></c>'

    def cell(self, value: object, style: int = STYLE_DEFAULT) -> str:
        if value is None:
            return "<c/>"
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, datetime):
            return f'<c s="{STYLE_DATETIME}"><v>{excel_serial(value)!r}</v></c>'
        if isinstance(value, date):
            return f'<c s="{STYLE_DATE}"><v>{excel_serial(value)}</v></c>'
        return f'<c s="{style}"><v>{value!r}</v></c>'

    def _titled(self, text: str, style: int) -> str:
        index = self.strings.setdefault(text, len(self.strings))
        return f'<c s="{style}" t="s"><v>{index}</v></c>'

    def _open_sheet(self) -> None:
        self.sheets += 1
        self.handle = self.zip.open(f"xl/worksheets/sheet{self.sheets}.xml", "w")
        cols = "".join(
            f'<col min="{n}" max="{n}" width="{w}" customWidth="1"/>'
            for n, w in enumerate(_WIDTHS, start=1)
        )
        rows = []
        for number, (left, right) in enumerate(self.title, start=1):
            cells = []
            if left:
                cells.append(
                    f'<c r="A{number}" s="{STYLE_TITLE}" t="s"><v>'
                    f"{self.strings.setdefault(left, len(self.strings))}</v></c>"
                )
            if right:
                cells.append(
                    f'<c r="H{number}" s="{STYLE_TITLE}" t="s"><v>'
                    f"{self.strings.setdefault(right, len(self.strings))}</v></c>"
                )
            rows.append(f'<row r="{number}">{"".join(cells)}</row>')
        header = "".join(self._titled(name, STYLE_HEADER) for name in COLUMNS)
        rows.append(f'<row r="{self.HEADER_ROW}" ht="30" customHeight="1">{header}</row>')
        self.handle.write(
            (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS} '
                f'{_NS_R}><sheetViews><sheetView workbookViewId="0"><pane ySplit="'
                f'{self.HEADER_ROW}" topLeftCell="A{self.HEADER_ROW + 1}" activePane="bottomLeft" '
                f'state="frozen"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
                f"<cols>{cols}</cols><sheetData>{''.join(rows)}"
            ).encode()
        )
        self.row = self.HEADER_ROW

    def _close_sheet(self) -> None:
        self.flush()
        merges = []
        for number, (left, right) in enumerate(self.title, start=1):
            if left and right:
                merges += [f"A{number}:F{number}", f"H{number}:{_LAST_COLUMN}{number}"]
            elif left:
                merges.append(f"A{number}:{_LAST_COLUMN}{number}")
        merged = "".join(f'<mergeCell ref="{m}"/>' for m in merges)
        self.handle.write(
            (
                f'</sheetData><mergeCells count="{len(merges)}">{merged}</mergeCells>'
                '<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" '
                'footer="0.3"/><pageSetup paperSize="9" orientation="landscape"/></worksheet>'
            ).encode()
        )
        self.handle.close()

    def add(self, cells: str) -> tuple[int, int]:
        """Append a row of cell XML; returns (sheet number, row number)."""
        if self.row >= self.MAX_ROWS:
            self._close_sheet()
            self._open_sheet()
        self.row += 1
        self.buffer.append(f'<row r="{self.row}">{cells}</row>')
        if len(self.buffer) >= 2048:
            self.flush()
        return self.sheets, self.row

    def flush(self) -> None:
        if self.buffer:
            self.handle.write("".join(self.buffer).encode("utf-8"))
            self.buffer.clear()

    def _entry(self, name: str, text: str) -> None:
        with self.zip.open(name, "w") as handle:
            handle.write(text.encode("utf-8"))

    def close(self) -> None:
        self._close_sheet()
        head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        strings = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in self.strings)
        self._entry(
            "xl/sharedStrings.xml",
            f'{head}<sst {_NS} uniqueCount="{len(self.strings)}">{strings}</sst>',
        )
        self._entry("xl/styles.xml", _STYLES)
        names = ["Dữ liệu"] + [f"Dữ liệu ({n})" for n in range(2, self.sheets + 1)]
        sheets = "".join(
            f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>'
            for n, name in enumerate(names, start=1)
        )
        self._entry(
            "xl/workbook.xml",
            f"{head}<workbook {_NS} {_NS_R}><bookViews><workbookView/>"
            f"</bookViews><sheets>{sheets}</sheets></workbook>",
        )
        rels = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, self.sheets + 1)
        )
        rels += (
            f'<Relationship Id="rId{self.sheets + 1}" Type="{_REL}/styles" '
            f'Target="styles.xml"/><Relationship Id="rId{self.sheets + 2}" '
            f'Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        )
        self._entry(
            "xl/_rels/workbook.xml.rels",
            f'{head}<Relationships xmlns="{_PKG_REL}">{rels}</Relationships>',
        )
        stamp = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._entry(
            "docProps/core.xml",
            f'{head}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
            f'XMLSchema-instance"><dc:title>{escape(self.title[3][0])}</dc:title>'
            "<dc:creator>Hệ thống thông tin báo cáo</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>",
        )
        self._entry(
            "_rels/.rels",
            f'{head}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/><Relationship Id="rId2" '
            f'Type="{_PKG_REL}/metadata/core-properties" Target="docProps/core.xml"/>'
            "</Relationships>",
        )
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
            f'ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
            for n in range(1, self.sheets + 1)
        )
        self._entry(
            "[Content_Types].xml",
            f'{head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.'
            f'main+xml"/>{overrides}<Override PartName="/xl/styles.xml" ContentType="{_CT}.'
            'spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{_CT}.spreadsheetml.sharedStrings+xml"/><Override '
            'PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.'
            'core-properties+xml"/></Types>',
        )
        self.zip.close()


# -- behaviour of the reporting units --------------------------------------------------------

LATE = {COMMUNE: 0.18, DISTRICT: 0.14, DEPARTMENT: 0.10, SERVICE_CENTRE: 0.08, PROVINCE: 0.05}
MISSING = {
    COMMUNE: 0.035,
    DISTRICT: 0.025,
    DEPARTMENT: 0.012,
    SERVICE_CENTRE: 0.01,
    PROVINCE: 0.004,
}
# Own activity of province-level agencies, in pre-merger communes' worth.
OWN_ACTIVITY = {DEPARTMENT: 12.0, SERVICE_CENTRE: 60.0, PROVINCE: 20.0}
RESUBMITTED = 0.06


def _months_since(day: date, origin: date) -> int:
    return (day.year - origin.year) * 12 + day.month - origin.month


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()


def _stable_random(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts), "big"))


@dataclass(frozen=True, slots=True)
class Profile:
    """What stays the same about a unit from one period to the next."""

    size: float  # pre-merger communes' worth of territory
    own_size: float  # for regimes where province-level agencies report their own activity
    scale: float  # the unit's own size factor
    shift: float  # where its percentages sit, in standard deviations
    diligence: float  # multiplies its late and missing rates


class ReportingSystem:
    """Who reports what, when and with which values: deterministic for a seed, one stream."""

    def __init__(
        self,
        region: Region,
        agencies: list[Agency],
        calendar: WorkingCalendar,
        seed: int,
        scale: float,
        as_of: datetime,
    ) -> None:
        self.region = region
        self.agencies = agencies
        self.calendar = calendar
        self.seed = seed
        self.coverage = min(1.0, scale)
        self.as_of = as_of
        self.rng = random.Random(f"reports-{seed}")
        self.regimes = build_regimes(scale)
        self.profiles = self._profiles(region, agencies)
        self._assigned: dict[tuple[str, bool], list[Agency]] = {}

    def _profiles(self, region: Region, agencies: list[Agency]) -> dict[Agency, Profile]:
        old_by_district: dict[str, int] = {}
        old_by_province: dict[str, int] = {}
        for commune in region.old_communes:
            old_by_district[commune.parent_code] = old_by_district.get(commune.parent_code, 0) + 1
            old_by_province[commune.province_code] = (
                old_by_province.get(commune.province_code, 0) + 1
            )
        absorbed: dict[str, int] = {}
        for targets in region.successors.values():
            absorbed[targets[0]] = absorbed.get(targets[0], 0) + 1
        total = len(region.old_communes)
        average_province = total / max(1, len(region.old_provinces))
        profiles = {}
        for agency in agencies:
            old = agency.valid_to is not None
            if agency.kind == COMMUNE:
                size = 1.0 if old else float(max(1, absorbed.get(agency.unit_code, 1)))
            elif agency.kind == DISTRICT:
                size = float(old_by_district.get(agency.unit_code, 1))
            else:
                size = float(old_by_province.get(agency.province_code, 1) if old else total)
            own = OWN_ACTIVITY.get(agency.kind, 1.0) * (
                size / average_province if agency.kind in OWN_ACTIVITY else size
            )
            rng = _stable_random("reports-unit", self.seed, agency.code, agency.valid_to)
            profiles[agency] = Profile(
                size, own, rng.lognormvariate(0, 0.3), rng.gauss(0, 1), rng.lognormvariate(0, 0.5)
            )
        return profiles

    def reporting_units(self, regime: Regime, cutoff: date) -> list[Agency]:
        """The agencies in force at the cut-off that must report ``regime`` (sampled below 1)."""
        era = cutoff < MERGER_DATE
        key = (regime.code, era)
        if key not in self._assigned:
            chosen: list[Agency] = []
            for kind in regime.kinds:
                pool = [
                    a
                    for a in self.agencies
                    if a.kind == kind
                    and a.in_force(cutoff)
                    and (
                        regime.departments is None
                        or any(a.name.startswith(d) for d in regime.departments)
                    )
                ]
                if not pool:
                    continue
                pool.sort(
                    key=lambda a: _digest(
                        "reports-assign", self.seed, regime.code, a.code, a.valid_to
                    )
                )
                chosen += pool[: max(1, round(self.coverage * len(pool)))]
            self._assigned[key] = sorted(chosen, key=lambda a: a.code)
        return self._assigned[key]

    # -- rates -------------------------------------------------------------------------------

    @staticmethod
    def _merger_dip(cutoff: date) -> float:
        """1 right after the merger, fading to 0 six months later."""
        if cutoff < MERGER_DATE:
            return 0.0
        return max(0.0, 1 - _months_since(cutoff, MERGER_DATE) / 6)

    def late_rate(self, agency: Agency, cutoff: date) -> float:
        trend = max(0.35, 1 - 0.02 * _months_since(cutoff, date(2024, 1, 1)))
        rate = LATE[agency.kind] * trend * self.profiles[agency].diligence
        return min(0.85, rate * (1 + 1.5 * self._merger_dip(cutoff)))

    def missing_rate(self, agency: Agency, cutoff: date) -> float:
        trend = max(0.4, 1 - 0.015 * _months_since(cutoff, date(2024, 1, 1)))
        rate = MISSING[agency.kind] * trend * self.profiles[agency].diligence
        return min(0.5, rate * (1 + 1.0 * self._merger_dip(cutoff)))

    # -- one report --------------------------------------------------------------------------

    def _moment(self, day: date) -> datetime:
        rng = self.rng
        if rng.random() < 0.08:
            return at(
                day, 18 + int(rng.random() * 4), int(rng.random() * 60), int(rng.random() * 60)
            )
        seconds = 7 * 3600 + 1800 + int(rng.random() * 10 * 3600)
        return at(day, seconds // 3600, seconds // 60 % 60, seconds % 60)

    def submissions(self, agency: Agency, period: Period, due: date) -> list[datetime]:
        """The times of the report's versions, as known at the export time (may be empty)."""
        rng = self.rng
        if rng.random() < self.missing_rate(agency, period.end):
            return []
        if rng.random() < self.late_rate(agency, period.end):
            late_by = 1 + int(rng.expovariate(1 / 5))
            day = self.calendar.next_working_day(due + timedelta(days=min(late_by, 60)))
        else:
            days = []
            day = period.end
            while day <= due:
                if self.calendar.is_working_day(day):
                    days.append(day)
                day += timedelta(days=1)
            day = due if rng.random() < 0.45 or not days else days[int(rng.random() * len(days))]
        first = self._moment(day)
        limit = self.as_of
        if agency.valid_to is not None:
            limit = min(limit, at(agency.valid_to, 23, 59, 59))
        if first > limit:
            return []
        times = [first]
        rate = RESUBMITTED * (1 + 1.5 * self._merger_dip(period.end))
        while len(times) < 3 and rng.random() < (rate if len(times) == 1 else 0.15):
            later = times[-1] + timedelta(seconds=int(3600 + rng.expovariate(1 / 200_000)))
            if later > limit:
                break
            times.append(later)
        return times

    def value(
        self, indicator: Indicator, agency: Agency, regime: Regime, period: Period
    ) -> int | float:
        rng = self.rng
        profile = self.profiles[agency]
        if indicator.type == PERCENTAGE:
            low, high = indicator.bounds
            mean = indicator.base + indicator.spread * (0.7 * profile.shift + 0.5 * rng.gauss(0, 1))
            return round(min(high, max(low, mean)), 2)
        mean = indicator.base
        if indicator.behaviour != R:
            own = not regime.aggregate and agency.kind not in (COMMUNE, DISTRICT)
            mean *= (profile.own_size if own else profile.size) * profile.scale
        if indicator.behaviour == F:
            month = period.end.month
            season = 0.8 if month == 2 else 1.25 if month == 12 and indicator.type == MONEY else 1.0
            mean *= (
                period.months * season * (1 + 0.004 * _months_since(period.end, date(2024, 1, 1)))
            )
        if indicator.type == MONEY:
            return int(round(mean * rng.lognormvariate(0, 0.25), -3))
        if indicator.behaviour == R:
            return max(0, round(rng.gauss(mean, 1)))
        if mean < 30:  # Poisson, by inversion
            limit, product, count = math.exp(-mean), rng.random(), 0
            while product > limit:
                product *= rng.random()
                count += 1
            return count
        return max(0, round(mean * rng.lognormvariate(0, 0.15)))


# -- faults ----------------------------------------------------------------------------------


def _spoil(
    row: list,
    kind: str,
    rng: random.Random,
    known_units: set[str],
    known_indicators: set[str],
    province_code: str,
) -> str:
    """Put one fault of ``kind`` in ``row`` (in place); returns what was done."""
    submitted = row[C_SUBMITTED] is not None
    column = C_SUBMITTED if submitted else C_DEADLINE
    moment = row[column]
    if kind == fault_kinds.MALFORMED_DATE:
        choices = [
            f"{moment:%Y%m%d}",
            "#VALUE!",
            f"ngày {moment.day} tháng {moment.month} năm {moment.year}",
        ]
        if submitted:
            hour = moment.hour % 12 or 12
            choices += [
                f"{moment:%d/%m/%Y} {hour}:{moment:%M:%S} {'SA' if moment.hour < 12 else 'CH'}",
                f"{moment:%Y%m%d%H%M%S}",
            ]
        else:
            choices.append(f"{moment:%d-%m-%Y}")
        row[column] = rng.choice(choices)
        expected = "dd/mm/yyyy HH:MM:SS" if submitted else "dd/mm/yyyy"
        return f"{COLUMNS[column]}={row[column]!r} (not {expected})"
    if kind == fault_kinds.IMPOSSIBLE_DATE:
        if rng.random() < 0.5:
            month = rng.choice((2, 4, 6, 9, 11))
            text = f"31/{month:02d}/{moment.year}"
            row[column] = f"{text} {moment:%H:%M:%S}" if submitted else text
            return f"{COLUMNS[column]}={row[column]!r}: no such day"
        year = rng.choice((1900, 2099))
        row[column] = moment.replace(year=year, month=1, day=1)
        return f"{COLUMNS[column]} in {year}, out of range"
    if kind == fault_kinds.UNKNOWN_UNIT:
        code = row[C_UNIT]
        while code in known_units:
            code = f"000.{rng.randint(0, 99):02d}.{rng.randint(90, 99):02d}.H{province_code}"
        row[C_UNIT] = code
        return f"{COLUMNS[C_UNIT]}={code}: no such unit"
    if kind == fault_kinds.UNKNOWN_INDICATOR:
        code = row[C_INDICATOR]
        while code in known_indicators:
            code = f"CT{rng.randint(9000, 9999)}"
        row[C_INDICATOR] = code
        return f"{COLUMNS[C_INDICATOR]}={code}: no such indicator"
    if kind == fault_kinds.MISSING_FIELD:
        columns = REQUIRED + (REQUIRED_WHEN_SUBMITTED if submitted else ())
        column = rng.choice(columns)
        row[column] = None
        return f"{COLUMNS[column]} empty"
    if kind == fault_kinds.ABSURD_VALUE:
        kind_of_value = row[C_VALUE].__class__
        if kind_of_value is float:  # a percentage
            row[C_VALUE] = rng.choice(
                (round(rng.uniform(101, 9999), 2), -round(rng.uniform(1, 99), 2))
            )
        elif row[C_MEASURE] in ("đồng", "đồng/người"):
            row[C_VALUE] = rng.randint(1, 8) * 10**15 + rng.randint(0, 10**6) * 1000
        else:
            row[C_VALUE] = rng.choice((-rng.randint(1, 999), rng.randint(10**9, 10**12)))
        return f"{COLUMNS[C_VALUE]}={row[C_VALUE]}: out of range"
    if kind == fault_kinds.WRONG_ENCODING:
        return "text in Windows-1258 (CSV), UTF-8 read as Latin-1 (workbook)"
    if kind == fault_kinds.DUPLICATE:
        return "row written twice"
    raise ValueError(f"unknown fault kind {kind}")


# -- the export ------------------------------------------------------------------------------


def write_reporting_system(
    out: Path,
    region: Region,
    agencies: list[Agency],
    calendar: WorkingCalendar,
    seed: int,
    scale: float,
    start: date,
    end: date,
    fault_rate: float = 0.0,
    on_day: Callable[[date], None] | None = None,
) -> MonthlyCounts:
    """Write the catalogue and, per cut-off month, the submissions as CSV and Excel.

    Streams one cut-off month at a time; ``on_day`` is called for each day of the window as
    generation passes it. Counts rows of ``reports.submissions`` by cut-off month.
    """
    directory = out / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    as_of = at(end, 23, 59, 59)
    system = ReportingSystem(region, agencies, calendar, seed, scale, as_of)
    (directory / "regimes.json").write_text(
        json.dumps(catalogue_document(system.regimes), ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    known_units = {a.code for a in agencies}
    known_indicators = {i.code for r in system.regimes for i in r.indicators}
    counts = MonthlyCounts()
    day = start
    with FaultInjector(out, SOURCE, fault_rate, seed) as injector:
        for year, month in cutoff_months(start, end):
            periods = periods_closing(year, month)
            cutoff = date(year, month, 14)
            while on_day and day <= cutoff:
                on_day(day)
                day += timedelta(days=1)
            folder = directory / f"period={year}-{month:02d}"
            folder.mkdir(exist_ok=True)
            name = f"bao_cao_{year}-{month:02d}"
            title = (
                (f"ỦY BAN NHÂN DÂN {region.name.upper()}", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
                ("HỆ THỐNG THÔNG TIN BÁO CÁO", "Độc lập - Tự do - Hạnh phúc"),
                ("", ""),
                (f"DỮ LIỆU BÁO CÁO ĐỊNH KỲ - KỲ CHỐT SỐ LIỆU THÁNG {month:02d}/{year}", ""),
                (
                    f"(Số liệu chốt đến ngày {format_date(cutoff)}; xuất lúc "
                    f"{format_datetime(as_of)})",
                    "",
                ),
            )
            csv_file = CsvWriter(folder / f"{name}.csv")
            workbook = WorkbookWriter(folder / f"{name}.xlsx", title, as_of)
            try:
                csv_file.write(",".join(csv_field(c) for c in COLUMNS) + "\r\n")
                rows = _write_month(
                    system,
                    periods,
                    csv_file,
                    workbook,
                    injector,
                    f"reports/period={year}-{month:02d}/{name}.csv",
                    known_units,
                    known_indicators,
                )
            finally:
                csv_file.close()
                workbook.close()
            counts.add(SOURCE, cutoff, rows)
    while on_day and day <= end:
        on_day(day)
        day += timedelta(days=1)
    return counts


def _write_month(
    system: ReportingSystem,
    periods: dict[str, Period],
    csv_file: CsvWriter,
    workbook: WorkbookWriter,
    injector: FaultInjector,
    file: str,
    known_units: set[str],
    known_indicators: set[str],
) -> int:
    """Every report due at this cut-off, row by row into both files; returns the row count."""
    calendar = system.calendar
    cell = workbook.cell
    faulty = injector.rate > 0
    rows = 0
    indicator_parts: dict[str, tuple[str, str]] = {}
    for regime in system.regimes:
        period = regime_period(regime, periods)
        if period is None:
            continue
        due = deadline(regime, period, calendar)
        for indicator in regime.indicators:
            if indicator.code not in indicator_parts:
                fields = (indicator.code, indicator.name, indicator.unit)
                indicator_parts[indicator.code] = (
                    ",".join(csv_field(f) for f in fields) + ",",
                    "".join(cell(f) for f in fields),
                )
        value_style = {
            i.code: STYLE_DECIMAL if i.type == PERCENTAGE else STYLE_INTEGER
            for i in regime.indicators
        }
        for agency in system.reporting_units(regime, period.end):
            head = (
                regime.code,
                regime.name,
                period.label,
                period.start,
                period.end,
                agency.code,
                agency.name,
            )
            head_csv = ",".join(csv_field(f) for f in head) + ","
            head_xml = "".join(cell(f) for f in head)
            times = system.submissions(agency, period, due)
            versions: list[tuple[int | None, datetime | None, str, list | None]] = []
            values = None
            for number, moment in enumerate(times, start=1):
                if values is None:
                    values = [system.value(i, agency, regime, period) for i in regime.indicators]
                else:  # a correction: a few values change
                    values = [
                        system.value(i, agency, regime, period) if system.rng.random() < 0.3 else v
                        for i, v in zip(regime.indicators, values, strict=True)
                    ]
                status = SUBMITTED if number == len(times) else REPLACED
                versions.append((number, moment, status, values))
            if not times:
                versions.append((None, None, NOT_SUBMITTED, None))
            for number, moment, status, version_values in versions:
                tail = (due, moment, number, status)
                tail_csv = "," + ",".join(csv_field(f) for f in tail) + "\r\n"
                tail_xml = "".join(cell(f) for f in tail)
                for position, indicator in enumerate(regime.indicators):
                    value = version_values[position] if version_values else None
                    kind = None
                    if faulty:
                        kind = injector.draw(
                            FAULT_KINDS if version_values else NOT_SUBMITTED_FAULT_KINDS
                        )
                    if kind is None:
                        parts = indicator_parts[indicator.code]
                        csv_file.write(head_csv + parts[0] + csv_field(value) + tail_csv)
                        workbook.add(
                            head_xml
                            + parts[1]
                            + cell(value, value_style[indicator.code])
                            + tail_xml
                        )
                        rows += 1
                        continue
                    row = [*head, indicator.code, indicator.name, indicator.unit, value, *tail]
                    key = (
                        f"{regime.code}|{period.label}|{agency.code}|{indicator.code}|{number or 0}"
                    )
                    detail = _spoil(
                        row, kind, injector.rng, known_units, known_indicators, system.region.code
                    )
                    line_text = ",".join(csv_field(f) for f in row) + "\r\n"
                    style = value_style[indicator.code]
                    if kind == fault_kinds.WRONG_ENCODING:
                        line = csv_file.write_bytes(encode_cp1258(line_text))
                        cells = "".join(
                            cell(
                                mojibake(f) if isinstance(f, str) else f,
                                style if c == C_VALUE else STYLE_DEFAULT,
                            )
                            for c, f in enumerate(row)
                        )
                    else:
                        line = csv_file.write(line_text)
                        cells = "".join(
                            cell(f, style if c == C_VALUE else STYLE_DEFAULT)
                            for c, f in enumerate(row)
                        )
                    sheet, sheet_row = workbook.add(cells)
                    rows += 1
                    if kind == fault_kinds.DUPLICATE:
                        line = csv_file.write(line_text)
                        sheet, sheet_row = workbook.add(cells)
                        rows += 1
                    injector.record(
                        key, kind, f"line {line}, sheet {sheet} row {sheet_row}: {detail}", file
                    )
    return rows
