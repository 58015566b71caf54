"""The edge agent's own SQLite database (``edge.db``): its schema as registered migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from central_sync.client import add_outbox_tables
from hall_common.auth import add_user_table
from hall_common.storage import Migrations

if TYPE_CHECKING:
    import sqlite_utils

migrations = Migrations("edge_agent")
add_user_table(migrations)


@migrations()
def create_nodes(db: sqlite_utils.Database) -> None:
    db["nodes"].create(
        {
            "node": str,
            "kind": str,
            "state": str,
            "session": int,
            "sw": str,
            "config_version": int,
            "first_seen": float,
            "last_seen": float,
            "state_changed_at": float,
        },
        pk="node",
        not_null={"state", "session"},
    )


@migrations()
def create_help_requests(db: sqlite_utils.Database) -> None:
    db["help_requests"].create(
        {"id": str, "node": str, "ts": float, "handled_at": float, "handled_by": str}, pk="id", not_null={"node", "ts"}
    )


add_outbox_tables(migrations)


@migrations()
def create_desired_configs(db: sqlite_utils.Database) -> None:
    db["desired_configs"].create({"node": str, "version": int, "doc": str, "received_at": float}, pk="node")


@migrations()
def create_content(db: sqlite_utils.Database) -> None:
    db["content"].create({"kind": str, "key": str, "seq": int, "body": str}, pk=("kind", "key"))


@migrations()
def create_alarms(db: sqlite_utils.Database) -> None:
    db["alarms"].create(
        {"id": str, "source": str, "type": str, "severity": str, "state": str, "text": str,
         "raised_at": float, "acked_by": str, "acked_at": float, "cleared_at": float},
        pk="id", not_null={"source", "type", "severity", "state", "text", "raised_at"},
    )


@migrations()
def create_print_jobs(db: sqlite_utils.Database) -> None:
    # ``seq`` keeps arrival order: a printer prints its jobs in it, moved jobs included.
    db.execute(
        """CREATE TABLE print_jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            requester TEXT NOT NULL,
            template TEXT NOT NULL,
            fields TEXT NOT NULL,
            printer TEXT,
            status TEXT NOT NULL CHECK (status IN ('queued', 'printing', 'printed', 'failed')),
            reason TEXT NOT NULL DEFAULT '',
            attempts INTEGER NOT NULL DEFAULT 0,
            reprint INTEGER NOT NULL DEFAULT 0,
            reprint_of TEXT,
            test INTEGER NOT NULL DEFAULT 0,
            moved_from TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            printed_at REAL
        )"""
    )
    db.execute("CREATE INDEX print_jobs_queue ON print_jobs (printer, status, seq)")


@migrations()
def create_queue(db: sqlite_utils.Database) -> None:
    # The waiting line is ``status = 'issued'`` ordered by ``queued_at`` (the issue time; a
    # transfer keeps it, so a transferred resident does not start again at the back).
    # ``service`` is the line a ticket is in now; ``issued_service`` the one its number is of.
    db.execute(
        """CREATE TABLE tickets (
            id TEXT PRIMARY KEY,
            request_id TEXT UNIQUE,
            day TEXT NOT NULL,
            service TEXT NOT NULL,
            issued_service TEXT NOT NULL,
            number INTEGER NOT NULL,
            code TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            kiosk TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('issued', 'called', 'serving', 'done', 'no_show', 'cancelled')),
            counter TEXT,
            only_counter TEXT,
            recalls INTEGER NOT NULL DEFAULT 0,
            transfers INTEGER NOT NULL DEFAULT 0,
            issued_at REAL NOT NULL,
            queued_at REAL NOT NULL,
            called_at REAL,
            serving_at REAL,
            done_at REAL,
            UNIQUE (day, issued_service, number)
        )"""
    )
    db.execute("CREATE INDEX tickets_waiting ON tickets (status, service, queued_at)")
    db.execute(
        """CREATE TABLE ticket_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket TEXT NOT NULL REFERENCES tickets(id),
            ts REAL NOT NULL,
            event TEXT NOT NULL,
            counter TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )"""
    )
    db["queue_numbers"].create({"day": str, "service": str, "last": int}, pk=("day", "service"))
    db["queue_meta"].create({"key": str, "value": str}, pk="key")
    db["queue_counters"].create({"counter": str, "open": int, "ticket": str}, pk="counter")


@migrations()
def create_complaints(db: sqlite_utils.Database) -> None:
    # The record seed 002 asks for: who, where, what, when, through which channel; the
    # receiver and the acceptance time are set when staff accept it.
    db.execute(
        """CREATE TABLE complaints (
            id TEXT PRIMARY KEY,
            request_id TEXT UNIQUE,
            tracking_no TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            category TEXT NOT NULL,
            place TEXT NOT NULL,
            content TEXT NOT NULL,
            wanted TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL,
            room TEXT NOT NULL,
            phone TEXT NOT NULL,
            channel TEXT NOT NULL,
            received_at REAL NOT NULL,
            grade TEXT NOT NULL,
            emergency TEXT NOT NULL DEFAULT '',
            repeat INTEGER NOT NULL DEFAULT 0,
            feedback_due REAL NOT NULL,
            status TEXT NOT NULL,
            receiver TEXT,
            accepted_at REAL
        )"""
    )
    db.execute("CREATE INDEX complaints_room ON complaints (room, category, received_at)")
    db.execute(
        """CREATE TABLE complaint_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            complaint TEXT NOT NULL REFERENCES complaints(id),
            ts REAL NOT NULL,
            event TEXT NOT NULL,
            who TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        )"""
    )
    db["complaint_numbers"].create({"day": str, "last": int}, pk="day")
    db["track_failures"].create({"key": str, "ts": float})
    db.execute("CREATE INDEX track_failures_key ON track_failures (key, ts)")


@migrations()
def add_complaint_rating(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE complaints ADD COLUMN rating TEXT")
    db.execute("ALTER TABLE complaints ADD COLUMN rating_comment TEXT")


@migrations()
def create_service_ratings(db: sqlite_utils.Database) -> None:
    # Residents rate the service of a ticket they were served on (seed 000 clause 6.1): one
    # rating per ticket, kept with the counter and the staff member who served it. Staff
    # are known by who last worked the counter from the console (``queue_counters.staff``),
    # copied to the ticket when it is served or finished (``tickets.served_by``).
    db.execute("ALTER TABLE queue_counters ADD COLUMN staff TEXT")
    db.execute("ALTER TABLE tickets ADD COLUMN served_by TEXT")
    db.execute(
        """CREATE TABLE service_ratings (
            id TEXT PRIMARY KEY,
            request_id TEXT UNIQUE,
            ticket TEXT NOT NULL UNIQUE REFERENCES tickets(id),
            day TEXT NOT NULL,
            code TEXT NOT NULL,
            service TEXT NOT NULL,
            counter TEXT,
            staff TEXT,
            rating TEXT NOT NULL CHECK (rating IN ('very_satisfied', 'satisfied', 'basically_satisfied',
                                                   'dissatisfied', 'very_dissatisfied')),
            comment TEXT NOT NULL DEFAULT '',
            kiosk TEXT NOT NULL,
            rated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX service_ratings_day ON service_ratings (day, counter)")


@migrations()
def create_disclosures(db: sqlite_utils.Database) -> None:
    # Public disclosures from the centre (seed 000 clause 4.8), the newest version of each,
    # so the hall shows them with the centre down; pictures by their sha256, shared between
    # items and versions. The FTS5 trigram index finds Chinese words of three or more
    # characters anywhere in a title or text (shorter queries use LIKE, edge_agent/disclosures.py).
    db.execute("CREATE TABLE disclosures (id TEXT PRIMARY KEY, category TEXT NOT NULL, title TEXT NOT NULL, "
               "effective_date TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, table_json TEXT NOT NULL, "
               "images_json TEXT NOT NULL, seq INTEGER NOT NULL)")
    db.execute("CREATE INDEX disclosures_category ON disclosures (category, effective_date)")
    db.execute("CREATE TABLE disclosure_images (sha256 TEXT PRIMARY KEY, mime TEXT NOT NULL, data BLOB NOT NULL)")
    db.execute("CREATE VIRTUAL TABLE disclosures_fts USING fts5(id UNINDEXED, title, body, tokenize = 'trigram')")


@migrations()
def create_payment_orders(db: sqlite_utils.Database) -> None:
    # The hall's copy of the payment orders its kiosks started (the centre holds the money's
    # truth): which kiosk and printer, the room and the lines for the receipt, the centre's
    # last word, and the receipt's print job, so a payment that lands after the resident
    # left can be printed at the counter, and a second print is marked a reprint.
    db.execute(
        """CREATE TABLE payment_orders (
            order_id TEXT PRIMARY KEY,
            out_trade_no TEXT NOT NULL,
            kiosk TEXT NOT NULL,
            printer TEXT,
            room TEXT NOT NULL,
            amount_fen INTEGER NOT NULL,
            lines_json TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            paid_at REAL,
            receipt_job TEXT,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX payment_orders_created ON payment_orders (created_at)")


@migrations()
def create_aed(db: sqlite_utils.Database) -> None:
    # The AED cabinet (edge_agent/aed.py): its last known state as key/value (door, the
    # self-test and its time, the battery and pad expiry dates staff entered), and each use:
    # when the door opened and closed, and the checklist that made the AED ready again.
    db["aed_state"].create({"key": str, "value": str}, pk="key")
    db.execute(
        """CREATE TABLE aed_uses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            opened_at REAL NOT NULL,
            closed_at REAL,
            checked_at REAL,
            checked_by TEXT,
            pads_replaced INTEGER NOT NULL DEFAULT 0,
            rearmed INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL
        )"""
    )


@migrations()
def create_alarm_log(db: sqlite_utils.Database) -> None:
    # Every raise, change, acknowledgement (with who) and clear of every alarm, for the
    # console's history; the alarms table keeps only each alarm's current state.
    db.execute("CREATE TABLE alarm_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm TEXT NOT NULL, event TEXT NOT NULL, "
               "severity TEXT NOT NULL, text TEXT NOT NULL, who TEXT, ts REAL NOT NULL)")


@migrations()
def create_environment(db: sqlite_utils.Database) -> None:
    # Environment readings (seed 000 clause 4.6.3, edge_agent/environment.py). Raw readings
    # are clustered by series and time (WITHOUT ROWID: the primary key is the only b-tree,
    # so an insert writes one index, not two, and a chart reads one contiguous range); after
    # ``keep_raw_days`` they become per-bucket average, minimum, maximum and count.
    db.execute(
        """CREATE TABLE env_readings (
            node TEXT NOT NULL,
            reading TEXT NOT NULL,
            ts REAL NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (node, reading, ts)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE env_buckets (
            node TEXT NOT NULL,
            reading TEXT NOT NULL,
            bucket REAL NOT NULL,
            avg REAL NOT NULL,
            min REAL NOT NULL,
            max REAL NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (node, reading, bucket)
        ) WITHOUT ROWID"""
    )


@migrations()
def create_first_aid(db: sqlite_utils.Database) -> None:
    # The first-aid and convenience boxes (seed 000 clauses 4.4.5, 4.4.6; edge_agent/first_aid.py).
    # One item is one batch of one thing in one box; a removed item keeps its row (and its
    # history in first_aid_events) for the record. The CHECK repeats the clause's rule: a
    # medicine is in a box only with an OTC mark.
    db.execute(
        """CREATE TABLE first_aid_items (
            id TEXT PRIMARY KEY,
            box TEXT NOT NULL,
            name TEXT NOT NULL CHECK (name <> ''),
            kind TEXT NOT NULL CHECK (kind IN ('medicine', 'supply')),
            marking TEXT CHECK ((kind = 'medicine' AND marking IN ('otc_a', 'otc_b'))
                                OR (kind = 'supply' AND marking IS NULL)),
            quantity INTEGER NOT NULL CHECK (quantity >= 0),
            unit TEXT NOT NULL,
            batch TEXT NOT NULL DEFAULT '',
            expiry TEXT CHECK (expiry IS NOT NULL OR kind = 'supply'),
            added_by TEXT NOT NULL,
            added_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            removed_at REAL,
            removed_by TEXT,
            removed_reason TEXT
        )"""
    )
    db.execute("CREATE INDEX first_aid_items_box ON first_aid_items (box, removed_at, expiry)")
    db.execute(
        """CREATE TABLE first_aid_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            item TEXT NOT NULL REFERENCES first_aid_items(id),
            box TEXT NOT NULL,
            ts REAL NOT NULL,
            event TEXT NOT NULL,
            who TEXT NOT NULL,
            change INTEGER NOT NULL,
            quantity INTEGER NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX first_aid_events_box ON first_aid_events (box, seq)")
    db.execute(
        """CREATE TABLE first_aid_inspections (
            id TEXT PRIMARY KEY,
            box TEXT NOT NULL,
            at REAL NOT NULL,
            who TEXT NOT NULL,
            found TEXT NOT NULL,
            done TEXT NOT NULL DEFAULT '',
            items INTEGER NOT NULL,
            expiring INTEGER NOT NULL,
            expired INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX first_aid_inspections_box ON first_aid_inspections (box, at)")


@migrations()
def add_privacy(db: sqlite_utils.Database) -> None:
    # Retention and residents' deletion requests (edge_agent/retention.py): when a request's
    # personal data was erased and why ('retention' or 'request'); the hall's own audit log of
    # erasures and exports; one row per day the retention job ran. The index finds each
    # request's last step without reading every event.
    db.execute("ALTER TABLE complaints ADD COLUMN erased_at REAL")
    db.execute("ALTER TABLE complaints ADD COLUMN erased_why TEXT")
    db.execute("CREATE INDEX complaint_events_complaint ON complaint_events (complaint, ts)")
    db.execute("CREATE TABLE audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, who TEXT NOT NULL, "
               "action TEXT NOT NULL, detail TEXT NOT NULL)")
    db.execute("CREATE TABLE retention_runs (day TEXT PRIMARY KEY, ts REAL NOT NULL)")


@migrations()
def create_shifts(db: sqlite_utils.Database) -> None:
    # Shifts at the front desk and their handover sheets (edge_agent/handover.py): who opened
    # the shift and who was on it, the sheet frozen as JSON when it closed, who of the next
    # shift acknowledged it and when, and the sheet's print job. The partial unique index
    # keeps one shift open at a time; the CHECKs say a sheet exists only once closed and is
    # acknowledged only after that.
    db.execute(
        """CREATE TABLE shifts (
            id TEXT PRIMARY KEY,
            label TEXT NOT NULL CHECK (label <> ''),
            staff TEXT NOT NULL CHECK (staff <> '[]'),
            opened_at REAL NOT NULL,
            opened_by TEXT NOT NULL,
            closed_at REAL,
            closed_by TEXT,
            sheet TEXT CHECK ((sheet IS NULL) = (closed_at IS NULL)),
            acked_at REAL CHECK (acked_at IS NULL OR closed_at IS NOT NULL),
            acked_by TEXT,
            acked_user TEXT,
            acked_shift TEXT,
            print_job TEXT
        )"""
    )
    db.execute("CREATE UNIQUE INDEX shifts_one_open ON shifts (closed_at IS NULL) WHERE closed_at IS NULL")
    db.execute("CREATE INDEX shifts_opened ON shifts (opened_at)")


@migrations()
def add_complaint_channels(db: sqlite_utils.Database) -> None:
    # Requests staff take at the console (issue 17): ``channel`` now says how a request came
    # (kiosk, phone, walk_in, wechat, sms) and ``taken_by`` who took it (the kiosk's node id,
    # or the staff member); until now ``channel`` held the kiosk's id, and every request came
    # from a kiosk. ``occurred_at``: when it happened (seed 002 一.2), unknown for the old ones.
    db.execute("ALTER TABLE complaints ADD COLUMN taken_by TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE complaints ADD COLUMN occurred_at REAL")
    db.execute("UPDATE complaints SET taken_by = channel, channel = 'kiosk'")


@migrations()
def create_registers(db: sqlite_utils.Database) -> None:
    # The front desk's registers (edge_agent/registers/): one entry per renovation, key lent,
    # parcel, found item or goods release, its form's values as JSON split into what is not
    # personal (``details``) and what is (``person``, emptied by retention), and its steps.
    # ``form_id`` makes a form sent twice one entry or step; the partial unique indexes say
    # that a closing step is taken once and that a pickup code belongs to one waiting parcel.
    # ``register_contacts`` holds the (room, phone) pairs a resident's access request finds.
    db.execute(
        """CREATE TABLE register_entries (
            id TEXT PRIMARY KEY,
            register TEXT NOT NULL,
            serial TEXT NOT NULL UNIQUE,
            form_id TEXT UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            room TEXT NOT NULL DEFAULT '',
            code TEXT,
            details TEXT NOT NULL,
            person TEXT NOT NULL,
            opened_at REAL NOT NULL,
            opened_by TEXT NOT NULL,
            due_at REAL,
            touched_at REAL NOT NULL,
            closed_at REAL,
            closed_by TEXT,
            closed_step TEXT,
            slip_job TEXT,
            erased_at REAL,
            erased_why TEXT
        )"""
    )
    db.execute("CREATE INDEX register_entries_list ON register_entries (register, status, opened_at)")
    db.execute("CREATE INDEX register_entries_touched ON register_entries (erased_at, touched_at)")
    db.execute("CREATE UNIQUE INDEX register_entries_code ON register_entries (code) WHERE status = 'open' AND code IS NOT NULL")
    db.execute(
        """CREATE TABLE register_steps (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            entry TEXT NOT NULL REFERENCES register_entries(id),
            step TEXT NOT NULL,
            ts REAL NOT NULL,
            who TEXT NOT NULL,
            details TEXT NOT NULL,
            person TEXT NOT NULL,
            closes INTEGER NOT NULL DEFAULT 0,
            form_id TEXT UNIQUE
        )"""
    )
    db.execute("CREATE INDEX register_steps_entry ON register_steps (entry, seq)")
    db.execute("CREATE UNIQUE INDEX register_steps_closing ON register_steps (entry) WHERE closes = 1")
    db.execute("CREATE TABLE register_contacts (room TEXT NOT NULL, phone TEXT NOT NULL, "
               "entry TEXT NOT NULL REFERENCES register_entries(id), PRIMARY KEY (room, phone, entry))")
    db.execute("CREATE TABLE register_photos (entry TEXT PRIMARY KEY REFERENCES register_entries(id), "
               "mime TEXT NOT NULL, data BLOB NOT NULL)")
    db.execute("CREATE TABLE register_numbers (register TEXT NOT NULL, day TEXT NOT NULL, last INTEGER NOT NULL, "
               "PRIMARY KEY (register, day))")


@migrations()
def add_payment_pairs(db: sqlite_utils.Database) -> None:
    # One bill, two wallets: a kiosk's payment is a first order and a second code in the other
    # wallet (pair_of names the first); the kiosk knows only the first's id. ``refund_*``: the
    # centre's word on a second payment it gives back (paid twice).
    for column in ("provider TEXT", "pair_of TEXT", "refund_status TEXT", "refund_fen INTEGER"):
        db.execute(f"ALTER TABLE payment_orders ADD COLUMN {column}")
    db.execute("CREATE INDEX payment_orders_pair ON payment_orders (pair_of)")


@migrations()
def create_payment_refunds(db: sqlite_utils.Database) -> None:
    # The hall's copy of the refunds the centre made of its payments (a person's from the
    # centre's console, or the automatic one of a bill paid twice), learned from the centre
    # (refund_slips.py): what the counter shows a resident who asks, and the refund slip's
    # print job. The centre holds the money's truth; this is refreshed from it.
    db.execute(
        """CREATE TABLE payment_refunds (
            id TEXT PRIMARY KEY,
            order_id TEXT NOT NULL,
            out_refund_no TEXT NOT NULL,
            out_trade_no TEXT NOT NULL,
            provider TEXT NOT NULL,
            room TEXT NOT NULL,
            amount_fen INTEGER NOT NULL,
            order_fen INTEGER NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL,
            automatic INTEGER NOT NULL,
            requested_at REAL NOT NULL,
            confirmed_at REAL,
            paid_at REAL,
            lines_json TEXT NOT NULL,
            slip_job TEXT,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX payment_refunds_requested ON payment_refunds (requested_at)")
