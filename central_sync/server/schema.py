"""The central database's schema, for SQLite and PostgreSQL, as ordered migrations."""

from __future__ import annotations

from central_sync.store import Migration

MIGRATIONS: list[Migration] = [
    Migration(
        "001_users_halls",
        [
            "CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE halls (hall_id TEXT PRIMARY KEY, name TEXT NOT NULL, registered_at DOUBLE PRECISION NOT NULL, last_sync DOUBLE PRECISION)",
        ],
    ),
    Migration(
        "002_node_credentials",
        [
            "CREATE TABLE node_credentials (hall_id TEXT NOT NULL REFERENCES halls(hall_id), node_id TEXT NOT NULL, "
            "token_hash TEXT NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL, revoked_at DOUBLE PRECISION, "
            "PRIMARY KEY (hall_id, node_id))",
        ],
    ),
    Migration(
        "003_records",
        [
            # The ledger of everything halls sent, applied exactly once by its UUID. received_at is
            # the centre's clock, beside the node's own ts: clocks drift.
            "CREATE TABLE records (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL REFERENCES halls(hall_id), node_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, node_ts DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)",
            "CREATE INDEX records_hall_kind ON records (hall_id, kind, received_at)",
        ],
        [
            "CREATE TABLE records (id UUID PRIMARY KEY, hall_id TEXT NOT NULL REFERENCES halls(hall_id), node_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, node_ts DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL, body JSONB NOT NULL)",
            "CREATE INDEX records_hall_kind ON records (hall_id, kind, received_at)",
        ],
    ),
    Migration(
        "004_audit_log",
        [
            "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, ts DOUBLE PRECISION NOT NULL, username TEXT NOT NULL, "
            "action TEXT NOT NULL, detail TEXT NOT NULL)",
        ],
        [
            "CREATE TABLE audit_log (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, username TEXT NOT NULL, "
            "action TEXT NOT NULL, detail TEXT NOT NULL)",
        ],
    ),
    Migration(
        "005_config_push",
        [
            "CREATE TABLE configs (version INTEGER PRIMARY KEY, body TEXT NOT NULL, note TEXT NOT NULL, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE config_assignments (seq INTEGER PRIMARY KEY AUTOINCREMENT, hall_id TEXT NOT NULL, node_id TEXT NOT NULL, "
            "version INTEGER NOT NULL, doc TEXT NOT NULL, published_by TEXT NOT NULL, published_at DOUBLE PRECISION NOT NULL, "
            "UNIQUE (hall_id, node_id, version))",
            "CREATE TABLE config_reports (hall_id TEXT NOT NULL, node_id TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL, "
            "reason TEXT NOT NULL, node_ts DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall_id, node_id))",
            "CREATE TABLE hall_nodes (hall_id TEXT NOT NULL, node_id TEXT NOT NULL, kind TEXT NOT NULL, sw TEXT NOT NULL, "
            "config_version INTEGER, node_ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall_id, node_id))",
        ],
        [
            "CREATE TABLE configs (version BIGINT PRIMARY KEY, body JSONB NOT NULL, note TEXT NOT NULL, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE config_assignments (seq BIGSERIAL PRIMARY KEY, hall_id TEXT NOT NULL, node_id TEXT NOT NULL, "
            "version BIGINT NOT NULL, doc JSONB NOT NULL, published_by TEXT NOT NULL, published_at DOUBLE PRECISION NOT NULL, "
            "UNIQUE (hall_id, node_id, version))",
            "CREATE TABLE config_reports (hall_id TEXT NOT NULL, node_id TEXT NOT NULL, version BIGINT NOT NULL, status TEXT NOT NULL, "
            "reason TEXT NOT NULL, node_ts DOUBLE PRECISION NOT NULL, received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall_id, node_id))",
            "CREATE TABLE hall_nodes (hall_id TEXT NOT NULL, node_id TEXT NOT NULL, kind TEXT NOT NULL, sw TEXT NOT NULL, "
            "config_version BIGINT, node_ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall_id, node_id))",
        ],
    ),
    Migration(
        "006_content",
        [
            # Public content for halls (announcements now; disclosures next), as a log: a hall
            # pulls what came after its cursor. hall_id '*' is for every hall.
            "CREATE TABLE content (seq INTEGER PRIMARY KEY AUTOINCREMENT, hall_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "key TEXT NOT NULL, body TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, published_by TEXT NOT NULL, "
            "published_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX content_hall ON content (hall_id, seq)",
        ],
        [
            "CREATE TABLE content (seq BIGSERIAL PRIMARY KEY, hall_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "key TEXT NOT NULL, body JSONB NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE, published_by TEXT NOT NULL, "
            "published_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX content_hall ON content (hall_id, seq)",
        ],
    ),
    Migration(
        "007_complaints",
        [
            # Residents' requests projected from the ledger at ingest (complaint_projection.py):
            # one row per request (a stub until its own record arrives), one per step or rating.
            # Names and phones are stored masked only. The same SQL serves both databases.
            "CREATE TABLE complaints (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, tracking_no TEXT NOT NULL, "
            "kind TEXT, category TEXT, place TEXT, content TEXT, wanted TEXT, room TEXT, name_masked TEXT, phone_masked TEXT, "
            "channel TEXT, grade TEXT, submitted_grade TEXT, emergency TEXT, is_repeat INTEGER, "
            "received_at DOUBLE PRECISION, feedback_due DOUBLE PRECISION, accept_by DOUBLE PRECISION, month TEXT, "
            "status TEXT, status_ts DOUBLE PRECISION, accepted_at DOUBLE PRECISION, receiver TEXT, responded_at DOUBLE PRECISION, "
            "escalated INTEGER NOT NULL DEFAULT 0, rating TEXT, rating_comment TEXT, rated_at DOUBLE PRECISION, "
            "reopened INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX complaints_received ON complaints (received_at)",
            "CREATE INDEX complaints_hall_month ON complaints (hall_id, month)",
            "CREATE INDEX complaints_tracking ON complaints (tracking_no)",
            "CREATE TABLE complaint_events (id TEXT PRIMARY KEY, complaint_id TEXT NOT NULL, hall_id TEXT NOT NULL, "
            "ts DOUBLE PRECISION NOT NULL, action TEXT NOT NULL, status TEXT, who TEXT, note TEXT, rating TEXT)",
            "CREATE INDEX complaint_events_complaint ON complaint_events (complaint_id, ts)",
        ],
    ),
    Migration(
        "009_residents_bills",
        [
            # Households and their bill lines (residents.py), and wrong room/last-4 attempts
            # (rate limited per caller credential and per room). amount_fen: integer fen, never floats.
            "CREATE TABLE households (hall_id TEXT NOT NULL, room TEXT NOT NULL, building TEXT NOT NULL, unit TEXT NOT NULL, "
            "owner_name TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (hall_id, room))",
            "CREATE TABLE bill_lines (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, room TEXT NOT NULL, item TEXT NOT NULL, "
            "period TEXT NOT NULL, amount_fen INTEGER NOT NULL, standard TEXT NOT NULL, basis TEXT NOT NULL, "
            "due_date TEXT NOT NULL, status TEXT NOT NULL, paid_at TEXT)",
            "CREATE INDEX bill_lines_room ON bill_lines (hall_id, room, status)",
            "CREATE TABLE resident_failures (key TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX resident_failures_key ON resident_failures (key, ts)",
        ],
        [
            "CREATE TABLE households (hall_id TEXT NOT NULL, room TEXT NOT NULL, building TEXT NOT NULL, unit TEXT NOT NULL, "
            "owner_name TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (hall_id, room))",
            "CREATE TABLE bill_lines (id UUID PRIMARY KEY, hall_id TEXT NOT NULL, room TEXT NOT NULL, item TEXT NOT NULL, "
            "period TEXT NOT NULL, amount_fen BIGINT NOT NULL, standard TEXT NOT NULL, basis TEXT NOT NULL, "
            "due_date DATE NOT NULL, status TEXT NOT NULL CHECK (status IN ('unpaid', 'paid')), paid_at DATE)",
            "CREATE INDEX bill_lines_room ON bill_lines (hall_id, room, status)",
            "CREATE TABLE resident_failures (key TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX resident_failures_key ON resident_failures (key, ts)",
        ],
    ),
    Migration(
        "010_payments",
        [
            # Payment orders (payments/orders.py): one row per attempt, its out_trade_no unique.
            # A bill line is locked to one live order by bill_lines.order_id (a conditional
            # update), and settled once, in the transaction that marks its order paid.
            "CREATE TABLE payment_orders (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, room TEXT NOT NULL, kiosk TEXT NOT NULL, "
            "provider TEXT NOT NULL, out_trade_no TEXT NOT NULL UNIQUE, amount_fen INTEGER NOT NULL, status TEXT NOT NULL, "
            "code_url TEXT, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, "
            "paid_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, transaction_id TEXT)",
            "CREATE INDEX payment_orders_live ON payment_orders (status, expires_at)",
            "CREATE TABLE payment_order_lines (order_id TEXT NOT NULL, line_id TEXT NOT NULL, amount_fen INTEGER NOT NULL, "
            "PRIMARY KEY (order_id, line_id))",
            "CREATE TABLE payment_events (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, "
            "kind TEXT NOT NULL, detail TEXT NOT NULL)",
            "CREATE INDEX payment_events_order ON payment_events (order_id, ts)",
            "ALTER TABLE bill_lines ADD COLUMN order_id TEXT",
        ],
        [
            "CREATE TABLE payment_orders (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, room TEXT NOT NULL, kiosk TEXT NOT NULL, "
            "provider TEXT NOT NULL, out_trade_no TEXT NOT NULL UNIQUE, amount_fen BIGINT NOT NULL CHECK (amount_fen > 0), "
            "status TEXT NOT NULL CHECK (status IN ('created', 'expired_unclosed', 'paid', 'paid_conflict', 'closed', 'failed')), "
            "code_url TEXT, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, "
            "paid_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, transaction_id TEXT)",
            "CREATE INDEX payment_orders_live ON payment_orders (status, expires_at)",
            "CREATE TABLE payment_order_lines (order_id TEXT NOT NULL REFERENCES payment_orders(id), line_id UUID NOT NULL, "
            "amount_fen BIGINT NOT NULL, PRIMARY KEY (order_id, line_id))",
            "CREATE TABLE payment_events (id BIGSERIAL PRIMARY KEY, order_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, "
            "kind TEXT NOT NULL, detail TEXT NOT NULL)",
            "CREATE INDEX payment_events_order ON payment_events (order_id, ts)",
            "ALTER TABLE bill_lines ADD COLUMN order_id TEXT REFERENCES payment_orders(id)",
        ],
    ),
    Migration(
        "011_privacy",
        [
            # Retention and residents' erasure requests (retention.py): when and why a request's
            # personal data was erased; one row per day the retention job ran (several
            # workers may look; the first to insert the day runs it). The ledger's index by hall
            # and kind now ends in the hall's time, which retention searches by (nothing
            # searched by the time received).
            "ALTER TABLE complaints ADD COLUMN erased_at DOUBLE PRECISION",
            "ALTER TABLE complaints ADD COLUMN erased_why TEXT",
            "CREATE TABLE retention_runs (day TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL)",
            "DROP INDEX records_hall_kind",
            "CREATE INDEX records_hall_kind_time ON records (hall_id, kind, node_ts)",
        ],
    ),
    Migration(
        "012_console_sessions",
        [
            # Admin console logins (hall_common/sessions.py): the SHA-256 of each session id
            # in the browser's cookie, so logging out ends the session for every copy of it.
            "CREATE TABLE console_sessions (key TEXT PRIMARY KEY, username TEXT NOT NULL, role TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL, seen_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX console_sessions_username ON console_sessions (username)",
        ],
    ),
    Migration(
        "013_complaint_channels",
        [
            # How each request came (complaint_projection.py): ``channel`` is now kiosk, phone,
            # walk_in, wechat or sms, and ``taken_by`` the kiosk or staff member who took it;
            # until now halls sent the kiosk's id as the channel, and every request came from a
            # kiosk. ``occurred_at``: when it happened (seed 002 一.2).
            "ALTER TABLE complaints ADD COLUMN taken_by TEXT",
            "ALTER TABLE complaints ADD COLUMN occurred_at DOUBLE PRECISION",
            "UPDATE complaints SET taken_by = channel, channel = 'kiosk' "
            "WHERE channel IS NOT NULL AND channel NOT IN ('kiosk', 'phone', 'walk_in', 'wechat', 'sms')",
            "CREATE INDEX complaints_channel ON complaints (channel, month)",
        ],
    ),
    Migration(
        "014_registers",
        [
            # The front desk's registers projected from the ledger (register_projection.py):
            # no personal data, only what counting and retention need. ``touched_at`` is an
            # entry's last change by the hall's clock; retention empties the ledger's copies of
            # an entry's personal data ``keep_years`` after it.
            "CREATE TABLE register_entries (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, register TEXT NOT NULL, "
            "serial TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'open', opened_at DOUBLE PRECISION, "
            "due_at DOUBLE PRECISION, touched_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, erased_at DOUBLE PRECISION, "
            "erased_why TEXT)",
            "CREATE INDEX register_entries_hall ON register_entries (hall_id, register, status)",
            "CREATE INDEX register_entries_touched ON register_entries (erased_at, touched_at)",
            "CREATE TABLE register_steps (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, entry_id TEXT NOT NULL, "
            "step TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, closes INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX register_steps_entry ON register_steps (entry_id)",
        ],
    ),
    Migration(
        "015_user_halls",
        [
            # Which halls a hall manager may see and configure (access.py); admins and
            # auditors see every hall and have no rows here.
            "CREATE TABLE user_halls (username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE, "
            "hall_id TEXT NOT NULL, PRIMARY KEY (username, hall_id))",
        ],
    ),
    Migration(
        "016_roles",
        [
            # The centre's roles (access.py): each audit line says which hall it was about
            # (NULL: company-wide, such as users), so a hall manager reads only their halls'
            # lines; an account can be disabled without losing who did what. Roles of the
            # edge's console (viewer, staff) given at the centre before it had its own
            # become auditor, read only, which is what they could do here.
            "ALTER TABLE audit_log ADD COLUMN hall_id TEXT",
            "CREATE INDEX audit_log_hall ON audit_log (hall_id, id)",
            "ALTER TABLE users ADD COLUMN disabled_at DOUBLE PRECISION",
            "UPDATE users SET role = 'auditor' WHERE role IN ('viewer', 'staff')",
            "UPDATE console_sessions SET role = 'auditor' WHERE role IN ('viewer', 'staff')",
        ],
    ),
    Migration(
        "017_rollouts",
        [
            # Which part a configuration version is for (kiosk, edge or board settings): one
            # sequence of versions for all, so every node sees its versions grow.
            "ALTER TABLE configs ADD COLUMN target TEXT NOT NULL DEFAULT 'kiosk'",
            # Staged rollouts (rollout_gate.py): the stages as JSON, the current one, its gate;
            # a halted rollout names the node and the reason. Judged from the tables alone (whether
            # a node is online from the fleet's, 018_fleet), so any worker can judge, continue or abort.
            "CREATE TABLE rollouts (id INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL, target TEXT NOT NULL, "
            "halls TEXT NOT NULL, stages TEXT NOT NULL, gate_minutes DOUBLE PRECISION NOT NULL, "
            "auto_continue INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, stage INTEGER NOT NULL, "
            "stage_started_at DOUBLE PRECISION, halted_hall TEXT, halted_node TEXT, halted_reason TEXT, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX rollouts_status ON rollouts (status)",
            "CREATE TABLE rollout_nodes (rollout_id INTEGER NOT NULL REFERENCES rollouts(id), stage INTEGER NOT NULL, "
            "hall_id TEXT NOT NULL, node_id TEXT NOT NULL, published_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (rollout_id, hall_id, node_id))",
        ],
        [
            "ALTER TABLE configs ADD COLUMN target TEXT NOT NULL DEFAULT 'kiosk'",
            "CREATE TABLE rollouts (id BIGSERIAL PRIMARY KEY, version BIGINT NOT NULL, target TEXT NOT NULL, "
            "halls TEXT NOT NULL, stages TEXT NOT NULL, gate_minutes DOUBLE PRECISION NOT NULL, "
            "auto_continue INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, stage INTEGER NOT NULL, "
            "stage_started_at DOUBLE PRECISION, halted_hall TEXT, halted_node TEXT, halted_reason TEXT, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX rollouts_status ON rollouts (status)",
            "CREATE TABLE rollout_nodes (rollout_id BIGINT NOT NULL REFERENCES rollouts(id), stage INTEGER NOT NULL, "
            "hall_id TEXT NOT NULL, node_id TEXT NOT NULL, published_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (rollout_id, hall_id, node_id))",
        ],
    ),
    Migration(
        "018_fleet",
        [
            # The fleet view (fleet_projection.py): each hall's newest ``hall_status``, replaced
            # whole by the next one (node_ts is the hall's clock, so a late one cannot undo a
            # newer one). Booleans as 0/1 in both databases. ``region`` groups halls for the
            # view's filter; an admin sets it.
            "ALTER TABLE halls ADD COLUMN region TEXT NOT NULL DEFAULT ''",
            "CREATE TABLE fleet_halls (hall_id TEXT PRIMARY KEY, node_ts DOUBLE PRECISION NOT NULL, "
            "received_at DOUBLE PRECISION NOT NULL, sw TEXT NOT NULL, config_version BIGINT, heartbeat_s DOUBLE PRECISION NOT NULL, "
            "backlog INTEGER NOT NULL, backlog_age DOUBLE PRECISION, alarms_total INTEGER NOT NULL)",
            "CREATE TABLE fleet_nodes (hall_id TEXT NOT NULL, node_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL, "
            "online INTEGER NOT NULL, last_seen DOUBLE PRECISION, sw TEXT, config_version BIGINT, "
            "PRIMARY KEY (hall_id, node_id))",
            "CREATE TABLE hall_alarms (hall_id TEXT NOT NULL, alarm_id TEXT NOT NULL, severity TEXT NOT NULL, "
            "rank INTEGER NOT NULL, state TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL, "
            "raised_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall_id, alarm_id))",
            "CREATE INDEX hall_alarms_rank ON hall_alarms (rank, raised_at)",
            "CREATE TABLE fleet_printers (hall_id TEXT NOT NULL, printer_id TEXT NOT NULL, online INTEGER NOT NULL, "
            "paper TEXT, can_print INTEGER NOT NULL, PRIMARY KEY (hall_id, printer_id))",
        ],
    ),
    Migration(
        "019_reports",
        [
            # What the monthly reports count (report_projection.py, reports.py), projected from
            # the ledger at ingest; no personal data: no names, no comments, no alarm texts.
            # Months and hours are China time, from the hall's own times in the bodies.
            "CREATE TABLE report_tickets (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, service TEXT NOT NULL, "
            "service_name TEXT, priority INTEGER NOT NULL DEFAULT 0, issued_at DOUBLE PRECISION NOT NULL, "
            "month TEXT NOT NULL, hour INTEGER NOT NULL, status TEXT, counter TEXT, called_at DOUBLE PRECISION, "
            "ended_at DOUBLE PRECISION, wait_s DOUBLE PRECISION, service_s DOUBLE PRECISION)",
            "CREATE INDEX report_tickets_month ON report_tickets (month, hall_id)",
            "CREATE TABLE report_ratings (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, month TEXT NOT NULL, service TEXT, "
            "counter TEXT, rating TEXT NOT NULL, rated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX report_ratings_month ON report_ratings (month, hall_id)",
            "CREATE TABLE report_alarms (hall_id TEXT NOT NULL, alarm_id TEXT NOT NULL, raised_at DOUBLE PRECISION NOT NULL, "
            "area TEXT NOT NULL, subject TEXT NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL, rank INTEGER NOT NULL, "
            "cleared_at DOUBLE PRECISION, PRIMARY KEY (hall_id, alarm_id, raised_at))",
            "CREATE INDEX report_alarms_area ON report_alarms (area, raised_at)",
            "CREATE TABLE report_aid_inspections (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, box TEXT NOT NULL, "
            "at DOUBLE PRECISION NOT NULL, month TEXT NOT NULL, items INTEGER NOT NULL, expiring INTEGER NOT NULL, "
            "expired INTEGER NOT NULL)",
            "CREATE INDEX report_aid_inspections_month ON report_aid_inspections (month, hall_id)",
            "CREATE TABLE report_aid_items (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, box TEXT NOT NULL, kind TEXT NOT NULL, "
            "expiry TEXT, removed_at DOUBLE PRECISION, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX report_aid_items_expiry ON report_aid_items (expiry)",
            "CREATE TABLE report_aed_checks (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "result TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, month TEXT NOT NULL, day TEXT NOT NULL)",
            "CREATE INDEX report_aed_checks_month ON report_aed_checks (month, hall_id)",
        ],
    ),
    Migration(
        "020_enrolment",
        [
            # Enrolled devices of each hall (enrolment.py) with the hash of their broker password
            # in mosquitto's format: the roster the hall's edge writes into its broker's password
            # file. One live device per name in a hall; a retired one stays for the record.
            # Join codes are kept as SHA-256 only, each used once; wrong codes are counted per
            # client address.
            "CREATE TABLE devices (id TEXT PRIMARY KEY, hall_id TEXT NOT NULL REFERENCES halls(hall_id), node_id TEXT NOT NULL, "
            "role TEXT NOT NULL, broker_hash TEXT, created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "enrolled_at DOUBLE PRECISION, retired_at DOUBLE PRECISION, retired_by TEXT)",
            "CREATE UNIQUE INDEX devices_live_name ON devices (hall_id, node_id) WHERE retired_at IS NULL",
            "CREATE TABLE join_codes (code_hash TEXT PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id), "
            "created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, used_at DOUBLE PRECISION, "
            "used_by TEXT)",
            "CREATE INDEX join_codes_device ON join_codes (device_id)",
            "CREATE TABLE enrol_failures (address TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX enrol_failures_address ON enrol_failures (address, ts)",
        ],
    ),
    Migration(
        "021_refunds",
        [
            # One bill, two wallets (payments/refunds.py): an order made beside another for the
            # same lines names it in pair_of (the lines stay locked to that first order); if both
            # get paid, the second is refunded through its provider, one row per refund here,
            # requested, then confirmed by the provider's answer or its refund notification.
            "ALTER TABLE payment_orders ADD COLUMN pair_of TEXT",
            "CREATE TABLE payment_refunds (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, provider TEXT NOT NULL, "
            "out_refund_no TEXT NOT NULL UNIQUE, amount_fen INTEGER NOT NULL, reason TEXT NOT NULL, status TEXT NOT NULL, "
            "refund_id TEXT, requested_at DOUBLE PRECISION NOT NULL, confirmed_at DOUBLE PRECISION)",
            "CREATE INDEX payment_refunds_order ON payment_refunds (order_id)",
            "CREATE INDEX payment_orders_pair ON payment_orders (pair_of)",
        ],
        [
            "ALTER TABLE payment_orders ADD COLUMN pair_of TEXT REFERENCES payment_orders(id)",
            "CREATE TABLE payment_refunds (id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES payment_orders(id), "
            "provider TEXT NOT NULL, out_refund_no TEXT NOT NULL UNIQUE, amount_fen BIGINT NOT NULL CHECK (amount_fen > 0), "
            "reason TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('requested', 'confirmed')), refund_id TEXT, "
            "requested_at DOUBLE PRECISION NOT NULL, confirmed_at DOUBLE PRECISION)",
            "CREATE INDEX payment_refunds_order ON payment_refunds (order_id)",
            "CREATE INDEX payment_orders_pair ON payment_orders (pair_of)",
        ],
    ),
    Migration(
        "022_reconciliation",
        [
            # Day-end reconciliation (reconciliation.py): one row per run of a day (China time);
            # auto_day is the day for the daily job's run and NULL for a person's, so the job
            # runs a day once however many workers look. Per provider and hall, what the bill
            # and the centre counted; each difference found, with the hall it concerns ('' when
            # the centre has no such order).
            "CREATE TABLE reconciliation_runs (id TEXT PRIMARY KEY, day TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL, "
            "finished_at DOUBLE PRECISION, started_by TEXT NOT NULL, status TEXT NOT NULL, error TEXT, "
            "differences INTEGER NOT NULL DEFAULT 0, auto_day TEXT UNIQUE)",
            "CREATE INDEX reconciliation_runs_day ON reconciliation_runs (day, started_at)",
            "CREATE TABLE reconciliation_totals (run_id TEXT NOT NULL REFERENCES reconciliation_runs(id), provider TEXT NOT NULL, "
            "hall_id TEXT NOT NULL, bill_count INTEGER NOT NULL, bill_fen BIGINT NOT NULL, centre_count INTEGER NOT NULL, "
            "centre_fen BIGINT NOT NULL, refund_count INTEGER NOT NULL, refund_fen BIGINT NOT NULL, "
            "PRIMARY KEY (run_id, provider, hall_id))",
            "CREATE TABLE reconciliation_differences (run_id TEXT NOT NULL REFERENCES reconciliation_runs(id), "
            "provider TEXT NOT NULL, out_trade_no TEXT NOT NULL, kind TEXT NOT NULL, hall_id TEXT NOT NULL, "
            "order_id TEXT, bill_fen BIGINT, centre_fen BIGINT, PRIMARY KEY (run_id, provider, out_trade_no))",
        ],
    ),
    Migration(
        "023_person_refunds",
        [
            # Refunds a person starts from the console (payments/person_refunds.py), beside the
            # automatic ones of 021: who asked (NULL: automatic), which bill lines a refund gives
            # back (reopened only when the refund is confirmed; a line is refunded once per
            # order: the primary key), the provider's last word, the failed attempts (asked
            # again with the same number, later each time); 'failed' when the provider closes
            # the refund. refunded_fen is what is asked back
            # and not failed, raised by a conditional update, so two people at once cannot
            # refund more than was paid. Reconciliation matches refunds one by one.
            "ALTER TABLE payment_refunds ADD COLUMN requested_by TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN notify_url TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN provider_status TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE payment_refunds ADD COLUMN error TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN failed_at DOUBLE PRECISION",
            "ALTER TABLE payment_refunds ADD COLUMN tried_at DOUBLE PRECISION",
            "CREATE INDEX payment_refunds_status ON payment_refunds (status, provider)",
            "ALTER TABLE payment_orders ADD COLUMN refunded_fen INTEGER NOT NULL DEFAULT 0",
            "UPDATE payment_orders SET refunded_fen = COALESCE((SELECT sum(r.amount_fen) FROM payment_refunds r "
            "WHERE r.order_id = payment_orders.id), 0)",
            "CREATE TABLE payment_refund_lines (order_id TEXT NOT NULL, line_id TEXT NOT NULL, refund_id TEXT NOT NULL, "
            "amount_fen INTEGER NOT NULL, PRIMARY KEY (order_id, line_id))",
            "CREATE INDEX payment_refund_lines_refund ON payment_refund_lines (refund_id)",
            "CREATE TABLE reconciliation_refund_differences (run_id TEXT NOT NULL REFERENCES reconciliation_runs(id), "
            "provider TEXT NOT NULL, out_refund_no TEXT NOT NULL, out_trade_no TEXT NOT NULL, kind TEXT NOT NULL, "
            "hall_id TEXT NOT NULL, refund_id TEXT, bill_fen BIGINT, centre_fen BIGINT, "
            "PRIMARY KEY (run_id, provider, out_refund_no))",
        ],
        [
            "ALTER TABLE payment_refunds ADD COLUMN requested_by TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN notify_url TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN provider_status TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE payment_refunds ADD COLUMN error TEXT",
            "ALTER TABLE payment_refunds ADD COLUMN failed_at DOUBLE PRECISION",
            "ALTER TABLE payment_refunds ADD COLUMN tried_at DOUBLE PRECISION",
            "ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_status_check",
            "ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_status_check "
            "CHECK (status IN ('requested', 'confirmed', 'failed'))",
            "CREATE INDEX payment_refunds_status ON payment_refunds (status, provider)",
            "ALTER TABLE payment_orders ADD COLUMN refunded_fen BIGINT NOT NULL DEFAULT 0",
            "UPDATE payment_orders SET refunded_fen = COALESCE((SELECT sum(r.amount_fen) FROM payment_refunds r "
            "WHERE r.order_id = payment_orders.id), 0)",
            "ALTER TABLE payment_orders ADD CONSTRAINT payment_orders_refund_cap "
            "CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen)",
            "CREATE TABLE payment_refund_lines (order_id TEXT NOT NULL REFERENCES payment_orders(id), line_id UUID NOT NULL, "
            "refund_id TEXT NOT NULL REFERENCES payment_refunds(id), amount_fen BIGINT NOT NULL, "
            "PRIMARY KEY (order_id, line_id))",
            "CREATE INDEX payment_refund_lines_refund ON payment_refund_lines (refund_id)",
            "CREATE TABLE reconciliation_refund_differences (run_id TEXT NOT NULL REFERENCES reconciliation_runs(id), "
            "provider TEXT NOT NULL, out_refund_no TEXT NOT NULL, out_trade_no TEXT NOT NULL, kind TEXT NOT NULL, "
            "hall_id TEXT NOT NULL, refund_id TEXT, bill_fen BIGINT, centre_fen BIGINT, "
            "PRIMARY KEY (run_id, provider, out_refund_no))",
        ],
    ),
]
