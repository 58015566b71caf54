"""The hall broker's logins, kept from the centre's roster (enrolment, docs/install-pi.md).

The centre keeps which devices are enrolled in the hall and the hash of each one's broker
password (``GET /api/v1/sync/roster``). On start and every ``[roster] every_s`` this
component fetches that roster and, when it changed, rewrites the broker's password file
whole (the roster, plus ``local_file``'s logins for the hall's own tools that are not
enrolled) atomically, then tells mosquitto to read it again: SIGHUP to the pid in
``pid_file``, or, on a Pi where the edge may not signal mosquitto, the path unit
``mosquitto-hall-passwd.path`` does on the file's change. mosquitto then refuses a retired
device's login and disconnects it if it is connected.

With the centre unreachable the file stays as it is: the hall keeps working offline
(DESIGN rule 4); a roster the centre answers with nothing valid in it is not applied.
"""

from __future__ import annotations

import logging
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from central_sync.protocol import Roster
from hall_common import passwd
from hall_common.bus import contract
from hall_common.config import EdgeConfig, RosterConfig
from hall_common.private_files import write_private

from .component import Component

log = logging.getLogger(__name__)


class BrokerRoster(Component):
    """Keeps ``[roster] password_file`` equal to the centre's roster and ``local_file``.

    Example::

        roster = BrokerRoster(config.roster, url=config.centre.url, token=config.centre.token)
        roster.refresh()   # True if the file changed (and mosquitto was told)
    """

    name = "roster"

    def __init__(self, config: RosterConfig, *, url: str, token, hall_id: str, timeout: float = 5.0,
                 on_retired: Callable[[set[str]], None] = lambda nodes: None) -> None:
        self.config, self.url, self.token, self.hall_id, self.timeout = config, url.rstrip("/"), token, hall_id, timeout
        self.applied: dict[str, str] | None = None
        # Told which logins the roster took away: a node the broker now refuses is retired,
        # not "ready" as its last retained state would still say (its Last Will may not come).
        self.on_retired = on_retired
        self.every(config.every_s, self.refresh, name="roster", first_now=True)

    @classmethod
    def for_config(cls, config: EdgeConfig, *,
                   on_retired: Callable[[set[str]], None] = lambda nodes: None) -> "BrokerRoster | None":
        """The component, if the edge keeps the broker's logins and has a centre token."""
        if config.roster is None or config.centre is None or config.centre.token_file is None:
            return None
        return cls(config.roster, url=config.centre.url, token=config.centre.token, hall_id=config.hall_id,
                   timeout=config.centre.timeout, on_retired=on_retired)

    def fetch(self) -> Roster | None:
        """The centre's roster of this hall, or None (logged) when it cannot be had."""
        request = urllib.request.Request(self.url + "/api/v1/sync/roster", headers={"Authorization": f"Bearer {self.token()}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                roster = Roster.model_validate_json(answer.read())
        except urllib.error.HTTPError as exc:
            log.warning("the centre refused the roster (%s): the broker's logins stay as they are", exc.code)
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("roster not fetched (%s): the broker's logins stay as they are", exc)
            return None
        if roster.hall_id != self.hall_id:
            log.error("the centre sent the roster of hall %s, not %s: not applied", roster.hall_id, self.hall_id)
            return None
        return roster

    def wanted(self, roster: Roster) -> dict[str, str]:
        """The password file's logins: the local ones, then the roster's (which win)."""
        local: dict[str, str] = {}
        if self.config.local_file is not None:
            try:
                local = passwd.parse(self.config.local_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                pass
        enrolled = {r.user: r.hash for r in roster.logins if passwd.valid_hash(r.hash)}
        return {**local, **enrolled}

    def refresh(self) -> bool:
        """Fetch and apply; True if the password file changed."""
        roster = self.fetch()
        if roster is None:
            return False
        users = self.wanted(roster)
        if contract.EDGE_NODE not in users:
            # The edge's own login gone means the edge was retired (or a bad answer): writing
            # the file would lock the hall's own writer out of its broker.
            log.error("the roster has no login for the edge: not applied")
            return False
        text = passwd.render(users)
        try:
            current = self.config.password_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        self.applied = users
        if current == text:
            return False
        removed = set(passwd.parse(current)) - set(users)
        write_private(self.config.password_file, text.encode())
        if self.config.password_file.parent.stat().st_mode & 0o2000:  # a setgid folder: mosquitto's group reads
            self.config.password_file.chmod(0o640)
        log.info("broker logins rewritten from the centre's roster: %s", ", ".join(sorted(users)))
        self._reload()
        if removed:
            self.on_retired(removed)
        return True

    def _reload(self) -> None:
        if self.config.pid_file is None:
            return  # mosquitto-hall-passwd.path reloads the broker (docs/install-pi.md)
        try:
            pid = int(Path(self.config.pid_file).read_text(encoding="utf-8").split()[0])
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError, IndexError) as exc:
            log.error("broker not told to reload its logins (pid file %s): %s", self.config.pid_file, exc)
