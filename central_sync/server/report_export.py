"""The monthly report as files for a spreadsheet: CSV (UTF-8 with a byte-order mark, so
Excel shows the Chinese right) and XLSX (openpyxl). Both hold exactly the page's table
(:func:`.reports.rows`): a row per figure, a column per hall, numbers as numbers.
"""

from __future__ import annotations

import csv
import io

from .reports import Report, rows

HEAD = ("部分 · Section", "指标 · Figure", "项目 · Item")


def hall_heading(hall_id: str, name: str) -> str:
    return f"{name} ({hall_id})"


def to_csv(report: Report) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([*HEAD, *(hall_heading(h, n) for h, n in report.halls)])
    for r in rows(report):
        out.writerow([r.section, r.figure, r.item, *("" if r.values[h] is None else r.values[h] for h, _ in report.halls)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook  # only when a file is asked for
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = f"月报 {report.month}"
    ws.append([f"服务中心月报 · Monthly report {report.month}"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([*HEAD, *(hall_heading(h, n) for h, n in report.halls)])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E3E8EF")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r in rows(report):
        ws.append([r.section, r.figure, r.item, *(r.values[h] for h, _ in report.halls)])
    ws.freeze_panes = "D3"
    for column, width in zip("ABC", (30, 38, 26)):
        ws.column_dimensions[column].width = width
    for i in range(len(report.halls)):
        ws.column_dimensions[ws.cell(row=2, column=4 + i).column_letter].width = 18
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
