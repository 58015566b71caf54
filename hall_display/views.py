"""The board page, its event stream, and the audio it plays."""

from __future__ import annotations

import json
import logging
from typing import Iterator

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, stream_with_context

from hall_common.voice import VoiceError, chime_wav

bp = Blueprint("board", __name__)
log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
"""How often the stream speaks when nothing changed: the page learns within this time that
the edge (or the bus) went away, and a proxy never closes a silent connection."""


@bp.get("/")
def board():
    return render_template("board/board.html")


@bp.get("/events")
def events():
    """Server-sent events: ``state`` (everything the page draws) on every change and on a
    heartbeat, ``call`` for each call after the page's ``Last-Event-ID``."""
    board = current_app.extensions["board_state"]
    try:
        last = int(request.headers.get("Last-Event-ID") or request.args.get("after") or -1)
    except ValueError:
        last = -1
    if last < 0:
        last = board.last_seq  # a page that just opened does not replay earlier calls
    heartbeat_s = current_app.config["HEARTBEAT_S"]

    def stream() -> Iterator[str]:
        nonlocal last
        version = -1
        edge_up = None
        while True:
            current = board.wait(version, heartbeat_s)
            for heard in board.calls_after(last):
                last = heard.seq
                c = heard.call
                doc = {"id": c.id, "ticket": c.ticket, "counter": c.counter_name, "recall": c.recall,
                       "voice": [f"voice/{k}.wav" for k in heard.voice]}
                yield f"id: {last}\nevent: call\ndata: {json.dumps(doc)}\n\n"
            snap = board.snapshot()
            if current != version or snap["edge_up"] != edge_up:
                version, edge_up = current, snap["edge_up"]
                yield f"id: {last}\nevent: state\ndata: {json.dumps(snap, ensure_ascii=False)}\n\n"
            else:
                yield ": heartbeat\n\n"

    return Response(stream_with_context(stream()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@bp.get("/voice/<key>.wav")
def voice(key: str):
    v = current_app.extensions["board_state"].voice
    if v is None:
        abort(404)
    try:
        path = v.wav(key)
    except KeyError:
        abort(404)
    except VoiceError as exc:
        log.error("voice: %s", exc)
        abort(503)
    return send_file(path, mimetype="audio/wav", max_age=86400)


@bp.get("/chime.wav")
def chime():
    return send_file(chime_wav(current_app.config["VOICE_DIR"]), mimetype="audio/wav", max_age=86400)
