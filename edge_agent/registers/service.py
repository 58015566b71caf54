"""The front desk's registers as one component: every register's entries and steps on
``edge.db``, their records for the centre, their reminders, their slips.

Writing: an entry is opened (:meth:`Registers.open`) and stepped on (:meth:`Registers.step`)
from a form the console submits. The form is checked against the register's model first;
a problem is a :class:`~edge_agent.registers.fields.Refused` naming the field, and nothing
is written. Then the entry (or step), the room-and-phone pairs a resident's access request
finds it by, a photo if any, and its record for the centre go in one transaction. Each form
carries an id (``form_id``) chosen when the page was drawn: the same form sent again (a
double click, a retry after the edge was killed mid-answer) gets the entry or step it made
the first time, never a second one. A closing step (a key returned, a parcel picked up, a
release out of the gate) is taken once; a second is refused saying when the first was, and
a unique index on ``register_steps`` says the same should a caller skip this module.

Records: ``register_entry`` (id = the entry's) and ``register_step`` (id = the step's), each
with the form's values split into ``details`` and ``person`` (the resident's personal data,
which the centre's retention empties).

Reminders: every minute, each open entry's register says whether it needs an alarm (a key
overdue, a renovation near or past its end): ``register.<register>.<number>``, source
``edge/registers``, cleared once it is no longer needed.

Example::

    desk = Registers(config.registers, db_path=path, alarms=alarms, printing=printing)
    key = desk.open("keys", {"key": "B2 水泵房", "name": "李四", ...}, who="staff-li")
    desk.step(key["id"], "return", {"returned_by": "李四"}, who="staff-li")
    desk.open_for_handover(time.time())["keys_out"]
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from central_sync import client as outbox
from hall_common.bus import contract
from hall_common.config import RegistersConfig
from hall_common.errors import RequestFailed
from hall_common.storage import immediate
from hall_common.threads import locked

from ..component import Component
from . import catalogue, photos
from .fields import EntryFields, Refused, checked, form_fields
from .framework import Register, Step, masked, when

HANDOVER_DAYS = 7
"""A renovation ending within this many days is on the shift handover sheet."""
SOURCE = "edge/registers"


class Registers(Component):
    name = "registers"

    def __init__(self, config: RegistersConfig, *, db_path: Path, alarms: Any = None, printing: Any = None,
                 node: str = "edge", nudge: Callable[[], None] | None = None, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time, check_every: float = 60.0) -> None:
        self.config, self.kinds = config, catalogue.registers(config)
        self.alarms, self.printing, self.node, self._nudge, self.clock = alarms, printing, node, nudge, clock
        self.zone = ZoneInfo(timezone)
        self.own_connection(db_path)
        self.every(check_every, self.check, name="register-reminders", first_now=True)

    def kind(self, register: str) -> Register:
        """The register called ``register``; KeyError if there is none."""
        return self.kinds[register]

    # -- opening an entry ---------------------------------------------------------------------

    def open(self, register: str, form: Mapping[str, Any], *, who: str, form_id: str | None = None,
             photo: bytes | None = None) -> dict[str, Any]:
        """Open an entry of ``register`` from ``form``; the entry as :meth:`entry` reads it."""
        kind = self.kinds[register]
        now = self.clock()
        values = checked(kind.model, form, now=self._aware(now)).model_dump(mode="json")
        picture = photos.shrink(photo, max_kb=self.config.photo_max_kb) if photo and kind.photo else None
        with self._lock, immediate(self.db):
            known = self._made_by(form_id, "register_entries")
            if known is not None:
                return self._read(known)
            row = self._row(kind, values, who, now, form_id)
            self.db["register_entries"].insert(row)
            self._contacts(row["id"], kind.model, values, values)
            if picture is not None:
                self.db["register_photos"].insert({"entry": row["id"], "mime": "image/jpeg", "data": picture})
            outbox.add(self.db, "register_entry", {
                "id": row["id"], "register": register, "serial": row["serial"], "opened_at": now, "opened_by": who,
                "due_at": row["due_at"], "details": json.loads(row["details"]), "person": json.loads(row["person"]),
                "photo": picture is not None}, node=self.node, record_id=row["id"])
        self._changed(row["id"])
        return self.entry(row["id"])

    def _row(self, kind: Register, values: dict[str, Any], who: str, now: float, form_id: str | None) -> dict[str, Any]:
        details, person = _split(kind.model, values)
        return {"id": str(uuid.uuid4()), "register": kind.name, "serial": self._serial(kind, now), "form_id": form_id,
                "status": "open", "room": kind.room(values), "code": self._new_code() if kind.coded else None,
                "details": details, "person": person, "opened_at": now, "opened_by": who,
                "due_at": kind.due(values, self.zone), "touched_at": now}

    def _serial(self, kind: Register, now: float) -> str:
        """``YS260315001``: the register's letters, the hall's date, the day's count."""
        day = datetime.fromtimestamp(now, self.zone)
        self.db.execute("INSERT OR IGNORE INTO register_numbers (register, day, last) VALUES (?, ?, 0)",
                        [kind.name, day.date().isoformat()])
        self.db.execute("UPDATE register_numbers SET last = last + 1 WHERE register = ? AND day = ?",
                        [kind.name, day.date().isoformat()])
        seq = self.db.execute("SELECT last FROM register_numbers WHERE register = ? AND day = ?",
                              [kind.name, day.date().isoformat()]).fetchone()[0]
        return f"{kind.prefix}{day:%y%m%d}{seq:03d}"

    def _new_code(self) -> str:
        """A 6-digit pickup code no waiting parcel has."""
        while True:
            code = f"{secrets.randbelow(10 ** 6):06d}"
            if not self.db.execute("SELECT 1 FROM register_entries WHERE code = ? AND status = 'open'", [code]).fetchone():
                return code

    # -- steps --------------------------------------------------------------------------------

    def step(self, entry_id: str, step: str, form: Mapping[str, Any], *, who: str,
             form_id: str | None = None) -> dict[str, Any]:
        """Take ``step`` on the entry; the entry as it is then."""
        now = self.clock()
        with self._lock, immediate(self.db):
            if self._made_by(form_id, "register_steps") is not None:
                return self._read(entry_id)
            entry = self._read(entry_id)
            kind = self.kinds[entry["register"]]
            spec = kind.step(step)
            if spec is None:
                raise Refused(f"{kind.zh}没有“{step}”这一步", f"{kind.en} has no step {step!r}", "step")
            self._still_open(kind, entry, spec)
            values = checked(spec.model, form, now=self._aware(now),
                           entry={**entry["fields"], "code": entry["code"]}).model_dump(mode="json")
            details, person = _split(spec.model, values)
            step_id = str(uuid.uuid4())
            self.db.execute("INSERT INTO register_steps (id, entry, step, ts, who, details, person, closes, form_id) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [step_id, entry_id, step, now, who, details, person, int(spec.closes), form_id])
            closing = {"status": "closed", "closed_at": now, "closed_by": who, "closed_step": step} if spec.closes else {}
            self.db["register_entries"].update(entry_id, {"touched_at": now, **closing})
            self._contacts(entry_id, spec.model, values, {**entry["fields"], **values})
            outbox.add(self.db, "register_step", {
                "id": step_id, "entry": entry_id, "register": kind.name, "serial": entry["serial"], "step": step,
                "ts": now, "who": who, "closes": spec.closes, "details": json.loads(details),
                "person": json.loads(person)}, node=self.node, record_id=step_id)
        self._changed(entry_id)
        return self.entry(entry_id)

    def _still_open(self, kind: Register, entry: dict[str, Any], spec: Step) -> None:
        """Refuse a step on a closed entry, saying when and how it was closed."""
        if entry["status"] == "open":
            return
        closed = kind.step(entry["closed_step"] or "")
        done_zh, done_en = (closed.done_zh, closed.done_en) if closed else ("已办结", "closed")
        last = next((s for s in reversed(entry["steps"]) if s["step"] == entry["closed_step"]), None)
        by = ""
        if closed is not None and last is not None:
            names = [masked(f, last["fields"].get(f.name)) for f in form_fields(closed.model) if f.input == "name"]
            by = next((n for n in names if n), "")
        at = when(entry["closed_at"], self.zone)
        field = "code" if spec.name == "pickup" else spec.name
        raise Refused(f"{entry['serial']} {done_zh}（{at}{'，' + by if by else ''}），不能重复{spec.zh}",
                      f"{entry['serial']} was already {done_en} ({at}{', ' + by if by else ''})", field)

    def pickup(self, code: str, form: Mapping[str, Any], *, who: str, form_id: str | None = None) -> dict[str, Any]:
        """A parcel picked up by its code: the waiting parcel with this code, or a refusal
        (none has it; or it was already picked up, said as :meth:`step` says it)."""
        code = re.sub(r"\s", "", code or "")
        with self._lock:
            rows = self.db.execute(
                "SELECT id FROM register_entries WHERE register = 'parcels' AND code = ? "
                "ORDER BY status = 'open' DESC, opened_at DESC LIMIT 1", [code]).fetchall() if code else []
        if not rows:
            raise Refused(f"取件码：没有取件码为 {code or '（空）'} 的快递", "Pickup code: no parcel has this code", "code")
        return self.step(rows[0][0], "pickup", {**form, "code": code}, who=who, form_id=form_id)

    def _contacts(self, entry_id: str, model: type[EntryFields], values: dict[str, Any], rooms: dict[str, Any]) -> None:
        """The (room, phone) pairs a resident's access request finds the entry by."""
        for f in form_fields(model):
            phone, room = values.get(f.name), rooms.get(f.room or "")
            if f.input == "phone" and phone and room:
                self.db.execute("INSERT OR IGNORE INTO register_contacts (entry, room, phone) VALUES (?, ?, ?)",
                                [entry_id, re.sub(r"\s", "", str(room)), phone])

    def _made_by(self, form_id: str | None, table: str) -> str | None:
        """The entry a form already made (for ``register_steps``: its entry's id)."""
        if not form_id:
            return None
        column = "id" if table == "register_entries" else "entry"
        row = self.db.execute(f"SELECT {column} FROM {table} WHERE form_id = ?", [form_id]).fetchone()
        return row[0] if row else None

    # -- slips --------------------------------------------------------------------------------

    def print_slip(self, entry_id: str, printer: str) -> dict[str, Any]:
        """Print the entry's slip at ``printer``: the first time an original, afterwards a
        reprint marked as such. The print service's view of the job."""
        if self.printing is None:
            raise RequestFailed("no_printing", "the print service is not running")
        with self._lock:
            entry = self._read(entry_id)
            slip = self.kinds[entry["register"]].slip(entry, self.zone)
            if slip is None:
                raise Refused("这个登记簿没有纸质凭条", "This register prints no slip", "printer")
            earlier = self.printing.view(entry["slip_job"]) if entry["slip_job"] else None
            if earlier is not None and earlier["status"] != "failed":
                return self.printing.reprint(entry["slip_job"], printer=printer)
            job = str(uuid.uuid4())
            fields = {"title": slip.title, "serial": entry["serial"], "body": "\n".join(slip.body), "code": slip.code,
                      "code_label": slip.code_label, "footer": slip.footer}
            view = self.printing.submit(job, contract.EDGE_NODE, "register_slip", fields, preferred=printer)
            with immediate(self.db):
                self.db["register_entries"].update(entry_id, {"slip_job": job})
            return view

    # -- reading ------------------------------------------------------------------------------

    @locked
    def entry(self, entry_id: str) -> dict[str, Any]:
        """One entry with its fields and steps; :class:`Refused` if there is none."""
        return self._read(entry_id)

    def _read(self, entry_id: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM register_entries WHERE id = ?", [entry_id]))
        if not rows:
            raise Refused("找不到这条登记", "No such entry", "entry")
        entry = _merged(rows[0])
        entry["steps"] = [_merged(s) for s in self.db.query(
            "SELECT * FROM register_steps WHERE entry = ? ORDER BY seq", [entry_id])]
        entry["photo"] = bool(self.db.execute("SELECT 1 FROM register_photos WHERE entry = ?", [entry_id]).fetchone())
        return entry

    @locked
    def search(self, register: str, q: str = "", *, status: str = "open", limit: int = 200) -> list[dict[str, Any]]:
        """Entries of ``register``, newest first: ``status`` open, closed or all; ``q`` found
        in the number, the room or any field (a phone number typed in full finds its owner)."""
        where, params = ["register = ?"], [register]
        if status in ("open", "closed"):
            where.append("status = ?")
            params.append(status)
        q = q.strip()
        if q:
            where.append("(instr(serial, ?) > 0 OR instr(room, ?) > 0 OR instr(details, ?) > 0 OR instr(person, ?) > 0)")
            params += [q.upper(), q, q, q]
        rows = [_merged(r) for r in self.db.query(
            f"SELECT * FROM register_entries WHERE {' AND '.join(where)} ORDER BY opened_at DESC LIMIT ?",
            [*params, limit])]
        return self._with_steps(rows)

    def _with_steps(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id = {r["id"]: {**r, "steps": []} for r in rows}
        if by_id:
            marks = ",".join("?" * len(by_id))
            for s in self.db.query(f"SELECT * FROM register_steps WHERE entry IN ({marks}) ORDER BY seq", list(by_id)):
                by_id[s["entry"]]["steps"].append(_merged(s))
        return list(by_id.values())

    @locked
    def counts(self, now: float | None = None) -> dict[str, dict[str, int]]:
        """Per register: entries open, and of them those past due."""
        now = self.clock() if now is None else now
        out = {name: {"open": 0, "overdue": 0} for name in self.kinds}
        for register, n, late in self.db.execute(
                "SELECT register, count(*), sum(due_at IS NOT NULL AND due_at < ?) FROM register_entries "
                "WHERE status = 'open' GROUP BY register", [now]):
            if register in out:
                out[register] = {"open": n, "overdue": late or 0}
        return out

    @locked
    def photo(self, entry_id: str) -> tuple[str, bytes] | None:
        row = self.db.execute("SELECT mime, data FROM register_photos WHERE entry = ?", [entry_id]).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def _open_of(self, register: str) -> list[dict[str, Any]]:
        rows = [_merged(r) for r in self.db.query(
            "SELECT * FROM register_entries WHERE register = ? AND status = 'open' ORDER BY opened_at", [register])]
        return self._with_steps(rows)

    # -- the shift handover -------------------------------------------------------------------

    @locked
    def open_for_handover(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """What the next shift takes over from the registers at ``now``: ``keys_out`` (every
        key lent and not back), ``parcels_waiting`` (every parcel not picked up),
        ``renovations_due`` (ending within 7 days or past their end, or due an inspection).
        Each item: ``id``, ``register``, ``serial``, ``text`` (one Chinese line, masked),
        ``since`` (opened, Unix seconds) and ``due`` (Unix seconds or None)."""
        keys, parcels = self.kinds["keys"], self.kinds["parcels"]
        out: dict[str, list[dict[str, Any]]] = {
            "keys_out": [_item(e, keys.line(e, self.zone) + ("（已逾期）" if e["due_at"] and e["due_at"] < now else ""))
                         for e in self._open_of("keys")],
            "parcels_waiting": [_item(e, parcels.line(e, self.zone)) for e in self._open_of("parcels")],
            "renovations_due": []}
        renovations = self.kinds["renovations"]
        for e in self._open_of("renovations"):
            why = []
            if e["due_at"] - now <= HANDOVER_DAYS * 86400:
                why.append("已到期未验收" if e["due_at"] < now else f"{HANDOVER_DAYS} 天内到期")
            last = renovations.inspection_due(e, now, self.zone)  # type: ignore[attr-defined]
            if last is not None:
                why.append(f"待巡查（上次 {last}）")
            if why:
                out["renovations_due"].append(_item(e, f"{renovations.line(e, self.zone)} · {'，'.join(why)}"))
        return out

    # -- reminders ----------------------------------------------------------------------------

    def check(self, now: float | None = None) -> list[str]:
        """Raise, update or clear each open entry's reminder for ``now``; the alarm ids that
        changed."""
        if self.alarms is None:
            return []
        now = self.clock() if now is None else now
        with self._lock:
            entries = [e for name in self.kinds for e in self._open_of(name)]
        changed, wanted = [], set()
        for e in entries:
            alarm_id = _alarm_id(e)
            said = self.kinds[e["register"]].reminder(e, now, self.zone)
            if said is not None:
                wanted.add(alarm_id)
                if self.alarms.raise_(alarm_id, source=SOURCE, type=f"{e['register']}_due", severity=said[0], text=said[1]):
                    changed.append(alarm_id)
        for a in self.alarms.active():
            if a["id"].startswith("register.") and a["id"] not in wanted and self.alarms.clear(a["id"]):
                changed.append(a["id"])
        return changed

    def _changed(self, entry_id: str) -> None:
        """After a change has committed: wake the sync worker; judge the entry's reminder at
        once (a key returned stops being overdue now, not at the next minute)."""
        if self._nudge is not None:
            self._nudge()
        if self.alarms is None:
            return
        entry = self.entry(entry_id)
        said = self.kinds[entry["register"]].reminder(entry, self.clock(), self.zone) if entry["status"] == "open" else None
        if said is None:
            self.alarms.clear(_alarm_id(entry))
        else:
            self.alarms.raise_(_alarm_id(entry), source=SOURCE, type=f"{entry['register']}_due", severity=said[0],
                               text=said[1])

    def _aware(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.zone)


def _split(model: type[EntryFields], values: dict[str, Any]) -> tuple[str, str]:
    """The form's values as two JSON objects: what is not personal, and what is."""
    personal = {f.name for f in form_fields(model) if f.personal}
    details = {k: v for k, v in values.items() if k not in personal}
    person = {k: v for k, v in values.items() if k in personal}
    return json.dumps(details, ensure_ascii=False), json.dumps(person, ensure_ascii=False)


def _merged(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its ``fields`` made whole again (personal ones empty once erased)."""
    row = dict(row)
    row["fields"] = {**json.loads(row.pop("details")), **json.loads(row.pop("person"))}
    return row


def _item(entry: dict[str, Any], text: str) -> dict[str, Any]:
    return {"id": entry["id"], "register": entry["register"], "serial": entry["serial"], "text": text,
            "since": entry["opened_at"], "due": entry["due_at"]}


def _alarm_id(entry: dict[str, Any]) -> str:
    return f"register.{entry['register']}.{entry['serial']}"
