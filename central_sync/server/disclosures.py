"""信息公示 · Disclosures at the centre: publish, update and withdraw the items halls must show
(seed 000 clause 4.8, seed 003 section 六), for every hall or one. Items travel to halls in
the ``content`` log (see :mod:`.disclosure_doc`); a hall keeps them and shows them with the
centre unreachable. Every change goes to the audit log; a form with a mistake saves nothing
and says what to fix."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from hall_common.disclosure_categories import BY_ID, CATEGORIES

from . import access
from . import disclosure_doc as doc
from .configs import audit
from .db import get_store
from .disclosure_images import NotAPicture, pictures_from

bp = Blueprint("disclosures", __name__, url_prefix="/disclosures")
MAX_UPLOAD = 8 * 1024 * 1024
"""Bytes of one uploaded file (a photo, or a PDF of a few pages)."""


@bp.get("/")
@access.require("view")
def index():
    """The items of the user's halls and those for every hall; ``?edit=ID`` fills the form
    with an item the user may change."""
    store = get_store()
    edit = None
    if request.args.get("edit"):
        edit = doc.current(store, request.args["edit"])
        if edit is None:
            abort(404)
        access.check_target(edit["hall_id"])
        edit["table_text"] = "\n".join(" | ".join(r) for r in edit["body"].get("table", []))
    return render_template("admin/disclosures.html", items=_listing(store), categories=CATEGORIES, by_id=BY_ID,
                           halls=access.hall_rows(), edit=edit, form=request.args)


def _listing(store) -> list[dict]:
    return [r for r in doc.listing(store) if r["hall_id"] == "*" or access.may_see(r["hall_id"])]


@bp.post("/")
@access.require("configure")
def publish():
    """A new item or a new version of one, for one hall or (those who see every hall)
    every hall; an item moved from one hall to another is the user's in both."""
    store = get_store()
    form = {k: request.form.get(k, "") for k in ("category", "title", "effective_date", "body", "table")}
    hall = request.form.get("hall", "*").strip() or "*"
    item_id = request.form.get("id", "").strip() or None
    access.check_target(hall)
    if item_id is not None and (before := doc.current(store, item_id)) is not None:
        access.check_target(before["hall_id"])
    problems: list[str] = []
    body = None
    try:
        body = doc.check(form)
    except doc.DisclosureInvalid as exc:
        problems.extend(exc.problems)
    if hall != "*" and not store.scalar("SELECT count(*) FROM halls WHERE hall_id = ?", (hall,)):
        problems.append("没有这个服务中心 · No such hall")
    if item_id is not None and doc.current(store, item_id) is None:
        problems.append("没有这条公示 · No such item")
    images = _pictures(problems)
    if problems or body is None:
        for p in problems:
            flash(p)
        return render_template("admin/disclosures.html", items=_listing(store), categories=CATEGORIES, by_id=BY_ID,
                               halls=access.hall_rows(), edit=None,
                               form={**form, "hall": hall, "id": item_id or ""}), 400
    try:
        with store.transaction():
            saved = doc.publish(store, body, hall=hall, user=g.user, item_id=item_id,
                                images=images if images or request.form.get("clear_images") else None)
            audit("disclosure.publish", {"id": saved["id"], "version": saved["version"], "hall": hall,
                                         "category": saved["category"], "title": saved["title"],
                                         "images": len(saved["images"])}, hall=hall)
    except doc.DisclosureInvalid as exc:
        for p in exc.problems:
            flash(p)
        return redirect(url_for("disclosures.index")), 303
    flash(f"已发布第 {saved['version']} 版 · Published version {saved['version']}")
    return redirect(url_for("disclosures.index"))


def _pictures(problems: list[str]) -> list[dict]:
    """Pictures from the uploaded files (images, PDF pages); problems are added, not raised."""
    pictures: list[dict] = []
    for f in request.files.getlist("files"):
        if not f or not f.filename:
            continue
        data = f.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            problems.append(f"{f.filename}：文件超过 8 MB · {f.filename} is over 8 MB")
            continue
        try:
            pictures.extend(pictures_from(data))
        except NotAPicture:
            problems.append(f"{f.filename}：不是 PNG、JPEG 图片或 PDF · {f.filename} is not a PNG or JPEG picture or a PDF")
    if len(pictures) > doc.MAX_IMAGES:
        problems.append(f"图片最多 {doc.MAX_IMAGES} 张（PDF 每页一张）· At most {doc.MAX_IMAGES} pictures (a PDF counts each page)")
    return pictures


@bp.post("/<item_id>/withdraw")
@access.require("configure")
def withdraw(item_id: str):
    store = get_store()
    before = doc.current(store, item_id)
    if before is not None:
        access.check_target(before["hall_id"])
    with store.transaction():
        done = doc.withdraw(store, item_id, user=g.user)
        if done:
            audit("disclosure.withdraw", {"id": item_id}, hall=before["hall_id"] if before else None)
    flash("已撤下 · Withdrawn" if done else "这条公示未在发布中 · This item is not published")
    return redirect(url_for("disclosures.index"))
